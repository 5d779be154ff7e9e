"""Layers that carry the host's own programs into a test image.

The test images are BusyBox; real TLS clients (curl, python's ssl, Node, Go) come from the host:
each program is copied with every shared library ldd lists for it (under the directory the
library really lives in) and the dynamic loader, so it runs unchanged in the guest.
"""
import io
import os
import shutil
import subprocess
import tarfile

MTIME = 1704067200


def _ldd_closure(paths):
    """Every shared library the given ELF files load, as guest path -> host path."""
    files = {}
    for exe in paths:
        out = subprocess.run(["ldd", exe], capture_output=True, text=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if not parts:
                continue
            path = parts[2] if "=>" in parts and len(parts) > 2 else parts[0]
            if not path.startswith("/"):
                continue  # linux-vdso, "not a dynamic executable"
            if "ld-linux" in path:
                files[path.lstrip("/")] = path  # the PT_INTERP path, as a regular file
            real_dir = os.path.realpath(os.path.dirname(path))
            files[os.path.join(real_dir, os.path.basename(path)).lstrip("/")] = path
    return files


def layer(files, data=None):
    """A tar layer: `files` maps guest path -> host path, `data` guest path -> (bytes, mode)."""
    entries = {}
    for name, src in files.items():
        with open(src, "rb") as f:
            entries[name] = (f.read(), os.stat(src).st_mode & 0o777 | 0o444)
    entries.update(data or {})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        dirs = set()
        for name in entries:
            parent = os.path.dirname(name)
            while parent:
                dirs.add(parent)
                parent = os.path.dirname(parent)
        for dname in sorted(dirs):
            info = tarfile.TarInfo(dname)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, MTIME
            t.addfile(info)
        for name, (blob, mode) in sorted(entries.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(blob), mode, MTIME
            t.addfile(info, io.BytesIO(blob))
    return buf.getvalue()


def program_files(*programs):
    """Host programs (names on PATH) and their libraries, as guest path -> host path."""
    files = {}
    exes = []
    for p in programs:
        exe = shutil.which(p)
        if exe is None:
            raise FileNotFoundError(p)
        exe = os.path.realpath(exe)
        files["usr/bin/" + p] = exe
        exes.append(exe)
    files.update(_ldd_closure(exes))
    return files


def python_files(python="/usr/bin/python3"):
    """Debian's python3 (scripts/install-deps.sh installs it; not a pyenv shim on PATH) with its
    standard library (no tests, no site-packages) and the libraries its extension modules load
    (_ssl needs libssl), so urllib and ssl work in the guest."""
    exe = os.path.realpath(python)
    paths = subprocess.run([exe, "-c", "import sysconfig; p = sysconfig.get_paths(); "
                                       "print(p['stdlib']); print(p['platstdlib'])"],
                           capture_output=True, text=True, check=True).stdout.split()
    skip = {"test", "idlelib", "tkinter", "ensurepip", "lib2to3", "pydoc_data", "site-packages",
            "dist-packages", "__pycache__", "turtledemo"}
    files = {"usr/bin/python3": exe}
    extensions = [exe]
    for stdlib in sorted(set(paths)):
        for root, dirs, names in os.walk(stdlib):
            dirs[:] = [d for d in dirs if d not in skip and not d.startswith("config-")]
            for n in names:
                src = os.path.join(root, n)
                files[src.lstrip("/")] = src
                if n.endswith(".so"):
                    extensions.append(src)
    files.update(_ldd_closure(extensions))
    return files


def go_program(source, out_dir):
    """A static Go binary built from `source` with the host's Go toolchain (no cgo)."""
    go = shutil.which("go") or ("/usr/local/go/bin/go" if os.path.exists("/usr/local/go/bin/go")
                                else None)
    if go is None:
        raise FileNotFoundError("go")
    out = os.path.join(out_dir, os.path.splitext(os.path.basename(source))[0])
    env = dict(os.environ, CGO_ENABLED="0", GO111MODULE="off")
    env.setdefault("HOME", out_dir)  # Go keeps its build cache under $HOME/.cache
    subprocess.run([go, "build", "-o", out, source], check=True, env=env, capture_output=True)
    return out
