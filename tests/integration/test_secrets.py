"""--secret and the sandbox CA, end to end: the guest holds only placeholders and trusts the
sandbox's CA; the values never reach the guest, the state database, `inspect`, the sandbox's
logs or QEMU. (The swap of placeholder for value on the wire lands with the interception proxy.)
"""
import glob
import json
import os
import re
import secrets
import subprocess

import pytest

from conftest import IMAGE
from rpc_client import Rpc, RpcError

PLACEHOLDER = re.compile(rb"SANDBOX_SECRET_[0-9a-f]{32}")
# Distinct per test session, so a match can only come from this run.
VALUE_A = "mlsecretA-" + secrets.token_hex(12)
VALUE_B = "mlsecretB-" + secrets.token_hex(12)
VALUE_RPC = "mlsecretR-" + secrets.token_hex(12)
ALL_VALUES = [v.encode() for v in (VALUE_A, VALUE_B, VALUE_RPC)]
BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
CA_ONLY = "/etc/ssl/certs/matchlock-ca.crt"


def assert_no_value(data, where):
    for v in ALL_VALUES:
        assert v not in data, f"a secret value leaked into {where}"


def env_of(output):
    return dict(l.split(b"=", 1) for l in output.splitlines() if b"=" in l)


# The shared sandbox lives until the end of this module, so the tests that check that nothing
# is left behind come first.


def test_the_run_command_gets_placeholders_and_ca_variables(ml):
    r = ml.run("run", "--image", IMAGE, "--secret", f"TOKEN={VALUE_A}@api.example.com", "--",
               "sh", "-c", "env; cat /proc/self/environ")
    assert r.returncode == 0, r.stderr
    env = env_of(r.stdout)
    assert PLACEHOLDER.fullmatch(env[b"TOKEN"])
    assert env[b"SSL_CERT_FILE"] == BUNDLE.encode()
    assert_no_value(r.stdout + r.stderr, "the run command's output")
    ml.assert_nothing_left()


def test_nat_mode_has_no_sandbox_ca(ml):
    r = ml.run("run", "--image", IMAGE, "--", "sh", "-c",
               f"env; ls {CA_ONLY} {BUNDLE} 2>&1; true")
    assert r.returncode == 0, r.stderr
    assert b"SSL_CERT_FILE" not in r.stdout
    assert b"No such file" in r.stdout
    ml.assert_nothing_left()


BAD = [
    (["--secret", f"K={VALUE_A}"], "--secret K: no hosts"),
    (["--secret", f"K={VALUE_A}@bad host"], "--secret K: host 1"),
    (["--secret", f"K={VALUE_A}@a.com", "--secret", f"K={VALUE_B}@b.com"],
     "--secret K is given more than once"),
    (["--secret", "ML_SURELY_UNSET_SECRET@a.com"], "ML_SURELY_UNSET_SECRET is not set"),
    (["--secret", f"{VALUE_A}"], "--secret"),
    (["--no-network", "--secret", f"K={VALUE_A}@a.com"],
     "--no-network cannot be combined with --secret"),
    (["--budget-limit-usd", "5"], "--budget-limit-usd needs --usage-log-path"),
    (["--usage-log-path", "/tmp/u.jsonl", "--budget-limit-usd", "-1"], "--budget-limit-usd"),
    (["--plugin-config", "/nonexistent/plugins.json"], "--plugin-config"),
    (["--local-model-backend", "no-port"], "--local-model-backend"),
    (["--local-model-route", "api.openai.com/gpt-4o"], "--local-model-route"),
    (["--run-id", "has space"], "--run-id"),
]


def _bad_flags_id(flags):
    # Names only, never the values: the ids are printed, and must be the same in every pytest
    # process (xdist workers each draw their own values).
    return " ".join(flags).replace(VALUE_A, "<A>").replace(VALUE_B, "<B>")[:40]


@pytest.mark.parametrize("flags,named", BAD, ids=[_bad_flags_id(b[0]) for b in BAD])
def test_bad_secret_and_plugin_flags_are_refused_cleanly(ml, flags, named):
    r = ml.run("run", "--image", IMAGE, *flags, "true")
    assert r.returncode != 0
    err = r.stderr.decode()
    assert err.count("\n") == 1 and err.startswith("matchlock: "), err
    assert named in err
    assert_no_value(r.stderr + r.stdout, "an error message")
    ml.assert_nothing_left()


def test_rpc_create_takes_secrets(ml):
    rpc = Rpc(ml.env)
    try:
        with pytest.raises(RpcError) as bad:
            rpc.call("create", {"image": IMAGE, "network": {"secrets": {
                "K": {"value": VALUE_RPC, "hosts": [], "placeholder": "too-short"}}}})
        assert bad.value.code == -32602
        assert VALUE_RPC not in bad.value.message
        rpc.call("create", {"image": IMAGE, "network": {
            "allowed_hosts": [], "block_private_ips": True,
            "secrets": {"RPC_TOKEN": {"value": VALUE_RPC, "hosts": []}}}})
        code, out, _ = rpc.exec("env")
        assert code == 0
        env = env_of(out)
        assert PLACEHOLDER.fullmatch(env[b"RPC_TOKEN"])
        assert env[b"SSL_CERT_FILE"] == BUNDLE.encode()
        code, out, _ = rpc.exec("cat /proc/[0-9]*/environ; dmesg; cat /proc/cmdline")
        assert_no_value(out, "the rpc sandbox's guest")
        with open(os.path.join(ml.home, "state.db"), "rb") as f:
            assert_no_value(f.read(), "the state database")
        assert rpc.close() == ({}, 0)
    finally:
        rpc.kill()
    assert rpc.schema_errors == []
    ml.assert_nothing_left()


@pytest.fixture(scope="module")
def sandbox(ml):
    # --privileged: the searches below read every process's environ, the agent's (PID 1) too.
    r = ml.run("run", "-d", "--privileged", "--image", IMAGE,
               "--secret", f"ML_SECRET_A={VALUE_A}@api.example.com",
               "--secret", "ML_SECRET_B@*.example.org,api.example.net", "-e", "PLAIN=visible",
               env={"ML_SECRET_B": VALUE_B})
    assert r.returncode == 0, r.stderr
    assert_no_value(r.stdout + r.stderr, "the run output")
    vm_id = r.stdout.decode().strip()
    yield vm_id
    ml.run("kill", vm_id)


def guest(ml, vm_id, script, *exec_flags):
    r = ml.run("exec", *exec_flags, vm_id, "--", "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_every_exec_sees_the_same_placeholders(ml, sandbox):
    envs = [env_of(guest(ml, sandbox, "env")),
            env_of(guest(ml, sandbox, "env", "-e", "OTHER=1", "-u", "1000:1000")),
            env_of(guest(ml, sandbox, "env", "-e", "ML_SECRET_A=overridden"))]
    a, b = envs[0][b"ML_SECRET_A"], envs[0][b"ML_SECRET_B"]
    assert PLACEHOLDER.fullmatch(a) and PLACEHOLDER.fullmatch(b) and a != b
    for env in envs:
        assert (env[b"ML_SECRET_A"], env[b"ML_SECRET_B"]) == (a, b)  # placeholders always win
        assert env[b"PLAIN"] == b"visible"


def test_the_values_never_reach_the_guest(ml, sandbox):
    # Everything is read out and searched on the host: the values never enter the guest, not
    # even as a search pattern.
    checks = {
        "the environment of every guest process": "cat /proc/[0-9]*/environ",
        "the kernel command line": "cat /proc/cmdline",
        "the kernel log": "dmesg",
        "the guest's files": "find / -path /proc -prune -o -path /sys -prune -o -path /dev -prune "
                             "-o -type f -size -64000k -exec cat {} + 2>/dev/null; true",
    }
    for where, script in checks.items():
        out = guest(ml, sandbox, script)
        assert len(out) > 0, where
        assert_no_value(out, where)
    # The placeholders are where they belong, so the searches above were not blind.
    assert PLACEHOLDER.search(guest(ml, sandbox, "cat /proc/self/environ"))


def test_the_values_never_reach_the_host_records(ml, sandbox):
    with open(os.path.join(ml.home, "state.db"), "rb") as f:
        db = f.read()
    assert_no_value(db, "the state database")
    assert not PLACEHOLDER.search(db)
    for cmd in ("get", "inspect"):
        r = ml.run(cmd, sandbox)
        assert r.returncode == 0, r.stderr
        assert_no_value(r.stdout + r.stderr, cmd)
    for path in glob.glob(os.path.join(ml.home, "vms", sandbox, "*")):
        if os.path.isfile(path):
            with open(path, "rb") as f:
                assert_no_value(f.read(), path)
    info = json.loads(ml.run("get", sandbox).stdout)
    for part in ("cmdline", "environ"):
        with open(f"/proc/{info['qemu_pid']}/{part}", "rb") as f:
            assert_no_value(f.read(), f"QEMU's {part}")
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True).stdout
    qemu_lines = b"\n".join(l for l in ps.splitlines() if b"qemu-system" in l)
    assert_no_value(qemu_lines, "QEMU's argv in ps")


def test_inspect_shows_secret_names_and_hosts(ml, sandbox):
    info = json.loads(ml.run("inspect", sandbox).stdout)
    assert info["network"]["mode"] == "interception"
    assert info["network"]["secrets"] == [
        {"name": "ML_SECRET_A", "hosts": ["api.example.com"]},
        {"name": "ML_SECRET_B", "hosts": ["*.example.org", "api.example.net"]},
    ]


def test_the_sandbox_ca_is_in_the_guest_trust_store(ml, sandbox):
    env = env_of(guest(ml, sandbox, "env"))
    for var in (b"SSL_CERT_FILE", b"REQUESTS_CA_BUNDLE", b"CURL_CA_BUNDLE", b"PIP_CERT",
                b"CARGO_HTTP_CAINFO", b"GIT_SSL_CAINFO", b"AWS_CA_BUNDLE"):
        assert env[var] == BUNDLE.encode(), var
    assert env[b"NODE_EXTRA_CA_CERTS"] == CA_ONLY.encode()
    ca = guest(ml, sandbox, f"cat {CA_ONLY}")
    # busybox has no CA bundle: the sandbox makes one holding its CA.
    assert ca in guest(ml, sandbox, f"cat {BUNDLE}")
    assert ca.count(b"BEGIN CERTIFICATE") == 1
    assert b"PRIVATE KEY" not in guest(ml, sandbox, "cat /etc/ssl/certs/*")
    subject = subprocess.run(["openssl", "x509", "-noout", "-subject", "-ext", "basicConstraints"],
                             input=ca, capture_output=True)
    assert subject.returncode == 0, subject.stderr
    assert sandbox.encode() in subject.stdout
    assert b"CA:TRUE" in subject.stdout
    # What the exec asks for wins over the defaults.
    mine = env_of(guest(ml, sandbox, "env", "-e", "SSL_CERT_FILE=/my/bundle.pem"))
    assert mine[b"SSL_CERT_FILE"] == b"/my/bundle.pem"
    assert mine[b"CURL_CA_BUNDLE"] == BUNDLE.encode()
