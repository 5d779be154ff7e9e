"""Sandboxes that outlive one command: `run -d`, `run --rm=false`, and the commands that reach a
running sandbox over its control socket (exec, kill, log, allow-list).

Boots are expensive under TCG, so one detached sandbox serves every case that only execs in it.
Nothing here sleeps to synchronise: conditions are polled with deadlines.
"""
import base64
import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import threading

import pytest

from conftest import BIN, IMAGE, RUN_TIMEOUT, rss_kib, wait_for
from rpc_client import Rpc

MIB = 1024 * 1024


def run_detached(ml, *args):
    return ml.run_detached("--image", IMAGE, *args)


def status(ml, vm_id):
    return dict(ml.state_rows()).get(vm_id)


def control_path(ml, vm_id):
    return os.path.join(ml.home, "vms", vm_id, "control.sock")


@pytest.fixture(scope="module")
def sandbox(ml):
    vm_id = run_detached(ml, "--allow-host", "example.com")
    yield vm_id
    ml.run("kill", vm_id)


def test_detached_sandbox_is_running_with_a_private_socket(ml, sandbox):
    assert status(ml, sandbox) == "running"
    st = os.stat(control_path(ml, sandbox))
    assert st.st_mode & 0o777 == 0o600
    assert os.stat(os.path.dirname(control_path(ml, sandbox))).st_mode & 0o777 == 0o700


def test_exec_exit_code_and_signal(ml, sandbox):
    r = ml.run("exec", sandbox, "sh", "-c", "echo out; echo err >&2; exit 7")
    assert (r.returncode, r.stdout, r.stderr) == (7, b"out\n", b"err\n")
    r = ml.run("exec", sandbox, "sh", "-c", "kill -TERM $$")
    assert r.returncode == 128 + signal.SIGTERM


def test_exec_stdin_env_workdir_user(ml, sandbox):
    r = ml.run("exec", "-i", sandbox, "cat", input=b"piped\x00bytes")
    assert (r.returncode, r.stdout) == (0, b"piped\x00bytes")
    r = ml.run("exec", "-e", "A=1", "-e", "B=two words", "-w", "/tmp", "-u", "1000:1000",
               sandbox, "sh", "-c", 'echo "$A|$B|$(pwd)|$(id -u):$(id -g)"')
    assert (r.returncode, r.stdout) == (0, b"1|two words|/tmp|1000:1000\n"), r.stderr


def test_exec_unknown_and_usage_errors(ml):
    r = ml.run("exec", "vm-00000000", "true")
    assert r.returncode != 0
    assert r.stderr == b"matchlock: no such sandbox: vm-00000000\n"
    r = ml.run("exec", "vm-00000000")
    assert r.returncode == 2


def test_exec_20mb_each_way_with_bounded_engine_memory(ml, sandbox):
    pid = ml.owner_pid(sandbox)
    before = rss_kib(pid)
    peak = [before]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_kib(pid))
            stop.wait(0.05)
    t = threading.Thread(target=sample)
    t.start()
    try:
        data = os.urandom(20 * MIB)
        r = ml.run("exec", "-i", sandbox, "sh", "-c", "cat >/tmp/in && md5sum </tmp/in",
                   input=data)
        assert r.returncode == 0, r.stderr
        import hashlib
        assert r.stdout.split()[0].decode() == hashlib.md5(data).hexdigest()
        r = ml.run("exec", sandbox, "cat", "/tmp/in")
        assert r.returncode == 0
        assert r.stdout == data
    finally:
        stop.set()
        t.join()
    # Streaming, not buffering: the owner never holds anything near 2×20 MB of payload.
    assert peak[0] - before < 32 * 1024, (before, peak[0])


def test_exec_tty(ml, sandbox):
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(BIN, [BIN, "exec", "-it", sandbox, "sh", "-c", "tty; stty size; exit 5"],
                  ml.env)
    out = b""
    while True:
        ready, _, _ = select.select([fd], [], [], RUN_TIMEOUT)
        assert ready, out
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, st = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(st) == 5, out
    assert b"/dev/pts/" in out


def test_concurrent_clients_garbage_and_vanishing(ml, sandbox):
    # Two execs at once on one control socket.
    a = ml.popen("exec", sandbox, "sh", "-c", "sleep 1; echo a", stdout=subprocess.PIPE)
    b = ml.popen("exec", sandbox, "sh", "-c", "echo b", stdout=subprocess.PIPE)
    assert b.communicate(timeout=RUN_TIMEOUT)[0] == b"b\n"
    assert a.communicate(timeout=RUN_TIMEOUT)[0] == b"a\n"

    # A raw client that sends garbage gets parse errors and nothing else happens.
    g = socket.socket(socket.AF_UNIX)
    g.connect(control_path(ml, sandbox))
    g.sendall(b"{garbage\n" + b"x" * (11 * MIB) + b"\n")
    reader = g.makefile("rb")
    assert json.loads(reader.readline())["error"]["code"] == -32700
    assert json.loads(reader.readline())["error"]["code"] == -32700
    g.close()

    # A client that disconnects mid-exec loses only its exec (the process is killed).
    v = socket.socket(socket.AF_UNIX)
    v.connect(control_path(ml, sandbox))
    v.sendall(json.dumps({"jsonrpc": "2.0", "method": "exec_stream", "id": 1, "params": {
        "command": "echo started; touch /tmp/vanish; sleep 600"}}).encode() + b"\n")
    line = v.makefile("rb").readline()
    assert json.loads(line)["method"] == "exec_stream.stdout"
    v.close()
    wait_for(lambda: ml.run("exec", sandbox, "sh", "-c",
                            "! pgrep -f 'sleep 600' >/dev/null").returncode == 0,
             "the vanished client's process to be killed")
    r = ml.run("exec", sandbox, "echo", "still serving")
    assert (r.returncode, r.stdout) == (0, b"still serving\n")


def test_allow_list_add_delete(ml, sandbox):
    r = ml.run("allow-list", "add", sandbox, "api.example.org,example.net")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [b"example.com", b"api.example.org", b"example.net"]
    r = ml.run("allow-list", "delete", sandbox, "example.net")
    assert r.stdout.split() == [b"example.com", b"api.example.org"]


def test_log_prints_output_and_follows_until_stopped(ml):
    vm_id = run_detached(ml, "sh", "-c",
                         "echo first; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo second")
    wait_for(lambda: b"first" in ml.run("log", vm_id).stdout, "the command's output")
    f = ml.popen("log", "-f", vm_id, stdout=subprocess.PIPE)
    seen = b""
    while b"first" not in seen:
        chunk = f.stdout.read1(4096)
        assert chunk, seen
        seen += chunk
    assert ml.run("exec", vm_id, "touch", "/tmp/go").returncode == 0
    while b"second" not in seen:  # appended bytes arrive while following
        chunk = f.stdout.read1(4096)
        assert chunk, seen
        seen += chunk
    r = ml.run("kill", vm_id)
    assert r.returncode == 0, r.stderr
    f.communicate(timeout=30)  # ends on its own because the owner is gone
    assert f.returncode == 0


def test_kill_waits_for_the_owner_then_exec_and_kill_say_so(ml):
    vm_id = run_detached(ml, "--rm=false")
    pid = ml.owner_pid(vm_id)
    r = ml.run("kill", vm_id)
    assert (r.returncode, r.stdout) == (0, vm_id.encode() + b"\n"), r.stderr
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    assert status(ml, vm_id) == "stopped"
    assert not os.path.exists(control_path(ml, vm_id))
    r = ml.run("exec", vm_id, "true")
    assert r.returncode != 0
    assert r.stderr == f"matchlock: sandbox {vm_id} is not running (status: stopped)\n".encode()
    r = ml.run("kill", vm_id)
    assert r.returncode != 0 and b"not running" in r.stderr
    r = ml.run("kill", "vm-00000000")
    assert r.returncode != 0 and b"no such sandbox" in r.stderr
    assert ml.run("rm", vm_id).returncode == 0


def test_kill_all(ml, sandbox):
    others = [run_detached(ml), run_detached(ml)]
    kept = run_detached(ml, "--rm=false")
    r = ml.run("kill", "--all")
    assert r.returncode == 0, r.stderr
    assert set(others + [sandbox, kept]) <= set(r.stdout.decode().split())
    for vm_id in others + [sandbox]:
        assert status(ml, vm_id) is None  # --rm (the default) removed them
    assert status(ml, kept) == "stopped"
    assert ml.qemu_processes() == []
    # prune then removes what --rm=false kept: nothing is left.
    r = ml.run("prune")
    assert r.returncode == 0 and kept in r.stdout.decode(), r
    ml.assert_nothing_left()


def test_exec_on_an_sdk_sandbox(ml):
    rpc = Rpc(ml.env)
    try:
        vm_id = rpc.call("create", {"image": IMAGE})["id"]
        r = ml.run("exec", "-e", "K=v", vm_id, "sh", "-c", "echo $K")
        assert (r.returncode, r.stdout) == (0, b"v\n"), r.stderr
        res = rpc.call("exec", {"command": "echo $K", "env": {"K": "sdk"}})
        assert base64.b64decode(res["stdout"]) == b"sdk\n"
    finally:
        rpc.close()
    assert not rpc.schema_errors


def test_run_rm_false_stays_up_until_ctrl_c(ml):
    p = ml.popen("run", "--image", IMAGE, "--rm=false", "sh", "-c", "echo hi; exit 3",
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = b""
    while b"kept running" not in err:
        chunk = p.stderr.read1(4096)
        assert chunk, err
        err += chunk
    vm_id = re.search(rb"vm-[0-9a-f]{8}", err).group(0).decode()
    assert status(ml, vm_id) == "running"
    r = ml.run("exec", vm_id, "echo", "up")
    assert r.stdout == b"up\n"
    p.send_signal(signal.SIGINT)
    out, rest = p.communicate(timeout=RUN_TIMEOUT)
    assert (p.returncode, out) == (3, b"hi\n"), err + rest
    assert status(ml, vm_id) == "stopped"
    assert ml.qemu_processes() == []
    assert ml.run("rm", vm_id).returncode == 0


def test_detach_with_interactive_is_a_usage_error_leaving_nothing(ml):
    before = ml.sandbox_dirs()
    r = ml.run("run", "-d", "-i", "--image", IMAGE, "true")
    assert r.returncode == 2
    assert r.stderr.count(b"\n") == 1
    assert ml.sandbox_dirs() == before


def test_detach_boot_failure_is_reported_by_the_parent(ml):
    before = ml.sandbox_dirs()
    r = ml.run("run", "-d", "--image", IMAGE, env={"MATCHLOCK_BUNDLE": "/nonexistent"})
    assert r.returncode != 0
    assert r.stdout == b""
    assert r.stderr.startswith(b"matchlock: ")
    assert ml.sandbox_dirs() == before
