/**
 * Screen: the frame an RFB server serves, its versions and what a viewer at
 * an older version needs. The display is a plane of real XRGB8888 bytes the
 * test writes (the layout mbochs and mdpy report), read through the same
 * DisplayReader shape plane-source.ts gives. What catchUp() returns is
 * checked by doing what a viewer does with it — copy the moved rows
 * (CopyRect, RFC 6143 §7.7.2), then paste the rectangles from the current
 * frame — and comparing with the current frame.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DisplayState } from '../../../src/display/no-plane.ts';
import type { RgbaImage } from '../../../src/display/pixels.ts';
import { PLACEHOLDER_SIZE } from '../../../src/display/placeholder.ts';
import { DRM_FORMAT_XRGB8888 } from '../../../src/vfio/uapi.ts';
import { Screen, type CatchUp } from '../../../src/vnc/screen.ts';

const W = 64;
const H = 128;
const LINE = 8;

/** A guest's XRGB8888 plane: the little-endian u32 0x00RRGGBB per pixel, rows `stride` bytes apart. */
class FakePlane {
  bytes: Uint8Array;
  state: DisplayState;
  constructor(public width: number, public height: number) {
    this.bytes = new Uint8Array(width * height * 4);
    this.state = this.#planeState();
  }

  #planeState(): DisplayState {
    return { kind: 'plane', plane: { bytes: this.bytes, offset: 0, width: this.width, height: this.height, stride: this.width * 4, drmFormat: DRM_FORMAT_XRGB8888 } };
  }

  set(x: number, y: number, rgb: number): void {
    const at = (y * this.width + x) * 4;
    this.bytes[at] = rgb & 0xff;
    this.bytes[at + 1] = (rgb >> 8) & 0xff;
    this.bytes[at + 2] = (rgb >> 16) & 0xff;
    this.bytes[at + 3] = 0x5a; // the x byte: never shown
  }

  fill(rgb: number, x = 0, y = 0, w = this.width, h = this.height): void {
    for (let j = y; j < y + h; j++) for (let i = x; i < x + w; i++) this.set(i, j, rgb);
  }

  /** Draw text line `n` (a background and a distinctive block) at row `y`. */
  line(n: number, y: number): void {
    this.fill(0x101010, 0, y, this.width, LINE);
    this.fill(0xc0c0c0 ^ ((n * 0x010305) & 0xffffff), (n * 7) % (this.width - 12), y + 1, 4 + (n % 9), LINE - 2);
  }

  /** The screen shows lines first, first+1, ...: a terminal scrolled to `first`. */
  text(first: number): void {
    for (let l = 0; l < this.height / LINE; l++) this.line(first + l, l * LINE);
  }

  resize(width: number, height: number): void {
    this.width = width;
    this.height = height;
    this.bytes = new Uint8Array(width * height * 4);
    this.state = this.#planeState();
  }

  /** The RGBA a viewer should see: R, G, B, 255. */
  rgba(): Uint8Array {
    const out = new Uint8Array(this.width * this.height * 4);
    for (let i = 0; i < this.width * this.height; i++) out.set([this.bytes[i * 4 + 2]!, this.bytes[i * 4 + 1]!, this.bytes[i * 4]!, 255], i * 4);
    return out;
  }

  screen(opts: { history?: number } = {}): Screen {
    return new Screen({ name: 'fake-0', read: (use) => use(this.state), pollMs: 5, ...opts });
  }
}

function copyOf(img: RgbaImage): RgbaImage {
  return { width: img.width, height: img.height, data: Uint8Array.from(img.data) };
}

/** What a viewer holding `old` has after it applies `c`, with pixels taken from `current`. */
function apply(old: RgbaImage, c: CatchUp, current: RgbaImage): RgbaImage {
  const out = copyOf(old);
  const row = current.width * 4;
  const paste = (r: { x: number; y: number; width: number; height: number }): void => {
    for (let y = r.y; y < r.y + r.height; y++) out.data.set(current.data.subarray(y * row + r.x * 4, y * row + (r.x + r.width) * 4), y * row + r.x * 4);
  };
  switch (c.kind) {
    case 'current': return out;
    case 'full': return copyOf(current);
    case 'damage': c.rects.forEach(paste); return out;
    case 'change': {
      if (c.change.resized) return copyOf(current);
      const m = c.change.move;
      // CopyRect: the destination rows from the source rows of the frame the viewer had.
      if (m !== null) out.data.set(old.data.subarray((m.y + m.dy) * row, (m.y + m.dy + m.height) * row), m.y * row);
      c.change.rects.forEach(paste);
      return out;
    }
  }
}

const equal = (a: RgbaImage, b: RgbaImage): boolean => a.width === b.width && a.height === b.height && Buffer.from(a.data).equals(Buffer.from(b.data));

describe('Screen polling a plane', () => {
  it('the frame is the plane as RGBA; poll() is false while the bytes stay the same, even rewritten', () => {
    const p = new FakePlane(W, H);
    p.text(0);
    const s = p.screen();
    expect(s.poll()).toBe(true);
    expect(Buffer.from(s.frame.data).equals(Buffer.from(p.rgba()))).toBe(true);
    const v = s.version;
    expect(s.poll()).toBe(false);
    p.text(0); // the same bytes again
    expect(s.poll()).toBe(false);
    expect(s.version).toBe(v);
    expect(s.catchUp(v)).toEqual({ kind: 'current' });
    expect(s.stats().converted).toBe(1); // unchanged bytes are compared, never converted again
  });

  it('a drawn rectangle is one change holding exactly that rectangle', () => {
    const p = new FakePlane(W, H);
    p.text(0);
    const s = p.screen();
    s.poll();
    const v = s.version;
    p.fill(0xff00ff, 5, 7, 10, 3);
    expect(s.poll()).toBe(true);
    expect(s.version).toBe(v + 1);
    expect(s.catchUp(v)).toEqual({ kind: 'change', change: { version: v + 1, resized: false, move: null, rects: [{ x: 5, y: 7, width: 10, height: 3 }] } });
  });

  it('a scroll by one line is a move of the rest of the screen and the new line as the only rectangle', () => {
    const p = new FakePlane(W, H);
    p.text(0);
    const s = p.screen();
    s.poll();
    const before = copyOf(s.frame);
    p.text(1);
    s.poll();
    const c = s.catchUp(s.version - 1);
    expect(c.kind).toBe('change');
    if (c.kind !== 'change') return;
    expect(c.change.move).toEqual({ dy: LINE, y: 0, height: H - LINE });
    expect(c.change.rects.every((r) => r.y >= H - LINE)).toBe(true);
    expect(equal(apply(before, c, s.frame), s.frame)).toBe(true);
  });

  it('a viewer three scrolls behind gets one composed move and the three new lines, which rebuild the frame exactly', () => {
    const p = new FakePlane(W, H);
    p.text(0);
    const s = p.screen();
    s.poll();
    const v = s.version;
    const old = copyOf(s.frame);
    for (const first of [1, 2, 3]) { p.text(first); s.poll(); }
    expect(s.version).toBe(v + 3);
    const c = s.catchUp(v);
    expect(c.kind).toBe('change');
    if (c.kind !== 'change') return;
    expect(c.change.move).toEqual({ dy: 3 * LINE, y: 0, height: H - 3 * LINE });
    // Whole rows within the three new lines (a row that is background in old and new frame alike may be left out).
    expect(c.change.rects.length).toBeGreaterThan(0);
    expect(c.change.rects.every((r) => r.x === 0 && r.width === W && r.y >= H - 3 * LINE)).toBe(true);
    expect(equal(apply(old, c, s.frame), s.frame)).toBe(true);
  });

  it('for any sequence of up to 6 changes within the history, applying catchUp(v) to frame v yields the current frame (property)', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('scroll' as const), lines: fc.integer({ min: -3, max: 3 }) }),
      fc.record({
        kind: fc.constant('draw' as const), x: fc.nat(W - 1), y: fc.nat(H - 1), w: fc.integer({ min: 1, max: 20 }), h: fc.integer({ min: 1, max: 20 }),
        rgb: fc.integer({ min: 0, max: 0xffffff }),
      }),
    );
    let moves = 0;
    fc.assert(fc.property(fc.array(op, { minLength: 1, maxLength: 6 }), (ops) => {
      const p = new FakePlane(W, H);
      let first = 50;
      p.text(first);
      const s = p.screen();
      s.poll();
      const frames = new Map<number, RgbaImage>([[s.version, copyOf(s.frame)]]);
      for (const o of ops) {
        if (o.kind === 'scroll') { first += o.lines; p.text(first); }
        else p.fill(o.rgb, o.x, o.y, Math.min(o.w, W - o.x), Math.min(o.h, H - o.y));
        if (s.poll()) frames.set(s.version, copyOf(s.frame));
      }
      for (const [v, old] of frames) {
        const c = s.catchUp(v);
        expect(c.kind).not.toBe('full'); // within the history, without a resize, a viewer never starts over
        if (c.kind === 'change' && c.change.move !== null) moves++;
        expect(equal(apply(old, c, s.frame), s.frame)).toBe(true);
      }
    }), { numRuns: 120 });
    expect(moves).toBeGreaterThan(20); // the runs exercised composed and single moves, not only damage
  });

  it('a viewer further behind than the history starts over with the full frame', () => {
    const p = new FakePlane(W, H);
    const s = p.screen({ history: 3 });
    s.poll();
    const start = s.version;
    for (let i = 0; i < 5; i++) { p.fill(0x010101 * (i + 1), i, i, 2, 2); s.poll(); }
    expect(s.version).toBe(start + 5);
    expect(s.catchUp(start + 1)).toEqual({ kind: 'full' });
    expect(s.catchUp(start + 2).kind).toBe('damage'); // exactly the 3 changes kept
    expect(s.catchUp(s.version + 1)).toEqual({ kind: 'full' }); // a version we never had
  });

  it('a mode change is a resized change covering the new frame; across it a viewer gets the full frame', () => {
    const p = new FakePlane(W, H);
    p.text(0);
    const s = p.screen();
    s.poll();
    p.fill(0x123456, 0, 0, 4, 4);
    s.poll();
    p.resize(96, 40);
    p.fill(0x00ff00);
    expect(s.poll()).toBe(true);
    expect([s.frame.width, s.frame.height]).toEqual([96, 40]);
    expect(s.catchUp(s.version - 1)).toEqual({ kind: 'change', change: { version: s.version, resized: true, move: null, rects: [{ x: 0, y: 0, width: 96, height: 40 }] } });
    expect(s.catchUp(s.version - 2)).toEqual({ kind: 'full' });
    expect(Buffer.from(s.frame.data).equals(Buffer.from(p.rgba()))).toBe(true);
  });

  it('no plane: the placeholder at PLACEHOLDER_SIZE with the reason; the plane coming back is a resize to its size', () => {
    const p = new FakePlane(W, H);
    p.text(0);
    const plane = p.state;
    p.state = { kind: 'none', reason: 'no-mode', message: 'no plane: the guest has not set a display mode' };
    const s = p.screen();
    expect(s.poll()).toBe(true);
    expect([s.frame.width, s.frame.height]).toEqual([PLACEHOLDER_SIZE.width, PLACEHOLDER_SIZE.height]);
    expect(s.none).toEqual({ reason: 'no-mode', message: 'no plane: the guest has not set a display mode' });
    expect(s.poll()).toBe(false); // the same "no plane" again is no change
    p.state = plane;
    expect(s.poll()).toBe(true);
    expect(s.none).toBeNull();
    expect(s.catchUp(s.version - 1)).toMatchObject({ kind: 'change', change: { resized: true, rects: [{ x: 0, y: 0, width: W, height: H }] } });
    expect(Buffer.from(s.frame.data).equals(Buffer.from(p.rgba()))).toBe(true);
  });

  it('a display that throws when read shows the placeholder as unavailable', () => {
    const s = new Screen({ name: 'broken', read: () => { throw new Error('EIO'); } });
    expect(s.poll()).toBe(true);
    expect(s.none?.reason).toBe('unavailable');
    expect([s.frame.width, s.frame.height]).toEqual([PLACEHOLDER_SIZE.width, PLACEHOLDER_SIZE.height]);
  });

  it('polls only while watched, and tells the watcher when the frame changed', async () => {
    const p = new FakePlane(W, H);
    const s = p.screen();
    s.poll();
    const changed = new Promise<void>((resolve) => {
      const stop = s.watch(() => { stop(); resolve(); });
      p.fill(0xffffff, 1, 1, 1, 1);
    });
    await changed;
    expect(s.stats().watchers).toBe(0);
    const polls = s.stats().polls;
    expect(s.catchUp(s.version - 1).kind).toBe('change');
    s.close();
    expect(s.stats().polls).toBe(polls);
  });
});
