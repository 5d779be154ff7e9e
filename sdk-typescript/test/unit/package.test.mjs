// The installed package: ESM import and CJS require expose the same API, and a TypeScript
// consumer of both type-checks.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import * as esm from "matchlock-sdk";

test("require() and import give the same public names", () => {
  const cjs = createRequire(import.meta.url)("matchlock-sdk");
  assert.deepEqual(Object.keys(cjs).sort(), Object.keys(esm).sort());
  for (const name of ["Client", "Sandbox", "createSandbox", "defaultConfig", "listSandboxes", "Process", "MatchlockError", "RPCError", "EngineNotFoundError", "EngineExitedError", "ValidationError", "TimeoutError", "VERSION"]) {
    assert.ok(name in esm, `${name} exported`);
  }
  assert.equal(typeof cjs.Client, "function");
  assert.notEqual(cjs.Client, esm.Client, "the CJS build is its own copy (dual package)");
});

test("a TypeScript consumer of the ESM and CJS entries type-checks", async () => {
  const tsc = process.env.MATCHLOCK_SDK_TSC;
  assert.ok(tsc, "MATCHLOCK_SDK_TSC must name the SDK's pinned tsc (set by tests/sdk/typescript.sh)");
  const project = fileURLToPath(new URL("../consumer/tsconfig.json", import.meta.url));
  const output = await new Promise((resolve) =>
    execFile(tsc, ["-p", project], (error, stdout, stderr) => resolve({ code: error ? error.code : 0, text: stdout + stderr })),
  );
  assert.equal(output.code, 0, output.text);
});
