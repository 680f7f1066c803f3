/**
 * ZRLE, RFC 6143 §7.7.6: a rectangle cut into 64×64 tiles, each sent as
 * whichever of solid, packed palette, palette RLE, plain RLE or raw is
 * smallest, and all of it through one zlib stream per connection — the
 * viewer keeps a single inflater for the connection's life, so the stream
 * is never reset, only flushed at the end of each rectangle.
 *
 * The tiles are built synchronously from pixel values the caller already
 * took out of the frame; only the deflate runs asynchronously (on libuv's
 * thread pool), on bytes we own.
 */
import { constants, createDeflate, type Deflate } from 'node:zlib';
import type { CpixelLayout } from './pixel-format.ts';
import { writeCpixel } from './pixel-format.ts';

export const ZRLE_TILE = 64;
const MAX_PALETTE = 127;

/** The bytes of one tile's sub-encoding; `out` must hold the worst case (raw) at `at`. Returns the byte count. */
export function encodeTile(px: Uint32Array, width: number, height: number, cp: CpixelLayout, big: boolean, out: Uint8Array, at: number): number {
  const n = width * height;
  // Palette (insertion order) and runs, in one pass.
  const palette = new Map<number, number>();
  let runs = 0;
  let runBytes = 0; // run-length bytes over all runs, for the RLE forms
  let singleRuns = 0;
  for (let i = 0; i < n; ) {
    const v = px[i]!;
    if (palette.size <= MAX_PALETTE && !palette.has(v)) palette.set(v, palette.size);
    let j = i + 1;
    while (j < n && px[j] === v) j++;
    const len = j - i;
    runs++;
    if (len === 1) singleRuns++;
    else runBytes += Math.floor((len - 1) / 255) + 1;
    i = j;
  }
  const colours = palette.size;
  const c = cp.bytes;
  if (colours === 1) {
    out[at] = 1;
    return 1 + writeCpixel(px[0]!, cp, big, out, at + 1);
  }
  const raw = 1 + n * c;
  const plainRle = 1 + runs * c + runBytes + singleRuns; // a plain-RLE run of 1 still needs its length byte
  let best: 'raw' | 'plain' | 'packed' | 'paletteRle' = plainRle < raw ? 'plain' : 'raw';
  let bestSize = Math.min(raw, plainRle);
  let bits = 0;
  if (colours <= 16) {
    bits = colours <= 2 ? 1 : colours <= 4 ? 2 : 4;
    const packed = 1 + colours * c + height * Math.ceil((width * bits) / 8);
    if (packed < bestSize) { best = 'packed'; bestSize = packed; }
  }
  if (colours <= MAX_PALETTE) {
    const paletteRle = 1 + colours * c + runs + runBytes;
    if (paletteRle < bestSize) { best = 'paletteRle'; bestSize = paletteRle; }
  }

  let p = at + 1;
  switch (best) {
    case 'raw':
      out[at] = 0;
      for (let i = 0; i < n; i++) p += writeCpixel(px[i]!, cp, big, out, p);
      return p - at;
    case 'packed': {
      out[at] = colours;
      for (const v of palette.keys()) p += writeCpixel(v, cp, big, out, p);
      // Rows start on a byte boundary; pixels fill each byte from its top bit.
      for (let y = 0; y < height; y++) {
        let acc = 0;
        let filled = 0;
        for (let x = 0; x < width; x++) {
          acc = (acc << bits) | palette.get(px[y * width + x]!)!;
          filled += bits;
          if (filled === 8) { out[p++] = acc; acc = 0; filled = 0; }
        }
        if (filled > 0) out[p++] = acc << (8 - filled);
      }
      return p - at;
    }
    case 'plain':
    case 'paletteRle': {
      const pal = best === 'paletteRle';
      out[at] = pal ? 128 + colours : 128;
      if (pal) for (const v of palette.keys()) p += writeCpixel(v, cp, big, out, p);
      for (let i = 0; i < n; ) {
        const v = px[i]!;
        let j = i + 1;
        while (j < n && px[j] === v) j++;
        const len = j - i;
        if (pal) {
          const index = palette.get(v)!;
          if (len === 1) { out[p++] = index; i = j; continue; }
          out[p++] = index | 128;
        } else {
          p += writeCpixel(v, cp, big, out, p);
        }
        // (len − 1) as bytes of 255 and a last byte below 255.
        let rest = len - 1;
        while (rest >= 255) { out[p++] = 255; rest -= 255; }
        out[p++] = rest;
        i = j;
      }
      return p - at;
    }
  }
}

/**
 * Tile the pixel values of a width×height rectangle (row-major) into the
 * ZRLE byte stream before compression.
 */
export function zrleTiles(values: Uint32Array, width: number, height: number, cp: CpixelLayout, big: boolean): Uint8Array {
  // Worst case per tile is raw: 1 + 64·64·cpixel.
  const tilesX = Math.ceil(width / ZRLE_TILE);
  const tilesY = Math.ceil(height / ZRLE_TILE);
  const out = new Uint8Array(tilesX * tilesY + width * height * cp.bytes);
  const tile = new Uint32Array(ZRLE_TILE * ZRLE_TILE);
  let p = 0;
  for (let ty = 0; ty < height; ty += ZRLE_TILE) {
    const th = Math.min(ZRLE_TILE, height - ty);
    for (let tx = 0; tx < width; tx += ZRLE_TILE) {
      const tw = Math.min(ZRLE_TILE, width - tx);
      let d = 0;
      for (let y = 0; y < th; y++) {
        const row = (ty + y) * width + tx;
        for (let x = 0; x < tw; x++) tile[d++] = values[row + x]!;
      }
      p += encodeTile(tile.subarray(0, tw * th), tw, th, cp, big, out, p);
    }
  }
  return out.subarray(0, p);
}

/**
 * One connection's zlib stream. `compress` calls are serialized by the
 * caller (one update at a time), and each returns exactly the bytes the
 * stream produced for its input up to a sync flush.
 */
export class ZrleStream {
  readonly #deflate: Deflate;
  #chunks: Buffer[] = [];
  #closed = false;

  constructor(level = 6) {
    this.#deflate = createDeflate({ level });
    this.#deflate.on('data', (b: Buffer) => this.#chunks.push(b));
    this.#deflate.on('error', () => { this.#closed = true; });
  }

  compress(data: Uint8Array): Promise<Buffer> {
    if (this.#closed) return Promise.reject(new Error('the ZRLE stream is closed'));
    return new Promise((resolve, reject) => {
      this.#deflate.write(data);
      this.#deflate.flush(constants.Z_SYNC_FLUSH, () => {
        if (this.#closed) { reject(new Error('the ZRLE stream failed')); return; }
        const out = Buffer.concat(this.#chunks);
        this.#chunks = [];
        resolve(out);
      });
    });
  }

  close(): void {
    this.#closed = true;
    this.#deflate.destroy();
  }
}
