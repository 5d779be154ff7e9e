"""Port forwarding end to end: host TCP listeners reaching servers inside the guest through the
agent's channel (not the NIC), so `--no-network` sandboxes can be reached too.

The CLI flags (`run -p/--publish`, `port-forward ID SPEC...`) and the rpc method are not wired
yet; these tests are written against that interface and skip until `run --help` lists
--publish. The mechanism itself is proven without a VM in tests/unit/sandbox/port_forward_test.cpp
(host listeners, guest channel, and the agent's real port-session code over a socketpair).
"""
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from conftest import BIN, IMAGE


def _publish_is_wired():
    try:
        out = subprocess.run([BIN, "run", "--help"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--publish" in out.stdout


pytestmark = pytest.mark.skipif(
    not _publish_is_wired(),
    reason="wiring pending: `matchlock run` has no -p/--publish yet (mechanism covered by "
           "tests/unit/sandbox/port_forward_test.cpp)")

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
    port = free_port()
    proc = start(ml, f"127.0.0.1:{port}:8080", HTTPD)
    try:
        assert http_get(port, time.monotonic() + BOOT_DEADLINE) == b"forwarded-ok\n"
    finally:
        _, err = stop(ml, proc)
    assert f"127.0.0.1:{port}".encode() in err  # the "Forwarding ..." line


def test_half_close_carries_the_reply_after_the_client_eof(ml):
    port = free_port()
    # The guest server answers only once it has read EOF from the client.
    script = "exec nc -l -p 9000 -e sh -c 'cat | tr a-z A-Z'"
    proc = start(ml, f"127.0.0.1:{port}:9000", script)
    try:
        deadline = time.monotonic() + BOOT_DEADLINE
        while True:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
                c.sendall(b"hello through the channel\n")
                c.shutdown(socket.SHUT_WR)
                try:
                    reply = c.makefile("rb").read()
                except ConnectionResetError:
                    reply = b""
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
            c.settimeout(10)
            began = time.monotonic()
            try:
                assert c.recv(1) == b""
            except ConnectionResetError:
                pass
            assert time.monotonic() - began < 5
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
