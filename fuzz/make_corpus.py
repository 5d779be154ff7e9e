#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz harnesses: fuzz/corpus/<harness>/<seed>.

Small, real-looking inputs (a few KB per harness) from which libFuzzer mutates. Each harness's
directory is rewritten whole, so the corpus is exactly what this script makes:
    /usr/bin/python3 fuzz/make_corpus.py [harness...]
"""
import base64
import io
import json
import os
import shutil
import ssl
import struct
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
SHA_A = "sha256:" + "a" * 64
SHA_B = "sha256:" + "b" * 64
SHA_C = "sha256:" + "c" * 64


def compact(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


# --- guest channel frames: [type u8][stream u32 BE][len u32 BE][payload] ---
HELLO, CONFIG, READY, ERROR, PING, PONG = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
EXEC_STARTED, DATA, EOF, CREDIT, RESIZE, EXIT = 0x11, 0x12, 0x13, 0x14, 0x15, 0x18
PORT_OPENED, PORT_CLOSED = 0x21, 0x23
FILE_INFO, FILE_LISTING, FILE_DONE = 0x33, 0x34, 0x35


def frame(kind, stream, payload=b""):
    return struct.pack(">BII", kind, stream, len(payload)) + payload


def data(fd, payload):
    return bytes([fd]) + payload


def credit(fd, n):
    return bytes([fd]) + struct.pack(">I", n)


def guest_frame():
    # Two leading bytes: the harness's chunk size and payload limit selectors.
    return {
        "hello": b"\x03\x01" + frame(HELLO, 0, b'{"version":7,"agent":"matchlock-guest 0.1.0","boot_ms":812}'),
        "exec_output": b"\x07\x01" + frame(EXEC_STARTED, 1, b'{"pid":42}') + frame(DATA, 1, data(1, b"hello\n"))
        + frame(DATA, 1, data(2, b"warning\n")) + frame(EOF, 1, b"\x01") + frame(EOF, 1, b"\x02")
        + frame(EXIT, 1, struct.pack(">i", 0)),
        "credit_resize": b"\x01\x00" + frame(CREDIT, 1, credit(0, 65536)) + frame(RESIZE, 1, struct.pack(">HH", 24, 80))
        + frame(0x17, 1, struct.pack(">I", 5000)),
        "oversized": b"\x05\x00" + struct.pack(">BII", DATA, 1, 1 << 20) + b"x" * 16,
        "unknown_type": b"\x02\x01" + frame(0x7F, 9, b"?"),
    }


def guest_connection():
    # Streams the harness opens: exec 1, port 3, file read 5, file list 7, file stat 9.
    return {
        "exec_exit": frame(EXEC_STARTED, 1, b'{"pid":7}') + frame(DATA, 1, data(1, b"out"))
        + frame(CREDIT, 1, credit(0, 4096)) + frame(EOF, 1, b"\x01") + frame(EOF, 1, b"\x02")
        + frame(EXIT, 1, struct.pack(">i", 3)),
        "exec_error": frame(ERROR, 1, b'{"message":"exec: not found","exit_code":127}'),
        "port": frame(PORT_OPENED, 3, b"{}") + frame(DATA, 3, data(1, b"HTTP/1.1 200 OK\r\n\r\n"))
        + frame(EOF, 3, b"\x01") + frame(PORT_CLOSED, 3, b"{}"),
        "files": frame(FILE_INFO, 5, b'{"size":12,"mode":33188}') + frame(DATA, 5, data(1, b"127.0.0.1 lo"))
        + frame(EOF, 5, b"\x01") + frame(FILE_DONE, 5, b"{}")
        + frame(FILE_LISTING, 7, compact({"files": [{"name": "etc", "size": 4096, "mode": 16877, "is_dir": True,
                                                       "mtime": 1700000000}]}))
        + frame(FILE_DONE, 7, b"{}") + frame(FILE_INFO, 9, b'{"size":4096,"mode":16877,"mtime":1700000000}')
        + frame(FILE_DONE, 9, b"{}"),
        "file_errors": frame(ERROR, 5, b'{"message":"open /etc/hosts: No such file or directory","errno":2}')
        + frame(ERROR, 7, b'{"message":"not a directory","errno":20}') + frame(PONG, 0, b"x"),
        "late_hello": frame(HELLO, 0, b'{"version":7,"agent":"x"}'),
    }


def guest_agent_messages():
    entropy = base64.b64encode(bytes(range(64))).decode()
    return {
        "host_hello": b'{"version":7}',
        "config": compact({"entropy": entropy, "restored": True, "hostname": "box", "hosts": "127.0.0.1 localhost\n",
                           "time_unix_ms": 1700000000000, "network": {"address": "192.168.127.15", "prefix": 24,
                                                                      "gateway": "192.168.127.2", "mtu": 1500}}),
        "exec": compact({"argv": ["/bin/sh", "-c", "echo hi"], "env": ["PATH=/usr/bin:/bin", "HOME=/root"],
                         "cwd": "/workspace", "user": "1000:1000", "tty": True, "rows": 24, "cols": 80,
                         "stdin": True, "privileged": False}),
        "exec_build": compact({"argv": ["make"], "env": [], "cwd": "/src", "user": "",
                               "build_root": {"lower": ["l3", "l2", "l1"], "upper": "l4"}}),
        "exec_builtin": compact({"argv": [], "builtin": "layer-apply", "build_root": {"lower": [], "upper": "l_9"}}),
    }


def tar_bytes(build, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        build(tar)
    raw = buf.getvalue()
    # tarfile pads to a 10 KiB record: keep the content and the two zero blocks that end it.
    end = len(raw)
    while end >= 512 and raw[end - 512:end] == b"\0" * 512:
        end -= 512
    return raw[:end] + b"\0" * 1024


def add(tar, name, kind=tarfile.REGTYPE, content=b"", link="", mode=0o644, pax=None):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime, info.uid, info.gid = kind, mode, 1700000000, 0, 0
    info.linkname = link
    info.size = len(content) if kind == tarfile.REGTYPE else 0
    if pax:
        info.pax_headers = pax
    tar.addfile(info, io.BytesIO(content) if kind == tarfile.REGTYPE else None)


def layer_canonicalizer():
    def basic(tar):
        add(tar, "etc", tarfile.DIRTYPE, mode=0o755)
        add(tar, "etc/hostname", content=b"box\n")
        add(tar, "etc/localtime", tarfile.SYMTYPE, link="/usr/share/zoneinfo/UTC")
        add(tar, "etc/hostname.bak", tarfile.LNKTYPE, link="etc/hostname")

    def whiteouts(tar):
        add(tar, "usr", tarfile.DIRTYPE, mode=0o755)
        add(tar, "usr/.wh..wh..opq")
        add(tar, "usr/.wh.old-tool")

    def pax(tar):
        add(tar, "opt/" + "long-directory-name/" * 6 + "file", content=b"x",
            pax={"SCHILY.xattr.user.note": "hi"})

    def hostile(tar):
        add(tar, "../escape", content=b"no")
        add(tar, "/abs/path", content=b"abs")
        add(tar, "dev/null", tarfile.CHRTYPE)

    return {
        "basic": tar_bytes(basic),
        "whiteouts": tar_bytes(whiteouts),
        "pax_xattr": tar_bytes(pax),
        "gnu_hostile": tar_bytes(hostile, tarfile.GNU_FORMAT),
    }


def layers(*tars):
    """The layer_flattener input: layer count, the 512-byte blocks of each but the last, bytes."""
    head = bytes([len(tars) - 1]) + bytes(len(t) // 512 for t in tars[:-1])
    return head + b"".join(tars)


def layer_flattener():
    def base(tar):
        add(tar, "etc", tarfile.DIRTYPE, mode=0o755)
        add(tar, "etc/hostname", content=b"box\n")
        add(tar, "usr/bin/tool", content=b"#!/bin/sh\n", mode=0o755)
        add(tar, "usr/lib/old", tarfile.DIRTYPE, mode=0o755)
        add(tar, "usr/lib/old/file", content=b"old")

    def deletes(tar):
        add(tar, "etc/.wh.hostname")
        add(tar, "usr/lib/.wh..wh..opq")
        add(tar, "usr/lib/new", content=b"new")
        add(tar, "usr/bin/tool2", tarfile.LNKTYPE, link="usr/bin/tool", mode=0o4755)

    def replace(tar):
        add(tar, "usr/lib", content=b"a file now")
        add(tar, "etc", tarfile.SYMTYPE, link="/")

    def plant(tar):
        add(tar, "up", tarfile.SYMTYPE, link="../outside")
        add(tar, "root", tarfile.SYMTYPE, link="/")
        add(tar, "setuid", content=b"x", mode=0o6755)

    def through(tar):
        add(tar, "up/canary", content=b"overwritten")
        add(tar, "up/new", content=b"new")
        add(tar, "hard", tarfile.LNKTYPE, link="up/canary")
        add(tar, ".wh.up")
        add(tar, "root/tmp/x", content=b"x")

    return {
        "one_layer": layers(tar_bytes(base)),
        "whiteouts": layers(tar_bytes(base), tar_bytes(deletes)),
        "replaced": layers(tar_bytes(base), tar_bytes(deletes), tar_bytes(replace)),
        "symlink_escape": layers(tar_bytes(plant), tar_bytes(through)),
        "gnu_hostile": layers(tar_bytes(plant, tarfile.GNU_FORMAT)),
    }


def guest_tar_header():
    def one(name, kind=tarfile.REGTYPE, content=b"", link="", fmt=tarfile.USTAR_FORMAT):
        return tar_bytes(lambda tar: add(tar, name, kind, content, link), fmt)[:512]

    return {
        "file": one("etc/passwd", content=b"root:x:0:0::/root:/bin/sh\n"),
        "symlink": one("bin/sh", tarfile.SYMTYPE, link="busybox"),
        "dir": one("var/lib/", tarfile.DIRTYPE),
        # A header, then pax records the harness applies onto it.
        "pax": one("x") + b"30 path=opt/a/very/long/name\n20 uid=4294967296\n"
        + b"32 SCHILY.xattr.user.a=value\n",
    }


def dns_name(name):
    out = b""
    for label in name.split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def dns_message():
    def header(ident, flags, qd, an=0, ns=0, ar=0):
        return struct.pack(">HHHHHH", ident, flags, qd, an, ns, ar)

    opt = b"\0" + struct.pack(">HHIH", 41, 1232, 0, 0)
    query_a = header(0x1234, 0x0100, 1) + dns_name("example.com") + struct.pack(">HH", 1, 1)
    query_aaaa = header(0x4321, 0x0100, 1, ar=1) + dns_name("api.github.com") + struct.pack(">HH", 28, 1) + opt
    # Answer: CNAME then A, names compressed against the question (offset 12).
    answer = (header(0x1234, 0x8180, 1, an=2) + dns_name("www.example.com") + struct.pack(">HH", 1, 1)
              + b"\xc0\x0c" + struct.pack(">HHIH", 5, 1, 300, 2) + b"\xc0\x10"
              + b"\xc0\x10" + struct.pack(">HHIH", 1, 1, 300, 4) + bytes([93, 184, 216, 34]))
    aaaa = (header(7, 0x8180, 1, an=1) + dns_name("v6.test") + struct.pack(">HH", 28, 1)
            + b"\xc0\x0c" + struct.pack(">HHIH", 28, 1, 60, 16) + bytes(15) + b"\x01")
    loop = header(9, 0x8180, 1, an=1) + b"\xc0\x0c" + struct.pack(">HH", 1, 1)
    return {"query_a": query_a, "query_aaaa_edns": query_aaaa, "answer_cname": answer, "answer_aaaa": aaaa,
            "pointer_loop": loop}


HTTP_SEEDS = {
    "get": b"GET /index.html HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.0\r\nAccept: */*\r\n\r\n",
    "post": b"POST /api/v1/items?x=1 HTTP/1.1\r\nHost: api.example.com:8443\r\nContent-Type: application/json\r\n"
            b"Content-Length: 13\r\n\r\n{\"name\":\"a\"}\n",
    "chunked": b"PUT /upload HTTP/1.1\r\nHost: up.example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5;ext=1\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n",
    "absolute": b"GET http://[::1]:8080/p HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
    "http10": b"GET / HTTP/1.0\r\n\r\n",
    "upgrade": b"GET /ws HTTP/1.1\r\nHost: ws.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
               b"\x81\x05hello",
    "smuggle": b"POST / HTTP/1.1\r\nHost: a.com\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "obs_fold": b"GET / HTTP/1.1\r\nHost: a.com\r\nX: a\r\n b\r\n\r\n",
}


def http_streams():
    # First byte: the harness's chunk size selector. Pipelined requests on one connection.
    pipelined = HTTP_SEEDS["get"] + HTTP_SEEDS["post"] + HTTP_SEEDS["chunked"]
    seeds = {name: b"\x04" + body for name, body in HTTP_SEEDS.items()}
    seeds["pipelined"] = b"\x0b" + pipelined
    return seeds


def client_hello(server_name, max_version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if max_version:
        ctx.maximum_version = max_version
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    conn = ctx.wrap_bio(incoming, outgoing, server_hostname=server_name)
    try:
        conn.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def tls_client_hello():
    hello = client_hello("example.com")
    # The same hello split over two handshake records (RFC 8446 §5.1 allows it).
    body = hello[5:]
    half = len(body) // 2
    split = (hello[:3] + struct.pack(">H", half) + body[:half]
             + hello[:3] + struct.pack(">H", len(body) - half) + body[half:])
    return {
        "sni": hello,
        "sni_tls12": client_hello("api.github.com", ssl.TLSVersion.TLSv1_2),
        "no_sni": client_hello(None),
        "fragmented": split,
        "truncated": hello[:40],
    }


def image_manifest():
    oci = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": SHA_A, "size": 1469},
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": SHA_B, "size": 3208942}]}
    docker = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
              "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": SHA_A, "size": 7},
              "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": SHA_C,
                          "size": 100}]}
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": SHA_A, "size": 500,
         "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": SHA_B, "size": 501,
         "platform": {"os": "linux", "architecture": "amd64"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": SHA_C, "size": 840,
         "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
         "platform": {"os": "unknown", "architecture": "unknown"}}]}
    config = {"architecture": "amd64", "os": "linux",
              "config": {"User": "1000", "WorkingDir": "/app", "Entrypoint": ["/bin/app"], "Cmd": ["--serve"],
                         "Env": ["PATH=/usr/local/bin:/usr/bin", "LANG=C.UTF-8"]},
              "rootfs": {"type": "layers", "diff_ids": [SHA_B, SHA_C]}}
    return {"oci_manifest": compact(oci), "docker_manifest": compact(docker), "index": compact(index),
            "config": compact(config), "null_config": b'{"config":null,"rootfs":{"diff_ids":[]}}'}


def www_authenticate():
    return {
        "bearer": b'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                  b'scope="repository:library/busybox:pull"',
        "basic": b'Basic realm="Registry Realm"',
        "two": b'Basic realm="x", Bearer realm="https://r.example/t", error="invalid_token"',
        "escaped": b'Bearer realm="a\\"b",charset=UTF-8',
        "token68": b"Negotiate abc123==",
    }


def fuse_message(opcode, unique, node, body=b""):
    return struct.pack("<IIQQIIIHH", 40 + len(body), opcode, unique, node, 1000, 1000, 1, 0, 0) + body


def fuse_request():
    lookup, getattr_, setattr_, readlink, symlink, mkdir, unlink = 1, 3, 4, 5, 6, 9, 10
    rename, link, open_, read, write, release, opendir, readdir, create = 12, 13, 14, 15, 16, 18, 27, 28, 35
    batch_forget, rename2 = 42, 45
    create_file = fuse_message(create, 2, 1, struct.pack("<IIII", 0o102, 0o644, 0o022, 0) + b"a.txt\0")
    write_file = fuse_message(write, 3, 2, struct.pack("<QQIIQII", 0, 0, 5, 0, 0, 0, 0) + b"hello")
    read_file = fuse_message(read, 4, 2, struct.pack("<QQIIQII", 0, 0, 4096, 0, 0, 0, 0))
    release_file = fuse_message(release, 5, 2, struct.pack("<QIIQ", 0, 0, 0, 0))
    return {
        "create_write_read": create_file + write_file + read_file + release_file,
        "dirs": fuse_message(mkdir, 2, 1, struct.pack("<II", 0o755, 0o022) + b"src\0")
        + fuse_message(lookup, 3, 1, b"src\0") + fuse_message(opendir, 4, 2, struct.pack("<II", 0, 0))
        + fuse_message(readdir, 5, 2, struct.pack("<QQIIQII", 0, 0, 4096, 0, 0, 0, 0))
        + fuse_message(unlink, 6, 1, b"missing\0"),
        "links": fuse_message(symlink, 2, 1, b"ln\0target/path\0") + fuse_message(readlink, 3, 2)
        + fuse_message(link, 4, 1, struct.pack("<Q", 2) + b"hard\0")
        + fuse_message(rename, 5, 1, struct.pack("<Q", 1) + b"ln\0ln2\0")
        + fuse_message(rename2, 6, 1, struct.pack("<QII", 1, 1, 0) + b"ln2\0hard\0"),
        "attrs": fuse_message(getattr_, 2, 1, struct.pack("<IIQ", 0, 0, 0))
        + fuse_message(setattr_, 3, 1, struct.pack("<IIQQQQQQIIIIIIII", 1, 0, 0, 0, 0, 0, 0, 0, 0o700, 0, 0, 0, 0, 0, 0, 0))
        + fuse_message(open_, 4, 1, struct.pack("<II", 0, 0)),
        "forget": fuse_message(batch_forget, 0, 0, struct.pack("<II", 2, 0) + struct.pack("<QQ", 2, 1) * 2),
        "bad_len": struct.pack("<IIQQIIIHH", 4096, lookup, 9, 1, 0, 0, 0, 0, 0) + b"x\0",
    }


def dockerfile():
    multi = (b"# syntax=docker/dockerfile:1\nARG BASE=debian:12\nARG VERSION\n"
             b"FROM ${BASE} AS build\nARG VERSION\nENV APP_VERSION=${VERSION:-dev} \\\n    PATH=/opt/bin:$PATH\n"
             b"WORKDIR /src\nCOPY --chown=1000:1000 --chmod=644 go.mod go.sum ./\n"
             b"RUN <<EOF\nset -e\nmake build V=${APP_VERSION%%.*}\nEOF\n"
             b"FROM scratch\nCOPY --from=build /src/out /app\nLABEL org.opencontainers.image.title=\"app\" k=v\n"
             b"USER 1000:1000\nEXPOSE 8080/tcp\nVOLUME [\"/data\"]\nENTRYPOINT [\"/app\"]\nCMD [\"--serve\"]\n")
    escape = (b"# escape=`\nFROM mcr.example/windows\nSHELL [\"powershell\", \"-Command\"]\n"
              b"RUN Write-Host `\n  hi\nHEALTHCHECK --interval=5s CMD curl -f http://localhost/ || exit 1\n"
              b"STOPSIGNAL SIGTERM\nONBUILD RUN echo child\n")
    expand = (b"FROM busybox\nARG NAME=world\nENV GREETING=\"hello ${NAME}\" X=${NAME/o/0} Y=${NAME#w} Z=${UNSET:+set}\n"
              b"RUN echo \"$GREETING\" '$literal' > /out\nADD https://example.com/a.tgz /tmp/\n"
              b"COPY <<-\"END\" /etc/motd\n\tline one\n\tEND\n")
    return {"multistage": multi, "escape": escape, "expand": expand, "bad": b"FORM busybox\nRUN\n"}


def dockerignore():
    patterns = b"# build output\n*.o\nbuild/\n**/node_modules\n!build/keep.txt\n/docs/*.md\nsrc/**/*.tmp\n[a-c]?.log\n"
    paths = [b"main.o", b"build/x", b"build/keep.txt", b"a/b/node_modules/m", b"docs/README.md", b"./src//x/../y.tmp",
             b"b1.log", b"../outside"]
    return {"typical": patterns + b"\0" + b"\0".join(paths),
            "exceptions": b"*\n!src\n!**/*.go\nsrc/vendor\n\0src/a.go\0src/vendor/b.go\0Makefile",
            "bad": b"[\n\0x",
            # runs of wildcards: a search that looped over the path in each of them took seconds
            "wildcard_runs": b"s\n" + b"*" * 500 + b"[=]c]" + b"*" * 500 + b"\0" + b"dir/" * 200 + b"c"}


def wildcard_match():
    # mode byte (even: interception path glob, odd: COPY component), pattern, NUL, text
    return {
        "path_glob": b"\x00/v1/*/completions\0/v1/chat/completions",
        "path_glob_stars": b"\x00/a*-*-*-*-*-*-x\0/a" + b"-" * 300 + b"y",
        "path_glob_slash": b"\x00/files/*.txt\0/files/a/b.txt",
        "path_glob_class": b"\x02/v[0-9]/model?/[!x]*\0/v2/models/abc",
        "copy_component": b"\x01*.tar.gz\0release-1.2.tar.gz",
        "copy_question": b"\x01a?c*\\*\0abc*",
        "copy_runs": b"\x01" + b"*?" * 100 + b"z\0" + b"x" * 250 + b"z",
    }


def guest_ready_steps():
    ready = {"channel_token": "a" * 64, "steps": [
        {"step": "entropy and clock", "ms": 0.42}, {"step": "mount the overlay", "ms": 12.25}]}
    hostile = {"steps": [{"step": "\x1b]0;title\x07" + "n" * 80, "ms": 1e300},
                         {"step": 5, "ms": "x"}, {"step": "ok", "ms": -1}, {"step": "ok", "ms": 3}] * 10}
    return {"ready": compact(ready), "hostile": compact(hostile), "old_agent": compact({"channel_token": "x"})}


def env_file():
    return {
        "env_file": b"# settings\nAPP_ENV=production\n  DB_URL=postgres://u:p@db:5432/app?x=1\nEMPTY=\nHOME\n\nQUOTED=\"kept\"\nAPP_ENV=staging\n",
        "size": b"512m", "size_gib": b"2GiB", "duration": b"1h30m", "cpus": b"0.5", "user": b"app:staff",
        "hostname": b"build-box-1.internal", "path": b"/workspace/src",
    }


def rpc_request():
    return {
        "create": compact({"jsonrpc": "2.0", "id": 1, "method": "create", "params": {
            "image": "busybox:latest", "resources": {"cpus": 1.5, "memory_mb": 512, "disk_size_mb": 1024,
                                                     "timeout_seconds": 300},
            "network": {"allowed_hosts": ["api.example.com", "*.github.com"], "block_private_ips": True,
                        "dns_servers": ["1.1.1.1"], "add_hosts": [{"host": "db", "ip": "10.0.0.5"}]},
            "vfs": {"workspace": "/workspace", "direct_mounts": {"/data": {"host_path": "/tmp", "readonly": True}}},
            "env": {"A": "1"}, "hostname": "box", "user": "1000", "working_dir": "/workspace",
            "port_forwards": [{"local_port": 8080, "remote_port": 80}]}}),
        "exec": compact({"jsonrpc": "2.0", "id": 2, "method": "exec", "params": {
            "command": "echo hi", "env": {"K": "V", "EMPTY": ""}, "working_dir": "/"}}),
        "files": compact({"jsonrpc": "2.0", "id": 3, "method": "make_dir", "params": {
            "path": "/a/b", "mode": 493, "parents": True, "recursive": True, "old_path": "/x", "new_path": "/y"}}),
        "port_forward": compact({"jsonrpc": "2.0", "id": 4, "method": "port_forward", "params": {
            "forwards": [{"local_port": 0, "remote_port": 8080, "address": "127.0.0.1"}]}}),
        "set_timeout": compact({"jsonrpc": "2.0", "id": 5, "method": "set_timeout", "params": {"timeout_seconds": 60}}),
        "notification": b'{"jsonrpc":"2.0","method":"cancel","params":[1]}',
        "batch": b'[{"jsonrpc":"2.0","id":1,"method":"close"}]',
        "bad_utf8": b'{"jsonrpc":"2.0","id":18446744073709551615,"method":"\xff\xfeclose"}',
        "not_json": b"{jsonrpc: 2.0",
    }


def rpc_line_framer():
    lines = b"".join(rpc_request()[k] + b"\n" for k in ("create", "exec", "notification"))
    return {"lines": b"\x05" + lines, "crlf_partial": b"\x02" + b'{"a":1}\r\n\r\n\n{"b":' + b"\r"}


# --- virtqueue: a header, then operations on guest RAM (see fuzz/virtqueue_fuzzer.cpp) ---
VQ_POP_COMPLETE, VQ_POP_HOLD, VQ_COMPLETE_HELD, VQ_POKE, VQ_RESTART = 0, 1, 2, 3, 5
VQ_NEXT, VQ_WRITE, VQ_INDIRECT = 1, 2, 4
RAM_A, RAM_B = 0x1000, 0x10000  # guest-physical starts of the two 32 KiB regions


def vq_header(size_log2, readable_log2=12, base=0, raw_rings=None, inline=None):
    """`inline`: readable bytes the pop copies (None: all of them, odd mode byte; else 0..127)."""
    inline_mode = 1 if inline is None else 2 * inline
    head = struct.pack("<BBHBB", size_log2, readable_log2, base, inline_mode, 1 if raw_rings else 0)
    if raw_rings:
        head += struct.pack("<iii", *raw_rings)
    return head


def vq_poke(file_offset, payload):
    out = b""
    for i in range(0, len(payload), 32):
        chunk = payload[i:i + 32]
        out += struct.pack("<BHB", VQ_POKE, file_offset + i, len(chunk)) + chunk
    return out


class VqRing:
    """The default layout of a 2^k ring: descriptors, then available, then used (4-aligned)."""

    def __init__(self, size_log2):
        self.num = 1 << size_log2
        self.avail = 16 * self.num
        self.used = (self.avail + 6 + 2 * self.num + 3) & ~3
        self.avail_idx = 0

    def desc(self, index, gpa, length, flags, nxt=0):
        return vq_poke(16 * index, struct.pack("<QIHH", gpa, length, flags, nxt))

    def publish(self, *heads):
        out = b""
        for head in heads:
            out += vq_poke(self.avail + 4 + 2 * (self.avail_idx % self.num), struct.pack("<H", head))
            self.avail_idx += 1
        return out + vq_poke(self.avail + 2, struct.pack("<H", self.avail_idx & 0xFFFF))


def virtqueue():
    seeds = {}
    r = VqRing(4)
    request = struct.pack("<IIQQIIIHH", 48, 1, 7, 1, 0, 0, 0, 0, 0) + b"a.txt\0\0\0"
    seeds["request_reply"] = (vq_header(4) + vq_poke(0x2000, request) + r.desc(0, RAM_A + 0x2000, len(request), VQ_NEXT, 1)
                              + r.desc(1, RAM_A + 0x3000, 128, VQ_WRITE) + r.publish(0)
                              + struct.pack("<BH", VQ_POP_COMPLETE, 40))
    r = VqRing(4)
    # A WRITE as virtio-fs pops it: its 80 bytes of headers copied, the payload left in place.
    write = struct.pack("<IIQQIIIHH", 80 + 64, 16, 9, 2, 0, 0, 0, 0, 0) + bytes(40) + b"p" * 64
    seeds["payload_in_place"] = (vq_header(4, inline=80) + vq_poke(0x2000, write)
                                 + r.desc(0, RAM_A + 0x2000, 60, VQ_NEXT, 1)
                                 + r.desc(1, RAM_A + 0x2000 + 60, len(write) - 60, VQ_NEXT, 2)
                                 + r.desc(2, RAM_A + 0x3000, 16, VQ_WRITE) + r.publish(0)
                                 + struct.pack("<BH", VQ_POP_COMPLETE, 16))
    r = VqRing(4)
    seeds["two_held"] = (vq_header(4) + r.desc(0, RAM_A + 0x2000, 16, VQ_NEXT, 1) + r.desc(1, RAM_B + 0x100, 64, VQ_WRITE)
                         + r.desc(2, RAM_A + 0x2100, 8, VQ_NEXT, 3) + r.desc(3, RAM_A + 0x2200, 32, VQ_WRITE | VQ_NEXT, 4)
                         + r.desc(4, RAM_B + 0x200, 32, VQ_WRITE) + r.publish(0, 2)
                         + bytes([VQ_POP_HOLD, VQ_POP_HOLD]) + struct.pack("<BHBH", VQ_COMPLETE_HELD, 64, VQ_COMPLETE_HELD, 50))
    r = VqRing(2)
    seeds["bad_chains"] = (vq_header(2) + r.desc(0, RAM_A + 0x2000, 8, VQ_NEXT, 0)  # a loop
                           + r.desc(1, RAM_A + 0x8000 - 4, 8, 0)                   # runs past region A
                           + r.desc(2, RAM_A + 0x2000, 8, VQ_INDIRECT)
                           + r.desc(3, RAM_A + 0x2000, 8, VQ_WRITE | VQ_NEXT, 1)  # readable after writable
                           + r.publish(0, 1, 2, 3) + struct.pack("<BHBHBHBH", *[VQ_POP_COMPLETE, 0] * 4))
    r = VqRing(3)
    seeds["index_ahead_then_restart"] = (vq_header(3, base=5) + vq_poke(r.avail + 2, struct.pack("<H", 5 + 9))
                                         + struct.pack("<BH", VQ_POP_COMPLETE, 0) + struct.pack("<BH", VQ_RESTART, 14)
                                         + struct.pack("<BH", VQ_POP_COMPLETE, 0))
    seeds["misplaced_rings"] = vq_header(4, raw_rings=(8, 0x7ffe, -16)) + struct.pack("<BH", VQ_POP_COMPLETE, 0)
    r = VqRing(10)
    seeds["large_ring_wraps"] = (vq_header(10, readable_log2=16, base=0xFFFE) + r.desc(1023, RAM_B + 0x7000, 4096, VQ_WRITE)
                                 + vq_poke(r.avail + 4 + 2 * 1022, struct.pack("<HH", 1023, 1023))
                                 + vq_poke(r.avail + 2, struct.pack("<H", 0))
                                 + struct.pack("<BHBH", VQ_POP_COMPLETE, 4096, VQ_POP_COMPLETE, 4097))
    return seeds


# --- vhost_user: operations on the back-end's socket (see fuzz/vhost_user_fuzzer.cpp) ---
VU_REQUESTS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 21, 24, 42, 43, 99]
VU_MESSAGE, VU_RAW, VU_KICK, VU_POKE, VU_COMPLETE = 0, 1, 2, 3, 4
FD_NONE, FD_RAM, FD_EVENT, FD_UNSEALED, FD_STATE_IN, FD_STATE_OUT, FD_TOO_MANY = 0, 1, 3, 4, 5, 6, 7
NEED_REPLY = 1 << 3
VU_UADDR = 0x7F0000000000


def vu_msg(request, payload=b"", fds=FD_NONE, flags=0, extra=b""):
    """One message; `extra` follows its payload (what FD_STATE_IN writes into its pipe)."""
    size = bytes([0, len(payload)]) if len(payload) < 64 else b"\x80" + struct.pack("<H", len(payload))
    return bytes([VU_MESSAGE, VU_REQUESTS.index(request), flags, 0, fds]) + size + payload + extra


def vu_setup(num=16):
    """What QEMU sends to start a virtio-fs device: features, one RAM region, queue 0's ring."""
    desc, avail = 0, 16 * num
    used = (avail + 6 + 2 * num + 3) & ~3
    return (vu_msg(1) + vu_msg(2, struct.pack("<Q", (1 << 32) | (1 << 30))) + vu_msg(15)
            + vu_msg(16, struct.pack("<Q", 1 | 8)) + vu_msg(3)
            + vu_msg(5, struct.pack("<II", 1, 0) + struct.pack("<QQQQ", 0, 0x10000, VU_UADDR, 0), FD_RAM, NEED_REPLY)
            + vu_msg(8, struct.pack("<II", 0, num)) + vu_msg(10, struct.pack("<II", 0, 0))
            + vu_msg(9, struct.pack("<IIQQQQ", 0, 0, VU_UADDR + desc, VU_UADDR + used, VU_UADDR + avail, 0))
            + vu_msg(13, struct.pack("<Q", 0), FD_EVENT) + vu_msg(12, struct.pack("<Q", 0), FD_EVENT)
            + vu_msg(18, struct.pack("<II", 0, 1), flags=NEED_REPLY))


def vu_poke(offset, payload):
    return b"".join(struct.pack("<BHB", VU_POKE, offset + i, len(payload[i:i + 32])) + payload[i:i + 32]
                    for i in range(0, len(payload), 32))


def vhost_user():
    num = 16
    avail = 16 * num
    chain = (vu_poke(0, struct.pack("<QIHH", 0x2000, 40, 1, 1) + struct.pack("<QIHH", 0x3000, 256, 2, 0))
             + vu_poke(0x2000, struct.pack("<IIQQIIIHH", 40, 3, 1, 1, 0, 0, 0, 0, 0))
             + vu_poke(avail, struct.pack("<HHH", 0, 1, 0)))
    return {
        "session_request_reply": vu_setup() + chain + bytes([VU_KICK]) + struct.pack("<BH", VU_COMPLETE, 120)
        + vu_msg(11, struct.pack("<II", 0, 0)),
        "reply_too_large_then_fits": vu_setup() + chain + bytes([VU_KICK]) + struct.pack("<BHBH", VU_COMPLETE, 300, VU_COMPLETE, 16),
        "new_table_while_held": vu_setup() + chain + bytes([VU_KICK])
        + vu_msg(5, struct.pack("<II", 1, 0) + struct.pack("<QQQQ", 0, 0x8000, VU_UADDR, 0x8000), FD_RAM)
        + struct.pack("<BH", VU_COMPLETE, 8),
        "unsealed_ram": vu_msg(5, struct.pack("<II", 1, 0) + struct.pack("<QQQQ", 0, 0x10000, VU_UADDR, 0), FD_UNSEALED),
        "device_state_save_load": vu_msg(15) + vu_msg(16, struct.pack("<Q", 1 | 8 | (1 << 19)))
        + vu_msg(42, struct.pack("<II", 0, 0), FD_STATE_OUT) + vu_msg(43)
        + vu_msg(42, struct.pack("<II", 1, 0), FD_STATE_IN, extra=b"\x01") + vu_msg(43),
        "logging_refused": vu_msg(16, struct.pack("<Q", 8)) + vu_msg(6, struct.pack("<QQ", 0, 0), FD_RAM, NEED_REPLY)
        + vu_msg(2, struct.pack("<Q", 1 << 26)),
        "too_many_fds": vu_msg(13, struct.pack("<Q", 0), FD_TOO_MANY),
        "oversized_and_cut": bytes([VU_RAW, 12]) + struct.pack("<III", 1, 1, 5000) + bytes([VU_RAW, 5]) + b"\x01\x00\x00\x00\x01",
    }


# --- guest_network: frames from the guest (see fuzz/guest_network_fuzzer.cpp) ---
NET_FRAME, NET_RAW, NET_CLOSE = 0, 2, 3
AS_GUEST, FIX_LENGTH, ACK_STACK, FIX_SUMS = 1, 2, 4, 8
GUEST_MAC, GATEWAY_MAC = bytes.fromhex("525400123456"), bytes.fromhex("525400123402")
GUEST_IP, GATEWAY_IP = bytes([192, 168, 127, 15]), bytes([192, 168, 127, 2])


def net_frame(payload, switches=AS_GUEST | FIX_LENGTH | FIX_SUMS):
    return struct.pack("<BBH", NET_FRAME, switches, len(payload)) + payload


def ipv4(proto, dst, body, flags_frag=0x4000):
    header = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 1, flags_frag, 64, proto, 0, GUEST_IP, dst)
    return GATEWAY_MAC + GUEST_MAC + b"\x08\x00" + header + body


def tcp(sport, dport, seq, ack, flags, data=b""):
    return struct.pack(">HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + data


def udp(sport, dport, data):
    return struct.pack(">HHHH", sport, dport, 8 + len(data), 0) + data


def guest_network():
    web = bytes([10, 0, 0, 1])
    syn, ack, psh = 0x02, 0x10, 0x08
    hello = client_hello("api.example.com")
    arp = (b"\xff" * 6 + GUEST_MAC + b"\x08\x06" + struct.pack(">HHBBH", 1, 0x0800, 6, 4, 1)
           + GUEST_MAC + GUEST_IP + b"\x00" * 6 + GATEWAY_IP)
    query = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + dns_name("example.com") + struct.pack(">HH", 1, 1)
    return {
        "arp_gateway": net_frame(arp, 0),
        "ping_gateway": net_frame(ipv4(1, GATEWAY_IP, struct.pack(">BBHHH", 8, 0, 0, 7, 1) + b"ping")),
        "http_request": net_frame(ipv4(6, web, tcp(40000, 80, 1000, 0, syn)))
        + net_frame(ipv4(6, web, tcp(40000, 80, 1001, 0, ack | psh, b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")),
                    AS_GUEST | FIX_LENGTH | ACK_STACK | FIX_SUMS),
        "tls_hello": net_frame(ipv4(6, web, tcp(40001, 443, 5000, 0, syn)))
        + net_frame(ipv4(6, web, tcp(40001, 443, 5001, 0, ack | psh, hello[:600])),
                    AS_GUEST | FIX_LENGTH | ACK_STACK | FIX_SUMS),
        "dns_query": net_frame(ipv4(17, GATEWAY_IP, udp(5353, 53, query))),
        "udp_elsewhere": net_frame(ipv4(17, web, udp(5353, 9999, b"x" * 32))),
        "fragment": net_frame(ipv4(6, web, tcp(40002, 80, 1, 0, syn), flags_frag=0x2000)),
        # a datagram never completed: the stack must release its fragments when it ends
        "udp_fragments_left_open": net_frame(ipv4(17, web, udp(5353, 9999, b"x" * 32)[:16], flags_frag=0x2000))
        + net_frame(ipv4(17, web, b"y" * 16, flags_frag=0x2000 | 3))
        + net_frame(ipv4(17, web, b"z" * 16, flags_frag=0x2000 | 6)),
        "bad_length": struct.pack("<BBH", NET_FRAME, 0, 9) + b"short" + bytes([NET_CLOSE]),
    }


# --- secret_injector: a request shaped by the guest (see fuzz/secret_injector_fuzzer.cpp) ---
PH_OPENAI, PH_EXAMPLE = b"MATCHLOCK_PH_OPENAI_7c1e", b"MATCHLOCK_PH_EXAMPLE_93ab"
OPENAI, EXAMPLE, EVIL, NO_NAME, RAW_NAME = 0, 1, 2, 3, 4


def injected_request(host, dns, method, target, headers, sni=None):
    def name(n):
        return bytes([n[0]]) + bytes([len(n[1])]) + n[1] if isinstance(n, tuple) else bytes([n])
    out = bytes([1 if sni is not None else 0]) + name(host) + (name(sni) if sni is not None else b"") + name(dns)
    out += bytes([len(method)]) + method + struct.pack("<H", len(target)) + target + bytes([len(headers)])
    for field, value in headers:
        out += bytes([len(field)]) + field + struct.pack("<H", len(value)) + value
    return out


def secret_injector():
    auth = [(b"Host", b"api.openai.com"), (b"Authorization", b"Bearer " + PH_OPENAI)]
    return {
        "bound_tls": injected_request(OPENAI, OPENAI, b"POST", b"/v1/chat/completions", auth, sni=OPENAI),
        "dns_elsewhere": injected_request(OPENAI, EVIL, b"POST", b"/v1/chat/completions", auth, sni=OPENAI),
        "sni_elsewhere": injected_request(OPENAI, OPENAI, b"GET", b"/", auth, sni=EVIL),
        "wildcard_target": injected_request(EXAMPLE, EXAMPLE, b"GET", b"/q?key=" + PH_EXAMPLE + b"&x=1",
                                            [(b"Host", b"x.example.com:80")]),
        "wrong_secret_for_host": injected_request(EXAMPLE, EXAMPLE, b"GET", b"/", [(b"X-Key", PH_OPENAI)]),
        "host_headers_disagree": injected_request(OPENAI, OPENAI, b"GET", b"/", auth + [(b"Host", b"evil.com")]),
        "placeholder_in_name": injected_request(OPENAI, OPENAI, b"GET", b"/", [(PH_OPENAI, b"1")]),
        "absolute_target": injected_request(OPENAI, OPENAI, b"GET", b"http://evil.com/" + PH_OPENAI, []),
        "raw_names": injected_request((RAW_NAME, b"API.OpenAI.com."), (RAW_NAME, b"api.openai.com"), b"GET", b"/",
                                      [(b"Authorization", PH_OPENAI)]),
        "no_placeholder": injected_request(OPENAI, OPENAI, b"GET", b"/models", [(b"Accept", b"*/*")]),
    }


# --- http1_response_reader: [chunk][HEAD mask][server closes] + an upstream's bytes ---
def http1_response_reader():
    ok = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nTrailer: t\r\n\r\n"
    return {
        "length_then_chunked": b"\x07\x00\x00" + ok + chunked,
        "head_response": b"\x03\x01\x00" + b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + ok,
        "no_content": b"\x05\x00\x00" + b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nETag: \"a\"\r\n\r\n" + ok,
        "interim": b"\x02\x00\x00" + b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n" + ok,
        "until_close": b"\x0b\x00\x01" + b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nstreamed until the server closes",
        "upgrade": b"\x04\x00\x00" + b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello",
        "sse": b"\x01\x00\x01" + b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: {\"a\":1}\n\ndata: [DONE]\n\n",
        "bad_length": b"\x06\x00\x00" + b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    }


# --- qmp_client: [read size] + what QEMU writes on the QMP socket ---
def qmp_client():
    greeting = compact({"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}, "package": ""}, "capabilities": []}}) + b"\n"
    ok = b'{"return": {}}\n'
    status = b'{"return": {"running": true, "singlestep": false, "status": "running"}}\n'
    port = compact({"timestamp": {"seconds": 1, "microseconds": 2}, "event": "VSERPORT_CHANGE",
                    "data": {"open": False, "id": "matchlock-ctl"}}) + b"\n"
    migration = compact({"event": "MIGRATION", "data": {"status": "completed"}}) + b"\n"
    return {
        "session": b"\x07" + greeting + ok + status + ok + ok + status,
        "events_between_replies": b"\x03" + greeting + ok + port + status + migration + ok + b'{"error": {"class": "GenericError", "desc": "no"}}\n' + status,
        "no_greeting": b"\x10" + ok + port,
        "garbage_lines": b"\x01" + greeting + b"not json\n[1,2]\n" + ok + b'{"event": 5}\n{"return": [' + b"[" * 600 + b"\n" + status,
    }


HARNESSES = {
    "rpc_line_framer": rpc_line_framer,
    "rpc_request": rpc_request,
    "guest_frame": guest_frame,
    "guest_connection": guest_connection,
    "guest_agent_messages": guest_agent_messages,
    "guest_tar_header": guest_tar_header,
    "dns_message": dns_message,
    "http_request_head": lambda: dict(HTTP_SEEDS),
    "http_request_splitter": http_streams,
    "http1_request_reader": http_streams,
    "tls_client_hello": tls_client_hello,
    "image_manifest": image_manifest,
    "www_authenticate": www_authenticate,
    "layer_canonicalizer": layer_canonicalizer,
    "layer_flattener": layer_flattener,
    "fuse_request": fuse_request,
    "dockerfile": dockerfile,
    "dockerignore": dockerignore,
    "env_file": env_file,
    "virtqueue": virtqueue,
    "vhost_user": vhost_user,
    "guest_network": guest_network,
    "secret_injector": secret_injector,
    "http1_response_reader": http1_response_reader,
    "qmp_client": qmp_client,
    "wildcard_match": wildcard_match,
    "guest_ready_steps": guest_ready_steps,
}


def main(names):
    """Rewrites the corpora of the harnesses named (all without names)."""
    for harness, make in HARNESSES.items():
        if names and harness not in names:
            continue
        out = os.path.join(CORPUS, harness)
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        total = 0
        for name, payload in make().items():
            with open(os.path.join(out, name), "wb") as f:
                f.write(payload)
            total += len(payload)
        print(f"{harness}: {len(os.listdir(out))} seeds, {total} bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
