/**
 * What changed between two RGBA frames, for a live view that only sends
 * what changed: damage as row bands, their bounding rectangle, and the crop
 * of one damaged area.
 */
import type { RgbaImage } from './pixels.ts';

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
