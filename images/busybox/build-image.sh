#!/usr/bin/env bash
# Build matchlock's offline default image, matchlock/busybox:latest, from Debian's
# busybox-static package (downloaded and unpacked, not installed), as an OCI image-layout
# archive. No root needed; ownership is written into the layer as numbers.
# Import it with:  matchlock image import matchlock/busybox:latest < OUT.tar
#
# usage: images/busybox/build-image.sh OUT.tar
# env:   SOURCE_DATE_EPOCH (default 1704067200) fixes every timestamp, so the same
#        busybox-static version always gives the same digests.
set -euo pipefail

die() { echo "build-image: error: $*" >&2; exit 1; }
[ $# -eq 1 ] || { echo "usage: $0 OUT.tar" >&2; exit 2; }
here="$(cd "$(dirname "$0")" && pwd)"
out="$1"
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-1704067200}"

work="$(mktemp -d "${TMPDIR:-/tmp}/matchlock-busybox.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# 1. Fetch and unpack busybox-static (as root, apt would hand the download to _apt).
(cd "$work" && apt-get download -q -o APT::Sandbox::User=root busybox-static >/dev/null) \
  || die "apt-get download busybox-static failed (run 'apt-get update'?)"
deb="$(ls "$work"/busybox-static_*.deb 2>/dev/null | head -n1)"
[ -n "$deb" ] || die "apt-get download produced no busybox-static .deb"
dpkg-deb -x "$deb" "$work/pkg"
bb="$work/pkg/bin/busybox"
[ -x "$bb" ] || die "busybox-static package has no bin/busybox"
debver="$(dpkg-deb -f "$deb" Version)"
bbhelp="$("$bb" --help 2>&1 || true)"
bbver="$(printf '%s\n' "$bbhelp" | sed -n '1s/^BusyBox v\([^ ]*\).*/\1/p')"
[ -n "$bbver" ] || bbver="$debver"

# 2. The rootfs.
r="$work/rootfs"
umask 022
mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,dev,proc,sys,root,home/agent,tmp,var/tmp} \
  "$r/usr/share/doc/busybox-static"
install -m 0755 "$bb" "$r/bin/busybox"
cp "$work/pkg/usr/share/doc/busybox-static/copyright" "$r/usr/share/doc/busybox-static/" 2>/dev/null || true
n=0
while IFS= read -r app; do
  app="${app#/}"
  [ -n "$app" ] && [ "$app" != "bin/busybox" ] || continue
  case "$app" in *..*|/*) die "unexpected applet path '$app'" ;; esac
  mkdir -p "$r/$(dirname "$app")"
  # relative link to /bin/busybox, e.g. usr/bin/wget -> ../../bin/busybox
  d="$(dirname "$app")"
  if [ "$d" = . ]; then up=.; else up="$(printf '%s' "$d" | sed -e 's#[^/][^/]*#..#g')"; fi
  ln -sfn "$up/bin/busybox" "$r/$app"
  n=$((n + 1))
done < <("$bb" --list-full)
[ "$n" -gt 100 ] || die "busybox --list-full gave only $n applets"

cat > "$r/etc/passwd" <<'EOT'
root:x:0:0:root:/root:/bin/sh
agent:x:1000:1000::/home/agent:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOT
cat > "$r/etc/group" <<'EOT'
root:x:0:
staff:x:50:agent
agent:x:1000:
nogroup:x:65534:
EOT
cat > "$r/etc/os-release" <<EOT
NAME="matchlock busybox"
ID=matchlock-busybox
VERSION_ID="$bbver"
PRETTY_NAME="matchlock busybox (BusyBox $bbver, Debian busybox-static $debver)"
EOT
chmod 0644 "$r/etc/passwd" "$r/etc/group" "$r/etc/os-release"
chmod 0700 "$r/root"
chmod 1777 "$r/tmp" "$r/var/tmp"

# 3. The OCI archive.
mkdir -p "$(dirname "$out")"
"$PY" "$here/../oci/make_oci_archive.py" --rootfs "$r" --ref matchlock/busybox:latest --out "$out" \
  --chown home/agent=1000:1000 --chmod tmp=1777 --chmod var/tmp=1777 --chmod root=0700 \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd '["sh"]' \
  --created-by "matchlock images/busybox/build-image.sh (busybox-static $debver)"
echo "build-image: $out (busybox $bbver, $n applets)"
