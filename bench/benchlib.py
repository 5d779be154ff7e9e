"""Shared helpers for the matchlock benchmarks (stdlib only).

Benchmarks print figures; they never assert on timing. Every subprocess has a timeout, and
every process a benchmark starts is stopped (by pid) before it returns, also on failure.
"""

import atexit
import contextlib
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE = "matchlock/busybox:latest"


def die(msg):
    print(f"bench: error: {msg}", file=sys.stderr)
    sys.exit(1)


def matchlock_bin(explicit=None):
    path = explicit or os.environ.get("MATCHLOCK_BIN") or os.path.join(REPO, "build/release/matchlock")
    path = os.path.abspath(path)
    if not os.access(path, os.X_OK):
        die(f"{path} is not an executable (build it with scripts/build.sh build/release, or set MATCHLOCK_BIN)")
    return path


def bundle_dir(binary):
    d = os.environ.get("MATCHLOCK_BUNDLE") or os.path.join(os.path.dirname(binary), "bundle")
    for f in ("vmlinux", "initramfs.cpio"):
        if not os.path.isfile(os.path.join(d, f)):
            die(f"guest bundle file {d}/{f} is missing")
    return d


def run(argv, timeout, **kw):
    """subprocess.run with a hard timeout; the child (and its process group) is killed on expiry."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    with subprocess.Popen(argv, start_new_session=True, **kw) as p:
        try:
            out, err = p.communicate(timeout=timeout)
        except BaseException:
            kill_group(p)
            raise
        return subprocess.CompletedProcess(argv, p.returncode, out, err)


def kill_group(p):
    """SIGKILL a child we started (and its process group, which we created for it)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(p.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        p.kill()
    with contextlib.suppress(Exception):
        p.wait(timeout=10)


def qemu_pids_naming(text):
    """Pids of qemu-system processes whose command line contains `text` (a sandbox id, or a
    private MATCHLOCK_HOME), never our own."""
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and b"qemu-system" in os.path.basename(argv[0]) and any(text.encode() in a for a in argv):
            pids.append(int(pid))
    return pids


def kill_strays(home):
    """Kill QEMU processes left behind by *our* matchlock runs: they are the only processes
    whose command line names our private MATCHLOCK_HOME. Returns the pids killed."""
    if not home:
        return []
    killed = qemu_pids_naming(home)
    for pid in killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return killed


def load_line(start, end):
    """The host load at a bench's start and end: figures from a shared host say so."""
    return ("host loadavg (1/5/15 min): start " + " ".join(f"{x:.2f}" for x in start)
            + "   end " + " ".join(f"{x:.2f}" for x in end) + f"   ({os.cpu_count()} cpus, shared)")


@contextlib.contextmanager
def private_home(binary, archive=None, timeout=120):
    """Yield a MATCHLOCK_HOME holding the busybox image. Reuses $MATCHLOCK_HOME when set (the
    caller owns it); otherwise creates a temporary one, imports the image, and removes it."""
    given = os.environ.get("MATCHLOCK_HOME")
    if given:
        yield given
        return
    home = tempfile.mkdtemp(prefix="matchlock-bench-")
    os.environ["MATCHLOCK_HOME"] = home
    try:
        archive = archive or os.path.join(os.path.dirname(binary), "images/matchlock-busybox.tar")
        if not os.path.isfile(archive):
            die(f"image archive {archive} is missing (scripts/build.sh builds it)")
        with open(archive, "rb") as f:
            r = run([binary, "image", "import", IMAGE], timeout, stdin=f,
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            die(f"image import failed: {r.stdout.decode(errors='replace')}")
        yield home
    finally:
        kill_strays(home)
        del os.environ["MATCHLOCK_HOME"]
        shutil.rmtree(home, ignore_errors=True)


def install_cleanup(home_getter):
    """On exit or SIGTERM/SIGINT, kill stray QEMUs of our home."""
    def cleanup(*_):
        kill_strays(home_getter())
    atexit.register(cleanup)

    def on_signal(signum, _frame):
        cleanup()
        sys.exit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100)."""
    s = sorted(values)
    k = max(1, -(-len(s) * p // 100))  # ceil
    return s[int(k) - 1]


def summary(values):
    return {"median": statistics.median(values), "p90": percentile(values, 90),
            "min": min(values), "max": max(values), "n": len(values)}


def fmt_ms(seconds):
    return f"{seconds * 1000:8.1f} ms"


def machine_line():
    cpu = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = "?"
    with contextlib.suppress(OSError), open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    return f"host: {os.cpu_count()} cpus, {cpu}, loadavg {load}"


# ---- strace parsing -------------------------------------------------------------------

_STR = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _unescape(s):
    return s.encode("latin-1", "backslashreplace").decode("unicode_escape")


def parse_strace(path):
    """Parse `strace -f -ttt -s N -v -e trace=execve,exit_group` output into events:
    (pid, t, kind, payload) with kind in {"execve", "exit"}; execve payload = argv list
    (successful execs only)."""
    events = []
    pending = {}
    line_re = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(.*)$")
    with open(path, errors="replace") as f:
        for line in f:
            m = line_re.match(line.rstrip("\n"))
            if not m:
                continue
            pid, t, rest = int(m.group(1)), float(m.group(2)), m.group(3)
            if rest.startswith("execve(") and rest.rstrip().endswith("<unfinished ...>"):
                pending[pid] = rest
                continue
            if rest.startswith("<... execve resumed>") and pid in pending:
                rest = pending.pop(pid) + rest
            if rest.startswith("execve(") and rest.rstrip().endswith("= 0"):
                lb = rest.find("[")
                rb = rest.find("], ", lb)
                argv = [_unescape(a) for a in _STR.findall(rest[lb:rb + 1])] if lb >= 0 else []
                events.append((pid, t, "execve", argv))
            elif rest.startswith("+++ exited with") or rest.startswith("+++ killed by"):
                events.append((pid, t, "exit", rest))
    return events


def now():
    return time.perf_counter()
