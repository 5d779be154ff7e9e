"""A tiny stand-in for `matchlock rpc`, for pinning request shapes and failure handling.

Every line received is appended to $FAKE_ENGINE_RECORD (one JSON object per line). Replies
are canned per method; `die` writes to stderr and exits with status 3 mid-call.
"""
import base64
import json
import os
import sys

record = open(os.environ["FAKE_ENGINE_RECORD"], "a", buffering=1)
pipes = {}  # exec_pipe request id -> collected stdin


def send(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def reply(msg_id, result):
    send({"jsonrpc": "2.0", "result": result, "id": msg_id})


def note(method, **params):
    send({"jsonrpc": "2.0", "method": method, "params": params})


def b64(data):
    return base64.b64encode(data).decode()


for raw in sys.stdin:
    record.write(raw)
    msg = json.loads(raw)
    method, params, msg_id = msg["method"], msg.get("params", {}), msg.get("id")
    if method == "create":
        reply(msg_id, {"id": "vm-fake0001"})
    elif method == "exec" and params["command"] == "flood":
        reply(msg_id, {"exit_code": 0, "stdout": b64(b"head"), "stderr": "", "duration_ms": 1, "stdout_truncated": True})
    elif method == "exec":
        reply(msg_id, {"exit_code": 0, "stdout": b64(params["command"].encode()), "stderr": "", "duration_ms": 1})
    elif method == "exec_stream":
        note("exec_stream.stdout", id=msg_id, data=b64(b"one\n"))
        note("exec_stream.stderr", id=msg_id, data=b64(b"err\n"))
        note("exec_stream.stdout", id=msg_id, data=b64("é".encode()[:1]))
        note("exec_stream.stdout", id=msg_id, data=b64("é".encode()[1:]))
        reply(msg_id, {"exit_code": 7, "duration_ms": 33})
    elif method in ("exec_pipe", "exec_tty"):
        pipes[msg_id] = (method, b"")
        note(method + ".ready", id=msg_id)
    elif method.endswith(".stdin"):
        kind, data = pipes[params["id"]]
        pipes[params["id"]] = (kind, data + base64.b64decode(params["data"]))
    elif method.endswith(".stdin_eof"):
        target = params["id"]
        kind, data = pipes.pop(target)
        note(kind + ".stdout", id=target, data=b64(data))
        reply(target, {"exit_code": 0, "duration_ms": 5})
    elif method == "exec_tty.resize":
        pass
    elif method == "cancel":
        reply(msg_id, {"cancelled": True})
        if params["id"] in pipes:
            pipes.pop(params["id"])
            send({"jsonrpc": "2.0", "error": {"code": -32003, "message": "context canceled"}, "id": params["id"]})
    elif method == "list_files":
        reply(msg_id, {})
    elif method == "stat_file":
        reply(msg_id, {"exists": params["path"] == "/there", "name": "there", "size": 3, "mode": 420,
                       "mod_time": "2024-01-01T00:00:00Z", "is_dir": False, "is_symlink": False})
    elif method == "port_forward":
        reply(msg_id, {"bindings": [{"address": a, "local_port": f["local_port"], "remote_port": f["remote_port"]}
                                    for f in params["forwards"] for a in params.get("addresses", ["127.0.0.1"])]})
    elif method == "emit_event":
        note("event", type="file", timestamp=1, file={"op": "write", "path": "/workspace/x", "size": 2})
        reply(msg_id, {})
    elif method == "hang":
        pass  # never answered: the caller's timeout or the engine's death must end the wait
    elif method == "die":
        sys.stderr.write("fake engine: boom\n")
        sys.stderr.flush()
        os._exit(3)
    elif method == "close":
        reply(msg_id, {})
    elif msg_id is not None:
        send({"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": msg_id})
