/**
 * dispi register file: sample-faithful (kernel mbochs) and strict (QEMU
 * stdvga) behaviour. Expected values come from mbochs.c handle_mmio_*(),
 * QEMU hw/display/vga.c (vbe_ioport_write_data(), vbe_fixup_regs()) and
 * invariants 15–17, not from the implementation.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DISPI_REGS,
  DISPI_REG_BY_INDEX,
  DispiRegisters,
  VBE_DISPI_INDEX_COUNT,
  type VramClearRequest,
} from '../../../../devices/mbochs/dispi.ts';
import { MBOCHS_TYPE_LIST } from '../../../../devices/mbochs/types.ts';
import { FC_SEED, fcParams } from '../fc-seed.ts';

/* Indexes spelled out from mbochs.c VBE_DISPI_INDEX_*, independent of the module's constants. */
const ID = 0, XRES = 1, YRES = 2, BPP = 3, ENABLE = 4, BANK = 5, VIRT_WIDTH = 6, VIRT_HEIGHT = 7, X_OFF = 8, Y_OFF = 9, VIDEO_MEM = 10;
const MiB = 1 << 20;

const interesting = fc.oneof(
  fc.integer({ min: 0, max: 0xffff }),
  fc.constantFrom(0, 1, 2, 4, 7, 8, 9, 15, 16, 24, 32, 63, 64, 0x41, 0x43, 0xc1, 0x80, 640, 1023, 1024, 1080, 1920, 12000, 12001, 16000, 16001, 0xb0c0, 0xb0c5, 0xb0c6, 0xffff),
);

function all(d: DispiRegisters): number[] {
  return Array.from({ length: 11 }, (_, i) => d.raw(i));
}

describe('dispi register table', () => {
  it('declares indexes 0..10 once each with the kernel names', () => {
    expect(VBE_DISPI_INDEX_COUNT).toBe(11);
    expect(DISPI_REG_BY_INDEX.map((d) => d.name)).toEqual([
      'VBE_DISPI_INDEX_ID', 'VBE_DISPI_INDEX_XRES', 'VBE_DISPI_INDEX_YRES', 'VBE_DISPI_INDEX_BPP',
      'VBE_DISPI_INDEX_ENABLE', 'VBE_DISPI_INDEX_BANK', 'VBE_DISPI_INDEX_VIRT_WIDTH', 'VBE_DISPI_INDEX_VIRT_HEIGHT',
      'VBE_DISPI_INDEX_X_OFFSET', 'VBE_DISPI_INDEX_Y_OFFSET', 'VBE_DISPI_INDEX_VIDEO_MEMORY_64K',
    ]);
  });

  it('groups the value constants under their register (bochs-vbe.h values)', () => {
    expect(DISPI_REGS.ID.values).toEqual({
      VBE_DISPI_ID0: 0xb0c0, VBE_DISPI_ID1: 0xb0c1, VBE_DISPI_ID2: 0xb0c2,
      VBE_DISPI_ID3: 0xb0c3, VBE_DISPI_ID4: 0xb0c4, VBE_DISPI_ID5: 0xb0c5,
    });
    expect(DISPI_REGS.ENABLE.values).toMatchObject({
      VBE_DISPI_DISABLED: 0x00, VBE_DISPI_ENABLED: 0x01, VBE_DISPI_GETCAPS: 0x02,
      VBE_DISPI_8BIT_DAC: 0x20, VBE_DISPI_LFB_ENABLED: 0x40, VBE_DISPI_NOCLEARMEM: 0x80,
    });
  });
});

describe(`dispi, sample-faithful (seed ${FC_SEED})`, () => {
  for (const t of MBOCHS_TYPE_LIST) {
    it(`reset of ${t.sysfsName}: ID 0xB0C5, VIDEO_MEMORY_64K ${t.videoMemory64k}, the rest 0 (invariant 15)`, () => {
      const d = new DispiRegisters({ vramSize: t.memsize });
      expect(all(d)).toEqual([0xb0c5, 0, 0, 0, 0, 0, 0, 0, 0, 0, t.videoMemory64k]);
      for (let i = 0; i < 11; i++) d.write(i, 0x1234 + i);
      d.reset();
      expect(all(d)).toEqual([0xb0c5, 0, 0, 0, 0, 0, 0, 0, 0, 0, t.videoMemory64k]);
    });
  }

  it('a write of v to index i (0–10) reads back v, every index, any u16 (invariant 16)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 0xffff }), (i, v) => {
        const d = new DispiRegisters({ vramSize: 4 * MiB });
        const before = all(d);
        d.write(i, v);
        expect(d.read(i)).toBe(v);
        const after = all(d);
        before[i] = v;
        expect(after).toEqual(before);
      }),
      fcParams(500),
    );
  });

  it('ID and VIDEO_MEMORY_64K are guest-writable, GETCAPS is ignored, VRAM is never cleared', () => {
    let cleared = 0;
    const d = new DispiRegisters({ vramSize: 16 * MiB, clearVram: () => { cleared++; } });
    d.write(ID, 0x0000);
    d.write(VIDEO_MEM, 1);
    d.write(XRES, 3);
    d.write(ENABLE, 0x02 | 0x01);
    expect(d.read(ID)).toBe(0);
    expect(d.read(VIDEO_MEM)).toBe(1);
    expect(d.read(XRES)).toBe(3); // not 16000
    expect(d.read(ENABLE)).toBe(0x03);
    expect(d.write(ENABLE, 0x41)).toBeUndefined();
    expect(cleared).toBe(0);
  });

  it('indexes outside 0..10 read 0 and writes there change nothing', () => {
    const d = new DispiRegisters({ vramSize: 4 * MiB });
    const before = all(d);
    for (const i of [11, 12, 15, 0xffff, -1, 1.5, Number.NaN]) {
      d.write(i, 0xabcd);
      expect(d.read(i)).toBe(0);
    }
    expect(all(d)).toEqual(before);
  });
});

/* ---- strict ---- */

/** Bits used for line maths after the fixup (vbe_fixup_regs: 15 counts as 16). */
function bitsOf(bpp: number): number {
  return bpp === 15 ? 16 : bpp;
}

/** Invariant 17, checked from the raw registers with the spec's formulas. */
function expectFixedUp(d: DispiRegisters, vram: number): void {
  const r = (i: number) => d.raw(i);
  expect([4, 8, 15, 16, 24, 32]).toContain(r(BPP));
  const bits = bitsOf(r(BPP));
  expect(r(XRES) % 8).toBe(0);
  expect(r(XRES)).toBeGreaterThanOrEqual(8);
  expect(r(XRES)).toBeLessThanOrEqual(16000);
  expect(r(VIRT_WIDTH) % 8).toBe(0);
  expect(r(VIRT_WIDTH)).toBeLessThanOrEqual(16000);
  expect(r(VIRT_WIDTH)).toBeGreaterThanOrEqual(r(XRES));
  const line = (r(VIRT_WIDTH) * bits) / 8;
  const maxy = Math.floor(vram / line);
  expect(r(YRES)).toBeGreaterThanOrEqual(Math.min(1, maxy));
  expect(r(YRES)).toBeLessThanOrEqual(Math.min(12000, maxy));
  expect(r(X_OFF)).toBeLessThanOrEqual(16000);
  expect(r(Y_OFF)).toBeLessThanOrEqual(12000);
  expect(BigInt(Math.floor((r(X_OFF) * bits) / 8)) + BigInt(r(Y_OFF) + r(YRES)) * BigInt(line)).toBeLessThanOrEqual(BigInt(vram));
  // QEMU stores maxy into the u16 VIRT_HEIGHT; mdevsim saturates instead of wrapping.
  expect(r(VIRT_HEIGHT)).toBe(Math.min(maxy, 0xffff));
}

describe(`dispi, strict QEMU stdvga (seed ${FC_SEED})`, () => {
  const strict = (vramSize: number, clearVram?: (r: VramClearRequest) => void) =>
    new DispiRegisters({ vramSize, vbe: 'strict', ...(clearVram ? { clearVram } : {}) });

  it('reset matches invariant 15 in strict mode too', () => {
    for (const t of MBOCHS_TYPE_LIST) {
      const d = strict(t.memsize);
      expect(all(d)).toEqual([0xb0c5, 0, 0, 0, 0, 0, 0, 0, 0, 0, t.videoMemory64k]);
      expect(d.read(VIDEO_MEM)).toBe(t.videoMemory64k);
    }
  });

  it('after any write sequence with ENABLED set, the registers satisfy the fixup (invariant 17)', () => {
    const vram = fc.constantFrom(...MBOCHS_TYPE_LIST.map((t) => t.memsize));
    const write = fc.record({ index: fc.integer({ min: 0, max: 15 }), value: interesting });
    fc.assert(
      fc.property(vram, fc.array(write, { maxLength: 40 }), (vramSize, writes) => {
        const d = strict(vramSize);
        d.write(ENABLE, 0x41);
        expectFixedUp(d, vramSize);
        for (const w of writes) {
          d.write(w.index, w.value);
          if (d.raw(ENABLE) & 1) expectFixedUp(d, vramSize);
        }
      }),
      fcParams(400),
    );
  });

  it('the ID register accepts only 0xB0C0..0xB0C5', () => {
    const d = strict(4 * MiB);
    for (const id of [0xb0c0, 0xb0c1, 0xb0c2, 0xb0c3, 0xb0c4, 0xb0c5]) {
      d.write(ID, id);
      expect(d.read(ID)).toBe(id);
    }
    d.write(ID, 0xb0c2);
    for (const bad of [0, 0x1234, 0xb0bf, 0xb0c6, 0xffff]) {
      d.write(ID, bad);
      expect(d.read(ID)).toBe(0xb0c2);
    }
  });

  it('GETCAPS makes XRES/YRES/BPP read 16000/12000/32 and leaves the stored values alone', () => {
    const d = strict(16 * MiB);
    d.write(XRES, 640);
    d.write(YRES, 480);
    d.write(BPP, 16);
    d.write(ENABLE, 0x02);
    expect([d.read(XRES), d.read(YRES), d.read(BPP)]).toEqual([16000, 12000, 32]);
    expect([d.raw(XRES), d.raw(YRES), d.raw(BPP)]).toEqual([640, 480, 16]);
    expect(d.read(VIRT_WIDTH)).toBe(0);
    d.write(ENABLE, 0);
    expect([d.read(XRES), d.read(YRES), d.read(BPP)]).toEqual([640, 480, 16]);
  });

  it('BANK is masked to the 64 KiB banks of VRAM; a non-edge ENABLE write zeroes bank_offset only', () => {
    const d = strict(4 * MiB); // 64 banks → mask 63
    d.write(BANK, 0xffff);
    expect(d.read(BANK)).toBe(63);
    expect(d.bankOffset).toBe(63 * 65536);
    d.write(BANK, 64 + 5);
    expect(d.read(BANK)).toBe(5);
    d.write(ENABLE, 0); // no 0→1 edge
    expect(d.bankOffset).toBe(0);
    expect(d.read(BANK)).toBe(5);
    const big = strict(64 * MiB); // 1024 banks → mask 1023
    big.write(BANK, 0xffff);
    expect(big.read(BANK)).toBe(1023);
  });

  it('VIRT_HEIGHT and VIDEO_MEMORY_64K writes are ignored', () => {
    const d = strict(16 * MiB);
    d.write(VIRT_HEIGHT, 1234);
    d.write(VIDEO_MEM, 1);
    expect(d.read(VIRT_HEIGHT)).toBe(0);
    expect(d.read(VIDEO_MEM)).toBe(256);
  });

  it('the ENABLE edge zeroes VIRT_WIDTH/X/Y, fixes up, and requests a clear of YRES·line bytes', () => {
    const seen: VramClearRequest[] = [];
    const d = strict(16 * MiB, (r) => seen.push(r));
    for (const [i, v] of [[BPP, 32], [XRES, 1024], [YRES, 768], [VIRT_WIDTH, 2048], [X_OFF, 8], [Y_OFF, 16]] as const) d.write(i, v);
    // disabled: stored verbatim, no fixup
    expect([d.raw(VIRT_WIDTH), d.raw(X_OFF), d.raw(Y_OFF), d.raw(VIRT_HEIGHT)]).toEqual([2048, 8, 16, 0]);
    const req = d.write(ENABLE, 0x41);
    expect(req).toEqual({ offset: 0, length: 768 * 1024 * 4 });
    expect(seen).toEqual([req]);
    expect([d.raw(VIRT_WIDTH), d.raw(X_OFF), d.raw(Y_OFF)]).toEqual([1024, 0, 0]);
    expect(d.raw(VIRT_HEIGHT)).toBe(Math.floor((16 * MiB) / 4096));
    expect(d.raw(ENABLE)).toBe(0x41);
    // already enabled: no edge, no clear
    expect(d.write(ENABLE, 0x41)).toBeUndefined();
    expect(seen).toHaveLength(1);
  });

  it('NOCLEARMEM suppresses the clear on the edge', () => {
    const seen: VramClearRequest[] = [];
    const d = strict(4 * MiB, (r) => seen.push(r));
    d.write(BPP, 32);
    d.write(XRES, 640);
    d.write(YRES, 480);
    expect(d.write(ENABLE, 0x01 | 0x40 | 0x80)).toBeUndefined();
    expect(seen).toEqual([]);
    expect(d.raw(ENABLE)).toBe(0xc1);
    expect(d.dac8bit).toBe(false);
    d.write(ENABLE, 0x21);
    expect(d.dac8bit).toBe(true);
  });

  it('fixup rules on hand-worked examples (vbe_fixup_regs)', () => {
    const d = strict(4 * MiB);
    d.write(ENABLE, 0x01); // everything 0: bpp → 8, XRES → 8, VIRT_WIDTH → 8, YRES → 1
    expect([d.raw(BPP), d.raw(XRES), d.raw(VIRT_WIDTH), d.raw(YRES)]).toEqual([8, 8, 8, 1]);
    // line 8 → maxy 524288: does not fit the u16; QEMU would store 524288 & 0xffff = 0, mdevsim saturates.
    expect(d.raw(VIRT_HEIGHT)).toBe(0xffff);
    d.write(BPP, 15);
    expect(d.raw(BPP)).toBe(15); // kept, maths uses 16
    d.write(BPP, 7);
    expect(d.raw(BPP)).toBe(8);
    d.write(BPP, 32);
    d.write(XRES, 1023);
    expect(d.raw(XRES)).toBe(1016);
    d.write(XRES, 20000);
    expect(d.raw(XRES)).toBe(16000);
    expect(d.raw(VIRT_WIDTH)).toBe(16000);
    d.write(XRES, 1024);
    d.write(VIRT_WIDTH, 0); // < XRES → XRES
    expect(d.raw(VIRT_WIDTH)).toBe(1024);
    d.write(YRES, 768); // line 4096, maxy 1024
    expect(d.raw(VIRT_HEIGHT)).toBe(1024);
    d.write(YRES, 5000);
    expect(d.raw(YRES)).toBe(1024);
    d.write(YRES, 768);
    d.write(Y_OFF, 256); // 256 + 768 = 1024 rows: fits exactly
    expect(d.raw(Y_OFF)).toBe(256);
    d.write(Y_OFF, 257); // overflows → Y := 0
    expect(d.raw(Y_OFF)).toBe(0);
    d.write(X_OFF, 40000);
    expect(d.raw(X_OFF)).toBe(16000); // 64000 + 768·4096 fits
    d.write(YRES, 1024); // whole VRAM: X·4 > 0 overflows with Y = 0 too → X := 0
    expect([d.raw(X_OFF), d.raw(Y_OFF)]).toEqual([0, 0]);
    d.write(Y_OFF, 20000);
    expect(d.raw(Y_OFF)).toBe(0);
  });

  it('writes while disabled are stored verbatim (fixup runs only while ENABLED)', () => {
    const d = strict(4 * MiB);
    d.write(XRES, 1023);
    d.write(YRES, 0);
    d.write(BPP, 7);
    expect([d.raw(XRES), d.raw(YRES), d.raw(BPP)]).toEqual([1023, 0, 7]);
  });
});

describe('dispi snapshot', () => {
  it('round-trips as a named record and refuses a mismatched one', () => {
    const a = new DispiRegisters({ vramSize: 16 * MiB, vbe: 'strict' });
    a.write(BPP, 32);
    a.write(XRES, 800);
    a.write(YRES, 600);
    a.write(ENABLE, 0x41);
    a.write(BANK, 3);
    const snap = a.snapshot();
    expect(snap.registers.XRES).toBe(800);
    expect(snap.bankOffset).toBe(3 * 65536);
    const b = new DispiRegisters({ vramSize: 16 * MiB, vbe: 'strict' });
    b.restore(structuredClone(snap));
    expect(all(b)).toEqual(all(a));
    expect(b.bankOffset).toBe(a.bankOffset);
    const c = new DispiRegisters({ vramSize: 4 * MiB, vbe: 'strict' });
    const before = all(c);
    expect(() => c.restore(snap)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => b.restore({ ...snap, registers: { ...snap.registers, XRES: 0x10000 } })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(all(c)).toEqual(before);
    expect(all(b)).toEqual(all(a));
  });

  it('rejects a bad VRAM size at construction', () => {
    for (const bad of [0, -1, 1.5, 2 ** 32, Number.NaN]) {
      expect(() => new DispiRegisters({ vramSize: bad })).toThrow(expect.objectContaining({ code: 'ECONFIG' }));
    }
  });
});
