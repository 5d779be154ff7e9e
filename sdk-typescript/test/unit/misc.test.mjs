// Version, port-forward spec parsing, error classes.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { test } from "node:test";
import { MatchlockError, parsePortForwardSpec, RPCError, ValidationError, VERSION, VFS_HOOK_OP_WRITE, FILE_MODE_DIR } from "matchlock-sdk";

const repo = process.env.MATCHLOCK_SDK_REPO;

test("the package version equals the repo's VERSION file", () => {
  assert.ok(repo, "MATCHLOCK_SDK_REPO must point at the repository (set by tests/sdk/typescript.sh)");
  const expected = readFileSync(`${repo}/VERSION`, "utf8").trim();
  assert.equal(VERSION, expected);
  const require = createRequire(import.meta.url);
  assert.equal(require("matchlock-sdk/package.json").version, expected);
});

test("port-forward specs", () => {
  assert.deepEqual(parsePortForwardSpec("8080"), { localPort: 8080, remotePort: 8080 });
  assert.deepEqual(parsePortForwardSpec("18081:81"), { localPort: 18081, remotePort: 81 });
  for (const bad of ["0", "70000", "a:1", "1:2:3", "", "-1"]) {
    assert.throws(() => parsePortForwardSpec(bad), ValidationError, bad);
  }
});

test("RPCError statics and helpers", () => {
  assert.deepEqual(
    [RPCError.PARSE_ERROR, RPCError.INVALID_REQUEST, RPCError.METHOD_NOT_FOUND, RPCError.INVALID_PARAMS, RPCError.INTERNAL_ERROR, RPCError.VM_FAILED, RPCError.EXEC_FAILED, RPCError.FILE_FAILED, RPCError.CANCELLED],
    [-32700, -32600, -32601, -32602, -32603, -32000, -32001, -32002, -32003],
  );
  const err = new RPCError(-32000, "VM not created");
  assert.ok(err instanceof MatchlockError && err instanceof Error);
  assert.equal(err.name, "RPCError");
  assert.equal(err.rpcMessage, "VM not created");
  assert.ok(err.isVMError());
});

test("constants", () => {
  assert.equal(VFS_HOOK_OP_WRITE, "write");
  assert.equal(FILE_MODE_DIR, 2 ** 31);
});
