/**
 * The web view's WebSockets: which upgrades are admitted, and the bridge
 * from an admitted one to the device's RFB server.
 *
 * An upgrade at /ws/<device>?token=… is admitted after, in this order: a
 * loopback Host, the page's own Origin, the token (web-view-access.ts),
 * a known device, a subprotocol we speak, and a free slot (`maxClients`
 * WebSockets at once). A refusal is an HTTP response with a one-line
 * reason, before any WebSocket exists.
 *
 * Subprotocol: noVNC 1.7 offers none unless told to (RFB's `wsProtocols`
 * option, empty by default); websockify-era clients offer 'binary' (and
 * 'base64', which we do not speak). We answer 'binary' when it is offered
 * and nothing when nothing is; an offer without 'binary' is refused with
 * 400, since a browser fails a handshake whose answer names none of its
 * offers anyway.
 *
 * The bridge is `ws` in noServer mode (frames of at most 64 KiB: RFB
 * client messages are small, ClientCutText is bounded by the RFB server
 * too; no compression) wrapped by createWebSocketStream into the Duplex
 * `attach` gets. Both directions are flow-controlled: the stream stops
 * reading the socket while the RFB server has not read what it got, and
 * `write()` returns false once the stream holds its highWaterMark. A
 * writer that ignores that, while the browser does not read, would grow
 * our memory without end, so a socket whose unsent bytes (the stream's
 * and ws's) exceed `maxBacklogBytes` after a write is dropped.
 */
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, createWebSocketStream, type WebSocket } from 'ws';
import { logger } from '../util/log.ts';
import { hostHeaderAllowed } from '../sys/loopback-http.ts';
import { originAllowed, tokenMatches } from './web-view-access.ts';

const log = logger('vnc');

/** Largest WebSocket message a browser may send. */
export const WEB_VIEW_MAX_PAYLOAD = 64 * 1024;
/** How long close() waits for a browser to answer the close handshake before cutting the socket. */
const CLOSE_GRACE_MS = 1000;

/** Close codes (RFC 6455 section 7.4.1) and their reasons, as the browser sees them. */
const CLOSE = {
  refusedByDevice: { code: 1013, reason: 'the device refused this viewer (viewer limit reached or device gone)' },
  shutdown: { code: 1001, reason: 'the mdevsim web view is shutting down' },
} as const;

/** Connects an admitted WebSocket's stream to the device's RFB server; false when the device refuses it. */
export type AttachViewer = (device: string, stream: Duplex, peer: string) => boolean;

export interface WebSocketGateOptions {
  readonly host: string;
  /** Resolved after listen: the port the page's origin must name. */
  readonly port: () => number;
  readonly token: string;
  readonly maxClients: number;
  readonly maxBacklogBytes: number;
  readonly isDevice: (name: string) => boolean;
  readonly attach: AttachViewer;
  /** Where refusals are counted (shared with the HTTP side). */
  readonly counts: WebViewCounts;
}

/** What the web view refused or dropped, by reason. */
export interface WebViewCounts {
  /** WebSockets refused: all `maxClients` slots were taken (503). */
  refused: number;
  /** Refused by `attach` (closed with 1013). */
  deviceRefused: number;
  /** Dropped for their backlog (maxBacklogBytes). */
  dropped: number;
  /** Requests (page, /state.json, WebSockets) without the right token (403). */
  badToken: number;
  /** WebSockets from another origin or none (403). */
  badOrigin: number;
  /** Requests whose Host header names no loopback host (403). */
  badHost: number;
}

/** Admits WebSocket upgrades and bridges them to `attach`. */
export class WebSocketGate {
  readonly #opts: WebSocketGateOptions;
  readonly #wss: WebSocketServer;
  /** Sockets holding a slot: admitted to the handshake, until they close. */
  readonly #slots = new Set<Socket>();
  /** The open WebSockets by their socket. */
  readonly #open = new Map<Socket, WebSocket>();
  #closed = false;

  constructor(opts: WebSocketGateOptions) {
    this.#opts = opts;
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload: WEB_VIEW_MAX_PAYLOAD,
      perMessageDeflate: false,
      handleProtocols: (offered) => (offered.has('binary') ? 'binary' : false),
    });
  }

  /** WebSockets open now (or in their handshake). */
  get open(): number {
    return this.#slots.size;
  }

  /** The server's 'upgrade' handler; never throws. */
  upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', (err) => log.debug(`web view: WebSocket ${peerOf(socket)}: ${err.message}`));
    try {
      this.#admit(req, socket, head);
    } catch (err) {
      log.warn(`web view: WebSocket ${peerOf(socket)}: ${err instanceof Error ? err.message : String(err)}`);
      socket.destroy();
    }
  }

  /** Close every WebSocket (1001); resolves once their sockets are closed, cutting the ones that do not answer in time. */
  async closeAll(): Promise<void> {
    this.#closed = true;
    const sockets = [...this.#slots];
    for (const s of sockets) {
      const ws = this.#open.get(s);
      // A socket still in its handshake has no WebSocket to close: cut it.
      if (ws === undefined) s.destroy();
      else ws.close(CLOSE.shutdown.code, CLOSE.shutdown.reason);
    }
    const cut = setTimeout(() => { for (const s of sockets) s.destroy(); }, CLOSE_GRACE_MS);
    cut.unref();
    await Promise.all(sockets.map((s) => (s.closed ? undefined : new Promise<void>((done) => s.once('close', () => done())))));
    clearTimeout(cut);
  }

  #admit(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const { host, token, maxClients } = this.#opts;
    if (this.#closed) return refuse(socket, 503, 'The web view is shutting down.');
    if (!hostHeaderAllowed(req.headers.host, host)) {
      this.#opts.counts.badHost++;
      log.security('web-view-bad-host', `web view: refusing a WebSocket from ${peerOf(socket)} for host ${JSON.stringify(req.headers.host ?? null)}: the view answers loopback host names only.`, { peer: peerOf(socket), host: req.headers.host ?? null });
      return refuse(socket, 403, 'Forbidden: the web view answers loopback host names only.');
    }
    const [path = '', query = ''] = (req.url ?? '').split('?', 2);
    const device = /^\/ws\/([^/]+)$/.exec(path);
    if (device === null) return refuse(socket, 404, 'Not found: WebSockets are at /ws/<device>.');
    if (!originAllowed(req.headers.origin, req.headers.host, this.#opts.port())) {
      this.#opts.counts.badOrigin++;
      log.security('web-view-bad-origin', `web view: refusing a WebSocket from origin ${JSON.stringify(req.headers.origin ?? null)}: only the web view's own page may connect.`, { peer: peerOf(socket), origin: req.headers.origin ?? null });
      return refuse(socket, 403, "Forbidden: only the web view's own page may open its WebSockets.");
    }
    if (!tokenMatches(token, new URLSearchParams(query).get('token'))) {
      this.#opts.counts.badToken++;
      log.security('web-view-bad-token', `web view: refusing a WebSocket from ${peerOf(socket)}: wrong or missing token.`, { peer: peerOf(socket) });
      return refuse(socket, 403, 'Forbidden: the WebSocket URL needs the token of the URL mdevsim printed.');
    }
    const name = safeDecode(device[1]!);
    if (name === undefined || !this.#opts.isDevice(name)) return refuse(socket, 404, `Not found: no device named ${JSON.stringify(name ?? device[1])}.`);
    const offered = req.headers['sec-websocket-protocol'];
    if (offered !== undefined && !offered.split(',').some((p) => p.trim() === 'binary')) {
      return refuse(socket, 400, "Bad request: the web view speaks RFB in binary frames only (subprotocol 'binary' or none).");
    }
    if (this.#slots.size >= maxClients) {
      this.#opts.counts.refused++;
      log.security('web-view-refused', `web view: refusing a WebSocket from ${peerOf(socket)}: ${maxClients} are open.`, { peer: peerOf(socket), max: maxClients });
      return refuse(socket, 503, `The web view already has ${maxClients} open WebSockets; close a page and retry.`, { 'Retry-After': '5' });
    }
    this.#slots.add(socket);
    socket.once('close', () => this.#slots.delete(socket));
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#bridge(ws, socket, name, `web view ${peerOf(socket)}`));
  }

  #bridge(ws: WebSocket, socket: Socket, device: string, peer: string): void {
    if (this.#closed) {
      ws.close(CLOSE.shutdown.code, CLOSE.shutdown.reason);
      return;
    }
    ws.on('error', (err) => log.debug(`web view: ${peer}: ${err.message}`));
    const stream = createWebSocketStream(ws);
    stream.on('error', (err) => log.debug(`web view: ${peer}: ${err.message}`));
    this.#boundBacklog(ws, stream, peer);
    this.#open.set(socket, ws);
    ws.once('close', () => {
      this.#open.delete(socket);
      // The RFB server learns of the end through its stream's 'close', whatever state its writable side is in.
      stream.destroy();
    });
    let attached = false;
    try {
      attached = this.#opts.attach(device, stream, peer);
    } catch (err) {
      log.warn(`web view: attaching ${peer} to ${device}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!attached) {
      this.#opts.counts.deviceRefused++;
      ws.close(CLOSE.refusedByDevice.code, CLOSE.refusedByDevice.reason);
    }
  }

  /** Drop the socket once a write leaves more than maxBacklogBytes unsent (module doc). */
  #boundBacklog(ws: WebSocket, stream: Duplex, peer: string): void {
    const limit = this.#opts.maxBacklogBytes;
    const write = stream.write;
    stream.write = ((...args: Parameters<Duplex['write']>): boolean => {
      const accepted = Reflect.apply(write, stream, args) as boolean;
      const backlog = stream.writableLength + ws.bufferedAmount;
      if (backlog > limit && ws.readyState === ws.OPEN) { // once cut it is CLOSING: counted once
        this.#opts.counts.dropped++;
        log.warn(`web view: dropping ${peer}: ${backlog} bytes unsent (limit ${limit}); the browser is not reading.`);
        ws.terminate();
      }
      return accepted;
    }) as Duplex['write'];
  }
}

/** Answer an upgrade with a plain HTTP refusal and close the socket once it is sent. */
function refuse(socket: Socket, status: number, message: string, headers: Record<string, string> = {}): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = `${message}\n`;
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    'Connection: close',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Cache-Control: no-store',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`, () => socket.destroy());
}

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

const peerOf = (socket: Socket): string => `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
