// Type-checked (tsc --noEmit) against the installed package: the ESM entry and its types.
import { Client, createSandbox, RPCError, VERSION } from "matchlock-sdk";
import type { ExecResult, FileStat, MatchlockEvent, Process } from "matchlock-sdk";

export async function run(): Promise<string> {
  const client = new Client({ launchCommand: ["matchlock", "rpc"] });
  await client.launch(createSandbox("alpine:latest").withCPUs(1).allowHost("example.com"));
  const result: ExecResult = await client.exec("echo hi", { onStdout: (chunk: Buffer) => chunk.length });
  const info: FileStat | null = await client.stat("/");
  const proc: Process = await client.spawn("cat");
  proc.stdin.end("x");
  for await (const chunk of proc.stdout) void (chunk as Buffer);
  client.onEvent((event: MatchlockEvent) => event.type);
  const code: number = RPCError.CANCELLED;
  await client.close();
  return `${VERSION} ${result.stdout} ${info?.isDir} ${code}`;
}
