#!/usr/bin/env python3
"""Pack a root filesystem folder into a single-layer OCI image-layout archive (stdlib only).

usage: make_oci_archive.py --rootfs DIR --ref NAME:TAG --out OUT.tar
           [--chown PATH=UID:GID]... [--chmod PATH=OCTAL]...
           [--env K=V]... [--cmd JSON] [--entrypoint JSON] [--workdir D] [--user U]
           [--arch amd64] [--os linux] [--created-by TEXT]

Output: a tar holding oci-layout, index.json and blobs/sha256/* (gzip'd layer, config,
manifest), with OCI media types; index.json points to the manifest and names the tag in
org.opencontainers.image.ref.name (and the full reference in io.containerd.image.name).

Every layer entry is owned by 0:0 unless --chown says otherwise (PATH is relative to the
rootfs, e.g. home/agent), whoever runs the script; --chmod overrides permission bits.
Reproducible: entries are sorted, mtimes are clamped to $SOURCE_DATE_EPOCH (default 0),
user/group names are empty, gzip has mtime 0 and no file name, JSON keys are sorted.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import stat
import sys
import tarfile
import time

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"


def die(msg):
    sys.stderr.write("make_oci_archive: error: %s\n" % msg)
    sys.exit(1)


def canonical_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def walk_sorted(root):
    """Yield relative paths depth-first, children sorted by name, parents before children."""
    stack = [""]
    while stack:
        rel = stack.pop()
        full = os.path.join(root, rel) if rel else root
        if rel:
            yield rel
        st = os.lstat(full)
        if stat.S_ISDIR(st.st_mode):
            names = sorted(os.listdir(full))
            for n in reversed(names):
                stack.append(os.path.join(rel, n) if rel else n)


def build_layer(root, owners, modes, epoch):
    """Return the uncompressed layer tar bytes."""
    buf = io.BytesIO()
    seen_inodes = {}
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in walk_sorted(root):
            full = os.path.join(root, rel)
            st = os.lstat(full)
            ti = tarfile.TarInfo(rel)
            uid, gid = owners.get(rel, (0, 0))
            ti.uid, ti.gid, ti.uname, ti.gname = uid, gid, "", ""
            ti.mode = modes.get(rel, stat.S_IMODE(st.st_mode))
            ti.mtime = min(int(st.st_mtime), epoch)
            data = None
            if stat.S_ISDIR(st.st_mode):
                ti.type = tarfile.DIRTYPE
            elif stat.S_ISLNK(st.st_mode):
                ti.type = tarfile.SYMTYPE
                ti.linkname = os.readlink(full)
            elif stat.S_ISREG(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in seen_inodes:
                    ti.type = tarfile.LNKTYPE
                    ti.linkname = seen_inodes[key]
                else:
                    seen_inodes[key] = rel
                    ti.type = tarfile.REGTYPE
                    ti.size = st.st_size
                    data = open(full, "rb")
            elif stat.S_ISFIFO(st.st_mode):
                ti.type = tarfile.FIFOTYPE
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                ti.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
                ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            else:
                sys.stderr.write("make_oci_archive: skipping %s (socket or unknown type)\n" % rel)
                continue
            try:
                tar.addfile(ti, data)
            finally:
                if data:
                    data.close()
    return buf.getvalue()


def gzip_bytes(data):
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    return out.getvalue()


def parse_kv(items, what):
    res = {}
    for it in items:
        if "=" not in it:
            die("bad %s %r (want PATH=VALUE)" % (what, it))
        k, v = it.split("=", 1)
        res[k.strip("/")] = v
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rootfs", required=True)
    ap.add_argument("--ref", required=True, help="image reference, e.g. matchlock/busybox:latest")
    ap.add_argument("--out", required=True)
    ap.add_argument("--chown", action="append", default=[])
    ap.add_argument("--chmod", action="append", default=[])
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--cmd")
    ap.add_argument("--entrypoint")
    ap.add_argument("--workdir")
    ap.add_argument("--user")
    ap.add_argument("--arch", default="amd64")
    ap.add_argument("--os", default="linux")
    ap.add_argument("--created-by", default="matchlock images/oci/make_oci_archive.py")
    a = ap.parse_args()

    if not os.path.isdir(a.rootfs):
        die("rootfs %s is not a folder" % a.rootfs)
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    owners = {}
    for path, v in parse_kv(a.chown, "--chown").items():
        try:
            u, g = v.split(":")
            owners[path] = (int(u), int(g))
        except ValueError:
            die("bad --chown value %r (want UID:GID numbers)" % v)
        if not os.path.lexists(os.path.join(a.rootfs, path)):
            die("--chown path %s does not exist in the rootfs" % path)
    modes = {}
    for path, v in parse_kv(a.chmod, "--chmod").items():
        modes[path] = int(v, 8)
        if not os.path.lexists(os.path.join(a.rootfs, path)):
            die("--chmod path %s does not exist in the rootfs" % path)
    tag = a.ref.rsplit(":", 1)[1] if ":" in a.ref.rsplit("/", 1)[-1] else "latest"

    layer = build_layer(a.rootfs, owners, modes, epoch)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    layer_gz = gzip_bytes(layer)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))

    cfg = {}
    if a.env:
        cfg["Env"] = a.env
    for key, val in (("Cmd", a.cmd), ("Entrypoint", a.entrypoint)):
        if val is not None:
            try:
                cfg[key] = json.loads(val)
            except ValueError:
                die("--%s must be a JSON array" % key.lower())
    if a.workdir:
        cfg["WorkingDir"] = a.workdir
    if a.user:
        cfg["User"] = a.user
    config = {
        "architecture": a.arch,
        "os": a.os,
        "created": created,
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": a.created_by}],
    }
    config_b = canonical_json(config)

    blobs = {}

    def blob(data):
        d = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[d] = data
        return d

    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": {"mediaType": MT_CONFIG, "digest": blob(config_b), "size": len(config_b)},
        "layers": [{"mediaType": MT_LAYER_GZ, "digest": blob(layer_gz), "size": len(layer_gz)}],
    }
    manifest_b = canonical_json(manifest)
    index = {
        "schemaVersion": 2,
        "mediaType": MT_INDEX,
        "manifests": [{
            "mediaType": MT_MANIFEST,
            "digest": blob(manifest_b),
            "size": len(manifest_b),
            "platform": {"architecture": a.arch, "os": a.os},
            "annotations": {
                "org.opencontainers.image.ref.name": tag,
                "io.containerd.image.name": a.ref,
            },
        }],
    }
    files = [
        ("oci-layout", canonical_json({"imageLayoutVersion": "1.0.0"})),
        ("index.json", canonical_json(index)),
    ]
    files += [("blobs/sha256/" + d.split(":", 1)[1], data) for d, data in sorted(blobs.items())]

    tmp = a.out + ".tmp"
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("blobs", "blobs/sha256"):
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, epoch
            tar.addfile(ti)
        for name, data in sorted(files):
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, epoch
            tar.addfile(ti, io.BytesIO(data))
    os.replace(tmp, a.out)
    sys.stderr.write("make_oci_archive: %s -> %s (manifest %s, layer %d bytes gz, %d tar)\n"
                     % (a.ref, a.out, index["manifests"][0]["digest"], len(layer_gz), len(layer)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
