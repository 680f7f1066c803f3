/** kernelChunks: the 4/2/1 split of mbochs_read/mdpy_read. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { kernelChunks } from '../../../../devices/common/access.ts';
import { FC_SEED, fcParams } from '../fc-seed.ts';

describe(`kernelChunks (seed ${FC_SEED})`, () => {
  it('splits like the kernel loop', () => {
    expect([...kernelChunks(0, 8)]).toEqual([{ offset: 0, size: 4 }, { offset: 4, size: 4 }]);
    expect([...kernelChunks(1, 8)]).toEqual([{ offset: 1, size: 1 }, { offset: 2, size: 2 }, { offset: 4, size: 4 }, { offset: 8, size: 1 }]);
    expect([...kernelChunks(0x514, 4)]).toEqual([{ offset: 0x514, size: 4 }]);
    expect([...kernelChunks(6, 3)]).toEqual([{ offset: 6, size: 2 }, { offset: 8, size: 1 }]);
    expect([...kernelChunks(5, 0)]).toEqual([]);
  });

  it('chunks are contiguous, cover the access exactly and are naturally aligned', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0x10000 }), fc.integer({ min: 0, max: 64 }), (off, count) => {
        let pos = off;
        for (const c of kernelChunks(off, count)) {
          expect(c.offset).toBe(pos);
          expect(c.offset % c.size).toBe(0);
          pos += c.size;
        }
        expect(pos).toBe(off + count);
      }),
      fcParams(300),
    );
  });
});
