/**
 * RGBA images as PNG files: the encoder mdevsim uses (its own, over
 * node:zlib, or pngjs), its options, and planeToPng for a plane in one step.
 */
import zlib from 'node:zlib';
import { PNG, type PackerOptions } from 'pngjs';
import { planeLayout, planeToRgba, type PlaneSource, type RgbaImage } from './pixels.ts';

export interface PngOptions {
  /**
   * zlib deflate level 0..9.
   * @defaultValue 1 (fastest that still compresses; see test/bench/png.bench.ts)
   */
  readonly level?: number;
  /**
   * Which encoder writes the file:
   * - 'zlib': mdevsim's own: rows copied with a filter-0 byte each,
   *   node:zlib deflate and crc32. About 2.5× faster than pngjs on a 1080p
   *   desktop frame (≈8 ms against ≈20 ms): pngjs filters every byte in a
   *   JavaScript loop (≈12-15 ms at 1080p even for filter 0), which with
   *   the conversion leaves no margin in the 25 ms budget.
   * - 'pngjs': PNG.sync.write, honouring `filter`.
   * Both write an 8-bit RGBA, non-interlaced PNG that pngjs (and any
   * decoder) reads back identically.
   * @defaultValue 'zlib'
   */
  readonly encoder?: 'zlib' | 'pngjs';
  /**
   * PNG row filter (pngjs encoder only; the zlib encoder always writes 0):
   * 0 none, 1 sub, 2 up, 3 average, 4 Paeth, -1 adaptive (pngjs tries all
   * five per row: smallest files, slowest).
   * @defaultValue 0
   */
  readonly filter?: -1 | 0 | 1 | 2 | 3 | 4;
  /**
   * zlib strategy (zlib.constants.Z_*). Z_DEFAULT_STRATEGY with level 1 is
   * the fastest on screen content; pngjs's own default, Z_RLE (3), is about
   * 4× slower there with filter 0 (an RGBA run repeats every 4 bytes, RLE
   * only matches at distance 1), though ≈3× faster on incompressible
   * frames (noise) — see test/bench/png.bench.ts.
   * @defaultValue 0, Z_DEFAULT_STRATEGY
   */
  readonly strategy?: number;
}

/** Default PNG settings, chosen by test/bench/png.bench.ts (a 1080p desktop frame well within 25 ms). */
export const PNG_DEFAULTS: Readonly<Required<PngOptions>> = Object.freeze({
  level: 1,
  encoder: 'zlib',
  filter: 0,
  strategy: zlib.constants.Z_DEFAULT_STRATEGY,
});

function checkPngOptions(opts: PngOptions): Required<PngOptions> {
  const o = { ...PNG_DEFAULTS, ...stripUndefined(opts) };
  if (!Number.isInteger(o.level) || o.level < 0 || o.level > 9) throw new RangeError(`PNG deflate level ${o.level}: must be 0..9`);
  if (o.encoder !== 'zlib' && o.encoder !== 'pngjs') throw new RangeError(`PNG encoder ${String(o.encoder)}: must be 'zlib' or 'pngjs'`);
  if (![-1, 0, 1, 2, 3, 4].includes(o.filter)) throw new RangeError(`PNG filter ${o.filter}: must be -1..4`);
  if (o.encoder === 'zlib' && o.filter !== 0) throw new RangeError(`PNG filter ${o.filter}: the zlib encoder writes filter 0 only (use encoder 'pngjs')`);
  if (!Number.isInteger(o.strategy) || o.strategy < 0 || o.strategy > 4) throw new RangeError(`zlib strategy ${o.strategy}: must be 0..4`);
  return o;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The pngjs packer options for `opts` (the 'pngjs' encoder; exported for the benchmark). */
export function pngPackerOptions(opts: PngOptions = {}): PackerOptions {
  const o = checkPngOptions({ ...opts, encoder: 'pngjs' });
  return {
    deflateLevel: o.level,
    deflateStrategy: o.strategy,
    filterType: o.filter,
    colorType: 6,
    inputColorType: 6,
    inputHasAlpha: true,
    bitDepth: 8,
  };
}

/**
 * Encode an RGBA image as an 8-bit RGBA PNG, synchronously.
 * @throws RangeError when data is not width·height·4 bytes, the image is empty, or an option is out of range.
 */
export function rgbaToPng(img: RgbaImage, opts: PngOptions = {}): Buffer {
  const { width, height, data } = img;
  // PNG dimensions are 1..2^31−1 (PNG spec 11.2.2).
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1 || width > 0x7fffffff || height > 0x7fffffff) {
    throw new RangeError(`rgbaToPng: ${width}x${height} is not a PNG size (both must be ≥ 1)`);
  }
  if (data.length !== width * height * 4) {
    throw new RangeError(`rgbaToPng: ${width}x${height} needs ${width * height * 4} bytes of RGBA, got ${data.length}`);
  }
  const o = checkPngOptions(opts);
  if (o.encoder === 'pngjs') {
    // PNG.sync.write reads only width, height and data (any indexable bytes).
    const png = { width, height, data } as unknown as PNG;
    return PNG.sync.write(png, pngPackerOptions(o));
  }
  return encodeRgbaPng(width, height, data, o.level, o.strategy);
}

/**
 * planeToRgba then rgbaToPng. The intermediate RGBA image goes into a
 * reused scratch buffer (see {@link Scratch}).
 * @throws PlaneError as planeToRgba, RangeError for bad options.
 */
export function planeToPng(src: PlaneSource, opts: PngOptions = {}): Buffer {
  checkPngOptions(opts); // before the conversion, not after
  planeLayout(src); // before sizing the scratch buffer from the plane's numbers
  return rgbaToPng(planeToRgba(src, rgbaScratch.get(src.width * src.height * 4)), opts);
}

/**
 * A buffer reused from frame to frame. A fresh 8 MB buffer per 1080p frame
 * costs about 2,000 first-touch page faults, which are slow in a VM and
 * slower under load (the benchmark's 'new buffer' row). Held through a
 * WeakRef, so memory of an idle display goes back to the GC. Callers are
 * synchronous and finish with the buffer before returning.
 */
class Scratch {
  #ref: WeakRef<Uint8Array> | undefined;
  get(size: number): Uint8Array {
    const cached = this.#ref?.deref();
    if (cached !== undefined && cached.length === size) return cached;
    const fresh = new Uint8Array(size);
    this.#ref = new WeakRef(fresh);
    return fresh;
  }
}
const rgbaScratch = new Scratch();
const scanlineScratch = new Scratch();

/**
 * The 'zlib' encoder: signature, IHDR (8-bit RGBA, no interlace), one IDAT
 * holding the deflated scanlines (filter byte 0 then the row's RGBA),
 * IEND. PNG spec (ISO/IEC 15948) §5, §11.2.
 */
function encodeRgbaPng(width: number, height: number, data: Uint8Array, level: number, strategy: number): Buffer {
  const rowBytes = width * 4;
  const lineBytes = rowBytes + 1;
  const raw = scanlineScratch.get(lineBytes * height); // deflateSync keeps no reference to its input
  for (let y = 0, from = 0, to = 0; y < height; y++, from += rowBytes, to += lineBytes) {
    raw[to] = 0; // filter type None
    raw.set(data.subarray(from, from + rowBytes), to + 1);
  }
  const idat = zlib.deflateSync(raw, { level, strategy });

  const out = Buffer.allocUnsafe(PNG_SIGNATURE.length + (12 + 13) + (12 + idat.length) + 12);
  let p = 0;
  for (const b of PNG_SIGNATURE) out[p++] = b;
  const chunk = (type: string, body: Uint8Array | null, fill?: (at: number) => void, length = body?.length ?? 0): void => {
    out.writeUInt32BE(length, p);
    out.write(type, p + 4, 'latin1');
    if (body !== null) out.set(body, p + 8);
    else fill?.(p + 8);
    out.writeUInt32BE(crc32(out.subarray(p + 4, p + 8 + length)), p + 8 + length);
    p += 12 + length;
  };
  chunk('IHDR', null, (at) => {
    out.writeUInt32BE(width, at);
    out.writeUInt32BE(height, at + 4);
    out[at + 8] = 8; // bit depth
    out[at + 9] = 6; // colour type: truecolour with alpha
    out[at + 10] = 0; // compression: deflate
    out[at + 11] = 0; // filter method 0
    out[at + 12] = 0; // no interlace
  }, 13);
  chunk('IDAT', idat);
  chunk('IEND', null);
  return out;
}

const CRC_TABLE = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();

/** CRC-32 (ISO 3309, as PNG and zlib use) in JavaScript: the fallback for Node < 20.15, which lacks zlib.crc32. */
export function crc32Js(bytes: Uint8Array): number {
  let c = -1;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

const crc32: (bytes: Uint8Array) => number =
  typeof (zlib as { crc32?: unknown }).crc32 === 'function' ? (bytes) => zlib.crc32(bytes) : crc32Js;

/** The 8 bytes every PNG file starts with. */
export const PNG_SIGNATURE: readonly number[] = Object.freeze([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
