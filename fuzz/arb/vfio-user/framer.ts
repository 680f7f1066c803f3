/** Framer streams: well-formed, lying and raw parts, cut into recvmsg chunks with fds (the `framer` target). */
import fc from 'fast-check';
import { HEADER_SIZE, concatBytes, message, pattern } from './header.ts';

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
