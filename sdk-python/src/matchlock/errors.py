"""Exceptions raised by the SDK. Everything derives from :class:`MatchlockError`."""

from __future__ import annotations

from typing import Optional


class MatchlockError(Exception):
    """Base class of every SDK error.

    ``stderr`` holds the tail (last ~8 KiB) of the engine's stderr when the error comes from
    an engine that failed or exited; ``None`` otherwise.
    """

    def __init__(self, message: str, *, stderr: Optional[str] = None) -> None:
        super().__init__(message)
        self.stderr = stderr

    def __str__(self) -> str:
        base = super().__str__()
        if self.stderr:
            return f"{base}\nengine stderr (tail):\n{self.stderr.rstrip()}"
        return base


class RPCError(MatchlockError):
    """The engine answered a request with a JSON-RPC error."""

    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL_ERROR = -32603
    VM_FAILED = -32000
    EXEC_FAILED = -32001
    FILE_FAILED = -32002
    CANCELLED = -32003

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"[{code}] {message}")
        self.code = code
        self.message = message

    def is_vm_error(self) -> bool:
        return self.code == self.VM_FAILED

    def is_exec_error(self) -> bool:
        return self.code == self.EXEC_FAILED

    def is_file_error(self) -> bool:
        return self.code == self.FILE_FAILED

    def is_cancelled(self) -> bool:
        return self.code == self.CANCELLED

    def is_method_not_found(self) -> bool:
        return self.code == self.METHOD_NOT_FOUND


class EngineNotFoundError(MatchlockError):
    """No matchlock binary could be found to start."""


class EngineExitedError(MatchlockError):
    """The engine process ended (or closed its stdout) while calls were pending or were made."""

    def __init__(self, message: str, *, exit_code: Optional[int], stderr: Optional[str]) -> None:
        super().__init__(message, stderr=stderr)
        self.exit_code = exit_code


class ValidationError(MatchlockError, ValueError):
    """Invalid input given to the SDK, detected before anything is sent or spawned.

    ``option`` names the offending option or argument.
    """

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"invalid {option}: {message}")
        self.option = option


class RequestTimeoutError(MatchlockError, TimeoutError):
    """A call did not finish within its ``timeout``; it was cancelled in the engine."""


class NotSupportedError(MatchlockError):
    """The engine in use does not provide a feature (e.g. the ``volume`` CLI command)."""


class HookBlockedError(MatchlockError):
    """A local VFS ``action_hook`` answered ``block`` for one of the SDK's own file calls."""
