// Every client method against one real sandbox (booting is slow under TCG, so the file shares it).
import assert from "node:assert/strict";
import { createServer, request as httpRequest } from "node:http";
import { createServer as createNetServer } from "node:net";
import { Readable, PassThrough } from "node:stream";
import { after, before, test } from "node:test";
import { Client, createSandbox, listSandboxes, RPCError, TimeoutError } from "matchlock-sdk";
import { launchCommand, recordedClient, testImage } from "../support/e2e.mjs";

let client;
const hookEvents = [];
let hookSeen;
const events = [];
const networkHookCalls = [];

before(async () => {
  client = recordedClient();
  let resolveHook;
  hookSeen = new Promise((resolve) => (resolveHook = resolve));
  client.onEvent((event) => events.push(event));
  const sandbox = createSandbox(testImage)
    .allowHost("example.com")
    .addSecret("API_TOKEN", "tok-real-value", "example.com")
    .withEnv("GREETING", "hello")
    // No internet is needed: the before-phase hook answers before any upstream connection.
    .allowHost("api.example.com")
    .addHost("api.example.com", "93.184.216.34")
    .withNetworkInterception({
      rules: [
        {
          phase: "before",
          hosts: ["api.example.com"],
          hook: (request) => {
            networkHookCalls.push(request);
            return { action: "block" };
          },
        },
      ],
    })
    .withVFSInterception({
      rules: [
        { name: "no-blocked", phase: "before", ops: ["create"], path: "/workspace/blocked/*", action: "block" },
        {
          phase: "after",
          ops: ["write"],
          path: "/workspace/hooked/*",
          hook: (event) => {
            hookEvents.push(event);
            resolveHook(event);
          },
        },
      ],
    });
  await client.launch(sandbox);
});

after(async () => {
  await client?.close();
});

test("exec: buffered output, exit code, env, working dir, user", async () => {
  const result = await client.exec("echo out; echo err >&2; echo $GREETING; exit 3");
  assert.deepEqual([result.exitCode, result.stdout, result.stderr], [3, "out\nhello\n", "err\n"]);
  assert.ok(result.durationMs >= 0);
  assert.equal((await client.exec("pwd")).stdout, "/\n");
  assert.equal((await client.exec("pwd", { workingDir: "/tmp" })).stdout, "/tmp\n");
  assert.equal((await client.execWithDir("pwd", "/etc")).stdout, "/etc\n");
  assert.equal((await client.exec("id -u", { user: "65534" })).stdout, "65534\n");
  assert.equal((await client.exec("echo $ONE", { env: { ONE: "1" } })).stdout, "1\n");
});

test("exec with onStdout/onStderr gets chunks and the buffered result", async () => {
  const out = [];
  const err = [];
  const result = await client.exec("seq 1 3; echo e >&2", { onStdout: (c) => out.push(c), onStderr: (c) => err.push(c) });
  assert.equal(Buffer.concat(out).toString(), "1\n2\n3\n");
  assert.equal(Buffer.concat(err).toString(), "e\n");
  assert.equal(result.stdout, "1\n2\n3\n");
  assert.equal(result.stderr, "e\n");
});

test("execStream: 1000 lines to a Node stream; execStreamWithDir", async () => {
  const stdout = new PassThrough();
  const chunks = [];
  stdout.on("data", (c) => chunks.push(c));
  const result = await client.execStream("seq 1 1000", { stdout });
  assert.equal(result.exitCode, 0);
  const lines = Buffer.concat(chunks).toString().trim().split("\n");
  assert.equal(lines.length, 1000);
  assert.equal(lines[999], "1000");
  const err = [];
  const r2 = await client.execStreamWithDir("pwd >&2; exit 4", "/tmp", undefined, (c) => err.push(c));
  assert.equal(r2.exitCode, 4);
  assert.equal(Buffer.concat(err).toString(), "/tmp\n");
});

test("execPipe: stdin from a Readable, output to callbacks; execPipeWithDir", async () => {
  const out = [];
  const result = await client.execPipe("tr a-z A-Z", { stdin: Readable.from(["hello ", "pipe"]), stdout: (c) => out.push(c) });
  assert.equal(result.exitCode, 0);
  assert.equal(Buffer.concat(out).toString(), "HELLO PIPE");
  const out2 = [];
  await client.execPipeWithDir("cat; pwd", "/etc", ["x\n"], (c) => out2.push(c));
  assert.equal(Buffer.concat(out2).toString(), "x\n/etc\n");
});

test("execInteractive: a pseudo-terminal of the requested size, stdin, resize", async () => {
  const out = [];
  let sawInitialSize;
  const initialSize = new Promise((resolve) => (sawInitialSize = resolve));
  let resized;
  const resizeSent = new Promise((resolve) => (resized = resolve));
  const result = await client.execInteractive("tty; stty size; read line; stty size; echo got:$line", {
    rows: 30,
    cols: 100,
    stdout: (c) => {
      out.push(c);
      if (/30 100/.test(Buffer.concat(out).toString())) sawInitialSize();
    },
    // Resize once the first size was printed; type the line once the resize was sent.
    resize: (async function* () {
      await initialSize;
      yield [40, 120];
      resized();
    })(),
    stdin: (async function* () {
      await resizeSent;
      yield "hi\n";
    })(),
  });
  assert.equal(result.exitCode, 0);
  const text = Buffer.concat(out).toString();
  assert.match(text, /\/dev\/pts\/\d+/);
  assert.match(text, /30 100[\s\S]*40 120/);
  assert.match(text, /got:hi/);
});

test("spawn: stdin Writable, stdout async iterator, wait()", async () => {
  const proc = await client.spawn("while read l; do echo \"<$l>\"; done; echo bye >&2");
  proc.stdin.write("a\n");
  proc.stdin.end("b\n");
  let text = "";
  for await (const chunk of proc.stdout) text += chunk;
  const result = await proc.wait();
  assert.equal(text, "<a>\n<b>\n");
  assert.equal(result.exitCode, 0);
  assert.equal(result.stderr.toString(), "bye\n");
});

test("spawn + kill: the guest process is gone", async () => {
  const proc = await client.spawn("echo up; exec sleep 4242");
  for await (const chunk of proc.stdout) {
    assert.equal(chunk.toString(), "up\n");
    break;
  }
  proc.kill();
  await assert.rejects(proc.wait(), (e) => e instanceof RPCError && e.isCancelled());
  const ps = await client.exec("ps");
  assert.doesNotMatch(ps.stdout, /sleep 4242/);
});

test("abort: the call rejects, the engine cancels, the guest process is gone", async () => {
  const controller = new AbortController();
  const call = client.exec("echo started; exec sleep 4343", {
    onStdout: () => controller.abort(new Error("stop")),
    signal: controller.signal,
  });
  await assert.rejects(call, /stop/);
  // The SDK does not wait for the cancelled call's reply (reference §3.8), so the guest is
  // asked until the process is gone: the loop ends when it is, and gives up after ~10 s.
  const ps = await client.exec("i=0; while ps | grep -q '[s]leep 4343'; do i=$((i+1)); [ $i -lt 100 ] || exit 1; usleep 100000; done");
  assert.equal(ps.exitCode, 0, "sleep 4343 still running 10 s after the abort");
});

test("timeoutMs: TimeoutError", async () => {
  await assert.rejects(client.exec("sleep 30", { timeoutMs: 300 }), TimeoutError);
});

test("concurrent calls overlap on one client", async () => {
  await client.exec("rm -f /tmp/fifo; mkfifo /tmp/fifo");
  // The reader blocks until the writer runs: this only finishes if both run at once.
  const [reader, writer, other] = await Promise.all([
    client.exec("cat /tmp/fifo", { timeoutMs: 60000 }),
    client.exec("echo through-fifo > /tmp/fifo", { timeoutMs: 60000 }),
    client.readFile("/etc/hostname"),
  ]);
  assert.equal(reader.stdout, "through-fifo\n");
  assert.equal(writer.exitCode, 0);
  assert.ok(other.length > 0);
});

test("files: write/read 100 KB, mode, list", async () => {
  const big = Buffer.alloc(100 * 1024, 7);
  await client.writeFile("/workspace/files/big.bin", big);
  assert.ok((await client.readFile("/workspace/files/big.bin")).equals(big));
  await client.writeFileMode("/workspace/files/run.sh", "#!/bin/sh\necho ran\n", 0o755);
  assert.equal((await client.exec("/workspace/files/run.sh")).stdout, "ran\n");
  const files = await client.listFiles("/workspace/files");
  const byName = Object.fromEntries(files.map((f) => [f.name, f]));
  assert.equal(byName["big.bin"].size, 100 * 1024);
  assert.equal(byName["run.sh"].mode & 0o777, 0o755);
  assert.equal(byName["run.sh"].isDir, false);
  await assert.rejects(client.readFile("/nope/missing"), (e) => e instanceof RPCError && e.isFileError());
});

test("files: stat, exists, mkdir, removeFile, rename", async () => {
  await client.mkdir("/workspace/fs/a/b");
  const dir = await client.stat("/workspace/fs/a/b");
  assert.equal(dir.isDir, true);
  await client.writeFile("/workspace/fs/a/b/f.txt", "x");
  await client.rename("/workspace/fs/a/b/f.txt", "/workspace/fs/a/g.txt");
  assert.equal(await client.exists("/workspace/fs/a/b/f.txt"), false);
  const file = await client.stat("/workspace/fs/a/g.txt");
  assert.equal(file.size, 1);
  assert.equal(file.isDir, false);
  await client.removeFile("/workspace/fs/a/g.txt");
  assert.equal(await client.stat("/workspace/fs/a/g.txt"), null);
  await assert.rejects(client.removeFile("/workspace/fs/a"), (e) => e instanceof RPCError && e.isFileError());
  await client.removeFile("/workspace/fs", { recursive: true });
  assert.equal(await client.exists("/workspace/fs"), false);
});

test("VFS: a before-phase block rule refuses guest creates there, not elsewhere", async () => {
  const blocked = await client.exec("mkdir -p /workspace/blocked; echo x > /workspace/blocked/f");
  assert.notEqual(blocked.exitCode, 0);
  assert.match(blocked.stderr, /Permission denied|Operation not permitted/);
  const fine = await client.exec("echo x > /workspace/ok.txt && cat /workspace/ok.txt");
  assert.equal(fine.stdout, "x\n");
});

test("VFS: an after-hook runs for guest writes; events reach onEvent", async () => {
  await client.exec("mkdir -p /workspace/hooked; echo hi > /workspace/hooked/a.txt");
  const event = await hookSeen;
  assert.equal(event.op, "write");
  assert.equal(event.path, "/workspace/hooked/a.txt");
  assert.ok(events.some((e) => e.type === "file" && e.file.path === "/workspace/hooked/a.txt"));
});

test("secrets: the guest only sees the placeholder", async () => {
  const result = await client.exec("echo $API_TOKEN");
  assert.match(result.stdout, /^SANDBOX_SECRET_[0-9a-f]{32}\n$/);
  assert.doesNotMatch(result.stdout, /tok-real-value/);
});

test("network hook: the SDK-hosted callback sees the request and blocks it", async () => {
  // (No secret placeholder in this request: API_TOKEN belongs to example.com, and the proxy
  // refuses a placeholder bound for another host before any hook runs.)
  const result = await client.exec("wget -q -O - 'http://api.example.com/v1/items?page=2' 2>&1");
  assert.notEqual(result.exitCode, 0);
  assert.match(result.stdout, /403/);
  const call = networkHookCalls.at(-1);
  assert.equal(call.host, "api.example.com");
  assert.equal(call.method, "GET");
  assert.equal(call.path, "/v1/items");
  assert.deepEqual(call.query, { page: "2" });
});

test("allow-list add and delete", async () => {
  const added = await client.allowListAdd("a.example.org", "b.example.org");
  assert.deepEqual(added.added, ["a.example.org", "b.example.org"]);
  assert.ok(added.allowedHosts.includes("example.com"));
  const removed = await client.allowListDelete("a.example.org");
  assert.deepEqual(removed.removed, ["a.example.org"]);
  assert.ok(!removed.allowedHosts.includes("a.example.org"));
});

function freePort() {
  return new Promise((resolve) => {
    const server = createNetServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function httpGet(port, path) {
  return new Promise((resolve, reject) => {
    httpRequest({ host: "127.0.0.1", port, path }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve(body));
    })
      .on("error", reject)
      .end();
  });
}

test("portForward and portForwardWithAddresses reach a guest server", async () => {
  await client.writeFile("/www/index.html", "served from the guest\n");
  const server = await client.spawn("exec httpd -f -p 127.0.0.1:8080 -h /www");
  try {
    // Wait (in the guest) until httpd listens; bounded by the call's timeout.
    await client.exec("until wget -q -O /dev/null http://127.0.0.1:8080/index.html; do usleep 20000; done", { timeoutMs: 30000 });
    const port = await freePort();
    const bindings = await client.portForward(`${port}:8080`);
    assert.deepEqual(bindings, [{ address: "127.0.0.1", localPort: port, remotePort: 8080 }]);
    assert.equal(await httpGet(port, "/index.html"), "served from the guest\n");
    const port2 = await freePort();
    const b2 = await client.portForwardWithAddresses(["127.0.0.1"], `${port2}:8080`);
    assert.equal(b2[0].localPort, port2);
    assert.equal(await httpGet(port2, "/index.html"), "served from the guest\n");
  } finally {
    server.kill();
    await server.wait().catch(() => undefined);
  }
});

test("log and logStream", async () => {
  // The console log is the guest's serial console: write a marker there.
  await client.exec("echo console-marker-1 > /dev/console");
  assert.match(await client.log(), /console-marker-1/);
  const controller = new AbortController();
  let text = "";
  const streaming = client.logStream({
    signal: controller.signal,
    timeoutMs: 30000,
    stdout: (c) => {
      text += c.toString();
      if (text.includes("console-marker-2")) controller.abort(new Error("enough"));
    },
  });
  const stopped = assert.rejects(streaming, /enough/);
  await client.exec("echo console-marker-2 > /dev/console");
  await stopped;
  assert.match(text, /console-marker-1[\s\S]*console-marker-2/);
});

test("version", async () => {
  const version = await client.version();
  assert.match(version.version, /^\d+\.\d+\.\d+/);
  assert.equal(typeof version.commit, "string");
});

test("listSandboxes shows this sandbox running", async () => {
  const list = await listSandboxes({ launchCommand }, { running: true });
  const me = list.find((s) => s.id === client.vmId);
  assert.ok(me, `${client.vmId} listed`);
  assert.equal(me.state, "running");
  assert.equal(me.image, testImage);
});

test("attach: a second client runs commands in the same sandbox; close() only detaches", async () => {
  await client.writeFile("/workspace/attach.txt", "shared");
  const attached = await Client.attach(client.vmId, { launchCommand });
  assert.equal((await attached.exec("cat /workspace/attach.txt")).stdout, "shared");
  await attached.close();
  assert.equal((await client.exec("echo still")).stdout, "still\n");
});

test("setSandboxTimeout sets and clears the expiry", async () => {
  const expires = await client.setSandboxTimeout(3600);
  assert.ok(expires instanceof Date && expires.getTime() > Date.now());
  assert.equal(await client.setSandboxTimeout(0), null);
});
