"""``AsyncClient``: the same API as :class:`Client`, as coroutines, on asyncio subprocess
streams. Params and results come from the same wire module as the sync client; concurrent
calls from many tasks on one client are safe.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import Any, AsyncIterable, Callable, Dict, Iterable, List, Optional, Tuple, Union

from . import _wire as wire
from ._async_connection import AsyncConnection, AsyncPendingCall
from ._cli import check_cli_result, parse_volume, parse_volume_list
from ._engine import cli_argv, engine_argv, engine_env
from ._io import InputSource, OutputSink, OutputTarget, iter_input
from ._network_hooks import CallbackServer
from ._runtime import EventCallback, HookState, plan_create
from ._session import Session
from ._vfs_hooks import AfterHookGate, LocalAfterHook, LocalVFSHooks, apply_action_hooks, apply_mutate_hooks
from .builder import Sandbox
from .errors import MatchlockError
from .types import (
    AllowListChange,
    Config,
    CreateOptions,
    EngineVersion,
    ExecInteractiveResult,
    ExecPipeResult,
    ExecResult,
    ExecStreamResult,
    FileInfo,
    PortForwardBinding,
    ProcessResult,
    SandboxInfo,
    VFSHookEvent,
    VolumeInfo,
)

AsyncInputSource = Union[InputSource, AsyncIterable[Union[bytes, str]], asyncio.StreamReader]
DEFAULT_CLOSE_TIMEOUT = 2.0


class AsyncProcess:
    """A running guest process started with ``AsyncClient.spawn``."""

    def __init__(self, conn: AsyncConnection, call: AsyncPendingCall, stdout: OutputSink, stderr: OutputSink) -> None:
        self._conn, self._call, self._stdout, self._stderr = conn, call, stdout, stderr
        self._stdin_closed = False
        self._killed = False

    @property
    def id(self) -> int:
        return self._call.id

    @property
    def finished(self) -> bool:
        return self._call.finished

    async def write(self, data: Union[bytes, str]) -> None:
        if self._stdin_closed or self._call.finished:
            raise ValueError("stdin of this process is closed")
        await self._conn.notify("exec_pipe.stdin", wire.input_params(self._call.id, wire.to_bytes(data)))

    async def close_stdin(self) -> None:
        if self._stdin_closed or self._call.finished:
            self._stdin_closed = True
            return
        self._stdin_closed = True
        await self._conn.notify("exec_pipe.stdin_eof", wire.input_params(self._call.id))

    async def wait(self, timeout: Optional[float] = None) -> ProcessResult:
        result = await self._conn.finish(self._call, "exec_pipe", timeout)
        self._stdout.finish()
        self._stderr.finish()
        exit_code, duration_ms = wire.exit_fields(result)
        return ProcessResult(exit_code, duration_ms, bytes(self._stdout.buffer or b""), bytes(self._stderr.buffer or b""))

    async def kill(self) -> None:
        if self._killed or self._call.finished:
            return
        self._killed = True
        await self._conn.send_cancel(self._call.id)


class AsyncClient:
    """Asyncio sandbox client. ``async with AsyncClient() as client: ...``"""

    def __init__(self, config: Optional[Config] = None) -> None:
        self._config = config or Config()
        self._hooks = HookState()
        self._gate = AfterHookGate()
        self._session = Session(on_event=self._on_event_params)
        self._conn: Optional[AsyncConnection] = None
        self._server: Optional[CallbackServer] = None
        self._vm_id: Optional[str] = None
        self._last_vm_id: Optional[str] = None
        self._attached = False
        self._closed = False
        self._background: "set[asyncio.Task[Any]]" = set()

    async def __aenter__(self) -> AsyncClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def vm_id(self) -> Optional[str]:
        return self._vm_id

    @property
    def engine_pid(self) -> Optional[int]:
        return self._conn.pid if self._conn else None

    @property
    def engine_stderr(self) -> str:
        return self._conn.stderr_tail.text() if self._conn else ""

    async def start(self, _extra_args: Optional[List[str]] = None) -> None:
        if self._conn is not None:
            return
        if self._closed:
            raise MatchlockError("client is closed")
        argv = engine_argv(self._config, _extra_args)
        conn = AsyncConnection(self._session)
        await conn.start(argv, engine_env(self._config))
        self._conn = conn

    @classmethod
    async def attach(cls, vm_id: str, config: Optional[Config] = None) -> AsyncClient:
        client = cls(config)
        await client.start(["--attach", vm_id])
        client._vm_id = vm_id
        client._attached = True
        return client

    def _connection(self) -> AsyncConnection:
        if self._conn is None:
            raise MatchlockError("Matchlock process not running: await start() or use 'async with AsyncClient()'")
        return self._conn

    async def close(self, timeout: float = 0) -> None:
        await self._shutdown(timeout, stop_sandbox=not self._attached)

    async def kill(self, timeout: float = 0) -> None:
        await self._shutdown(timeout, stop_sandbox=True)

    async def _shutdown(self, timeout: float, stop_sandbox: bool) -> None:
        if self._closed:
            return
        self._closed = True
        self._hooks.vfs = LocalVFSHooks()
        if self._server is not None:
            self._server.close()
            self._server = None
        effective = timeout if timeout and timeout > 0 else DEFAULT_CLOSE_TIMEOUT
        conn = self._conn
        if conn is not None:
            if stop_sandbox and conn.alive:
                try:
                    await conn.request("close", {"timeout_seconds": effective}, timeout=effective + 5)
                except MatchlockError:
                    pass
            conn.closing = True
            await conn.close_stdin()
            await conn.wait_exit(effective)
        for task in list(self._background):
            task.cancel()
        self._last_vm_id = self._vm_id or self._last_vm_id

    async def create(self, opts: CreateOptions, timeout: Optional[float] = None) -> str:
        plan = plan_create(opts)
        conn = self._connection()
        self._server = plan.server
        try:
            result = await conn.request("create", plan.params, timeout)
        except BaseException:
            if plan.server is not None:
                plan.server.close()
                self._server = None
            raise
        self._vm_id = wire.create_result(result)
        self._hooks.vfs = plan.local_vfs
        if plan.port_forwards:
            await conn.request("port_forward", wire.port_forward_params(plan.port_forwards, plan.port_forward_addresses))
        return self._vm_id

    async def launch(self, sandbox: Sandbox, timeout: Optional[float] = None) -> str:
        opts = sandbox.options()
        opts.launch_entrypoint = True
        return await self.create(opts, timeout)

    # ── exec ──
    async def exec(
        self,
        command: str,
        working_dir: str = "",
        timeout: Optional[float] = None,
        *,
        on_stdout: Optional[Callable[[bytes], Any]] = None,
        on_stderr: Optional[Callable[[bytes], Any]] = None,
        user: str = "",
        env: Optional[Dict[str, str]] = None,
    ) -> ExecResult:
        params = wire.exec_params(command, working_dir, user, env)
        conn = self._connection()
        if on_stdout is None and on_stderr is None:
            return wire.exec_result(await conn.request("exec", params, timeout))
        streamed = wire.StreamedOutput(on_stdout, on_stderr)
        return streamed.result(await conn.request("exec_stream", params, timeout, streamed.route))

    async def exec_stream(
        self, command: str, stdout: OutputTarget = None, stderr: OutputTarget = None, working_dir: str = "", timeout: Optional[float] = None
    ) -> ExecStreamResult:
        sinks = {"exec_stream.stdout": OutputSink(stdout), "exec_stream.stderr": OutputSink(stderr)}
        result = await self._connection().request("exec_stream", wire.exec_params(command, working_dir), timeout, _router(sinks))
        for sink in sinks.values():
            sink.finish()
        return ExecStreamResult(*wire.exit_fields(result))

    async def exec_pipe(
        self,
        command: str,
        stdin: AsyncInputSource = None,
        stdout: OutputTarget = None,
        stderr: OutputTarget = None,
        working_dir: str = "",
        timeout: Optional[float] = None,
    ) -> ExecPipeResult:
        conn = self._connection()
        sinks = {"exec_pipe.stdout": OutputSink(stdout), "exec_pipe.stderr": OutputSink(stderr)}
        route = _router(sinks)
        call = AsyncPendingCall(asyncio.get_running_loop())

        def on_notification(method: str, p: Dict[str, Any]) -> None:
            if method == "exec_pipe.ready":
                self._background_task(_pump_stdin(conn, call, "exec_pipe", stdin))
            else:
                route(method, p)

        await conn.begin("exec_pipe", wire.exec_params(command, working_dir), on_notification, call)
        result = await conn.finish(call, "exec_pipe", timeout)
        for sink in sinks.values():
            sink.finish()
        return ExecPipeResult(*wire.exit_fields(result))

    async def exec_interactive(
        self,
        command: str,
        stdin: AsyncInputSource = None,
        stdout: OutputTarget = None,
        working_dir: str = "",
        rows: int = 24,
        cols: int = 80,
        resize: Union[Iterable[Tuple[int, int]], AsyncIterable[Tuple[int, int]], None] = None,
        timeout: Optional[float] = None,
        user: str = "",
    ) -> ExecInteractiveResult:
        wire.check_size("rows/cols", rows, cols)
        conn = self._connection()
        sink = OutputSink(stdout)
        call = AsyncPendingCall(asyncio.get_running_loop())

        def on_notification(method: str, p: Dict[str, Any]) -> None:
            if method == "exec_tty.ready":
                self._background_task(_pump_stdin(conn, call, "exec_tty", stdin))
                if resize is not None:
                    self._background_task(_pump_resize(conn, call, resize))
            elif method == "exec_tty.stdout":
                sink.write(wire.b64decode(p.get("data")))

        await conn.begin("exec_tty", wire.tty_params(command, working_dir, user, rows, cols), on_notification, call)
        result = await conn.finish(call, "exec_tty", timeout)
        sink.finish()
        return ExecInteractiveResult(*wire.exit_fields(result))

    # The name the protocol uses (`exec_tty`), for code that calls it that way.
    exec_tty = exec_interactive

    async def spawn(
        self,
        command: str,
        *,
        on_stdout: Optional[Callable[[bytes], Any]] = None,
        on_stderr: Optional[Callable[[bytes], Any]] = None,
        working_dir: str = "",
        user: str = "",
        env: Optional[Dict[str, str]] = None,
    ) -> AsyncProcess:
        conn = self._connection()
        sinks = {
            "exec_pipe.stdout": OutputSink(on_stdout, buffer_when_absent=True),
            "exec_pipe.stderr": OutputSink(on_stderr, buffer_when_absent=True),
        }
        route = _router(sinks)
        ready: "asyncio.Future[None]" = asyncio.get_running_loop().create_future()

        def on_notification(method: str, p: Dict[str, Any]) -> None:
            if method == "exec_pipe.ready":
                if not ready.done():
                    ready.set_result(None)
            else:
                route(method, p)

        call = await conn.begin("exec_pipe", wire.exec_params(command, working_dir, user, env), on_notification)
        # Ready, or the call ending first (an error, or the engine's exit), ends this wait.
        waits: List["asyncio.Future[Any]"] = [ready, call.future]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            await call.future  # raises the error that ended the call
        return AsyncProcess(conn, call, sinks["exec_pipe.stdout"], sinks["exec_pipe.stderr"])

    # ── files ──
    async def write_file(self, path: str, content: Any, mode: int = 0o644, timeout: Optional[float] = None) -> None:
        data = wire.to_bytes(content)
        apply_action_hooks(self._hooks.vfs, "write", path, len(data), mode)
        data = apply_mutate_hooks(self._hooks.vfs, path, data, mode)
        await self._connection().request("write_file", wire.write_file_params(path, data, mode), timeout)

    async def read_file(self, path: str, timeout: Optional[float] = None) -> bytes:
        apply_action_hooks(self._hooks.vfs, "read", path, 0, 0)
        return wire.read_file_result(await self._connection().request("read_file", {"path": path}, timeout))

    async def list_files(self, path: str, timeout: Optional[float] = None) -> List[FileInfo]:
        apply_action_hooks(self._hooks.vfs, "readdir", path, 0, 0)
        return wire.list_files_result(await self._connection().request("list_files", {"path": path}, timeout))

    async def stat(self, path: str, timeout: Optional[float] = None) -> Optional[FileInfo]:
        return wire.stat_result(await self._connection().request("stat_file", {"path": path}, timeout))

    async def exists(self, path: str, timeout: Optional[float] = None) -> bool:
        return await self.stat(path, timeout) is not None

    async def mkdir(self, path: str, mode: int = 0o755, parents: bool = True, timeout: Optional[float] = None) -> None:
        await self._connection().request("make_dir", wire.make_dir_params(path, mode, parents), timeout)

    async def remove(self, path: Optional[str] = None, recursive: bool = False, timeout: Optional[float] = None) -> None:
        """With ``path``: delete a guest file; without: ``matchlock rm`` the closed sandbox."""
        if path is None:
            vm_id = self._vm_id or self._last_vm_id
            if vm_id:
                await self._run_cli(["rm", vm_id], "rm")
            return
        await self._connection().request("remove_file", {"path": path, "recursive": recursive}, timeout)

    async def rename(self, old_path: str, new_path: str, timeout: Optional[float] = None) -> None:
        await self._connection().request("rename_file", {"old_path": old_path, "new_path": new_path}, timeout)

    # ── logs ──
    async def log(self, timeout: Optional[float] = None) -> str:
        return wire.decode_text(wire.b64decode((await self._connection().request("log", None, timeout)).get("content")))

    async def log_stream(self, stdout: OutputTarget = None, timeout: Optional[float] = None) -> None:
        sink = OutputSink(stdout)
        try:
            await self._connection().request("log_stream", None, timeout, _router({"log_stream.data": sink}))
        finally:
            sink.finish()

    # ── network ──
    async def port_forward(self, *specs: str) -> List[PortForwardBinding]:
        return await self.port_forward_with_addresses([], *specs)

    async def port_forward_with_addresses(self, addresses: List[str], *specs: str) -> List[PortForwardBinding]:
        params = wire.port_forward_params(wire.parse_specs(specs), addresses)
        return wire.port_forward_result(await self._connection().request("port_forward", params))

    async def allow_list_add(self, *hosts: str, timeout: Optional[float] = None) -> AllowListChange:
        result = await self._connection().request("allow_list_add", {"hosts": wire.normalize_hosts(hosts)}, timeout)
        return wire.allow_list_result(result, "added")

    async def allow_list_delete(self, *hosts: str, timeout: Optional[float] = None) -> AllowListChange:
        result = await self._connection().request("allow_list_delete", {"hosts": wire.normalize_hosts(hosts)}, timeout)
        return wire.allow_list_result(result, "removed")

    # ── sandbox and engine ──
    async def set_timeout(self, seconds: int, timeout: Optional[float] = None) -> Optional[str]:
        result = await self._connection().request("set_timeout", wire.set_timeout_params(seconds), timeout)
        return wire.set_timeout_result(result)

    async def version(self, timeout: Optional[float] = None) -> EngineVersion:
        return wire.version_result(await self._connection().request("version", None, timeout))

    async def list_sandboxes(self, running: Optional[bool] = None, timeout: Optional[float] = None) -> List[SandboxInfo]:
        params = {"running": running} if running is not None else None
        return wire.list_sandboxes_result(await self._connection().request("list_sandboxes", params, timeout))

    def on_event(self, callback: EventCallback) -> Callable[[], None]:
        """``callback(Event)`` for every event, in arrival order; it may be a coroutine function."""
        return self._hooks.subscribe(callback)

    def _on_event_params(self, params: Dict[str, Any]) -> None:
        # Runs inside the reader task: hand the event over without blocking it.
        if self._hooks.wants_events():
            self._background_task(self._deliver(params))

    async def _deliver(self, params: Dict[str, Any]) -> None:
        event = wire.parse_event(params)
        for callback in self._hooks.subscribers():
            try:
                outcome = callback(event)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                pass
        for hook, hook_event in self._hooks.after_hooks_for(event):
            if hook.dangerous_hook is not None:
                self._background_task(self._run_hook(hook, hook_event, gated=False))
            elif self._gate.try_enter():
                self._background_task(self._run_hook(hook, hook_event, gated=True))

    async def _run_hook(self, hook: LocalAfterHook, event: VFSHookEvent, gated: bool) -> None:
        try:
            outcome = hook.dangerous_hook(self, event) if hook.dangerous_hook is not None else hook.hook(event) if hook.hook else None
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:
            pass
        finally:
            if gated:
                self._gate.leave()

    def _background_task(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ── volumes (engine CLI) ──
    async def volume_create(self, name: str, size_mb: int = 10240) -> VolumeInfo:
        out = await self._run_cli(["volume", "create", name, "--size", str(size_mb), "--json"], "volume")
        return parse_volume(json.loads(out), name, size_mb)

    async def volume_list(self) -> List[VolumeInfo]:
        return parse_volume_list(await self._run_cli(["volume", "ls", "--json"], "volume"))

    async def volume_remove(self, name: str) -> None:
        await self._run_cli(["volume", "rm", name], "volume")

    async def _run_cli(self, args: List[str], feature: str) -> str:
        argv = cli_argv(self._config, *args)
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=engine_env(self._config)
        )
        out, err = await proc.communicate()
        stdout, stderr = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
        check_cli_result(argv, proc.returncode or 0, stdout, stderr, feature)
        return stdout


def _router(sinks: Dict[str, OutputSink]) -> Callable[[str, Dict[str, Any]], None]:
    def route(method: str, params: Dict[str, Any]) -> None:
        sink = sinks.get(method)
        if sink is not None:
            sink.write(wire.b64decode(params.get("data")))

    return route


async def _aiter_input(source: AsyncInputSource) -> AsyncIterable[bytes]:
    if isinstance(source, asyncio.StreamReader):
        while True:
            chunk = await source.read(4096)
            if not chunk:
                return
            yield chunk
    elif hasattr(source, "__aiter__"):
        async for item in source:  # type: ignore[union-attr]
            data = item.encode("utf-8") if isinstance(item, str) else bytes(item)
            if data:
                yield data
    else:
        for chunk in iter_input(source):
            yield chunk


async def _pump_stdin(conn: AsyncConnection, call: AsyncPendingCall, prefix: str, source: AsyncInputSource) -> None:
    try:
        async for chunk in _aiter_input(source):
            if call.finished:
                return
            await conn.notify(f"{prefix}.stdin", wire.input_params(call.id, chunk))
        if not call.finished:
            await conn.notify(f"{prefix}.stdin_eof", wire.input_params(call.id))
    except MatchlockError:
        pass


async def _pump_resize(
    conn: AsyncConnection, call: AsyncPendingCall, sizes: Union[Iterable[Tuple[int, int]], AsyncIterable[Tuple[int, int]]]
) -> None:
    async def each() -> AsyncIterable[Tuple[int, int]]:
        if hasattr(sizes, "__aiter__"):
            async for size in sizes:
                yield size
        else:
            for size in sizes:
                yield size

    try:
        async for rows, cols in each():
            if call.finished:
                return
            if rows > 0 and cols > 0:
                await conn.notify("exec_tty.resize", wire.resize_params(call.id, rows, cols))
    except MatchlockError:
        pass


async def async_list_sandboxes(config: Optional[Config] = None, running: Optional[bool] = None) -> List[SandboxInfo]:
    async with AsyncClient(config) as client:
        return await client.list_sandboxes(running)


