#!/usr/bin/env bash
# Installs every Debian package matchlock needs to build, boot guests and run its tests,
# and fetches lwIP's source (for the network stack) into third_party/. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  # build
  build-essential cmake ninja-build pkg-config clang-format
  # the asan build and the libFuzzer harnesses (fuzz/): clang, its sanitizer and libFuzzer
  # runtimes, llvm-symbolizer for readable reports
  clang libclang-rt-dev llvm
  # engine libraries
  libuv1-dev libssl-dev rapidjson-dev catch2 node-llhttp libnghttp2-dev libcurl4-openssl-dev
  libxxhash-dev
  libarchive-dev libsqlite3-dev
  # guest bundle and images (QEMU itself: below)
  e2fsprogs busybox-static cpio xz-utils zstd python3
  # the guest kernel, compiled from Debian's source (images/kernel/build-kernel.sh)
  flex bison bc libelf-dev patch
  # tests
  python3-pytest python3-pytest-xdist python3-jsonschema dnsmasq-base iproute2 curl openssl
  # the SDK tests install each SDK's artifact into a fresh virtualenv / node project / Go module
  python3-venv
  # the toolchain test image (tests/integration/toolchain_image.py): git, and gcc, make and
  # binutils from build-essential above; tar is essential in Debian
  git
  # source packages (lwIP)
  dpkg-dev
)

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
# The interception tests run real Go and Node TLS clients in the guest (and a Go HTTP/2
# server in their lab): Debian's toolchains unless the machine already has its own.
command -v go >/dev/null || [ -x /usr/local/go/bin/go ] || PACKAGES+=(golang-go)
command -v node >/dev/null || PACKAGES+=(nodejs)
command -v npm >/dev/null || PACKAGES+=(npm)

for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# QEMU >= 9.1: warm starts migrate the virtio-fs device and load saves that QEMU 7.2 (Debian 12's
# own) cannot. On Debian 12 it comes from bookworm-backports; newer releases have it.
qemu_version() { qemu-system-x86_64 --version 2>/dev/null | sed -n '1s/^QEMU emulator version \([0-9]*\)\.\([0-9]*\).*/\1 \2/p'; }
read -r qemu_major qemu_minor <<<"$(qemu_version || true)"
if [ -z "${qemu_major:-}" ] || [ "$qemu_major" -lt 9 ] || { [ "$qemu_major" -eq 9 ] && [ "$qemu_minor" -lt 1 ]; }; then
  qemu_from=()
  if grep -q '^VERSION_CODENAME=bookworm$' /etc/os-release 2>/dev/null; then
    bpo=/etc/apt/sources.list.d/matchlock-backports.list
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      echo "deb http://deb.debian.org/debian bookworm-backports main" | as_root tee "$bpo" >/dev/null
    fi
    qemu_from=(-t bookworm-backports)
  fi
  echo "install-deps: installing QEMU ${qemu_from[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${qemu_from[@]}" qemu-system-x86 qemu-utils
fi

# lwIP's source comes from Debian's source package; enable deb-src if it is missing.
if [ ! -f third_party/lwip/.fetched ]; then
  if ! apt-cache showsrc lwip >/dev/null 2>&1 || [ -z "$(apt-cache showsrc lwip 2>/dev/null)" ]; then
    src=/etc/apt/sources.list.d/matchlock-deb-src.sources
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
      sed -e 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources | as_root tee "$src" >/dev/null
    else
      grep -E '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' | as_root tee /etc/apt/sources.list.d/matchlock-deb-src.list >/dev/null
    fi
    as_root apt-get update -qq
  fi
  rm -rf third_party/lwip.tmp && mkdir -p third_party/lwip.tmp
  (cd third_party/lwip.tmp && apt-get source -qq --download-only lwip && dpkg-source -x --skip-patches ./*.dsc src >/dev/null)
  rm -rf third_party/lwip && mv third_party/lwip.tmp/src third_party/lwip && rm -rf third_party/lwip.tmp
  touch third_party/lwip/.fetched
fi
echo "install-deps: ok"
