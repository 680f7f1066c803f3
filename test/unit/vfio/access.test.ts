import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkRange, chunkSizeAt, forEachChunk, inRange, u64ToOffset, wireRange } from '../../../src/vfio/access.ts';
import { VfioError } from '../../../src/util/errors.ts';

function chunks(offset: number, count: number): [number, number, number][] {
  const out: [number, number, number][] = [];
  forEachChunk(offset, count, (pos, size, bufIndex) => {
    out.push([pos, size, bufIndex]);
  });
  return out;
}

describe('the samples\' access splitter', () => {
  it('chunk sequences worked out by hand', () => {
    // pos 3 is odd → 1; pos 4 with 8 left → 4; pos 8 with 4 left → 4
    expect(chunks(0x3, 9)).toEqual([[3, 1, 0], [4, 4, 1], [8, 4, 5]]);
    expect(chunks(0, 7)).toEqual([[0, 4, 0], [4, 2, 4], [6, 1, 6]]);
    expect(chunks(2, 3)).toEqual([[2, 2, 0], [4, 1, 2]]);
    expect(chunks(6, 8)).toEqual([[6, 2, 0], [8, 4, 2], [12, 2, 6]]);
    expect(chunks(1, 1)).toEqual([[1, 1, 0]]);
    expect(chunks(0xfc, 4)).toEqual([[0xfc, 4, 0]]);
    expect(chunks(0xfd, 3)).toEqual([[0xfd, 1, 0], [0xfe, 2, 1]]);
    expect(chunks(0xfe, 1)).toEqual([[0xfe, 1, 0]]);
    expect(chunks(5, 0)).toEqual([]);
    // QEMU's 255-byte config read at realize: 63 dwords, then a word, then a byte
    const cfg = chunks(0, 0xff);
    expect(cfg.length).toBe(65);
    expect(cfg.slice(-3)).toEqual([[0xf8, 4, 0xf8], [0xfc, 2, 0xfc], [0xfe, 1, 0xfe]]);
  });

  it('chunkSizeAt follows 4-if-aligned-and-room, else 2, else 1', () => {
    expect(chunkSizeAt(0, 4)).toBe(4);
    expect(chunkSizeAt(0, 3)).toBe(2);
    expect(chunkSizeAt(0, 1)).toBe(1);
    expect(chunkSizeAt(2, 4)).toBe(2);
    expect(chunkSizeAt(1, 4)).toBe(1);
  });

  it('stops when the callback returns false and reports the bytes done', () => {
    const seen: number[] = [];
    const done = forEachChunk(0, 12, (pos) => {
      seen.push(pos);
      return pos < 4;
    });
    expect(seen).toEqual([0, 4]);
    expect(done).toBe(4);
    expect(forEachChunk(1, 5, () => undefined)).toBe(5);
  });

  it('chunks are contiguous, cover exactly [offset, offset+count), each naturally aligned and as large as allowed', () => {
    fc.assert(fc.property(fc.nat(1 << 20), fc.nat(600), (offset, count) => {
      let next = offset;
      forEachChunk(offset, count, (pos, size, bufIndex) => {
        expect(pos).toBe(next);
        expect(bufIndex).toBe(pos - offset);
        expect(pos % size).toBe(0);
        expect(pos + size).toBeLessThanOrEqual(offset + count);
        const left = offset + count - pos;
        if (size < 4) expect(left >= 4 && pos % 4 === 0).toBe(false);
        if (size < 2) expect(left >= 2 && pos % 2 === 0).toBe(false);
        next = pos + size;
      });
      expect(next).toBe(offset + count);
    }));
  });
});

describe('u64 offsets and range checks', () => {
  it('u64ToOffset at the edges', () => {
    expect(u64ToOffset(0n)).toBe(0);
    expect(u64ToOffset(0xffff_ffffn)).toBe(0xffff_ffff);
    expect(u64ToOffset(2n ** 53n - 1n)).toBe(Number.MAX_SAFE_INTEGER);
    expect(u64ToOffset(2n ** 53n)).toBeUndefined();
    expect(u64ToOffset(2n ** 64n - 1n)).toBeUndefined();
    expect(u64ToOffset(-1n)).toBeUndefined();
  });

  it('inRange at the edges, never overflowing', () => {
    expect(inRange(0, 0, 0)).toBe(true);
    expect(inRange(0xff, 0, 0xff)).toBe(true);
    expect(inRange(0xff, 1, 0xff)).toBe(false);
    expect(inRange(0xfc, 4, 0xff)).toBe(false);
    expect(inRange(0xfb, 4, 0xff)).toBe(true);
    const MAX = Number.MAX_SAFE_INTEGER;
    expect(inRange(MAX, 0, MAX)).toBe(true);
    expect(inRange(MAX, 1, MAX)).toBe(false);
    expect(inRange(1, MAX, MAX)).toBe(false);
    expect(inRange(MAX, MAX, MAX)).toBe(false);
    expect(inRange(2 ** 53, 0, 2 ** 54)).toBe(false);
    expect(inRange(-1, 1, 10)).toBe(false);
    expect(inRange(0, -1, 10)).toBe(false);
    expect(inRange(0.5, 1, 10)).toBe(false);
    expect(inRange(Number.NaN, 1, 10)).toBe(false);
  });

  it('wireRange: u64 offset + u32 count against a region size', () => {
    const size = 0x1000;
    expect(wireRange(0n, 0x1000, size)).toBe(0);
    expect(wireRange(0xffcn, 4, size)).toBe(0xffc);
    expect(wireRange(0xffdn, 4, size)).toBeUndefined();
    expect(wireRange(0x1000n, 0, size)).toBe(0x1000);
    // offset + count overflows u64
    expect(wireRange(2n ** 64n - 1n, 1, size)).toBeUndefined();
    expect(wireRange(2n ** 64n - 4n, 0xffff_ffff, size)).toBeUndefined();
    // beyond 2^53
    expect(wireRange(2n ** 53n, 0, Number.MAX_SAFE_INTEGER)).toBeUndefined();
    expect(wireRange(2n ** 53n - 1n, 1, Number.MAX_SAFE_INTEGER)).toBeUndefined();
    expect(wireRange(2n ** 53n - 2n, 1, Number.MAX_SAFE_INTEGER)).toBe(2 ** 53 - 2);
  });

  it('checkRange throws EINVAL (or the errno asked for) outside, nothing inside', () => {
    expect(() => checkRange(0, 0xff, 0xff, 'config')).not.toThrow();
    let err: unknown;
    try {
      checkRange(0xfc, 4, 0xff, 'config');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VfioError);
    expect((err as VfioError).errno).toBe(22);
    try {
      checkRange(0x1000, 1, 0x1000, 'BAR2', 'EFAULT');
    } catch (e) {
      err = e;
    }
    expect((err as VfioError).errno).toBe(14);
  });
});
