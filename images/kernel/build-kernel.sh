#!/usr/bin/env bash
# Build the guest kernel: Debian's cloud kernel (its source and its configuration, both from the
# apt archive) with the drivers every sandbox needs built in (images/kernel/matchlock.config),
# so the guest's init loads no modules, and matchlock's patches (images/kernel/patches/*.patch,
# applied in name order). Produces:
#   OUTDIR/vmlinux         uncompressed ELF kernel (booted by QEMU through PVH)
#   OUTDIR/modules/order   empty: nothing for init to load
#   OUTDIR/kernel-version  the kernel release (uname -r of the guest), e.g. 6.1.192-matchlock
#   OUTDIR/build.log       the compiler's output
# The two .debs (linux-image-*-cloud-amd64 for /boot/config-*, linux-source-X.Y of the same
# version) are cached in OUTDIR/cache. The build takes about half an hour on two cores and a
# couple of GB of disk, removed afterwards. Idempotent: nothing is redone while the package
# version, matchlock.config, the patches, this script and the compiler are unchanged.
#
# usage: build-kernel.sh OUTDIR
set -euo pipefail

die() { echo "build-kernel: error: $*" >&2; exit 1; }
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }

here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$1"
out="$(cd "$1" && pwd)"
fragment="$here/matchlock.config"
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
# shellcheck source=images/kernel/apt_packages.sh
. "$here/apt_packages.sh"

for t in apt-cache apt-get dpkg-deb make gcc flex bison bc xz objcopy patch; do
  command -v "$t" >/dev/null || die "$t not found (scripts/install-deps.sh installs it)"
done
for h in libelf.h openssl/ssl.h; do
  [ -f "/usr/include/$h" ] || die "/usr/include/$h not found (scripts/install-deps.sh installs it)"
done

# 1. The cloud kernel Debian would install, and its source of the same version.
resolved="$(resolve_image_package linux-image-cloud-amd64)"  # an assignment: a failure stops us
read -r image_pkg ver <<<"$resolved"
series="$(sed -n 's/^linux-image-\([0-9]*\.[0-9]*\)\..*/\1/p' <<<"$image_pkg")"
[ -n "$series" ] || die "cannot read the kernel series from '$image_pkg'"
source_pkg="linux-source-$series"
source_ver="$(candidate_version "$source_pkg")"
[ "$source_ver" = "$ver" ] \
  || die "$source_pkg is at '${source_ver:-none}' but $image_pkg at $ver (run 'apt-get update')"

patches=("$here"/patches/*.patch)
[ -e "${patches[0]}" ] || patches=()
# Everything that decides the kernel's bytes: a change to any of them rebuilds it.
inputs_hash="$(cat "$fragment" "$0" ${patches[@]+"${patches[@]}"} | sha256sum | cut -c1-16)"
stamp="$image_pkg=$ver $source_pkg=$ver inputs:$inputs_hash gcc:$(gcc -dumpfullversion)"
if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ] \
   && [ -s "$out/vmlinux" ] && [ -f "$out/modules/order" ] && [ -s "$out/kernel-version" ]; then
  echo "build-kernel: Linux $ver ($(cat "$out/kernel-version")) already built in $out"
  exit 0
fi

image_deb="$(download_deb "$image_pkg" "$ver" "$out/cache")"
source_deb="$(download_deb "$source_pkg" "$ver" "$out/cache")"

# 2. Unpack the source and configure it: Debian's configuration, then ours on top (kconfig takes
#    the later of two assignments), then kconfig's defaults for anything that changed.
tree="$out/.tree.tmp"
rm -rf "$tree"; mkdir -p "$tree"
trap 'rm -rf "$tree"' EXIT
echo "build-kernel: unpacking $(basename "$source_deb")"
dpkg-deb --fsys-tarfile "$source_deb" \
  | tar -x -O "./usr/src/$source_pkg.tar.xz" | tar -xJ -C "$tree" --strip-components=1 \
  || die "cannot unpack $source_deb"
dpkg-deb --fsys-tarfile "$image_deb" | tar -x -O --wildcards './boot/config-*' >"$tree/.config" \
  || die "$image_deb has no boot/config-*"
cat "$fragment" >>"$tree/.config"
: >"$out/build.log"  # this build's log alone: the patches' output, then the compiler's
for p in ${patches[@]+"${patches[@]}"}; do
  echo "build-kernel: applying $(basename "$p")"
  patch -p1 --forward --batch --quiet -d "$tree" <"$p" >>"$out/build.log" 2>&1 \
    || { tail -n 20 "$out/build.log" >&2; die "$(basename "$p") does not apply to Linux $ver"; }
done
make -s -C "$tree" olddefconfig >/dev/null 2>>"$out/build.log" \
  || { cat "$out/build.log" >&2; die "make olddefconfig failed"; }
# Every option of the fragment must have stuck; an option kconfig dropped (renamed, or a
# dependency missing) would otherwise boot a kernel without it.
while IFS= read -r line; do
  case "$line" in
    CONFIG_*=*)
      grep -qxF "$line" "$tree/.config" || die "$line did not hold in the kernel's configuration" ;;
    "# CONFIG_"*" is not set")
      option="${line#\# }"; option="${option%% *}"
      ! grep -q "^$option=" "$tree/.config" || die "$option is still set in the kernel's configuration" ;;
  esac
done <"$fragment"

# 3. Compile vmlinux only: no module is built, shipped or loaded.
jobs="$(nproc)"
echo "build-kernel: compiling Linux $ver with $jobs jobs (about half an hour on two cores; log: $out/build.log)"
start=$(date +%s)
make -C "$tree" -j"$jobs" vmlinux KBUILD_BUILD_USER=matchlock KBUILD_BUILD_HOST=matchlock \
  KBUILD_BUILD_TIMESTAMP="Debian $ver" >>"$out/build.log" 2>&1 \
  || { tail -n 40 "$out/build.log" >&2; die "compiling the kernel failed (log: $out/build.log)"; }
release="$(make -s -C "$tree" kernelrelease)"

# 4. The outputs. Symbols and .comment go, as from the vmlinux a bzImage carries (80 MB -> 48 MB;
#    QEMU loads only the program segments). extract_kernel_elf.py checks the PVH entry note QEMU
#    boots it by.
objcopy -R .comment -S "$tree/vmlinux" "$tree/vmlinux.stripped" || die "objcopy of vmlinux failed"
"$PY" "$here/extract_kernel_elf.py" "$tree/vmlinux.stripped" "$out/vmlinux.new"
rm -rf "$out/modules.new"; mkdir -p "$out/modules.new"; : >"$out/modules.new/order"
rm -rf "$out/modules"; mv "$out/modules.new" "$out/modules"
mv "$out/vmlinux.new" "$out/vmlinux"
echo "$release" >"$out/kernel-version"
echo "$stamp" >"$out/.stamp"
echo "build-kernel: ok: $release in $(( ($(date +%s) - start) / 60 )) min"
