"""Lifecycle commands that work from the state database and /proc: list, get, inspect, rm,
prune, gc, version, setup linux, and the commands that are listed but not built yet.

Every sandbox made here is removed again, so each test ends with nothing left behind. No sleeps
as synchronisation: conditions are polled against a deadline."""
import json
import os
import re
import signal
import sqlite3
import subprocess
import time

import pytest

from conftest import BIN, IMAGE, ROOT, wait_for
from rpc_client import Rpc

RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
DEADLINE = 60


def one_error_line(r, code, *named):
    err = r.stderr.decode()
    assert r.returncode == code, (r.returncode, err)
    assert err.count("\n") == 1 and err.startswith("matchlock: "), err
    for n in named:
        assert n in err, err
    return err


def listed(ml, *flags):
    r = ml.run("list", *flags)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines[0].split() == ["ID", "STATUS", "IMAGE", "CREATED", "PID"]
    rows = {}
    for line in lines[1:]:
        cells = re.split(r" {3,}", line)
        rows[cells[0]] = cells
    return rows


def get_json(ml, vm_id, cmd="get"):
    r = ml.run(cmd, vm_id)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def insert_row(ml, vm_id, status, owner_pid, start_time=1):
    """A row as an owner would have written it, in the schema the binary created (call
    `matchlock list` once before, which creates and migrates state.db)."""
    con = sqlite3.connect(os.path.join(ml.home, "state.db"))
    with con:
        con.execute("INSERT INTO sandboxes(id, status, image, owner_pid, qemu_pid, created_at, "
                    "config_json, owner_start_time, qemu_start_time) "
                    "VALUES (?, ?, ?, ?, 0, ?, '{}', ?, 0)",
                    (vm_id, status, IMAGE, owner_pid, int(time.time()) - 300, start_time))
    con.close()
    os.makedirs(os.path.join(ml.home, "vms", vm_id), exist_ok=True)


def dead_pid():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def start_rpc_sandbox(ml):
    rpc = Rpc(ml.env)
    vm_id = rpc.call("create", {"image": IMAGE, "resources": {"cpus": 1, "memory_mb": 256}})["id"]
    return rpc, vm_id


def test_kept_sandbox_through_list_get_inspect_rm(ml):
    vm_id = ml.run_detached("--image", IMAGE, "--rm=false", "-e", "SHOWN=yes", "--memory", "256")
    r = ml.run("kill", vm_id)  # stopped, and kept (--rm=false)
    assert r.returncode == 0, r.stderr

    row = listed(ml)[vm_id]
    assert row[1:3] == ["stopped", IMAGE]
    assert row[3].endswith("ago")
    assert row[4] == "-"  # a stopped sandbox has no owner process
    assert vm_id not in listed(ml, "--running")
    assert ml.run("ls", "-q").stdout.decode().split() == [vm_id]

    got = get_json(ml, vm_id)
    assert (got["id"], got["status"], got["image"]) == (vm_id, "stopped", IMAGE)
    assert RFC3339.fullmatch(got["created_at"])
    assert isinstance(got["owner_pid"], int) and isinstance(got["qemu_pid"], int)
    assert get_json(ml, vm_id[:7])["id"] == vm_id  # a unique prefix names it too

    info = get_json(ml, vm_id, "inspect")
    phases = [h["phase"] for h in info["history"]]
    assert phases[:2] == ["creating", "running"] and phases[-1] == "stopped", phases
    assert all(RFC3339.fullmatch(h["at"]) for h in info["history"])
    assert info["owner"]["alive"] is False and info["qemu"]["alive"] is False
    for key in ("config", "resources", "network", "mounts", "ports"):
        assert key in info
    # The recorded configuration: resources, non-secret env and the network policy.
    assert info["resources"]["memory_mb"] == 256
    assert info["config"]["env"] == {"SHOWN": "yes"}
    assert info["network"]["mode"] == "nat"

    r = ml.run("rm", vm_id)
    assert (r.returncode, r.stdout.decode()) == (0, vm_id + "\n"), r.stderr
    ml.assert_nothing_left()
    one_error_line(ml.run("get", vm_id), 1, "no such sandbox: " + vm_id)
    one_error_line(ml.run("rm", vm_id), 1, vm_id)


def test_killed_owner_reads_crashed_and_gc_prune_leave_nothing(ml):
    rpc, vm_id = start_rpc_sandbox(ml)
    try:
        row = listed(ml)[vm_id]
        assert (row[1], row[4]) == ("running", str(rpc.proc.pid))
        assert get_json(ml, vm_id)["qemu_pid"] > 0

        rpc.proc.send_signal(signal.SIGKILL)
        rpc.proc.wait(timeout=DEADLINE)
        # QEMU follows its owner (PR_SET_PDEATHSIG); nothing else needs to stop it.
        wait_for(lambda: ml.qemu_processes() == [], "QEMU to die with its owner")

        assert listed(ml)[vm_id][1:2] == ["crashed"]
        assert get_json(ml, vm_id)["status"] == "crashed"
        history = get_json(ml, vm_id, "inspect")["history"]
        assert history[-1]["phase"] == "crashed"
        assert str(rpc.proc.pid) in history[-1]["detail"]

        r = ml.run("gc")
        assert r.returncode == 0, r.stderr
        out = r.stdout.decode()
        # The dead owner's control socket and the upper disk are leftovers gc reaps.
        assert f"{vm_id}: removed control.sock, upper.ext4" in out, out
        assert "Reconciled" in out
        for leftover in ("upper.ext4", "control.sock"):
            assert not os.path.exists(os.path.join(ml.home, "vms", vm_id, leftover))

        r = ml.run("prune")
        assert r.returncode == 0, r.stderr
        assert f"Removed {vm_id} (crashed)" in r.stdout.decode()
        ml.assert_nothing_left()
    finally:
        rpc.kill()


def test_rm_refuses_a_running_sandbox_and_rm_f_stops_it(ml):
    rpc, vm_id = start_rpc_sandbox(ml)
    try:
        one_error_line(ml.run("rm", vm_id), 1, vm_id, "is running", "rm -f")
        assert listed(ml)[vm_id][1] == "running"
        assert rpc.proc.poll() is None

        r = ml.run("rm", "-f", vm_id)
        assert (r.returncode, r.stdout.decode()) == (0, vm_id + "\n"), r.stderr
        # SIGTERM makes rpc shut down cleanly (its VM closed first), so it exits 0.
        assert rpc.proc.wait(timeout=DEADLINE) == 0
        ml.assert_nothing_left()
    finally:
        rpc.kill()


def test_gc_marks_a_dead_owner_crashed_and_prune_removes_it(ml):
    assert ml.run("list").returncode == 0  # creates state.db; gc, not list, reconciles below
    insert_row(ml, "vm-dead0001", "running", dead_pid())
    # The owner pid is alive (this test process) but with another start time: a reused pid.
    insert_row(ml, "vm-reuse001", "creating", os.getpid(), start_time=1)
    try:
        r = ml.run("gc")
        assert r.returncode == 0, r.stderr
        out = r.stdout.decode()
        assert re.search(r"vm-dead0001: marked crashed \(owner process \d+ is gone\)", out), out
        assert "vm-reuse001: marked crashed" in out, out
        assert "Reconciled 2 sandboxes" in out

        r = ml.run("prune")
        assert r.returncode == 0, r.stderr
        assert "Pruned 2 sandboxes" in r.stdout.decode()
        ml.assert_nothing_left()
    finally:
        ml.run("prune")


def test_gc_removes_old_folders_without_a_row(ml):
    vms = os.path.join(ml.home, "vms")
    old, young = os.path.join(vms, "vm-orphan01"), os.path.join(vms, "vm-young001")
    os.makedirs(old)
    os.makedirs(young)
    open(os.path.join(old, "upper.ext4"), "w").close()
    hour_ago = time.time() - 3600
    os.utime(old, (hour_ago, hour_ago))
    try:
        r = ml.run("gc")
        assert r.returncode == 0, r.stderr
        assert "vm-orphan01: removed folder without a state row" in r.stdout.decode()
        assert not os.path.exists(old)
        assert os.path.exists(young)  # may be a sandbox being created: left for later

        r = ml.run("gc", "vm-young001")
        assert r.returncode == 0, r.stderr
        assert "vm-young001: skipped" in r.stdout.decode()
    finally:
        import shutil
        shutil.rmtree(young, ignore_errors=True)
    ml.assert_nothing_left()


def test_gc_removes_half_made_cached_disks_of_dead_makers(ml):
    # A cold boot killed while making the cached empty writable disk leaves ".making-PID-N.*".
    cache = os.path.join(ml.home, "cache", "upper")
    os.makedirs(cache, exist_ok=True)
    dead = subprocess.Popen(["true"])
    dead.wait()  # reaped: nothing runs with that pid now
    dead_files = [os.path.join(cache, f".making-{dead.pid}-0{ext}") for ext in (".img", ".digest")]
    live_file = os.path.join(cache, f".making-{os.getpid()}-0.img")  # a maker still at work
    for path in dead_files + [live_file]:
        open(path, "w").close()
    try:
        r = ml.run("gc")
        assert r.returncode == 0, r.stderr
        for path in dead_files:
            assert not os.path.exists(path)
            assert f"disk cache {os.path.basename(path)}: removed" in r.stdout.decode()
        assert os.path.exists(live_file)
    finally:
        os.remove(live_file)


@pytest.mark.parametrize("args,code,named", [
    (["get", "vm-nope0000"], 1, "no such sandbox: vm-nope0000"),
    (["inspect", "vm-nope0000"], 1, "no such sandbox: vm-nope0000"),
    (["rm", "vm-nope0000"], 1, "no such sandbox: vm-nope0000"),
    (["gc", "vm-nope0000"], 1, "no such sandbox: vm-nope0000"),
    (["get"], 2, "expected exactly one ID"),
    (["inspect", "a", "b"], 2, "expected exactly one ID"),
    (["rm"], 2, "expected at least one ID"),
    (["gc", "a", "b"], 2, "at most one ID"),
    (["list", "--bogus"], 2, "--bogus"),
    (["rm", "--bogus", "vm-1"], 2, "--bogus"),
    (["prune", "extra"], 2, "extra"),
    (["version", "extra"], 2, "extra"),
    (["setup"], 2, "setup linux"),
    (["setup", "windows"], 2, "windows"),
    # exec's own failures use 125 so they never pass for the command's exit status.
    (["exec", "vm-nope0000", "true"], 125, "no such sandbox: vm-nope0000"),
    (["kill", "vm-nope0000"], 1, "no such sandbox: vm-nope0000"),
    (["port-forward", "vm-nope0000", "8080:80"], 1, "no such sandbox: vm-nope0000"),
    (["log", "vm-nope0000"], 1, "no such sandbox: vm-nope0000"),
    (["allow-list", "add", "vm-nope0000", "x"], 1, "no such sandbox: vm-nope0000"),
    (["build", "."], 2, "-t NAME[:TAG]"),
    (["build", "--bogus", "."], 2, "--bogus"),
    (["frobnicate"], 2, "frobnicate"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_input_is_one_clear_line(ml, args, code, named):
    one_error_line(ml.run(*args), code, named)
    ml.assert_nothing_left()


def test_help_lists_every_command_and_each_has_help(ml):
    r = ml.run("--help")
    assert r.returncode == 0
    text = r.stdout.decode()
    for cmd in ("run", "exec", "build", "pull", "image ls|rm|import", "list", "get", "inspect",
                "kill", "rm", "prune", "gc", "port-forward", "rpc", "setup linux", "version",
                "log", "allow-list"):
        assert re.search(rf"^  {re.escape(cmd)}[ ,]", text, re.M), cmd
    for cmd in (["list"], ["ls"], ["get"], ["inspect"], ["rm"], ["prune"], ["gc"], ["setup"],
                ["version"], ["exec"], ["kill"], ["log"], ["allow-list"], ["port-forward"],
                ["build"]):
        r = ml.run(*cmd, "--help")
        assert r.returncode == 0, (cmd, r.stderr)
        assert r.stdout.startswith(b"Usage: matchlock ")


def test_version_names_commit_and_qemu(ml):
    r = ml.run("version")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines[0].startswith("matchlock ")
    commit = re.fullmatch(r"commit: +([0-9a-f]{7,}(-dirty)?|unknown)", lines[1])
    assert commit, lines
    if os.path.realpath(BIN).startswith(os.path.realpath(ROOT) + os.sep):
        # Built in this checkout (scripts/test.sh builds before testing): the commit it was built
        # from, which a stamp taken when CMake configured the build dir would not be after a commit.
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               check=True, capture_output=True, text=True).stdout != ""
        assert commit.group(1) == head + ("-dirty" if dirty else ""), (
            f"{BIN} names commit {commit.group(1)} but the checkout is at {head}"
            f"{' with changes' if dirty else ''}: rebuild it")
    assert re.fullmatch(r"qemu: +(/\S+qemu-system-x86_64 \(QEMU emulator version .*\)|not found)",
                        lines[2]), lines
    # Cold boots need 7.2; warm starts 9.1, and the line says whether this QEMU has it.
    assert re.fullmatch(r"needs: +QEMU >= 7\.2 to boot sandboxes; (QEMU \S+ can warm-start "
                        r"sandboxes \(that needs >= 9\.1\)|warm starts need QEMU >= 9\.1, .+)",
                        lines[3]), lines


def test_setup_linux_checks_each_step(ml):
    r = ml.run("setup", "linux", "--dry-run")
    out = r.stdout.decode()
    for step in ("QEMU >= 7.2", "warm starts", "KVM", "guest bundle", "MATCHLOCK_HOME",
                 "default image"):
        assert re.search(rf"^{re.escape(step)} +(ok|fixed|note|TODO) ", out, re.M), out
    # The test environment has QEMU, a bundle and the imported image: nothing is broken.
    assert r.returncode == 0, out
    assert "TODO" not in out

    # A QEMU too old for warm starts is a note, not a broken step: cold boots still work.
    warm = re.search(r"^warm starts +(ok|note) +(.*)$", out, re.M)
    assert warm, out
    assert ("can warm-start" in warm.group(2)) == (warm.group(1) == "ok"), out

    r = ml.run("setup", "linux", "--dry-run", env={"MATCHLOCK_BUNDLE": "/nonexistent"})
    assert r.returncode == 1
    assert re.search(r"^guest bundle +TODO .*/nonexistent", r.stdout.decode(), re.M)


def test_a_qemu_7_2_boots_sandboxes_but_is_told_how_to_warm_start(ml, tmp_path):
    # Debian 12's own QEMU, as its --version prints it: enough for cold boots only.
    fake = tmp_path / "qemu-system-x86_64"
    banner = "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)"
    fake.write_text(f"#!/bin/sh\necho '{banner}'\n")
    fake.chmod(0o755)
    env = {"PATH": f"{tmp_path}:{os.environ['PATH']}"}
    r = ml.run("setup", "linux", "--dry-run", env=env)
    out = r.stdout.decode()
    assert r.returncode == 0, out
    assert re.search(rf"^QEMU >= 7\.2 +ok +{re.escape(str(fake))} ", out, re.M), out
    assert re.search(r"^warm starts +note +warm starts need QEMU >= 9\.1, this is 7\.2\.22; ", out,
                     re.M), out
    lines = ml.run("version", env=env, check=True).stdout.decode().splitlines()
    assert lines[3].startswith("needs:    QEMU >= 7.2 to boot sandboxes; warm starts need QEMU "
                               ">= 9.1, this is 7.2.22; "), lines
    with open("/etc/os-release") as f:
        if "VERSION_CODENAME=bookworm" in f.read().split():
            assert "-t bookworm-backports qemu-system-x86" in lines[3], lines
