import { spawn } from "node:child_process";
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { EngineExitedError, MatchlockError, RPCError, TimeoutError } from "./errors.js";
import { LineReader } from "./line-reader.js";
import { StderrTail } from "./stderr-tail.js";
import type { RequestOptions } from "./types.js";

export type JSONObject = Record<string, unknown>;
export type NotificationHandler = (method: string, params: JSONObject) => void;

export interface CallOptions extends RequestOptions {
  /** Receives notifications whose `params.id` is this request's id. */
  onNotification?: NotificationHandler;
  /** Told the request id as soon as it is allocated (before anything is sent). */
  onId?: (id: number) => void;
  /**
   * Called with a successful result synchronously, before the next line from the engine is
   * handled (state that notifications right after the reply depend on is set here).
   */
  onResult?: (result: JSONObject) => void;
}

interface Pending {
  method: string;
  resolve: (result: JSONObject) => void;
  reject: (error: unknown) => void;
  onNotification: NotificationHandler | undefined;
}

/**
 * Bounds for waits that normally end by themselves: a grandchild that inherited the engine's
 * stderr may hold it open, and an engine that closed stdout may not exit on its own.
 */
const STDIO_GRACE_MS = 2000;

/**
 * One `matchlock rpc` process and the JSON-RPC session over its stdio. Requests may be made
 * concurrently; replies are matched by id, notifications routed by `params.id`.
 */
export class Transport {
  private child: ChildProcessWithoutNullStreams | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly stderrTail = new StderrTail(8192);
  private deathError: EngineExitedError | undefined;
  private exitInfo: { code: number | null; signal: string | null } | undefined;
  private readonly exited: Promise<void>;
  private markExited!: () => void;

  constructor(
    private readonly argv: string[],
    private readonly onUnroutedNotification: NotificationHandler,
    private readonly onDeath: (error: EngineExitedError) => void,
  ) {
    this.exited = new Promise((resolve) => (this.markExited = resolve));
  }

  /** Spawns the engine; resolves once it runs, rejects if it cannot be started. */
  async start(): Promise<void> {
    const [command, ...args] = this.argv;
    const child = spawn(command!, args, { stdio: ["pipe", "pipe", "pipe"] });
    this.child = child;
    const reader = new LineReader((line) => this.handleLine(line));
    child.stdout.on("data", (chunk: Buffer) => reader.push(chunk));
    // Read continuously so the engine never blocks on a full stderr pipe.
    child.stderr.on("data", (chunk: Buffer) => this.stderrTail.push(chunk));
    // EPIPE after the engine died surfaces through the exit path below.
    child.stdin.on("error", () => undefined);

    const stdoutEnded = new Promise<void>((resolve) => child.stdout.once("close", resolve));
    const stderrEnded = new Promise<void>((resolve) => child.stderr.once("close", resolve));
    const processExited = new Promise<void>((resolve) =>
      child.once("exit", (code, signal) => {
        this.exitInfo = { code, signal };
        resolve();
      }),
    );

    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", (error) => {
        const death = new EngineExitedError(
          `cannot start the matchlock engine (${command}): ${error.message}`,
          null,
          null,
          { cause: error },
        );
        this.die(death);
        reject(death);
      });
    });

    void (async () => {
      await Promise.race([stdoutEnded, processExited]);
      // Whatever ended first, the other follows soon; if it does not, force it.
      const killTimer = setTimeout(() => child.kill("SIGKILL"), STDIO_GRACE_MS);
      await processExited;
      clearTimeout(killTimer);
      await withBound(stderrEnded, STDIO_GRACE_MS);
      this.die(this.exitError());
    })();
  }

  /** The engine's process id (while it runs). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get isRunning(): boolean {
    return this.child !== undefined && this.deathError === undefined;
  }

  /** The last ~8 KiB of the engine's stderr. */
  get stderr(): string {
    return this.stderrTail.text();
  }

  /** Sends a request and resolves with its `result` object. */
  call(method: string, params: JSONObject | undefined, options: CallOptions = {}): Promise<JSONObject> {
    if (this.deathError) return Promise.reject(this.notRunningError());
    if (!this.child) return Promise.reject(new MatchlockError("the engine is not started"));
    const { signal, timeoutMs } = options;
    if (signal?.aborted) return Promise.reject(abortError(method, signal));

    const id = ++this.nextId;
    options.onId?.(id);
    return new Promise<JSONObject>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void => giveUp(abortError(method, signal!));
      const cleanup = (): void => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.pending.delete(id);
          };
      // Abort and timeout: tell the engine, but do not wait for either reply.
      const giveUp = (error: Error): void => {
        if (!this.pending.has(id)) return;
        cleanup();
        this.sendCancel(id);
        reject(error);
      };
      this.pending.set(id, {
        method,
        resolve: (result) => {
          cleanup();
          options.onResult?.(result);
          resolve(result);
        },
        reject: (error) => {
          cleanup();
          reject(error);
        },
        onNotification: options.onNotification,
      });
        if (timeoutMs !== undefined && timeoutMs > 0) {
        timer = setTimeout(
          () =>
            giveUp(new TimeoutError(`request ${method} (id=${id}) timed out after ${timeoutMs}ms`)),
          timeoutMs,
        );
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      this.write({ jsonrpc: "2.0", method, ...(params ? { params } : {}), id });
    });
  }

  /** Sends a message that never gets a reply (stdin data, EOF, resize): no id. */
  notify(method: string, params: JSONObject): void {
    if (this.deathError || !this.child) return;
    this.write({ jsonrpc: "2.0", method, params });
  }

  /** Sends `cancel` for request `id` with a fresh id; its reply is not awaited. */
  sendCancel(targetId: number): void {
    if (this.deathError || !this.child) return;
    const id = ++this.nextId;
    this.write({ jsonrpc: "2.0", method: "cancel", params: { id: targetId }, id });
  }

  /** Closes the engine's stdin (the engine then tears down, or detaches when attached). */
  closeStdin(): void {
    if (this.child && !this.child.stdin.destroyed) this.child.stdin.end();
  }

  /** Waits up to `timeoutMs` for the engine to exit, then kills it. */
  async waitOrKill(timeoutMs: number): Promise<void> {
    if (!this.child) return;
    if (!(await withBound(this.exited, timeoutMs))) {
      this.child.kill("SIGKILL");
      await this.exited;
    }
  }

  /** Kills the engine at once (tests use it to simulate a crash). */
  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    this.child?.kill(signal);
  }

  /** Resolves when the engine has exited and all pending calls have failed. */
  whenExited(): Promise<void> {
    return this.exited;
  }

  private write(message: JSONObject): void {
    // One write per line, from a single thread: lines never interleave.
    this.child!.stdin.write(`${JSON.stringify(message)}\n`);
  }

  private handleLine(line: string): void {
    const text = line.trim();
    if (!text) return;
    let message: JSONObject;
    try {
      const parsed: unknown = JSON.parse(text);
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) return;
      message = parsed as JSONObject;
    } catch {
      return; // Not protocol; the engine keeps stdout for JSON only, so ignore it.
    }
    const id = message.id;
    if (typeof id === "number" && ("result" in message || "error" in message)) {
      const entry = this.pending.get(id);
      if (!entry) return; // a reply to an abandoned (aborted) request or to a cancel
      const error = message.error as { code?: unknown; message?: unknown } | undefined;
      if (error) {
        entry.reject(
          new RPCError(
            typeof error.code === "number" ? error.code : RPCError.INTERNAL_ERROR,
            typeof error.message === "string" ? error.message : "unknown error",
          ),
        );
      } else {
        const result = message.result;
        entry.resolve(result && typeof result === "object" && !Array.isArray(result) ? (result as JSONObject) : {});
      }
      return;
    }
    if (typeof message.method !== "string") return;
    const params =
      message.params && typeof message.params === "object" && !Array.isArray(message.params)
        ? (message.params as JSONObject)
        : {};
    const owner = typeof params.id === "number" ? this.pending.get(params.id) : undefined;
    if (owner) {
      owner.onNotification?.(message.method, params);
    } else if (typeof params.id !== "number") {
      this.onUnroutedNotification(message.method, params);
    }
  }

  private exitError(): EngineExitedError {
    const code = this.exitInfo?.code ?? null;
    const signal = this.exitInfo?.signal ?? null;
    const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
    const last = this.stderrTail.lastLine();
    return new EngineExitedError(`matchlock engine ${how}${last ? `: ${last}` : ""}`, code, signal, {
      stderr: this.stderrTail.text(),
    });
  }

  private notRunningError(): EngineExitedError {
    const death = this.deathError!;
    return new EngineExitedError(`matchlock engine is not running (${death.message})`, death.exitCode, death.signal, {
      stderr: death.stderr,
      cause: death,
    });
  }

  private die(error: EngineExitedError): void {
    if (this.deathError) return;
    this.deathError = error;
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const entry of pending) {
      entry.reject(
        new EngineExitedError(`${error.message} (while ${entry.method} was pending)`, error.exitCode, error.signal, {
          stderr: error.stderr,
        }),
      );
    }
    this.markExited();
    this.onDeath(error);
  }
}

function abortError(method: string, signal: AbortSignal): Error {
  return signal.reason instanceof Error
    ? signal.reason
    : new MatchlockError(`request ${method} was aborted`, { cause: signal.reason });
}

/** Resolves true when `promise` settles within `ms`, false otherwise. */
async function withBound(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), bound]);
  } finally {
    clearTimeout(timer);
  }
}
