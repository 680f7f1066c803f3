/**
 * What changed between two RGBA frames, for a display server that only
 * sends what changed: damage as row bands.
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
 * `source` compares row y of `next` with row source(y) of `prev` instead of
 * row y (what a viewer holds after it copied rows that moved: a scroll).
 * Rows are compared natively (a memcmp each), so an unchanged 1080p frame
 * costs about a millisecond; only changed rows are scanned for columns.
 *
 * Frames of different sizes (a mode change) → one rectangle covering all of
 * `next`.
 * @throws RangeError when a frame's data is not width·height·4 bytes.
 */
export function damage(prev: RgbaImage, next: RgbaImage, source: (y: number) => number = (y) => y): Rect[] {
  checkFrame(prev, 'prev');
  checkFrame(next, 'next');
  const { width, height } = next;
  if (prev.width !== width || prev.height !== height) return [{ x: 0, y: 0, width, height }];
  const pa = Buffer.from(prev.data.buffer, prev.data.byteOffset, prev.data.length);
  const nb = Buffer.from(next.data.buffer, next.data.byteOffset, next.data.length);
  // One u32 compare per pixel when both frames are 4-aligned, else bytes.
  const words = prev.data.byteOffset % 4 === 0 && next.data.byteOffset % 4 === 0;
  const a = words ? u32(prev.data) : prev.data;
  const b = words ? u32(next.data) : next.data;
  const px = words ? 1 : 4; // elements per pixel
  const rowLen = width * px;
  const rowBytes = width * 4;

  const rects: Rect[] = [];
  let bandTop = -1;
  let bandLeft = 0;
  let bandRight = 0; // exclusive, in pixels
  for (let y = 0; y <= height; y++) {
    const from = y < height ? source(y) : 0;
    if (y === height || nb.compare(pa, from * rowBytes, from * rowBytes + rowBytes, y * rowBytes, y * rowBytes + rowBytes) === 0) {
      if (bandTop >= 0) {
        rects.push({ x: bandLeft, y: bandTop, width: bandRight - bandLeft, height: y - bandTop });
        bandTop = -1;
      }
      continue;
    }
    const rowB = y * rowLen;
    const rowA = from * rowLen;
    let i = 0;
    while (a[rowA + i] === b[rowB + i]) i++;
    let j = rowLen - 1;
    while (a[rowA + j] === b[rowB + j]) j--;
    const left = (i / px) | 0;
    const right = ((j / px) | 0) + 1;
    if (bandTop < 0) {
      bandTop = y;
      bandLeft = left;
      bandRight = right;
    } else {
      if (left < bandLeft) bandLeft = left;
      if (right > bandRight) bandRight = right;
    }
  }
  return rects;
}

function checkFrame(img: RgbaImage, what: string): void {
  if (!Number.isSafeInteger(img.width) || !Number.isSafeInteger(img.height) || img.width < 0 || img.height < 0 || img.data.length !== img.width * img.height * 4) {
    throw new RangeError(`${what}: ${img.width}x${img.height} RGBA needs ${img.width * img.height * 4} bytes, got ${img.data.length}`);
  }
}

function u32(data: Uint8Array): Uint32Array {
  return new Uint32Array(data.buffer, data.byteOffset, data.length / 4);
}
