#!/usr/bin/python3
"""Build benchmark: `matchlock build` of a small multi-step Dockerfile, cold and cached, against
`buildah bud` (Debian's buildah) building the same Dockerfile from the same base image.

Cold: --no-cache (every RUN runs; for matchlock that includes booting the build VM, which may
be a warm start from a saved guest). Cached: the same build again (matchlock boots no VM).

What the ratio measures: buildah runs RUN steps directly on the host kernel (`--isolation
chroot`: its default OCI isolation cannot create containers on this host), matchlock runs them
in a microVM, under TCG when KVM is unavailable. So the cold ratio is mostly the price of a VM
(and of TCG) for the RUN steps; the cached ratio compares the two tools' own code paths (cache
lookup, config and manifest writing, storing the image).

Usage: bench/build.py [--bin PATH] [--runs 3]
Needs buildah (apt-get install buildah) for the comparison; without it, prints why and
measures matchlock alone.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

DOCKERFILE = """\
FROM {base}
ARG N=200
WORKDIR /app
RUN for i in $(seq $N); do echo "line $i" > /app/f$i.txt; done
COPY src/ /app/src/
RUN cat /app/src/*.txt | wc -l > /app/count && rm -f /app/f1.txt
ENV APP_HOME=/app
CMD ["cat", "/app/count"]
"""


def context_dir(root, base):
    ctx = os.path.join(root, "ctx")
    os.makedirs(os.path.join(ctx, "src"))
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write(DOCKERFILE.format(base=base))
    for i in range(20):
        with open(os.path.join(ctx, "src", f"s{i}.txt"), "w") as f:
            f.write("x\n" * 100)
    return ctx


def timed(argv, env=None, timeout=900):
    t0 = time.monotonic()
    r = subprocess.run(argv, env=env, capture_output=True, timeout=timeout)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        bl.die(f"{' '.join(argv)} failed: {r.stderr.decode(errors='replace')[-2000:]}")
    return dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    binary = bl.matchlock_bin(a.bin)
    archive = os.path.join(os.path.dirname(binary), "images/matchlock-busybox.tar")
    root = tempfile.mkdtemp(prefix="matchlock-bench-build-")
    load_start = os.getloadavg()
    results = {}
    try:
        with bl.private_home(binary) as home:
            ctx = context_dir(os.path.join(root, "ml"), bl.IMAGE)
            env = dict(os.environ, MATCHLOCK_HOME=home)
            ml = [binary, "build", "--progress", "plain", "-t", "bench/build:1", ctx]
            timed(ml, env)  # the first boot of this VM shape saves a guest: not measured
            results["matchlock cold"] = [timed(ml[:2] + ["--no-cache"] + ml[2:], env)
                                         for _ in range(a.runs)]
            results["matchlock cached"] = [timed(ml, env) for _ in range(a.runs)]
        buildah = shutil.which("buildah")
        if not buildah:
            print("buildah: not installed (apt-get install buildah); matchlock figures only")
        else:
            store = ["--root", os.path.join(root, "bh-root"), "--runroot",
                     os.path.join(root, "bh-run"), "--storage-driver", "vfs"]
            r = subprocess.run([buildah, *store, "pull", "-q", f"oci-archive:{archive}"],
                               capture_output=True, timeout=300)
            if r.returncode != 0:
                print("buildah: cannot load the base image:", r.stderr.decode()[-500:])
            else:
                image_id = r.stdout.decode().split()[-1]
                subprocess.run([buildah, *store, "tag", image_id, "bench-base"], check=True,
                               capture_output=True)
                bctx = context_dir(os.path.join(root, "bh"), "bench-base")
                bud = [buildah, *store, "bud", "--isolation", "chroot", "-t", "bench-build", bctx]
                timed(bud)
                results["buildah cold"] = [timed(bud[:-3] + ["--no-cache"] + bud[-3:])
                                           for _ in range(a.runs)]
                results["buildah cached"] = [timed(bud) for _ in range(a.runs)]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    load_end = os.getloadavg()

    print(f"build benchmark: {a.runs} runs each, median (min..max)")
    for name, values in results.items():
        print(f"  {name:18} {statistics.median(values) * 1000:8.0f} ms"
              f"  ({min(values) * 1000:.0f}..{max(values) * 1000:.0f})")
    for kind in ("cold", "cached"):
        m, b = results.get(f"matchlock {kind}"), results.get(f"buildah {kind}")
        if m and b:
            print(f"  matchlock/buildah {kind}: {statistics.median(m) / statistics.median(b):.2f}x")
    print("  (buildah runs RUN on the host kernel with --isolation chroot; matchlock in a VM)")
    print(bl.load_line(load_start, load_end))


if __name__ == "__main__":
    main()
