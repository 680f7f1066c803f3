/**
 * RFB pixel formats (RFC 6143 §7.4) as the server writes them. Expected
 * bytes are worked out here from the RFC's definition — a channel is
 * scaled to 0..max, shifted left by its shift, the three ORed into a
 * bits-per-pixel value sent in the format's byte order — and decoded back
 * the way §7.4 tells a viewer to (swap, shift right, AND with max), not
 * through the server's lookup tables.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RgbaImage } from '../../../src/display/pixels.ts';
import {
  BGR233, colourMapBgr233, cpixelLayout, DEFAULT_PIXEL_FORMAT, pixelConverter, pixelFormatProblem, pixelValues, PIXEL_FORMAT_LENGTH,
  readPixelFormat, writePixelFormat, writePixels, type RfbPixelFormat,
} from '../../../src/vnc/pixel-format.ts';

const fmt = (f: Partial<RfbPixelFormat>): RfbPixelFormat => ({ ...DEFAULT_PIXEL_FORMAT, ...f });

const BIG_ENDIAN_XRGB = fmt({ bigEndian: true });
const RGB565 = fmt({ bitsPerPixel: 16, depth: 16, redMax: 31, greenMax: 63, blueMax: 31, redShift: 11, greenShift: 5, blueShift: 0 });
const RGB565_BE = fmt({ ...RGB565, bigEndian: true });
/** What a viewer sends for "8-bit colour map" (§7.4: true-colour-flag 0, the maxima and shifts unused). */
const COLOUR_MAP_8 = fmt({ bitsPerPixel: 8, depth: 8, trueColour: false, redMax: 0, greenMax: 0, blueMax: 0, redShift: 0, greenShift: 0, blueShift: 0 });

/** The RFC's scaling of an 8-bit channel to 0..max, rounded to nearest. */
const scale = (c: number, max: number): number => Math.floor((c * max + 127) / 255);

/** The pixel value for RGB (r, g, b) in true-colour format `f`, from §7.4. */
function pixelValue(f: RfbPixelFormat, r: number, g: number, b: number): number {
  return (scale(r, f.redMax) * 2 ** f.redShift + scale(g, f.greenMax) * 2 ** f.greenShift + scale(b, f.blueMax) * 2 ** f.blueShift) >>> 0;
}

/** `value` as bitsPerPixel/8 bytes in the format's byte order. */
function pixelBytes(f: RfbPixelFormat, value: number): number[] {
  const n = f.bitsPerPixel / 8;
  const le = Array.from({ length: n }, (_, i) => Math.floor(value / 2 ** (8 * i)) & 0xff);
  return f.bigEndian ? le.reverse() : le;
}

/** §7.4's recipe for a viewer: the value from its bytes, then each channel as (value >> shift) & max. */
function decode(f: RfbPixelFormat, bytes: Uint8Array, at: number): [number, number, number] {
  const n = f.bitsPerPixel / 8;
  let v = 0;
  for (let i = 0; i < n; i++) v += bytes[at + (f.bigEndian ? i : n - 1 - i)]! * 2 ** (8 * (n - 1 - i));
  const channel = (max: number, shift: number): number => Math.floor(v / 2 ** shift) % (max + 1);
  return [channel(f.redMax, f.redShift), channel(f.greenMax, f.greenShift), channel(f.blueMax, f.blueShift)];
}

function image(width: number, height: number, rgb: ReadonlyArray<readonly [number, number, number]>): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  rgb.forEach(([r, g, b], i) => data.set([r, g, b, 0xff], i * 4));
  return { width, height, data };
}

/** Convert and write the whole image as the server does; returns the bytes. */
function written(f: RfbPixelFormat, img: RgbaImage): Uint8Array {
  const conv = pixelConverter(f);
  const values = pixelValues(img, { x: 0, y: 0, width: img.width, height: img.height }, conv);
  const out = new Uint8Array(2 + values.length * conv.bytesPerPixel).fill(0xee);
  expect(writePixels(values, conv, out, 2)).toBe(values.length * conv.bytesPerPixel);
  expect([out[0], out[1]]).toEqual([0xee, 0xee]); // nothing before `at` is touched
  return out.subarray(2);
}

const COLOURS = [[0x12, 0x34, 0x56], [0xff, 0x80, 0x10], [0, 0, 0], [0xff, 0xff, 0xff], [0x7f, 0x80, 0x81], [1, 254, 128]] as const;

describe('PIXEL_FORMAT on the wire (§7.4: 16 bytes, u16 maxima big-endian, 3 bytes padding)', () => {
  it.each([['the default', DEFAULT_PIXEL_FORMAT], ['RGB565 big-endian', RGB565_BE], ['a colour map', COLOUR_MAP_8], ['BGR233', BGR233]])(
    '%s survives writePixelFormat then readPixelFormat',
    (_n, f) => {
      const b = new Uint8Array(4 + PIXEL_FORMAT_LENGTH).fill(0xee);
      writePixelFormat(new DataView(b.buffer), 4, f);
      expect(readPixelFormat(new DataView(b.buffer), 4)).toEqual({ ...f });
      expect([...b.subarray(17, 20)]).toEqual([0, 0, 0]);
    },
  );

  it('writes the default as the RFC lays it out: 32, 24, little-endian, true colour, 255×3, shifts 16/8/0', () => {
    const b = new Uint8Array(PIXEL_FORMAT_LENGTH);
    writePixelFormat(new DataView(b.buffer), 0, DEFAULT_PIXEL_FORMAT);
    expect([...b]).toEqual([32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]);
  });

  it('reads any non-zero flag byte as true (§7.4: "non-zero (true)")', () => {
    const b = Uint8Array.of(16, 16, 7, 0x80, 0, 31, 0, 63, 0, 31, 11, 5, 0, 0xaa, 0xbb, 0xcc);
    expect(readPixelFormat(new DataView(b.buffer), 0)).toEqual({ ...RGB565_BE });
  });
});

describe('pixelFormatProblem: which SetPixelFormat requests (§7.5.1) the server can serve', () => {
  it.each([
    ['24 bits per pixel (§7.4: 8, 16 or 32)', fmt({ bitsPerPixel: 24 })],
    ['0 bits per pixel', fmt({ bitsPerPixel: 0 })],
    ['a red channel past a 16-bit pixel', fmt({ ...RGB565, redShift: 12 })],
    ['a green channel past a 32-bit pixel', fmt({ greenShift: 25 })],
    ['a shift past the pixel', fmt({ blueShift: 40 })],
    ['a maximum of 0', fmt({ greenMax: 0 })],
    ['a maximum that is not 2^N - 1 (§7.4 "must be")', fmt({ redMax: 200 })],
    ['channels that share bits', fmt({ redShift: 4 })],
    ['a colour map with 16 bits per pixel (only the 8-bit map is served)', fmt({ ...COLOUR_MAP_8, bitsPerPixel: 16 })],
    ['a colour map with 32 bits per pixel', fmt({ ...COLOUR_MAP_8, bitsPerPixel: 32 })],
  ])('refuses %s', (_n, f) => {
    expect(pixelFormatProblem(f)).toMatch(/\w/);
  });

  it.each([
    ['the default xRGB', DEFAULT_PIXEL_FORMAT],
    ['big-endian xRGB', BIG_ENDIAN_XRGB],
    ['RGBx (colour in the high bytes)', fmt({ redShift: 24, greenShift: 16, blueShift: 8 })],
    ['RGB565 in either byte order', RGB565_BE],
    ['RGB555', fmt({ bitsPerPixel: 16, depth: 15, redMax: 31, greenMax: 31, blueMax: 31, redShift: 10, greenShift: 5, blueShift: 0 })],
    ['BGR233', BGR233],
    ['one bit per channel', fmt({ bitsPerPixel: 8, depth: 3, redMax: 1, greenMax: 1, blueMax: 1, redShift: 2, greenShift: 1, blueShift: 0 })],
    ['16-bit channels that fit', fmt({ redMax: 65535, redShift: 16, greenMax: 255, greenShift: 8, blueMax: 255, blueShift: 0 })],
    ['an 8-bit colour map', COLOUR_MAP_8],
  ])('accepts %s', (_n, f) => {
    expect(pixelFormatProblem(f)).toBeNull();
  });
});

describe('pixels in the viewer\'s format (§7.4, Raw §7.7.1)', () => {
  it.each([
    ['32-bit little-endian xRGB', DEFAULT_PIXEL_FORMAT, [[0x56, 0x34, 0x12, 0], [0x10, 0x80, 0xff, 0]]],
    ['32-bit big-endian xRGB', BIG_ENDIAN_XRGB, [[0, 0x12, 0x34, 0x56], [0, 0xff, 0x80, 0x10]]],
    // (0x12,0x34,0x56) → 2,13,10 → 0x11aa; (0xff,0x80,0x10) → 31,32,2 → 0xfc02.
    ['RGB565 little-endian', RGB565, [[0xaa, 0x11], [0x02, 0xfc]]],
    ['RGB565 big-endian', RGB565_BE, [[0x11, 0xaa], [0xfc, 0x02]]],
    // BGR233: red bits 0-2, green 3-5, blue 6-7. (0x12,0x34,0x56) → 0,1,1 → 0x48; (0xff,0x80,0x10) → 7,4,0 → 0x27.
    ['BGR233', BGR233, [[0x48], [0x27]]],
  ])('%s: the bytes the RFC gives for two known colours', (_n, f, expected) => {
    expect([...written(f, image(2, 1, [[0x12, 0x34, 0x56], [0xff, 0x80, 0x10]]))]).toEqual(expected.flat());
  });

  it.each([
    ['32-bit little-endian xRGB', DEFAULT_PIXEL_FORMAT],
    ['32-bit big-endian xRGB', BIG_ENDIAN_XRGB],
    ['RGB565 little-endian', RGB565],
    ['RGB565 big-endian', RGB565_BE],
    ['BGR233', BGR233],
  ])('%s: every pixel of an image is the value §7.4 defines, in its byte order', (_n, f) => {
    const img = image(3, 2, COLOURS);
    expect([...written(f, img)]).toEqual(COLOURS.flatMap(([r, g, b]) => pixelBytes(f, pixelValue(f, r, g, b))));
  });

  it('a colour-map viewer gets BGR233 indices, and the map sends each index back to its colour', () => {
    expect(pixelConverter(COLOUR_MAP_8).format).toEqual(BGR233);
    const img = image(3, 2, COLOURS);
    const indices = written(COLOUR_MAP_8, img);
    const map = new DataView(colourMapBgr233().buffer);
    expect(map.byteLength).toBe(256 * 6);
    COLOURS.forEach(([r, g, b], i) => {
      const idx = indices[i]!;
      expect(idx).toBe(pixelValue(BGR233, r, g, b));
      // §7.6.2: u16 red, green, blue per entry, 65535 full scale; within half a step of the source.
      const back = [map.getUint16(idx * 6), map.getUint16(idx * 6 + 2), map.getUint16(idx * 6 + 4)].map((c) => (c * 255) / 65535);
      expect(Math.abs(back[0]! - r)).toBeLessThanOrEqual(255 / 14 + 0.5);
      expect(Math.abs(back[1]! - g)).toBeLessThanOrEqual(255 / 14 + 0.5);
      expect(Math.abs(back[2]! - b)).toBeLessThanOrEqual(255 / 6 + 0.5);
    });
  });

  it('converts only the rectangle asked for, row by row', () => {
    const img = image(3, 2, COLOURS);
    const conv = pixelConverter(DEFAULT_PIXEL_FORMAT);
    const values = pixelValues(img, { x: 1, y: 0, width: 2, height: 2 }, conv);
    expect([...values]).toEqual([1, 2, 4, 5].map((i) => { const [r, g, b] = COLOURS[i]!; return pixelValue(DEFAULT_PIXEL_FORMAT, r, g, b); }));
  });

  /** A true-colour format from arbitrary fields: mostly nonsense that pixelFormatProblem must sort out. */
  const anyFormat = fc.record({
    bitsPerPixel: fc.constantFrom(8, 16, 32),
    depth: fc.integer({ min: 1, max: 32 }),
    bigEndian: fc.boolean(),
    trueColour: fc.constant(true),
    redMax: fc.oneof(fc.integer({ min: 1, max: 16 }).map((n) => 2 ** n - 1), fc.integer({ min: 0, max: 65535 })),
    greenMax: fc.oneof(fc.integer({ min: 1, max: 16 }).map((n) => 2 ** n - 1), fc.integer({ min: 0, max: 65535 })),
    blueMax: fc.oneof(fc.integer({ min: 1, max: 16 }).map((n) => 2 ** n - 1), fc.integer({ min: 0, max: 65535 })),
    redShift: fc.integer({ min: 0, max: 31 }),
    greenShift: fc.integer({ min: 0, max: 31 }),
    blueShift: fc.integer({ min: 0, max: 31 }),
  });
  /** A format laid out to be valid: channel widths placed in some order with gaps, so that many runs are accepted ones. */
  const laidOut = fc.record({
    bpp: fc.constantFrom(8, 16, 32),
    bits: fc.tuple(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 16 })),
    order: fc.constantFrom<number[]>([0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]),
    gap: fc.integer({ min: 0, max: 8 }),
    bigEndian: fc.boolean(),
  }).map(({ bpp, bits, order, gap, bigEndian }): RfbPixelFormat => {
    const shifts = [0, 0, 0];
    let at = 0;
    for (const c of order) { shifts[c] = at; at += bits[c]! + gap; }
    return {
      bitsPerPixel: bpp, depth: Math.min(bpp, bits[0] + bits[1] + bits[2]), bigEndian, trueColour: true,
      redMax: 2 ** bits[0] - 1, greenMax: 2 ** bits[1] - 1, blueMax: 2 ** bits[2] - 1,
      redShift: shifts[0]!, greenShift: shifts[1]!, blueShift: shifts[2]!,
    };
  });

  it('for random true-colour formats that pixelFormatProblem accepts, every channel value decoded back from the written bytes is within one step of the source channel (property)', () => {
    let accepted = 0;
    fc.assert(fc.property(
      fc.oneof(anyFormat, laidOut), fc.array(fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255)), { minLength: 1, maxLength: 12 }),
      (f, colours) => {
        fc.pre(pixelFormatProblem(f) === null);
        accepted++;
        const bytes = written(f, image(colours.length, 1, colours));
        expect(bytes.length).toBe((colours.length * f.bitsPerPixel) / 8);
        colours.forEach((src, i) => {
          const got = decode(f, bytes, (i * f.bitsPerPixel) / 8);
          const maxima = [f.redMax, f.greenMax, f.blueMax];
          // One step of a channel with maximum m is 255/m of the 8-bit source.
          got.forEach((v, c) => expect(Math.abs((v * 255) / maxima[c]! - src[c]!)).toBeLessThanOrEqual(255 / maxima[c]! + 1e-9));
        });
      },
    ), { numRuns: 300 });
    expect(accepted).toBeGreaterThan(100);
  });
});

describe('cpixelLayout: the CPIXEL of TRLE/ZRLE (§7.7.5, used by ZRLE §7.7.6)', () => {
  it.each([
    ['32-bit depth 24, colour in the low 3 bytes (xRGB)', DEFAULT_PIXEL_FORMAT, { bytes: 3, shift: 0 }],
    ['the same, big-endian: the rule looks at bits, not bytes', BIG_ENDIAN_XRGB, { bytes: 3, shift: 0 }],
    ['32-bit depth 24, colour in the high 3 bytes (RGBx)', fmt({ redShift: 24, greenShift: 16, blueShift: 8 }), { bytes: 3, shift: 8 }],
    ['32-bit depth 24, colour spread over all 4 bytes', fmt({ redShift: 24, greenShift: 8, blueShift: 0 }), { bytes: 4, shift: 0 }],
    ['32-bit depth 32 (depth must be 24 or less)', fmt({ depth: 32 }), { bytes: 4, shift: 0 }],
    ['16 bits per pixel (only 32-bit pixels shrink)', RGB565, { bytes: 2, shift: 0 }],
    ['8 bits per pixel', BGR233, { bytes: 1, shift: 0 }],
    ['32 bits, depth 24, but not true colour (the flag must be non-zero)', fmt({ ...COLOUR_MAP_8, bitsPerPixel: 32, depth: 24 }), { bytes: 4, shift: 0 }],
  ])('%s', (_n, f, layout) => {
    expect(cpixelLayout(f)).toEqual(layout);
  });
});
