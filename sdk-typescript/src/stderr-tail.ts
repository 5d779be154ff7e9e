/** Keeps the last `limit` bytes of a stream (the engine's stderr) for error messages. */
export class StderrTail {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit = 8192) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - this.chunks[0]!.length >= this.limit) {
      this.size -= this.chunks.shift()!.length;
    }
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.limit)).toString("utf8");
  }

  /** The last non-empty line, for a one-line error message. */
  lastLine(): string {
    const lines = this.text().split("\n").map((line) => line.trim());
    for (let i = lines.length - 1; i >= 0; i--) {
      if (lines[i]) return lines[i]!;
    }
    return "";
  }
}
