#!/usr/bin/env python3
"""Copy the named kernel modules and their dependencies out of a kernel's module tree.

usage: select_modules.py MODULES_ROOT OUTDIR NAME...

MODULES_ROOT is lib/modules/<version> (holding modules.builtin and, if depmod ran, modules.dep).
Every NAME and everything it depends on is written to OUTDIR as an uncompressed .ko
(.ko.xz, .ko.zst and .ko.gz are decompressed). Modules built into the kernel are skipped.
OUTDIR/order lists the bare file names, dependencies first, one per line.

Debian's kernel packages do not ship modules.dep (depmod runs at install time), so without it
the dependencies are read from each module's .modinfo "depends=" field, which is what modpost
records and depmod reproduces; no kmod tools are needed on the host.
"""
import gzip
import lzma
import os
import shutil
import struct
import subprocess
import sys


def modname(path):
    base = os.path.basename(path)
    for suffix in (".ko.xz", ".ko.zst", ".ko.gz", ".ko"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    return base.replace("-", "_")


def modname_file(path):
    """Bare uncompressed file name as shipped (dashes kept), e.g. virtio_mmio.ko."""
    base = os.path.basename(path)
    for suffix in (".xz", ".zst", ".gz"):
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


def read_ko(path):
    if path.endswith(".ko.xz"):
        with lzma.open(path) as f:
            return f.read()
    if path.endswith(".ko.gz"):
        with gzip.open(path) as f:
            return f.read()
    if path.endswith(".ko.zst"):
        if not shutil.which("zstd"):
            sys.exit("select_modules: error: %s is zstd-compressed and zstd is not installed" % path)
        return subprocess.run(["zstd", "-dcq", path], check=True, capture_output=True).stdout
    with open(path, "rb") as f:
        return f.read()


def modinfo_depends(data):
    """The depends= list from a module's .modinfo ELF section."""
    if data[:4] != b"\x7fELF" or data[4] != 2:
        raise ValueError("not an ELF64 module")
    e = "<" if data[5] == 1 else ">"
    shoff = struct.unpack_from(e + "Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", data, 0x3A)

    def sh(i):
        b = shoff + i * shentsize
        name, _typ = struct.unpack_from(e + "II", data, b)
        off, size = struct.unpack_from(e + "QQ", data, b + 24)
        return name, off, size

    _, stroff, _ = sh(shstrndx)
    for i in range(shnum):
        name, off, size = sh(i)
        end = data.index(b"\0", stroff + name)
        if data[stroff + name:end] == b".modinfo":
            for field in data[off:off + size].split(b"\0"):
                if field.startswith(b"depends="):
                    v = field[len(b"depends="):].decode()
                    return [modname(x) for x in v.split(",") if x]
            return []
    raise ValueError("module has no .modinfo section")


def scan_tree(root):
    """name -> (relative path, [dep names]) by reading every module's .modinfo."""
    deps = {}
    for dirpath, _dirs, names in os.walk(os.path.join(root, "kernel")):
        for n in names:
            if ".ko" in n:
                rel = os.path.relpath(os.path.join(dirpath, n), root)
                deps[modname(n)] = (rel, None)   # dependencies read lazily
    return deps


def main(argv):
    if len(argv) < 4:
        sys.stderr.write("usage: select_modules.py MODULES_ROOT OUTDIR NAME...\n")
        return 2
    root, out, wanted = argv[1], argv[2], argv[3:]
    deps = {}   # name -> (relative path, [dep names] or None if not read yet)
    dep_file = os.path.join(root, "modules.dep")
    if os.path.exists(dep_file):
        with open(dep_file) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                path, _, rest = line.partition(":")
                deps[modname(path)] = (path, [modname(d) for d in rest.split()])
    else:
        deps = scan_tree(root)
    blobs = {}

    def dep_list(name):
        rel, lst = deps[name]
        if lst is None:
            blobs[name] = read_ko(os.path.join(root, rel))
            try:
                lst = modinfo_depends(blobs[name])
            except (ValueError, struct.error) as e:
                sys.exit("select_modules: error: %s: %s" % (rel, e))
            deps[name] = (rel, lst)
        return lst
    builtin = set()
    bpath = os.path.join(root, "modules.builtin")
    if os.path.exists(bpath):
        with open(bpath) as f:
            builtin = {modname(l.strip()) for l in f if l.strip()}

    order, state, skipped = [], {}, []

    def visit(name, chain):
        if state.get(name) == "done":
            return
        if state.get(name) == "active":
            sys.exit("select_modules: error: dependency cycle: " + " -> ".join(chain + [name]))
        if name not in deps:
            if name in builtin:
                skipped.append(name)
                state[name] = "done"
                return
            sys.exit("select_modules: error: module %s is neither in modules.dep nor built in"
                     % name)
        state[name] = "active"
        for d in dep_list(name):
            visit(d, chain + [name])
        state[name] = "done"
        order.append(name)

    for w in wanted:
        visit(w.replace("-", "_"), [])

    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    files = []
    for name in order:
        rel = deps[name][0]
        fname = modname_file(rel)
        with open(os.path.join(tmp, fname), "wb") as f:
            f.write(blobs.get(name) or read_ko(os.path.join(root, rel)))
        files.append(fname)
    with open(os.path.join(tmp, "order"), "w") as f:
        f.write("".join(x + "\n" for x in files))
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    if skipped:
        sys.stderr.write("select_modules: built in (skipped): %s\n" % " ".join(sorted(set(skipped))))
    sys.stderr.write("select_modules: %d modules: %s\n" % (len(files), " ".join(order)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
