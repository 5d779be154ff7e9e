"""Bad input: a one-line error naming the flag, a non-zero exit, and nothing left behind."""
import pytest

from conftest import IMAGE

CASES = [
    (["run", "true"], "--image"),
    (["run", "--image", "no-such/image:latest", "true"], "no-such/image"),
    (["run", "--image", IMAGE, "--cpus", "abc", "true"], "--cpus"),
    (["run", "--image", IMAGE, "--cpus", "0", "true"], "--cpus"),
    (["run", "--image", IMAGE, "--cpus", "999", "true"], "--cpus"),
    (["run", "--image", IMAGE, "--memory", "lots", "true"], "--memory"),
    (["run", "--image", IMAGE, "--memory", "0", "true"], "--memory"),
    (["run", "--image", IMAGE, "--disk-size", "-5", "true"], "--disk-size"),
    (["run", "--image", IMAGE, "--timeout", "soon", "true"], "--timeout"),
    (["run", "--image", IMAGE, "--timeout", "99999999999999999999", "true"], "--timeout"),
    (["run", "--image", IMAGE, "--timeout", "1e30s", "true"], "--timeout"),
    (["run", "--image", IMAGE, "--graceful-shutdown", "99999999999999999999", "true"],
     "--graceful-shutdown"),
    (["run", "--image", IMAGE, "--env-file", "/nonexistent/x.env", "true"], "--env-file"),
    (["run", "--image", IMAGE, "--env-file", "/tmp", "true"], "--env-file /tmp: not a regular file"),
    (["run", "--image", IMAGE, "-p", "80:0", "true"], "--publish"),
    (["run", "--image", IMAGE, "--address", "127.0.0.1", "true"], "--address"),
    (["run", "--image", IMAGE, "-v", "/tmp:/x", "true"], "invalid volume mount \"/tmp:/x\""),
    (["run", "--image", IMAGE, "-v", "/nonexistent/x:data", "true"], "host path does not exist"),
    (["run", "--image", IMAGE, "--workspace", "/etc", "true"], "--workspace"),
    (["run", "--image", IMAGE, "-v", "/tmp:data:bind", "true"], "invalid volume mount \"/tmp:data:bind\""),
    (["run", "--image", IMAGE, "-v", "/tmp:../../etc", "true"], "invalid volume mount \"/tmp:../../etc\""),
    (["run", "--image", IMAGE, "-v", "/tmp:/workspace/a/../../b", "true"],
     "invalid volume mount \"/tmp:/workspace/a/../../b\""),
    (["run", "--image", IMAGE, "-v", "/tmp:data", "-v", "/var:data/", "true"],
     "invalid volume mount \"/var:data/\""),
    (["run", "--image", IMAGE, "-v", "/tmp", "true"], "invalid volume mount \"/tmp\""),
    (["run", "-d", "-i", "--image", IMAGE, "true"], "-d cannot be combined with -i or -t"),
    (["run", "--image", IMAGE, "-e", "MATCHLOCK_SURELY_UNSET_VAR", "true"],
     "MATCHLOCK_SURELY_UNSET_VAR"),
    (["run", "--image", IMAGE, "-u", "a:b:c", "true"], "--user"),
    (["run", "--image", IMAGE, "--hostname", "bad_host!", "true"], "--hostname"),
    (["run", "--image", IMAGE, "--no-such-flag", "true"], "--no-such-flag"),
    (["run", "--image", IMAGE, "--dns-servers", "not-an-ip", "true"], "--dns-servers"),
    (["run", "--image", IMAGE, "--no-network", "--secret", "K=v@h", "true"],
     "--no-network cannot be combined with --secret"),
    (["run", "--image", IMAGE, "--no-network", "--local-model-route", "x", "true"],
     "--no-network cannot be combined with --local-model-route"),
    (["run", "--image", IMAGE, "--secret", "K=v@bad host", "true"], "--secret K: host 1"),
    (["run", "--image", IMAGE, "--budget-limit-usd", "1", "true"], "--budget-limit-usd"),
]


@pytest.mark.parametrize("args,named", CASES, ids=[" ".join(c[0][1:4]) for c in CASES])
def test_bad_input_is_refused_cleanly(ml, args, named):
    r = ml.run(*args)
    assert r.returncode != 0
    err = r.stderr.decode()
    assert err.count("\n") == 1, err
    assert err.startswith("matchlock: ")
    assert named in err
    ml.assert_nothing_left()


def test_every_command_has_help(ml):
    for cmd in (["run"], ["rpc"], ["image"], ["image", "import"], ["image", "ls"],
                ["image", "rm"], ["version"]):
        r = ml.run(*cmd, "--help")
        assert r.returncode == 0, (cmd, r.stderr)
        assert b"matchlock" in r.stdout


def test_version(ml):
    r = ml.run("version")
    assert r.returncode == 0
    assert r.stdout.startswith(b"matchlock ")
