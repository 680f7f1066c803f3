/**
 * Turning a vfio display plane into pictures: plane bytes (any supported
 * DRM format, with stride and offset) → RGBA → PNG, and the damage between
 * two RGBA frames for a live view that only sends what changed.
 *
 * Every plane field can come from the guest (mbochs dispi registers, mdpy
 * config space) or a client, so planeToRgba checks the whole plane against
 * the buffer before reading anything: a plane that does not fit is a
 * {@link PlaneError} (a RangeError), never an out-of-bounds read, and never
 * silently clipped.
 */
import { endianness } from 'node:os';
import zlib from 'node:zlib';
import { PNG, type PackerOptions } from 'pngjs';
import { fourccName, pixelFormat, type PixelFormat } from './formats.ts';

/** Where a plane's pixels are: the fields of vfio_device_gfx_plane_info that matter, plus the bytes. */
export interface PlaneSource {
  /** The memory holding the plane (VRAM, the mdpy display region, a dmabuf's backing). */
  readonly bytes: Uint8Array;
  /** Byte offset of the first visible pixel within `bytes`. */
  readonly offset: number;
  readonly width: number;
  readonly height: number;
  /** Bytes from the start of one row to the start of the next (≥ width · bytes per pixel). */
  readonly stride: number;
  /** DRM fourcc (see formats.ts). */
  readonly drmFormat: number;
}

/** An 8-bit RGBA image, rows packed (width·4 bytes each), top row first. */
export interface RgbaImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

export type PlaneErrorCode =
  /** The fourcc is not in the table (formats.ts). */
  | 'EFORMAT'
  /** width, height, stride or offset is not a usable integer, or stride < width · bpp. */
  | 'EGEOMETRY'
  /** The plane extends past the end of the buffer. */
  | 'EBOUNDS';

/** A plane that cannot be converted. A RangeError, so `instanceof RangeError` catches it too. */
export class PlaneError extends RangeError {
  readonly code: PlaneErrorCode;
  constructor(code: PlaneErrorCode, message: string) {
    super(message);
    this.name = 'PlaneError';
    this.code = code;
  }
}

/** A checked plane: its format and the byte range [start, end) of `bytes` it reads. */
export interface PlaneLayout {
  readonly format: PixelFormat;
  readonly start: number;
  /** One past the last byte read: offset + (height−1)·stride + width·bpp (the last row's padding is not needed). */
  readonly end: number;
}

const LITTLE_ENDIAN_HOST = endianness() === 'LE';

function describe(src: PlaneSource): string {
  return `${src.width}x${src.height} ${fourccName(src.drmFormat)} plane (stride ${src.stride}, offset ${src.offset})`;
}

/**
 * Validate a plane against its buffer without reading it.
 * @throws PlaneError EFORMAT, EGEOMETRY or EBOUNDS.
 */
export function planeLayout(src: PlaneSource): PlaneLayout {
  const format = pixelFormat(src.drmFormat);
  if (format === undefined) throw new PlaneError('EFORMAT', `${describe(src)}: unsupported pixel format`);
  const { width, height, stride, offset } = src;
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1) {
    throw new PlaneError('EGEOMETRY', `${describe(src)}: width and height must be integers ≥ 1`);
  }
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new PlaneError('EGEOMETRY', `${describe(src)}: offset must be a non-negative integer`);
  }
  const rowBytes = width * format.bytesPerPixel;
  if (!Number.isSafeInteger(stride) || stride < rowBytes) {
    throw new PlaneError('EGEOMETRY', `${describe(src)}: stride must be an integer ≥ width·${format.bytesPerPixel} = ${rowBytes}`);
  }
  // Every term is a safe integer; the sum can only exceed 2^53 for absurd
  // inputs, and then it also exceeds any buffer length, which is what we test.
  const end = offset + (height - 1) * stride + rowBytes;
  if (!(end <= src.bytes.length)) {
    throw new PlaneError('EBOUNDS', `${describe(src)}: needs bytes [${offset}, ${end}) but the buffer holds ${src.bytes.length}`);
  }
  return { format, start: offset, end };
}

/**
 * Convert a plane to RGBA (alpha 255 everywhere; the format's x byte is
 * never read). `out`, when given, must be exactly width·height·4 bytes and
 * is filled and returned as the image's data (for reusing one buffer per
 * frame); otherwise a new buffer is allocated.
 *
 * 32-bit formats with a 4-aligned start and stride are converted a word at a
 * time (a 1080p plane in a few ms); anything else byte by byte.
 * @throws PlaneError when the format is unsupported or the plane does not fit in `bytes`.
 */
export function planeToRgba(src: PlaneSource, out?: Uint8Array): RgbaImage {
  const { format, start } = planeLayout(src);
  const { width, height, stride, bytes } = src;
  const size = width * height * 4;
  if (out !== undefined && out.length !== size) {
    throw new RangeError(`planeToRgba: output buffer holds ${out.length} bytes, a ${width}x${height} image needs ${size}`);
  }
  const data = out ?? new Uint8Array(size);
  const srcByteOffset = bytes.byteOffset + start;
  if (
    LITTLE_ENDIAN_HOST &&
    format.bytesPerPixel === 4 &&
    srcByteOffset % 4 === 0 &&
    stride % 4 === 0 &&
    data.byteOffset % 4 === 0
  ) {
    const words = ((height - 1) * stride) / 4 + width;
    const src32 = new Uint32Array(bytes.buffer, srcByteOffset, words);
    const dst32 = new Uint32Array(data.buffer, data.byteOffset, width * height);
    convertWords(src32, dst32, width, height, stride / 4, format);
  } else {
    convertBytes(bytes, start, data, width, height, stride, format);
  }
  return { width, height, data };
}

/**
 * Word loop. On a little-endian host the pixel byte at index i is bits
 * 8i..8i+7 of the u32, and an RGBA output word is A<<24 | B<<16 | G<<8 | R.
 * The two formats the samples report get their own loops (a shift and a
 * mask, no per-channel work); the rest use the table's byte positions.
 */
function convertWords(
  src: Uint32Array,
  dst: Uint32Array,
  width: number,
  height: number,
  strideWords: number,
  format: PixelFormat,
): void {
  let s = 0;
  let d = 0;
  // A packed plane is one long row.
  if (strideWords === width) {
    width *= height;
    height = 1;
  }
  switch (format.name) {
    case 'XRGB8888': // bytes B G R X: v = X<<24 | R<<16 | G<<8 | B
      for (let y = 0; y < height; y++, s += strideWords) {
        for (let x = 0; x < width; x++) {
          const v = src[s + x]!;
          dst[d++] = 0xff000000 | ((v & 0xff) << 16) | (v & 0xff00) | ((v >>> 16) & 0xff);
        }
      }
      return;
    case 'BGRX8888': // bytes X R G B: v = B<<24 | G<<16 | R<<8 | X
      for (let y = 0; y < height; y++, s += strideWords) {
        for (let x = 0; x < width; x++) {
          dst[d++] = 0xff000000 | (src[s + x]! >>> 8);
        }
      }
      return;
    case 'XBGR8888': // bytes R G B X: already RGBA order
      for (let y = 0; y < height; y++, s += strideWords) {
        for (let x = 0; x < width; x++) {
          dst[d++] = 0xff000000 | src[s + x]!;
        }
      }
      return;
    default: {
      const rs = format.red * 8;
      const gs = format.green * 8;
      const bs = format.blue * 8;
      for (let y = 0; y < height; y++, s += strideWords) {
        for (let x = 0; x < width; x++) {
          const v = src[s + x]!;
          dst[d++] = 0xff000000 | (((v >>> bs) & 0xff) << 16) | (((v >>> gs) & 0xff) << 8) | ((v >>> rs) & 0xff);
        }
      }
    }
  }
}

function convertBytes(
  bytes: Uint8Array,
  start: number,
  dst: Uint8Array,
  width: number,
  height: number,
  stride: number,
  format: PixelFormat,
): void {
  const bpp = format.bytesPerPixel;
  const { red, green, blue } = format;
  let d = 0;
  for (let y = 0, row = start; y < height; y++, row += stride) {
    for (let x = 0, p = row; x < width; x++, p += bpp) {
      dst[d] = bytes[p + red]!;
      dst[d + 1] = bytes[p + green]!;
      dst[d + 2] = bytes[p + blue]!;
      dst[d + 3] = 0xff;
      d += 4;
    }
  }
}

/* ------------------------------------------------------------------ PNG */

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

/* --------------------------------------------------------------- damage */

/** A rectangle of pixels: columns [x, x+width), rows [y, y+height). */
export interface Rect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/**
 * What changed between two RGBA frames, as row bands: each rectangle covers
 * a maximal run of consecutive rows that each contain at least one changed
 * pixel, and spans from the leftmost to the rightmost changed column within
 * those rows. So every changed pixel is inside exactly one rectangle, no
 * row without a change is covered, and the rectangles are disjoint and
 * sorted top to bottom. Identical frames → [].
 *
 * Frames of different sizes (a mode change) → one rectangle covering all of
 * `next`.
 * @throws RangeError when a frame's data is not width·height·4 bytes.
 */
export function damage(prev: RgbaImage, next: RgbaImage): Rect[] {
  checkFrame(prev, 'prev');
  checkFrame(next, 'next');
  const { width, height } = next;
  if (prev.width !== width || prev.height !== height) return [{ x: 0, y: 0, width, height }];
  // One u32 compare per pixel when both frames are 4-aligned, else bytes.
  const words = prev.data.byteOffset % 4 === 0 && next.data.byteOffset % 4 === 0;
  const a = words ? u32(prev.data) : prev.data;
  const b = words ? u32(next.data) : next.data;
  const px = words ? 1 : 4; // elements per pixel
  const rowLen = width * px;

  const rects: Rect[] = [];
  let bandTop = -1;
  let bandLeft = 0;
  let bandRight = 0; // exclusive, in pixels
  for (let y = 0; y < height; y++) {
    const row = y * rowLen;
    let i = row;
    const rowEnd = row + rowLen;
    while (i < rowEnd && a[i] === b[i]) i++;
    if (i === rowEnd) {
      if (bandTop >= 0) {
        rects.push({ x: bandLeft, y: bandTop, width: bandRight - bandLeft, height: y - bandTop });
        bandTop = -1;
      }
      continue;
    }
    let j = rowEnd - 1;
    while (a[j] === b[j]) j--;
    const left = ((i - row) / px) | 0;
    const right = (((j - row) / px) | 0) + 1;
    if (bandTop < 0) {
      bandTop = y;
      bandLeft = left;
      bandRight = right;
    } else {
      if (left < bandLeft) bandLeft = left;
      if (right > bandRight) bandRight = right;
    }
  }
  if (bandTop >= 0) rects.push({ x: bandLeft, y: bandTop, width: bandRight - bandLeft, height: height - bandTop });
  return rects;
}

/** The smallest rectangle containing every rectangle in `rects`, or null for none. */
export function boundingRect(rects: readonly Rect[]): Rect | null {
  if (rects.length === 0) return null;
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (const r of rects) {
    x0 = Math.min(x0, r.x);
    y0 = Math.min(y0, r.y);
    x1 = Math.max(x1, r.x + r.width);
    y1 = Math.max(y1, r.y + r.height);
  }
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** Copy rectangle `r` out of an RGBA image (for sending one damaged area). @throws RangeError when r is outside img. */
export function cropRgba(img: RgbaImage, r: Rect): RgbaImage {
  checkFrame(img, 'img');
  if (
    !Number.isSafeInteger(r.x) || !Number.isSafeInteger(r.y) || !Number.isSafeInteger(r.width) || !Number.isSafeInteger(r.height) ||
    r.x < 0 || r.y < 0 || r.width < 1 || r.height < 1 || r.x + r.width > img.width || r.y + r.height > img.height
  ) {
    throw new RangeError(`cropRgba: ${r.width}x${r.height}+${r.x}+${r.y} is not inside ${img.width}x${img.height}`);
  }
  const data = new Uint8Array(r.width * r.height * 4);
  const rowBytes = r.width * 4;
  for (let y = 0; y < r.height; y++) {
    const from = ((r.y + y) * img.width + r.x) * 4;
    data.set(img.data.subarray(from, from + rowBytes), y * rowBytes);
  }
  return { width: r.width, height: r.height, data };
}

function checkFrame(img: RgbaImage, what: string): void {
  if (!Number.isSafeInteger(img.width) || !Number.isSafeInteger(img.height) || img.width < 0 || img.height < 0 || img.data.length !== img.width * img.height * 4) {
    throw new RangeError(`${what}: ${img.width}x${img.height} RGBA needs ${img.width * img.height * 4} bytes, got ${img.data.length}`);
  }
}

function u32(data: Uint8Array): Uint32Array {
  return new Uint32Array(data.buffer, data.byteOffset, data.length / 4);
}
