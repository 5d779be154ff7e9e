import { asNumber, asString, asStringArray, fromBase64, toBuffer } from "./binary.js";
import { cloneCreateOptions } from "./builder.js";
import type { Sandbox } from "./builder.js";
import { isUnknownCommand, runCLI } from "./cli.js";
import { cliBinary, defaultConfig, engineArgv } from "./config.js";
import type { ResolvedConfig } from "./config.js";
import { DEFAULT_VOLUME_SIZE_MB, FILE_MODE_DIR, FILE_MODE_SYMLINK, VFS_HOOK_OP_READ, VFS_HOOK_OP_READDIR, VFS_HOOK_OP_WRITE } from "./constants.js";
import { buildCreateParams, validateCreateOptions } from "./create-params.js";
import { MatchlockError, ValidationError } from "./errors.js";
import type { EngineExitedError } from "./errors.js";
import { ExecSession } from "./exec-session.js";
import { compileNetworkHooks, NetworkHookServer } from "./network-hooks.js";
import { parsePortForwardSpec, portForwardParams } from "./port-forward.js";
import { Process } from "./process.js";
import { writeChunk } from "./streams.js";
import { Transport } from "./transport.js";
import type { JSONObject } from "./transport.js";
import type {
  AllowListAddResult,
  AllowListDeleteResult,
  BinaryLike,
  Config,
  CreateOptions,
  EngineVersion,
  ExecInteractiveOptions,
  ExecInteractiveResult,
  ExecOptions,
  ExecPipeOptions,
  ExecPipeResult,
  ExecResult,
  ExecStreamOptions,
  ExecStreamResult,
  FileInfo,
  FileStat,
  ListSandboxesOptions,
  LogStreamOptions,
  MatchlockEvent,
  MkdirOptions,
  PortForward,
  PortForwardBinding,
  RemoveOptions,
  RequestOptions,
  SandboxInfo,
  SpawnOptions,
  StreamReader,
  StreamWriter,
  VFSHookEvent,
  VolumeInfo,
} from "./types.js";
import { LocalVFSHooks, compileVFSHooks } from "./vfs-hooks.js";

/** Seconds the engine gets for a graceful VM stop when `close()` is given 0. */
const DEFAULT_CLOSE_SECONDS = 2;

export { defaultConfig };

type EventListener = (event: MatchlockEvent) => void;

function execParams(command: string, options: { workingDir?: string; user?: string; env?: Record<string, string> }): JSONObject {
  const params: JSONObject = { command };
  if (options.workingDir) params.working_dir = options.workingDir;
  if (options.user) params.user = options.user;
  if (options.env && Object.keys(options.env).length > 0) params.env = { ...options.env };
  return params;
}

function toFileInfo(raw: JSONObject): FileInfo {
  const info: FileInfo = {
    name: asString(raw.name),
    size: asNumber(raw.size),
    mode: asNumber(raw.mode),
    isDir: raw.is_dir === true,
  };
  if (typeof raw.mod_time === "string") info.modTime = raw.mod_time;
  return info;
}

function toEvent(params: JSONObject): MatchlockEvent {
  const event: MatchlockEvent = { type: asString(params.type), timestamp: asNumber(params.timestamp), raw: params };
  const file = params.file as JSONObject | undefined;
  if (file && typeof file === "object") {
    event.file = {
      op: asString(file.op),
      path: asString(file.path),
      size: asNumber(file.size),
      mode: asNumber(file.mode),
      uid: asNumber(file.uid),
      gid: asNumber(file.gid),
      ...(typeof file.new_path === "string" ? { newPath: file.new_path } : {}),
      ...(typeof file.error === "string" ? { error: file.error } : {}),
    };
  }
  const network = params.network as JSONObject | undefined;
  if (network && typeof network === "object") {
    event.network = {
      method: asString(network.method),
      url: asString(network.url),
      host: asString(network.host),
      statusCode: asNumber(network.status_code),
      requestBytes: asNumber(network.request_bytes),
      responseBytes: asNumber(network.response_bytes),
      durationMs: asNumber(network.duration_ms),
      blocked: network.blocked === true,
      ...(typeof network.block_reason === "string" ? { blockReason: network.block_reason } : {}),
    };
  }
  return event;
}

/** Splits on commas, trims, drops empties and duplicates. */
function normalizeHosts(hosts: string[]): string[] {
  const seen = new Set<string>();
  for (const entry of hosts) {
    for (const part of entry.split(",")) {
      const host = part.trim();
      if (host) seen.add(host);
    }
  }
  if (seen.size === 0) throw new ValidationError("hosts", "allow-list hosts are required");
  return [...seen];
}

/**
 * A connection to one sandbox through one `matchlock rpc` process.
 *
 * Every method may be called concurrently (promises run in parallel on the engine; replies
 * are matched by id). The engine starts on first use or with `start()`; always `close()` it.
 */
export class Client {
  private readonly config: ResolvedConfig;
  private attachTo: string | undefined;
  private transport: Transport | undefined;
  private starting: Promise<Transport> | undefined;
  private vmIdValue = "";
  private lastVmId = "";
  private closed = false;
  private closing: Promise<void> | undefined;
  private localHooks = new LocalVFSHooks();
  private hookServer: NetworkHookServer | undefined;
  private readonly listeners = new Set<EventListener>();

  constructor(config: Config = {}) {
    this.config = defaultConfig(config);
    this.attachTo = undefined;
  }

  /** Connects to a running sandbox (`matchlock rpc --attach ID`); `close()` then only detaches. */
  static async attach(vmId: string, config: Config = {}): Promise<Client> {
    if (!vmId) throw new ValidationError("vmId", "a sandbox id is required");
    const client = new Client(config);
    client.attachTo = vmId;
    client.vmIdValue = vmId;
    await client.start();
    return client;
  }

  /** The sandbox id (empty before `create`). */
  get vmId(): string {
    return this.vmIdValue;
  }

  /** True for clients made by {@link Client.attach}. */
  get isAttached(): boolean {
    return this.attachTo !== undefined;
  }

  /** The engine process id while it runs. */
  get enginePid(): number | undefined {
    return this.transport?.pid;
  }

  /** The last ~8 KiB the engine wrote to stderr. */
  get engineStderr(): string {
    return this.transport?.stderr ?? "";
  }

  /** Starts the engine (also done lazily by the first call). */
  async start(): Promise<void> {
    await this.ensureStarted();
  }

  private ensureStarted(): Promise<Transport> {
    if (this.closed || this.closing) return Promise.reject(new MatchlockError("client is closed"));
    if (!this.starting) {
      this.starting = (async () => {
        // Discovery errors (EngineNotFoundError) are raised here, before anything runs.
        const argv = engineArgv(this.config, this.attachTo);
        const transport = new Transport(
          argv,
          (method, params) => this.handleNotification(method, params),
          (error) => this.handleEngineDeath(error),
        );
        this.transport = transport;
        await transport.start();
        return transport;
      })();
      // A failed start may be retried by the next call.
      this.starting.catch(() => {
        this.starting = undefined;
      });
    }
    return this.starting;
  }

  private async call(method: string, params?: JSONObject, options: RequestOptions = {}): Promise<JSONObject> {
    const transport = await this.ensureStarted();
    return transport.call(method, params, { signal: options.signal, timeoutMs: options.timeoutMs });
  }

  // ----------------------------------------------------------------------------- lifecycle

  /** Creates and boots the sandbox; returns its id. */
  async create(opts: CreateOptions = {}): Promise<string> {
    const options = cloneCreateOptions(opts);
    validateCreateOptions(options);
    const vfs = compileVFSHooks(options.vfsInterception);
    const network = compileNetworkHooks(options.networkInterception);
    const transport = await this.ensureStarted();

    let server: NetworkHookServer | undefined;
    if (network.callbacks.size > 0) server = await NetworkHookServer.start(network.callbacks);
    const params = buildCreateParams(options, {
      vfsInterception: vfs.wire,
      networkRules: network.rules,
      callbackSocket: server?.socketPath,
    });
    let result: JSONObject;
    try {
      result = await transport.call("create", params, {
        // Events can follow the reply immediately (e.g. from the entrypoint): the hooks that
        // consume them must be in place before the next line is read.
        onResult: (reply) => {
          const id = asString(reply.id);
          if (!id) return;
          this.vmIdValue = id;
          this.lastVmId = id;
          this.localHooks = vfs.local;
          this.hookServer = server;
        },
      });
    } catch (error) {
      await server?.stop();
      throw error;
    }
    const id = asString(result.id);
    if (!id) {
      await server?.stop();
      throw new MatchlockError("invalid create response: missing id");
    }
    if ((options.portForwards ?? []).length > 0) {
      // The sandbox exists even when this fails; vmId stays set.
      await this.portForwardMappings(options.portForwardAddresses, options.portForwards ?? []);
    }
    return id;
  }

  /** Creates the sandbox from a builder and starts the image's entrypoint. */
  async launch(sandbox: Sandbox): Promise<string> {
    return this.create({ ...sandbox.options(), launchEntrypoint: true });
  }

  /**
   * Stops the sandbox and the engine: sends `close` (graceful period `timeoutSeconds`, 0 means
   * 2 s), closes stdin, waits, then kills. Attached clients only detach. Idempotent.
   */
  async close(timeoutSeconds = 0): Promise<void> {
    if (this.closed) return;
    if (!this.closing) this.closing = this.shutdown(timeoutSeconds, !this.isAttached);
    await this.closing;
  }

  /** Stops the sandbox even when attached (sends `close`), then ends this client. */
  async kill(timeoutSeconds = 0): Promise<void> {
    if (this.closed) return;
    if (!this.closing) this.closing = this.shutdown(timeoutSeconds, true);
    await this.closing;
  }

  private async shutdown(timeoutSeconds: number, stopSandbox: boolean): Promise<void> {
    const seconds = timeoutSeconds > 0 ? timeoutSeconds : DEFAULT_CLOSE_SECONDS;
    this.lastVmId = this.vmIdValue || this.lastVmId;
    this.localHooks = new LocalVFSHooks();
    try {
      const transport = this.transport;
      if (transport?.isRunning) {
        if (stopSandbox) {
          try {
            await transport.call("close", { timeout_seconds: seconds }, { timeoutMs: (seconds + 5) * 1000 });
          } catch {
            // Best effort: the engine stops the sandbox at stdin EOF anyway.
          }
        }
        transport.closeStdin();
        await transport.waitOrKill(seconds * 1000);
      }
    } finally {
      await this.stopHookServer();
      this.closed = true;
    }
  }

  /** Deletes the stopped sandbox's state (`matchlock rm ID`). */
  async remove(): Promise<void> {
    const id = this.vmIdValue || this.lastVmId;
    if (!id) return;
    await runCLI(cliBinary(this.config), ["rm", id]);
  }

  /** Sets (or with 0 clears) the sandbox's lifetime; returns the expiry or null. */
  async setSandboxTimeout(seconds: number, options: RequestOptions = {}): Promise<Date | null> {
    if (!Number.isInteger(seconds) || seconds < 0) {
      throw new ValidationError("timeoutSeconds", `must be a non-negative integer, got ${seconds}`);
    }
    const result = await this.call("set_timeout", { timeout_seconds: seconds }, options);
    return typeof result.expires_at === "string" ? new Date(result.expires_at) : null;
  }

  /** The engine's version. */
  async version(options: RequestOptions = {}): Promise<EngineVersion> {
    const result = await this.call("version", undefined, options);
    return { version: asString(result.version), commit: asString(result.commit) };
  }

  /** Calls `listener` for every `event` notification (file and network). Returns an unsubscribe. */
  onEvent(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ----------------------------------------------------------------------------- exec

  /** Runs a command and returns its buffered output (decoded as UTF-8). */
  async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    if (options.onStdout || options.onStderr) {
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      const result = await this.execStream(command, {
        ...options,
        stdout: (chunk) => {
          stdout.push(chunk);
          options.onStdout?.(chunk);
        },
        stderr: (chunk) => {
          stderr.push(chunk);
          options.onStderr?.(chunk);
        },
      });
      return {
        exitCode: result.exitCode,
        durationMs: result.durationMs,
        stdout: Buffer.concat(stdout).toString("utf8"),
        stderr: Buffer.concat(stderr).toString("utf8"),
      };
    }
    const result = await this.call("exec", execParams(command, options), options);
    return {
      exitCode: asNumber(result.exit_code),
      stdout: fromBase64(result.stdout).toString("utf8"),
      stderr: fromBase64(result.stderr).toString("utf8"),
      durationMs: asNumber(result.duration_ms),
      ...(result.stdout_truncated === true ? { stdoutTruncated: true } : {}),
      ...(result.stderr_truncated === true ? { stderrTruncated: true } : {}),
    };
  }

  async execWithDir(command: string, workingDir = "", options: RequestOptions = {}): Promise<ExecResult> {
    return this.exec(command, { ...options, workingDir });
  }

  /** Runs a command, streaming its output to writers as it comes. */
  async execStream(command: string, options: ExecStreamOptions = {}): Promise<ExecStreamResult> {
    const transport = await this.ensureStarted();
    const result = await transport.call("exec_stream", execParams(command, options), {
      signal: options.signal,
      timeoutMs: options.timeoutMs,
      onNotification: (method, payload) => {
        if (method === "exec_stream.stdout") writeChunk(options.stdout, fromBase64(payload.data));
        else if (method === "exec_stream.stderr") writeChunk(options.stderr, fromBase64(payload.data));
      },
    });
    return { exitCode: asNumber(result.exit_code), durationMs: asNumber(result.duration_ms) };
  }

  async execStreamWithDir(
    command: string,
    workingDir = "",
    stdout?: StreamWriter,
    stderr?: StreamWriter,
    options: RequestOptions = {},
  ): Promise<ExecStreamResult> {
    return this.execStream(command, { ...options, workingDir, stdout, stderr });
  }

  /** Runs a command with stdin fed from `options.stdin` and output streamed to writers. */
  async execPipe(command: string, options: ExecPipeOptions = {}): Promise<ExecPipeResult> {
    const transport = await this.ensureStarted();
    const session = new ExecSession(transport, "exec_pipe", execParams(command, options), {
      signal: options.signal,
      timeoutMs: options.timeoutMs,
      onStdout: (chunk) => writeChunk(options.stdout, chunk),
      onStderr: (chunk) => writeChunk(options.stderr, chunk),
    });
    const pump = session.pumpStdin(options.stdin);
    try {
      const result = await session.done;
      return { exitCode: asNumber(result.exit_code), durationMs: asNumber(result.duration_ms) };
    } finally {
      await pump.catch(() => undefined);
    }
  }

  async execPipeWithDir(
    command: string,
    workingDir = "",
    stdin?: StreamReader,
    stdout?: StreamWriter,
    stderr?: StreamWriter,
    options: RequestOptions = {},
  ): Promise<ExecPipeResult> {
    return this.execPipe(command, { ...options, workingDir, stdin, stdout, stderr });
  }

  /** Runs a command on a pseudo-terminal (stdout and stderr merged). */
  async execInteractive(command: string, options: ExecInteractiveOptions = {}): Promise<ExecInteractiveResult> {
    const rows = options.rows && options.rows > 0 ? Math.trunc(options.rows) : 24;
    const cols = options.cols && options.cols > 0 ? Math.trunc(options.cols) : 80;
    const transport = await this.ensureStarted();
    const session = new ExecSession(
      transport,
      "exec_tty",
      { ...execParams(command, options), rows, cols },
      {
        signal: options.signal,
        timeoutMs: options.timeoutMs,
        onStdout: (chunk) => writeChunk(options.stdout, chunk),
      },
    );
    const pumps = Promise.all([session.pumpStdin(options.stdin), session.pumpResize(options.resize)]);
    try {
      const result = await session.done;
      return { exitCode: asNumber(result.exit_code), durationMs: asNumber(result.duration_ms) };
    } finally {
      await pumps.catch(() => undefined);
    }
  }

  /** Starts a command in the background and returns it as a {@link Process}. */
  async spawn(command: string, options: SpawnOptions = {}): Promise<Process> {
    const transport = await this.ensureStarted();
    let stdoutSink: (chunk: Buffer) => void = () => undefined;
    let stderrSink: (chunk: Buffer) => void = () => undefined;
    const session = new ExecSession(transport, "exec_pipe", execParams(command, options), {
      signal: options.signal,
      onStdout: (chunk) => stdoutSink(chunk),
      onStderr: (chunk) => stderrSink(chunk),
    });
    return new Process(session, options.onStdout, options.onStderr, {
      stdout: (sink) => (stdoutSink = sink),
      stderr: (sink) => (stderrSink = sink),
    });
  }

  // ----------------------------------------------------------------------------- files

  async writeFile(path: string, content: BinaryLike, options: RequestOptions = {}): Promise<void> {
    await this.writeFileMode(path, content, 0o644, options);
  }

  async writeFileMode(path: string, content: BinaryLike, mode: number, options: RequestOptions = {}): Promise<void> {
    const original = toBuffer(content);
    await this.localHooks.checkAction(VFS_HOOK_OP_WRITE, path, original.length, mode);
    const data = await this.localHooks.mutateWrite(path, original, mode);
    await this.call("write_file", { path, content: data.toString("base64"), mode }, options);
  }

  async readFile(path: string, options: RequestOptions = {}): Promise<Buffer> {
    await this.localHooks.checkAction(VFS_HOOK_OP_READ, path, 0, 0);
    const result = await this.call("read_file", { path }, options);
    return fromBase64(result.content);
  }

  async listFiles(path: string, options: RequestOptions = {}): Promise<FileInfo[]> {
    await this.localHooks.checkAction(VFS_HOOK_OP_READDIR, path, 0, 0);
    const result = await this.call("list_files", { path }, options);
    const files = Array.isArray(result.files) ? (result.files as JSONObject[]) : [];
    return files.map(toFileInfo);
  }

  /** Describes a path (without following a final symlink), or null when it does not exist. */
  async stat(path: string, options: RequestOptions = {}): Promise<FileStat | null> {
    const result = await this.call("stat_file", { path }, options);
    if (result.exists !== true) return null;
    const mode = asNumber(result.mode);
    return {
      name: asString(result.name),
      size: asNumber(result.size),
      mode,
      modTime: asString(result.mod_time),
      isDir: result.is_dir === true || (mode & FILE_MODE_DIR) !== 0,
      isSymlink: result.is_symlink === true || (mode & FILE_MODE_SYMLINK) !== 0,
    };
  }

  async exists(path: string, options: RequestOptions = {}): Promise<boolean> {
    return (await this.stat(path, options)) !== null;
  }

  /** Creates a directory (default mode 0o755, parents created). */
  async mkdir(path: string, options: MkdirOptions = {}): Promise<void> {
    await this.call("make_dir", { path, mode: options.mode ?? 0o755, parents: options.parents ?? true }, options);
  }

  /**
   * Removes a guest file or (with `recursive`) a directory tree. Named `removeFile` because
   * `remove()` deletes the sandbox's state, as in the original SDK.
   */
  async removeFile(path: string, options: RemoveOptions = {}): Promise<void> {
    await this.call("remove_file", { path, recursive: options.recursive ?? false }, options);
  }

  async rename(oldPath: string, newPath: string, options: RequestOptions = {}): Promise<void> {
    await this.call("rename_file", { old_path: oldPath, new_path: newPath }, options);
  }

  // ----------------------------------------------------------------------------- logs

  /** The sandbox's console log. */
  async log(options: RequestOptions = {}): Promise<string> {
    const result = await this.call("log", undefined, options);
    return fromBase64(result.content).toString("utf8");
  }

  /**
   * Streams the console log to `stdout` (existing content, then new lines) until `signal`
   * aborts (the promise then rejects with the signal's reason) or the engine ends the stream.
   */
  async logStream(options: LogStreamOptions = {}): Promise<void> {
    const transport = await this.ensureStarted();
    await transport.call("log_stream", undefined, {
      signal: options.signal,
      timeoutMs: options.timeoutMs,
      onNotification: (method, payload) => {
        if (method === "log_stream.data") writeChunk(options.stdout, fromBase64(payload.data));
      },
    });
  }

  // ----------------------------------------------------------------------------- network

  /** Forwards host ports (`"8080"`, `"18081:81"`) to guest ports on 127.0.0.1. */
  async portForward(...specs: string[]): Promise<PortForwardBinding[]> {
    return this.portForwardWithAddresses(undefined, ...specs);
  }

  async portForwardWithAddresses(addresses: string[] | undefined, ...specs: string[]): Promise<PortForwardBinding[]> {
    return this.portForwardMappings(addresses, specs.map(parsePortForwardSpec));
  }

  private async portForwardMappings(addresses: string[] | undefined, forwards: PortForward[]): Promise<PortForwardBinding[]> {
    const result = await this.call("port_forward", portForwardParams(forwards, addresses));
    const bindings = Array.isArray(result.bindings) ? (result.bindings as JSONObject[]) : [];
    return bindings.map((b) => ({
      address: asString(b.address),
      localPort: asNumber(b.local_port),
      remotePort: asNumber(b.remote_port),
    }));
  }

  /** Adds hosts to an intercepting sandbox's allow-list. */
  async allowListAdd(...hosts: string[]): Promise<AllowListAddResult> {
    const result = await this.call("allow_list_add", { hosts: normalizeHosts(hosts) });
    return { added: asStringArray(result.added), allowedHosts: asStringArray(result.allowed_hosts) };
  }

  async allowListDelete(...hosts: string[]): Promise<AllowListDeleteResult> {
    const result = await this.call("allow_list_delete", { hosts: normalizeHosts(hosts) });
    return { removed: asStringArray(result.removed), allowedHosts: asStringArray(result.allowed_hosts) };
  }

  // ----------------------------------------------------------------------------- volumes

  async volumeCreate(name: string, sizeMb = DEFAULT_VOLUME_SIZE_MB): Promise<VolumeInfo> {
    if (!name) throw new ValidationError("name", "a volume name is required");
    if (!Number.isInteger(sizeMb) || sizeMb <= 0) throw new ValidationError("sizeMb", `must be a positive integer, got ${sizeMb}`);
    const { stdout } = await this.volumeCLI(["volume", "create", name, "--size", String(sizeMb), "--json"]);
    const info = JSON.parse(stdout) as JSONObject;
    const path = asString(info.path);
    if (!path) throw new MatchlockError("matchlock volume create: no path in the answer");
    return { name: asString(info.name) || name, size: asString(info.size) || `${sizeMb.toFixed(1)} MB`, path };
  }

  async volumeList(): Promise<VolumeInfo[]> {
    const { stdout } = await this.volumeCLI(["volume", "ls", "--json"]);
    const list = JSON.parse(stdout) as unknown;
    return (Array.isArray(list) ? (list as JSONObject[]) : []).map((v) => ({
      name: asString(v.name),
      size: asString(v.size),
      path: asString(v.path),
    }));
  }

  async volumeRemove(name: string): Promise<void> {
    if (!name) throw new ValidationError("name", "a volume name is required");
    await this.volumeCLI(["volume", "rm", name]);
  }

  private async volumeCLI(args: string[]): Promise<{ stdout: string }> {
    try {
      return await runCLI(cliBinary(this.config), args);
    } catch (error) {
      if (isUnknownCommand(error, "volume")) {
        throw new MatchlockError(
          `${args.slice(0, 2).join(" ")} is not supported by this engine: it has no "matchlock volume" CLI command`,
          { stderr: (error as MatchlockError).stderr, cause: error },
        );
      }
      throw error;
    }
  }

  /** Lists the engine's sandboxes (spawns an engine for the call and closes it). */
  static async listSandboxes(config: Config = {}, options: ListSandboxesOptions = {}): Promise<SandboxInfo[]> {
    const client = new Client(config);
    try {
      const params = options.running === undefined ? undefined : { running: options.running };
      const result = await client.call("list_sandboxes", params);
      const list = Array.isArray(result.sandboxes) ? (result.sandboxes as JSONObject[]) : [];
      return list.map((s) => ({
        id: asString(s.id),
        state: asString(s.state),
        image: asString(s.image),
        ...(typeof s.pid === "number" ? { pid: s.pid } : {}),
        createdAt: asString(s.created_at),
      }));
    } finally {
      await client.close();
    }
  }

  // ----------------------------------------------------------------------------- internals

  private handleNotification(method: string, params: JSONObject): void {
    if (method !== "event") return;
    const event = toEvent(params);
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A listener's failure must not stop the others.
      }
    }
    if (event.file) {
      const fileEvent: VFSHookEvent = { ...event.file };
      void this.localHooks.onFileEvent(this, fileEvent);
    }
  }

  private handleEngineDeath(_error: EngineExitedError): void {
    void this.stopHookServer();
  }

  private async stopHookServer(): Promise<void> {
    const server = this.hookServer;
    this.hookServer = undefined;
    await server?.stop();
  }
}

/** Lists the engine's sandboxes (spawns an engine for the call and closes it). */
export function listSandboxes(config: Config = {}, options: ListSandboxesOptions = {}): Promise<SandboxInfo[]> {
  return Client.listSandboxes(config, options);
}
