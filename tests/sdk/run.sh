#!/usr/bin/env bash
# Runs the three SDKs' tests (tests/sdk/{python,typescript,go}.sh) against the real engine:
# each builds its SDK's artifact, installs it into a clean environment and runs its unit and
# end-to-end tests. Every engine the end-to-end tests start goes through rpc_recorder.py, and
# afterwards validate_traffic.py checks each recorded line against rpc-schema/schema.json.
#
# usage: tests/sdk/run.sh [python|typescript|go ...]   (default: all three)
# needs: MATCHLOCK_BIN (the engine), MATCHLOCK_TEST_IMAGE_ARCHIVE (the BusyBox image archive)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

: "${MATCHLOCK_BIN:?set MATCHLOCK_BIN to the engine binary}"
: "${MATCHLOCK_TEST_IMAGE_ARCHIVE:?set MATCHLOCK_TEST_IMAGE_ARCHIVE to the BusyBox image archive}"
sdks=("$@")
[ ${#sdks[@]} -gt 0 ] || sdks=(python typescript go)

# A state directory of its own, so the SDK tests see only their own sandboxes.
work="$root/build/sdk-tests"
rm -rf "$work" && mkdir -p "$work/home" "$work/traffic"
export MATCHLOCK_HOME="$work/home"
export MATCHLOCK_TEST_IMAGE="matchlock/busybox:latest"
"$MATCHLOCK_BIN" image import "$MATCHLOCK_TEST_IMAGE" <"$MATCHLOCK_TEST_IMAGE_ARCHIVE" >/dev/null
export MATCHLOCK_TEST_LAUNCH="[\"/usr/bin/python3\", \"$root/tests/sdk/rpc_recorder.py\", \"--\"]"

status=0
for sdk in "${sdks[@]}"; do
  echo "test: sdk-$sdk (tests/sdk/$sdk.sh)"
  if ! MATCHLOCK_RPC_RECORD_DIR="$work/traffic/$sdk" bash "tests/sdk/$sdk.sh"; then
    echo "test: sdk-$sdk FAILED"
    status=1
  fi
  echo "test: sdk-$sdk traffic against rpc-schema"
  /usr/bin/python3 tests/sdk/validate_traffic.py "$work/traffic/$sdk" || status=1
done

# Together the three SDKs must exercise every method and notification the schema describes.
if [ ${#sdks[@]} -eq 3 ]; then
  echo "test: every method and notification of rpc-schema exercised by the SDK tests"
  /usr/bin/python3 tests/sdk/validate_traffic.py --coverage "$work"/traffic/* || status=1
fi

# No SDK test may leave a sandbox running behind it.
left=$("$MATCHLOCK_BIN" list --running -q)
if [ -n "$left" ]; then
  echo "test: sandboxes left running by the SDK tests: $left"
  status=1
fi
exit $status
