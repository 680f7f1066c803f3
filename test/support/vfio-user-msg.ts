/** Hand-built vfio-user messages for conformance tests (bytes written from the spec, not the codec). */
import type { Frame } from '../../src/vfio-user/framer.ts';

export function frame(id: number, command: number, payload: Uint8Array = new Uint8Array(0), opts: { flags?: number; fds?: number[] } = {}): Frame {
  return { id, command, flags: opts.flags ?? 0, error: 0, size: 16 + payload.length, payload, fds: opts.fds ?? [] };
}

export function le(...fields: [number | bigint, 1 | 2 | 4 | 8][]): Uint8Array {
  const out = new Uint8Array(fields.reduce((n, [, s]) => n + s, 0));
  const v = new DataView(out.buffer);
  let o = 0;
  for (const [value, size] of fields) {
    if (size === 8) v.setBigUint64(o, BigInt(value), true);
    else if (size === 4) v.setUint32(o, Number(value) >>> 0, true);
    else if (size === 2) v.setUint16(o, Number(value), true);
    else v.setUint8(o, Number(value));
    o += size;
  }
  return out;
}

export interface DecodedReply { id: number; command: number; size: number; flags: number; error: number; payload: Uint8Array }

export function decodeReply(bytes: Uint8Array): DecodedReply {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    id: v.getUint16(0, true), command: v.getUint16(2, true), size: v.getUint32(4, true),
    flags: v.getUint32(8, true), error: v.getUint32(12, true), payload: bytes.subarray(16),
  };
}

export function u32(bytes: Uint8Array, off: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset).getUint32(off, true);
}

export function u64(bytes: Uint8Array, off: number): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(off, true);
}

/** The VERSION proposal QEMU 10.2 sends (docs/protocol.md "QEMU's client"). */
export const QEMU_VERSION_JSON =
  '{"capabilities":{"max_msg_fds":16,"max_data_xfer_size":1048576,"pgsizes":4096,"max_dma_maps":65535,' +
  '"write_multiple":true,"migration":{"pgsize":4096,"max_bitmap_size":268435456}}}';

export function versionPayload(json: string | undefined, major = 0, minor = 0): Uint8Array {
  const body = json === undefined ? new Uint8Array(0) : new TextEncoder().encode(json + '\0');
  const out = new Uint8Array(4 + body.length);
  out.set(le([major, 2], [minor, 2]));
  out.set(body, 4);
  return out;
}
