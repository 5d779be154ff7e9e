import { asNumber, fromBase64 } from "./binary.js";
import { readChunks } from "./streams.js";
import type { JSONObject, Transport } from "./transport.js";
import type { RequestOptions, StreamReader, TTYSize } from "./types.js";

export type SessionKind = "exec_pipe" | "exec_tty";

export interface SessionOptions extends RequestOptions {
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
}

/**
 * One `exec_pipe` / `exec_tty` request: output routed to callbacks, input sent only after the
 * engine's `ready` (keyed by `params.id`), never after the final reply.
 */
export class ExecSession {
  /** Resolves with the request id at `ready`, or undefined if the request ended first. */
  readonly ready: Promise<number | undefined>;
  /** The final result. */
  readonly done: Promise<JSONObject>;
  private readyId: number | undefined;
  private requestId: number | undefined;
  private finished = false;
  private eofSent = false;
  private markReady!: (id: number | undefined) => void;

  constructor(
    private readonly transport: Transport,
    private readonly kind: SessionKind,
    params: JSONObject,
    options: SessionOptions,
  ) {
    this.ready = new Promise((resolve) => (this.markReady = resolve));
    this.done = transport.call(kind, params, {
      signal: options.signal,
      timeoutMs: options.timeoutMs,
      onId: (id) => (this.requestId = id),
      onNotification: (method, payload) => {
        if (method === `${kind}.ready`) {
          this.readyId = asNumber(payload.id, this.requestId ?? 0);
          this.markReady(this.readyId);
        } else if (method === `${kind}.stdout`) {
          options.onStdout?.(fromBase64(payload.data));
        } else if (method === `${kind}.stderr`) {
          options.onStderr?.(fromBase64(payload.data));
        }
      },
    });
    const end = (): void => {
      this.finished = true;
      this.markReady(undefined);
    };
    this.done.then(end, end);
  }

  get id(): number | undefined {
    return this.requestId;
  }

  get isFinished(): boolean {
    return this.finished;
  }

  /** Sends one stdin chunk (after `ready`; dropped once the process ended). */
  async write(chunk: Buffer): Promise<void> {
    const id = await this.ready;
    if (id === undefined || this.finished || this.eofSent || chunk.length === 0) return;
    this.transport.notify(`${this.kind}.stdin`, { id, data: chunk.toString("base64") });
  }

  /** Closes the process's stdin (once). */
  async end(): Promise<void> {
    const id = await this.ready;
    if (id === undefined || this.finished || this.eofSent) return;
    this.eofSent = true;
    this.transport.notify(`${this.kind}.stdin_eof`, { id });
  }

  async resize(rows: number, cols: number): Promise<void> {
    const id = await this.ready;
    if (id === undefined || this.finished) return;
    this.transport.notify("exec_tty.resize", { id, rows, cols });
  }

  /** Cancels the request (the engine kills the process; `done` rejects with -32003). */
  kill(): void {
    if (this.requestId !== undefined && !this.finished) this.transport.sendCancel(this.requestId);
  }

  /** Feeds a stdin source, then EOF; without a source, EOF right after `ready`. */
  async pumpStdin(source: StreamReader | undefined): Promise<void> {
    if ((await this.ready) === undefined) return;
    if (source) {
      for await (const chunk of readChunks(source)) {
        if (this.finished) return;
        await this.write(chunk);
      }
    }
    await this.end();
  }

  /** Sends each valid `[rows, cols]` of a source as a resize. */
  async pumpResize(source: AsyncIterable<TTYSize> | Iterable<TTYSize> | undefined): Promise<void> {
    if (!source || (await this.ready) === undefined) return;
    const iterate = async function* (): AsyncGenerator<TTYSize> {
      yield* source as AsyncIterable<TTYSize>;
    };
    for await (const size of iterate()) {
      if (this.finished) return;
      if (!Array.isArray(size) || size.length < 2) continue;
      const rows = Math.trunc(Number(size[0]));
      const cols = Math.trunc(Number(size[1]));
      if (!Number.isFinite(rows) || !Number.isFinite(cols) || rows <= 0 || cols <= 0) continue;
      await this.resize(rows, cols);
    }
  }
}
