/**
 * One device's VNC server: a listener — a Unix socket in the checked socket
 * directory, or TCP — and the streams the web view hands over (attach), all
 * sharing the device's {@link Screen} and at most `maxViewers` at once.
 *
 * Listener connections are charged to the fd ledger; a viewer over
 * attach() rides on a socket its owner already charged. A viewer one over
 * the cap is closed at once (before the handshake), as are connections the
 * ledger has no fds for.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { processFdLedger, type FdLedger, type FdRegistration } from '../sys/fd-ledger.ts';
import { listen, type UnixServer } from '../sys/socket.ts';
import { unixSocketStream } from '../sys/socket-stream.ts';
import { socketAccessOptions, type SocketAccess } from '../sys/socket-access.ts';
import { ConfigError } from '../util/errors.ts';
import { logger } from '../util/log.ts';
import { RfbConnection, type RfbAuth, type RfbConnectionStats, type RfbInput } from './rfb-connection.ts';
import type { Screen } from './screen.ts';

const log = logger('vnc');

export type VncTarget =
  | { readonly kind: 'unix'; readonly path: string }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number };

export interface VncServerOptions {
  readonly name: string;
  readonly screen: Screen;
  /** The desktop name now (it may change: setDesktopName… see desktopNameChanged()). */
  readonly desktopName: () => string;
  /** Where to listen; null serves attach() only. */
  readonly target: VncTarget | null;
  /** How listener connections authenticate (attach() streams are authenticated by their owner). */
  readonly auth: RfbAuth;
  /** A new viewer's input, or null for view-only. */
  readonly input: () => RfbInput | null;
  /** @defaultValue 8 */
  readonly maxViewers?: number;
  /** @defaultValue 30000 */
  readonly handshakeTimeoutMs?: number;
  /** @defaultValue 1 MiB */
  readonly highWaterBytes?: number;
  /** @defaultValue processFdLedger() */
  readonly fdLedger?: FdLedger;
  /** Who may connect to a Unix-socket listener. @defaultValue owner only */
  readonly access?: SocketAccess;
}

export interface VncServerStats {
  readonly viewers: number;
  readonly accepted: number;
  readonly refused: number;
  readonly noFds: number;
  readonly connections: readonly RfbConnectionStats[];
}

export const DEFAULT_VNC_MAX_VIEWERS = 8;

export class VncServer {
  readonly name: string;
  /** The socket path, or host:port (the port bound, when 0 was asked for); null without a listener. */
  address: string | null;
  readonly #o: VncServerOptions;
  readonly #maxViewers: number;
  readonly #viewers = new Set<RfbConnection>();
  readonly #fds: FdRegistration;
  readonly #ledger: FdLedger;
  #unix: UnixServer | null = null;
  #tcp: Server | null = null;
  #accepted = 0;
  #refused = 0;
  #noFds = 0;
  #closed = false;

  private constructor(opts: VncServerOptions, address: string | null) {
    this.name = opts.name;
    this.address = address;
    this.#o = opts;
    this.#maxViewers = opts.maxViewers ?? DEFAULT_VNC_MAX_VIEWERS;
    this.#ledger = opts.fdLedger ?? processFdLedger();
    this.#fds = this.#ledger.register(opts.target === null ? 0 : this.#maxViewers, opts.target === null ? 0 : 1);
  }

  /**
   * Start listening.
   * @throws ConfigError (rejects) when the TCP address is in use or cannot be bound, or the socket path is taken by a live server.
   */
  static async start(opts: VncServerOptions): Promise<VncServer> {
    const max = opts.maxViewers ?? DEFAULT_VNC_MAX_VIEWERS;
    if (!Number.isInteger(max) || max < 1 || max > 1000) throw new ConfigError(`VNC: at most ${String(max)} viewers must be an integer 1–1000.`);
    const t = opts.target;
    if (t === null) return new VncServer(opts, null);
    if (t.kind === 'unix') {
      const server = new VncServer(opts, t.path);
      try {
        server.#unix = listen(t.path, { ...socketAccessOptions(opts.access), maxFds: 0 });
      } catch (err) {
        server.#fds.release();
        throw new ConfigError(`VNC for ${opts.name}: cannot listen on ${t.path}: ${err instanceof Error ? err.message : String(err)}.`);
      }
      server.#unix.on('connection', (s) => {
        const account = server.#ledger.open('vnc viewer', 1);
        if (account === undefined) { server.#noFds++; s.close(); return; }
        s.setFdCharger(account);
        s.on('close', () => account.close());
        server.#admit(unixSocketStream(s), `${opts.name} vnc (unix)`);
      });
      server.#unix.on('error', (err) => log.warn(`${opts.name}: VNC accept failed: ${err.message}`));
      return server;
    }
    const server = new VncServer(opts, `${t.host}:${t.port}`);
    const tcp = createServer({ noDelay: true }, (s: Socket) => {
      const account = server.#ledger.open('vnc viewer', 1);
      if (account === undefined) { server.#noFds++; s.destroy(); return; }
      s.on('close', () => account.close());
      server.#admit(s, `${opts.name} vnc ${s.remoteAddress ?? '?'}:${s.remotePort ?? '?'}`);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ host: t.host, port: t.port, backlog: 16 }, () => { tcp.off('error', reject); resolve(); });
      });
    } catch (err) {
      server.#fds.release();
      const code = (err as NodeJS.ErrnoException).code;
      throw new ConfigError(code === 'EADDRINUSE'
        ? `VNC for ${opts.name}: ${t.host}:${t.port} is in use; choose another display with --vnc HOST:DISPLAY.`
        : `VNC for ${opts.name}: cannot listen on ${t.host}:${t.port} (${code ?? 'error'}).`);
    }
    tcp.on('error', (err) => log.warn(`${opts.name}: VNC listener: ${err.message}`));
    server.#tcp = tcp;
    const bound = tcp.address();
    if (bound !== null && typeof bound === 'object') server.address = `${t.host}:${bound.port}`;
    return server;
  }

  /** Serve an already authenticated stream (the web view's WebSocket). False when the viewer cap is reached. */
  attach(stream: Duplex, peer: string): boolean {
    if (this.#closed || this.#viewers.size >= this.#maxViewers) { this.#refused++; return false; }
    this.#start(stream, peer, { kind: 'none' });
    return true;
  }

  stats(): VncServerStats {
    return {
      viewers: this.#viewers.size, accepted: this.#accepted, refused: this.#refused, noFds: this.#noFds,
      connections: [...this.#viewers].map((c) => c.stats()),
    };
  }

  /** The desktop name changed: tell the viewers that can hear it (DesktopName pseudo-encoding). */
  desktopNameChanged(): void {
    for (const v of this.#viewers) v.desktopNameChanged();
  }

  /** Stop listening and drop every viewer. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const v of [...this.#viewers]) v.close('server stopping');
    this.#unix?.close();
    if (this.#tcp) await new Promise<void>((resolve) => this.#tcp!.close(() => resolve()));
    this.#fds.release();
  }

  #admit(stream: Duplex, peer: string): void {
    if (this.#closed || this.#viewers.size >= this.#maxViewers) {
      this.#refused++;
      log.security('vnc-viewer-refused', `${this.name}: refusing a VNC viewer: ${this.#maxViewers} are connected`, { name: this.name, peer, max: this.#maxViewers });
      stream.destroy();
      return;
    }
    this.#start(stream, peer, this.#o.auth);
  }

  #start(stream: Duplex, peer: string, auth: RfbAuth): void {
    this.#accepted++;
    const conn = new RfbConnection(stream, {
      screen: this.#o.screen,
      auth,
      desktopName: this.#o.desktopName,
      input: this.#o.input(),
      peer,
      ...(this.#o.handshakeTimeoutMs !== undefined ? { handshakeTimeoutMs: this.#o.handshakeTimeoutMs } : {}),
      ...(this.#o.highWaterBytes !== undefined ? { highWaterBytes: this.#o.highWaterBytes } : {}),
      onClose: () => this.#viewers.delete(conn),
    });
    if (!conn.closed) this.#viewers.add(conn);
  }
}
