import { execFile } from "node:child_process";
import { MatchlockError } from "./errors.js";

export interface CLIResult {
  stdout: string;
  stderr: string;
}

/** Runs `<binary> args…` (out-of-band CLI calls: `rm`, `volume …`). */
export function runCLI(binary: string, args: string[]): Promise<CLIResult> {
  return new Promise((resolve, reject) => {
    execFile(binary, args, { maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) {
        const detail = (stderr || stdout || error.message).trim();
        reject(new MatchlockError(`matchlock ${args.join(" ")}: ${detail}`, { stderr, cause: error }));
        return;
      }
      resolve({ stdout, stderr });
    });
  });
}

/** True when a CLI failure says the subcommand does not exist in this engine. */
export function isUnknownCommand(error: unknown, command: string): boolean {
  return error instanceof MatchlockError && (error.stderr ?? "").includes(`unknown command "${command}"`);
}
