"""The synchronous client: one ``matchlock rpc`` engine process, one sandbox.

All public methods are thread-safe: any number of threads may call them at once on one
client (requests are matched to replies by id).
"""

from __future__ import annotations

import atexit
import json
import subprocess
import threading
import weakref
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from . import _wire as wire
from ._cli import check_cli_result, parse_volume, parse_volume_list
from ._engine import cli_argv, engine_argv, engine_env
from ._io import InputSource, OutputSink, OutputTarget, iter_input
from ._network_hooks import CallbackServer
from ._runtime import EventCallback, HookState, plan_create
from ._session import Session
from ._sync_connection import PendingCall, SyncConnection
from ._sync_events import SyncEventDispatcher
from ._vfs_hooks import LocalVFSHooks, apply_action_hooks, apply_mutate_hooks
from .builder import Sandbox
from .errors import MatchlockError, RPCError
from .process import Process
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
    SandboxInfo,
    VolumeInfo,
)

DEFAULT_CLOSE_TIMEOUT = 2.0
_live_clients: "weakref.WeakSet[Client]" = weakref.WeakSet()


@atexit.register
def _close_live_clients() -> None:
    # A normal interpreter exit closes sandboxes gracefully; a crash closes the engine's stdin
    # pipe instead, and the engine then stops the sandbox by itself.
    for client in list(_live_clients):
        try:
            client.close()
        except Exception:
            pass


class Client:
    """A matchlock sandbox client. Use as a context manager (``start`` / ``close``)."""

    def __init__(self, config: Optional[Config] = None) -> None:
        self._config = config or Config()
        self._session = Session(on_event=self._on_event_params)
        self._hooks = HookState()
        self._events = SyncEventDispatcher(self._hooks, self)
        self._conn: Optional[SyncConnection] = None
        self._server: Optional[CallbackServer] = None
        self._vm_id: Optional[str] = None
        self._last_vm_id: Optional[str] = None
        self._attached = False
        self._closed = False
        self._lifecycle = threading.Lock()

    # ── lifecycle ──
    def __enter__(self) -> Client:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def vm_id(self) -> Optional[str]:
        return self._vm_id

    @property
    def engine_pid(self) -> Optional[int]:
        """Process id of the spawned engine (or of the launch command)."""
        return self._conn.pid if self._conn else None

    @property
    def engine_stderr(self) -> str:
        """The last ~8 KiB the engine wrote to stderr."""
        return self._conn.stderr_tail.text() if self._conn else ""

    def start(self, _extra_args: Optional[List[str]] = None) -> None:
        """Spawn the engine (idempotent). Raises EngineNotFoundError if there is none."""
        with self._lifecycle:
            if self._conn is not None:
                return
            if self._closed:
                raise MatchlockError("client is closed")
            argv = engine_argv(self._config, _extra_args)
            self._conn = SyncConnection(argv, engine_env(self._config), self._session)
            _live_clients.add(self)

    @classmethod
    def attach(cls, vm_id: str, config: Optional[Config] = None) -> Client:
        """A started client attached to the running sandbox ``vm_id`` (``rpc --attach``).
        ``close()`` detaches; ``kill()`` stops the sandbox."""
        client = cls(config)
        client.start(["--attach", vm_id])
        client._vm_id = vm_id
        client._attached = True
        return client

    def _connection(self) -> SyncConnection:
        if self._conn is None:
            raise MatchlockError("Matchlock process not running: call start() or use 'with Client()'")
        return self._conn

    def close(self, timeout: float = 0) -> None:
        """Stop the sandbox and the engine (attached clients only detach). Idempotent."""
        self._shutdown(timeout, stop_sandbox=not self._attached)

    def kill(self, timeout: float = 0) -> None:
        """Stop the sandbox even when attached, then end this client."""
        self._shutdown(timeout, stop_sandbox=True)

    def _shutdown(self, timeout: float, stop_sandbox: bool) -> None:
        with self._lifecycle:
            if self._closed:
                return
            self._closed = True
        _live_clients.discard(self)
        self._hooks.vfs = LocalVFSHooks()
        if self._server is not None:
            self._server.close()
            self._server = None
        effective = timeout if timeout and timeout > 0 else DEFAULT_CLOSE_TIMEOUT
        conn = self._conn
        if conn is not None:
            if stop_sandbox and conn.alive:
                try:
                    conn.request("close", {"timeout_seconds": effective}, timeout=effective + 5)
                except MatchlockError:
                    pass  # the engine is stopping either way; stdin EOF below finishes it
            conn.closing = True
            conn.close_stdin()
            conn.wait_exit(effective)
        self._events.close()
        self._last_vm_id = self._vm_id or self._last_vm_id


    # ── create ──
    def create(self, opts: CreateOptions, timeout: Optional[float] = None) -> str:
        """Create and boot the sandbox; returns its id. Port forwards in ``opts`` are applied
        afterwards: if that fails the error is raised but ``vm_id`` is kept."""
        plan = plan_create(opts)
        conn = self._connection()
        self._server = plan.server
        try:
            result = conn.request("create", plan.params, timeout)
        except BaseException:
            if plan.server is not None:
                plan.server.close()
                self._server = None
            raise
        self._vm_id = wire.create_result(result)
        self._hooks.vfs = plan.local_vfs
        if plan.port_forwards:
            conn.request("port_forward", wire.port_forward_params(plan.port_forwards, plan.port_forward_addresses))
        return self._vm_id

    def launch(self, sandbox: Sandbox, timeout: Optional[float] = None) -> str:
        """Create the sandbox from a builder and start the image's entrypoint."""
        opts = sandbox.options()
        opts.launch_entrypoint = True
        return self.create(opts, timeout)

    # ── exec ──
    def exec(
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
        """Run ``command`` (``sh -c``) and return its buffered output. With ``on_stdout`` /
        ``on_stderr`` the output is also delivered as it arrives (via ``exec_stream``)."""
        params = wire.exec_params(command, working_dir, user, env)
        conn = self._connection()
        if on_stdout is None and on_stderr is None:
            return wire.exec_result(conn.request("exec", params, timeout))
        streamed = wire.StreamedOutput(on_stdout, on_stderr)
        return streamed.result(conn.request("exec_stream", params, timeout, streamed.route))

    def exec_stream(
        self,
        command: str,
        stdout: OutputTarget = None,
        stderr: OutputTarget = None,
        working_dir: str = "",
        timeout: Optional[float] = None,
    ) -> ExecStreamResult:
        """Run ``command`` streaming its output to ``stdout`` / ``stderr`` as it arrives."""
        params = wire.exec_params(command, working_dir)
        sinks = {"exec_stream.stdout": OutputSink(stdout), "exec_stream.stderr": OutputSink(stderr)}
        result = self._connection().request("exec_stream", params, timeout, _router(sinks))
        for sink in sinks.values():
            sink.finish()
        return ExecStreamResult(*wire.exit_fields(result))

    def exec_pipe(
        self,
        command: str,
        stdin: InputSource = None,
        stdout: OutputTarget = None,
        stderr: OutputTarget = None,
        working_dir: str = "",
        timeout: Optional[float] = None,
    ) -> ExecPipeResult:
        """Run ``command`` with ``stdin`` fed to it (EOF at the end of the source)."""
        params = wire.exec_params(command, working_dir)
        conn = self._connection()
        sinks = {"exec_pipe.stdout": OutputSink(stdout), "exec_pipe.stderr": OutputSink(stderr)}
        call = PendingCall()
        route = _router(sinks)

        def on_notification(method: str, p: Dict[str, Any]) -> None:
            if method == "exec_pipe.ready":
                _start_pump(conn, call, "exec_pipe", stdin)
            else:
                route(method, p)

        conn.begin("exec_pipe", params, on_notification, call)
        result = conn.finish(call, "exec_pipe", timeout)
        for sink in sinks.values():
            sink.finish()
        return ExecPipeResult(*wire.exit_fields(result))

    def exec_interactive(
        self,
        command: str,
        stdin: InputSource = None,
        stdout: OutputTarget = None,
        working_dir: str = "",
        rows: int = 24,
        cols: int = 80,
        resize: Optional[Iterable[Tuple[int, int]]] = None,
        timeout: Optional[float] = None,
        user: str = "",
    ) -> ExecInteractiveResult:
        """Run ``command`` on a pseudo-terminal of ``rows`` x ``cols``; ``resize`` yields
        new ``(rows, cols)`` sizes while it runs."""
        wire.check_size("rows/cols", rows, cols)
        params = wire.tty_params(command, working_dir, user, rows, cols)
        conn = self._connection()
        sink = OutputSink(stdout)
        call = PendingCall()

        def on_notification(method: str, p: Dict[str, Any]) -> None:
            if method == "exec_tty.ready":
                _start_pump(conn, call, "exec_tty", stdin)
                if resize is not None:
                    threading.Thread(target=_pump_resize, args=(conn, call, resize), daemon=True).start()
            elif method == "exec_tty.stdout":
                sink.write(wire.b64decode(p.get("data")))

        conn.begin("exec_tty", params, on_notification, call)
        result = conn.finish(call, "exec_tty", timeout)
        sink.finish()
        return ExecInteractiveResult(*wire.exit_fields(result))

    # The name the protocol uses (`exec_tty`), for code that calls it that way.
    exec_tty = exec_interactive

    def spawn(
        self,
        command: str,
        *,
        on_stdout: Optional[Callable[[bytes], Any]] = None,
        on_stderr: Optional[Callable[[bytes], Any]] = None,
        working_dir: str = "",
        user: str = "",
        env: Optional[Dict[str, str]] = None,
    ) -> Process:
        """Start ``command`` in the background and return a :class:`Process` once its stdin
        is ready. Output is buffered for ``Process.wait`` unless callbacks are given."""
        params = wire.exec_params(command, working_dir, user, env)
        conn = self._connection()
        sinks = {
            "exec_pipe.stdout": OutputSink(on_stdout, buffer_when_absent=True),
            "exec_pipe.stderr": OutputSink(on_stderr, buffer_when_absent=True),
        }
        ready = threading.Event()
        started = threading.Event()
        route = _router(sinks)

        def on_notification(method: str, p: Dict[str, Any]) -> None:
            if method == "exec_pipe.ready":
                started.set()
                ready.set()
            else:
                route(method, p)

        call = conn.begin("exec_pipe", params, on_notification, PendingCall(wake=ready))
        # Woken by `ready`, or by the call ending first (an error, or the engine's exit).
        ready.wait()
        if not started.is_set():
            call.outcome()  # raises the error that ended the call before it started
        return Process(conn, call, sinks["exec_pipe.stdout"], sinks["exec_pipe.stderr"])

    # ── files ──
    def write_file(self, path: str, content: Any, mode: int = 0o644, timeout: Optional[float] = None) -> None:
        data = wire.to_bytes(content)
        apply_action_hooks(self._hooks.vfs, "write", path, len(data), mode)
        data = apply_mutate_hooks(self._hooks.vfs, path, data, mode)
        self._connection().request("write_file", wire.write_file_params(path, data, mode), timeout)

    def read_file(self, path: str, timeout: Optional[float] = None) -> bytes:
        apply_action_hooks(self._hooks.vfs, "read", path, 0, 0)
        return wire.read_file_result(self._connection().request("read_file", {"path": path}, timeout))

    def list_files(self, path: str, timeout: Optional[float] = None) -> List[FileInfo]:
        apply_action_hooks(self._hooks.vfs, "readdir", path, 0, 0)
        return wire.list_files_result(self._connection().request("list_files", {"path": path}, timeout))

    def stat(self, path: str, timeout: Optional[float] = None) -> Optional[FileInfo]:
        """File info without following a final symlink, or None when ``path`` does not exist."""
        return wire.stat_result(self._connection().request("stat_file", {"path": path}, timeout))

    def exists(self, path: str, timeout: Optional[float] = None) -> bool:
        return self.stat(path, timeout) is not None

    def mkdir(self, path: str, mode: int = 0o755, parents: bool = True, timeout: Optional[float] = None) -> None:
        self._connection().request("make_dir", wire.make_dir_params(path, mode, parents), timeout)

    def remove(self, path: Optional[str] = None, recursive: bool = False, timeout: Optional[float] = None) -> None:
        """With ``path``: delete that guest file (or directory tree with ``recursive``).
        Without: delete the stopped sandbox's state (``matchlock rm``), after ``close()``."""
        if path is None:
            vm_id = self._vm_id or self._last_vm_id
            if vm_id:
                self._run_cli(["rm", vm_id], "rm")
            return
        self._connection().request("remove_file", {"path": path, "recursive": recursive}, timeout)

    def rename(self, old_path: str, new_path: str, timeout: Optional[float] = None) -> None:
        self._connection().request("rename_file", {"old_path": old_path, "new_path": new_path}, timeout)

    # ── logs ──
    def log(self, timeout: Optional[float] = None) -> str:
        """The sandbox's console/engine log so far."""
        content = wire.b64decode(self._connection().request("log", None, timeout).get("content"))
        return wire.decode_text(content)

    def log_stream(self, stdout: OutputTarget = None, timeout: Optional[float] = None) -> None:
        """Follow the log into ``stdout`` until ``timeout`` (then RequestTimeoutError) or
        until the engine ends the stream."""
        sink = OutputSink(stdout)
        try:
            self._connection().request("log_stream", None, timeout, _router({"log_stream.data": sink}))
        finally:
            sink.finish()

    # ── network ──
    def port_forward(self, *specs: str) -> List[PortForwardBinding]:
        """Forward host ports (``"[LOCAL:]REMOTE"``) to the guest on 127.0.0.1."""
        return self.port_forward_with_addresses([], *specs)

    def port_forward_with_addresses(self, addresses: List[str], *specs: str) -> List[PortForwardBinding]:
        params = wire.port_forward_params(wire.parse_specs(specs), addresses)
        return wire.port_forward_result(self._connection().request("port_forward", params))

    def allow_list_add(self, *hosts: str, timeout: Optional[float] = None) -> AllowListChange:
        params = {"hosts": wire.normalize_hosts(hosts)}
        return wire.allow_list_result(self._connection().request("allow_list_add", params, timeout), "added")

    def allow_list_delete(self, *hosts: str, timeout: Optional[float] = None) -> AllowListChange:
        params = {"hosts": wire.normalize_hosts(hosts)}
        return wire.allow_list_result(self._connection().request("allow_list_delete", params, timeout), "removed")

    # ── sandbox and engine ──
    def set_timeout(self, seconds: int, timeout: Optional[float] = None) -> Optional[str]:
        """Stop the sandbox ``seconds`` from now (0 clears); returns the expiry (RFC 3339)."""
        return wire.set_timeout_result(self._connection().request("set_timeout", wire.set_timeout_params(seconds), timeout))

    def version(self, timeout: Optional[float] = None) -> EngineVersion:
        """The engine's version and commit."""
        return wire.version_result(self._connection().request("version", None, timeout))

    def list_sandboxes(self, running: Optional[bool] = None, timeout: Optional[float] = None) -> List[SandboxInfo]:
        params = {"running": running} if running is not None else None
        return wire.list_sandboxes_result(self._connection().request("list_sandboxes", params, timeout))

    def on_event(self, callback: EventCallback) -> Callable[[], None]:
        """Call ``callback(Event)`` for every ``event`` notification (file and network), on a
        dispatcher thread, in arrival order. Returns a function that unsubscribes."""
        return self._hooks.subscribe(callback)

    def _on_event_params(self, params: Dict[str, Any]) -> None:
        self._events.submit(params)

    # ── volumes (engine CLI) ──
    def volume_create(self, name: str, size_mb: int = 10240) -> VolumeInfo:
        out = self._run_cli(["volume", "create", name, "--size", str(size_mb), "--json"], "volume")
        return parse_volume(json.loads(out), name, size_mb)

    def volume_list(self) -> List[VolumeInfo]:
        return parse_volume_list(self._run_cli(["volume", "ls", "--json"], "volume"))

    def volume_remove(self, name: str) -> None:
        self._run_cli(["volume", "rm", name], "volume")

    def _run_cli(self, args: List[str], feature: str) -> str:
        argv = cli_argv(self._config, *args)
        done = subprocess.run(argv, capture_output=True, text=True, env=engine_env(self._config))
        check_cli_result(argv, done.returncode, done.stdout, done.stderr, feature)
        return done.stdout


def _router(sinks: Dict[str, OutputSink]) -> Callable[[str, Dict[str, Any]], None]:
    def route(method: str, params: Dict[str, Any]) -> None:
        sink = sinks.get(method)
        if sink is not None:
            sink.write(wire.b64decode(params.get("data")))

    return route


def _start_pump(conn: SyncConnection, call: PendingCall, prefix: str, source: InputSource) -> None:
    threading.Thread(target=_pump_stdin, args=(conn, call, prefix, source), daemon=True).start()


def _pump_stdin(conn: SyncConnection, call: PendingCall, prefix: str, source: InputSource) -> None:
    try:
        for chunk in iter_input(source):
            if call.finished:
                return
            conn.notify(f"{prefix}.stdin", wire.input_params(call.id, chunk))
        if not call.finished:
            conn.notify(f"{prefix}.stdin_eof", wire.input_params(call.id))
    except MatchlockError:
        pass  # the engine is gone; the call itself reports that


def _pump_resize(conn: SyncConnection, call: PendingCall, sizes: Iterable[Tuple[int, int]]) -> None:
    try:
        for rows, cols in sizes:
            if call.finished:
                return
            if rows > 0 and cols > 0:
                conn.notify("exec_tty.resize", wire.resize_params(call.id, rows, cols))
    except MatchlockError:
        pass


def list_sandboxes(config: Optional[Config] = None, running: Optional[bool] = None) -> List[SandboxInfo]:
    """Sandboxes known to the engine's state directory (spawns an engine briefly)."""
    with Client(config) as client:
        return client.list_sandboxes(running)
