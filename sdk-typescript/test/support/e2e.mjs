// Shared setup of the end-to-end tests: the real engine, through the traffic recorder.
import { execFileSync } from "node:child_process";
import { Client } from "matchlock-sdk";

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (the e2e tests run through tests/sdk/typescript.sh)`);
  return value;
}

export const engineBin = required("MATCHLOCK_BIN");
export const testImage = required("MATCHLOCK_TEST_IMAGE");
required("MATCHLOCK_HOME");
/** LAUNCH + [engine, "rpc"]: every recorded line is checked against rpc-schema afterwards. */
export const launchCommand = [...JSON.parse(required("MATCHLOCK_TEST_LAUNCH")), engineBin, "rpc"];

export function recordedClient() {
  return new Client({ launchCommand });
}

/** `matchlock list --running -q`: the ids of running sandboxes. */
export function runningSandboxes() {
  return execFileSync(engineBin, ["list", "--running", "-q"], { encoding: "utf8" }).split(/\s+/).filter(Boolean);
}

/** `matchlock list -q`: every recorded sandbox. */
export function allSandboxes() {
  return execFileSync(engineBin, ["list", "-q"], { encoding: "utf8" }).split(/\s+/).filter(Boolean);
}
