"""The engine dying mid-call, and a program crashing with a sandbox open."""

import asyncio
import json
import os
import select
import signal
import subprocess
import sys
import textwrap

import pytest

import matchlock
from conftest import BIN, IMAGE, LAUNCH, direct_config


def wait_pid_gone(pid: int, timeout: float = 60) -> None:
    """Wait (event-driven, via a pidfd) for a process that is not our child to end."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        assert ready, f"process {pid} still running after {timeout}s"
    finally:
        os.close(fd)


def running_ids() -> list:
    out = subprocess.run([BIN, "list", "--running", "-q"], capture_output=True, text=True, check=True).stdout
    return out.split()


def test_engine_killed_mid_call_fails_with_typed_error():
    client = matchlock.Client(direct_config())
    client.start()
    try:
        client.create(matchlock.Sandbox(IMAGE).options())
        proc = client.spawn("sleep 600")
        os.kill(client.engine_pid, signal.SIGKILL)
        with pytest.raises(matchlock.EngineExitedError) as info:
            proc.wait()
        assert "SIGKILL" in str(info.value) and info.value.exit_code == -signal.SIGKILL
        assert info.value.stderr is not None
        with pytest.raises(matchlock.EngineExitedError):
            client.exec("true")
    finally:
        client.close()


CRASHER = textwrap.dedent(
    """
    import json, os, sys
    import matchlock
    cfg = matchlock.Config(launch_command=json.loads(sys.argv[1]))
    client = matchlock.Client(cfg)
    client.start()
    vm = client.create(matchlock.Sandbox(sys.argv[2]).options())
    print(json.dumps({"vm": vm, "pid": client.engine_pid}), flush=True)
    if sys.argv[3] == "exit":
        os._exit(1)
    os.kill(os.getpid(), 9)
    """
)


@pytest.mark.parametrize("how", ["exit", "sigkill"])
def test_crashing_program_leaves_no_sandbox(how):
    done = subprocess.run(
        [sys.executable, "-c", CRASHER, json.dumps(LAUNCH + [BIN, "rpc"]), IMAGE, how], capture_output=True, text=True
    )
    info = json.loads(done.stdout.strip().splitlines()[-1])
    wait_pid_gone(info["pid"])
    assert info["vm"] not in running_ids()


def test_async_client_against_real_engine():
    async def main():
        async with matchlock.AsyncClient(matchlock.Config(launch_command=LAUNCH + [BIN, "rpc"])) as c:
            await c.create(matchlock.Sandbox(IMAGE).options())
            results = await asyncio.gather(*(c.exec(f"echo {i}") for i in range(5)))
            assert [r.stdout for r in results] == [f"{i}\n" for i in range(5)]
            await c.write_file("/workspace/a.txt", "async")
            assert await c.read_file("/workspace/a.txt") == b"async"
            proc = await c.spawn("cat")
            await proc.write("x")
            await proc.close_stdin()
            assert (await proc.wait()).stdout == b"x"
            with pytest.raises(matchlock.RequestTimeoutError):
                await c.exec("sleep 600", timeout=1)

    asyncio.run(main())
