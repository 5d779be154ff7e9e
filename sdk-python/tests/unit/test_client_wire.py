"""The client against the fake engine: exact request lines, routing, and engine death."""

import asyncio
import io
import json
import os
import socket
import threading

import pytest

import matchlock
from matchlock import (
    AsyncClient,
    Client,
    Config,
    EngineExitedError,
    EngineNotFoundError,
    NetworkHookResult,
    NetworkHookRequestMutation,
    NetworkHookResponseMutation,
    RequestTimeoutError,
    RPCError,
    Sandbox,
    ValidationError,
)
from matchlock._network_hooks import CallbackServer
from matchlock._validate import parse_port_spec


def test_ids_start_at_one_and_params_shapes(client, record):
    client.create(Sandbox("img").options())
    client.exec("pwd", working_dir="/workspace")
    lines = record.lines()
    assert lines[0] == {"jsonrpc": "2.0", "method": "create", "params": {"image": "img"}, "id": 1}
    assert lines[1] == {"jsonrpc": "2.0", "method": "exec", "params": {"command": "pwd", "working_dir": "/workspace"}, "id": 2}
    assert client.vm_id == "vm-fake0001"


def test_exec_result_says_when_the_engine_dropped_output(client):
    client.create(Sandbox("img").options())
    r = client.exec("flood")
    assert (r.stdout, r.stdout_truncated, r.stderr_truncated) == ("head", True, False)
    assert client.exec("pwd").stdout_truncated is False


def test_exec_stream_routes_and_decodes_split_utf8(client):
    out, err = io.StringIO(), io.BytesIO()
    result = client.exec_stream("x", stdout=out, stderr=err)
    assert (result.exit_code, result.duration_ms) == (7, 33)
    assert out.getvalue() == "one\né"
    assert err.getvalue() == b"err\n"


def test_exec_with_callbacks_uses_exec_stream_and_buffers(client, record):
    chunks = []
    result = client.exec("x", on_stdout=chunks.append)
    assert chunks[0] == b"one\n"
    assert result.stdout == "one\né" and result.stderr == "err\n" and result.exit_code == 7
    assert record.requests("exec_stream")[0]["params"] == {"command": "x"}


def test_exec_pipe_sends_stdin_after_ready_as_notifications(client, record):
    out = io.BytesIO()
    result = client.exec_pipe("cat", stdin=b"hello", stdout=out)
    assert result.exit_code == 0 and out.getvalue() == b"hello"
    pipe = record.requests("exec_pipe")[0]
    data = record.requests("exec_pipe.stdin")
    eof = record.requests("exec_pipe.stdin_eof")
    assert data == [{"jsonrpc": "2.0", "method": "exec_pipe.stdin", "params": {"id": pipe["id"], "data": "aGVsbG8="}}]
    assert eof == [{"jsonrpc": "2.0", "method": "exec_pipe.stdin_eof", "params": {"id": pipe["id"]}}]


def test_exec_interactive_shape_and_resize(client, record):
    out = io.BytesIO()
    client.exec_interactive("sh", stdin=iter([b"exit\n"]), stdout=out, rows=30, cols=100, resize=[(50, 140)])
    tty = record.requests("exec_tty")[0]
    assert tty["params"] == {"command": "sh", "rows": 30, "cols": 100}
    assert out.getvalue() == b"exit\n"


def test_spawn_process_write_wait(client):
    proc = client.spawn("cat")
    proc.write("abc")
    proc.close_stdin()
    result = proc.wait()
    assert result.stdout == b"abc" and result.exit_code == 0


def test_spawn_kill_sends_cancel_with_target_id(client, record):
    proc = client.spawn("cat")
    proc.kill()
    with pytest.raises(RPCError) as info:
        proc.wait()
    assert info.value.code == RPCError.CANCELLED
    cancel = record.requests("cancel")[0]
    assert cancel["params"] == {"id": proc.id} and cancel["id"] != proc.id


def test_list_files_tolerates_missing_files_key(client):
    assert client.list_files("/") == []


def test_stat_and_exists(client):
    info = client.stat("/there")
    assert info is not None and info.size == 3 and info.mod_time == "2024-01-01T00:00:00Z"
    assert client.stat("/nope") is None
    assert client.exists("/there") and not client.exists("/nope")


def test_port_forward_params_exact(client, record):
    bindings = client.port_forward_with_addresses(["127.0.0.1"], "8080", "18081:81")
    assert record.requests("port_forward")[0]["params"] == {
        "forwards": [{"local_port": 8080, "remote_port": 8080}, {"local_port": 18081, "remote_port": 81}],
        "addresses": ["127.0.0.1"],
    }
    assert [b.local_port for b in bindings] == [8080, 18081]


def test_port_spec_parsing():
    assert (parse_port_spec("8080").local_port, parse_port_spec("8080").remote_port) == (8080, 8080)
    assert (parse_port_spec("18081:81").local_port, parse_port_spec("18081:81").remote_port) == (18081, 81)
    for bad in ("", "0", "a:b", "1:2:3", "70000"):
        with pytest.raises(ValidationError):
            parse_port_spec(bad)


def test_allow_list_hosts_are_normalised(client, record):
    with pytest.raises(RPCError):
        client.allow_list_add("a.com, b.com", "a.com")
    assert record.requests("allow_list_add")[0]["params"] == {"hosts": ["a.com", "b.com"]}
    with pytest.raises(ValidationError):
        client.allow_list_delete(" , ")


def test_timeout_cancels_in_engine(client, record):
    with pytest.raises(RequestTimeoutError):
        client._connection().request("hang", {"x": 1}, timeout=0.2)
    client.exec("sync")  # the fake handles lines in order: once this is answered, cancel was read
    hang = record.requests("hang")[0]
    assert record.requests("cancel")[0]["params"] == {"id": hang["id"]}


def test_engine_death_fails_pending_calls_with_stderr(client):
    results = []

    def waiter():
        try:
            client._connection().request("hang", {})
        except EngineExitedError as exc:
            results.append(exc)

    t = threading.Thread(target=waiter)
    t.start()
    with pytest.raises(EngineExitedError) as info:
        client._connection().request("die", {})
    t.join()
    assert info.value.exit_code == 3
    assert "exited with status 3" in str(info.value)
    assert "fake engine: boom" in (info.value.stderr or "")
    assert len(results) == 1 and results[0] is info.value
    with pytest.raises(EngineExitedError):
        client.exec("after death")


def test_events_reach_subscribers_and_after_hooks(client):
    seen = threading.Event()
    hooked = threading.Event()
    got = []
    client.on_event(lambda e: (got.append(e), seen.set()))
    client._hooks.vfs.after.append(
        __import__("matchlock._vfs_hooks", fromlist=["x"]).LocalAfterHook("h", frozenset({"write"}), "/workspace/*", lambda e: hooked.set())
    )
    client._connection().request("emit_event", {})
    assert seen.wait(10) and hooked.wait(10)
    assert got[0].type == "file" and got[0].file is not None and got[0].file.path == "/workspace/x"


def test_concurrent_calls_from_threads(client):
    results = {}

    def run(i):
        results[i] = client.exec(f"echo {i}").stdout

    threads = [threading.Thread(target=run, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: f"echo {i}" for i in range(20)}


def test_close_sends_close_with_timeout(record, fake_config):
    with Client(fake_config) as c:
        c.exec("x")
    assert record.requests("close")[0]["params"] == {"timeout_seconds": 2.0}


def test_request_before_start_is_an_error(fake_config):
    with pytest.raises(matchlock.MatchlockError, match="not running"):
        Client(fake_config).exec("x")


def test_engine_not_found_names_all_three(monkeypatch):
    monkeypatch.delenv("MATCHLOCK_BIN", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(EngineNotFoundError) as info:
        Client().start()
    for part in ("Config.binary_path", "MATCHLOCK_BIN", "PATH"):
        assert part in str(info.value)


def test_attach_appends_flag(record, fake_config, tmp_path):
    script = tmp_path / "argv.py"
    out = tmp_path / "argv.json"
    script.write_text(f"import json,sys; json.dump(sys.argv[1:], open({str(out)!r},'w'))\n")
    c = Client.attach("vm-1234abcd", Config(launch_command=[__import__("sys").executable, str(script), "rpc"]))
    c.close()
    assert json.loads(out.read_text()) == ["rpc", "--attach", "vm-1234abcd"]
    assert c.vm_id == "vm-1234abcd"


def test_network_callback_server_roundtrip():
    def hook(req):
        assert req.host == "api.example.com" and req.phase == "before"
        return NetworkHookResult(
            action="mutate",
            request=NetworkHookRequestMutation(headers={}, query={}, path="/v2"),
            response=NetworkHookResponseMutation(set_body=""),
        )

    server = CallbackServer({"network_hook_1": ("before", hook)})
    try:

        def ask(request):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(server.socket_path)
                s.sendall(json.dumps(request).encode() + b"\n")
                return json.loads(s.makefile("rb").readline())

        assert ask({"callback_id": "network_hook_1", "phase": "before", "host": "api.example.com"}) == {
            "action": "mutate",
            "request": {"headers": {}, "query": {}, "path": "/v2"},
            "response": {"set_body_base64": ""},
        }
        assert ask({"callback_id": "nope", "phase": "before"}) == {"error": "network hook callback not found"}
        assert ask({"callback_id": "network_hook_1", "phase": "after"}) == {"error": "network hook phase mismatch"}
    finally:
        server.close()
    assert not os.path.exists(server.socket_path)


def test_local_vfs_action_and_mutate_hooks(client, record):
    from matchlock import HookBlockedError, VFSHookRule, VFSInterceptionConfig

    cfg = VFSInterceptionConfig(
        rules=[
            VFSHookRule(ops=["write"], path="/w/*", mutate_hook=lambda r: b"MUTATED"),
            VFSHookRule(ops=["read"], path="/secret", action_hook=lambda r: "block"),
        ]
    )
    client.create(Sandbox("img").with_vfs_interception(cfg).options())
    assert "vfs" not in record.requests("create")[0]["params"]
    with pytest.raises(RPCError):  # the fake does not implement write_file; the content is what matters
        client.write_file("/w/a", b"orig")
    assert record.requests("write_file")[0]["params"]["content"] == "TVVUQVRFRA=="
    with pytest.raises(HookBlockedError):
        client.read_file("/secret")
    assert record.requests("read_file") == []


def test_async_client_same_shapes_and_death(record, fake_config):
    async def main():
        async with AsyncClient(fake_config) as c:
            await c.create(Sandbox("img").options())
            r = await c.exec("pwd", working_dir="/workspace")
            assert r.stdout == "pwd"
            out = io.BytesIO()
            await c.exec_pipe("cat", stdin=b"hello", stdout=out)
            assert out.getvalue() == b"hello"
            proc = await c.spawn("cat")
            await proc.write(b"zz")
            await proc.close_stdin()
            assert (await proc.wait()).stdout == b"zz"
            results = await asyncio.gather(*(c.exec(f"e{i}") for i in range(10)))
            assert [x.stdout for x in results] == [f"e{i}" for i in range(10)]
            with pytest.raises(RequestTimeoutError):
                await c._connection().request("hang", {}, timeout=0.2)
            with pytest.raises(EngineExitedError) as info:
                await c._connection().request("die", {})
            assert "fake engine: boom" in (info.value.stderr or "")

    asyncio.run(main())
    lines = record.lines()
    assert lines[0]["id"] == 1 and lines[1]["params"] == {"command": "pwd", "working_dir": "/workspace"}
