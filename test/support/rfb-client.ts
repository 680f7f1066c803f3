/**
 * A small RFB viewer for tests, written from RFC 6143 independently of the
 * server's code: handshake (3.3/3.7/3.8, None or VNC authentication),
 * SetPixelFormat/SetEncodings, update requests, and a framebuffer kept as
 * RGBA by decoding Raw, CopyRect, ZRLE (one inflate stream for the
 * connection, §7.7.6) and the size pseudo-encodings. Pixels are decoded
 * for the default 32-bit little-endian xRGB format only, which is what the
 * tests ask for; after a SetPixelFormat to anything else, Raw rectangles
 * keep their bytes (`RfbRect.data`) for the test to check and the
 * framebuffer is left alone. Also kept: colour maps (SetColourMapEntries),
 * the screens of ExtendedDesktopSize and the name of DesktopName.
 *
 * Not test/support/vnc/rfb-wire.ts's reader: a viewer awaits the bytes it needs and decodes pixels, and refuses what it did not ask for; it shares only the tap's encoding table and ExtendedDesktopSize rule.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { constants, createInflate, type Inflate } from 'node:zlib';
import type { Duplex } from 'node:stream';
import { ENCODINGS, extendedDesktopSizeApplies } from './vnc/rfb-wire.ts';

export interface RfbRect {
  x: number;
  y: number;
  width: number;
  height: number;
  encoding: number;
  /** Raw (§7.7.1): the pixel bytes as sent. */
  data?: Buffer;
  /** ExtendedDesktopSize (rfbproto): the screen layout sent with it. */
  screens?: RfbScreen[];
  /** DesktopName (rfbproto): the new name. */
  name?: string;
}
export interface RfbUpdate { rects: RfbRect[] }
export interface RfbScreen { id: number; x: number; y: number; width: number; height: number; flags: number }

/** PIXEL_FORMAT (§7.4), as the client sends it in SetPixelFormat. */
export interface RfbClientPixelFormat {
  bitsPerPixel: number;
  depth: number;
  bigEndian: boolean;
  trueColour: boolean;
  redMax: number;
  greenMax: number;
  blueMax: number;
  redShift: number;
  greenShift: number;
  blueShift: number;
}

/** SetColourMapEntries (§7.6.2): `colours` from index `first` on, u16 per channel. */
export interface RfbColourMap { first: number; colours: Array<[number, number, number]> }

/** The server said no at SecurityResult (§7.1.3); `reason` is what a 3.8 server adds, null before 3.8. */
export class RfbSecurityFailure extends Error {
  constructor(readonly result: number, readonly reason: string | null) {
    super(`security failed${reason !== null ? ': ' + reason : ''}`);
    this.name = 'RfbSecurityFailure';
  }
}

export class RfbTestClient {
  readonly stream: Duplex;
  #chunks: Buffer[] = [];
  #have = 0;
  #wait: (() => void) | null = null;
  #ended = false;
  #inflate: Inflate | null = null;
  width = 0;
  height = 0;
  name = '';
  fb = new Uint8Array(0);
  version = '';
  /** Server messages other than updates, by type. */
  readonly other: number[] = [];
  /** Every SetColourMapEntries received, in order. */
  readonly colourMaps: RfbColourMap[] = [];
  /** Bytes per pixel of the format asked for with setPixelFormat (4 until then). */
  #bytesPerPixel = 4;
  /** Pixels are the default 32-bit little-endian xRGB, which this client decodes. */
  #decodes = true;

  constructor(stream: Duplex) {
    this.stream = stream;
    stream.on('data', (b: Buffer) => { this.#chunks.push(b); this.#have += b.length; this.#wake(); });
    stream.on('close', () => { this.#ended = true; this.#wake(); });
    stream.on('error', () => { this.#ended = true; this.#wake(); });
  }

  static unix(path: string): Promise<RfbTestClient> {
    return RfbTestClient.#open(netConnect(path));
  }

  static tcp(host: string, port: number): Promise<RfbTestClient> {
    return RfbTestClient.#open(netConnect({ host, port }));
  }

  static #open(s: Socket): Promise<RfbTestClient> {
    return new Promise((resolve, reject) => {
      s.once('connect', () => resolve(new RfbTestClient(s)));
      s.once('error', reject);
    });
  }

  get closed(): boolean { return this.#ended; }

  #wake(): void { const w = this.#wait; this.#wait = null; w?.(); }

  /** Exactly n bytes; rejects when the server closes first. */
  async read(n: number): Promise<Buffer> {
    while (this.#have < n) {
      if (this.#ended) throw new Error(`connection closed with ${this.#have} of ${n} bytes`);
      await new Promise<void>((r) => { this.#wait = r; });
    }
    this.#have -= n;
    const first = this.#chunks[0]!;
    if (first.length >= n) {
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.#chunks[0]!;
      const take = Math.min(n - filled, c.length);
      c.copy(out, filled, 0, take);
      filled += take;
      if (take === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(take);
    }
    return out;
  }

  /** Resolves when the server closes the connection. */
  async closedByServer(): Promise<void> {
    while (!this.#ended) await new Promise<void>((r) => { this.#wait = r; });
  }

  send(bytes: Uint8Array | number[]): void {
    this.stream.write(Buffer.from(bytes));
  }

  /** Version, security and init. `respond` answers a VNC challenge. Returns the security type used. */
  async handshake(opts: { version?: string; respond?: (challenge: Buffer) => Uint8Array } = {}): Promise<number> {
    this.version = (await this.read(12)).toString('latin1');
    const version = opts.version ?? 'RFB 003.008\n';
    this.send(Buffer.from(version, 'latin1'));
    const minor = Number(version.slice(8, 11));
    let type: number;
    if (minor < 7) {
      type = (await this.read(4)).readUInt32BE(0);
    } else {
      const n = (await this.read(1))[0]!;
      if (n === 0) throw new Error('server refused: ' + (await this.#reason()));
      const types = [...(await this.read(n))];
      type = types.includes(2) && opts.respond ? 2 : types[0]!;
      this.send([type]);
    }
    if (type === 2) {
      const challenge = await this.read(16);
      if (!opts.respond) throw new Error('the server wants a password');
      this.send(opts.respond(Buffer.from(challenge)));
    }
    if (type === 2 || minor >= 8) {
      const result = (await this.read(4)).readUInt32BE(0);
      if (result !== 0) throw new RfbSecurityFailure(result, minor >= 8 ? await this.#reason() : null);
    }
    this.send([1]); // shared
    const init = await this.read(24);
    this.width = init.readUInt16BE(0);
    this.height = init.readUInt16BE(2);
    this.name = (await this.read(init.readUInt32BE(20))).toString('utf8');
    this.fb = new Uint8Array(this.width * this.height * 4);
    return type;
  }

  async #reason(): Promise<string> {
    const n = (await this.read(4)).readUInt32BE(0);
    return (await this.read(n)).toString('latin1');
  }

  /** SetPixelFormat (§7.5.1). */
  setPixelFormat(f: RfbClientPixelFormat): void {
    const b = Buffer.alloc(20);
    b[0] = 0;
    b[4] = f.bitsPerPixel;
    b[5] = f.depth;
    b[6] = f.bigEndian ? 1 : 0;
    b[7] = f.trueColour ? 1 : 0;
    b.writeUInt16BE(f.redMax, 8);
    b.writeUInt16BE(f.greenMax, 10);
    b.writeUInt16BE(f.blueMax, 12);
    b[14] = f.redShift;
    b[15] = f.greenShift;
    b[16] = f.blueShift;
    this.send(b);
    this.#bytesPerPixel = f.bitsPerPixel / 8;
    this.#decodes = f.bitsPerPixel === 32 && !f.bigEndian && f.trueColour && f.redShift === 16 && f.greenShift === 8 && f.blueShift === 0 &&
      f.redMax === 255 && f.greenMax === 255 && f.blueMax === 255;
  }

  /** SetDesktopSize (rfbproto): ask for a size with one screen covering it. */
  setDesktopSize(width: number, height: number): void {
    const b = Buffer.alloc(8 + 16);
    b[0] = 251;
    b.writeUInt16BE(width, 2);
    b.writeUInt16BE(height, 4);
    b[6] = 1;
    b.writeUInt16BE(width, 16);
    b.writeUInt16BE(height, 18);
    this.send(b);
  }

  setEncodings(encodings: number[]): void {
    const b = Buffer.alloc(4 + 4 * encodings.length);
    b[0] = 2;
    b.writeUInt16BE(encodings.length, 2);
    encodings.forEach((e, i) => b.writeInt32BE(e, 4 + 4 * i));
    this.send(b);
  }

  requestUpdate(incremental: boolean, rect = { x: 0, y: 0, width: this.width, height: this.height }): void {
    const b = Buffer.alloc(10);
    b[0] = 3;
    b[1] = incremental ? 1 : 0;
    b.writeUInt16BE(rect.x, 2);
    b.writeUInt16BE(rect.y, 4);
    b.writeUInt16BE(rect.width, 6);
    b.writeUInt16BE(rect.height, 8);
    this.send(b);
  }

  key(down: boolean, keysym: number): void {
    const b = Buffer.alloc(8);
    b[0] = 4;
    b[1] = down ? 1 : 0;
    b.writeUInt32BE(keysym, 4);
    this.send(b);
  }

  pointer(x: number, y: number, buttons: number): void {
    const b = Buffer.alloc(6);
    b[0] = 5;
    b[1] = buttons;
    b.writeUInt16BE(x, 2);
    b.writeUInt16BE(y, 4);
    this.send(b);
  }

  /** Read server messages until a FramebufferUpdate, apply it, and return its rectangles. */
  async update(): Promise<RfbUpdate> {
    for (;;) {
      const type = (await this.read(1))[0]!;
      if (type === 0) return this.#applyUpdate();
      this.other.push(type);
      if (type === 1) {
        const h = await this.read(5);
        const n = h.readUInt16BE(3);
        const entries = await this.read(6 * n);
        const colours = Array.from({ length: n }, (_, i): [number, number, number] =>
          [entries.readUInt16BE(6 * i), entries.readUInt16BE(6 * i + 2), entries.readUInt16BE(6 * i + 4)]);
        this.colourMaps.push({ first: h.readUInt16BE(1), colours });
      }
      else if (type === 2) { /* bell */ }
      else if (type === 3) { const h = await this.read(7); await this.read(h.readUInt32BE(3)); }
      else throw new Error(`unknown server message ${type}`);
    }
  }

  async #applyUpdate(): Promise<RfbUpdate> {
    const count = (await this.read(3)).readUInt16BE(1);
    const rects: RfbRect[] = [];
    for (let i = 0; i < count; i++) {
      const h = await this.read(12);
      const r: RfbRect = { x: h.readUInt16BE(0), y: h.readUInt16BE(2), width: h.readUInt16BE(4), height: h.readUInt16BE(6), encoding: h.readInt32BE(8) };
      rects.push(r);
      switch (r.encoding) {
        case ENCODINGS.Raw: {
          r.data = Buffer.from(await this.read(r.width * r.height * this.#bytesPerPixel));
          if (this.#decodes) this.#put(r, r.data, 4);
          break;
        }
        case ENCODINGS.CopyRect: { const s = await this.read(4); this.#copy(r, s.readUInt16BE(0), s.readUInt16BE(2)); break; }
        case ENCODINGS.ZRLE: {
          if (!this.#decodes) throw new Error('this test client decodes ZRLE in the default pixel format only');
          await this.#zrle(r);
          break;
        }
        case ENCODINGS.DesktopSize: this.#resize(r.width, r.height); break;
        case ENCODINGS.DesktopName: { r.name = (await this.read((await this.read(4)).readUInt32BE(0))).toString('utf8'); this.name = r.name; break; }
        case ENCODINGS.ExtendedDesktopSize: {
          const n = (await this.read(4))[0]!;
          const s = await this.read(16 * n);
          r.screens = Array.from({ length: n }, (_, i) => ({
            id: s.readUInt32BE(16 * i), x: s.readUInt16BE(16 * i + 4), y: s.readUInt16BE(16 * i + 6),
            width: s.readUInt16BE(16 * i + 8), height: s.readUInt16BE(16 * i + 10), flags: s.readUInt32BE(16 * i + 12),
          }));
          if (extendedDesktopSizeApplies(r.x, r.y)) this.#resize(r.width, r.height);
          break;
        }
        case ENCODINGS.QEMUExtendedKeyEvent: break;
        default: throw new Error(`unexpected encoding ${r.encoding}`);
      }
    }
    return { rects };
  }

  /** A new framebuffer size; the same size again keeps what the viewer holds. */
  #resize(w: number, h: number): void {
    if (w === this.width && h === this.height) return;
    this.width = w;
    this.height = h;
    this.fb = new Uint8Array(w * h * 4);
  }

  /** Pixels (B, G, R, x little-endian, or the 3-byte CPIXEL) → RGBA. */
  #put(r: { x: number; y: number; width: number; height: number }, px: Uint8Array, bpp: number): void {
    for (let y = 0; y < r.height; y++) {
      for (let x = 0; x < r.width; x++) {
        const s = (y * r.width + x) * bpp;
        const d = ((r.y + y) * this.width + r.x + x) * 4;
        this.fb[d] = px[s + 2]!; this.fb[d + 1] = px[s + 1]!; this.fb[d + 2] = px[s]!; this.fb[d + 3] = 255;
      }
    }
  }

  #copy(r: RfbRect, sx: number, sy: number): void {
    // Copy as if from a snapshot: the source may overlap the destination.
    const rows: Uint8Array[] = [];
    for (let y = 0; y < r.height; y++) {
      const from = ((sy + y) * this.width + sx) * 4;
      rows.push(this.fb.slice(from, from + r.width * 4));
    }
    rows.forEach((row, y) => this.fb.set(row, ((r.y + y) * this.width + r.x) * 4));
  }

  async #zrle(r: RfbRect): Promise<void> {
    const len = (await this.read(4)).readUInt32BE(0);
    const data = await this.read(len);
    this.#inflate ??= createInflate();
    const inf = this.#inflate;
    const chunks: Buffer[] = [];
    const onData = (b: Buffer): void => { chunks.push(b); };
    inf.on('data', onData);
    await new Promise<void>((resolve) => { inf.write(data); inf.flush(constants.Z_SYNC_FLUSH, () => resolve()); });
    inf.off('data', onData);
    const raw = Buffer.concat(chunks);
    let p = 0;
    const cp = 3;
    const pixel = (): Uint8Array => { const v = raw.subarray(p, p + cp); p += cp; return v; };
    for (let ty = 0; ty < r.height; ty += 64) {
      for (let tx = 0; tx < r.width; tx += 64) {
        const tw = Math.min(64, r.width - tx);
        const th = Math.min(64, r.height - ty);
        const n = tw * th;
        const tile = new Uint8Array(n * cp);
        const sub = raw[p++]!;
        if (sub === 0) { for (let i = 0; i < n; i++) tile.set(pixel(), i * cp); }
        else if (sub === 1) { const c = pixel(); for (let i = 0; i < n; i++) tile.set(c, i * cp); }
        else if (sub <= 16) {
          const pal = Array.from({ length: sub }, pixel);
          const bits = sub <= 2 ? 1 : sub <= 4 ? 2 : 4;
          for (let y = 0; y < th; y++) {
            let byte = 0; let left = 0;
            for (let x = 0; x < tw; x++) {
              if (left === 0) { byte = raw[p++]!; left = 8; }
              left -= bits;
              tile.set(pal[(byte >> left) & ((1 << bits) - 1)]!, (y * tw + x) * cp);
            }
          }
        } else if (sub >= 128) {
          const pal = sub === 128 ? null : Array.from({ length: sub - 128 }, pixel);
          let i = 0;
          while (i < n) {
            let c: Uint8Array;
            let len = 1;
            if (pal === null) { c = pixel(); len = runLength(); }
            else { const idx = raw[p++]!; c = pal[idx & 127]!; if (idx & 128) len = runLength(); }
            for (let k = 0; k < len; k++) tile.set(c, (i + k) * cp);
            i += len;
          }
        } else throw new Error(`ZRLE sub-encoding ${sub} is not defined`);
        this.#put({ x: r.x + tx, y: r.y + ty, width: tw, height: th }, tile, cp);
      }
    }
    function runLength(): number {
      let len = 1;
      for (;;) { const b = raw[p++]!; len += b; if (b !== 255) return len; }
    }
  }

  close(): void {
    this.stream.destroy();
    this.#inflate?.close();
  }
}
