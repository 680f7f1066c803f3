/**
 * ZRLE tiles (RFC 6143 §7.7.6) decoded by a decoder written here from the
 * RFC, not from the encoder: every sub-encoding the encoder can pick comes
 * back as the pixels it was given, the encoder picks the smallest, and the
 * CPIXEL is 3 bytes for 32-bit pixels of depth 24.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { cpixelLayout, DEFAULT_PIXEL_FORMAT } from '../../../src/vnc/pixel-format.ts';
import { encodeTile, zrleTiles } from '../../../src/vnc/zrle.ts';

const CP = cpixelLayout(DEFAULT_PIXEL_FORMAT);

/** Decode one tile's bytes at `p` into w·h pixel values; returns [values, next offset, sub-encoding]. */
function decodeTile(b: Uint8Array, p: number, w: number, h: number): [Uint32Array, number, number] {
  const n = w * h;
  const out = new Uint32Array(n);
  const pixel = (): number => { const v = b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16); p += 3; return v >>> 0; };
  const run = (): number => { let len = 1; for (;;) { const x = b[p++]!; len += x; if (x !== 255) return len; } };
  const sub = b[p++]!;
  if (sub === 0) for (let i = 0; i < n; i++) out[i] = pixel();
  else if (sub === 1) out.fill(pixel());
  else if (sub >= 2 && sub <= 16) {
    const pal = Array.from({ length: sub }, pixel);
    const bits = sub === 2 ? 1 : sub <= 4 ? 2 : 4;
    for (let y = 0; y < h; y++) {
      let byte = 0;
      let left = 0;
      for (let x = 0; x < w; x++) {
        if (left === 0) { byte = b[p++]!; left = 8; }
        left -= bits;
        out[y * w + x] = pal[(byte >> left) & ((1 << bits) - 1)]!;
      }
    }
  } else if (sub === 128) {
    for (let i = 0; i < n; ) { const v = pixel(); const len = run(); out.fill(v, i, i + len); i += len; }
  } else if (sub >= 130) {
    const pal = Array.from({ length: sub - 128 }, pixel);
    for (let i = 0; i < n; ) {
      const idx = b[p++]!;
      const len = idx & 128 ? run() : 1;
      out.fill(pal[idx & 127]!, i, i + len);
      i += len;
    }
  } else throw new Error(`sub-encoding ${sub} is not defined`);
  return [out, p, sub];
}

function encode(px: Uint32Array, w: number, h: number): { bytes: Uint8Array; sub: number; decoded: Uint32Array } {
  const buf = new Uint8Array(1 + w * h * 4 + 128 * 4);
  const len = encodeTile(px, w, h, CP, false, buf, 0);
  const [decoded, end, sub] = decodeTile(buf, 0, w, h);
  expect(end).toBe(len);
  return { bytes: buf.subarray(0, len), sub, decoded };
}

const tile = (w: number, h: number, f: (x: number, y: number) => number): Uint32Array =>
  Uint32Array.from({ length: w * h }, (_, i) => f(i % w, Math.floor(i / w)) >>> 0);

describe('ZRLE tiles', () => {
  it('32-bit depth-24 pixels travel as 3-byte CPIXELs', () => {
    expect(CP).toEqual({ bytes: 3, shift: 0 });
  });

  it.each([
    ['solid', tile(64, 64, () => 0x123456), 1],
    ['two-colour text: packed palette, 1 bit', tile(64, 64, (x, y) => ((x * 7 + y * 3) % 5 < 2 ? 0xc0c0c0 : 0x101010)), 2],
    ['four colours, short runs: packed palette, 2 bits', tile(64, 64, (x, y) => [0x111111, 0x222222, 0x333333, 0x444444][(x * 3 + y) % 4]!), 4],
    ['sixteen colours: packed palette, 4 bits', tile(64, 64, (x, y) => ((x + y * 5) % 16) * 0x0f0f0f), 16],
    ['few colours in long runs: palette RLE', tile(64, 64, (x, y) => (Math.floor((y * 64 + x) / 300) % 3) * 0x404040), 131],
    ['many colours in long runs: plain RLE', tile(64, 64, (x, y) => Math.floor((y * 64 + x) / 20) * 0x010203), 128],
    ['noise: raw', tile(64, 64, (x, y) => Math.imul(x * 73856093 ^ y * 19349663, 2654435761) & 0xffffff), 0],
  ])('%s comes back exactly, in the expected sub-encoding', (_n, px, sub) => {
    const e = encode(px, 64, 64);
    expect(e.sub).toBe(sub);
    expect(Array.from(e.decoded)).toEqual(Array.from(px));
  });

  it('any tile comes back exactly and is never larger than raw (property)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 300 }), fc.integer(),
      (w, h, colours, seed) => {
        let s = seed >>> 0;
        const rnd = (): number => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s; };
        const palette = Array.from({ length: colours }, () => rnd() & 0xffffff);
        const px = new Uint32Array(w * h);
        for (let i = 0; i < px.length; ) { const len = 1 + (rnd() % 40); px.fill(palette[rnd() % colours]!, i, i + len); i += len; }
        const e = encode(px, w, h);
        expect(Array.from(e.decoded)).toEqual(Array.from(px));
        expect(e.bytes.length).toBeLessThanOrEqual(1 + w * h * 3);
      },
    ));
  });

  it('a rectangle is cut into 64×64 tiles left to right, top to bottom, edge tiles smaller', () => {
    const w = 150;
    const h = 70;
    const px = tile(w, h, (x, y) => ((x >> 4) ^ (y >> 3)) * 0x030507);
    const bytes = zrleTiles(px, w, h, CP, false);
    const out = new Uint32Array(w * h);
    let p = 0;
    for (let ty = 0; ty < h; ty += 64) {
      for (let tx = 0; tx < w; tx += 64) {
        const tw = Math.min(64, w - tx);
        const th = Math.min(64, h - ty);
        const [t, next] = decodeTile(bytes, p, tw, th);
        p = next;
        for (let y = 0; y < th; y++) out.set(t.subarray(y * tw, y * tw + tw), (ty + y) * w + tx);
      }
    }
    expect(p).toBe(bytes.length);
    expect(Array.from(out)).toEqual(Array.from(px));
  });
});
