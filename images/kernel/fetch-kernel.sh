#!/usr/bin/env bash
# Fetch a Debian binary kernel package without installing it on the host, for a bundle that
# loads its drivers as modules (scripts/build-bundle.sh runs this only when MATCHLOCK_KERNEL_META
# is set; the default bundle compiles its kernel with them built in: build-kernel.sh). Produces:
#   OUTDIR/vmlinux         uncompressed ELF kernel (booted by QEMU through PVH)
#   OUTDIR/modules/*.ko    the guest's modules and their dependencies, uncompressed
#   OUTDIR/modules/order   bare file names in load order (dependencies first)
#   OUTDIR/kernel-version  the kernel release (uname -r of the guest)
# The .deb is cached in OUTDIR/cache. Idempotent: nothing is redone when OUTDIR already
# holds the result for the package version apt currently resolves.
#
# usage: fetch-kernel.sh OUTDIR
# env:   MATCHLOCK_KERNEL_META  meta package to resolve (default linux-image-cloud-amd64)
#        (bench/vfs.py's 9p baseline uses linux-image-amd64: Debian's cloud kernel has no 9p)
set -euo pipefail

die() { echo "fetch-kernel: error: $*" >&2; exit 1; }
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }

here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$1"
out="$(cd "$1" && pwd)"
meta="${MATCHLOCK_KERNEL_META:-linux-image-cloud-amd64}"
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
# shellcheck source=images/kernel/apt_packages.sh
. "$here/apt_packages.sh"

# Modules the guest loads (init loads them in modules/order with finit_module).
MODULES=(virtio_mmio virtio_blk virtio_console virtio_net virtio_rng fuse virtiofs overlay ext4)
# Taken when the kernel has them as modules: virtio-9p, for bench/vfs.py's baseline only
# (MATCHLOCK_UNSAFE_BENCH_VIRTFS; the cloud kernel has no 9p, linux-image-amd64 does), and
# crc32c, which ext4 needs at mount time but does not declare (built in on the cloud kernel).
OPTIONAL_MODULES=(9p 9pnet_virtio crc32c_generic)

for t in apt-cache apt-get dpkg-deb; do
  command -v "$t" >/dev/null || die "$t not found (this script needs Debian's apt tools)"
done

# 1. Resolve the versioned image package the meta package depends on.
resolved="$(resolve_image_package "$meta")"  # an assignment, so a failure stops the script
read -r pkg ver <<<"$resolved"
# The module list is part of the stamp, so editing MODULES redoes the selection.
stamp="$pkg=$ver ${MODULES[*]} ${OPTIONAL_MODULES[*]}"

if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ] \
   && [ -s "$out/vmlinux" ] && [ -s "$out/modules/order" ] && [ -s "$out/kernel-version" ]; then
  echo "fetch-kernel: $pkg $ver already prepared in $out"
  exit 0
fi

# 2. Download the .deb into the cache.
deb="$(download_deb "$pkg" "$ver" "$out/cache")"

# 3. Unpack (not install) it.
x="$out/.extract.tmp"
rm -rf "$x"; mkdir -p "$x"
echo "fetch-kernel: unpacking $(basename "$deb")"
dpkg-deb -x "$deb" "$x"
kver="$(ls "$x/lib/modules" 2>/dev/null | head -n1)"
[ -n "$kver" ] || die "$deb has no lib/modules/<version>"
bz="$x/boot/vmlinuz-$kver"
[ -f "$bz" ] || die "$deb has no boot/vmlinuz-$kver"
moddir="$x/lib/modules/$kver"
# Debian's package has no modules.dep (depmod runs at install time); select_modules.py then
# reads each module's .modinfo depends= instead, so kmod is not needed on the host.

# 4. vmlinux (ELF with the PVH note) and the module set.
"$PY" "$here/extract_kernel_elf.py" "$bz" "$out/vmlinux.new"
wanted=("${MODULES[@]}")
for m in "${OPTIONAL_MODULES[@]}"; do
  [ -n "$(find "$moddir" -name "$m.ko*" -print -quit)" ] && wanted+=("$m")
done
"$PY" "$here/select_modules.py" "$moddir" "$out/modules.new" "${wanted[@]}"

rm -rf "$out/modules"
mv "$out/modules.new" "$out/modules"
mv "$out/vmlinux.new" "$out/vmlinux"
echo "$kver" > "$out/kernel-version"
echo "$stamp" > "$out/.stamp"
rm -rf "$x"
echo "fetch-kernel: ok: $kver ($(wc -l < "$out/modules/order") modules)"
