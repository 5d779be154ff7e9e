#!/usr/bin/env python3
"""Extract the uncompressed ELF vmlinux from an x86 bzImage and check it can boot via PVH.

usage: extract_kernel_elf.py BZIMAGE OUT_VMLINUX

The bzImage's setup header says where the compressed payload is (payload_offset /
payload_length, boot protocol >= 2.08). If the header is missing or unhelpful we scan for
known compression magics. The payload is decompressed (xz, lz4 legacy frames as used by
Debian's 6.1 cloud kernel, gzip, bzip2, lzma and zstd), must start with the ELF magic, and must carry the Xen PVH entry note
(XEN_ELFNOTE_PHYS32_ENTRY = 18, name "Xen") in a PT_NOTE segment, or QEMU cannot boot it
as an ELF kernel.
"""
import bz2
import lzma
import os
import shutil
import struct
import subprocess
import sys
import zlib

ELF_MAGIC = b"\x7fELF"
XEN_ELFNOTE_PHYS32_ENTRY = 18
PT_NOTE = 4
LZ4_LEGACY_MAGIC = b"\x02\x21\x4c\x18"

MAGICS = [
    ("xz", b"\xfd7zXZ\x00"),
    ("lz4", LZ4_LEGACY_MAGIC),
    ("gzip", b"\x1f\x8b\x08"),
    ("zstd", b"\x28\xb5\x2f\xfd"),
    ("bzip2", b"BZh"),
    ("lzma", b"\x5d\x00\x00"),
]


class ExtractError(Exception):
    pass


def lz4_block(src, out):
    """Append the decoding of one raw LZ4 block to bytearray out."""
    i, n, base = 0, len(src), len(out)
    while i < n:
        tok = src[i]
        i += 1
        lit = tok >> 4
        if lit == 15:
            while True:
                b = src[i]
                i += 1
                lit += b
                if b != 255:
                    break
        out += src[i:i + lit]
        i += lit
        if i >= n:
            break
        off = src[i] | (src[i + 1] << 8)
        i += 2
        ml = tok & 15
        if ml == 15:
            while True:
                b = src[i]
                i += 1
                ml += b
                if b != 255:
                    break
        ml += 4
        start = len(out) - off
        if off == 0 or start < base:
            raise ExtractError("lz4 block has an invalid match offset")
        if off >= ml:
            out += out[start:start + ml]
        else:  # overlapping match: repeat the last `off` bytes
            pat = bytes(out[start:])
            out += (pat * (ml // off + 1))[:ml]


def lz4_legacy(data):
    """Decode an LZ4 legacy frame (magic, then [u32 size][block]...), as the kernel's unlz4.

    The kernel build appends the uncompressed size after the frame; a block size that runs
    past the end of the data therefore ends the stream."""
    out = bytearray()
    pos, n = 4, len(data)
    while pos + 4 <= n:
        size = struct.unpack_from("<I", data, pos)[0]
        if data[pos:pos + 4] == LZ4_LEGACY_MAGIC:
            pos += 4
            continue
        if size == 0 or pos + 4 + size > n:
            break
        lz4_block(data[pos + 4:pos + 4 + size], out)
        pos += 4 + size
    if not out:
        raise ExtractError("lz4 stream is empty")
    return bytes(out)


def decompress(kind, data):
    """Decompress one stream starting at data[0]; trailing bytes are ignored."""
    if kind == "xz":
        d = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
        out = d.decompress(data)
        if not d.eof:
            raise ExtractError("xz stream is truncated")
        return out
    if kind == "lz4":
        return lz4_legacy(data)
    if kind == "lzma":
        d = lzma.LZMADecompressor(format=lzma.FORMAT_ALONE)
        return d.decompress(data)
    if kind == "gzip":
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = d.decompress(data)
        if not d.eof:
            raise ExtractError("gzip stream is truncated")
        return out
    if kind == "bzip2":
        d = bz2.BZ2Decompressor()
        return d.decompress(data)
    if kind == "zstd":
        if not shutil.which("zstd"):
            raise ExtractError("payload is zstd but the zstd tool is not installed")
        p = subprocess.run(["zstd", "-dc", "-q"], input=data, capture_output=True)
        # zstd complains about trailing garbage but still writes the frame
        if not p.stdout:
            raise ExtractError("zstd failed: " + p.stderr.decode(errors="replace").strip())
        return p.stdout
    raise ExtractError("unknown compression " + kind)


def header_payload(img):
    """Return the payload bytes per the boot protocol header, or None."""
    if len(img) < 0x250 or img[0x202:0x206] != b"HdrS":
        return None
    version = struct.unpack_from("<H", img, 0x206)[0]
    if version < 0x208:
        return None
    setup_sects = img[0x1F1] or 4
    pm_start = (setup_sects + 1) * 512
    off, length = struct.unpack_from("<II", img, 0x248)
    start = pm_start + off
    if length == 0 or start + length > len(img):
        return None
    return img[start:start + length]


def candidates(img):
    payload = header_payload(img)
    if payload is not None:
        for kind, magic in MAGICS:
            if payload.startswith(magic):
                yield "header", kind, payload
    # Fallback: scan the whole image for each magic in preference order.
    for kind, magic in MAGICS:
        pos = img.find(magic)
        tries = 0
        while pos != -1 and tries < 8:
            yield "scan@%d" % pos, kind, img[pos:]
            pos = img.find(magic, pos + 1)
            tries += 1


def elf_notes(elf):
    """Yield (name, type, desc) for every note in every PT_NOTE segment of an ELF file."""
    if elf[4] != 2:
        raise ExtractError("vmlinux is not ELF64")
    endian = "<" if elf[5] == 1 else ">"
    e_phoff = struct.unpack_from(endian + "Q", elf, 0x20)[0]
    e_phentsize, e_phnum = struct.unpack_from(endian + "HH", elf, 0x36)
    for i in range(e_phnum):
        base = e_phoff + i * e_phentsize
        p_type = struct.unpack_from(endian + "I", elf, base)[0]
        if p_type != PT_NOTE:
            continue
        p_offset = struct.unpack_from(endian + "Q", elf, base + 8)[0]
        p_filesz = struct.unpack_from(endian + "Q", elf, base + 32)[0]
        pos, end = p_offset, min(p_offset + p_filesz, len(elf))
        while pos + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from(endian + "III", elf, pos)
            pos += 12
            name = elf[pos:pos + namesz].rstrip(b"\x00")
            pos += (namesz + 3) & ~3
            desc = elf[pos:pos + descsz]
            pos += (descsz + 3) & ~3
            yield name, ntype, desc


def has_pvh_note(elf):
    return any(name == b"Xen" and ntype == XEN_ELFNOTE_PHYS32_ENTRY
               for name, ntype, _ in elf_notes(elf))


def extract(img):
    errors = []
    for where, kind, data in candidates(img):
        try:
            out = decompress(kind, data)
        except (ExtractError, lzma.LZMAError, zlib.error, OSError, EOFError, ValueError,
                IndexError) as e:
            errors.append("%s %s: %s" % (where, kind, e))
            continue
        if not out.startswith(ELF_MAGIC):
            errors.append("%s %s: decompressed data is not ELF" % (where, kind))
            continue
        return kind, out
    raise ExtractError("no compressed ELF payload found in bzImage"
                       + ("".join("\n  " + e for e in errors[:10]) if errors else ""))


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: extract_kernel_elf.py BZIMAGE OUT_VMLINUX\n")
        return 2
    src, dst = argv[1], argv[2]
    with open(src, "rb") as f:
        img = f.read()
    if img.startswith(ELF_MAGIC):
        kind, elf = "none", img
    else:
        kind, elf = extract(img)
    if not has_pvh_note(elf):
        raise ExtractError("vmlinux has no PVH entry note (Xen ELF note %d); this kernel "
                           "cannot be booted as an ELF through PVH" % XEN_ELFNOTE_PHYS32_ENTRY)
    tmp = dst + ".tmp"
    with open(tmp, "wb") as f:
        f.write(elf)
    os.replace(tmp, dst)
    sys.stderr.write("extract_kernel_elf: %s payload -> %s (%d bytes, PVH note present)\n"
                     % (kind, dst, len(elf)))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except ExtractError as e:
        sys.stderr.write("extract_kernel_elf: error: %s\n" % e)
        sys.exit(1)
