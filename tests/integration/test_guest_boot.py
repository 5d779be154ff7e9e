"""The guest's boot (protocol v6): HELLO from the initramfs, then on CONFIG the host's entropy,
the clock and the overlay root, then the sandbox's own settings and disks."""
import time
import uuid

from conftest import IMAGE

PROBE = ("head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'; echo; "
         "cat /proc/sys/kernel/random/boot_id; date +%s; "
         "awk '$2 == \"/\" {print $3}' /proc/mounts | tail -n 1")


def probe(ml, *args):
    r = ml.run("run", "--image", IMAGE, *args, "--", "sh", "-c", PROBE)
    assert r.returncode == 0, r.stderr
    random_hex, boot_id, clock, root_type = r.stdout.decode().split("\n")[:4]
    return random_hex, boot_id, int(clock), root_type


def test_each_sandbox_gets_its_own_randomness_boot_id_and_the_host_clock(ml):
    first = probe(ml)
    second = probe(ml)
    for random_hex, boot_id, clock, _ in (first, second):
        assert len(random_hex) == 64
        assert len(boot_id) == 36
        assert abs(clock - time.time()) < 120
    assert first[0] != second[0]
    assert first[1] != second[1]
    ml.assert_nothing_left()


def test_the_root_is_the_overlay_with_the_usual_filesystems(ml):
    r = ml.run("run", "--image", IMAGE, "--", "sh", "-c",
               "awk '{print $2, $3}' /proc/mounts; echo PATH=$PATH; ls -d /dev/pts/ptmx; "
               "echo ROOT_OPTIONS=$(awk '$2 == \"/\" {print $4}' /proc/mounts | tail -n 1); "
               "dd if=/dev/zero of=/synced bs=4096 count=4 conv=fsync 2>/dev/null && "
               "echo SYNCED=$(wc -c < /synced); "
               "echo MODULES=$(wc -l < /proc/modules) KERNEL=$(uname -r)")
    assert r.returncode == 0, r.stderr
    mounts = r.stdout.decode().splitlines()
    assert "/ overlay" in mounts
    # The root skips syncs of its disposable writable disk (overlayfs "volatile"), and a
    # workload's fsync there still succeeds.
    root_options = next(m for m in mounts if m.startswith("ROOT_OPTIONS=")).split("=", 1)[1]
    assert "volatile" in root_options.split(","), root_options
    assert "SYNCED=16384" in mounts
    for expected in ("/proc proc", "/sys sysfs", "/dev devtmpfs", "/dev/pts devpts", "/tmp tmpfs",
                     "/run tmpfs"):
        assert expected in mounts, mounts
    # matchlock's kernel has the drivers of all this (virtio disks, console, NIC, virtio-fs,
    # overlay) built in: the guest loaded no module (images/kernel/build-kernel.sh).
    assert "/workspace virtiofs" in mounts, mounts
    kernel = next(m for m in mounts if m.startswith("MODULES="))
    assert kernel.startswith("MODULES=0 KERNEL=") and kernel.endswith("-matchlock"), kernel
    # The initramfs's staging mounts stay behind the root switch.
    assert not any(m.startswith(("/mnt/base ", "/mnt/upper ", "/newroot ")) for m in mounts)


def test_a_data_disk_mounts_after_the_root_switch(ml):
    name = f"boot-{uuid.uuid4().hex[:8]}"
    r = ml.run("volume", "create", name, "--size", "16", "--json")
    assert r.returncode == 0, r.stderr
    try:
        r = ml.run("run", "--image", IMAGE, "--disk", f"@{name}:/data", "--", "sh", "-c",
                   "echo kept > /data/f; awk '$2 == \"/data\" {print $3}' /proc/mounts")
        assert r.returncode == 0, r.stderr
        assert r.stdout == b"ext4\n"
        r = ml.run("run", "--image", IMAGE, "--disk", f"@{name}:/data:ro", "--", "cat", "/data/f")
        assert r.returncode == 0, r.stderr
        assert r.stdout == b"kept\n"
    finally:
        ml.run("volume", "rm", name)
    ml.assert_nothing_left()


def test_the_guest_kernel_is_sized_for_a_sandbox(ml):
    # QEMU's virtio-mmio offers every queue 1024 entries; the engine's command line sizes the
    # rings per device type (images/kernel/patches/0002-*): 256 for block, so 256 requests per
    # disk. The disks have no partition table scan, no I/O scheduler and no writeback
    # throttling (images/kernel/matchlock.config). Under TCG, BPF programs (every exec's
    # seccomp filter) are interpreted, not compiled for TCG to translate anew.
    r = ml.run("run", "--image", IMAGE, "--", "sh", "-c",
               "cat /sys/module/virtio_mmio/parameters/ring_max "
               "/sys/block/vda/queue/nr_requests /sys/block/vdb/queue/nr_requests "
               "/sys/block/vda/queue/scheduler /sys/block/vda/queue/wbt_lat_usec "
               "/proc/sys/net/core/bpf_jit_enable 2>&1; exit 0",
               env={"MATCHLOCK_LOG": "debug"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines[0].startswith("0,256,256,"), lines
    assert lines[1:3] == ["256", "256"], lines
    assert lines[3] == "[none] ", lines
    # No writeback throttling: the kernel has no latency target to show.
    assert lines[4].startswith("cat:"), lines
    assert lines[4].endswith(("Invalid argument", "No such file or directory")), lines
    accel = "tcg" if b"accelerator: tcg" in r.stderr else "kvm"
    assert lines[5] == ("0" if accel == "tcg" else "1"), (accel, lines)
    ml.assert_nothing_left()
