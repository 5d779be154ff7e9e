"""VFS hook rules: which go on the wire, which stay local, and how local ones match.

Shared by the sync and async clients; it does no I/O itself.
"""

from __future__ import annotations

import fnmatch
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from .constants import VFS_HOOK_ACTION_ALLOW, VFS_HOOK_ACTION_BLOCK, VFS_HOOK_PHASE_AFTER, VFS_HOOK_PHASE_BEFORE
from .errors import HookBlockedError, MatchlockError, ValidationError
from .types import (
    VFSActionHook,
    VFSActionRequest,
    VFSDangerousHook,
    VFSHook,
    VFSHookEvent,
    VFSHookRule,
    VFSInterceptionConfig,
    VFSMutateHook,
    VFSMutateRequest,
)


@dataclass
class _Match:
    name: str
    ops: frozenset[str]
    path: str

    def matches(self, op: str, path: str) -> bool:
        if self.ops and op not in self.ops:
            return False
        return not self.path or fnmatch.fnmatchcase(path, self.path)


@dataclass
class LocalAfterHook(_Match):
    hook: Optional[VFSHook] = None
    dangerous_hook: Optional[VFSDangerousHook] = None


@dataclass
class LocalMutateHook(_Match):
    hook: Optional[VFSMutateHook] = None


@dataclass
class LocalActionHook(_Match):
    hook: Optional[VFSActionHook] = None


@dataclass
class LocalVFSHooks:
    """The local part of a compiled VFS interception config."""

    after: List[LocalAfterHook] = field(default_factory=list)
    mutate: List[LocalMutateHook] = field(default_factory=list)
    action: List[LocalActionHook] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.after or self.mutate or self.action)


def _rule_wire(rule: VFSHookRule) -> Dict[str, Any]:
    d: Dict[str, Any] = {"action": rule.action or VFS_HOOK_ACTION_ALLOW}
    if rule.name:
        d["name"] = rule.name
    if rule.phase:
        d["phase"] = rule.phase
    if rule.ops:
        d["ops"] = list(rule.ops)
    if rule.path:
        d["path"] = rule.path
    if rule.timeout_ms > 0:
        d["timeout_ms"] = rule.timeout_ms
    return d


def compile_vfs_interception(
    config: Optional[VFSInterceptionConfig],
) -> Tuple[Optional[Dict[str, Any]], LocalVFSHooks]:
    """Split ``config`` into the wire ``vfs.interception`` object (or None) and local hooks."""
    local = LocalVFSHooks()
    if config is None:
        return None, local
    emit_events = config.emit_events
    wire_rules: List[Dict[str, Any]] = []
    for index, rule in enumerate(config.rules):
        label = f"vfs_interception.rules[{index}]" + (f" ({rule.name})" if rule.name else "")
        callbacks = [c for c in (rule.hook, rule.dangerous_hook, rule.mutate_hook, rule.action_hook) if c is not None]
        action = (rule.action or "").strip().lower()
        phase = (rule.phase or "").strip().lower()
        if len(callbacks) > 1:
            raise ValidationError(label, "a rule can carry at most one callback")
        if not callbacks:
            if action == "mutate_write":
                raise ValidationError(label, "action mutate_write needs a mutate_hook")
            wire_rules.append(_rule_wire(rule))
            continue
        if action not in ("", VFS_HOOK_ACTION_ALLOW):
            raise ValidationError(label, f"callback hooks cannot set action={rule.action!r}")
        match = _Match(rule.name, frozenset(op.lower() for op in rule.ops if op), rule.path)
        if rule.hook is not None or rule.dangerous_hook is not None:
            if phase != VFS_HOOK_PHASE_AFTER:
                raise ValidationError(label, "hook and dangerous_hook need phase='after'")
            local.after.append(LocalAfterHook(match.name, match.ops, match.path, rule.hook, rule.dangerous_hook))
            # After-hooks run on file events, so the engine must emit them.
            emit_events = True
            continue
        if phase not in ("", VFS_HOOK_PHASE_BEFORE):
            raise ValidationError(label, "mutate_hook and action_hook need phase='before' (or empty)")
        if rule.mutate_hook is not None:
            local.mutate.append(LocalMutateHook(match.name, match.ops, match.path, rule.mutate_hook))
        else:
            local.action.append(LocalActionHook(match.name, match.ops, match.path, rule.action_hook))
    if not wire_rules and not emit_events:
        return None, local
    wire: Dict[str, Any] = {}
    if emit_events:
        wire["emit_events"] = True
    if wire_rules:
        wire["rules"] = wire_rules
    return wire, local


def _caller_ids() -> Tuple[int, int]:
    return os.geteuid(), os.getegid()


def apply_action_hooks(hooks: LocalVFSHooks, op: str, path: str, size: int, mode: int) -> None:
    """Run ``action_hook``s for one of the SDK's own file calls; raise if one blocks it."""
    uid, gid = _caller_ids()
    request = VFSActionRequest(op=op, path=path, size=size, mode=mode, uid=uid, gid=gid)
    for hook in hooks.action:
        if hook.hook is None or not hook.matches(op, path):
            continue
        decision = str(hook.hook(request) or "").strip().lower()
        if decision in ("", VFS_HOOK_ACTION_ALLOW):
            continue
        if decision == VFS_HOOK_ACTION_BLOCK:
            raise HookBlockedError(f"vfs action hook {hook.name!r} blocked {op} on {path}")
        raise MatchlockError(f"vfs action hook {hook.name!r} returned {decision!r}; expected 'allow' or 'block'")


def apply_mutate_hooks(hooks: LocalVFSHooks, path: str, content: bytes, mode: int) -> bytes:
    """Let ``mutate_hook``s replace the bytes of the SDK's own ``write_file``."""
    uid, gid = _caller_ids()
    for hook in hooks.mutate:
        if hook.hook is None or not hook.matches("write", path):
            continue
        replaced = hook.hook(VFSMutateRequest(path=path, size=len(content), mode=mode, uid=uid, gid=gid))
        if replaced is None:
            continue
        if isinstance(replaced, str):
            content = replaced.encode("utf-8")
        elif isinstance(replaced, (bytes, bytearray)):
            content = bytes(replaced)
        else:
            raise MatchlockError(f"vfs mutate hook {hook.name!r} returned {type(replaced).__name__}; expected bytes, str or None")
    return content


class AfterHookGate:
    """Recursion guard for safe after-hooks.

    A safe ``hook`` is skipped while another safe hook is running, so a hook whose own file
    activity produces events cannot trigger itself endlessly. ``dangerous_hook``s bypass it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0

    def try_enter(self) -> bool:
        with self._lock:
            if self._running:
                return False
            self._running += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._running -= 1


def event_from_file(file: Dict[str, Any]) -> Optional[VFSHookEvent]:
    op = str(file.get("op") or "").lower()
    if not op:
        return None
    return VFSHookEvent(
        op=op,
        path=str(file.get("path") or ""),
        size=int(file.get("size") or 0),
        mode=int(file.get("mode") or 0),
        uid=int(file.get("uid") or 0),
        gid=int(file.get("gid") or 0),
    )
