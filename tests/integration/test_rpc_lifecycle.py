"""`matchlock rpc` lifecycle: errors before and during create, and teardown paths. Each case
starts its own engine, so the check that nothing is left behind is exact."""
import pytest

from conftest import IMAGE
from rpc_client import Rpc, RpcError


def test_methods_before_create_say_vm_not_created(ml):
    rpc = Rpc(ml.env)
    try:
        with pytest.raises(RpcError) as e:
            rpc.call("exec", {"command": "true"})
        assert (e.value.code, e.value.message) == (-32000, "VM not created")
        assert rpc.close() == ({}, 0)
    finally:
        rpc.kill()


@pytest.mark.parametrize("params,field", [
    ({}, "image"),
    ({"image": IMAGE, "id": "vm-12345678"}, "id"),
    ({"image": IMAGE, "resources": {"cpus": -1}}, "resources.cpus"),
    ({"image": IMAGE, "resources": {"memory_mb": "lots"}}, "resources.memory_mb"),
    ({"image": "no-such/image:1"}, "no-such/image"),
])
def test_bad_create_params_are_refused_and_leave_nothing(ml, params, field):
    rpc = Rpc(ml.env)
    try:
        rid = rpc.send("create", params, validate=False)
        _, resp = rpc.wait(rid)
        assert resp["error"]["code"] in (-32602, -32000)
        assert field in resp["error"]["message"]
        ml.assert_nothing_left()
    finally:
        rpc.kill()


def test_stdin_eof_without_close_tears_everything_down(ml):
    rpc = Rpc(ml.env)
    try:
        rpc.call("create", {"image": IMAGE})
        rid = rpc.send("exec", {"command": "sleep 600"})
        rpc.proc.stdin.close()
        _, resp = rpc.wait(rid)
        assert resp["error"]["code"] == -32003
        assert rpc.proc.wait(timeout=60) == 0
        ml.assert_nothing_left()
    finally:
        rpc.kill()


def test_launch_entrypoint_failure_fails_create(ml):
    rpc = Rpc(ml.env)
    try:
        rid = rpc.send("create", {"image": IMAGE, "launch_entrypoint": True,
                                  "image_config": {"entrypoint": ["sh", "-c"], "cmd": ["exit 3"]}})
        _, resp = rpc.wait(rid)
        assert resp["error"]["code"] == -32000
        assert "start image entrypoint" in resp["error"]["message"]
        ml.assert_nothing_left()
    finally:
        rpc.kill()
