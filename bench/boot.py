#!/usr/bin/python3
"""Boot benchmark: `matchlock run --image matchlock/busybox:latest true`, cold (`--cold`: the
kernel boots) and warm (the saved guest is restored, docs/warm-start.md), against bare QEMU
booting the same vmlinux with the baseline initramfs (bench/baseline: a static init that
prints BASELINE_MARKER and powers off), with the same machine flags and kernel command line
as the engine.

Wall-clock from process start to process exit, N runs of each, interleaved (A B C A B C ...),
after one untimed warm-up of each (the first warm-up makes the save). Prints medians, min/max,
the ratios cold/bare (goal <= 1.25) and warm/cold (goal <= 0.2), then rpc `create` round trips
(request to response) warm and cold.
Then (unless --no-breakdown) extra, untimed runs that split matchlock's time: one under
strace for host-side phases, three with `dmesg` for guest-side milestones (guest clock).

Usage: bench/boot.py [--bin PATH] [--runs 5] [--timeout 180] [--no-breakdown]
MATCHLOCK_HOME: used as is when set (must hold the image); otherwise a temporary home is
created, the image imported from <bin dir>/images/matchlock-busybox.tar, and removed.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

MARKER = b"BASELINE_MARKER"
# Options of the engine's QEMU command line that describe the machine (kept for the bare run);
# every device/backend option is dropped, -initrd is swapped for the baseline initramfs. The one
# -object kept is the guest RAM (memory-backend-*): -M names it as the machine's memory, and
# QEMU refuses to start when that backend is missing. The engine hands QEMU its files as
# inherited fds (-add-fd, and -kernel /proc/self/fd/N): the bare QEMU opens the kernel by path.
DROP = {"-chardev", "-serial", "-drive", "-device", "-mon", "-monitor", "-qmp", "-netdev",
        "-object", "-nic", "-net", "-incoming", "-add-fd"}
KEEP_OBJECT = "memory-backend-"


def engine_fallback_argv(kernel):
    """Mirror of engine/src/vm/qemu_command.cpp (qemu_argv, kernel_cmdline) for a TCG guest
    with the run defaults (1 vcpu, 512 MiB), used only when strace is unavailable."""
    args = ["console=ttyS0", "panic=-1", "reboot=t", "rdinit=/init", "tsc=reliable",
            "mitigations=off", "no_timer_check", "pci=off", "nokaslr", "i8042.noaux",
            "i8042.nokbd", "cryptomgr.notests", "random.trust_cpu=on", "quiet", "loglevel=1"]
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("cpu MHz"):
                args.append("tsc_early_khz=%d" % round(float(line.split(":")[1]) * 1000))
                break
    args += ["fuse.direct_read_min_kib=128", "virtio_mmio.ring_max=0,256,256,64",
             "ipv6.disable_ipv6=1", "sysctl.net.core.bpf_jit_enable=0"]
    # The run's workspace is virtio-fs, so the guest RAM is a shared memfd named by -M.
    return ["qemu-system-x86_64", "-M", "microvm,x-option-roms=off,memory-backend=ram",
            "-bios", "qboot.rom", "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
            "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
            "-accel", "tcg", "-cpu", "max,-erms,-fsrm",
            "-object", "memory-backend-memfd,id=ram,size=512M,share=on",
            "-smp", "1", "-m", "512M", "-kernel", kernel, "-initrd", "(engine initrd)",
            "-append", " ".join(args)]


def bare_argv_from(engine_argv, baseline_cpio, kernel):
    out = [engine_argv[0]]
    i = 1
    while i < len(engine_argv):
        opt = engine_argv[i]
        has_val = i + 1 < len(engine_argv) and not engine_argv[i + 1].startswith("-")
        val = engine_argv[i + 1] if has_val else None
        i += 2 if has_val else 1
        if opt in DROP and not (opt == "-object" and (val or "").startswith(KEEP_OBJECT)):
            continue
        if opt == "-initrd":
            val = baseline_cpio
        if opt == "-kernel":
            val = kernel
        out += [opt] + ([val] if val is not None else [])
    return out + ["-serial", "stdio"]


def build_baseline(workdir):
    r = bl.run(["bash", os.path.join(bl.REPO, "bench/baseline/build.sh"), workdir], 300,
               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        bl.die("bench/baseline/build.sh failed:\n" + r.stdout.decode(errors="replace"))
    return os.path.join(workdir, "baseline.cpio")


def run_matchlock(binary, timeout, cmd=("true",), flags=()):
    t0 = bl.now()
    r = bl.run([binary, "run", "--image", bl.IMAGE, *flags, *cmd], timeout,
               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = bl.now() - t0
    if r.returncode != 0:
        bl.die(f"matchlock run exited {r.returncode}: {r.stderr.decode(errors='replace')[-2000:]}")
    return dt


def rpc_create(binary, timeout, cold):
    """Seconds from writing `create` to reading its response, in a fresh `matchlock rpc`."""
    params = {"image": bl.IMAGE}
    if cold:
        params["cold"] = True
    p = subprocess.Popen([binary, "rpc"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        t0 = bl.now()
        p.stdin.write((json.dumps({"jsonrpc": "2.0", "id": 1, "method": "create",
                                   "params": params}) + "\n").encode())
        p.stdin.flush()
        reply = json.loads(p.stdout.readline() or b"{}")
        dt = bl.now() - t0
        if "result" not in reply:
            bl.die(f"rpc create failed: {reply} {p.stderr.read().decode(errors='replace')[-2000:]}")
        p.stdin.write(b'{"jsonrpc":"2.0","id":2,"method":"close","params":{"timeout_seconds":0}}\n')
        p.stdin.close()
        p.wait(timeout)
        return dt
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def run_guest_log(binary, timeout):
    r = bl.run([binary, "run", "--image", bl.IMAGE, "--cold", "--", "sh", "-c",
                "cat /proc/uptime; dmesg"],
               timeout, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        bl.die(f"matchlock run (dmesg) exited {r.returncode}: {r.stderr.decode(errors='replace')[-2000:]}")
    return r.stdout.decode(errors="replace")


def run_bare(argv, timeout):
    t0 = bl.now()
    r = bl.run(argv, timeout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    dt = bl.now() - t0
    if r.returncode != 0 or MARKER not in r.stdout:
        bl.die(f"bare QEMU exited {r.returncode} without {MARKER.decode()}: "
               f"{r.stdout.decode(errors='replace')[-2000:]}")
    m = re.search(rb"\[\s*(\d+\.\d+)\] reboot: Power down", r.stdout)
    return dt, (float(m.group(1)) if m else None)


def traced_run(binary, timeout, tracefile):
    """One matchlock run under strace (execve + exits only, filtered with seccomp-bpf so the
    traced processes are not stopped on other syscalls). The guest command prints its uptime
    and the kernel log. Returns (events, guest stdout)."""
    cmd = ["strace", "-f", "--seccomp-bpf", "-ttt", "-s", "8192", "-v",
           "-e", "trace=execve,exit_group", "-e", "signal=none", "-o", tracefile,
           binary, "run", "--image", bl.IMAGE, "--cold", "--", "sh", "-c",
           "cat /proc/uptime; dmesg"]
    r = bl.run(cmd, timeout, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        bl.die(f"traced matchlock run exited {r.returncode}: {r.stderr.decode(errors='replace')[-2000:]}")
    return bl.parse_strace(tracefile), r.stdout.decode(errors="replace")


def qemu_exec(events):
    """The sandbox's QEMU (not the accelerator probe, which runs on a fresh MATCHLOCK_HOME)."""
    for pid, t, kind, argv in events:
        if (kind == "execve" and argv and "qemu-system" in os.path.basename(argv[0])
                and not any("matchlock.probe=1" in a for a in argv)):
            return pid, t, argv
    return None, None, None


def guest_milestones(out):
    """Guest-clock milestones (seconds) from `cat /proc/uptime; dmesg` output."""
    lines = out.splitlines()
    ms = {}
    if lines and re.match(r"^\d+\.\d+ ", lines[0]):
        ms["command"] = float(lines[0].split()[0])
    pats = {"init": r"^Run /init as init process", "mounted": r"^EXT4-fs \(vd.\): mounted"}
    for line in lines:
        m = re.match(r"^\[\s*(\d+\.\d+)\] (.*)$", line)
        if not m:
            continue
        t, text = float(m.group(1)), m.group(2)
        for key, pat in pats.items():
            if re.search(pat, text) and (key == "mounted" or key not in ms):
                ms[key] = t
        # "sched_clock: Marking stable (gtod, gtod_off)->(raw, off)": raw TSC clock (time
        # since the vCPU started) minus ktime (the guest clock) = boot before guest clock 0.
        sm = re.search(r"sched_clock: Marking stable \((-?\d+), (-?\d+)\)->\((-?\d+), (-?\d+)\)", text)
        if sm:
            gtod, off, raw = int(sm.group(1)), int(sm.group(2)), int(sm.group(3))
            ms["pre_clock"] = (raw - gtod - off) / 1e9
    return ms


def breakdown(events, guest_outs, bare_med, bare_guest):
    def row(label, seconds):
        print(f"  {label:70s}{seconds * 1000:7.0f} ms")

    print("breakdown (indicative, single runs; not part of the timed figures):")
    top = next((e for e in events if e[2] == "execve"), None)
    qpid, q_t0, _ = qemu_exec(events)
    q_t1 = next((t for pid, t, k, _ in events if k == "exit" and pid == qpid), None)
    m_t1 = next((t for pid, t, k, _ in events if k == "exit" and top and pid == top[0]), None)
    if top and None not in (q_t0, q_t1, m_t1):
        print(" host side, one run under strace -f (execve/exit timestamps; strace slows QEMU):")
        row("matchlock start -> QEMU exec (state, upper-disk copy, accel cache)", q_t0 - top[1])
        row("QEMU exec -> QEMU exit", q_t1 - q_t0)
        row("QEMU exit -> matchlock exit", m_t1 - q_t1)
    else:
        print(" host side: strace output incomplete; skipped")
    stones = [guest_milestones(o) for o in guest_outs]
    keys = ["pre_clock", "init", "mounted", "command"]
    med = {}
    for k in keys:
        vals = [m[k] for m in stones if k in m]
        if vals:
            med[k] = statistics.median(vals)
    print(f" guest side, median of {len(stones)} untraced runs of `cat /proc/uptime; dmesg` (guest clock):")
    if "pre_clock" in med:
        row("vCPU start -> guest clock 0 (early kernel; from sched_clock TSC lead)", med["pre_clock"])
    # The bundle's kernel has the drivers built in: they probe before /init, in the kernel boot.
    steps = [("guest clock 0 -> 'Run /init' (kernel boot, device probes included)", "init", None),
             ("/init: initramfs mounts, lo/eth0 up, ext4 mounts of both disks", "mounted", "init"),
             ("overlay root, switch_root, HELLO, CONFIG, READY, exec spawn", "command", "mounted")]
    for label, end, start in steps:
        if end in med and (start is None or start in med):
            row(label, med[end] - (med[start] if start else 0.0))
    if "command" in med:
        row("= guest clock when the command ran", med["command"])
    if bare_guest is not None:
        print(" bare (median run):")
        row("guest clock at 'reboot: Power down'", bare_guest)
        row("wall - that (QEMU start, vCPU start -> guest clock 0, QEMU exit)", bare_med - bare_guest)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=180, help="per-process timeout, seconds")
    ap.add_argument("--no-breakdown", action="store_true")
    args = ap.parse_args()

    binary = bl.matchlock_bin(args.bin)
    bundle = bl.bundle_dir(binary)
    work = tempfile.mkdtemp(prefix="matchlock-bench-boot-")
    bl.install_cleanup(lambda: os.environ.get("MATCHLOCK_HOME"))
    try:
        with bl.private_home(binary):
            baseline = build_baseline(work)
            have_strace = shutil.which("strace") is not None
            # Warm-up (untimed) doubling as the capture of the engine's exact QEMU argv.
            events, guest_out = (traced_run(binary, args.timeout, os.path.join(work, "trace"))
                                 if have_strace else (None, None))
            src = "captured from the engine's own QEMU invocation (strace)"
            eng = qemu_exec(events)[2] if events else None
            if not eng:
                run_matchlock(binary, args.timeout)
                eng = engine_fallback_argv(os.path.join(bundle, "vmlinux"))
                src = "mirrored from engine/src/vm/qemu_command.cpp (strace unavailable)"
            bare = bare_argv_from(eng, baseline, os.path.join(bundle, "vmlinux"))
            run_bare(bare, args.timeout)  # warm-up

            run_matchlock(binary, args.timeout)  # warm-up: restores the save the trace made

            print("== boot: `matchlock run --image matchlock/busybox:latest true`, cold and warm, "
                  "vs bare QEMU ==")
            print(bl.machine_line())
            print(f"matchlock: {binary}")
            print(f"bare argv ({src}):")
            print("  " + " ".join(a if " " not in a else repr(a) for a in bare))
            print(f"{args.runs} runs each, interleaved, wall-clock process start -> exit")
            cold, warm, b, bg = [], [], [], []
            for i in range(args.runs):
                cold.append(run_matchlock(binary, args.timeout, flags=("--cold",)))
                warm.append(run_matchlock(binary, args.timeout))
                dt, g = run_bare(bare, args.timeout)
                b.append(dt)
                bg.append(g)
                print(f"  run {i + 1}: cold {bl.fmt_ms(cold[-1])}   warm {bl.fmt_ms(warm[-1])}"
                      f"   bare {bl.fmt_ms(b[-1])}", flush=True)
            sc, sw, sb = bl.summary(cold), bl.summary(warm), bl.summary(b)
            print(f"  {'':10s} {'median':>11s} {'min':>11s} {'max':>11s}")
            for name, s in (("cold", sc), ("warm", sw), ("bare", sb)):
                print(f"  {name:10s} {bl.fmt_ms(s['median'])} {bl.fmt_ms(s['min'])} {bl.fmt_ms(s['max'])}")
            print(f"  ratio cold/bare (medians): {sc['median'] / sb['median']:.3f}   (goal <= 1.25)")
            print(f"  overhead cold - bare (medians): {(sc['median'] - sb['median']) * 1000:.0f} ms")
            print(f"  ratio warm/cold (medians): {sw['median'] / sc['median']:.3f}   (goal <= 0.2)")
            print(f"  ratio warm/bare (medians): {sw['median'] / sb['median']:.3f}")
            rc_, rw_ = [], []
            for i in range(args.runs):
                rc_.append(rpc_create(binary, args.timeout, cold=True))
                rw_.append(rpc_create(binary, args.timeout, cold=False))
            src_, srw = bl.summary(rc_), bl.summary(rw_)
            print(f"== rpc create round trip, {args.runs} runs each, interleaved ==")
            for name, s in (("cold", src_), ("warm", srw)):
                print(f"  {name:10s} {bl.fmt_ms(s['median'])} {bl.fmt_ms(s['min'])} {bl.fmt_ms(s['max'])}")
            print(f"  ratio warm/cold (medians): {srw['median'] / src_['median']:.3f}")
            if not args.no_breakdown and events:
                # Traced again now that the home is warm (the first run also probed KVM).
                events, _ = traced_run(binary, args.timeout, os.path.join(work, "trace2"))
                outs = [run_guest_log(binary, args.timeout) for _ in range(3)]
                med_idx = sorted(range(len(b)), key=lambda k: b[k])[len(b) // 2]
                print("cold boot breakdown (runs with --cold):")
                breakdown(events, outs, sb["median"], bg[med_idx])
    finally:
        shutil.rmtree(work, ignore_errors=True)
        stray = bl.kill_strays(os.environ.get("MATCHLOCK_HOME"))
        if stray:
            print(f"bench: killed stray QEMU processes {stray}", file=sys.stderr)


if __name__ == "__main__":
    main()
