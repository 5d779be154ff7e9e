"""Port forwarding end to end: host TCP listeners reaching servers inside the guest through the
agent's channel (not the NIC), so `--no-network` sandboxes can be reached too: `run -p`,
`matchlock port-forward ID SPEC...` and the rpc `port_forward` method. The relay itself is also
covered without a VM in tests/unit/sandbox/port_forward_test.cpp.
"""
import json
import re
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from conftest import IMAGE

BOOT_DEADLINE = 150


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(ml, publish, script, *flags):
    return ml.popen("run", "--image", IMAGE, "--no-network", "-p", publish, *flags,
                    "--", "sh", "-c", script, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def stop(ml, proc):
    proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    ml.assert_nothing_left()
    return out, err


def http_get(port, deadline):
    last = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                return r.read()
        except OSError as e:  # the guest server is not up yet: the relay resets us
            last = e
            time.sleep(0.5)
    raise AssertionError(f"no answer through the forward on port {port}: {last}")


HTTPD = ("mkdir -p /www && echo forwarded-ok > /www/index.html && "
         "exec httpd -f -p 127.0.0.1:8080 -h /www")


def test_publish_reaches_a_guest_server_without_a_network(ml):
    # Host port 0: the engine picks a free port and says which on stderr.
    proc = start(ml, "127.0.0.1:0:8080", HTTPD)
    try:
        line = proc.stderr.readline()
        m = re.match(rb"matchlock: published 127\.0\.0\.1:(\d+) -> guest port 8080\n", line)
        assert m, line
        port = int(m.group(1))
        assert http_get(port, time.monotonic() + BOOT_DEADLINE) == b"forwarded-ok\n"
        info = json.loads(ml.run("inspect", running_id(ml)).stdout)
        assert info["ports"] == [{"address": "127.0.0.1", "host_port": 0, "guest_port": 8080}]
    finally:
        stop(ml, proc)


def running_id(ml):
    ids = ml.run("ls", "-q").stdout.decode().split()
    assert len(ids) == 1, ids
    return ids[0]


def connect_when_listening(port, deadline):
    """The listener is bound as the first step of the boot; until then connections are refused,
    and until the guest is up the relay resets them."""
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=10)
        except (ConnectionRefusedError, ConnectionResetError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_half_close_carries_the_reply_after_the_client_eof(ml):
    port = free_port()
    # The guest server answers only once it has read EOF from the client.
    script = "exec nc -l -p 9000 -e sh -c 'cat | tr a-z A-Z'"
    proc = start(ml, f"127.0.0.1:{port}:9000", script)
    try:
        deadline = time.monotonic() + BOOT_DEADLINE
        while True:
            reply = b""
            try:
                with connect_when_listening(port, deadline) as c:
                    c.sendall(b"hello through the channel\n")
                    c.shutdown(socket.SHUT_WR)
                    reply = c.makefile("rb").read()
            except OSError:  # reset by the relay: the guest server is not up yet
                pass
            if reply or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert reply == b"HELLO THROUGH THE CHANNEL\n"
    finally:
        stop(ml, proc)


def test_a_closed_guest_port_resets_the_client_promptly(ml):
    port = free_port()
    proc = start(ml, f"127.0.0.1:{port}:9", "echo started; exec sleep 600")
    try:
        assert proc.stdout.readline() == b"started\n"  # booted: the listener is up
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            # Prompt: the guest refuses at once, so the relay closes long before this timeout.
            c.settimeout(10)
            try:
                assert c.recv(1) == b""
            except ConnectionResetError:
                pass
    finally:
        stop(ml, proc)


def test_publish_to_a_port_in_use_fails_before_boot(ml):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = ml.run("run", "--image", IMAGE, "--no-network", "-p", f"127.0.0.1:{port}:80", "true")
    assert r.returncode != 0
    assert f"127.0.0.1:{port}".encode() in r.stderr
    assert b"address already in use" in r.stderr
    ml.assert_nothing_left()


@pytest.mark.parametrize("spec,message", [
    ("abc:80", b"host port \"abc\" is not a number"),
    ("80:0", b"guest port 0 is out of range"),
    ("nohost:1:80", b"is not an IP address"),
])
def test_bad_publish_specs_are_refused_before_boot(ml, spec, message):
    r = ml.run("run", "--image", IMAGE, "-p", spec, "true")
    assert r.returncode != 0
    assert message in r.stderr
    ml.assert_nothing_left()


def test_rpc_port_forward_replaces_its_set_and_reports_bindings(ml):
    from rpc_client import Rpc
    rpc = Rpc(ml.env)
    try:
        rpc.call("create", {"image": IMAGE, "network": {"no_network": True}})
        rpc.exec("mkdir -p /www && echo via-rpc > /www/index.html && httpd -p 127.0.0.1:8080 -h /www")
        first = rpc.call("port_forward", {"forwards": [{"local_port": 0, "remote_port": 8080}]})
        [b] = first["bindings"]
        assert (b["address"], b["remote_port"]) == ("127.0.0.1", 8080) and b["local_port"] > 0
        assert http_get(b["local_port"], time.monotonic() + 60) == b"via-rpc\n"
        # A new set replaces the old one: the first listener is gone.
        second = rpc.call("port_forward", {"forwards": [{"local_port": 0, "remote_port": 8080}],
                                           "addresses": ["127.0.0.1"]})
        assert second["bindings"][0]["local_port"] != b["local_port"]
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", b["local_port"]), timeout=5)
        for params, code in (({"forwards": []}, -32602),
                             ({"forwards": [{"local_port": 1, "remote_port": 0}]}, -32602),
                             ({"forwards": [{"local_port": 1, "remote_port": 80}],
                               "addresses": ["not-an-ip"]}, -32602)):
            _, resp = rpc.wait(rpc.send("port_forward", params, validate=False))
            assert resp["error"]["code"] == code, resp
        assert rpc.close() == ({}, 0)
    finally:
        rpc.kill()
    assert rpc.schema_errors == []
    ml.assert_nothing_left()


def test_port_forward_command_lives_until_interrupted(ml):
    vm_id = ml.run_detached("--no-network", "--image", IMAGE)
    try:
        r = ml.run("exec", vm_id, "--", "sh", "-c",
                   "mkdir -p /www && echo via-cli > /www/index.html && httpd -p 127.0.0.1:8080 -h /www")
        assert r.returncode == 0, r.stderr
        pf = ml.popen("port-forward", vm_id, "0:8080", stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE)
        line = pf.stdout.readline()
        m = re.match(rb"Forwarding 127\.0\.0\.1:(\d+) -> 8080\n", line)
        assert m, (line, pf.stderr.read() if pf.poll() is not None else b"")
        port = int(m.group(1))
        assert http_get(port, time.monotonic() + 60) == b"via-cli\n"
        pf.send_signal(signal.SIGINT)
        assert pf.wait(timeout=30) == 0
        # The listener belonged to the command's connection: it is gone with it.
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
            except ConnectionRefusedError:
                break
            assert time.monotonic() < deadline, "the forward outlived port-forward"
            time.sleep(0.2)
        r = ml.run("port-forward", vm_id, "0:0")
        assert r.returncode == 2 and b"out of range" in r.stderr
    finally:
        assert ml.run("kill", vm_id).returncode == 0
    ml.assert_nothing_left()
