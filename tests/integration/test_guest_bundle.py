"""The guest bundle as built (docs/guest-bundle.md): what goes into the initramfs is what the
boot needs and nothing the kernel must copy or check for nothing. No VM is booted here."""
import os
import struct
import subprocess
import sys

import pytest

from conftest import BIN, ROOT

STRIP = os.path.join(ROOT, "images/initramfs/strip_module_signature.py")
MARKER = b"~Module signature appended~\n"


def bundle_dir():
    return os.environ.get("MATCHLOCK_BUNDLE") or os.path.join(os.path.dirname(BIN), "bundle")


def cpio_entries(path):
    """name -> data of a newc archive (mkcpio.py's format)."""
    with open(path, "rb") as f:
        data = f.read()
    entries, pos = {}, 0
    while True:
        assert data[pos:pos + 6] == b"070701", "not a newc header at %d" % pos
        fields = [int(data[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in range(13)]
        size, namesz = fields[6], fields[11]
        name_end = pos + 110 + namesz
        name = data[pos + 110:name_end - 1].decode()
        start = name_end + (-name_end % 4)
        if name == "TRAILER!!!":
            return entries
        entries[name] = data[start:start + size]
        pos = start + size + (-(start + size) % 4)


def elf_section_names(elf):
    """Section names of a 64-bit little-endian ELF file."""
    assert elf[:4] == b"\x7fELF" and elf[4] == 2 and elf[5] == 1
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)
    def section(i):
        return struct.unpack_from("<IIQQQQ", elf, shoff + i * shentsize)
    strtab = section(shstrndx)
    names_at = strtab[4]
    names = []
    for i in range(shnum):
        name_off = section(i)[0]
        end = elf.index(b"\0", names_at + name_off)
        names.append(elf[names_at + name_off:end].decode())
    return names


@pytest.fixture(scope="module")
def initramfs():
    path = os.path.join(bundle_dir(), "initramfs.cpio")
    if not os.path.exists(path):
        pytest.fail("no guest bundle at %s (scripts/build-bundle.sh)" % path)
    return cpio_entries(path)


def test_the_guest_binary_is_packed_without_symbols_or_debug_information(initramfs):
    # The kernel copies every byte of the archive before init runs: 18 MB of debug
    # information cost 0.7 s of each cold boot under TCG.
    names = elf_section_names(initramfs["init"])
    assert ".text" in names
    assert not [n for n in names if n.startswith(".debug") or n == ".symtab"], names


def test_the_kernel_has_the_sandbox_drivers_built_in_and_no_module_is_packed(initramfs):
    # Loading the virtio, fuse and overlay modules cost each cold boot ~0.3 s under TCG; the
    # bundle's kernel is compiled with them built in (images/kernel/matchlock.config).
    with open(os.path.join(bundle_dir(), "kernel-version")) as f:
        assert f.read().strip().endswith("-matchlock")
    assert initramfs["modules/order"] == b""
    assert not [n for n in initramfs if n.endswith(".ko")]
    # That the drivers work built in: test_guest_boot.py's root test (no module loaded).


def signed(body, sig=b"S" * 512):
    # struct module_signature: algo, hash, id_type, signer_len, key_id_len, pad[3], sig_len (BE)
    trailer = struct.pack(">BBBBB3sI", 0, 0, 2, 0, 0, b"\0\0\0", len(sig))
    return body + sig + trailer + MARKER


def run_strip(tmp_path, data):
    src, dst = tmp_path / "in.ko", tmp_path / "out.ko"
    src.write_bytes(data)
    r = subprocess.run([sys.executable, STRIP, str(src), str(dst)], capture_output=True, text=True)
    return r, (dst.read_bytes() if dst.exists() else None)


def test_strip_module_signature_drops_exactly_the_signature(tmp_path):
    body = b"\x7fELF" + bytes(range(256)) * 8
    r, out = run_strip(tmp_path, signed(body))
    assert r.returncode == 0, r.stderr
    assert out == body


def test_strip_module_signature_copies_an_unsigned_module_unchanged(tmp_path):
    body = b"\x7fELF" + b"unsigned module"
    r, out = run_strip(tmp_path, body)
    assert r.returncode == 0, r.stderr
    assert out == body


@pytest.mark.parametrize("data", [
    MARKER,                                                         # marker, no trailer
    b"\x7fELF" + struct.pack(">BBBBB3sI", 0, 0, 2, 0, 0, b"\0\0\0", 4096) + MARKER,  # too long
    b"\x7fELF" + struct.pack(">BBBBB3sI", 0, 0, 2, 0, 0, b"\0\0\0", 0) + MARKER,     # empty
    signed(b"not an ELF file at all"),
])
def test_strip_module_signature_refuses_a_trailer_that_does_not_fit(tmp_path, data):
    r, out = run_strip(tmp_path, data)
    assert r.returncode != 0
    assert r.stderr.startswith("strip_module_signature: error: ")
    assert r.stderr.count("\n") == 1
    assert out is None
