"""The guest network end to end: real QEMU, the engine's lwIP stack, servers in a private lab.

The lab is a network namespace joined to the host by a veth pair with addresses this module
picks (10.77.N.0/24, only on this machine). Inside it run an HTTP server, dnsmasq with a query
log, a UDP responder (tftp-shaped, because busybox has no UDP netcat) and, for the HTTPS tests,
an HTTPS server with a throwaway test CA (the guest's TLS client is the host's curl, copied with
its libraries into a derived image). A second HTTP server listens on the host's 127.0.0.1 to
prove the guest can never reach the host's loopback.
Everything is torn down by the fixture finalizer. Needs root (ip netns).
"""
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from conftest import IMAGE
import host_tools
from netlab import NetLab

N = 10 + os.getpid() % 200
HOST_IP = f"10.77.{N}.1"
LAB_IP = f"10.77.{N}.2"
NETNS = f"mlnet{os.getpid()}"
VETH = f"mlv{os.getpid() % 100000}"
GATEWAY = "192.168.127.2"

UDP_RESPONDER = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
log = open(sys.argv[3], "a", buffering=1)
while True:
    d, a = s.recvfrom(65535)
    log.write("datagram %d\n" % len(d))
    if d[:2] == b"\x00\x01":  # tftp RRQ: answer with one short DATA block (the last one)
        s.sendto(b"\x00\x03\x00\x01udp-ok\n", a)
"""

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip")
                                or not shutil.which("dnsmasq"),
                                reason="needs root, iproute2 and dnsmasq (scripts/install-deps.sh)")


def sh(*args, check=True):
    return subprocess.run(list(args), capture_output=True, text=True, check=check)


def wait_port(ns, ip, port, udp=False):
    for _ in range(100):
        kind = "-u" if udp else "-t"
        out = sh("ip", "netns", "exec", ns, "ss", "-lnH", kind, check=False).stdout if ns else \
            sh("ss", "-lnH", kind, check=False).stdout
        if f"{ip}:{port}" in out:
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {ip}:{port}")


class Lab:
    def __init__(self, root, net):
        self.root = root
        self.net = net
        self.dns_log = os.path.join(root, "dnsmasq.log")
        self.udp_log = os.path.join(root, "udp.log")
        open(self.udp_log, "w").close()

    def start(self, *argv, ns=True):
        return self.net.start(*argv, ns=ns)

    def dns_queries(self):
        with open(self.dns_log) as f:
            return [l for l in f if "query[" in l]

    def udp_datagrams(self):
        with open(self.udp_log) as f:
            return f.read().count("datagram")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("netlab"))
    www = os.path.join(root, "www")
    os.makedirs(www)
    with open(os.path.join(www, "hello.txt"), "w") as f:
        f.write("hello-from-lab\n")
    net = NetLab(NETNS, VETH, HOST_IP, LAB_IP, cwd=root).create()
    lab = Lab(root, net)
    try:
        lab.start(sys.executable, "-m", "http.server", "8080", "--bind", LAB_IP,
                  "--directory", www)
        lab.start("dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts", "--bind-interfaces",
                  f"--listen-address={LAB_IP}", "--log-queries", f"--log-facility={lab.dns_log}",
                  f"--address=/web.lab.test/{LAB_IP}", f"--address=/other.lab.test/{LAB_IP}",
                  f"--address=/secret-exfil.lab.test/{LAB_IP}",
                  f"--address=/allowed.test/{LAB_IP}", f"--address=/blocked.test/{LAB_IP}",
                  "--pid-file=" + os.path.join(root, "dnsmasq.pid"))
        lab.start(sys.executable, "-c", UDP_RESPONDER, LAB_IP, "7777", lab.udp_log)
        # The host's loopback: the guest must never reach this.
        lab.loop_port = 18000 + os.getpid() % 1000
        lab.start(sys.executable, "-m", "http.server", str(lab.loop_port), "--bind", "127.0.0.1",
                  "--directory", www, ns=False)
        wait_port(NETNS, LAB_IP, 8080)
        wait_port(NETNS, LAB_IP, 53, udp=True)
        wait_port(NETNS, LAB_IP, 7777, udp=True)
        wait_port(None, "127.0.0.1", lab.loop_port)
        yield lab
    finally:
        net.destroy()


def run(ml, *args, **kw):
    return ml.run("run", "--image", IMAGE, *args, **kw)


def guest(ml, script, *flags):
    r = run(ml, *flags, "sh", "-c", script)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


# --- NAT ----------------------------------------------------------------------------------------

def test_nat_http_by_ip(ml, lab):
    rc, out, err = guest(ml, f"wget -qO- http://{LAB_IP}:8080/hello.txt")
    assert rc == 0, err
    assert out == "hello-from-lab\n"


def test_guest_addressing_and_dns_servers_in_resolv_conf(ml, lab):
    rc, out, err = guest(ml, "ip -4 addr show eth0; ip route; cat /etc/resolv.conf; "
                             "echo ipv6 $(cat /proc/sys/net/ipv6/conf/*/disable_ipv6) "
                             "addresses $(wc -l < /proc/net/if_inet6)",
                         "--dns-servers", LAB_IP)
    assert rc == 0, err
    assert "inet 192.168.127.15/24" in out
    assert "default via 192.168.127.2" in out
    assert f"nameserver {LAB_IP}" in out
    # IPv6 disabled (all, default, lo, eth0) before any interface came up, so not one IPv6
    # address exists: nothing bypasses the IPv4 gate.
    assert out.strip().endswith("ipv6 1 1 1 1 addresses 0"), out


def test_dns_goes_through_dns_servers(ml, lab):
    rc, out, err = guest(ml, "nslookup web.lab.test; wget -qO- http://web.lab.test:8080/hello.txt",
                         "--dns-servers", LAB_IP)
    assert rc == 0, err
    assert LAB_IP in out
    assert "hello-from-lab" in out
    assert any("web.lab.test" in q for q in lab.dns_queries())


def test_dns_to_any_address_is_answered_by_the_engine(ml, lab):
    # The guest asks an address that has no DNS server at all; the engine catches it.
    rc, out, err = guest(ml, "nslookup other.lab.test 192.0.2.77; true", "--dns-servers", LAB_IP)
    assert rc == 0, err
    assert LAB_IP in out


def test_host_loopback_is_unreachable(ml, lab):
    port = lab.loop_port
    rc, out, err = guest(ml,
                         f"wget -qO- http://127.0.0.1:{port}/hello.txt; echo rc=$?; "
                         f"wget -qO- http://{GATEWAY}:{port}/hello.txt; echo rc=$?; "
                         f"wget -qO- http://127.0.0.2:{port}/hello.txt; echo rc=$?; "
                         f"wget -qO- http://0.0.0.0:{port}/hello.txt; echo rc=$?; "
                         f"wget -qO- http://{HOST_IP}:{port}/hello.txt; echo rc=$?")
    assert "hello-from-lab" not in out
    assert out.count("rc=1") == 5, out + err
    assert "Connection refused" in err


def test_refused_port_fails_fast(ml, lab):
    rc, out, err = guest(ml, f"s=$(date +%s); wget -qO- http://{LAB_IP}:8099/; e=$(date +%s); "
                             f"echo took=$((e-s))")
    assert "Connection refused" in err
    assert "took=0" in out or "took=1" in out


def test_udp_is_relayed_in_nat(ml, lab):
    before = lab.udp_datagrams()
    rc, out, err = guest(ml, f"cd /tmp && tftp -g -r x -l got {LAB_IP} 7777 && cat got")
    assert rc == 0, err
    assert out == "udp-ok\n"
    assert lab.udp_datagrams() > before


def test_gateway_answers_ping_other_addresses_do_not(ml, lab):
    rc, out, err = guest(ml, f"ping -c1 -W2 {GATEWAY} >/dev/null; echo gw=$?; "
                             f"ping -c1 -W1 {LAB_IP} >/dev/null; echo lab=$?")
    assert "gw=0" in out
    assert "lab=1" in out


def test_300_concurrent_connections_complete(ml, lab):
    script = (f"mkdir /tmp/o; i=0; while [ $i -lt 300 ]; do "
              f"wget -qO /tmp/o/$i http://{LAB_IP}:8080/hello.txt & i=$((i+1)); done; wait; "
              f"cat /tmp/o/* | grep -c hello-from-lab")
    rc, out, err = guest(ml, script)
    assert out.strip() == "300", err


def test_download_is_intact_and_arrives_in_large_segments(ml, lab):
    data = os.urandom(8 * 1024 * 1024)
    with open(os.path.join(lab.root, "www", "big.bin"), "wb") as f:
        f.write(data)
    import hashlib
    # Ip InReceives counts what the guest's driver handed its stack: at MTU 1500 without the
    # NIC's receive offload the body alone is 5,746 segments; with it, segments of up to 64 KiB.
    received = "awk '/^Ip: [0-9]/ {print $4}' /proc/net/snmp"
    rc, out, err = guest(ml, f"a=$({received}); wget -qO- http://{LAB_IP}:8080/big.bin | md5sum; "
                             f"b=$({received}); echo $((b - a)); "
                             "cat /sys/class/net/eth0/mtu /sys/class/net/eth0/device/features")
    assert rc == 0, err
    digest, received_packets, mtu, features = out.split()[0], *out.split()[2:5]
    assert digest == hashlib.md5(data).hexdigest(), err
    assert mtu == "1500"
    # The driver took GUEST_CSUM (bit 1), GUEST_TSO4 (7) and MRG_RXBUF (15).
    assert features[1] == features[7] == features[15] == "1", features
    assert int(received_packets) < len(data) // 1460 // 4, out


def test_a_large_ping_of_the_gateway_comes_back_in_fragments(ml, lab):
    # The echo reply (4,028 bytes) is above the MTU: the engine sends it as IPv4 fragments.
    rc, out, err = guest(ml, f"ping -c1 -W5 -s 4000 {GATEWAY}")
    assert rc == 0, out + err
    assert "4008 bytes from" in out, out


# --- link settings and /etc/hosts ---------------------------------------------------------------

def test_mtu_is_visible_in_the_guest(ml, lab):
    rc, out, err = guest(ml, f"cat /sys/class/net/eth0/mtu; wget -qO- http://{LAB_IP}:8080/hello.txt",
                         "--mtu", "65520")
    assert rc == 0, err
    assert out.splitlines() == ["65520", "hello-from-lab"]


def test_add_host_is_in_etc_hosts_and_resolves(ml, lab):
    rc, out, err = guest(ml, "grep lab-alias /etc/hosts; wget -qO- http://lab-alias:8080/hello.txt",
                         "--add-host", f"lab-alias:{LAB_IP}")
    assert rc == 0, err
    assert f"{LAB_IP}\tlab-alias" in out
    assert "hello-from-lab" in out


@pytest.mark.parametrize("flags,message", [
    (["--add-host", "nocolon"], "invalid add-host mapping"),
    (["--add-host", "host:not-an-ip"], "invalid add-host mapping"),
    (["--mtu", "70000"], "--mtu"),
    (["--no-network", "--allow-host", "x.com"], "--no-network cannot be combined with --allow-host"),
    (["--no-network", "--allow-private-host", "10.0.0.1"],
     "--no-network cannot be combined with --allow-private-host"),
])
def test_bad_network_flags_fail_before_anything_is_created(ml, flags, message):
    r = run(ml, *flags, "true")
    assert r.returncode != 0
    assert message in r.stderr.decode()
    assert r.stderr.decode().count("\n") <= 2
    ml.assert_nothing_left()


def test_no_network_has_no_eth0(ml):
    rc, out, err = guest(ml, "ls /sys/class/net", "--no-network")
    assert rc == 0, err
    assert out.split() == ["lo"]


# --- interception -------------------------------------------------------------------------------

def policy_flags(*allow):
    flags = ["--dns-servers", LAB_IP, "--allow-private-host", LAB_IP]
    for a in allow:
        flags += ["--allow-host", a]
    return flags


def test_allowed_http_is_relayed_and_blocked_http_gets_403(ml, lab):
    script = ("wget -qO- http://web.lab.test:8080/hello.txt; echo rc=$?; "
              "wget -qO- http://other.lab.test:8080/hello.txt; echo rc=$?; "
              "printf 'GET /hello.txt HTTP/1.1\\r\\nHost: other.lab.test\\r\\n\\r\\n' "
              "| nc other.lab.test 8080")
    rc, out, err = guest(ml, script, *policy_flags("web.lab.test"))
    assert "hello-from-lab\nrc=0" in out, err
    assert "rc=1" in out
    assert "403 Forbidden" in err
    assert "HTTP/1.1 403 Forbidden" in out
    assert "Blocked by policy: matchlock does not allow access to other.lab.test" in out


def test_names_not_allowed_never_reach_the_dns_server(ml, lab):
    rc, out, err = guest(ml, "nslookup secret-exfil.lab.test; nslookup web.lab.test; true",
                         *policy_flags("web.lab.test"))
    assert "192.168.127.3" in out  # the sinkhole
    queries = lab.dns_queries()
    assert not any("secret-exfil" in q for q in queries)
    assert any("web.lab.test" in q for q in queries)


def test_each_keep_alive_request_is_checked_by_its_own_host(ml, lab):
    req = ("GET /hello.txt HTTP/1.1\\r\\nHost: web.lab.test\\r\\n\\r\\n"
           "GET /hello.txt HTTP/1.1\\r\\nHost: other.lab.test\\r\\n\\r\\n")
    rc, out, err = guest(ml, f"nslookup web.lab.test >/dev/null; "
                             f"(printf '{req}'; sleep 2) | nc web.lab.test 8080",
                         *policy_flags("web.lab.test"))
    assert "hello-from-lab" in out, err
    assert "HTTP/1.1 403 Forbidden" in out
    assert "does not allow access to other.lab.test" in out


def test_host_header_must_match_the_address_it_was_resolved_to(ml, lab):
    # No lookup gave web.lab.test this address, so naming it in Host does not open the IP.
    rc, out, err = guest(ml, f"wget -qO- --header 'Host: web.lab.test' http://{LAB_IP}:8080/hello.txt",
                         *policy_flags("web.lab.test"))
    assert rc != 0
    assert "403 Forbidden" in err


@pytest.mark.parametrize("pattern,allowed,blocked", [
    ("*.lab.test", ["a.lab.test", "deep.b.lab.test"], ["lab.test", "a.lab.testx"]),
    ("api-*.lab.test", ["api-1.lab.test", "api-.lab.test"], ["www.lab.test", "x.api-1.lab.test"]),
    ("Exact.Lab.Test.", ["exact.lab.test", "EXACT.LAB.TEST"], ["other.lab.test"]),
])
def test_allow_host_pattern_forms(ml, lab, pattern, allowed, blocked):
    names = allowed + blocked
    flags = policy_flags(pattern)
    for n in names:
        flags += ["--add-host", f"{n}:{LAB_IP}"]
    script = "; ".join(f"wget -qO- http://{n}:8080/hello.txt >/dev/null 2>&1; echo {n}=$?"
                       for n in names)
    rc, out, err = guest(ml, script, *flags)
    for n in allowed:
        assert f"{n}=0" in out, out
    for n in blocked:
        assert f"{n}=1" in out, out


def test_private_ranges_blocked_unless_allowed(ml, lab):
    # The allowed name resolves into 10/8: the answer is refused (rebinding) without the
    # exception, and an allowed IP literal in a private range is not dialled either.
    flags = ["--dns-servers", LAB_IP, "--allow-host", "web.lab.test", "--allow-host", LAB_IP]
    rc, out, err = guest(ml, f"wget -qO- http://web.lab.test:8080/hello.txt; echo rc=$?; "
                             f"wget -qO- http://{LAB_IP}:8080/hello.txt; echo rc=$?", *flags)
    assert "hello-from-lab" not in out
    assert out.count("rc=1") == 2
    rc, out, err = guest(ml, f"wget -qO- http://{LAB_IP}:8080/hello.txt",
                         *flags, "--allow-private-host", LAB_IP)
    assert out == "hello-from-lab\n", err


def test_raw_tcp_only_to_allowed_ips(ml, lab):
    script = f"printf 'NOT-HTTP\\r\\n\\r\\n' | nc {LAB_IP} 8080; echo rc=$?"
    rc, out, err = guest(ml, script, *policy_flags(LAB_IP))
    assert "400" in out  # python's http.server answered: the bytes were relayed
    rc, out, err = guest(ml, script, *policy_flags("web.lab.test"))
    assert "400" not in out


def test_udp_other_than_dns_is_dropped_in_interception(ml, lab):
    before = lab.udp_datagrams()
    rc, out, err = guest(ml, f"cd /tmp && timeout 5 tftp -g -r x -l got {LAB_IP} 7777; echo rc=$?",
                         *policy_flags("web.lab.test"))
    assert "rc=0" not in out
    assert lab.udp_datagrams() == before


def test_interception_refuses_the_host_loopback_too(ml, lab):
    port = lab.loop_port
    rc, out, err = guest(ml, f"wget -qO- http://127.0.0.1:{port}/hello.txt; echo rc=$?; "
                             f"wget -qO- http://{GATEWAY}:{port}/hello.txt; echo rc=$?",
                         *policy_flags("*"))
    assert "hello-from-lab" not in out
    assert out.count("rc=1") == 2


def test_rpc_allow_list_changes_apply_at_runtime(ml, lab):
    from rpc_client import Rpc, RpcError
    rpc = Rpc(ml.env)
    try:
        rpc.call("create", {"image": IMAGE, "network": {
            "allowed_hosts": ["web.lab.test"], "block_private_ips": False,
            "dns_servers": [LAB_IP]}})
        fetch = "wget -qO- http://other.lab.test:8080/hello.txt"
        code, out, err = rpc.exec(fetch)
        assert code != 0 and b"403" in err
        r = rpc.call("allow_list_add", {"hosts": ["other.lab.test", "web.lab.test"]})
        assert r["added"] == ["other.lab.test"]
        assert r["allowed_hosts"] == ["web.lab.test", "other.lab.test"]
        code, out, err = rpc.exec(fetch)
        assert (code, out) == (0, b"hello-from-lab\n"), err
        r = rpc.call("allow_list_delete", {"hosts": ["other.lab.test"]})
        assert r["removed"] == ["other.lab.test"]
        code, out, err = rpc.exec(fetch)
        assert code != 0
        with pytest.raises(RpcError):
            rpc.call("allow_list_add", {"hosts": ["bad host"]})
    finally:
        rpc.close()
        rpc.kill()
    ml.assert_nothing_left()


def dns_tcp_query_script(name, server):
    """A shell line sending one DNS-over-TCP A query with busybox printf + nc, printing the
    reply's bytes as decimal numbers."""
    import struct
    q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00" + struct.pack(">HH", 1, 1)
    msg = struct.pack(">H", len(q)) + q
    octal = "".join("\\%03o" % b for b in msg)
    return f"(printf '{octal}'; sleep 2) | nc {server} 53 | od -An -tu1 | tr -s ' \\n' ' '"


def test_dns_over_tcp_is_answered_by_the_engine(ml, lab):
    a, b, c, d = LAB_IP.split(".")
    rc, out, err = guest(ml, dns_tcp_query_script("web.lab.test", "192.0.2.53"),
                         "--dns-servers", LAB_IP)
    assert f" {a} {b} {c} {d}" in " " + out, (out, err)


def test_dns_over_tcp_follows_interception_policy(ml, lab):
    rc, out, err = guest(ml, dns_tcp_query_script("secret-exfil.lab.test", LAB_IP),
                         *policy_flags("web.lab.test"))
    assert " 192 168 127 3" in " " + out, (out, err)
    assert not any("secret-exfil" in q for q in lab.dns_queries())


# --- HTTPS from a real TLS client -----------------------------------------------------------------
#
# busybox wget has no TLS, so these tests derive an image holding the host's own curl and exactly
# the shared libraries it loads (ldd), plus a throwaway test CA. The lab runs an HTTPS server with
# a certificate from that CA for allowed.test, blocked.test and the lab address, and logs every
# TCP connection it accepts, every SNI it is offered and every request it answers.

HTTPS_PORT = 8443
CURL_IMAGE = "matchlock-test/curl:latest"
CA_IN_GUEST = "/etc/test-ca.pem"

HTTPS_SERVER = r"""
import http.server, ssl, sys
ip, port, cert, key, log, root = sys.argv[1:7]
logf = open(log, "a", buffering=1)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)

def on_sni(sock, name, c):
    logf.write("sni %s\n" % name)  # returns None: go on with the handshake
ctx.sni_callback = on_sni

class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **kw):
        super().__init__(*a, directory=root, **kw)
    def do_GET(self):
        logf.write("request %s %s\n" % (self.headers.get("Host"), self.path))
        super().do_GET()
    def log_message(self, *a):
        pass

class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    def get_request(self):
        conn, addr = self.socket.accept()
        logf.write("connection\n")
        return conn, addr
    def finish_request(self, conn, addr):  # the handshake runs in the request's thread
        try:
            tls = ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as e:
            logf.write("handshake-failed %s\n" % e)
            return
        try:
            Handler(tls, addr, self)
        finally:
            tls.close()

Server((ip, int(port)), Handler).serve_forever()
"""


def make_test_ca(d):
    """A throwaway CA and a server certificate for the lab's TLS names, with the openssl CLI."""
    def ossl(*args):
        sh("openssl", *args)
    ca_key, ca, key, csr, cert = (os.path.join(d, n) for n in
                                  ("ca.key", "ca.pem", "srv.key", "srv.csr", "srv.pem"))
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ossl("req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2",
         "-subj", "/CN=matchlock throwaway test CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    ossl("req", "-new", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=allowed.test")
    ext = os.path.join(d, "srv.ext")
    with open(ext, "w") as f:
        f.write(f"subjectAltName=DNS:allowed.test,DNS:blocked.test,IP:{LAB_IP}\n"
                "basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    ossl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", cert, "-days", "2", "-extfile", ext)
    return ca, cert, key


def curl_layer(ca_pem):
    """A layer with the host's curl and its libraries (host_tools.py), plus the test CA."""
    with open(ca_pem, "rb") as f:
        ca = f.read()
    return host_tools.layer(host_tools.program_files("curl"),
                            {CA_IN_GUEST.lstrip("/"): (ca, 0o644)})


@pytest.fixture(scope="module")
def tls_lab(ml, lab):
    if not shutil.which("curl") or not shutil.which("openssl") or not shutil.which("ldd"):
        pytest.skip("needs the host's curl, openssl and ldd (scripts/install-deps.sh)")
    from conftest import ARCHIVE
    import oci_archive
    d = os.path.join(lab.root, "tls")
    os.makedirs(d)
    ca, cert, key = make_test_ca(d)
    lab.ca_pem = ca  # the engine trusts it (SSL_CERT_FILE) when it intercepts
    lab.https_log = os.path.join(d, "https.log")
    open(lab.https_log, "w").close()
    lab.start(sys.executable, "-c", HTTPS_SERVER, LAB_IP, str(HTTPS_PORT), cert, key,
              lab.https_log, os.path.join(lab.root, "www"))
    image = os.path.join(d, "curl-image.tar")
    oci_archive.derive_image(ARCHIVE, image, {}, extra_layers=[curl_layer(ca)])
    with open(image, "rb") as f:
        r = ml.run("image", "import", CURL_IMAGE, input=f.read())
    assert r.returncode == 0, r.stderr
    wait_port(NETNS, LAB_IP, HTTPS_PORT)
    return lab


def https_log(lab):
    with open(lab.https_log) as f:
        return f.read().splitlines()


def curl_script(*cases):
    """cases: (marker, curl arguments). Prints marker=<curl exit status> after each."""
    c = f"curl -sS --max-time 30 --cacert {CA_IN_GUEST}"
    return "; ".join(f"{c} {args}; echo {marker}=$?" for marker, args in cases)


def test_https_in_nat_by_ip_and_by_name(ml, tls_lab):
    script = curl_script(("by_ip", f"https://{LAB_IP}:{HTTPS_PORT}/hello.txt"),
                         ("by_name", f"https://blocked.test:{HTTPS_PORT}/hello.txt"))
    r = ml.run("run", "--image", CURL_IMAGE, "--dns-servers", LAB_IP, "sh", "-c", script)
    out, err = r.stdout.decode(), r.stderr.decode()
    # No policy flag: every name is reachable, including the one the next test blocks.
    assert out == "hello-from-lab\nby_ip=0\nhello-from-lab\nby_name=0\n", (out, err)
    log = https_log(tls_lab)
    assert "sni blocked.test" in log
    assert "request blocked.test:8443 /hello.txt" in log


def test_https_allowed_host_works_and_blocked_host_never_reaches_the_server(ml, tls_lab):
    before = len(https_log(tls_lab))
    # Interception terminates TLS with the sandbox's CA, which the guest trusts through its
    # system bundle and CURL_CA_BUNDLE: no --cacert here. Each case prints its HTTP status.
    c = "curl -sS --max-time 30 -o /dev/null -w '%{http_code}'"
    cases = [
        ("allowed", f"https://allowed.test:{HTTPS_PORT}/hello.txt"),
        # Through DNS: the engine answers a name that is not allowed with its sinkhole.
        ("blocked_dns", f"https://blocked.test:{HTTPS_PORT}/blocked-dns"),
        # Straight to the lab address (which --allow-private-host opens): the SNI decides.
        ("blocked_sni", f"--resolve blocked.test:{HTTPS_PORT}:{LAB_IP} "
                        f"https://blocked.test:{HTTPS_PORT}/blocked-sni"),
        # An IP literal sends no SNI, and the address is not in the allow-list.
        ("blocked_ip", f"https://{LAB_IP}:{HTTPS_PORT}/blocked-ip"),
        # The allowed name again after the refusals: the sandbox's network is still fine.
        ("allowed_again", f"https://allowed.test:{HTTPS_PORT}/hello.txt")]
    script = "; ".join(f"echo {m}=$({c} {args})" for m, args in cases)
    r = ml.run("run", "--image", CURL_IMAGE, *policy_flags("allowed.test"), "sh", "-c", script,
               env={"SSL_CERT_FILE": tls_lab.ca_pem})
    out, err = r.stdout.decode(), r.stderr.decode()
    # Blocked HTTPS gets the documented 403, inside a TLS session the guest verified.
    assert out.splitlines() == ["allowed=200", "blocked_dns=403", "blocked_sni=403",
                                "blocked_ip=403", "allowed_again=200"], (out, err)
    log = https_log(tls_lab)[before:]
    # The server saw the two allowed requests and nothing else: the blocked ones were
    # answered by the engine before it dialled anything.
    assert log.count("connection") == 2, log
    assert [l for l in log if l.startswith("sni ")] == ["sni allowed.test"] * 2, log
    assert [l for l in log if l.startswith("request ")] == \
        ["request allowed.test:8443 /hello.txt"] * 2, log
