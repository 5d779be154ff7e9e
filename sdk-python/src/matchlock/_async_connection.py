"""The engine process and its pipes for :class:`AsyncClient`, on asyncio subprocess streams.

A reader task routes stdout lines through the shared :class:`Session`; a second task keeps
the stderr tail; writes are serialised by an asyncio lock. When stdout ends every pending
call fails at once with an error naming the exit and carrying the stderr tail.
"""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Optional

from ._engine import StderrTail, exit_error
from ._session import NotificationHandler, Session
from ._wire import encode_message
from .errors import EngineExitedError, MatchlockError, RequestTimeoutError

_LINE_LIMIT = 64 << 20  # read_file results reach ~22 MiB of base64 on one line
_EXIT_GRACE_SECONDS = 5.0


class AsyncPendingCall:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.future: "asyncio.Future[Dict[str, Any]]" = loop.create_future()
        self.id = 0

    def resolve(self, result: Optional[Dict[str, Any]], error: Optional[BaseException]) -> None:
        if self.future.done():
            return
        if error is not None:
            self.future.set_exception(error)
        else:
            self.future.set_result(result or {})

    @property
    def finished(self) -> bool:
        return self.future.done()


class AsyncConnection:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.stderr_tail = StderrTail()
        self.closing = False
        self._proc: Optional[asyncio.subprocess.Process] = None
        self._write_lock = asyncio.Lock()
        self._exited = asyncio.Event()
        self._tasks: List["asyncio.Task[None]"] = []

    async def start(self, argv: List[str], env: Optional[Dict[str, str]]) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            limit=_LINE_LIMIT,
        )
        stderr_task = asyncio.ensure_future(self._read_stderr())
        self._tasks = [stderr_task, asyncio.ensure_future(self._read_stdout(stderr_task))]

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    @property
    def alive(self) -> bool:
        return not self._exited.is_set()

    async def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        while True:
            chunk = await self._proc.stderr.read(65536)
            if not chunk:
                return
            self.stderr_tail.append(chunk)

    async def _read_stdout(self, stderr_task: "asyncio.Task[None]") -> None:
        assert self._proc is not None and self._proc.stdout is not None
        try:
            while True:
                line = await self._proc.stdout.readline()
                if not line:
                    break
                self.session.feed_line(line)
        except (OSError, ValueError):
            pass
        finally:
            returncode: Optional[int]
            try:
                returncode = await asyncio.wait_for(self._proc.wait(), _EXIT_GRACE_SECONDS)
            except asyncio.TimeoutError:
                returncode = None
            try:
                await asyncio.wait_for(asyncio.shield(stderr_task), _EXIT_GRACE_SECONDS)
            except asyncio.TimeoutError:
                pass
            self.session.fail_all(exit_error(returncode, self.stderr_tail.text(), self.closing))
            self._exited.set()

    async def _write(self, data: bytes) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        try:
            async with self._write_lock:
                self._proc.stdin.write(data)
                await self._proc.stdin.drain()
        except (OSError, RuntimeError):
            raise await self._gone_error() from None

    async def _gone_error(self) -> MatchlockError:
        try:
            await asyncio.wait_for(self._exited.wait(), _EXIT_GRACE_SECONDS)
        except asyncio.TimeoutError:
            pass
        failure = self.session.failure
        if failure is not None:
            return failure
        return EngineExitedError("matchlock engine stopped reading its input", exit_code=None, stderr=self.stderr_tail.text())

    async def notify(self, method: str, params: Dict[str, Any]) -> None:
        await self._write(encode_message(method, params, None))

    async def begin(
        self,
        method: str,
        params: Optional[Dict[str, Any]],
        on_notification: Optional[NotificationHandler] = None,
        call: Optional[AsyncPendingCall] = None,
    ) -> AsyncPendingCall:
        """Send a request, tracked by ``call`` (made here unless the caller needs it first)."""
        call = call or AsyncPendingCall(asyncio.get_running_loop())
        call.id = self.session.register(method, call.resolve, on_notification)
        try:
            await self._write(encode_message(method, params, call.id))
        except MatchlockError:
            self.session.drop(call.id)
            raise
        return call

    async def finish(self, call: AsyncPendingCall, method: str, timeout: Optional[float]) -> Dict[str, Any]:
        """Await ``call``; on timeout or task cancellation cancel it in the engine too."""
        try:
            return await asyncio.wait_for(asyncio.shield(call.future), timeout)
        except asyncio.TimeoutError:
            if call.finished and not call.future.cancelled():
                return call.future.result()
            await self.abandon(call)
            raise RequestTimeoutError(f"request {method} (id={call.id}) timed out after {timeout}s") from None
        except asyncio.CancelledError:
            if not call.finished:
                await self.abandon(call)
            raise

    async def request(
        self,
        method: str,
        params: Optional[Dict[str, Any]] = None,
        timeout: Optional[float] = None,
        on_notification: Optional[NotificationHandler] = None,
    ) -> Dict[str, Any]:
        return await self.finish(await self.begin(method, params, on_notification), method, timeout)

    async def send_cancel(self, request_id: int) -> None:
        try:
            await self._write(encode_message("cancel", {"id": request_id}, self.session.next_id()))
        except MatchlockError:
            pass

    async def abandon(self, call: AsyncPendingCall) -> None:
        if self.session.drop(call.id):
            call.future.cancel()  # nobody awaits it any more
            await self.send_cancel(call.id)

    async def close_stdin(self) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        async with self._write_lock:
            try:
                self._proc.stdin.close()
            except OSError:
                pass

    async def wait_exit(self, timeout: float) -> bool:
        assert self._proc is not None
        try:
            await asyncio.wait_for(self._proc.wait(), timeout)
            ended = True
        except asyncio.TimeoutError:
            self._proc.kill()
            await self._proc.wait()
            ended = False
        await asyncio.gather(*self._tasks, return_exceptions=True)
        return ended
