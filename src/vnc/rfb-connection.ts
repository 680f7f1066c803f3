/**
 * One viewer's RFB session over any byte stream (a Unix or TCP socket, or
 * the web view's WebSocket): the handshake (RFC 6143 §7.1–7.3, versions
 * 3.3, 3.7 and 3.8), then client messages (§7.5) in, framebuffer updates
 * (§7.6.1) out.
 *
 * Updates follow the viewer's requests, as RFB asks: one update per
 * FramebufferUpdateRequest, sent when the screen has changed since what the
 * viewer holds. A viewer that stops reading stops receiving: no update is
 * built while more than `highWaterBytes` wait to be sent, so what we hold
 * for a slow viewer is bounded by that plus one update, and it skips the
 * frames in between (it catches up from the screen's history, or gets a
 * full frame). Bytes a viewer sends are parsed as they arrive, against a
 * table of message lengths; anything else drops the viewer.
 */
import type { Duplex } from 'node:stream';
import type { Rect } from '../display/damage.ts';
import { logger } from '../util/log.ts';
import { ByteQueue } from './byte-queue.ts';
import { intersect } from './frame-diff.ts';
import {
  colourMapBgr233, cpixelLayout, DEFAULT_PIXEL_FORMAT, pixelConverter, pixelFormatProblem, pixelValues, PIXEL_FORMAT_LENGTH,
  readPixelFormat, writePixelFormat, writePixels, type PixelConverter, type RfbPixelFormat,
} from './pixel-format.ts';
import {
  C2S, CLIENT_MESSAGES, DESKTOP_SIZE_REASON_CLIENT, DESKTOP_SIZE_REASON_SERVER, DESKTOP_SIZE_STATUS_OK, DESKTOP_SIZE_STATUS_PROHIBITED,
  ENCODING, QEMU_EXTENDED_KEY_EVENT, RECT_HEADER_LENGTH, S2C, SECURITY_NONE, SECURITY_RESULT_FAILED, SECURITY_RESULT_OK,
  SECURITY_VNC_AUTH, SERVER_VERSION, UPDATE_HEADER_LENGTH, VERSION_LENGTH, VNC_AUTH_CHALLENGE_LENGTH, writeRectHeader, type RfbVersion,
} from './rfb-wire.ts';
import type { Screen } from './screen.ts';
import { zrleTiles, ZrleStream } from './zrle.ts';

const log = logger('vnc');

/** How a connection authenticates: none (a private Unix socket, the web view's token) or VNC authentication. */
export type RfbAuth =
  | { readonly kind: 'none' }
  | {
      readonly kind: 'vnc';
      readonly challenge: () => Uint8Array;
      readonly verify: (challenge: Uint8Array, response: Uint8Array) => boolean;
    };

/** Where a viewer's keyboard and pointer go (the guest's VMM), or nowhere when the view is view-only. */
export interface RfbInput {
  /** Events reach the guest now. */
  readonly active: boolean;
  /** A key; `keycode` is the Extended Key Event's XT scancode (QEMU numbering), null for a plain KeyEvent. */
  key(down: boolean, keysym: number, keycode: number | null): void;
  /** The pointer at (x, y) of a width×height framebuffer with these buttons down (bit 0 = left). */
  pointer(x: number, y: number, buttons: number, width: number, height: number): void;
  /** The viewer is gone: let go of whatever it holds down. */
  release(): void;
}

export interface RfbConnectionOptions {
  readonly screen: Screen;
  readonly auth: RfbAuth;
  /** The desktop name, asked at ServerInit and again by setDesktopName()'s callers. */
  readonly desktopName: () => string;
  readonly input: RfbInput | null;
  /** Who this is, for logs. */
  readonly peer: string;
  /** Drop a viewer that has not finished the handshake by then. @defaultValue 30000 */
  readonly handshakeTimeoutMs?: number;
  /** No update is built while more than this waits to be sent. @defaultValue 1 MiB */
  readonly highWaterBytes?: number;
  /** A viewer whose unsent bytes exceed this (it sends but never reads) is dropped. @defaultValue 32 MiB */
  readonly maxBacklogBytes?: number;
  readonly onClose?: (reason: string) => void;
}

export interface RfbConnectionStats {
  readonly state: string;
  readonly updates: number;
  readonly rects: number;
  readonly copyRects: number;
  readonly bytesOut: number;
  readonly encoding: 'raw' | 'zrle';
  readonly skippedCutText: number;
}

type State = 'version' | 'security' | 'auth' | 'init' | 'normal' | 'closed';

const DEFAULT_HIGH_WATER = 1024 * 1024;
const DEFAULT_MAX_BACKLOG = 32 * 1024 * 1024;
/** A partial message never needs more than this (the largest, SetEncodings, is 4 + 4·1024 bytes). */
const MAX_PENDING_INPUT = 64 * 1024;

export class RfbConnection {
  readonly #s: Duplex;
  readonly #o: RfbConnectionOptions;
  readonly #in = new ByteQueue();
  readonly #highWater: number;
  readonly #maxBacklog: number;
  #state: State = 'version';
  #version: RfbVersion = 8;
  #challenge: Uint8Array | null = null;
  #timer: NodeJS.Timeout | null;
  #unwatch: (() => void) | null = null;
  #skip = 0; // bytes of a ClientCutText still to discard

  // What the viewer told us.
  #format: RfbPixelFormat = DEFAULT_PIXEL_FORMAT;
  #conv: PixelConverter = pixelConverter(DEFAULT_PIXEL_FORMAT);
  #zrle: ZrleStream | null = null;
  #useZrle = false;
  #copyRect = false;
  #desktopSize = false;
  #extendedDesktopSize = false;
  #extendedKeys = false;
  #desktopNameUpdates = false;

  // What the viewer has.
  #fbWidth = 0;
  #fbHeight = 0;
  #shownVersion = -1;
  #request: { incremental: boolean; rect: Rect } | null = null;
  #forced: Rect | null = null;
  /** A non-incremental request from a viewer that listed ExtendedDesktopSize: its answer carries the layout. */
  #layoutAsked = false;
  #pseudo: Array<(out: Buffer[]) => number> = [];
  #sending = false;

  #updates = 0;
  #rects = 0;
  #copyRects = 0;
  #bytesOut = 0;
  #skippedCutText = 0;

  constructor(stream: Duplex, opts: RfbConnectionOptions) {
    this.#s = stream;
    this.#o = opts;
    this.#highWater = opts.highWaterBytes ?? DEFAULT_HIGH_WATER;
    this.#maxBacklog = opts.maxBacklogBytes ?? DEFAULT_MAX_BACKLOG;
    this.#timer = setTimeout(() => this.close('handshake timeout'), opts.handshakeTimeoutMs ?? 30_000);
    this.#timer.unref?.();
    stream.on('data', (chunk: Buffer) => this.#guard(() => this.#onData(chunk)));
    stream.on('drain', () => this.#guard(() => this.#trySend()));
    stream.on('error', (err: Error) => this.close(`socket error: ${err.message}`));
    stream.on('close', () => this.close('viewer closed the connection'));
    stream.on('end', () => this.close('viewer closed the connection'));
    this.#write(Buffer.from(SERVER_VERSION, 'latin1'));
  }

  get closed(): boolean { return this.#state === 'closed'; }

  stats(): RfbConnectionStats {
    return {
      state: this.#state, updates: this.#updates, rects: this.#rects, copyRects: this.#copyRects,
      bytesOut: this.#bytesOut, encoding: this.#useZrle ? 'zrle' : 'raw', skippedCutText: this.#skippedCutText,
    };
  }

  close(reason: string): void {
    if (this.#state === 'closed') return;
    const wasNormal = this.#state === 'normal';
    this.#state = 'closed';
    if (this.#timer) clearTimeout(this.#timer);
    this.#unwatch?.();
    this.#zrle?.close();
    this.#in.clear();
    if (wasNormal) {
      try { this.#o.input?.release(); } catch { /* the input side logs its own failures */ }
    }
    this.#s.destroy();
    log.debug(`${this.#o.peer}: closed (${reason})`);
    this.#o.onClose?.(reason);
  }

  /** Nothing a viewer sends, and no failure of ours, may escape an event handler: it drops this viewer only. */
  #guard(fn: () => void): void {
    if (this.#state === 'closed') return;
    try {
      fn();
    } catch (err) {
      log.warn(`${this.#o.peer}: dropped: ${err instanceof Error ? err.message : String(err)}`);
      this.close('internal error');
    }
  }

  #write(buf: Buffer): void {
    if (this.#state === 'closed') return;
    this.#bytesOut += buf.length;
    this.#s.write(buf);
    if (this.#s.writableLength > this.#maxBacklog) this.close(`more than ${this.#maxBacklog} bytes unread`);
  }

  #onData(chunk: Buffer): void {
    if (this.#skip > 0) {
      const n = Math.min(this.#skip, chunk.length);
      this.#skip -= n;
      chunk = chunk.subarray(n);
    }
    this.#in.push(chunk);
    while (this.#state !== 'closed' && this.#step()) { /* one message per step */ }
    if (this.#in.length > MAX_PENDING_INPUT) this.close('a client message larger than any RFB defines');
  }

  /** Parse one unit of input if it is all here; false when more bytes are needed. */
  #step(): boolean {
    const q = this.#in;
    switch (this.#state) {
      case 'version': {
        if (q.length < VERSION_LENGTH) return false;
        const m = /^RFB (\d{3})\.(\d{3})\n$/.exec(q.take(VERSION_LENGTH).toString('latin1'));
        if (m === null || Number(m[1]) !== 3) { this.close('not an RFB 3.x client'); return false; }
        // §7.1.1: 3.7 and 3.8 as themselves, later minors as 3.8, anything else as 3.3.
        const minor = Number(m[2]);
        this.#version = minor >= 8 ? 8 : minor === 7 ? 7 : 3;
        this.#offerSecurity();
        return true;
      }
      case 'security': {
        if (q.length < 1) return false;
        const chosen = q.take(1)[0]!;
        const offered = this.#o.auth.kind === 'vnc' ? SECURITY_VNC_AUTH : SECURITY_NONE;
        if (chosen !== offered) { this.#fail(`security type ${chosen} was not offered`); return false; }
        if (chosen === SECURITY_VNC_AUTH) this.#sendChallenge();
        else this.#securityOk();
        return true;
      }
      case 'auth': {
        if (q.length < VNC_AUTH_CHALLENGE_LENGTH) return false;
        const response = Buffer.from(q.take(VNC_AUTH_CHALLENGE_LENGTH));
        const auth = this.#o.auth;
        if (auth.kind !== 'vnc' || !auth.verify(this.#challenge!, response)) {
          log.security('vnc-auth-failed', `${this.#o.peer}: VNC authentication failed`, { peer: this.#o.peer });
          this.#fail('authentication failed');
          return false;
        }
        this.#securityOk(true);
        return true;
      }
      case 'init':
        if (q.length < 1) return false;
        q.skip(1); // shared-flag: every viewer shares the one screen
        this.#serverInit();
        return true;
      case 'normal':
        return this.#message();
      default:
        return false;
    }
  }

  #offerSecurity(): void {
    const type = this.#o.auth.kind === 'vnc' ? SECURITY_VNC_AUTH : SECURITY_NONE;
    if (this.#version === 3) {
      // 3.3: the server decides (§7.1.2).
      const b = Buffer.alloc(4);
      b.writeUInt32BE(type);
      this.#write(b);
      if (type === SECURITY_VNC_AUTH) this.#sendChallenge();
      else this.#enterInit();
      return;
    }
    this.#write(Buffer.from([1, type]));
    this.#state = 'security';
  }

  #sendChallenge(): void {
    const auth = this.#o.auth;
    if (auth.kind !== 'vnc') return;
    this.#challenge = auth.challenge();
    this.#write(Buffer.from(this.#challenge));
    this.#state = 'auth';
  }

  /** SecurityResult OK — sent for None only from 3.8 on (§7.1.3). */
  #securityOk(afterAuth = false): void {
    if (afterAuth || this.#version === 8) {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(SECURITY_RESULT_OK);
      this.#write(b);
    }
    this.#enterInit();
  }

  #enterInit(): void {
    this.#state = 'init';
  }

  /** SecurityResult failed; 3.8 adds the reason (§7.1.3). Then the connection closes. */
  #fail(reason: string): void {
    const parts = [Buffer.alloc(4)];
    parts[0]!.writeUInt32BE(SECURITY_RESULT_FAILED);
    if (this.#version === 8) {
      const text = Buffer.from(reason, 'latin1');
      const len = Buffer.alloc(4);
      len.writeUInt32BE(text.length);
      parts.push(len, text);
    }
    if (this.#state === 'security' || this.#state === 'auth') this.#write(Buffer.concat(parts));
    this.#s.end();
    this.close(reason);
  }

  #serverInit(): void {
    const frame = this.#o.screen.frame;
    this.#fbWidth = frame.width;
    this.#fbHeight = frame.height;
    const name = Buffer.from(this.#o.desktopName(), 'utf8');
    const b = Buffer.alloc(4 + PIXEL_FORMAT_LENGTH + 4 + name.length);
    const v = new DataView(b.buffer, b.byteOffset, b.length);
    v.setUint16(0, frame.width);
    v.setUint16(2, frame.height);
    writePixelFormat(v, 4, DEFAULT_PIXEL_FORMAT);
    v.setUint32(20, name.length);
    name.copy(b, 24);
    this.#write(b);
    this.#state = 'normal';
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#unwatch = this.#o.screen.watch(() => this.#guard(() => this.#trySend()));
  }

  // ---- client messages (§7.5) ----

  #message(): boolean {
    const q = this.#in;
    if (q.length < 1) return false;
    const type = q.peek(1)[0]!;
    const shape = CLIENT_MESSAGES.get(type);
    if (shape === undefined) { this.close(`unknown client message type ${type}`); return false; }
    if (q.length < shape.header) return false;
    const header = q.peek(shape.header);
    const hv = new DataView(header.buffer, header.byteOffset, header.length);
    const extra = shape.variable?.(hv) ?? 0;
    if (extra === null) { this.close(`a ${shape.name} message we do not accept`); return false; }
    if (shape.skipVariable) {
      q.skip(shape.header);
      // Clipboard text is not used: discard it as it comes, however long.
      this.#skippedCutText++;
      const now = Math.min(extra, q.length);
      q.skip(now);
      this.#skip = extra - now;
      return true;
    }
    if (q.length < shape.header + extra) return false;
    const msg = q.take(shape.header + extra);
    this.#handle(type, new DataView(msg.buffer, msg.byteOffset, msg.length));
    return true;
  }

  #handle(type: number, v: DataView): void {
    switch (type) {
      case C2S.SetPixelFormat: {
        const f = readPixelFormat(v, 4);
        const problem = pixelFormatProblem(f);
        if (problem !== null) { this.close(`unsupported pixel format: ${problem}`); return; }
        this.#format = f;
        this.#conv = pixelConverter(f);
        if (!f.trueColour) this.#sendColourMap();
        // What the viewer holds is now in another format: send it all again.
        this.#shownVersion = -1;
        return;
      }
      case C2S.SetEncodings: {
        const n = v.getUint16(2);
        this.#useZrle = false;
        let pixelChosen = false;
        const had = { ext: this.#extendedDesktopSize, keys: this.#extendedKeys };
        this.#copyRect = this.#desktopSize = this.#extendedDesktopSize = this.#extendedKeys = this.#desktopNameUpdates = false;
        for (let i = 0; i < n; i++) {
          const e = v.getInt32(4 + 4 * i);
          // The first pixel encoding we support in the viewer's order is its preference (§7.5.2).
          if (!pixelChosen && (e === ENCODING.ZRLE || e === ENCODING.Raw)) { this.#useZrle = e === ENCODING.ZRLE; pixelChosen = true; }
          if (e === ENCODING.CopyRect) this.#copyRect = true;
          if (e === ENCODING.DesktopSize) this.#desktopSize = true;
          if (e === ENCODING.ExtendedDesktopSize) this.#extendedDesktopSize = true;
          if (e === ENCODING.QemuExtendedKeyEvent) this.#extendedKeys = true;
          if (e === ENCODING.DesktopName) this.#desktopNameUpdates = true;
        }
        if (this.#useZrle && this.#zrle === null) this.#zrle = new ZrleStream();
        // Tell the viewer what it may use from us, as QEMU does: the key extension at once, the screen layout with the next update.
        if (this.#extendedKeys && !had.keys) this.#pseudo.push((out) => this.#pseudoRect(out, 0, 0, 0, 0, ENCODING.QemuExtendedKeyEvent));
        if (this.#extendedDesktopSize && !had.ext) this.#pseudo.push((out) => this.#extendedDesktopSizeRect(out, DESKTOP_SIZE_REASON_SERVER, DESKTOP_SIZE_STATUS_OK));
        this.#trySend(true);
        return;
      }
      case C2S.FramebufferUpdateRequest: {
        const rect = { x: v.getUint16(2), y: v.getUint16(4), width: v.getUint16(6), height: v.getUint16(8) };
        const incremental = v.getUint8(1) !== 0;
        this.#request = { incremental, rect };
        if (!incremental) {
          const clipped = intersect(rect, { x: 0, y: 0, width: this.#fbWidth, height: this.#fbHeight });
          if (clipped) this.#forced = this.#forced ? union(this.#forced, clipped) : clipped;
          // rfbproto ExtendedDesktopSize: "The server must send an ExtendedDesktopSize rectangle in response to a
          // FramebufferUpdateRequest with incremental set to zero" (QEMU does since 6.0, ui/vnc.c).
          if (this.#extendedDesktopSize) this.#layoutAsked = true;
        }
        this.#trySend();
        return;
      }
      case C2S.KeyEvent:
        this.#o.input?.key(v.getUint8(1) !== 0, v.getUint32(4), null);
        return;
      case C2S.PointerEvent:
        this.#o.input?.pointer(v.getUint16(2), v.getUint16(4), v.getUint8(1), this.#fbWidth, this.#fbHeight);
        return;
      case C2S.SetDesktopSize:
        // The guest picks its mode; a viewer cannot resize it.
        this.#pseudo.push((out) => this.#extendedDesktopSizeRect(out, DESKTOP_SIZE_REASON_CLIENT, DESKTOP_SIZE_STATUS_PROHIBITED));
        this.#trySend(true);
        return;
      case C2S.Qemu:
        if (v.getUint8(1) === QEMU_EXTENDED_KEY_EVENT) this.#o.input?.key(v.getUint16(2) !== 0, v.getUint32(4), v.getUint32(8));
        return;
    }
  }

  /**
   * The desktop name changed (QEMU joined or left the QMP socket: input or
   * view-only): viewers that list DesktopName get it with the next update,
   * so their window title says it.
   */
  desktopNameChanged(): void {
    if (this.#state !== 'normal' || !this.#desktopNameUpdates) return;
    this.#pseudo.push((out) => {
      const name = Buffer.from(this.#o.desktopName(), 'utf8');
      const b = Buffer.alloc(RECT_HEADER_LENGTH + 4 + name.length);
      const v = new DataView(b.buffer);
      writeRectHeader(v, 0, 0, 0, 0, 0, ENCODING.DesktopName);
      v.setUint32(RECT_HEADER_LENGTH, name.length);
      name.copy(b, RECT_HEADER_LENGTH + 4);
      out.push(b);
      return 1;
    });
    this.#guard(() => this.#trySend(true));
  }

  #sendColourMap(): void {
    const map = colourMapBgr233();
    const head = Buffer.alloc(6);
    head.writeUInt8(S2C.SetColourMapEntries, 0);
    head.writeUInt16BE(0, 2);
    head.writeUInt16BE(256, 4);
    this.#write(Buffer.concat([head, map]));
  }

  // ---- updates (§7.6.1) ----

  /**
   * Send an update if the viewer asked for one, can take it, and there is
   * something new. `unsolicited` sends pending pseudo-rectangles without a
   * request (the replies QEMU also sends at once).
   */
  #trySend(unsolicited = false): void {
    if (this.#state !== 'normal' || this.#sending) return;
    if (this.#request === null && !(unsolicited && this.#pseudo.length > 0)) return;
    if (this.#s.writableLength > this.#highWater) return; // 'drain' brings us back
    const out: Buffer[] = [];
    let count = 0;
    for (const p of this.#pseudo.splice(0)) count += p(out);
    const pixels = this.#request !== null ? this.#pixelRects(out) : { count: 0, zrle: [] as Array<{ at: number; tiles: Uint8Array }> };
    count += pixels.count;
    if (count === 0) return;
    if (pixels.count > 0) this.#request = null;
    this.#updates++;
    this.#rects += count;
    if (pixels.zrle.length === 0) {
      this.#write(Buffer.concat([updateHeader(count), ...out]));
      return;
    }
    // ZRLE data goes through the connection's zlib stream, in rectangle order.
    this.#sending = true;
    void (async () => {
      for (const z of pixels.zrle) {
        const data = await this.#zrle!.compress(z.tiles);
        const len = Buffer.alloc(4);
        len.writeUInt32BE(data.length);
        out[z.at] = Buffer.concat([len, data]);
      }
      this.#sending = false;
      this.#write(Buffer.concat([updateHeader(count), ...out]));
      this.#guard(() => this.#trySend());
    })().catch((err: unknown) => this.close(`ZRLE failed: ${err instanceof Error ? err.message : String(err)}`));
  }

  /**
   * The pixel rectangles the viewer needs, written into `out` (ZRLE ones as
   * placeholders to fill after compression). Everything is taken from the
   * frame now, synchronously: the screen may change before the bytes leave.
   */
  #pixelRects(out: Buffer[]): { count: number; zrle: Array<{ at: number; tiles: Uint8Array }> } {
    const screen = this.#o.screen;
    const frame = screen.frame;
    const version = screen.version;
    let count = 0;
    const rects: Rect[] = [];
    const full = { x: 0, y: 0, width: frame.width, height: frame.height };
    if (frame.width !== this.#fbWidth || frame.height !== this.#fbHeight) {
      if (this.#extendedDesktopSize || this.#desktopSize) {
        this.#fbWidth = frame.width;
        this.#fbHeight = frame.height;
        count += this.#extendedDesktopSize
          ? this.#extendedDesktopSizeRect(out, DESKTOP_SIZE_REASON_SERVER, DESKTOP_SIZE_STATUS_OK)
          : this.#pseudoRect(out, 0, 0, frame.width, frame.height, ENCODING.DesktopSize);
      }
      // A viewer that cannot follow keeps its size and sees the part that fits.
      rects.push(full);
      this.#forced = null;
    } else {
      if (this.#layoutAsked && this.#extendedDesktopSize) count += this.#extendedDesktopSizeRect(out, DESKTOP_SIZE_REASON_SERVER, DESKTOP_SIZE_STATUS_OK);
      // A requested area that covers the frame (a viewer's first, non-incremental request) is all it needs.
      const forcedAll = this.#forced !== null && covers(this.#forced, full);
      const c = this.#shownVersion < 0 || forcedAll ? { kind: 'full' as const } : screen.catchUp(this.#shownVersion);
      if (c.kind === 'full') { rects.push(full); this.#forced = null; }
      else if (c.kind === 'damage') rects.push(...c.rects);
      else if (c.kind === 'change') {
        const m = c.change.move;
        if (m !== null && this.#copyRect) {
          const h = Buffer.alloc(RECT_HEADER_LENGTH + 4);
          const hv = new DataView(h.buffer);
          writeRectHeader(hv, 0, 0, m.y, frame.width, m.height, ENCODING.CopyRect);
          hv.setUint16(12, 0);
          hv.setUint16(14, m.y + m.dy);
          out.push(h);
          count++;
          this.#copyRects++;
        } else if (m !== null) {
          rects.push({ x: 0, y: m.y, width: frame.width, height: m.height });
        }
        rects.push(...c.change.rects);
      }
      // The rest of a requested area, without repeating what the catch-up already sends whole.
      if (this.#forced && !rects.some((r) => covers(r, this.#forced!))) rects.push(this.#forced);
      this.#forced = null;
    }
    this.#shownVersion = version;
    this.#layoutAsked = false;
    const view = { x: 0, y: 0, width: this.#fbWidth, height: this.#fbHeight };
    const zrle: Array<{ at: number; tiles: Uint8Array }> = [];
    const cp = cpixelLayout(this.#conv.format);
    for (const r0 of rects) {
      const r = intersect(r0, view);
      if (r === null) continue;
      const values = pixelValues(frame, r, this.#conv);
      const h = Buffer.alloc(RECT_HEADER_LENGTH);
      writeRectHeader(new DataView(h.buffer), 0, r.x, r.y, r.width, r.height, this.#useZrle ? ENCODING.ZRLE : ENCODING.Raw);
      out.push(h);
      if (this.#useZrle) {
        zrle.push({ at: out.length, tiles: zrleTiles(values, r.width, r.height, cp, this.#conv.format.bigEndian) });
        out.push(Buffer.alloc(0));
      } else {
        const data = Buffer.allocUnsafe(values.length * this.#conv.bytesPerPixel);
        writePixels(values, this.#conv, data, 0);
        out.push(data);
      }
      count++;
    }
    return { count, zrle };
  }

  #pseudoRect(out: Buffer[], x: number, y: number, w: number, h: number, encoding: number): number {
    const b = Buffer.alloc(RECT_HEADER_LENGTH);
    writeRectHeader(new DataView(b.buffer), 0, x, y, w, h, encoding);
    out.push(b);
    return 1;
  }

  /** ExtendedDesktopSize (rfbproto): x = reason, y = status, the size, then one screen covering it. */
  #extendedDesktopSizeRect(out: Buffer[], reason: number, status: number): number {
    const b = Buffer.alloc(RECT_HEADER_LENGTH + 4 + 16);
    const v = new DataView(b.buffer);
    writeRectHeader(v, 0, reason, status, this.#fbWidth, this.#fbHeight, ENCODING.ExtendedDesktopSize);
    v.setUint8(12, 1); // one screen
    v.setUint32(16, 0); // its id
    v.setUint16(20, 0);
    v.setUint16(22, 0);
    v.setUint16(24, this.#fbWidth);
    v.setUint16(26, this.#fbHeight);
    v.setUint32(28, 0); // flags
    out.push(b);
    return 1;
  }
}

function updateHeader(count: number): Buffer {
  const b = Buffer.alloc(UPDATE_HEADER_LENGTH);
  b.writeUInt8(S2C.FramebufferUpdate, 0);
  b.writeUInt16BE(count, 2);
  return b;
}

/** `a` contains all of `b`. */
function covers(a: Rect, b: Rect): boolean {
  return a.x <= b.x && a.y <= b.y && a.x + a.width >= b.x + b.width && a.y + a.height >= b.y + b.height;
}

function union(a: Rect, b: Rect): Rect {
  const x = Math.min(a.x, b.x);
  const y = Math.min(a.y, b.y);
  return { x, y, width: Math.max(a.x + a.width, b.x + b.width) - x, height: Math.max(a.y + a.height, b.y + b.height) - y };
}
