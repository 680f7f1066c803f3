/**
 * The samples' config-region bound ('upstream'): mdpy.c / mbochs.c mdev_access() (samples/vfio-mdev/,
 * Linux v6.12) answer a read()/write() chunk whenever it starts below MDPY_CONFIG_SPACE_SIZE /
 * MBOCHS_CONFIG_SPACE_SIZE = 0xff, whatever its length.
 */
import { describe, expect, it } from 'vitest';
import { sampleConfigRead, sampleConfigSpan, sampleConfigWrite } from '../../../../devices/common/sample-config.ts';
import { ConfigSpace } from '../../../../src/pci/index.ts';
import { AccessError } from '../../../../src/util/errors.ts';

describe('sampleConfigSpan', () => {
  it('with the 4/2/1 chunk loop, an access of n > 0 bytes at o is answered iff o < 0xFF and o + n ≤ 0x100 (every o ≤ 0x110, n ≤ 16); then the bytes below 0xFF are inside', () => {
    for (let o = 0; o <= 0x110; o++) {
      for (let n = 1; n <= 16; n++) {
        const answered = o < 0xff && o + n <= 0x100;
        expect(sampleConfigSpan(o, n, 0xff), `${n} at 0x${o.toString(16)}`).toBe(answered ? Math.min(n, 0xff - o) : undefined);
      }
    }
  });

  it('the cases that matter: QEMU\'s 4-byte read at 0xFC and a whole-space read of 256 bytes are answered, anything touching 0x100 is not', () => {
    expect(sampleConfigSpan(0xfc, 4, 0xff)).toBe(3);
    expect(sampleConfigSpan(0, 256, 0xff)).toBe(255);
    expect(sampleConfigSpan(0xfe, 2, 0xff)).toBe(1);
    expect(sampleConfigSpan(0xff, 1, 0xff)).toBeUndefined(); // the chunk starts at 0xff
    expect(sampleConfigSpan(0xfe, 4, 0xff)).toBeUndefined(); // chunks 0xFE (2 bytes), 0x100 (2 bytes)
    expect(sampleConfigSpan(0xfc, 5, 0xff)).toBeUndefined(); // chunks 0xFC (4), 0x100 (1)
    expect(sampleConfigSpan(0, 257, 0xff)).toBeUndefined();
  });

  it('zero-length accesses are answered up to the end of the region; bad arguments are refused; huge counts stop at the end', () => {
    expect(sampleConfigSpan(0xff, 0, 0xff)).toBe(0);
    expect(sampleConfigSpan(0x100, 0, 0xff)).toBeUndefined();
    for (const [o, n] of [[-1, 4], [0.5, 4], [2 ** 53, 4], [0, -1], [0, 2 ** 53]] as const) expect(sampleConfigSpan(o, n, 0xff)).toBeUndefined();
    expect(sampleConfigSpan(0, 2 ** 40, 0xff)).toBeUndefined();
  });
});

describe('sampleConfigRead / sampleConfigWrite', () => {
  const header = { vendorId: 0x1b36, deviceId: 0x000f, classCode: 0x0380 };

  it('a read past the end returns the real bytes then zeros; a write past the end writes only the bytes inside', () => {
    const cs = new ConfigSpace({ size: 255, header, unclaimedWritable: true });
    cs.deviceSetBytes(0xfc, Uint8Array.of(0xa1, 0xa2, 0xa3));
    const dst = new Uint8Array(4).fill(0xee);
    sampleConfigRead(cs, 0xfc, dst);
    expect([...dst]).toEqual([0xa1, 0xa2, 0xa3, 0]);
    sampleConfigWrite(cs, 0xfc, Uint8Array.of(1, 2, 3, 4));
    expect([...cs.image].slice(0xfc)).toEqual([1, 2, 3]);
  });

  it('a refused access is EFAULT and leaves the buffer and the space untouched', () => {
    const cs = new ConfigSpace({ size: 255, header, unclaimedWritable: true });
    const before = cs.image.slice();
    const dst = new Uint8Array(4).fill(0xee);
    expect(() => sampleConfigRead(cs, 0xfe, dst)).toThrow(AccessError);
    expect([...dst]).toEqual([0xee, 0xee, 0xee, 0xee]);
    expect(() => sampleConfigWrite(cs, 0xfe, Uint8Array.of(1, 2, 3, 4))).toThrow(AccessError);
    expect(cs.image.slice()).toEqual(before);
  });
});
