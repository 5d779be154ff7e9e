#!/usr/bin/env python3
"""File-system throughput in the guest: matchlock's FUSE mount (`run -v DIR:/workspace/w:host_fs`)
against QEMU's virtio-9p on the SAME host directory, in one sandbox, in the same run, interleaved.

The 9p share is a benchmark-only switch (MATCHLOCK_UNSAFE_BENCH_VIRTFS=DIR: an unmediated
virtio-9p device, tag bench9p) mounted in the guest with
`mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288` (so the sandbox runs --privileged;
both mounts run under it alike). The guest kernel matchlock builds has 9p built in, so both
mounts are served to the kernel every sandbox boots (the default bundle, or --bundle).

Workloads, each timed inside the guest around one command in one exec (/proc/uptime, 10 ms):
  write    dd 256 MiB from /dev/zero in 1 MiB blocks into the mount, then sync   -> MB/s
  read     the same file back in 1 MiB blocks after the guest drops its caches   -> MB/s
  read_direct  the same with O_DIRECT (dd iflag=direct): no guest page cache on either mount,
           what a program that streams a large file can ask for                 -> MB/s
  untar    GNU tar x of a tarball of a few thousand small files (made at bench time from a
           host directory, /usr/include by default), from the guest's own disk, then sync -> s
  git      `git status` on a git repo of that tree (committed untimed), after the guest drops
           its caches: one stat and more per file                               -> s
The host's page cache is left alone (other users share it): reads may come from host memory.
Small-file workloads need the toolchain image (tests/integration/toolchain_image.py); without
its packages on the host the busybox image runs write/read/untar and git is skipped.

usage: bench/vfs.py [--bin PATH] [--runs 3] [--mib 256] [--tree /usr/include] [--files 3000]
                    [--baseline-only]   (9p alone: no -v mount)
env: MATCHLOCK_BIN, MATCHLOCK_TEST_IMAGE_ARCHIVE (the busybox archive, default next to the binary)
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

sys.path.insert(0, os.path.join(bl.REPO, "tests", "integration"))
TOOLCHAIN_IMAGE = "matchlock-test/toolchain:latest"

NINEP_MOUNT = "/mnt/9p"
FUSE_MOUNT = "/workspace/w"
GUEST_TARBALL = "/tmp/vfs-bench-src.tar"
# (name, unit): "MB/s" figures are throughput (higher is better), "s" figures are times.
WORKLOADS = [("write", "MB/s"), ("read", "MB/s"), ("read_direct", "MB/s"), ("untar", "s"),
             ("git", "s")]


def bench_bundle(binary, explicit):
    """The bundle every sandbox boots (--bundle, else MATCHLOCK_BUNDLE or the binary's own)."""
    bundle = os.path.abspath(explicit) if explicit else bl.bundle_dir(binary)
    with open(os.path.join(bundle, "kernel-version")) as f:
        print("bench: guest kernel", f.read().strip(), "from", bundle, flush=True)
    return bundle


def base_archive(binary):
    return os.environ.get("MATCHLOCK_TEST_IMAGE_ARCHIVE") or os.path.join(
        os.path.dirname(binary), "images", "matchlock-busybox.tar")


def import_toolchain(binary):
    """Imports the toolchain image; None when the host lacks its packages."""
    archive = base_archive(binary)
    try:
        import toolchain_image
        path = toolchain_image.build_archive(archive, os.path.join(bl.REPO, "build", "test-cache"))
    except (ImportError, OSError, RuntimeError) as e:
        print(f"bench: no toolchain image ({e}); busybox image, git skipped", file=sys.stderr)
        return None
    with open(path, "rb") as f:
        r = bl.run([binary, "image", "import", TOOLCHAIN_IMAGE], 300, stdin=f,
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        bl.die("toolchain image import failed: " + r.stdout.decode(errors="replace"))
    return TOOLCHAIN_IMAGE


def make_tarball(tree, max_files, out):
    """A tarball of up to max_files regular files (each under 256 KiB) of `tree`; its count."""
    n = 0
    with tarfile.open(out, "w") as t:
        for root, dirs, files in os.walk(tree):
            dirs.sort()
            for name in sorted(files):
                p = os.path.join(root, name)
                if n >= max_files or os.path.islink(p) or not os.path.isfile(p):
                    continue
                if os.path.getsize(p) < 256 << 10:
                    t.add(p, arcname=os.path.relpath(p, tree), recursive=False)
                    n += 1
            if n >= max_files:
                break
    return n


class Sandbox:
    def __init__(self, binary, vm):
        self.binary, self.vm = binary, vm

    def sh(self, script, timeout=900):
        r = bl.run([self.binary, "exec", self.vm, "sh", "-c", script], timeout,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            bl.die(f"guest: `{script}` exit {r.returncode}: "
                   + r.stderr.decode(errors="replace")[-1500:])
        return r.stdout.decode(errors="replace")

    def timed(self, setup, command):
        """Seconds `command` takes in the guest, after the untimed `setup`."""
        out = self.sh(f"set -e; {setup}; read t0 rest < /proc/uptime; {command}; "
                      "read t1 rest < /proc/uptime; echo TIME $t0 $t1")
        t0, t1 = map(float, out.split("TIME", 1)[1].split())
        return max(t1 - t0, 0.01)


DROP = "sync; echo 3 > /proc/sys/vm/drop_caches"


def one_round(sb, base, tag, mib, files, tar, git):
    """One pass of every workload under guest dir `base`; {workload: figure}."""
    d = f"{base}/{tag}"
    res = {}
    sb.sh(f"rm -rf {d} && mkdir -p {d}/src")
    t = sb.timed(DROP, f"dd if=/dev/zero of={d}/big bs=1M count={mib} 2>/dev/null; sync")
    res["write"] = mib * 1.048576 / t
    t = sb.timed(DROP, f"dd if={d}/big of=/dev/null bs=1M 2>/dev/null")
    res["read"] = mib * 1.048576 / t
    t = sb.timed(DROP, f"dd if={d}/big of=/dev/null bs=1M iflag=direct 2>/dev/null")
    res["read_direct"] = mib * 1.048576 / t
    sb.sh(f"rm -f {d}/big")
    res["untar"] = sb.timed(DROP, f"{tar} xf {GUEST_TARBALL} -C {d}/src; sync")
    if git:
        sb.sh(f"cd {d}/src && git init -q && git add -A && "
              "git -c user.email=b@b -c user.name=b commit -qm tree", timeout=1800)
        res["git"] = sb.timed(f"{DROP}; cd {d}/src", "git status --porcelain >/dev/null")
    sb.sh(f"rm -rf {d}", timeout=1800)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin")
    ap.add_argument("--bundle", help="a bundle whose kernel has 9p (default: the binary's)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--tree", default="/usr/include", help="host directory the tarball is made of")
    ap.add_argument("--files", type=int, default=3000, help="files in the tarball")
    ap.add_argument("--baseline-only", action="store_true", help="9p only (no -v FUSE mount)")
    args = ap.parse_args()
    binary = bl.matchlock_bin(args.bin)
    bundle = bench_bundle(binary, args.bundle)
    load_start = os.getloadavg()
    print(f"host loadavg at start (1/5/15 min): {' '.join(f'{x:.2f}' for x in load_start)}"
          f"   ({os.cpu_count()} cpus, shared)")
    print(bl.machine_line())

    share = tempfile.mkdtemp(prefix="matchlock-vfs-bench-", dir="/var/tmp")
    with bl.private_home(binary, base_archive(binary)) as home:
        bl.install_cleanup(lambda: home)
        image = import_toolchain(binary) or bl.IMAGE
        git = image == TOOLCHAIN_IMAGE
        tar = "/usr/bin/tar" if git else "tar"
        # The tarball reaches the guest through the share once and is copied to the guest's
        # disk, so untar reads from the same local file for both mounts.
        nfiles = make_tarball(args.tree, args.files, os.path.join(share, "src.tar"))
        tar_mib = os.path.getsize(os.path.join(share, "src.tar")) / (1 << 20)
        env = dict(os.environ, MATCHLOCK_BUNDLE=bundle, MATCHLOCK_UNSAFE_BENCH_VIRTFS=share)
        argv = [binary, "run", "-d", "--privileged", "--image", image]
        if not args.baseline_only:
            argv += ["-v", f"{share}:{FUSE_MOUNT}:host_fs"]
        r = bl.run(argv, 300, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out = r.stdout.decode(errors="replace").split()
        if r.returncode != 0 or not out:
            bl.die(f"run -d failed (exit {r.returncode}): {r.stderr.decode(errors='replace')[-1500:]}")
        sb = Sandbox(binary, out[-1])
        try:
            sb.sh(f"mkdir -p {NINEP_MOUNT} && mount -t 9p -o trans=virtio,version=9p2000.L,"
                  f"msize=524288 bench9p {NINEP_MOUNT} && cp {NINEP_MOUNT}/src.tar {GUEST_TARBALL}")
            mounts = [("9p", NINEP_MOUNT)]
            if not args.baseline_only:
                mounts.append(("fuse", FUSE_MOUNT))
            res = {m: {w: [] for w, _ in WORKLOADS} for m, _ in mounts}
            for i in range(args.runs):
                for m, path in (mounts if i % 2 == 0 else mounts[::-1]):
                    for w, v in one_round(sb, path, f"{m}-{i}", args.mib, nfiles, tar, git).items():
                        res[m][w].append(v)
        finally:
            bl.run([binary, "kill", sb.vm], 60, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            shutil.rmtree(share, ignore_errors=True)

    print(f"== VFS: {'virtio-9p alone' if args.baseline_only else 'FUSE (-v host_fs) vs virtio-9p'}"
          f" on one host dir, one sandbox, median of {args.runs}, interleaved ==")
    print(f"  write {args.mib} MiB / read it back; untar {nfiles} files ({tar_mib:.1f} MiB) "
          f"of {args.tree}; git status on that tree")
    print("  figures: median (min..max); ratio: throughput fuse/9p, time 9p/fuse; >= 1.0 means "
          "the FUSE mount is at least as fast (goal)")
    labels = {"write": "seq write + sync", "read": "seq read (cold guest cache)",
              "read_direct": "seq read, O_DIRECT",
              "untar": "untar + sync", "git": "git status (cold guest cache)"}
    for w, unit in WORKLOADS:
        if not res["9p"][w]:
            continue
        line = f"  {labels[w]:30s}"
        med = {m: statistics.median(res[m][w]) for m in res}
        for m in res:
            fmt = "{:.1f}" if unit == "MB/s" else "{:.2f}"
            spread = "..".join(fmt.format(f(res[m][w])) for f in (min, max))
            line += f" | {m} {fmt.format(med[m]):>7s} {unit} ({spread})"
        if "fuse" in med:
            ratio = med["fuse"] / med["9p"] if unit == "MB/s" else med["9p"] / med["fuse"]
            line += f" | ratio {ratio:4.2f}x"
        print(line)
    print(bl.load_line(load_start, os.getloadavg()))


if __name__ == "__main__":
    main()
