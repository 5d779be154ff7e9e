"""Delivers ``event`` notifications off the reader thread, in arrival order.

Subscribers run on one dispatcher thread; each matching local VFS after-hook runs on its own
thread (it may call the client, which must not block event delivery). Safe hooks are
skipped while another safe hook runs (recursion guard); dangerous hooks always run.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Dict, Optional

from . import _wire as wire
from ._runtime import HookState
from ._vfs_hooks import AfterHookGate, LocalAfterHook
from .types import VFSHookEvent

_STOP = object()


class SyncEventDispatcher:
    def __init__(self, hooks: HookState, client: Any) -> None:
        self._hooks = hooks
        self._client = client
        self._gate = AfterHookGate()
        self._queue: "queue.Queue[object]" = queue.Queue()
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()

    def submit(self, params: Dict[str, Any]) -> None:
        if not self._hooks.wants_events():
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="matchlock-events", daemon=True)
                self._thread.start()
        self._queue.put(params)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            event = wire.parse_event(item)  # type: ignore[arg-type]
            for callback in self._hooks.subscribers():
                try:
                    callback(event)
                except Exception:
                    pass  # a subscriber's failure must not stop delivery to the others
            for hook, hook_event in self._hooks.after_hooks_for(event):
                if hook.dangerous_hook is not None:
                    threading.Thread(target=self._run_hook, args=(hook, hook_event, False), daemon=True).start()
                elif self._gate.try_enter():
                    threading.Thread(target=self._run_hook, args=(hook, hook_event, True), daemon=True).start()

    def _run_hook(self, hook: LocalAfterHook, event: VFSHookEvent, gated: bool) -> None:
        try:
            if hook.dangerous_hook is not None:
                hook.dangerous_hook(self._client, event)
            elif hook.hook is not None:
                hook.hook(event)
        except Exception:
            pass  # after-hooks are observers; their failures are theirs
        finally:
            if gated:
                self._gate.leave()

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            if thread is not threading.current_thread():
                thread.join()
