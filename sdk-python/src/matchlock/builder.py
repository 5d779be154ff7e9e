"""The fluent ``Sandbox`` builder: collects :class:`CreateOptions` for ``Client.launch``.

Every verb validates its own input and raises :class:`ValidationError` naming the option, so
mistakes surface where they are written, before any engine is spawned.
"""

from __future__ import annotations

import copy
import ipaddress
import math
from typing import Any, Dict, Optional

from ._validate import check_port, parse_port_spec
from .errors import ValidationError
from .types import (
    CreateOptions,
    HostIPMapping,
    ImageConfig,
    MountConfig,
    NetworkInterceptionConfig,
    PortForward,
    Secret,
    VFSInterceptionConfig,
)


class Sandbox:
    """Fluent builder of sandbox options. Every ``with_*`` verb returns the builder."""

    def __init__(self, image: str) -> None:
        if not image or not image.strip():
            raise ValidationError("image", "an image reference is required (e.g. alpine:latest)")
        self._opts = CreateOptions(image=image)

    # ── resources ──
    def with_privileged(self, privileged: bool = True) -> Sandbox:
        self._opts.privileged = privileged
        return self

    def with_cpus(self, cpus: float) -> Sandbox:
        if isinstance(cpus, bool) or not math.isfinite(cpus) or cpus <= 0:
            raise ValidationError("cpus", f"must be a finite number > 0, got {cpus!r}")
        self._opts.cpus = cpus
        return self

    def with_memory(self, mb: int) -> Sandbox:
        self._opts.memory_mb = _positive_int("memory", mb)
        return self

    def with_disk_size(self, mb: int) -> Sandbox:
        self._opts.disk_size_mb = _positive_int("disk_size", mb)
        return self

    def with_timeout(self, seconds: int) -> Sandbox:
        self._opts.timeout_seconds = _positive_int("timeout", seconds)
        return self

    # ── files ──
    def with_workspace(self, path: str) -> Sandbox:
        if not path.startswith("/"):
            raise ValidationError("workspace", f"must be an absolute guest path, got {path!r}")
        self._opts.workspace = path
        return self

    def with_vfs_interception(self, config: VFSInterceptionConfig) -> Sandbox:
        self._opts.vfs_interception = config
        return self

    def mount(self, guest_path: str, config: MountConfig) -> Sandbox:
        if not guest_path.startswith("/"):
            raise ValidationError("mount", f"guest path must be absolute, got {guest_path!r}")
        if config.type not in ("memory", "host_fs", "overlay"):
            raise ValidationError("mount", f"unknown type {config.type!r} (memory, host_fs, overlay)")
        if config.type != "memory" and not config.host_path:
            raise ValidationError("mount", f"{config.type} mount {guest_path!r} needs a host_path")
        self._opts.mounts[guest_path] = config
        return self

    def mount_host_dir(self, guest_path: str, host_path: str) -> Sandbox:
        return self.mount(guest_path, MountConfig(type="host_fs", host_path=host_path))

    def mount_host_dir_readonly(self, guest_path: str, host_path: str) -> Sandbox:
        return self.mount(guest_path, MountConfig(type="host_fs", host_path=host_path, readonly=True))

    def mount_memory(self, guest_path: str) -> Sandbox:
        return self.mount(guest_path, MountConfig(type="memory"))

    def mount_overlay(self, guest_path: str, host_path: str) -> Sandbox:
        return self.mount(guest_path, MountConfig(type="overlay", host_path=host_path))

    # ── environment and image ──
    def with_env(self, name: str, value: str) -> Sandbox:
        _check_env_name("env", name)
        self._opts.env[name] = value
        return self

    def with_env_map(self, env: Dict[str, str]) -> Sandbox:
        for name in env:
            _check_env_name("env", name)
        self._opts.env.update(env)
        return self

    def with_user(self, user: str) -> Sandbox:
        self._image_config().user = user
        return self

    def with_entrypoint(self, *entrypoint: str) -> Sandbox:
        self._image_config().entrypoint = list(entrypoint)
        return self

    def with_image_config(self, config: ImageConfig) -> Sandbox:
        """Merge ``config`` over the current image config; empty fields leave values unchanged."""
        current = self._image_config()
        if config.user:
            current.user = config.user
        if config.working_dir:
            current.working_dir = config.working_dir
        if config.entrypoint:
            current.entrypoint = list(config.entrypoint)
        if config.cmd:
            current.cmd = list(config.cmd)
        if config.env:
            current.env = dict(config.env)
        return self

    # ── network ──
    def allow_host(self, *hosts: str) -> Sandbox:
        for host in hosts:
            if not host.strip():
                raise ValidationError("allow_host", "host patterns must be non-empty")
        self._opts.allowed_hosts.extend(h.strip() for h in hosts)
        return self

    def add_host(self, host: str, ip: str) -> Sandbox:
        """Add a static ``/etc/hosts`` entry in the guest."""
        if not host or any(c.isspace() for c in host) or ":" in host:
            raise ValidationError("add_host", f"invalid host name {host!r}")
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise ValidationError("add_host", f"invalid IP address {ip!r} for {host!r}") from None
        self._opts.add_hosts.append(HostIPMapping(host=host, ip=ip))
        return self

    def block_private_ips(self) -> Sandbox:
        return self.with_block_private_ips(True)

    def with_block_private_ips(self, enabled: bool) -> Sandbox:
        self._opts.block_private_ips = enabled
        self._opts.block_private_ips_set = True
        return self

    def allow_private_ips(self) -> Sandbox:
        return self.with_block_private_ips(False)

    def unset_block_private_ips(self) -> Sandbox:
        self._opts.block_private_ips = False
        self._opts.block_private_ips_set = False
        return self

    def with_network_mtu(self, mtu: int) -> Sandbox:
        self._opts.network_mtu = _positive_int("network_mtu", mtu)
        return self

    def with_no_network(self) -> Sandbox:
        self._opts.no_network = True
        return self

    def with_network_interception(self, config: Optional[NetworkInterceptionConfig] = None) -> Sandbox:
        """Turn on the intercepting proxy, optionally with rules."""
        self._opts.force_interception = True
        if config is not None:
            self._opts.network_interception = config
        return self

    def add_secret(self, name: str, value: str, *hosts: str) -> Sandbox:
        _check_env_name("secret", name)
        if not value:
            raise ValidationError("secret", f"{name}: the value must be non-empty")
        self._opts.secrets.append(Secret(name=name, value=value, hosts=list(hosts)))
        return self

    def with_dns_servers(self, *servers: str) -> Sandbox:
        for server in servers:
            try:
                ipaddress.ip_address(server)
            except ValueError:
                raise ValidationError("dns_servers", f"invalid IP address {server!r}") from None
        self._opts.dns_servers.extend(servers)
        return self

    def with_hostname(self, hostname: str) -> Sandbox:
        self._opts.hostname = hostname
        return self

    def with_port_forward(self, local_port: int, remote_port: int) -> Sandbox:
        check_port("port_forward", local_port)
        check_port("port_forward", remote_port)
        self._opts.port_forwards.append(PortForward(local_port=local_port, remote_port=remote_port))
        return self

    def with_port_forward_spec(self, *specs: str) -> Sandbox:
        """Add forwards written as ``"[LOCAL:]REMOTE"`` (``"8080"``, ``"18081:81"``)."""
        self._opts.port_forwards.extend(parse_port_spec(s) for s in specs)
        return self

    def with_port_forward_addresses(self, *addresses: str) -> Sandbox:
        for address in addresses:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ValidationError("port_forward_addresses", f"invalid IP address {address!r}") from None
        self._opts.port_forward_addresses.extend(addresses)
        return self

    def options(self) -> CreateOptions:
        """A deep copy of the collected options (later builder calls do not change it).
        Hook callables are shared, not copied: they may be bound to objects holding locks."""
        memo: Dict[int, Any] = {}
        for rules in (
            self._opts.vfs_interception.rules if self._opts.vfs_interception else [],
            self._opts.network_interception.rules if self._opts.network_interception else [],
        ):
            for rule in rules:
                for name in ("hook", "dangerous_hook", "mutate_hook", "action_hook"):
                    callback = getattr(rule, name, None)
                    if callback is not None:
                        memo[id(callback)] = callback
        return copy.deepcopy(self._opts, memo)

    def _image_config(self) -> ImageConfig:
        if self._opts.image_config is None:
            self._opts.image_config = ImageConfig()
        return self._opts.image_config


def _positive_int(option: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValidationError(option, f"must be an integer > 0, got {value!r}")
    return value


def _check_env_name(option: str, name: str) -> None:
    if not name or "=" in name or "\0" in name:
        raise ValidationError(option, f"invalid variable name {name!r}")
