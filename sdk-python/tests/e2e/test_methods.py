"""Every client method against the real engine, on one shared sandbox."""

import io
import os
import socket
import subprocess
import sys
import threading

import pytest

import matchlock
from conftest import BIN, IMAGE, recorded_config


def test_exec_and_env(sandbox):
    r = sandbox.exec("echo $GREETING; pwd")
    assert r.exit_code == 0 and r.stdout == "hello\n/\n"
    assert sandbox.exec("exit 3").exit_code == 3
    assert sandbox.exec("pwd", working_dir="/tmp").stdout == "/tmp\n"


def test_exec_callbacks(sandbox):
    out, err = [], []
    r = sandbox.exec("echo out; echo err >&2", on_stdout=out.append, on_stderr=err.append)
    assert b"".join(out) == b"out\n" and b"".join(err) == b"err\n" and r.stdout == "out\n"


def test_exec_stream_large_output(sandbox):
    out = io.StringIO()
    r = sandbox.exec_stream("i=0; while [ $i -lt 1000 ]; do echo line$i; i=$((i+1)); done", stdout=out)
    lines = out.getvalue().splitlines()
    assert r.exit_code == 0 and len(lines) == 1000 and lines[-1] == "line999"


def test_exec_pipe_stdin(sandbox):
    out, err = io.BytesIO(), io.StringIO()
    r = sandbox.exec_pipe("wc -c; echo done >&2", stdin=io.BytesIO(b"x" * 10000 + b"END"), stdout=out, stderr=err)
    assert r.exit_code == 0
    assert out.getvalue().strip() == b"10003" and err.getvalue() == "done\n"


def test_exec_interactive(sandbox):
    out = io.BytesIO()
    r = sandbox.exec_interactive("stty size; read x; echo got:$x", stdin=b"abc\n", stdout=out, rows=30, cols=100)
    text = out.getvalue().decode()
    assert r.exit_code == 0 and "30 100" in text and "got:abc" in text


def test_exec_interactive_resize(sandbox):
    # The guest loop ends when the resize has reached its terminal (the cause); the call's
    # timeout only bounds it if the resize were lost.
    out = io.BytesIO()
    script = "until [ \"$(stty size)\" = '50 140' ]; do sleep 0.1; done; echo resized"
    r = sandbox.exec_interactive(script, stdout=out, rows=24, cols=80, resize=[(50, 140)], timeout=60)
    assert r.exit_code == 0 and b"resized" in out.getvalue()


def test_spawn_write_wait_and_kill(sandbox):
    proc = sandbox.spawn("cat")
    proc.write(b"ping")
    proc.close_stdin()
    result = proc.wait()
    assert result.stdout == b"ping" and result.exit_code == 0
    sleeper = sandbox.spawn("sleep 600")
    sleeper.kill()
    with pytest.raises(matchlock.RPCError) as info:
        sleeper.wait()
    assert info.value.is_cancelled()


def test_timeout_cancels_guest_process(sandbox):
    with pytest.raises(matchlock.RequestTimeoutError):
        sandbox.exec("echo $$ > /tmp/sleeper.pid; exec sleep 600", timeout=2)
    pid = sandbox.read_file("/tmp/sleeper.pid").decode().strip()
    # kill -0 answers once the engine's SIGTERM reached it; the exec below waits for that.
    r = sandbox.exec(f"while kill -0 {pid} 2>/dev/null; do sleep 0.1; done; echo gone", timeout=30)
    assert r.stdout == "gone\n"


def test_concurrent_calls_from_threads(sandbox):
    results = {}

    def run(i):
        results[i] = sandbox.exec(f"echo {i}").stdout.strip()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: str(i) for i in range(8)}


def test_files_roundtrip(sandbox):
    payload = os.urandom(100_000)
    sandbox.write_file("/workspace/data.bin", payload, mode=0o600)
    assert sandbox.read_file("/workspace/data.bin") == payload
    entries = {f.name: f for f in sandbox.list_files("/workspace")}
    assert entries["data.bin"].size == 100_000 and entries["data.bin"].mode & 0o777 == 0o600


def test_write_file_blocked_by_before_rule(sandbox):
    with pytest.raises(matchlock.RPCError) as info:
        sandbox.write_file("/workspace/blocked.txt", "no")
    assert info.value.is_file_error()
    sandbox.write_file("/workspace/allowed.txt", "yes")
    assert sandbox.read_file("/workspace/allowed.txt") == b"yes"


def test_after_hook_receives_events(sandbox, hook_events):
    sandbox.exec("echo hi > /workspace/hooked.txt")
    event = hook_events.wait_for("/workspace/hooked.txt")
    assert event.op == "write" and event.size == 3


def test_on_event_subscription(sandbox):
    got = threading.Event()
    seen = []
    unsubscribe = sandbox.on_event(lambda e: (seen.append(e), got.set()) if e.file and e.file.path == "/workspace/ev.txt" else None)
    try:
        sandbox.write_file("/workspace/ev.txt", "x")
        assert got.wait(30)
        assert seen[0].type == "file"
    finally:
        unsubscribe()


def test_port_forward(sandbox):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    bindings = sandbox.port_forward(f"{free}:8080")
    assert [(b.address, b.local_port, b.remote_port) for b in bindings] == [("127.0.0.1", free, 8080)]
    bindings = sandbox.port_forward_with_addresses(["127.0.0.1"], f"{free}:8081")
    assert bindings[0].remote_port == 8081


def test_allow_list(sandbox):
    added = sandbox.allow_list_add("example.com", "api.example.com")
    assert added.changed == ["example.com", "api.example.com"]
    removed = sandbox.allow_list_delete("example.com")
    assert removed.changed == ["example.com"] and "api.example.com" in removed.allowed_hosts


# ── matchlock extensions (being added to the engine in parallel) ──


def test_version(sandbox):
    v = sandbox.version()
    assert v.version == matchlock.__version__ and v.commit


def test_file_extensions(sandbox):
    sandbox.mkdir("/workspace/d/e")
    assert sandbox.stat("/workspace/d").is_dir
    sandbox.write_file("/workspace/d/e/f.txt", "x")
    sandbox.rename("/workspace/d/e/f.txt", "/workspace/d/g.txt")
    assert sandbox.exists("/workspace/d/g.txt") and not sandbox.exists("/workspace/d/e/f.txt")
    sandbox.remove("/workspace/d", recursive=True)
    assert sandbox.stat("/workspace/d") is None


def test_logs(sandbox):
    # The VM log is the guest console (plus a launched entrypoint's output): put a line there.
    assert sandbox.exec("echo sdk-log-marker > /dev/console").exit_code == 0
    assert "sdk-log-marker" in sandbox.log()
    chunks = []
    # log_stream never ends on its own: the call's timeout ends it, after the existing content.
    with pytest.raises(matchlock.RequestTimeoutError):
        sandbox.log_stream(stdout=chunks.append, timeout=5)
    assert b"sdk-log-marker" in b"".join(chunks)  # a callable sink receives bytes


def test_list_sandboxes_and_attach(sandbox):
    ids = [s.id for s in matchlock.list_sandboxes(recorded_config(), running=True)]
    assert sandbox.vm_id in ids
    attached = matchlock.Client.attach(sandbox.vm_id, recorded_config())
    try:
        assert attached.exec("echo attached").stdout == "attached\n"
    finally:
        attached.close()  # detaches only
    assert sandbox.exec("echo still").stdout == "still\n"


def test_set_timeout(sandbox):
    assert sandbox.set_timeout(3600) is not None
    assert sandbox.set_timeout(0) is None


def test_mypy_strict_on_installed_package():
    done = subprocess.run([sys.executable, "-m", "mypy", "--strict", "-p", "matchlock"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_volumes_through_the_cli(sandbox):
    # Named volumes are CLI calls (`matchlock volume … --json`), not rpc methods.
    info = sandbox.volume_create("sdk-py-vol", 16)
    assert info.name == "sdk-py-vol" and info.size == "16.0 MB"
    assert info.path.endswith("/sdk-py-vol.ext4") and os.path.isfile(info.path)
    assert "sdk-py-vol" in [v.name for v in sandbox.volume_list()]
    with pytest.raises(matchlock.MatchlockError, match="sdk-py-vol"):
        sandbox.volume_create("sdk-py-vol", 16)  # exists already
    sandbox.volume_remove("sdk-py-vol")
    assert "sdk-py-vol" not in [v.name for v in sandbox.volume_list()]
    assert not os.path.exists(info.path)
