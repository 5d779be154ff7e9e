#!/usr/bin/env bash
# Installs dependencies and builds everything the engine needs to boot a sandbox: the
# matchlock binary, the guest bundle (kernel + initramfs) and the default image archive.
# Idempotent; used by scripts/setup.sh and scripts/test.sh.
#
# usage: scripts/build.sh [BUILD_DIR]   (default build/release)
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build/release}"

echo "build: system packages (scripts/install-deps.sh)"
bash scripts/install-deps.sh

echo "build: configure and compile ($build)"
preset="$(basename "$build")"
cmake --preset "$preset" >/dev/null
# The product only: the unit tests are built and run under the sanitizers (the asan preset, by
# scripts/test.sh); `cmake --build --preset release` still builds them here too.
cmake --build --preset "$preset" --target matchlock matchlock-guest matchlock-bench-tls

echo "build: guest bundle ($build/bundle)"
bash scripts/build-bundle.sh "$build"

archive="$build/images/matchlock-busybox.tar"
if [ ! -s "$archive" ]; then
  echo "build: default image archive ($archive)"
  bash images/busybox/build-image.sh "$archive"
fi
echo "build: ok"
