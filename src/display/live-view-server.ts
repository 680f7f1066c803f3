/**
 * The live view's HTTP side (node:http, loopback only): the page, the
 * Server-Sent Events streams that carry what live-view-frames.ts makes,
 * /state.json and /screenshot/NAME.png. docs/live-view.md describes the
 * routes and the event protocol.
 *
 * Bounds against hostile or stuck clients: at most `maxClients` event
 * streams (503 beyond), a stream whose unsent backlog exceeds
 * `maxBacklogBytes` at a poll is dropped (the page's EventSource reconnects
 * and resynchronises from a snapshot), and every HTTP socket is charged to
 * the fd ledger.
 *
 * Security: the view has no authentication, so it only binds loopback
 * addresses, and answers only requests whose Host header names a loopback
 * host (a DNS-rebinding page cannot read screenshots). The page runs under
 * a strict Content-Security-Policy.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { logger } from '../util/log.ts';
import type { FdLedger } from '../sys/fd-ledger.ts';
import { hostHeaderAllowed, listenLoopback, PRIVATE_RESPONSE_HEADERS } from '../sys/loopback-http.ts';
import { rgbaToPng } from './png.ts';
import { LIVE_VIEW_PROTOCOL, errorText, type EventSink, type FrameFanOut } from './live-view-frames.ts';
import { LIVE_VIEW_CSP, LIVE_VIEW_HTML } from './live-view-page.ts';

const log = logger('display');

const HEARTBEAT_MS = 15_000;
/** HTTP sockets beyond the event streams: the page, /state.json, screenshots, a browser's spare keep-alive sockets. */
const PLAIN_HTTP_SOCKETS = 8;

interface Client {
  readonly res: ServerResponse;
}

/** The open event streams: one encoding of each event, written to every page. */
export class EventStreams implements EventSink {
  readonly #clients = new Set<Client>();
  readonly #maxBacklog: number;
  /** Streams dropped for their backlog. */
  dropped = 0;

  constructor(maxBacklog: number) {
    this.#maxBacklog = maxBacklog;
  }

  get watchers(): number {
    return this.#clients.size;
  }

  broadcast(type: string, data: unknown): void {
    if (this.#clients.size === 0) return;
    const text = message(type, data);
    for (const c of this.#clients) write(c, text);
  }

  /** Add a page's stream and send it `first` (its snapshot); the stream leaves when its request or response closes. */
  add(req: IncomingMessage, res: ServerResponse, first: (send: (type: string, data: unknown) => void) => void): void {
    const c: Client = { res };
    this.#clients.add(c);
    first((type, data) => write(c, message(type, data)));
    const drop = (): void => {
      this.#clients.delete(c);
    };
    req.on('close', drop);
    res.on('close', drop);
    res.on('error', drop);
  }

  /** A comment line to every stream, so proxies and browsers keep idle streams open. */
  heartbeat(): void {
    for (const c of this.#clients) write(c, ': keep-alive\n\n');
  }

  /**
   * Drop the pages that did not take what the last polls sent. Checked per
   * poll, not per write: one poll's events may together exceed the limit
   * for a page that reads fine (a large full frame), and the next poll's
   * backlog tells the two apart.
   */
  dropBacklogged(): void {
    for (const c of this.#clients) {
      const backlog = c.res.writableLength;
      if (backlog <= this.#maxBacklog) continue;
      this.dropped++;
      log.warn(`live view: dropping an event stream with ${backlog} unsent bytes (limit ${this.#maxBacklog}); the page reconnects and resynchronises.`);
      this.#clients.delete(c);
      c.res.destroy();
    }
  }

  /** End every stream. */
  endAll(): void {
    for (const c of this.#clients) c.res.end();
    this.#clients.clear();
  }
}

export interface LiveViewServerOptions {
  readonly host: string;
  readonly port: number;
  readonly pollMs: number;
  readonly maxClients: number;
  readonly fdLedger: FdLedger;
  readonly streams: EventStreams;
  readonly frames: FrameFanOut;
}

/** A listening live view server. */
export interface LiveViewServer {
  readonly url: string;
  readonly port: number;
  /** Event streams refused with 503, HTTP sockets closed for want of fds. */
  readonly counts: { readonly refused: number; readonly noFds: number };
  close(): Promise<void>;
}

/**
 * Listen and serve; polls the frames every `pollMs` while a stream is open.
 * @throws ConfigError (rejects) for a port in use or an address it may not bind.
 */
export async function serveLiveView(opts: LiveViewServerOptions): Promise<LiveViewServer> {
  const { host, pollMs, maxClients, streams, frames } = opts;
  let refused = 0;
  let pollTimer: NodeJS.Timeout | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let closing: Promise<void> | undefined;

  const poll = (): void => {
    streams.dropBacklogged();
    frames.tick();
  };
  const schedule = (): void => {
    if (closing !== undefined || streams.watchers === 0 || pollTimer !== undefined) return;
    pollTimer = setTimeout(() => {
      pollTimer = undefined;
      if (closing !== undefined || streams.watchers === 0) return;
      poll();
      schedule();
    }, pollMs);
    pollTimer.unref();
  };

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
    if (!hostHeaderAllowed(req.headers.host, host)) return text(res, 403, 'forbidden: the live view answers loopback host names only\n');
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
      if (frames.stale) poll();
      return json(res, 200, { version: LIVE_VIEW_PROTOCOL, pollMs, clients: streams.watchers, devices: frames.state() });
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
    if (streams.watchers >= maxClients) {
      refused++;
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
    // Fresh state for the newcomer (and the others: they get the same events).
    if (streams.watchers === 0 || frames.stale) poll();
    streams.add(req, res, (send) => frames.snapshot(send));
    schedule();
  }

  function screenshot(res: ServerResponse, name: string | null): void {
    const frame = name === null ? undefined : frames.render(name);
    if (frame === undefined) return text(res, 404, `no device named ${JSON.stringify(name)}\n`);
    if (frame.kind === 'none') return text(res, 409, `${frame.device}: ${frame.message}\n`);
    const png = rgbaToPng(frame.image);
    res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': png.length, ...COMMON_HEADERS });
    res.end(png);
  }

  const listener = await listenLoopback(server, {
    what: 'Live view',
    host,
    port: opts.port,
    maxSockets: maxClients + PLAIN_HTTP_SOCKETS,
    fdLedger: opts.fdLedger,
    log,
  });
  heartbeat = setInterval(() => streams.heartbeat(), HEARTBEAT_MS);
  heartbeat.unref();

  const { url, port } = listener;
  log.info(`live view on ${url}`);

  return {
    url,
    port,
    counts: {
      get refused(): number {
        return refused;
      },
      get noFds(): number {
        return listener.counts.noFds;
      },
    },
    close(): Promise<void> {
      if (closing !== undefined) return closing;
      listener.release();
      clearTimeout(pollTimer);
      clearInterval(heartbeat);
      pollTimer = undefined;
      heartbeat = undefined;
      closing = new Promise<void>((resolve) => {
        server.close(() => resolve());
        streams.endAll();
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

const COMMON_HEADERS = PRIVATE_RESPONSE_HEADERS;

const message = (type: string, data: unknown): string => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;

function write(c: Client, text: string): void {
  if (c.res.writableEnded || c.res.destroyed) return;
  c.res.write(text);
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...COMMON_HEADERS });
  res.end(body);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', ...COMMON_HEADERS });
  res.end(`${JSON.stringify(body, null, 2)}\n`);
}

function safeDecode(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}
