"""Builder → exact create params (the shapes the engine receives)."""

import pytest

from matchlock import (
    ImageConfig,
    NetworkHookRule,
    NetworkInterceptionConfig,
    Sandbox,
    ValidationError,
    VFSHookRule,
    VFSInterceptionConfig,
)
from matchlock._runtime import plan_create


def params(sandbox: Sandbox) -> dict:
    plan = plan_create(sandbox.options())
    if plan.server is not None:
        plan.server.close()
    return plan.params


def test_minimal_create_sends_only_the_image():
    assert params(Sandbox("alpine:latest")) == {"image": "alpine:latest"}


def test_resources_only_nonzero_fields():
    assert params(Sandbox("a").with_cpus(2).with_memory(1024)) == {
        "image": "a",
        "resources": {"cpus": 2, "memory_mb": 1024},
    }


def test_full_network_object():
    sb = (
        Sandbox("a")
        .allow_host("api.openai.com")
        .add_host("api.internal", "10.0.0.10")
        .with_dns_servers("1.1.1.1")
        .with_hostname("sandbox")
        .with_network_mtu(1200)
    )
    assert params(sb)["network"] == {
        "allowed_hosts": ["api.openai.com"],
        "block_private_ips": True,
        "add_hosts": [{"host": "api.internal", "ip": "10.0.0.10"}],
        "dns_servers": ["1.1.1.1"],
        "hostname": "sandbox",
        "mtu": 1200,
    }


def test_forced_interception_only():
    assert params(Sandbox("a").with_network_interception())["network"] == {
        "allowed_hosts": [],
        "block_private_ips": True,
        "intercept": True,
    }


def test_private_ips_explicitly_allowed():
    assert params(Sandbox("a").allow_private_ips())["network"] == {"allowed_hosts": [], "block_private_ips": False}


def test_secrets_shape():
    sb = Sandbox("a").add_secret("API_KEY", "sk-1", "api.example.com")
    assert params(sb)["network"] == {
        "allowed_hosts": [],
        "block_private_ips": True,
        "secrets": {"API_KEY": {"value": "sk-1", "hosts": ["api.example.com"]}},
    }


def test_no_network_form_and_conflict():
    assert params(Sandbox("a").with_no_network().with_hostname("h"))["network"] == {"no_network": True, "hostname": "h"}
    with pytest.raises(ValidationError, match="no_network"):
        params(Sandbox("a").with_no_network().allow_host("x.com"))


def test_vfs_mounts_workspace_env_image_config():
    sb = (
        Sandbox("a")
        .with_workspace("/workspace")
        .mount_memory("/workspace")
        .mount_host_dir_readonly("/workspace/data", "/srv/data")
        .mount_overlay("/workspace/src", "/home/me/src")
        .with_env("FOO", "bar")
        .with_user("1000")
        .with_entrypoint("sh", "-c")
        .with_image_config(ImageConfig(cmd=["echo hi"], working_dir="/app"))
        .with_privileged()
    )
    p = params(sb)
    assert p["vfs"] == {
        "mounts": {
            "/workspace": {"type": "memory"},
            "/workspace/data": {"type": "host_fs", "host_path": "/srv/data", "readonly": True},
            "/workspace/src": {"type": "overlay", "host_path": "/home/me/src"},
        },
        "workspace": "/workspace",
    }
    assert p["env"] == {"FOO": "bar"}
    assert p["image_config"] == {"user": "1000", "working_dir": "/app", "entrypoint": ["sh", "-c"], "cmd": ["echo hi"]}
    assert p["privileged"] is True


def test_options_is_a_deep_copy():
    sb = Sandbox("a").allow_host("x.com")
    opts = sb.options()
    sb.allow_host("y.com")
    assert opts.allowed_hosts == ["x.com"]


@pytest.mark.parametrize(
    "verb, option",
    [
        (lambda s: s.with_cpus(0), "cpus"),
        (lambda s: s.with_memory(-1), "memory"),
        (lambda s: s.add_host("bad host", "1.2.3.4"), "add_host"),
        (lambda s: s.add_host("h", "not-an-ip"), "add_host"),
        (lambda s: s.with_port_forward(0, 80), "port_forward"),
        (lambda s: s.with_port_forward_spec("x:80"), "port_forward"),
        (lambda s: s.mount("relative", __import__("matchlock").MountConfig()), "mount"),
        (lambda s: s.with_env("A=B", "v"), "env"),
    ],
)
def test_invalid_input_names_the_option(verb, option):
    with pytest.raises(ValidationError) as info:
        verb(Sandbox("a"))
    assert info.value.option == option


def test_vfs_hook_compilation():
    rules = [
        VFSHookRule(name="deny", phase="before", ops=["create"], path="/workspace/blocked*", action="block"),
        VFSHookRule(name="audit", phase="after", ops=["write"], hook=lambda e: None),
        VFSHookRule(name="scrub", ops=["write"], mutate_hook=lambda r: b"x"),
        VFSHookRule(name="gate", ops=["read"], action_hook=lambda r: "allow"),
    ]
    p = params(Sandbox("a").with_vfs_interception(VFSInterceptionConfig(rules=rules)))
    assert p["vfs"] == {
        "interception": {
            "emit_events": True,
            "rules": [{"action": "block", "name": "deny", "phase": "before", "ops": ["create"], "path": "/workspace/blocked*"}],
        }
    }


def test_single_after_hook_yields_emit_events_only():
    cfg = VFSInterceptionConfig(rules=[VFSHookRule(phase="after", hook=lambda e: None)])
    assert params(Sandbox("a").with_vfs_interception(cfg))["vfs"] == {"interception": {"emit_events": True}}


def test_vfs_hook_rule_errors():
    bad = [
        VFSHookRule(hook=lambda e: None),  # after-hook without phase=after
        VFSHookRule(action="mutate_write"),
        VFSHookRule(phase="after", action="block", hook=lambda e: None),
        VFSHookRule(phase="after", hook=lambda e: None, dangerous_hook=lambda c, e: None),
    ]
    for rule in bad:
        with pytest.raises(ValidationError):
            plan_create(Sandbox("a").with_vfs_interception(VFSInterceptionConfig(rules=[rule])).options())


def test_network_rules_and_callback_ids():
    rules = [
        NetworkHookRule(name="block", hosts=["evil.com"], action="block"),
        NetworkHookRule(name="cb", phase="after", hook=lambda r: None, timeout_ms=1500),
    ]
    plan = plan_create(Sandbox("a").with_network_interception(NetworkInterceptionConfig(rules=rules)).options())
    try:
        assert plan.server is not None
        net = plan.params["network"]
        assert net["intercept"] is True
        assert net["interception"] == {
            "rules": [
                {"action": "block", "name": "block", "hosts": ["evil.com"]},
                {"action": "allow", "name": "cb", "phase": "after", "timeout_ms": 1500, "callback_id": "network_hook_2"},
            ],
            "callback_socket": plan.server.socket_path,
        }
    finally:
        plan.server.close()


def test_options_copy_keeps_hooks_bound_to_unpicklable_objects():
    import threading

    class Sink:
        def __init__(self):
            self.lock = threading.Lock()

        def add(self, event):
            pass

    sink = Sink()
    cfg = VFSInterceptionConfig(rules=[VFSHookRule(phase="after", hook=sink.add)])
    opts = Sandbox("a").with_vfs_interception(cfg).options()
    assert opts.vfs_interception.rules[0].hook == sink.add


def test_exec_tty_is_the_protocol_name_of_exec_interactive() -> None:
    import matchlock

    assert matchlock.Client.exec_tty is matchlock.Client.exec_interactive
    assert matchlock.AsyncClient.exec_tty is matchlock.AsyncClient.exec_interactive
