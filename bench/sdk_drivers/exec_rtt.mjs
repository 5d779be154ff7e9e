// Times sequential exec("true") calls through the TypeScript SDK for bench/sdk.py: prints one
// JSON line {"seconds": [...]}. Reads MATCHLOCK_BIN, BENCH_IMAGE, BENCH_EXECS and BENCH_WARMUP.
// Uses the SDK built in sdk-typescript/dist (npm ci && npm run build there).
import { performance } from "node:perf_hooks";
import { Client, Sandbox } from "../../sdk-typescript/dist/esm/index.js";

const execs = Number(process.env.BENCH_EXECS ?? 100);
const warmup = Number(process.env.BENCH_WARMUP ?? 5);
const client = new Client();
try {
  await client.create(new Sandbox(process.env.BENCH_IMAGE).options());
  for (let i = 0; i < warmup; i++) await client.exec("true");
  const seconds = [];
  for (let i = 0; i < execs; i++) {
    const start = performance.now();
    const r = await client.exec("true");
    seconds.push((performance.now() - start) / 1000);
    if (r.exitCode !== 0) throw new Error(`exec true: exit ${r.exitCode}`);
  }
  console.log(JSON.stringify({ seconds }));
} finally {
  await client.close();
}
