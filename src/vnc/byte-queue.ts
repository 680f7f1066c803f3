/**
 * Incoming bytes not yet parsed: the chunks as they arrived, read from the
 * front. The reader takes whole messages; a partial one stays queued.
 */
export class ByteQueue {
  #chunks: Buffer[] = [];
  #offset = 0; // into chunks[0]
  #length = 0;

  get length(): number { return this.#length; }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  /** The first n bytes (n ≤ length), without consuming them; a view when they sit in one chunk. */
  peek(n: number): Buffer {
    const first = this.#chunks[0]!;
    if (first.length - this.#offset >= n) return first.subarray(this.#offset, this.#offset + n);
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    let off = this.#offset;
    for (const c of this.#chunks) {
      const take = Math.min(n - filled, c.length - off);
      c.copy(out, filled, off, off + take);
      filled += take;
      off = 0;
      if (filled === n) break;
    }
    return out;
  }

  /** Drop the first n bytes (n ≤ length). */
  skip(n: number): void {
    this.#length -= n;
    while (n > 0) {
      const first = this.#chunks[0]!;
      const left = first.length - this.#offset;
      if (n < left) { this.#offset += n; return; }
      n -= left;
      this.#chunks.shift();
      this.#offset = 0;
    }
  }

  /** Take (peek and drop) the first n bytes; use them before the next push. */
  take(n: number): Buffer {
    const out = this.peek(n);
    this.skip(n);
    return out;
  }

  clear(): void {
    this.#chunks = [];
    this.#offset = 0;
    this.#length = 0;
  }
}
