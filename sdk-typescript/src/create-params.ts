import { isIP } from "node:net";
import {
  DEFAULT_CPUS,
  DEFAULT_DISK_SIZE_MB,
  DEFAULT_MEMORY_MB,
  DEFAULT_TIMEOUT_SECONDS,
} from "./constants.js";
import { ValidationError } from "./errors.js";
import { validatePortForward } from "./port-forward.js";
import type { CreateOptions, HostIPMapping } from "./types.js";
import type { WireVFSInterception } from "./vfs-hooks.js";

/** What `create` needs besides the options: the compiled hook parts. */
export interface CreateWireParts {
  vfsInterception: WireVFSInterception | undefined;
  networkRules: Array<Record<string, unknown>>;
  callbackSocket: string | undefined;
}

function checkNonNegative(option: string, value: number | undefined, integer: boolean): void {
  if (value === undefined) return;
  if (!Number.isFinite(value) || value < 0 || (integer && !Number.isInteger(value))) {
    throw new ValidationError(option, `must be a non-negative ${integer ? "integer" : "number"}, got ${value}`);
  }
}

export function validateAddHost(mapping: HostIPMapping): void {
  if (!mapping.host || /\s/.test(mapping.host) || mapping.host.includes(":")) {
    throw new ValidationError("addHosts", `invalid host "${mapping.host}"`);
  }
  if (isIP(mapping.ip) === 0) {
    throw new ValidationError("addHosts", `invalid ip "${mapping.ip}" for host ${mapping.host}`);
  }
}

/** Checks options before anything is spawned; throws {@link ValidationError} naming the option. */
export function validateCreateOptions(options: CreateOptions): void {
  if (!options.image) throw new ValidationError("image", "image is required (e.g., alpine:latest)");
  if (options.cpus !== undefined && (!Number.isFinite(options.cpus) || options.cpus < 0)) {
    throw new ValidationError("cpus", `must be a positive number, got ${options.cpus}`);
  }
  checkNonNegative("memoryMb", options.memoryMb, true);
  checkNonNegative("diskSizeMb", options.diskSizeMb, true);
  checkNonNegative("timeoutSeconds", options.timeoutSeconds, true);
  if ((options.networkMtu ?? 0) < 0 || !Number.isInteger(options.networkMtu ?? 0)) {
    throw new ValidationError("networkMtu", "network mtu must be > 0");
  }
  const hasRules = (options.networkInterception?.rules?.length ?? 0) > 0;
  if (
    options.noNetwork &&
    ((options.allowedHosts?.length ?? 0) > 0 ||
      (options.secrets?.length ?? 0) > 0 ||
      options.forceInterception ||
      hasRules)
  ) {
    throw new ValidationError(
      "noNetwork",
      "no network cannot be combined with allowed hosts, secrets, forced interception, or network interception rules",
    );
  }
  for (const mapping of options.addHosts ?? []) validateAddHost(mapping);
  for (const secret of options.secrets ?? []) {
    if (!secret.name) throw new ValidationError("secrets", "a secret needs a name");
  }
  for (const forward of options.portForwards ?? []) validatePortForward(forward);
  for (const [guestPath, mount] of Object.entries(options.mounts ?? {})) {
    if (!guestPath.startsWith("/")) throw new ValidationError("mounts", `guest path "${guestPath}" must be absolute`);
    if ((mount.type === "host_fs" || mount.type === "overlay") && !mount.hostPath) {
      throw new ValidationError("mounts", `${mount.type} mount at ${guestPath} needs hostPath`);
    }
  }
}

function buildNetwork(options: CreateOptions, parts: CreateWireParts): Record<string, unknown> | undefined {
  const allowedHosts = options.allowedHosts ?? [];
  const addHosts = options.addHosts ?? [];
  const secrets = options.secrets ?? [];
  const dnsServers = options.dnsServers ?? [];
  const hostname = options.hostname ?? "";
  const mtu = options.networkMtu ?? 0;
  const hasRules = parts.networkRules.length > 0 || parts.callbackSocket !== undefined;
  // An explicit false must be sent (the engine replaces its defaults wholesale).
  const blockOverride = options.blockPrivateIPsSet === true || options.blockPrivateIPs === true;
  const blockPrivateIPs = blockOverride ? options.blockPrivateIPs === true : true;

  const include =
    allowedHosts.length > 0 ||
    addHosts.length > 0 ||
    secrets.length > 0 ||
    dnsServers.length > 0 ||
    hostname !== "" ||
    mtu > 0 ||
    options.noNetwork === true ||
    blockOverride ||
    options.forceInterception === true ||
    hasRules;
  if (!include) return undefined;

  const network: Record<string, unknown> = {};
  if (options.noNetwork) {
    network.no_network = true;
  } else {
    network.allowed_hosts = [...allowedHosts];
    network.block_private_ips = blockPrivateIPs;
    if (options.forceInterception || hasRules) network.intercept = true;
    if (hasRules) {
      const interception: Record<string, unknown> = {};
      if (parts.callbackSocket) interception.callback_socket = parts.callbackSocket;
      interception.rules = parts.networkRules;
      network.interception = interception;
    }
  }
  if (addHosts.length > 0) network.add_hosts = addHosts.map((m) => ({ host: m.host, ip: m.ip }));
  if (!options.noNetwork && secrets.length > 0) {
    const wire: Record<string, unknown> = {};
    for (const secret of secrets) wire[secret.name] = { value: secret.value, hosts: [...(secret.hosts ?? [])] };
    network.secrets = wire;
  }
  if (dnsServers.length > 0) network.dns_servers = [...dnsServers];
  if (hostname) network.hostname = hostname;
  if (!options.noNetwork && mtu > 0) network.mtu = mtu;
  return network;
}

/** The exact `create` params for `options` (reference §4.4). */
export function buildCreateParams(options: CreateOptions, parts: CreateWireParts): Record<string, unknown> {
  const params: Record<string, unknown> = {
    image: options.image,
    resources: {
      cpus: options.cpus || DEFAULT_CPUS,
      memory_mb: options.memoryMb || DEFAULT_MEMORY_MB,
      disk_size_mb: options.diskSizeMb || DEFAULT_DISK_SIZE_MB,
      timeout_seconds: options.timeoutSeconds || DEFAULT_TIMEOUT_SECONDS,
    },
  };
  if (options.privileged) params.privileged = true;

  const network = buildNetwork(options, parts);
  if (network) params.network = network;

  const mounts = Object.entries(options.mounts ?? {});
  if (mounts.length > 0 || options.workspace || parts.vfsInterception) {
    const vfs: Record<string, unknown> = {};
    if (mounts.length > 0) {
      const wire: Record<string, unknown> = {};
      for (const [guestPath, mount] of mounts) {
        const entry: Record<string, unknown> = { type: mount.type || "memory" };
        if (mount.hostPath) entry.host_path = mount.hostPath;
        if (mount.readonly) entry.readonly = true;
        wire[guestPath] = entry;
      }
      vfs.mounts = wire;
    }
    if (options.workspace) vfs.workspace = options.workspace;
    if (parts.vfsInterception) vfs.interception = parts.vfsInterception;
    params.vfs = vfs;
  }

  if (options.env && Object.keys(options.env).length > 0) params.env = { ...options.env };

  if (options.imageConfig) {
    const config = options.imageConfig;
    const wire: Record<string, unknown> = {};
    if (config.user) wire.user = config.user;
    if (config.workingDir) wire.working_dir = config.workingDir;
    // Arrays are sent even when empty: [] clears the image's entrypoint.
    if (config.entrypoint) wire.entrypoint = [...config.entrypoint];
    if (config.cmd) wire.cmd = [...config.cmd];
    if (config.env) wire.env = { ...config.env };
    params.image_config = wire;
  }
  if (options.launchEntrypoint) params.launch_entrypoint = true;
  return params;
}
