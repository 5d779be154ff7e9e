"""Warm starts: the first boot of an image saves its booted guest, later boots restore it.

These tests use their own MATCHLOCK_HOME, so they see exactly the saves they cause. Every boot
after the first in the rest of the suite is a restore too: the other tests check restored guests
as a matter of course; these check what is particular to restoring.
"""
import glob
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading

import pytest

from conftest import ARCHIVE, BIN, IMAGE, RUN_TIMEOUT, Matchlock, qemu_holding, wait_for
from rpc_client import Rpc, RpcError

DEBUG = {"MATCHLOCK_LOG": "debug"}


@pytest.fixture(scope="module")
def home():
    """A private home with the image imported and one save made by a first boot."""
    m = Matchlock(tempfile.mkdtemp(prefix="matchlock-warm-"))
    with open(ARCHIVE, "rb") as f:
        r = m.run("image", "import", IMAGE, input=f.read())
    assert r.returncode == 0, r.stderr
    r = m.run("run", "--image", IMAGE, "true", env=DEBUG)
    assert r.returncode == 0, r.stderr
    assert b"saving" in r.stderr, r.stderr
    m.saving_boot_stderr = r.stderr.decode()
    yield m
    leftover = m.qemu_processes()
    subprocess.run(["pkill", "-9", "-f", m.home], capture_output=True)
    shutil.rmtree(m.home, ignore_errors=True)
    assert leftover == [], f"QEMU processes outlived the tests: {leftover}"


def warm_dir(m):
    return os.path.join(m.home, "cache", "warm")


def saves(m):
    """The complete saves: key -> meta."""
    out = {}
    for meta in glob.glob(os.path.join(warm_dir(m), "*", "meta.json")):
        with open(meta) as f:
            out[os.path.basename(os.path.dirname(meta))] = json.load(f)
    return out


def only_save(m):
    s = saves(m)
    assert len(s) == 1, s
    key, meta = next(iter(s.items()))
    return key, meta, os.path.join(warm_dir(m), key, "guest.state")


def temporary_files(m):
    return glob.glob(os.path.join(warm_dir(m), "*", "guest.state.tmp-*")) + \
        glob.glob(os.path.join(warm_dir(m), "*", "upper.disk.tmp-*"))


def run(m, *args, env=None):
    r = m.run("run", "--image", IMAGE, *args, env=dict(DEBUG, **(env or {})))
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def restored(stderr):
    return "saved guest" in stderr and "restored" in stderr


def test_second_boot_restores_the_saved_guest(home):
    key, meta, state = only_save(home)
    assert meta["image"] == IMAGE and meta["memory_mib"] == 512 and meta["network"] is True
    assert os.path.getsize(state) == meta["state_bytes"] > 0
    rc, out, err = run(home, "echo", "hello")
    assert rc == 0, err
    assert out == "hello\n"
    assert restored(err), err
    assert saves(home).keys() == {key}  # no second save for the same machine
    # The guest's account of its configuration (READY): the sandbox's root (the image's disk,
    # the writable disk, the overlay) was entered before the save and there are no data disks
    # to re-probe, so none of it is left for the restore.
    steps = next(l for l in err.splitlines() if "guest configuration:" in l)
    assert "entropy and clock" in steps and "hostname" in steps, steps
    for done_before_the_save in ("mount the image's disk", "mount the writable disk",
                                 "mount the overlay", "switch root", "re-probe",
                                 "mount the workspace"):
        assert done_before_the_save not in steps, steps
    # Nor is the boot: the restored guest's HELLO was the saving boot's.
    assert "guest boot" not in err, err


def test_the_saving_boot_reports_init_steps_until_hello(home):
    """HELLO carries /init's steps; the engine prints them at debug, the sandbox root among them
    since it is entered before the save."""
    line = next((l for l in home.saving_boot_stderr.splitlines()
                 if "guest boot, /init to HELLO:" in l), None)
    assert line, home.saving_boot_stderr
    for step in ("kernel modules", "find the disks", "mount the image's disk",
                 "mount the writable disk", "mount the overlay", "switch root", "workload view",
                 "mount the workspace"):
        assert f"{step} " in line, line
    # A boot that is saved lets the kernel finish its timed boot work (the TSC's switch) first,
    # so that no restored guest does it (boot_settle.h).
    assert "kernel's deferred boot work, before the save " in line, line
    # And reads the image's shell into the page cache, so the save carries it.
    assert "the image's shell and libc read " in line, line


def test_each_restored_sandbox_starts_from_the_saved_writable_disk(home):
    """The saved guest has its writable disk mounted, so the save keeps that disk as it was and
    every restored sandbox gets a copy of it: what one writes, the next never sees."""
    key, meta, _ = only_save(home)
    upper = os.path.join(warm_dir(home), key, "upper.disk")
    assert os.path.getsize(upper) == meta["upper_bytes"] == 5 * 1024 ** 3
    assert os.stat(upper).st_blocks * 512 < 64 * 1024 ** 2  # a sparse copy, not 5 GiB
    before = open(upper, "rb").read(1 << 20)
    rc, out, err = run(home, "sh", "-c", "echo one > /root/written; dd if=/dev/zero of=/big "
                       "bs=1M count=8 2>/dev/null; sync; cat /root/written")
    assert rc == 0 and restored(err) and out == "one\n", err
    rc, out, err = run(home, "sh", "-c", "ls /root /big 2>&1; touch /root/new && echo writable")
    assert rc == 0 and restored(err), err
    assert "written" not in out and "No such file" in out and "writable" in out, out
    assert open(upper, "rb").read(1 << 20) == before
    assert only_save(home)[1] == meta


def test_restored_sandboxes_draw_fresh_randomness_and_boot_ids(home):
    script = "head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n'; echo; " \
             "cat /proc/sys/kernel/random/boot_id"
    results = []
    for _ in range(2):
        rc, out, err = run(home, "sh", "-c", script)
        assert rc == 0 and restored(err), err
        results.append(out.split())
    (random_a, boot_a), (random_b, boot_b) = results
    assert len(random_a) == 32 and random_a != random_b
    assert boot_a != boot_b


def test_each_restored_sandbox_gets_its_own_configuration(home, tmp_path):
    (tmp_path / "note.txt").write_text("from the host\n")
    rc, out, err = run(home, "--hostname", "warm-one", "-e", "WHO=one",
                       "-v", f"{tmp_path}:/workspace/host",
                       "sh", "-c", "hostname; echo $WHO; cat /workspace/host/note.txt; "
                       "ip -4 addr show eth0 | grep -o 'inet [0-9./]*'; "
                       "ping -c 1 -W 5 192.168.127.2 >/dev/null && echo gateway-ok; "
                       "date +%Y")
    assert rc == 0 and restored(err), err
    lines = out.split("\n")
    assert lines[:5] == ["warm-one", "one", "from the host", "inet 192.168.127.15/24",
                         "gateway-ok"], out
    import datetime
    assert int(lines[5]) == datetime.datetime.now(datetime.timezone.utc).year


def test_the_workspace_mounted_before_the_save_serves_each_restored_sandbox(home, tmp_path):
    """The boot mounts the default workspace before the save; the file server's device state
    carries the FUSE session, so a restored guest uses it with this sandbox's own mounts."""
    for n in (1, 2):
        d = tmp_path / f"w{n}"
        d.mkdir()
        (d / "in.txt").write_text(f"host {n}\n")
        rc, out, err = run(home, "-v", f"{d}:/workspace/w:host_fs", "sh", "-c",
                           "cat /workspace/w/in.txt; ls /workspace; echo guest > /workspace/w/out")
        assert rc == 0 and restored(err), err
        assert out == f"host {n}\nw\n", out
        assert (d / "out").read_text() == "guest\n"
        steps = next(l for l in err.splitlines() if "guest configuration:" in l)
        assert "mount the workspace" not in steps, steps


def test_a_restored_sandbox_with_another_workspace_remounts_it(home, tmp_path):
    (tmp_path / "in.txt").write_text("elsewhere\n")
    rc, out, err = run(home, "--workspace", "/src", "-v", f"{tmp_path}:/src/w:host_fs", "sh", "-c",
                       "cat /src/w/in.txt; grep -c ' /workspace ' /proc/mounts; "
                       "ls -d /workspace 2>&1 | grep -c 'No such file'")
    assert rc == 0 and restored(err), err
    # The boot's mount went, with the directory it had made (the image has no /workspace).
    assert out == "elsewhere\n0\n1\n", out
    steps = next(l for l in err.splitlines() if "guest configuration:" in l)
    assert "unmount the boot's workspace" in steps and "mount the workspace" in steps, steps


def test_a_disk_size_is_a_machine_of_its_own(home):
    # The guest probed its writable disk before the save, so the size is part of the key.
    sizes = []
    for expect_restored in (False, True):
        rc, out, err = run(home, "--disk-size", "700", "sh", "-c",
                           "df -m / | tail -1 | awk '{print $2}'")
        assert rc == 0 and restored(err) == expect_restored, err
        sizes.append(int(out))
    assert all(500 < s <= 700 for s in sizes), sizes
    assert len(saves(home)) == 2
    rc, out, err = run(home, "sh", "-c", "df -m / | tail -1 | awk '{print $2}'")
    assert rc == 0 and restored(err) and int(out) > 4000, (out, err)
    rm = home.run("image", "rm", "--saved", IMAGE)
    assert rm.returncode == 0, rm.stderr
    assert run(home, "true")[0] == 0  # a fresh save of the default machine for what follows


def fresh_home(prefix):
    m = Matchlock(tempfile.mkdtemp(prefix=prefix))
    with open(ARCHIVE, "rb") as f:
        assert m.run("image", "import", IMAGE, input=f.read()).returncode == 0
    return m


def discard(m):
    subprocess.run(["pkill", "-9", "-f", m.home], capture_output=True)
    shutil.rmtree(m.home, ignore_errors=True)


def test_nothing_of_the_saving_sandbox_is_visible():
    m = fresh_home("matchlock-warm-saver-")
    try:
        rc, out, err = run(m, "--hostname", "saver", "sh", "-c",
                           "echo secret > /root/left-behind; sleep 1000 & echo started")
        assert rc == 0 and "saving" in err, err
        rc, out, err = run(m, "sh", "-c", "hostname; ls -A /root; ps -o args | grep -c '^sleep'; true")
        assert rc == 0 and restored(err), err
        hostname, *rest = out.split()
        assert hostname != "saver"
        assert "left-behind" not in rest
        assert rest[-1] == "0"
    finally:
        discard(m)


def test_cold_flag_boots_the_kernel_and_saves_nothing(home):
    before = saves(home)
    rc, out, err = run(home, "--cold", "true")
    assert rc == 0, err
    assert not restored(err) and "cold boot requested" in err, err
    assert saves(home) == before
    # Nothing is saved, so nothing waits for the kernel or reads ahead before HELLO.
    hello = next(l for l in err.splitlines() if "guest boot, /init to HELLO:" in l)
    assert "before the save" not in hello and "shell and libc" not in hello, hello


def test_a_corrupt_save_falls_back_to_a_cold_boot_and_is_rebuilt(home):
    key, meta, state = only_save(home)
    with open(state, "r+b") as f:
        f.seek(meta["state_bytes"] // 2)
        chunk = f.read(4096)
        f.seek(meta["state_bytes"] // 2)
        f.write(bytes(b ^ 0xFF for b in chunk))
    # The cold boot after the failed restore is a second QEMU: its NIC connects anew, and the
    # gateway answers through it.
    rc, out, err = run(home, "sh", "-c", "ping -c1 -W5 192.168.127.2 >/dev/null && echo still-works")
    assert rc == 0, err
    assert out == "still-works\n"
    assert "could not be restored" in err and "booting cold" in err, err
    new_key, new_meta, _ = only_save(home)
    assert new_key == key and new_meta["state_digest"] != meta["state_digest"]
    rc, out, err = run(home, "true")
    assert rc == 0 and restored(err), err


def test_a_corrupt_saved_writable_disk_falls_back_to_a_cold_boot(home):
    key, meta, _ = only_save(home)
    upper = os.path.join(warm_dir(home), key, "upper.disk")
    with open(upper, "r+b") as f:
        f.seek(1024)  # the ext4 superblock
        f.write(b"\xff" * 16)
    rc, out, err = run(home, "echo", "still-works")
    assert rc == 0 and out == "still-works\n", err
    assert "could not be restored" in err and "writable disk" in err, err
    assert "booting cold" in err and "restored saved guest" not in err, err
    new_key, new_meta, _ = only_save(home)
    assert new_key == key and new_meta["upper_digest"] != meta["upper_digest"]  # a new mkfs
    rc, out, err = run(home, "sh", "-c", "touch /root/x && echo ok")
    assert rc == 0 and out == "ok\n" and restored(err), err
    home.assert_nothing_left()


def test_a_truncated_save_is_not_used(home):
    key, meta, state = only_save(home)
    os.truncate(state, meta["state_bytes"] // 3)
    rc, out, err = run(home, "echo", "ok")
    assert rc == 0 and out == "ok\n", err
    assert not restored(err)
    _, new_meta, new_state = only_save(home)
    assert os.path.getsize(new_state) == new_meta["state_bytes"]
    assert temporary_files(home) == []


def test_a_disk_another_process_holds_is_refused_and_the_save_kept(home):
    """A restored guest's disks are attached over QMP: a lock refusal there is the disk's, not
    the save's. One line, no cold boot (it would meet the same lock), the save stays."""
    before = saves(home)
    assert before
    r = home.run("volume", "create", "held", "--size", "16", "--json")
    assert r.returncode == 0, r.stderr
    path = json.loads(r.stdout)["path"]
    with qemu_holding(path):
        r = home.run("run", "--image", IMAGE, "--disk", f"{path}:/d", "true")
    err = r.stderr.decode()
    assert r.returncode != 0
    assert err.startswith("matchlock: ") and err.count("\n") == 1, err
    assert "is in use by another process (QEMU could not lock it)" in err, err
    assert saves(home) == before
    assert home.run("volume", "rm", "held").returncode == 0


def test_a_new_guest_bundle_makes_a_new_save(home, tmp_path):
    bundle = os.path.join(os.path.dirname(BIN), "bundle")
    bundle = os.environ.get("MATCHLOCK_BUNDLE", bundle)
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    before = set(saves(home))
    rc, out, err = run(home, "true", env={"MATCHLOCK_BUNDLE": str(copy)})
    assert rc == 0, err
    assert not restored(err)
    after = set(saves(home))
    assert len(after - before) == 1


def test_a_rewritten_image_disk_makes_a_new_save(home):
    # The saved guest has the image's disk mounted: its file is part of the machine.
    disks = glob.glob(os.path.join(home.home, "images", "disks", "*.ext4"))
    assert len(disks) == 1, disks
    before = set(saves(home))
    st = os.stat(disks[0])
    os.utime(disks[0], ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    rc, out, err = run(home, "sh", "-c", "ls /bin/sh")
    assert rc == 0 and out == "/bin/sh\n", err
    assert not restored(err), err
    assert len(set(saves(home)) - before) == 1
    rc, out, err = run(home, "true")
    assert rc == 0 and restored(err), err


def test_concurrent_first_boots_make_one_complete_save():
    m = Matchlock(tempfile.mkdtemp(prefix="matchlock-warm-race-"))
    try:
        with open(ARCHIVE, "rb") as f:
            assert m.run("image", "import", IMAGE, input=f.read()).returncode == 0
        results = [None, None]

        def boot(i):
            results[i] = m.run("run", "--image", IMAGE, "echo", str(i), env=DEBUG)

        threads = [threading.Thread(target=boot, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(RUN_TIMEOUT)
        for i, r in enumerate(results):
            assert r is not None and r.returncode == 0, r and r.stderr
            assert r.stdout == f"{i}\n".encode()
        assert len(saves(m)) == 1
        assert temporary_files(m) == []
        m.assert_nothing_left()
    finally:
        subprocess.run(["pkill", "-9", "-f", m.home], capture_output=True)
        shutil.rmtree(m.home, ignore_errors=True)


def test_kill_9_during_a_save_leaves_no_torn_save():
    m = Matchlock(tempfile.mkdtemp(prefix="matchlock-warm-kill-"))
    try:
        with open(ARCHIVE, "rb") as f:
            assert m.run("image", "import", IMAGE, input=f.read()).returncode == 0
        p = m.popen("run", "--image", IMAGE, "true", stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
        wait_for(lambda: temporary_files(m) or p.poll() is not None, "a save to start",
                 timeout=RUN_TIMEOUT)
        p.send_signal(signal.SIGKILL)
        p.wait(30)
        wait_for(lambda: m.qemu_processes() == [], "QEMU to die with its owner")
        # No complete save from the killed boot (or a complete one if it won the race).
        for key, meta in saves(m).items():
            assert os.path.getsize(os.path.join(warm_dir(m), key, "guest.state")) == \
                meta["state_bytes"]
        r = m.run("run", "--image", IMAGE, "echo", "after", env=DEBUG)
        assert r.returncode == 0 and r.stdout == b"after\n", r.stderr
        assert len(saves(m)) == 1
        assert temporary_files(m) == []
    finally:
        subprocess.run(["pkill", "-9", "-f", m.home], capture_output=True)
        shutil.rmtree(m.home, ignore_errors=True)


def test_disk_full_while_saving_boots_on_without_a_save():
    mnt = tempfile.mkdtemp(prefix="matchlock-warm-full-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", mnt], check=True)
    try:
        m = Matchlock(mnt)
        with open(ARCHIVE, "rb") as f:
            assert m.run("image", "import", IMAGE, input=f.read()).returncode == 0
        r = m.run("run", "--image", IMAGE, "--disk-size", "64", "echo", "up", env=DEBUG)
        assert r.returncode == 0 and r.stdout == b"up\n", r.stderr
        assert b"could not save" in r.stderr or b"could not store" in r.stderr, r.stderr
        assert saves(m) == {}
        assert temporary_files(m) == []
        m.assert_nothing_left()
    finally:
        subprocess.run(["pkill", "-9", "-f", mnt], capture_output=True)
        subprocess.run(["umount", "-l", mnt])
        shutil.rmtree(mnt, ignore_errors=True)


def test_image_ls_shows_saves_and_image_rm_drops_them(home):
    current = saves(home)
    assert current
    r = home.run("image", "ls")
    assert r.returncode == 0
    line = next(l for l in r.stdout.decode().splitlines() if l.startswith(IMAGE))
    assert line.rstrip().endswith(")") and f" {len(current)} (" in line, line
    r = home.run("image", "ls", "--saved")
    assert r.returncode == 0 and all(key in r.stdout.decode() for key in current)
    r = home.run("image", "rm", "--saved", IMAGE)
    assert r.returncode == 0, r.stderr
    assert f"Removed {len(current)} saved guest".encode() in r.stdout, r.stdout
    assert saves(home) == {}
    r = home.run("image", "rm", "--saved", "no/such:image")
    assert r.returncode != 0 and b"image rm:" in r.stderr
    # The next boot is cold and saves again.
    rc, out, err = run(home, "true")
    assert rc == 0 and not restored(err), err
    assert len(saves(home)) == 1


def test_rpc_create_restores_and_accepts_cold(home):
    for params, want_restored in (({"image": IMAGE}, True),
                                  ({"image": IMAGE, "cold": True}, False)):
        rpc = Rpc(dict(home.env, **DEBUG))
        try:
            rpc.call("create", params, timeout=RUN_TIMEOUT)
            assert rpc.exec("echo rpc")[:2] == (0, b"rpc\n")
            assert rpc.close() == ({}, 0)
        finally:
            rpc.kill()
        assert rpc.schema_errors == []
        assert restored(rpc.proc.stderr.read().decode()) == want_restored
    rpc = Rpc(home.env)
    try:
        rid = rpc.send("create", {"image": IMAGE, "cold": "yes"}, validate=False)
        _, reply = rpc.wait(rid)
        assert reply["error"]["code"] == -32602 and "cold" in reply["error"]["message"], reply
    finally:
        rpc.kill()
    home.assert_nothing_left()
