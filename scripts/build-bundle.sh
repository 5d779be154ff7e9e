#!/usr/bin/env bash
# Build the guest bundle the engine boots:
#   BUILD_DIR/bundle/vmlinux          Debian cloud kernel, uncompressed ELF (PVH boot)
#   BUILD_DIR/bundle/initramfs.cpio   /init = matchlock-guest, plus the kernel modules it loads
#   BUILD_DIR/bundle/kernel-version   the guest kernel release
# The kernel .deb and its extraction are cached in BUILD_DIR/cache/kernel, so reruns are fast.
# The engine finds the bundle at <dir of the matchlock binary>/bundle/ or $MATCHLOCK_BUNDLE.
#
# usage: scripts/build-bundle.sh BUILD_DIR
# env:   MATCHLOCK_GUEST_BINARY  guest binary to pack (default BUILD_DIR/guest/matchlock-guest)
set -euo pipefail

die() { echo "build-bundle: error: $*" >&2; exit 1; }
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
root="$(cd "$(dirname "$0")/.." && pwd)"
[ -d "$1" ] || die "build dir '$1' does not exist (configure first: cmake --preset release)"
build="$(cd "$1" && pwd)"
guest="${MATCHLOCK_GUEST_BINARY:-$build/guest/matchlock-guest}"
[ -f "$guest" ] || die "guest binary '$guest' not found (build it first: cmake --build $1)"

kdir="$build/cache/kernel"
bundle="$build/bundle"

bash "$root/images/kernel/fetch-kernel.sh" "$kdir"

mkdir -p "$bundle"
tmp="$bundle/.initramfs.cpio.tmp"
bash "$root/images/initramfs/build-initramfs.sh" "$guest" "$kdir/modules" "$tmp"
if cmp -s "$tmp" "$bundle/initramfs.cpio"; then rm -f "$tmp"; else mv "$tmp" "$bundle/initramfs.cpio"; fi

# Copy the kernel only when it changed (it is 50 MB; keep the mtime stable otherwise).
if ! cmp -s "$kdir/vmlinux" "$bundle/vmlinux"; then
  cp "$kdir/vmlinux" "$bundle/vmlinux.tmp" && mv "$bundle/vmlinux.tmp" "$bundle/vmlinux"
fi
cmp -s "$kdir/kernel-version" "$bundle/kernel-version" || cp "$kdir/kernel-version" "$bundle/kernel-version"
echo "build-bundle: ok: $bundle (kernel $(cat "$bundle/kernel-version"))"
