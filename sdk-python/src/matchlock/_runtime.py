"""Pieces of a client's life shared by the sync and async clients: planning ``create``
(hook compilation, the callback server) and the local hook state."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from . import _wire as wire
from ._network_hooks import CallbackServer, compile_network_rules
from ._vfs_hooks import LocalAfterHook, LocalVFSHooks, compile_vfs_interception, event_from_file
from .types import CreateOptions, Event, PortForward, VFSHookEvent

EventCallback = Callable[[Event], Any]


@dataclass
class CreatePlan:
    params: Dict[str, Any]
    local_vfs: LocalVFSHooks
    server: Optional[CallbackServer]
    port_forwards: List[PortForward] = field(default_factory=list)
    port_forward_addresses: List[str] = field(default_factory=list)


def plan_create(opts: CreateOptions) -> CreatePlan:
    """Validate and compile ``opts``; starts the callback server only if the options are valid."""
    vfs_wire, local = compile_vfs_interception(opts.vfs_interception)
    rules, callbacks = compile_network_rules(opts.network_interception)
    wire.create_params(opts, vfs_wire, rules)  # raises ValidationError before any side effect
    wire.port_forward_params(opts.port_forwards, opts.port_forward_addresses) if opts.port_forwards else None
    server = CallbackServer(callbacks) if callbacks else None
    params = wire.create_params(opts, vfs_wire, rules, server.socket_path if server else "")
    return CreatePlan(params, local, server, list(opts.port_forwards), list(opts.port_forward_addresses))


class HookState:
    """Event subscribers and the local VFS hooks of one client (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: List[EventCallback] = []
        self.vfs = LocalVFSHooks()

    def subscribe(self, callback: EventCallback) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def subscribers(self) -> List[EventCallback]:
        with self._lock:
            return list(self._subscribers)

    def wants_events(self) -> bool:
        with self._lock:
            return bool(self._subscribers) or bool(self.vfs.after)

    def after_hooks_for(self, event: Event) -> List[tuple[LocalAfterHook, VFSHookEvent]]:
        """The local after-hooks matching a file event, with the event they receive."""
        if event.file is None:
            return []
        hook_event = event_from_file(event.raw.get("file") or {})
        if hook_event is None:
            return []
        return [(h, hook_event) for h in self.vfs.after if h.matches(hook_event.op, hook_event.path)]
