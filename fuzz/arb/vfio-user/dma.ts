/** DMA_MAP / DMA_UNMAP commands. */
import fc from 'fast-check';
import { arbLen, arbMsgHead, arbU64, type U64 } from './header.ts';
import type { SessionCmd } from './session.ts';

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
