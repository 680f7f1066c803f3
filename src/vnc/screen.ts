/**
 * One device's screen as the RFB server sees it: the current frame (the
 * guest's plane as RGBA, or a placeholder saying why there is none), its
 * version, and a short history of what changed between versions, so each
 * viewer catches up from wherever it is — one version behind gets the exact
 * change (a row move as CopyRect, then the rest), further behind gets the
 * union of the damage, too far behind gets the whole frame.
 *
 * The display is read only while someone watches, every `pollMs`, the way
 * a VMM reads it (plane-source.ts). An unchanged plane costs one native
 * compare of its bytes with the copy kept from the last read; conversion
 * and damage run only when they differ.
 */
import type { Rect } from '../display/damage.ts';
import type { DisplayState } from '../display/no-plane.ts';
import { planeLayout, planeToRgba, type RgbaImage } from '../display/pixels.ts';
import { PLACEHOLDER_SIZE, renderPlaceholder } from '../display/placeholder.ts';
import { logger } from '../util/log.ts';
import { damage } from '../display/damage.ts';
import { findRowMove, FrameRows, mergeRects, type RowMove } from './frame-diff.ts';

const log = logger('vnc');

/** Reads the display and hands its state to `use` while the plane's bytes are valid (plane-source.ts readDisplay). */
export type DisplayReader = <T>(use: (state: DisplayState) => T) => T;

export interface ScreenChange {
  /** The version this change produces. */
  readonly version: number;
  /** The frame's size changed: nothing of the previous frame carries over. */
  readonly resized: boolean;
  /** Rows that moved; applied before `rects`. */
  readonly move: RowMove | null;
  /** What changed besides the move (or everything, when resized). */
  readonly rects: readonly Rect[];
}

/** What a viewer at some version needs to reach the current one. */
export type CatchUp =
  | { readonly kind: 'current' }
  | { readonly kind: 'change'; readonly change: ScreenChange }
  | { readonly kind: 'damage'; readonly rects: readonly Rect[]; readonly resized: boolean }
  | { readonly kind: 'full' };

export interface ScreenOptions {
  /** Shown on the placeholder. */
  readonly name: string;
  readonly read: DisplayReader;
  /** @defaultValue 40 */
  readonly pollMs?: number;
  /** Changes kept for viewers that fall behind. @defaultValue 16 */
  readonly history?: number;
  /** Most rectangles a change holds; more bands are merged. @defaultValue 24 */
  readonly maxRects?: number;
}

interface Geometry { width: number; height: number; stride: number; drmFormat: number; offset: number }

export class Screen {
  readonly name: string;
  readonly #read: DisplayReader;
  readonly #pollMs: number;
  readonly #historyLength: number;
  readonly #maxRects: number;
  readonly #listeners = new Set<() => void>();
  #timer: NodeJS.Timeout | null = null;

  #version = 0;
  #frame: FrameRows | null = null;
  #spare: Uint8Array | null = null;
  #none: { reason: string; message: string } | null = null;
  /** The plane bytes of the last read, and where they sat. */
  #raw: Buffer | null = null;
  #geometry: Geometry | null = null;
  #history: ScreenChange[] = [];
  #polls = 0;
  #converted = 0;

  constructor(opts: ScreenOptions) {
    this.name = opts.name;
    this.#read = opts.read;
    this.#pollMs = opts.pollMs ?? 40;
    this.#historyLength = opts.history ?? 16;
    this.#maxRects = opts.maxRects ?? 24;
  }

  get version(): number { return this.#version; }
  /** The current frame; reads the display first if it never was. */
  get frame(): RgbaImage {
    if (this.#frame === null) this.poll();
    return this.#frame!.image;
  }
  /** Why there is no plane, or null while the guest's plane is shown. */
  get none(): { readonly reason: string; readonly message: string } | null { return this.#none; }
  stats(): { polls: number; converted: number; version: number; watchers: number } {
    return { polls: this.#polls, converted: this.#converted, version: this.#version, watchers: this.#listeners.size };
  }

  /** Call `listener` after each poll that changed the frame; polling runs while anyone listens. */
  watch(listener: () => void): () => void {
    this.#listeners.add(listener);
    if (this.#timer === null) this.#schedule();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#stop();
    };
  }

  /** Stop polling and forget the frames (no one watches). */
  close(): void {
    this.#listeners.clear();
    this.#stop();
  }

  /** What a viewer that has `version` needs. */
  catchUp(version: number): CatchUp {
    if (version === this.#version) return { kind: 'current' };
    const h = this.#history;
    const first = h.length > 0 ? h[0]!.version : this.#version + 1;
    if (version < first - 1 || version > this.#version) return { kind: 'full' };
    const pending = h.slice(version - first + 1);
    if (pending.length === 1) return { kind: 'change', change: pending[0]! };
    if (pending.some((c) => c.resized)) return { kind: 'full' };
    if (pending.some((c) => c.move !== null)) return { kind: 'change', change: this.#compose(pending) };
    const rects = pending.flatMap((c) => c.rects);
    return { kind: 'damage', rects: mergeRects(rects, this.#maxRects), resized: false };
  }

  /**
   * Several changes as one: follow each row of the current frame back
   * through the moves to the row it came from in the viewer's frame, or to
   * "changed". The longest run of rows that all came from the same offset
   * is the move; rows that came from elsewhere, or were drawn on, are the
   * damage (whole rows: a scroll's new lines span the screen anyway). So a
   * viewer that skipped three scrolls gets one CopyRect and three lines,
   * not the whole frame.
   */
  #compose(changes: readonly ScreenChange[]): ScreenChange {
    const { width, height } = this.#frame!;
    let src = Int32Array.from({ length: height }, (_, y) => y);
    for (const c of changes) {
      const next = new Int32Array(height);
      for (let y = 0; y < height; y++) {
        const m = c.move;
        next[y] = m !== null && y >= m.y && y < m.y + m.height ? src[y + m.dy]! : src[y]!;
      }
      for (const r of c.rects) next.fill(-1, r.y, r.y + r.height);
      src = next;
    }
    let best: RowMove | null = null;
    for (let y = 0; y < height; ) {
      const dy = src[y]! - y;
      let end = y + 1;
      while (end < height && src[end]! - end === dy && src[end]! >= 0) end++;
      if (src[y]! >= 0 && dy !== 0 && (best === null || end - y > best.height)) best = { dy, y, height: end - y };
      y = end;
    }
    const rects: Rect[] = [];
    for (let y = 0; y < height; ) {
      const moved = best !== null && y >= best.y && y < best.y + best.height;
      if (moved || src[y] === y) { y++; continue; }
      let end = y + 1;
      while (end < height && src[end] !== end && !(best !== null && end >= best.y && end < best.y + best.height)) end++;
      rects.push({ x: 0, y, width, height: end - y });
      y = end;
    }
    return { version: this.#version, resized: false, move: best, rects: mergeRects(rects, this.#maxRects) };
  }

  /**
   * Read the display once and record what changed. Returns whether the
   * frame changed. Never throws: a display that cannot be read shows the
   * placeholder with the reason.
   */
  poll(): boolean {
    this.#polls++;
    let changed: boolean;
    try {
      changed = this.#read((state) => (state.kind === 'plane' ? this.#takePlane(state) : this.#takeNone(state.reason, state.message)));
    } catch (err) {
      log.warn(`${this.name}: reading the display failed: ${err instanceof Error ? err.message : String(err)}`);
      changed = this.#takeNone('unavailable', 'no plane: the display could not be read');
    }
    return changed;
  }

  #takePlane(state: DisplayState & { kind: 'plane' }): boolean {
    const p = state.plane;
    const { start, end } = planeLayout(p);
    const g: Geometry = { width: p.width, height: p.height, stride: p.stride, drmFormat: p.drmFormat, offset: p.offset };
    const bytes = Buffer.from(p.bytes.buffer, p.bytes.byteOffset + start, end - start);
    const old = this.#geometry;
    const sameGeometry = old !== null && this.#none === null && old.width === g.width && old.height === g.height && old.stride === g.stride && old.drmFormat === g.drmFormat;
    if (sameGeometry && this.#raw !== null && this.#raw.length === bytes.length && this.#raw.equals(bytes)) return false;
    // Keep the bytes for the next compare, reusing the buffer when it fits.
    if (this.#raw === null || this.#raw.length !== bytes.length) this.#raw = Buffer.allocUnsafe(bytes.length);
    bytes.copy(this.#raw);
    this.#geometry = g;
    const size = p.width * p.height * 4;
    const out = this.#spare !== null && this.#spare.length === size ? this.#spare : new Uint8Array(size);
    // Convert from our copy: the guest may write its VRAM while we work.
    const image = planeToRgba({ ...p, bytes: new Uint8Array(this.#raw.buffer, this.#raw.byteOffset, this.#raw.length), offset: 0 }, out);
    this.#converted++;
    this.#none = null;
    return this.#install(image);
  }

  #takeNone(reason: string, message: string): boolean {
    if (this.#none !== null && this.#none.reason === reason && this.#none.message === message) return false;
    const size = this.#frame !== null ? { width: this.#frame.width, height: this.#frame.height } : PLACEHOLDER_SIZE;
    this.#none = { reason, message };
    this.#raw = null;
    this.#geometry = null;
    return this.#install(renderPlaceholder(size.width, size.height, [message, `${this.name} (mdevsim)`]));
  }

  /** Make `image` the current frame and record the change from the previous one. */
  #install(image: RgbaImage): boolean {
    const next = new FrameRows(image);
    const prev = this.#frame;
    let change: ScreenChange;
    if (prev === null || prev.width !== next.width || prev.height !== next.height) {
      change = { version: this.#version + 1, resized: prev !== null, move: null, rects: [{ x: 0, y: 0, width: next.width, height: next.height }] };
    } else {
      const plain = damage(prev.image, next.image);
      if (plain.length === 0) {
        this.#recycle(image, prev);
        return false;
      }
      const changedRows = plain.reduce((n, r) => n + r.height, 0);
      const move = findRowMove(prev, next, changedRows);
      const rects = move === null ? plain : damage(prev.image, next.image, (y) => (y >= move.y && y < move.y + move.height ? y + move.dy : y));
      change = { version: this.#version + 1, resized: false, move, rects: mergeRects(rects, this.#maxRects) };
    }
    this.#spare = prev !== null && prev.image.data.length === image.data.length ? prev.image.data : null;
    this.#frame = next;
    this.#version = change.version;
    this.#history.push(change);
    if (this.#history.length > this.#historyLength) this.#history.shift();
    return true;
  }

  /** The new image was identical after all (a write of the same bytes): keep the old frame, reuse the buffer. */
  #recycle(image: RgbaImage, prev: FrameRows): void {
    if (image.data !== prev.image.data) this.#spare = image.data;
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      this.#timer = null;
      let changed = false;
      changed = this.poll();
      if (changed) {
        for (const l of [...this.#listeners]) {
          try { l(); } catch (err) { log.warn(`${this.name}: a viewer failed on an update: ${err instanceof Error ? err.message : String(err)}`); }
        }
      }
      if (this.#listeners.size > 0) this.#schedule();
    }, this.#pollMs);
  }

  #stop(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
