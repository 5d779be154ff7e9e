#!/usr/bin/python3
"""SDK exec round trip: what each SDK adds to an `exec` of `true` over a raw JSON-lines client.

Every client owns one `matchlock rpc` engine and one sandbox (`create`). After W untimed warm-up
execs it times N sequential `exec` {"command":"true"} calls, each from the call to the parsed
result, on the host. Clients: a raw client (one JSON line written, one read; the baseline), the
Python SDK (sync Client), the TypeScript SDK (Node, built sdk-typescript/dist) and the Go SDK
(`go run` of bench/sdk_drivers/go against sdk-go). The clients run in interleaved rounds (raw,
python, typescript, go, raw, …) and the raw baseline is the median of all its rounds, so a
drift of the host shows up in both. Overhead = SDK median - raw median (goal: <= 1 ms).

The round trip is dominated by the guest spawning `sh -c true` under TCG; the SDK's share is
the difference. Read the figures with the printed host load.

A second table times `version` the same way: it needs no guest, so it shows each SDK's own cost
(framing, id matching, its reader) without the guest's sandbox-to-sandbox noise.

Usage: bench/sdk.py [--bin PATH] [--execs 100] [--warmup 5] [--rounds 2] [--only raw,python,...]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import benchlib as bl  # noqa: E402
from rpc_exec import Rpc, RpcError  # noqa: E402


def raw_round(binary, execs, warmup):
    rpc = Rpc(binary, 180)
    try:
        rpc.call("create", {"image": bl.IMAGE})
        for _ in range(warmup):
            rpc.call("exec", {"command": "true"})
        out = {"exec": [], "version": []}
        for _ in range(execs):
            r, dt = rpc.call("exec", {"command": "true"})
            if r.get("exit_code") != 0:
                raise RpcError(f"exec true: exit {r.get('exit_code')}")
            out["exec"].append(dt)
        for _ in range(execs):
            out["version"].append(rpc.call("version")[1])
        rpc.call("close", {"timeout_seconds": 0})
        return out
    finally:
        rpc.shutdown()


def python_round(binary, execs, warmup):
    sys.path.insert(0, os.path.join(REPO, "sdk-python", "src"))
    import matchlock  # noqa: E402
    with matchlock.Client(matchlock.Config(binary_path=binary)) as client:
        client.create(matchlock.Sandbox(bl.IMAGE).options())
        for _ in range(warmup):
            client.exec("true")
        out = {"exec": [], "version": []}
        for _ in range(execs):
            t0 = bl.now()
            r = client.exec("true")
            out["exec"].append(bl.now() - t0)
            if r.exit_code != 0:
                raise RpcError(f"python exec true: exit {r.exit_code}")
        for _ in range(execs):
            t0 = bl.now()
            client.version()
            out["version"].append(bl.now() - t0)
        return out


def driver_round(argv, cwd, binary, execs, warmup):
    env = dict(os.environ, MATCHLOCK_BIN=binary, BENCH_IMAGE=bl.IMAGE,
               BENCH_EXECS=str(execs), BENCH_WARMUP=str(warmup))
    r = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise RpcError(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def typescript_ready():
    dist = os.path.join(REPO, "sdk-typescript", "dist", "esm", "index.js")
    if os.path.exists(dist):
        return None
    return "sdk-typescript/dist missing (cd sdk-typescript && npm ci && npm run build)"


def go_ready():
    return None if shutil.which("go") else "go not on PATH"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin")
    ap.add_argument("--execs", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--only", default="raw,python,typescript,go")
    args = ap.parse_args()
    binary = bl.matchlock_bin(args.bin)
    bl.install_cleanup(lambda: os.environ.get("MATCHLOCK_HOME"))
    wanted = args.only.split(",")

    clients = {
        "raw": lambda: raw_round(binary, args.execs, args.warmup),
        "python": lambda: python_round(binary, args.execs, args.warmup),
        "typescript": lambda: driver_round(
            ["node", os.path.join(HERE, "sdk_drivers", "exec_rtt.mjs")], REPO, binary,
            args.execs, args.warmup),
        "go": lambda: driver_round(["go", "run", "."], os.path.join(HERE, "sdk_drivers", "go"),
                                   binary, args.execs, args.warmup),
    }
    skipped = {}
    if "typescript" in wanted and (why := typescript_ready()):
        skipped["typescript"] = why
    if "go" in wanted and (why := go_ready()):
        skipped["go"] = why
    order = [c for c in clients if c in wanted and c not in skipped]
    if "raw" not in order:
        bl.die("the raw client is the baseline: keep it in --only")

    with bl.private_home(binary):
        print("== SDK exec round trip: `exec` {\"command\":\"true\"} through each SDK vs a raw client ==")
        print(bl.machine_line())
        load_start = os.getloadavg()
        times = {c: {"exec": [], "version": []} for c in order}
        raw_round_medians = []
        for rnd in range(args.rounds):
            for c in order:
                got = clients[c]()
                for kind in times[c]:
                    times[c][kind] += got[kind]
                if c == "raw":
                    raw_round_medians.append(statistics.median(got["exec"]))
        load_end = os.getloadavg()
        print(bl.load_line(load_start, load_end))
        print(f"{args.rounds} interleaved rounds x {args.execs} sequential calls of each kind per "
              f"client (after {args.warmup} warm-up execs each); one sandbox per client and round")
        spread = max(raw_round_medians) - min(raw_round_medians)
        for kind, what in (("exec", "exec `true` (guest spawn under TCG dominates)"),
                           ("version", "version (engine only: no guest, the SDK's own cost shows)")):
            print(f"{what}:")
            raw = statistics.median(times["raw"][kind])
            for c in order:
                s = bl.summary(times[c][kind])
                extra = "" if c == "raw" else (
                    f"   overhead {(s['median'] - raw) * 1000:+7.3f} ms"
                    f"  ({'meets' if s['median'] - raw <= 0.001 else 'misses'} the <= 1 ms goal)")
                print(f"  {c:10s} median {s['median'] * 1000:8.3f} ms   p90 {s['p90'] * 1000:8.3f} ms{extra}")
        print(f"noise floor: the raw client's exec median varied by {spread * 1000:.2f} ms between "
              f"rounds (sandbox to sandbox); exec overheads smaller than that are not resolved, "
              f"the version figures are")
        for c, why in skipped.items():
            print(f"  {c:10s} skipped: {why}")


if __name__ == "__main__":
    main()
