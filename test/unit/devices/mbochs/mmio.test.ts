/**
 * The BAR2 MMIO map (docs/devices/mbochs.md "BAR2"; invariants 16, 26, 31).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DispiRegisters } from '../../../../devices/mbochs/dispi.ts';
import { EdidRegion } from '../../../../devices/mbochs/edid-region.ts';
import { MBOCHS_MMIO_MAP, MbochsMmio, mmioSubregionAt } from '../../../../devices/mbochs/mmio.ts';
import { MBOCHS_TYPES } from '../../../../devices/mbochs/types.ts';
import { deriveMode } from '../../../../devices/mbochs/mode.ts';
import { DRM_FORMAT_BGRX8888, DRM_FORMAT_XRGB8888 } from '../../../../src/vfio/uapi.ts';
import { FC_SEED, fcParams } from '../fc-seed.ts';

const MiB = 1 << 20;
const DISPI = 0x500;

function make(vbe: 'sample' | 'strict' = 'sample', qext = false, vramSize = 16 * MiB) {
  const dispi = new DispiRegisters({ vramSize, vbe });
  const edid = new EdidRegion({ maxXres: 1920, maxYres: 1440 });
  const mmio = new MbochsMmio({ dispi, edid, qext });
  return { dispi, edid, mmio };
}

function regs(dispi: DispiRegisters): number[] {
  return Array.from({ length: 11 }, (_, i) => dispi.raw(i));
}

/** Puts a recognisable EDID in place with link UP, through the host region interface. */
function loadEdid(edid: EdidRegion, blob: Uint8Array): void {
  const u32 = (v: number) => new Uint8Array(new Uint32Array([v]).buffer);
  edid.regionWrite(8, u32(blob.length));
  edid.regionWrite(0x800, blob);
  edid.regionWrite(20, u32(1));
}

describe('MMIO map table', () => {
  it('places the subregions at the named offsets of mbochs.c handle_mmio_*', () => {
    expect(MBOCHS_MMIO_MAP.edid).toMatchObject({ offset: 0x000, size: 0x400 });
    expect(MBOCHS_MMIO_MAP.vga).toMatchObject({ offset: 0x400, size: 0x20 });
    expect(MBOCHS_MMIO_MAP.dispi).toMatchObject({ offset: 0x500, size: 0x16 });
    expect(MBOCHS_MMIO_MAP.qext).toMatchObject({ offset: 0x600, size: 0x8 });
    expect(mmioSubregionAt(0x3ff)?.name).toBe('edid');
    expect(mmioSubregionAt(0x41f)?.name).toBe('vga');
    expect(mmioSubregionAt(0x420)).toBeUndefined();
    expect(mmioSubregionAt(0x515)?.name).toBe('dispi');
    expect(mmioSubregionAt(0x516)).toBeUndefined();
    expect(mmioSubregionAt(0x607)?.name).toBe('qext');
    expect(mmioSubregionAt(0x608)).toBeUndefined();
  });
});

describe(`MMIO, sample-faithful (seed ${FC_SEED})`, () => {
  it('a 16-bit write of v at 0x500 + 2i reads back v (invariant 16)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 0xffff }), (i, v) => {
        const { mmio, dispi } = make();
        mmio.mmioWrite(DISPI + 2 * i, 2, v);
        expect(mmio.mmioRead(DISPI + 2 * i, 2)).toBe(v);
        expect(dispi.raw(i)).toBe(v);
      }),
      fcParams(300),
    );
  });

  it('non-16-bit accesses in 0x500–0x515 read 0 and change nothing (invariant 16)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0x500, max: 0x515 }),
        fc.constantFrom(1 as const, 4 as const),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        (off, size, v) => {
          const { mmio, dispi } = make();
          mmio.mmioWrite(DISPI + 2, 2, 640); // something non-zero to read
          const before = regs(dispi);
          expect(mmio.mmioRead(off, size)).toBe(0);
          expect(mmio.mmioWrite(off, size, v)).toBeUndefined();
          expect(regs(dispi)).toEqual(before);
        },
      ),
      fcParams(300),
    );
  });

  it('reset values read through MMIO as bochs-drm probes them (ID, VIDEO_MEMORY_64K)', () => {
    for (const t of Object.values(MBOCHS_TYPES)) {
      const dispi = new DispiRegisters({ vramSize: t.memsize });
      const mmio = new MbochsMmio({ dispi, edid: new EdidRegion({ maxXres: t.maxXres, maxYres: t.maxYres }) });
      expect(mmio.mmioRead(0x500, 2)).toBe(0xb0c5);
      expect(mmio.mmioRead(0x514, 2)).toBe(t.videoMemory64k);
    }
  });

  it('VGA window 0x400–0x41F and qext 0x600–0x607 read 0 and ignore writes (invariant 31)', () => {
    const { mmio, dispi, edid } = make();
    const before = regs(dispi);
    const edidBefore = edid.snapshot();
    for (let off = 0x400; off < 0x420; off++) {
      for (const size of [1, 2, 4] as const) {
        mmio.mmioWrite(off, size, 0xffff_ffff);
        expect(mmio.mmioRead(off, size)).toBe(0);
      }
    }
    for (let off = 0x600; off < 0x608; off++) {
      for (const size of [1, 2, 4] as const) {
        mmio.mmioWrite(off, size, 0x1e1e1e1e);
        mmio.mmioWrite(off, size, 0xbebebebe);
        expect(mmio.mmioRead(off, size)).toBe(0);
      }
    }
    expect(mmio.mmioRead(0x600, 4)).toBe(0); // the qext size register would be 8 with qext
    expect(regs(dispi)).toEqual(before);
    expect(edid.snapshot()).toEqual(edidBefore);
    expect(mmio.byteOrder).toBe('le');
  });

  it('offsets outside every subregion read 0 and ignore writes (mbochs.c handle_mmio_read(): unhandled reads 0); 0..0xFFF never throws', () => {
    const { mmio, dispi } = make();
    const before = regs(dispi);
    for (let off = 0; off < 0x1000; off++) {
      for (const size of [1, 2, 4] as const) {
        const sub = mmioSubregionAt(off);
        if (sub === undefined) {
          expect(mmio.mmioWrite(off, size, 0xffff_ffff)).toBeUndefined();
          expect(mmio.mmioRead(off, size)).toBe(0);
        } else {
          expect(() => mmio.mmioRead(off, size)).not.toThrow();
        }
      }
    }
    expect(regs(dispi)).toEqual(before);
  });

  it('accesses outside the BAR are refused with EFAULT', () => {
    const { mmio } = make();
    expect(() => mmio.mmioRead(0x1000, 1)).toThrow(expect.objectContaining({ code: 'EFAULT' }));
    expect(() => mmio.mmioRead(-1, 1)).toThrow(expect.objectContaining({ code: 'EFAULT' }));
    expect(() => mmio.mmioWrite(0x10, 3 as 4, 0)).toThrow(expect.objectContaining({ code: 'EFAULT' }));
    expect(() => mmio.regionRead(0xffe, new Uint8Array(4))).toThrow(expect.objectContaining({ code: 'EFAULT' }));
    expect(() => mmio.regionWrite(0x1000, new Uint8Array(1))).toThrow(expect.objectContaining({ code: 'EFAULT' }));
  });

  it('the EDID window shows the blob while the link is UP; guest writes never change it (invariant 26)', () => {
    const { mmio, edid } = make();
    const blob = Uint8Array.from({ length: 128 }, (_, i) => (i * 7 + 1) & 0xff);
    loadEdid(edid, blob);
    for (let o = 0; o < 128; o++) expect(mmio.mmioRead(o, 1)).toBe(blob[o]);
    expect(mmio.mmioRead(128, 1)).toBe(0);
    expect(mmio.mmioRead(0, 4)).toBe((blob[0]! | (blob[1]! << 8) | (blob[2]! << 16) | (blob[3]! << 24)) >>> 0);
    for (let o = 0; o < 0x400; o += 4) mmio.mmioWrite(o, 4, 0xdeadbeef);
    for (let o = 0; o < 0x400; o++) mmio.mmioWrite(o, 1, 0x55);
    expect(edid.blob().subarray(0, 128)).toEqual(blob);
  });

  it('a region write is split like mbochs_write: an 8-byte write at 0x500 is two 4-byte chunks, all dropped', () => {
    const { mmio, dispi } = make();
    const before = regs(dispi);
    mmio.regionWrite(0x500, new Uint8Array(8).fill(0x11));
    expect(regs(dispi)).toEqual(before);
    // a 2-byte region write at 0x502 is one 2-byte chunk → stored
    mmio.regionWrite(0x502, Uint8Array.of(0x80, 0x02));
    expect(dispi.raw(1)).toBe(640);
    const out = new Uint8Array(6).fill(0xaa);
    mmio.regionRead(0x502, out); // chunks 2@0x502, 4@0x504 → [640], [0,0,0,0]
    expect([...out]).toEqual([0x80, 0x02, 0, 0, 0, 0]);
  });
});

describe(`MMIO, strict (seed ${FC_SEED})`, () => {
  it('1-, 2- and 4-byte dispi accesses are split into 16-bit register accesses like QEMU', () => {
    const { mmio, dispi } = make('strict');
    mmio.mmioWrite(0x502, 4, (480 << 16) | 640); // XRES, YRES
    expect([dispi.raw(1), dispi.raw(2)]).toEqual([640, 480]);
    expect(mmio.mmioRead(0x502, 4)).toBe(((480 << 16) | 640) >>> 0);
    expect(mmio.mmioRead(0x502, 2)).toBe(640);
    expect(mmio.mmioRead(0x502, 1)).toBe(640 & 0xff);
    // a byte write reaches the register as a 16-bit write with high byte 0
    mmio.mmioWrite(0x506, 1, 32);
    expect(dispi.raw(3)).toBe(32);
    mmio.mmioWrite(0x506, 2, 0x1234);
    mmio.mmioWrite(0x506, 1, 0x20);
    expect(dispi.raw(3)).toBe(0x20);
    // the enable edge comes back out of mmioWrite
    expect(mmio.mmioWrite(0x508, 1, 0x41)).toEqual({ offset: 0, length: 480 * 640 * 4 });
  });

  it('a 4-byte access at 0x514 is not split at the end of the dispi window: QEMU 7.2 clamps only RAM accesses to a section (softmmu/physmem.c address_space_translate_internal()), so pci_vga_bochs_read() (hw/display/vga-pci.c, impl 2 bytes) sees indexes 10 and 11, and index 11 reads 0 and drops writes (hw/display/vga.c vbe_ioport_read_data()/vbe_ioport_write_data())', () => {
    const { mmio, dispi } = make('strict');
    expect(mmio.mmioRead(0x514, 4)).toBe(0x0000_0100); // VIDEO_MEMORY_64K of 16 MiB; what QEMU 7.2 stdvga answers (vgamem_mb=16)
    const before = regs(dispi);
    mmio.mmioWrite(0x514, 4, 0xffff_ffff);
    expect(regs(dispi)).toEqual(before);
    const out = new Uint8Array(4);
    mmio.regionRead(0x514, out);
    expect([...out]).toEqual([0x00, 0x01, 0x00, 0x00]);
  });

  it('offsets outside every subregion read all ones and ignore writes: QEMU 7.2 stdvga backs BAR2 with a "vga.mmio" region of unassigned_io_ops (hw/display/vga-pci.c), whose read returns -1 (softmmu/ioport.c unassigned_io_read()); so a 2-byte read at 0x516, just past dispi, is 0xFFFF', () => {
    const { mmio, dispi } = make('strict');
    const before = regs(dispi);
    for (let off = 0; off < 0x1000; off++) {
      if (mmioSubregionAt(off) !== undefined) continue;
      for (const size of [1, 2, 4] as const) {
        expect(mmio.mmioWrite(off, size, 0)).toBeUndefined();
        expect(mmio.mmioRead(off, size)).toBe(2 ** (8 * size) - 1);
      }
    }
    expect(mmio.mmioRead(0x516, 2)).toBe(0xffff);
    expect(regs(dispi)).toEqual(before);
  });

  it('a 4-byte write (display disabled) never changes registers outside the two it covers', () => {
    // k = 2 would cover ENABLE, whose edge legitimately runs the fixup on other registers.
    fc.assert(
      fc.property(fc.constantFrom(0, 1, 3, 4, 5), fc.integer({ min: 0, max: 0xffff_ffff }), (k, v) => {
        const { mmio, dispi } = make('strict');
        const before = regs(dispi);
        const off = 0x500 + 4 * k; // covers indexes 2k and 2k+1
        mmio.mmioWrite(off, 4, v);
        const after = regs(dispi);
        for (let i = 0; i < 11; i++) if (i !== 2 * k && i !== 2 * k + 1) expect(after[i], `index ${i}`).toBe(before[i]);
      }),
      fcParams(200),
    );
  });

  it('with qext: size reads 8, byte order reads one of the magics and accepts only those (invariant 31)', () => {
    const { mmio, dispi } = make('strict', true);
    expect(mmio.mmioRead(0x600, 4)).toBe(8);
    expect(mmio.mmioRead(0x604, 4)).toBe(0x1e1e1e1e);
    mmio.mmioWrite(0x604, 4, 0x12345678);
    expect(mmio.mmioRead(0x604, 4)).toBe(0x1e1e1e1e);
    mmio.mmioWrite(0x604, 4, 0xbebebebe);
    expect(mmio.mmioRead(0x604, 4)).toBe(0xbebebebe);
    expect(mmio.byteOrder).toBe('be');
    mmio.mmioWrite(0x604, 2, 0x1e1e); // not a 4-byte access: ignored
    expect(mmio.mmioRead(0x604, 4)).toBe(0xbebebebe);
    expect(mmio.mmioRead(0x604, 2)).toBe(0);
    // bochs-drm BGRX8888 on a BE framebuffer
    for (const [i, v] of [[3, 32], [1, 640], [2, 480], [4, 0x41]] as const) mmio.mmioWrite(0x500 + 2 * i, 2, v);
    const be = deriveMode(dispi.values(), dispi.vramSize, { byteOrder: mmio.byteOrder });
    expect(be).toMatchObject({ kind: 'mode', drmFormat: DRM_FORMAT_BGRX8888 });
    mmio.mmioWrite(0x604, 4, 0x1e1e1e1e);
    expect(deriveMode(dispi.values(), dispi.vramSize, { byteOrder: mmio.byteOrder })).toMatchObject({ drmFormat: DRM_FORMAT_XRGB8888 });
    mmio.mmioWrite(0x604, 4, 0xbebebebe);
    const snap = mmio.snapshot();
    mmio.reset();
    expect(mmio.byteOrder).toBe('le');
    mmio.restore(snap);
    expect(mmio.byteOrder).toBe('be');
  });

  it('strict without qext: 0x600–0x607 is a hole and reads all ones, as QEMU 7.2 stdvga with qemu-extended-regs=off; with qext a non-4-byte access reads 0 (pci_vga_qext_ops accept 4 bytes only; memory_region_dispatch_read() answers 0); qext in sample mode is a configuration error', () => {
    expect(make('strict').mmio.mmioRead(0x600, 4)).toBe(0xffff_ffff);
    expect(make('strict').mmio.mmioRead(0x607, 1)).toBe(0xff);
    expect(make('strict', true).mmio.mmioRead(0x600, 2)).toBe(0);
    expect(make('sample').mmio.mmioRead(0x600, 4)).toBe(0);
    expect(() => make('sample', true)).toThrow(expect.objectContaining({ code: 'ECONFIG' }));
  });
});
