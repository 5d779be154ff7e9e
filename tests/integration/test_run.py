"""`matchlock run` end to end: real QEMU, real guest agent, every flag through the real CLI."""
import os
import re

from conftest import AGENT_IMAGE, IMAGE


def run(ml, *args, **kw):
    return ml.run("run", "--image", IMAGE, *args, **kw)


def test_prints_output_and_returns_the_exit_code(ml):
    r = run(ml, "--", "sh", "-c", "echo hello; exit 3")
    assert r.stdout == b"hello\n"
    assert r.returncode == 3
    ml.assert_nothing_left()


def test_stdout_and_stderr_stay_apart(ml):
    r = run(ml, "sh", "-c", "echo out; echo err >&2; echo out2")
    assert r.returncode == 0
    assert r.stdout == b"out\nout2\n"
    assert r.stderr == b"err\n"


def test_signal_death_exits_128_plus_signal(ml):
    r = run(ml, "sh", "-c", "kill -9 $$")
    assert r.returncode == 137


def test_unknown_command_exits_127_with_a_clear_error(ml):
    r = run(ml, "no-such-binary")
    assert r.returncode == 127
    assert b"no-such-binary" in r.stderr
    ml.assert_nothing_left()


def test_interactive_stdin_is_binary_safe_and_eof_is_forwarded(ml):
    payload = bytes(range(256)) * 4096  # 1 MiB with every byte value
    r = run(ml, "-i", "sh", "-c", "cat; echo done >&2", input=payload)
    assert r.returncode == 0
    assert r.stdout == payload
    assert r.stderr == b"done\n"


def test_without_i_the_command_reads_dev_null(ml):
    r = run(ml, "sh", "-c", "wc -c", input=b"ignored")
    assert r.stdout.strip() == b"0"


def test_env_flags_env_file_and_host_variables(ml, tmp_path):
    env_file = tmp_path / "vars.env"
    env_file.write_text("# a comment\nFROM_FILE=file\nOVERRIDDEN=file\n\nFROM_HOST_VIA_FILE\n")
    r = run(ml, "--env-file", str(env_file), "-e", "OVERRIDDEN=flag", "-e", "FROM_HOST",
            "-e", "WITH_EQUALS=a=b", "sh", "-c",
            "echo $FROM_FILE $OVERRIDDEN $FROM_HOST $FROM_HOST_VIA_FILE $WITH_EQUALS",
            env={"FROM_HOST": "host-value", "FROM_HOST_VIA_FILE": "host2"})
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"file flag host-value host2 a=b\n"


def test_default_hostname_is_the_sandbox_id_and_can_be_set(ml):
    r = run(ml, "hostname")
    assert re.fullmatch(rb"vm-[0-9a-f]{8}\n", r.stdout)
    r = run(ml, "--hostname", "box1", "sh", "-c", "hostname; grep box1 /etc/hosts")
    assert r.stdout.startswith(b"box1\n")
    assert b"127.0.0.1" in r.stdout


def test_workdir_defaults_and_override(ml):
    assert run(ml, "pwd").stdout == b"/\n"
    assert run(ml, "-w", "/tmp", "pwd").stdout == b"/tmp\n"
    r = ml.run("run", "--image", AGENT_IMAGE, "pwd")
    assert r.stdout == b"/home/agent\n"


def test_user_flag_resolves_names_uids_and_groups(ml):
    r = run(ml, "-u", "agent", "sh", "-c", "id -u; id -g; id -G; echo $HOME")
    uid, gid, groups, home = r.stdout.decode().splitlines()
    assert (uid, gid, home) == ("1000", "1000", "/home/agent")
    assert sorted(groups.split()) == ["1000", "50"]  # supplementary groups from /etc/group
    r = run(ml, "-u", "1000:50", "id", "-u")
    assert r.stdout == b"1000\n"
    assert run(ml, "-u", "1000:50", "id", "-g").stdout == b"50\n"
    r = run(ml, "-u", "4242", "sh", "-c", "id -u; id -g")
    assert r.stdout == b"4242\n0\n"


def test_unknown_user_fails_clearly_and_leaves_nothing(ml):
    r = run(ml, "-u", "nobody-here", "true")
    assert r.returncode != 0
    assert b"nobody-here" in r.stderr
    ml.assert_nothing_left()


def test_image_config_user_workdir_entrypoint_cmd_and_env(ml):
    r = ml.run("run", "--image", AGENT_IMAGE)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"uid=1000(agent)")
    assert r.stdout.endswith(b"/home/agent\n")
    r = ml.run("run", "--image", AGENT_IMAGE, "echo $IMAGE_VAR")
    assert r.stdout == b"from-image\n"


def test_entrypoint_override_and_clear(ml):
    r = ml.run("run", "--image", AGENT_IMAGE, "--entrypoint", "/bin/echo", "a", "b")
    assert r.stdout == b"a b\n"
    r = ml.run("run", "--image", AGENT_IMAGE, "--entrypoint", "", "echo", "cleared")
    assert r.stdout == b"cleared\n"


def test_resources_are_visible_in_the_guest(ml):
    r = run(ml, "--cpus", "2", "--memory", "300", "--disk-size", "200", "sh", "-c",
            "nproc; grep MemTotal /proc/meminfo; df -m / | tail -1")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines[0] == "2"
    mem_kib = int(lines[1].split()[1])
    assert 200 * 1024 < mem_kib <= 300 * 1024
    size_mib = int(lines[2].split()[1])
    assert 150 <= size_mib <= 200


def test_fractional_cpus_round_up(ml):
    assert run(ml, "--cpus", "0.5", "nproc").stdout == b"1\n"


def test_default_workload_is_confined_and_privileged_is_not(ml):
    script = "grep -E '^(NoNewPrivs|Seccomp|CapBnd):' /proc/self/status"
    confined = run(ml, "sh", "-c", script).stdout.decode()
    assert "NoNewPrivs:\t1" in confined
    assert "Seccomp:\t2" in confined
    privileged = run(ml, "--privileged", "sh", "-c", script).stdout.decode()
    assert "NoNewPrivs:\t0" in privileged
    assert "Seccomp:\t0" in privileged
    bnd = lambda s: int(re.search(r"CapBnd:\t([0-9a-f]+)", s).group(1), 16)
    cap_sys_admin = 1 << 21
    assert bnd(confined) & cap_sys_admin == 0
    assert bnd(privileged) & cap_sys_admin != 0


def test_no_network_means_no_eth0(ml):
    r = run(ml, "--no-network", "ls", "/sys/class/net")
    assert r.stdout.split() == [b"lo"]


def test_guest_root_is_an_overlay_and_writable(ml):
    r = run(ml, "sh", "-c", "echo x > /etc/new-file && cat /etc/new-file && grep ' / ' /proc/mounts")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"x\n")
    assert b"overlay" in r.stdout


def test_timeout_stops_the_sandbox_and_says_so(ml):
    r = run(ml, "--timeout", "2", "sleep", "600")
    assert r.returncode == 124
    assert b"timed out" in r.stderr
    ml.assert_nothing_left()


def kept_sandbox(ml, r):
    kept = re.search(rb"sandbox (vm-[0-9a-f]{8}) kept", r.stderr)
    assert kept, r.stderr
    return kept.group(1).decode()


def forget_sandbox(ml, vm_id):
    r = ml.run("rm", vm_id)
    assert r.returncode == 0, r.stderr


def run_kept_then_interrupt(ml, *args):
    """`run --rm=false ARGS`: the sandbox stays after the command until Ctrl-C (SIGINT) stops
    it. Waits for the "kept running" notice, interrupts, and returns what run returned."""
    import signal
    import subprocess
    from conftest import RUN_TIMEOUT
    p = ml.popen("run", "--image", IMAGE, "--rm=false", *args,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = b""
    while b"kept running" not in err:
        chunk = p.stderr.read1(4096)
        assert chunk, err
        err += chunk
    p.send_signal(signal.SIGINT)
    out, rest = p.communicate(timeout=RUN_TIMEOUT)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err + rest)


def test_graceful_shutdown_asks_the_guest_to_stop(ml):
    def console_after(*flags):
        r = run_kept_then_interrupt(ml, *flags, "echo", "bye")
        assert (r.returncode, r.stdout) == (0, b"bye\n"), r.stderr
        vm_id = kept_sandbox(ml, r)
        with open(os.path.join(ml.home, "vms", vm_id, "console.log"), "rb") as f:
            text = f.read()
        forget_sandbox(ml, vm_id)
        return text
    assert b"shutdown requested" in console_after("--graceful-shutdown", "5")
    assert b"shutdown requested" not in console_after()  # the default is a hard stop
    ml.assert_nothing_left()


def test_rm_false_keeps_the_record(ml):
    r = run_kept_then_interrupt(ml, "true")
    assert r.returncode == 0
    vm_id = kept_sandbox(ml, r)
    assert (vm_id, "stopped") in ml.state_rows()
    assert ml.qemu_processes() == []
    forget_sandbox(ml, vm_id)
    ml.assert_nothing_left()


def test_large_output_streams_completely(ml):
    r = run(ml, "sh", "-c", "seq 1 200000")
    assert r.returncode == 0
    assert r.stdout == b"".join(b"%d\n" % i for i in range(1, 200001))


def test_the_workspace_mount_covers_an_images_own_workspace(ml, tmp_path):
    # The VFS workspace is always mounted, like a docker volume over an image directory: what
    # the image has there is hidden, and without mounts commands start in / (docs/files.md).
    from conftest import ARCHIVE
    import oci_archive
    archive = tmp_path / "ws.tar"
    oci_archive.derive_image(ARCHIVE, archive, {}, extra_layers=[
        oci_archive.layer_tar({"workspace/marker": (b"x", 0o644, 0, 0)})])
    with open(archive, "rb") as f:
        assert ml.run("image", "import", "matchlock-test/workspace:latest",
                      input=f.read()).returncode == 0
    r = ml.run("run", "--image", "matchlock-test/workspace:latest", "sh", "-c",
               "pwd; ls -A /workspace | wc -l")
    assert r.stdout == b"/\n0\n"
    r = ml.run("run", "--image", "matchlock-test/workspace:latest", "--workspace", "/srv/ws",
               "cat", "/workspace/marker")
    assert r.stdout == b"x"  # elsewhere, the workspace leaves the image's directory alone
