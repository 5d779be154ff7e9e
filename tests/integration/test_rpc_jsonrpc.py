"""JSON-RPC 2.0 conformance of `matchlock rpc` on stdin/stdout (docs/rpc.md, "Errors"):
notifications are never answered, batches get one -32600, malformed requests get -32600 and
only text that is not JSON gets -32700. No VM boots: only `version` (needs no sandbox) runs."""
import json
import os
import subprocess
import tempfile

import pytest

from conftest import BIN
from rpc_schema import check_incoming

TIMEOUT = 60


@pytest.fixture
def engine():
    with tempfile.TemporaryDirectory(prefix="matchlock-jsonrpc-") as home:
        proc = subprocess.Popen([BIN, "rpc"], env=dict(os.environ, MATCHLOCK_HOME=home),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.stdin.close()
                try:
                    proc.wait(timeout=TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            proc.stdout.close()


def send(proc, line):
    proc.stdin.write(line.encode() + b"\n")
    proc.stdin.flush()


def reply(proc, method_of_id=None):
    """The next line the engine writes, checked against the schema's envelopes."""
    line = proc.stdout.readline()
    assert line, "the engine closed stdout"
    msg = json.loads(line)
    check_incoming(msg, method_of_id or {})
    return msg


def version_request(rid):
    return json.dumps({"jsonrpc": "2.0", "method": "version", "id": rid})


def assert_answers_version(proc, rid):
    send(proc, version_request(rid))
    msg = reply(proc, {rid: "version"})
    assert msg["id"] == rid and "result" in msg, msg


def test_notifications_get_no_reply_and_the_engine_keeps_serving(engine):
    send(engine, '{"jsonrpc":"2.0","method":"version"}')
    send(engine, '{"jsonrpc":"2.0","method":"no_such_method"}')
    send(engine, '{"jsonrpc":"2.0","method":"exec","params":{"command":"true"}}')  # no VM
    send(engine, '{"jsonrpc":"2.0","method":"exec_pipe","params":{"command":"cat"}}')
    send(engine, '{"jsonrpc":"2.0","method":"log_stream"}')
    # Requests are handled in order, so the first line out must be this request's reply.
    assert_answers_version(engine, 1)


def test_an_empty_batch_gets_one_invalid_request_error(engine):
    send(engine, "[]")
    msg = reply(engine)
    assert msg["error"]["code"] == -32600 and "id" not in msg
    assert_answers_version(engine, 2)


def test_a_batch_is_refused_with_one_invalid_request_error(engine):
    send(engine, "[" + version_request(1) + "," + version_request(2) + "]")
    msg = reply(engine)
    assert msg["error"]["code"] == -32600, msg
    assert msg["error"]["message"] == "Invalid Request: batches are not supported"
    assert "id" not in msg
    # Neither element ran: the next line is the reply to the next request.
    assert_answers_version(engine, 3)


def test_a_request_without_method_is_an_invalid_request(engine):
    send(engine, '{"jsonrpc":"2.0","id":1}')
    msg = reply(engine)
    assert msg["error"]["code"] == -32600 and msg["id"] == 1, msg
    assert_answers_version(engine, 2)


def test_a_wrong_jsonrpc_version_is_an_invalid_request(engine):
    send(engine, '{"jsonrpc":"1.0","method":"version","id":1}')
    msg = reply(engine)
    assert msg["error"]["code"] == -32600 and msg["id"] == 1, msg
    send(engine, '{"method":"version","id":2}')
    msg = reply(engine)
    assert msg["error"]["code"] == -32600 and msg["id"] == 2, msg
    assert_answers_version(engine, 3)


def test_only_text_that_is_not_json_is_a_parse_error(engine):
    send(engine, '{"jsonrpc":"2.0","method":"version","id":1')
    msg = reply(engine)
    assert msg["error"]["code"] == -32700 and "id" not in msg
    send(engine, '{"jsonrpc":"2.0","method":"version","id":"one"}')
    msg = reply(engine)
    assert msg["error"]["code"] == -32600 and "id" not in msg
    assert_answers_version(engine, 2)


def test_the_engine_exits_cleanly_after_garbage(engine):
    send(engine, "[]")
    reply(engine)
    engine.stdin.close()
    assert engine.wait(timeout=TIMEOUT) == 0


def test_a_line_nested_a_million_levels_deep_is_a_parse_error_not_a_crash(engine):
    # 2 MB, within the 10 MiB line cap: RapidJSON recursed once per level and overflowed the
    # engine's stack (SIGSEGV); nesting beyond 512 levels is now refused before parsing.
    depth = 1_000_000
    send(engine, '{"jsonrpc":"2.0","method":"version","id":1,"params":' + "[" * depth + "]" * depth + "}")
    msg = reply(engine)
    assert msg["error"]["code"] == -32700 and "id" not in msg, msg
    assert msg["error"]["message"] == "Parse error: nested deeper than 512 levels"
    # Nesting within the limit is still JSON like any other.
    send(engine, '{"jsonrpc":"2.0","method":"version","id":2,"params":' + "[" * 500 + "]" * 500 + "}")
    assert "result" in reply(engine, {2: "version"})
    assert_answers_version(engine, 3)
