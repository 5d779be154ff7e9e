"""Named volumes (`matchlock volume`) and data disks (`run --disk`, rpc `extra_disks`): the JSON
the SDKs parse, data that outlives a sandbox, read-only mounts, and bad input that leaves
nothing behind (no QEMU, no state row, no half volume)."""
import fcntl
import json
import os
import struct
import subprocess
import uuid

import pytest

from conftest import IMAGE, Matchlock, qemu_holding
from rpc_client import Rpc, RpcError


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def volume_files(ml):
    d = os.path.join(ml.home, "volumes")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def create(ml, name, size="16"):
    r = ml.run("volume", "create", name, "--size", size, "--json")
    assert r.returncode == 0, r.stderr
    assert r.stderr == b""
    return json.loads(r.stdout)


def one_line_error(r, *named):
    assert r.returncode != 0
    err = r.stderr.decode()
    assert err.startswith("matchlock: ") and err.count("\n") == 1, err
    for n in named:
        assert n in err, err
    return err


@pytest.fixture
def volume(ml):
    name = unique("vol")
    info = create(ml, name)
    yield info
    ml.run("volume", "rm", name)


def test_volume_json_shapes(ml):
    name = unique("shape")
    info = create(ml, name, size="16")
    assert info == {"name": name, "size": "16.0 MB",
                    "path": os.path.join(ml.home, "volumes", name + ".ext4")}
    assert os.path.getsize(info["path"]) == 16 << 20
    # Sparse: far less is allocated than the apparent size.
    assert os.stat(info["path"]).st_blocks * 512 < 16 << 20
    assert subprocess.run(["e2fsck", "-fn", info["path"]], capture_output=True).returncode == 0

    r = ml.run("volume", "ls", "--json")
    assert r.returncode == 0 and r.stderr == b""
    listed = json.loads(r.stdout)
    assert isinstance(listed, list) and info in listed

    copy = unique("copy")
    r = ml.run("volume", "cp", name, copy, "--json")
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    copied = json.loads(r.stdout)
    assert copied == {"name": copy, "size": "16.0 MB",
                      "path": os.path.join(ml.home, "volumes", copy + ".ext4")}
    src, dst = os.stat(info["path"]), os.stat(copied["path"])
    assert (dst.st_mode, dst.st_size, int(dst.st_mtime)) == \
        (src.st_mode, src.st_size, int(src.st_mtime))

    r = ml.run("volume", "ls")
    assert r.returncode == 0
    assert r.stdout.decode().splitlines()[0].split() == ["NAME", "SIZE", "PATH"]

    for n in (name, copy):
        r = ml.run("volume", "rm", n)
        assert (r.returncode, r.stdout, r.stderr) == (0, f"Removed volume {n}\n".encode(), b"")
    names = [v["name"] for v in json.loads(ml.run("volume", "ls", "--json").stdout)]
    assert name not in names and copy not in names


def test_volume_ls_json_is_an_empty_array_when_none(tmp_path):
    r = Matchlock(str(tmp_path)).run("volume", "ls", "--json")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"[]\n", b"")


def test_volume_create_text_output(ml):
    name = unique("text")
    r = ml.run("volume", "create", name, "--size", "16")
    assert (r.returncode, r.stdout) == (0, f"Created volume {name} (16 MB)\n".encode())
    assert ml.run("volume", "rm", name).returncode == 0


VOLUME_BAD_INPUT = [
    (["volume", "create", "_bad"], "invalid volume name \"_bad\""),
    (["volume", "create", "a/b"], "invalid volume name \"a/b\""),
    (["volume", "create", "ok", "--size", "lots"], "--size"),
    (["volume", "create", "ok", "--size", "1"], "--size"),
    (["volume", "create"], "NAME"),
    (["volume", "rm", "no-such-volume"], "named volume not found: no-such-volume"),
    (["volume", "cp", "no-such-volume", "x"], "named volume not found: no-such-volume"),
    (["volume", "cp", "x", "../y"], "invalid volume name \"../y\""),
    (["volume", "frobnicate"], "frobnicate"),
]


@pytest.mark.parametrize("args,named", VOLUME_BAD_INPUT,
                         ids=[" ".join(c[0][1:]) for c in VOLUME_BAD_INPUT])
def test_volume_bad_input_leaves_nothing(ml, args, named):
    before = volume_files(ml)
    one_line_error(ml.run(*args), named)
    assert volume_files(ml) == before


def test_volume_create_or_cp_onto_an_existing_name_is_refused(ml, volume):
    before = volume_files(ml)
    one_line_error(ml.run("volume", "create", volume["name"], "--size", "16"),
                   f"named volume already exists: {volume['name']}")
    one_line_error(ml.run("volume", "cp", volume["name"], volume["name"]),
                   f"named volume already exists: {volume['name']}")
    assert volume_files(ml) == before


def test_volume_commands_have_help(ml):
    for cmd in (["volume"], ["volume", "create"], ["volume", "ls"], ["volume", "rm"],
                ["volume", "cp"]):
        r = ml.run(*cmd, "--help")
        assert r.returncode == 0 and r.stdout.startswith(b"Usage: matchlock volume"), cmd
    assert b"volume" in ml.run("--help").stdout


def test_data_written_to_a_volume_is_there_in_the_next_sandbox(ml, volume):
    r = ml.run("run", "--image", IMAGE, "--disk", f"@{volume['name']}:/data", "--",
               "sh", "-c", "echo kept > /data/file && grep ' /data ' /proc/mounts")
    assert r.returncode == 0, r.stderr
    assert b"ext4 rw" in r.stdout
    # The same image by its host path, read-only this time.
    r = ml.run("run", "--image", IMAGE, "--disk", f"{volume['path']}:/mnt/again:ro", "--",
               "sh", "-c", "cat /mnt/again/file; echo x > /mnt/again/new; echo rc=$?")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"kept\nrc=1\n"
    assert b"Read-only file system" in r.stderr
    ml.assert_nothing_left()


def test_inspect_shows_the_disks_and_rm_refuses_a_volume_in_use(ml, volume):
    vm_id = ml.run_detached("--image", IMAGE, "--disk", f"@{volume['name']}:/data")
    try:
        assert ml.run("exec", vm_id, "--", "sh", "-c", "echo live > /data/f").returncode == 0
        inspected = json.loads(ml.run("inspect", vm_id).stdout)
        text = json.dumps(inspected)
        assert '"guest_path": "/data"' in text and volume["path"] in text

        one_line_error(ml.run("volume", "rm", volume["name"]), vm_id)
        assert os.path.exists(volume["path"])
        # Read-write to one sandbox at a time, read-only included.
        for suffix in ("", ":ro"):
            r = ml.run("run", "--image", IMAGE, "--disk", f"{volume['path']}:/d{suffix}", "true")
            assert r.returncode != 0
            assert vm_id in r.stderr.decode() and "in use" in r.stderr.decode()
    finally:
        assert ml.run("kill", vm_id).returncode == 0
    r = ml.run("run", "--image", IMAGE, "--disk", f"@{volume['name']}:/data:ro", "cat", "/data/f")
    assert (r.returncode, r.stdout) == (0, b"live\n"), r.stderr


def test_a_disk_another_process_holds_is_refused_with_qemus_reason(ml, volume):
    """QEMU refuses an image another process has locked and says so on stderr; the engine reads
    that from QEMU's output socket (qemu.log) and turns it into one line, leaving nothing. The
    holder is another QEMU (stopped before its first instruction), then a whole-file lock."""
    refused = "is in use by another process (QEMU could not lock it)"
    with qemu_holding(volume["path"]):
        r = ml.run("run", "--image", IMAGE, "--disk", f"{volume['path']}:/d", "true")
        one_line_error(r, refused)
    ml.assert_nothing_left()
    fd = os.open(volume["path"], os.O_RDWR)
    try:
        flock = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)  # struct flock
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, flock)
        r = ml.run("run", "--image", IMAGE, "--disk", f"{volume['path']}:/d", "true")
        one_line_error(r, refused)
    finally:
        os.close(fd)
    ml.assert_nothing_left()


def test_rpc_create_with_extra_disks(ml, volume):
    rpc = Rpc(ml.env)
    try:
        rpc.call("create", {"image": IMAGE, "extra_disks": [
            {"host_path": volume["path"], "guest_mount": "/srv/data", "readonly": False}]})
        assert rpc.exec("echo via-rpc > /srv/data/r && cat /srv/data/r")[:2] == (0, b"via-rpc\n")
        assert rpc.close() == ({}, 0)
    finally:
        rpc.kill()
    assert rpc.schema_errors == []
    ml.assert_nothing_left()

    rpc = Rpc(ml.env)
    try:
        rpc.call("create", {"image": IMAGE, "extra_disks": [
            {"host_path": volume["path"], "guest_mount": "/ro", "readonly": True}]})
        code, out, err = rpc.exec("cat /ro/r; touch /ro/x")
        assert code != 0 and out == b"via-rpc\n" and b"Read-only file system" in err
        assert rpc.close() == ({}, 0)
    finally:
        rpc.kill()
    assert rpc.schema_errors == []
    ml.assert_nothing_left()


def test_rpc_create_rejects_bad_extra_disks(ml, volume, tmp_path):
    cases = [
        ([{"host_path": "relative.img", "guest_mount": "/d"}], "extra_disks[0].host_path"),
        ([{"host_path": str(tmp_path / "missing.img"), "guest_mount": "/d"}],
         "extra_disks[0].host_path"),
        ([{"host_path": volume["path"], "guest_mount": "/workspace/d"}],
         "extra_disks[0].guest_mount"),
        ([{"host_path": volume["path"], "guest_mount": "/a"},
          {"host_path": volume["path"], "guest_mount": "/b"}], "extra_disks[1].host_path"),
    ]
    for disks, field in cases:
        rpc = Rpc(ml.env)
        try:
            with pytest.raises(RpcError) as e:
                rpc.call("create", {"image": IMAGE, "extra_disks": disks})
            assert e.value.code == -32602
            assert field in e.value.message
            rpc.proc.stdin.close()
            rpc.proc.wait(timeout=60)
        finally:
            rpc.kill()
        assert rpc.schema_errors == []
        ml.assert_nothing_left()


@pytest.fixture(scope="module")
def disk_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("disks")
    plain = d / "plain.img"
    plain.write_bytes(b"x" * 4096)
    # ext4's magic and nothing else: passes the host's check, fails the guest's mount.
    fake = bytearray(16 << 20)
    fake[1080:1082] = b"\x53\xef"
    (d / "fake.ext4").write_bytes(bytes(fake))
    real = d / "real.ext4"
    with open(real, "wb") as f:
        f.truncate(16 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(real)], check=True)
    return d


def bad_disk_cases(d):
    real = str(d / "real.ext4")
    return [
        ([f"{d}/missing.img:/data"], f"{d}/missing.img:/data"),
        ([f"{d}:/data"], "not a regular file"),
        ([f"{d}/plain.img:/data"], "not an ext4 image"),
        ([f"{real}:/data:rw"], f"{real}:/data:rw"),
        ([f"{real}"], "HOST_PATH:GUEST_PATH"),
        ([f"{real}:/data", f"{real}:/other"], "the same image"),
        ([f"{real}:/workspace/data"], "shadowed by the workspace"),
        ([f"{real}:/etc"], "system directory"),
        (["@no-such-volume:/data"], "named volume not found: no-such-volume"),
    ]


@pytest.mark.parametrize("case", range(9))
def test_bad_disk_is_refused_cleanly(ml, disk_files, case):
    disks, named = bad_disk_cases(disk_files)[case]
    args = ["run", "--image", IMAGE]
    for d in disks:
        args += ["--disk", d]
    err = one_line_error(ml.run(*args, "true"), "--disk", named)
    assert "invalid --disk" in err
    ml.assert_nothing_left()


def test_a_disk_the_guest_cannot_mount_fails_the_boot(ml, disk_files):
    r = ml.run("run", "--image", IMAGE, "--disk", f"{disk_files}/fake.ext4:/data", "true")
    assert r.returncode != 0
    err = r.stderr.decode()
    assert "disk0 (ext4) at /data" in err, err
    ml.assert_nothing_left()
