import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DRM_FORMAT_BGR888,
  DRM_FORMAT_RGB888,
  DRM_FORMAT_RGBX8888,
  DRM_FORMAT_XBGR8888,
  PIXEL_FORMATS,
  fourccChars,
  fourccCode,
  fourccName,
  pixelFormat,
} from '../../../src/display/formats.ts';
import { PlaneError, planeLayout, planeToRgba, type PlaneSource, type RgbaImage } from '../../../src/display/pixels.ts';
import { damage, type Rect } from '../../../src/display/damage.ts';
import { displayStateFromDmabuf, displayStateFromPlane, noPlane, renderDisplay } from '../../../src/display/no-plane.ts';
import { EMPTY_PLANE } from '../../../src/vfio/gfx.ts';
import type { DmabufExport, GfxPlaneInfo } from '../../../src/vfio/device.ts';
import { DRM_FORMAT_BGRX8888, DRM_FORMAT_XRGB8888 } from '../../../src/vfio/uapi.ts';

const PAD = 0xee; // filler in row padding and before the plane: must never reach the output
const X = 0x77; // the x (unused) byte of each pixel: must never reach the output

/**
 * Lay out `rows` of pixel bytes (each row a flat list) at `offset` with
 * `stride`, everything else PAD; `extra` PAD bytes after the last row.
 */
function layout(rows: number[][], offset: number, stride: number, extra = 0): Uint8Array {
  const bytes = new Uint8Array(offset + (rows.length - 1) * stride + rows[0]!.length + extra).fill(PAD);
  rows.forEach((row, y) => bytes.set(row, offset + y * stride));
  return bytes;
}

// XRGB8888 is the little-endian u32 x:R:G:B, so 0x00FF0000 (red) is stored 00 00 FF 00.
const XRGB = {
  red: [0x00, 0x00, 0xff, X],
  green: [0x00, 0xff, 0x00, X],
  blue: [0xff, 0x00, 0x00, X],
  mixed: [0x56, 0x34, 0x12, X], // 0x??123456
  white: [0xff, 0xff, 0xff, X],
  black: [0x00, 0x00, 0x00, X],
};
// BGRX8888 is the little-endian u32 B:G:R:x, so its bytes are x, R, G, B.
const BGRX = {
  red: [X, 0xff, 0x00, 0x00],
  green: [X, 0x00, 0xff, 0x00],
  blue: [X, 0x00, 0x00, 0xff],
  mixed: [X, 0x12, 0x34, 0x56],
  white: [X, 0xff, 0xff, 0xff],
  black: [X, 0x00, 0x00, 0x00],
};
const RGBA = {
  red: [0xff, 0x00, 0x00, 0xff],
  green: [0x00, 0xff, 0x00, 0xff],
  blue: [0x00, 0x00, 0xff, 0xff],
  mixed: [0x12, 0x34, 0x56, 0xff],
  white: [0xff, 0xff, 0xff, 0xff],
  black: [0x00, 0x00, 0x00, 0xff],
};
type Colour = keyof typeof RGBA;
const PICTURE: Colour[][] = [
  ['red', 'green', 'blue'],
  ['mixed', 'white', 'black'],
];

function pictureBytes(table: Record<Colour, number[]>): number[][] {
  return PICTURE.map((row) => row.flatMap((c) => table[c]));
}
const EXPECTED = Uint8Array.from(PICTURE.flat().flatMap((c) => RGBA[c]));

/** The obvious per-byte conversion, straight from the format table: the model the fast paths must match. */
function reference(src: PlaneSource): Uint8Array {
  const f = pixelFormat(src.drmFormat)!;
  const out = new Uint8Array(src.width * src.height * 4);
  for (let y = 0; y < src.height; y++) {
    for (let x = 0; x < src.width; x++) {
      const p = src.offset + y * src.stride + x * f.bytesPerPixel;
      const o = (y * src.width + x) * 4;
      out[o] = src.bytes[p + f.red]!;
      out[o + 1] = src.bytes[p + f.green]!;
      out[o + 2] = src.bytes[p + f.blue]!;
      out[o + 3] = 0xff;
    }
  }
  return out;
}

function planeError(fn: () => unknown): PlaneError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(PlaneError);
    expect(error).toBeInstanceOf(RangeError);
    return error as PlaneError;
  }
  throw new Error('expected a PlaneError');
}

describe('formats', () => {
  it('the fourcc codes match drm_fourcc.h', () => {
    expect(fourccCode('XR24')).toBe(DRM_FORMAT_XRGB8888);
    expect(fourccCode('BX24')).toBe(DRM_FORMAT_BGRX8888);
    expect(DRM_FORMAT_XRGB8888).toBe(0x34325258);
    expect(DRM_FORMAT_BGRX8888).toBe(0x34325842);
    expect(DRM_FORMAT_XBGR8888).toBe(0x34324258);
    expect(DRM_FORMAT_RGBX8888).toBe(0x34325852);
    expect(DRM_FORMAT_RGB888).toBe(0x34324752);
    expect(DRM_FORMAT_BGR888).toBe(0x34324742);
  });

  it('each entry places red, green and blue in distinct bytes, apart from the padding byte', () => {
    for (const f of PIXEL_FORMATS) {
      const used = [f.red, f.green, f.blue, ...(f.padding === null ? [] : [f.padding])];
      expect(new Set(used).size, f.name).toBe(f.bytesPerPixel);
      expect(Math.max(...used), f.name).toBe(f.bytesPerPixel - 1);
      expect(pixelFormat(f.fourcc)).toBe(f);
    }
    expect(pixelFormat(fourccCode('AR24'))).toBeUndefined();
  });

  it('fourccName names known formats and describes the rest', () => {
    expect(fourccName(DRM_FORMAT_XRGB8888)).toBe('XRGB8888');
    expect(fourccName(DRM_FORMAT_BGRX8888)).toBe('BGRX8888');
    expect(fourccName(fourccCode('AR24'))).toBe("'AR24' (0x34325241)");
    expect(fourccName(0)).toBe('none (0x00000000)');
    expect(fourccName((DRM_FORMAT_XRGB8888 | 0x80000000) >>> 0)).toBe("'XR24' big-endian (0xb4325258)");
    expect(fourccChars(0x00000001)).toBe('\\x01\\x00\\x00\\x00');
  });
});

describe('planeToRgba', () => {
  // offset 8 / stride 16: 4-aligned, the u32 path. offset 5 / stride 15: the byte path.
  for (const [offset, stride] of [[8, 16], [5, 15], [0, 12], [3, 12]] as const) {
    it(`XRGB8888, offset ${offset}, stride ${stride}: red stored 00 00 FF 00 comes out FF 00 00 FF`, () => {
      const bytes = layout(pictureBytes(XRGB), offset, stride, 7);
      const img = planeToRgba({ bytes, offset, width: 3, height: 2, stride, drmFormat: DRM_FORMAT_XRGB8888 });
      expect(img.width).toBe(3);
      expect(img.height).toBe(2);
      expect(Array.from(img.data)).toEqual(Array.from(EXPECTED));
    });

    it(`BGRX8888, offset ${offset}, stride ${stride}`, () => {
      const bytes = layout(pictureBytes(BGRX), offset, stride, 7);
      const img = planeToRgba({ bytes, offset, width: 3, height: 2, stride, drmFormat: DRM_FORMAT_BGRX8888 });
      expect(Array.from(img.data)).toEqual(Array.from(EXPECTED));
    });
  }

  it('row padding, bytes before the plane and x bytes never reach the output', () => {
    const bytes = layout(pictureBytes(XRGB), 12, 40, 64);
    const img = planeToRgba({ bytes, offset: 12, width: 3, height: 2, stride: 40, drmFormat: DRM_FORMAT_XRGB8888 });
    expect(img.data.length).toBe(3 * 2 * 4);
    expect(img.data.includes(PAD)).toBe(false);
    expect(img.data.includes(X)).toBe(false);
  });

  it('a view into a larger buffer: byteOffset is honoured, and bounds are the view, not the buffer', () => {
    const backing = new Uint8Array(256).fill(PAD);
    const view = backing.subarray(8, 8 + 2 * 16); // two rows of stride 16
    view.set(pictureBytes(XRGB)[0]!, 0);
    view.set(pictureBytes(XRGB)[1]!, 16);
    const src = { bytes: view, offset: 0, width: 3, height: 2, stride: 16, drmFormat: DRM_FORMAT_XRGB8888 };
    expect(Array.from(planeToRgba(src).data)).toEqual(Array.from(EXPECTED));
    // A third row would still be inside `backing` but is outside the view.
    expect(planeError(() => planeToRgba({ ...src, height: 3 })).code).toBe('EBOUNDS');
  });

  it('the last row needs no padding after it; one byte short is refused', () => {
    const bytes = layout(pictureBytes(XRGB), 4, 32);
    expect(bytes.length).toBe(4 + 32 + 12);
    const src = { bytes, offset: 4, width: 3, height: 2, stride: 32, drmFormat: DRM_FORMAT_XRGB8888 };
    expect(Array.from(planeToRgba(src).data)).toEqual(Array.from(EXPECTED));
    const e = planeError(() => planeToRgba({ ...src, bytes: bytes.subarray(0, bytes.length - 1) }));
    expect(e.code).toBe('EBOUNDS');
    expect(e.message).toMatch(/needs bytes \[4, 48\) but the buffer holds 47/);
  });

  it('refuses planes that do not fit, whatever the numbers', () => {
    const bytes = new Uint8Array(1024);
    const ok: PlaneSource = { bytes, offset: 0, width: 16, height: 16, stride: 64, drmFormat: DRM_FORMAT_XRGB8888 };
    expect(() => planeToRgba(ok)).not.toThrow();
    const cases: [Partial<PlaneSource>, string][] = [
      [{ offset: 1 }, 'EBOUNDS'],
      [{ height: 17 }, 'EBOUNDS'],
      [{ stride: 65 }, 'EBOUNDS'],
      [{ offset: 2 ** 52 }, 'EBOUNDS'],
      [{ height: 2 ** 31, stride: 2 ** 22 }, 'EBOUNDS'],
      [{ offset: Number.MAX_SAFE_INTEGER }, 'EBOUNDS'],
      [{ offset: -4 }, 'EGEOMETRY'],
      [{ offset: 0.5 }, 'EGEOMETRY'],
      [{ offset: Number.NaN }, 'EGEOMETRY'],
      [{ width: 0 }, 'EGEOMETRY'],
      [{ height: -1 }, 'EGEOMETRY'],
      [{ width: Infinity }, 'EGEOMETRY'],
      [{ stride: 63 }, 'EGEOMETRY'], // rows would overlap
      [{ stride: 2 ** 53 }, 'EGEOMETRY'],
      [{ drmFormat: 0 }, 'EFORMAT'],
      [{ drmFormat: fourccCode('AR24') }, 'EFORMAT'],
    ];
    for (const [change, code] of cases) {
      expect(planeError(() => planeToRgba({ ...ok, ...change })).code, JSON.stringify(change)).toBe(code);
    }
  });

  it('a released (detached) memory is refused, not read', () => {
    const buffer = new ArrayBuffer(64);
    const bytes = new Uint8Array(buffer);
    structuredClone(buffer, { transfer: [buffer] }); // detaches: bytes.length becomes 0
    expect(planeError(() => planeToRgba({ bytes, offset: 0, width: 2, height: 2, stride: 8, drmFormat: DRM_FORMAT_XRGB8888 })).code).toBe('EBOUNDS');
  });

  it('fills a given output buffer, and refuses one of the wrong size', () => {
    const bytes = layout(pictureBytes(XRGB), 0, 12);
    const src = { bytes, offset: 0, width: 3, height: 2, stride: 12, drmFormat: DRM_FORMAT_XRGB8888 };
    const out = new Uint8Array(24).fill(9);
    expect(planeToRgba(src, out).data).toBe(out);
    expect(Array.from(out)).toEqual(Array.from(EXPECTED));
    expect(() => planeToRgba(src, new Uint8Array(23))).toThrow(RangeError);
    // An unaligned output view still works (byte path).
    const backing = new Uint8Array(25);
    const unaligned = backing.subarray(1);
    planeToRgba(src, unaligned);
    expect(Array.from(unaligned)).toEqual(Array.from(EXPECTED));
  });

  it('planeLayout reports the byte range read', () => {
    const layoutInfo = planeLayout({ bytes: new Uint8Array(100), offset: 4, width: 3, height: 2, stride: 20, drmFormat: DRM_FORMAT_RGB888 });
    expect(layoutInfo.format.name).toBe('RGB888');
    expect(layoutInfo.start).toBe(4);
    expect(layoutInfo.end).toBe(4 + 20 + 9);
  });

  it('every format, aligned or not, padded or not, equals the per-byte model (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...PIXEL_FORMATS),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 0, max: 9 }), // stride padding
        fc.integer({ min: 0, max: 9 }), // offset
        fc.integer({ min: 0, max: 3 }), // byteOffset of the view
        fc.integer({ min: 0, max: 2 ** 31 }),
        (format, width, height, pad, offset, viewOffset, seed) => {
          const stride = width * format.bytesPerPixel + pad;
          const size = offset + (height - 1) * stride + width * format.bytesPerPixel;
          const backing = new Uint8Array(viewOffset + size + 4);
          let s = seed;
          for (let i = 0; i < backing.length; i++) {
            s = (Math.imul(s, 1103515245) + 12345) >>> 0;
            backing[i] = s >>> 24;
          }
          const bytes = backing.subarray(viewOffset, viewOffset + size);
          const src = { bytes, offset, width, height, stride, drmFormat: format.fourcc };
          expect(Array.from(planeToRgba(src).data)).toEqual(Array.from(reference(src)));
          // One byte less never reads out of bounds: it is refused.
          expect(() => planeToRgba({ ...src, bytes: bytes.subarray(0, size - 1) })).toThrow(PlaneError);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a 1080p XRGB8888 plane with a padded stride converts like the model', () => {
    const width = 1920;
    const height = 1080;
    const stride = 2048 * 4;
    const bytes = new Uint8Array(64 + stride * height);
    const words = new Uint32Array(bytes.buffer);
    for (let i = 0; i < words.length; i++) words[i] = Math.imul(i, 2654435761);
    const src = { bytes, offset: 64, width, height, stride, drmFormat: DRM_FORMAT_XRGB8888 };
    const img = planeToRgba(src);
    expect(Buffer.from(img.data).equals(Buffer.from(reference(src)))).toBe(true);
  });
});

function frame(width: number, height: number, fill = 0): RgbaImage {
  return { width, height, data: new Uint8Array(width * height * 4).fill(fill) };
}

function setPixel(img: RgbaImage, x: number, y: number, rgba: number[]): void {
  img.data.set(rgba, (y * img.width + x) * 4);
}

function inside(r: Rect, x: number, y: number): boolean {
  return x >= r.x && x < r.x + r.width && y >= r.y && y < r.y + r.height;
}

/** A copy of `img` whose data is a view at byteOffset 1 (not 4-aligned): exercises the byte-compare path. */
function unaligned(img: RgbaImage): RgbaImage {
  const backing = new Uint8Array(img.data.length + 1);
  const data = backing.subarray(1);
  data.set(img.data);
  return { width: img.width, height: img.height, data };
}

describe('damage', () => {
  it('identical frames: nothing', () => {
    const a = frame(10, 8, 3);
    const b = frame(10, 8, 3);
    expect(damage(a, b)).toEqual([]);
    expect(damage(a, a)).toEqual([]);
  });

  it('one changed pixel: a 1x1 rectangle at exactly that pixel', () => {
    const a = frame(10, 8);
    const b = frame(10, 8);
    setPixel(b, 5, 3, [0, 0, 0, 1]); // only the alpha byte differs
    expect(damage(a, b)).toEqual([{ x: 5, y: 3, width: 1, height: 1 }]);
    expect(damage(unaligned(a), b)).toEqual([{ x: 5, y: 3, width: 1, height: 1 }]);
    for (const [x, y] of [[0, 0], [9, 7], [9, 0], [0, 7]] as const) {
      const c = frame(10, 8);
      setPixel(c, x, y, [1, 2, 3, 4]);
      expect(damage(a, c)).toEqual([{ x, y, width: 1, height: 1 }]);
    }
  });

  it('separate bands for rows apart, one band spanning the union of columns for adjacent rows', () => {
    const a = frame(20, 10);
    const b = frame(20, 10);
    setPixel(b, 2, 1, [9, 9, 9, 9]);
    setPixel(b, 7, 2, [9, 9, 9, 9]);
    setPixel(b, 15, 6, [9, 9, 9, 9]);
    setPixel(b, 19, 9, [9, 9, 9, 9]);
    const rects = damage(a, b);
    expect(rects).toEqual([
      { x: 2, y: 1, width: 6, height: 2 },
      { x: 15, y: 6, width: 1, height: 1 },
      { x: 19, y: 9, width: 1, height: 1 },
    ]);
  });

  it('with a row source, row y is compared with the given row of prev (a scroll the viewer already copied)', () => {
    const a = frame(4, 4);
    for (let y = 0; y < 4; y++) a.data.fill(10 * (y + 1), y * 16, y * 16 + 16);
    const b = frame(4, 4);
    b.data.set(a.data.subarray(16)); // rows 1..3 moved up by one
    b.data.fill(99, 48, 64); // a new last row
    expect(damage(a, b)).toEqual([{ x: 0, y: 0, width: 4, height: 4 }]);
    expect(damage(a, b, (y) => (y < 3 ? y + 1 : y))).toEqual([{ x: 0, y: 3, width: 4, height: 1 }]);
  });

  it('a frame of another size is damaged everywhere', () => {
    expect(damage(frame(4, 4), frame(6, 2))).toEqual([{ x: 0, y: 0, width: 6, height: 2 }]);
  });

  it('refuses frames whose data does not match their size', () => {
    expect(() => damage(frame(4, 4), { width: 4, height: 4, data: new Uint8Array(63) })).toThrow(RangeError);
  });

  it('every changed pixel is inside exactly one band; no unchanged row is reported; bands are tight and maximal (property)', () => {
    const arb = fc
      .record({ width: fc.integer({ min: 1, max: 14 }), height: fc.integer({ min: 1, max: 12 }), seed: fc.integer() })
      .chain(({ width, height, seed }) =>
        fc.record({
          width: fc.constant(width),
          height: fc.constant(height),
          seed: fc.constant(seed),
          changes: fc.array(
            fc.record({ x: fc.nat(width - 1), y: fc.nat(height - 1), byte: fc.nat(3), delta: fc.integer({ min: 1, max: 255 }) }),
            { maxLength: 12 },
          ),
          misalign: fc.boolean(),
        }),
      );
    fc.assert(
      fc.property(arb, ({ width, height, seed, changes, misalign }) => {
        const prev = frame(width, height);
        let s = seed >>> 0;
        for (let i = 0; i < prev.data.length; i++) {
          s = (Math.imul(s, 1103515245) + 12345) >>> 0;
          prev.data[i] = s >>> 24;
        }
        const next: RgbaImage = { width, height, data: prev.data.slice() };
        for (const c of changes) {
          const i = (c.y * width + c.x) * 4 + c.byte;
          next.data[i] = (next.data[i]! + c.delta) & 0xff;
        }
        const changed = (x: number, y: number): boolean => {
          const i = (y * width + x) * 4;
          for (let k = 0; k < 4; k++) if (prev.data[i + k] !== next.data[i + k]) return true;
          return false;
        };
        const rowChanged = (y: number): boolean => {
          for (let x = 0; x < width; x++) if (changed(x, y)) return true;
          return false;
        };

        const rects = damage(misalign ? unaligned(prev) : prev, next);
        expect(rects).toEqual(damage(prev, next)); // u32 and byte paths agree

        for (const r of rects) {
          expect(r.width).toBeGreaterThan(0);
          expect(r.height).toBeGreaterThan(0);
          expect(r.x + r.width).toBeLessThanOrEqual(width);
          expect(r.y + r.height).toBeLessThanOrEqual(height);
          // No unchanged full row is reported.
          for (let y = r.y; y < r.y + r.height; y++) expect(rowChanged(y), `row ${y}`).toBe(true);
          // Maximal: the rows just above and below are unchanged.
          if (r.y > 0) expect(rowChanged(r.y - 1)).toBe(false);
          if (r.y + r.height < height) expect(rowChanged(r.y + r.height)).toBe(false);
          // Tight: the first and last columns hold a change.
          const colChanged = (x: number): boolean => {
            for (let y = r.y; y < r.y + r.height; y++) if (changed(x, y)) return true;
            return false;
          };
          expect(colChanged(r.x)).toBe(true);
          expect(colChanged(r.x + r.width - 1)).toBe(true);
        }
        // Sorted, disjoint.
        for (let i = 1; i < rects.length; i++) expect(rects[i]!.y).toBeGreaterThan(rects[i - 1]!.y + rects[i - 1]!.height - 1);
        // Every changed pixel lies inside exactly one rectangle.
        for (let y = 0; y < height; y++) {
          for (let x = 0; x < width; x++) {
            if (changed(x, y)) expect(rects.filter((r) => inside(r, x, y)).length, `pixel ${x},${y}`).toBe(1);
          }
        }
        if (changes.length === 0) expect(rects).toEqual([]);
      }),
      { numRuns: 400 },
    );
  });
});

describe('no plane', () => {
  const plane = (p: Partial<GfxPlaneInfo>): GfxPlaneInfo => ({
    ...EMPTY_PLANE,
    drmFormat: DRM_FORMAT_XRGB8888,
    width: 3,
    height: 2,
    stride: 12,
    size: 24,
    ...p,
  });

  it('the empty plane (no mode set) is "no plane", not an error', () => {
    const state = displayStateFromPlane(EMPTY_PLANE, new Uint8Array(64));
    expect(state).toEqual({ kind: 'none', reason: 'no-mode', message: 'no plane: the guest has not set a display mode' });
    expect(renderDisplay(state)).toBe(state);
  });

  it('link down, unsupported formats, modifiers, missing memory and planes that do not fit', () => {
    const bytes = new Uint8Array(64);
    expect(displayStateFromPlane(plane({}), bytes, 0, { linkState: 2 })).toMatchObject({ kind: 'none', reason: 'link-down' });
    expect(displayStateFromPlane(plane({}), bytes, 0, { linkState: 1 }).kind).toBe('plane');
    expect(displayStateFromPlane(plane({}), bytes, 0, { linkState: 0 }).kind).toBe('plane');
    expect(displayStateFromPlane(plane({ drmFormat: fourccCode('AR24') }), bytes)).toMatchObject({
      kind: 'none',
      reason: 'unsupported-format',
      message: "no plane: the pixel format is not supported ('AR24' (0x34325241))",
    });
    expect(displayStateFromPlane(plane({ drmFormatMod: 0x0100000000000001n }), bytes)).toMatchObject({ reason: 'unsupported-format' });
    expect(displayStateFromPlane(plane({}), null)).toMatchObject({ reason: 'unavailable' });
    expect(displayStateFromPlane(plane({ height: 100 }), bytes)).toMatchObject({ reason: 'invalid-plane' });
    expect(displayStateFromPlane(plane({ stride: 4 }), bytes)).toMatchObject({ reason: 'invalid-plane' });
    expect(displayStateFromPlane(plane({}), bytes, 60)).toMatchObject({ reason: 'invalid-plane' });
    expect(noPlane('no-mode', '').message).toBe('no plane: the guest has not set a display mode');
  });

  it('a valid plane renders; memory released after classification renders as "unavailable"', () => {
    const buffer = new ArrayBuffer(64);
    const bytes = new Uint8Array(buffer);
    bytes.set(pictureBytes(XRGB).flat(), 0);
    const state = displayStateFromPlane(plane({}), bytes);
    const frame = renderDisplay(state);
    expect(frame.kind).toBe('image');
    if (frame.kind === 'image') expect(Array.from(frame.image.data)).toEqual(Array.from(EXPECTED));
    structuredClone(buffer, { transfer: [buffer] });
    expect(renderDisplay(state)).toMatchObject({ kind: 'none', reason: 'unavailable' });
  });

  it('a dmabuf: its memory at its offset', () => {
    const memory = new Uint8Array(128).fill(PAD);
    memory.set(pictureBytes(BGRX)[0]!, 16);
    memory.set(pictureBytes(BGRX)[1]!, 16 + 32);
    const dmabuf: DmabufExport = {
      dmabufId: 1,
      memory: { size: 128, bytes: memory, fd: undefined, close() {} },
      offset: 16,
      size: 64,
      width: 3,
      height: 2,
      stride: 32,
      drmFormat: DRM_FORMAT_BGRX8888,
      drmFormatMod: 0n,
      release() {},
    };
    const frame = renderDisplay(displayStateFromDmabuf(dmabuf));
    expect(frame.kind).toBe('image');
    if (frame.kind === 'image') expect(Array.from(frame.image.data)).toEqual(Array.from(EXPECTED));
    expect(displayStateFromDmabuf({ ...dmabuf, width: 0 })).toMatchObject({ reason: 'no-mode' });
    expect(displayStateFromDmabuf({ ...dmabuf, offset: 100 })).toMatchObject({ reason: 'invalid-plane' });
    const closed = { ...dmabuf, memory: { ...dmabuf.memory, get bytes(): Uint8Array { throw new Error('closed'); } } };
    expect(displayStateFromDmabuf(closed)).toMatchObject({ reason: 'unavailable' });
    expect(displayStateFromDmabuf(dmabuf, { linkState: 2 })).toMatchObject({ reason: 'link-down' });
  });
});
