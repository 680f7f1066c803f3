/**
 * A minimal length-prefixed framing for native-layer tests (not vfio-user):
 * [u32 LE payload length][payload]. Shows the intended use of UnixSocket's
 * 'data' contract: copy out of the borrowed view, attach fds to the frame
 * that holds the last byte of the chunk they arrived with, close whatever is
 * left on every path.
 */
import { FdSet } from '../../src/sys/fds.ts';
import type { Ancillary } from '../../src/sys/socket.ts';

export interface Frame {
  readonly payload: Uint8Array;
  /** Owned by whoever receives the frame. */
  readonly fds: FdSet;
}

export function encodeFrame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.byteLength);
  new DataView(out.buffer).setUint32(0, payload.byteLength, true);
  out.set(payload, 4);
  return out;
}

export function encodeJsonFrame(value: unknown): Uint8Array {
  return encodeFrame(new TextEncoder().encode(JSON.stringify(value)));
}

export class FrameReader {
  #buf = new Uint8Array(4096);
  #len = 0;
  /** Stream position of #buf[0]. */
  #pos = 0;
  #pendingFds: { at: number; fds: FdSet }[] = [];

  /** Bytes buffered for an incomplete frame. */
  get buffered(): number {
    return this.#len;
  }

  /** Feed one 'data' event; returns the frames it completed (fds owned by the caller). */
  push(bytes: Uint8Array, ancillary: Ancillary | undefined): Frame[] {
    if (ancillary !== undefined && ancillary.fds.ownedCount > 0 && bytes.byteLength > 0) {
      // The fds belong to the message holding the chunk's last byte (see src/sys/socket.ts).
      this.#pendingFds.push({ at: this.#pos + this.#len + bytes.byteLength - 1, fds: ancillary.fds.transfer() });
    }
    if (this.#len + bytes.byteLength > this.#buf.byteLength) {
      const grown = new Uint8Array(Math.max(this.#buf.byteLength * 2, this.#len + bytes.byteLength));
      grown.set(this.#buf.subarray(0, this.#len));
      this.#buf = grown;
    }
    this.#buf.set(bytes, this.#len); // copy: `bytes` is only borrowed
    this.#len += bytes.byteLength;

    const frames: Frame[] = [];
    let off = 0;
    while (this.#len - off >= 4) {
      const size = new DataView(this.#buf.buffer, this.#buf.byteOffset + off, 4).getUint32(0, true);
      if (this.#len - off < 4 + size) break;
      const end = this.#pos + off + 4 + size;
      // fds that arrived with a chunk ending inside this frame are its own
      // (earlier frames already claimed theirs).
      const owned: FdSet[] = [];
      this.#pendingFds = this.#pendingFds.filter((p) => {
        if (p.at >= end) return true;
        owned.push(p.fds);
        return false;
      });
      const fds = new FdSet(owned.flatMap((set) => [...set]));
      frames.push({ payload: this.#buf.slice(off + 4, off + 4 + size), fds });
      off += 4 + size;
    }
    if (off > 0) {
      this.#buf.copyWithin(0, off, this.#len);
      this.#len -= off;
      this.#pos += off;
    }
    return frames;
  }

  /** Close fds waiting for an incomplete frame (on disconnect). */
  dispose(): void {
    for (const p of this.#pendingFds) p.fds.closeAll();
    this.#pendingFds = [];
    this.#len = 0;
  }
}
