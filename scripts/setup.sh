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

step "[1/3] dependencies, build, guest bundle, default image (scripts/build.sh; the first build compiles the guest kernel: about half an hour on two cores)"
bash scripts/build.sh "$build"
[ -x "$ml" ] || die "$ml was not built"

step "[2/3] import $image"
if "$ml" image ls 2>/dev/null | grep -Eq '(^|[[:space:]/])matchlock/busybox(:latest|[[:space:]]+latest)([[:space:]]|$)'; then
  echo "setup: $image already imported, skipping"
else
  "$ml" image import "$image" < "$archive"
fi

step "[3/3] first sandbox"
"$ml" run --image "$image" -- echo 'hello from matchlock'
step "done. Try: $ml run --image $image -- sh -c 'uname -a; id'"
