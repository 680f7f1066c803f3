/**
 * The live view's per-device frame fan-out: at each poll, read every
 * device's display (plane-source.ts: the same plane query and dmabuf export
 * a VMM makes), convert the plane to RGBA and compare it with the last frame
 * sent (damage.ts: row bands). Unchanged devices cost one conversion and
 * one compare and send nothing; changed ones send `patch` events holding
 * PNGs of the damaged rectangles only, or one full frame when the damage
 * covers most of the screen; a new mode sends `mode`, a display without a
 * plane sends `none`. Each event is made once, however many pages watch
 * ({@link EventSink}); a page that connects gets a snapshot of every
 * device, whose full frames are cached per device frame (a hundred pages
 * connecting cost one PNG encode).
 *
 * Nothing here knows HTTP: live-view-server.ts carries the events.
 */
import type { VfioDevice } from '../vfio/device.ts';
import { logger } from '../util/log.ts';
import type { RgbaImage } from './pixels.ts';
import { rgbaToPng } from './png.ts';
import { boundingRect, cropRgba, damage, type Rect } from './damage.ts';
import { noPlane, renderDisplay, type DisplayFrame, type DisplayState, type NoPlaneReason } from './no-plane.ts';
import { readDisplay, type PlaneMode } from './plane-source.ts';

const log = logger('display');

/** Protocol version in the `hello` event. */
export const LIVE_VIEW_PROTOCOL = 1;

/** One device the view shows. */
export interface LiveViewDevice {
  /** Shown on the page and used in URLs (/screenshot/<name>.png); unique. */
  readonly name: string;
  readonly device: VfioDevice;
}

/** Per-device counters, as /state.json reports them. */
export interface LiveViewDeviceState {
  readonly name: string;
  /** 'plane', 'none', or 'unknown' before the first poll. */
  readonly state: 'plane' | 'none' | 'unknown';
  readonly mode: LiveViewMode | null;
  /** mode.dmabufId, for convenience (null for region planes and no plane). */
  readonly dmabufId: number | null;
  readonly none: { readonly reason: NoPlaneReason; readonly message: string } | null;
  /** Changes seen: incremented on every new mode, changed frame, or change of no-plane state. */
  readonly frame: number;
  /** Patch events sent (full frames included). */
  readonly patches: number;
  /** Patch events that carried the whole frame. */
  readonly fullFrames: number;
  readonly lastPatch: PatchRect | null;
  /** PNG bytes encoded for patch events (before base64). */
  readonly pngBytes: number;
  /** PNG encodes for this device (patches and snapshot frames), independent of how many pages watch. */
  readonly encodes: number;
}

/** The `mode` event's fields (docs/live-view.md). */
export interface LiveViewMode {
  readonly width: number;
  readonly height: number;
  readonly stride: number;
  /** DRM format name, e.g. 'XRGB8888'. */
  readonly format: string;
  readonly fourcc: number;
  readonly plane: 'dmabuf' | 'region';
  readonly dmabufId: number | null;
  readonly regionIndex: number | null;
}

export interface PatchRect {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
  readonly full: boolean;
}

/** Where events go: every watching page, each event made once. */
export interface EventSink {
  /** Pages watching now. With none, frames are still tracked but nothing is encoded. */
  readonly watchers: number;
  broadcast(type: string, data: unknown): void;
}

export interface FrameFanOutOptions {
  /** The devices to show, asked again at every poll (devices may come and go). */
  readonly devices: () => Iterable<LiveViewDevice>;
  readonly pollMs: number;
  /** Above this fraction of the frame damaged, one full frame is sent instead of patches. */
  readonly fullFrameFraction: number;
  /** Most patch rectangles per device and poll. */
  readonly maxPatches: number;
}

interface Tracked {
  readonly name: string;
  mode: LiveViewMode | null;
  none: { reason: NoPlaneReason; message: string } | null;
  /** RGBA of the last frame sent (mode.width·height·4 bytes), null without a plane. */
  last: Uint8Array | null;
  /** A second buffer of the same size, reused for the next conversion. */
  spare: Uint8Array | null;
  frame: number;
  patches: number;
  fullFrames: number;
  lastPatch: PatchRect | null;
  pngBytes: number;
  encodes: number;
  /** The full frame as base64 PNG, for frame number `frame`: what every snapshot of this frame sends. */
  fullPng: { readonly frame: number; readonly base64: string; readonly bytes: number } | null;
}

export class FrameFanOut {
  readonly #opts: FrameFanOutOptions;
  readonly #sink: EventSink;
  readonly #tracked = new Map<string, Tracked>();
  #names: string[] = [];
  #lastTickAt = -Infinity;

  constructor(opts: FrameFanOutOptions, sink: EventSink) {
    this.#opts = opts;
    this.#sink = sink;
  }

  /** Whether the last poll is older than the poll interval (a newcomer or /state.json then polls first). */
  get stale(): boolean {
    return performance.now() - this.#lastTickAt >= this.#opts.pollMs;
  }

  /** PNG encodes over all devices. */
  get encodes(): number {
    return [...this.#tracked.values()].reduce((n, t) => n + t.encodes, 0);
  }

  /** Poll every device once and broadcast what changed. */
  tick(): void {
    this.#lastTickAt = performance.now();
    let list: LiveViewDevice[];
    try {
      list = [];
      const seen = new Set<string>();
      for (const d of this.#opts.devices()) {
        if (seen.has(d.name)) continue; // names are keys: the first device of a name wins
        seen.add(d.name);
        list.push(d);
      }
    } catch (err) {
      log.warn(`live view: listing devices failed: ${errorText(err)}`);
      return;
    }
    const now = list.map((d) => d.name);
    if (now.length !== this.#names.length || now.some((n, i) => n !== this.#names[i])) {
      this.#names = now;
      for (const name of [...this.#tracked.keys()]) if (!now.includes(name)) this.#tracked.delete(name);
      this.#sink.broadcast('devices', { names: this.#names });
    }
    for (const { name, device } of list) {
      let t = this.#tracked.get(name);
      if (t === undefined) {
        t = { name, mode: null, none: null, last: null, spare: null, frame: 0, patches: 0, fullFrames: 0, lastPatch: null, pngBytes: 0, encodes: 0, fullPng: null };
        this.#tracked.set(name, t);
      }
      try {
        this.#pollDevice(t, device);
      } catch (err) {
        // A bug, not a device state (those are DisplayStates): show it on the card, keep the others going.
        log.warn(`live view: ${name}: ${errorText(err)}`);
        this.#showNone(t, noPlane('unavailable', `${name}: ${errorText(err)}`));
      }
    }
  }

  /** What a page that connects needs first: hello, the device list, and every device's current frame or "no plane". */
  snapshot(send: (type: string, data: unknown) => void): void {
    send('hello', { version: LIVE_VIEW_PROTOCOL, pollMs: this.#opts.pollMs });
    send('devices', { names: this.#names });
    for (const t of this.#tracked.values()) {
      if (t.mode !== null && t.last !== null) {
        send('mode', modeEvent(t));
        // A snapshot is not a new patch: the patch counters stay, only `encodes` may move.
        const png = fullPng(t, t.mode, t.last);
        send('patch', { device: t.name, frame: t.frame, x: 0, y: 0, w: t.mode.width, h: t.mode.height, full: true, png: png.base64 });
      } else if (t.none !== null) {
        send('none', noneEvent(t));
      }
    }
  }

  /** One device's display drawn now (for /screenshot/NAME.png), or undefined when no device has that name. */
  render(name: string): (DisplayFrame & { readonly device: string }) | undefined {
    const entry = [...this.#opts.devices()].find((d) => d.name === name);
    if (entry === undefined) return undefined;
    return { ...readDisplay(entry.device, entry.name, ({ state }) => renderDisplay(state)), device: entry.name };
  }

  /** Counters per device, in device order. */
  state(): LiveViewDeviceState[] {
    const out: LiveViewDeviceState[] = [];
    for (const name of this.#names) {
      const t = this.#tracked.get(name);
      if (t === undefined) continue;
      out.push({
        name,
        state: t.mode !== null ? 'plane' : t.none !== null ? 'none' : 'unknown',
        mode: t.mode,
        dmabufId: t.mode?.dmabufId ?? null,
        none: t.none,
        frame: t.frame,
        patches: t.patches,
        fullFrames: t.fullFrames,
        lastPatch: t.lastPatch,
        pngBytes: t.pngBytes,
        encodes: t.encodes,
      });
    }
    return out;
  }

  #pollDevice(t: Tracked, device: VfioDevice): void {
    readDisplay(device, t.name, ({ state, mode }) => {
      if (state.kind === 'none' || mode === null) {
        this.#showNone(t, state.kind === 'none' ? state : noPlane('unavailable'));
        return;
      }
      const size = mode.width * mode.height * 4;
      const out = t.spare !== null && t.spare.length === size ? t.spare : new Uint8Array(size);
      const frame = renderDisplay(state, out);
      if (frame.kind === 'none') {
        this.#showNone(t, frame);
        return;
      }
      this.#showImage(t, liveMode(mode), frame.image);
    });
  }

  #showNone(t: Tracked, state: DisplayState & { kind: 'none' }): void {
    if (t.none !== null && t.none.reason === state.reason && t.none.message === state.message) return;
    t.frame++;
    t.mode = null;
    t.last = null;
    t.spare = null;
    t.fullPng = null;
    t.none = { reason: state.reason, message: state.message };
    this.#sink.broadcast('none', noneEvent(t));
  }

  #showImage(t: Tracked, mode: LiveViewMode, img: RgbaImage): void {
    const sink = this.#sink;
    const full: Rect = { x: 0, y: 0, width: img.width, height: img.height };
    if (t.mode === null || t.last === null || !sameLiveMode(t.mode, mode)) {
      t.frame++;
      t.mode = mode;
      t.none = null;
      t.spare = t.last !== null && t.last.length === img.data.length ? t.last : null;
      t.last = img.data;
      sink.broadcast('mode', modeEvent(t));
      if (sink.watchers > 0) sink.broadcast('patch', patchEvent(t, mode, img, full, true));
      return;
    }
    const rects = damage({ width: img.width, height: img.height, data: t.last }, img);
    if (rects.length === 0) {
      t.spare = img.data; // nothing changed: keep the buffer for the next poll
      return;
    }
    t.frame++;
    t.spare = t.last;
    t.last = img.data;
    if (sink.watchers === 0) return; // nobody to tell; a page that connects gets a snapshot
    const plan = planPatches(rects, img.width, img.height, this.#opts.maxPatches, this.#opts.fullFrameFraction);
    if (plan === 'full') sink.broadcast('patch', patchEvent(t, mode, img, full, true));
    else for (const r of plan) sink.broadcast('patch', patchEvent(t, mode, img, r, false));
  }
}

/**
 * Which rectangles to send for a set of damage bands: the bands (merged to
 * their bounding rectangle when there are more than `maxPatches`), or
 * 'full' when they cover more than `fullFraction` of the frame.
 */
export function planPatches(rects: readonly Rect[], width: number, height: number, maxPatches: number, fullFraction: number): Rect[] | 'full' {
  let plan: Rect[] = [...rects];
  if (plan.length > maxPatches) {
    const all = boundingRect(plan);
    plan = all === null ? [] : [all];
  }
  const area = plan.reduce((sum, r) => sum + r.width * r.height, 0);
  return area > fullFraction * width * height ? 'full' : plan;
}

const modeEvent = (t: Tracked): unknown => ({ device: t.name, frame: t.frame, ...t.mode });
const noneEvent = (t: Tracked): unknown => ({ device: t.name, frame: t.frame, ...t.none });

/** The current frame (t.last) as base64 PNG, encoded at most once per frame. */
function fullPng(t: Tracked, mode: LiveViewMode, last: Uint8Array): { base64: string; bytes: number } {
  if (t.fullPng === null || t.fullPng.frame !== t.frame) {
    const png = rgbaToPng({ width: mode.width, height: mode.height, data: last });
    t.encodes++;
    t.fullPng = { frame: t.frame, base64: png.toString('base64'), bytes: png.length };
  }
  return t.fullPng;
}

/** Encode one patch; counts it. */
function patchEvent(t: Tracked, mode: LiveViewMode, img: RgbaImage, r: Rect, full: boolean): unknown {
  let png: { base64: string; bytes: number };
  if (full) {
    png = fullPng(t, mode, img.data);
  } else {
    const cropped = rgbaToPng(cropRgba(img, r));
    t.encodes++;
    png = { base64: cropped.toString('base64'), bytes: cropped.length };
  }
  t.patches++;
  if (full) t.fullFrames++;
  t.pngBytes += png.bytes;
  t.lastPatch = { x: r.x, y: r.y, w: r.width, h: r.height, full };
  return { device: t.name, frame: t.frame, x: r.x, y: r.y, w: r.width, h: r.height, full, png: png.base64 };
}

function liveMode(m: PlaneMode): LiveViewMode {
  return {
    width: m.width,
    height: m.height,
    stride: m.stride,
    format: m.format,
    fourcc: m.drmFormat,
    plane: m.kind,
    dmabufId: m.kind === 'dmabuf' ? m.id : null,
    regionIndex: m.kind === 'region' ? m.id : null,
  };
}

function sameLiveMode(a: LiveViewMode, b: LiveViewMode): boolean {
  return a.width === b.width && a.height === b.height && a.stride === b.stride && a.fourcc === b.fourcc &&
    a.plane === b.plane && a.dmabufId === b.dmabufId && a.regionIndex === b.regionIndex;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
