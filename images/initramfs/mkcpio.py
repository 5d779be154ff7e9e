#!/usr/bin/env python3
"""Write a deterministic newc cpio archive without needing root.

usage: mkcpio.py OUT.cpio SPEC...

Each SPEC is one of
  dir:PATH:MODE                 an empty directory
  file:PATH:MODE:SOURCE         a regular file with SOURCE's contents
  chr:PATH:MODE:MAJOR:MINOR     a character device node (written as a header; no mknod)
PATH is relative to the archive root (no leading slash); MODE is octal. Every entry is
owned by 0:0 with mtime $SOURCE_DATE_EPOCH (default 0). Entries are sorted by path and
missing parent directories are added (0755), so the output depends only on the inputs.
"""
import os
import stat
import sys


def header(ino, mode, nlink, size, mtime, rdevmajor, rdevminor, name):
    namesz = len(name) + 1
    fields = [ino, mode, 0, 0, nlink, mtime, size, 0, 0, rdevmajor, rdevminor, namesz, 0]
    h = b"070701" + b"".join(b"%08X" % v for v in fields) + name + b"\0"
    return h + b"\0" * (-len(h) % 4)


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    out, specs = argv[1], argv[2:]
    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    entries = {}
    for spec in specs:
        kind, rest = spec.split(":", 1)
        parts = rest.split(":")
        path = parts[0].strip("/")
        if not path or ".." in path.split("/"):
            sys.exit("mkcpio: error: bad path in %r" % spec)
        mode = int(parts[1], 8)
        if kind == "dir":
            entries[path] = (stat.S_IFDIR | mode, None, 0, 0)
        elif kind == "file":
            entries[path] = (stat.S_IFREG | mode, ":".join(parts[2:]), 0, 0)
        elif kind == "chr":
            entries[path] = (stat.S_IFCHR | mode, None, int(parts[2]), int(parts[3]))
        else:
            sys.exit("mkcpio: error: unknown entry kind %r" % kind)
    for path in list(entries):
        parent = os.path.dirname(path)
        while parent and parent not in entries:
            entries[parent] = (stat.S_IFDIR | 0o755, None, 0, 0)
            parent = os.path.dirname(parent)

    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        for ino, path in enumerate(sorted(entries), start=1):
            mode, src, major, minor = entries[path]
            data = b""
            if src is not None:
                with open(src, "rb") as s:
                    data = s.read()
            nlink = 2 if stat.S_ISDIR(mode) else 1
            f.write(header(ino, mode, nlink, len(data), mtime, major, minor, path.encode()))
            f.write(data + b"\0" * (-len(data) % 4))
        f.write(header(0, 0, 1, 0, 0, 0, 0, b"TRAILER!!!"))
        pad = -f.tell() % 512
        f.write(b"\0" * pad)
    os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
