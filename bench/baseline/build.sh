#!/usr/bin/env bash
# Build the bare-QEMU baseline: a static init that prints BASELINE_MARKER and powers off,
# packed into OUTDIR/baseline.cpio (plus OUTDIR/baseline_init). Boot it with the bundle's
# vmlinux and the same QEMU options as matchlock (see docs/guest-bundle.md).
#
# usage: bench/baseline/build.sh OUTDIR
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
here="$(cd "$(dirname "$0")" && pwd)"
out="$1"
CC="${CC:-gcc}"
command -v "$CC" >/dev/null || { echo "baseline: error: $CC not found (apt-get install build-essential)" >&2; exit 1; }
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
mkdir -p "$out"
"$CC" -static -Os -s -Wall -Wextra -o "$out/baseline_init" "$here/baseline_init.c"
SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-0}" "$PY" "$here/../../images/initramfs/mkcpio.py" \
  "$out/baseline.cpio" dir:dev:0755 chr:dev/console:0600:5:1 dir:proc:0755 dir:sys:0755 \
  "file:init:0755:$out/baseline_init"
echo "baseline: $out/baseline.cpio"
