"""Input checks shared by the builder and the clients."""

from __future__ import annotations

from .errors import ValidationError
from .types import PortForward


def check_port(option: str, port: int) -> None:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValidationError(option, f"port must be in 1..65535, got {port!r}")


def parse_port_spec(spec: str) -> PortForward:
    """Parse ``"[LOCAL:]REMOTE"`` (``"8080"`` is 8080→8080, ``"18081:81"`` 18081→81)."""
    parts = spec.strip().split(":")
    if len(parts) not in (1, 2) or not all(p.strip().isdigit() for p in parts):
        raise ValidationError("port_forward", f"invalid spec {spec!r}: expected [LOCAL:]REMOTE")
    ports = [int(p) for p in parts]
    for port in ports:
        check_port("port_forward", port)
    return PortForward(local_port=ports[0], remote_port=ports[-1])
