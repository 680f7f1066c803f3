import zlib from 'node:zlib';
import fc from 'fast-check';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import {
  PNG_DEFAULTS,
  PNG_SIGNATURE,
  crc32Js,
  planeToPng,
  pngPackerOptions,
  rgbaToPng,
  type PngOptions,
} from '../../../src/display/png.ts';
import { planeToRgba, type RgbaImage } from '../../../src/display/pixels.ts';
import { DRM_FORMAT_BGRX8888, DRM_FORMAT_XRGB8888 } from '../../../src/vfio/uapi.ts';

// (ImageMagick's `convert` on this machine is a stand-in; pngjs is the only decoder used.)

function randomImage(width: number, height: number, seed: number): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  let s = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    data[i] = s >>> 24;
  }
  return { width, height, data };
}

function decode(png: Buffer): { width: number; height: number; data: Buffer } {
  const img = PNG.sync.read(png); // checks every chunk CRC
  return { width: img.width, height: img.height, data: img.data };
}

interface Chunk {
  readonly type: string;
  readonly data: Buffer;
  readonly crc: number;
  readonly crcOk: boolean;
}

function chunks(png: Buffer): Chunk[] {
  const out: Chunk[] = [];
  for (let p = 8; p < png.length; ) {
    const length = png.readUInt32BE(p);
    const type = png.toString('latin1', p + 4, p + 8);
    const data = png.subarray(p + 8, p + 8 + length);
    const crc = png.readUInt32BE(p + 8 + length);
    out.push({ type, data, crc, crcOk: crc === zlib.crc32(png.subarray(p + 4, p + 8 + length)) });
    p += 12 + length;
  }
  return out;
}

const SETTINGS: readonly PngOptions[] = [
  {},
  { level: 0 },
  { level: 9 },
  { strategy: zlib.constants.Z_RLE },
  { encoder: 'pngjs' },
  { encoder: 'pngjs', filter: 1 },
  { encoder: 'pngjs', filter: -1, level: 6 },
];

describe('rgbaToPng', () => {
  it('starts with the PNG signature, then IHDR (8-bit RGBA, no interlace), ends with IEND', () => {
    for (const opts of SETTINGS) {
      const png = rgbaToPng(randomImage(5, 3, 1), opts);
      expect(Array.from(png.subarray(0, 8)), JSON.stringify(opts)).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      expect(Array.from(png.subarray(0, 8))).toEqual(PNG_SIGNATURE);
      const list = chunks(png);
      expect(list[0]!.type).toBe('IHDR');
      const ihdr = list[0]!.data;
      expect(ihdr.length).toBe(13);
      expect(ihdr.readUInt32BE(0)).toBe(5);
      expect(ihdr.readUInt32BE(4)).toBe(3);
      expect(Array.from(ihdr.subarray(8))).toEqual([8, 6, 0, 0, 0]);
      expect(list.at(-1)!.type).toBe('IEND');
      expect(list.at(-1)!.data.length).toBe(0);
      expect(png.subarray(-4).readUInt32BE(0)).toBe(0xae426082); // IEND's fixed CRC
      expect(list.every((c) => c.crcOk)).toBe(true);
      expect(list.some((c) => c.type === 'IDAT')).toBe(true);
    }
  });

  it('round trip: pngjs decodes exactly the source pixels, every setting', () => {
    const img = randomImage(17, 9, 7);
    for (const opts of SETTINGS) {
      const back = decode(rgbaToPng(img, opts));
      expect(back.width).toBe(17);
      expect(back.height).toBe(9);
      expect(Buffer.from(img.data).equals(back.data), JSON.stringify(opts)).toBe(true);
    }
  });

  it('round trip (property): any size, any pixels, both encoders', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 24 }),
        fc.integer(),
        fc.constantFrom<PngOptions>({}, { encoder: 'pngjs' }, { level: 6 }),
        (width, height, seed, opts) => {
          const img = randomImage(width, height, seed);
          const back = decode(rgbaToPng(img, opts));
          expect([back.width, back.height]).toEqual([width, height]);
          expect(Buffer.from(img.data).equals(back.data)).toBe(true);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('the zlib and pngjs encoders (filter 0, same level and strategy) write the same IDAT', () => {
    const img = randomImage(33, 20, 3);
    const idat = (png: Buffer) => Buffer.concat(chunks(png).filter((c) => c.type === 'IDAT').map((c) => c.data));
    expect(idat(rgbaToPng(img)).equals(idat(rgbaToPng(img, { encoder: 'pngjs' })))).toBe(true);
  });

  it('refuses empty images, mismatched data and bad options', () => {
    expect(() => rgbaToPng({ width: 0, height: 0, data: new Uint8Array(0) })).toThrow(RangeError);
    expect(() => rgbaToPng({ width: 2, height: 2, data: new Uint8Array(15) })).toThrow(RangeError);
    const img = randomImage(2, 2, 1);
    expect(() => rgbaToPng(img, { level: 10 })).toThrow(/level/);
    expect(() => rgbaToPng(img, { level: 1.5 })).toThrow(/level/);
    expect(() => rgbaToPng(img, { filter: 1 })).toThrow(/zlib encoder writes filter 0 only/);
    expect(() => rgbaToPng(img, { encoder: 'pngjs', filter: 7 as 0 })).toThrow(/filter/);
    expect(() => rgbaToPng(img, { strategy: 9 })).toThrow(/strategy/);
    expect(() => rgbaToPng(img, { encoder: 'gif' as 'zlib' })).toThrow(/encoder/);
  });

  it('defaults: level 1, zlib encoder, filter 0, Z_DEFAULT_STRATEGY', () => {
    expect(PNG_DEFAULTS).toEqual({ level: 1, encoder: 'zlib', filter: 0, strategy: 0 });
    expect(pngPackerOptions({ level: 3, filter: 1 })).toMatchObject({ deflateLevel: 3, filterType: 1, deflateStrategy: 0, colorType: 6 });
  });

  it('crc32Js (the fallback for Node without zlib.crc32) equals zlib.crc32', () => {
    expect(crc32Js(new Uint8Array(0))).toBe(0);
    expect(crc32Js(Buffer.from('IEND', 'latin1'))).toBe(0xae426082);
    expect(crc32Js(Buffer.from('123456789'))).toBe(0xcbf43926);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(crc32Js(bytes)).toBe(zlib.crc32(bytes));
      }),
    );
  });
});

describe('planeToPng', () => {
  it('an XRGB8888 plane with stride and offset → a PNG of the visible pixels', () => {
    // 2x2: red, green / blue, 0x123456; x bytes 0x77, padding 0xEE.
    const bytes = new Uint8Array(4 + 2 * 24).fill(0xee);
    bytes.set([0x00, 0x00, 0xff, 0x77, 0x00, 0xff, 0x00, 0x77], 4);
    bytes.set([0xff, 0x00, 0x00, 0x77, 0x56, 0x34, 0x12, 0x77], 4 + 24);
    const src = { bytes, offset: 4, width: 2, height: 2, stride: 24, drmFormat: DRM_FORMAT_XRGB8888 };
    for (const opts of [{}, { encoder: 'pngjs' }] as const) {
      const back = decode(planeToPng(src, opts));
      expect([back.width, back.height]).toEqual([2, 2]);
      expect(Array.from(back.data)).toEqual([0xff, 0, 0, 0xff, 0, 0xff, 0, 0xff, 0, 0, 0xff, 0xff, 0x12, 0x34, 0x56, 0xff]);
    }
  });

  it('successive frames (scratch buffers reused) each encode their own pixels', () => {
    const width = 6;
    const height = 5;
    for (const seed of [1, 2, 3]) {
      const bytes = randomImage(width, height, seed).data;
      const src = { bytes, offset: 0, width, height, stride: width * 4, drmFormat: DRM_FORMAT_XRGB8888 };
      const back = decode(planeToPng(src));
      expect(Buffer.from(planeToRgba(src).data).equals(back.data), `seed ${seed}`).toBe(true);
    }
  });

  it('checks options before converting, and refuses a plane that does not fit', () => {
    const src = { bytes: new Uint8Array(16), offset: 0, width: 2, height: 2, stride: 8, drmFormat: DRM_FORMAT_BGRX8888 };
    expect(() => planeToPng(src, { level: 11 })).toThrow(/level/);
    expect(() => planeToPng({ ...src, height: 3 })).toThrow(RangeError);
  });

  it('a 1080p plane round-trips', () => {
    const width = 1920;
    const height = 1080;
    const bytes = new Uint8Array(width * height * 4);
    const words = new Uint32Array(bytes.buffer);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) words[y * width + x] = ((x & 0xff) << 16) | ((y & 0xff) << 8) | ((x ^ y) & 0xff);
    }
    const src = { bytes, offset: 0, width, height, stride: width * 4, drmFormat: DRM_FORMAT_XRGB8888 };
    const back = decode(planeToPng(src));
    expect([back.width, back.height]).toEqual([width, height]);
    expect(Buffer.from(planeToRgba(src).data).equals(back.data)).toBe(true);
  });
});
