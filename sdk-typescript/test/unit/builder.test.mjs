// The builder and create(): exact `create` params (reference §4.4), validation before spawn.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createSandbox, Sandbox, ValidationError } from "matchlock-sdk";
import { fakeClient, paramsOf } from "../support/fake.mjs";

const RESOURCES = { cpus: 1, memory_mb: 512, disk_size_mb: 5120, timeout_seconds: 300 };

async function createParams(sandbox, mode) {
  const { client, requests } = fakeClient(mode);
  try {
    assert.equal(await client.create(sandbox.options()), "vm-fake0001");
    return { create: paramsOf(requests(), "create"), requests: requests() };
  } finally {
    await client.close();
  }
}

test("minimal sandbox sends image and all four resource defaults", async () => {
  const { create } = await createParams(createSandbox("alpine:latest"));
  assert.deepEqual(create, { image: "alpine:latest", resources: RESOURCES });
});

test("resources, privileged, env, image config are sent as given", async () => {
  const sandbox = new Sandbox("img")
    .withCPUs(2.5)
    .withMemory(1024)
    .withDiskSize(2048)
    .withTimeout(60)
    .withPrivileged()
    .withEnv("A", "1")
    .withEnvMap({ B: "2" })
    .withUser("1000:1000")
    .withEntrypoint()
    .withImageConfig({ workingDir: "/app", cmd: ["run"], env: { K: "V" } });
  const { create } = await createParams(sandbox);
  assert.deepEqual(create, {
    image: "img",
    resources: { cpus: 2.5, memory_mb: 1024, disk_size_mb: 2048, timeout_seconds: 60 },
    privileged: true,
    env: { A: "1", B: "2" },
    image_config: { user: "1000:1000", working_dir: "/app", entrypoint: [], cmd: ["run"], env: { K: "V" } },
  });
});

test("network object matches the reference example", async () => {
  const sandbox = createSandbox("img")
    .allowHost("api.openai.com")
    .addHost("api.internal", "10.0.0.10")
    .withDNSServers("1.1.1.1")
    .withHostname("sandbox")
    .withNetworkMTU(1200);
  const { create } = await createParams(sandbox);
  assert.deepEqual(create.network, {
    allowed_hosts: ["api.openai.com"],
    add_hosts: [{ host: "api.internal", ip: "10.0.0.10" }],
    block_private_ips: true,
    dns_servers: ["1.1.1.1"],
    hostname: "sandbox",
    mtu: 1200,
  });
});

test("forced interception only", async () => {
  const { create } = await createParams(createSandbox("img").withNetworkInterception());
  assert.deepEqual(create.network, { allowed_hosts: [], block_private_ips: true, intercept: true });
});

test("private IPs: allow sends false, unset goes back to no network object", async () => {
  assert.deepEqual((await createParams(createSandbox("img").allowPrivateIPs())).create.network, {
    allowed_hosts: [],
    block_private_ips: false,
  });
  const reset = createSandbox("img").allowPrivateIPs().unsetBlockPrivateIPs();
  assert.equal((await createParams(reset)).create.network, undefined);
});

test("secrets become {NAME: {value, hosts}}", async () => {
  const { create } = await createParams(createSandbox("img").addSecret("TOKEN", "s3cret", "api.example.com"));
  assert.deepEqual(create.network, {
    allowed_hosts: [],
    block_private_ips: true,
    secrets: { TOKEN: { value: "s3cret", hosts: ["api.example.com"] } },
  });
});

test("no-network form never carries block_private_ips", async () => {
  const sandbox = createSandbox("img").withNoNetwork().addHost("db", "10.0.0.2").withHostname("h");
  const { create } = await createParams(sandbox);
  assert.deepEqual(create.network, { no_network: true, add_hosts: [{ host: "db", ip: "10.0.0.2" }], hostname: "h" });
});

test("mounts and workspace", async () => {
  const sandbox = createSandbox("img")
    .withWorkspace("/workspace")
    .mountMemory("/workspace/tmp")
    .mountHostDir("/workspace/rw", "/srv/rw")
    .mountHostDirReadonly("/workspace/ro", "/srv/ro")
    .mountOverlay("/workspace/ov", "/srv/ov")
    .mount("/workspace/default", {});
  const { create } = await createParams(sandbox);
  assert.deepEqual(create.vfs, {
    workspace: "/workspace",
    mounts: {
      "/workspace/tmp": { type: "memory" },
      "/workspace/rw": { type: "host_fs", host_path: "/srv/rw" },
      "/workspace/ro": { type: "host_fs", host_path: "/srv/ro", readonly: true },
      "/workspace/ov": { type: "overlay", host_path: "/srv/ov" },
      "/workspace/default": { type: "memory" },
    },
  });
});

test("a single after-hook yields interception {emit_events: true} and no rules", async () => {
  const sandbox = createSandbox("img").withVFSInterception({
    rules: [{ phase: "after", ops: ["write"], path: "/workspace/*", hook: () => undefined }],
  });
  const { create } = await createParams(sandbox);
  assert.deepEqual(create.vfs, { interception: { emit_events: true } });
});

test("wire rules are sent, local callbacks are not", async () => {
  const sandbox = createSandbox("img").withVFSInterception({
    rules: [
      { name: "deny", phase: "before", ops: ["create"], path: "/workspace/blocked/*", action: "block", timeoutMs: 100 },
      { phase: "before", ops: ["write"], mutateHook: () => "x" },
      { phase: "before", ops: ["read"], actionHook: () => "allow" },
    ],
  });
  const { create } = await createParams(sandbox);
  assert.deepEqual(create.vfs, {
    interception: {
      rules: [{ name: "deny", phase: "before", ops: ["create"], path: "/workspace/blocked/*", action: "block", timeout_ms: 100 }],
    },
  });
});

test("launch() adds launch_entrypoint", async () => {
  const { client, requests } = fakeClient();
  try {
    await client.launch(createSandbox("img"));
    assert.equal(paramsOf(requests(), "create").launch_entrypoint, true);
  } finally {
    await client.close();
  }
});

test("options() is a deep copy", () => {
  const sandbox = createSandbox("img").allowHost("a");
  const copy = sandbox.options();
  copy.allowedHosts.push("b");
  assert.deepEqual(sandbox.options().allowedHosts, ["a"]);
});

test("port forwards follow create with the exact port_forward params", async () => {
  const sandbox = createSandbox("img").withPortForward(8080, 8080).withPortForward(18081, 81).withPortForwardAddresses("127.0.0.1");
  const { requests } = await createParams(sandbox);
  assert.deepEqual(paramsOf(requests, "port_forward"), {
    forwards: [
      { local_port: 8080, remote_port: 8080 },
      { local_port: 18081, remote_port: 81 },
    ],
    addresses: ["127.0.0.1"],
  });
});

test("a failing port forward after create still leaves vmId set", async () => {
  const { client } = fakeClient({ failPortForward: true });
  try {
    await assert.rejects(client.create(createSandbox("img").withPortForward(8080, 80).options()), /address already in use/);
    assert.equal(client.vmId, "vm-fake0001");
  } finally {
    await client.close();
  }
});

test("invalid input raises ValidationError naming the option, before anything is spawned", async () => {
  assert.throws(() => createSandbox("img").withCPUs(0), (e) => e instanceof ValidationError && e.option === "cpus");
  assert.throws(() => createSandbox("img").withPortForward(0, 80), (e) => e instanceof ValidationError && e.option === "portForward");
  assert.throws(() => createSandbox("img").addHost("bad host", "1.2.3.4"), (e) => e.option === "addHosts");
  assert.throws(() => createSandbox(""), (e) => e.option === "image");
  const { client, requests } = fakeClient();
  await assert.rejects(
    client.create(createSandbox("img").withNoNetwork().allowHost("x").options()),
    (e) => e instanceof ValidationError && e.option === "noNetwork",
  );
  await assert.rejects(
    client.create({ image: "img", vfsInterception: { rules: [{ phase: "before", hook: () => undefined }] } }),
    (e) => e instanceof ValidationError && /phase/.test(e.option),
  );
  await assert.rejects(
    client.create({ image: "img", vfsInterception: { rules: [{ action: "mutate_write" }] } }),
    (e) => e instanceof ValidationError,
  );
  assert.equal(client.enginePid, undefined, "no engine was started");
  assert.deepEqual(requests(), []);
  await client.close();
});
