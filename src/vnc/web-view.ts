/**
 * The web view: every device's screen in a browser through noVNC, over one
 * WebSocket per device to the device's RFB server, so the browser speaks
 * the same display protocol as any VNC viewer and its keyboard and mouse
 * reach the guest (docs/vnc.md "Browser view").
 *
 * A small HTTP server (node:http, loopback only, opt-in):
 *
 * | route                 | token | what                                          |
 * | --------------------- | ----- | --------------------------------------------- |
 * | `/`, `/index.html`    | yes   | the page (web-view-page.ts), under a CSP      |
 * | `/state.json`         | yes   | `{ devices: [{ name, input }] }`              |
 * | `/ws/<device>`        | yes   | the WebSocket (web-view-socket.ts)            |
 * | `/app.js`, `/app.css` | no    | the page's script and style                   |
 * | `/novnc/core/…`, `/novnc/vendor/…` | no | noVNC's modules (web-view-assets.ts) |
 *
 * The page's own files and noVNC's are public code carrying nothing of a
 * guest, and ES module imports cannot carry a token, so they are served
 * without one; everything that shows or reaches a guest needs it.
 *
 * Bounds: at most `maxClients` WebSockets (503 beyond), `maxClients + 8`
 * sockets in all (the page, /state.json and noVNC's modules; Node drops
 * the ones beyond), each charged to the fd ledger (src/sys/loopback-http.ts),
 * and no WebSocket may leave more than `maxBacklogBytes` unsent.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { ConfigError } from '../util/errors.ts';
import { logger } from '../util/log.ts';
import { processFdLedger, type FdLedger } from '../sys/fd-ledger.ts';
import { hostHeaderAllowed, isLoopback, listenLoopback, PRIVATE_RESPONSE_HEADERS } from '../sys/loopback-http.ts';
import { checkToken, newToken, pageOrigin, tokenMatches } from './web-view-access.ts';
import { noVncAsset, noVncAssets } from './web-view-assets.ts';
import { WEB_VIEW_CSS, WEB_VIEW_HTML, WEB_VIEW_SCRIPT, webViewCsp } from './web-view-page.ts';
import { WebSocketGate, type AttachViewer, type WebViewCounts } from './web-view-socket.ts';

export type { AttachViewer } from './web-view-socket.ts';

const log = logger('vnc');

export const DEFAULT_WEB_VIEW_MAX_CLIENTS = 8;
/** Room for one raw 2560×1600 XRGB update written at once. */
export const DEFAULT_WEB_VIEW_MAX_BACKLOG = 16 * 1024 * 1024;
/** Sockets beyond the WebSockets: the page, /state.json, noVNC's modules, a browser's spare keep-alive sockets. */
const PLAIN_HTTP_SOCKETS = 8;
/** A socket that has not sent its request headers by then is closed (it holds one of few slots)… */
const HEADERS_TIMEOUT_MS = 10_000;
/** …checked this often (Node's default, 30 s, would let a squatter keep its slot four times as long). */
const TIMEOUT_CHECK_MS = 2_000;

/** A device as the page lists it. */
export interface WebViewDevice {
  readonly name: string;
  /** A QMP peer is connected: keyboard and mouse reach the guest (otherwise the page is view only). */
  readonly input: boolean;
}

export interface WebViewOptions {
  /** TCP port; 0 picks a free one (read it from the result's `port` / `url`). */
  readonly port: number;
  /**
   * Address to bind: a loopback address only (127.0.0.0/8, ::1, 'localhost').
   * @defaultValue '127.0.0.1'
   */
  readonly host?: string;
  /** The devices to show, asked again at every request (devices may come and go). */
  readonly devices: () => Iterable<WebViewDevice>;
  /** Hands an admitted WebSocket's stream (plain RFB, no security needed) to the device's RFB server. */
  readonly attach: AttachViewer;
  /**
   * WebSockets open at once; one more gets HTTP 503. The server takes
   * `maxClients + 8` sockets in all (see the module doc).
   * @defaultValue 8
   */
  readonly maxClients?: number;
  /**
   * A WebSocket whose unsent bytes exceed this after a write is dropped.
   * @defaultValue 16 MiB
   */
  readonly maxBacklogBytes?: number;
  /** @defaultValue processFdLedger() */
  readonly fdLedger?: FdLedger;
  /**
   * The access token (tests); 22–256 base64url characters.
   * @defaultValue 32 random bytes, base64url
   */
  readonly token?: string;
}

/** Counters of the whole view (tests, logs). */
export interface WebViewStats extends Readonly<WebViewCounts> {
  /** WebSockets refused with 503 (maxClients), plus sockets Node dropped past the socket cap. */
  readonly refused: number;
  /** WebSockets open now. */
  readonly webSockets: number;
  /** Sockets open now, WebSockets included. */
  readonly sockets: number;
  /** Sockets closed at accept for want of fds (the fd ledger). */
  readonly noFds: number;
}

export interface WebView {
  /** http://host:port/?token=… — the page; give it only to whoever may see and type into the guests. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  stats(): WebViewStats;
  /** Close every WebSocket (code 1001) and connection and the listener. Idempotent. */
  close(): Promise<void>;
}

/**
 * Start the web view. Resolves once listening.
 * @throws ConfigError (rejects) for a non-loopback host, a bad port or option, or a port in use.
 */
export async function startWebView(opts: WebViewOptions): Promise<WebView> {
  const host = opts.host ?? '127.0.0.1';
  const maxClients = opts.maxClients ?? DEFAULT_WEB_VIEW_MAX_CLIENTS;
  const maxBacklogBytes = opts.maxBacklogBytes ?? DEFAULT_WEB_VIEW_MAX_BACKLOG;
  const token = opts.token ?? newToken();
  if (!isLoopback(host)) throw new ConfigError(`Web view: host ${JSON.stringify(host)} is not a loopback address; the view only listens on 127.0.0.1, ::1 or localhost (forward it over SSH to reach it from elsewhere).`);
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new ConfigError(`Web view: port ${String(opts.port)} must be an integer 0–65535 (0 picks a free port).`);
  if (!Number.isInteger(maxClients) || maxClients < 1 || maxClients > 10_000) throw new ConfigError(`Web view: maxClients ${String(maxClients)} must be an integer 1–10000.`);
  if (!Number.isSafeInteger(maxBacklogBytes) || maxBacklogBytes < 1) throw new ConfigError(`Web view: maxBacklogBytes ${String(maxBacklogBytes)} must be a positive integer.`);
  checkToken(token);
  noVncAssets(); // a broken installation fails here, not at the first page load

  const counts: WebViewCounts = { refused: 0, deviceRefused: 0, dropped: 0, badToken: 0, badOrigin: 0, badHost: 0 };
  // Known once listening (port 0 picks one); requests only arrive after that.
  let port = opts.port;
  let ownOrigin = '';
  const isDevice = (name: string): boolean => {
    for (const d of opts.devices()) if (d.name === name) return true;
    return false;
  };
  const gate = new WebSocketGate({ host, port: () => port, token, maxClients, maxBacklogBytes, isDevice, attach: opts.attach, counts });

  const server = http.createServer({ headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: HEADERS_TIMEOUT_MS, connectionsCheckingInterval: TIMEOUT_CHECK_MS }, (req, res) => {
    try {
      route(req, res);
    } catch (err) {
      log.warn(`web view: ${req.method ?? '?'} ${req.url ?? '?'}: ${err instanceof Error ? err.message : String(err)}`);
      if (!res.headersSent) text(res, 500, 'Internal error.');
      else res.destroy();
    }
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => gate.upgrade(req, socket, head));

  function route(req: IncomingMessage, res: ServerResponse): void {
    if (!hostHeaderAllowed(req.headers.host, host)) {
      counts.badHost++;
      log.security('web-view-bad-host', `web view: refusing ${peerOf(req)} for host ${JSON.stringify(req.headers.host ?? null)}: the view answers loopback host names only.`, { peer: peerOf(req), host: req.headers.host ?? null });
      return text(res, 403, 'Forbidden: the web view answers loopback host names only.');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return text(res, 405, 'Method not allowed.');
    }
    const [path = '', query = ''] = (req.url ?? '').split('?', 2);
    if (path === '/app.js') return send(res, 'text/javascript; charset=utf-8', WEB_VIEW_SCRIPT);
    if (path === '/app.css') return send(res, 'text/css; charset=utf-8', WEB_VIEW_CSS);
    if (path.startsWith('/novnc/')) {
      const module = noVncAsset(path.slice('/novnc/'.length));
      if (module === undefined) return text(res, 404, 'Not found: the web view serves noVNC\'s core/ and vendor/ modules only.');
      return send(res, 'text/javascript; charset=utf-8', module);
    }
    if (path === '/favicon.ico') {
      res.writeHead(204, PRIVATE_RESPONSE_HEADERS);
      res.end();
      return;
    }
    if (path !== '/' && path !== '/index.html' && path !== '/state.json') return text(res, 404, 'Not found.');
    if (!tokenMatches(token, new URLSearchParams(query).get('token'))) {
      counts.badToken++;
      // The path only: a wrong token is still close to a secret.
      log.security('web-view-bad-token', `web view: refusing ${peerOf(req)} for ${path}: wrong or missing token.`, { peer: peerOf(req), path });
      return text(res, 403, 'Forbidden: open the URL mdevsim printed; it carries the token.');
    }
    if (path === '/state.json') {
      const devices = [...opts.devices()].map((d) => ({ name: d.name, input: d.input }));
      return send(res, 'application/json; charset=utf-8', `${JSON.stringify({ devices }, null, 2)}\n`);
    }
    const origin = pageOrigin(req.headers.host, port) ?? ownOrigin;
    send(res, 'text/html; charset=utf-8', WEB_VIEW_HTML, { 'Content-Security-Policy': webViewCsp(origin) });
  }

  const listener = await listenLoopback(server, {
    what: 'Web view',
    host,
    port: opts.port,
    maxSockets: maxClients + PLAIN_HTTP_SOCKETS,
    fdLedger: opts.fdLedger ?? processFdLedger(),
    log,
  });
  port = listener.port;
  ownOrigin = listener.url.slice(0, -1);
  const url = `${listener.url}?token=${token}`;
  log.info(`web view on ${listener.url}`);

  let closing: Promise<void> | undefined;
  return {
    url,
    host,
    port,
    stats: () => ({
      ...counts,
      refused: counts.refused + listener.counts.overCap,
      webSockets: gate.open,
      sockets: listener.sockets.size,
      noFds: listener.counts.noFds,
    }),
    close(): Promise<void> {
      closing ??= (async () => {
        listener.release();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        const webSockets = gate.closeAll();
        server.closeAllConnections();
        await webSockets;
        for (const socket of listener.sockets) socket.destroy();
        await closed;
      })();
      return closing;
    },
  };
}

function send(res: ServerResponse, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(200, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), ...PRIVATE_RESPONSE_HEADERS, ...headers });
  res.end(body);
}

const peerOf = (req: IncomingMessage): string => `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;

function text(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...PRIVATE_RESPONSE_HEADERS });
  res.end(`${message}\n`);
}
