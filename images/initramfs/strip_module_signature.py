#!/usr/bin/env python3
"""Copy a kernel module without its appended signature.

usage: strip_module_signature.py SRC.ko DST.ko

A signed module ends with the signature, a 12-byte trailer (struct module_signature: algorithm,
hash, id type, signer and key-id lengths, 3 bytes of padding, the signature's length as a
big-endian u32) and the marker "~Module signature appended~\\n". The kernel verifies it on
every load, and under TCG that costs about 55 ms per module (an RSA check in the guest), over
half a second per boot. The guest kernel does not enforce signatures (no module.sig_enforce,
no lockdown), so it loads the stripped module and only notes an "E" taint. The modules come
from Debian's kernel package, which apt verified when it was downloaded.

An unsigned module is copied as is. A trailer that does not fit the file is an error: the file
is not what the build expects, and packing it would hide that.
"""
import struct
import sys

MARKER = b"~Module signature appended~\n"
TRAILER = 12  # sizeof(struct module_signature)


def unsigned_body(data):
    if not data.endswith(MARKER):
        return data
    end = len(data) - len(MARKER)
    if end < TRAILER:
        raise ValueError("signature marker without its trailer")
    (sig_len,) = struct.unpack(">I", data[end - 4 : end])
    body = end - TRAILER - sig_len
    if sig_len == 0 or body <= 0:
        raise ValueError("signature length %d does not fit a %d-byte file" % (sig_len, len(data)))
    if not data.startswith(b"\x7fELF"):
        raise ValueError("not an ELF file")
    return data[:body]


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    src, dst = argv[1], argv[2]
    with open(src, "rb") as f:
        data = f.read()
    try:
        body = unsigned_body(data)
    except ValueError as e:
        sys.exit("strip_module_signature: error: %s: %s" % (src, e))
    with open(dst, "wb") as f:
        f.write(body)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
