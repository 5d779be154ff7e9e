#!/usr/bin/env node
// An agent-style use of matchlock-sdk: the "model" writes a program into a sandbox, runs it,
// and reads the result back. The sandbox may only talk to one API host, and the API token is
// a secret: the guest (and so the generated code) only ever sees a placeholder, which the
// proxy replaces with the real value on requests to that host.
//
// Run: MATCHLOCK_BIN=/path/to/matchlock node agent.mjs [image]
import { Client, createSandbox } from "matchlock-sdk";

const image = process.argv[2] ?? process.env.MATCHLOCK_TEST_IMAGE ?? "matchlock/busybox:latest";
const API_TOKEN = "sk-live-0123456789abcdef"; // would come from your own secret store

// What a model might have written: count words of a document and record what token it saw.
const generatedProgram = `#!/bin/sh
set -e
words=$(wc -w < /workspace/input.txt)
printf '{"words": %s, "token_seen": "%s"}\\n' "$words" "$API_TOKEN" > /workspace/result.json
echo "analysis finished"
`;

const client = new Client();
try {
  const sandbox = createSandbox(image)
    .withMemory(256)
    .allowHost("api.example.com")
    .addSecret("API_TOKEN", API_TOKEN, "api.example.com");
  const id = await client.launch(sandbox);
  console.log(`sandbox ${id} is up`);

  await client.writeFile("/workspace/input.txt", "the quick brown fox jumps over the lazy dog\n");
  await client.writeFileMode("/workspace/analyze.sh", generatedProgram, 0o755);

  const run = await client.exec("/workspace/analyze.sh", {
    workingDir: "/workspace",
    onStdout: (chunk) => process.stdout.write(`[guest] ${chunk}`),
  });
  if (run.exitCode !== 0) throw new Error(`analysis failed (${run.exitCode}): ${run.stderr}`);

  const result = JSON.parse((await client.readFile("/workspace/result.json")).toString());
  const leaked = result.token_seen.includes(API_TOKEN);
  console.log(`words counted in the sandbox: ${result.words}`);
  console.log(`token the guest saw: ${result.token_seen}`);
  console.log(leaked ? "SECRET LEAKED into the guest" : "the guest only saw a placeholder");
  console.log(JSON.stringify({ ok: !leaked && result.words === 9, words: result.words, placeholder: result.token_seen }));
  process.exitCode = leaked ? 1 : 0;
} finally {
  await client.close();
}
