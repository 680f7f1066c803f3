/**
 * EDID region (index 9): mbochs.c handle_edid_regs()/handle_edid_blob(), QEMU
 * hw/vfio/display.c; invariants 1, 2, 26–29.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EdidRegion } from '../../../../devices/mbochs/edid-region.ts';
import { MBOCHS_TYPE_LIST } from '../../../../devices/mbochs/types.ts';
import { FC_SEED, fcParams } from '../fc-seed.ts';

const UP = 1, DOWN = 2;
const EDID_OFFSET = 0, EDID_MAX_SIZE = 4, EDID_SIZE = 8, MAX_XRES = 12, MAX_YRES = 16, LINK_STATE = 20;

function le32(v: number): Uint8Array {
  return Uint8Array.of(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
}

function read32(e: EdidRegion, off: number): number {
  const b = new Uint8Array(4);
  e.regionRead(off, b);
  return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
}

function regs(e: EdidRegion): number[] {
  return [0, 4, 8, 12, 16, 20].map((o) => read32(e, o));
}

/** The guest's whole 0x000–0x3FF window, byte by byte. */
function guestWindow(e: EdidRegion): Uint8Array {
  return Uint8Array.from({ length: 0x400 }, (_, o) => e.guestRead(o, 1));
}

function fakeEdid(len: number, seed: number): Uint8Array {
  const b = Uint8Array.from({ length: len }, (_, i) => (i * 31 + seed * 17 + 1) & 0xff);
  b.set([0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00]);
  return b;
}

const medium = () => new EdidRegion({ maxXres: 1920, maxYres: 1440 });

describe(`EDID region registers (seed ${FC_SEED})`, () => {
  for (const t of MBOCHS_TYPE_LIST) {
    it(`initial registers of ${t.sysfsName}: 0x800, 0x400, 0, ${t.maxXres}, ${t.maxYres}, link 0`, () => {
      const e = new EdidRegion({ maxXres: t.maxXres, maxYres: t.maxYres });
      expect(regs(e)).toEqual([0x800, 0x400, 0, t.maxXres, t.maxYres, 0]);
      expect([...e.blob()].every((b) => b === 0)).toBe(true);
    });
  }

  it('edid_offset, edid_max_size, max_xres, max_yres are read-only; edid_size and link_state read back any u32 (invariant 27)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: 0, max: 0xffff_ffff }), (size, link, junk) => {
        const e = medium();
        for (const ro of [EDID_OFFSET, EDID_MAX_SIZE, MAX_XRES, MAX_YRES]) e.regionWrite(ro, le32(junk));
        e.regionWrite(EDID_SIZE, le32(size));
        e.regionWrite(LINK_STATE, le32(link));
        expect(regs(e)).toEqual([0x800, 0x400, size, 1920, 1440, link]);
        expect(e.edidSize).toBe(size); // not clamped, no validation (kernel)
      }),
      fcParams(300),
    );
  });

  it('register accesses that are not exactly 4 bytes, 4-aligned, inside 24 bytes change nothing and read zeros', () => {
    const e = medium();
    e.regionWrite(EDID_SIZE, le32(128));
    e.regionWrite(LINK_STATE, le32(UP));
    const before = regs(e);
    for (let off = 0; off < 40; off++) {
      for (const count of [1, 2, 3]) {
        e.regionWrite(off, new Uint8Array(count).fill(0xee));
        const dst = new Uint8Array(count).fill(0xaa);
        e.regionRead(off, dst);
        // a 2-byte chunk at an aligned offset inside the struct is still not a register access
        expect([...dst], `read ${count}@${off}`).toEqual(new Array(count).fill(0));
      }
      if (off % 4 !== 0 || off >= 24) {
        // a 4-byte access here is split into 1/2-byte chunks (unaligned) or lies past the struct
        e.regionWrite(off, le32(0xeeeeeeee));
        const dst = new Uint8Array(4).fill(0xaa);
        e.regionRead(off, dst);
        expect([...dst], `read 4@${off}`).toEqual([0, 0, 0, 0]);
      }
    }
    expect(regs(e)).toEqual(before);
  });

  it('0x18–0x7FF and 0xC00–0xFFF ignore writes and read zeros', () => {
    const e = medium();
    const before = e.snapshot();
    for (const [off, len] of [[0x18, 0x7e8], [0xc00, 0x400], [0x7fc, 4], [0xffc, 4]] as const) {
      e.regionWrite(off, new Uint8Array(len).fill(0x5a));
      const dst = new Uint8Array(len).fill(0xaa);
      e.regionRead(off, dst);
      expect(dst.every((b) => b === 0)).toBe(true);
    }
    expect(e.snapshot()).toEqual(before);
  });

  it('a multi-chunk register write lands only on the writable chunks (kernel split into 4-byte accesses)', () => {
    const e = medium();
    const eight = new Uint8Array([...le32(256), ...le32(7)]); // edid_size, max_xres
    e.regionWrite(EDID_SIZE, eight);
    expect(regs(e)).toEqual([0x800, 0x400, 256, 1920, 1440, 0]);
    const all = new Uint8Array(24).fill(0xaa);
    e.regionRead(0, all);
    expect([...all]).toEqual([...le32(0x800), ...le32(0x400), ...le32(256), ...le32(1920), ...le32(1440), ...le32(0)]);
  });

  it('accesses beyond the 4 KiB region fail with EFAULT and change nothing, reads zero-filled', () => {
    const e = medium();
    const before = e.snapshot();
    for (const [off, len] of [[0xfff, 2], [0x1000, 1], [0x800, 0x801], [Number.MAX_SAFE_INTEGER, 4], [-1, 1]] as const) {
      expect(() => e.regionWrite(off, new Uint8Array(len).fill(1))).toThrow(expect.objectContaining({ code: 'EFAULT' }));
      const dst = new Uint8Array(len).fill(0xaa);
      expect(() => e.regionRead(off, dst)).toThrow(expect.objectContaining({ code: 'EFAULT' }));
      expect(dst.every((b) => b === 0)).toBe(true);
    }
    expect(e.snapshot()).toEqual(before);
  });
});

describe(`EDID blob (seed ${FC_SEED})`, () => {
  it('blob writes land iff rel+count ≤ 0x400, whatever the link state; reads return them', () => {
    for (const link of [0, UP, DOWN, 0xdead]) {
      const e = medium();
      e.regionWrite(LINK_STATE, le32(link));
      const blob = fakeEdid(0x400, link);
      e.regionWrite(0x800, blob);
      expect(e.blob()).toEqual(blob);
      const back = new Uint8Array(0x400);
      e.regionRead(0x800, back);
      expect(back).toEqual(blob);
      e.regionWrite(0xbfc, le32(0x04030201)); // rel 0x3FC + 4 = 0x400: accepted
      expect([...e.blob().subarray(0x3fc)]).toEqual([1, 2, 3, 4]);
    }
  });

  it('a write crossing 0xC00 keeps its chunks below 0x400 and drops the rest (per-chunk rule)', () => {
    const e = medium();
    e.regionWrite(0xbfe, Uint8Array.of(9, 8, 7, 6)); // chunks: 2@0xBFE (rel 0x3FE, fits), 2@0xC00 (dropped)
    expect([...e.blob().subarray(0x3fe)]).toEqual([9, 8]);
    const dst = new Uint8Array(4).fill(0xaa);
    e.regionRead(0xbfe, dst);
    expect([...dst]).toEqual([9, 8, 0, 0]);
  });
});

describe(`EDID guest view (seed ${FC_SEED})`, () => {
  it('byte o reads blob[o] iff link_state = UP and o < edid_size, else 0 (invariant 26)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0x400, maxLength: 0x400 }),
        fc.oneof(fc.integer({ min: 0, max: 0x500 }), fc.constantFrom(0, 128, 256, 0x400, 0xffff_ffff)),
        fc.oneof(fc.constantFrom(0, UP, DOWN), fc.integer({ min: 0, max: 0xffff_ffff })),
        fc.integer({ min: 0, max: 0x3ff }),
        (blob, size, link, o) => {
          const e = medium();
          e.regionWrite(0x800, blob);
          e.regionWrite(EDID_SIZE, le32(size));
          e.regionWrite(LINK_STATE, le32(link));
          expect(e.guestRead(o, 1)).toBe(link === UP && o < size ? blob[o] : 0);
          const a = o & ~3;
          if (a + 4 <= size || a >= size) {
            // not straddling edid_size: all four bytes, or none
            const want = link === UP && a < size ? (blob[a]! | (blob[a + 1]! << 8) | (blob[a + 2]! << 16) | (blob[a + 3]! << 24)) >>> 0 : 0;
            expect(e.guestRead(a, 4)).toBe(want);
          }
        },
      ),
      fcParams(300),
    );
  });

  it('a read straddling edid_size returns the bytes below it and zeros at or beyond it (documented choice)', () => {
    const e = medium();
    e.regionWrite(0x800, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
    e.regionWrite(EDID_SIZE, le32(6));
    e.regionWrite(LINK_STATE, le32(UP));
    expect(e.guestRead(4, 4)).toBe(0x0605);
    expect(e.guestRead(4, 2)).toBe(0x0605);
    expect(e.guestRead(6, 2)).toBe(0);
  });

  it('edid_size beyond 0x400 shows the whole blob and never anything past it', () => {
    const e = medium();
    const blob = fakeEdid(0x400, 3);
    e.regionWrite(0x800, blob);
    e.regionWrite(EDID_SIZE, le32(0xffff_ffff));
    e.regionWrite(LINK_STATE, le32(UP));
    expect(guestWindow(e)).toEqual(blob);
    expect(e.guestRead(0x3fe, 4)).toBe(blob[0x3fe]! | (blob[0x3ff]! << 8));
    expect(e.guestRead(0x400, 4)).toBe(0);
  });

  it('QEMU update sequence DOWN, size, blob, UP: zeros at every step until UP, then the blob (invariant 28)', () => {
    fc.assert(
      fc.property(fc.constantFrom(128, 256), fc.constantFrom(128, 256), fc.integer({ min: 0, max: 255 }), (len1, len2, seed) => {
        const e = medium();
        // QEMU init: pread the four fields
        expect([read32(e, EDID_OFFSET), read32(e, EDID_MAX_SIZE), read32(e, MAX_XRES), read32(e, MAX_YRES)]).toEqual([0x800, 0x400, 1920, 1440]);
        const zeros = new Uint8Array(0x400);
        const update = (blob: Uint8Array) => {
          e.regionWrite(LINK_STATE, le32(DOWN));
          expect(guestWindow(e)).toEqual(zeros);
          e.regionWrite(EDID_SIZE, le32(blob.length));
          expect(guestWindow(e)).toEqual(zeros);
          e.regionWrite(0x800, blob);
          expect(guestWindow(e)).toEqual(zeros);
          e.regionWrite(LINK_STATE, le32(UP));
          const seen = guestWindow(e);
          expect(seen.subarray(0, blob.length)).toEqual(blob);
          expect(seen.subarray(blob.length).every((b) => b === 0)).toBe(true);
        };
        update(fakeEdid(len1, seed));
        update(fakeEdid(len2, seed + 1)); // a resize: the shorter EDID hides the old tail
      }),
      fcParams(30),
    );
  });

  it('the guest view never throws and reads 0 outside the window', () => {
    const e = medium();
    e.regionWrite(EDID_SIZE, le32(0x400));
    e.regionWrite(LINK_STATE, le32(UP));
    e.regionWrite(0x800, new Uint8Array(0x400).fill(0xff));
    for (const o of [-4, -1, 0x400, 0x1000, 1.5, Number.NaN]) expect(e.guestRead(o, 1)).toBe(0);
  });
});

describe('EDID snapshot', () => {
  it('round-trips edid_size, link_state and the blob as a named record', () => {
    const e = medium();
    e.regionWrite(0x800, fakeEdid(256, 1));
    e.regionWrite(EDID_SIZE, le32(256));
    e.regionWrite(LINK_STATE, le32(UP));
    const snap = e.snapshot();
    expect(snap).toMatchObject({ kind: 'mbochs-edid', version: 1, edidSize: 256, linkState: UP });
    const f = medium();
    f.restore(structuredClone(snap));
    expect(regs(f)).toEqual(regs(e));
    expect(f.blob()).toEqual(e.blob());
    expect(() => f.restore({ ...snap, blob: new Uint8Array(5) })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => f.restore({ ...snap, linkState: -1 })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(regs(f)).toEqual(regs(e));
  });
});
