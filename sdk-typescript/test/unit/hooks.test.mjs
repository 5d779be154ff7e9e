// Network hook rules on the wire and the SDK-hosted callback socket server (reference §6).
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { connect } from "node:net";
import { test } from "node:test";
import { createSandbox } from "matchlock-sdk";
import { fakeClient, paramsOf } from "../support/fake.mjs";

/** One engine-style callback: connect, write a line, read the answer line. */
function callHook(socketPath, request) {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let data = "";
    socket.on("connect", () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on("data", (chunk) => (data += chunk));
    socket.on("end", () => resolve(JSON.parse(data)));
    socket.on("error", reject);
  });
}

test("network rules are serialized without empty fields; callback rules get ids and a socket", async () => {
  const seen = [];
  const sandbox = createSandbox("img").withNetworkInterception({
    rules: [
      { name: "strip", phase: "before", hosts: ["api.example.com"], methods: ["GET"], path: "/v1/*", deleteHeaders: ["Cookie"], setHeaders: { "X-A": "1" }, setQuery: { k: "v" }, deleteQuery: [], rewritePath: "/v2/x" },
      { phase: "after", setResponseHeaders: { "X-B": "2" }, deleteResponseHeaders: ["Server"], bodyReplacements: [{ find: "foo", replace: "bar" }] },
      {
        phase: "before",
        hosts: ["*.example.com"],
        timeoutMs: 1500,
        hook: (req) => {
          seen.push(req);
          return { action: "mutate", request: { headers: {}, query: {}, path: "/v2" }, response: { setBody: "" } };
        },
      },
      { phase: "after", hook: () => { throw new Error("hook exploded"); } },
    ],
  });
  const { client, requests } = fakeClient();
  try {
    await client.create(sandbox.options());
    const network = paramsOf(requests(), "create").network;
    const socketPath = network.interception.callback_socket;
    assert.match(socketPath, /matchlock-network-hook-.*\/hook\.sock$/);
    assert.deepEqual(network, {
      allowed_hosts: [],
      block_private_ips: true,
      intercept: true,
      interception: {
        callback_socket: socketPath,
        rules: [
          { name: "strip", phase: "before", hosts: ["api.example.com"], methods: ["GET"], path: "/v1/*", set_headers: { "X-A": "1" }, delete_headers: ["Cookie"], set_query: { k: "v" }, rewrite_path: "/v2/x" },
          { phase: "after", set_response_headers: { "X-B": "2" }, delete_response_headers: ["Server"], body_replacements: [{ find: "foo", replace: "bar" }] },
          { phase: "before", hosts: ["*.example.com"], callback_id: "network_hook_3", timeout_ms: 1500 },
          { phase: "after", callback_id: "network_hook_4" },
        ],
      },
    });

    const answer = await callHook(socketPath, {
      callback_id: "network_hook_3", phase: "before", host: "api.example.com", method: "GET", path: "/v1/models",
      query: { limit: "5" }, request_headers: { Accept: ["*/*"] },
    });
    // Empty maps and an empty body are kept: they mean "clear".
    assert.deepEqual(answer, { action: "mutate", request: { headers: {}, query: {}, path: "/v2" }, response: { set_body_base64: "" } });
    assert.deepEqual(seen[0], {
      phase: "before", host: "api.example.com", method: "GET", path: "/v1/models", statusCode: 0, isSSE: false,
      query: { limit: "5" }, requestHeaders: { Accept: ["*/*"] },
    });
    assert.deepEqual(await callHook(socketPath, { callback_id: "network_hook_9", phase: "before" }), { error: "network hook callback not found" });
    assert.deepEqual(await callHook(socketPath, { callback_id: "network_hook_3", phase: "after" }), { error: "network hook phase mismatch" });
    assert.deepEqual(await callHook(socketPath, { callback_id: "network_hook_4", phase: "after", status_code: 200 }), { error: "hook exploded" });
    await client.close();
    assert.equal(existsSync(socketPath), false, "the socket and its directory are removed at close");
  } finally {
    await client.close();
  }
});

test("a callback rule may not set a blocking action", async () => {
  const { client } = fakeClient();
  await assert.rejects(
    client.create({ image: "img", networkInterception: { rules: [{ action: "block", hook: () => undefined }] } }),
    /callback hooks cannot set action=block/,
  );
  await client.close();
});

test("a slow network hook answers a timeout error", async () => {
  const sandbox = createSandbox("img").withNetworkInterception({
    rules: [{ phase: "before", timeoutMs: 20, hook: () => new Promise(() => undefined) }],
  });
  const { client, requests } = fakeClient();
  try {
    await client.create(sandbox.options());
    const socketPath = paramsOf(requests(), "create").network.interception.callback_socket;
    assert.deepEqual(await callHook(socketPath, { callback_id: "network_hook_1", phase: "before" }), { error: "network hook callback timed out" });
  } finally {
    await client.close();
  }
});
