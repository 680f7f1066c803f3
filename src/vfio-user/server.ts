/**
 * Serves one VfioDevice on one Unix socket (vfio-user.rst "Socket": one connection
 * = one client = one device; a process may host many devices, each on its own
 * socket). Several clients may be connected at once (up to maxClients):
 * typically the VMM plus viewers (screenshots, a test's own client) that
 * query planes and map the framebuffer while the guest runs. Each connection
 * has its own session (DMA maps, fds, export handles); all of them drive the
 * same device, as several openers of one device fd would. The device hears
 * close_device when its last client leaves.
 *
 * Replies of one turn are gathered in one per-connection buffer that goes out
 * in one sendmsg, except that a reply carrying fds is sent alone (its fds ride
 * on its first byte and nothing may follow it), and so is one too large for
 * the buffer. REGION_READ and REGION_WRITE, the bulk of the traffic, are
 * answered straight into that buffer (Session.handleInto); everything else
 * goes through Session.handle. When the framer runs dry, the turn sends its
 * replies and reads once more before returning to the event loop (as a
 * blocking server's read after its write): a client on the same CPU has
 * usually queued its next request by then. That read counts against the
 * same turn budget, and reads that find nothing in a row back off (0, 1,
 * 3, 7, then 15 turns), so a slower client pays about one recvmsg in 16
 * turns for it.
 *
 * Fairness and memory (one process serves many VMs, so one client must never
 * stall or exhaust the others):
 * - a turn handles at most TURN_MESSAGES requests or TURN_BYTES of request
 *   plus reply bytes; the rest waits for a setImmediate, with the socket
 *   paused, so every other connection, the control socket and signals get
 *   their turn in between;
 * - while more than `outputLimit` bytes of replies are queued behind a peer
 *   that is not reading, that socket is not read at all; reading resumes on
 *   'drain'. A client that never reads costs at most outputLimit + one reply
 *   + the read buffer + one partial request (about 4 MiB at the defaults);
 * - every fd a client makes us hold (its socket, fds in flight, DMA map fds,
 *   queued reply fds) is charged to its account on the fd ledger; a client
 *   over its share gets EMFILE or is dropped, never the process;
 * - a connection that has not sent VERSION within `handshakeTimeoutMs` is
 *   closed; when every slot is taken, a newcomer displaces the longest-idle
 *   connection that never mapped DMA (the VMM maps guest RAM at once and is
 *   never displaced), else it is refused.
 *
 * A corrupt stream (framer ProtocolViolation, MSG_CTRUNC) or any failure
 * while handling drops this connection only: its DMA maps, fds and export
 * handles are released, the device state is kept, the other clients are
 * untouched and a new client may connect.
 */
import { logger } from '../util/log.ts';
import { closeFd, inspectFd } from '../sys/fds.ts';
import { socketAccessOptions, type SocketAccess } from '../sys/socket-access.ts';
import { listen, type UnixServer, type UnixSocket, type Ancillary } from '../sys/socket.ts';
import { processFdLedger, type FdAccount, type FdLedger, type FdRegistration } from '../sys/fd-ledger.ts';
import type { VfioDevice } from '../vfio/device.ts';
import { Framer, ProtocolViolation, type Frame } from './framer.ts';
import { VFIO_USER_DMA_MAP } from './protocol.ts';
import { SERVER_DEFAULTS } from './limits.ts';

export { SERVER_DEFAULTS } from './limits.ts';
import { Session, maxMessageSize, type Outgoing, type SessionLimits, DEFAULT_SESSION_LIMITS } from './session.ts';

const log = logger('vfio-user');

/** Most requests handled in one turn before yielding to the event loop. */
const TURN_MESSAGES = 64;
/** Most request + reply bytes handled in one turn before yielding. */
const TURN_BYTES = 1 << 20;
/** Most turns without read-ahead after read-aheads that found nothing. */
const READ_AHEAD_MAX_SKIP = 15;
/** fds a device server holds itself: its listening socket. */
const SERVER_FIXED_FDS = 1;

export interface DeviceServerOptions {
  /** Socket path (created 0600; a stale file is replaced, a live one refused). */
  readonly path: string;
  /** Who may connect: the socket file's mode and group. @defaultValue { mode: 0o600 } */
  readonly access?: SocketAccess;
  readonly device: VfioDevice;
  /** For logs. @defaultValue the path */
  readonly label?: string;
  /** Offer the display extension to clients that propose it. @defaultValue false */
  readonly display?: boolean;
  readonly limits?: Partial<SessionLimits>;
  /** Observer for connection events (the CLI logs them). */
  readonly onEvent?: (event: ServerEvent) => void;
  /** Most clients connected at once (see the slot policy above). @defaultValue 4 */
  readonly maxClients?: number;
  /** A connection that has not completed VERSION by then is closed. @defaultValue 3000 */
  readonly handshakeTimeoutMs?: number;
  /** Stop reading a connection while more reply bytes than this are queued for it. @defaultValue 1 MiB */
  readonly outputLimit?: number;
  /** Where connections' fds are charged. @defaultValue the process ledger */
  readonly fdLedger?: FdLedger;
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
  /** Connections dropped for a corrupt stream or a failure while handling. */
  dropped: number;
  /** Connections closed because they had not sent VERSION in time. */
  handshakeTimeouts: number;
  /** Connections displaced by a newcomer when every slot was taken. */
  displaced: number;
  /** Times a connection stopped being read because its queued output was over the limit. */
  throttled: number;
  /** Turns cut short by the per-turn budget. */
  yields: number;
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
  readonly account: FdAccount;
  /** Replies of one turn are gathered here (off-heap: the addon reads it without a copy). */
  readonly out: Uint8Array;
  readonly observer: ConnectionObserver | undefined;
  readonly handshake: NodeJS.Timeout | undefined;
  /** Mapped DMA at least once: this is the VMM, never displaced. */
  vmm: boolean;
  /** Turn counter value at its last request (a logical clock: no time is read). */
  lastActive: number;
  /** A continuation turn is scheduled. */
  continuing: boolean;
  /** Not read while its queued output is over the limit. */
  throttled: boolean;
  /** A turn is reading ahead (socket.readNow): 'data' only feeds the framer, the running turn handles it. */
  readingAhead: boolean;
  /** The last out.subarray(0, n) sent: replies of one size in a row reuse it. */
  outView: Uint8Array;
  /** Turns left before the next read-ahead attempt (set when one found nothing). */
  readAheadSkip: number;
  /** Turns the next miss skips: 0 after a read-ahead found data, then 1, 3, 7, … READ_AHEAD_MAX_SKIP per miss in a row. */
  readAheadBackoff: number;
}

/** Size of a connection's reply buffer; larger replies go out on their own. */
const OUT_BUFFER_SIZE = 64 * 1024;
const NO_FDS: readonly number[] = [];

/** out[0, n) as a view; send() copies whatever it queues, so one view may be sent again. */
function outView(c: Connection, n: number): Uint8Array {
  if (c.outView.length !== n) c.outView = c.out.subarray(0, n);
  return c.outView;
}

export class DeviceServer {
  readonly path: string;
  readonly label: string;
  readonly stats: ServerStats = {
    connections: 0, refused: 0, dropped: 0, handshakeTimeouts: 0, displaced: 0, throttled: 0, yields: 0, requests: 0, errors: 0,
  };
  readonly #listener: UnixServer;
  readonly #limits: SessionLimits;
  readonly #active = new Set<Connection>();
  readonly #maxClients: number;
  readonly #handshakeTimeoutMs: number;
  readonly #outputLimit: number;
  readonly #ledger: FdLedger;
  readonly #registration: FdRegistration;
  #clock = 0;
  #closing: Promise<void> | undefined;

  private constructor(private readonly opts: DeviceServerOptions) {
    this.path = opts.path;
    this.label = opts.label ?? opts.path;
    this.#limits = { ...DEFAULT_SESSION_LIMITS, ...opts.limits };
    this.#maxClients = opts.maxClients ?? SERVER_DEFAULTS.maxClients;
    this.#handshakeTimeoutMs = opts.handshakeTimeoutMs ?? SERVER_DEFAULTS.handshakeTimeoutMs;
    this.#outputLimit = opts.outputLimit ?? SERVER_DEFAULTS.outputLimit;
    for (const [name, v] of [['maxClients', this.#maxClients], ['handshakeTimeoutMs', this.#handshakeTimeoutMs], ['outputLimit', this.#outputLimit]] as const) {
      if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`DeviceServer: ${name} must be a positive integer, got ${v}`);
    }
    this.#ledger = opts.fdLedger ?? processFdLedger();
    this.#listener = listen(opts.path, { maxFds: this.#limits.maxMsgFds, ...socketAccessOptions(opts.access) });
    this.#registration = this.#ledger.register(this.#maxClients, SERVER_FIXED_FDS);
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
    this.#listener.close();
    for (const c of [...this.#active]) this.#drop(c, 'server closing');
    this.#registration.release();
  }

  /**
   * Stop accepting and reading; give each client until `deadlineMs` to take
   * the replies already queued for it, then drop whoever is left and remove
   * the socket. Resolves when every connection is gone. Idempotent.
   */
  shutdown(deadlineMs: number): Promise<void> {
    this.#closing ??= new Promise<void>((done) => {
      this.#listener.close();
      const pending = new Set<Connection>();
      const finish = (): void => {
        if (pending.size > 0) return;
        clearTimeout(timer);
        this.#registration.release();
        done();
      };
      const timer = setTimeout(() => {
        for (const c of pending) this.#drop(c, `shutting down: replies not taken within ${deadlineMs} ms`);
        pending.clear();
        finish();
      }, deadlineMs);
      timer.unref();
      for (const c of [...this.#active]) {
        c.socket.pause();
        if (c.socket.queuedBytes === 0) {
          this.#drop(c, 'server shutting down');
          continue;
        }
        pending.add(c);
        c.socket.on('drain', () => {
          pending.delete(c);
          this.#drop(c, 'server shutting down');
          finish();
        });
        c.socket.on('close', () => {
          pending.delete(c);
          finish();
        });
      }
      finish();
    });
    return this.#closing;
  }

  #accept(socket: UnixSocket): void {
    if (this.#closing !== undefined) {
      socket.close();
      return;
    }
    if (this.#active.size >= this.#maxClients) {
      const victim = this.#displaceable();
      if (victim === undefined) {
        this.#refuse(socket, `${this.#maxClients} clients are connected and each has mapped DMA`);
        return;
      }
      this.stats.displaced++;
      log.security('client-displaced', `${this.label}: a new client displaced the longest-idle one that never mapped DMA (all ${this.#maxClients} slots were taken)`, { name: this.label, max: this.#maxClients });
      this.#drop(victim, `displaced by a new client: all ${this.#maxClients} slots were taken and this was the longest-idle client that never mapped DMA`);
    }
    const account = this.#ledger.open(`${this.label} client`, 1 + this.#limits.maxMsgFds);
    if (account === undefined) {
      this.#refuse(socket, `no fd budget left for another client (${this.#ledger.perAccount} per client, ${this.#ledger.used} of ${this.#ledger.capacity} in use)`);
      return;
    }
    socket.setFdCharger(account);
    const framer = new Framer({ maxMessageSize: maxMessageSize(this.#limits), maxFdsPerMessage: this.#limits.maxMsgFds }, closeFd);
    const session = new Session(this.opts.device, {
      limits: this.#limits, closeFd, inspectFd, fds: account, label: this.label, display: this.opts.display ?? false,
    });
    let observer: ConnectionObserver | undefined;
    try {
      observer = this.opts.observe?.();
    } catch (err) {
      // Recording is a side job: failing to start it must not cost the client its connection.
      log.error(`${this.label}: traffic observer failed, serving this client unobserved: ${err instanceof Error ? err.message : String(err)}`);
    }
    const handshake = setTimeout(() => {
      if (!this.#active.has(active) || active.session.negotiated !== undefined) return;
      this.stats.handshakeTimeouts++;
      this.#drop(active, `no VERSION within ${this.#handshakeTimeoutMs} ms`);
    }, this.#handshakeTimeoutMs);
    handshake.unref();
    const out = new Uint8Array(new ArrayBuffer(OUT_BUFFER_SIZE));
    const active: Connection = {
      socket, framer, session, account, observer, handshake,
      out, outView: out.subarray(0, 0),
      vmm: false, lastActive: ++this.#clock, continuing: false, throttled: false, readingAhead: false, readAheadSkip: 0, readAheadBackoff: 0,
    };
    this.#active.add(active);
    this.stats.connections++;
    this.opts.onEvent?.({ kind: 'connected', label: this.label });
    socket.on('data', (bytes, anc) => this.#onData(active, bytes, anc));
    socket.on('drain', () => {
      if (!active.throttled) return;
      active.throttled = false;
      this.#turn(active);
    });
    socket.on('close', (info) => {
      this.#drop(active, info.reason === 'local' ? 'closed' : info.error ? `peer ${info.reason}: ${info.error.message}` : `peer ${info.reason}`);
    });
  }

  #refuse(socket: UnixSocket, reason: string): void {
    this.stats.refused++;
    this.opts.onEvent?.({ kind: 'refused', label: this.label, reason });
    log.security('client-refused', `${this.label}: refusing a client: ${reason}`, { name: this.label, reason });
    socket.close();
  }

  /** The longest-idle connection that never mapped DMA, if any. */
  #displaceable(): Connection | undefined {
    let best: Connection | undefined;
    for (const c of this.#active) if (!c.vmm && (best === undefined || c.lastActive < best.lastActive)) best = c;
    return best;
  }

  #onData(active: Connection, bytes: Uint8Array, anc: Ancillary | undefined): void {
    if (!this.#active.has(active)) return; // the socket closes whatever fds arrived
    if (anc?.truncated) {
      this.stats.dropped++;
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
    if (!active.readingAhead) this.#turn(active);
  }

  /**
   * Handle buffered requests until the framer needs more bytes, the turn's
   * budget is spent, or the queued output is over the limit; read on only in
   * the first case. Never throws: a failure drops this connection.
   */
  #turn(active: Connection): void {
    if (this.#closing !== undefined) return; // shutting down: only queued replies still go out
    const { out, socket, session, observer, framer } = active;
    let pos = 0;
    let messages = 0;
    let bytes = 0;
    let exhausted = false;
    try {
      active.lastActive = ++this.#clock;
      for (;;) {
        if (messages >= TURN_MESSAGES || bytes >= TURN_BYTES || socket.queuedBytes > this.#outputLimit) {
          exhausted = true;
          break;
        }
        const frame = framer.next();
        if (frame === undefined) {
          // Out of requests. Reply now and read again before going back to
          // the event loop (within this turn's budget): a client that got
          // its reply while we were sending may have queued the next request
          // already. Misses in a row back off exponentially, so a
          // client that is always slower than us costs one extra recvmsg
          // per READ_AHEAD_MAX_SKIP + 1 turns.
          if (active.readAheadSkip > 0) {
            active.readAheadSkip--;
            break;
          }
          // The replies and the read after them: one native call.
          active.readingAhead = true;
          const replies = pos;
          pos = 0;
          let got: boolean;
          try {
            if (replies > 0) got = socket.sendAndReadNow(outView(active, replies));
            else got = socket.queuedBytes > 0 ? false : socket.readNow();
          } finally {
            active.readingAhead = false;
          }
          if (!this.#active.has(active)) return; // dropped while reading (MSG_CTRUNC)
          if (socket.queuedBytes > 0) break; // replies queued: nothing was read
          if (!got) {
            active.readAheadSkip = active.readAheadBackoff;
            active.readAheadBackoff = Math.min(active.readAheadBackoff * 2 + 1, READ_AHEAD_MAX_SKIP);
            break;
          }
          active.readAheadBackoff = 0;
          continue;
        }
        messages++;
        bytes += frame.size;
        if (observer === undefined) {
          const end = session.handleInto(frame, out, pos);
          if (end >= 0) {
            bytes += end - pos;
            pos = end;
            continue;
          }
        } else {
          observer.request(frame);
        }
        const reply = session.handle(frame);
        if (frame.command === VFIO_USER_DMA_MAP && session.dmaMapCount > 0) active.vmm = true;
        if (!reply) continue;
        observer?.reply(reply);
        const n = reply.bytes.length;
        bytes += n;
        if (reply.fds.length > 0) {
          // A reply with fds gets a sendmsg of its own: the fds ride on its
          // first byte, and a receiver attributes them to the message holding
          // the last byte of the read they arrive with (framer.ts), so nothing
          // may follow it in the same sendmsg.
          if (pos > 0) socket.send(outView(active, pos));
          pos = 0;
          socket.send(reply.bytes, reply.fds);
        } else if (pos + n <= out.length) {
          out.set(reply.bytes, pos);
          pos += n;
        } else {
          if (pos > 0) socket.send(outView(active, pos));
          pos = 0;
          socket.send(reply.bytes);
        }
      }
      if (pos > 0) socket.send(outView(active, pos));
    } catch (err) {
      if (pos > 0 && this.#active.has(active)) socket.send(outView(active, pos));
      this.stats.dropped++;
      if (err instanceof ProtocolViolation) this.#drop(active, `corrupt stream: ${err.message}`);
      else {
        log.error(`${this.label}: internal error while handling a request: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
        this.#drop(active, 'internal error while handling a request');
      }
      return;
    }
    if (!this.#active.has(active)) return; // a send failed and closed it
    if (!exhausted) {
      socket.resume();
      return;
    }
    socket.pause();
    if (socket.queuedBytes > this.#outputLimit) {
      // 'drain' continues; the peer's own reading is what we wait for.
      if (!active.throttled) this.stats.throttled++;
      active.throttled = true;
      return;
    }
    this.stats.yields++;
    if (active.continuing) return;
    active.continuing = true;
    setImmediate(() => {
      active.continuing = false;
      if (this.#active.has(active) && !active.throttled) this.#turn(active);
    });
  }

  #drop(active: Connection, reason: string): void {
    if (!this.#active.delete(active)) return;
    clearTimeout(active.handshake);
    this.stats.requests += active.session.stats.requests;
    this.stats.errors += active.session.stats.errors;
    active.framer.close();
    active.observer?.close();
    active.session.close(this.#active.size === 0);
    active.socket.close();
    active.account.close();
    log.info(`${this.label}: client disconnected (${reason})`);
    this.opts.onEvent?.({ kind: 'disconnected', label: this.label, reason, requests: active.session.stats.requests });
  }
}
