/** mbochs types table against mbochs.c mbochs_types[] and invariant 4. */
import { describe, expect, it } from 'vitest';
import { MBOCHS_TYPES, MBOCHS_TYPE_LIST, mbochsType } from '../../../../devices/mbochs/types.ts';

describe('mbochs types', () => {
  it('match the spec table', () => {
    expect(MBOCHS_TYPE_LIST.map((t) => [t.sysfsName, t.prettyName, t.mbytes, t.memsize, t.videoMemory64k, t.maxXres, t.maxYres, t.bar0SizingReadback])).toEqual([
      ['small', 'mbochs-small', 4, 4 * 1024 * 1024, 64, 800, 600, 0xffc00008],
      ['medium', 'mbochs-medium', 16, 16 * 1024 * 1024, 256, 1920, 1440, 0xff000008],
      ['large', 'mbochs-large', 64, 64 * 1024 * 1024, 1024, 0, 0, 0xfc000008],
    ]);
    expect(MBOCHS_TYPES.medium.description).toBe('virtual display, 16 MB video memory');
    expect(MBOCHS_TYPES.large.memoryAttr).toBe('64 MB');
  });

  it('BAR0 size-probe readback = (−memsize mod 2^32) | 0x08 and memsize is a power of two (invariant 4)', () => {
    for (const t of MBOCHS_TYPE_LIST) {
      expect(((0x1_0000_0000 - t.memsize) | 0x08) >>> 0).toBe(t.bar0SizingReadback);
      expect(t.memsize & (t.memsize - 1)).toBe(0);
      expect(t.videoMemory64k * 65536).toBe(t.memsize);
    }
  });

  it('looks types up by sysfs or pretty name; unknown names are configuration errors', () => {
    expect(mbochsType('small')).toBe(MBOCHS_TYPES.small);
    expect(mbochsType('mbochs-large')).toBe(MBOCHS_TYPES.large);
    expect(() => mbochsType('huge')).toThrow(expect.objectContaining({ code: 'ECONFIG' }));
  });
});
