#!/usr/bin/python3
"""RPC exec benchmark: per-exec round trip of `exec` {"command":"true"} over `matchlock rpc`
against the cost of spawning the same thing inside the guest.

One `matchlock rpc` process, one sandbox (`create`), W untimed warm-up execs, then N timed
sequential `exec` of `true` (round trip = request line written -> response line parsed, on
the host, time.perf_counter). The exec runs `sh -c true` in the guest.

Guest-side baseline, measured in the same sandbox by one exec of a shell script:
  * clock: the "now at <ns> nsecs" line of /proc/timer_list (the kernel's monotonic clock,
    ns resolution, root-readable), read with the shell's `read` builtin so reading the
    clock spawns nothing; falls back to /proc/uptime (10 ms) if timer_list is unreadable.
  * loops of M iterations: `/bin/true`, `/bin/sh -c true`, and `:` (builtin, no spawn);
    spawn cost = (loop time - empty loop time) / M.
Prints median/p90 round trip, guest spawn cost, overhead = round trip - guest spawn and the
ratio round trip / guest spawn. Closes the sandbox with `close` {"timeout_seconds":0}.

Usage: bench/rpc_exec.py [--bin PATH] [--execs 50] [--loop 500] [--timeout 180]
MATCHLOCK_HOME: as in bench/boot.py.
"""

import argparse
import base64
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

GUEST_SCRIPT = r"""
M=%(loop)d
clk() {
  # sets $T (ns) without spawning anything
  if [ -r /proc/timer_list ]; then
    { read -r _ ; read -r _ ; read -r _ _ T _ ; } < /proc/timer_list
    CLK=timer_list
  else
    read -r T _ < /proc/uptime; T=${T%%.*}${T#*.}0000000; CLK=uptime
  fi
}
clk; a=$T
i=0; while [ $i -lt $M ]; do /bin/true; i=$((i+1)); done
clk; b=$T
i=0; while [ $i -lt $M ]; do /bin/sh -c true; i=$((i+1)); done
clk; c=$T
i=0; while [ $i -lt $M ]; do :; i=$((i+1)); done
clk; d=$T
echo "RESULT $CLK $M $a $b $c $d"
"""


class RpcError(Exception):
    pass


class Rpc:
    """Minimal NDJSON JSON-RPC 2.0 client for `matchlock rpc` (one request at a time)."""

    def __init__(self, binary, timeout):
        self.timeout = timeout
        self.errlog = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([binary, "rpc"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.errlog, start_new_session=True)
        self.msgs = queue.Queue()
        self.next_id = 1
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        for line in self.proc.stdout:
            try:
                self.msgs.put(json.loads(line))
            except ValueError:
                pass  # clients skip non-JSON stdout lines (protocol §1.1)
        self.msgs.put(None)  # EOF

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
        self.proc.stdin.write(data)
        self.proc.stdin.flush()
        while True:
            left = deadline - bl.now()
            if left <= 0:
                raise RpcError(f"{method}: no response within {timeout or self.timeout} s")
            try:
                m = self.msgs.get(timeout=left)
            except queue.Empty:
                continue
            if m is None:
                raise RpcError(f"{method}: engine closed stdout (exit {self.proc.poll()}): {self.stderr()}")
            if m.get("id") != rid:
                continue  # notification or unrelated
            dt = bl.now() - t0
            if "error" in m:
                raise RpcError(f"{method}: error {m['error']}")
            return m.get("result", {}), dt

    def stderr(self):
        self.errlog.seek(0)
        return self.errlog.read().decode(errors="replace")[-2000:]

    def shutdown(self, timeout=30):
        """Close stdin, wait for exit; SIGKILL the process group if it does not exit."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            bl.kill_group(self.proc)
            return None


def guest_spawn(rpc, loop, timeout):
    res, _ = rpc.call("exec", {"command": GUEST_SCRIPT % {"loop": loop}}, timeout=timeout)
    out = base64.b64decode(res.get("stdout", "")).decode(errors="replace")
    line = next((ln for ln in out.splitlines() if ln.startswith("RESULT ")), None)
    if res.get("exit_code") != 0 or not line:
        err = base64.b64decode(res.get("stderr", "")).decode(errors="replace")
        raise RpcError(f"guest loop failed (exit {res.get('exit_code')}): {out[-500:]} {err[-500:]}")
    _, clk, m, a, b, c, d = line.split()
    m, a, b, c, d = int(m), int(a), int(b), int(c), int(d)
    empty = (d - c) / m
    return {"clock": clk, "loop": m,
            "true": ((b - a) / m - empty) / 1e9,
            "sh_c_true": ((c - b) / m - empty) / 1e9,
            "empty_iter": empty / 1e9}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin")
    ap.add_argument("--execs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--loop", type=int, default=500, help="iterations of each guest-side loop")
    ap.add_argument("--timeout", type=float, default=180, help="per-request timeout, seconds")
    args = ap.parse_args()

    binary = bl.matchlock_bin(args.bin)
    bl.install_cleanup(lambda: os.environ.get("MATCHLOCK_HOME"))
    rpc = None
    failed = True
    try:
        with bl.private_home(binary):
            print("== rpc exec: `exec` {\"command\":\"true\"} round trip vs guest-side spawn ==")
            print(bl.machine_line())
            print(f"matchlock: {binary} rpc")
            probed = not os.path.exists(os.path.join(os.environ["MATCHLOCK_HOME"], "cache", "accel"))
            rpc = Rpc(binary, args.timeout)
            res, t_create = rpc.call("create", {"image": bl.IMAGE})
            vm = res.get("id")
            print(f"create: {vm} in {t_create * 1000:.0f} ms"
                  + (" (includes the one-time accelerator probe of a fresh MATCHLOCK_HOME)" if probed else ""))
            for _ in range(args.warmup):
                rpc.call("exec", {"command": "true"})
            rtt, dur = [], []
            for _ in range(args.execs):
                r, dt = rpc.call("exec", {"command": "true"})
                if r.get("exit_code") != 0:
                    raise RpcError(f"exec true: exit {r.get('exit_code')}")
                rtt.append(dt)
                if isinstance(r.get("duration_ms"), (int, float)):
                    dur.append(r["duration_ms"] / 1000)
            g = guest_spawn(rpc, args.loop, args.timeout * 4)
            _, t_close = rpc.call("close", {"timeout_seconds": 0})
            rc = rpc.shutdown()
            failed = False

            s = bl.summary(rtt)
            print(f"exec `true` x{args.execs} sequential (after {args.warmup} warm-up), host round trip:")
            print(f"  median {bl.fmt_ms(s['median'])}   p90 {bl.fmt_ms(s['p90'])}   "
                  f"min {bl.fmt_ms(s['min'])}   max {bl.fmt_ms(s['max'])}")
            if dur:
                print(f"  engine-reported duration_ms: median {bl.fmt_ms(bl.summary(dur)['median'])}")
            print(f"guest-side spawn cost (clock {g['clock']}, {g['loop']} iterations per loop, "
                  f"empty-loop iteration {g['empty_iter'] * 1e6:.0f} us subtracted):")
            print(f"  /bin/true        {bl.fmt_ms(g['true'])}")
            print(f"  /bin/sh -c true  {bl.fmt_ms(g['sh_c_true'])}   (what `exec` actually runs)")
            for name, base in (("/bin/true", g["true"]), ("/bin/sh -c true", g["sh_c_true"])):
                print(f"per-exec overhead vs {name:15s}: median {bl.fmt_ms(s['median'] - base)}   "
                      f"p90 {bl.fmt_ms(s['p90'] - base)}   ratio rtt/spawn {s['median'] / base:.1f}x")
            print(f"close: {t_close * 1000:.0f} ms, engine exit status {rc}")
    except RpcError as e:
        bl.die(f"{e}\n--- engine stderr ---\n{rpc.stderr() if rpc else ''}")
    finally:
        if rpc and failed:
            rpc.shutdown(timeout=10)
        stray = bl.kill_strays(os.environ.get("MATCHLOCK_HOME"))
        if stray:
            print(f"bench: killed stray QEMU processes {stray}", file=sys.stderr)


if __name__ == "__main__":
    main()
