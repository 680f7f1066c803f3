/**
 * MbochsDevice, the PCI/VFIO surface: config space, region
 * table, GET_INFO / IRQs, region access rules (docs/devices/mbochs.md "Tables",
 * "Profiles"); invariants 1–8. Expected values are the kernel sample's, written out here.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MBOCHS_TYPES, MbochsDevice } from '../../../../devices/mbochs/index.ts';
import { IRQ_SET_RULES, IrqSetError, encodeRegionInfo, u64ToOffset, wireRange } from '../../../../src/vfio/index.ts';
import type { IrqSet } from '../../../../src/vfio/device.ts';
import { VfioError } from '../../../../src/util/errors.ts';
import { hex } from '../../vfio/hex.ts';
import { FC_SEED, fcParams } from '../fc-seed.ts';
import { encodeRegionInfo as encodeUserRegionInfo } from '../../../../src/vfio-user/info.ts';
import {
  BAR0, BAR2, CONFIG, EDID, MiB, PAGE, PROFILES, TYPES, bytesEqual, dispiAll, errno, make, rd, readRegion, wr, type Profile,
} from './device-harness.ts';

/** mbochs.c mbochs_create_config_space(), as a byte image (0x40–0xFF are all zero). */
const SPEC_HEADER = hex(`
  34 12 11 11  03 00 00 00 | 01 00 80 03  00 00 00 00
  08 00 00 00  00 00 00 00 | 00 00 00 00  00 00 00 00
  00 00 00 00  00 00 00 00 | 00 00 00 00  f4 1a 00 11
  00 00 00 00  00 00 00 00 | 00 00 00 00  00 00 00 00
`);
function specConfig(size: number, revision = 1): Uint8Array {
  const img = new Uint8Array(size);
  img.set(SPEC_HEADER);
  img[0x08] = revision;
  return img;
}

/** BAR0 size-probe readback per type (docs/devices/mbochs.md "Types"). */
const BAR0_PROBE = { small: 0xffc00008, medium: 0xff000008, large: 0xfc000008 } as const;
const BAR2_PROBE = 0xfffff000;
const MEMSIZE = { small: 4 * MiB, medium: 16 * MiB, large: 64 * MiB } as const;
const CONFIG_SIZE: Record<Profile, number> = { none: 256, upstream: 0xff };
/**
 * Whether a config access of n bytes at o is answered. Default: inside the 256 bytes. 'upstream': mbochs.c
 * mdev_access() (Linux v6.12) answers every read()/write() chunk that starts below MBOCHS_CONFIG_SPACE_SIZE
 * (0xff), so with the 4/2/1 chunk loop n > 0 bytes at o are answered iff o < 0xFF and o + n ≤ 0x100.
 */
function configAnswers(quirks: Profile, o: number, n: number): boolean {
  if (quirks === 'none') return o + n <= 256;
  return n === 0 ? o <= 0xff : o < 0xff && o + n <= 0x100;
}

const BAR_BYTES = new Set([0x10, 0x11, 0x12, 0x13, 0x18, 0x19, 0x1a, 0x1b]);

describe('config space', () => {
  it('every type, both profiles: the config region matches the kernel sample byte for byte', () => {
    for (const t of TYPES) {
      for (const quirks of PROFILES) {
        const dev = make(t, { quirks });
        expect(dev.regionInfo(CONFIG).size).toBe(CONFIG_SIZE[quirks]);
        expect(readRegion(dev, CONFIG, 0, CONFIG_SIZE[quirks])).toEqual(specConfig(CONFIG_SIZE[quirks]));
      }
    }
  });

  it('the default config region is 256 bytes, so a 4-byte read at 0xFC succeeds; upstream reports 0xFF but answers it as mbochs.c mdev_access() (Linux v6.12) does, the chunk starting below 0xFF, with 0 for the byte past the end', () => {
    expect(rd(make('small'), CONFIG, 0xfc, 4)).toBe(0);
    const up = make('small', { quirks: 'upstream' });
    const before = readRegion(up, CONFIG, 0, 0xff);
    expect(up.regionInfo(CONFIG).size).toBe(0xff);
    expect(rd(up, CONFIG, 0xfc, 4)).toBe(0);
    expect(rd(up, CONFIG, 0xfe, 2)).toBe(0);
    expect(readRegion(up, CONFIG, 0xf8, 8)).toEqual(new Uint8Array(8));
    // handle_pci_cfg_write() acts only on BAR0/BAR2: a write there is accepted and changes nothing
    wr(up, CONFIG, 0xfc, 4, 0xffffffff);
    expect(readRegion(up, CONFIG, 0, 0xff)).toEqual(before);
    // a chunk that starts at 0xFF or later fails the whole read()/write()
    for (const [o, n] of [[0xff, 1], [0xfe, 4], [0xfc, 5], [0x100, 4]] as const) {
      expect(() => readRegion(up, CONFIG, o, n), `read ${n} at 0x${o.toString(16)}`).toThrow(errno('EFAULT'));
      expect(() => up.regionWrite(CONFIG, o, new Uint8Array(n).fill(0xff)), `write ${n} at 0x${o.toString(16)}`).toThrow(errno('EFAULT'));
    }
    expect(readRegion(up, CONFIG, 0, 0xff)).toEqual(before);
  });

  it('revision is 1, and 2 only with vbe strict + qext (so bochs-drm probes the extended registers)', () => {
    expect(rd(make('small', { vbe: 'strict' }), CONFIG, 0x08, 1)).toBe(1);
    const q = make('medium', { vbe: 'strict', qext: true });
    expect(readRegion(q, CONFIG, 0, 256)).toEqual(specConfig(256, 2));
  });

  it('BAR size probes read back the types-table value for BAR0 and 0xFFFFF000 for BAR2, both profiles (invariant 4)', () => {
    for (const t of TYPES) {
      for (const quirks of PROFILES) {
        const dev = make(t, { quirks });
        wr(dev, CONFIG, 0x10, 4, 0xffffffff);
        expect(rd(dev, CONFIG, 0x10, 4)).toBe(BAR0_PROBE[t]);
        wr(dev, CONFIG, 0x18, 4, 0xffffffff);
        expect(rd(dev, CONFIG, 0x18, 4)).toBe(BAR2_PROBE);
        // BAR0 size is a power of two equal to region 0's size.
        const size = (~(BAR0_PROBE[t] & ~0xf) >>> 0) + 1;
        expect(size).toBe(dev.regionInfo(BAR0).size);
        expect(size & (size - 1)).toBe(0);
      }
    }
  });

  describe(`config writes (seed ${FC_SEED})`, () => {
    const access = fc.record({
      offset: fc.integer({ min: 0, max: 0xff }),
      data: fc.uint8Array({ minLength: 1, maxLength: 8 }),
    });

    for (const quirks of PROFILES) {
      it(`${quirks}: a write never changes a config byte outside BAR0/BAR2; COMMAND stays 0x0003, pin 0 (invariants 3, 6)`, () => {
        const dev = make('small', { quirks });
        const size = CONFIG_SIZE[quirks];
        const initial = readRegion(dev, CONFIG, 0, size);
        fc.assert(
          fc.property(fc.array(access, { maxLength: 20 }), (writes) => {
            for (const { offset, data } of writes) {
              if (!configAnswers(quirks, offset, data.length)) {
                expect(() => dev.regionWrite(CONFIG, offset, data)).toThrow(errno('EFAULT'));
              } else {
                dev.regionWrite(CONFIG, offset, data);
              }
              const now = readRegion(dev, CONFIG, 0, size);
              for (const i of BAR_BYTES) now[i] = initial[i]!;
              expect(bytesEqual(now, initial)).toBe(true);
              expect(rd(dev, CONFIG, 0x04, 2)).toBe(0x0003);
              expect(rd(dev, CONFIG, 0x3d, 1)).toBe(0);
            }
          }),
          fcParams(150),
        );
      });
    }

    const addr = fc.integer({ min: 0, max: 0xfffffffe });

    it('upstream: after a non-probe write v to BAR0 or BAR2 the read-back is (v & ~0xF) | flag nibble (invariant 5)', () => {
      const dev = make('medium', { quirks: 'upstream' });
      fc.assert(
        fc.property(addr, addr, (v0, v2) => {
          wr(dev, CONFIG, 0x10, 4, v0);
          wr(dev, CONFIG, 0x18, 4, v2);
          expect(rd(dev, CONFIG, 0x10, 4)).toBe(((v0 & ~0xf) | 0x08) >>> 0);
          expect(rd(dev, CONFIG, 0x18, 4)).toBe((v2 & ~0xf) >>> 0);
        }),
        fcParams(300),
      );
    });

    it('default: BAR writes use standard PCI masking, (v & ~(size−1)) | flag nibble', () => {
      const dev = make('medium');
      fc.assert(
        fc.property(addr, addr, (v0, v2) => {
          wr(dev, CONFIG, 0x10, 4, v0);
          wr(dev, CONFIG, 0x18, 4, v2);
          expect(rd(dev, CONFIG, 0x10, 4)).toBe(((v0 & ~(16 * MiB - 1)) | 0x08) >>> 0);
          expect(rd(dev, CONFIG, 0x18, 4)).toBe((v2 & ~0xfff) >>> 0);
        }),
        fcParams(300),
      );
    });

    it('sub-dword BAR writes: the default merges them into the BAR; upstream ignores them', () => {
      const def = make('small');
      wr(def, CONFIG, 0x12, 2, 0xfebf);
      expect(rd(def, CONFIG, 0x10, 4)).toBe(0xfe800008); // 4 MiB BAR: address bits 31..22
      wr(def, CONFIG, 0x1a, 1, 0x12);
      expect(rd(def, CONFIG, 0x18, 4)).toBe(0x00120000);
      const up = make('small', { quirks: 'upstream' });
      wr(up, CONFIG, 0x12, 2, 0xfebf);
      wr(up, CONFIG, 0x10, 1, 0xff);
      expect(rd(up, CONFIG, 0x10, 4)).toBe(0x00000008);
    });
  });
});

describe('regions', () => {
  const R = 1, W = 2, MMAP = 4;

  it('every type, both profiles: the region-info table of mbochs_get_region_info; indexes ≥ 10 are EINVAL', () => {
    for (const t of TYPES) {
      for (const quirks of PROFILES) {
        const dev = make(t, { quirks });
        const table = Array.from({ length: 10 }, (_, i) => {
          const r = dev.regionInfo(i);
          return [r.index, r.offset, r.size, r.flags, r.caps];
        });
        expect(table).toEqual([
          [0, 0x3000, MEMSIZE[t], R | W | MMAP, []],
          [1, 0, 0, 0, []],
          [2, 0x1000, 0x1000, R | W, []],
          [3, 0, 0, 0, []],
          [4, 0, 0, 0, []],
          [5, 0, 0, 0, []],
          [6, 0, 0, 0, []],
          [7, 0, CONFIG_SIZE[quirks], R | W, []],
          [8, 0, 0, 0, []],
          [9, 0x2000, 0x1000, R | W, [{ kind: 'type', type: 1, subtype: 1 }]],
        ]);
        expect(dev.regionInfo(BAR0).mmap).toEqual({ memory: dev.vram, memoryOffset: 0 });
        for (const i of [1, 2, 7, 9]) expect(dev.regionInfo(i).mmap).toBeUndefined();
        for (const bad of [10, 11, 16, 0xffffffff, -1, 1.5, Number.NaN]) expect(() => dev.regionInfo(bad)).toThrow(errno('EINVAL'));
      }
    }
  });

  it('upstream: GET_REGION_INFO with argsz above 48 is EINVAL for every index, caps or not, as mbochs.c mbochs_ioctl() refuses argsz > sizeof(struct vfio_region_info_ext) (commit 104c7405a64d, Linux v6.12); 32–48 are answered; the default answers any argsz', () => {
    const up = make('small', { quirks: 'upstream' });
    const def = make('small');
    for (let i = 0; i < 10; i++) {
      for (const argsz of [32, 40, 48]) expect(up.regionInfo(i, argsz)).toEqual(up.regionInfo(i));
      for (const argsz of [49, 56, 64, 4096, 0xffffffff]) {
        expect(() => up.regionInfo(i, argsz), `index ${i} argsz ${argsz}`).toThrow(errno('EINVAL'));
        expect(def.regionInfo(i, argsz)).toEqual(def.regionInfo(i));
      }
    }
    // the argsz check comes first in the sample; an unknown index is EINVAL either way
    expect(() => up.regionInfo(10, 64)).toThrow(errno('EINVAL'));
    // callers that answer no request (inspectors, the display) pass no argsz
    expect(up.regionInfo(EDID)).toEqual(def.regionInfo(EDID));
  });

  it('the EDID region info encodes as QEMU expects it (argsz 32, then 48)', () => {
    const info = make('small').regionInfo(EDID);
    const short = encodeUserRegionInfo(info, 32);
    expect(short.bytes).toEqual(hex(`
      30 00 00 00  03 00 00 00 | 09 00 00 00  00 00 00 00
      00 10 00 00  00 00 00 00 | 00 20 00 00  00 00 00 00`));
    const full = encodeUserRegionInfo(info, 48);
    expect(full.bytes).toEqual(hex(`
      30 00 00 00  0b 00 00 00 | 09 00 00 00  20 00 00 00
      00 10 00 00  00 00 00 00 | 00 20 00 00  00 00 00 00
      02 00 01 00  00 00 00 00 | 01 00 00 00  01 00 00 00`));
    // The kernel reports the same 48 bytes (mbochs.c mbochs_get_region_info() sets argsz to its 48-byte vfio_region_info_ext).
    expect(encodeRegionInfo(info, 48).bytes).toEqual(full.bytes);
  });

  it('GET_INFO is stable: (PCI|RESET, 10, 5) by default, (PCI, 10, 5) upstream (invariant 7)', () => {
    const def = make('large');
    expect(def.info()).toEqual({ flags: 0x3, numRegions: 10, numIrqs: 5 });
    def.reset();
    def.closeDevice();
    expect(def.info()).toEqual({ flags: 0x3, numRegions: 10, numIrqs: 5 });
    expect(make('small', { quirks: 'upstream' }).info()).toEqual({ flags: 0x2, numRegions: 10, numIrqs: 5 });
  });

  it('every IRQ index 0–4 reports count 0 and flags 0; index ≥ 5 is EINVAL (invariant 6)', () => {
    const dev = make('small');
    for (let i = 0; i < 5; i++) expect(dev.irqInfo(i)).toEqual({ index: i, flags: 0, count: 0 });
    for (const bad of [5, 6, 0xffffffff, -1, 0.5]) expect(() => dev.irqInfo(bad)).toThrow(errno('EINVAL'));
  });

  it(`SET_IRQS is always EINVAL, with a message naming the rule (seed ${FC_SEED})`, () => {
    const dev = make('small');
    const rules = Object.values(IRQ_SET_RULES);
    const set: fc.Arbitrary<IrqSet> = fc.record({
      flags: fc.oneof(fc.constantFrom(0x21, 0x22, 0x24, 0x09, 0x11, 0x24 | 0x1), fc.integer({ min: 0, max: 0xffffffff })),
      index: fc.integer({ min: 0, max: 7 }),
      start: fc.integer({ min: 0, max: 3 }),
      count: fc.integer({ min: 0, max: 3 }),
    });
    fc.assert(
      fc.property(set, (s) => {
        let caught: unknown;
        try {
          dev.setIrqs(s);
        } catch (err) {
          caught = err;
        }
        expect(caught).toBeInstanceOf(IrqSetError);
        expect((caught as VfioError).code).toBe('EINVAL');
        expect(rules.some((r) => (caught as Error).message.includes(r))).toBe(true);
      }),
      fcParams(200),
    );
    // QEMU's "disable the whole index" request is refused too (0 vectors).
    expect(() => dev.setIrqs({ flags: 0x21, index: 0, start: 0, count: 0 })).toThrow(errno('EINVAL'));
  });
});

describe(`region access (seed ${FC_SEED})`, () => {
  /** Boundaries of the region tables relative to each region, plus anything in u64. */
  const offsets = (memsize: number): fc.Arbitrary<bigint> =>
    fc.oneof(
      fc.constantFrom(0, 0xfe, 0xff, 0x100, 0x3ff, 0x400, 0x515, 0x516, 0x5ff, 0x600, 23, 24, 0x7ff, 0x800, 0xbff, 0xc00, 0xfff, 0x1000)
        .chain((b) => fc.integer({ min: -4, max: 4 }).map((d) => BigInt(Math.max(0, b + d)))),
      fc.constantFrom(memsize - 1, memsize - 2 * PAGE, memsize - 2 * PAGE - 1, memsize, memsize - PAGE)
        .chain((b) => fc.integer({ min: -8, max: 8 }).map((d) => BigInt(b + d))),
      fc.constantFrom(2n ** 53n - 1n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n, 2n ** 64n - 2n).chain((b) => fc.bigInt({ min: -16n, max: 0n }).map((d) => b + d)),
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    );
  const counts = fc.oneof(fc.integer({ min: 0, max: 9 }), fc.constantFrom(PAGE, PAGE + 1, 0x7ff, 0x1000, 3 * PAGE));
  const indexes = fc.oneof(fc.constantFrom(0, 2, 7, 9), fc.constantFrom(1, 3, 4, 5, 6, 8, 10, 11, 16, 0xffffffff));

  function regionSize(dev: MbochsDevice, index: number): number | undefined {
    return index < 10 ? dev.regionInfo(index).size : undefined;
  }

  /** Everything but VRAM a failed access could have changed (reads have no side effects). */
  function state(dev: MbochsDevice): Uint8Array {
    const dispi = Uint8Array.from(dispiAll(dev).flatMap((v) => [v & 0xff, v >> 8]));
    return Buffer.concat([
      readRegion(dev, CONFIG, 0, dev.regionInfo(CONFIG).size),
      readRegion(dev, BAR2, 0, 0x1000),
      readRegion(dev, EDID, 0, 0x1000),
      dispi,
    ]);
  }

  for (const quirks of PROFILES) {
    it(`${quirks}: an access succeeds iff [offset, offset+count) fits the region (u64, no overflow; upstream config: the sample's bound); a failed one fills dst with zeros and changes no state (invariants 1, 2)`, () => {
      const dev = make('small', { quirks });
      const memsize = MBOCHS_TYPES.small.memsize;
      for (let i = 0; i < memsize; i += 997) dev.vram.bytes[i] = (i * 7) & 0xff; // something to leak, if anything leaked
      const shadow = dev.vram.bytes.slice(); // what VRAM must hold: updated only by successful BAR0 writes
      fc.assert(
        fc.property(indexes, offsets(memsize), counts, fc.boolean(), fc.integer({ min: 0, max: 255 }), (index, off, count, isWrite, fill) => {
          const size = regionSize(dev, index);
          // Upstream: BAR0 read()/write() land 2 pages further into VRAM, bounded to VRAM.
          const skew = index === BAR0 && quirks === 'upstream' ? BigInt(2 * PAGE) : 0n;
          const configFits = index === CONFIG && off < 2n ** 53n && configAnswers(quirks, Number(off), count); // the sample's config bound
          const fits = configFits || (index !== CONFIG && size !== undefined && wireRange(off, count, size) !== undefined && wireRange(off + skew, count, size) !== undefined);
          const offset = u64ToOffset(off) ?? Number(off); // an unsafe number when it does not fit a safe integer
          const buf = new Uint8Array(count).fill(fill);
          const before = fits ? undefined : state(dev);
          let caught: unknown;
          try {
            if (isWrite) dev.regionWrite(index, offset, buf);
            else dev.regionRead(index, offset, buf);
          } catch (err) {
            caught = err;
          }
          if (fits) {
            expect(caught).toBeUndefined();
            if (!isWrite && index === BAR0) {
              const at = offset + Number(skew);
              expect(bytesEqual(buf, dev.vram.bytes.subarray(at, at + count))).toBe(true);
            }
            if (isWrite && index === BAR0) shadow.set(buf, offset + Number(skew));
            if (!isWrite) expect(bytesEqual(readRegion(dev, index, offset, count), buf)).toBe(true); // reads have no side effects
            expect(bytesEqual(dev.vram.bytes, shadow)).toBe(true);
            return;
          }
          expect(caught).toBeInstanceOf(VfioError);
          expect((caught as VfioError).code).toBe(size === undefined ? 'EINVAL' : 'EFAULT');
          if (!isWrite) expect(buf.every((b) => b === 0)).toBe(true);
          expect(bytesEqual(state(dev), before!)).toBe(true);
          expect(bytesEqual(dev.vram.bytes, shadow)).toBe(true);
        }),
        fcParams(250),
      );
    });
  }

  it('default: BAR0 has size memsize and its mmap view equals its read/write view byte for byte (invariant 8)', () => {
    for (const t of TYPES) expect(make(t).regionInfo(BAR0).size).toBe(MEMSIZE[t]);
    const dev = make('small');
    const map = dev.regionInfo(BAR0).mmap!.memory.bytes;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4 * MiB - 1 }), fc.uint8Array({ minLength: 1, maxLength: 64 }), (o, data) => {
        const d = data.subarray(0, Math.min(data.length, 4 * MiB - o));
        dev.regionWrite(BAR0, o, d);
        expect(map.subarray(o, o + d.length)).toEqual(d);
        const flipped = d.map((b) => b ^ 0xff);
        map.set(flipped, o);
        expect(readRegion(dev, BAR0, o, d.length)).toEqual(flipped);
      }),
      fcParams(200),
    );
  });

  it('upstream: BAR0 read()/write() land 2 pages further into VRAM than the mmap view; the last 2 pages are EFAULT, never out of bounds', () => {
    const memsize = MBOCHS_TYPES.small.memsize;
    const dev = make('small', { quirks: 'upstream' });
    const map = dev.regionInfo(BAR0).mmap!.memory.bytes;
    expect(dev.regionInfo(BAR0).mmap!.memoryOffset).toBe(0); // the mmap path is right in the sample too
    dev.regionWrite(BAR0, 0, Uint8Array.of(1, 2, 3, 4));
    expect(map.subarray(0, 4)).toEqual(new Uint8Array(4));
    expect(map.subarray(2 * PAGE, 2 * PAGE + 4)).toEqual(Uint8Array.of(1, 2, 3, 4));
    map.set(Uint8Array.of(9, 8), memsize - 2);
    expect(readRegion(dev, BAR0, memsize - 2 * PAGE - 2, 2)).toEqual(Uint8Array.of(9, 8));
    expect(() => readRegion(dev, BAR0, memsize - 2 * PAGE - 1, 2)).toThrow(errno('EFAULT'));
    expect(() => readRegion(dev, BAR0, memsize - 2 * PAGE, 1)).toThrow(errno('EFAULT'));
    expect(() => dev.regionWrite(BAR0, memsize - 1, Uint8Array.of(0xaa))).toThrow(errno('EFAULT'));
    expect(map[memsize - 1]).toBe(8);
    // The default profile uses the exact offset.
    const def = make('small');
    def.regionWrite(BAR0, 0, Uint8Array.of(1, 2, 3, 4));
    expect(def.vram.bytes.subarray(0, 4)).toEqual(Uint8Array.of(1, 2, 3, 4));
    expect(readRegion(def, BAR0, memsize - 1, 1)).toEqual(new Uint8Array(1));
  });

  it('empty regions accept only zero-length accesses (EFAULT otherwise); a zero-length access anywhere inside a region is a no-op', () => {
    const dev = make('small');
    for (const i of [1, 3, 4, 5, 6, 8]) {
      dev.regionRead(i, 0, new Uint8Array(0));
      expect(() => dev.regionRead(i, 0, new Uint8Array(1))).toThrow(errno('EFAULT'));
      expect(() => dev.regionWrite(i, 0, new Uint8Array(4))).toThrow(errno('EFAULT'));
    }
    dev.regionWrite(CONFIG, 256, new Uint8Array(0));
    dev.regionRead(BAR2, 0x1000, new Uint8Array(0));
    expect(() => dev.regionRead(BAR2, 0x1001, new Uint8Array(0))).toThrow(errno('EFAULT'));
  });

  it('a 255-byte and a 256-byte config read in one call, as QEMU makes them at realize', () => {
    expect(readRegion(make('small'), CONFIG, 0, 256)).toEqual(specConfig(256));
    expect(readRegion(make('small', { quirks: 'upstream' }), CONFIG, 0, 255)).toEqual(specConfig(255));
    // upstream answers 256 bytes too (its last chunk starts at 0xFC, below 0xFF); the byte past the end reads 0
    expect(readRegion(make('small', { quirks: 'upstream' }), CONFIG, 0, 256)).toEqual(specConfig(256));
    expect(() => readRegion(make('small', { quirks: 'upstream' }), CONFIG, 0, 257)).toThrow(errno('EFAULT'));
  });
});
