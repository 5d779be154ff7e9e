/** Options every matchlock error accepts. */
export interface MatchlockErrorOptions {
  /** The engine's recent stderr (its last ~8 KiB), when the error comes from the engine. */
  stderr?: string;
  cause?: unknown;
}

/** Base class of every error this SDK raises. */
export class MatchlockError extends Error {
  /**
   * The last ~8 KiB the engine wrote to stderr before this error, when the engine failed or
   * exited; `undefined` for errors raised before any engine ran.
   */
  readonly stderr: string | undefined;

  constructor(message: string, options: MatchlockErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.stderr = options.stderr;
  }
}

/** A JSON-RPC error answered by the engine. `message` is `"[code] rpcMessage"`. */
export class RPCError extends MatchlockError {
  static readonly PARSE_ERROR = -32700;
  static readonly INVALID_REQUEST = -32600;
  static readonly METHOD_NOT_FOUND = -32601;
  static readonly INVALID_PARAMS = -32602;
  static readonly INTERNAL_ERROR = -32603;
  static readonly VM_FAILED = -32000;
  static readonly EXEC_FAILED = -32001;
  static readonly FILE_FAILED = -32002;
  static readonly CANCELLED = -32003;

  readonly code: number;
  /** The engine's message, without the code prefix. */
  readonly rpcMessage: string;

  constructor(code: number, rpcMessage: string, options: MatchlockErrorOptions = {}) {
    super(`[${code}] ${rpcMessage}`, options);
    this.code = code;
    this.rpcMessage = rpcMessage;
  }

  isVMError(): boolean {
    return this.code === RPCError.VM_FAILED;
  }

  isExecError(): boolean {
    return this.code === RPCError.EXEC_FAILED;
  }

  isFileError(): boolean {
    return this.code === RPCError.FILE_FAILED;
  }

  isCancelled(): boolean {
    return this.code === RPCError.CANCELLED;
  }

  isMethodNotFound(): boolean {
    return this.code === RPCError.METHOD_NOT_FOUND;
  }
}

/** No engine binary could be found (explicit option, MATCHLOCK_BIN, PATH). */
export class EngineNotFoundError extends MatchlockError {}

/**
 * The engine process ended (or could not be started) while calls were pending or a call was
 * made. `stderr` carries what it wrote last.
 */
export class EngineExitedError extends MatchlockError {
  readonly exitCode: number | null;
  readonly signal: string | null;

  constructor(
    message: string,
    exitCode: number | null,
    signal: string | null,
    options: MatchlockErrorOptions = {},
  ) {
    super(message, options);
    this.exitCode = exitCode;
    this.signal = signal;
  }
}

/** Invalid input to the builder or a client method, detected before anything is sent. */
export class ValidationError extends MatchlockError {
  /** The option or argument at fault, e.g. `"cpus"` or `"portForward"`. */
  readonly option: string;

  constructor(option: string, message: string) {
    super(`invalid ${option}: ${message}`);
    this.option = option;
  }
}

/** A call did not finish within its `timeoutMs`; the SDK sent `cancel` for it. */
export class TimeoutError extends MatchlockError {}
