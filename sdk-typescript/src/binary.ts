import { MatchlockError } from "./errors.js";
import type { BinaryLike } from "./types.js";

/** Converts user content to bytes (strings as UTF-8). */
export function toBuffer(content: BinaryLike): Buffer {
  if (typeof content === "string") return Buffer.from(content, "utf8");
  if (Buffer.isBuffer(content)) return content;
  if (content instanceof Uint8Array) return Buffer.from(content.buffer, content.byteOffset, content.byteLength);
  if (content instanceof ArrayBuffer) return Buffer.from(content);
  throw new MatchlockError(`unsupported content type: ${typeof content}`);
}

export function fromBase64(value: unknown): Buffer {
  return typeof value === "string" && value ? Buffer.from(value, "base64") : Buffer.alloc(0);
}

export function asNumber(value: unknown, fallback = 0): number {
  return typeof value === "number" && Number.isFinite(value) ? value : fallback;
}

export function asString(value: unknown, fallback = ""): string {
  return typeof value === "string" ? value : fallback;
}

export function asStringArray(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
}
