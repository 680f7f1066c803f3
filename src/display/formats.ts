/**
 * Pixel formats a vfio display plane may report (DRM fourcc codes,
 * include/uapi/drm/drm_fourcc.h) that mdevsim can turn into RGBA.
 *
 * DRM formats name the channels of a little-endian word from the most
 * significant bit down: XRGB8888 is the u32 [31:0] x:R:G:B, so in memory
 * its bytes are B, G, R, X. BGRX8888 is [31:0] B:G:R:x, bytes X, R, G, B.
 * The table records, per format, which byte of a pixel holds each channel.
 *
 * mdpy always reports XRGB8888; mbochs reports XRGB8888 (BGRX8888 only in
 * mdevsim's opt-in big-endian qext mode). The others are here because the
 * conversion is table-driven and they cost nothing.
 */
import { DRM_FORMAT_BGRX8888, DRM_FORMAT_XRGB8888 } from '../vfio/uapi.ts';

/** A supported pixel format: where each channel sits within one pixel's bytes. */
export interface PixelFormat {
  /** DRM fourcc code. */
  readonly fourcc: number;
  /** DRM name, e.g. 'XRGB8888'. */
  readonly name: string;
  readonly bytesPerPixel: number;
  /** Byte index within a pixel (0 = lowest address) of red. */
  readonly red: number;
  /** Byte index of green. */
  readonly green: number;
  /** Byte index of blue. */
  readonly blue: number;
  /** Byte index of the unused (x) byte, or null when there is none. Never read. */
  readonly padding: number | null;
}

/** Build a DRM fourcc code from its four characters (fourcc_code() in drm_fourcc.h). */
export function fourccCode(chars: string): number {
  if (chars.length !== 4) throw new RangeError(`fourcc needs 4 characters, got ${JSON.stringify(chars)}`);
  let code = 0;
  for (let i = 0; i < 4; i++) {
    const c = chars.charCodeAt(i);
    if (c > 0x7f) throw new RangeError(`fourcc ${JSON.stringify(chars)} is not ASCII`);
    code |= c << (8 * i);
  }
  return code >>> 0;
}

/** DRM_FORMAT_BIG_ENDIAN: bit 31 of a fourcc marks the big-endian variant. */
export const DRM_FORMAT_BIG_ENDIAN = 0x80000000;

export const DRM_FORMAT_XBGR8888 = fourccCode('XB24');
export const DRM_FORMAT_RGBX8888 = fourccCode('RX24');
export const DRM_FORMAT_RGB888 = fourccCode('RG24');
export const DRM_FORMAT_BGR888 = fourccCode('BG24');
export { DRM_FORMAT_BGRX8888, DRM_FORMAT_XRGB8888 };

/** Every supported format. */
export const PIXEL_FORMATS: readonly PixelFormat[] = Object.freeze([
  // [31:0] x:R:G:B little endian → bytes B G R X
  Object.freeze({ fourcc: DRM_FORMAT_XRGB8888, name: 'XRGB8888', bytesPerPixel: 4, red: 2, green: 1, blue: 0, padding: 3 }),
  // [31:0] x:B:G:R → bytes R G B X
  Object.freeze({ fourcc: DRM_FORMAT_XBGR8888, name: 'XBGR8888', bytesPerPixel: 4, red: 0, green: 1, blue: 2, padding: 3 }),
  // [31:0] R:G:B:x → bytes X B G R
  Object.freeze({ fourcc: DRM_FORMAT_RGBX8888, name: 'RGBX8888', bytesPerPixel: 4, red: 3, green: 2, blue: 1, padding: 0 }),
  // [31:0] B:G:R:x → bytes X R G B
  Object.freeze({ fourcc: DRM_FORMAT_BGRX8888, name: 'BGRX8888', bytesPerPixel: 4, red: 1, green: 2, blue: 3, padding: 0 }),
  // [23:0] R:G:B → bytes B G R
  Object.freeze({ fourcc: DRM_FORMAT_RGB888, name: 'RGB888', bytesPerPixel: 3, red: 2, green: 1, blue: 0, padding: null }),
  // [23:0] B:G:R → bytes R G B
  Object.freeze({ fourcc: DRM_FORMAT_BGR888, name: 'BGR888', bytesPerPixel: 3, red: 0, green: 1, blue: 2, padding: null }),
]);

const BY_FOURCC = new Map<number, PixelFormat>(PIXEL_FORMATS.map((f) => [f.fourcc, f]));

/** The table entry for `fourcc`, or undefined when the format is not supported. */
export function pixelFormat(fourcc: number): PixelFormat | undefined {
  return BY_FOURCC.get(fourcc >>> 0);
}

/**
 * The four characters of a fourcc ('XR24'); a byte outside printable ASCII
 * is shown as \xNN. The big-endian flag (bit 31) is not part of the code
 * and is dropped here; {@link fourccName} mentions it.
 */
export function fourccChars(code: number): string {
  const value = (code >>> 0) & ~DRM_FORMAT_BIG_ENDIAN;
  let s = '';
  for (let i = 0; i < 4; i++) {
    const b = (value >>> (8 * i)) & 0xff;
    s += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return s;
}

/**
 * A human-readable name for a fourcc: the DRM name for a supported format
 * ('XRGB8888'), otherwise the characters and the hex value
 * ("'AR24' (0x34325241)"), " big-endian" appended when bit 31 is set;
 * 0 (no format: an empty plane) is 'none (0x00000000)'.
 */
export function fourccName(code: number): string {
  const value = code >>> 0;
  const known = BY_FOURCC.get(value);
  if (known !== undefined) return known.name;
  const hex = `0x${value.toString(16).padStart(8, '0')}`;
  if (value === 0) return `none (${hex})`;
  const be = (value & DRM_FORMAT_BIG_ENDIAN) !== 0 ? ' big-endian' : '';
  return `'${fourccChars(value)}'${be} (${hex})`;
}
