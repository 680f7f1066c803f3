/**
 * X Window Dump files (what `xwd` writes, X11/XWDFile.h) → RGBA. Only
 * ZPixmap images of TrueColor/DirectColor windows, 8..32 bits per pixel:
 * what `xwd -id` gives for a window on an Xvfb screen of depth 24.
 */
import type { RgbaImage } from '../../../src/display/pixels.ts';

/** The XWDFileHeader fields, in file order: 25 big-endian CARD32 (xwd swaps them on little-endian hosts). */
const HEADER_FIELDS = [
  'headerSize', 'fileVersion', 'pixmapFormat', 'pixmapDepth', 'pixmapWidth', 'pixmapHeight', 'xoffset',
  'byteOrder', 'bitmapUnit', 'bitmapBitOrder', 'bitmapPad', 'bitsPerPixel', 'bytesPerLine', 'visualClass',
  'redMask', 'greenMask', 'blueMask', 'bitsPerRgb', 'colormapEntries', 'ncolors',
  'windowWidth', 'windowHeight', 'windowX', 'windowY', 'windowBorderWidth',
] as const;
type XwdHeader = Record<(typeof HEADER_FIELDS)[number], number>;

const XWD_FILE_VERSION = 7;
const Z_PIXMAP = 2;
/** XWDColor: CARD32 pixel, CARD16 red, green, blue, CARD8 flags, pad. */
const XWD_COLOR_BYTES = 12;
const TRUE_COLOR = 4;
const DIRECT_COLOR = 5;
/** Largest image accepted, in pixels (an 8K screen is 33 M). */
export const MAX_XWD_PIXELS = 64 * 1024 * 1024;

export interface XwdImage {
  readonly image: RgbaImage;
  /** Where the dumped window is on its screen (its upper-left corner inside the border). */
  readonly windowX: number;
  readonly windowY: number;
  /** The window's name as xwd recorded it (its WM_NAME). */
  readonly name: string;
}

/** Decode an xwd file; every size is checked against the file before anything is allocated. */
export function parseXwd(bytes: Uint8Array): XwdImage {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < HEADER_FIELDS.length * 4) throw new RangeError(`XWD file: ${bytes.byteLength} bytes is shorter than its header`);
  const h = Object.fromEntries(HEADER_FIELDS.map((f, i) => [f, view.getUint32(i * 4, false)])) as XwdHeader;
  if (h.fileVersion !== XWD_FILE_VERSION) throw new RangeError(`XWD file: version ${h.fileVersion} is not ${XWD_FILE_VERSION}`);
  if (h.pixmapFormat !== Z_PIXMAP) throw new RangeError(`XWD file: pixmap format ${h.pixmapFormat} is not ZPixmap (${Z_PIXMAP})`);
  if (h.visualClass !== TRUE_COLOR && h.visualClass !== DIRECT_COLOR) {
    throw new RangeError(`XWD file: visual class ${h.visualClass} is not TrueColor or DirectColor`);
  }
  const bytesPerPixel = h.bitsPerPixel / 8;
  if (![1, 2, 3, 4].includes(bytesPerPixel)) throw new RangeError(`XWD file: ${h.bitsPerPixel} bits per pixel is not 8, 16, 24 or 32`);
  const width = h.pixmapWidth;
  const height = h.pixmapHeight;
  if (width < 1 || height < 1 || width * height > MAX_XWD_PIXELS) {
    throw new RangeError(`XWD file: size ${width}x${height} is not between 1x1 and ${MAX_XWD_PIXELS} pixels`);
  }
  if (h.bytesPerLine < width * bytesPerPixel) throw new RangeError(`XWD file: ${h.bytesPerLine} bytes per line is less than ${width} pixels`);
  const pixelsAt = h.headerSize + h.ncolors * XWD_COLOR_BYTES;
  if (h.headerSize < HEADER_FIELDS.length * 4 || pixelsAt + h.bytesPerLine * height > bytes.byteLength) {
    throw new RangeError(`XWD file: header, colours and ${height} lines of ${h.bytesPerLine} bytes do not fit in ${bytes.byteLength} bytes`);
  }
  const name = new TextDecoder().decode(bytes.subarray(HEADER_FIELDS.length * 4, h.headerSize)).replace(/\0+$/, '');
  const channels = [h.redMask, h.greenMask, h.blueMask].map(maskChannel);
  const littleEndian = h.byteOrder === 0;
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    let src = pixelsAt + y * h.bytesPerLine;
    for (let x = 0; x < width; x++, src += bytesPerPixel) {
      let pixel = 0;
      for (let b = 0; b < bytesPerPixel; b++) {
        const byte = bytes[src + (littleEndian ? b : bytesPerPixel - 1 - b)]!;
        pixel += byte * 2 ** (8 * b);
      }
      const out = (y * width + x) * 4;
      for (let c = 0; c < 3; c++) data[out + c] = channels[c]!(pixel);
      data[out + 3] = 255;
    }
  }
  return { image: { width, height, data }, windowX: toInt32(h.windowX), windowY: toInt32(h.windowY), name };
}

/** A function taking a pixel to the 8-bit value of the channel `mask` selects. */
function maskChannel(mask: number): (pixel: number) => number {
  if (mask === 0) throw new RangeError('XWD file: a colour mask is 0');
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  const max = mask >>> shift;
  if ((max & (max + 1)) !== 0) throw new RangeError(`XWD file: colour mask 0x${mask.toString(16)} is not contiguous`);
  return max === 255
    ? (p) => (p >>> shift) & 255
    : (p) => Math.round((((p >>> shift) & max) * 255) / max);
}

function toInt32(v: number): number {
  return v | 0;
}
