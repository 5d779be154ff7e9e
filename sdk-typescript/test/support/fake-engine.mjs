#!/usr/bin/env node
// A hand-written stand-in for `matchlock rpc` that records every line it receives (to the file
// named by argv[2]) and answers with canned results, so unit tests can pin exact request shapes
// and failure paths without booting a VM. argv[3] (optional JSON) tweaks behaviour:
//   {"failPortForward": true}  port_forward answers -32000
// Special exec commands: "__die__" (stderr line, exit 3), "__hang__" (never answered),
// "__close_stdout__" (closes stdout, keeps running until stdin ends), "__event__" (emits a file
// event, then answers). Unanswered "__hang__" execs and received cancels are announced as
// `event` notifications of type "fake", so tests can wait for them without polling.
import { appendFileSync } from "node:fs";
import { createInterface } from "node:readline";

const logPath = process.argv[2];
// `--attach ID` (appended by Client.attach) is recorded as a pseudo-request so tests see it.
const attachAt = process.argv.indexOf("--attach");
const modeArg = process.argv[3] && process.argv[3] !== "--attach" ? process.argv[3] : undefined;
const mode = modeArg ? JSON.parse(modeArg) : {};
if (attachAt > 0 && logPath) appendFileSync(logPath, `${JSON.stringify({ attach: process.argv[attachAt + 1] })}\n`);
const b64 = (text) => Buffer.from(text).toString("base64");
const send = (message) => process.stdout.write(`${JSON.stringify({ jsonrpc: "2.0", ...message })}\n`);
const reply = (id, result) => send({ result, id });
const fail = (id, code, message) => send({ error: { code, message }, id });
const hanging = new Set();
const sessions = new Map(); // exec_pipe / exec_tty id -> {kind, input: Buffer[]}

process.stderr.write("fake engine: started\n");
const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (logPath) appendFileSync(logPath, `${line}\n`);
  const msg = JSON.parse(line);
  const { method, params = {}, id } = msg;
  switch (method) {
    case "create":
      return reply(id, { id: "vm-fake0001" });
    case "close":
      return reply(id, {});
    case "exec":
      if (params.command === "__die__") {
        process.stderr.write("fake engine: fatal: guest agent vanished\n");
        process.exit(3);
      }
      if (params.command === "__hang__") {
        hanging.add(id);
        // Tells the test the request is in flight (an id-less "event" reaches onEvent).
        return send({ method: "event", params: { type: "fake", note: "hanging", target: id } });
      }
      if (params.command === "__close_stdout__") {
        hanging.add(id);
        return process.stdout.end();
      }
      if (params.command === "__event__") {
        send({ method: "event", params: { type: "file", timestamp: 1, file: { op: "write", path: "/workspace/x.txt", size: 2, mode: 420 } } });
        send({ method: "event", params: { type: "network", timestamp: 2, network: { method: "GET", url: "http://h/", host: "h", status_code: 403, request_bytes: 0, response_bytes: 9, duration_ms: 1, blocked: true, block_reason: "policy" } } });
      }
      return reply(id, { exit_code: 0, stdout: b64(params.command), stderr: b64("e"), duration_ms: 1 });
    case "exec_stream":
      send({ method: "exec_stream.stdout", params: { id, data: b64("out1") } });
      send({ method: "exec_stream.stderr", params: { id, data: b64("err1") } });
      send({ method: "exec_stream.stdout", params: { id, data: b64("out2") } });
      return reply(id, { exit_code: 7, duration_ms: 33 });
    case "exec_pipe":
    case "exec_tty":
      sessions.set(id, { kind: method, input: [] });
      return send({ method: `${method}.ready`, params: { id } });
    case "exec_pipe.stdin":
    case "exec_tty.stdin":
      sessions.get(params.id)?.input.push(Buffer.from(params.data, "base64"));
      return;
    case "exec_tty.resize":
      return;
    case "exec_pipe.stdin_eof":
    case "exec_tty.stdin_eof": {
      const session = sessions.get(params.id);
      if (!session) return;
      sessions.delete(params.id);
      const data = Buffer.concat(session.input).toString("base64");
      if (data) send({ method: `${session.kind}.stdout`, params: { id: params.id, data } });
      if (session.kind === "exec_pipe") send({ method: "exec_pipe.stderr", params: { id: params.id, data: b64("pipe-err") } });
      return reply(params.id, { exit_code: 0, duration_ms: 2 });
    }
    case "cancel": {
      const target = params.id;
      send({ method: "event", params: { type: "fake", note: "cancel", target } });
      const known = hanging.delete(target) || sessions.delete(target);
      reply(id, { cancelled: known });
      if (known) fail(target, -32003, "context canceled");
      return;
    }
    case "port_forward":
      if (mode.failPortForward) return fail(id, -32000, "bind local port-forward listener 127.0.0.1:8080: address already in use");
      return reply(id, {
        bindings: params.forwards.flatMap((f) => params.addresses.map((address) => ({ address, local_port: f.local_port, remote_port: f.remote_port }))),
      });
    case "list_files":
      return reply(id, {});
    case "read_file":
      return reply(id, { content: b64("file-content") });
    case "log":
      return reply(id, { content: b64("boot log\n") });
    case "log_stream":
      send({ method: "log_stream.data", params: { id, data: b64("line 1\n") } });
      return reply(id, {});
    case "version":
      return reply(id, { version: "0.1.0", commit: "fake" });
    case "list_sandboxes":
      return reply(id, { sandboxes: [{ id: "vm-fake0001", state: "running", image: "img", pid: 42, created_at: "2026-01-01T00:00:00Z" }] });
    case "stat_file":
      if (params.path === "/missing") return reply(id, { exists: false });
      return reply(id, { exists: true, name: "d", size: 4096, mode: 2147484141, mod_time: "2026-01-01T00:00:00Z", is_dir: true, is_symlink: false });
    case "set_timeout":
      return reply(id, { expires_at: params.timeout_seconds === 0 ? null : "2030-01-01T00:00:00Z" });
    case "allow_list_add":
      return reply(id, { added: params.hosts, allowed_hosts: params.hosts });
    case "allow_list_delete":
      return reply(id, { removed: params.hosts, allowed_hosts: null });
    default:
      if (id !== undefined) return reply(id, {});
  }
});
lines.on("close", () => process.exit(0));
