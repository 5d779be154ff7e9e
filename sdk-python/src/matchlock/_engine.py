"""Finding and describing the engine process: argv discovery and the stderr tail."""

from __future__ import annotations

import os
import shutil
import signal
import threading
from typing import List, Optional

from .errors import EngineExitedError, EngineNotFoundError
from .types import Config

NOT_FOUND_MESSAGE = (
    "matchlock engine not found: set Config.binary_path, the MATCHLOCK_BIN environment variable, or put matchlock on PATH"
)
STDERR_TAIL_BYTES = 8 * 1024


def resolve_binary(config: Config) -> str:
    """Config.binary_path → $MATCHLOCK_BIN → ``matchlock`` on PATH, else EngineNotFoundError."""
    for candidate in (config.binary_path, os.environ.get("MATCHLOCK_BIN", "")):
        if candidate:
            found = shutil.which(candidate) if os.sep not in candidate else candidate
            if found and os.access(found, os.X_OK) and os.path.isfile(found):
                return found
            raise EngineNotFoundError(f"{NOT_FOUND_MESSAGE} (no executable at {candidate!r})")
    found = shutil.which("matchlock")
    if found is None:
        raise EngineNotFoundError(NOT_FOUND_MESSAGE)
    return found


def engine_argv(config: Config, extra: Optional[List[str]] = None) -> List[str]:
    """The argv that starts ``matchlock rpc`` (plus ``extra`` arguments, e.g. --attach ID)."""
    if config.launch_command:
        argv = list(config.launch_command)
    else:
        argv = [resolve_binary(config), "rpc"]
    argv += extra or []
    if config.use_sudo:
        argv = ["sudo"] + argv
    return argv


def cli_argv(config: Config, *args: str) -> List[str]:
    """argv for an out-of-band CLI subcommand (``rm``, ``volume``); never via sudo."""
    if config.launch_command:
        # launch_command ends in "rpc"; the CLI binary is what precedes it.
        prefix = list(config.launch_command)
        if prefix and prefix[-1] == "rpc":
            prefix = prefix[:-1]
        return prefix + list(args)
    return [resolve_binary(config)] + list(args)


def engine_env(config: Config) -> Optional[dict[str, str]]:
    if not config.env:
        return None
    env = dict(os.environ)
    env.update(config.env)
    return env


class StderrTail:
    """Keeps the last STDERR_TAIL_BYTES of the engine's stderr (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buf = bytearray()

    def append(self, chunk: bytes) -> None:
        with self._lock:
            self._buf += chunk
            if len(self._buf) > STDERR_TAIL_BYTES:
                del self._buf[: len(self._buf) - STDERR_TAIL_BYTES]

    def text(self) -> str:
        with self._lock:
            return self._buf.decode("utf-8", errors="replace")


def describe_exit(returncode: Optional[int]) -> str:
    if returncode is None:
        return "closed its output"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name} (signal {-returncode})"
    return f"exited with status {returncode}"


def exit_error(returncode: Optional[int], stderr: str, closing: bool = False) -> EngineExitedError:
    what = "matchlock engine " + describe_exit(returncode)
    if closing:
        what += " (the client was closed)"
    return EngineExitedError(what, exit_code=returncode, stderr=stderr)
