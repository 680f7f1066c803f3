/**
 * The VNC harness's image readers and comparison (test/support/vnc/): PNM
 * as QEMU and djpeg write it, XWD as xwd writes it (header fields from
 * X11/XWDFile.h), and the refusals that keep a bad file from allocating.
 */
import { describe, expect, it } from 'vitest';
import { compareImages, describeDifference } from '../../support/vnc/compare.ts';
import { parsePnm } from '../../support/vnc/pnm.ts';
import { parseXwd } from '../../support/vnc/xwd.ts';

const rgba = (...px: number[][]): Uint8Array => Uint8Array.from(px.flatMap(([r, g, b]) => [r!, g!, b!, 255]));

describe('parsePnm', () => {
  it('reads P6 with a comment, and P5 grey as equal channels', () => {
    const p6 = Buffer.concat([Buffer.from('P6\n# by test\n2 1\n255\n'), Buffer.from([1, 2, 3, 250, 251, 252])]);
    expect(parsePnm(p6)).toEqual({ width: 2, height: 1, data: rgba([1, 2, 3], [250, 251, 252]) });
    const p5 = Buffer.concat([Buffer.from('P5 1 2 15\n'), Buffer.from([0, 15])]);
    expect(parsePnm(p5)).toEqual({ width: 1, height: 2, data: rgba([0, 0, 0], [255, 255, 255]) });
  });

  it('refuses a short file, a huge size and another format, each in one sentence', () => {
    expect(() => parsePnm(Buffer.from('P6\n2 2\n255\n\x00\x00'))).toThrow(/needs 12 bytes of pixels, the file has 2/);
    expect(() => parsePnm(Buffer.from('P6\n100000 100000\n255\n'))).toThrow(/is not between 1x1/);
    expect(() => parsePnm(Buffer.from('P3\n1 1\n255\n0 0 0'))).toThrow(/is not P5 or P6/);
  });
});

/** An xwd file: the 25-field big-endian header, a window name, no colours, then the pixel rows. */
function xwd(opts: { width: number; height: number; bpp: number; msb: boolean; masks: [number, number, number]; pixels: number[]; bytesPerLine?: number }): Uint8Array {
  const name = Buffer.from('win\0');
  const bpl = opts.bytesPerLine ?? opts.width * (opts.bpp / 8);
  const header = [100 + name.length, 7, 2, 24, opts.width, opts.height, 0, opts.msb ? 1 : 0, 32, 0, 32, opts.bpp, bpl, 4,
    ...opts.masks, 8, 0, 0, opts.width, opts.height, 5, 7, 0];
  const h = Buffer.alloc(100);
  header.forEach((v, i) => h.writeUInt32BE(v >>> 0, i * 4));
  const rows = Buffer.alloc(bpl * opts.height);
  const bytes = opts.bpp / 8;
  opts.pixels.forEach((p, i) => {
    const at = Math.floor(i / opts.width) * bpl + (i % opts.width) * bytes;
    for (let b = 0; b < bytes; b++) rows[at + (opts.msb ? bytes - 1 - b : b)] = (p >>> (8 * b)) & 255;
  });
  return Buffer.concat([h, name, rows]);
}

describe('parseXwd', () => {
  it('reads 32-bit LSB-first ZPixmap with row padding, and where the window is', () => {
    const file = xwd({ width: 2, height: 2, bpp: 32, msb: false, masks: [0xff0000, 0xff00, 0xff], bytesPerLine: 12, pixels: [0x010203, 0xff0000, 0x00ff00, 0x0000ff] });
    const got = parseXwd(file);
    expect(got.image).toEqual({ width: 2, height: 2, data: rgba([1, 2, 3], [255, 0, 0], [0, 255, 0], [0, 0, 255]) });
    expect([got.windowX, got.windowY, got.name]).toEqual([5, 7, 'win']);
  });

  it('reads 16-bit MSB-first 5-6-5 pixels, scaling each channel to 8 bits', () => {
    const file = xwd({ width: 2, height: 1, bpp: 16, msb: true, masks: [0xf800, 0x07e0, 0x001f], pixels: [0xffff, 0x8410] });
    expect(parseXwd(file).image.data).toEqual(rgba([255, 255, 255], [132, 130, 132]));
  });

  it('refuses a file whose rows do not fit, before allocating them', () => {
    const file = xwd({ width: 4, height: 4, bpp: 32, msb: false, masks: [0xff0000, 0xff00, 0xff], pixels: [] });
    expect(() => parseXwd(file.subarray(0, file.length - 1))).toThrow(/do not fit in/);
    const huge = Buffer.from(file);
    huge.writeUInt32BE(100_000, 16);
    huge.writeUInt32BE(100_000, 20);
    expect(() => parseXwd(huge)).toThrow(/is not between 1x1/);
  });
});

describe('compareImages', () => {
  const a = { width: 2, height: 1, data: rgba([10, 20, 30], [0, 0, 0]) };
  const b = { width: 2, height: 1, data: rgba([12, 20, 30], [0, 0, 9]) };

  it('gives the largest and mean channel difference and counts pixels beyond the tolerance', () => {
    expect(compareImages(a, b)).toEqual({ maxDiff: 9, meanDiff: 11 / 6, differingPixels: 2, first: { x: 0, y: 0, a: [10, 20, 30], b: [12, 20, 30] } });
    expect(compareImages(a, b, { tolerance: 2 })).toMatchObject({ differingPixels: 1, first: { x: 1, y: 0 } });
    expect(describeDifference(a, b, { tolerance: 9 })).toBe('0 pixels differ by more than 9 (max 9, mean 1.833)');
  });

  it('refuses images of different sizes', () => {
    expect(() => compareImages(a, { width: 1, height: 2, data: a.data })).toThrow('cannot compare a 2x1 image with a 1x2 one');
  });
});
