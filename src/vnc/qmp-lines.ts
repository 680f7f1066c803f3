/**
 * Splits a byte stream into newline-terminated lines (QMP sends one JSON
 * object per line, ending in "\r\n"), holding at most `maxLineBytes` of an
 * unfinished line: the length is checked before the bytes are kept.
 */

/** A line longer than the limit: the stream cannot be trusted further. */
export class LineTooLongError extends Error {
  constructor(readonly limit: number) {
    super(`A line longer than ${limit} bytes arrived.`);
    this.name = 'LineTooLongError';
  }
}

const NEWLINE = 0x0a;

export class LineSplitter {
  readonly #maxLineBytes: number;
  readonly #decoder = new TextDecoder();
  #parts: Uint8Array[] = [];
  #partBytes = 0;

  constructor(maxLineBytes: number) {
    if (!Number.isSafeInteger(maxLineBytes) || maxLineBytes < 1) throw new RangeError(`LineSplitter: maxLineBytes must be a positive integer, got ${maxLineBytes}`);
    this.#maxLineBytes = maxLineBytes;
  }

  /** Bytes of the unfinished line held now. */
  get buffered(): number {
    return this.#partBytes;
  }

  /**
   * Feed a chunk (borrowed: only what is kept is copied); `onLine` gets each
   * complete line without its "\n". Stops early when `onLine` returns false.
   * @throws LineTooLongError when a line (without its newline) exceeds the limit.
   */
  push(bytes: Uint8Array, onLine: (line: string) => boolean | void): void {
    let start = 0;
    while (start < bytes.length) {
      const nl = bytes.indexOf(NEWLINE, start);
      const end = nl < 0 ? bytes.length : nl;
      if (this.#partBytes + (end - start) > this.#maxLineBytes) throw new LineTooLongError(this.#maxLineBytes);
      if (nl < 0) {
        this.#parts.push(bytes.slice(start));
        this.#partBytes += end - start;
        return;
      }
      const line = this.#take(bytes.subarray(start, end));
      start = nl + 1;
      if (onLine(line) === false) return;
    }
  }

  /** Forget the unfinished line. */
  reset(): void {
    this.#parts = [];
    this.#partBytes = 0;
  }

  #take(tail: Uint8Array): string {
    if (this.#parts.length === 0) return this.#decoder.decode(tail);
    const whole = new Uint8Array(this.#partBytes + tail.length);
    let at = 0;
    for (const part of this.#parts) {
      whole.set(part, at);
      at += part.length;
    }
    whole.set(tail, at);
    this.reset();
    return this.#decoder.decode(whole);
  }
}
