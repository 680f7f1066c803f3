/**
 * RFB pixel formats (RFC 6143 §7.4): how a viewer wants its pixels, and
 * turning our RGBA frames into them.
 *
 * A viewer may ask for any true-colour layout (8, 16 or 32 bits, channels
 * of any width at any shift as long as they do not overlap, either byte
 * order) or for a colour map. We
 * serve every colour-map request with one fixed 256-entry palette (the
 * BGR233 cube, 3 bits red and green, 2 blue), so the rest of the server
 * only ever sees true colour.
 */
import type { RgbaImage } from '../display/pixels.ts';
import type { Rect } from '../display/damage.ts';

/** The PIXEL_FORMAT structure (§7.4), 16 bytes on the wire. */
export interface RfbPixelFormat {
  readonly bitsPerPixel: number;
  readonly depth: number;
  readonly bigEndian: boolean;
  readonly trueColour: boolean;
  readonly redMax: number;
  readonly greenMax: number;
  readonly blueMax: number;
  readonly redShift: number;
  readonly greenShift: number;
  readonly blueShift: number;
}

export const PIXEL_FORMAT_LENGTH = 16;

/**
 * What ServerInit offers: 32-bit little-endian xRGB, the layout of the
 * XRGB8888 planes both samples report, and what most viewers keep.
 */
export const DEFAULT_PIXEL_FORMAT: RfbPixelFormat = Object.freeze({
  bitsPerPixel: 32, depth: 24, bigEndian: false, trueColour: true,
  redMax: 255, greenMax: 255, blueMax: 255, redShift: 16, greenShift: 8, blueShift: 0,
});

/** The true-colour layout whose values index {@link colourMapBgr233}. */
export const BGR233: RfbPixelFormat = Object.freeze({
  bitsPerPixel: 8, depth: 8, bigEndian: false, trueColour: true,
  redMax: 7, greenMax: 7, blueMax: 3, redShift: 0, greenShift: 3, blueShift: 6,
});

export function readPixelFormat(v: DataView, at: number): RfbPixelFormat {
  return {
    bitsPerPixel: v.getUint8(at),
    depth: v.getUint8(at + 1),
    bigEndian: v.getUint8(at + 2) !== 0,
    trueColour: v.getUint8(at + 3) !== 0,
    redMax: v.getUint16(at + 4),
    greenMax: v.getUint16(at + 6),
    blueMax: v.getUint16(at + 8),
    redShift: v.getUint8(at + 10),
    greenShift: v.getUint8(at + 11),
    blueShift: v.getUint8(at + 12),
  };
}

export function writePixelFormat(v: DataView, at: number, f: RfbPixelFormat): void {
  v.setUint8(at, f.bitsPerPixel);
  v.setUint8(at + 1, f.depth);
  v.setUint8(at + 2, f.bigEndian ? 1 : 0);
  v.setUint8(at + 3, f.trueColour ? 1 : 0);
  v.setUint16(at + 4, f.redMax);
  v.setUint16(at + 6, f.greenMax);
  v.setUint16(at + 8, f.blueMax);
  v.setUint8(at + 10, f.redShift);
  v.setUint8(at + 11, f.greenShift);
  v.setUint8(at + 12, f.blueShift);
  v.setUint8(at + 13, 0);
  v.setUint16(at + 14, 0);
}

/** Why a pixel format cannot be served, or null when it can. Colour-map formats are checked for their size only. */
export function pixelFormatProblem(f: RfbPixelFormat): string | null {
  if (f.bitsPerPixel !== 8 && f.bitsPerPixel !== 16 && f.bitsPerPixel !== 32) return `${f.bitsPerPixel} bits per pixel (8, 16 or 32 are defined)`;
  if (!f.trueColour) return f.bitsPerPixel === 8 ? null : `a colour map with ${f.bitsPerPixel} bits per pixel (only 8 is served)`;
  const channels = [['red', f.redMax, f.redShift], ['green', f.greenMax, f.greenShift], ['blue', f.blueMax, f.blueShift]] as const;
  for (const [name, max, shift] of channels) {
    if (max === 0) return `a ${name} maximum of 0`;
    // §7.4: a maximum "must be 2^N - 1"; a viewer ANDs with it to extract the channel, so any other value loses bits.
    if ((max & (max + 1)) !== 0) return `a ${name} maximum of ${max} (not one less than a power of two)`;
    if (shift + bitLength(max) > f.bitsPerPixel) return `${name} bits ${shift}..${shift + bitLength(max) - 1} outside a ${f.bitsPerPixel}-bit pixel`;
  }
  // Channels that share bits cannot be told apart again by the viewer.
  for (let i = 0; i < 3; i++) {
    for (let j = i + 1; j < 3; j++) {
      const [a, aMax, aShift] = channels[i]!;
      const [b, bMax, bShift] = channels[j]!;
      if (((aMax * 2 ** aShift) & (bMax * 2 ** bShift)) !== 0) return `${a} and ${b} bits that overlap`;
    }
  }
  return null;
}

/** The true-colour layout the server encodes with for format `f` (BGR233 for a colour map). */
export function encodingFormat(f: RfbPixelFormat): RfbPixelFormat {
  return f.trueColour ? f : BGR233;
}

/**
 * The SetColourMapEntries payload for BGR233: 256 entries of u16 red,
 * green, blue, each channel scaled to 0–65535.
 */
export function colourMapBgr233(): Uint8Array {
  const out = new Uint8Array(256 * 6);
  const v = new DataView(out.buffer);
  for (let i = 0; i < 256; i++) {
    v.setUint16(i * 6, Math.round(((i & 7) * 65535) / 7));
    v.setUint16(i * 6 + 2, Math.round((((i >> 3) & 7) * 65535) / 7));
    v.setUint16(i * 6 + 4, Math.round((((i >> 6) & 3) * 65535) / 3));
  }
  return out;
}

/**
 * Per-channel lookup tables: an 8-bit channel value → its scaled,
 * shifted contribution to a pixel value, so a pixel costs three loads and
 * two ORs whatever the layout.
 */
export interface PixelConverter {
  readonly format: RfbPixelFormat;
  readonly bytesPerPixel: number;
  readonly red: Uint32Array;
  readonly green: Uint32Array;
  readonly blue: Uint32Array;
}

export function pixelConverter(format: RfbPixelFormat): PixelConverter {
  const f = encodingFormat(format);
  const table = (max: number, shift: number): Uint32Array => {
    const t = new Uint32Array(256);
    for (let c = 0; c < 256; c++) t[c] = (Math.floor((c * max + 127) / 255) * 2 ** shift) >>> 0;
    return t;
  };
  return { format: f, bytesPerPixel: f.bitsPerPixel / 8, red: table(f.redMax, f.redShift), green: table(f.greenMax, f.greenShift), blue: table(f.blueMax, f.blueShift) };
}

/**
 * The pixel values of rectangle `r` of an RGBA frame, row by row, in the
 * converter's format. `out` is reused when it is large enough.
 */
export function pixelValues(frame: RgbaImage, r: Rect, conv: PixelConverter, out?: Uint32Array): Uint32Array {
  const n = r.width * r.height;
  const values = out !== undefined && out.length >= n ? out.subarray(0, n) : new Uint32Array(n);
  const { red, green, blue } = conv;
  const src = frame.data;
  let d = 0;
  for (let y = r.y; y < r.y + r.height; y++) {
    let s = (y * frame.width + r.x) * 4;
    for (let x = 0; x < r.width; x++, s += 4) {
      values[d++] = (red[src[s]!]! | green[src[s + 1]!]! | blue[src[s + 2]!]!) >>> 0;
    }
  }
  return values;
}

/** Write pixel values as the client's pixels (bytesPerPixel each, in its byte order) at `at`; returns the byte count. */
export function writePixels(values: Uint32Array, conv: PixelConverter, out: Uint8Array, at: number): number {
  const bpp = conv.bytesPerPixel;
  const big = conv.format.bigEndian;
  for (let i = 0, p = at; i < values.length; i++, p += bpp) putPixel(values[i]!, bpp, big, out, p);
  return values.length * bpp;
}

/** One pixel value as `bytes` bytes (1, 2, 3 or 4) in the given byte order. */
export function putPixel(v: number, bytes: number, big: boolean, out: Uint8Array, at: number): void {
  if (big) {
    for (let i = bytes - 1; i >= 0; i--, v >>>= 8) out[at + i] = v & 0xff;
  } else {
    for (let i = 0; i < bytes; i++, v >>>= 8) out[at + i] = v & 0xff;
  }
}

/**
 * ZRLE's compressed pixel (RFC 6143 §7.7.5, TRLE's CPIXEL, which ZRLE
 * §7.7.6 uses): a 32-bit true-colour pixel of depth ≤ 24 whose colour bits
 * all fit in its 3 low or 3 high bytes is sent as those 3 bytes; any other
 * pixel as itself. `shift` is the bit where the 3 bytes start within the
 * value.
 */
export interface CpixelLayout {
  readonly bytes: number;
  readonly shift: number;
}

export function cpixelLayout(f: RfbPixelFormat): CpixelLayout {
  const bpp = f.bitsPerPixel / 8;
  if (!f.trueColour || f.bitsPerPixel !== 32 || f.depth > 24) return { bytes: bpp, shift: 0 };
  const top = Math.max(f.redShift + bitLength(f.redMax), f.greenShift + bitLength(f.greenMax), f.blueShift + bitLength(f.blueMax));
  const bottom = Math.min(f.redShift, f.greenShift, f.blueShift);
  if (top <= 24) return { bytes: 3, shift: 0 };
  if (bottom >= 8) return { bytes: 3, shift: 8 };
  return { bytes: 4, shift: 0 };
}

/** Write one compressed pixel; returns the byte count. The three bytes keep the pixel's own byte order. */
export function writeCpixel(v: number, cp: CpixelLayout, big: boolean, out: Uint8Array, at: number): number {
  putPixel(v >>> cp.shift, cp.bytes, big, out, at);
  return cp.bytes;
}

function bitLength(n: number): number {
  return n === 0 ? 0 : 32 - Math.clz32(n);
}
