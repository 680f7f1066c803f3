/**
 * mdpy config space (region 7): mdpy.c mdpy_create_config_space(), docs/devices/mdpy.md
 * "Sample bugs fixed by default" 6 and 7; invariants 3, 4, 5, 6, 13. Expected bytes
 * are written out from the kernel sample, not taken from the code.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MDPY_TYPE_LIST, MdpyDevice, createMdpyBudget, type MdpyType } from '../../../../devices/mdpy/index.ts';
import type { Quirks } from '../../../../devices/common/options.ts';
import { VFIO_PCI_CONFIG_REGION_INDEX as CFG } from '../../../../src/vfio/uapi.ts';
import { VfioError } from '../../../../src/util/errors.ts';
import { FC_SEED, fcParams } from '../fc-seed.ts';

const PROFILES: readonly Quirks[] = ['none', 'upstream'];
const EFAULT = 14;

function make(t: MdpyType | string, quirks: Quirks = 'none'): MdpyDevice {
  return new MdpyDevice(t, { quirks, budget: createMdpyBudget(1) });
}

function cfgRead(d: MdpyDevice, off: number, size: number): number {
  const b = new Uint8Array(size);
  d.regionRead(CFG, off, b);
  let v = 0;
  for (let i = size - 1; i >= 0; i--) v = v * 256 + b[i]!;
  return v;
}

function cfgWrite(d: MdpyDevice, off: number, size: number, v: number): void {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i++) b[i] = Math.floor(v / 2 ** (8 * i)) & 0xff;
  d.regionWrite(CFG, off, b);
}

function cfgImage(d: MdpyDevice): Uint8Array {
  const img = new Uint8Array(d.regionInfo(CFG).size);
  d.regionRead(CFG, 0, img);
  return img;
}

/** mdpy.c mdpy_create_config_space(), byte by byte. */
function specImage(w: number, h: number, size: number): Uint8Array {
  const img = new Uint8Array(size);
  const put = (off: number, bytes: number[]): void => { img.set(bytes, off); };
  const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
  put(0x00, [0x36, 0x1b]); // vendor 0x1B36
  put(0x02, [0x0f, 0x00]); // device 0x000F
  put(0x04, [0x03, 0x00]); // command IO|MEM
  put(0x06, [0x10, 0x00]); // status CAP_LIST
  put(0x08, [0x01]); // revision
  put(0x0a, [0x80, 0x03]); // class 0x0380
  put(0x10, [0x08, 0, 0, 0]); // BAR0 mem32 prefetchable
  put(0x2c, [0xf4, 0x1a]); // subsystem vendor 0x1AF4
  put(0x2e, [0x00, 0x11]); // subsystem 0x1100
  put(0x34, [0x40]); // capability pointer
  put(0x40, [0x09, 0x00, 0x10, 0x00]); // vendor cap, next 0, len 16
  put(0x44, le32(0x34325258));
  put(0x48, le32(w));
  put(0x4c, le32(h));
  return img;
}

describe(`mdpy config space (seed ${FC_SEED})`, () => {
  for (const t of MDPY_TYPE_LIST) {
    for (const q of PROFILES) {
      it(`${t.sysfsName}/${q}: the config image is the kernel's byte for byte (${q === 'upstream' ? '0xFF' : '256'} bytes)`, () => {
        const d = make(t, q);
        const size = q === 'upstream' ? 0xff : 0x100;
        expect(d.regionInfo(CFG)).toMatchObject({ index: 7, offset: 0, size, flags: 3, caps: [] });
        expect([...cfgImage(d)]).toEqual([...specImage(t.width, t.height, size)]);
        d.destroy();
      });
    }
  }

  it('a 4-byte read at 0xFC works with 256 bytes (QEMU sysfs config read); upstream reports 0xFF but answers it as mdpy.c mdev_access() (Linux v6.12) does, the chunk starting below 0xFF: the real bytes 0xFC–0xFE, then 0 past the end', () => {
    const d = make('vga');
    expect(cfgRead(d, 0xfc, 4)).toBe(0);
    const u = make('vga', 'upstream');
    expect(u.regionInfo(CFG).size).toBe(0xff);
    u.config.deviceSetBytes(0xfc, Uint8Array.of(0xa1, 0xa2, 0xa3)); // distinctive bytes, so "real bytes" shows
    const before = cfgImage(u);
    const got = new Uint8Array(4).fill(0xee);
    u.regionRead(CFG, 0xfc, got);
    expect([...got]).toEqual([0xa1, 0xa2, 0xa3, 0]);
    const whole = new Uint8Array(256);
    u.regionRead(CFG, 0, whole); // QEMU's whole-space read: the last chunk starts at 0xFC
    expect([...whole.subarray(0, 0xff)]).toEqual([...before]);
    expect(whole[0xff]).toBe(0);
    // handle_pci_cfg_write() acts only on the BAR0 dword: a write at 0xFC is accepted and changes nothing
    u.regionWrite(CFG, 0xfc, Uint8Array.of(1, 2, 3, 4));
    expect(cfgImage(u)).toEqual(before);
    // a chunk that starts at 0xFF or later fails the whole access, which changes nothing
    for (const [off, n] of [[0xff, 1], [0xfe, 4], [0xfc, 5], [0x100, 4], [0, 257]] as const) {
      expect(() => u.regionRead(CFG, off, new Uint8Array(n)), `read ${n} at 0x${off.toString(16)}`).toThrow(expect.objectContaining({ errno: EFAULT }));
      expect(() => u.regionWrite(CFG, off, new Uint8Array(n).fill(0xff)), `write ${n} at 0x${off.toString(16)}`).toThrow(expect.objectContaining({ errno: EFAULT }));
    }
    expect(cfgImage(u)).toEqual(before);
  });

  for (const t of MDPY_TYPE_LIST) {
    it(`${t.sysfsName}: BAR0 size probe reads back 0x${t.bar0SizingReadback.toString(16).toUpperCase()} in both profiles (invariant 4)`, () => {
      for (const q of PROFILES) {
        const d = make(t, q);
        cfgWrite(d, 0x10, 4, 0xffffffff);
        const rb = cfgRead(d, 0x10, 4);
        expect(rb).toBe(t.bar0SizingReadback);
        // (−size mod 2^32) | flag nibble, and size = region 0 size, a power of two
        const size = d.regionInfo(0).size;
        expect(rb).toBe(((2 ** 32 - size) | 0x8) >>> 0);
        expect(size & (size - 1)).toBe(0);
        d.destroy();
      }
    });
  }

  it('invariant 5 (upstream): after a non-probe dword v, BAR0 reads (v & ~0xF) | 8, address bits below the size kept', () => {
    const d = make('xga', 'upstream');
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xfffffffe }), (v) => {
        cfgWrite(d, 0x10, 4, v);
        expect(cfgRead(d, 0x10, 4)).toBe(((v & ~0xf) | 0x8) >>> 0);
      }),
      fcParams(300),
    );
  });

  it('invariant 5, fixed by default: BAR0 keeps only address bits ≥ memsize (QEMU masking), (v & ~(size−1)) | 8', () => {
    const d = make('xga');
    const size = 4 * 1024 * 1024;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (v) => {
        cfgWrite(d, 0x10, 4, v);
        expect(cfgRead(d, 0x10, 4)).toBe(((v & ~(size - 1)) | 0x8) >>> 0);
      }),
      fcParams(300),
    );
  });

  it('sub-dword BAR0 writes: merged into the dword by default, ignored with upstream', () => {
    const d = make('vga');
    cfgWrite(d, 0x12, 2, 0xabcd);
    expect(cfgRead(d, 0x10, 4)).toBe(0xabc00008 >>> 0);
    cfgWrite(d, 0x13, 1, 0x12);
    expect(cfgRead(d, 0x10, 4)).toBe(0x12c00008);
    const u = make('vga', 'upstream');
    cfgWrite(u, 0x10, 4, 0xfe001230);
    for (const [off, size] of [[0x10, 1], [0x10, 2], [0x11, 1], [0x12, 2], [0x13, 1]] as const) {
      cfgWrite(u, off, size, 0xffff);
      expect(cfgRead(u, 0x10, 4)).toBe(0xfe001238);
    }
  });

  for (const q of PROFILES) {
    it(`invariant 3 (${q}): any config write that misses BAR0 leaves every byte as it was; one that hits it changes only BAR0`, () => {
      const d = make('hd', q);
      const size = d.regionInfo(CFG).size;
      const access = fc.integer({ min: 0, max: size - 1 }).chain((off) =>
        fc.tuple(fc.constant(off), fc.uint8Array({ minLength: 1, maxLength: Math.min(8, size - off) })));
      fc.assert(
        fc.property(access, ([off, bytes]) => {
          const before = cfgImage(d);
          d.regionWrite(CFG, off, bytes);
          const after = cfgImage(d);
          const hitsBar = off < 0x14 && off + bytes.length > 0x10;
          for (let i = 0; i < size; i++) {
            if (hitsBar && i >= 0x10 && i < 0x14) continue;
            if (after[i] !== before[i]) expect.fail(`byte 0x${i.toString(16)} changed by a ${bytes.length}-byte write at 0x${off.toString(16)}`);
          }
          if (hitsBar) cfgWrite(d, 0x10, 4, 0); // back to a clean BAR for the next run
        }),
        fcParams(400),
      );
      d.destroy();
    });

    it(`invariant 6 (${q}): COMMAND always reads 0x0003 and the interrupt pin 0, whatever is written`, () => {
      const d = make('vga', q);
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xff }), (cmd, pin) => {
          cfgWrite(d, 0x04, 2, cmd);
          cfgWrite(d, 0x04, 4, cmd * 0x10001);
          cfgWrite(d, 0x3c, 2, pin * 0x101);
          expect(cfgRead(d, 0x04, 2)).toBe(0x0003);
          expect(cfgRead(d, 0x3d, 1)).toBe(0);
          expect(cfgRead(d, 0x06, 2)).toBe(0x0010);
        }),
        fcParams(200),
      );
    });
  }

  for (const t of MDPY_TYPE_LIST) {
    it(`${t.sysfsName}: invariant 13: cap chain 0x34 → 0x40 (id 9, next 0, len 16); dwords 0x44/0x48/0x4C equal the plane's format/width/height`, () => {
      for (const q of PROFILES) {
        const d = make(t, q);
        expect(cfgRead(d, 0x06, 2) & 0x10).toBe(0x10);
        expect(cfgRead(d, 0x34, 1)).toBe(0x40);
        expect([cfgRead(d, 0x40, 1), cfgRead(d, 0x41, 1), cfgRead(d, 0x42, 1)]).toEqual([0x09, 0x00, 0x10]);
        const plane = d.queryGfxPlane({ argsz: 64, flags: 4, drmPlaneType: 1 });
        if (plane === 'probe-ok') throw new Error('expected a plane');
        expect([cfgRead(d, 0x44, 4), cfgRead(d, 0x48, 4), cfgRead(d, 0x4c, 4)]).toEqual([plane.drmFormat, plane.width, plane.height]);
        // the cap is read-only: writes over it change nothing
        d.regionWrite(CFG, 0x40, new Uint8Array(16).fill(0xff));
        expect([cfgRead(d, 0x44, 4), cfgRead(d, 0x48, 4), cfgRead(d, 0x4c, 4)]).toEqual([0x34325258, t.width, t.height]);
        d.destroy();
      }
    });
  }

  it('config accesses with offsets beyond the space (incl. ≥ 2^53) are EFAULT and change nothing (invariant 2)', () => {
    const d = make('vga');
    const before = cfgImage(d);
    for (const off of [0x100, 0xfff, 2 ** 32, 2 ** 53 - 1, 2 ** 53, 2 ** 64, -1, 0.5, Number.NaN]) {
      for (const n of [0, 1, 4]) {
        if (off === 0x100 && n === 0) continue; // an empty access at the end is in range
        let caught: unknown;
        try { d.regionWrite(CFG, off, new Uint8Array(n).fill(0xff)); } catch (e) { caught = e; }
        expect(caught, `write ${n}@${off}`).toBeInstanceOf(VfioError);
        expect((caught as VfioError).errno).toBe(EFAULT);
      }
    }
    expect(cfgImage(d)).toEqual(before);
  });
});
