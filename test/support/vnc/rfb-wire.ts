/**
 * A passive reader of both directions of one RFB session (RFC 6143), for
 * learning what a real viewer and a server agreed on: the encodings the
 * client asked for, the encoding of every rectangle the server sent, the
 * framebuffer size after each DesktopSize. TigerVNC 1.12 logs none of that
 * (the encoding appears only in its F8 "Connection info" dialog), so the
 * harness puts this reader on the wire instead.
 *
 * It never answers or alters anything: the tap forwards bytes untouched and
 * feeds copies here. What it cannot follow (an encrypted security type, an
 * encoding it does not know, a pixel format change mid-session) stops the
 * reading with `stopped` saying why; forwarding goes on.
 *
 * Decisions that depend on the other direction (the version, the security
 * type) are taken only when the bytes that depend on them have arrived, by
 * which time the other direction's bytes have been read: the peer sent them
 * first, and the tap reads each chunk before the reply to it can arrive.
 *
 * Not test/support/rfb-client.ts's parser: a tap must follow whatever a real viewer negotiates without ever blocking or answering, so it frames every known encoding and decodes no pixels.
 */

/** RFB encoding numbers (RFC 6143 §7.7-7.8 and the community registry) by the names this module reports. */
export const ENCODINGS = {
  Raw: 0,
  CopyRect: 1,
  RRE: 2,
  CoRRE: 4,
  Hextile: 5,
  Zlib: 6,
  Tight: 7,
  ZRLE: 16,
  TightPNG: -260,
  DesktopSize: -223,
  LastRect: -224,
  Cursor: -239,
  XCursor: -240,
  PointerTypeChange: -257,
  QEMUExtendedKeyEvent: -258,
  QEMUAudio: -259,
  LEDState: -261,
  DesktopName: -307,
  ExtendedDesktopSize: -308,
  Fence: -312,
  ContinuousUpdates: -313,
  CursorWithAlpha: -314,
  VMwareCursor: 0x574d5664,
  VMwareCursorPosition: 0x574d5666,
  VMwareLEDState: 0x574d5668,
  ExtendedClipboard: 0xc0a1e5ce | 0,
} as const;
export type EncodingName = keyof typeof ENCODINGS;

const NAMES = new Map<number, string>(Object.entries(ENCODINGS).map(([k, v]) => [v, k]));

/** The name of an encoding number: ours, a quality/compress level, or the number itself. */
export function encodingName(n: number): string {
  const known = NAMES.get(n);
  if (known !== undefined) return known;
  if (n >= -32 && n <= -23) return `QualityLevel${n + 32}`;
  if (n >= -256 && n <= -247) return `CompressLevel${n + 256}`;
  if (n >= -512 && n <= -412) return `FineQualityLevel${n + 512}`;
  if (n >= -768 && n <= -763) return `Subsampling${n + 768}`;
  return String(n);
}

/**
 * Whether an ExtendedDesktopSize rectangle changes the framebuffer size:
 * every one does but the answer to a request of this client's own
 * (x, the reason, is 1) whose status (y) is not 0 ("ExtendedDesktopSize
 * Pseudo-encoding" in the community RFB spec, rfbproto.rst).
 */
export function extendedDesktopSizeApplies(reason: number, status: number): boolean {
  return reason !== 1 || status === 0;
}

/** Encodings that carry pixels of the framebuffer (the rest are pseudo-encodings). */
const PIXEL_ENCODINGS: ReadonlySet<number> = new Set([0, 1, 2, 4, 5, 6, 7, 16, -260]);

/** Whether `n` is an encoding of framebuffer pixels rather than a pseudo-encoding. */
export function isPixelEncoding(n: number): boolean {
  return PIXEL_ENCODINGS.has(n);
}

export interface WirePixelFormat {
  readonly bitsPerPixel: number;
  readonly depth: number;
  readonly bigEndian: boolean;
  readonly trueColour: boolean;
  readonly redMax: number;
  readonly greenMax: number;
  readonly blueMax: number;
  readonly redShift: number;
  readonly greenShift: number;
  readonly blueShift: number;
}

/** One rectangle header of a FramebufferUpdate. */
export interface WireRect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  readonly encoding: number;
}

/** One FramebufferUpdate as the server sent it. */
export interface WireUpdate {
  /** Its rectangles, in order (pseudo-encodings included). */
  readonly rects: readonly WireRect[];
  /** The framebuffer size once it was applied. */
  readonly width: number;
  readonly height: number;
}

/** What the reader learnt so far. Mutable by the reader only. */
export interface WireState {
  /** The version the client chose, e.g. "3.8". */
  version?: string;
  securityType?: number;
  securityResult?: number;
  desktopName?: string;
  width?: number;
  height?: number;
  /** The format pixels arrive in: the server's until the client's SetPixelFormat. */
  pixelFormat?: WirePixelFormat;
  /** The client's last SetEncodings list, in its order of preference. */
  clientEncodings: number[];
  /** FramebufferUpdateRequests the client sent. */
  updateRequests: number;
  /** Completed FramebufferUpdates, oldest first (at most MAX_KEPT_UPDATES are kept; `updateCount` counts all). */
  updates: WireUpdate[];
  updateCount: number;
  /** Rectangles per encoding number, over the whole session. */
  rectCounts: Map<number, number>;
  /** The encoding of the last pixel rectangle other than CopyRect (TigerVNC's "Last used encoding"). */
  lastEncoding?: number;
  /** Why reading stopped, when it did. */
  stopped?: string;
}

export const MAX_KEPT_UPDATES = 1000;
/** Largest field read into memory (desktop names, encoding lists); anything bigger is skipped or refused. */
export const MAX_READ_BYTES = 1024 * 1024;

type Need = { readonly read: number } | { readonly skip: number } | { readonly peek: true };
type Reader = Generator<Need, void, Uint8Array>;

/** Feeds chunks of one direction to a generator that asks for bytes to read, skip or peek at. */
class StreamReader {
  #gen: Reader;
  #need: Need | undefined;
  #buf: Uint8Array[] = [];
  #buffered = 0;
  #done = false;

  constructor(gen: Reader, private readonly fail: (why: string) => void) {
    this.#gen = gen;
    this.#advance(new Uint8Array(0));
  }

  push(chunk: Uint8Array): void {
    if (this.#done) return;
    this.#buf.push(chunk);
    this.#buffered += chunk.byteLength;
    try {
      while (!this.#done && this.#need !== undefined) {
        const need: Need = this.#need;
        if ('peek' in need) {
          if (this.#buffered === 0) return;
          this.#advance(new Uint8Array(0));
        } else if ('skip' in need) {
          const n = Math.min(need.skip, this.#buffered);
          this.#take(n, false);
          if (n < need.skip) { this.#need = { skip: need.skip - n }; return; }
          this.#advance(new Uint8Array(0));
        } else {
          if (this.#buffered < need.read) return;
          this.#advance(this.#take(need.read, true)!);
        }
      }
    } catch (err) {
      this.stop(err instanceof Error ? err.message : String(err));
    }
  }

  stop(why: string): void {
    if (this.#done) return;
    this.#done = true;
    this.#buf = [];
    this.fail(why);
  }

  #advance(value: Uint8Array): void {
    const r = this.#gen.next(value);
    if (r.done) { this.#done = true; this.#need = undefined; return; }
    const need = r.value;
    if ('read' in need && (need.read < 0 || need.read > MAX_READ_BYTES)) throw new Error(`a field of ${need.read} bytes is beyond the reader's limit`);
    this.#need = need;
  }

  #take(n: number, keep: boolean): Uint8Array | undefined {
    const out = keep ? new Uint8Array(n) : undefined;
    let off = 0;
    while (off < n) {
      const head = this.#buf[0]!;
      const k = Math.min(n - off, head.byteLength);
      out?.set(head.subarray(0, k), off);
      off += k;
      if (k === head.byteLength) this.#buf.shift();
      else this.#buf[0] = head.subarray(k);
    }
    this.#buffered -= n;
    return out;
  }
}

const u16 = (b: Uint8Array, o = 0): number => (b[o]! << 8) | b[o + 1]!;
const u32 = (b: Uint8Array, o = 0): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
const s32 = (b: Uint8Array, o = 0): number => u32(b, o) | 0;

function parsePixelFormat(b: Uint8Array, o: number): WirePixelFormat {
  return {
    bitsPerPixel: b[o]!, depth: b[o + 1]!, bigEndian: b[o + 2] !== 0, trueColour: b[o + 3] !== 0,
    redMax: u16(b, o + 4), greenMax: u16(b, o + 6), blueMax: u16(b, o + 8),
    redShift: b[o + 10]!, greenShift: b[o + 11]!, blueShift: b[o + 12]!,
  };
}

const SECURITY_NONE = 1;
const SECURITY_VNC_AUTH = 2;

/** Reads one RFB session; call client()/server() with each chunk going that way. */
export class RfbWireReader {
  readonly state: WireState = { clientEncodings: [], updateRequests: 0, updates: [], updateCount: 0, rectCounts: new Map() };
  readonly #client: StreamReader;
  readonly #server: StreamReader;
  readonly #onChange: () => void;

  /** `onChange` runs after every completed update, size change, and when reading stops. */
  constructor(onChange: () => void = () => {}) {
    this.#onChange = onChange;
    const stop = (side: string) => (why: string): void => {
      if (this.state.stopped === undefined) {
        this.state.stopped = `${side}: ${why}`;
        // One direction alone is no use once the other is lost.
        this.#client?.stop(why);
        this.#server?.stop(why);
        this.#onChange();
      }
    };
    this.#client = new StreamReader(this.#readClient(), stop('client'));
    this.#server = new StreamReader(this.#readServer(), stop('server'));
  }

  /** Bytes the client sent. */
  client(chunk: Uint8Array): void {
    this.#client.push(chunk);
  }

  /** Bytes the server sent. */
  server(chunk: Uint8Array): void {
    this.#server.push(chunk);
  }

  *#readVersion(): Generator<Need, string, Uint8Array> {
    const v = new TextDecoder().decode(yield { read: 12 });
    const m = /^RFB (\d{3})\.(\d{3})\n$/.exec(v);
    if (!m) throw new Error(`version message ${JSON.stringify(v)} is not "RFB xxx.yyy\\n"`);
    return `${Number(m[1])}.${Number(m[2])}`;
  }

  *#readClient(): Reader {
    const s = this.state;
    s.version = yield* this.#readVersion();
    if (s.version !== '3.3') s.securityType = (yield { read: 1 })[0]!;
    else yield { peek: true }; // 3.3: the server chose the type, and has said so by now
    if (s.securityType === SECURITY_VNC_AUTH) yield { skip: 16 };
    else if (s.securityType !== SECURITY_NONE) throw new Error(`security type ${s.securityType} cannot be followed (only None and VncAuth)`);
    yield { skip: 1 }; // ClientInit: shared flag
    for (;;) {
      const type = (yield { read: 1 })[0]!;
      switch (type) {
        case 0: { // SetPixelFormat
          const b = yield { read: 19 };
          // Updates already on their way would use the old format, and the
          // reader cannot tell which ones those are (TigerVNC with
          // AutoSelect=0 sends its format once, before its first request).
          if (s.updateRequests > 0) throw new Error('the client changed its pixel format mid-session');
          s.pixelFormat = parsePixelFormat(b, 3);
          break;
        }
        case 2: { // SetEncodings
          const n = u16(yield { read: 3 }, 1);
          const list = yield { read: 4 * n };
          s.clientEncodings = Array.from({ length: n }, (_, i) => s32(list, 4 * i));
          break;
        }
        case 3: yield { skip: 9 }; s.updateRequests++; break;
        case 4: yield { skip: 7 }; break; // KeyEvent
        case 5: yield { skip: 5 }; break; // PointerEvent
        case 6: yield { skip: Math.abs(s32(yield { read: 7 }, 3)) }; break; // ClientCutText (negative: extended clipboard)
        case 150: yield { skip: 9 }; break; // EnableContinuousUpdates
        case 248: yield { skip: (yield { read: 8 })[7]! }; break; // Fence
        case 251: yield { skip: 16 * (yield { read: 7 })[5]! }; break; // SetDesktopSize
        case 255: { // QEMU client message
          const sub = (yield { read: 1 })[0]!;
          if (sub === 0) yield { skip: 10 }; // extended key event
          else if (sub === 1) { if (u16(yield { read: 2 }) === 2) yield { skip: 6 }; } // audio; 2 = set format
          else throw new Error(`QEMU client message subtype ${sub} is unknown`);
          break;
        }
        default: throw new Error(`client message type ${type} is unknown`);
      }
    }
  }

  *#readServer(): Reader {
    const s = this.state;
    yield* this.#readVersion();
    yield { peek: true }; // the client's version decides what follows
    if (s.version === '3.3') {
      s.securityType = u32(yield { read: 4 });
      if (s.securityType === 0) throw new Error('the server refused the connection');
    } else {
      const n = (yield { read: 1 })[0]!;
      if (n === 0) throw new Error('the server offered no security type');
      yield { skip: n };
      yield { peek: true }; // the client has chosen by now
    }
    if (s.securityType === SECURITY_VNC_AUTH) yield { skip: 16 }; // challenge
    else if (s.securityType !== SECURITY_NONE) throw new Error(`security type ${s.securityType} cannot be followed (only None and VncAuth)`);
    if (s.securityType === SECURITY_VNC_AUTH || s.version === '3.8') {
      s.securityResult = u32(yield { read: 4 });
      if (s.securityResult !== 0) throw new Error(`authentication failed (SecurityResult ${s.securityResult})`);
    }
    const init = yield { read: 24 };
    s.width = u16(init, 0);
    s.height = u16(init, 2);
    s.pixelFormat ??= parsePixelFormat(init, 4);
    s.desktopName = new TextDecoder().decode(yield { read: u32(init, 20) });
    this.#onChange();
    for (;;) {
      const type = (yield { read: 1 })[0]!;
      switch (type) {
        case 0: yield* this.#readUpdate(); break;
        case 1: yield { skip: 6 * u16(yield { read: 5 }, 3) }; break; // SetColourMapEntries
        case 2: break; // Bell
        case 3: yield { skip: Math.abs(s32(yield { read: 7 }, 3)) }; break; // ServerCutText
        case 150: break; // EndOfContinuousUpdates
        case 248: yield { skip: (yield { read: 8 })[7]! }; break; // Fence
        case 255: { // QEMU server message: audio
          const sub = (yield { read: 1 })[0]!;
          if (sub !== 1) throw new Error(`QEMU server message subtype ${sub} is unknown`);
          if (u16(yield { read: 2 }) === 2) yield { skip: u32(yield { read: 4 }) };
          break;
        }
        default: throw new Error(`server message type ${type} is unknown`);
      }
    }
  }

  *#readUpdate(): Reader {
    const s = this.state;
    const count = u16(yield { read: 3 }, 1);
    const rects: WireRect[] = [];
    for (let i = 0; i < count; i++) {
      const h = yield { read: 12 };
      const [x, y, w, hh, enc] = [u16(h, 0), u16(h, 2), u16(h, 4), u16(h, 6), s32(h, 8)];
      rects.push({ x, y, width: w, height: hh, encoding: enc });
      s.rectCounts.set(enc, (s.rectCounts.get(enc) ?? 0) + 1);
      if (PIXEL_ENCODINGS.has(enc) && enc !== ENCODINGS.CopyRect) s.lastEncoding = enc;
      if (enc === ENCODINGS.LastRect) break;
      yield* this.#readRect(enc, x, y, w, hh);
    }
    s.updates.push({ rects, width: s.width!, height: s.height! });
    if (s.updates.length > MAX_KEPT_UPDATES) s.updates.shift();
    s.updateCount++;
    this.#onChange();
  }

  *#readRect(enc: number, x: number, y: number, w: number, h: number): Reader {
    const s = this.state;
    const pf = s.pixelFormat!;
    const bpp = pf.bitsPerPixel / 8;
    switch (enc) {
      case ENCODINGS.Raw: yield { skip: w * h * bpp }; return;
      case ENCODINGS.CopyRect: yield { skip: 4 }; return;
      case ENCODINGS.RRE: yield { skip: bpp + u32(yield { read: 4 }) * (bpp + 8) }; return;
      case ENCODINGS.CoRRE: yield { skip: bpp + u32(yield { read: 4 }) * (bpp + 4) }; return;
      case ENCODINGS.Hextile: yield* this.#readHextile(w, h, bpp); return;
      case ENCODINGS.Zlib:
      case ENCODINGS.ZRLE: yield { skip: u32(yield { read: 4 }) }; return;
      case ENCODINGS.Tight:
      case ENCODINGS.TightPNG: yield* this.#readTight(w, h, pf); return;
      case ENCODINGS.DesktopSize: s.width = w; s.height = h; return;
      case ENCODINGS.ExtendedDesktopSize: {
        const screens = (yield { read: 4 })[0]!;
        yield { skip: 16 * screens };
        if (extendedDesktopSizeApplies(x, y)) { s.width = w; s.height = h; }
        return;
      }
      case ENCODINGS.Cursor: yield { skip: w * h * bpp + Math.ceil(w / 8) * h }; return;
      case ENCODINGS.XCursor: if (w * h > 0) yield { skip: 6 + 2 * Math.ceil(w / 8) * h }; return;
      case ENCODINGS.CursorWithAlpha: {
        const inner = s32(yield { read: 4 });
        if (inner !== ENCODINGS.Raw) throw new Error(`a CursorWithAlpha in encoding ${encodingName(inner)} cannot be followed`);
        yield { skip: w * h * 4 };
        return;
      }
      case ENCODINGS.VMwareCursor: {
        const kind = (yield { read: 2 })[0]!;
        yield { skip: kind === 0 ? 2 * w * h * bpp : w * h * 4 };
        return;
      }
      case ENCODINGS.LEDState: yield { skip: 1 }; return;
      case ENCODINGS.VMwareLEDState: yield { skip: 4 }; return;
      case ENCODINGS.DesktopName: s.desktopName = new TextDecoder().decode(yield { read: u32(yield { read: 4 }) }); return;
      case ENCODINGS.VMwareCursorPosition:
      case ENCODINGS.PointerTypeChange:
      case ENCODINGS.QEMUExtendedKeyEvent:
      case ENCODINGS.QEMUAudio:
      case ENCODINGS.Fence:
      case ENCODINGS.ContinuousUpdates:
        return;
      default: throw new Error(`rectangle encoding ${encodingName(enc)} at (${x},${y}) is unknown`);
    }
  }

  /** RFC 6143 §7.7.4: 16x16 tiles, each a subencoding byte and what it announces. */
  *#readHextile(w: number, h: number, bpp: number): Reader {
    for (let ty = 0; ty < h; ty += 16) {
      for (let tx = 0; tx < w; tx += 16) {
        const tw = Math.min(16, w - tx);
        const th = Math.min(16, h - ty);
        const sub = (yield { read: 1 })[0]!;
        if (sub & 1) { yield { skip: tw * th * bpp }; continue; } // Raw
        const fixed = (sub & 2 ? bpp : 0) + (sub & 4 ? bpp : 0);
        if (fixed > 0) yield { skip: fixed };
        if (sub & 8) {
          const n = (yield { read: 1 })[0]!;
          yield { skip: n * ((sub & 16 ? bpp : 0) + 2) };
        }
      }
    }
  }

  /**
   * Tight (the community RFB spec, "Tight Encoding"): a compression-control
   * byte, then a fill colour, a JPEG or PNG with a compact length, or basic
   * compression (optional filter, data under 12 bytes raw, else a compact
   * length and zlib data).
   */
  *#readTight(w: number, h: number, pf: WirePixelFormat): Reader {
    // TPIXEL: 3 bytes when the format is 32-bit true colour with depth 24 and 8-bit channels.
    const tpixel = pf.bitsPerPixel === 32 && pf.depth === 24 && pf.trueColour && pf.redMax === 255 && pf.greenMax === 255 && pf.blueMax === 255
      ? 3 : pf.bitsPerPixel / 8;
    const control = (yield { read: 1 })[0]!;
    const kind = control >> 4;
    if (kind === 8) { yield { skip: tpixel }; return; } // fill
    if (kind === 9 || kind === 10) { yield { skip: yield* this.#compactLength() }; return; } // JPEG, PNG
    if (kind > 10) throw new Error(`Tight compression control 0x${control.toString(16)} is unknown`);
    const filter = control & 0x40 ? (yield { read: 1 })[0]! : 0;
    let size: number;
    if (filter === 0 || filter === 2) size = w * h * tpixel; // copy, gradient
    else if (filter === 1) { // palette
      const colours = (yield { read: 1 })[0]! + 1;
      yield { skip: colours * tpixel };
      size = (colours === 2 ? Math.ceil(w / 8) : w) * h;
    } else throw new Error(`Tight filter ${filter} is unknown`);
    yield { skip: size < 12 ? size : yield* this.#compactLength() };
  }

  *#compactLength(): Generator<Need, number, Uint8Array> {
    const b0 = (yield { read: 1 })[0]!;
    let len = b0 & 0x7f;
    if (b0 & 0x80) {
      const b1 = (yield { read: 1 })[0]!;
      len |= (b1 & 0x7f) << 7;
      if (b1 & 0x80) len |= (yield { read: 1 })[0]! << 14;
    }
    return len;
  }
}
