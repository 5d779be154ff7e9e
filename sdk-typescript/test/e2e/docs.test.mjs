// Runs the code of docs/sdk-typescript.md and examples/typescript/agent.mjs from the installed
// package. ```js blocks are complete programs; ```js snippet blocks run in order inside one
// program that provides `client` (a started sandbox), each reported as its own subtest.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { testImage } from "../support/e2e.mjs";

const repo = process.env.MATCHLOCK_SDK_REPO;
assert.ok(repo, "MATCHLOCK_SDK_REPO must point at the repository");
const projectDir = fileURLToPath(new URL("../..", import.meta.url));
const markdown = readFileSync(join(repo, "docs/sdk-typescript.md"), "utf8");

function blocks(info) {
  const found = [];
  const fence = /^```([^\n]*)\n([\s\S]*?)^```$/gm;
  for (let m = fence.exec(markdown); m; m = fence.exec(markdown)) {
    if (m[1].trim() === info) found.push(m[2].replaceAll("matchlock/busybox:latest", testImage));
  }
  return found;
}

/** Runs a module in the test project (so `matchlock-sdk` resolves to the installed package). */
function runModule(name, source) {
  const dir = mkdtempSync(join(projectDir, ".docs-"));
  const file = join(dir, name);
  writeFileSync(file, source);
  return new Promise((resolve) => {
    // The bound only guards against a hung program; normal runs end by themselves.
    execFile(process.execPath, [file], { cwd: projectDir, timeout: 180000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (error.code ?? error.signal) : 0, stdout, stderr }),
    );
  }).finally(() => rmSync(dir, { recursive: true, force: true }));
}

const programs = blocks("js");
assert.ok(programs.length >= 3, "the docs have complete programs");
programs.forEach((source, index) => {
  test(`docs program ${index + 1}: ${source.split("\n").find((l) => l.startsWith("  await client.") || l.startsWith("const client"))?.trim()}`, async () => {
    const result = await runModule(`program-${index + 1}.mjs`, source);
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
  });
});

test("docs snippets (one sandbox, each snippet in order)", async (t) => {
  const snippets = blocks("js snippet");
  assert.ok(snippets.length >= 10, "the feature tour has snippets");
  const imports = new Map([["matchlock-sdk", new Set(["Client", "createSandbox"])]]);
  const bodies = snippets.map((snippet) =>
    snippet
      .split("\n")
      .filter((line) => {
        const m = /^import\s+\{([^}]*)\}\s+from\s+"([^"]+)";?\s*$/.exec(line);
        if (!m) return true;
        const names = imports.get(m[2]) ?? new Set();
        for (const name of m[1].split(",")) if (name.trim()) names.add(name.trim());
        imports.set(m[2], names);
        return false;
      })
      .join("\n"),
  );
  const header = [...imports].map(([mod, names]) => `import { ${[...names].join(", ")} } from ${JSON.stringify(mod)};`);
  const program = [
    ...header,
    `const client = new Client();`,
    `const results = [];`,
    `try {`,
    `  await client.launch(createSandbox(${JSON.stringify(testImage)}));`,
    ...bodies.map(
      (body, i) =>
        `  try {\n${body}\n    results.push({ index: ${i}, ok: true });\n  } catch (error) {\n    results.push({ index: ${i}, ok: false, error: String(error && error.stack || error) });\n  }`,
    ),
    `} finally {`,
    `  await client.close();`,
    `  console.log("SNIPPET-RESULTS " + JSON.stringify(results));`,
    `}`,
  ].join("\n");
  const run = await runModule("snippets.mjs", program);
  const line = run.stdout.split("\n").find((l) => l.startsWith("SNIPPET-RESULTS "));
  assert.ok(line, `no results:\n${run.stdout}\n${run.stderr}`);
  const results = JSON.parse(line.slice("SNIPPET-RESULTS ".length));
  assert.equal(results.length, snippets.length);
  for (const result of results) {
    const first = snippets[result.index].split("\n").find((l) => l.trim() && !l.startsWith("import") && !l.startsWith("//")) ?? "";
    await t.test(`snippet ${result.index + 1}: ${first.trim().slice(0, 70)}`, () => {
      assert.ok(result.ok, result.error);
    });
  }
});

test("examples/typescript/agent.mjs: runs the generated program; the guest only sees the placeholder", async () => {
  const source = readFileSync(join(repo, "examples/typescript/agent.mjs"), "utf8");
  const result = await runModule("agent.mjs", source);
  assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
  const summary = JSON.parse(result.stdout.trim().split("\n").at(-1));
  assert.equal(summary.ok, true);
  assert.equal(summary.words, 9);
  assert.match(summary.placeholder, /^SANDBOX_SECRET_[0-9a-f]{32}$/);
  assert.match(result.stdout, /\[guest\] analysis finished/);
});
