#!/usr/bin/env bash
# Build the guest initramfs: a deterministic, uncompressed newc cpio holding
#   /init              the matchlock-guest binary (PID 1 + agent), stripped, 0755
#   /modules/*.ko      the kernel modules init loads, without their signatures, and
#                      /modules/order (load order)
#   /proc /sys /dev /mnt /newroot   empty mount points (plus /dev/console, c 5 1)
# No root needed. Uncompressed on purpose: under TCG gzip saves nothing measurable at boot
# (see docs/guest-bundle.md) and the archive is only a few MB. Both strips are boot time under
# TCG: the kernel copies every byte of the archive before init runs (the guest binary with its
# debug information is 18 MB, 0.7 s), and checks each module's signature as it loads it (0.7 s
# in all; strip_module_signature.py says why dropping them is safe).
#
# usage: build-initramfs.sh GUEST_BINARY MODULES_DIR OUT.cpio
set -euo pipefail

die() { echo "build-initramfs: error: $*" >&2; exit 1; }
[ $# -eq 3 ] || { echo "usage: $0 GUEST_BINARY MODULES_DIR OUT.cpio" >&2; exit 2; }
guest="$1" mods="$2" out="$3"
here="$(cd "$(dirname "$0")" && pwd)"
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3

[ -f "$guest" ] || die "guest binary '$guest' not found (build it first: cmake --build --preset release)"
head -c4 "$guest" | grep -q 'ELF' || die "'$guest' is not an ELF binary"
[ -f "$mods/order" ] || die "'$mods/order' not found (run images/kernel/fetch-kernel.sh first)"

command -v strip >/dev/null || die "strip not found (install binutils)"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
strip --strip-all -o "$stage/init" "$guest" || die "cannot strip '$guest'"

specs=(dir:proc:0755 dir:sys:0755 dir:dev:0755 chr:dev/console:0600:5:1 dir:mnt:0755
       dir:newroot:0755 dir:modules:0755 "file:init:0755:$stage/init" "file:modules/order:0644:$mods/order")
while IFS= read -r ko; do
  [ -n "$ko" ] || continue
  case "$ko" in */*|.*) die "bad module name '$ko' in $mods/order" ;; esac
  [ -f "$mods/$ko" ] || die "module '$ko' listed in order is missing from $mods"
  "$PY" "$here/strip_module_signature.py" "$mods/$ko" "$stage/$ko"
  specs+=("file:modules/$ko:0644:$stage/$ko")
done < "$mods/order"

mkdir -p "$(dirname "$out")"
SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-0}" "$PY" "$here/mkcpio.py" "$out" "${specs[@]}"
echo "build-initramfs: $out ($(( $(stat -c %s "$out") / 1024 )) KiB)"
