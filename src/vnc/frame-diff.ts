/**
 * Scrolls, for an RFB server: a vertical move found as one band of rows
 * that moved between two frames, so a viewer can copy them (CopyRect)
 * rather than receive them again. fbcon and terminals scroll the whole
 * screen by a text line at a time; without this a scroll costs a full
 * frame. The damage itself is display/damage.ts's.
 */
import type { Rect } from '../display/damage.ts';
import type { RgbaImage } from '../display/pixels.ts';

/** Rows [y, y+height) of the new frame are rows [y+dy, y+dy+height) of the old one. */
export interface RowMove {
  readonly dy: number;
  readonly y: number;
  readonly height: number;
}

/** A frame's rows as a Buffer for native compares, and a u32 view for column scans. */
export class FrameRows {
  readonly width: number;
  readonly height: number;
  readonly bytes: Buffer;
  readonly words: Uint32Array;
  #hashes: Uint32Array | null = null;

  constructor(readonly image: RgbaImage) {
    this.width = image.width;
    this.height = image.height;
    this.bytes = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.length);
    this.words = new Uint32Array(image.data.buffer, image.data.byteOffset, image.width * image.height);
  }

  /** Row y of this frame equals row y2 of `other` (same width). */
  rowEquals(y: number, other: FrameRows, y2: number): boolean {
    const n = this.width * 4;
    return this.bytes.compare(other.bytes, y2 * n, y2 * n + n, y * n, y * n + n) === 0;
  }

  /**
   * A 32-bit hash of each row from every 7th pixel plus the last: enough to
   * propose scroll offsets, which are then checked exactly.
   */
  hashes(): Uint32Array {
    if (this.#hashes) return this.#hashes;
    const h = new Uint32Array(this.height);
    const w = this.width;
    for (let y = 0; y < this.height; y++) {
      let acc = 0x811c9dc5;
      const row = y * w;
      for (let x = 0; x < w; x += 7) acc = Math.imul(acc ^ this.words[row + x]!, 0x01000193);
      h[y] = Math.imul(acc ^ this.words[row + w - 1]!, 0x01000193) >>> 0;
    }
    this.#hashes = h;
    return h;
  }
}

/**
 * A vertical move of a band of rows from `prev` to `next`, or null. Tried
 * only when the changed rows are many (a scroll changes most of the
 * screen); candidate offsets come from row hashes, and the longest run of
 * rows that match exactly under the best offset is the band, accepted when
 * it covers at least an eighth of the screen.
 */
export function findRowMove(prev: FrameRows, next: FrameRows, changedRows: number): RowMove | null {
  const { height } = next;
  if (prev.width !== next.width || prev.height !== height || height < 32 || changedRows < height / 4) return null;
  // Windows of four rows: one row says little (blank rows and the inside
  // of a glyph repeat), four rows across a glyph's edge are distinctive.
  const pw = windows(prev.hashes());
  const nw = windows(next.hashes());
  const where = new Map<number, number[]>();
  for (let y = 0; y < pw.length; y++) {
    const list = where.get(pw[y]!);
    if (list === undefined) where.set(pw[y]!, [y]);
    else if (list.length < 3) list.push(y);
  }
  const votes = new Map<number, number>();
  for (let y = 0; y < nw.length; y++) {
    const rows = where.get(nw[y]!);
    if (rows === undefined || rows.length > 2) continue; // absent, or too common to say anything
    for (const from of rows) {
      const dy = from - y;
      if (dy !== 0) votes.set(dy, (votes.get(dy) ?? 0) + 1);
    }
  }
  const candidates = [...votes.entries()].sort((p, q) => q[1] - p[1] || Math.abs(p[0]) - Math.abs(q[0])).slice(0, 2);
  let best: RowMove | null = null;
  for (const [dy] of candidates) {
    let runStart = -1;
    for (let y = Math.max(0, -dy); y <= Math.min(height, height - dy); y++) {
      const match = y < Math.min(height, height - dy) && next.rowEquals(y, prev, y + dy);
      if (match && runStart < 0) runStart = y;
      if (!match && runStart >= 0) {
        const len = y - runStart;
        if (best === null || len > best.height) best = { dy, y: runStart, height: len };
        runStart = -1;
      }
    }
  }
  return best !== null && best.height >= Math.max(8, height / 8) ? best : null;
}

function windows(h: Uint32Array): Uint32Array {
  const out = new Uint32Array(Math.max(0, h.length - 3));
  for (let y = 0; y < out.length; y++) {
    out[y] = Math.imul(Math.imul(Math.imul(h[y]! ^ 0x9e3779b9, 0x85ebca6b) ^ h[y + 1]!, 0xc2b2ae35) ^ h[y + 2]!, 0x27d4eb2f) ^ h[y + 3]!;
  }
  return out;
}

/** At most `max` rectangles: the closest neighbours (smallest vertical gap) are merged into their bounding box. */
export function mergeRects(rects: readonly Rect[], max: number): Rect[] {
  const out = [...rects].sort((p, q) => p.y - q.y || p.x - q.x);
  while (out.length > max) {
    let best = 0;
    let bestGap = Infinity;
    for (let i = 0; i + 1 < out.length; i++) {
      const gap = out[i + 1]!.y - (out[i]!.y + out[i]!.height);
      if (gap < bestGap) { bestGap = gap; best = i; }
    }
    const p = out[best]!;
    const q = out[best + 1]!;
    const x0 = Math.min(p.x, q.x);
    const y0 = Math.min(p.y, q.y);
    out.splice(best, 2, { x: x0, y: y0, width: Math.max(p.x + p.width, q.x + q.width) - x0, height: Math.max(p.y + p.height, q.y + q.height) - y0 });
  }
  return out;
}

/** The part of `r` inside `clip`, or null. */
export function intersect(r: Rect, clip: Rect): Rect | null {
  const x0 = Math.max(r.x, clip.x);
  const y0 = Math.max(r.y, clip.y);
  const x1 = Math.min(r.x + r.width, clip.x + clip.width);
  const y1 = Math.min(r.y + r.height, clip.y + clip.height);
  return x1 > x0 && y1 > y0 ? { x: x0, y: y0, width: x1 - x0, height: y1 - y0 } : null;
}
