"""Integration tests: the real matchlock binary booting real VMs (TCG where KVM cannot run).

Every test runs the CLI as a user would. One MATCHLOCK_HOME serves the whole session (each
pytest-xdist worker is a session of its own, with its own home), with the default image imported
once; tests that only read share booted sandboxes through rpc.
"""
import contextlib
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time

import pytest

import oci_archive
import toolchain_image as toolchain

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("MATCHLOCK_BIN", os.path.join(ROOT, "build/release/matchlock"))
ARCHIVE = os.environ.get("MATCHLOCK_TEST_IMAGE_ARCHIVE",
                         os.path.join(ROOT, "build/release/images/matchlock-busybox.tar"))
# Test images built from host files are cached here across sessions (build/ is not committed).
TEST_CACHE = os.environ.get("MATCHLOCK_TEST_CACHE", os.path.join(ROOT, "build", "test-cache"))
IMAGE = "matchlock/busybox:latest"
AGENT_IMAGE = "matchlock-test/agent:latest"
# A generous bound so a wedged VM fails the test instead of hanging CI.
RUN_TIMEOUT = 180


def alive(pid):
    """Whether `pid` runs; a zombie (an exited child not yet reaped) counts as gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def rss_kib(pid):
    """The resident memory of `pid` in KiB (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def wait_for(condition, what, timeout=60):
    """Polls `condition` until it holds; a deadline, not a sleep, is what ends a wait."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Matchlock:
    def __init__(self, home):
        self.home = home
        self.env = dict(os.environ, MATCHLOCK_HOME=home)

    def run(self, *args, input=None, env=None, timeout=RUN_TIMEOUT, check=False):
        e = dict(self.env)
        if env:
            e.update(env)
        return subprocess.run([BIN, *args], input=input, env=e, capture_output=True,
                              timeout=timeout, check=check)

    def run_detached(self, *args, env=None):
        """`matchlock run -d ARGS`: asserts it started and returns the sandbox id."""
        r = self.run("run", "-d", *args, env=env)
        assert r.returncode == 0, r.stderr
        vm_id = r.stdout.decode().strip()
        assert re.fullmatch(r"vm-[0-9a-f]{8}", vm_id), r.stdout
        return vm_id

    def popen(self, *args, **kw):
        return subprocess.Popen([BIN, *args], env=self.env, **kw)

    # What a finished sandbox must not leave behind.
    def sandbox_dirs(self):
        vms = os.path.join(self.home, "vms")
        return sorted(os.listdir(vms)) if os.path.isdir(vms) else []

    def state_rows(self):
        db = os.path.join(self.home, "state.db")
        if not os.path.exists(db):
            return []
        con = sqlite3.connect(db)
        try:
            return con.execute("SELECT id, status FROM sandboxes").fetchall()
        finally:
            con.close()

    def owner_pid(self, vm_id):
        """The pid of the process that owns the sandbox, from its state row."""
        con = sqlite3.connect(os.path.join(self.home, "state.db"))
        try:
            row = con.execute("SELECT owner_pid FROM sandboxes WHERE id = ?", (vm_id,)).fetchone()
            return row[0]
        finally:
            con.close()

    def qemu_processes(self):
        out = subprocess.run(["pgrep", "-af", "qemu-system"], capture_output=True, text=True)
        return [l for l in out.stdout.splitlines() if self.home in l]

    def assert_nothing_left(self):
        assert self.sandbox_dirs() == []
        assert self.state_rows() == []
        assert self.qemu_processes() == []


@contextlib.contextmanager
def qemu_holding(image_path):
    """Another QEMU with `image_path` attached read-write (stopped before its first instruction):
    it holds QEMU's image lock until the block ends."""
    holder = subprocess.Popen(
        ["qemu-system-x86_64", "-machine", "microvm", "-nodefaults", "-display", "none", "-S",
         "-qmp", "stdio", "-drive", f"file={image_path},format=raw,if=none,id=d0",
         "-device", "virtio-blk-device,drive=d0"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        # QMP answers a command only once the machine is built: the disk is open and locked.
        assert holder.stdout.readline().startswith(b'{"QMP"')
        holder.stdin.write(b'{"execute": "qmp_capabilities"}\n')
        holder.stdin.flush()
        assert holder.stdout.readline().startswith(b'{"return"')
        yield
    finally:
        holder.kill()
        holder.wait()


@pytest.fixture(scope="session")
def ml():
    assert os.path.exists(BIN), f"{BIN} is not built (run scripts/build.sh)"
    assert os.path.exists(ARCHIVE), f"{ARCHIVE} is missing (run scripts/build.sh)"
    home = tempfile.mkdtemp(prefix="matchlock-test-")
    m = Matchlock(home)
    with open(ARCHIVE, "rb") as f:
        r = m.run("image", "import", IMAGE, input=f.read())
    assert r.returncode == 0, r.stderr
    agent = os.path.join(home, "agent-image.tar")
    oci_archive.derive_image(ARCHIVE, agent, {
        "User": "agent", "WorkingDir": "/home/agent",
        "Entrypoint": ["/bin/sh", "-c"], "Cmd": ["id; pwd"],
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "IMAGE_VAR=from-image", "HOME=/home/agent"],
    })
    with open(agent, "rb") as f:
        r = m.run("image", "import", AGENT_IMAGE, input=f.read())
    assert r.returncode == 0, r.stderr
    yield m
    leftover = m.qemu_processes()
    subprocess.run(["pkill", "-9", "-f", home], capture_output=True)
    shutil.rmtree(home, ignore_errors=True)
    assert leftover == [], f"QEMU processes outlived the tests: {leftover}"


@pytest.fixture(scope="session")
def toolchain_image(ml):
    """The BusyBox image plus the host's git, gcc, binutils, make and GNU tar (toolchain_image.py),
    imported once per session; the archive itself is built once per host package set."""
    archive = toolchain.build_archive(ARCHIVE, TEST_CACHE)
    with open(archive, "rb") as f:
        r = ml.run("image", "import", toolchain.IMAGE, input=f.read())
    assert r.returncode == 0, r.stderr
    return toolchain.IMAGE
