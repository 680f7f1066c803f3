/** Region indexes, offsets and counts for REGION_READ / REGION_WRITE and the info queries. */
import fc from 'fast-check';
import { arbU64, type U64 } from './header.ts';

/** A region-access offset: a literal u64, or relative to the end of the addressed region (resolved by the target). */
export type OffsetSpec =
  | { readonly k: 'lit'; readonly v: U64 }
  | { readonly k: 'end'; readonly d: number };

/** Region indexes 0–20 and 2^32−1: every real one, the EINVAL gaps, and the extremes. */
export const arbRegionIndex: fc.Arbitrary<number> = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 20 }), weight: 10 },
  { arbitrary: fc.constant(0xffff_ffff), weight: 1 },
);

/** Region indexes for accesses: mostly the regions that exist on mdpy or mbochs, sometimes any index. */
export const arbAccessIndex: fc.Arbitrary<number> = fc.oneof(
  { arbitrary: fc.constantFrom(0, 2, 7, 9, 16), weight: 4 },
  { arbitrary: arbRegionIndex, weight: 1 },
);

export const arbOffsetSpec: fc.Arbitrary<OffsetSpec> = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 0xff }).map((v): OffsetSpec => ({ k: 'lit', v: [0, v] })), weight: 3 },
  { arbitrary: fc.integer({ min: 0, max: 0x1100 }).map((v): OffsetSpec => ({ k: 'lit', v: [0, v] })), weight: 2 },
  { arbitrary: fc.integer({ min: -24, max: 8 }).map((d): OffsetSpec => ({ k: 'end', d })), weight: 3 },
  { arbitrary: arbU64.map((v): OffsetSpec => ({ k: 'lit', v })), weight: 1 },
);

export const arbCount: fc.Arbitrary<number> = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 8 }), weight: 8 },
  { arbitrary: fc.constantFrom(16, 255, 256, 4096, 4097), weight: 2 },
  { arbitrary: fc.constantFrom(8192, 8193, 0xffff_ffff), weight: 1 },
);
