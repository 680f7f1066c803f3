/**
 * The message header and the byte builders every fuzz family shares
 * (QEMU docs/interop/vfio-user.rst "Header", "Commands"), and the plain-data u64 the corpus can carry.
 *
 * Everything generated under fuzz/arb/vfio-user/ is plain data (numbers,
 * strings, booleans, Uint8Arrays, arrays and records) so a failing case
 * round-trips through msgpack into fuzz/corpus/. 64-bit quantities are
 * carried as `[hi, lo]` pairs of u32 ({@link U64}) because msgpack (as the
 * corpus encodes it) has no bigint; {@link u64} turns them back into bigints.
 *
 * The byte builders write the wire layout from the spec with DataView, and
 * the wire constants are spelled out here rather than imported, so a bug in
 * src/vfio-user's codec cannot hide itself from the oracles.
 */
import fc from 'fast-check';

export const HEADER_SIZE = 16;
export const CMD = {
  VERSION: 1,
  DMA_MAP: 2,
  DMA_UNMAP: 3,
  GET_INFO: 4,
  GET_REGION_INFO: 5,
  GET_REGION_IO_FDS: 6,
  GET_IRQ_INFO: 7,
  SET_IRQS: 8,
  REGION_READ: 9,
  REGION_WRITE: 10,
  DMA_READ: 11,
  DMA_WRITE: 12,
  RESET: 13,
  REGION_WRITE_MULTI: 15,
  DEVICE_FEATURE: 16,
  MIG_DATA_READ: 17,
  MIG_DATA_WRITE: 18,
  /** mdevsim display extension (docs/protocol.md). */
  QUERY_GFX_PLANE: 0x4d01,
  GET_GFX_DMABUF: 0x4d02,
  RELEASE_GFX_DMABUF: 0x4d03,
} as const;
export const F_TYPE_MASK = 0xf;
export const F_TYPE_REPLY = 1;
export const F_NO_REPLY = 0x10;
export const F_ERROR = 0x20;

/** A u64 as [high u32, low u32] (plain data; msgpack-safe). */
export type U64 = readonly [number, number];

export const u64 = ([hi, lo]: U64): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
export const toU64 = (v: bigint): U64 => {
  const w = BigInt.asUintN(64, v);
  return [Number(w >> 32n), Number(w & 0xffff_ffffn)];
};

/** Small, page-aligned, edge-of-space and random u64 values. */
export const arbU64: fc.Arbitrary<U64> = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 64 }).map((p): U64 => [0, p * 0x1000]), weight: 6 },
  { arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }).map((lo): U64 => [0, lo]), weight: 2 },
  {
    arbitrary: fc.constantFrom<U64>(
      [0xffff_ffff, 0xffff_f000], [0xffff_ffff, 0xffff_ffff], [0xffff_ffff, 0xffff_fffe], [0x8000_0000, 0],
      [0x0020_0000, 0], [0x001f_ffff, 0xffff_ffff], [0x0020_0000, 0x0000_0001], [1, 0],
    ),
    weight: 2,
  },
  { arbitrary: fc.tuple(fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: 0, max: 0xffff_ffff })), weight: 1 },
);

/** Little-endian fields → bytes. Sizes 1, 2, 4 (numbers, taken mod 2^n) or 8 (bigint/number). */
export function le(...fields: readonly (readonly [number | bigint, 1 | 2 | 4 | 8])[]): Uint8Array {
  const out = new Uint8Array(fields.reduce((n, [, s]) => n + s, 0));
  const v = new DataView(out.buffer);
  let o = 0;
  for (const [value, size] of fields) {
    if (size === 8) v.setBigUint64(o, BigInt.asUintN(64, BigInt(value)), true);
    else if (size === 4) v.setUint32(o, Number(BigInt.asUintN(32, BigInt(value))), true);
    else if (size === 2) v.setUint16(o, Number(value) & 0xffff, true);
    else v.setUint8(o, Number(value) & 0xff);
    o += size;
  }
  return out;
}

/** A whole message: 16-byte header (msg_size = 16 + payload unless `size` overrides it) + payload. */
export function message(h: { id: number; command: number; flags: number; error?: number; size?: number }, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE + payload.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, h.id & 0xffff, true);
  v.setUint16(2, h.command & 0xffff, true);
  v.setUint32(4, (h.size ?? out.length) >>> 0, true);
  v.setUint32(8, h.flags >>> 0, true);
  v.setUint32(12, (h.error ?? 0) >>> 0, true);
  out.set(payload, HEADER_SIZE);
  return out;
}

/** Resize a payload to `len` bytes: truncate, or pad with zeros. */
export function resize(bytes: Uint8Array, len: number): Uint8Array {
  if (len === bytes.length) return bytes;
  const out = new Uint8Array(Math.max(0, len));
  out.set(bytes.subarray(0, out.length));
  return out;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** Deterministic filler bytes (the value only matters for read-back checks). */
export function pattern(len: number, seed: number): Uint8Array {
  const out = new Uint8Array(len);
  let x = (seed | 0) ^ 0x5bd1e995;
  for (let i = 0; i < len; i++) {
    x = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d);
    out[i] = (x >>> 24) & 0xff;
  }
  return out;
}

/** Header knobs every session command carries. */
export interface MsgHead {
  readonly id: number;
  /** Set VFIO_USER_F_NO_REPLY. */
  readonly noReply: boolean;
  /** Message type bits (0 = command; anything else is refused). */
  readonly type: number;
  /** How many (fake) fds ride on the message. */
  readonly fds: number;
}

/** Header knobs: mostly a plain command, sometimes NO_REPLY, rarely a wrong type or stray fds. */
export const arbMsgHead = (fdsWeight = 1, fds: fc.Arbitrary<number> = fc.integer({ min: 1, max: 3 })): fc.Arbitrary<MsgHead> =>
  fc.record({
    id: fc.integer({ min: 0, max: 0xffff }),
    noReply: fc.oneof({ arbitrary: fc.constant(false), weight: 9 }, { arbitrary: fc.constant(true), weight: 1 }),
    type: fc.oneof({ arbitrary: fc.constant(0), weight: 20 }, { arbitrary: fc.integer({ min: 1, max: 15 }), weight: 1 }),
    fds: fc.oneof({ arbitrary: fc.constant(0), weight: 12 }, { arbitrary: fds, weight: fdsWeight }),
  });

/** Payload length knob: the natural length (−1) most of the time, else a garbage length. */
export const arbLen = (natural: number): fc.Arbitrary<number> =>
  fc.oneof(
    { arbitrary: fc.constant(-1), weight: 10 },
    { arbitrary: fc.constantFrom(0, 1, 3, 4, natural - 1, natural + 1, natural + 8), weight: 1 },
  );

/** argsz values at the struct sizes (16, 24, 32, 48, 56, 60, 64) and their neighbours. */
export const ARGSZ_EDGES = [0, 15, 16, 17, 23, 24, 31, 32, 33, 47, 48, 49, 55, 56, 59, 60, 63, 64, 65, 0xffff_ffff] as const;
export const arbArgsz = (usual: number): fc.Arbitrary<number> =>
  fc.oneof({ arbitrary: fc.constant(usual), weight: 4 }, { arbitrary: fc.constantFrom(...ARGSZ_EDGES), weight: 2 }, { arbitrary: fc.nat(), weight: 1 });
