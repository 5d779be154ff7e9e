"""The rpc methods beyond the exec family: the VM log (`log`, `log_stream`), the matchlock
extensions `version` and `list_sandboxes`, `matchlock rpc --attach`, and `create` as a barrier
for the requests pipelined behind it."""
import base64
import json
import queue

import pytest

from conftest import AGENT_IMAGE, IMAGE, wait_for
from rpc_client import Rpc, RpcError, booted, check_outgoing

CREATE = {"image": IMAGE, "resources": {"cpus": 1, "memory_mb": 512}}


@pytest.fixture(scope="module")
def sandbox(ml):
    """One booted sandbox shared by the cases that leave it running."""
    with booted(ml, CREATE) as rpc:
        yield rpc


def vm_log(rpc):
    return base64.b64decode(rpc.call("log")["content"])


def to_console(rpc, text):
    assert rpc.exec(f"echo {text} > /dev/console")[0] == 0


def send_in_one_write(rpc, calls):
    """Sends several requests as one write (pipelined); returns their ids."""
    ids, data = [], b""
    for method, params in calls:
        with rpc.lock:
            rid = rpc.next_id
            rpc.next_id += 1
            rpc.waiters[rid] = queue.Queue()
            rpc.method_of_id[rid] = method
        msg = {"jsonrpc": "2.0", "method": method, "params": params, "id": rid}
        check_outgoing(msg)
        ids.append(rid)
        data += (json.dumps(msg) + "\n").encode()
    rpc.send_raw(data)
    return ids


def test_log_contains_the_guest_console_output(sandbox):
    to_console(sandbox, "console-marker-1")
    wait_for(lambda: b"console-marker-1" in vm_log(sandbox), "the marker in the VM log")


def test_log_stream_sends_the_log_then_appended_bytes_and_ends_cancelled(sandbox):
    to_console(sandbox, "before-stream")
    rid = sandbox.send("log_stream")
    received = b""

    def read_until(marker):
        nonlocal received
        while marker not in received:
            msg = sandbox.waiters[rid].get(timeout=60)
            assert msg is not None and msg.get("method") == "log_stream.data", msg
            assert msg["params"]["id"] == rid
            chunk = base64.b64decode(msg["params"]["data"])
            assert 0 < len(chunk) <= 32 * 1024
            received += chunk

    read_until(b"before-stream")
    to_console(sandbox, "after-stream")
    read_until(b"after-stream")
    assert sandbox.call("cancel", {"id": rid}) == {"cancelled": True}
    _, resp = sandbox.wait(rid)
    assert resp["error"]["code"] == -32003


def test_log_holds_the_launched_entrypoint_output_and_stdin_eof_ends_a_stream(ml):
    rpc = Rpc(ml.env)
    try:
        rpc.call("create", dict(CREATE, image=AGENT_IMAGE, launch_entrypoint=True))
        # The image's ENTRYPOINT + CMD is `sh -c "id; pwd"`, run as its user `agent`.
        wait_for(lambda: b"/home/agent" in vm_log(rpc), "the entrypoint's output in the log")
        assert b"uid=1000(agent)" in vm_log(rpc)
        rid = rpc.send("log_stream")
        first = rpc.waiters[rid].get(timeout=60)
        assert first["method"] == "log_stream.data"
        rpc.proc.stdin.close()  # the client goes away: the stream ends cancelled
        _, resp = rpc.wait(rid)
        assert resp["error"]["code"] == -32003
        assert rpc.proc.wait(timeout=60) == 0
    finally:
        rpc.kill()
    assert rpc.schema_errors == []


def test_version_matches_matchlock_version(ml):
    out = ml.run("version", check=True).stdout.decode().splitlines()
    version = out[0].split()[1]
    commit = out[1].split()[1]
    rpc = Rpc(ml.env)  # no sandbox needed
    try:
        assert rpc.call("version") == {"version": version, "commit": commit}
        rpc.proc.stdin.close()
        assert rpc.proc.wait(timeout=60) == 0
    finally:
        rpc.kill()
    assert rpc.schema_errors == []


def test_list_sandboxes_shows_the_running_sandbox_and_its_image(sandbox):
    for params in ({}, {"running": True}):
        listed = sandbox.call("list_sandboxes", params)["sandboxes"]
        mine = [s for s in listed if s["id"] == sandbox.vm_id]
        assert len(mine) == 1
        assert mine[0]["state"] == "running"
        assert mine[0]["image"] == IMAGE
        assert mine[0]["pid"] == sandbox.proc.pid


def test_attach_execs_in_a_sandbox_another_process_owns_and_detaching_leaves_it(ml, sandbox):
    attached = Rpc(ml.env, args=("rpc", "--attach", sandbox.vm_id))
    try:
        code, out, _ = attached.exec("echo attached; hostname")
        assert (code, out) == (0, b"attached\n" + sandbox.vm_id.encode() + b"\n")
        with pytest.raises(RpcError) as e:
            attached.call("create", CREATE)
        assert e.value.code == -32000 and "already exists" in e.value.message
        attached.proc.stdin.close()  # detach
        assert attached.proc.wait(timeout=60) == 0
    finally:
        attached.kill()
    assert attached.schema_errors == []
    assert sandbox.exec("echo still-here")[1] == b"still-here\n"


def test_attach_to_an_unknown_sandbox_fails_naming_it(ml):
    r = ml.run("rpc", "--attach", "vm-00000000", input=b"")
    assert r.returncode != 0
    assert r.stdout == b""
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1 and "vm-00000000" in lines[0]


def test_pipelined_create_and_exec_both_succeed_then_close_through_an_attach_stops_it(ml):
    owner = Rpc(ml.env)
    try:
        create_id, exec_id = send_in_one_write(
            owner, [("create", CREATE), ("exec", {"command": "echo pipelined"})])
        _, created = owner.wait(create_id)
        _, executed = owner.wait(exec_id)
        assert "result" in created, created
        vm_id = created["result"]["id"]
        assert executed["result"]["exit_code"] == 0
        assert base64.b64decode(executed["result"]["stdout"]) == b"pipelined\n"

        attached = Rpc(ml.env, args=("rpc", "--attach", vm_id))
        try:
            assert attached.call("close", {"timeout_seconds": 2}) == {}
            # The sandbox going away ends both the attached process and the owner.
            assert attached.proc.wait(timeout=60) == 0
            assert owner.proc.wait(timeout=60) == 0
        finally:
            attached.kill()
        assert attached.schema_errors == []
    finally:
        owner.kill()
    assert owner.schema_errors == []
    assert (vm_id, "running") not in ml.state_rows()
