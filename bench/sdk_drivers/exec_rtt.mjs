// Times sequential exec("true") and version() calls through the TypeScript SDK for bench/sdk.py:
// prints one JSON line {"exec": [...], "version": [...]} (seconds per call). Reads MATCHLOCK_BIN, BENCH_IMAGE, BENCH_EXECS and BENCH_WARMUP.
// Uses the SDK built in sdk-typescript/dist (npm ci && npm run build there).
import { performance } from "node:perf_hooks";
import { Client, Sandbox } from "../../sdk-typescript/dist/esm/index.js";

const execs = Number(process.env.BENCH_EXECS ?? 100);
const warmup = Number(process.env.BENCH_WARMUP ?? 5);
const client = new Client();
try {
  await client.create(new Sandbox(process.env.BENCH_IMAGE).options());
  for (let i = 0; i < warmup; i++) await client.exec("true");
  const exec = [];
  for (let i = 0; i < execs; i++) {
    const start = performance.now();
    const r = await client.exec("true");
    exec.push((performance.now() - start) / 1000);
    if (r.exitCode !== 0) throw new Error(`exec true: exit ${r.exitCode}`);
  }
  const version = [];
  for (let i = 0; i < execs; i++) {
    const start = performance.now();
    await client.version();
    version.push((performance.now() - start) / 1000);
  }
  console.log(JSON.stringify({ exec, version }));
} finally {
  await client.close();
}
