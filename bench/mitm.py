#!/usr/bin/python3
"""HTTPS through the TLS interception proxy (MITM) against the same HTTPS through plain NAT,
measured in the same run, interleaved.

A lab network namespace runs a Python HTTPS server (a throwaway lab CA; the engine trusts it
through SSL_CERT_FILE) serving a 1-byte file and a MIB MiB file at bench.test:8443. Two sandboxes
run the host's curl (copied into the image with its libraries):

  nat   no policy flag: the guest's TLS goes straight to the server (curl --cacert <lab CA>)
  mitm  --allow-host bench.test: the engine terminates the guest's TLS with a leaf from the
        sandbox CA (in the guest's bundle) and opens its own TLS connection upstream

  (a) new connection: `curl https://bench.test:8443/one` repeated CONNS times in one exec, each a
      new process, TCP connection and TLS handshake; curl's own time_total (guest clock). The
      added latency per connection is median(mitm) - median(nat). The guest's curl and its TLS
      handshake under TCG dominate both; the difference is what the engine adds: its half of the
      guest's handshake, the upstream dial and handshake, the policy.
  (b) bulk download: MIB MiB, curl's speed_download; ratio mitm / nat. Both legs decrypt in the
      guest (TCG); the MITM adds one decrypt and one encrypt on the host.
  (c) handshakes per second with a warm leaf cache: build/*/matchlock-bench-tls, in memory.

Prints medians, the goals (added latency <= 2 ms, bulk ratio >= 0.8) and the host load at the
start and end. Needs root (ip netns), the host's curl and openssl.

Usage: bench/mitm.py [--bin PATH] [--conns 20] [--runs 3] [--mib 32]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))
import benchlib as bl  # noqa: E402
import host_tools  # noqa: E402
import oci_archive  # noqa: E402
from netlab import NetLab  # noqa: E402

NETNS = f"mlbench{os.getpid()}"
VETH = f"mlb{os.getpid() % 100000}"
HOST_IP, LAB_IP = "10.79.1.1", "10.79.1.2"
IMAGE = "matchlock-bench/curl:latest"
LAB_CA_IN_GUEST = "/etc/lab-ca.pem"
# curl's cumulative timings of one request, in order.
PHASES = ["time_connect", "time_appconnect", "time_starttransfer", "time_total"]
PHASES_FORMAT = " ".join("%{" + p + "}" for p in PHASES)

SERVER = r"""
import http.server, ssl, sys
ip, port, cert, key, root = sys.argv[1:6]
class H(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def __init__(self, *a, **kw):
        super().__init__(*a, directory=root, **kw)
    def log_message(self, *a):
        pass
class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
s = S((ip, int(port)), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
s.socket = ctx.wrap_socket(s.socket, server_side=True)
s.serve_forever()
"""


def sh(*args, check=True):
    return subprocess.run(list(args), capture_output=True, text=True, check=check)


def make_certs(d):
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca_key, ca, key, csr, cert, ext = (os.path.join(d, n) for n in (
        "ca.key", "ca.pem", "srv.key", "srv.csr", "srv.pem", "srv.ext"))
    sh("openssl", "req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2",
       "-subj", "/CN=matchlock bench CA", "-addext", "basicConstraints=critical,CA:TRUE")
    sh("openssl", "req", "-new", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=bench.test")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:bench.test\nextendedKeyUsage=serverAuth\n")
    sh("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
       "-out", cert, "-days", "2", "-extfile", ext)
    return ca, cert, key


def start_lab(d, mib):
    www = os.path.join(d, "www")
    os.makedirs(www)
    with open(os.path.join(www, "one"), "wb") as f:
        f.write(b"x")
    with open(os.path.join(www, "bulk"), "wb") as f:
        f.write(os.urandom(mib << 20))
    ca, cert, key = make_certs(d)
    net = NetLab(NETNS, VETH, HOST_IP, LAB_IP, cwd=d).create()
    net.start("/usr/bin/python3", "-c", SERVER, LAB_IP, "8443", cert, key, www, quiet=False)
    net.dnsmasq("bench.test", pid_file=os.path.join(d, "dnsmasq.pid"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # polling for the listener, with a deadline
        if net.listening(LAB_IP, 8443):
            return net, ca
        time.sleep(0.05)
    net.destroy()
    bl.die("the lab's HTTPS server did not start")


def import_image(binary, ca, d, timeout):
    files = host_tools.program_files("curl")
    with open(ca, "rb") as f:
        data = {LAB_CA_IN_GUEST.lstrip("/"): (f.read(), 0o644)}
    archive = os.path.join(os.path.dirname(binary), "images", "matchlock-busybox.tar")
    out = os.path.join(d, "image.tar")
    oci_archive.derive_image(archive, out, {}, extra_layers=[host_tools.layer(files, data)])
    with open(out, "rb") as f:
        r = bl.run([binary, "image", "import", IMAGE], timeout, stdin=f,
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        bl.die(f"image import failed: {r.stdout.decode(errors='replace')}")


def start(binary, env, flags, timeout):
    r = bl.run([binary, "run", "-d", "--image", IMAGE, "--dns-servers", LAB_IP,
                "--allow-private-host", LAB_IP, *flags], timeout, env=env,
               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        bl.die(f"run -d failed: {r.stderr.decode(errors='replace')[-800:]}")
    return r.stdout.decode().strip()


def guest(binary, vm, script, timeout):
    r = bl.run([binary, "exec", vm, "--", "sh", "-c", script], timeout,
               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        bl.die(f"exec failed: {r.stderr.decode(errors='replace')[-800:]}")
    return r.stdout.decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin")
    ap.add_argument("--conns", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mib", type=int, default=32)
    ap.add_argument("--timeout", type=int, default=600)
    args = ap.parse_args()
    if os.geteuid() != 0:
        bl.die("needs root (ip netns)")
    binary = bl.matchlock_bin(args.bin)
    bl.install_cleanup(lambda: os.environ.get("MATCHLOCK_HOME"))
    d = tempfile.mkdtemp(prefix="matchlock-bench-mitm-")
    net = None
    try:
        with bl.private_home(binary):
            net, ca = start_lab(d, args.mib)
            import_image(binary, ca, d, args.timeout)
            env = dict(os.environ, SSL_CERT_FILE=ca)
            print(bl.machine_line())
            load_start = os.getloadavg()
            modes = {"nat": (start(binary, env, [], args.timeout), f"--cacert {LAB_CA_IN_GUEST}"),
                     "mitm": (start(binary, env, ["--allow-host", "bench.test"], args.timeout), "")}
            conn = {m: [] for m in modes}
            bulk = {m: [] for m in modes}
            for _ in range(args.runs):
                for mode, (vm, cacert) in modes.items():  # interleaved
                    one = (f"curl -sS {cacert} -o /dev/null -w '{PHASES_FORMAT}\\n' "
                           f"https://bench.test:8443/one")
                    out = guest(binary, vm, f"i=0; while [ $i -lt {args.conns} ]; do {one}; "
                                            f"i=$((i+1)); done", args.timeout)
                    conn[mode] += [[float(x) for x in line.split()] for line in out.splitlines()]
                    out = guest(binary, vm, f"curl -sS {cacert} -o /dev/null "
                                            f"-w '%{{speed_download}}' https://bench.test:8443/bulk",
                                args.timeout)
                    bulk[mode].append(float(out) / (1 << 20))
            load_end = os.getloadavg()
            for vm, _ in modes.values():
                bl.run([binary, "kill", vm], args.timeout, stdout=subprocess.DEVNULL)
            # Per phase: curl's cumulative times, median over all connections.
            phase = {m: [statistics.median(c[i] for c in conn[m]) for i in range(len(PHASES))]
                     for m in modes}
            med = {m: phase[m][-1] for m in modes}
            mb = {m: statistics.median(bulk[m]) for m in modes}
            print(f"(a) new HTTPS connection, curl time_total, median of {len(conn['nat'])}:")
            print(f"    nat  {bl.fmt_ms(med['nat'])}   mitm {bl.fmt_ms(med['mitm'])}   "
                  f"added by the MITM {bl.fmt_ms(med['mitm'] - med['nat'])}   (goal <= 2 ms)")
            print("    cumulative by phase (ms):  " + "  ".join(f"{p:>13}" for p in PHASES))
            for m in modes:
                print(f"    {m:4}                      " +
                      "  ".join(f"{v * 1000:13.1f}" for v in phase[m]))
            print(f"(b) bulk HTTPS download of {args.mib} MiB, median of {args.runs}:")
            print(f"    nat {mb['nat']:7.1f} MiB/s   mitm {mb['mitm']:7.1f} MiB/s   "
                  f"ratio {mb['mitm'] / mb['nat']:.2f}x   (goal >= 0.8x)")
            tls_bench = os.path.join(os.path.dirname(binary), "matchlock-bench-tls")
            if os.path.exists(tls_bench):
                print("(c) " + subprocess.run([tls_bench, "2"], capture_output=True,
                                              text=True).stdout.replace("\n", "\n    ").rstrip())
            print(bl.load_line(load_start, load_end))
    finally:
        if net:
            net.destroy()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
