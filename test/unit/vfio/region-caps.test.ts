import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { RegionCap, RegionInfo } from '../../../src/vfio/device.ts';
import {
  decodeDeviceInfo,
  decodeIrqInfo,
  decodeRegionInfo,
  encodeDeviceInfo,
  encodeIrqInfo,
  encodeRegionInfo,
  regionInfoSize,
  sparseMmapCap,
  typeCap,
} from '../../../src/vfio/region-caps.ts';
import {
  VFIO_DEVICE_FLAGS_PCI,
  VFIO_IRQ_INFO_EVENTFD,
  VFIO_REGION_INFO_FLAG_CAPS,
  VFIO_REGION_INFO_FLAG_MMAP,
  VFIO_REGION_INFO_FLAG_READ,
  VFIO_REGION_INFO_FLAG_WRITE,
  VFIO_REGION_SUBTYPE_GFX_EDID,
  VFIO_REGION_TYPE_GFX,
} from '../../../src/vfio/uapi.ts';
import { VfioError } from '../../../src/util/errors.ts';
import { dump, hex } from './hex.ts';

const RW = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
const RWM = RW | VFIO_REGION_INFO_FLAG_MMAP;

/** mbochs region 9 (mbochs.c MBOCHS_EDID_OFFSET), kernel file offset 0x2000. */
const EDID: RegionInfo = {
  index: 9,
  flags: RW,
  size: 0x1000,
  offset: 0x2000,
  caps: [typeCap(VFIO_REGION_TYPE_GFX, VFIO_REGION_SUBTYPE_GFX_EDID)],
};

function einval(fn: () => unknown, pattern?: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(VfioError);
  expect((err as VfioError).errno).toBe(22);
  if (pattern) expect((err as VfioError).message).toMatch(pattern);
}

describe('encodeRegionInfo: the mbochs EDID region, argsz 32 then 48', () => {
  it('argsz 32 → 32-byte reply, argsz 48, flags 0x3 (CAPS cleared), cap_offset 0', () => {
    const r = encodeRegionInfo(EDID, 32, { style: 'vfio-user' });
    expect(r.neededArgsz).toBe(48);
    expect(r.capsIncluded).toBe(false);
    expect(dump(r.bytes)).toBe(dump(hex(`
      30 00 00 00  03 00 00 00 | 09 00 00 00  00 00 00 00
      00 10 00 00 00 00 00 00  | 00 20 00 00 00 00 00 00`)));
  });

  it('argsz 48 → 48-byte reply, flags 0xB, cap_offset 32, TYPE cap {2, 1, next 0, GFX, EDID}', () => {
    const r = encodeRegionInfo(EDID, 48, { style: 'vfio-user' });
    expect(r.neededArgsz).toBe(48);
    expect(r.capsIncluded).toBe(true);
    expect(dump(r.bytes)).toBe(dump(hex(`
      30 00 00 00  0b 00 00 00 | 09 00 00 00  20 00 00 00
      00 10 00 00 00 00 00 00  | 00 20 00 00 00 00 00 00
      02 00 01 00  00 00 00 00 | 01 00 00 00  01 00 00 00`)));
  });

  it('a larger argsz still gets exactly the full answer, never padding', () => {
    for (const argsz of [49, 64, 4096, 0xffffffff]) {
      expect(encodeRegionInfo(EDID, argsz, { style: 'vfio-user' }).bytes.length).toBe(48);
    }
  });

  it('opts.offset overrides the reported offset (the mmap offset of a vfio-user fd)', () => {
    const r = encodeRegionInfo(EDID, 48, { style: 'vfio-user', offset: 0 });
    expect(dump(r.bytes.subarray(24, 32))).toBe(dump(hex('00 00 00 00 00 00 00 00')));
    const k = encodeRegionInfo(EDID, 48, { style: 'kernel', offset: 0x1_0000_0000 });
    expect(dump(k.bytes.subarray(24, 32))).toBe(dump(hex('00 00 00 00 01 00 00 00')));
  });
});

describe('encodeRegionInfo: truncation, kernel vs vfio-user', () => {
  it('kernel style keeps CAPS with cap_offset 0; vfio-user clears CAPS', () => {
    for (const argsz of [32, 40, 47]) {
      const k = encodeRegionInfo(EDID, argsz, { style: 'kernel' });
      expect(dump(k.bytes)).toBe(dump(hex(`
        30 00 00 00  0b 00 00 00 | 09 00 00 00  00 00 00 00
        00 10 00 00 00 00 00 00  | 00 20 00 00 00 00 00 00`)));
      const u = encodeRegionInfo(EDID, argsz, { style: 'vfio-user' });
      expect(dump(u.bytes)).toBe(dump(hex(`
        30 00 00 00  03 00 00 00 | 09 00 00 00  00 00 00 00
        00 10 00 00 00 00 00 00  | 00 20 00 00 00 00 00 00`)));
    }
  });

  it('both styles agree when the caps fit', () => {
    expect(encodeRegionInfo(EDID, 48, { style: 'kernel' }).bytes).toEqual(encodeRegionInfo(EDID, 48, { style: 'vfio-user' }).bytes);
  });

  it('argsz below 32 is EINVAL in both styles', () => {
    for (const style of ['kernel', 'vfio-user'] as const) {
      for (const argsz of [0, 16, 31]) einval(() => encodeRegionInfo(EDID, argsz, { style }), /argsz/);
    }
  });

  it('a region without caps: 32 bytes, argsz 32, CAPS never set even if info.flags has it', () => {
    const cfg: RegionInfo = { index: 7, flags: RW | VFIO_REGION_INFO_FLAG_CAPS, size: 0xff, offset: 0, caps: [] };
    for (const style of ['kernel', 'vfio-user'] as const) {
      const r = encodeRegionInfo(cfg, 32, { style });
      expect(r.capsIncluded).toBe(true);
      expect(r.neededArgsz).toBe(32);
      expect(dump(r.bytes)).toBe(dump(hex(`
        20 00 00 00  03 00 00 00 | 07 00 00 00  00 00 00 00
        ff 00 00 00 00 00 00 00  | 00 00 00 00 00 00 00 00`)));
    }
  });

  it('an empty region (size 0, flags 0)', () => {
    const r = encodeRegionInfo({ index: 1, flags: 0, size: 0, offset: 0, caps: [] }, 32, { style: 'vfio-user' });
    expect(dump(r.bytes)).toBe(dump(hex(`
      20 00 00 00  00 00 00 00 | 01 00 00 00  00 00 00 00
      00 00 00 00 00 00 00 00  | 00 00 00 00 00 00 00 00`)));
  });
});

describe('encodeRegionInfo: capability chains', () => {
  it('sparse mmap with one area (16 + 16 bytes at 32)', () => {
    const info: RegionInfo = { index: 0, flags: RWM, size: 0x400000, offset: 0, caps: [sparseMmapCap([{ offset: 0, size: 0x400000 }])] };
    const r = encodeRegionInfo(info, 64, { style: 'vfio-user' });
    expect(r.neededArgsz).toBe(64);
    expect(dump(r.bytes)).toBe(dump(hex(`
      40 00 00 00  0f 00 00 00 | 00 00 00 00  20 00 00 00
      00 00 40 00 00 00 00 00  | 00 00 00 00 00 00 00 00
      01 00 01 00  00 00 00 00 | 01 00 00 00  00 00 00 00
      00 00 00 00 00 00 00 00  | 00 00 40 00 00 00 00 00`)));
  });

  it('sparse mmap with two areas (16 + 32 bytes)', () => {
    const info: RegionInfo = {
      index: 2, flags: RWM, size: 0x4000, offset: 0x10000,
      caps: [sparseMmapCap([{ offset: 0, size: 0x1000 }, { offset: 0x3000, size: 0x1000 }])],
    };
    const r = encodeRegionInfo(info, 80, { style: 'vfio-user' });
    expect(r.neededArgsz).toBe(80);
    expect(dump(r.bytes)).toBe(dump(hex(`
      50 00 00 00  0f 00 00 00 | 02 00 00 00  20 00 00 00
      00 40 00 00 00 00 00 00  | 00 00 01 00 00 00 00 00
      01 00 01 00  00 00 00 00 | 02 00 00 00  00 00 00 00
      00 00 00 00 00 00 00 00  | 00 10 00 00 00 00 00 00
      00 30 00 00 00 00 00 00  | 00 10 00 00 00 00 00 00`)));
    // One byte short: truncated to the bare struct.
    const t = encodeRegionInfo(info, 79, { style: 'vfio-user' });
    expect(t.bytes.length).toBe(32);
    expect(t.capsIncluded).toBe(false);
  });

  it('sparse mmap then type: next of the first = 64, next of the last = 0', () => {
    const info: RegionInfo = {
      index: 10, flags: RWM, size: 0x2000, offset: 0,
      caps: [sparseMmapCap([{ offset: 0x1000, size: 0x1000 }]), typeCap(VFIO_REGION_TYPE_GFX, VFIO_REGION_SUBTYPE_GFX_EDID)],
    };
    const r = encodeRegionInfo(info, 80, { style: 'kernel' });
    expect(r.neededArgsz).toBe(80);
    expect(dump(r.bytes)).toBe(dump(hex(`
      50 00 00 00  0f 00 00 00 | 0a 00 00 00  20 00 00 00
      00 20 00 00 00 00 00 00  | 00 00 00 00 00 00 00 00
      01 00 01 00  40 00 00 00 | 01 00 00 00  00 00 00 00
      00 10 00 00 00 00 00 00  | 00 10 00 00 00 00 00 00
      02 00 01 00  00 00 00 00 | 01 00 00 00  01 00 00 00`)));
  });

  it('type then sparse mmap then msix-mappable: next = 48, then 80, then 0', () => {
    const info: RegionInfo = {
      index: 11, flags: RW, size: 0x1000, offset: 0,
      caps: [typeCap(0x80001af4, 3), sparseMmapCap([{ offset: 0, size: 0x1000 }]), { kind: 'msix-mappable' }],
    };
    const r = encodeRegionInfo(info, 88, { style: 'vfio-user' });
    expect(r.neededArgsz).toBe(88);
    expect(dump(r.bytes)).toBe(dump(hex(`
      58 00 00 00  0b 00 00 00 | 0b 00 00 00  20 00 00 00
      00 10 00 00 00 00 00 00  | 00 00 00 00 00 00 00 00
      02 00 01 00  30 00 00 00 | f4 1a 00 80  03 00 00 00
      01 00 01 00  50 00 00 00 | 01 00 00 00  00 00 00 00
      00 00 00 00 00 00 00 00  | 00 10 00 00 00 00 00 00
      03 00 01 00  00 00 00 00`)));
  });

  it('regionInfoSize is 32 + the caps', () => {
    expect(regionInfoSize([])).toBe(32);
    expect(regionInfoSize([{ kind: 'msix-mappable' }])).toBe(40);
    expect(regionInfoSize([typeCap(1, 1), sparseMmapCap([])])).toBe(64);
  });
});

describe('decodeRegionInfo', () => {
  it('decodes the worked example, both steps', () => {
    const first = decodeRegionInfo(encodeRegionInfo(EDID, 32, { style: 'vfio-user' }).bytes);
    expect(first).toEqual({ argsz: 48, flags: RW, index: 9, capOffset: 0, size: 0x1000, offset: 0x2000, caps: [], complete: false });
    const second = decodeRegionInfo(encodeRegionInfo(EDID, 48, { style: 'vfio-user' }).bytes);
    expect(second).toEqual({
      argsz: 48, flags: RW | VFIO_REGION_INFO_FLAG_CAPS, index: 9, capOffset: 32, size: 0x1000, offset: 0x2000,
      caps: [{ kind: 'type', type: 1, subtype: 1 }], complete: true,
    });
  });

  it('treats kernel-style and sample-style truncated replies as incomplete', () => {
    // kernel: CAPS, cap_offset 0, argsz 48, 32 bytes
    const k = decodeRegionInfo(encodeRegionInfo(EDID, 32, { style: 'kernel' }).bytes);
    expect(k.complete).toBe(false);
    expect(k.caps).toEqual([]);
    // mbochs sample: CAPS, cap_offset 32, argsz 48, but only 32 bytes copied back
    const s = decodeRegionInfo(hex(`
      30 00 00 00  0b 00 00 00 | 09 00 00 00  20 00 00 00
      00 10 00 00 00 00 00 00  | 00 20 00 00 00 00 00 00`));
    expect(s.complete).toBe(false);
    expect(s.caps).toEqual([]);
  });

  const HEAD = (argsz: number, capOffset: number) =>
    `${argsz.toString(16).padStart(2, '0')} 00 00 00  0b 00 00 00 | 09 00 00 00  ${capOffset.toString(16).padStart(2, '0')} 00 00 00
     00 10 00 00 00 00 00 00  | 00 00 00 00 00 00 00 00`;

  it('rejects a cycle', () => {
    einval(() => decodeRegionInfo(hex(`${HEAD(0x30, 0x20)} 02 00 01 00 20 00 00 00 | 01 00 00 00 01 00 00 00`)), /cycle/);
    einval(() => decodeRegionInfo(hex(`${HEAD(0x40, 0x20)}
      02 00 01 00 30 00 00 00 | 01 00 00 00 01 00 00 00
      02 00 01 00 20 00 00 00 | 01 00 00 00 01 00 00 00`)), /cycle/);
  });

  it('rejects out-of-range pointers (beyond argsz, inside the fixed struct)', () => {
    einval(() => decodeRegionInfo(hex(`${HEAD(0x30, 0x20)} 02 00 01 00 30 00 00 00 | 01 00 00 00 01 00 00 00`)), /next 48 \(of the cap at 32\) is outside/);
    einval(() => decodeRegionInfo(hex(`${HEAD(0x30, 0x30)} 02 00 01 00 00 00 00 00 | 01 00 00 00 01 00 00 00`)), /cap_offset 48 is outside/);
    einval(() => decodeRegionInfo(hex(`${HEAD(0x30, 0x10)} 02 00 01 00 00 00 00 00 | 01 00 00 00 01 00 00 00`)), /cap_offset 16 is outside/);
    einval(() => decodeRegionInfo(hex(`${HEAD(0x30, 0x20)} 02 00 01 00 08 00 00 00 | 01 00 00 00 01 00 00 00`)), /next 8 \(of the cap at 32\) is outside/);
    // a TYPE cap whose body runs past argsz
    einval(() => decodeRegionInfo(hex(`${HEAD(0x28, 0x20)} 02 00 01 00 00 00 00 00 | 01 00 00 00 01 00 00 00`)), /overruns/);
  });

  it('rejects misaligned pointers', () => {
    einval(() => decodeRegionInfo(hex(`${HEAD(0x30, 0x24)} 02 00 01 00 00 00 00 00 | 01 00 00 00 01 00 00 00`)), /aligned/);
    einval(() => decodeRegionInfo(hex(`${HEAD(0x40, 0x20)}
      02 00 01 00 2c 00 00 00 | 01 00 00 00 01 00 00 00
      00 00 00 00 00 00 00 00 | 00 00 00 00 00 00 00 00`)), /aligned/);
  });

  it('rejects a sparse-mmap cap whose areas overrun argsz', () => {
    einval(() => decodeRegionInfo(hex(`${HEAD(0x40, 0x20)}
      01 00 01 00 00 00 00 00 | 02 00 00 00 00 00 00 00
      00 00 00 00 00 00 00 00 | 00 10 00 00 00 00 00 00`)), /areas overrun/);
    einval(() => decodeRegionInfo(hex(`${HEAD(0x40, 0x20)}
      01 00 01 00 00 00 00 00 | ff ff ff ff 00 00 00 00
      00 00 00 00 00 00 00 00 | 00 10 00 00 00 00 00 00`)), /areas overrun/);
  });

  it('rejects CAPS with cap_offset 0 in a complete reply, short replies, argsz < 32, u64 beyond 2^53', () => {
    einval(() => decodeRegionInfo(hex(HEAD(0x20, 0))), /cap_offset 0/);
    einval(() => decodeRegionInfo(new Uint8Array(31)), /need 32/);
    einval(() => decodeRegionInfo(hex(`10 00 00 00 00 00 00 00 | 00 00 00 00 00 00 00 00
      00 00 00 00 00 00 00 00 | 00 00 00 00 00 00 00 00`)), /argsz 16/);
    einval(() => decodeRegionInfo(hex(`20 00 00 00 00 00 00 00 | 00 00 00 00 00 00 00 00
      00 00 00 00 00 00 20 00 | 00 00 00 00 00 00 00 00`)), /size/);
  });

  it('keeps unknown caps (and known ids with another version) as kind unknown', () => {
    const d = decodeRegionInfo(hex(`${HEAD(0x38, 0x20)}
      07 00 01 00 28 00 00 00 | 02 00 02 00 00 00 00 00
      01 00 00 00 01 00 00 00`));
    expect(d.caps).toEqual([
      { kind: 'unknown', id: 7, version: 1, offset: 32 },
      { kind: 'unknown', id: 2, version: 2, offset: 40 },
    ]);
  });

  const capArb: fc.Arbitrary<RegionCap> = fc.oneof(
    fc.record({ kind: fc.constant('type' as const), type: fc.nat({ max: 0xffffffff }), subtype: fc.nat({ max: 0xffffffff }) }),
    fc.record({ kind: fc.constant('msix-mappable' as const) }),
    fc.record({
      kind: fc.constant('sparse-mmap' as const),
      areas: fc.array(fc.record({ offset: fc.maxSafeNat(), size: fc.maxSafeNat() }), { maxLength: 5 }),
    }),
  );
  const infoArb: fc.Arbitrary<RegionInfo> = fc.record({
    index: fc.nat({ max: 0xffffffff }),
    flags: fc.nat({ max: 7 }),
    size: fc.maxSafeNat(),
    offset: fc.maxSafeNat(),
    caps: fc.array(capArb, { maxLength: 4 }),
  });

  it('decode(encode(info)) equals info, with CAPS set iff there are caps', () => {
    fc.assert(fc.property(infoArb, fc.constantFrom('kernel' as const, 'vfio-user' as const), fc.nat(64), (info, style, extra) => {
      const needed = regionInfoSize(info.caps);
      const enc = encodeRegionInfo(info, needed + extra, { style });
      const d = decodeRegionInfo(enc.bytes);
      expect(d.complete).toBe(true);
      expect(d.argsz).toBe(needed);
      expect(d.index).toBe(info.index);
      expect(d.flags).toBe(info.flags | (info.caps.length > 0 ? VFIO_REGION_INFO_FLAG_CAPS : 0));
      expect(d.capOffset).toBe(info.caps.length > 0 ? 32 : 0);
      expect(d.size).toBe(info.size);
      expect(d.offset).toBe(info.offset);
      expect(d.caps).toEqual(info.caps);
    }));
  });

  it('a reply truncated by a short argsz decodes as incomplete with the needed argsz', () => {
    fc.assert(fc.property(infoArb.filter((i) => i.caps.length > 0), fc.constantFrom('kernel' as const, 'vfio-user' as const), (info, style) => {
      const needed = regionInfoSize(info.caps);
      const enc = encodeRegionInfo(info, needed - 1, { style });
      expect(enc.bytes.length).toBe(32);
      const d = decodeRegionInfo(enc.bytes);
      expect(d.complete).toBe(false);
      expect(d.argsz).toBe(needed);
      expect(d.capOffset).toBe(0);
      expect((d.flags & VFIO_REGION_INFO_FLAG_CAPS) !== 0).toBe(style === 'kernel');
    }));
  });
});

describe('device info and irq info', () => {
  const MBOCHS = { flags: VFIO_DEVICE_FLAGS_PCI, numRegions: 10, numIrqs: 5 };

  it('vfio-user device info is the 16-byte prefix with argsz 16', () => {
    for (const argsz of [16, 24, 0xffffffff]) {
      expect(dump(encodeDeviceInfo(MBOCHS, argsz, { style: 'vfio-user' }))).toBe(dump(hex('10 00 00 00 02 00 00 00 | 0a 00 00 00 05 00 00 00')));
    }
  });

  it('kernel device info copies back min(argsz, 24) bytes with argsz untouched', () => {
    expect(dump(encodeDeviceInfo(MBOCHS, 24, { style: 'kernel' }))).toBe(dump(hex(`
      18 00 00 00 02 00 00 00 | 0a 00 00 00 05 00 00 00 | 00 00 00 00 00 00 00 00`)));
    expect(dump(encodeDeviceInfo(MBOCHS, 16, { style: 'kernel' }))).toBe(dump(hex('10 00 00 00 02 00 00 00 | 0a 00 00 00 05 00 00 00')));
    expect(encodeDeviceInfo(MBOCHS, 100, { style: 'kernel' }).length).toBe(24);
  });

  it('device info argsz below 16 is EINVAL', () => {
    einval(() => encodeDeviceInfo(MBOCHS, 15, { style: 'vfio-user' }));
    einval(() => encodeDeviceInfo(MBOCHS, 0, { style: 'kernel' }));
  });

  it('device info decodes (16 or 24 bytes), short is EINVAL', () => {
    expect(decodeDeviceInfo(hex('10 00 00 00 02 00 00 00 | 0a 00 00 00 05 00 00 00'))).toEqual({ argsz: 16, ...MBOCHS });
    expect(decodeDeviceInfo(encodeDeviceInfo(MBOCHS, 24, { style: 'kernel' }))).toEqual({ argsz: 24, ...MBOCHS });
    einval(() => decodeDeviceInfo(new Uint8Array(15)));
  });

  it('irq info: 16 bytes; argsz 16 (vfio-user) or echoed (kernel); below 16 EINVAL', () => {
    const err = { index: 3, flags: 0, count: 0 };
    expect(dump(encodeIrqInfo(err, 16, { style: 'vfio-user' }))).toBe(dump(hex('10 00 00 00 00 00 00 00 | 03 00 00 00 00 00 00 00')));
    expect(dump(encodeIrqInfo({ index: 2, flags: VFIO_IRQ_INFO_EVENTFD, count: 8 }, 32, { style: 'kernel' })))
      .toBe(dump(hex('20 00 00 00 01 00 00 00 | 02 00 00 00 08 00 00 00')));
    einval(() => encodeIrqInfo(err, 15, { style: 'vfio-user' }));
    expect(decodeIrqInfo(hex('10 00 00 00 01 00 00 00 | 02 00 00 00 08 00 00 00'))).toEqual({ argsz: 16, flags: 1, index: 2, count: 8 });
    einval(() => decodeIrqInfo(new Uint8Array(12)));
  });
});
