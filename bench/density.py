#!/usr/bin/python3
"""Density benchmark: how many idle sandboxes fit, and what each idle one costs the host.

Starts idle sandboxes one after another (`matchlock run -d --image matchlock/busybox:latest
-- sleep infinity`: the command sleeps, so the guest holds one sleeping process besides its
agent) until N run or one fails to start, then measures every running sandbox:

  * start: wall time of each `run -d` (it returns once the sandbox is running);
  * memory, from /proc/PID/smaps_rollup and /proc/PID/smaps of the owner (the detached
    `matchlock run -d` process, plus any non-QEMU children) and of its QEMU:
      - guest RAM touched: QEMU's Rss of the guest-RAM memfd mapping(s) ("memory-backend-memfd");
      - QEMU rest: QEMU's Pss minus the guest-RAM mappings' Pss (TCG code buffer, device
        state, the kernel and initramfs files QEMU keeps mapped, shared with other QEMUs);
      - owner: the owner's Pss minus its share of the guest-RAM memfd (the virtio-fs server
        in the owner maps it too);
      - host per sandbox = owner Pss + QEMU Pss (Pss splits pages shared between processes,
        so the guest RAM the two share, and the binaries all sandboxes share, count once);
  * idle CPU: utime+stime deltas (/proc/PID/stat, all threads) of owner and QEMU over a
    window (--window seconds) after a settle time, as % of one core per sandbox, and their
    context switches per second (each wake-up of an idle thread is one);
  * the host: loadavg and MemAvailable before the first start and after the last window.

Every sandbox it started is killed at the end, on failure and on Ctrl-C/SIGTERM; owners and
QEMUs left behind with our private MATCHLOCK_HOME (an interrupted start) are killed too. It also stops starting sandboxes when the
host's MemAvailable falls below --min-available-mib (the host is shared).

Usage: bench/density.py [--bin PATH] [--count 64] [--window 20] [--settle 10]
                        [--min-available-mib 3072] [--timeout 180]
MATCHLOCK_HOME: as in bench/boot.py.
"""

import argparse
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

GUEST_RAM = "memfd:memory-backend-memfd"  # QEMU's name for a memory-backend-memfd object
HEADER = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ (\S+) (\d+)\s*(.*)$")
TICK = os.sysconf("SC_CLK_TCK")


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def mem_available_mib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def rollup_pss_kib(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def guest_ram_kib(pid):
    """(Rss, Pss) in KiB of the guest-RAM memfd mappings of a process, from /proc/PID/smaps."""
    rss = pss = 0
    inside = False
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = HEADER.match(line)
            if m:
                inside = GUEST_RAM in m.group(5)
            elif inside and line.startswith("Rss:"):
                rss += int(line.split()[1])
            elif inside and line.startswith("Pss:"):
                pss += int(line.split()[1])
    return rss, pss


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)


def context_switches(pid):
    """Voluntary + involuntary context switches of all threads: each wake-up of an idle thread
    is one."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                        total += int(line.split()[1])
    return total


def children(pid):
    """Direct and indirect children of pid."""
    parent = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            with contextlib.suppress(OSError, IndexError):
                with open(f"/proc/{p}/stat") as f:
                    parent[int(p)] = int(f.read().rsplit(")", 1)[1].split()[1])
    out, todo = [], [pid]
    while todo:
        cur = todo.pop()
        kids = [p for p, pp in parent.items() if pp == cur]
        out += kids
        todo += kids
    return out


class Sandbox:
    def __init__(self, sid, owner, qemu, start_s):
        self.id, self.owner, self.qemu, self.start_s = sid, owner, qemu, start_s
        # The owner's other children (none today) count with the owner.
        self.owner_side = [owner] + [p for p in children(owner) if p != qemu]

    def memory(self):
        """KiB: guest RAM touched, QEMU rest, owner, host total (owner + QEMU Pss)."""
        q_rss, q_ram_pss = guest_ram_kib(self.qemu)
        q_pss = rollup_pss_kib(self.qemu)
        o_pss = o_ram_pss = 0
        for p in self.owner_side:
            with contextlib.suppress(OSError):
                o_pss += rollup_pss_kib(p)
                o_ram_pss += guest_ram_kib(p)[1]
        return {"ram": q_rss, "qemu_rest": q_pss - q_ram_pss, "owner": o_pss - o_ram_pss,
                "total": q_pss + o_pss}

    def ticks(self):
        """(owner CPU ticks, QEMU CPU ticks, owner context switches, QEMU context switches)"""
        owner = owner_cs = 0
        for p in self.owner_side:
            with contextlib.suppress(OSError):
                owner += cpu_ticks(p)
                owner_cs += context_switches(p)
        return owner, cpu_ticks(self.qemu), owner_cs, context_switches(self.qemu)


def start_one(binary, timeout):
    t0 = bl.now()
    r = bl.run([binary, "run", "-d", "--image", bl.IMAGE, "--", "sleep", "infinity"], timeout,
               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = bl.now() - t0
    sid = r.stdout.decode(errors="replace").strip()
    if r.returncode != 0 or not re.fullmatch(r"vm-[0-9a-f]+", sid):
        return None, dt, f"exit {r.returncode}: {r.stderr.decode(errors='replace')[-1500:]}"
    return sid, dt, None


def lookup(binary, sid, timeout):
    r = bl.run([binary, "get", sid], timeout, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        return None
    info = json.loads(r.stdout)
    return info.get("owner_pid"), info.get("qemu_pid")


def kill_all(binary, ids, timeout):
    """`matchlock kill` in batches; returns the ids it could not stop."""
    failed = []
    for i in range(0, len(ids), 16):
        batch = ids[i:i + 16]
        with contextlib.suppress(subprocess.TimeoutExpired):
            r = bl.run([binary, "kill", *batch], timeout, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
            if r.returncode == 0:
                continue
        failed += batch
    return failed


def kib_mib(kib):
    return f"{kib / 1024:9.1f}"


def measure_cpu(sandboxes, window):
    """Per sandbox over `window` seconds: (owner, QEMU) % of one core, then (owner, QEMU)
    context switches per second."""
    before = [s.ticks() for s in sandboxes]
    t0 = time.monotonic()
    time.sleep(window)  # the measurement window itself, not a synchronisation
    after = [s.ticks() for s in sandboxes]
    span = time.monotonic() - t0
    return [(100.0 * (a[0] - b[0]) / TICK / span, 100.0 * (a[1] - b[1]) / TICK / span,
             (a[2] - b[2]) / span, (a[3] - b[3]) / span) for a, b in zip(after, before)]


def stats_line(label, values, fmt):
    if not values:
        return f"  {label:28s} -"
    return (f"  {label:28s} median {fmt(statistics.median(values))}   mean {fmt(statistics.mean(values))}"
            f"   min {fmt(min(values))}   max {fmt(max(values))}")


def report(sandboxes, window, load0, avail0):
    print(f"settled; idle CPU over a {window:.0f} s window, memory after it "
          f"(loadavg {' '.join(f'{x:.2f}' for x in loadavg())}):")
    cpu = measure_cpu(sandboxes, window)
    mems = []
    for s in sandboxes:
        with contextlib.suppress(OSError):
            mems.append(s.memory())
    pct = lambda v: f"{v:5.2f} %"  # noqa: E731
    mib = lambda v: f"{v / 1024:6.1f} MiB"  # noqa: E731
    print(f"per sandbox ({len(sandboxes)} running), idle CPU in % of one core:")
    print(stats_line("owner", [c[0] for c in cpu], pct))
    print(stats_line("QEMU", [c[1] for c in cpu], pct))
    print(stats_line("owner + QEMU", [c[0] + c[1] for c in cpu], pct))
    rate = lambda v: f"{v:5.1f}/s"  # noqa: E731
    print(stats_line("owner wake-ups", [c[2] for c in cpu], rate))
    print(stats_line("QEMU wake-ups", [c[3] for c in cpu], rate))
    over = sum(1 for c in cpu if c[0] + c[1] > 2.0)
    print(f"  sandboxes over 2 % of a core: {over}   all sandboxes together: "
          f"{sum(c[0] + c[1] for c in cpu):.1f} % of one core ({os.cpu_count()} cpus)")
    print("per sandbox, memory:")
    for key, label in (("ram", "guest RAM touched (QEMU Rss)"), ("qemu_rest", "QEMU Pss beyond guest RAM"),
                       ("owner", "owner Pss"), ("total", "host: owner + QEMU Pss")):
        print(stats_line(label, [m[key] for m in mems], mib))
    beyond = [m["qemu_rest"] + m["owner"] for m in mems]
    print(stats_line("host beyond guest RAM", beyond, mib))
    avail1 = mem_available_mib()
    print(f"host MemAvailable: {avail0:.0f} MiB before, {avail1:.0f} MiB now: "
          f"{(avail0 - avail1) / max(1, len(sandboxes)):.1f} MiB per sandbox (whole host; others' work included)")
    print(bl.load_line(load0, loadavg()))


def measure(binary, args, ids, sandboxes):
    """Starts sandboxes (appending to ids / sandboxes as they start) and prints the figures."""
    load0, avail0 = loadavg(), mem_available_mib()
    print(f"== density: idle sandboxes `run -d --image {bl.IMAGE} -- sleep infinity`, "
          f"up to {args.count} ==")
    print(bl.machine_line() + f", MemAvailable {avail0:.0f} MiB")
    print(f"matchlock: {binary}")
    print("each start, and that sandbox's memory right after it (MiB; columns as in the summary);"
          " the host's 1-min loadavg and MemAvailable:")
    print(f"  {'n':>3s} {'start':>9s}  {'guest RAM':>9s} {'QEMU rest':>9s} {'owner':>7s} "
          f"{'total':>7s}  {'load':>6s} {'avail':>7s}")
    t_all = bl.now()
    for n in range(1, args.count + 1):
        avail = mem_available_mib()
        if avail < args.min_available_mib:
            print(f"stopping: host MemAvailable {avail:.0f} MiB < {args.min_available_mib:.0f}")
            break
        sid, dt, err = start_one(binary, args.timeout)
        if sid:
            ids.append(sid)
        if err:
            print(f"  start {n} failed after {dt:.1f} s: {err}")
            break
        pids = lookup(binary, sid, args.timeout)
        if not pids or not all(pids):
            print(f"  start {n}: `get {sid}` names no owner/QEMU pid")
            break
        s = Sandbox(sid, pids[0], pids[1], dt)
        sandboxes.append(s)
        m = s.memory()
        print(f"  {n:3d} {dt:7.2f} s  {kib_mib(m['ram'])}   {kib_mib(m['qemu_rest'])}   "
              f"{kib_mib(m['owner'])} {kib_mib(m['total'])}  "
              f"{loadavg()[0]:6.2f} {mem_available_mib():7.0f}", flush=True)
    total = bl.now() - t_all
    if not sandboxes:
        bl.die("no sandbox started")
    starts = [s.start_s for s in sandboxes]
    print(f"started {len(sandboxes)} of {args.count} in {total:.0f} s; start wall time: "
          f"median {statistics.median(starts):.2f} s, first {starts[0]:.2f} s, "
          f"last {starts[-1]:.2f} s, max {max(starts):.2f} s")
    time.sleep(args.settle)  # let the last boots' page-cache and CPU tails end
    report(sandboxes, args.window, load0, avail0)


def cleanup(binary, timeout, ids, sandboxes):
    """Kills every sandbox we started, also when measuring failed half-way."""
    if ids:
        failed = kill_all(binary, ids, timeout)
        if failed:
            print(f"bench: could not kill {failed}", file=sys.stderr)
    for s in sandboxes:  # an owner that outlived `kill` (it should not): by pid
        with contextlib.suppress(OSError):
            with open(f"/proc/{s.owner}/cmdline", "rb") as f:
                if binary.encode() in f.read():
                    os.kill(s.owner, signal.SIGKILL)
    stray = owners_of_home(binary, os.environ.get("MATCHLOCK_HOME"))
    for pid in stray:  # e.g. the detached owner of a `run -d` interrupted before it printed an id
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    stray += bl.kill_strays(os.environ.get("MATCHLOCK_HOME"))
    if stray:
        print(f"bench: killed stray processes {stray}", file=sys.stderr)


def owners_of_home(binary, home):
    """Pids of our matchlock binary running with our private MATCHLOCK_HOME."""
    if not home:
        return []
    mark = f"MATCHLOCK_HOME={home}".encode()
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            with open(f"/proc/{p}/cmdline", "rb") as f:
                argv0 = f.read().split(b"\0")[0]
            if argv0 != binary.encode():
                continue
            with open(f"/proc/{p}/environ", "rb") as f:
                if mark in f.read().split(b"\0"):
                    pids.append(int(p))
    return pids


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin")
    ap.add_argument("--count", type=int, default=64, help="sandboxes to start (default 64)")
    ap.add_argument("--window", type=float, default=20, help="idle CPU window, seconds")
    ap.add_argument("--settle", type=float, default=10,
                    help="seconds between the last start and the CPU window")
    ap.add_argument("--min-available-mib", type=float, default=3072,
                    help="stop starting sandboxes when MemAvailable drops below this")
    ap.add_argument("--timeout", type=float, default=180, help="per-process timeout, seconds")
    args = ap.parse_args()

    binary = bl.matchlock_bin(args.bin)
    bl.bundle_dir(binary)
    ids, sandboxes = [], []

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)  # unwinds through the cleanup below
    signal.signal(signal.SIGTERM, on_signal)
    with bl.private_home(binary):
        try:
            measure(binary, args, ids, sandboxes)
        finally:
            cleanup(binary, args.timeout, ids, sandboxes)


if __name__ == "__main__":
    main()
