#!/usr/bin/python3
"""exec round trip on a running sandbox: raw JSON-RPC on the control socket, the CLI, and the
guest's own spawn cost, all measured on one sandbox in one run.

One sandbox started with `matchlock run -d`, then W untimed warm-ups of each kind and N
timed sequential rounds, each round doing (a) then (b):

  (a) raw: an `exec` {"command":"true"} request written by this script on
      $MATCHLOCK_HOME/vms/<id>/control.sock (a unix socket; no process is spawned on the
      host). Round trip = request written -> response line parsed (time.perf_counter).
  (b) cli: `matchlock exec ID true` (includes starting the CLI process and its connect).
  (c) guest: one exec of the loop script of bench/rpc_exec.py, which times M spawns of
      `/bin/sh -c true` and `/bin/true` from busybox ash inside the guest. This is the
      guest kernel's fork+exec of busybox under TCG, not matchlock code.

Prints median/p90/min/max of each, the engine-reported duration_ms of (a), the per-exec
overhead (a) - (c), a histogram of (a) (the distribution has been bimodal), and the host
loadavg at start and end (the host is shared: read the figures with the load). The sandbox
is stopped with `matchlock kill` at the end, also on failure.

Usage: bench/exec_roundtrip.py [--bin PATH] [--execs 50] [--cli-execs 20] [--loop 300]
MATCHLOCK_HOME: as in bench/boot.py.
"""

import argparse
import json
import os
import socket
import subprocess
import sys

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
from rpc_exec import RpcError, guest_spawn  # noqa: E402


class ControlClient:
    """Minimal JSON-RPC client on a sandbox's control socket (one request at a time).
    call() has the signature of rpc_exec.Rpc.call, so guest_spawn() can use it."""

    def __init__(self, path, timeout):
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.next_id = 1

    def _line(self, deadline):
        while b"\n" not in self.buf:
            left = deadline - bl.now()
            if left <= 0:
                raise RpcError("no response in time")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RpcError("the owner closed the control socket")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def call(self, method, params=None, timeout=None):
        """Returns (result, seconds from request written to response parsed)."""
        rid = self.next_id
        self.next_id += 1
        msg = {"jsonrpc": "2.0", "method": method, "id": rid}
        if params is not None:
            msg["params"] = params
        data = (json.dumps(msg) + "\n").encode()
        deadline = bl.now() + (timeout or self.timeout)
        t0 = bl.now()
        self.sock.sendall(data)
        while True:
            try:
                m = json.loads(self._line(deadline))
            except ValueError:
                continue
            if m.get("id") != rid:
                continue  # a notification
            dt = bl.now() - t0
            if "error" in m:
                raise RpcError(f"{method}: error {m['error']}")
            return m.get("result", {}), dt

    def close(self):
        self.sock.close()


def start_sandbox(binary, timeout):
    r = bl.run([binary, "run", "-d", "--image", bl.IMAGE], timeout,
               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = r.stdout.decode(errors="replace").split()
    if r.returncode != 0 or not out:
        bl.die(f"run -d failed (exit {r.returncode}): {r.stderr.decode(errors='replace')[-1000:]}")
    return out[-1]


def qemu_pid(vm):
    """The QEMU of sandbox `vm`: the only qemu-system process whose command line names it."""
    pids = bl.qemu_pids_naming(vm)
    return pids[0] if pids else None


def thread_times(pid):
    """{tid: (ns on CPU, ns waiting on a run queue)} of every thread of pid (/proc schedstat)."""
    out = {}
    if pid is None:
        return out
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                run_ns, wait_ns = f.read().split()[:2]
            out[tid] = (int(run_ns), int(wait_ns))
        except (OSError, ValueError):
            pass
    return out


def vcpu_delta(before, after):
    """(on-CPU s, run-queue wait s) of the busiest QEMU thread between two samples: with one
    guest vCPU under TCG that is the vCPU thread, busy exactly while the guest executes."""
    best = (0, 0)
    for tid, (run_ns, wait_ns) in after.items():
        if tid in before:
            d = (run_ns - before[tid][0], wait_ns - before[tid][1])
            best = max(best, d)
    return best[0] / 1e9, best[1] / 1e9


def histogram(values, width_ms=1.0, bar=40):
    bins = {}
    for v in values:
        b = int(v * 1000 // width_ms)
        bins[b] = bins.get(b, 0) + 1
    top = max(bins.values())
    lines = []
    for b in range(min(bins), max(bins) + 1):
        n = bins.get(b, 0)
        lines.append(f"  {b * width_ms:5.0f}-{(b + 1) * width_ms:<3.0f} ms {n:3d} " + "#" * (n * bar // top))
    return "\n".join(lines)


def line(name, s):
    return (f"  {name:<34s} median {bl.fmt_ms(s['median'])}  p90 {bl.fmt_ms(s['p90'])}  "
            f"min {bl.fmt_ms(s['min'])}  max {bl.fmt_ms(s['max'])}")


def measure(binary, args):
    load_start = os.getloadavg()
    vm = start_sandbox(binary, args.timeout)
    try:
        path = os.path.join(os.environ["MATCHLOCK_HOME"], "vms", vm, "control.sock")
        client = ControlClient(path, args.timeout)
        qemu = qemu_pid(vm)
        cli_argv = [binary, "exec", vm, "true"]

        def raw_once():
            before = thread_times(qemu)
            r, dt = client.call("exec", {"command": "true"})
            vcpu = vcpu_delta(before, thread_times(qemu))
            if r.get("exit_code") != 0:
                raise RpcError(f"exec true: exit {r.get('exit_code')}")
            return dt, r.get("duration_ms"), vcpu

        def cli_once():
            t0 = bl.now()
            r = bl.run(cli_argv, args.timeout, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            dt = bl.now() - t0
            if r.returncode != 0:
                raise RpcError(f"matchlock exec: exit {r.returncode}: {r.stderr.decode(errors='replace')}")
            return dt

        for _ in range(args.warmup):
            raw_once()
            cli_once()
        raw, dur, cli, busy, waited = [], [], [], [], []
        # Interleaved so that both see the same host load.
        for i in range(args.execs):
            dt, d, (on_cpu, wait) = raw_once()
            raw.append(dt)
            busy.append(on_cpu)
            waited.append(wait)
            if isinstance(d, (int, float)):
                dur.append(d / 1000)
            if i < args.cli_execs:
                cli.append(cli_once())
        guest = guest_spawn(client, args.loop, args.timeout * 4)
        client.close()
        return vm, load_start, raw, dur, cli, guest, (busy, waited) if qemu else None
    finally:
        r = bl.run([binary, "kill", vm], 60, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if r.returncode != 0:
            print(f"bench: kill {vm}: exit {r.returncode}: {r.stderr.decode(errors='replace')}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin")
    ap.add_argument("--execs", type=int, default=50, help="raw JSON-RPC execs")
    ap.add_argument("--cli-execs", type=int, default=20, help="CLI execs (interleaved with the first raw ones)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--loop", type=int, default=300, help="iterations of each guest-side loop")
    ap.add_argument("--timeout", type=float, default=120, help="per-request timeout, seconds")
    args = ap.parse_args()

    binary = bl.matchlock_bin(args.bin)
    bl.install_cleanup(lambda: os.environ.get("MATCHLOCK_HOME"))
    try:
        with bl.private_home(binary):
            print("== exec on a running sandbox: `exec true` round trip (run -d, control socket) ==")
            print(bl.machine_line())
            vm, load_start, raw, dur, cli, g, vcpu = measure(binary, args)
            load_end = os.getloadavg()
            s_raw, s_cli = bl.summary(raw), bl.summary(cli)
            base = g["sh_c_true"]
            print(f"sandbox {vm}; {args.execs} raw + {args.cli_execs} cli execs, interleaved, "
                  f"after {args.warmup} warm-ups of each")
            print(line("(a) raw JSON-RPC on control.sock", s_raw))
            if dur:
                print(line("    engine-reported duration_ms", bl.summary(dur)))
            print(line("(b) CLI `matchlock exec ID true`", s_cli))
            print(f"  (c) guest spawn, {g['loop']} iterations (clock {g['clock']}): "
                  f"/bin/sh -c true {bl.fmt_ms(base)}   /bin/true {bl.fmt_ms(g['true'])}")
            print("      (c) is busybox ash's fork+exec inside the guest under TCG: the guest kernel's"
                  " cost, not matchlock code.")
            print(f"per-exec overhead (a) - (c) [sh -c true]: median {bl.fmt_ms(s_raw['median'] - base)}   "
                  f"p90 {bl.fmt_ms(s_raw['p90'] - base)}   min {bl.fmt_ms(s_raw['min'] - base)}")
            print(f"CLI cost (b) - (a): median {bl.fmt_ms(s_cli['median'] - s_raw['median'])}")
            if vcpu:
                busy, waited = vcpu
                idle = [r - b for r, b in zip(raw, busy)]
                print("QEMU vCPU thread per raw exec (/proc/<qemu>/task/*/schedstat; TCG, 1 vCPU):")
                print(line("    on CPU (guest executing)", bl.summary(busy)))
                print(line("    waiting for a host CPU", bl.summary(waited)))
                print(line("    round trip - on CPU", bl.summary(idle)))
            print("(a) distribution:")
            print(histogram(raw))
            print(bl.load_line(load_start, load_end))
    except RpcError as e:
        bl.die(str(e))
    finally:
        stray = bl.kill_strays(os.environ.get("MATCHLOCK_HOME"))
        if stray:
            print(f"bench: killed stray QEMU processes {stray}", file=sys.stderr)


if __name__ == "__main__":
    main()
