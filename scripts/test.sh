#!/usr/bin/env bash
# Runs every test: builds what is missing (same steps as setup), then the Catch2 unit tests
# and the integration tests that boot real VMs (under TCG where KVM cannot run guests).
#
# usage: scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

build=build/release
bash scripts/build.sh "$build"

echo "test: unit tests (ctest)"
ctest --test-dir "$build" --output-on-failure

echo "test: integration tests (pytest, real VMs)"
export MATCHLOCK_BIN="$PWD/$build/matchlock"
export MATCHLOCK_TEST_IMAGE_ARCHIVE="$PWD/$build/images/matchlock-busybox.tar"
exec /usr/bin/python3 -m pytest -p no:cacheprovider -q tests/integration "$@"
