"""Out-of-band engine CLI calls (``rm``, ``volume``): argv building and output parsing.
Running them is left to each client (subprocess or asyncio subprocess)."""

from __future__ import annotations

import json
from typing import Any, List

from .errors import MatchlockError, NotSupportedError
from .types import VolumeInfo


def check_cli_result(argv: List[str], returncode: int, stdout: str, stderr: str, feature: str) -> None:
    if returncode == 0:
        return
    if "unknown command" in stderr:
        raise NotSupportedError(
            f"{feature} is not supported by this engine: it has no '{feature}' CLI command ({stderr.strip()})"
        )
    raise MatchlockError(f"{' '.join(argv)} failed with status {returncode}", stderr=stderr)


def parse_volume(obj: Any, name: str = "", size_mb: int = 0) -> VolumeInfo:
    if not isinstance(obj, dict) or not obj.get("path"):
        raise MatchlockError(f"unexpected volume output: {obj!r}")
    return VolumeInfo(
        name=str(obj.get("name") or name), size=str(obj.get("size") or f"{float(size_mb):.1f} MB"), path=str(obj["path"])
    )


def parse_volume_list(stdout: str) -> List[VolumeInfo]:
    data = json.loads(stdout or "[]")
    if not isinstance(data, list):
        raise MatchlockError(f"unexpected volume list output: {stdout!r}")
    return [parse_volume(v) for v in data]
