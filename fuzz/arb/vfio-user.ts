/**
 * Shared fast-check arbitraries and byte builders for vfio-user messages
 * (QEMU docs/interop/vfio-user.rst), used by the `framer` and `session` fuzz targets and
 * importable by tests.
 *
 * Everything generated here is plain data (numbers, strings, booleans,
 * Uint8Arrays, arrays and records) so a failing case round-trips through
 * msgpack into fuzz/corpus/. 64-bit quantities are carried as `[hi, lo]`
 * pairs of u32 ({@link U64}) because msgpack (as the corpus encodes it) has
 * no bigint; {@link u64} turns them back into bigints.
 *
 * The byte builders write the wire layout from the spec with DataView, not
 * through src/vfio-user's codecs, so a codec bug cannot hide itself.
 */
import fc from 'fast-check';

/* ------------------------------------------------------------------------ */
/* Wire constants, spelled out from the spec's "Header" and "Commands".      */

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

/* ------------------------------------------------------------------------ */
/* Plain-data u64                                                            */

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

/* ------------------------------------------------------------------------ */
/* Byte builders                                                             */

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

/* ------------------------------------------------------------------------ */
/* Framer streams                                                            */

/**
 * One piece of a byte stream: a well-formed message, a header whose
 * msg_size lies (below 16, above the limit, or just different from the bytes
 * that follow), or raw bytes.
 */
export type StreamPart =
  | { readonly k: 'msg'; readonly id: number; readonly command: number; readonly flags: number; readonly error: number; readonly payload: Uint8Array }
  /** A well-formed message whose size sits on the limit: payload = maxMessageSize − 16 + d bytes. */
  | { readonly k: 'edge'; readonly id: number; readonly command: number; readonly d: number }
  | { readonly k: 'lie'; readonly id: number; readonly command: number; readonly size: number; readonly body: Uint8Array }
  | { readonly k: 'raw'; readonly bytes: Uint8Array };

/** A framer case: limits, a stream, how it is cut into recvmsg chunks, and how many fds ride on each chunk. */
export interface FramerCase {
  readonly maxMessageSize: number;
  readonly maxFds: number;
  readonly parts: readonly StreamPart[];
  /** Chunk lengths, used in turn (cycled) until the stream is consumed; 0 = an empty push. */
  readonly cuts: readonly number[];
  /** fds attached to each chunk, used in turn (cycled). */
  readonly fdCounts: readonly number[];
}

/**
 * A lying msg_size in [0x7fff_ff00, 0x7fff_ffff] means "maxMessageSize +
 * (size − 0x7fff_ff80)", so a case can sit exactly on the limit whatever the
 * limit is; every other value is literal.
 */
export const RELATIVE_SIZE_BASE = 0x7fff_ff80;
export const isRelativeSize = (size: number): boolean => size >= 0x7fff_ff00 && size <= 0x7fff_ffff;

/** Bytes of a part (`max` is the case's maxMessageSize, for sizes relative to the limit). */
export function partBytes(p: StreamPart, max: number): Uint8Array {
  switch (p.k) {
    case 'msg':
      return message({ id: p.id, command: p.command, flags: p.flags, error: p.error }, p.payload);
    case 'edge':
      return message({ id: p.id, command: p.command, flags: 0 }, pattern(Math.max(0, max - HEADER_SIZE + p.d), p.id));
    case 'lie': {
      const size = isRelativeSize(p.size) ? max + (p.size - RELATIVE_SIZE_BASE) : p.size;
      return message({ id: p.id, command: p.command, flags: 0, size: size >>> 0 }, p.body);
    }
    case 'raw':
      return p.bytes;
  }
}

/** The whole stream of a case. */
export function framerStream(c: FramerCase): Uint8Array {
  return concatBytes(c.parts.map((p) => partBytes(p, c.maxMessageSize)));
}

const arbCommandNumber: fc.Arbitrary<number> = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 20 }), weight: 4 },
  { arbitrary: fc.constantFrom(0x4d01, 0x4d02, 0x4d03, 0xffff), weight: 1 },
  { arbitrary: fc.integer({ min: 0, max: 0xffff }), weight: 1 },
);

const arbPartMsg: fc.Arbitrary<StreamPart> = fc.record({
  k: fc.constant('msg' as const),
  id: fc.integer({ min: 0, max: 0xffff }),
  command: arbCommandNumber,
  flags: fc.oneof(fc.constantFrom(0, 1, 0x10, 0x20, 0x21), fc.integer({ min: 0, max: 0xffff_ffff })),
  error: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff_ffff })),
  payload: fc.oneof(
    { arbitrary: fc.uint8Array({ maxLength: 48 }), weight: 8 },
    { arbitrary: fc.integer({ min: 0, max: 300 }).map((n) => pattern(n, n)), weight: 1 },
  ),
});

/** Sizes near the limit are encoded relative to it (see {@link RELATIVE_SIZE_BASE}). */
const arbLieSize: fc.Arbitrary<number> = fc.oneof(
  fc.integer({ min: 0, max: 15 }),
  fc.integer({ min: 16, max: 96 }),
  fc.integer({ min: -2, max: 2 }).map((d) => RELATIVE_SIZE_BASE + d),
  fc.constantFrom(0xffff_ffff, 0x8000_0000, 1 << 20, (1 << 20) + 33),
);

const arbPartLie: fc.Arbitrary<StreamPart> = fc.record({
  k: fc.constant('lie' as const),
  id: fc.integer({ min: 0, max: 0xffff }),
  command: arbCommandNumber,
  size: arbLieSize,
  body: fc.uint8Array({ maxLength: 40 }),
});

const arbPartRaw: fc.Arbitrary<StreamPart> = fc.record({ k: fc.constant('raw' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 24 }) });

const arbPartEdge = (d: fc.Arbitrary<number>): fc.Arbitrary<StreamPart> =>
  fc.record({ k: fc.constant('edge' as const), id: fc.integer({ min: 0, max: 0xffff }), command: arbCommandNumber, d });

/** A part that frames: a message, or one exactly at (or just under) the size limit. */
export const arbGoodPart: fc.Arbitrary<StreamPart> = fc.oneof(
  { arbitrary: arbPartMsg, weight: 20 },
  { arbitrary: arbPartEdge(fc.integer({ min: -2, max: 0 })), weight: 1 },
);

/** A part that breaks the stream (or desynchronises it): a lying size, raw bytes, or one byte over the limit. */
export const arbBadPart: fc.Arbitrary<StreamPart> = fc.oneof(arbPartLie, arbPartRaw, arbPartEdge(fc.constant(1)));

/** Any part. */
export const arbStreamPart: fc.Arbitrary<StreamPart> = fc.oneof(
  { arbitrary: arbGoodPart, weight: 10 },
  { arbitrary: arbBadPart, weight: 1 },
);

/**
 * Well-formed messages, and in about a third of the cases one garbage part
 * at a random position (garbage ends the stream, so more would only repeat).
 */
const arbParts: fc.Arbitrary<StreamPart[]> = fc
  .tuple(
    fc.array(arbGoodPart, { maxLength: 32, size: 'medium' }),
    fc.oneof({ arbitrary: fc.constant(null), weight: 2 }, { arbitrary: fc.tuple(fc.nat(), arbBadPart), weight: 1 }),
  )
  .map(([good, bad]) => {
    if (bad === null) return good;
    const at = bad[0] % (good.length + 1);
    return [...good.slice(0, at), bad[1], ...good.slice(at)];
  });

export const arbFramerCase: fc.Arbitrary<FramerCase> = fc.record({
  maxMessageSize: fc.oneof(
    { arbitrary: fc.integer({ min: 320, max: 4096 }), weight: 8 },
    { arbitrary: fc.integer({ min: 16, max: 320 }), weight: 1 },
    { arbitrary: fc.constantFrom(16, 17, 64, 1024, (1 << 16) + 32), weight: 1 },
  ),
  maxFds: fc.oneof({ arbitrary: fc.integer({ min: 1, max: 4 }), weight: 6 }, { arbitrary: fc.constant(0), weight: 1 }),
  parts: arbParts,
  cuts: fc.array(
    fc.oneof(
      { arbitrary: fc.integer({ min: 1, max: 40 }), weight: 6 },
      { arbitrary: fc.constantFrom(0, 1, 15, 16, 17), weight: 2 },
      { arbitrary: fc.integer({ min: 41, max: 4000 }), weight: 1 },
    ),
    { minLength: 1, maxLength: 12 },
  ),
  fdCounts: fc.array(fc.oneof({ arbitrary: fc.constant(0), weight: 24 }, { arbitrary: fc.integer({ min: 1, max: 2 }), weight: 3 }, { arbitrary: fc.integer({ min: 3, max: 5 }), weight: 1 }), {
    minLength: 1,
    maxLength: 8,
  }),
});

/** Messages in a framer case (the `messages` unit of the rate display). */
export function countFramerMessages(c: FramerCase): number {
  let n = 0;
  for (const p of c.parts) if (p.k !== 'raw') n++;
  return n;
}

/* ------------------------------------------------------------------------ */
/* Session commands                                                          */

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

/** A VERSION proposal, by name (see {@link versionProposal}). */
export type VersionVariant =
  | 'qemu' | 'display' | 'display-qemu' | 'empty-caps' | 'no-json' | 'nul-only' | 'short' | 'major1'
  | 'minor7' | 'bad-json' | 'not-object' | 'caps-array' | 'neg-fds' | 'float-xfer' | 'bad-utf8' | 'no-caps-key';

export const VERSION_VARIANTS: readonly VersionVariant[] = [
  'qemu', 'display', 'display-qemu', 'empty-caps', 'no-json', 'nul-only', 'short', 'major1',
  'minor7', 'bad-json', 'not-object', 'caps-array', 'neg-fds', 'float-xfer', 'bad-utf8', 'no-caps-key',
];

/** QEMU 10.2's proposal (docs/protocol.md "QEMU's client"). */
export const QEMU_CAPS_JSON =
  '{"capabilities":{"max_msg_fds":16,"max_data_xfer_size":1048576,"pgsizes":4096,"max_dma_maps":65535,' +
  '"write_multiple":true,"migration":{"pgsize":4096,"max_bitmap_size":268435456}}}';

/**
 * Expected outcome class of a proposal: 'ok', 'EINVAL' (malformed) or
 * 'ENOTSUP' (major ≠ 0) — from the spec's "VFIO_USER_VERSION", not from the code.
 */
export function versionExpectation(v: VersionVariant): 'ok' | 'EINVAL' | 'ENOTSUP' {
  switch (v) {
    case 'qemu': case 'display': case 'display-qemu': case 'empty-caps': case 'no-json': case 'nul-only': case 'minor7': case 'no-caps-key':
      return 'ok';
    case 'major1':
      return 'ENOTSUP';
    default:
      return 'EINVAL';
  }
}

/** The VERSION payload of a variant. */
export function versionProposal(v: VersionVariant): Uint8Array {
  const enc = (major: number, minor: number, json: string | Uint8Array | undefined): Uint8Array => {
    const body = json === undefined ? new Uint8Array(0) : typeof json === 'string' ? new TextEncoder().encode(`${json}\0`) : json;
    return concatBytes([le([major, 2], [minor, 2]), body]);
  };
  switch (v) {
    case 'qemu': return enc(0, 0, QEMU_CAPS_JSON);
    case 'display': return enc(0, 0, '{"capabilities":{"mdevsim_display":true}}');
    case 'display-qemu': return enc(0, 0, QEMU_CAPS_JSON.replace('"write_multiple":true', '"write_multiple":true,"mdevsim_display":true'));
    case 'empty-caps': return enc(0, 0, '{"capabilities":{}}');
    case 'no-json': return enc(0, 0, undefined);
    case 'nul-only': return enc(0, 0, new Uint8Array(3));
    case 'short': return le([0, 2], [0, 1]);
    case 'major1': return enc(1, 0, '{"capabilities":{}}');
    case 'minor7': return enc(0, 7, '{"capabilities":{"max_msg_fds":4}}');
    case 'bad-json': return enc(0, 0, '{"capabilities":');
    case 'not-object': return enc(0, 0, '[1,2,3]');
    case 'caps-array': return enc(0, 0, '{"capabilities":[]}');
    case 'neg-fds': return enc(0, 0, '{"capabilities":{"max_msg_fds":-1}}');
    case 'float-xfer': return enc(0, 0, '{"capabilities":{"max_data_xfer_size":1.5}}');
    case 'bad-utf8': return enc(0, 0, Uint8Array.of(0x7b, 0xff, 0xfe, 0x7d, 0));
    case 'no-caps-key': return enc(0, 0, '{"other":1}');
  }
}

/** A region-access offset: a literal u64, or relative to the end of the addressed region (resolved by the target). */
export type OffsetSpec =
  | { readonly k: 'lit'; readonly v: U64 }
  | { readonly k: 'end'; readonly d: number };

/** dispi values a 'mode' command programs (bochs-drm order: disable, BPP 32, XRES, YRES, VIRT_WIDTH, X, Y, ENABLE). */
export interface ModeSpec {
  readonly xres: number;
  readonly yres: number;
  readonly virt: number;
  readonly x: number;
  readonly y: number;
  readonly enable: number;
}

/** Mostly valid, page-aligned modes for mbochs-small (4 MiB), some invalid or unaligned. */
export const arbModeSpec: fc.Arbitrary<ModeSpec> = fc.oneof(
  {
    arbitrary: fc.record({
      xres: fc.constantFrom(640, 800, 1024, 64),
      yres: fc.constantFrom(480, 600, 768, 64),
      virt: fc.constant(0),
      x: fc.constantFrom(0, 1024),
      y: fc.constant(0),
      enable: fc.constantFrom(0x41, 0xc1),
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      xres: fc.constantFrom(640, 800, 1024, 64, 63, 0),
      yres: fc.constantFrom(480, 600, 768, 64, 63),
      virt: fc.constantFrom(0, 1024, 2048),
      x: fc.constantFrom(0, 8, 1024),
      y: fc.constantFrom(0, 1, 16),
      enable: fc.constantFrom(0x41, 0x01, 0x00, 0xc1),
    }),
    weight: 2,
  },
);

/** One session command, as plain data. `len` fields: −1 = the natural payload length, else the exact (garbage) length. */
export type SessionCmd =
  | { readonly c: 'version'; readonly h: MsgHead; readonly variant: VersionVariant }
  | {
    readonly c: 'dmaMap'; readonly h: MsgHead; readonly argsz: number; readonly flags: number;
    readonly offset: U64; readonly addr: U64; readonly size: U64; readonly len: number;
  }
  | {
    readonly c: 'dmaUnmap'; readonly h: MsgHead; readonly mode: 'exact' | 'raw' | 'all';
    /** Which window 'exact' names (index mod the window count; raw values when there is none). */
    readonly pick: number; readonly flags: number; readonly addr: U64; readonly size: U64; readonly len: number;
  }
  | { readonly c: 'getInfo'; readonly h: MsgHead; readonly argsz: number; readonly len: number }
  | { readonly c: 'regionInfo'; readonly h: MsgHead; readonly argsz: number; readonly index: number; readonly len: number }
  | { readonly c: 'irqInfo'; readonly h: MsgHead; readonly argsz: number; readonly index: number; readonly len: number }
  | {
    readonly c: 'setIrqs'; readonly h: MsgHead; readonly flags: number; readonly index: number;
    readonly start: number; readonly count: number; readonly data: Uint8Array; readonly argszDelta: number;
  }
  | { readonly c: 'read'; readonly h: MsgHead; readonly index: number; readonly off: OffsetSpec; readonly count: number; readonly len: number }
  | {
    readonly c: 'write'; readonly h: MsgHead; readonly index: number; readonly off: OffsetSpec; readonly count: number;
    /** Data bytes actually sent (−1 = count). */
    readonly dataLen: number; readonly seed: number;
  }
  | { readonly c: 'reset'; readonly h: MsgHead; readonly len: number }
  | { readonly c: 'unknown'; readonly h: MsgHead; readonly command: number; readonly len: number }
  /** mbochs: program a display mode with 2-byte dispi writes on BAR2 (several REGION_WRITEs). */
  | ({ readonly c: 'mode'; readonly h: MsgHead } & ModeSpec)
  /**
   * mbochs: optionally a guest mode set (as 'mode'), then QEMU's dmabuf refresh (hw/vfio/display.c vfio_display_dmabuf_update()): QUERY_GFX_PLANE PRIMARY twice (the second
   * succeeds where 'upstream' answers the first query of a new mode with ENOMEM), then
   * GET_GFX_DMABUF of the id the last successful query returned (0 when none).
   */
  | { readonly c: 'refresh'; readonly h: MsgHead; readonly mode: ModeSpec | null }
  | { readonly c: 'query'; readonly h: MsgHead; readonly argsz: number; readonly flags: number; readonly planeType: number; readonly len: number }
  | { readonly c: 'getDmabuf'; readonly h: MsgHead; readonly pick: number; readonly raw: number; readonly argsz: number; readonly len: number }
  | { readonly c: 'release'; readonly h: MsgHead; readonly pick: number; readonly raw: number; readonly len: number };

/** Header knobs: mostly a plain command, sometimes NO_REPLY, rarely a wrong type or stray fds. */
export const arbMsgHead = (fdsWeight = 1, fds: fc.Arbitrary<number> = fc.integer({ min: 1, max: 3 })): fc.Arbitrary<MsgHead> =>
  fc.record({
    id: fc.integer({ min: 0, max: 0xffff }),
    noReply: fc.oneof({ arbitrary: fc.constant(false), weight: 9 }, { arbitrary: fc.constant(true), weight: 1 }),
    type: fc.oneof({ arbitrary: fc.constant(0), weight: 20 }, { arbitrary: fc.integer({ min: 1, max: 15 }), weight: 1 }),
    fds: fc.oneof({ arbitrary: fc.constant(0), weight: 12 }, { arbitrary: fds, weight: fdsWeight }),
  });

/** Payload length knob: the natural length (−1) most of the time, else a garbage length. */
const arbLen = (natural: number): fc.Arbitrary<number> =>
  fc.oneof(
    { arbitrary: fc.constant(-1), weight: 10 },
    { arbitrary: fc.constantFrom(0, 1, 3, 4, natural - 1, natural + 1, natural + 8), weight: 1 },
  );

/** argsz values at the struct sizes (16, 24, 32, 48, 56, 60, 64) and their neighbours. */
export const ARGSZ_EDGES = [0, 15, 16, 17, 23, 24, 31, 32, 33, 47, 48, 49, 55, 56, 59, 60, 63, 64, 65, 0xffff_ffff] as const;
const arbArgsz = (usual: number): fc.Arbitrary<number> =>
  fc.oneof({ arbitrary: fc.constant(usual), weight: 4 }, { arbitrary: fc.constantFrom(...ARGSZ_EDGES), weight: 2 }, { arbitrary: fc.nat(), weight: 1 });

/** Region indexes 0–20 and 2^32−1: every real one, the EINVAL gaps, and the extremes. */
export const arbRegionIndex: fc.Arbitrary<number> = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 20 }), weight: 10 },
  { arbitrary: fc.constant(0xffff_ffff), weight: 1 },
);

/** Region indexes for accesses: mostly the regions that exist on mdpy or mbochs, sometimes any index. */
const arbAccessIndex: fc.Arbitrary<number> = fc.oneof(
  { arbitrary: fc.constantFrom(0, 2, 7, 9, 16), weight: 4 },
  { arbitrary: arbRegionIndex, weight: 1 },
);

const arbOffsetSpec: fc.Arbitrary<OffsetSpec> = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 0xff }).map((v): OffsetSpec => ({ k: 'lit', v: [0, v] })), weight: 3 },
  { arbitrary: fc.integer({ min: 0, max: 0x1100 }).map((v): OffsetSpec => ({ k: 'lit', v: [0, v] })), weight: 2 },
  { arbitrary: fc.integer({ min: -24, max: 8 }).map((d): OffsetSpec => ({ k: 'end', d })), weight: 3 },
  { arbitrary: arbU64.map((v): OffsetSpec => ({ k: 'lit', v })), weight: 1 },
);

const arbCount: fc.Arbitrary<number> = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 8 }), weight: 8 },
  { arbitrary: fc.constantFrom(16, 255, 256, 4096, 4097), weight: 2 },
  { arbitrary: fc.constantFrom(8192, 8193, 0xffff_ffff), weight: 1 },
);

const pageAddr: fc.Arbitrary<U64> = fc.integer({ min: 0, max: 12 }).map((p): U64 => [0, p * 0x1000]);
const pageSize: fc.Arbitrary<U64> = fc.integer({ min: 1, max: 4 }).map((p): U64 => [0, p * 0x1000]);

export const arbDmaMap: fc.Arbitrary<SessionCmd> = fc.record({
  c: fc.constant('dmaMap' as const),
  // RAM with an fd (one), ROM without; now and then two or three fds.
  h: arbMsgHead(10, fc.oneof({ arbitrary: fc.constant(1), weight: 6 }, { arbitrary: fc.integer({ min: 2, max: 3 }), weight: 1 })),
  argsz: fc.oneof({ arbitrary: fc.constant(32), weight: 12 }, { arbitrary: fc.constantFrom(0, 31, 33, 0xffff_ffff), weight: 1 }),
  flags: fc.oneof({ arbitrary: fc.constantFrom(1, 2, 3), weight: 12 }, { arbitrary: fc.constantFrom(0, 4, 8, 0x80000003), weight: 1 }),
  offset: fc.oneof({ arbitrary: fc.constant<U64>([0, 0]), weight: 10 }, { arbitrary: arbU64, weight: 1 }),
  addr: fc.oneof({ arbitrary: pageAddr, weight: 10 }, { arbitrary: arbU64, weight: 1 }),
  size: fc.oneof({ arbitrary: pageSize, weight: 10 }, { arbitrary: fc.constantFrom<U64>([0, 0], [0xffff_ffff, 0xffff_f000], [1, 0]), weight: 1 }, { arbitrary: arbU64, weight: 1 }),
  len: arbLen(32),
});

export const arbDmaUnmap: fc.Arbitrary<SessionCmd> = fc.record({
  c: fc.constant('dmaUnmap' as const),
  h: arbMsgHead(),
  mode: fc.constantFrom<'exact' | 'raw' | 'all'>('exact', 'exact', 'exact', 'raw', 'all'),
  pick: fc.nat(),
  flags: fc.oneof({ arbitrary: fc.constant(0), weight: 8 }, { arbitrary: fc.constantFrom(1, 2, 3, 4), weight: 1 }),
  addr: fc.oneof(pageAddr, arbU64),
  size: fc.oneof(pageSize, arbU64, fc.constant<U64>([0, 0])),
  len: arbLen(24),
});

/** Session command arbitraries; `display` adds the mbochs display-extension commands. */
export function arbSessionCmd(display: boolean): fc.Arbitrary<SessionCmd> {
  const base: fc.WeightedArbitrary<SessionCmd>[] = [
    { arbitrary: fc.record({ c: fc.constant('version' as const), h: arbMsgHead(), variant: fc.constantFrom(...VERSION_VARIANTS) }), weight: 2 },
    { arbitrary: arbDmaMap, weight: 5 },
    { arbitrary: arbDmaUnmap, weight: 4 },
    { arbitrary: fc.record({ c: fc.constant('getInfo' as const), h: arbMsgHead(), argsz: arbArgsz(16), len: arbLen(16) }), weight: 2 },
    {
      arbitrary: fc.record({ c: fc.constant('regionInfo' as const), h: arbMsgHead(), argsz: arbArgsz(32), index: arbRegionIndex, len: arbLen(32) }),
      weight: 5,
    },
    {
      arbitrary: fc.record({
        c: fc.constant('irqInfo' as const), h: arbMsgHead(), argsz: arbArgsz(16),
        index: fc.oneof(fc.integer({ min: 0, max: 6 }), fc.constant(0xffff_ffff)), len: arbLen(16),
      }),
      weight: 2,
    },
    {
      arbitrary: fc.record({
        c: fc.constant('setIrqs' as const), h: arbMsgHead(3),
        flags: fc.oneof(fc.constantFrom(0x21, 0x22, 0x24, 0x09, 0x11, 0x24 | 0x08), fc.integer({ min: 0, max: 0xff })),
        index: fc.integer({ min: 0, max: 6 }), start: fc.integer({ min: 0, max: 2 }), count: fc.integer({ min: 0, max: 3 }),
        data: fc.uint8Array({ maxLength: 3 }), argszDelta: fc.oneof({ arbitrary: fc.constant(0), weight: 6 }, { arbitrary: fc.integer({ min: -4, max: 4 }), weight: 1 }),
      }),
      weight: 2,
    },
    {
      arbitrary: fc.record({ c: fc.constant('read' as const), h: arbMsgHead(), index: arbAccessIndex, off: arbOffsetSpec, count: arbCount, len: arbLen(16) }),
      weight: 8,
    },
    {
      arbitrary: fc.record({
        c: fc.constant('write' as const), h: arbMsgHead(), index: arbAccessIndex, off: arbOffsetSpec,
        count: arbCount.map((n) => (n > 8193 ? 8193 : n)),
        dataLen: fc.oneof({ arbitrary: fc.constant(-1), weight: 10 }, { arbitrary: fc.integer({ min: 0, max: 12 }), weight: 1 }),
        seed: fc.nat(),
      }),
      weight: 8,
    },
    { arbitrary: fc.record({ c: fc.constant('reset' as const), h: arbMsgHead(), len: fc.oneof({ arbitrary: fc.constant(0), weight: 8 }, { arbitrary: fc.integer({ min: 1, max: 8 }), weight: 1 }) }), weight: 1 },
    {
      arbitrary: fc.record({
        c: fc.constant('unknown' as const), h: arbMsgHead(),
        command: fc.constantFrom(0, 6, 11, 12, 14, 15, 16, 17, 18, 19, 100, 0x4d00, 0x4d04, 0xffff, CMD.QUERY_GFX_PLANE, CMD.GET_GFX_DMABUF, CMD.RELEASE_GFX_DMABUF),
        len: fc.integer({ min: 0, max: 40 }),
      }),
      weight: 2,
    },
  ];
  if (!display) return fc.oneof(...base);
  const display_: fc.WeightedArbitrary<SessionCmd>[] = [
    {
      arbitrary: fc.tuple(arbMsgHead(0), arbModeSpec).map(([h, mode]): SessionCmd => ({ c: 'mode', h: { ...h, fds: 0, type: 0 }, ...mode })),
      weight: 3,
    },
    {
      arbitrary: fc.record({
        c: fc.constant('refresh' as const),
        h: arbMsgHead(0).map((h) => ({ ...h, noReply: false, fds: 0, type: 0 })),
        mode: fc.oneof(arbModeSpec, fc.constant(null)),
      }),
      weight: 3,
    },
    {
      arbitrary: fc.record({
        c: fc.constant('query' as const), h: arbMsgHead(),
        argsz: fc.oneof({ arbitrary: fc.constant(64), weight: 6 }, { arbitrary: fc.constantFrom(0, 59, 60, 0xffff_ffff), weight: 1 }),
        flags: fc.oneof({ arbitrary: fc.constant(2), weight: 6 }, { arbitrary: fc.integer({ min: 0, max: 7 }), weight: 2 }),
        planeType: fc.oneof({ arbitrary: fc.constant(1), weight: 4 }, { arbitrary: fc.integer({ min: 0, max: 3 }), weight: 1 }),
        len: fc.oneof({ arbitrary: fc.constant(-1), weight: 10 }, { arbitrary: fc.constantFrom(0, 11, 12, 60), weight: 1 }),
      }),
      weight: 4,
    },
    {
      arbitrary: fc.record({
        c: fc.constant('getDmabuf' as const), h: arbMsgHead(), pick: fc.nat(),
        raw: fc.oneof({ arbitrary: fc.constant(-1), weight: 6 }, { arbitrary: fc.constantFrom(0, 1, 2, 99, 0xffff_ffff), weight: 1 }),
        argsz: fc.oneof({ arbitrary: fc.constant(56), weight: 8 }, { arbitrary: fc.constantFrom(0, 8, 55, 0xffff_ffff), weight: 1 }),
        len: fc.oneof({ arbitrary: fc.constant(-1), weight: 10 }, { arbitrary: fc.constantFrom(0, 4, 7), weight: 1 }),
      }),
      weight: 3,
    },
    {
      arbitrary: fc.record({
        c: fc.constant('release' as const), h: arbMsgHead(), pick: fc.nat(),
        raw: fc.oneof({ arbitrary: fc.constant(-1), weight: 6 }, { arbitrary: fc.constantFrom(0, 77, 0xffff_ffff), weight: 1 }),
        len: fc.oneof({ arbitrary: fc.constant(-1), weight: 10 }, { arbitrary: fc.constantFrom(0, 4), weight: 1 }),
      }),
      weight: 2,
    },
  ];
  return fc.oneof(...base, ...display_);
}

/** A session case: device, profile, memory kind, limits and a command sequence that usually starts with VERSION. */
export interface SessionCase {
  readonly device: 'mdpy' | 'mbochs';
  readonly quirks: 'none' | 'upstream';
  /** 'fd': device memory carries a fake fd number (mmap paths, dmabuf export); 'heap': no fd. */
  readonly memory: 'fd' | 'heap';
  readonly maxDmaMaps: number;
  readonly maxDataXfer: number;
  readonly maxExports: number;
  readonly cmds: readonly SessionCmd[];
}

export const arbSessionCase: fc.Arbitrary<SessionCase> = fc
  .constantFrom<'mdpy' | 'mbochs'>('mdpy', 'mbochs')
  .chain((device) =>
    fc.record({
      quirks: fc.constantFrom<'none' | 'upstream'>('none', 'upstream'),
      memory: fc.constantFrom<'fd' | 'heap'>('fd', 'fd', 'heap'),
      maxDmaMaps: fc.integer({ min: 1, max: 6 }),
      maxDataXfer: fc.constantFrom(4096, 8192, 1 << 20),
      maxExports: fc.integer({ min: 1, max: 4 }),
      first: fc.oneof(
        { arbitrary: fc.constantFrom<VersionVariant>('qemu', 'empty-caps', 'no-json'), weight: device === 'mbochs' ? 2 : 8 },
        { arbitrary: fc.constantFrom<VersionVariant>('display', 'display-qemu'), weight: device === 'mbochs' ? 6 : 1 },
        { arbitrary: fc.constant<VersionVariant | 'none'>('none'), weight: 1 },
      ),
      firstId: fc.integer({ min: 0, max: 0xffff }),
      rest: fc.array(arbSessionCmd(device === 'mbochs'), { maxLength: 40, size: 'medium' }),
    }).map((c): SessionCase => ({
      device,
      quirks: c.quirks,
      memory: c.memory,
      maxDmaMaps: c.maxDmaMaps,
      maxDataXfer: c.maxDataXfer,
      maxExports: c.maxExports,
      cmds: c.first === 'none'
        ? c.rest
        : [{ c: 'version', h: { id: c.firstId, noReply: false, type: 0, fds: 0 }, variant: c.first }, ...c.rest],
    })),
  );

/** Protocol messages a session case sends (a 'mode' command sends several). */
export function countSessionMessages(c: SessionCase): number {
  let n = 0;
  for (const cmd of c.cmds) n += cmd.c === 'mode' ? MODE_WRITES : cmd.c === 'refresh' ? REFRESH_MESSAGES + (cmd.mode === null ? 0 : MODE_WRITES) : 1;
  return n;
}

/** Messages a 'refresh' command sends: two QUERY_GFX_PLANE and one GET_GFX_DMABUF. */
export const REFRESH_MESSAGES = 3;

/** REGION_WRITEs a 'mode' command sends: ENABLE 0, BPP, XRES, YRES, VIRT_WIDTH, X, Y, ENABLE. */
export const MODE_WRITES = 8;
