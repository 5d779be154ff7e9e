# Debian package helpers for fetch-kernel.sh and build-kernel.sh (sourced, not run; the caller
# defines die()).

# resolve_image_package META: the versioned linux-image package META depends on, and the
# version apt would install, as "PACKAGE VERSION".
resolve_image_package() {
  local meta=$1 pkg ver
  pkg="$(apt-cache depends "$meta" 2>/dev/null | awk '/^ *Depends: linux-image-/ && !p {print $2; p=1}')"
  [ -n "$pkg" ] || die "cannot resolve '$meta' with apt-cache depends (run 'apt-get update'?)"
  ver="$(candidate_version "$pkg")"
  [ -n "$ver" ] || die "no installable candidate for $pkg"
  echo "$pkg $ver"
}

# candidate_version PACKAGE: the version apt would install, or nothing.
candidate_version() {
  apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ && !p {if ($2 != "(none)") print $2; p=1}'
}

# download_deb PACKAGE VERSION CACHE_DIR: the path of that .deb in CACHE_DIR, downloaded if it
# is not there yet (apt-get download verifies it against the archive's signed index). Other
# versions of the same package are removed.
download_deb() {
  local pkg=$1 ver=$2 cache=$3 deb
  mkdir -p "$cache"
  deb="$(ls "$cache/${pkg}_${ver//:/%3a}_"*.deb 2>/dev/null | head -n1 || true)"
  if [ -z "$deb" ]; then
    echo "$(basename "$0" .sh): downloading $pkg $ver" >&2
    rm -f "$cache/${pkg}_"*.deb
    # As root, apt drops privileges to _apt, which may not write here: download as root.
    (cd "$cache" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$ver" >/dev/null) \
      || die "apt-get download $pkg=$ver failed"
    deb="$(ls "$cache/${pkg}_"*.deb 2>/dev/null | head -n1 || true)"
    [ -n "$deb" ] || die "apt-get download produced no .deb for $pkg"
  fi
  echo "$deb"
}
