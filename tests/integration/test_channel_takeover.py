"""The agent's channel cannot be taken over by the workload (docs/security.md, "In the guest").

A workload running as guest root could unbind the virtio-serial port from its driver through
sysfs, bind it again, open the fresh port before the agent does and write frames in the agent's
name. An unprivileged workload gets a read-only /sys (and /proc/sys), so it cannot start; a
privileged one can, and the host notices the port changing hands at once and stops the sandbox
instead of believing what comes next."""
import struct

from conftest import IMAGE

CONSOLE_DRIVER = "/sys/bus/virtio/drivers/virtio_console"


def test_an_unprivileged_workload_cannot_write_sysfs_or_proc_sys(ml):
    # Opening for writing is enough to tell: no byte is written, so nothing changes on a build
    # where these were writable.
    script = (
        f"for f in {CONSOLE_DRIVER}/unbind {CONSOLE_DRIVER}/bind /sys/kernel/uevent_helper "
        "/proc/sys/kernel/modprobe /proc/sys/kernel/core_pattern /proc/sysrq-trigger; do "
        '  if true >> "$f"; then echo "writable $f"; else echo "refused $f"; fi; '
        "done; echo still-running"
    )
    r = ml.run("run", "--image", IMAGE, "--", "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode().splitlines()
    assert out[-1] == "still-running", out
    assert all(line.startswith("refused ") for line in out[:-1]), out
    assert len(out) == 7, out
    assert r.stderr.count(b"Read-only file system") == 6, r.stderr


def test_a_privileged_takeover_of_the_port_stops_the_sandbox_at_once(ml):
    # A forged EXIT 0 for the run's exec: a host that believed the new port would report success.
    forged_exit = struct.pack(">BII", 0x18, 1, 4) + struct.pack(">i", 0)
    printf_arg = "".join(f"\\{b:03o}" for b in forged_exit)
    script = (
        # QEMU reports a port's open/close at most once a second; the agent opened its port
        # moments ago, so the takeover waits that second out to be reported as it happens.
        "sleep 1.5; "
        f"cd {CONSOLE_DRIVER} && dev=$(ls -d virtio* | head -n 1) && "
        'echo "$dev" > unbind && echo "$dev" > bind && '
        "for i in $(seq 1 100); do "
        f"  for p in /dev/vport*p1; do printf '{printf_arg}' 2>/dev/null > \"$p\" && exit 0; done; "
        "  sleep 0.05; "
        "done; sleep 600"
    )
    r = ml.run("run", "--privileged", "--timeout", "600", "--image", IMAGE, "--", "sh", "-c",
               script, timeout=300)
    assert r.returncode == 125, (r.returncode, r.stdout, r.stderr)
    assert b"closed or reopened inside the guest after the sandbox was ready" in r.stderr, r.stderr
    # One line says what happened; nothing is left of the sandbox.
    assert len([l for l in r.stderr.splitlines() if l.strip()]) == 1, r.stderr
    ml.assert_nothing_left()


def test_every_unprivileged_exec_joins_the_one_read_only_view_made_at_boot(ml):
    # The view is made once, before HELLO (a saved guest has it), and joined by each exec; the
    # workspace, mounted after it was made, still appears in it (the agent's mounts propagate).
    vm_id = ml.run_detached("--image", IMAGE)
    try:
        views = []
        for _ in range(2):
            r = ml.run("exec", vm_id, "--", "sh", "-c",
                       "readlink /proc/self/ns/mnt; grep -c ' /workspace ' /proc/self/mountinfo; "
                       "true >> /sys/kernel/uevent_helper || echo refused")
            assert r.returncode == 0, r.stderr
            views.append(r.stdout.decode().split())
        assert views[0] == views[1], views
        assert views[0][0].startswith("mnt:["), views
        assert views[0][1:] == ["1", "refused"], views
    finally:
        ml.run("kill", vm_id)
        ml.run("rm", vm_id)
