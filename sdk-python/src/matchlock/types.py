"""Public data types: configuration, sandbox options, hook rules and call results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Union

# ── Client configuration ─────────────────────────────────────────────────────


@dataclass
class Config:
    """How the client starts the engine.

    ``binary_path``: the matchlock binary; when empty, ``MATCHLOCK_BIN`` and then ``matchlock``
    on ``PATH`` are tried. ``launch_command``: a full argv replacing ``[binary, "rpc"]``
    (e.g. ``["ssh", "host", "matchlock", "rpc"]``). ``use_sudo`` prefixes ``sudo``.
    ``env``: extra environment variables for the engine process.
    """

    binary_path: str = ""
    use_sudo: bool = False
    launch_command: Optional[List[str]] = None
    env: Dict[str, str] = field(default_factory=dict)


# ── Sandbox options ──────────────────────────────────────────────────────────


@dataclass
class MountConfig:
    """A VFS mount. ``type`` is ``memory``, ``host_fs`` or ``overlay``."""

    type: str = "memory"
    host_path: str = ""
    readonly: bool = False


@dataclass
class Secret:
    """A secret: the guest sees only a placeholder in env var ``name``; the network proxy puts
    ``value`` into requests to ``hosts`` (empty: any host)."""

    name: str
    value: str
    hosts: List[str] = field(default_factory=list)
    placeholder: str = ""


@dataclass
class ImageConfig:
    """Overrides of the image's OCI config (empty fields are not sent)."""

    user: str = ""
    working_dir: str = ""
    entrypoint: List[str] = field(default_factory=list)
    cmd: List[str] = field(default_factory=list)
    env: Dict[str, str] = field(default_factory=dict)


@dataclass
class HostIPMapping:
    """A static ``/etc/hosts`` entry in the guest."""

    host: str
    ip: str


@dataclass
class PortForward:
    """Host ``local_port`` forwarded to guest ``remote_port``."""

    local_port: int
    remote_port: int


@dataclass
class PortForwardBinding:
    """A listener the engine bound for a port forward."""

    address: str
    local_port: int
    remote_port: int


# ── VFS hooks ────────────────────────────────────────────────────────────────


@dataclass
class VFSHookEvent:
    """A guest file operation, delivered to after-phase local hooks."""

    op: str
    path: str
    size: int = 0
    mode: int = 0
    uid: int = 0
    gid: int = 0


@dataclass
class VFSMutateRequest:
    """Input of a ``mutate_hook``: the SDK is about to ``write_file`` ``size`` bytes."""

    path: str
    size: int
    mode: int
    uid: int
    gid: int


@dataclass
class VFSActionRequest:
    """Input of an ``action_hook``: the SDK is about to do ``op`` on ``path``."""

    op: str
    path: str
    size: int
    mode: int
    uid: int
    gid: int


VFSHook = Callable[[VFSHookEvent], Any]
VFSDangerousHook = Callable[[Any, VFSHookEvent], Any]
VFSMutateHook = Callable[[VFSMutateRequest], Union[bytes, str, None]]
VFSActionHook = Callable[[VFSActionRequest], str]


@dataclass
class VFSHookRule:
    """One VFS interception rule.

    Without a callback the rule is sent to the engine (``action`` ``block`` in phase ``before``
    refuses matching guest operations). With one callback it stays in the SDK:
    ``hook(event)`` / ``dangerous_hook(client, event)`` run after matching guest operations
    (phase ``after``); ``mutate_hook(req)`` may replace the bytes of the SDK's own
    ``write_file``; ``action_hook(req)`` answers ``"allow"``/``"block"`` for the SDK's own
    ``write_file`` / ``read_file`` / ``list_files``.
    """

    name: str = ""
    phase: str = ""
    ops: List[str] = field(default_factory=list)
    path: str = ""
    action: str = "allow"
    timeout_ms: int = 0
    hook: Optional[VFSHook] = None
    dangerous_hook: Optional[VFSDangerousHook] = None
    mutate_hook: Optional[VFSMutateHook] = None
    action_hook: Optional[VFSActionHook] = None


@dataclass
class VFSInterceptionConfig:
    """VFS interception: wire rules and local hooks; ``emit_events`` asks for file events."""

    emit_events: bool = False
    rules: List[VFSHookRule] = field(default_factory=list)


# ── Network hooks ────────────────────────────────────────────────────────────


@dataclass
class NetworkBodyTransform:
    """Literal find/replace applied to a response body."""

    find: str
    replace: str = ""


@dataclass
class NetworkHookRequest:
    """What a local network hook sees about an intercepted HTTP exchange."""

    phase: str = ""
    host: str = ""
    method: str = ""
    path: str = ""
    query: Optional[Dict[str, str]] = None
    request_headers: Optional[Dict[str, List[str]]] = None
    status_code: int = 0
    response_headers: Optional[Dict[str, List[str]]] = None
    is_sse: bool = False


@dataclass
class NetworkHookRequestMutation:
    """Request changes (before phase). ``headers``/``query`` replace all when not None."""

    headers: Optional[Dict[str, List[str]]] = None
    query: Optional[Dict[str, str]] = None
    path: str = ""


@dataclass
class NetworkHookResponseMutation:
    """Response changes (after phase). ``set_body`` replaces the body when not None."""

    headers: Optional[Dict[str, List[str]]] = None
    body_replacements: List[NetworkBodyTransform] = field(default_factory=list)
    set_body: Union[bytes, str, None] = None


@dataclass
class NetworkHookResult:
    """A local network hook's answer: ``allow``, ``block`` or ``mutate``."""

    action: str = "allow"
    request: Optional[NetworkHookRequestMutation] = None
    response: Optional[NetworkHookResponseMutation] = None


NetworkHook = Callable[[NetworkHookRequest], Optional[NetworkHookResult]]


@dataclass
class NetworkHookRule:
    """One network interception rule; with ``hook`` the engine asks the SDK over a socket."""

    name: str = ""
    phase: str = ""
    hosts: List[str] = field(default_factory=list)
    methods: List[str] = field(default_factory=list)
    path: str = ""
    action: str = "allow"
    set_headers: Dict[str, str] = field(default_factory=dict)
    delete_headers: List[str] = field(default_factory=list)
    set_query: Dict[str, str] = field(default_factory=dict)
    delete_query: List[str] = field(default_factory=list)
    rewrite_path: str = ""
    set_response_headers: Dict[str, str] = field(default_factory=dict)
    delete_response_headers: List[str] = field(default_factory=list)
    body_replacements: List[NetworkBodyTransform] = field(default_factory=list)
    timeout_ms: int = 0
    hook: Optional[NetworkHook] = None


@dataclass
class NetworkInterceptionConfig:
    """Network interception rules."""

    rules: List[NetworkHookRule] = field(default_factory=list)


@dataclass
class CreateOptions:
    """Everything ``create`` sends. Zero / empty values mean "engine default"."""

    image: str = ""
    privileged: bool = False
    cpus: float = 0
    memory_mb: int = 0
    disk_size_mb: int = 0
    timeout_seconds: int = 0
    allowed_hosts: List[str] = field(default_factory=list)
    add_hosts: List[HostIPMapping] = field(default_factory=list)
    block_private_ips: bool = False
    block_private_ips_set: bool = False
    no_network: bool = False
    force_interception: bool = False
    network_interception: Optional[NetworkInterceptionConfig] = None
    mounts: Dict[str, MountConfig] = field(default_factory=dict)
    env: Dict[str, str] = field(default_factory=dict)
    vfs_interception: Optional[VFSInterceptionConfig] = None
    secrets: List[Secret] = field(default_factory=list)
    workspace: str = ""
    dns_servers: List[str] = field(default_factory=list)
    hostname: str = ""
    network_mtu: int = 0
    port_forwards: List[PortForward] = field(default_factory=list)
    port_forward_addresses: List[str] = field(default_factory=list)
    image_config: Optional[ImageConfig] = None
    launch_entrypoint: bool = False


# ── Results ──────────────────────────────────────────────────────────────────


@dataclass
class ExecResult:
    """A finished command with buffered output (decoded as UTF-8, invalid bytes replaced).
    ``stdout_bytes``/``stderr_bytes`` hold the raw output; ``stdout_truncated``/
    ``stderr_truncated`` say the engine dropped output beyond its buffer limits (64 MiB per
    stream, 128 MiB for all replies it holds at once)."""

    exit_code: int
    stdout: str
    stderr: str
    duration_ms: int
    stdout_bytes: bytes = b""
    stderr_bytes: bytes = b""
    stdout_truncated: bool = False
    stderr_truncated: bool = False


@dataclass
class ExecStreamResult:
    exit_code: int
    duration_ms: int


@dataclass
class ExecPipeResult:
    exit_code: int
    duration_ms: int


@dataclass
class ExecInteractiveResult:
    exit_code: int
    duration_ms: int


@dataclass
class FileInfo:
    """A directory entry (``list_files``) or a ``stat`` result. ``mode`` carries Go type bits."""

    name: str
    size: int
    mode: int
    is_dir: bool
    mod_time: str = ""
    is_symlink: bool = False


@dataclass
class VolumeInfo:
    name: str
    size: str
    path: str


@dataclass
class SandboxInfo:
    """One sandbox known to the engine's state directory (``list_sandboxes``)."""

    id: str
    state: str
    image: str = ""
    pid: Optional[int] = None
    created_at: str = ""


@dataclass
class EngineVersion:
    version: str
    commit: str


@dataclass
class AllowListChange:
    """Result of ``allow_list_add`` / ``allow_list_delete``: the hosts changed and the full list."""

    changed: List[str]
    allowed_hosts: List[str]


@dataclass
class FileEvent:
    op: str
    path: str
    size: int = 0
    mode: int = 0
    uid: int = 0
    gid: int = 0
    new_path: str = ""
    error: str = ""


@dataclass
class NetworkEvent:
    method: str = ""
    url: str = ""
    host: str = ""
    status_code: int = 0
    request_bytes: int = 0
    response_bytes: int = 0
    duration_ms: int = 0
    blocked: bool = False
    block_reason: str = ""


@dataclass
class Event:
    """An ``event`` notification. ``raw`` is the notification's params as received."""

    type: str
    timestamp: int
    file: Optional[FileEvent] = None
    network: Optional[NetworkEvent] = None
    raw: Dict[str, Any] = field(default_factory=dict)


@dataclass
class ProcessResult:
    """A finished spawned process. Output is buffered only when no callback was given."""

    exit_code: int
    duration_ms: int
    stdout: bytes = b""
    stderr: bytes = b""
