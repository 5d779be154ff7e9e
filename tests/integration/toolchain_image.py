"""A test image with a real toolchain: git, gcc (C only), binutils, make and GNU tar.

The VFS acceptance bar is git, tar and a C compiler working on a mounted directory, so the
tests need those programs in the guest, offline. They come from the host's installed Debian
packages (scripts/install-deps.sh installs them): every file `dpkg -L` lists for the packages
below, minus documentation, locales and what a C build never runs (LTO, static libc, gold, the
sanitizers' archives), plus every shared library `ldd` finds for the ELF files among them.
The layer goes on top of the BusyBox image, which keeps providing the shell and coreutils
(BusyBox's sh prefers its own applets: a bare `tar` there is BusyBox's, GNU tar is /usr/bin/tar).

Paths are written where they really live on the host (directories resolved, so a merged-/usr
host's /lib/x86_64-linux-gnu/libc.so.6 lands in usr/lib/...), and the host's top-level
`lib -> usr/lib` style links are recreated, so the absolute paths baked into libc.so, gcc and
PT_INTERP resolve in the guest as they do on the host.
"""
import hashlib
import io
import os
import subprocess
import tarfile

import oci_archive

IMAGE = "matchlock-test/toolchain:latest"
MTIME = 1704067200

PACKAGES = [
    "gcc", "gcc-12", "cpp", "cpp-12", "libgcc-12-dev", "libgcc-s1", "binutils",
    "binutils-x86-64-linux-gnu", "libbinutils", "libctf0", "libctf-nobfd0", "libc6", "libc6-dev",
    "libc-dev-bin", "libcrypt-dev", "libcrypt1", "linux-libc-dev", "git", "make",
    "tar",
]
# Path prefixes (guest paths, no leading slash) left out to keep the image lean.
SKIP_PREFIXES = (
    "etc/", "usr/share/doc/", "usr/share/man/", "usr/share/info/", "usr/share/locale/",
    "usr/share/lintian/", "usr/share/bug/", "usr/share/bash-completion/", "usr/share/gitweb/",
    "usr/share/perl5/", "usr/share/gdb/", "usr/lib/x86_64-linux-gnu/gconv/",
    "usr/lib/x86_64-linux-gnu/gprofng/", "usr/lib/gcc/x86_64-linux-gnu/12/lto1",
    "usr/lib/git-core/git-http-", "usr/lib/git-core/git-remote-http",
    "usr/lib/git-core/git-imap-send", "usr/lib/git-core/scalar", "usr/bin/scalar",
    "usr/lib/git-core/git-daemon", "usr/lib/git-core/git-shell", "usr/bin/git-shell",
)
SKIP_NAME_PARTS = ("lto-dump", "ld.gold", "-dwp", "gp-", "gprofng")
# The only static archives a plain `gcc x.c` links.
KEEP_ARCHIVES = {"libc_nonshared.a", "libgcc.a", "libgcc_eh.a", "libssp_nonshared.a"}
# Top-level directories the BusyBox image already has as real directories: never links.
BASE_DIRS = {"bin", "sbin", "usr"}


def _guest_path(host_path):
    """Where a host file goes in the guest: its real directory, its own name (links kept)."""
    real_dir = os.path.realpath(os.path.dirname(host_path))
    return os.path.join(real_dir, os.path.basename(host_path)).lstrip("/")


def _skipped(guest):
    name = os.path.basename(guest)
    if guest.startswith(SKIP_PREFIXES) or any(p in name for p in SKIP_NAME_PARTS):
        return True
    return name.endswith(".a") and name not in KEEP_ARCHIVES


def _is_elf(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def _package_paths():
    out = subprocess.run(["dpkg", "-L", *PACKAGES], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError("dpkg -L failed (run scripts/install-deps.sh): " + out.stderr)
    return [line for line in out.stdout.splitlines() if line.startswith("/")]


def _shared_libraries(elves):
    """Host paths of every library ldd resolves for the given ELF files."""
    libs = set()
    for exe in elves:
        out = subprocess.run(["ldd", exe], capture_output=True, text=True).stdout
        for line in out.splitlines():
            parts = line.split()
            path = parts[2] if "=>" in parts and len(parts) > 2 else (parts[0] if parts else "")
            if path.startswith("/"):
                libs.add(path)
    return libs


def toolchain_entries():
    """guest path -> ("file", host path) | ("link", target), for the toolchain layer."""
    entries = {}
    inodes = {}  # (dev, ino) -> guest path: hard links become symlinks to the first copy
    elves = []

    def add(host_path, follow=False):
        st = os.stat(host_path) if follow else os.lstat(host_path)
        guest = _guest_path(host_path)
        if guest in entries or _skipped(guest):
            return
        if os.path.islink(host_path) and not follow:
            if os.path.isdir(host_path):
                return  # a directory link (the host's /lib): the real directory holds the files
            entries[guest] = ("link", os.readlink(host_path))
            return
        if not os.path.isfile(host_path):
            return  # directories are implied by their files
        key = (st.st_dev, st.st_ino)
        if key in inodes:
            entries[guest] = ("link", os.path.relpath(inodes[key], os.path.dirname(guest)))
            return
        inodes[key] = guest
        entries[guest] = ("file", host_path)
        if _is_elf(host_path) and (st.st_mode & 0o111 or ".so" in guest):
            elves.append(host_path)

    for p in _package_paths():
        add(p)
    for lib in sorted(_shared_libraries(elves)):
        add(lib, follow=True)
    entries.setdefault("usr/bin/cc", ("link", "gcc"))
    # Merged /usr: the host's top-level links (lib -> usr/lib, lib64 -> usr/lib64) are where
    # libc.so's linker script, gcc's search paths and PT_INTERP look.
    for top in sorted(os.listdir("/")):
        path = "/" + top
        if top not in BASE_DIRS and os.path.islink(path) and os.path.isdir(path):
            target = os.readlink(path)
            if target.lstrip("/").startswith("usr/"):
                entries[top] = ("link", target.lstrip("/"))
    return entries


def toolchain_layer(entries):
    """An uncompressed tar layer of `entries` (see toolchain_entries), root-owned."""
    buf = io.BytesIO()
    dirs = set()
    for name in entries:
        parent = os.path.dirname(name)
        while parent:
            dirs.add(parent)
            parent = os.path.dirname(parent)
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for d in sorted(dirs - set(entries)):
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, MTIME
            t.addfile(info)
        for name, (kind, value) in sorted(entries.items()):
            info = tarfile.TarInfo(name)
            info.mtime = MTIME
            if kind == "link":
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, value, 0o777
                t.addfile(info)
                continue
            st = os.stat(value)
            info.size, info.mode = st.st_size, st.st_mode & 0o7755
            with open(value, "rb") as f:
                t.addfile(info, f)
    return buf.getvalue()


def _cache_key(base_archive):
    """Changes when the host's packages or the base image or this recipe change."""
    h = hashlib.sha256()
    versions = subprocess.run(["dpkg-query", "-W", *PACKAGES], capture_output=True).stdout
    h.update(versions)
    with open(__file__, "rb") as f:
        h.update(f.read())
    st = os.stat(base_archive)
    h.update(f"{os.path.realpath(base_archive)} {st.st_size} {st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def build_archive(base_archive, cache_dir):
    """The toolchain image's OCI archive, built once per host package set into cache_dir."""
    os.makedirs(cache_dir, exist_ok=True)
    out = os.path.join(cache_dir, f"toolchain-{_cache_key(base_archive)}.tar")
    if not os.path.exists(out):
        layer = toolchain_layer(toolchain_entries())
        tmp = out + f".{os.getpid()}.tmp"
        oci_archive.derive_image(base_archive, tmp, {}, extra_layers=[layer])
        os.replace(tmp, out)
    return out


if __name__ == "__main__":
    # Build (or find) the archive by hand: toolchain_image.py BASE_ARCHIVE CACHE_DIR
    import sys
    print(build_archive(sys.argv[1], sys.argv[2]))
