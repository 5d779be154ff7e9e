// Lifecycle against the real engine: engine death mid-call, a crashed program, remove(),
// create errors, volumes, discovery.
import assert from "node:assert/strict";
import fs from "node:fs";
import { spawn } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { Client, EngineExitedError, MatchlockError, RPCError, createSandbox } from "matchlock-sdk";
import { allSandboxes, engineBin, launchCommand, recordedClient, runningSandboxes, testImage } from "../support/e2e.mjs";

/** Resolves when process `pid` no longer exists (checked on each turn of a short timer). */
async function processGone(pid, boundMs = 30000) {
  const deadline = Date.now() + boundMs;
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    if (Date.now() > deadline) throw new Error(`process ${pid} still alive after ${boundMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test("engine killed mid-call: typed error with the exit and stderr; remove() afterwards", async () => {
  // Direct launch (no recorder) so the signal hits the engine itself.
  const client = new Client({ binaryPath: engineBin });
  const id = await client.launch(createSandbox(testImage));
  const pid = client.enginePid;
  const call = client.exec("echo started; sleep 600", {
    onStdout: () => process.kill(pid, "SIGKILL"),
  });
  await assert.rejects(call, (e) => {
    assert.ok(e instanceof EngineExitedError, e.message);
    assert.equal(e.signal, "SIGKILL");
    assert.match(e.message, /killed by SIGKILL.*while exec_stream was pending/);
    assert.equal(typeof e.stderr, "string");
    return true;
  });
  await assert.rejects(client.exec("true"), EngineExitedError);
  await client.close();
  assert.ok(!runningSandboxes().includes(id), `${id} must not be running after its engine died`);
  await client.remove();
  assert.ok(!allSandboxes().includes(id), `${id} removed`);
});

test("a node program that crashes leaves no sandbox running", async () => {
  const program = `
    import { Client, createSandbox } from "matchlock-sdk";
    const client = new Client({ launchCommand: ${JSON.stringify(launchCommand)} });
    const id = await client.create(createSandbox(${JSON.stringify(testImage)}).options());
    console.log(JSON.stringify({ id, pid: client.enginePid }));
    await client.exec("echo booted");
    process.kill(process.pid, "SIGKILL");
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", program], {
    cwd: fileURLToPath(new URL("../..", import.meta.url)),
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (c) => (out += c));
  const [, signal] = await new Promise((resolve) => child.on("exit", (...args) => resolve(args)));
  assert.equal(signal, "SIGKILL");
  const { id, pid } = JSON.parse(out.trim().split("\n")[0]);
  assert.match(id, /^vm-/);
  // The engine (the recorder's child here) sees stdin EOF and stops the sandbox, then exits.
  await processGone(pid);
  const running = runningSandboxes();
  assert.ok(!running.includes(id), `${id} still running: ${running.join(" ")}`);
});

test("create errors are RPC errors and leave the client usable for close()", async () => {
  const client = recordedClient();
  try {
    await assert.rejects(client.create({ image: "matchlock/does-not-exist:latest" }), (e) => e instanceof RPCError && e.code !== RPCError.CANCELLED);
    assert.equal(client.vmId, "");
    await assert.rejects(client.exec("true"), (e) => e instanceof RPCError && e.isVMError());
  } finally {
    await client.close();
  }
});

test("named volumes through the CLI: create, list, refuse a duplicate, remove", async () => {
  const client = new Client({ binaryPath: engineBin });
  const info = await client.volumeCreate("sdk-ts-vol", 16);
  assert.equal(info.name, "sdk-ts-vol");
  assert.equal(info.size, "16.0 MB");
  assert.ok(info.path.endsWith("/sdk-ts-vol.ext4") && fs.statSync(info.path).isFile());
  assert.ok((await client.volumeList()).some((v) => v.name === "sdk-ts-vol"));
  await assert.rejects(client.volumeCreate("sdk-ts-vol", 16), (e) => e instanceof MatchlockError && /sdk-ts-vol/.test(e.message));
  await client.volumeRemove("sdk-ts-vol");
  assert.ok(!(await client.volumeList()).some((v) => v.name === "sdk-ts-vol"));
  assert.ok(!fs.existsSync(info.path));
});
