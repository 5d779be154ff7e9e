"""Request params and result parsing for every method: the one place that knows the wire
shapes. Both clients call these; neither builds params or reads results by itself."""

from __future__ import annotations

import base64
import json
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from ._validate import check_port, parse_port_spec
from .errors import MatchlockError, ValidationError
from .types import (
    AllowListChange,
    CreateOptions,
    EngineVersion,
    Event,
    ExecResult,
    FileEvent,
    FileInfo,
    NetworkEvent,
    PortForward,
    PortForwardBinding,
    SandboxInfo,
)

NO_NETWORK_CONFLICT = (
    "no network cannot be combined with allowed hosts, secrets, forced interception, or network interception rules"
)


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: Any) -> bytes:
    if not text:
        return b""
    return base64.b64decode(str(text))


def to_bytes(content: Any) -> bytes:
    if isinstance(content, str):
        return content.encode("utf-8")
    if isinstance(content, (bytes, bytearray, memoryview)):
        return bytes(content)
    raise ValidationError("content", f"expected bytes or str, got {type(content).__name__}")


def encode_message(method: str, params: Optional[Dict[str, Any]], msg_id: Optional[int]) -> bytes:
    """One protocol line. ``params`` is omitted when empty, ``id`` for notifications."""
    msg: Dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params:
        msg["params"] = params
    if msg_id is not None:
        msg["id"] = msg_id
    return json.dumps(msg, separators=(",", ":")).encode("utf-8") + b"\n"


# ── create ───────────────────────────────────────────────────────────────────


def create_params(
    opts: CreateOptions,
    vfs_interception: Optional[Dict[str, Any]],
    network_rules: List[Dict[str, Any]],
    callback_socket: str = "",
) -> Dict[str, Any]:
    """The ``create`` params for ``opts``, given the compiled VFS and network interception."""
    if not opts.image:
        raise ValidationError("image", "an image reference is required (e.g. alpine:latest)")
    params: Dict[str, Any] = {"image": opts.image}
    if opts.privileged:
        params["privileged"] = True
    resources = {
        k: v
        for k, v in (
            ("cpus", opts.cpus),
            ("memory_mb", opts.memory_mb),
            ("disk_size_mb", opts.disk_size_mb),
            ("timeout_seconds", opts.timeout_seconds),
        )
        if v
    }
    if resources:
        params["resources"] = resources
    network = _network_params(opts, network_rules, callback_socket)
    if network is not None:
        params["network"] = network
    vfs: Dict[str, Any] = {}
    if opts.mounts:
        vfs["mounts"] = {
            guest: {
                "type": m.type or "memory",
                **({"host_path": m.host_path} if m.host_path else {}),
                **({"readonly": True} if m.readonly else {}),
            }
            for guest, m in opts.mounts.items()
        }
    if opts.workspace:
        vfs["workspace"] = opts.workspace
    if vfs_interception is not None:
        vfs["interception"] = vfs_interception
    if vfs:
        params["vfs"] = vfs
    if opts.env:
        params["env"] = dict(opts.env)
    if opts.image_config is not None:
        ic = opts.image_config
        image_config = {
            k: v
            for k, v in (
                ("user", ic.user),
                ("working_dir", ic.working_dir),
                ("entrypoint", list(ic.entrypoint)),
                ("cmd", list(ic.cmd)),
                ("env", dict(ic.env)),
            )
            if v
        }
        if image_config:
            params["image_config"] = image_config
    if opts.launch_entrypoint:
        params["launch_entrypoint"] = True
    return params


def _network_params(opts: CreateOptions, rules: List[Dict[str, Any]], callback_socket: str) -> Optional[Dict[str, Any]]:
    wanted = (
        opts.allowed_hosts
        or opts.add_hosts
        or opts.secrets
        or opts.dns_servers
        or opts.hostname
        or opts.network_mtu > 0
        or opts.no_network
        or opts.block_private_ips_set
        or opts.force_interception
        or rules
    )
    if not wanted:
        return None
    if opts.network_mtu < 0:
        raise ValidationError("network_mtu", "network mtu must be > 0")
    tail: Dict[str, Any] = {}
    if opts.add_hosts:
        tail["add_hosts"] = [{"host": h.host, "ip": h.ip} for h in opts.add_hosts]
    if opts.no_network:
        if opts.allowed_hosts or opts.secrets or opts.force_interception or rules:
            raise ValidationError("no_network", NO_NETWORK_CONFLICT)
        network: Dict[str, Any] = {"no_network": True, **tail}
        if opts.dns_servers:
            network["dns_servers"] = list(opts.dns_servers)
        if opts.hostname:
            network["hostname"] = opts.hostname
        return network
    network = {
        "allowed_hosts": list(opts.allowed_hosts),
        # The engine replaces its defaults with this object, so private-IP blocking must be
        # restated unless the caller turned it off.
        "block_private_ips": opts.block_private_ips if opts.block_private_ips_set else True,
    }
    if opts.force_interception or rules:
        network["intercept"] = True
    if rules:
        interception: Dict[str, Any] = {"rules": rules}
        if callback_socket:
            interception["callback_socket"] = callback_socket
        network["interception"] = interception
    network.update(tail)
    if opts.secrets:
        network["secrets"] = {
            s.name: {"value": s.value, "hosts": list(s.hosts), **({"placeholder": s.placeholder} if s.placeholder else {})}
            for s in opts.secrets
        }
    if opts.dns_servers:
        network["dns_servers"] = list(opts.dns_servers)
    if opts.hostname:
        network["hostname"] = opts.hostname
    if opts.network_mtu > 0:
        network["mtu"] = opts.network_mtu
    return network


def create_result(result: Dict[str, Any]) -> str:
    vm_id = result.get("id")
    if not isinstance(vm_id, str) or not vm_id:
        raise MatchlockError(f"create returned no sandbox id: {result!r}")
    return vm_id


# ── exec family ──────────────────────────────────────────────────────────────


def exec_params(command: str, working_dir: str = "", user: str = "", env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    if not isinstance(command, str) or not command:
        raise ValidationError("command", "a non-empty command string is required")
    params: Dict[str, Any] = {"command": command}
    if working_dir:
        params["working_dir"] = working_dir
    if user:
        params["user"] = user
    if env:
        params["env"] = dict(env)
    return params


def tty_params(command: str, working_dir: str, user: str, rows: int, cols: int) -> Dict[str, Any]:
    params = exec_params(command, working_dir, user)
    params["rows"] = rows
    params["cols"] = cols
    return params


def decode_text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def exec_result(result: Dict[str, Any]) -> ExecResult:
    out, err = b64decode(result.get("stdout")), b64decode(result.get("stderr"))
    return ExecResult(
        exit_code=int(result.get("exit_code", 0)),
        stdout=decode_text(out),
        stderr=decode_text(err),
        duration_ms=int(result.get("duration_ms", 0)),
        stdout_bytes=out,
        stderr_bytes=err,
        stdout_truncated=result.get("stdout_truncated") is True,
        stderr_truncated=result.get("stderr_truncated") is True,
    )


class StreamedOutput:
    """Collects ``exec_stream`` output for a buffered :class:`ExecResult` while handing each
    chunk to the caller's optional callbacks as it arrives (``route`` is the notification
    handler; it runs on the client's reader)."""

    def __init__(self, on_stdout: Optional[Callable[[bytes], Any]], on_stderr: Optional[Callable[[bytes], Any]]) -> None:
        self._out, self._err = bytearray(), bytearray()
        self._on_stdout, self._on_stderr = on_stdout, on_stderr

    def route(self, method: str, params: Dict[str, Any]) -> None:
        data = b64decode(params.get("data"))
        if method.endswith(".stdout"):
            self._out.extend(data)
            if self._on_stdout is not None:
                self._on_stdout(data)
        elif method.endswith(".stderr"):
            self._err.extend(data)
            if self._on_stderr is not None:
                self._on_stderr(data)

    def result(self, final: Dict[str, Any]) -> ExecResult:
        exit_code, duration_ms = exit_fields(final)
        out, err = bytes(self._out), bytes(self._err)
        return ExecResult(exit_code, decode_text(out), decode_text(err), duration_ms, out, err)


def exit_fields(result: Dict[str, Any]) -> Tuple[int, int]:
    return int(result.get("exit_code", 0)), int(result.get("duration_ms", 0))


def input_params(request_id: int, data: Optional[bytes] = None) -> Dict[str, Any]:
    params: Dict[str, Any] = {"id": request_id}
    if data is not None:
        params["data"] = b64encode(data)
    return params


def resize_params(request_id: int, rows: int, cols: int) -> Dict[str, Any]:
    return {"id": request_id, "rows": rows, "cols": cols}


def check_size(option: str, rows: int, cols: int) -> None:
    for value in (rows, cols):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            raise ValidationError(option, f"rows and cols must be in 1..65535, got {rows}x{cols}")


# ── files ────────────────────────────────────────────────────────────────────


def write_file_params(path: str, content: bytes, mode: int) -> Dict[str, Any]:
    return {"path": path, "content": b64encode(content), "mode": mode}


def read_file_result(result: Dict[str, Any]) -> bytes:
    return b64decode(result.get("content"))


def _file_info(entry: Dict[str, Any]) -> FileInfo:
    mode = int(entry.get("mode") or 0)
    return FileInfo(
        name=str(entry.get("name") or ""),
        size=int(entry.get("size") or 0),
        mode=mode,
        is_dir=bool(entry.get("is_dir")),
        mod_time=str(entry.get("mod_time") or ""),
        is_symlink=bool(entry.get("is_symlink", mode & (1 << 27) != 0)),
    )


def list_files_result(result: Dict[str, Any]) -> List[FileInfo]:
    return [_file_info(e) for e in (result.get("files") or []) if isinstance(e, dict)]


def stat_result(result: Dict[str, Any]) -> Optional[FileInfo]:
    if not result.get("exists"):
        return None
    return _file_info(result)


def make_dir_params(path: str, mode: int, parents: bool) -> Dict[str, Any]:
    return {"path": path, "mode": mode, "parents": parents}


# ── network, ports, misc ─────────────────────────────────────────────────────


def normalize_hosts(hosts: Iterable[str]) -> List[str]:
    """Split on commas, trim, drop empties, de-duplicate (order kept)."""
    out: List[str] = []
    for arg in hosts:
        for host in str(arg).split(","):
            host = host.strip()
            if host and host not in out:
                out.append(host)
    if not out:
        raise ValidationError("hosts", "allow-list hosts are required")
    return out


def allow_list_result(result: Dict[str, Any], key: str) -> AllowListChange:
    return AllowListChange(changed=list(result.get(key) or []), allowed_hosts=list(result.get("allowed_hosts") or []))


def port_forward_params(forwards: Sequence[PortForward], addresses: Sequence[str]) -> Dict[str, Any]:
    if not forwards:
        raise ValidationError("port_forward", "at least one forward is required")
    for f in forwards:
        check_port("port_forward", f.local_port)
        check_port("port_forward", f.remote_port)
    params: Dict[str, Any] = {"forwards": [{"local_port": f.local_port, "remote_port": f.remote_port} for f in forwards]}
    if addresses:
        params["addresses"] = list(addresses)
    return params


def parse_specs(specs: Sequence[str]) -> List[PortForward]:
    return [parse_port_spec(s) for s in specs]


def port_forward_result(result: Dict[str, Any]) -> List[PortForwardBinding]:
    bindings: List[PortForwardBinding] = []
    for b in result.get("bindings") or []:
        binding = PortForwardBinding(
            address=str(b.get("address") or ""), local_port=int(b.get("local_port") or 0), remote_port=int(b.get("remote_port") or 0)
        )
        if not binding.address or not 1 <= binding.local_port <= 65535 or not 1 <= binding.remote_port <= 65535:
            raise MatchlockError(f"engine returned an invalid port-forward binding: {b!r}")
        bindings.append(binding)
    return bindings


def version_result(result: Dict[str, Any]) -> EngineVersion:
    return EngineVersion(version=str(result.get("version") or ""), commit=str(result.get("commit") or "unknown"))


def list_sandboxes_result(result: Dict[str, Any]) -> List[SandboxInfo]:
    out: List[SandboxInfo] = []
    for s in result.get("sandboxes") or []:
        pid = s.get("pid")
        out.append(
            SandboxInfo(
                id=str(s.get("id") or ""),
                state=str(s.get("state") or ""),
                image=str(s.get("image") or ""),
                pid=int(pid) if isinstance(pid, int) else None,
                created_at=str(s.get("created_at") or ""),
            )
        )
    return out


def set_timeout_params(seconds: int) -> Dict[str, Any]:
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
        raise ValidationError("timeout_seconds", f"must be an integer >= 0, got {seconds!r}")
    return {"timeout_seconds": seconds}


def set_timeout_result(result: Dict[str, Any]) -> Optional[str]:
    expires = result.get("expires_at")
    return str(expires) if expires else None


def parse_event(params: Dict[str, Any]) -> Event:
    file = params.get("file")
    network = params.get("network")
    return Event(
        type=str(params.get("type") or ""),
        timestamp=int(params.get("timestamp") or 0),
        file=FileEvent(
            op=str(file.get("op") or ""),
            path=str(file.get("path") or ""),
            size=int(file.get("size") or 0),
            mode=int(file.get("mode") or 0),
            uid=int(file.get("uid") or 0),
            gid=int(file.get("gid") or 0),
            new_path=str(file.get("new_path") or ""),
            error=str(file.get("error") or ""),
        )
        if isinstance(file, dict)
        else None,
        network=NetworkEvent(
            method=str(network.get("method") or ""),
            url=str(network.get("url") or ""),
            host=str(network.get("host") or ""),
            status_code=int(network.get("status_code") or 0),
            request_bytes=int(network.get("request_bytes") or 0),
            response_bytes=int(network.get("response_bytes") or 0),
            duration_ms=int(network.get("duration_ms") or 0),
            blocked=bool(network.get("blocked")),
            block_reason=str(network.get("block_reason") or ""),
        )
        if isinstance(network, dict)
        else None,
        raw=params,
    )
