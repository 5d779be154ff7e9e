"""The TLS-terminating HTTP/1.1 proxy end to end: real QEMU, the guest's curl, servers in the lab
of test_network.py (its namespace, DNS and throwaway test CA, reused through its fixtures).

The engine verifies upstream servers against the host trust store plus SSL_CERT_FILE, so it runs
with SSL_CERT_FILE=<the lab CA>. The guest trusts only the sandbox's CA (installed in its trust
store at boot; the curl image has no bundle of its own), so curl verifies the engine's leaves.
What the upstream server received is read from its log; what the guest got, from its output.
"""
import os
import subprocess
import sys

import pytest

from test_network import (CURL_IMAGE, LAB_IP, NETNS, lab, policy_flags,  # noqa: F401 (fixtures)
                          tls_lab, wait_port)

MITM_TLS_PORT = 9443
MITM_PLAIN_PORT = 9080
UNTRUSTED_PORT = 9444

# One handler for TLS and plain HTTP: hello, POST echo (chunked or not), an event stream held
# open until /release, and a WebSocket echo. Every connection and request goes to the log.
LAB_SERVER = r"""
import base64, hashlib, http.server, itertools, socketserver, ssl, struct, sys, threading
ip, tls_port, plain_port, bad_port, cert, key, bad_cert, bad_key, log = sys.argv[1:10]
logf = open(log, "a", buffering=1)
ids = itertools.count(1)
release = threading.Event()

def read_chunked(f):
    body = b""
    while True:
        size = int(f.readline().split(b";")[0], 16)
        if size == 0:
            while f.readline() not in (b"\r\n", b"\n", b""):
                pass
            return body
        body += f.read(size)
        f.readline()

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def setup(self):
        super().setup()
        self.conn_id = next(ids)
        logf.write("connection %d\n" % self.conn_id)
    def log_message(self, *a):
        pass
    def note(self, *parts):
        logf.write(" ".join(str(p) for p in parts) + "\n")
    def text(self, code, body):
        b = body.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def handle_expect_100(self):
        self.note("expect-seen")
        return super().handle_expect_100()
    def do_GET(self):
        self.note("request", self.conn_id, "GET", self.headers.get("Host"), self.path)
        if self.path == "/sse":
            return self.sse()
        if self.path == "/release":
            release.set()
            return self.text(200, "released\n")
        if self.path == "/ws":
            return self.ws()
        self.text(200, "hello-from-lab %s\n" % self.path)
    def do_POST(self):
        te, cl = self.headers.get("Transfer-Encoding"), self.headers.get("Content-Length")
        body = read_chunked(self.rfile) if te == "chunked" else self.rfile.read(int(cl or 0))
        self.note("post", self.conn_id, self.path, "te=%s" % te, "cl=%s" % cl, body.decode())
        self.text(200, "got:%s\n" % body.decode())
    def sse(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        def chunk(b):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(b), b))
            self.wfile.flush()
        chunk(b"data: first\n\n")
        released = release.wait(60)  # set by a second request, made once the guest saw "first"
        release.clear()
        chunk(b"data: second\n\n" if released else b"data: never-released\n\n")
        self.wfile.write(b"0\r\n\r\n")
    def ws(self):
        accept = base64.b64encode(hashlib.sha1((self.headers["Sec-WebSocket-Key"] +
            "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        while True:
            head = self.rfile.read(2)
            if len(head) < 2:
                break
            op, n = head[0] & 0x0f, head[1] & 0x7f
            if n == 126:
                n = struct.unpack(">H", self.rfile.read(2))[0]
            mask = self.rfile.read(4) if head[1] & 0x80 else b"\0\0\0\0"
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(n)))
            self.note("ws", op, data.decode(errors="replace"))
            if op == 8:
                self.wfile.write(b"\x88\x00")
                break
            self.wfile.write(bytes([0x81, len(data)]) + data)
        self.close_connection = True

class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    def __init__(self, port, context):
        self.context = context
        super().__init__((ip, int(port)), Handler)
    def get_request(self):
        conn, addr = self.socket.accept()
        if self.context:
            conn = self.context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        return conn, addr
    def finish_request(self, conn, addr):  # the handshake runs in the request's thread
        try:
            if self.context:
                conn.do_handshake()
        except (ssl.SSLError, OSError) as e:
            logf.write("handshake-failed %s\n" % e)
            return
        Handler(conn, addr, self)

def context(c, k):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(c, k)
    return ctx

servers = [Server(tls_port, context(cert, key)), Server(plain_port, None),
           Server(bad_port, context(bad_cert, bad_key))]
for s in servers[1:]:
    threading.Thread(target=s.serve_forever, daemon=True).start()
servers[0].serve_forever()
"""


@pytest.fixture(scope="module")
def mitm_lab(tls_lab):
    d = os.path.join(tls_lab.root, "tls")
    bad_key, bad_cert = os.path.join(d, "bad.key"), os.path.join(d, "bad.pem")
    # Self-signed, for a name the policy allows: the engine must refuse it (502).
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", bad_key, "-out",
                    bad_cert, "-days", "2", "-subj", "/CN=allowed.test", "-addext",
                    "subjectAltName=DNS:allowed.test"], check=True, capture_output=True)
    tls_lab.mitm_log = os.path.join(d, "mitm.log")
    open(tls_lab.mitm_log, "w").close()
    tls_lab.start(sys.executable, "-c", LAB_SERVER, LAB_IP, str(MITM_TLS_PORT),
                  str(MITM_PLAIN_PORT), str(UNTRUSTED_PORT), os.path.join(d, "srv.pem"),
                  os.path.join(d, "srv.key"), bad_cert, bad_key, tls_lab.mitm_log)
    for port in (MITM_TLS_PORT, MITM_PLAIN_PORT, UNTRUSTED_PORT):
        wait_port(NETNS, LAB_IP, port)
    tls_lab.ca_pem = os.path.join(d, "ca.pem")
    return tls_lab


def server_log(lab, since=0):
    with open(lab.mitm_log) as f:
        return f.read().splitlines()[since:]


def guest(ml, lab, script):
    env = {"SSL_CERT_FILE": lab.ca_pem}
    r = ml.run("run", "--image", CURL_IMAGE, *policy_flags("allowed.test"), "sh", "-c", script,
               env=env)
    return r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


CURL = "curl -sS --max-time 30"
TLS = f"https://allowed.test:{MITM_TLS_PORT}"


def test_get_and_keep_alive_through_the_mitm(ml, mitm_lab):
    before = len(server_log(mitm_lab))
    out, err = guest(ml, mitm_lab, f"{CURL} {TLS}/one {TLS}/two; echo rc=$?")
    assert out == "hello-from-lab /one\nhello-from-lab /two\nrc=0\n", (out, err)
    log = server_log(mitm_lab, before)
    requests = [l for l in log if l.startswith("request ")]
    assert [r.split()[4] for r in requests] == ["/one", "/two"], log
    # One upstream connection carried both requests (keep-alive on both legs).
    assert sum(l.startswith("connection") for l in log) == 1, log
    assert len({r.split()[1] for r in requests}) == 1, log
    assert all(r.split()[3] == f"allowed.test:{MITM_TLS_PORT}" for r in requests), log


def test_chunked_post_and_expect_100_continue(ml, mitm_lab):
    before = len(server_log(mitm_lab))
    script = (f"printf chunked-body | {CURL} -T - -X POST {TLS}/echo; echo rc=$?; "
              f"{CURL} -v -H 'Expect: 100-continue' --data cont-body {TLS}/echo 2>&1; echo rc=$?")
    out, err = guest(ml, mitm_lab, script)
    assert "got:chunked-body\nrc=0" in out, (out, err)
    assert "HTTP/1.1 100 Continue" in out, out
    assert "got:cont-body" in out, out
    log = server_log(mitm_lab, before)
    posts = [l for l in log if l.startswith("post ")]
    assert any("te=chunked" in p and p.endswith("chunked-body") for p in posts), log
    assert any("cl=9" in p and p.endswith("cont-body") for p in posts), log
    # The proxy answered Expect itself once the policy allowed; the server never saw it.
    assert "expect-seen" not in log


def test_blocked_host_gets_403_inside_tls_and_never_reaches_the_server(ml, mitm_lab):
    before = len(server_log(mitm_lab))
    script = (f"{CURL} -w 'code=%{{http_code}}\\n' https://blocked.test:{MITM_TLS_PORT}/dns; "
              f"{CURL} -w 'code=%{{http_code}}\\n' --resolve blocked.test:{MITM_TLS_PORT}:{LAB_IP} "
              f"https://blocked.test:{MITM_TLS_PORT}/sni")
    out, err = guest(ml, mitm_lab, script)
    assert out.count("code=403") == 2, (out, err)
    assert out.count("Blocked by policy") == 2 and "blocked.test" in out, out
    assert server_log(mitm_lab, before) == []


def test_upstream_with_an_untrusted_certificate_is_a_502(ml, mitm_lab):
    before = len(server_log(mitm_lab))
    out, err = guest(ml, mitm_lab, f"{CURL} -w 'code=%{{http_code}}\\n' "
                                   f"https://allowed.test:{UNTRUSTED_PORT}/x")
    assert "code=502" in out, (out, err)
    log = server_log(mitm_lab, before)
    assert not any(l.startswith("request ") for l in log), log


def test_event_stream_arrives_incrementally(ml, mitm_lab):
    # The server holds the stream open after its first event until /release is requested; the
    # guest asks for /release only once it has seen the first event. A proxy that buffered the
    # response would never show it, and the server would time out ("never-released").
    script = (f"{CURL} -N {TLS}/sse > /tmp/sse & "
              "i=0; while ! grep -q first /tmp/sse && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; "
              f"grep -q first /tmp/sse && echo saw-first-before-release; {CURL} {TLS}/release; wait; "
              "cat /tmp/sse")
    out, err = guest(ml, mitm_lab, script)
    assert "saw-first-before-release" in out, (out, err)
    assert "released" in out
    assert "data: first" in out and "data: second" in out, out


def nc_script(raw, port=MITM_PLAIN_PORT):
    return f"nslookup allowed.test >/dev/null; (printf '{raw}'; sleep 3) | nc allowed.test {port}"


def test_plain_http_keep_alive_runs_the_policy_per_request(ml, mitm_lab):
    before = len(server_log(mitm_lab))
    raw = (f"GET /first HTTP/1.1\\r\\nHost: allowed.test:{MITM_PLAIN_PORT}\\r\\n\\r\\n"
           f"GET /second HTTP/1.1\\r\\nHost: blocked.test\\r\\n\\r\\n")
    out, err = guest(ml, mitm_lab, nc_script(raw))
    assert "hello-from-lab /first" in out, (out, err)
    assert "HTTP/1.1 403 Forbidden" in out and "Blocked by policy" in out, out
    log = server_log(mitm_lab, before)
    assert [l.split()[4] for l in log if l.startswith("request ")] == ["/first"], log


def test_smuggling_attempt_on_a_kept_alive_connection_is_a_400(ml, mitm_lab):
    before = len(server_log(mitm_lab))
    raw = (f"GET /before HTTP/1.1\\r\\nHost: allowed.test\\r\\n\\r\\n"
           "POST /echo HTTP/1.1\\r\\nHost: allowed.test\\r\\nContent-Length: 4\\r\\n"
           "Transfer-Encoding: chunked\\r\\n\\r\\n0\\r\\n\\r\\nGET /smuggled HTTP/1.1\\r\\n"
           "Host: allowed.test\\r\\n\\r\\n")
    out, err = guest(ml, mitm_lab, nc_script(raw))
    assert "hello-from-lab /before" in out, (out, err)
    assert "HTTP/1.1 400 Bad Request" in out, out
    log = server_log(mitm_lab, before)
    assert not any("/smuggled" in l or l.startswith("post ") for l in log), log


def test_websocket_upgrade_is_spliced_after_101(ml, mitm_lab):
    before = len(server_log(mitm_lab))
    # One masked text frame (mask 0) "ping-through-splice", then a close frame.
    raw = (f"GET /ws HTTP/1.1\\r\\nHost: allowed.test:{MITM_PLAIN_PORT}\\r\\n"
           "Upgrade: websocket\\r\\nConnection: Upgrade\\r\\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n"
           "\\201\\223\\000\\000\\000\\000ping-through-splice\\210\\200\\000\\000\\000\\000")
    out, err = guest(ml, mitm_lab, nc_script(raw))
    assert "HTTP/1.1 101" in out, (out, err)
    assert "ping-through-splice" in out.split("\r\n\r\n", 1)[-1], out
    log = server_log(mitm_lab, before)
    assert "ws 1 ping-through-splice" in log, log


def test_a_request_followed_at_once_by_the_guests_fin_is_still_answered(ml, mitm_lab):
    raw = f"GET /half-closed HTTP/1.1\\r\\nHost: allowed.test:{MITM_PLAIN_PORT}\\r\\n\\r\\n"
    out, err = guest(ml, mitm_lab, f"nslookup allowed.test >/dev/null; printf '{raw}' | "
                                   f"nc allowed.test {MITM_PLAIN_PORT}")
    assert "hello-from-lab /half-closed" in out, (out, err)
