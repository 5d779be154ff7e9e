"""The file-operation extensions stat_file, make_dir, remove_file and rename_file, through the
real `matchlock rpc` stdio (every line schema-checked) and the control socket, on the guest's
own filesystem and on a VFS memory mount."""
import base64
import json
import os
import re
import socket

import pytest

from conftest import IMAGE
from rpc_client import Rpc, RpcError, b64, booted, check_incoming, check_outgoing

MEM = "/workspace/mem"  # a VFS memory mount
DIR_BIT = 1 << 31
SYMLINK_BIT = 1 << 27
RFC3339 = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"


@pytest.fixture(scope="module")
def box(ml):
    """One sandbox for the module; each test works under its own directories."""
    with booted(ml, {
        "image": IMAGE,
        "resources": {"cpus": 1, "memory_mb": 512},
        "vfs": {"workspace": "/workspace", "mounts": {MEM: {"type": "memory"}}},
    }) as rpc:
        yield rpc


def sh(box, script):
    code, out, err = box.exec("set -e\n" + script)
    assert code == 0, f"exit {code}\nstdout: {out!r}\nstderr: {err!r}"
    return out.decode()


def file_error(box, method, params):
    with pytest.raises(RpcError) as e:
        box.call(method, params)
    assert e.value.code == -32002, e.value
    return e.value.message


def bad_params(box, method, params):
    _, resp = box.wait(box.send(method, params, validate=False))
    assert resp["error"]["code"] == -32602, resp
    return resp["error"]["message"]


@pytest.fixture(params=["/tmp/rpcfiles", MEM], ids=["rootfs", "vfs-memory"])
def base(request, box):
    """A fresh directory on the guest's own filesystem, then on the VFS memory mount."""
    name = re.sub(r"\W", "_", request.node.name)
    path = f"{request.param}/{name}"
    sh(box, f"rm -rf {path}; mkdir -p {path}")
    return path


def test_without_a_sandbox_every_method_answers_vm_not_created(ml):
    rpc = Rpc(ml.env)
    try:
        for method, params in [("stat_file", {"path": "/"}), ("make_dir", {"path": "/x"}),
                               ("remove_file", {"path": "/x"}),
                               ("rename_file", {"old_path": "/x", "new_path": "/y"})]:
            with pytest.raises(RpcError) as e:
                rpc.call(method, params)
            assert (e.value.code, e.value.message) == (-32000, "VM not created")
    finally:
        rpc.proc.stdin.close()
        assert rpc.proc.wait(timeout=60) == 0
    assert rpc.schema_errors == []


def test_stat_file_reports_files_directories_and_symlinks(box, base):
    box.call("write_file", {"path": f"{base}/f.txt", "content": b64(b"12345"), "mode": 0o640})
    sh(box, f"mkdir -m 750 {base}/d; ln -s f.txt {base}/link; ln -s nowhere {base}/dangling")

    f = box.call("stat_file", {"path": f"{base}/f.txt"})
    assert re.fullmatch(RFC3339, f.pop("mod_time"))
    assert f == {"exists": True, "name": "f.txt", "size": 5, "mode": 0o640, "is_dir": False,
                 "is_symlink": False}

    d = box.call("stat_file", {"path": f"{base}/d/"})
    assert (d["name"], d["is_dir"], d["is_symlink"]) == ("d", True, False)
    assert d["mode"] == DIR_BIT | 0o750

    # lstat: the link itself, not its target; a dangling link exists too.
    for name in ("link", "dangling"):
        link = box.call("stat_file", {"path": f"{base}/{name}"})
        assert (link["name"], link["is_dir"], link["is_symlink"]) == (name, False, True)
        assert link["mode"] & SYMLINK_BIT and not link["mode"] & DIR_BIT

    assert box.call("stat_file", {"path": "/"})["name"] == "/"


def test_stat_file_of_a_missing_path_is_not_an_error(box, base):
    box.call("write_file", {"path": f"{base}/file", "content": b64(b"x")})
    assert box.call("stat_file", {"path": f"{base}/missing"}) == {"exists": False}
    assert box.call("stat_file", {"path": f"{base}/no/such/dir"}) == {"exists": False}
    # A parent that is a file (ENOTDIR) is a missing path as well.
    assert box.call("stat_file", {"path": f"{base}/file/below"}) == {"exists": False}


def test_make_dir_mode_and_parents(box, base):
    assert box.call("make_dir", {"path": f"{base}/plain"}) == {}
    assert box.call("stat_file", {"path": f"{base}/plain"})["mode"] == DIR_BIT | 0o755
    # The exact mode, not narrowed by the guest's umask.
    assert box.call("make_dir", {"path": f"{base}/open", "mode": 0o777}) == {}
    assert sh(box, f"stat -c %a {base}/open") == "777\n"
    assert box.call("make_dir", {"path": f"{base}/a/b/c", "mode": 0o700}) == {}
    assert sh(box, f"stat -c %a {base}/a/b/c {base}/a/b {base}/a") == "700\n755\n755\n"
    # parents (the default): an existing directory is success and keeps its mode.
    assert box.call("make_dir", {"path": f"{base}/a/b/c", "mode": 0o755}) == {}
    assert sh(box, f"stat -c %a {base}/a/b/c") == "700\n"

    message = file_error(box, "make_dir", {"path": f"{base}/a", "parents": False})
    assert f"{base}/a" in message and "File exists" in message
    message = file_error(box, "make_dir", {"path": f"{base}/x/y", "parents": False})
    assert f"{base}/x/y" in message and "No such file or directory" in message
    assert box.call("stat_file", {"path": f"{base}/x"}) == {"exists": False}
    box.call("write_file", {"path": f"{base}/file", "content": b64(b"x")})
    assert "File exists" in file_error(box, "make_dir", {"path": f"{base}/file"})


def test_remove_file_files_symlinks_and_empty_directories(box, base):
    sh(box, f"echo t > {base}/target; ln -s target {base}/link; mkdir {base}/empty {base}/full;"
            f" touch {base}/full/x")
    assert box.call("remove_file", {"path": f"{base}/link"}) == {}
    assert sh(box, f"cat {base}/target") == "t\n"  # the link went, not its target
    assert box.call("remove_file", {"path": f"{base}/target"}) == {}
    assert box.call("remove_file", {"path": f"{base}/empty"}) == {}
    message = file_error(box, "remove_file", {"path": f"{base}/full"})
    assert f"{base}/full" in message and "Directory not empty" in message
    message = file_error(box, "remove_file", {"path": f"{base}/gone"})
    assert f"{base}/gone" in message and "No such file or directory" in message
    assert sh(box, f"ls -A {base}") == "full\n"


def test_recursive_remove_never_follows_a_symlink_out_of_the_tree(box, base):
    outside = f"{base}-outside"
    sh(box, f"rm -rf {outside}; mkdir -p {outside}/keep; echo precious > {outside}/keep/file\n"
            f"mkdir -p {base}/tree/a/b/c {base}/tree/empty\n"
            f"for i in $(seq 1 50); do echo $i > {base}/tree/a/f$i; done\n"
            f"echo deep > {base}/tree/a/b/c/deep\n"
            f"ln -s {outside} {base}/tree/a/b/to-outside\n"
            f"ln -s {outside}/keep/file {base}/tree/file-link\n"
            f"ln -s nowhere {base}/tree/dangling\n")
    assert box.call("remove_file", {"path": f"{base}/tree", "recursive": True}) == {}
    assert box.call("stat_file", {"path": f"{base}/tree"}) == {"exists": False}
    assert sh(box, f"cat {outside}/keep/file") == "precious\n"
    # A file and a symlink need no recursion, and a missing path is still an error.
    sh(box, f"echo x > {base}/f; ln -s {outside} {base}/l")
    assert box.call("remove_file", {"path": f"{base}/f", "recursive": True}) == {}
    assert box.call("remove_file", {"path": f"{base}/l", "recursive": True}) == {}
    assert sh(box, f"ls -A {base}; cat {outside}/keep/file") == "precious\n"
    assert "No such file" in file_error(box, "remove_file",
                                        {"path": f"{base}/tree", "recursive": True})
    sh(box, f"rm -rf {outside}")


def test_rename_file_replaces_an_existing_file(box, base):
    box.call("write_file", {"path": f"{base}/new", "content": b64(b"new contents")})
    box.call("write_file", {"path": f"{base}/old", "content": b64(b"old")})
    assert box.call("rename_file", {"old_path": f"{base}/new", "new_path": f"{base}/old"}) == {}
    assert base64.b64decode(box.call("read_file", {"path": f"{base}/old"})["content"]) \
        == b"new contents"
    assert box.call("stat_file", {"path": f"{base}/new"}) == {"exists": False}
    # Directories move with what they hold.
    sh(box, f"mkdir -p {base}/d1/sub; echo in > {base}/d1/sub/f")
    assert box.call("rename_file", {"old_path": f"{base}/d1", "new_path": f"{base}/d2"}) == {}
    assert sh(box, f"cat {base}/d2/sub/f") == "in\n"
    message = file_error(box, "rename_file",
                         {"old_path": f"{base}/missing", "new_path": f"{base}/x"})
    assert f"{base}/missing" in message and "No such file or directory" in message


def test_rename_between_the_vfs_and_the_rootfs_is_an_error(box):
    sh(box, f"echo x > {MEM}/cross; mkdir -p /tmp/rpcfiles")
    message = file_error(box, "rename_file",
                         {"old_path": f"{MEM}/cross", "new_path": "/tmp/rpcfiles/cross"})
    assert "Invalid cross-device link" in message


def test_bad_params_name_the_field(box):
    cases = [
        ("stat_file", {}, "invalid path: required"),
        ("stat_file", {"path": 7}, "invalid path: must be a string"),
        ("stat_file", {"path": "tmp/relative"}, "invalid path: must be an absolute guest path"),
        ("stat_file", {"path": "/" + "a" * 5000}, "invalid path: longer than 4096 bytes"),
        ("stat_file", {"path": "/a\u0000b"}, "invalid path: contains a NUL byte"),
        ("stat_file", ["/tmp"], "invalid params: must be an object"),
        ("make_dir", {"path": "/tmp/m", "mode": "0755"}, "invalid mode"),
        ("make_dir", {"path": "/tmp/m", "mode": 0o10000}, "invalid mode"),
        ("make_dir", {"path": "/tmp/m", "mode": -1}, "invalid mode"),
        ("make_dir", {"path": "/tmp/m", "parents": "yes"}, "invalid parents: must be a boolean"),
        ("remove_file", {"path": "/tmp/m", "recursive": 1}, "invalid recursive"),
        ("remove_file", {"path": ""}, "invalid path"),
        ("rename_file", {"old_path": "/tmp/a"}, "invalid new_path: required"),
        ("rename_file", {"new_path": "/tmp/a"}, "invalid old_path: required"),
        ("rename_file", {"old_path": "/tmp/a", "new_path": "b"}, "invalid new_path"),
    ]
    for method, params, expected in cases:
        assert expected in bad_params(box, method, params), (method, params)


def test_the_methods_work_on_the_control_socket(ml, box):
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(os.path.join(ml.home, "vms", box.vm_id, "control.sock"))
    reader = sock.makefile("rb")
    method_of_id = {}

    def call(rid, method, params):
        msg = {"jsonrpc": "2.0", "id": rid, "method": method, "params": params}
        check_outgoing(msg)
        method_of_id[rid] = method
        sock.sendall(json.dumps(msg).encode() + b"\n")
        reply = json.loads(reader.readline())
        check_incoming(reply, method_of_id)
        assert reply["id"] == rid
        return reply

    try:
        assert call(1, "make_dir", {"path": "/tmp/ctl/a/b", "mode": 0o711})["result"] == {}
        st = call(2, "stat_file", {"path": "/tmp/ctl/a/b"})["result"]
        assert (st["is_dir"], st["mode"]) == (True, DIR_BIT | 0o711)
        assert call(3, "rename_file", {"old_path": "/tmp/ctl/a/b",
                                       "new_path": "/tmp/ctl/c"})["result"] == {}
        assert call(4, "remove_file", {"path": "/tmp/ctl", "recursive": True})["result"] == {}
        assert call(5, "stat_file", {"path": "/tmp/ctl"})["result"] == {"exists": False}
        assert call(6, "remove_file", {"path": "/tmp/ctl"})["error"]["code"] == -32002
    finally:
        sock.close()
