/**
 * Turning a vfio display plane into RGBA: plane bytes in any supported DRM
 * format, with stride and offset, → 8-bit RGBA rows.
 *
 * Every plane field can come from the guest (mbochs dispi registers, mdpy
 * config space) or a client, so planeToRgba checks the whole plane against
 * the buffer before reading anything: a plane that does not fit is a
 * {@link PlaneError} (a RangeError), never an out-of-bounds read, and never
 * silently clipped.
 */
import { endianness } from 'node:os';
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
