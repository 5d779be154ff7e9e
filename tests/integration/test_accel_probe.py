"""The accelerator probe: KVM only when a bounded probe boot proves it, never a hang."""
import os
import shutil
import subprocess
import tempfile

from conftest import ARCHIVE, BIN, IMAGE


def test_a_kvm_that_never_boots_falls_back_to_tcg_within_the_bound():
    # On this kind of host (nested PVM) `-cpu host,-arch-capabilities` makes the KVM guest spin
    # silently forever: the probe must give up at its deadline, kill it and use TCG.
    home = tempfile.mkdtemp(prefix="matchlock-probe-")
    try:
        env = dict(os.environ, MATCHLOCK_HOME=home,
                   MATCHLOCK_KVM_PROBE_CPU="host,-arch-capabilities",
                   MATCHLOCK_KVM_PROBE_TIMEOUT_MS="3000", MATCHLOCK_LOG="debug")
        env.pop("MATCHLOCK_ACCEL", None)
        with open(ARCHIVE, "rb") as f:
            subprocess.run([BIN, "image", "import", IMAGE], input=f.read(), env=env, check=True,
                           capture_output=True)
        r = subprocess.run([BIN, "run", "--image", IMAGE, "echo", "booted"], env=env,
                           capture_output=True, timeout=300)
        assert r.returncode == 0, r.stderr
        assert r.stdout == b"booted\n"
        verdict = open(os.path.join(home, "cache", "accel")).read().split()[0]
        assert verdict in ("kvm", "tcg")
        if not os.access("/dev/kvm", os.R_OK | os.W_OK):
            assert verdict == "tcg"
        assert b"accelerator: " + verdict.encode() in r.stderr
        # The cached verdict is reused: no second probe.
        r = subprocess.run([BIN, "run", "--image", IMAGE, "true"], env=env, capture_output=True,
                           timeout=300)
        assert b"cached verdict" in r.stderr
        leftover = subprocess.run(["pgrep", "-af", "qemu-system"], capture_output=True, text=True)
        assert home not in leftover.stdout and "arch-capabilities" not in leftover.stdout
    finally:
        shutil.rmtree(home, ignore_errors=True)
