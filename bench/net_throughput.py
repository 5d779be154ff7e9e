#!/usr/bin/env python3
"""NAT throughput and connection setup guest <-> host: matchlock's lwIP stack against the same
guest on QEMU's own `-netdev user` (slirp), measured in the same run, interleaved.

The guest runs bench/net_client (a static C client built here and mounted read-only into the
guest): 1 MiB read()/write() calls on sockets with 4 MiB buffers, so the figures measure the
path (guest kernel, NIC, engine or slirp), not a tool's copy loop. No figure here measures a
guest tool (the old method's busybox wget/nc did).

Clocks: throughput is timed by the server, on the host clock (the guest's clock is emulated
under TCG, the host's is not, and it is the same clock for every backend): download from the
first body byte sent to the guest's close after its last read, upload from the first byte
received to EOF. Connection setup is timed in the guest (clock_gettime around connect(): only
the guest sees when its SYN/ACK arrives), N sequential connections, each followed by a
1-byte echo.

The server runs in a network namespace this script creates (veth 10.79.0.1 <-> 10.79.0.2, only
on this machine), because the engine never relays to the host's own addresses. Needs root.

usage: bench/net_throughput.py [--runs 3] [--mib 200] [--conns 100]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

NETNS = "mlbench-net"
HOST_IP, LAB_IP = "10.79.0.1", "10.79.0.2"
PORT = 18080
GUEST_CLIENT = "/workspace/bench/net_client"

# A tiny server in the namespace: GET /N on PORT streams N MiB; PORT+1 is an upload sink;
# PORT+2 echoes one byte and closes (connection setup). Each transfer prints
# "down|up <bytes> <seconds>" on stdout.
SERVER = textwrap.dedent(f"""
    import socket, sys, threading, time
    CHUNK = b"\\0" * (1 << 20)
    def down(c):
        req = c.recv(4096).decode(errors="replace")
        mib = int(req.split()[1].strip("/"))
        c.sendall(b"HTTP/1.0 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n" % (mib << 20))
        t0 = time.perf_counter()
        for _ in range(mib):
            c.sendall(CHUNK)
        c.shutdown(socket.SHUT_WR)
        c.recv(1)  # the guest closes after its last read: delivered, not just queued
        print("down", mib << 20, time.perf_counter() - t0, flush=True)
        c.close()
    def up(c):
        n, t0 = 0, None
        while True:
            b = c.recv(1 << 20)
            if not b:
                break
            if t0 is None:
                t0 = time.perf_counter()
            n += len(b)
        print("up", n, time.perf_counter() - (t0 or time.perf_counter()), flush=True)
        c.close()
    def echo(c):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        b = c.recv(1)
        if b:
            c.sendall(b)
        c.close()
    def serve(port, fn, threaded=True):
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("{LAB_IP}", port)); s.listen(128)
        while True:
            c, _ = s.accept()
            if threaded:
                threading.Thread(target=fn, args=(c,), daemon=True).start()
            else:
                fn(c)  # sequential clients: no thread start in the measured round trip
    threading.Thread(target=serve, args=({PORT + 1}, up), daemon=True).start()
    threading.Thread(target=serve, args=({PORT + 2}, echo, False), daemon=True).start()
    print("ready", flush=True)
    serve({PORT}, down)
""")


def sh(*argv, check=True):
    return subprocess.run(argv, check=check, capture_output=True, timeout=30)


def setup_lab():
    teardown_lab()
    sh("ip", "netns", "add", NETNS)
    sh("ip", "link", "add", "mlb0", "type", "veth", "peer", "name", "mlb1")
    sh("ip", "link", "set", "mlb1", "netns", NETNS)
    sh("ip", "addr", "add", f"{HOST_IP}/24", "dev", "mlb0")
    sh("ip", "link", "set", "mlb0", "up")
    sh("ip", "netns", "exec", NETNS, "ip", "addr", "add", f"{LAB_IP}/24", "dev", "mlb1")
    sh("ip", "netns", "exec", NETNS, "ip", "link", "set", "mlb1", "up")
    sh("ip", "netns", "exec", NETNS, "ip", "link", "set", "lo", "up")


def teardown_lab():
    sh("ip", "netns", "del", NETNS, check=False)
    sh("ip", "link", "del", "mlb0", check=False)


def backend_env(backend):
    env = dict(os.environ)
    env.pop("MATCHLOCK_UNSAFE_SLIRP_BASELINE", None)
    if backend == "slirp":
        env["MATCHLOCK_UNSAFE_SLIRP_BASELINE"] = "1"
    return env


def run_client(binary, client_dir, backend, mtu, *args):
    """One sandbox running the guest client; returns its stdout line."""
    r = benchlib.run([binary, "run", "--image", benchlib.IMAGE, "--mtu", str(mtu),
                      "-v", f"{client_dir}:bench:ro", GUEST_CLIENT, *map(str, args)],
                     300, env=backend_env(backend), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        benchlib.die(f"{backend} {' '.join(map(str, args))}: exit {r.returncode}: "
                     f"{r.stderr.decode(errors='replace')}")
    return r.stdout.decode(errors="replace").strip()


def one_run(binary, client_dir, backend, direction, mib, mtu, server):
    """(MB/s on the server's host clock, MB/s the guest client measured) of one transfer."""
    port = PORT if direction == "down" else PORT + 1
    guest = run_client(binary, client_dir, backend, mtu, direction, LAB_IP, port, mib).split()
    line = server.stdout.readline().split()
    if not line or line[0] != direction:
        benchlib.die(f"server did not report the {direction} transfer: {line}")
    # The client prints "<dir> <bytes> bytes <seconds> s <MB/s> MB/s ...".
    guest_mbps = float(guest[5]) if len(guest) > 5 and guest[0] == direction else float("nan")
    return int(line[1]) / float(line[2]) / 1e6, guest_mbps


def setup_times(binary, client_dir, backend, conns):
    """(median connect ms, median 1-byte echo ms) over `conns` sequential connections, timed in
    the guest."""
    out = run_client(binary, client_dir, backend, 1500, "setup", LAB_IP, PORT + 2, conns).split()
    fields = dict(zip(out[1::2], out[2::2]))  # "setup" then name value pairs
    return float(fields["connect_median_ms"]), float(fields["echo_median_ms"])


def build_client(workdir):
    r = benchlib.run(["bash", os.path.join(benchlib.REPO, "bench/net_client/build.sh"), workdir],
                     120, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        benchlib.die("bench/net_client/build.sh failed:\n" + r.stdout.decode(errors="replace"))
    return workdir


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mib", type=int, default=200)
    ap.add_argument("--conns", type=int, default=100)
    args = ap.parse_args()
    if os.geteuid() != 0:
        benchlib.die("needs root (it creates a network namespace)")
    binary = benchlib.matchlock_bin()
    with tempfile.TemporaryDirectory(prefix="matchlock-netclient-") as client_dir:
        build_client(client_dir)
        bench(args, binary, client_dir)


def bench(args, binary, client_dir):
    load_start = loadavg()
    setup_lab()
    server = subprocess.Popen(["ip", "netns", "exec", NETNS, "/usr/bin/python3", "-c", SERVER],
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        if server.stdout.readline().strip() != "ready":
            benchlib.die("lab server did not start")
        with benchlib.private_home(binary):
            print(f"== NAT throughput: guest client bench/net_client, {args.mib} MiB per transfer, "
                  f"median of {args.runs}, interleaved ==")
            print(benchlib.machine_line())
            # slirp keeps its own 1500-byte MTU, so the fair pair is at 1500; the third column
            # is what matchlock reaches when the link MTU is raised (the link never leaves
            # the host, so nothing outside sees the large frames).
            configs = [("matchlock", 1500), ("slirp", 1500), ("matchlock", 65520)]
            for direction in ("down", "up"):
                res = {c: [] for c in configs}
                for _ in range(args.runs):
                    for backend, mtu in configs:
                        res[(backend, mtu)].append(
                            one_run(binary, client_dir, backend, direction, args.mib, mtu, server))
                med = {c: statistics.median(host for host, _ in v) for c, v in res.items()}
                base = med[("slirp", 1500)]
                print(f"  {direction:4s}: -netdev user {base:7.1f} MB/s | matchlock mtu 1500 "
                      f"{med[('matchlock', 1500)]:7.1f} MB/s ({med[('matchlock', 1500)] / base:4.2f}x) | "
                      f"mtu 65520 {med[('matchlock', 65520)]:7.1f} MB/s "
                      f"({med[('matchlock', 65520)] / base:4.2f}x)   goal >= 1.5x")
                for (backend, mtu), v in res.items():
                    print(f"        runs {backend} mtu {mtu}: "
                          + ", ".join(f"{h:.1f} (guest clock {g:.1f})" for h, g in v))
            setup = {"matchlock": [], "slirp": []}
            for _ in range(args.runs):
                for b in setup:
                    setup[b].append(setup_times(binary, client_dir, b, args.conns))
            med = {b: (statistics.median(c for c, _ in v), statistics.median(e for _, e in v))
                   for b, v in setup.items()}
            print(f"  connection setup, {args.conns} sequential connect()s, guest clock, median: "
                  f"-netdev user {med['slirp'][0]:.2f} ms | matchlock {med['matchlock'][0]:.2f} ms "
                  f"({med['matchlock'][0] / med['slirp'][0]:4.2f}x)   goal <= 1.0x")
            print(f"  then a 1-byte echo, median: -netdev user {med['slirp'][1]:.2f} ms | "
                  f"matchlock {med['matchlock'][1]:.2f} ms")
            print("  " + benchlib.load_line(load_start, loadavg()))
    finally:
        benchlib.kill_group(server)
        teardown_lab()


if __name__ == "__main__":
    main()
