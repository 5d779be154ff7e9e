"""A command started with ``Client.spawn``: write its stdin, wait for it, or kill it."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Optional, Union

from . import _wire as wire
from ._io import OutputSink
from .errors import RPCError
from .types import ProcessResult

if TYPE_CHECKING:
    from ._sync_connection import PendingCall, SyncConnection


class Process:
    """A running guest process (``exec_pipe``). Thread-safe.

    Output goes to the ``on_stdout``/``on_stderr`` callbacks given to ``spawn``, or is
    buffered and returned by :meth:`wait`.
    """

    def __init__(self, conn: SyncConnection, call: PendingCall, stdout: OutputSink, stderr: OutputSink) -> None:
        self._conn = conn
        self._call = call
        self._stdout = stdout
        self._stderr = stderr
        self._lock = threading.Lock()
        self._stdin_closed = False
        self._killed = False

    @property
    def id(self) -> int:
        """The request id of the ``exec_pipe`` call."""
        return self._call.id

    def write(self, data: Union[bytes, str]) -> None:
        """Send bytes to the process's stdin."""
        with self._lock:
            if self._stdin_closed or self._call.finished:
                raise ValueError("stdin of this process is closed")
            self._conn.notify("exec_pipe.stdin", wire.input_params(self._call.id, wire.to_bytes(data)))

    def close_stdin(self) -> None:
        """Send EOF to the process's stdin (idempotent)."""
        with self._lock:
            if self._stdin_closed or self._call.finished:
                self._stdin_closed = True
                return
            self._stdin_closed = True
            self._conn.notify("exec_pipe.stdin_eof", wire.input_params(self._call.id))

    def wait(self, timeout: Optional[float] = None) -> ProcessResult:
        """Wait for the process to end. On timeout the process is killed and
        :class:`RequestTimeoutError` raised. A killed process returns its exit status
        (signal exits are ``128 + N``) or raises ``RPCError`` with ``CANCELLED``."""
        result = self._conn.finish(self._call, "exec_pipe", timeout)
        exit_code, duration_ms = wire.exit_fields(result)
        self._stdout.finish()
        self._stderr.finish()
        return ProcessResult(
            exit_code=exit_code,
            duration_ms=duration_ms,
            stdout=bytes(self._stdout.buffer or b""),
            stderr=bytes(self._stderr.buffer or b""),
        )

    def kill(self) -> None:
        """Cancel the process in the engine (SIGTERM, then SIGKILL); ``wait`` then returns."""
        with self._lock:
            if self._killed or self._call.finished:
                return
            self._killed = True
        self._conn.send_cancel(self._call.id)

    @property
    def finished(self) -> bool:
        return self._call.finished

    def __enter__(self) -> Process:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._call.finished:
            self.kill()
        try:
            self._conn.finish(self._call, "exec_pipe", None)
        except RPCError:
            pass
