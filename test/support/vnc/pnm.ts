/**
 * Binary Netpbm images (P5 grey, P6 RGB) → RGBA: what QEMU's QMP
 * `screendump` writes by default (QEMU 7.2 ui/console.c, ppm_save) and what
 * `djpeg -pnm` (libjpeg-turbo-progs) prints.
 */
import type { RgbaImage } from '../../../src/display/pixels.ts';

/** Largest image accepted, in pixels: far beyond any test frame, small enough to allocate. */
export const MAX_PNM_PIXELS = 64 * 1024 * 1024;

/** Decode a P5 or P6 file with maxval 1..255 (samples are scaled to 0..255). */
export function parsePnm(bytes: Uint8Array): RgbaImage {
  let pos = 0;
  const token = (): string => {
    // Whitespace and '#' comments may separate header fields (netpbm's pnm(5)).
    for (;;) {
      while (pos < bytes.length && isSpace(bytes[pos]!)) pos++;
      if (bytes[pos] !== 0x23) break;
      while (pos < bytes.length && bytes[pos] !== 0x0a) pos++;
    }
    const start = pos;
    while (pos < bytes.length && !isSpace(bytes[pos]!) && pos - start < 16) pos++;
    return new TextDecoder().decode(bytes.subarray(start, pos));
  };
  const magic = token();
  if (magic !== 'P5' && magic !== 'P6') throw new RangeError(`PNM image: magic ${JSON.stringify(magic)} is not P5 or P6`);
  const width = Number(token());
  const height = Number(token());
  const maxval = Number(token());
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width * height > MAX_PNM_PIXELS) {
    throw new RangeError(`PNM image: size ${width}x${height} is not between 1x1 and ${MAX_PNM_PIXELS} pixels`);
  }
  if (!Number.isInteger(maxval) || maxval < 1 || maxval > 255) throw new RangeError(`PNM image: maxval ${maxval} is not 1..255`);
  pos++; // exactly one whitespace byte ends the header
  const channels = magic === 'P6' ? 3 : 1;
  const need = width * height * channels;
  if (bytes.length - pos < need) throw new RangeError(`PNM image: ${width}x${height} needs ${need} bytes of pixels, the file has ${bytes.length - pos}`);
  const data = new Uint8Array(width * height * 4);
  const scale = (v: number): number => (maxval === 255 ? v : Math.round((v * 255) / maxval));
  for (let i = 0, s = pos; i < width * height; i++, s += channels) {
    const r = scale(bytes[s]!);
    data[i * 4] = r;
    data[i * 4 + 1] = channels === 3 ? scale(bytes[s + 1]!) : r;
    data[i * 4 + 2] = channels === 3 ? scale(bytes[s + 2]!) : r;
    data[i * 4 + 3] = 255;
  }
  return { width, height, data };
}

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09 || b === 0x0b || b === 0x0c;
}
