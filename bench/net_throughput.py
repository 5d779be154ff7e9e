#!/usr/bin/env python3
"""NAT throughput guest <-> host: matchlock's lwIP stack against the same guest on QEMU's own
`-netdev user` (slirp), measured in the same run, interleaved.

The server runs in a network namespace this script creates (veth 10.79.0.1 <-> 10.79.0.2, only
on this machine), because the engine never relays to the host's own addresses. The server
measures each transfer itself, from the connection's first byte to its last. Needs root.

usage: bench/net_throughput.py [--runs 3] [--mib 200]
"""
import argparse
import os
import socket
import statistics
import subprocess
import sys
import textwrap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

NETNS = "mlbench-net"
HOST_IP, LAB_IP = "10.79.0.1", "10.79.0.2"
PORT = 18080

# A tiny server in the namespace: GET /N streams N MiB; a raw connection on PORT+1 is an
# upload sink. Each transfer prints "down|up <bytes> <seconds>" on stdout.
SERVER = textwrap.dedent(f"""
    import socket, sys, threading, time
    CHUNK = b"\\0" * 65536
    def down(c):
        req = c.recv(4096).decode(errors="replace")
        mib = int(req.split()[1].strip("/"))
        c.sendall(b"HTTP/1.0 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n" % (mib << 20))
        t0 = time.perf_counter()
        for _ in range(mib * 16):
            c.sendall(CHUNK)
        c.shutdown(socket.SHUT_WR)
        c.recv(1)
        if mib:  # GET /0 is the connection-setup probe: nothing to report
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
    def serve(port, fn):
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("{LAB_IP}", port)); s.listen(16)
        while True:
            c, _ = s.accept()
            threading.Thread(target=fn, args=(c,), daemon=True).start()
    threading.Thread(target=serve, args=({PORT + 1}, up), daemon=True).start()
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


def one_run(binary, backend, direction, mib, mtu, server):
    env = dict(os.environ)
    env.pop("MATCHLOCK_UNSAFE_SLIRP_BASELINE", None)
    if backend == "slirp":
        env["MATCHLOCK_UNSAFE_SLIRP_BASELINE"] = "1"
    if direction == "down":
        cmd = f"wget -q -O /dev/null http://{LAB_IP}:{PORT}/{mib}"
    else:
        cmd = f"dd if=/dev/zero bs=65536 count={mib * 16} 2>/dev/null | nc {LAB_IP} {PORT + 1}"
    r = benchlib.run([binary, "run", "--image", benchlib.IMAGE, "--mtu", str(mtu), "sh", "-c", cmd],
                     300, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        benchlib.die(f"{backend} {direction}: exit {r.returncode}: {r.stderr.decode(errors='replace')}")
    line = server.stdout.readline().split()
    if not line or line[0] != direction:
        benchlib.die(f"server did not report the {direction} transfer: {line}")
    return int(line[1]) / float(line[2]) / 1e6  # MB/s


def setup_time_ms(binary, backend, connections):
    """Mean time per sequential HTTP connection (connect, tiny GET, close), timed in the guest.
    Each includes spawning busybox wget, the same for both backends."""
    env = dict(os.environ)
    env.pop("MATCHLOCK_UNSAFE_SLIRP_BASELINE", None)
    if backend == "slirp":
        env["MATCHLOCK_UNSAFE_SLIRP_BASELINE"] = "1"
    script = (f"read t0 rest < /proc/uptime; i=0; while [ $i -lt {connections} ]; do "
              f"wget -q -O /dev/null http://{LAB_IP}:{PORT}/0 || exit 1; i=$((i+1)); done; "
              "read t1 rest < /proc/uptime; echo $t0 $t1")
    r = benchlib.run([binary, "run", "--image", benchlib.IMAGE, "sh", "-c", script], 300, env=env,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        benchlib.die(f"{backend} setup: exit {r.returncode}: {r.stderr.decode(errors='replace')}")
    t0, t1 = map(float, r.stdout.split())
    return (t1 - t0) * 1000 / connections


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mib", type=int, default=200)
    args = ap.parse_args()
    if os.geteuid() != 0:
        benchlib.die("needs root (it creates a network namespace)")
    binary = benchlib.matchlock_bin()
    setup_lab()
    server = subprocess.Popen(["ip", "netns", "exec", NETNS, "/usr/bin/python3", "-c", SERVER],
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        if server.stdout.readline().strip() != "ready":
            benchlib.die("lab server did not start")
        with benchlib.private_home(binary):
            print(f"== NAT throughput: {args.mib} MiB per transfer, median of {args.runs}, interleaved ==")
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
                            one_run(binary, backend, direction, args.mib, mtu, server))
                med = {c: statistics.median(v) for c, v in res.items()}
                base = med[("slirp", 1500)]
                print(f"  {direction:4s}: -netdev user {base:7.1f} MB/s | matchlock mtu 1500 "
                      f"{med[('matchlock', 1500)]:7.1f} MB/s ({med[('matchlock', 1500)] / base:4.2f}x) | "
                      f"mtu 65520 {med[('matchlock', 65520)]:7.1f} MB/s "
                      f"({med[('matchlock', 65520)] / base:4.2f}x)   goal >= 1.5x")
            conns = 50
            setup = {b: statistics.median(setup_time_ms(binary, b, conns) for _ in range(args.runs))
                     for b in ("matchlock", "slirp")}
            print(f"  connection setup + tiny GET, {conns} sequential, per connection: "
                  f"-netdev user {setup['slirp']:.1f} ms | matchlock {setup['matchlock']:.1f} ms")
    finally:
        benchlib.kill_group(server)
        teardown_lab()


if __name__ == "__main__":
    main()
