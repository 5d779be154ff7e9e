export { Client, defaultConfig, listSandboxes } from "./client.js";
export { Sandbox, createSandbox } from "./builder.js";
export { Process } from "./process.js";
export {
  EngineExitedError,
  EngineNotFoundError,
  MatchlockError,
  RPCError,
  TimeoutError,
  ValidationError,
} from "./errors.js";
export type { MatchlockErrorOptions } from "./errors.js";
export { parsePortForwardSpec } from "./port-forward.js";
export { VERSION } from "./version.js";
export * from "./constants.js";
export type { ResolvedConfig } from "./config.js";
export type * from "./types.js";
