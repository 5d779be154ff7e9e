"""rpc `event` notifications of type network, and `set_timeout`, end to end.

Network events come from the interception proxy, so the sandboxes here run in interception
mode against the private lab of test_network.py (its namespace, dnsmasq and HTTP server on
LAB_IP:8080, reused through its `lab` fixture): web.lab.test is allowed, other.lab.test is not.
Every line the engine writes is checked against rpc-schema/schema.json by rpc_client.Rpc.
"""
import json
import os
import queue
import secrets
import socket
import time

import pytest

from conftest import IMAGE
from rpc_client import Rpc, RpcError, check_incoming
from test_network import LAB_IP, lab  # noqa: F401 (fixture)

VALUE = "mlevent-" + secrets.token_hex(16)  # distinct per run: a match can only come from here
EVENT_DEADLINE = 60


def next_network_event(rpc, matches, timeout=EVENT_DEADLINE):
    """The first network event (params) for which `matches` holds, within a deadline; the
    events before it are checked for the secret and dropped."""
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            raise AssertionError("no matching network event before the deadline")
        try:
            msg = rpc.orphans.get(timeout=left)
        except queue.Empty:
            continue
        assert VALUE not in json.dumps(msg), "a secret value reached an event"
        if msg.get("method") != "event" or msg["params"]["type"] != "network":
            continue
        if matches(msg["params"]["network"]):
            return msg["params"]


# --- set_timeout ---------------------------------------------------------------------------------

def test_set_timeout_stops_the_sandbox_and_the_engine_exits(ml):
    rpc = Rpc(ml.env)
    try:
        rpc.call("create", {"image": IMAGE})
        for bad in (-1, 1.5, "10", 2 ** 64, 10 ** 30):
            rid = rpc.send("set_timeout", {"timeout_seconds": bad}, validate=False)
            _, resp = rpc.wait(rid)
            assert resp["error"]["code"] == -32602
            assert "timeout_seconds" in resp["error"]["message"]
        pending = rpc.send("exec", {"command": "sleep 600"})
        expires = rpc.call("set_timeout", {"timeout_seconds": 1})["expires_at"]
        assert expires.endswith("Z")
        _, resp = rpc.wait(pending)
        assert resp["error"]["code"] == -32003  # the sandbox closed under it
        assert rpc.proc.wait(timeout=60) == 0
        with pytest.raises((RpcError, EOFError, BrokenPipeError, queue.Empty)):
            rpc.call("exec", {"command": "true"}, timeout=30)
    finally:
        rpc.kill()
    assert rpc.schema_errors == []
    ml.assert_nothing_left()


def test_set_timeout_0_clears_a_pending_one(ml):
    rpc = Rpc(ml.env)
    try:
        rpc.call("create", {"image": IMAGE})
        assert rpc.call("set_timeout", {"timeout_seconds": 1})["expires_at"]
        assert rpc.call("set_timeout", {"timeout_seconds": 0}) == {"expires_at": None}
        # Outlasts the cleared deadline inside the guest; the sandbox is still there after it.
        assert rpc.exec("sleep 3; echo alive")[:2] == (0, b"alive\n")
        assert rpc.close() == ({}, 0)
    finally:
        rpc.kill()
    assert rpc.schema_errors == []
    ml.assert_nothing_left()


def test_set_timeout_on_the_control_socket_records_the_reason(ml):
    vm_id = ml.run_detached("--image", IMAGE, "--rm=false")
    try:
        s = socket.socket(socket.AF_UNIX)
        s.connect(os.path.join(ml.home, "vms", vm_id, "control.sock"))
        s.sendall(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "set_timeout",
                              "params": {"timeout_seconds": 1}}).encode() + b"\n")
        reader = s.makefile("rb")
        reply = json.loads(reader.readline())
        check_incoming(reply, {1: "set_timeout"})
        assert reply["result"]["expires_at"].endswith("Z")
        # The connection ends when the sandbox has closed: that is the wait.
        s.settimeout(120)
        assert reader.read() == b""
        s.close()
        got = json.loads(ml.run("inspect", vm_id).stdout)
        assert got["status"] == "stopped"
        stopping = [h for h in got["history"] if h["phase"] == "stopping"]
        assert stopping and stopping[-1]["detail"] == "timed out after 1 s", got["history"]
    finally:
        ml.run("rm", "-f", vm_id)
    ml.assert_nothing_left()


# --- network events (one shared sandbox, after the tests that check nothing is left) -----------

@pytest.fixture(scope="module")
def rpc(ml, lab):  # noqa: F811 (the fixture imported above)
    r = Rpc(ml.env)
    try:
        r.call("create", {"image": IMAGE, "network": {
            "allowed_hosts": ["web.lab.test"], "block_private_ips": False,
            "dns_servers": [LAB_IP],
            "secrets": {"TOKEN": {"value": VALUE, "hosts": ["web.lab.test"]}}}})
        yield r
        assert r.close() == ({}, 0)
    finally:
        r.kill()
    assert r.schema_errors == []
    ml.assert_nothing_left()


def test_an_allowed_request_yields_an_event_with_status_and_sizes(rpc):
    code, out, err = rpc.exec("wget -qO- http://web.lab.test:8080/hello.txt")
    assert (code, out) == (0, b"hello-from-lab\n"), err
    params = next_network_event(rpc, lambda n: n["url"] == "http://web.lab.test:8080/hello.txt")
    n = params["network"]
    assert (n["method"], n["host"], n["status_code"]) == ("GET", "web.lab.test", 200)
    assert n["response_bytes"] == len(b"hello-from-lab\n")
    assert n["request_bytes"] == 0
    assert n["blocked"] is False and "block_reason" not in n
    assert n["duration_ms"] >= 0
    assert abs(params["timestamp"] - time.time() * 1000) < 600_000  # Unix milliseconds


def test_a_blocked_host_yields_a_blocked_event_with_a_reason(rpc):
    code, _, err = rpc.exec("wget -qO- http://other.lab.test:8080/hello.txt")
    assert code != 0 and b"403" in err
    n = next_network_event(rpc, lambda n: n["host"] == "other.lab.test")["network"]
    assert n["blocked"] is True and n["status_code"] == 403
    assert n["url"] == "http://other.lab.test:8080/hello.txt"
    assert n["block_reason"]


def test_a_blocked_raw_connection_yields_a_blocked_event(rpc):
    # Bytes that are neither TLS nor HTTP: the connection is gated on its address alone.
    rpc.exec(f"printf '\\001\\002\\003\\004' | nc {LAB_IP} 8080")
    n = next_network_event(rpc, lambda n: n["url"] == f"tcp://{LAB_IP}:8080")["network"]
    assert n["blocked"] is True and n["method"] == "" and n["block_reason"]


def test_events_show_placeholders_never_the_secret_value(rpc):
    # The placeholder in a header, the query and the path: the engine swaps in the value on its
    # way out (web.lab.test is the secret's host), the event describes what the guest sent.
    code, out, err = rpc.exec('wget -qO- --header "Authorization: Bearer $TOKEN" '
                              '"http://web.lab.test:8080/hello.txt?key=$TOKEN"')
    assert (code, out) == (0, b"hello-from-lab\n"), err
    n = next_network_event(rpc, lambda n: n["url"].endswith("/hello.txt")
                           and n["status_code"] == 200)["network"]
    assert n["url"] == "http://web.lab.test:8080/hello.txt"  # no query string at all
    code, placeholder, _ = rpc.exec('printf %s "$TOKEN"')
    placeholder = placeholder.decode()
    assert placeholder.startswith("SANDBOX_SECRET_") and placeholder != VALUE
    rpc.exec('wget -qO- "http://web.lab.test:8080/p/$TOKEN"')  # 404 upstream: still an event
    n = next_network_event(rpc, lambda n: "/p/" in n["url"])["network"]
    assert n["url"] == f"http://web.lab.test:8080/p/{placeholder}"
    assert n["status_code"] == 404
    # To a host the secret is not bound to: refused, and the event names no value either.
    rpc.exec('wget -qO- "http://other.lab.test:8080/x?k=$TOKEN"')
    n = next_network_event(rpc, lambda n: n["url"] == "http://other.lab.test:8080/x")["network"]
    assert n["blocked"] is True
