/**
 * Stream reassembly: (bytes, fds) chunks from recvmsg → whole vfio-user
 * messages. Only stream-level rules live here (QEMU docs/interop/vfio-user.rst
 * "Header"; docs/protocol.md "corrupt stream"):
 * a header announcing fewer than 16 bytes or more than the limit makes the
 * stream unusable (a message that cannot be buffered cannot be skipped), so it
 * is a ProtocolViolation and the connection is dropped. Everything else about
 * a message (type bits, command, payload sizes) is the codec's business.
 *
 * fds: the sender attaches fds to the write that starts a message (QEMU and
 * libvfio-user read them with the header). Linux hands fds out with the first
 * read that touches the write carrying them and ends that read inside or at
 * the end of it (unix_stream_read_generic stops after an skb with fds; fd-less
 * data may be glued in front). So fds that arrive with a chunk belong to the
 * message containing the chunk's last byte (src/sys/socket.ts explains the
 * same rule from the receiving side).
 *
 * Ownership: frames hand their fds to the caller; fds of a stream that turns
 * out corrupt, or still queued at close(), are closed here through closeFd.
 */
import { VFIO_USER_HEADER_SIZE } from './protocol.ts';

export interface FramerLimits {
  /** Largest whole message (header included) accepted. */
  readonly maxMessageSize: number;
  /** Most fds accepted with one message; more is a violation (they are all closed). */
  readonly maxFdsPerMessage: number;
}

export interface Frame {
  readonly id: number;
  readonly command: number;
  readonly flags: number;
  readonly error: number;
  /** msg_size from the header (= 16 + payload.length). */
  readonly size: number;
  /** Payload view; valid until the next push() on this framer. Copy to keep. */
  readonly payload: Uint8Array;
  /** fds that arrived with this message; the caller owns them now. */
  readonly fds: number[];
}

export class ProtocolViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolViolation';
  }
}

interface PendingFds { readonly at: number; readonly fds: number[] }

export class Framer {
  #buf: Uint8Array = new Uint8Array(64 * 1024);
  #start = 0; // first unconsumed byte in #buf
  #end = 0; // one past the last valid byte
  #consumed = 0; // stream position of #buf[#start]
  #pendingFds: PendingFds[] = [];
  #broken: ProtocolViolation | undefined;
  #view: DataView = new DataView(this.#buf.buffer);

  constructor(private readonly limits: FramerLimits, private readonly closeFd: (fd: number) => void) {}

  /** Bytes buffered but not yet part of a whole message. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** Append one received chunk; `fds` arrived with it (they belong to the message holding its last byte). */
  push(chunk: Uint8Array, fds: readonly number[] = []): void {
    if (this.#broken || (fds.length > 0 && chunk.length === 0)) {
      for (const fd of fds) this.closeFd(fd);
      if (!this.#broken && fds.length > 0) this.#fail('fds arrived without data');
      return;
    }
    if (fds.length > 0) this.#pendingFds.push({ at: this.#consumed + this.buffered + chunk.length - 1, fds: [...fds] });
    this.#reserve(chunk.length);
    this.#buf.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  /**
   * The next whole message, `undefined` when more bytes are needed. Throws
   * ProtocolViolation (after closing every queued fd) when the stream is corrupt;
   * once broken, it stays broken.
   */
  next(): Frame | undefined {
    if (this.#broken) throw this.#broken;
    const avail = this.#end - this.#start;
    if (avail < VFIO_USER_HEADER_SIZE) return undefined;
    const h = this.#start;
    const v = this.#view;
    const size = v.getUint32(h + 4, true);
    if (size < VFIO_USER_HEADER_SIZE) return this.#fail(`message size ${size} is smaller than the 16-byte header`);
    if (size > this.limits.maxMessageSize) {
      return this.#fail(`message size ${size} exceeds the limit of ${this.limits.maxMessageSize} bytes`);
    }
    if (avail < size) return undefined;
    const msgPos = this.#consumed;
    const fds: number[] = [];
    while (this.#pendingFds.length > 0 && this.#pendingFds[0]!.at < msgPos + size) {
      const p = this.#pendingFds.shift()!;
      if (p.at >= msgPos) fds.push(...p.fds);
      else for (const fd of p.fds) this.closeFd(fd); // cannot happen: a message is framed only once whole
    }
    if (fds.length > this.limits.maxFdsPerMessage) {
      for (const fd of fds) this.closeFd(fd);
      return this.#fail(`message carries ${fds.length} fds, more than the limit of ${this.limits.maxFdsPerMessage}`);
    }
    const frame: Frame = {
      id: v.getUint16(h, true),
      command: v.getUint16(h + 2, true),
      size,
      flags: v.getUint32(h + 8, true),
      error: v.getUint32(h + 12, true),
      payload: this.#buf.subarray(h + VFIO_USER_HEADER_SIZE, h + size),
      fds,
    };
    this.#start += size;
    this.#consumed += size;
    return frame;
  }

  /** Drop the stream: close every fd not yet handed out. Idempotent. */
  close(): void {
    for (const p of this.#pendingFds) for (const fd of p.fds) this.closeFd(fd);
    this.#pendingFds = [];
    this.#broken ??= new ProtocolViolation('framer closed');
  }

  #fail(reason: string): never {
    this.#broken = new ProtocolViolation(reason);
    for (const p of this.#pendingFds) for (const fd of p.fds) this.closeFd(fd);
    this.#pendingFds = [];
    throw this.#broken;
  }

  /** Make room for n more bytes; compacts first (frames handed out before are invalidated by push anyway). */
  #reserve(n: number): void {
    if (this.#start === this.#end) {
      this.#start = this.#end = 0;
    }
    if (this.#end + n <= this.#buf.length) return;
    const live = this.#end - this.#start;
    if (live + n <= this.#buf.length) {
      this.#buf.copyWithin(0, this.#start, this.#end);
    } else {
      let cap = this.#buf.length;
      while (cap < live + n) cap *= 2;
      const bigger = new Uint8Array(cap);
      bigger.set(this.#buf.subarray(this.#start, this.#end));
      this.#buf = bigger;
      this.#view = new DataView(bigger.buffer);
    }
    this.#start = 0;
    this.#end = live;
  }
}
