import { accessSync, constants, statSync } from "node:fs";
import { delimiter, isAbsolute, join } from "node:path";
import { EngineNotFoundError, ValidationError } from "./errors.js";
import type { Config } from "./types.js";

/** A config with every field filled in; `binaryPath` is what discovery will try first. */
export interface ResolvedConfig {
  binaryPath: string;
  useSudo: boolean;
  launchCommand: string[] | undefined;
}

const NOT_FOUND =
  "matchlock engine not found: set Config.binaryPath, the MATCHLOCK_BIN environment variable, " +
  "or put matchlock on PATH";

/**
 * Fills in a config the way the client will use it: `binaryPath` from the option, else env
 * `MATCHLOCK_BIN`, else `"matchlock"` (looked up on PATH when the engine starts).
 */
export function defaultConfig(config: Config = {}): ResolvedConfig {
  if (config.launchCommand !== undefined) {
    if (
      !Array.isArray(config.launchCommand) ||
      config.launchCommand.length === 0 ||
      config.launchCommand.some((arg) => typeof arg !== "string" || arg === "")
    ) {
      throw new ValidationError("launchCommand", "must be a non-empty array of non-empty strings");
    }
  }
  return {
    binaryPath: config.binaryPath || process.env.MATCHLOCK_BIN || "matchlock",
    useSudo: config.useSudo ?? false,
    launchCommand: config.launchCommand ? [...config.launchCommand] : undefined,
  };
}

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Finds the engine binary for `config`, or throws {@link EngineNotFoundError}. */
export function findEngineBinary(config: ResolvedConfig): string {
  const candidate = config.binaryPath;
  if (candidate.includes("/") || isAbsolute(candidate)) {
    if (isExecutableFile(candidate)) return candidate;
    throw new EngineNotFoundError(`${NOT_FOUND} (${candidate} is not an executable file)`);
  }
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const full = join(dir, candidate);
    if (isExecutableFile(full)) return full;
  }
  throw new EngineNotFoundError(NOT_FOUND);
}

/** The argv that starts `matchlock rpc` (plus `--attach ID` when attaching). */
export function engineArgv(config: ResolvedConfig, attachTo?: string): string[] {
  const attach = attachTo ? ["--attach", attachTo] : [];
  if (config.launchCommand) return [...config.launchCommand, ...attach];
  const binary = findEngineBinary(config);
  const base = config.useSudo ? ["sudo", binary, "rpc"] : [binary, "rpc"];
  return [...base, ...attach];
}

/** The argv prefix for out-of-band CLI calls (`rm`, `volume …`); never via sudo. */
export function cliBinary(config: ResolvedConfig): string {
  return findEngineBinary(config);
}
