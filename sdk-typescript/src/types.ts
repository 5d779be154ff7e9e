import type { Client } from "./client.js";

// ---------------------------------------------------------------------------------------------
// Client configuration

/** How the client starts the engine (`matchlock rpc`). */
export interface Config {
  /** The engine binary. Default: env `MATCHLOCK_BIN`, else `matchlock` on PATH. */
  binaryPath?: string;
  /** Run the engine as `sudo <binary> rpc`. */
  useSudo?: boolean;
  /**
   * The full argv that replaces `[binary, "rpc"]`, e.g. `["ssh", "host", "matchlock", "rpc"]`
   * or `["kubectl", "exec", "-i", "POD", "--", "matchlock", "rpc"]`. Attaching appends
   * `["--attach", id]`. When set, binary discovery is skipped.
   */
  launchCommand?: string[];
}

// ---------------------------------------------------------------------------------------------
// Sandbox options

export interface HostIPMapping {
  host: string;
  ip: string;
}

export interface MountConfig {
  /** `memory` (default), `host_fs` or `overlay`. */
  type?: string;
  hostPath?: string;
  readonly?: boolean;
}

/** A secret the guest only sees as a placeholder; the proxy substitutes it for `hosts`. */
export interface Secret {
  name: string;
  value: string;
  hosts?: string[];
}

/** Overrides merged over the image's OCI config. */
export interface ImageConfig {
  user?: string;
  workingDir?: string;
  entrypoint?: string[];
  cmd?: string[];
  env?: Record<string, string>;
}

export interface PortForward {
  localPort: number;
  remotePort: number;
}

export interface PortForwardBinding {
  address: string;
  localPort: number;
  remotePort: number;
}

export type BinaryLike = string | Buffer | Uint8Array | ArrayBuffer;

export type VFSHookPhase = "" | "before" | "after";
export type VFSHookOp =
  | "stat"
  | "readdir"
  | "open"
  | "create"
  | "mkdir"
  | "chmod"
  | "remove"
  | "remove_all"
  | "rename"
  | "symlink"
  | "readlink"
  | "read"
  | "write"
  | "close"
  | "sync"
  | "truncate";
export type VFSHookAction = "allow" | "block" | (string & {});

/** A file operation seen in the guest (from an `event` notification). */
export interface VFSHookEvent {
  op: string;
  path: string;
  size: number;
  mode: number;
  uid: number;
  gid: number;
}

/** What a mutate hook sees before the SDK's own `writeFile`. */
export interface VFSMutateRequest {
  path: string;
  size: number;
  mode: number;
  uid: number;
  gid: number;
}

/** What an action hook sees before the SDK's own `writeFile`/`readFile`/`listFiles`. */
export interface VFSActionRequest {
  op: string;
  path: string;
  size: number;
  mode: number;
  uid: number;
  gid: number;
}

export type VFSHookFunc = (event: VFSHookEvent) => void | Promise<void>;
export type VFSDangerousHookFunc = (client: Client, event: VFSHookEvent) => void | Promise<void>;
export type VFSMutateHookFunc = (
  request: VFSMutateRequest,
) => BinaryLike | null | undefined | Promise<BinaryLike | null | undefined>;
export type VFSActionHookFunc = (request: VFSActionRequest) => VFSHookAction | Promise<VFSHookAction>;

/**
 * A VFS rule. Without a callback it is sent to the engine (a before-phase `block` makes the
 * guest's operation fail). With one callback it runs in this process:
 * `hook` / `dangerousHook` after matching guest operations (from events), `mutateHook` /
 * `actionHook` before this client's own `writeFile` / `readFile` / `listFiles`.
 */
export interface VFSHookRule {
  name?: string;
  phase?: VFSHookPhase;
  ops?: VFSHookOp[];
  /** Glob on the guest path; `*` does not cross `/`, `**` does. Empty: every path. */
  path?: string;
  action?: VFSHookAction;
  timeoutMs?: number;
  hook?: VFSHookFunc;
  /** Like `hook` but receives the client and may re-enter it (no recursion guard). */
  dangerousHook?: VFSDangerousHookFunc;
  mutateHook?: VFSMutateHookFunc;
  actionHook?: VFSActionHookFunc;
}

export interface VFSInterceptionConfig {
  emitEvents?: boolean;
  rules?: VFSHookRule[];
}

export type NetworkHookPhase = "" | "before" | "after";
export type NetworkHookAction = "allow" | "block" | "mutate";

export interface NetworkBodyTransform {
  find: string;
  replace?: string;
}

/** The request (and, after, the response) a network hook callback sees. */
export interface NetworkHookRequest {
  phase: NetworkHookPhase;
  host: string;
  method: string;
  path: string;
  query?: Record<string, string>;
  requestHeaders?: Record<string, string[]>;
  statusCode: number;
  responseHeaders?: Record<string, string[]>;
  isSSE: boolean;
}

export interface NetworkHookRequestMutation {
  /** Replaces every request header when set (`{}` clears them). */
  headers?: Record<string, string[]>;
  /** Replaces the whole query when set. */
  query?: Record<string, string>;
  path?: string;
}

export interface NetworkHookResponseMutation {
  headers?: Record<string, string[]>;
  bodyReplacements?: NetworkBodyTransform[];
  /** Replaces the whole body (`""` = empty body). */
  setBody?: BinaryLike | null;
}

export interface NetworkHookResult {
  action?: NetworkHookAction;
  request?: NetworkHookRequestMutation;
  response?: NetworkHookResponseMutation;
}

export type NetworkHookFunc = (
  request: NetworkHookRequest,
) => NetworkHookResult | null | undefined | Promise<NetworkHookResult | null | undefined>;

export interface NetworkHookRule {
  name?: string;
  phase?: NetworkHookPhase;
  hosts?: string[];
  methods?: string[];
  path?: string;
  action?: NetworkHookAction;
  setHeaders?: Record<string, string>;
  deleteHeaders?: string[];
  setQuery?: Record<string, string>;
  deleteQuery?: string[];
  rewritePath?: string;
  setResponseHeaders?: Record<string, string>;
  deleteResponseHeaders?: string[];
  bodyReplacements?: NetworkBodyTransform[];
  timeoutMs?: number;
  /** Answered in this process over the SDK-hosted callback socket. */
  hook?: NetworkHookFunc;
}

export interface NetworkInterceptionConfig {
  rules?: NetworkHookRule[];
}

/** Everything `create` accepts; usually built with {@link Sandbox}. */
export interface CreateOptions {
  image?: string;
  privileged?: boolean;
  cpus?: number;
  memoryMb?: number;
  diskSizeMb?: number;
  timeoutSeconds?: number;
  allowedHosts?: string[];
  addHosts?: HostIPMapping[];
  blockPrivateIPs?: boolean;
  /** True when `blockPrivateIPs` was set explicitly (false then really means "allow"). */
  blockPrivateIPsSet?: boolean;
  noNetwork?: boolean;
  forceInterception?: boolean;
  networkInterception?: NetworkInterceptionConfig;
  mounts?: Record<string, MountConfig>;
  env?: Record<string, string>;
  secrets?: Secret[];
  workspace?: string;
  vfsInterception?: VFSInterceptionConfig;
  dnsServers?: string[];
  hostname?: string;
  networkMtu?: number;
  portForwards?: PortForward[];
  portForwardAddresses?: string[];
  imageConfig?: ImageConfig;
  /** Start the image's ENTRYPOINT+CMD detached after boot (what `launch()` sets). */
  launchEntrypoint?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Calls

/** Per-call options: an abort signal and/or a timeout; both make the SDK send `cancel`. */
export interface RequestOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** Where output chunks go: a Node writable stream or a function. */
export type StreamWriter = NodeJS.WritableStream | ((chunk: Buffer) => void | Promise<void>);

/** Where stdin comes from: a Node readable stream or any (async) iterable of chunks. */
export type StreamReader =
  | NodeJS.ReadableStream
  | AsyncIterable<BinaryLike>
  | Iterable<BinaryLike>;

/** `[rows, cols]` */
export type TTYSize = [number, number];

export interface ExecOptions extends RequestOptions {
  workingDir?: string;
  /** `uid`, `uid:gid` or a user name, resolved in the guest. */
  user?: string;
  /** Extra environment for this one process (matchlock extension). */
  env?: Record<string, string>;
  /** Called with each stdout chunk as it arrives; the result still carries all output. */
  onStdout?: (chunk: Buffer) => void;
  /** Called with each stderr chunk as it arrives; the result still carries all output. */
  onStderr?: (chunk: Buffer) => void;
}

export interface ExecStreamOptions extends Omit<ExecOptions, "onStdout" | "onStderr"> {
  stdout?: StreamWriter;
  stderr?: StreamWriter;
}

export interface ExecPipeOptions extends ExecStreamOptions {
  stdin?: StreamReader;
}

export interface ExecInteractiveOptions extends RequestOptions {
  workingDir?: string;
  user?: string;
  env?: Record<string, string>;
  stdin?: StreamReader;
  stdout?: StreamWriter;
  rows?: number;
  cols?: number;
  resize?: AsyncIterable<TTYSize> | Iterable<TTYSize>;
}

export interface SpawnOptions {
  workingDir?: string;
  user?: string;
  env?: Record<string, string>;
  signal?: AbortSignal;
  /** With a callback the output goes there instead of `process.stdout`/`wait()`'s buffer. */
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
  /** Set when the engine dropped output beyond its buffer limit (use execStream for more). */
  stdoutTruncated?: boolean;
  stderrTruncated?: boolean;
}

export interface ExecStreamResult {
  exitCode: number;
  durationMs: number;
}

export type ExecPipeResult = ExecStreamResult;
export type ExecInteractiveResult = ExecStreamResult;

/** What `Process.wait()` resolves to. Output is empty where a callback consumed it. */
export interface ProcessResult {
  exitCode: number;
  durationMs: number;
  stdout: Buffer;
  stderr: Buffer;
}

export interface FileInfo {
  name: string;
  size: number;
  /** Permission bits plus Go type bits (directory `1<<31`, symlink `1<<27`). */
  mode: number;
  isDir: boolean;
  /** RFC 3339; the original engine always sends the zero time. */
  modTime?: string;
}

/** `stat()`'s answer for an existing path (lstat semantics). */
export interface FileStat extends FileInfo {
  modTime: string;
  isSymlink: boolean;
}

export interface MkdirOptions extends RequestOptions {
  /** Default 0o755. */
  mode?: number;
  /** Create missing parents (default true). */
  parents?: boolean;
}

export interface RemoveOptions extends RequestOptions {
  recursive?: boolean;
}

export interface VolumeInfo {
  name: string;
  size: string;
  path: string;
}

export interface LogStreamOptions extends RequestOptions {
  stdout?: StreamWriter;
}

export interface AllowListAddResult {
  added: string[];
  allowedHosts: string[];
}

export interface AllowListDeleteResult {
  removed: string[];
  allowedHosts: string[];
}

export interface EngineVersion {
  version: string;
  commit: string;
}

export interface SandboxInfo {
  id: string;
  state: string;
  image: string;
  pid?: number;
  createdAt: string;
}

export interface ListSandboxesOptions {
  /** Only running sandboxes. */
  running?: boolean;
}

export interface NetworkEvent {
  method: string;
  url: string;
  host: string;
  statusCode: number;
  requestBytes: number;
  responseBytes: number;
  durationMs: number;
  blocked: boolean;
  blockReason?: string;
}

export interface FileEvent extends VFSHookEvent {
  newPath?: string;
  error?: string;
}

/** An `event` notification: `file` events carry `file`, `network` events `network`. */
export interface MatchlockEvent {
  type: string;
  timestamp: number;
  file?: FileEvent;
  network?: NetworkEvent;
  /** The notification's params as received. */
  raw: Record<string, unknown>;
}
