"""Network hook rules and the SDK-hosted callback server.

Rules with a local ``hook`` are tagged ``callback_id = "network_hook_<n>"`` (n = 1-based rule
index) and the engine asks the SDK about each matching HTTP exchange: it connects to a Unix
socket the SDK listens on, writes one JSON line, reads one JSON line back, and closes. The
server runs in its own threads for both clients: hooks are plain functions and must not hold
up the client's I/O.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import tempfile
import threading
from typing import Any, Dict, List, Optional, Tuple

from .constants import NETWORK_HOOK_ACTION_ALLOW
from .errors import ValidationError
from .types import NetworkHook, NetworkHookRequest, NetworkHookResult, NetworkHookRule, NetworkInterceptionConfig

_MAX_REQUEST_LINE = 4 << 20


def _rule_wire(rule: NetworkHookRule) -> Dict[str, Any]:
    d: Dict[str, Any] = {"action": rule.action or NETWORK_HOOK_ACTION_ALLOW}
    optional: List[Tuple[str, Any]] = [
        ("name", rule.name),
        ("phase", rule.phase),
        ("hosts", list(rule.hosts)),
        ("methods", list(rule.methods)),
        ("path", rule.path),
        ("set_headers", dict(rule.set_headers)),
        ("delete_headers", list(rule.delete_headers)),
        ("set_query", dict(rule.set_query)),
        ("delete_query", list(rule.delete_query)),
        ("rewrite_path", rule.rewrite_path),
        ("set_response_headers", dict(rule.set_response_headers)),
        ("delete_response_headers", list(rule.delete_response_headers)),
    ]
    for key, value in optional:
        if value:
            d[key] = value
    if rule.body_replacements:
        d["body_replacements"] = [
            {"find": t.find, **({"replace": t.replace} if t.replace else {})} for t in rule.body_replacements
        ]
    if rule.timeout_ms > 0:
        d["timeout_ms"] = rule.timeout_ms
    return d


def compile_network_rules(
    config: Optional[NetworkInterceptionConfig],
) -> Tuple[List[Dict[str, Any]], Dict[str, Tuple[str, NetworkHook]]]:
    """Wire rules plus ``callback_id -> (declared phase, hook)`` for the callback server."""
    if config is None:
        return [], {}
    rules: List[Dict[str, Any]] = []
    callbacks: Dict[str, Tuple[str, NetworkHook]] = {}
    for index, rule in enumerate(config.rules):
        wire = _rule_wire(rule)
        if rule.hook is not None:
            action = (rule.action or "").strip().lower()
            if action not in ("", NETWORK_HOOK_ACTION_ALLOW):
                raise ValidationError(
                    f"network_interception.rules[{index}]", f"callback hooks cannot set action={rule.action!r}"
                )
            callback_id = f"network_hook_{index + 1}"
            wire["callback_id"] = callback_id
            callbacks[callback_id] = ((rule.phase or "").strip().lower(), rule.hook)
        rules.append(wire)
    return rules, callbacks


def _result_wire(result: Optional[NetworkHookResult]) -> Dict[str, Any]:
    if result is None:
        return {"action": NETWORK_HOOK_ACTION_ALLOW}
    out: Dict[str, Any] = {"action": result.action or NETWORK_HOOK_ACTION_ALLOW}
    if result.request is not None:
        request: Dict[str, Any] = {}
        if result.request.headers is not None:
            request["headers"] = {k: list(v) for k, v in result.request.headers.items()}
        if result.request.query is not None:
            request["query"] = dict(result.request.query)
        if result.request.path:
            request["path"] = result.request.path
        out["request"] = request
    if result.response is not None:
        response: Dict[str, Any] = {}
        if result.response.headers is not None:
            response["headers"] = {k: list(v) for k, v in result.response.headers.items()}
        if result.response.body_replacements:
            response["body_replacements"] = [
                {"find": t.find, "replace": t.replace} for t in result.response.body_replacements
            ]
        body = result.response.set_body
        if body is not None:
            raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
            response["set_body_base64"] = base64.b64encode(raw).decode("ascii")
        out["response"] = response
    return out


def answer_callback(callbacks: Dict[str, Tuple[str, NetworkHook]], request: Dict[str, Any]) -> Dict[str, Any]:
    """The reply to one callback request (a dict to send as one JSON line)."""
    entry = callbacks.get(str(request.get("callback_id") or ""))
    if entry is None:
        return {"error": "network hook callback not found"}
    declared_phase, hook = entry
    phase = str(request.get("phase") or "").lower()
    if declared_phase and phase and declared_phase != phase:
        return {"error": "network hook phase mismatch"}
    hook_request = NetworkHookRequest(
        phase=phase,
        host=str(request.get("host") or ""),
        method=str(request.get("method") or ""),
        path=str(request.get("path") or ""),
        query=request.get("query"),
        request_headers=request.get("request_headers"),
        status_code=int(request.get("status_code") or 0),
        response_headers=request.get("response_headers"),
        is_sse=bool(request.get("is_sse")),
    )
    try:
        return _result_wire(hook(hook_request))
    except Exception as exc:  # a hook's failure is reported to the engine, not raised here
        return {"error": f"{type(exc).__name__}: {exc}"}


class CallbackServer:
    """Listens on ``<tempdir>/hook.sock`` and answers each connection in its own thread."""

    def __init__(self, callbacks: Dict[str, Tuple[str, NetworkHook]]) -> None:
        self._callbacks = callbacks
        self._dir = tempfile.mkdtemp(prefix="matchlock-network-hook-")
        self.socket_path = os.path.join(self._dir, "hook.sock")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.socket_path)
        self._listener.listen(64)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, name="matchlock-network-hooks", daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed by close()
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            reader = conn.makefile("rb")
            line = reader.readline(_MAX_REQUEST_LINE)
            try:
                request = json.loads(line)
                reply = answer_callback(self._callbacks, request) if isinstance(request, dict) else {"error": "bad request"}
            except ValueError:
                reply = {"error": "bad request"}
            try:
                conn.sendall(json.dumps(reply).encode("utf-8") + b"\n")
            except OSError:
                pass  # the engine gave up on this callback (its timeout); nothing to tell anyone

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        # shutdown() wakes the accept() blocked in the server thread; close() alone may not.
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        self._thread.join()
        shutil.rmtree(self._dir, ignore_errors=True)
