/**
 * A live view of every device's screen in a browser: a small HTTP server
 * (loopback only, opt-in) that serves one self-contained page and a
 * Server-Sent Events stream of what changed. docs/live-view.md describes
 * the page and the event protocol.
 *
 * This module puts the three parts together and checks the options:
 * live-view-frames.ts reads the devices and makes the events (per-device
 * frames, damage, PNG patches), live-view-server.ts carries them (HTTP
 * routes, event streams and their bounds), live-view-page.ts is the page.
 * While at least one page is connected the devices are polled each `pollMs`.
 */
import { ConfigError } from '../util/errors.ts';
import { processFdLedger, type FdLedger } from '../sys/fd-ledger.ts';
import { FrameFanOut, type LiveViewDevice, type LiveViewDeviceState } from './live-view-frames.ts';
import { isLoopback } from '../sys/loopback-http.ts';
import { EventStreams, serveLiveView } from './live-view-server.ts';

export { LIVE_VIEW_PROTOCOL, planPatches } from './live-view-frames.ts';
export type { LiveViewDevice, LiveViewDeviceState, LiveViewMode, PatchRect } from './live-view-frames.ts';
export { isLoopback } from '../sys/loopback-http.ts';

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

export const DEFAULT_LIVE_VIEW_MAX_CLIENTS = 8;
export const DEFAULT_LIVE_VIEW_MAX_BACKLOG = 8 * 1024 * 1024;

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

  const streams = new EventStreams(maxBacklog);
  const frames = new FrameFanOut({ devices: opts.devices, pollMs, fullFrameFraction, maxPatches }, streams);
  const server = await serveLiveView({ host, port: opts.port, pollMs, maxClients, fdLedger: ledger, streams, frames });
  return {
    url: server.url,
    host,
    port: server.port,
    state: () => frames.state(),
    stats: () => ({ clients: streams.watchers, refused: server.counts.refused, dropped: streams.dropped, noFds: server.counts.noFds, encodes: frames.encodes }),
    close: () => server.close(),
  };
}
