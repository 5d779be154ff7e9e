// Helpers for unit tests that drive the SDK against test/support/fake-engine.mjs.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "matchlock-sdk";

export const fakeEnginePath = fileURLToPath(new URL("./fake-engine.mjs", import.meta.url));

// Each fake engine logs into a directory of its own; all of them go when the test file's
// process exits.
const logDirs = [];
process.once("exit", () => {
  for (const dir of logDirs) rmSync(dir, { recursive: true, force: true });
});

/** A client on a fresh fake engine; `requests()` returns what the engine received so far. */
export function fakeClient(mode = undefined) {
  const dir = mkdtempSync(join(tmpdir(), "matchlock-sdk-fake-"));
  logDirs.push(dir);
  const log = join(dir, "requests.jsonl");
  const launchCommand = [process.execPath, fakeEnginePath, log, ...(mode ? [JSON.stringify(mode)] : [])];
  const client = new Client({ launchCommand });
  const requests = () =>
    existsSync(log)
      ? readFileSync(log, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line))
      : [];
  return { client, requests, log, launchCommand };
}

/** The params of the first recorded request with this method. */
export function paramsOf(requests, method) {
  const found = requests.find((r) => r.method === method);
  if (!found) throw new Error(`no ${method} request recorded`);
  return found.params;
}
