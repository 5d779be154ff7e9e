"""The engine process and its pipes for the thread-based :class:`Client`.

One reader thread routes stdout lines through the :class:`Session`; one thread keeps the
stderr tail (so the engine never blocks on a full stderr pipe); writes are serialised by a
lock. When stdout ends, every pending call fails at once with an error naming the exit and
carrying the stderr tail.
"""

from __future__ import annotations

import subprocess
import threading
from typing import IO, Any, Dict, List, Optional

from ._engine import StderrTail, exit_error
from ._session import NotificationHandler, Session
from ._wire import encode_message
from .errors import EngineExitedError, MatchlockError, RequestTimeoutError

# Bounds for waits that follow the engine's own end (its exit after stdout closed, the
# stderr reader draining): they normally finish at once; the bound only guards against a
# grandchild that keeps a pipe open.
_EXIT_GRACE_SECONDS = 5.0


class PendingCall:
    """A request in flight; ``wait`` returns its result or raises its error."""

    def __init__(self, wake: Optional[threading.Event] = None) -> None:
        self._done = threading.Event()
        self._wake = wake
        self._result: Optional[Dict[str, Any]] = None
        self._error: Optional[BaseException] = None
        self.id = 0

    def resolve(self, result: Optional[Dict[str, Any]], error: Optional[BaseException]) -> None:
        self._result, self._error = result, error
        self._done.set()
        if self._wake is not None:
            self._wake.set()

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    def wait_done(self, timeout: Optional[float]) -> bool:
        return self._done.wait(timeout)

    def outcome(self) -> Dict[str, Any]:
        if self._error is not None:
            raise self._error
        return self._result or {}


class SyncConnection:
    def __init__(self, argv: List[str], env: Optional[Dict[str, str]], session: Session) -> None:
        self.argv = argv
        self.session = session
        self.stderr_tail = StderrTail()
        self.closing = False
        self._write_lock = threading.Lock()
        self._exited = threading.Event()
        self._proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        self._stderr_thread = threading.Thread(target=self._read_stderr, name="matchlock-stderr", daemon=True)
        self._stderr_thread.start()
        self._reader = threading.Thread(target=self._read_stdout, name="matchlock-reader", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def alive(self) -> bool:
        return not self._exited.is_set()

    # ── reading ──
    def _read_stderr(self) -> None:
        stream: IO[bytes] = self._proc.stderr  # type: ignore[assignment]
        while True:
            chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
            if not chunk:
                return
            self.stderr_tail.append(chunk)

    def _read_stdout(self) -> None:
        stream: IO[bytes] = self._proc.stdout  # type: ignore[assignment]
        try:
            for line in stream:
                self.session.feed_line(line)
        except (OSError, ValueError):
            pass
        finally:
            try:
                returncode: Optional[int] = self._proc.wait(_EXIT_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                returncode = None
            self._stderr_thread.join(_EXIT_GRACE_SECONDS)
            self.session.fail_all(exit_error(returncode, self.stderr_tail.text(), self.closing))
            self._exited.set()

    # ── writing ──
    def _write(self, data: bytes) -> None:
        stdin: IO[bytes] = self._proc.stdin  # type: ignore[assignment]
        try:
            with self._write_lock:
                stdin.write(data)
                stdin.flush()
        except (OSError, ValueError):
            raise self._gone_error() from None

    def _gone_error(self) -> MatchlockError:
        # A failed write means the engine is going away; its exit error is more useful than
        # EPIPE, and the reader produces it as soon as stdout ends.
        self._exited.wait(_EXIT_GRACE_SECONDS)
        failure = self.session.failure
        if failure is not None:
            return failure
        return EngineExitedError("matchlock engine stopped reading its input", exit_code=None, stderr=self.stderr_tail.text())

    def notify(self, method: str, params: Dict[str, Any]) -> None:
        """Send a message that is never answered (stdin data, EOF, resize)."""
        self._write(encode_message(method, params, None))

    def begin(
        self,
        method: str,
        params: Optional[Dict[str, Any]],
        on_notification: Optional[NotificationHandler] = None,
        call: Optional[PendingCall] = None,
    ) -> PendingCall:
        """Send a request, tracked by ``call`` (made here unless the caller needs it first)."""
        call = call or PendingCall()
        call.id = self.session.register(method, call.resolve, on_notification)
        try:
            self._write(encode_message(method, params, call.id))
        except MatchlockError:
            self.session.drop(call.id)
            raise
        return call

    def finish(self, call: PendingCall, method: str, timeout: Optional[float]) -> Dict[str, Any]:
        """Wait for ``call``; on timeout or interruption cancel it in the engine and raise."""
        try:
            if not call.wait_done(timeout):
                self.abandon(call)
                raise RequestTimeoutError(f"request {method} (id={call.id}) timed out after {timeout}s")
        except BaseException:
            # e.g. KeyboardInterrupt while waiting: the engine must not keep running the call.
            if not call.finished:
                self.abandon(call)
            raise
        return call.outcome()

    def request(
        self,
        method: str,
        params: Optional[Dict[str, Any]] = None,
        timeout: Optional[float] = None,
        on_notification: Optional[NotificationHandler] = None,
    ) -> Dict[str, Any]:
        return self.finish(self.begin(method, params, on_notification), method, timeout)

    def send_cancel(self, request_id: int) -> None:
        """Ask the engine to cancel a request; its own reply (normally -32003) still comes."""
        try:
            self._write(encode_message("cancel", {"id": request_id}, self.session.next_id()))
        except MatchlockError:
            pass  # the engine is gone; nothing left to cancel

    def abandon(self, call: PendingCall) -> None:
        """Stop waiting for ``call`` and cancel it in the engine, without waiting for replies."""
        if self.session.drop(call.id):
            call.resolve(None, RequestTimeoutError(f"request id={call.id} was abandoned"))
            self.send_cancel(call.id)

    # ── ending ──
    def close_stdin(self) -> None:
        with self._write_lock:
            try:
                self._proc.stdin.close()  # type: ignore[union-attr]
            except OSError:
                pass

    def wait_exit(self, timeout: float) -> bool:
        """Wait for the engine to exit; kill it if it does not within ``timeout``."""
        try:
            self._proc.wait(timeout)
            ended = True
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
            ended = False
        self._reader.join()
        return ended
