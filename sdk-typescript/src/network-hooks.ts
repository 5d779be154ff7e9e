import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import type { Server, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toBuffer } from "./binary.js";
import { NETWORK_HOOK_ACTION_ALLOW, NETWORK_HOOK_PHASE_AFTER, NETWORK_HOOK_PHASE_BEFORE } from "./constants.js";
import { ValidationError } from "./errors.js";
import type {
  NetworkHookFunc,
  NetworkHookPhase,
  NetworkHookRequest,
  NetworkHookResult,
  NetworkHookRule,
  NetworkInterceptionConfig,
} from "./types.js";

interface CallbackEntry {
  phase: string;
  timeoutMs: number;
  hook: NetworkHookFunc;
}

/** Network rules as the engine takes them, plus the callbacks this process must answer. */
export interface CompiledNetworkHooks {
  rules: Array<Record<string, unknown>>;
  callbacks: Map<string, CallbackEntry>;
}

function nonEmpty<T>(value: T[] | undefined): value is T[] {
  return Array.isArray(value) && value.length > 0;
}

function nonEmptyMap(value: Record<string, string> | undefined): value is Record<string, string> {
  return value !== undefined && Object.keys(value).length > 0;
}

/** Serializes rules (omitting empty fields) and tags callback rules `network_hook_<n>`. */
export function compileNetworkHooks(config: NetworkInterceptionConfig | undefined): CompiledNetworkHooks {
  const rules: Array<Record<string, unknown>> = [];
  const callbacks = new Map<string, CallbackEntry>();
  (config?.rules ?? []).forEach((rule: NetworkHookRule, index) => {
    const where = `networkInterception.rules[${index}]`;
    const phase = (rule.phase ?? "").toLowerCase();
    if (phase && phase !== NETWORK_HOOK_PHASE_BEFORE && phase !== NETWORK_HOOK_PHASE_AFTER) {
      throw new ValidationError(`${where}.phase`, `unknown phase "${rule.phase}"`);
    }
    const wire: Record<string, unknown> = {};
    if (rule.name) wire.name = rule.name;
    if (rule.phase) wire.phase = rule.phase;
    if (nonEmpty(rule.hosts)) wire.hosts = [...rule.hosts];
    if (nonEmpty(rule.methods)) wire.methods = [...rule.methods];
    if (rule.path) wire.path = rule.path;
    if (rule.action) wire.action = rule.action;
    if (rule.hook) {
      if (rule.action && rule.action !== NETWORK_HOOK_ACTION_ALLOW) {
        throw new ValidationError(`${where}.action`, `callback hooks cannot set action=${rule.action}`);
      }
      const callbackId = `network_hook_${index + 1}`;
      wire.callback_id = callbackId;
      callbacks.set(callbackId, { phase, timeoutMs: rule.timeoutMs ?? 0, hook: rule.hook });
    }
    if (rule.timeoutMs && rule.timeoutMs > 0) wire.timeout_ms = rule.timeoutMs;
    if (nonEmptyMap(rule.setHeaders)) wire.set_headers = { ...rule.setHeaders };
    if (nonEmpty(rule.deleteHeaders)) wire.delete_headers = [...rule.deleteHeaders];
    if (nonEmptyMap(rule.setQuery)) wire.set_query = { ...rule.setQuery };
    if (nonEmpty(rule.deleteQuery)) wire.delete_query = [...rule.deleteQuery];
    if (rule.rewritePath) wire.rewrite_path = rule.rewritePath;
    if (nonEmptyMap(rule.setResponseHeaders)) wire.set_response_headers = { ...rule.setResponseHeaders };
    if (nonEmpty(rule.deleteResponseHeaders)) wire.delete_response_headers = [...rule.deleteResponseHeaders];
    if (nonEmpty(rule.bodyReplacements)) {
      wire.body_replacements = rule.bodyReplacements.map((t) => ({ find: t.find, replace: t.replace ?? "" }));
    }
    rules.push(wire);
  });
  return { rules, callbacks };
}

/** Converts the engine's callback request to the public shape. */
function toHookRequest(raw: Record<string, unknown>): NetworkHookRequest {
  const request: NetworkHookRequest = {
    phase: (typeof raw.phase === "string" ? raw.phase : "") as NetworkHookPhase,
    host: typeof raw.host === "string" ? raw.host : "",
    method: typeof raw.method === "string" ? raw.method : "",
    path: typeof raw.path === "string" ? raw.path : "",
    statusCode: typeof raw.status_code === "number" ? raw.status_code : 0,
    isSSE: raw.is_sse === true,
  };
  if (raw.query && typeof raw.query === "object") request.query = raw.query as Record<string, string>;
  if (raw.request_headers && typeof raw.request_headers === "object") {
    request.requestHeaders = raw.request_headers as Record<string, string[]>;
  }
  if (raw.response_headers && typeof raw.response_headers === "object") {
    request.responseHeaders = raw.response_headers as Record<string, string[]>;
  }
  return request;
}

/** Converts a hook's result to the wire answer; `{}` maps and `""` bodies are kept (they mean "clear"). */
export function toWireHookResponse(result: NetworkHookResult | null | undefined): Record<string, unknown> {
  if (!result) return {};
  const answer: Record<string, unknown> = {};
  if (result.action) answer.action = result.action;
  if (result.request) {
    const request: Record<string, unknown> = {};
    if (result.request.headers) request.headers = result.request.headers;
    if (result.request.query) request.query = result.request.query;
    if (result.request.path) request.path = result.request.path;
    answer.request = request;
  }
  if (result.response) {
    const response: Record<string, unknown> = {};
    if (result.response.headers) response.headers = result.response.headers;
    if (result.response.bodyReplacements) {
      response.body_replacements = result.response.bodyReplacements.map((t) => ({
        find: t.find,
        replace: t.replace ?? "",
      }));
    }
    if (result.response.setBody !== undefined && result.response.setBody !== null) {
      response.set_body_base64 = toBuffer(result.response.setBody).toString("base64");
    }
    answer.response = response;
  }
  return answer;
}

/**
 * The Unix socket server the engine calls for network hook callbacks: one connection per
 * call, one JSON line each way.
 */
export class NetworkHookServer {
  readonly socketPath: string;
  private readonly dir: string;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly callbacks: Map<string, CallbackEntry>) {
    this.dir = mkdtempSync(join(tmpdir(), "matchlock-network-hook-"));
    this.socketPath = join(this.dir, "hook.sock");
    this.server = createServer((socket) => this.serve(socket));
  }

  static async start(callbacks: Map<string, CallbackEntry>): Promise<NetworkHookServer> {
    const server = new NetworkHookServer(callbacks);
    await new Promise<void>((resolve, reject) => {
      server.server.once("error", reject);
      server.server.listen(server.socketPath, () => resolve());
    });
    // The server alone must not keep the program alive; pending engine calls do that.
    server.server.unref();
    return server;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }

  private serve(socket: Socket): void {
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    let buffered = Buffer.alloc(0);
    let answered = false;
    socket.on("data", (chunk: Buffer) => {
      if (answered) return;
      buffered = Buffer.concat([buffered, chunk]);
      const nl = buffered.indexOf(0x0a);
      if (nl < 0) return;
      answered = true;
      void this.answer(buffered.subarray(0, nl).toString("utf8")).then((reply) => {
        socket.end(`${JSON.stringify(reply)}\n`);
      });
    });
  }

  private async answer(line: string): Promise<Record<string, unknown>> {
    let raw: Record<string, unknown>;
    try {
      raw = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return { error: "invalid network hook request" };
    }
    const entry = this.callbacks.get(String(raw.callback_id ?? ""));
    if (!entry) return { error: "network hook callback not found" };
    const phase = typeof raw.phase === "string" ? raw.phase.toLowerCase() : "";
    if (entry.phase && phase && entry.phase !== phase) return { error: "network hook phase mismatch" };
    try {
      const run = Promise.resolve(entry.hook(toHookRequest(raw)));
      const result = entry.timeoutMs > 0 ? await withTimeout(run, entry.timeoutMs) : await run;
      return toWireHookResponse(result);
    } catch (error) {
      return { error: error instanceof Error ? error.message : String(error) };
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("network hook callback timed out")), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
