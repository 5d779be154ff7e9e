"""Derives test images from the default image's OCI archive: same layers, new config.

Used to give tests images with USER, WORKDIR, ENTRYPOINT, CMD and ENV set, without a registry.
"""
import hashlib
import io
import json
import tarfile


def _read_blob(tar, digest):
    return tar.extractfile("blobs/sha256/" + digest.split(":", 1)[1]).read()


def _add(out, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    out.addfile(info, io.BytesIO(data))


def derive_image(base_archive, out_path, config_changes, extra_layers=()):
    """Writes an OCI archive whose config.config is the base's updated with config_changes.

    extra_layers: list of (uncompressed tar bytes) appended as layers on top.
    """
    with tarfile.open(base_archive) as tar:
        index = json.loads(tar.extractfile("index.json").read())
        manifest_desc = index["manifests"][0]
        manifest = json.loads(_read_blob(tar, manifest_desc["digest"]))
        config = json.loads(_read_blob(tar, manifest["config"]["digest"]))
        layers = [(d, _read_blob(tar, d["digest"])) for d in manifest["layers"]]

    config.setdefault("config", {}).update(config_changes)
    for layer in extra_layers:
        digest = "sha256:" + hashlib.sha256(layer).hexdigest()
        layers.append(({"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": digest, "size": len(layer)}, layer))
        config["rootfs"]["diff_ids"].append(digest)
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_digest = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    manifest["config"] = {"mediaType": "application/vnd.oci.image.config.v1+json",
                          "digest": config_digest, "size": len(config_bytes)}
    manifest["layers"] = [d for d, _ in layers]
    manifest_bytes = json.dumps(manifest, sort_keys=True).encode()
    manifest_digest = "sha256:" + hashlib.sha256(manifest_bytes).hexdigest()
    new_index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                 "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                "digest": manifest_digest, "size": len(manifest_bytes)}]}
    with tarfile.open(out_path, "w") as out:
        _add(out, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        _add(out, "index.json", json.dumps(new_index).encode())
        for data in [config_bytes, manifest_bytes] + [b for _, b in layers]:
            _add(out, "blobs/sha256/" + hashlib.sha256(data).hexdigest(), data)


def layer_tar(files):
    """files: {path: (bytes, mode, uid, gid)} -> uncompressed tar bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for path, (data, mode, uid, gid) in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = mode
            info.uid, info.gid = uid, gid
            info.mtime = 1704067200
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()
