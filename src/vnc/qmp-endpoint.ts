/**
 * mdevsim's end of QEMU's QMP monitor, through which viewers' keyboard and
 * pointer reach the guest (`input-send-event`). mdevsim listens on
 * `<dir>/<device>.qmp` in its checked socket directory and QEMU connects as
 * a client, so the directory stays ours and QEMU can start before or after
 * mdevsim (docs/vnc.md "Keyboard and mouse (QMP)"):
 *
 *   -chardev socket,id=mdevsim-qmp,path=<dir>/<device>.qmp,reconnect-ms=1000
 *   -mon chardev=mdevsim-qmp,mode=control
 *
 * (QEMU < 9.2 spells the option `reconnect=1`, in seconds; qemuInputArgs).
 *
 * The protocol (QEMU docs/interop/qmp-spec.rst): one JSON object per line.
 * QEMU greets with {"QMP":{...}}; we answer qmp_capabilities; its
 * {"return":{}} makes the peer ready. Commands are answered in order, each
 * reply carrying the command's id; {"event":...} lines are asynchronous
 * events, counted and ignored.
 *
 * Bounds: one peer at a time (another connection is closed at once; QEMU's
 * reconnect brings it back once the slot is free), an unfinished line of at
 * most maxLineBytes (more drops the peer), no greeting and capabilities
 * reply within greetingTimeoutMs drops the peer, and at most maxPending
 * commands in flight. Input beyond that is dropped, never queued:
 * - batches of motion only are refused once three quarters of the window
 *   are in flight, so the last quarter is kept for keys and buttons;
 * - when a batch holding key or button releases is dropped, those releases
 *   are owed: they are sent as soon as a reply frees room, unless a newer
 *   event for the same key or button went out first. A dropped key-down is
 *   simply lost (the key is not pressed, its later release is harmless),
 *   so a dropped batch never leaves a key or button stuck down.
 * Errors QEMU returns are counted and logged once per distinct error per
 * peer, never thrown; nothing QEMU sends can throw out of an event handler.
 */
import { EventEmitter } from 'node:events';
import { logger } from '../util/log.ts';
import { ConfigError } from '../util/errors.ts';
import { processFdLedger, type FdAccount, type FdLedger, type FdRegistration } from '../sys/fd-ledger.ts';
import { socketAccessOptions, type SocketAccess } from '../sys/socket-access.ts';
import { listen, type CloseInfo, type UnixServer, type UnixSocket } from '../sys/socket.ts';
import { checkSocketPathLength } from '../sys/trusted-path.ts';
import { LineSplitter, LineTooLongError } from './qmp-lines.ts';
import type { QmpInputEvent } from './input.ts';

const log = logger('vnc');

export const QMP_DEFAULTS = {
  /** Longest line QEMU may send (its replies to input-send-event are a few dozen bytes). */
  maxLineBytes: 64 * 1024,
  /** Most input-send-event commands in flight. */
  maxPending: 64,
  /** A peer that has not greeted and answered qmp_capabilities by then is dropped. */
  greetingTimeoutMs: 5000,
} as const;

/** Most events one input-send-event may carry; a larger batch is dropped (a caller's bug, not input). */
export const MAX_EVENTS_PER_COMMAND = 256;
/** Distinct QEMU errors logged per peer; later ones are only counted. */
const MAX_LOGGED_ERRORS = 32;
/** Owed releases kept at most (one per key or button: QKeyCodes and key numbers fit many times over). */
const MAX_OWED = 512;
/** Longest QEMU error text quoted in a log line or an error message. */
const MAX_QUOTED = 200;
/** The id of our qmp_capabilities; input commands count from 1. */
const CAPABILITIES_ID = 0;
/** The chardev id in the QEMU options we print (any id works for us). */
const CHARDEV_ID = 'mdevsim-qmp';

export interface QmpEndpointOptions {
  /** Where the peer's socket is charged (1 slot). @defaultValue processFdLedger() */
  readonly fdLedger?: FdLedger;
  /** @defaultValue QMP_DEFAULTS.maxLineBytes (64 KiB) */
  readonly maxLineBytes?: number;
  /** @defaultValue QMP_DEFAULTS.maxPending (64) */
  readonly maxPending?: number;
  /** @defaultValue QMP_DEFAULTS.greetingTimeoutMs (5000) */
  readonly greetingTimeoutMs?: number;
  /** For logs. @defaultValue the path */
  readonly label?: string;
  /** Who may connect (QEMU's user). @defaultValue owner only */
  readonly access?: SocketAccess;
}

/** Counters over the endpoint's lifetime, and its state now. */
export interface QmpStats {
  /** A peer is connected (it may not be ready yet). */
  connected: boolean;
  /** The peer greeted and accepted qmp_capabilities. */
  ready: boolean;
  /** Peers accepted. */
  peers: number;
  /** Connections closed at once because a peer was connected, or no fd budget was left. */
  refused: number;
  /** input-send-event commands sent. */
  sent: number;
  /** Error replies QEMU sent to them. */
  errors: number;
  /** Batches not sent: too many commands in flight, or too many events in one batch. */
  dropped: number;
  /** Batches not sent: no ready peer (view-only). */
  offline: number;
  /** Asynchronous QMP events received (ignored). */
  events: number;
  /** The last error QEMU returned, as "class: desc". */
  lastError: string | undefined;
}

export type QmpErrorCode =
  /** QEMU answered with an error. */
  | 'EQMP'
  /** No ready peer. */
  | 'ENOTCONN'
  /** Too many commands in flight: the batch was dropped. */
  | 'EBUSY'
  /** More than MAX_EVENTS_PER_COMMAND events. */
  | 'E2BIG'
  /** The peer went away before answering. */
  | 'ECONNRESET';

/** Why sendInputChecked's batch did not take effect. */
export class QmpError extends Error {
  readonly code: QmpErrorCode;
  /** QEMU's error class (EQMP only), e.g. "GenericError". */
  readonly qmpClass: string | undefined;
  constructor(code: QmpErrorCode, message: string, qmpClass?: string) {
    super(message);
    this.name = 'QmpError';
    this.code = code;
    this.qmpClass = qmpClass;
  }
}

export interface QmpEndpointEvents {
  /** A peer greeted and accepted qmp_capabilities: input goes through from now on. */
  ready: [];
  /** The ready peer went away (or the endpoint closed): input is dropped until the next 'ready'. */
  lost: [];
}

interface Waiter {
  resolve(): void;
  reject(error: QmpError): void;
}

interface InFlight {
  readonly id: number;
  readonly waiter: Waiter | undefined;
}

interface Peer {
  readonly socket: UnixSocket;
  readonly account: FdAccount;
  readonly lines: LineSplitter;
  readonly timer: NodeJS.Timeout;
  state: 'greeting' | 'negotiating' | 'ready';
  /** Commands sent and not yet answered, oldest first (QMP answers in order). */
  readonly inflight: InFlight[];
  nextId: number;
  readonly loggedErrors: Set<string>;
  /** Being dropped: read nothing more. */
  gone: boolean;
}

function checkCount(value: number, what: string, min: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > 0x7fff_ffff) {
    throw new ConfigError(`QMP endpoint: ${what} ${String(value)} must be an integer of at least ${min}.`);
  }
  return value;
}

function quote(text: string): string {
  return text.length > MAX_QUOTED ? `${text.slice(0, MAX_QUOTED)}…` : text;
}

/** The key or button an event presses or releases; undefined for moves. */
function pressable(e: QmpInputEvent): string | undefined {
  if (e.type === 'key') return e.data.key.type === 'qcode' ? `k:${e.data.key.data}` : `k#${e.data.key.data}`;
  if (e.type === 'btn') return `b:${e.data.button}`;
  return undefined;
}

function motionOnly(events: readonly QmpInputEvent[]): boolean {
  return events.every((e) => e.type === 'abs');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const encoder = new TextEncoder();

/**
 * The QEMU options that connect its QMP monitor to an endpoint on
 * `socketPath`, plus the absolute pointer the viewers' mouse needs
 * (`-device virtio-tablet-pci`: a q35 guest's own PS/2 mouse is relative
 * only, and QEMU refuses abs events without an absolute device). QEMU
 * before 9.2 knows only `reconnect` (seconds): pass legacyReconnect.
 * Commas in the path are doubled, as QEMU's option syntax wants.
 */
export function qemuInputArgs(socketPath: string, opts: { readonly legacyReconnect?: boolean } = {}): string[] {
  const reconnect = opts.legacyReconnect === true ? 'reconnect=1' : 'reconnect-ms=1000';
  return [
    '-chardev', `socket,id=${CHARDEV_ID},path=${socketPath.replaceAll(',', ',,')},${reconnect}`,
    '-mon', `chardev=${CHARDEV_ID},mode=control`,
    '-device', 'virtio-tablet-pci',
  ];
}

/** The QMP socket of one device; see the module doc. Create with QmpEndpoint.listen(). */
export class QmpEndpoint extends EventEmitter<QmpEndpointEvents> {
  readonly path: string;
  readonly label: string;
  readonly #listener: UnixServer;
  readonly #ledger: FdLedger;
  readonly #registration: FdRegistration;
  readonly #maxLineBytes: number;
  readonly #maxPending: number;
  readonly #motionLimit: number;
  readonly #greetingTimeoutMs: number;
  readonly #stats: Omit<QmpStats, 'connected' | 'ready'> = {
    peers: 0, refused: 0, sent: 0, errors: 0, dropped: 0, offline: 0, events: 0, lastError: undefined,
  };
  /** Releases whose batch was dropped, by key or button (see the module doc). */
  readonly #owed = new Map<string, QmpInputEvent>();
  #peer: Peer | undefined;
  /** The refusal of a second connection was logged for the current peer. */
  #refusalLogged = false;
  #bigBatchLogged = false;
  #closing: Promise<void> | undefined;

  private constructor(path: string, opts: QmpEndpointOptions) {
    super();
    this.path = path;
    this.label = opts.label ?? path;
    this.#maxLineBytes = checkCount(opts.maxLineBytes ?? QMP_DEFAULTS.maxLineBytes, 'maxLineBytes', 256);
    this.#maxPending = checkCount(opts.maxPending ?? QMP_DEFAULTS.maxPending, 'maxPending', 1);
    this.#motionLimit = Math.max(1, this.#maxPending - Math.ceil(this.#maxPending / 4));
    this.#greetingTimeoutMs = checkCount(opts.greetingTimeoutMs ?? QMP_DEFAULTS.greetingTimeoutMs, 'greetingTimeoutMs', 1);
    checkSocketPathLength(path, 'QMP socket', 'choose a shorter socket directory or device name');
    this.#ledger = opts.fdLedger ?? processFdLedger();
    // No fds on a QMP socket: any that arrive are closed by the socket layer.
    this.#listener = listen(path, { ...socketAccessOptions(opts.access), maxFds: 0, backlog: 4 });
    this.#registration = this.#ledger.register(1, 1);
    this.#listener.on('connection', (socket) => this.#accept(socket));
    this.#listener.on('error', (err) => log.warn(`${this.label}: QMP accept failed: ${err.message}`));
  }

  /**
   * Listen on `path` (mode 0600; the caller has checked its directory with
   * ensurePrivateDir). A stale socket file is replaced, a live one refused
   * with EADDRINUSE.
   */
  static async listen(path: string, opts: QmpEndpointOptions = {}): Promise<QmpEndpoint> {
    return new QmpEndpoint(path, opts);
  }

  /** A peer greeted and accepted qmp_capabilities. */
  get ready(): boolean {
    return this.#peer?.state === 'ready';
  }

  stats(): QmpStats {
    return { connected: this.#peer !== undefined, ready: this.ready, ...this.#stats };
  }

  /**
   * Send one input-send-event with `events`, not waiting for the answer: an
   * error reply is counted (stats) and logged once. Without a ready peer, or
   * with too many commands in flight, the batch is dropped and counted.
   */
  sendInput(events: readonly QmpInputEvent[]): void {
    this.#submit(events, undefined);
  }

  /**
   * sendInput, and a promise that settles with QEMU's answer: resolves on
   * {"return":{}}, rejects with a QmpError on an error reply (EQMP), when
   * the batch was not sent (ENOTCONN, EBUSY, E2BIG) or when the peer went
   * away first (ECONNRESET). Counted exactly as sendInput.
   */
  sendInputChecked(events: readonly QmpInputEvent[]): Promise<void> {
    return new Promise<void>((resolve, reject) => this.#submit(events, { resolve, reject }));
  }

  /** Stop listening, drop the peer, remove the socket file. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((done) => {
      this.#listener.close();
      this.#registration.release();
      const peer = this.#peer;
      if (peer === undefined) {
        done();
        return;
      }
      peer.socket.once('close', () => done());
      this.#drop(peer, 'the endpoint is closing', 'info');
    });
    return this.#closing;
  }

  #accept(socket: UnixSocket): void {
    if (this.#closing !== undefined) {
      socket.close();
      return;
    }
    if (this.#peer !== undefined) {
      this.#stats.refused++;
      if (!this.#refusalLogged) {
        this.#refusalLogged = true;
        log.security('qmp-peer-refused', `${this.label}: closing a second QMP connection: one QEMU is connected already (further ones are counted, not logged).`, { name: this.label, reason: 'second peer' });
      }
      socket.close();
      return;
    }
    const account = this.#ledger.open(`${this.label} QMP peer`, 1);
    if (account === undefined) {
      this.#stats.refused++;
      log.security('qmp-peer-refused', `${this.label}: closing a QMP connection: no fd budget left (${this.#ledger.used} of ${this.#ledger.capacity} in use).`, { name: this.label, reason: 'fd budget' });
      socket.close();
      return;
    }
    socket.setFdCharger(account);
    const timer = setTimeout(() => {
      if (peer.state !== 'ready') this.#drop(peer, `no QMP greeting and capabilities reply within ${this.#greetingTimeoutMs} ms`);
    }, this.#greetingTimeoutMs).unref();
    const peer: Peer = {
      socket, account, timer, lines: new LineSplitter(this.#maxLineBytes),
      state: 'greeting', inflight: [], nextId: CAPABILITIES_ID + 1, loggedErrors: new Set(), gone: false,
    };
    this.#peer = peer;
    this.#stats.peers++;
    log.info(`${this.label}: QMP peer connected.`);
    socket.on('data', (bytes) => this.#onData(peer, bytes));
    socket.on('close', (info) => this.#onClose(peer, info));
  }

  #onData(peer: Peer, bytes: Uint8Array): void {
    if (peer.gone) return;
    try {
      peer.lines.push(bytes, (line) => {
        this.#onLine(peer, line);
        return !peer.gone;
      });
    } catch (err) {
      if (err instanceof LineTooLongError) {
        this.#drop(peer, `it sent a line longer than ${err.limit} bytes`);
        return;
      }
      log.error(`${this.label}: QMP input handling failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
      this.#drop(peer, 'handling its input failed');
    }
  }

  #onLine(peer: Peer, line: string): void {
    if (line.trim() === '') return;
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      this.#drop(peer, `it sent a line that is not JSON: ${quote(line)}`);
      return;
    }
    if (!isRecord(msg)) {
      this.#drop(peer, `it sent JSON that is not an object: ${quote(line)}`);
      return;
    }
    if (peer.state === 'greeting') {
      if (!('QMP' in msg)) {
        this.#drop(peer, `it did not start with the QMP greeting: ${quote(line)}`);
        return;
      }
      peer.state = 'negotiating';
      this.#write(peer, { execute: 'qmp_capabilities', id: CAPABILITIES_ID });
      return;
    }
    if ('event' in msg) {
      this.#stats.events++;
      return;
    }
    if (!('return' in msg) && !('error' in msg)) {
      log.debug(`${this.label}: ignoring a QMP message that is neither reply nor event: ${quote(line)}`);
      return;
    }
    if (peer.state === 'negotiating') {
      if (msg['id'] !== CAPABILITIES_ID || !('return' in msg)) {
        this.#drop(peer, `it did not accept qmp_capabilities: ${quote(line)}`);
        return;
      }
      peer.state = 'ready';
      clearTimeout(peer.timer);
      this.#owed.clear();
      this.#refusalLogged = false;
      log.info(`${this.label}: QMP peer ready.`);
      this.#emit('ready');
      return;
    }
    const head = peer.inflight.shift();
    if (head === undefined) {
      this.#drop(peer, `it answered a command we did not send: ${quote(line)}`);
      return;
    }
    // An id-less error answers a command QEMU could not even parse: still the oldest one.
    if ('id' in msg && msg['id'] !== head.id) {
      this.#drop(peer, `its reply has id ${quote(JSON.stringify(msg['id']) ?? '')} where ${head.id} was next`);
      head.waiter?.reject(new QmpError('ECONNRESET', 'The QMP peer was dropped before it answered.'));
      return;
    }
    if ('error' in msg) this.#qemuError(peer, msg['error'], head);
    else head.waiter?.resolve();
    this.#payOwed(peer);
  }

  #qemuError(peer: Peer, error: unknown, head: InFlight): void {
    const body = isRecord(error) ? error : {};
    const cls = typeof body['class'] === 'string' ? quote(body['class']) : 'UnknownError';
    const desc = typeof body['desc'] === 'string' ? quote(body['desc']) : 'no description';
    const text = `${cls}: ${desc}`;
    this.#stats.errors++;
    this.#stats.lastError = text;
    if (!peer.loggedErrors.has(text) && peer.loggedErrors.size < MAX_LOGGED_ERRORS) {
      peer.loggedErrors.add(text);
      log.warn(`${this.label}: QEMU refused input-send-event: ${text} (further ones are counted, not logged).`);
    }
    head.waiter?.reject(new QmpError('EQMP', `QEMU refused the input events: ${desc} (${cls}).`, cls));
  }

  #submit(events: readonly QmpInputEvent[], waiter: Waiter | undefined): void {
    if (events.length === 0) {
      waiter?.resolve();
      return;
    }
    if (events.length > MAX_EVENTS_PER_COMMAND) {
      this.#stats.dropped++;
      if (!this.#bigBatchLogged) {
        this.#bigBatchLogged = true;
        log.warn(`${this.label}: dropping a batch of ${events.length} input events; at most ${MAX_EVENTS_PER_COMMAND} go in one command.`);
      }
      waiter?.reject(new QmpError('E2BIG', `At most ${MAX_EVENTS_PER_COMMAND} input events go in one command, not ${events.length}.`));
      return;
    }
    const peer = this.#peer;
    if (peer === undefined || peer.state !== 'ready') {
      this.#stats.offline++;
      waiter?.reject(new QmpError('ENOTCONN', 'No QEMU is connected to the QMP socket, so input goes nowhere.'));
      return;
    }
    const limit = motionOnly(events) ? this.#motionLimit : this.#maxPending;
    if (peer.inflight.length >= limit) {
      this.#stats.dropped++;
      this.#owe(events);
      waiter?.reject(new QmpError('EBUSY', `${peer.inflight.length} input commands are waiting for QEMU's answer; this batch was dropped.`));
      return;
    }
    this.#sendEvents(peer, events, waiter);
  }

  #sendEvents(peer: Peer, events: readonly QmpInputEvent[], waiter: Waiter | undefined): void {
    const id = peer.nextId++;
    peer.inflight.push({ id, waiter });
    this.#stats.sent++;
    for (const e of events) {
      const what = pressable(e);
      if (what !== undefined) this.#owed.delete(what);
    }
    this.#write(peer, { execute: 'input-send-event', arguments: { events }, id });
  }

  /** Remember the releases of a dropped batch; a dropped press cancels an owed release of the same key. */
  #owe(events: readonly QmpInputEvent[]): void {
    for (const e of events) {
      const what = pressable(e);
      if (what === undefined || e.type === 'abs') continue;
      if (e.data.down) this.#owed.delete(what);
      else if (this.#owed.has(what) || this.#owed.size < MAX_OWED) this.#owed.set(what, e);
    }
  }

  #payOwed(peer: Peer): void {
    if (this.#owed.size === 0 || peer.gone || peer.inflight.length >= this.#maxPending) return;
    const releases = [...this.#owed.values()].slice(0, MAX_EVENTS_PER_COMMAND);
    this.#sendEvents(peer, releases, undefined);
  }

  #write(peer: Peer, command: object): void {
    // A failing send closes the socket; #onClose then settles what is in flight.
    peer.socket.send(encoder.encode(`${JSON.stringify(command)}\n`));
  }

  #drop(peer: Peer, reason: string, level: 'warn' | 'info' = 'warn'): void {
    if (peer.gone) return;
    peer.gone = true;
    log[level](`${this.label}: dropping the QMP peer: ${reason}.`);
    peer.socket.close();
  }

  #onClose(peer: Peer, info: CloseInfo): void {
    peer.gone = true;
    clearTimeout(peer.timer);
    peer.lines.reset();
    peer.account.close();
    if (this.#peer !== peer) return;
    this.#peer = undefined;
    const wasReady = peer.state === 'ready';
    if (info.reason !== 'local') log.info(`${this.label}: QMP peer disconnected (${info.reason}).`);
    const lost = new QmpError('ECONNRESET', 'The QMP peer went away before it answered.');
    for (const f of peer.inflight.splice(0)) f.waiter?.reject(lost);
    // A new QEMU (or the same one after a reset of its chardev) starts from its own key state.
    this.#owed.clear();
    if (wasReady) this.#emit('lost');
  }

  /** Each listener on its own: one that throws is logged, and the others still hear the event. */
  #emit(event: keyof QmpEndpointEvents): void {
    for (const listener of this.rawListeners(event) as (() => void)[]) {
      try {
        listener.call(this);
      } catch (err) {
        log.error(`${this.label}: a '${event}' listener threw: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
      }
    }
  }
}
