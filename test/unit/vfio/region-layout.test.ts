import { describe, expect, it } from 'vitest';
import { HeapMemory } from '../../../src/vfio/memory.ts';
import { defineRegionLayout } from '../../../src/vfio/region-layout.ts';
import { encodeRegionInfo, typeCap } from '../../../src/vfio/region-caps.ts';
import { VfioError } from '../../../src/util/errors.ts';
import { dump, hex } from './hex.ts';

// Flag values written out from include/uapi/linux/vfio.h VFIO_REGION_INFO_FLAG_* (READ 1, WRITE 2, MMAP 4, CAPS 8).
const R = 1;
const W = 2;
const MMAP = 4;
const MEMSIZE = 4 << 20; // mbochs "small"

/** mbochs, mbochs.c mbochs_get_region_info(). */
function mbochsLayout() {
  const vram = new HeapMemory(MEMSIZE);
  return defineRegionLayout(
    [
      { index: 0, name: 'BAR0 VRAM', offset: 0x3000, size: MEMSIZE, flags: R | W | MMAP, kind: 'vram', mmap: { memory: vram, memoryOffset: 0 } },
      { index: 2, name: 'BAR2 MMIO', offset: 0x1000, size: 0x1000, flags: R | W, kind: 'mmio' },
      { index: 7, name: 'config', offset: 0, size: 0xff, flags: R | W, kind: 'config' },
      { index: 9, name: 'EDID', offset: 0x2000, size: 0x1000, flags: R | W, kind: 'edid', caps: [typeCap(1, 1)] },
    ],
    { emptyBelow: 10 },
  );
}

function einval(fn: () => unknown): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(VfioError);
  expect((err as VfioError).errno).toBe(22);
}

describe('region layout: mbochs by index', () => {
  const layout = mbochsLayout();

  it('table entries answer with their own offset, size and flags', () => {
    expect(layout.info(0)).toMatchObject({ index: 0, offset: 0x3000, size: MEMSIZE, flags: 7, caps: [] });
    expect(layout.info(0).mmap?.memoryOffset).toBe(0);
    expect(layout.info(2)).toEqual({ index: 2, offset: 0x1000, size: 0x1000, flags: 3, caps: [] });
    expect(layout.info(7)).toEqual({ index: 7, offset: 0, size: 0xff, flags: 3, caps: [] });
    expect(layout.info(9)).toEqual({ index: 9, offset: 0x2000, size: 0x1000, flags: 3, caps: [{ kind: 'type', type: 1, subtype: 1 }] });
  });

  it('indexes 1, 3–6, 8 are empty: success with size 0, flags 0, offset 0', () => {
    for (const index of [1, 3, 4, 5, 6, 8]) {
      expect(layout.info(index)).toEqual({ index, offset: 0, size: 0, flags: 0, caps: [] });
      expect(layout.entry(index)).toBeUndefined();
    }
  });

  it('indexes ≥ 10 (and nonsense) are EINVAL', () => {
    for (const index of [10, 11, 16, 0xffffffff, -1, 1.5, Number.NaN]) einval(() => layout.info(index));
  });

  it('region 9 encodes to the sample\'s reply (kernel file offset 0x2000)', () => {
    const r = encodeRegionInfo(layout.info(9), 48);
    expect(dump(r.bytes)).toBe(dump(hex(`
      30 00 00 00  0b 00 00 00 | 09 00 00 00  20 00 00 00
      00 10 00 00 00 00 00 00  | 00 20 00 00 00 00 00 00
      02 00 01 00  00 00 00 00 | 01 00 00 00  01 00 00 00`)));
  });

  it('info() hands out the same frozen object each time', () => {
    expect(layout.info(2)).toBe(layout.info(2));
    expect(Object.isFrozen(layout.info(3))).toBe(true);
    expect(layout.entries.map((e) => e.index)).toEqual([0, 2, 7, 9]);
  });
});

describe('region layout: mbochs by file position', () => {
  const layout = mbochsLayout();
  const at = (pos: number, count: number) => {
    const hit = layout.locate(pos, count);
    return hit === undefined ? undefined : [hit.region.kind, hit.relOffset];
  };

  it('config: [0, 0xFF)', () => {
    expect(at(0, 0xff)).toEqual(['config', 0]);
    expect(at(0xfe, 1)).toEqual(['config', 0xfe]);
    expect(at(0xff, 1)).toBeUndefined();
    expect(at(0xfe, 2)).toBeUndefined();
    expect(at(0xfc, 4)).toBeUndefined();
    expect(at(0, 0x100)).toBeUndefined();
  });

  it('the gap below 0x1000 and the BAR2 boundary', () => {
    expect(at(0x100, 1)).toBeUndefined();
    expect(at(0xfff, 1)).toBeUndefined();
    expect(at(0xfff, 2)).toBeUndefined();
    expect(at(0x1000, 1)).toEqual(['mmio', 0]);
    expect(at(0x1000, 0x1000)).toEqual(['mmio', 0]);
    expect(at(0x1500, 2)).toEqual(['mmio', 0x500]);
    expect(at(0x1fff, 1)).toEqual(['mmio', 0xfff]);
  });

  it('adjacent regions: an access straddling BAR2/EDID or EDID/VRAM fails', () => {
    expect(at(0x1fff, 2)).toBeUndefined();
    expect(at(0x1ffc, 8)).toBeUndefined();
    expect(at(0x2000, 4)).toEqual(['edid', 0]);
    expect(at(0x2800, 0x400)).toEqual(['edid', 0x800]);
    expect(at(0x2ffc, 4)).toEqual(['edid', 0xffc]);
    expect(at(0x2ffe, 4)).toBeUndefined();
    expect(at(0x3000, 4)).toEqual(['vram', 0]);
  });

  it('VRAM end and beyond', () => {
    expect(at(0x3000 + MEMSIZE - 4, 4)).toEqual(['vram', MEMSIZE - 4]);
    expect(at(0x3000 + MEMSIZE - 2, 4)).toBeUndefined();
    expect(at(0x3000 + MEMSIZE, 1)).toBeUndefined();
    expect(at(Number.MAX_SAFE_INTEGER, 1)).toBeUndefined();
    expect(at(0x3000, Number.MAX_SAFE_INTEGER)).toBeUndefined();
  });

  it('count 0 asks whether the position lies inside a region', () => {
    expect(at(0x1000, 0)).toEqual(['mmio', 0]);
    expect(at(0xff, 0)).toBeUndefined();
  });

  it('nonsense positions are outside', () => {
    expect(at(-1, 1)).toBeUndefined();
    expect(at(0.5, 1)).toBeUndefined();
    expect(at(0, -1)).toBeUndefined();
  });
});

describe('region layout: mdpy (alias index 16, empty below 9)', () => {
  const memsize = 1 << 21; // vga 640×480×4 → 2 MiB
  const fb = new HeapMemory(memsize);
  const layout = defineRegionLayout([
    { index: 0, name: 'BAR0 framebuffer', offset: 0x1000, size: memsize, flags: R | W | MMAP, kind: 'fb', mmap: { memory: fb, memoryOffset: 0 } },
    { index: 7, name: 'config', offset: 0, size: 0xff, flags: R | W, kind: 'config' },
    { index: 16, name: 'display', offset: 0x1000, size: memsize, flags: R | W | MMAP, kind: 'fb', mmap: { memory: fb, memoryOffset: 0 }, aliasOf: 0 },
  ]);

  it('answers 0–8, 16; refuses 9–15 and ≥ 17', () => {
    for (const index of [1, 2, 3, 4, 5, 6, 8]) expect(layout.info(index).size).toBe(0);
    const { index: _a, ...bar0 } = layout.info(0);
    const { index: _b, ...display } = layout.info(16);
    expect(display).toEqual(bar0);
    for (const index of [9, 10, 15, 17, 100]) einval(() => layout.info(index));
  });

  it('locate() dispatches to BAR0, never to the alias', () => {
    expect(layout.locate(0x1000, 4)?.region.index).toBe(0);
    expect(layout.locate(0x1000 + memsize - 1, 1)?.region.index).toBe(0);
  });
});

describe('region layout declaration checks', () => {
  const mem = new HeapMemory(0x1000);
  it('rejects duplicate indexes, overlaps, MMAP without backing, CAPS, bad aliases, bad numbers', () => {
    expect(() => defineRegionLayout([
      { index: 0, name: 'a', offset: 0, size: 0x10, flags: R, kind: 'x' },
      { index: 0, name: 'b', offset: 0x100, size: 0x10, flags: R, kind: 'x' },
    ])).toThrow(/twice/);
    expect(() => defineRegionLayout([
      { index: 0, name: 'a', offset: 0, size: 0x100, flags: R, kind: 'x' },
      { index: 1, name: 'b', offset: 0xff, size: 0x10, flags: R, kind: 'x' },
    ])).toThrow(/overlap/);
    expect(() => defineRegionLayout([{ index: 0, name: 'a', offset: 0, size: 0x10, flags: R | MMAP, kind: 'x' }])).toThrow(/MMAP/);
    expect(() => defineRegionLayout([{ index: 0, name: 'a', offset: 0, size: 0x10, flags: R, kind: 'x', mmap: { memory: mem, memoryOffset: 0 } }])).toThrow(/MMAP/);
    expect(() => defineRegionLayout([{ index: 0, name: 'a', offset: 0, size: 0x2000, flags: R | MMAP, kind: 'x', mmap: { memory: mem, memoryOffset: 0 } }])).toThrow(/outside/);
    expect(() => defineRegionLayout([{ index: 0, name: 'a', offset: 0, size: 0x10, flags: R | 8, kind: 'x' }])).toThrow(/CAPS/);
    expect(() => defineRegionLayout([{ index: 1, name: 'a', offset: 0, size: 0x10, flags: R, kind: 'x', aliasOf: 5 }])).toThrow(/aliasOf/);
    expect(() => defineRegionLayout([{ index: 1, name: 'a', offset: -1, size: 0x10, flags: R, kind: 'x' }])).toThrow(/safe/);
    expect(() => defineRegionLayout([{ index: 1, name: 'a', offset: 2 ** 52, size: 2 ** 52, flags: R, kind: 'x' }])).toThrow(/safe/);
  });

  it('adjacent regions and empty entries at the same offset are fine', () => {
    expect(() => defineRegionLayout([
      { index: 0, name: 'a', offset: 0, size: 0x100, flags: R, kind: 'x' },
      { index: 1, name: 'b', offset: 0x100, size: 0x10, flags: R, kind: 'x' },
      { index: 2, name: 'c', offset: 0, size: 0, flags: 0, kind: 'x' },
    ])).not.toThrow();
  });
});
