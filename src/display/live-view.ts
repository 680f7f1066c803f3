/**
 * A live view of every device's screen in a browser: a small HTTP server
 * (node:http, loopback only, opt-in) that serves one self-contained page and
 * a Server-Sent Events stream of what changed. docs/live-view.md describes
 * the page and the event protocol.
 *
 * While at least one page is connected the server polls every device each
 * `pollMs` (plane-source.ts: the same plane query and dmabuf export a VMM
 * makes), converts the plane to RGBA and compares it with the last frame it
 * sent (damage.ts damage(): row bands). Unchanged devices cost one
 * conversion and one compare and send nothing; changed ones send `patch`
 * events holding PNGs of the damaged rectangles only, or one full frame
 * when the damage covers most of the screen; a new mode sends `mode`, a
 * display without a plane sends `none`. All pages share one stream of
 * events, each encoded once however many pages watch; a page that connects
 * gets a snapshot of every device first, whose full frames are cached per
 * device frame (a hundred pages connecting cost one PNG encode).
 *
 * Bounds against hostile or stuck clients: at most `maxClients` event
 * streams (503 beyond), a stream whose unsent backlog exceeds
 * `maxBacklogBytes` at a poll is dropped (the page's EventSource reconnects
 * and resynchronises from a snapshot), and every HTTP socket is charged to
 * the process fd ledger.
 *
 * Security: the view has no authentication, so it only binds loopback
 * addresses, and answers only requests whose Host header names a loopback
 * host (a DNS-rebinding page cannot read screenshots). The page runs under
 * a strict Content-Security-Policy.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { VfioDevice } from '../vfio/device.ts';
import { ConfigError } from '../util/errors.ts';
import { logger } from '../util/log.ts';
import { processFdLedger, type FdLedger } from '../sys/fd-ledger.ts';
import type { RgbaImage } from './pixels.ts';
import { rgbaToPng } from './png.ts';
import { boundingRect, cropRgba, damage, type Rect } from './damage.ts';
import { noPlane, renderDisplay, type DisplayState, type NoPlaneReason } from './no-plane.ts';
import { readDisplay, type PlaneMode } from './plane-source.ts';
import { LIVE_VIEW_CSP, LIVE_VIEW_HTML } from './live-view-page.ts';

const log = logger('display');

/** One device the view shows. */
export interface LiveViewDevice {
  /** Shown on the page and used in URLs (/screenshot/<name>.png); unique. */
  readonly name: string;
  readonly device: VfioDevice;
}

export interface LiveViewOptions {
  /** The devices to show, asked again at every poll (devices may come and go). */
  readonly devices: () => Iterable<LiveViewDevice>;
  /** TCP port; 0 picks a free one (read it from the result's `port` / `url`). */
  readonly port: number;
  /**
   * Address to bind: a loopback address only (127.0.0.0/8, ::1, 'localhost').
   * @defaultValue '127.0.0.1'
   */
  readonly host?: string;
  /**
   * Poll interval in ms while a page is connected (10 – 60000).
   * @defaultValue 100
   */
  readonly pollMs?: number;
  /**
   * When the damaged area exceeds this fraction of the frame, one full
   * frame is sent instead of patches (0 – 1).
   * @defaultValue 0.5
   */
  readonly fullFrameFraction?: number;
  /**
   * Most patch rectangles per device and poll; more damage bands are merged
   * into their bounding rectangle.
   * @defaultValue 8
   */
  readonly maxPatches?: number;
  /**
   * Event streams open at once; one more gets HTTP 503.
   * @defaultValue 8
   */
  readonly maxClients?: number;
  /**
   * A stream whose unsent bytes exceed this at a poll is dropped.
   * @defaultValue 8 MiB
   */
  readonly maxBacklogBytes?: number;
  /** @defaultValue processFdLedger() */
  readonly fdLedger?: FdLedger;
}

/** Counters of the whole view (tests, logs). */
export interface LiveViewStats {
  /** Event streams open now. */
  readonly clients: number;
  /** Event streams refused with 503 (maxClients). */
  readonly refused: number;
  /** Event streams dropped for their backlog (maxBacklogBytes). */
  readonly dropped: number;
  /** HTTP sockets closed at accept for want of fds (the fd ledger). */
  readonly noFds: number;
  /** PNG encodes over all devices. */
  readonly encodes: number;
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

export interface LiveView {
  /** http://host:port/ — the page. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Counters per device (what /state.json returns under `devices`). */
  state(): LiveViewDeviceState[];
  stats(): LiveViewStats;
  /** Stop polling, end every event stream and connection, close the listener. Idempotent. */
  close(): Promise<void>;
}

/** Protocol version in the `hello` event. */
export const LIVE_VIEW_PROTOCOL = 1;

const HEARTBEAT_MS = 15_000;
export const DEFAULT_LIVE_VIEW_MAX_CLIENTS = 8;
export const DEFAULT_LIVE_VIEW_MAX_BACKLOG = 8 * 1024 * 1024;
/** HTTP sockets beyond the event streams: the page, /state.json, screenshots, a browser's spare keep-alive sockets. */
const PLAIN_HTTP_SOCKETS = 8;

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

interface Client {
  readonly res: ServerResponse;
}

/**
 * Start the live view. Resolves once listening.
 * @throws ConfigError (rejects) for a non-loopback host, a bad port or option, or a port in use.
 */
export async function startLiveView(opts: LiveViewOptions): Promise<LiveView> {
  const host = opts.host ?? '127.0.0.1';
  const pollMs = opts.pollMs ?? 100;
  const fullFrameFraction = opts.fullFrameFraction ?? 0.5;
  const maxPatches = opts.maxPatches ?? 8;
  const maxClients = opts.maxClients ?? DEFAULT_LIVE_VIEW_MAX_CLIENTS;
  const maxBacklog = opts.maxBacklogBytes ?? DEFAULT_LIVE_VIEW_MAX_BACKLOG;
  const ledger = opts.fdLedger ?? processFdLedger();
  if (!isLoopback(host)) throw new ConfigError(`Live view: host ${JSON.stringify(host)} is not a loopback address; the view has no authentication, so it only listens on 127.0.0.1, ::1 or localhost.`);
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new ConfigError(`Live view: port ${String(opts.port)} must be an integer 0–65535 (0 picks a free port).`);
  if (!Number.isFinite(pollMs) || pollMs < 10 || pollMs > 60_000) throw new ConfigError(`Live view: pollMs ${String(pollMs)} must be 10–60000.`);
  if (!(fullFrameFraction >= 0 && fullFrameFraction <= 1)) throw new ConfigError(`Live view: fullFrameFraction ${String(fullFrameFraction)} must be 0–1.`);
  if (!Number.isInteger(maxPatches) || maxPatches < 1) throw new ConfigError(`Live view: maxPatches ${String(maxPatches)} must be a positive integer.`);
  if (!Number.isInteger(maxClients) || maxClients < 1 || maxClients > 10_000) throw new ConfigError(`Live view: maxClients ${String(maxClients)} must be an integer 1–10000.`);
  if (!Number.isSafeInteger(maxBacklog) || maxBacklog < 1) throw new ConfigError(`Live view: maxBacklogBytes ${String(maxBacklog)} must be a positive integer.`);

  const tracked = new Map<string, Tracked>();
  const clients = new Set<Client>();
  let names: string[] = [];
  let lastTickAt = -Infinity;
  let pollTimer: NodeJS.Timeout | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let closing: Promise<void> | undefined;
  const counts = { refused: 0, dropped: 0, noFds: 0 };

  /* ---------------------------------------------------------- events */

  const message = (type: string, data: unknown): string => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;

  const write = (c: Client, text: string): void => {
    if (c.res.writableEnded || c.res.destroyed) return;
    c.res.write(text);
  };

  /**
   * Drop the pages that did not take what the last polls sent. Checked per
   * poll, not per write: one poll's events may together exceed the limit
   * for a page that reads fine (a large full frame), and the next poll's
   * backlog tells the two apart.
   */
  const dropBacklogged = (): void => {
    for (const c of clients) {
      const backlog = c.res.writableLength;
      if (backlog <= maxBacklog) continue;
      counts.dropped++;
      log.warn(`live view: dropping an event stream with ${backlog} unsent bytes (limit ${maxBacklog}); the page reconnects and resynchronises.`);
      clients.delete(c);
      c.res.destroy();
    }
  };
  const broadcast = (type: string, data: unknown): void => {
    if (clients.size === 0) return;
    const text = message(type, data);
    for (const c of clients) write(c, text);
  };

  const modeEvent = (t: Tracked): unknown => ({ device: t.name, frame: t.frame, ...t.mode });
  const noneEvent = (t: Tracked): unknown => ({ device: t.name, frame: t.frame, ...t.none });
  /** The current frame (t.last) as base64 PNG, encoded at most once per frame. */
  const fullPng = (t: Tracked, mode: LiveViewMode, last: Uint8Array): { base64: string; bytes: number } => {
    if (t.fullPng === null || t.fullPng.frame !== t.frame) {
      const png = rgbaToPng({ width: mode.width, height: mode.height, data: last });
      t.encodes++;
      t.fullPng = { frame: t.frame, base64: png.toString('base64'), bytes: png.length };
    }
    return t.fullPng;
  };
  /** Encode one patch; counts it. */
  const patchEvent = (t: Tracked, mode: LiveViewMode, img: RgbaImage, r: Rect, full: boolean): unknown => {
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
  };

  function sendSnapshot(c: Client): void {
    const send = (type: string, data: unknown): void => write(c, message(type, data));
    send('hello', { version: LIVE_VIEW_PROTOCOL, pollMs });
    send('devices', { names });
    for (const t of tracked.values()) {
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

  /* ------------------------------------------------------------ poll */

  function tick(): void {
    lastTickAt = performance.now();
    dropBacklogged();
    let list: LiveViewDevice[];
    try {
      list = [];
      const seen = new Set<string>();
      for (const d of opts.devices()) {
        if (seen.has(d.name)) continue; // names are keys: the first device of a name wins
        seen.add(d.name);
        list.push(d);
      }
    } catch (err) {
      log.warn(`live view: listing devices failed: ${errorText(err)}`);
      return;
    }
    const now = list.map((d) => d.name);
    if (now.length !== names.length || now.some((n, i) => n !== names[i])) {
      names = now;
      for (const name of [...tracked.keys()]) if (!now.includes(name)) tracked.delete(name);
      broadcast('devices', { names });
    }
    for (const { name, device } of list) {
      let t = tracked.get(name);
      if (t === undefined) {
        t = { name, mode: null, none: null, last: null, spare: null, frame: 0, patches: 0, fullFrames: 0, lastPatch: null, pngBytes: 0, encodes: 0, fullPng: null };
        tracked.set(name, t);
      }
      try {
        pollDevice(t, device);
      } catch (err) {
        // A bug, not a device state (those are DisplayStates): show it on the card, keep the others going.
        log.warn(`live view: ${name}: ${errorText(err)}`);
        showNone(t, noPlane('unavailable', `${name}: ${errorText(err)}`));
      }
    }
  }

  function pollDevice(t: Tracked, device: VfioDevice): void {
    readDisplay(device, t.name, ({ state, mode }) => {
      if (state.kind === 'none' || mode === null) {
        showNone(t, state.kind === 'none' ? state : noPlane('unavailable'));
        return;
      }
      const size = mode.width * mode.height * 4;
      const out = t.spare !== null && t.spare.length === size ? t.spare : new Uint8Array(size);
      const frame = renderDisplay(state, out);
      if (frame.kind === 'none') {
        showNone(t, frame);
        return;
      }
      showImage(t, liveMode(mode), frame.image);
    });
  }

  function showNone(t: Tracked, state: DisplayState & { kind: 'none' }): void {
    if (t.none !== null && t.none.reason === state.reason && t.none.message === state.message) return;
    t.frame++;
    t.mode = null;
    t.last = null;
    t.spare = null;
    t.fullPng = null;
    t.none = { reason: state.reason, message: state.message };
    broadcast('none', noneEvent(t));
  }

  function showImage(t: Tracked, mode: LiveViewMode, img: RgbaImage): void {
    const full: Rect = { x: 0, y: 0, width: img.width, height: img.height };
    if (t.mode === null || t.last === null || !sameLiveMode(t.mode, mode)) {
      t.frame++;
      t.mode = mode;
      t.none = null;
      t.spare = t.last !== null && t.last.length === img.data.length ? t.last : null;
      t.last = img.data;
      broadcast('mode', modeEvent(t));
      if (clients.size > 0) broadcast('patch', patchEvent(t, mode, img, full, true));
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
    if (clients.size === 0) return; // nobody to tell; a page that connects gets a snapshot
    const plan = planPatches(rects, img.width, img.height, maxPatches, fullFrameFraction);
    if (plan === 'full') broadcast('patch', patchEvent(t, mode, img, full, true));
    else for (const r of plan) broadcast('patch', patchEvent(t, mode, img, r, false));
  }

  const schedule = (): void => {
    if (closing !== undefined || clients.size === 0 || pollTimer !== undefined) return;
    pollTimer = setTimeout(() => {
      pollTimer = undefined;
      if (closing !== undefined || clients.size === 0) return;
      tick();
      schedule();
    }, pollMs);
    pollTimer.unref();
  };

  /* ------------------------------------------------------------ HTTP */

  const server = http.createServer((req, res) => {
    try {
      route(req, res);
    } catch (err) {
      log.warn(`live view: ${req.method ?? '?'} ${req.url ?? '?'}: ${errorText(err)}`);
      if (!res.headersSent) text(res, 500, 'internal error\n');
      else res.destroy();
    }
  });

  function route(req: IncomingMessage, res: ServerResponse): void {
    if (!hostAllowed(req.headers.host, host)) return text(res, 403, 'forbidden: the live view answers loopback host names only\n');
    if (req.method !== 'GET') {
      res.setHeader('Allow', 'GET');
      return text(res, 405, 'method not allowed\n');
    }
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === '/' || path === '/index.html') {
      res.writeHead(200, {
        'Content-Type': 'text/html; charset=utf-8',
        'Content-Security-Policy': LIVE_VIEW_CSP,
        ...COMMON_HEADERS,
      });
      res.end(LIVE_VIEW_HTML);
      return;
    }
    if (path === '/events') return openEvents(req, res);
    if (path === '/state.json') {
      if (performance.now() - lastTickAt >= pollMs) tick();
      return json(res, 200, { version: LIVE_VIEW_PROTOCOL, pollMs, clients: clients.size, devices: stateOf() });
    }
    const shot = /^\/screenshot\/([^/]+)\.png$/.exec(path);
    if (shot !== null) return screenshot(res, safeDecode(shot[1]!));
    if (path === '/favicon.ico') {
      res.writeHead(204, COMMON_HEADERS);
      res.end();
      return;
    }
    text(res, 404, 'not found\n');
  }

  function openEvents(req: IncomingMessage, res: ServerResponse): void {
    if (clients.size >= maxClients) {
      counts.refused++;
      log.warn(`live view: refusing an event stream: ${maxClients} are open.`);
      res.setHeader('Retry-After', '5');
      return text(res, 503, `The live view already has ${maxClients} open event streams; close a page and retry.\n`);
    }
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
      ...COMMON_HEADERS,
    });
    res.socket?.setNoDelay(true);
    res.write('retry: 1000\n\n');
    const c: Client = { res };
    // Fresh state for the newcomer (and the others: they get the same events).
    if (clients.size === 0 || performance.now() - lastTickAt >= pollMs) {
      tick();
    }
    clients.add(c);
    sendSnapshot(c);
    const drop = (): void => {
      clients.delete(c);
    };
    req.on('close', drop);
    res.on('close', drop);
    res.on('error', drop);
    schedule();
  }

  function screenshot(res: ServerResponse, name: string | null): void {
    const entry = name === null ? undefined : [...opts.devices()].find((d) => d.name === name);
    if (entry === undefined) return text(res, 404, `no device named ${JSON.stringify(name)}\n`);
    const frame = readDisplay(entry.device, entry.name, ({ state }) => renderDisplay(state));
    if (frame.kind === 'none') return text(res, 409, `${entry.name}: ${frame.message}\n`);
    const png = rgbaToPng(frame.image);
    res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': png.length, ...COMMON_HEADERS });
    res.end(png);
  }

  function stateOf(): LiveViewDeviceState[] {
    const out: LiveViewDeviceState[] = [];
    for (const name of names) {
      const t = tracked.get(name);
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

  /* ----------------------------------------------------- start / stop */

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      if (err.code === 'EADDRINUSE') reject(new ConfigError(`Live view: port ${opts.port} on ${host} is already in use; pick another port or 0 for a free one.`));
      else if (err.code === 'EACCES') reject(new ConfigError(`Live view: not allowed to listen on port ${opts.port} of ${host}; pick a port above 1023 or 0.`));
      else if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') reject(new ConfigError(`Live view: cannot listen on ${host} (${err.code}).`));
      else reject(err);
    };
    server.once('error', onError);
    server.listen(opts.port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => log.warn(`live view: ${errorText(err)}`));
  // The listener is this service's own fd; every socket it accepts is charged to the process's fd table.
  const fds = ledger.register(maxClients + PLAIN_HTTP_SOCKETS, 1);
  server.maxConnections = maxClients + PLAIN_HTTP_SOCKETS;
  server.on('connection', (socket) => {
    const account = ledger.open('live view socket', 1);
    if (account === undefined) {
      counts.noFds++;
      log.warn('live view: closing a new connection: the process has no file descriptors to spare.');
      socket.destroy();
      return;
    }
    socket.once('close', () => account.close());
  });
  heartbeat = setInterval(() => {
    for (const c of clients) write(c, ': keep-alive\n\n');
  }, HEARTBEAT_MS);
  heartbeat.unref();

  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : opts.port;
  const urlHost = isIP(host) === 6 ? `[${host}]` : host;
  const url = `http://${urlHost}:${port}/`;
  log.info(`live view on ${url}`);

  return {
    url,
    host,
    port,
    state: stateOf,
    stats: () => ({ clients: clients.size, ...counts, encodes: [...tracked.values()].reduce((n, t) => n + t.encodes, 0) }),
    close(): Promise<void> {
      if (closing !== undefined) return closing;
      fds.release();
      clearTimeout(pollTimer);
      clearInterval(heartbeat);
      pollTimer = undefined;
      heartbeat = undefined;
      closing = new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const c of clients) c.res.end();
        clients.clear();
        server.closeAllConnections();
      });
      return closing;
    },
  };
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

const COMMON_HEADERS = Object.freeze({
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
});

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...COMMON_HEADERS });
  res.end(body);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', ...COMMON_HEADERS });
  res.end(`${JSON.stringify(body, null, 2)}\n`);
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

function safeDecode(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

/** 127.0.0.0/8, ::1 (also as ::ffff:127.x), or 'localhost'. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1' || (h.startsWith('::ffff:127.') && isIP(h.slice(7)) === 4);
  return false;
}

/** The request's Host header names a loopback host (or is missing: only browsers matter for DNS rebinding, and they always send one). */
function hostAllowed(header: string | undefined, bound: string): boolean {
  if (header === undefined) return true;
  let name = header.trim().toLowerCase();
  if (name.startsWith('[')) name = name.slice(1, name.indexOf(']') < 0 ? undefined : name.indexOf(']'));
  else if (name.includes(':')) name = name.slice(0, name.lastIndexOf(':'));
  return name === bound.toLowerCase() || isLoopback(name);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
