// Type-checked (tsc --noEmit) against the installed package: the CommonJS entry and its types.
import sdk = require("matchlock-sdk");

export async function run(): Promise<number> {
  const client = new sdk.Client();
  const options: sdk.CreateOptions = sdk.createSandbox("alpine:latest").withMemory(256).options();
  await client.create(options);
  const result: sdk.ExecStreamResult = await client.execStream("true", { stdout: process.stdout });
  await client.close();
  return result.exitCode;
}
