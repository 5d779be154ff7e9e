#!/usr/bin/python3
"""port-forward throughput: host <-> guest TCP through `matchlock port-forward` (the agent's
virtio-serial channel), against two baselines measured in the same run, interleaved.

One `--no-network` sandbox (`matchlock run -d`) runs two busybox servers under one
`matchlock exec`, restarted after each connection:

  port 9000 (download): `nc -l -p 9000 -e dd if=/dev/zero bs=65536 count=16*MIB`
  port 9001 (upload):   `nc -l -p 9001 -e sh -c 'dd of=/dev/null bs=65536 2>&1'` (reads to EOF,
                        then answers with dd's record counts)
  port 9002 (upload, for (c)): the same, but it writes the guest clock at EOF to a file

and `matchlock port-forward ID 0:9000 0:9001` forwards two host ports to them. Each run does:

  (a) forward down: this script connects to the forwarded port and reads MIB MiB to EOF.
  (b) forward up:   it writes MIB MiB, half-closes, and waits for the server's answer (so the
                    time ends when the guest has read the last byte).
  (c) guest loopback, the same servers reached from inside the guest on 127.0.0.1, timed by
      the guest's own clock (/proc/timer_list): down `nc 127.0.0.1 9000 -e dd of=/dev/null`,
      up `nc 127.0.0.1 9002 -e dd if=/dev/zero` until the server has read EOF. dd reads and
      writes the sockets itself at both ends, as the servers do for (a) and (b). This is the
      guest-side ceiling: the guest kernel and busybox dd under TCG, not matchlock code. A
      forward also moves every byte through the agent, in the same single vCPU. It includes
      starting nc and dd in the guest (a few ms).
  (d) host loopback: the same transfer between two sockets of this script on 127.0.0.1:
      the host-side ceiling (Python on the host kernel; no guest involved).

A direct TCP connection from the host to the guest server does not exist: the sandbox has no
network, and even with one the engine's NAT only carries connections the guest opens. (c) and
(d) are the two halves such a connection would be bounded by. Prints MiB/s medians, the
forward's ratio to both baselines, and the host loadavg at start and end (the host is shared:
read the figures with the load). The sandbox is stopped with `matchlock kill`, also on failure.

Usage: bench/port_forward.py [--bin PATH] [--runs 3] [--mib 32]
MATCHLOCK_HOME: as in bench/boot.py.
"""

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

DOWN_PORT, UP_PORT, STAMP_PORT = 9000, 9001, 9002
CHUNK = 1 << 20

# The guest clock in ns, read without spawning a process.
CLK = "{ read -r _ ; read -r _ ; read -r _ _ T _ ; } < /proc/timer_list"

# The servers in the background of one exec; each nc serves one connection, then restarts.
SERVERS = (f"while :; do nc -l -p {DOWN_PORT} -e dd if=/dev/zero bs=65536 count=%(blocks)d"
           f" 2>/dev/null; done & "
           f"while :; do nc -l -p {UP_PORT} -e sh -c 'dd of=/dev/null bs=65536 2>&1'; done & "
           f"while :; do nc -l -p {STAMP_PORT} -e sh -c 'r=$(dd of=/dev/null bs=65536 2>&1); "
           f"{CLK}; echo $T $r > /tmp/up-end'; done & "
           "wait")

# Guest-side clients of the same servers, timed with the guest clock. Each retries until the
# server answers: a loop may be between two nc's.
GUEST_DOWN = (f"i=0; while [ $i -lt 50 ]; do {CLK}; a=$T; "
              f"r=$(nc 127.0.0.1 {DOWN_PORT} -e dd of=/dev/null bs=65536 2>&1); "
              f"{CLK}; b=$T; case \"$r\" in 0+0' records in'*) ;; *'records in'*) break;; esac; "
              "i=$((i+1)); sleep 0.2; done; echo \"RESULT $((b-a)) $r\"")
# Up: dd writes into the socket itself (a pipe through busybox nc caps at ~4 MiB/s under TCG,
# which would measure nc's small buffer); the server stamps the guest clock when it has read EOF.
GUEST_UP = (f"i=0; while [ $i -lt 50 ]; do rm -f /tmp/up-end; {CLK}; a=$T; "
            f"nc 127.0.0.1 {STAMP_PORT} -e dd if=/dev/zero bs=65536 count=%(blocks)d 2>/dev/null; "
            "j=0; while [ ! -s /tmp/up-end ] && [ $j -lt 100 ]; do sleep 0.05; j=$((j+1)); done; "
            "[ -s /tmp/up-end ] && break; i=$((i+1)); sleep 0.2; done; "
            "read -r b r < /tmp/up-end; echo \"RESULT $((b-a)) $r\"")


class BenchError(Exception):
    pass


def start_sandbox(binary, timeout):
    r = bl.run([binary, "run", "-d", "--no-network", "--image", bl.IMAGE], timeout,
               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = r.stdout.decode(errors="replace").split()
    if r.returncode != 0 or not out:
        bl.die(f"run -d failed (exit {r.returncode}): {r.stderr.decode(errors='replace')[-1000:]}")
    return out[-1]


def start_forward(binary, vm, timeout):
    """`matchlock port-forward ID 0:9000 0:9001` -> (process, {guest port: host port})."""
    p = subprocess.Popen([binary, "port-forward", vm, f"0:{DOWN_PORT}", f"0:{UP_PORT}"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    ports = {}
    deadline = time.monotonic() + timeout
    while len(ports) < 2:
        line = p.stdout.readline()  # printed as soon as the listeners are bound
        m = re.match(rb"Forwarding 127\.0\.0\.1:(\d+) -> (\d+)\n", line)
        if not m or time.monotonic() > deadline:
            bl.kill_group(p)
            raise BenchError(f"port-forward: unexpected output {line!r}")
        ports[int(m.group(2))] = int(m.group(1))
    return p, ports


def retrying(attempt, timeout):
    """Runs attempt() until it returns a value: a reset, or an EOF before any data, means the
    guest server was between two connections (the forward resets when nothing listens)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = attempt()
            if result is not None:
                return result
        except (ConnectionResetError, BrokenPipeError, ConnectionRefusedError):
            pass
        if time.monotonic() > deadline:
            raise BenchError("the guest server did not answer through the forward in time")
        time.sleep(0.2)


def download(port, size, timeout):
    """Seconds from connect to EOF for `size` bytes, or None when the server was not there."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        t0 = bl.now()
        n = 0
        while True:
            b = s.recv(CHUNK)
            if not b:
                break
            n += len(b)
        dt = bl.now() - t0
    if n == 0:
        return None
    if n != size:
        raise BenchError(f"download: {n} bytes, expected {size}")
    return dt


def upload(port, size, timeout):
    """Seconds from connect to the server's answer (sent after it read EOF)."""
    block = b"\0" * CHUNK
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        t0 = bl.now()
        left = size
        while left:
            left -= s.send(block[:min(left, CHUNK)])
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            reply += b
        dt = bl.now() - t0
    if b"records in" not in reply:
        return None
    return dt


def host_loopback(direction, size):
    """The same transfer between two sockets of this process on 127.0.0.1."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        result = {}

        def serve():
            c, _ = listener.accept()
            with c:
                if direction == "down":
                    block = b"\0" * CHUNK
                    left = size
                    while left:
                        left -= c.send(block[:min(left, CHUNK)])
                else:
                    while c.recv(CHUNK):
                        pass
                    c.sendall(b"0+0 records in\n")

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        result = download(port, size, 60) if direction == "down" else upload(port, size, 60)
        t.join(60)
        return result


def guest_loopback(binary, vm, script, timeout):
    """Seconds the guest clock measured around its own client (dd reports no byte count, so the
    guest's figure is checked only for data having flowed: `records in`, and not 0+0)."""
    r = bl.run([binary, "exec", vm, "--", "sh", "-c", script], timeout,
               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = r.stdout.decode(errors="replace")
    m = re.search(r"^RESULT (\d+) (.*)$", out, re.M)
    if r.returncode != 0 or not m or "records in" not in m.group(2) or m.group(2).startswith("0+0"):
        raise BenchError(f"guest loopback failed (exit {r.returncode}): {out[-500:]} "
                         f"{r.stderr.decode(errors='replace')[-500:]}")
    return int(m.group(1)) / 1e9


def mib_s(size, seconds):
    return size / seconds / (1 << 20)


def measure(binary, args):
    size = args.mib << 20
    blocks = size // 65536
    vm = start_sandbox(binary, args.timeout)
    servers = forward = None
    try:
        servers = subprocess.Popen([binary, "exec", vm, "--", "sh", "-c", SERVERS % {"blocks": blocks}],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        forward, ports = start_forward(binary, vm, args.timeout)
        kinds = {
            "fwd down": lambda: retrying(lambda: download(ports[DOWN_PORT], size, args.timeout), args.timeout),
            "guest down": lambda: guest_loopback(binary, vm, GUEST_DOWN, args.timeout),
            "host down": lambda: host_loopback("down", size),
            "fwd up": lambda: retrying(lambda: upload(ports[UP_PORT], size, args.timeout), args.timeout),
            "guest up": lambda: guest_loopback(binary, vm, GUEST_UP % {"blocks": blocks}, args.timeout),
            "host up": lambda: host_loopback("up", size),
        }
        kinds["fwd down"]()  # warm-up (and waits for the servers to be up)
        kinds["fwd up"]()
        res = {k: [] for k in kinds}
        for _ in range(args.runs):  # interleaved, so that all kinds see the same load
            for k, fn in kinds.items():
                res[k].append(mib_s(size, fn()))
        return vm, res
    finally:
        for p in (forward, servers):
            if p is not None:
                bl.kill_group(p)
        r = bl.run([binary, "kill", vm], 60, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if r.returncode != 0:
            print(f"bench: kill {vm}: exit {r.returncode}: {r.stderr.decode(errors='replace')}",
                  file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mib", type=int, default=32, help="MiB per transfer")
    ap.add_argument("--timeout", type=float, default=180, help="per-step timeout, seconds")
    args = ap.parse_args()

    binary = bl.matchlock_bin(args.bin)
    bl.install_cleanup(lambda: os.environ.get("MATCHLOCK_HOME"))
    try:
        with bl.private_home(binary):
            print(f"== port-forward throughput: {args.mib} MiB per transfer, median of {args.runs}, "
                  "interleaved ==")
            print(bl.machine_line())
            load_start = os.getloadavg()
            vm, res = measure(binary, args)
            load_end = os.getloadavg()
            med = {k: statistics.median(v) for k, v in res.items()}
            print(f"sandbox {vm} (--no-network); MiB/s, median [min-max]:")
            for k, v in res.items():
                print(f"  {k:<11s} {med[k]:8.1f}  [{min(v):.1f}-{max(v):.1f}]")
            for d in ("down", "up"):
                fwd = med[f"fwd {d}"]
                print(f"  {d:<4s} forward / guest loopback {fwd / med[f'guest {d}']:5.2f}x   "
                      f"forward / host loopback {fwd / med[f'host {d}']:6.3f}x")
            print("  fwd:   host socket -> matchlock port-forward -> virtio-serial -> guest agent ->"
                  " busybox nc/dd in the guest")
            print("  guest: busybox nc/dd to busybox nc/dd on the guest's 127.0.0.1 under TCG:"
                  " the guest kernel and busybox, not matchlock code (the guest-side ceiling)")
            print("  host:  Python sockets on the host's 127.0.0.1, no guest (the host-side ceiling)")
            print(bl.load_line(load_start, load_end))
    except BenchError as e:
        bl.die(str(e))
    finally:
        stray = bl.kill_strays(os.environ.get("MATCHLOCK_HOME"))
        if stray:
            print(f"bench: killed stray QEMU processes {stray}", file=sys.stderr)


if __name__ == "__main__":
    main()
