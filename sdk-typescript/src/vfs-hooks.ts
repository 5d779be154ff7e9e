import { toBuffer } from "./binary.js";
import { VFS_HOOK_ACTION_ALLOW, VFS_HOOK_ACTION_BLOCK, VFS_HOOK_PHASE_AFTER, VFS_HOOK_PHASE_BEFORE } from "./constants.js";
import { MatchlockError, ValidationError } from "./errors.js";
import { globMatch } from "./glob.js";
import type { Client } from "./client.js";
import type {
  VFSActionHookFunc,
  VFSDangerousHookFunc,
  VFSHookEvent,
  VFSHookFunc,
  VFSHookRule,
  VFSInterceptionConfig,
  VFSMutateHookFunc,
} from "./types.js";

/** `vfs.interception` as sent to the engine. */
export interface WireVFSInterception {
  emit_events?: boolean;
  rules?: Array<Record<string, unknown>>;
}

interface Matcher {
  name: string;
  ops: Set<string>;
  path: string;
}

interface AfterHook extends Matcher {
  dangerous: boolean;
  run: (client: Client, event: VFSHookEvent) => void | Promise<void>;
}

interface MutateHook extends Matcher {
  run: VFSMutateHookFunc;
}

interface ActionHook extends Matcher {
  run: VFSActionHookFunc;
}

/** The VFS rules split into what the engine enforces and what runs in this process. */
export interface CompiledVFSHooks {
  wire: WireVFSInterception | undefined;
  local: LocalVFSHooks;
}

function matcherOf(rule: VFSHookRule, index: number): Matcher {
  return {
    name: rule.name || `vfs_hook_${index + 1}`,
    ops: new Set((rule.ops ?? []).map((op) => op.toLowerCase())),
    path: rule.path ?? "",
  };
}

function matches(matcher: Matcher, op: string, path: string): boolean {
  return (matcher.ops.size === 0 || matcher.ops.has(op)) && globMatch(matcher.path, path);
}

/** Splits VFS rules into wire rules and local callbacks (reference behaviour, §5.2). */
export function compileVFSHooks(config: VFSInterceptionConfig | undefined): CompiledVFSHooks {
  const local = new LocalVFSHooks();
  if (!config) return { wire: undefined, local };
  const wireRules: Array<Record<string, unknown>> = [];
  let emitEvents = config.emitEvents === true;

  (config.rules ?? []).forEach((rule, index) => {
    const where = `vfsInterception.rules[${index}]`;
    const phase = (rule.phase ?? "").toLowerCase();
    const action = (rule.action ?? "").toLowerCase();
    const callbacks = [rule.hook, rule.dangerousHook, rule.mutateHook, rule.actionHook].filter(
      (callback) => callback !== undefined,
    );
    if (callbacks.length > 1) {
      throw new ValidationError(where, "a rule can have at most one of hook, dangerousHook, mutateHook, actionHook");
    }
    if (phase && phase !== VFS_HOOK_PHASE_BEFORE && phase !== VFS_HOOK_PHASE_AFTER) {
      throw new ValidationError(`${where}.phase`, `unknown phase "${rule.phase}"`);
    }
    if (callbacks.length === 1) {
      if (action && action !== VFS_HOOK_ACTION_ALLOW) {
        throw new ValidationError(`${where}.action`, `callback hooks cannot set action=${rule.action}`);
      }
      const matcher = matcherOf(rule, index);
      if (rule.hook || rule.dangerousHook) {
        if (phase !== VFS_HOOK_PHASE_AFTER) {
          throw new ValidationError(`${where}.phase`, "hook and dangerousHook run after the operation: set phase \"after\"");
        }
        const hook = rule.hook as VFSHookFunc | undefined;
        const dangerous = rule.dangerousHook as VFSDangerousHookFunc | undefined;
        local.after.push({
          ...matcher,
          dangerous: dangerous !== undefined,
          run: dangerous ?? ((_client, event) => hook!(event)),
        });
        // After-hooks are fed by file events, so the engine must emit them.
        emitEvents = true;
      } else {
        if (phase === VFS_HOOK_PHASE_AFTER) {
          throw new ValidationError(`${where}.phase`, "mutateHook and actionHook run before the operation");
        }
        if (rule.mutateHook) local.mutate.push({ ...matcher, run: rule.mutateHook });
        if (rule.actionHook) local.action.push({ ...matcher, run: rule.actionHook });
      }
      return;
    }
    if (action === "mutate_write") {
      throw new ValidationError(`${where}.action`, "mutate_write needs a mutateHook");
    }
    const wire: Record<string, unknown> = {};
    if (rule.name) wire.name = rule.name;
    if (rule.phase) wire.phase = rule.phase;
    if (rule.ops && rule.ops.length > 0) wire.ops = [...rule.ops];
    if (rule.path) wire.path = rule.path;
    if (rule.action) wire.action = rule.action;
    if (rule.timeoutMs && rule.timeoutMs > 0) wire.timeout_ms = rule.timeoutMs;
    wireRules.push(wire);
  });

  if (wireRules.length === 0 && !emitEvents) return { wire: undefined, local };
  const wire: WireVFSInterception = {};
  if (emitEvents) wire.emit_events = true;
  if (wireRules.length > 0) wire.rules = wireRules;
  return { wire, local };
}

function hostIds(): { uid: number; gid: number } {
  return {
    uid: typeof process.geteuid === "function" ? process.geteuid() : 0,
    gid: typeof process.getegid === "function" ? process.getegid() : 0,
  };
}

/** The local VFS callbacks of one sandbox. */
export class LocalVFSHooks {
  readonly after: AfterHook[] = [];
  readonly mutate: MutateHook[] = [];
  readonly action: ActionHook[] = [];
  /** Safe after-hooks do not run while another safe hook run is active (no feedback loops). */
  private safeRunActive = false;

  get isEmpty(): boolean {
    return this.after.length === 0 && this.mutate.length === 0 && this.action.length === 0;
  }

  /** Runs the after-hooks matching a guest file event. Errors in hooks are swallowed. */
  async onFileEvent(client: Client, event: VFSHookEvent): Promise<void> {
    const matching = this.after.filter((hook) => matches(hook, event.op.toLowerCase(), event.path));
    if (matching.length === 0) return;
    const dangerous = matching.filter((hook) => hook.dangerous);
    const safe = this.safeRunActive ? [] : matching.filter((hook) => !hook.dangerous);
    if (safe.length > 0) this.safeRunActive = true;
    try {
      for (const hook of [...safe, ...dangerous]) {
        try {
          await hook.run(client, { ...event });
        } catch {
          // An after-hook observes; its failure must not break the event stream.
        }
      }
    } finally {
      if (safe.length > 0) this.safeRunActive = false;
    }
  }

  /** Action hooks before the SDK's own file calls; `block` refuses the call. */
  async checkAction(op: string, path: string, size: number, mode: number): Promise<void> {
    for (const hook of this.action) {
      if (!matches(hook, op, path)) continue;
      const decision = await hook.run({ op, path, size, mode, ...hostIds() });
      if (String(decision).toLowerCase() === VFS_HOOK_ACTION_BLOCK) {
        throw new MatchlockError(`${op} ${path} blocked by VFS hook ${hook.name}`);
      }
    }
  }

  /** Mutate hooks before the SDK's own `writeFile`: each may replace the bytes. */
  async mutateWrite(path: string, content: Buffer, mode: number): Promise<Buffer> {
    let data = content;
    for (const hook of this.mutate) {
      if (!matches(hook, "write", path)) continue;
      const replaced = await hook.run({ path, size: data.length, mode, ...hostIds() });
      if (replaced !== null && replaced !== undefined) data = toBuffer(replaced);
    }
    return data;
  }
}
