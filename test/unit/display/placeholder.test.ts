/**
 * src/display/placeholder.ts: the "no plane" image. The expected text
 * positions are computed here from the rules its TSDoc states (margins of
 * 8·scale px, glyph advance 6 and line height 11 at scale 1, largest scale
 * ≤ 3 that fits, lines and block centred), not from its layout code.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  PLACEHOLDER_COLOURS,
  PLACEHOLDER_FONT,
  PLACEHOLDER_MAX_SIDE,
  PLACEHOLDER_SIZE,
  placeholderGlyph,
  renderPlaceholder,
} from '../../../src/display/placeholder.ts';
import type { RgbaImage } from '../../../src/display/pixels.ts';
import { FC_SEED, fcParams } from '../devices/fc-seed.ts';

const { glyphWidth: GW, glyphHeight: GH, advance: ADV, lineHeight: LH } = PLACEHOLDER_FONT;
const NO_MODE = 'no plane: the guest has not set a display mode';
const PRINTABLE = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i));

interface Box {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

function pixel(img: RgbaImage, x: number, y: number): number[] {
  const at = (y * img.width + x) * 4;
  return Array.from(img.data.subarray(at, at + 4));
}

function isColour(img: RgbaImage, at: number, [r, g, b]: readonly number[]): boolean {
  return img.data[at] === r && img.data[at + 1] === g && img.data[at + 2] === b && img.data[at + 3] === 0xff;
}

/** Every text-coloured pixel. */
function textPixels(img: RgbaImage): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let y = 0, at = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++, at += 4) if (isColour(img, at, PLACEHOLDER_COLOURS.text)) out.push([x, y]);
  }
  return out;
}

/** The smallest box holding every text pixel, or null when there is none. */
function textBounds(img: RgbaImage): Box | null {
  const px = textPixels(img);
  if (px.length === 0) return null;
  const xs = px.map(([x]) => x);
  const ys = px.map(([, y]) => y);
  const x = Math.min(...xs);
  const y = Math.min(...ys);
  return { x, y, width: Math.max(...xs) + 1 - x, height: Math.max(...ys) + 1 - y };
}

/**
 * Where the renderer must put each line's glyph boxes when every line fits
 * at some scale 1..3, or null when the text must be clipped.
 */
function expectedLayout(width: number, height: number, lines: readonly string[]): { scale: number; boxes: Box[] } | null {
  for (let scale = 3; scale >= 1; scale--) {
    const margin = 8 * scale;
    const lens = lines.map((l) => [...l].length);
    const widths = lens.map((n) => (n === 0 ? 0 : (n * ADV - (ADV - GW)) * scale));
    const blockHeight = ((lines.length - 1) * LH + GH) * scale;
    if (lines.length > 0 && (blockHeight > height - 2 * margin || widths.some((w) => w > width - 2 * margin))) continue;
    const top = Math.floor((height - blockHeight) / 2);
    const boxes = widths.map((w, i) => ({ x: Math.floor((width - w) / 2), y: top + i * LH * scale, width: w, height: GH * scale }));
    return { scale, boxes };
  }
  return null;
}

function inside(box: Box, x: number, y: number): boolean {
  return x >= box.x && x < box.x + box.width && y >= box.y && y < box.y + box.height;
}

/** Background, frame and nothing else: what any image without drawn text must be. */
function expectBlank(img: RgbaImage): void {
  for (let y = 0, at = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++, at += 4) {
      const edge = x === 0 || y === 0 || x === img.width - 1 || y === img.height - 1;
      if (!isColour(img, at, edge ? PLACEHOLDER_COLOURS.frame : PLACEHOLDER_COLOURS.background)) {
        throw new Error(`pixel (${x}, ${y}) is ${pixel(img, x, y).join(',')}, expected ${edge ? 'frame' : 'background'}`);
      }
    }
  }
}

describe('renderPlaceholder size and input checks', () => {
  it('PLACEHOLDER_SIZE is 640x480', () => {
    expect(PLACEHOLDER_SIZE).toEqual({ width: 640, height: 480 });
  });

  it.each([
    [640, 480],
    [1920, 1080],
    [1, 1],
    [3, 7],
    [PLACEHOLDER_MAX_SIDE, 1],
  ])('a %ix%i image has width·height·4 bytes', (w, h) => {
    const img = renderPlaceholder(w, h, [NO_MODE]);
    expect(img.width).toBe(w);
    expect(img.height).toBe(h);
    expect(img.data.length).toBe(w * h * 4);
  });

  it.each([
    [0, 480],
    [640, 0],
    [-1, 480],
    [640.5, 480],
    [Number.NaN, 480],
    [Number.POSITIVE_INFINITY, 480],
    [PLACEHOLDER_MAX_SIDE + 1, 1],
    [1, PLACEHOLDER_MAX_SIDE + 1],
  ])('refuses %s x %s with a RangeError naming the size', (w, h) => {
    expect(() => renderPlaceholder(w, h, [])).toThrow(RangeError);
    expect(() => renderPlaceholder(w, h, [])).toThrow(`placeholder size ${w}x${h}`);
  });
});

describe('renderPlaceholder pixels', () => {
  it('is deterministic: the same inputs give the same bytes, whatever was rendered in between', () => {
    const lines = ['mbochs-0 (mbochs)', NO_MODE, '1024x768'];
    const a = renderPlaceholder(640, 480, lines);
    renderPlaceholder(640, 480, ['something else']);
    renderPlaceholder(17, 33, lines);
    const b = renderPlaceholder(640, 480, lines);
    expect(Buffer.from(b.data).equals(Buffer.from(a.data))).toBe(true);
  });

  it('no lines: a background inside a 1-px frame, nothing else', () => {
    expectBlank(renderPlaceholder(640, 480, []));
    expectBlank(renderPlaceholder(2, 2, []));
    expectBlank(renderPlaceholder(1, 5, []));
  });

  it('the colours are a dark neutral background, a lighter frame and light text', () => {
    const { background, frame, text } = PLACEHOLDER_COLOURS;
    for (const c of [background, frame, text]) expect(c[0] === c[1] && c[1] === c[2]).toBe(true);
    expect(background[0]).toBeLessThan(0x40);
    expect(frame[0]).toBeGreaterThan(background[0]);
    expect(text[0]).toBeGreaterThan(0xc0);
  });

  it.each([
    // 46 characters: 275 px at scale 1; 825 at 3 does not fit 640 − 2·24, 550 at 2 fits 640 − 2·16.
    [640, 480, 2, { x: 45, y: 231, width: 550, height: 18 }],
    [1920, 1080, 3, { x: 547, y: 526, width: 825, height: 27 }],
    [320, 240, 1, { x: 22, y: 115, width: 275, height: 9 }],
  ])('at %ix%i the no-mode message is drawn at scale %i exactly in its centred box', (w, h, scale, box) => {
    expect(expectedLayout(w, h, [NO_MODE])).toEqual({ scale, boxes: [box] });
    // 'n' starts in column 0, 'e' ends in column 4, 'l' reaches row 0 and 'p' row 8: the text fills its box.
    expect(textBounds(renderPlaceholder(w, h, [NO_MODE]))).toEqual(box);
  });

  it('several lines: each centred on its own, the block centred, text only inside the line boxes', () => {
    const lines = ['mbochs-0', NO_MODE, '', '(mdpy) 1024x768'];
    const layout = expectedLayout(640, 480, lines)!;
    expect(layout.scale).toBe(2);
    const img = renderPlaceholder(640, 480, lines);
    const px = textPixels(img);
    expect(px.length).toBeGreaterThan(0);
    for (const [x, y] of px) expect(layout.boxes.some((b) => inside(b, x, y)), `text pixel (${x}, ${y})`).toBe(true);
    for (const [i, b] of layout.boxes.entries()) {
      expect(px.some(([x, y]) => inside(b, x, y)), `line ${i}`).toBe(lines[i] !== '');
    }
  });

  it('draws every printable character as its glyph bitmap, scaled, and nothing else', () => {
    // One character in 100x60: scale 3 leaves 12 rows for 27, so scale 2 at ((100 − 10)/2, (60 − 18)/2).
    const scale = 2;
    const [x0, y0] = [45, 21];
    for (const ch of PRINTABLE) {
      const img = renderPlaceholder(100, 60, [ch]);
      const rows = placeholderGlyph(ch);
      for (const [x, y] of textPixels(img)) {
        expect(inside({ x: x0, y: y0, width: GW * scale, height: GH * scale }, x, y), `${JSON.stringify(ch)} at (${x}, ${y})`).toBe(true);
      }
      for (let row = 0; row < GH; row++) {
        for (let col = 0; col < GW; col++) {
          const on = (rows[row]! >> (GW - 1 - col)) & 1;
          for (let d = 0; d < scale * scale; d++) {
            const at = ((y0 + row * scale + Math.floor(d / scale)) * 100 + x0 + col * scale + (d % scale)) * 4;
            const want = on ? PLACEHOLDER_COLOURS.text : PLACEHOLDER_COLOURS.background;
            if (!isColour(img, at, want)) throw new Error(`${JSON.stringify(ch)} row ${row} col ${col}: expected ${on ? 'text' : 'background'}`);
          }
        }
      }
    }
  });

  it('characters outside printable ASCII draw as one box each, a surrogate pair included', () => {
    const box = renderPlaceholder(200, 60, ['a\tb']);
    for (const other of ['a\u00e9b', 'a\u{1f600}b', 'a\x7fb', 'a\x00b']) {
      expect(Buffer.from(renderPlaceholder(200, 60, [other]).data).equals(Buffer.from(box.data)), JSON.stringify(other)).toBe(true);
    }
    expect(Buffer.from(renderPlaceholder(200, 60, ['a?b']).data).equals(Buffer.from(box.data))).toBe(false);
  });
});

describe('renderPlaceholder clipping', () => {
  const same = (a: RgbaImage, b: RgbaImage) => Buffer.from(a.data).equals(Buffer.from(b.data));

  it('a line too wide at scale 1 is cut to the characters that fit, the last replaced by …', () => {
    // 320 − 2·8 = 304 px hold 50 glyphs (50·6 − 1 = 299).
    const long = 'x'.repeat(30) + 'y'.repeat(30);
    const cut = `${long.slice(0, 49)}\u2026`;
    expect(expectedLayout(320, 240, [cut])?.scale).toBe(1);
    const img = renderPlaceholder(320, 240, [long]);
    expect(same(img, renderPlaceholder(320, 240, [cut]))).toBe(true);
    const b = textBounds(img)!;
    expect(b.x).toBeGreaterThanOrEqual(8);
    expect(b.x + b.width).toBeLessThanOrEqual(320 - 8);
  });

  it('a million-character line is cut the same way', () => {
    const img = renderPlaceholder(640, 480, ['z'.repeat(1_000_000)]);
    // 640 − 16 = 624 px hold 104 glyphs (104·6 − 1 = 623).
    expect(same(img, renderPlaceholder(640, 480, [`${'z'.repeat(103)}\u2026`]))).toBe(true);
  });

  it('lines past the bottom at scale 1 are dropped and the last one kept ends in …', () => {
    // 60 − 2·8 = 44 rows hold 4 lines (3·11 + 9 = 42).
    const lines = ['one', 'two', 'three', 'four', 'five', 'six'];
    const kept = ['one', 'two', 'three', 'four\u2026'];
    expect(expectedLayout(200, 60, kept)?.scale).toBe(1);
    expect(same(renderPlaceholder(200, 60, lines), renderPlaceholder(200, 60, kept))).toBe(true);
  });

  it('an image too small for one glyph inside the margins shows only background and frame', () => {
    expectBlank(renderPlaceholder(20, 20, [NO_MODE])); // 4 px across, 5 needed
    expectBlank(renderPlaceholder(200, 24, [NO_MODE])); // 8 rows, 9 needed
  });
});

describe('placeholder font table', () => {
  const key = (rows: readonly number[]) => rows.join(',');

  it('every printable ASCII character has a glyph of the declared size', () => {
    for (const ch of [...PRINTABLE, '\u2026']) {
      const rows = placeholderGlyph(ch);
      expect(rows, JSON.stringify(ch)).toHaveLength(GH);
      for (const r of rows) expect(Number.isInteger(r) && r >= 0 && r < 1 << GW, `${JSON.stringify(ch)} row ${r}`).toBe(true);
      expect(rows.some((r) => r !== 0), JSON.stringify(ch)).toBe(ch !== ' ');
    }
  });

  it('distinct characters have distinct bitmaps, and none equals the unknown-character box', () => {
    const box = key(placeholderGlyph('\u00e9'));
    const seen = new Map<string, string>();
    for (const ch of [...PRINTABLE, '\u2026']) {
      const k = key(placeholderGlyph(ch));
      expect(seen.get(k), `${JSON.stringify(ch)} duplicates ${JSON.stringify(seen.get(k))}`).toBeUndefined();
      expect(k, JSON.stringify(ch)).not.toBe(box);
      seen.set(k, ch);
    }
  });

  it('anything that is not one printable character gets the box', () => {
    const box = key(placeholderGlyph('\u00e9'));
    for (const s of ['', 'ab', '\t', '\n', '\x7f', '\u{1f600}', '\ud800']) expect(key(placeholderGlyph(s)), JSON.stringify(s)).toBe(box);
  });

  it('glyph width fits the advance with a gap, glyph height the line height', () => {
    expect(ADV).toBeGreaterThan(GW);
    expect(LH).toBeGreaterThan(GH);
  });
});

describe(`renderPlaceholder properties (seed ${FC_SEED})`, () => {
  // For any size 1..2000 × 1..2000 and any few short ASCII lines (control
  // characters included): no throw, width·height·4 bytes, alpha 255 and one
  // of the three colours everywhere, the frame on every edge pixel, text at
  // least 8 px from every edge, and — when the lines fit — text only inside
  // the centred line boxes.
  // Half the sizes small, where margins, dropped lines and cut lines happen.
  const side = fc.oneof(fc.integer({ min: 1, max: 80 }), fc.integer({ min: 1, max: 2000 }));
  it('never throws; always a full opaque image of the three colours with text inside its boxes', () => {
    const { background, frame, text } = PLACEHOLDER_COLOURS;
    fc.assert(
      fc.property(
        side,
        side,
        fc.array(fc.string({ unit: 'binary-ascii', maxLength: 80 }), { maxLength: 6 }),
        (width, height, lines) => {
          const img = renderPlaceholder(width, height, lines);
          if (img.width !== width || img.height !== height || img.data.length !== width * height * 4) return false;
          const layout = expectedLayout(width, height, lines);
          for (let y = 0, at = 0; y < height; y++) {
            for (let x = 0; x < width; x++, at += 4) {
              if (img.data[at + 3] !== 0xff) return false;
              const edge = x === 0 || y === 0 || x === width - 1 || y === height - 1;
              if (edge) {
                if (!isColour(img, at, frame)) return false;
              } else if (isColour(img, at, text)) {
                if (x < 8 || y < 8 || x >= width - 8 || y >= height - 8) return false;
                if (layout !== null && !layout.boxes.some((b) => inside(b, x, y))) return false;
              } else if (!isColour(img, at, background)) {
                return false;
              }
            }
          }
          return true;
        },
      ),
      fcParams(100),
    );
  });
});
