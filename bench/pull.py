#!/usr/bin/env python3
"""Pull bench: `matchlock pull` of the debian fixture image against `skopeo copy
docker://... oci:DIR` from the same registry in the same run (median of N, ratio printed; goal
<= 1.0), plus the time to build the image's ext4 base disk (first boot's extra cost).

Needs the fixture registries with the debian image:
    OCI_FIXTURES_DEBIAN=1 bash tests/fixtures/oci-fixtures.sh build/oci-fixtures
usage: bench/pull.py [--runs N] [--ref 127.0.0.1:5000/debian:bookworm]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402


def timed(cmd, env=None, timeout=600):
    t0 = time.monotonic()
    r = subprocess.run(cmd, env=env, capture_output=True, timeout=timeout)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        benchlib.die(f"{' '.join(cmd)} failed: {r.stderr.decode().strip()}")
    return dt, r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--ref", default="127.0.0.1:5000/debian:bookworm")
    ap.add_argument("--bin")
    a = ap.parse_args()
    binary = benchlib.matchlock_bin(a.bin)
    if not shutil.which("skopeo"):
        benchlib.die("skopeo is not installed (the fixtures script installs it)")
    work = tempfile.mkdtemp(prefix="matchlock-bench-pull-")
    try:
        ml, sk = [], []
        for i in range(a.runs):  # interleaved, each from an empty store
            home = os.path.join(work, f"home{i}")
            env = dict(os.environ, MATCHLOCK_HOME=home)
            dt, r = timed([binary, "pull", "-q", a.ref], env=env)
            ml.append(dt)
            dest = os.path.join(work, f"oci{i}")
            dt, _ = timed(["skopeo", "copy", "-q", "--src-tls-verify=false",
                           f"docker://{a.ref}", f"oci:{dest}:img"])
            sk.append(dt)
            shutil.rmtree(dest, ignore_errors=True)
            if i + 1 < a.runs:
                shutil.rmtree(home, ignore_errors=True)
        # Base disk: the first `run` builds it; `true` as the command keeps the guest part short,
        # and a second run (disk reused) is subtracted to leave the build alone.
        home = os.path.join(work, f"home{a.runs - 1}")
        env = dict(os.environ, MATCHLOCK_HOME=home)
        cold, _ = timed([binary, "run", "--image", a.ref, "true"], env=env)
        warm, _ = timed([binary, "run", "--image", a.ref, "true"], env=env)
        m, s = statistics.median(ml), statistics.median(sk)
        print(f"pull {a.ref}: matchlock median {m:.2f} s {['%.2f' % x for x in ml]}")
        print(f"skopeo copy docker:// -> oci: median {s:.2f} s {['%.2f' % x for x in sk]}")
        print(f"ratio matchlock/skopeo: {m / s:.2f} (goal <= 1.0)")
        print(f"base disk build (first run minus second run): {cold - warm:.2f} s "
              f"(first run {cold:.2f} s, second {warm:.2f} s)")
    finally:
        benchlib.kill_strays(work)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
