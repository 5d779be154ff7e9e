#!/usr/bin/env bash
# First command on a fresh Debian 12 machine: install dependencies, build matchlock and its
# guest bundle, import the default image and run a first sandbox. Safe to rerun: finished
# steps are skipped or are cheap no-ops.
#
# usage: scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

build=build/release
ml="$build/matchlock"
image=matchlock/busybox:latest
archive="$build/images/matchlock-busybox.tar"

step() { echo "setup: $*"; }
die() { echo "setup: error: $*" >&2; exit 1; }
quiet() {  # run a command, show its output only if it fails
  local log; log="$(mktemp)"
  if ! "$@" >"$log" 2>&1; then cat "$log" >&2; rm -f "$log"; die "failed: $*"; fi
  rm -f "$log"
}

step "[1/6] system packages (scripts/install-deps.sh)"
bash scripts/install-deps.sh

step "[2/6] configure and build ($build; the first build takes a few minutes)"
quiet cmake --preset release
quiet cmake --build --preset release
[ -x "$ml" ] || die "$ml was not built"

step "[3/6] guest bundle ($build/bundle)"
bash scripts/build-bundle.sh "$build"

step "[4/6] default image archive ($archive)"
if [ -s "$archive" ]; then
  echo "setup: $archive exists, keeping it"
else
  bash images/busybox/build-image.sh "$archive"
fi

step "[5/6] import $image"
if "$ml" image ls 2>/dev/null | grep -Eq '(^|[[:space:]/])matchlock/busybox(:latest|[[:space:]]+latest)([[:space:]]|$)'; then
  echo "setup: $image already imported, skipping"
else
  "$ml" image import "$image" < "$archive"
fi

step "[6/6] first sandbox"
"$ml" run --image "$image" -- echo 'hello from matchlock'
step "done. Try: $ml run --image $image -- sh -c 'uname -a; id'"
