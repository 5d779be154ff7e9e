"""The JSON-RPC session without I/O: request ids, pending calls, and routing of every line the
engine writes. The sync and async clients drive it with their own pipes and waits.

Callbacks are invoked outside the internal lock, on whichever thread or task feeds lines.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Callable, Dict, Optional

from .errors import MatchlockError, RPCError

NotificationHandler = Callable[[str, Dict[str, Any]], None]
DoneHandler = Callable[[Optional[Dict[str, Any]], Optional[BaseException]], None]
EventHandler = Callable[[Dict[str, Any]], None]


class _Pending:
    __slots__ = ("method", "on_done", "on_notification")

    def __init__(self, method: str, on_done: DoneHandler, on_notification: Optional[NotificationHandler]) -> None:
        self.method = method
        self.on_done = on_done
        self.on_notification = on_notification


class Session:
    def __init__(self, on_event: Optional[EventHandler] = None) -> None:
        self._lock = threading.Lock()
        self._next_id = 1
        self._pending: Dict[int, _Pending] = {}
        self._failure: Optional[MatchlockError] = None
        self.on_event = on_event

    @property
    def failure(self) -> Optional[MatchlockError]:
        """The error that ended the session (engine gone), if it has ended."""
        with self._lock:
            return self._failure

    def next_id(self) -> int:
        with self._lock:
            msg_id = self._next_id
            self._next_id += 1
            return msg_id

    def register(
        self, method: str, on_done: DoneHandler, on_notification: Optional[NotificationHandler] = None
    ) -> int:
        """Allocate an id for a request and remember who waits for its reply."""
        with self._lock:
            if self._failure is not None:
                raise self._failure
            msg_id = self._next_id
            self._next_id += 1
            self._pending[msg_id] = _Pending(method, on_done, on_notification)
            return msg_id

    def drop(self, msg_id: int) -> bool:
        """Forget a call (timed out / cancelled locally); True if it was still pending."""
        with self._lock:
            return self._pending.pop(msg_id, None) is not None

    def pending_count(self) -> int:
        with self._lock:
            return len(self._pending)

    def feed_line(self, line: bytes) -> None:
        """Route one line from the engine's stdout. Lines that are not JSON objects are skipped."""
        try:
            msg = json.loads(line)
        except ValueError:
            return
        if not isinstance(msg, dict):
            return
        msg_id = msg.get("id")
        if isinstance(msg_id, int) and not isinstance(msg_id, bool) and ("result" in msg or "error" in msg):
            with self._lock:
                pending = self._pending.pop(msg_id, None)
            if pending is None:
                return
            error = msg.get("error")
            if isinstance(error, dict):
                pending.on_done(None, RPCError(int(error.get("code", 0)), str(error.get("message", ""))))
            else:
                result = msg.get("result")
                pending.on_done(result if isinstance(result, dict) else {}, None)
            return
        method = msg.get("method")
        params = msg.get("params")
        if not isinstance(method, str) or not isinstance(params, dict):
            return
        if method == "event":
            if self.on_event is not None:
                self.on_event(params)
            return
        target = params.get("id")
        if not isinstance(target, int) or isinstance(target, bool):
            return
        with self._lock:
            owner = self._pending.get(target)
        if owner is not None and owner.on_notification is not None:
            try:
                owner.on_notification(method, params)
            except Exception as exc:
                # A failing output callback fails its own call, not the whole session.
                if self.drop(target):
                    owner.on_done(None, exc)

    def fail_all(self, error: MatchlockError) -> None:
        """The engine is gone: every pending call fails with ``error``, and so will new ones."""
        with self._lock:
            if self._failure is None:
                self._failure = error
            pending = list(self._pending.values())
            self._pending.clear()
        for p in pending:
            p.on_done(None, error)
