#!/usr/bin/env bash
# Runs every test: builds what is missing (same steps as setup), then the Catch2 unit tests
# and the integration tests that boot real VMs (under TCG where KVM cannot run guests).
#
# usage: scripts/test.sh [pytest args...]
# env:   MATCHLOCK_TEST_WORKERS  pytest processes for the integration tests (default: the number
#        of CPUs; 0 runs them in this process)
set -euo pipefail
cd "$(dirname "$0")/.."

build=build/release
bash scripts/build.sh "$build"

# The module rule of docs/architecture.md: a module including one it must not fails the run.
echo "test: module boundaries (scripts/check-includes.py)"
/usr/bin/python3 scripts/check-includes.py

# The unit tests, and the rpc lifecycle through the real binary, under AddressSanitizer,
# UndefinedBehaviorSanitizer and LeakSanitizer: parsers of guest and client input must not
# misbehave on garbage, and teardown must free everything (a leak makes `matchlock rpc` exit 1).
# They run once, here: a second, unsanitized build of them cost ~5 minutes of every run.
echo "test: unit tests and rpc lifecycle under ASan/UBSan (build/asan)"
cmake --preset asan >/dev/null
cmake --build --preset asan
# rapidjson's header does pointer arithmetic on null (fuzz/ubsan.supp says where): not ours.
export UBSAN_OPTIONS="suppressions=$PWD/fuzz/ubsan.supp${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
ctest --test-dir build/asan --output-on-failure -j "$(nproc)"
# A short run of every libFuzzer harness (fuzz/) over its seed corpus: the corpus itself and a
# few seconds of mutations must not crash any parser of untrusted input.
echo "test: fuzz harnesses, ${MATCHLOCK_FUZZ_SECONDS:-5} s each (scripts/fuzz.sh)"
bash scripts/fuzz.sh --no-build --build-dir build/asan --seconds "${MATCHLOCK_FUZZ_SECONDS:-5}"
MATCHLOCK_BIN="$PWD/build/asan/matchlock" MATCHLOCK_BUNDLE="$PWD/$build/bundle" \
  MATCHLOCK_TEST_IMAGE_ARCHIVE="$PWD/$build/images/matchlock-busybox.tar" \
  /usr/bin/python3 -m pytest -p no:cacheprovider -q tests/integration/test_rpc_lifecycle.py

# The OCI fixture registries (127.0.0.1:5000-5003) for the pull tests, from the project's own
# tests/fixtures/oci-fixtures.sh: BusyBox images, and the Debian one test_build.py builds a
# Dockerfile on (debootstrap, about a minute on a fresh machine, then cached in build/).
fixtures_dir="$PWD/build/oci-fixtures"
echo "test: starting the OCI fixture registries (tests/fixtures/oci-fixtures.sh)"
trap 'bash tests/fixtures/oci-fixtures.sh "$fixtures_dir" stop >/dev/null 2>&1 || true' EXIT
OCI_FIXTURES_DEBIAN=${OCI_FIXTURES_DEBIAN:-1} bash tests/fixtures/oci-fixtures.sh "$fixtures_dir" >/dev/null
export OCI_FIXTURES_DIR="$fixtures_dir" OCI_FIXTURES_REQUIRED=1

echo "test: integration tests (pytest, real VMs)"
export MATCHLOCK_BIN="$PWD/$build/matchlock"
export MATCHLOCK_TEST_IMAGE_ARCHIVE="$PWD/$build/images/matchlock-busybox.tar"
# Each VM's vCPU is one busy host thread under TCG: one pytest process (pytest-xdist worker, its
# own MATCHLOCK_HOME) per CPU, each taking whole files so a module's shared sandbox boots once.
/usr/bin/python3 -m pytest -p no:cacheprovider -q -n "${MATCHLOCK_TEST_WORKERS:-$(nproc)}" \
  --dist loadfile tests/integration "$@"

# The three SDKs, each built, installed into a clean environment and run against this engine,
# with their traffic checked against rpc-schema (tests/sdk/run.sh).
echo "test: SDKs (tests/sdk/run.sh)"
bash tests/sdk/run.sh
