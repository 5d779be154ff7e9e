"""Crash honesty: what happens when a sandbox's owner, its QEMU or its guest dies unasked.

- the owner killed: QEMU dies with it, the record reads `crashed`, gc + prune leave nothing;
- QEMU killed, or the guest kernel panicking: the owner notices at once, running execs end with
  one clear line, the record says `crashed` and why, the control socket goes, the owner exits
  non-zero.

(The `matchlock rpc` owner killed with SIGKILL is covered in test_lifecycle_state.py.) No sleeps
as synchronisation: conditions are polled against deadlines."""
import json
import os
import re
import signal
import subprocess

from conftest import IMAGE, alive, wait_for
from rpc_client import Rpc

DEADLINE = 60
# How fast "at once" must be: generous for a loaded TCG host, far below any hang.
PROMPT = 20


def get_json(ml, vm_id, cmd="get"):
    r = ml.run(cmd, vm_id)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def run_detached(ml, *args):
    return ml.run_detached("--image", IMAGE, "--memory", "256", *args)


def vm_dir(ml, vm_id):
    return os.path.join(ml.home, "vms", vm_id)


def assert_gone(ml, vm_id):
    """Nothing of this sandbox left: no folder (so no socket), no row, no QEMU."""
    assert vm_id not in ml.sandbox_dirs()
    assert vm_id not in dict(ml.state_rows())
    assert not any(vm_id in p for p in ml.qemu_processes())


def kill_qemu(ml, vm_id):
    qemu = get_json(ml, vm_id)["qemu_pid"]
    assert qemu and alive(qemu)
    os.kill(qemu, signal.SIGKILL)
    return qemu


def start_exec(ml, vm_id, command):
    """An `exec` client whose command has printed its first line (so it is surely running)."""
    p = ml.popen("exec", vm_id, "--", "sh", "-c", command, stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE)
    assert p.stdout.readline() == b"started\n"
    return p


def one_crash_line(stderr, vm_id, why):
    err = stderr.decode()
    assert err.count("\n") == 1, err
    assert re.fullmatch(rf"matchlock: sandbox {vm_id} stopped unexpectedly: (?:{why})\n", err), err
    return err


def assert_recorded_crash(ml, vm_id, why):
    assert get_json(ml, vm_id)["status"] == "crashed"
    last = get_json(ml, vm_id, "inspect")["history"][-1]
    assert last["phase"] == "crashed" and re.fullmatch(f"(?:{why})", last["detail"]), last


def test_killed_detached_owner_takes_qemu_along_and_gc_prune_leave_nothing(ml):
    vm_id = run_detached(ml)
    owner = get_json(ml, vm_id)["owner_pid"]
    assert alive(owner) and ml.qemu_processes() != []

    os.kill(owner, signal.SIGKILL)
    # QEMU follows its owner (PR_SET_PDEATHSIG); nothing else needs to stop it.
    wait_for(lambda: ml.qemu_processes() == [], "QEMU to die with its owner")

    r = ml.run("list")
    assert re.search(rf"^{vm_id}\s+crashed\s", r.stdout.decode(), re.M), r.stdout
    assert_recorded_crash(ml, vm_id, rf"owner process {owner} is gone")

    r = ml.run("gc")
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(os.path.join(vm_dir(ml, vm_id), "control.sock"))
    r = ml.run("prune")
    assert r.returncode == 0, r.stderr
    assert f"Removed {vm_id} (crashed)" in r.stdout.decode()
    assert_gone(ml, vm_id)


def test_killed_qemu_ends_execs_and_the_detached_owner_with_the_reason(ml):
    vm_id = run_detached(ml)
    owner = get_json(ml, vm_id)["owner_pid"]
    sock = os.path.join(vm_dir(ml, vm_id), "control.sock")
    assert os.path.exists(sock)
    p = start_exec(ml, vm_id, "echo started; sleep 1000")

    kill_qemu(ml, vm_id)
    _, err = p.communicate(timeout=PROMPT)
    assert p.returncode == 125
    one_crash_line(err, vm_id, "the VM was killed by signal 9")

    wait_for(lambda: not alive(owner), "the owner to exit", PROMPT)
    assert not os.path.exists(sock)
    assert_recorded_crash(ml, vm_id, "the VM was killed by signal 9")
    # Nobody watches a detached owner: its record and engine.log are the account of the crash.
    with open(os.path.join(vm_dir(ml, vm_id), "engine.log")) as f:
        assert f"sandbox {vm_id} stopped unexpectedly: the VM was killed by signal 9" in f.read()
    assert not os.path.exists(os.path.join(vm_dir(ml, vm_id), "upper.ext4"))

    # A later exec is told the sandbox is not running, not left hanging.
    r = ml.run("exec", vm_id, "--", "true", timeout=PROMPT)
    assert r.returncode != 0 and vm_id in r.stderr.decode(), r.stderr
    r = ml.run("rm", vm_id)
    assert r.returncode == 0, r.stderr
    assert_gone(ml, vm_id)


def test_foreground_run_exits_125_saying_the_vm_died_and_rm_removes_it(ml):
    p = ml.popen("run", "--image", IMAGE, "--memory", "256", "sh", "-c",
                 "echo started; sleep 1000", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"started\n"
        vm_id = next(i for i, _ in ml.state_rows() if get_json(ml, i)["owner_pid"] == p.pid)
        kill_qemu(ml, vm_id)
        _, err = p.communicate(timeout=PROMPT)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 125
    one_crash_line(err, vm_id, "the VM was killed by signal 9")
    # --rm (the default): the user was told; nothing is kept, as after any other end.
    assert_gone(ml, vm_id)


def test_rpc_owner_answers_in_flight_calls_with_the_crash_and_exits_non_zero(ml):
    rpc = Rpc(ml.env)
    try:
        vm_id = rpc.call("create", {"image": IMAGE,
                                    "resources": {"cpus": 1, "memory_mb": 256}})["id"]
        rid = rpc.send("exec_stream", {"command": "echo started; sleep 1000"})
        first = rpc.waiters[rid].get(timeout=DEADLINE)
        assert first and first.get("method") == "exec_stream.stdout", first

        kill_qemu(ml, vm_id)
        _, resp = rpc.wait(rid, timeout=PROMPT)
        assert resp["error"]["code"] == -32000, resp
        assert resp["error"]["message"] == (
            f"sandbox {vm_id} stopped unexpectedly: the VM was killed by signal 9"), resp
        assert rpc.proc.wait(timeout=PROMPT) == 1
        err = rpc.proc.stderr.read().decode()
        assert f"matchlock: sandbox {vm_id} stopped unexpectedly" in err, err
        assert rpc.schema_errors == []
        assert_gone(ml, vm_id)
    finally:
        rpc.kill()


def test_guest_kernel_panic_ends_the_vm_and_is_reported_as_a_crash(ml):
    # panic=-1 reboots at once and QEMU runs with -no-reboot: a panicked guest ends QEMU instead
    # of hanging, and the owner reports it like any other crash.
    vm_id = run_detached(ml, "--privileged")
    owner = get_json(ml, vm_id)["owner_pid"]
    r = ml.run("exec", vm_id, "--", "sh", "-c", "echo c > /proc/sysrq-trigger",
               timeout=PROMPT)
    assert r.returncode == 125, r.stderr
    panicked = r"the guest kernel panicked.*|the VM exited with status 0"
    one_crash_line(r.stderr, vm_id, panicked)
    wait_for(lambda: not alive(owner), "the owner to exit", PROMPT)
    assert_recorded_crash(ml, vm_id, panicked)
    r = ml.run("rm", vm_id)
    assert r.returncode == 0, r.stderr
    assert_gone(ml, vm_id)
