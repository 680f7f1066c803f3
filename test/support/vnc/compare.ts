/** Pixel-by-pixel comparison of two RGBA images (the colour channels; alpha is ignored). */
import type { RgbaImage } from '../../../src/display/pixels.ts';

export interface CompareOptions {
  /** A pixel differs when one of its channels differs by more than this (0..255). @defaultValue 0 */
  readonly tolerance?: number;
}

export interface ImageDifference {
  /** The largest absolute difference of one channel, 0..255. */
  readonly maxDiff: number;
  /** The mean absolute difference over every R, G and B sample. */
  readonly meanDiff: number;
  /** Pixels with some channel differing by more than the tolerance. */
  readonly differingPixels: number;
  /** The first such pixel in row order, for a failure message. */
  readonly first?: { readonly x: number; readonly y: number; readonly a: readonly number[]; readonly b: readonly number[] };
}

/**
 * Compare `a` with `b`, which must have the same size (a different size is a
 * RangeError: no tolerance makes two sizes equal).
 */
export function compareImages(a: RgbaImage, b: RgbaImage, opts: CompareOptions = {}): ImageDifference {
  if (a.width !== b.width || a.height !== b.height) {
    throw new RangeError(`cannot compare a ${a.width}x${a.height} image with a ${b.width}x${b.height} one`);
  }
  const tolerance = opts.tolerance ?? 0;
  let maxDiff = 0;
  let sum = 0;
  let differingPixels = 0;
  let first: ImageDifference['first'];
  const pixels = a.width * a.height;
  for (let i = 0; i < pixels; i++) {
    const o = i * 4;
    let worst = 0;
    for (let c = 0; c < 3; c++) {
      const d = Math.abs(a.data[o + c]! - b.data[o + c]!);
      sum += d;
      if (d > worst) worst = d;
    }
    if (worst > maxDiff) maxDiff = worst;
    if (worst > tolerance) {
      differingPixels++;
      first ??= { x: i % a.width, y: Math.floor(i / a.width), a: [...a.data.subarray(o, o + 3)], b: [...b.data.subarray(o, o + 3)] };
    }
  }
  return { maxDiff, meanDiff: sum / (pixels * 3), differingPixels, ...(first ? { first } : {}) };
}

/** One line for a failed expectation: the sizes, or the difference figures and the first differing pixel. */
export function describeDifference(a: RgbaImage, b: RgbaImage, opts: CompareOptions = {}): string {
  if (a.width !== b.width || a.height !== b.height) return `sizes differ: ${a.width}x${a.height} against ${b.width}x${b.height}`;
  const d = compareImages(a, b, opts);
  const at = d.first ? `; first at (${d.first.x},${d.first.y}): [${d.first.a.join(',')}] against [${d.first.b.join(',')}]` : '';
  return `${d.differingPixels} pixels differ by more than ${opts.tolerance ?? 0} (max ${d.maxDiff}, mean ${d.meanDiff.toFixed(3)})${at}`;
}
