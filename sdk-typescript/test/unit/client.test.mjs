// Client behaviour against the fake engine: request shapes (reference §11), input messages,
// cancellation, engine death, routing of notifications.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  Client,
  EngineExitedError,
  EngineNotFoundError,
  MatchlockError,
  RPCError,
  TimeoutError,
} from "matchlock-sdk";
import { fakeClient, paramsOf } from "../support/fake.mjs";

async function withFake(fn, mode) {
  const fake = fakeClient(mode);
  try {
    await fake.client.create({ image: "img" });
    return await fn(fake);
  } finally {
    await fake.client.close();
  }
}

test("ids start at 1 and increase; exec params are exact", async () => {
  await withFake(async ({ client, requests }) => {
    const result = await client.exec("pwd", { workingDir: "/workspace" });
    assert.deepEqual(result, { exitCode: 0, stdout: "pwd", stderr: "e", durationMs: 1 });
    await client.execWithDir("ls", "/tmp");
    const recorded = requests();
    assert.deepEqual(recorded.map((r) => r.id), [1, 2, 3]);
    assert.deepEqual(recorded[1], { jsonrpc: "2.0", method: "exec", params: { command: "pwd", working_dir: "/workspace" }, id: 2 });
    assert.deepEqual(recorded[2].params, { command: "ls", working_dir: "/tmp" });
  });
});

test("exec user and env are passed; empty working dir is omitted", async () => {
  await withFake(async ({ client, requests }) => {
    await client.exec("id", { user: "1000", env: { A: "1" } });
    assert.deepEqual(paramsOf(requests(), "exec"), { command: "id", user: "1000", env: { A: "1" } });
  });
});

test("exec with onStdout/onStderr streams chunks and still returns the buffered result", async () => {
  await withFake(async ({ client, requests }) => {
    const out = [];
    const err = [];
    const result = await client.exec("x", { onStdout: (c) => out.push(c.toString()), onStderr: (c) => err.push(c.toString()) });
    assert.deepEqual(out, ["out1", "out2"]);
    assert.deepEqual(err, ["err1"]);
    assert.deepEqual(result, { exitCode: 7, durationMs: 33, stdout: "out1out2", stderr: "err1" });
    assert.equal(requests().at(-1).method, "exec_stream");
  });
});

test("execStream delivers to writers of both kinds", async () => {
  await withFake(async ({ client }) => {
    const chunks = [];
    const { PassThrough } = await import("node:stream");
    const stderr = new PassThrough();
    const result = await client.execStream("x", { stdout: (c) => chunks.push(c.toString()), stderr });
    assert.deepEqual(chunks, ["out1", "out2"]);
    assert.equal(stderr.read().toString(), "err1");
    assert.deepEqual(result, { exitCode: 7, durationMs: 33 });
  });
});

test("execPipe sends stdin only after ready, keyed by params.id, without a top-level id", async () => {
  await withFake(async ({ client, requests }) => {
    const out = [];
    const result = await client.execPipe("cat", { stdin: ["hel", Buffer.from("lo")], stdout: (c) => out.push(c.toString()) });
    assert.deepEqual(result, { exitCode: 0, durationMs: 2 });
    assert.deepEqual(out, ["hello"]);
    const recorded = requests();
    const pipe = recorded.find((r) => r.method === "exec_pipe");
    const inputs = recorded.filter((r) => r.method.startsWith("exec_pipe."));
    assert.deepEqual(inputs, [
      { jsonrpc: "2.0", method: "exec_pipe.stdin", params: { id: pipe.id, data: "aGVs" } },
      { jsonrpc: "2.0", method: "exec_pipe.stdin", params: { id: pipe.id, data: "bG8=" } },
      { jsonrpc: "2.0", method: "exec_pipe.stdin_eof", params: { id: pipe.id } },
    ]);
  });
});

test("execPipe without stdin sends EOF right after ready", async () => {
  await withFake(async ({ client, requests }) => {
    await client.execPipeWithDir("true", "/w");
    const recorded = requests();
    assert.deepEqual(paramsOf(recorded, "exec_pipe"), { command: "true", working_dir: "/w" });
    assert.deepEqual(recorded.at(-1).method, "exec_pipe.stdin_eof");
  });
});

test("execInteractive params are exactly command/rows/cols; resize and stdin after ready", async () => {
  await withFake(async ({ client, requests }) => {
    const out = [];
    let sendInput;
    const stdin = (async function* () {
      await new Promise((resolve) => (sendInput = resolve));
      yield "exit\n";
    })();
    const resize = (async function* () {
      yield [50, 140];
      yield [0, 10]; // dropped: not positive
      sendInput();
    })();
    const result = await client.execInteractive("sh", { rows: 30, cols: 100, stdin, resize, stdout: (c) => out.push(c.toString()) });
    assert.deepEqual(result, { exitCode: 0, durationMs: 2 });
    assert.deepEqual(out, ["exit\n"]);
    const recorded = requests();
    const tty = recorded.find((r) => r.method === "exec_tty");
    assert.deepEqual(tty.params, { command: "sh", rows: 30, cols: 100 });
    const inputs = recorded.filter((r) => r.method.startsWith("exec_tty."));
    assert.deepEqual(inputs, [
      { jsonrpc: "2.0", method: "exec_tty.resize", params: { id: tty.id, rows: 50, cols: 140 } },
      { jsonrpc: "2.0", method: "exec_tty.stdin", params: { id: tty.id, data: "ZXhpdAo=" } },
      { jsonrpc: "2.0", method: "exec_tty.stdin_eof", params: { id: tty.id } },
    ]);
  });
});

test("execInteractive defaults to 24x80", async () => {
  await withFake(async ({ client, requests }) => {
    await client.execInteractive("sh");
    assert.deepEqual(paramsOf(requests(), "exec_tty"), { command: "sh", rows: 24, cols: 80 });
  });
});

test("spawn: stdin Writable, stdout/stderr Readable and async-iterable, wait()", async () => {
  await withFake(async ({ client }) => {
    const proc = await client.spawn("cat");
    proc.stdin.write("abc");
    proc.stdin.end("def");
    const chunks = [];
    for await (const chunk of proc.stdout) chunks.push(chunk.toString());
    const result = await proc.wait();
    assert.equal(chunks.join(""), "abcdef");
    assert.equal(result.stdout.toString(), "abcdef");
    assert.equal(result.stderr.toString(), "pipe-err");
    assert.equal(result.exitCode, 0);
    assert.equal(proc.finished, true);
  });
});

test("spawn with callbacks sends output to them instead", async () => {
  await withFake(async ({ client }) => {
    const out = [];
    const proc = await client.spawn("cat", { onStdout: (c) => out.push(c.toString()) });
    proc.stdin.end("xyz");
    const result = await proc.wait();
    assert.deepEqual(out, ["xyz"]);
    assert.equal(result.stdout.length, 0);
  });
});

test("abort sends cancel with params.id of the aborted request and rejects with the reason", async () => {
  await withFake(async ({ client, requests }) => {
    const controller = new AbortController();
    const hanging = announced(client, "hanging");
    const cancelled = announced(client, "cancel");
    const call = client.exec("__hang__", { signal: controller.signal });
    // Abort only once the request is in flight, so the cancel has a target.
    const { target } = await hanging;
    const reason = new Error("user gave up");
    controller.abort(reason);
    await assert.rejects(call, (e) => e === reason);
    assert.equal((await cancelled).target, target);
    const cancel = requests().find((r) => r.method === "cancel");
    assert.deepEqual(cancel.params, { id: target });
    assert.ok(cancel.id > target);
  });
});

test("an already aborted signal fails without sending; a non-Error reason gives a MatchlockError", async () => {
  await withFake(async ({ client, requests }) => {
    const controller = new AbortController();
    controller.abort("nope");
    const before = requests().length;
    await assert.rejects(client.exec("x", { signal: controller.signal }), (e) => e instanceof MatchlockError && /exec was aborted/.test(e.message));
    assert.equal(requests().length, before);
  });
});

test("timeoutMs fails with TimeoutError and cancels", async () => {
  await withFake(async ({ client, requests }) => {
    const cancelled = announced(client, "cancel");
    await assert.rejects(client.exec("__hang__", { timeoutMs: 50 }), (e) => e instanceof TimeoutError && /timed out after 50ms/.test(e.message));
    const { target } = await cancelled;
    assert.equal(target, requests().find((r) => r.params?.command === "__hang__").id);
  });
});

test("Process.kill cancels it and wait() rejects with CANCELLED", async () => {
  await withFake(async ({ client }) => {
    const proc = await client.spawn("sleep");
    proc.kill();
    await assert.rejects(proc.wait(), (e) => e instanceof RPCError && e.code === RPCError.CANCELLED && e.isCancelled());
  });
});

test("engine death fails every pending call at once with its exit and stderr", async () => {
  const { client } = fakeClient();
  await client.create({ image: "img" });
  const hanging = client.exec("__hang__");
  const dying = client.exec("__die__");
  for (const call of [hanging, dying]) {
    await assert.rejects(call, (e) => {
      assert.ok(e instanceof EngineExitedError);
      assert.equal(e.exitCode, 3);
      assert.match(e.message, /exited with code 3: fake engine: fatal: guest agent vanished/);
      assert.match(e.stderr, /fake engine: started\nfake engine: fatal/);
      return true;
    });
  }
  await assert.rejects(client.exec("later"), (e) => e instanceof EngineExitedError && /not running/.test(e.message));
  await client.close();
});

test("stdout EOF fails all pending calls", async () => {
  const { client } = fakeClient();
  await client.create({ image: "img" });
  await assert.rejects(client.exec("__close_stdout__"), EngineExitedError);
  await client.close();
});

test("rpc errors are typed with code and message", async () => {
  await withFake(async ({ client }) => {
    // The fake answers an unknown method with {}; an unknown exec is fine; use cancel semantics.
    const err = new RPCError(-32002, "open /x: no such file");
    assert.equal(err.message, "[-32002] open /x: no such file");
    assert.ok(err.isFileError() && !err.isVMError() && !err.isExecError());
    assert.ok(err instanceof MatchlockError);
    assert.equal(RPCError.CANCELLED, -32003);
  });
});

test("file methods: shapes and conversions", async () => {
  await withFake(async ({ client, requests }) => {
    await client.writeFile("/w/a", "hi");
    await client.writeFileMode("/w/b", Buffer.from([1, 2]), 0o755);
    assert.equal((await client.readFile("/w/a")).toString(), "file-content");
    assert.deepEqual(await client.listFiles("/w"), [], "a result without files is an empty list");
    assert.equal(await client.stat("/missing"), null);
    assert.equal(await client.exists("/missing"), false);
    const info = await client.stat("/d");
    assert.deepEqual(info, { name: "d", size: 4096, mode: 2147484141, modTime: "2026-01-01T00:00:00Z", isDir: true, isSymlink: false });
    await client.mkdir("/w/d");
    await client.mkdir("/w/e", { mode: 0o700, parents: false });
    await client.removeFile("/w/a");
    await client.removeFile("/w/d", { recursive: true });
    await client.rename("/w/b", "/w/c");
    const recorded = requests();
    const of = (method) => recorded.filter((r) => r.method === method).map((r) => r.params);
    assert.deepEqual(of("write_file"), [
      { path: "/w/a", content: "aGk=", mode: 420 },
      { path: "/w/b", content: "AQI=", mode: 493 },
    ]);
    assert.deepEqual(of("make_dir"), [
      { path: "/w/d", mode: 493, parents: true },
      { path: "/w/e", mode: 448, parents: false },
    ]);
    assert.deepEqual(of("remove_file"), [
      { path: "/w/a", recursive: false },
      { path: "/w/d", recursive: true },
    ]);
    assert.deepEqual(of("rename_file"), [{ old_path: "/w/b", new_path: "/w/c" }]);
  });
});

test("logs, version, timeout, allow-list, port forward", async () => {
  await withFake(async ({ client, requests }) => {
    assert.equal(await client.log(), "boot log\n");
    const streamed = [];
    await client.logStream({ stdout: (c) => streamed.push(c.toString()) });
    assert.deepEqual(streamed, ["line 1\n"]);
    assert.deepEqual(await client.version(), { version: "0.1.0", commit: "fake" });
    assert.deepEqual(await client.setSandboxTimeout(60), new Date("2030-01-01T00:00:00Z"));
    assert.equal(await client.setSandboxTimeout(0), null);
    assert.deepEqual(await client.allowListAdd("a.com, b.com", "a.com"), { added: ["a.com", "b.com"], allowedHosts: ["a.com", "b.com"] });
    assert.deepEqual(await client.allowListDelete("a.com"), { removed: ["a.com"], allowedHosts: [] });
    await assert.rejects(client.allowListAdd(" , "), /allow-list hosts are required/);
    const bindings = await client.portForwardWithAddresses(["127.0.0.1", "::1"], "8080", "18081:81");
    assert.equal(bindings.length, 4);
    assert.deepEqual(bindings[0], { address: "127.0.0.1", localPort: 8080, remotePort: 8080 });
    const recorded = requests();
    assert.equal(recorded.find((r) => r.method === "log").params, undefined, "no params when there are none");
    assert.deepEqual(paramsOf(recorded, "set_timeout"), { timeout_seconds: 60 });
    assert.deepEqual(paramsOf(recorded, "port_forward"), {
      forwards: [
        { local_port: 8080, remote_port: 8080 },
        { local_port: 18081, remote_port: 81 },
      ],
      addresses: ["127.0.0.1", "::1"],
    });
  });
});

test("close sends close with timeout_seconds 2 by default, then the engine exits", async () => {
  const { client, requests } = fakeClient();
  await client.create({ image: "img" });
  await client.close();
  await client.close(); // idempotent
  assert.deepEqual(requests().at(-1), { jsonrpc: "2.0", method: "close", params: { timeout_seconds: 2 }, id: 2 });
  await assert.rejects(client.exec("x"), /client is closed/);
});

test("attached clients append --attach ID and only detach on close()", async () => {
  const fake = fakeClient();
  const client = await Client.attach("vm-1234abcd", { launchCommand: fake.launchCommand });
  assert.equal(client.vmId, "vm-1234abcd");
  assert.equal(client.isAttached, true);
  await client.exec("x");
  await client.close();
  assert.deepEqual(fake.requests(), [
    { attach: "vm-1234abcd" },
    { jsonrpc: "2.0", method: "exec", params: { command: "x" }, id: 1 },
  ], "argv ends with --attach ID; no close was sent");
});

test("kill() on an attached client sends close", async () => {
  const fake = fakeClient();
  const client = await Client.attach("vm-1234abcd", { launchCommand: fake.launchCommand });
  await client.kill();
  assert.deepEqual(fake.requests().map((r) => r.method ?? "attach"), ["attach", "close"]);
});

test("events reach onEvent listeners and matching after-hooks", async () => {
  // create is not awaited: the exec is pipelined right behind it, so the event arrives in the
  // same read as create's reply. The hooks must already be installed then.
  const fake = fakeClient();
  const hookSeen = new Promise((resolve) => {
    fake.client
      .create({ image: "img", vfsInterception: { rules: [{ phase: "after", ops: ["write"], path: "/workspace/*.txt", hook: resolve }] } })
      .catch(() => undefined);
  });
  const events = [];
  fake.client.onEvent((e) => events.push(e));
  await fake.client.exec("__event__");
  const hookEvent = await hookSeen;
  assert.deepEqual(hookEvent, { op: "write", path: "/workspace/x.txt", size: 2, mode: 420, uid: 0, gid: 0 });
  assert.deepEqual(events.map((e) => e.type), ["file", "network"]);
  assert.deepEqual(events[1].network, {
    method: "GET", url: "http://h/", host: "h", statusCode: 403, requestBytes: 0, responseBytes: 9, durationMs: 1, blocked: true, blockReason: "policy",
  });
  await fake.client.close();
});

test("local action and mutate hooks run before the SDK's own file calls", async () => {
  const fake = fakeClient();
  const seen = [];
  await fake.client.create({
    image: "img",
    vfsInterception: {
      rules: [
        { ops: ["write"], path: "/workspace/**", mutateHook: (req) => { seen.push(req); return "MUTATED"; } },
        { ops: ["read"], path: "/secret/*", actionHook: () => "block" },
      ],
    },
  });
  await fake.client.writeFile("/workspace/a/b.txt", "orig");
  assert.equal(paramsOf(fake.requests(), "write_file").content, Buffer.from("MUTATED").toString("base64"));
  assert.equal(seen[0].path, "/workspace/a/b.txt");
  assert.equal(seen[0].size, 4);
  await assert.rejects(fake.client.readFile("/secret/key"), /blocked by VFS hook/);
  assert.equal((await fake.client.readFile("/other")).toString(), "file-content");
  await fake.client.close();
});

test("listSandboxes spawns an engine, asks, and closes it", async () => {
  const { listSandboxes } = await import("matchlock-sdk");
  const fake = fakeClient();
  const list = await listSandboxes({ launchCommand: fake.launchCommand }, { running: true });
  assert.deepEqual(list, [{ id: "vm-fake0001", state: "running", image: "img", pid: 42, createdAt: "2026-01-01T00:00:00Z" }]);
  assert.deepEqual(paramsOf(fake.requests(), "list_sandboxes"), { running: true });
});

test("engine discovery: option, then MATCHLOCK_BIN, then PATH; none names all three", async () => {
  const saved = { bin: process.env.MATCHLOCK_BIN, path: process.env.PATH };
  try {
    delete process.env.MATCHLOCK_BIN;
    process.env.PATH = "/nonexistent";
    const client = new Client();
    await assert.rejects(client.start(), (e) => {
      assert.ok(e instanceof EngineNotFoundError);
      assert.match(e.message, /Config\.binaryPath/);
      assert.match(e.message, /MATCHLOCK_BIN/);
      assert.match(e.message, /PATH/);
      return true;
    });
    await assert.rejects(new Client({ binaryPath: "/nonexistent/matchlock" }).start(), EngineNotFoundError);
    process.env.MATCHLOCK_BIN = "/nonexistent/from-env";
    await assert.rejects(new Client().start(), /from-env/);
  } finally {
    if (saved.bin === undefined) delete process.env.MATCHLOCK_BIN;
    else process.env.MATCHLOCK_BIN = saved.bin;
    process.env.PATH = saved.path;
  }
});

test("a launch command that cannot start is a typed error", async () => {
  const client = new Client({ launchCommand: ["/nonexistent/ssh", "host", "matchlock", "rpc"] });
  await assert.rejects(client.start(), (e) => e instanceof EngineExitedError && /cannot start/.test(e.message));
});

test("concurrent calls are matched by id", async () => {
  await withFake(async ({ client }) => {
    const results = await Promise.all(["a", "b", "c", "d"].map((c) => client.exec(c)));
    assert.deepEqual(results.map((r) => r.stdout), ["a", "b", "c", "d"]);
  });
});

/** Resolves with the next fake-engine announcement of `note` (see fake-engine.mjs). */
function announced(client, note) {
  return new Promise((resolve) => {
    const off = client.onEvent((event) => {
      if (event.type === "fake" && event.raw.note === note) {
        off();
        resolve(event.raw);
      }
    });
  });
}
