#!/usr/bin/env bash
# Build the guest bundle the engine boots:
#   BUILD_DIR/bundle/vmlinux          the guest kernel, uncompressed ELF (PVH boot)
#   BUILD_DIR/bundle/initramfs.cpio   /init = matchlock-guest, plus any kernel modules it loads
#   BUILD_DIR/bundle/kernel-version   the guest kernel release
# The kernel is Debian's cloud kernel compiled from its source with the sandbox's drivers built
# in (images/kernel/build-kernel.sh, about half an hour on two cores, once). With
# MATCHLOCK_KERNEL_META set, Debian's binary kernel package of that name is unpacked instead and
# its drivers are loaded as modules at boot (images/kernel/fetch-kernel.sh: no compile, slower
# boots; bench/vfs.py uses it for linux-image-amd64). Either is cached in BUILD_DIR/cache/kernel.
# The engine finds the bundle at <dir of the matchlock binary>/bundle/ or $MATCHLOCK_BUNDLE.
#
# usage: scripts/build-bundle.sh BUILD_DIR
# env:   MATCHLOCK_GUEST_BINARY  guest binary to pack (default BUILD_DIR/guest/matchlock-guest)
#        MATCHLOCK_KERNEL_META   a Debian kernel meta package to unpack instead of compiling
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

if [ -n "${MATCHLOCK_KERNEL_META:-}" ]; then
  bash "$root/images/kernel/fetch-kernel.sh" "$kdir"
else
  bash "$root/images/kernel/build-kernel.sh" "$kdir"
fi

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
