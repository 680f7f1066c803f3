/**
 * Scroll detection and rectangle merging for the RFB server's updates: a
 * band of rows that moved becomes one CopyRect (RFC 6143 §7.7.2), and the
 * damage rectangles of an update are merged to a bounded count without
 * leaving any changed pixel out.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Rect } from '../../../src/display/damage.ts';
import type { RgbaImage } from '../../../src/display/pixels.ts';
import { findRowMove, FrameRows, intersect, mergeRects } from '../../../src/vnc/frame-diff.ts';

const W = 48;
const H = 128;

/** A pixel of document row `row`: every row differs from every other, like lines of text. */
function docPixel(row: number, x: number): number {
  return Math.imul((row + 1) * 0x9e3779b1 ^ (x * 0x85ebca6b), 0xc2b2ae35) >>> 8;
}

/** A frame whose row y shows document row rowOf(y), or flat grey where rowOf gives -1. */
function frame(rowOf: (y: number) => number, width = W, height = H): FrameRows {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    const row = rowOf(y);
    for (let x = 0; x < width; x++) {
      const v = row < 0 ? 0x808080 : docPixel(row, x);
      data.set([v >> 16, (v >> 8) & 0xff, v & 0xff, 0xff], (y * width + x) * 4);
    }
  }
  const image: RgbaImage = { width, height, data };
  return new FrameRows(image);
}

/** Rows of `next` that differ from the same row of `prev`. */
function changedRows(prev: FrameRows, next: FrameRows): number {
  let n = 0;
  for (let y = 0; y < next.height; y++) if (!next.rowEquals(y, prev, y)) n++;
  return n;
}

describe('findRowMove', () => {
  it('finds a whole-screen scroll up by one 16-row line: rows 0..H-17 came from 16 rows further down', () => {
    const prev = frame((y) => y);
    const next = frame((y) => y + 16);
    expect(findRowMove(prev, next, changedRows(prev, next))).toEqual({ dy: 16, y: 0, height: H - 16 });
  });

  it('finds a scroll down (negative dy)', () => {
    const prev = frame((y) => y + 100);
    const next = frame((y) => y + 92);
    expect(findRowMove(prev, next, changedRows(prev, next))).toEqual({ dy: -8, y: 8, height: H - 8 });
  });

  it('finds a scrolling region between a fixed header and status line', () => {
    // Rows 0..15 and 112..127 stay; the region 16..111 scrolls up by 8 and shows a new line at 104..111.
    const region = (offset: number) => (y: number): number => (y < 16 ? 1000 + y : y >= 112 ? 2000 + y : y + offset);
    const prev = frame(region(0));
    const next = frame((y) => (y >= 104 && y < 112 ? 3000 + y : region(8)(y)));
    expect(findRowMove(prev, next, changedRows(prev, next))).toEqual({ dy: 8, y: 16, height: 88 });
  });

  it('is not tried when few rows changed (a scroll changes most of the screen)', () => {
    const prev = frame((y) => y);
    const next = frame((y) => (y < 16 ? y + 1 : y));
    expect(findRowMove(prev, next, H / 4 - 1)).toBeNull();
  });

  it('is not tried on frames under 32 rows or of different sizes', () => {
    expect(findRowMove(frame((y) => y, W, 31), frame((y) => y + 4, W, 31), 31)).toBeNull();
    expect(findRowMove(frame((y) => y), frame((y) => y + 4, W + 1), H)).toBeNull();
    expect(findRowMove(frame((y) => y), frame((y) => y + 4, W, H + 16), H)).toBeNull();
  });

  it('finds nothing between unrelated frames, or when the band that moved is shorter than an eighth of the screen', () => {
    expect(findRowMove(frame((y) => y), frame((y) => 500 + y), H)).toBeNull();
    // 12 rows moved (< 128/8 = 16), everything else is new.
    const prev = frame((y) => y);
    const next = frame((y) => (y >= 40 && y < 52 ? y + 20 : 700 + y));
    expect(findRowMove(prev, next, changedRows(prev, next))).toBeNull();
  });

  it('any move it reports is true: every row of the band equals the old row dy away (property)', () => {
    let found = 0;
    fc.assert(fc.property(
      fc.integer({ min: -H / 2, max: H / 2 }), fc.integer({ min: 0, max: H - 1 }), fc.integer({ min: 0, max: H }), fc.boolean(),
      (dy, top, len, blankLines) => {
        // A screen with some repeated blank rows, scrolled by dy in rows [top, top+len), the rest redrawn.
        const doc = (r: number): number => (blankLines && r % 16 >= 12 ? -1 : r);
        const prev = frame((y) => doc(y + 200));
        const next = frame((y) => (y >= top && y < top + len && y + dy >= 0 && y + dy < H ? doc(y + dy + 200) : 900 + y));
        const m = findRowMove(prev, next, changedRows(prev, next));
        if (m === null) return;
        found++;
        expect(m.dy).not.toBe(0);
        expect(m.y).toBeGreaterThanOrEqual(0);
        expect(m.y + m.height).toBeLessThanOrEqual(H);
        expect(m.y + m.dy >= 0 && m.y + m.dy + m.height <= H).toBe(true);
        for (let y = m.y; y < m.y + m.height; y++) expect(next.rowEquals(y, prev, y + m.dy)).toBe(true);
      },
    ), { numRuns: 150 });
    expect(found).toBeGreaterThan(30); // the property said something about real moves
  });
});

describe('mergeRects', () => {
  const r = (x: number, y: number, width: number, height: number): Rect => ({ x, y, width, height });

  it('returns as many rectangles as it was given when they are within the limit, top to bottom', () => {
    expect(mergeRects([r(5, 40, 2, 2), r(0, 0, 4, 4), r(9, 0, 1, 1)], 3)).toEqual([r(0, 0, 4, 4), r(9, 0, 1, 1), r(5, 40, 2, 2)]);
  });

  it('merges the vertically closest neighbours into their bounding box first', () => {
    // Gaps: 1 row between the first two, 40 between the second and third.
    expect(mergeRects([r(0, 0, 10, 2), r(20, 3, 5, 2), r(0, 45, 3, 3)], 2)).toEqual([r(0, 0, 25, 5), r(0, 45, 3, 3)]);
  });

  it('to one rectangle: the bounding box of all', () => {
    expect(mergeRects([r(3, 3, 1, 1), r(10, 20, 5, 5), r(0, 50, 2, 1)], 1)).toEqual([r(0, 3, 15, 48)]);
  });

  it('keeps every input pixel covered, returns at most max rectangles, and covers nothing outside the inputs\' bounding box (property)', () => {
    const rect = fc.record({ x: fc.nat(40), y: fc.nat(40), width: fc.integer({ min: 1, max: 24 }), height: fc.integer({ min: 1, max: 24 }) });
    fc.assert(fc.property(fc.array(rect, { minLength: 0, maxLength: 30 }), fc.integer({ min: 1, max: 30 }), (rects, max) => {
      const out = mergeRects(rects, max);
      expect(out.length).toBe(Math.min(rects.length, max));
      const covered = new Uint8Array(64 * 64);
      for (const o of out) for (let y = o.y; y < o.y + o.height; y++) covered.fill(1, y * 64 + o.x, y * 64 + o.x + o.width);
      const missed = rects.filter((i) => {
        for (let y = i.y; y < i.y + i.height; y++) if (covered.subarray(y * 64 + i.x, y * 64 + i.x + i.width).includes(0)) return true;
        return false;
      });
      expect(missed).toEqual([]);
      if (rects.length > 0) {
        const x0 = Math.min(...rects.map((i) => i.x));
        const y0 = Math.min(...rects.map((i) => i.y));
        const x1 = Math.max(...rects.map((i) => i.x + i.width));
        const y1 = Math.max(...rects.map((i) => i.y + i.height));
        for (const o of out) expect(o.x >= x0 && o.y >= y0 && o.x + o.width <= x1 && o.y + o.height <= y1).toBe(true);
      }
    }), { numRuns: 200 });
  });
});

describe('intersect', () => {
  it('clips a rectangle to another, or gives null when they do not meet', () => {
    expect(intersect({ x: 5, y: 5, width: 10, height: 10 }, { x: 0, y: 0, width: 8, height: 12 })).toEqual({ x: 5, y: 5, width: 3, height: 7 });
    expect(intersect({ x: 5, y: 5, width: 10, height: 10 }, { x: 15, y: 0, width: 8, height: 8 })).toBeNull();
    expect(intersect({ x: 0, y: 0, width: 4, height: 4 }, { x: 0, y: 0, width: 4, height: 4 })).toEqual({ x: 0, y: 0, width: 4, height: 4 });
  });
});
