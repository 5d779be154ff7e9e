import { validateAddHost } from "./create-params.js";
import { ValidationError } from "./errors.js";
import { validatePortForward } from "./port-forward.js";
import type {
  CreateOptions,
  ImageConfig,
  MountConfig,
  NetworkInterceptionConfig,
  VFSInterceptionConfig,
} from "./types.js";

/** A deep copy of create options; hook functions are shared, everything else is copied. */
export function cloneCreateOptions(options: CreateOptions): CreateOptions {
  const copy: CreateOptions = { ...options };
  if (options.allowedHosts) copy.allowedHosts = [...options.allowedHosts];
  if (options.addHosts) copy.addHosts = options.addHosts.map((m) => ({ ...m }));
  if (options.mounts) {
    copy.mounts = Object.fromEntries(Object.entries(options.mounts).map(([k, v]) => [k, { ...v }]));
  }
  if (options.env) copy.env = { ...options.env };
  if (options.secrets) copy.secrets = options.secrets.map((s) => ({ ...s, ...(s.hosts ? { hosts: [...s.hosts] } : {}) }));
  if (options.dnsServers) copy.dnsServers = [...options.dnsServers];
  if (options.portForwards) copy.portForwards = options.portForwards.map((f) => ({ ...f }));
  if (options.portForwardAddresses) copy.portForwardAddresses = [...options.portForwardAddresses];
  if (options.imageConfig) copy.imageConfig = cloneImageConfig(options.imageConfig);
  if (options.vfsInterception) {
    copy.vfsInterception = {
      ...options.vfsInterception,
      ...(options.vfsInterception.rules
        ? { rules: options.vfsInterception.rules.map((r) => ({ ...r, ...(r.ops ? { ops: [...r.ops] } : {}) })) }
        : {}),
    };
  }
  if (options.networkInterception) {
    copy.networkInterception = {
      ...options.networkInterception,
      ...(options.networkInterception.rules
        ? {
            rules: options.networkInterception.rules.map((r) => ({
              ...r,
              ...(r.hosts ? { hosts: [...r.hosts] } : {}),
              ...(r.methods ? { methods: [...r.methods] } : {}),
              ...(r.setHeaders ? { setHeaders: { ...r.setHeaders } } : {}),
              ...(r.deleteHeaders ? { deleteHeaders: [...r.deleteHeaders] } : {}),
              ...(r.setQuery ? { setQuery: { ...r.setQuery } } : {}),
              ...(r.deleteQuery ? { deleteQuery: [...r.deleteQuery] } : {}),
              ...(r.setResponseHeaders ? { setResponseHeaders: { ...r.setResponseHeaders } } : {}),
              ...(r.deleteResponseHeaders ? { deleteResponseHeaders: [...r.deleteResponseHeaders] } : {}),
              ...(r.bodyReplacements ? { bodyReplacements: r.bodyReplacements.map((t) => ({ ...t })) } : {}),
            })),
          }
        : {}),
    };
  }
  return copy;
}

function cloneImageConfig(config: ImageConfig): ImageConfig {
  const copy: ImageConfig = { ...config };
  if (config.entrypoint) copy.entrypoint = [...config.entrypoint];
  if (config.cmd) copy.cmd = [...config.cmd];
  if (config.env) copy.env = { ...config.env };
  return copy;
}

function positiveInteger(option: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) throw new ValidationError(option, `must be a positive integer, got ${value}`);
  return value;
}

/**
 * Fluent builder for sandbox options: `new Sandbox("alpine:latest").withCPUs(2).allowHost("x")`.
 * Pass it to `client.launch(sandbox)` or use `sandbox.options()` with `client.create()`.
 */
export class Sandbox {
  private readonly opts: CreateOptions;

  constructor(image: string) {
    if (!image) throw new ValidationError("image", "image is required (e.g., alpine:latest)");
    this.opts = { image };
  }

  withPrivileged(): this {
    this.opts.privileged = true;
    return this;
  }

  withCPUs(cpus: number): this {
    if (!Number.isFinite(cpus) || cpus <= 0) throw new ValidationError("cpus", `must be a positive number, got ${cpus}`);
    this.opts.cpus = cpus;
    return this;
  }

  withMemory(memoryMb: number): this {
    this.opts.memoryMb = positiveInteger("memoryMb", memoryMb);
    return this;
  }

  withDiskSize(diskSizeMb: number): this {
    this.opts.diskSizeMb = positiveInteger("diskSizeMb", diskSizeMb);
    return this;
  }

  withTimeout(timeoutSeconds: number): this {
    this.opts.timeoutSeconds = positiveInteger("timeoutSeconds", timeoutSeconds);
    return this;
  }

  withWorkspace(path: string): this {
    this.opts.workspace = path;
    return this;
  }

  withVFSInterception(config: VFSInterceptionConfig): this {
    this.opts.vfsInterception = config;
    return this;
  }

  /** Turns on interception (even without rules) and sets the network rules, if given. */
  withNetworkInterception(config?: NetworkInterceptionConfig): this {
    this.opts.forceInterception = true;
    if (config) this.opts.networkInterception = config;
    return this;
  }

  withEnv(name: string, value: string): this {
    if (!name || name.includes("=")) throw new ValidationError("env", `invalid variable name "${name}"`);
    this.opts.env = { ...(this.opts.env ?? {}), [name]: value };
    return this;
  }

  withEnvMap(env: Record<string, string>): this {
    for (const [name, value] of Object.entries(env)) this.withEnv(name, value);
    return this;
  }

  allowHost(...hosts: string[]): this {
    this.opts.allowedHosts = [...(this.opts.allowedHosts ?? []), ...hosts];
    return this;
  }

  addHost(host: string, ip: string): this {
    validateAddHost({ host, ip });
    this.opts.addHosts = [...(this.opts.addHosts ?? []), { host, ip }];
    return this;
  }

  blockPrivateIPs(): this {
    return this.withBlockPrivateIPs(true);
  }

  withBlockPrivateIPs(block: boolean): this {
    this.opts.blockPrivateIPs = block;
    this.opts.blockPrivateIPsSet = true;
    return this;
  }

  allowPrivateIPs(): this {
    return this.withBlockPrivateIPs(false);
  }

  /** Back to the default (private IPs blocked). */
  unsetBlockPrivateIPs(): this {
    delete this.opts.blockPrivateIPs;
    delete this.opts.blockPrivateIPsSet;
    return this;
  }

  /** The guest sees `NAME=<placeholder>`; the real value is only sent to `hosts`. */
  addSecret(name: string, value: string, ...hosts: string[]): this {
    if (!name) throw new ValidationError("secrets", "a secret needs a name");
    this.opts.secrets = [...(this.opts.secrets ?? []), { name, value, hosts }];
    return this;
  }

  withDNSServers(...servers: string[]): this {
    this.opts.dnsServers = [...(this.opts.dnsServers ?? []), ...servers];
    return this;
  }

  withHostname(hostname: string): this {
    this.opts.hostname = hostname;
    return this;
  }

  withNetworkMTU(mtu: number): this {
    this.opts.networkMtu = positiveInteger("networkMtu", mtu);
    return this;
  }

  withNoNetwork(): this {
    this.opts.noNetwork = true;
    return this;
  }

  withPortForward(localPort: number, remotePort: number): this {
    const forward = validatePortForward({ localPort, remotePort });
    this.opts.portForwards = [...(this.opts.portForwards ?? []), forward];
    return this;
  }

  withPortForwardAddresses(...addresses: string[]): this {
    this.opts.portForwardAddresses = [...(this.opts.portForwardAddresses ?? []), ...addresses];
    return this;
  }

  mount(guestPath: string, config: MountConfig): this {
    this.opts.mounts = { ...(this.opts.mounts ?? {}), [guestPath]: { ...config } };
    return this;
  }

  /** A live, writable host directory. */
  mountHostDir(guestPath: string, hostPath: string): this {
    return this.mount(guestPath, { type: "host_fs", hostPath });
  }

  mountHostDirReadonly(guestPath: string, hostPath: string): this {
    return this.mount(guestPath, { type: "host_fs", hostPath, readonly: true });
  }

  mountMemory(guestPath: string): this {
    return this.mount(guestPath, { type: "memory" });
  }

  /** A copy-on-write view of a host directory; the host is never changed. */
  mountOverlay(guestPath: string, hostPath: string): this {
    return this.mount(guestPath, { type: "overlay", hostPath });
  }

  withUser(user: string): this {
    this.opts.imageConfig = { ...(this.opts.imageConfig ?? {}), user };
    return this;
  }

  withEntrypoint(...entrypoint: string[]): this {
    this.opts.imageConfig = { ...(this.opts.imageConfig ?? {}), entrypoint };
    return this;
  }

  withImageConfig(config: ImageConfig): this {
    this.opts.imageConfig = { ...(this.opts.imageConfig ?? {}), ...cloneImageConfig(config) };
    return this;
  }

  /** A deep copy of the options built so far. */
  options(): CreateOptions {
    return cloneCreateOptions(this.opts);
  }
}

/** Same as `new Sandbox(image)`. */
export function createSandbox(image: string): Sandbox {
  return new Sandbox(image);
}
