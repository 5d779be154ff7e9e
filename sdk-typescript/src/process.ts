import { Readable, Writable } from "node:stream";
import { asNumber } from "./binary.js";
import type { ExecSession } from "./exec-session.js";
import type { ProcessResult } from "./types.js";

/**
 * A command running in the sandbox (from `client.spawn`). Write to `stdin` (end it to send
 * EOF), read `stdout` / `stderr` as Node streams or with `for await`, then `wait()`.
 */
export class Process {
  /** The process's stdin; `end()` closes it in the guest. */
  readonly stdin: Writable;
  /** Output streams; they end when the process ends (also when it fails or is killed). */
  readonly stdout: Readable;
  readonly stderr: Readable;
  private readonly result: Promise<ProcessResult>;

  /** @internal Built by `Client.spawn`. */
  constructor(
    private readonly session: ExecSession,
    stdoutCallback: ((chunk: Buffer) => void) | undefined,
    stderrCallback: ((chunk: Buffer) => void) | undefined,
    sinks: { stdout: (sink: (chunk: Buffer) => void) => void; stderr: (sink: (chunk: Buffer) => void) => void },
  ) {
    // The engine is flow-controlled; reading here is push-based and buffers until consumed.
    this.stdout = new Readable({ read() {} });
    this.stderr = new Readable({ read() {} });
    const collected = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
    sinks.stdout((chunk) => {
      if (stdoutCallback) return stdoutCallback(chunk);
      collected.stdout.push(chunk);
      this.stdout.push(chunk);
    });
    sinks.stderr((chunk) => {
      if (stderrCallback) return stderrCallback(chunk);
      collected.stderr.push(chunk);
      this.stderr.push(chunk);
    });

    this.stdin = new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        session.write(chunk).then(() => callback(), callback);
      },
      final: (callback) => {
        session.end().then(() => callback(), callback);
      },
    });

    const endStreams = (): void => {
      this.stdout.push(null);
      this.stderr.push(null);
      // Writes after the process ended are dropped, not errors.
      if (!this.stdin.writableEnded) this.stdin.end();
    };
    this.result = session.done.then(
      (result) => {
        endStreams();
        return {
          exitCode: asNumber(result.exit_code),
          durationMs: asNumber(result.duration_ms),
          stdout: Buffer.concat(collected.stdout),
          stderr: Buffer.concat(collected.stderr),
        };
      },
      (error: unknown) => {
        endStreams();
        throw error;
      },
    );
    // Not awaiting wait() must not become an unhandled rejection.
    this.result.catch(() => undefined);
  }

  /** The `exec_pipe` request id (known once the request is sent). */
  get id(): number | undefined {
    return this.session.id;
  }

  /** True once the process has ended. */
  get finished(): boolean {
    return this.session.isFinished;
  }

  /**
   * Resolves when the process exits, with its exit code, duration and the output not given to
   * callbacks. Rejects with an `RPCError` (`isCancelled()`) after `kill()`.
   */
  wait(): Promise<ProcessResult> {
    return this.result;
  }

  /** Stops the process (sends `cancel`; the guest process group is killed). */
  kill(): void {
    this.session.kill();
  }
}
