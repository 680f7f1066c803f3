/**
 * Serves one VfioDevice on one Unix socket (vfio-user.md §1.1: one connection
 * = one client = one device; a process may host many devices, each on its own
 * socket). Several clients may be connected at once (up to maxClients):
 * typically the VMM plus viewers (screenshots, a test's own client) that
 * query planes and map the framebuffer while the guest runs. Each connection
 * has its own session (DMA maps, fds, export handles); all of them drive the
 * same device, as several openers of one device fd would. The device hears
 * close_device when its last client leaves.
 *
 * Per readable wake the socket has already been drained (src/sys/socket.ts);
 * every whole message in that batch is handled, and the replies are gathered
 * in one per-connection buffer that goes out in one sendmsg, except that a
 * reply carrying fds is sent alone (its fds ride on its first byte and
 * nothing may follow it), and so is one too large for the buffer. REGION_READ
 * and REGION_WRITE, the bulk of the traffic, are answered straight into that
 * buffer (Session.handleInto); everything else goes through Session.handle.
 *
 * A corrupt stream (framer ProtocolViolation, MSG_CTRUNC) drops this
 * connection only: its DMA maps, fds and export handles are released, the
 * device state is kept, the other clients are untouched and a new client may
 * connect.
 */
import { logger } from '../util/log.ts';
import { closeFd, inspectFd } from '../sys/fds.ts';
import { listen, type UnixServer, type UnixSocket, type Ancillary } from '../sys/socket.ts';
import type { VfioDevice } from '../vfio/device.ts';
import { Framer, ProtocolViolation, type Frame } from './framer.ts';
import { Session, maxMessageSize, type Outgoing, type SessionLimits, DEFAULT_SESSION_LIMITS } from './session.ts';

const log = logger('vfio-user');

export interface DeviceServerOptions {
  /** Socket path (created 0600; a stale file is replaced, a live one refused). */
  readonly path: string;
  readonly device: VfioDevice;
  /** For logs. @defaultValue the path */
  readonly label?: string;
  /** Offer the display extension to clients that propose it. @defaultValue false */
  readonly display?: boolean;
  readonly limits?: Partial<SessionLimits>;
  /** Observer for connection events (the CLI logs them). */
  readonly onEvent?: (event: ServerEvent) => void;
  /** Most clients connected at once; more are closed at accept. @defaultValue 4 */
  readonly maxClients?: number;
  /**
   * Called at each accept; an observer it returns sees every request (before
   * it is handled, fds still open) and every reply of that connection, and is
   * closed when the connection goes. Used by `serve --record`. Observed
   * connections take the general path (no handleInto), so replies exist as
   * whole messages.
   */
  readonly observe?: () => ConnectionObserver | undefined;
}

export type ServerEvent =
  | { readonly kind: 'connected'; readonly label: string }
  | { readonly kind: 'refused'; readonly label: string; readonly reason: string }
  | { readonly kind: 'disconnected'; readonly label: string; readonly reason: string; readonly requests: number };

/** Counters over the server's lifetime (tests, soak benchmark). */
export interface ServerStats {
  connections: number;
  refused: number;
  dropped: number;
  requests: number;
  errors: number;
}

/** Sees one connection's traffic (src/trace/recorder.ts writes it to a trace). */
export interface ConnectionObserver {
  request(frame: Frame): void;
  reply(out: Outgoing): void;
  close(): void;
}

interface Connection {
  readonly socket: UnixSocket;
  readonly framer: Framer;
  readonly session: Session;
  /** Replies of one wake are gathered here (off-heap: the addon reads it without a copy). */
  readonly out: Uint8Array;
  readonly observer: ConnectionObserver | undefined;
}

/** Size of a connection's reply buffer; larger replies go out on their own. */
const OUT_BUFFER_SIZE = 64 * 1024;
const NO_FDS: readonly number[] = [];

export class DeviceServer {
  readonly path: string;
  readonly label: string;
  readonly stats: ServerStats = { connections: 0, refused: 0, dropped: 0, requests: 0, errors: 0 };
  readonly #listener: UnixServer;
  readonly #limits: SessionLimits;
  readonly #active = new Set<Connection>();
  readonly #maxClients: number;

  private constructor(private readonly opts: DeviceServerOptions) {
    this.path = opts.path;
    this.label = opts.label ?? opts.path;
    this.#limits = { ...DEFAULT_SESSION_LIMITS, ...opts.limits };
    this.#maxClients = opts.maxClients ?? 4;
    this.#listener = listen(opts.path, { maxFds: this.#limits.maxMsgFds });
    this.#listener.on('connection', (socket) => this.#accept(socket));
    this.#listener.on('error', (err) => log.warn(`${this.label}: accept failed: ${err.message}`));
  }

  /** Start listening on opts.path. Throws (EADDRINUSE) when a live server owns the path. */
  static listen(opts: DeviceServerOptions): DeviceServer {
    return new DeviceServer(opts);
  }

  get connected(): boolean {
    return this.#active.size > 0;
  }

  /** Connected clients. */
  get clients(): number {
    return this.#active.size;
  }

  /** The oldest connected client's session (for tests and management). */
  get session(): Session | undefined {
    return this.#active.values().next().value?.session;
  }

  /** Stop listening, drop every client, remove the socket file. The device itself is not destroyed. */
  close(): void {
    for (const c of [...this.#active]) this.#drop(c, 'server closing');
    this.#listener.close();
  }

  #accept(socket: UnixSocket): void {
    if (this.#active.size >= this.#maxClients) {
      this.stats.refused++;
      const reason = `${this.#maxClients} clients are already connected`;
      this.opts.onEvent?.({ kind: 'refused', label: this.label, reason });
      log.warn(`${this.label}: refusing a client: ${reason}`);
      socket.close();
      return;
    }
    const framer = new Framer({ maxMessageSize: maxMessageSize(this.#limits), maxFdsPerMessage: this.#limits.maxMsgFds }, closeFd);
    const session = new Session(this.opts.device, {
      limits: this.#limits, closeFd, inspectFd, label: this.label, display: this.opts.display ?? false,
    });
    let observer: ConnectionObserver | undefined;
    try {
      observer = this.opts.observe?.();
    } catch (err) {
      // Recording is a side job: failing to start it must not cost the client its connection.
      log.error(`${this.label}: traffic observer failed, serving this client unobserved: ${err instanceof Error ? err.message : String(err)}`);
    }
    const active: Connection = { socket, framer, session, out: new Uint8Array(new ArrayBuffer(OUT_BUFFER_SIZE)), observer };
    this.#active.add(active);
    this.stats.connections++;
    this.opts.onEvent?.({ kind: 'connected', label: this.label });
    socket.on('data', (bytes, anc) => this.#onData(active, bytes, anc));
    socket.on('close', (info) => {
      this.#drop(active, info.reason === 'local' ? 'closed' : `peer ${info.reason}`);
    });
  }

  #onData(active: Connection, bytes: Uint8Array, anc: Ancillary | undefined): void {
    if (!this.#active.has(active)) {
      if (anc) anc.fds.closeAll();
      return;
    }
    if (anc?.truncated) {
      this.#drop(active, 'fds truncated (MSG_CTRUNC): more fds than allowed in one message');
      return;
    }
    let fds = NO_FDS;
    if (anc && anc.fds.length > 0) {
      const taken: number[] = [];
      for (let i = 0; i < anc.fds.length; i++) taken.push(anc.fds.take(i));
      fds = taken;
    }
    active.framer.push(bytes, fds);
    // Replies accumulate in active.out and leave in one sendmsg (one iovec)
    // per wake; send() copies whatever the kernel does not take at once, so
    // the buffer is free again as soon as send() returns.
    const { out, socket, session, observer } = active;
    let pos = 0;
    try {
      for (let frame = active.framer.next(); frame; frame = active.framer.next()) {
        if (observer === undefined) {
          const end = session.handleInto(frame, out, pos);
          if (end >= 0) {
            pos = end;
            continue;
          }
        } else {
          observer.request(frame);
        }
        const reply = session.handle(frame);
        if (!reply) continue;
        observer?.reply(reply);
        const n = reply.bytes.length;
        if (reply.fds.length > 0) {
          // A reply with fds gets a sendmsg of its own: the fds ride on its
          // first byte, and a receiver attributes them to the message holding
          // the last byte of the read they arrive with (framer.ts), so nothing
          // may follow it in the same sendmsg.
          if (pos > 0) socket.send(out.subarray(0, pos));
          pos = 0;
          socket.send(reply.bytes, reply.fds);
        } else if (pos + n <= out.length) {
          out.set(reply.bytes, pos);
          pos += n;
        } else {
          if (pos > 0) socket.send(out.subarray(0, pos));
          pos = 0;
          socket.send(reply.bytes);
        }
      }
      if (pos > 0) socket.send(out.subarray(0, pos));
    } catch (err) {
      if (pos > 0) socket.send(out.subarray(0, pos));
      if (err instanceof ProtocolViolation) {
        this.stats.dropped++;
        this.#drop(active, `corrupt stream: ${err.message}`);
        return;
      }
      throw err;
    }
  }

  #drop(active: Connection, reason: string): void {
    if (!this.#active.delete(active)) return;
    this.stats.requests += active.session.stats.requests;
    this.stats.errors += active.session.stats.errors;
    active.framer.close();
    active.observer?.close();
    active.session.close(this.#active.size === 0);
    active.socket.close();
    log.info(`${this.label}: client disconnected (${reason})`);
    this.opts.onEvent?.({ kind: 'disconnected', label: this.label, reason, requests: active.session.stats.requests });
  }
}
