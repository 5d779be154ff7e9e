"""Faults found by probing the engine from outside, each pinned by a test: what a host's
environment or an odd MATCHLOCK_HOME must never do to a sandbox."""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import ARCHIVE, IMAGE, Matchlock


def proc_status(pid):
    with open(f"/proc/{pid}/status") as f:
        return {k: v.strip() for k, v in (l.split(":", 1) for l in f.read().splitlines() if ":" in l)}


def proc_limits(pid):
    """/proc/PID/limits as {"Max core file size": (soft, hard), ...}."""
    with open(f"/proc/{pid}/limits") as f:
        lines = f.read().splitlines()[1:]
    return {l[:26].strip(): tuple(l[26:].split()[:2]) for l in lines}


def open_files(pid):
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            out.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except FileNotFoundError:
            pass
    return out


def test_qemu_runs_confined_with_a_minimal_environment(ml):
    """QEMU never inherits the host's variables (API keys among them), runs under its own
    seccomp filter, can gain no privileges, dumps no core and holds only the files it needs;
    as root, it runs as a uid and gid of its own, different for each QEMU. Its owner dumps no
    core either."""
    marker = "MATCHLOCK_TEST_HOST_SECRET"
    ids = []
    try:
        for _ in range(2):
            r = ml.run("run", "-d", "--image", IMAGE, env={marker: "do-not-leak-this-value"})
            assert r.returncode == 0, r.stderr
            ids.append(r.stdout.decode().strip())
        infos = [json.loads(ml.run("get", vm_id).stdout) for vm_id in ids]
        for vm_id, info in zip(ids, infos):
            pid = info["qemu_pid"]
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = [e for e in f.read().split(b"\0") if e]
            assert not any(b"do-not-leak-this-value" in e for e in env), env
            assert sorted(e.split(b"=", 1)[0] for e in env) == [b"LC_ALL", b"PATH"], env
            status = proc_status(pid)
            # QEMU's own seccomp filter is on (-sandbox on, spawn/elevateprivileges/... denied).
            assert status["Seccomp"] == "2", status["Seccomp"]
            assert status["NoNewPrivs"] == "1", status["NoNewPrivs"]
            limits = proc_limits(pid)
            assert limits["Max core file size"] == ("0", "0"), limits
            assert limits["Max open files"] == ("1024", "1024"), limits
            assert limits["Max file size"][1] != "unlimited", limits
            files = open_files(pid)
            # Its stdout and stderr are a socket the engine reads and caps (qemu.log), not a file
            # that a guest provoking QEMU's error messages could grow without end.
            for fd in (1, 2):
                assert os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"), fd
            assert not any(f.endswith(".log") for f in files), files
            # Its own sandbox's disk and logs, the image, the guest bundle: nothing of the
            # engine's (state database, its logs, secrets, other sandboxes, saved guests).
            home_files = [f for f in files if f.startswith(ml.home)]
            assert home_files, files
            sandbox_dir = os.path.join(ml.home, "vms", vm_id) + "/"
            images = os.path.join(ml.home, "images") + "/"
            assert all(f.startswith((sandbox_dir, images)) for f in home_files), home_files
            assert not any("state.db" in f or "secret" in f for f in files), files
            # The owner holds secret values: no core dumps either.
            owner_limits = proc_limits(info["owner_pid"])
            assert owner_limits["Max core file size"] == ("0", "0"), owner_limits
            if os.geteuid() == 0:
                uids, gids = status["Uid"].split(), status["Gid"].split()
                assert len(set(uids)) == 1 and uids[0] != "0", status["Uid"]
                assert gids == uids, status["Gid"]
                assert status["Groups"] == "", status["Groups"]
                assert status["CapEff"] == "0000000000000000", status["CapEff"]
                assert limits["Max processes"] == ("512", "512"), limits
        if os.geteuid() == 0:
            first, second = (proc_status(info["qemu_pid"])["Uid"] for info in infos)
            assert first != second, "two QEMUs share a uid"
    finally:
        for vm_id in ids:
            assert ml.run("kill", vm_id).returncode == 0
    ml.assert_nothing_left()


def test_a_comma_in_matchlock_home_is_escaped_in_qemu_options():
    """QEMU splits option values at commas: a path with one must be escaped, not injected."""
    home = tempfile.mkdtemp(prefix="matchlock-comma,readonly=on,")
    try:
        m = Matchlock(home)
        with open(ARCHIVE, "rb") as f:
            assert m.run("image", "import", IMAGE, input=f.read()).returncode == 0
        # The first boot saves the booted guest (a migration to a file under the home), the
        # second restores it: both paths go to QEMU with the comma in them.
        for boot in ("saving", "restored"):
            r = m.run("run", "--image", IMAGE, "--", "sh", "-c",
                      "echo written > /tmp/f && cat /tmp/f", env={"MATCHLOCK_LOG": "debug"})
            assert (r.returncode, r.stdout) == (0, b"written\n"), r.stderr
            assert boot.encode() in r.stderr and b"boot cold" not in r.stderr, r.stderr
        m.assert_nothing_left()
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_control_characters_in_user_input_are_escaped_in_errors(ml):
    """A flag value cannot drive the user's terminal through an error message."""
    for args in (["--image", "evil\x1b]0;pwned\x07\x1b[31mred"],
                 ["--image", "a\x1b[31mb"],
                 ["--image", IMAGE, "--timeout", "5\x1b[2J"],
                 ["--image", IMAGE, "--hostname", "h\x1b[31m"],
                 ["--image", IMAGE, "-v", "/tmp\x1b[31m:data"]):
        r = ml.run("run", *args, "true")
        assert r.returncode != 0, args
        assert b"\x1b" not in r.stderr and b"\x07" not in r.stderr, (args, r.stderr)
        assert b"\\x1b" in r.stderr and len(r.stderr.splitlines()) == 1, (args, r.stderr)
    ml.assert_nothing_left()


def test_a_huge_timeout_does_not_stop_the_sandbox_at_once(ml):
    """--timeout near 2^64 seconds must not overflow into an immediate stop."""
    r = ml.run("run", "--image", IMAGE, "--timeout", "18446744073709551615", "--",
               "sh", "-c", "sleep 1; echo still-running")
    assert (r.returncode, r.stdout) == (0, b"still-running\n"), r.stderr
    ml.assert_nothing_left()


def test_a_full_host_disk_fails_the_guest_write_instead_of_hanging(ml):
    """QEMU pauses a VM whose disk write hits ENOSPC unless told otherwise: `run` would hang.
    The guest must see the I/O error, and the command end with it."""
    vms = os.path.join(ml.home, "vms")
    os.makedirs(vms, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", vms],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: " + mounted.stderr.decode().strip())
    try:
        # conv=fsync: the error surfaces in dd itself, not only at a later writeback.
        r = ml.run("run", "--image", IMAGE, "--disk-size", "1G", "--", "sh", "-c",
                   "dd if=/dev/zero of=/big bs=1M count=200 conv=fsync; echo rc=$?",
                   timeout=150)
        out = r.stdout.decode()
        assert "rc=" in out and "rc=0" not in out, (out, r.stderr)
        ml.assert_nothing_left()
    finally:
        subprocess.run(["umount", "-l", vms])
