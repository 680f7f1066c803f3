import { describe, expect, it } from 'vitest';
import type { GfxPlaneInfo } from '../../../src/vfio/device.ts';
import {
  EMPTY_PLANE,
  classifyPlaneQuery,
  decodeGfxDmabufArg,
  decodeGfxPlaneInfo,
  decodeGfxPlaneQuery,
  encodeGfxDmabufArg,
  encodeGfxPlaneInfo,
  encodeGfxPlaneResult,
} from '../../../src/vfio/gfx.ts';
import { VFIO_GFX_PLANE_TYPE_DMABUF, VFIO_GFX_PLANE_TYPE_REGION } from '../../../src/vfio/uapi.ts';
import { VfioError } from '../../../src/util/errors.ts';
import { dump, hex } from './hex.ts';

// mdpy_query_gfx_plane (REGION = 4), mbochs_query_gfx_plane (DMABUF = 2), invariant 21.
// Index = the flags value 0..7 (PROBE 1, DMABUF 2, REGION 4).
const EXPECTED = {
  dmabuf: ['EINVAL', 'EINVAL', 'query', 'probe', 'EINVAL', 'EINVAL', 'EINVAL', 'EINVAL'],
  region: ['EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'query', 'probe', 'EINVAL', 'EINVAL'],
} as const;

function outcome(fn: () => string): string {
  try {
    return fn();
  } catch (e) {
    if (e instanceof VfioError) return e.code;
    throw e;
  }
}

describe('classifyPlaneQuery', () => {
  const kinds = [
    ['dmabuf', VFIO_GFX_PLANE_TYPE_DMABUF],
    ['region', VFIO_GFX_PLANE_TYPE_REGION],
  ] as const;
  for (const [name, supported] of kinds) {
    for (const argsz of [59, 60, 64, 0xffffffff]) {
      for (let flags = 0; flags < 8; flags++) {
        for (let drmPlaneType = 0; drmPlaneType < 4; drmPlaneType++) {
          const want = argsz < 60 ? 'EINVAL' : EXPECTED[name][flags];
          it(`${name}: argsz ${argsz}, flags ${flags}, plane type ${drmPlaneType} → ${want}`, () => {
            expect(outcome(() => classifyPlaneQuery({ argsz, flags, drmPlaneType }, supported))).toBe(want);
          });
        }
      }
    }
  }

  it('flag bits beyond the three defined ones are EINVAL', () => {
    for (const flags of [0x8 | 2, 0x8 | 3, 0x80000002, 0xffffffff]) {
      expect(outcome(() => classifyPlaneQuery({ argsz: 64, flags, drmPlaneType: 1 }, VFIO_GFX_PLANE_TYPE_DMABUF))).toBe('EINVAL');
    }
  });
});

describe('vfio_device_gfx_plane_info encoding', () => {
  const plane: GfxPlaneInfo = {
    drmFormat: 0x34325258, // XRGB8888 'XR24'
    drmFormatMod: 0n,
    width: 1024,
    height: 768,
    stride: 4096,
    size: 0x300000,
    xPos: 0,
    yPos: 0,
    xHot: 0,
    yHot: 0,
    regionIndexOrDmabufId: 1,
  };

  it('an mbochs 1024×768 dmabuf plane, 64 bytes with reserved 0', () => {
    const out = encodeGfxPlaneInfo({ argsz: 64, flags: 2, drmPlaneType: 1 }, plane);
    expect(dump(out)).toBe(dump(hex(`
      40 00 00 00 02 00 00 00 | 01 00 00 00 58 52 32 34
      00 00 00 00 00 00 00 00 | 00 04 00 00 00 03 00 00
      00 10 00 00 00 00 30 00 | 00 00 00 00 00 00 00 00
      00 00 00 00 00 00 00 00 | 01 00 00 00 00 00 00 00`)));
  });

  it('every output field lands at its offset (distinct values)', () => {
    const p: GfxPlaneInfo = {
      drmFormat: 0x11111111, drmFormatMod: 0x2222222233333333n, width: 0x44, height: 0x55, stride: 0x66, size: 0x77,
      xPos: 0x88, yPos: 0x99, xHot: 0xffffffff, yHot: 0xaa, regionIndexOrDmabufId: 16,
    };
    const out = encodeGfxPlaneInfo({ argsz: 60, flags: 4, drmPlaneType: 0 }, p, { argsz: 64 });
    expect(dump(out)).toBe(dump(hex(`
      40 00 00 00 04 00 00 00 | 00 00 00 00 11 11 11 11
      33 33 33 33 22 22 22 22 | 44 00 00 00 55 00 00 00
      66 00 00 00 77 00 00 00 | 88 00 00 00 99 00 00 00
      ff ff ff ff aa 00 00 00 | 10 00 00 00 00 00 00 00`)));
    expect(decodeGfxPlaneInfo(out)).toEqual({ argsz: 64, flags: 4, drmPlaneType: 0, plane: p });
    // the samples copy back 60 bytes: still decodable
    expect(decodeGfxPlaneInfo(out.subarray(0, 60)).plane).toEqual(p);
    expect(() => decodeGfxPlaneInfo(out.subarray(0, 59))).toThrow(VfioError);
  });

  it('a probe answer echoes the input with zero outputs; EMPTY_PLANE is all zeros', () => {
    const out = encodeGfxPlaneResult({ argsz: 64, flags: 3, drmPlaneType: 0 }, 'probe-ok');
    expect(dump(out)).toBe(dump(hex(`
      40 00 00 00 03 00 00 00 | 00 00 00 00 00 00 00 00
      00 00 00 00 00 00 00 00 | 00 00 00 00 00 00 00 00
      00 00 00 00 00 00 00 00 | 00 00 00 00 00 00 00 00
      00 00 00 00 00 00 00 00 | 00 00 00 00 00 00 00 00`)));
    expect(Object.isFrozen(EMPTY_PLANE)).toBe(true);
    expect(encodeGfxPlaneResult({ argsz: 64, flags: 2, drmPlaneType: 2 }, EMPTY_PLANE).subarray(12)).toEqual(new Uint8Array(52));
  });

  it('decodes a query from its 12 input bytes or the whole struct', () => {
    expect(decodeGfxPlaneQuery(hex('3c 00 00 00 05 00 00 00 | 01 00 00 00'))).toEqual({ argsz: 60, flags: 5, drmPlaneType: 1 });
    expect(decodeGfxPlaneQuery(encodeGfxPlaneInfo({ argsz: 64, flags: 2, drmPlaneType: 2 }, plane))).toEqual({ argsz: 64, flags: 2, drmPlaneType: 2 });
    expect(() => decodeGfxPlaneQuery(new Uint8Array(11))).toThrow(VfioError);
  });

  it('GET_GFX_DMABUF argument is the u32 id', () => {
    expect(dump(encodeGfxDmabufArg(0x01020304))).toBe(dump(hex('04 03 02 01')));
    expect(decodeGfxDmabufArg(hex('07 00 00 00'))).toBe(7);
    expect(decodeGfxDmabufArg(hex('ff ff ff ff 00'))).toBe(0xffffffff);
    expect(() => decodeGfxDmabufArg(hex('01 00 00'))).toThrow(VfioError);
  });
});
