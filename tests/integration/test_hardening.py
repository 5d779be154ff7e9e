"""Faults found by probing the engine from outside, each pinned by a test: what a host's
environment or an odd MATCHLOCK_HOME must never do to a sandbox."""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import ARCHIVE, IMAGE, Matchlock


def test_qemu_runs_confined_with_a_minimal_environment(ml):
    """QEMU never inherits the host's variables (API keys among them), and runs under its own
    seccomp filter."""
    marker = "MATCHLOCK_TEST_HOST_SECRET"
    r = ml.run("run", "-d", "--image", IMAGE, env={marker: "do-not-leak-this-value"})
    assert r.returncode == 0, r.stderr
    vm_id = r.stdout.decode().strip()
    try:
        info = json.loads(ml.run("get", vm_id).stdout)
        with open(f"/proc/{info['qemu_pid']}/environ", "rb") as f:
            env = [e for e in f.read().split(b"\0") if e]
        assert not any(b"do-not-leak-this-value" in e for e in env), env
        assert sorted(e.split(b"=", 1)[0] for e in env) == [b"LC_ALL", b"PATH"], env
        # QEMU's own seccomp filter is on (-sandbox on, spawn/elevateprivileges/... denied).
        with open(f"/proc/{info['qemu_pid']}/status") as f:
            status = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
        assert status["Seccomp"].strip() == "2", status["Seccomp"]
    finally:
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
