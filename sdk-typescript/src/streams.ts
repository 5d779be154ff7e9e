import { toBuffer } from "./binary.js";
import type { BinaryLike, StreamReader, StreamWriter } from "./types.js";

/** Delivers one output chunk to a writable stream or a callback. */
export function writeChunk(writer: StreamWriter | undefined, chunk: Buffer): void {
  if (!writer) return;
  if (typeof writer === "function") {
    // A callback's rejection must not become an unhandled rejection of the SDK.
    void Promise.resolve()
      .then(() => writer(chunk))
      .catch(() => undefined);
    return;
  }
  writer.write(chunk);
}

/** Iterates any supported stdin source as byte chunks. */
export async function* readChunks(source: StreamReader): AsyncGenerator<Buffer> {
  const iterable = source as AsyncIterable<BinaryLike> | Iterable<BinaryLike>;
  if (typeof (iterable as AsyncIterable<BinaryLike>)[Symbol.asyncIterator] === "function") {
    for await (const chunk of iterable as AsyncIterable<BinaryLike>) yield toBuffer(chunk);
    return;
  }
  if (typeof (iterable as Iterable<BinaryLike>)[Symbol.iterator] === "function" && typeof source !== "string") {
    for (const chunk of iterable as Iterable<BinaryLike>) yield toBuffer(chunk);
    return;
  }
  throw new TypeError("stdin must be a readable stream or an (async) iterable of chunks");
}
