/**
 * The control socket: a Unix socket (`control.sock` next to the device
 * sockets, mode 0600) on which other processes call the Manager, with
 * length-prefixed msgpack requests (control-wire.ts; docs/management.md).
 *
 * Per connection, requests are handled in order, one reply each. A frame
 * that is not msgpack, or not a request, gets an error reply and the
 * connection stays; a frame header over the size limit gets an error reply
 * and the connection is closed (the stream cannot be resynchronised). One
 * connection's trouble never affects another's.
 *
 * What hostile clients can make the server hold is bounded: at most
 * `maxConnections` connections, each closed after `idleTimeoutMs` without a
 * complete request, each charged to the process fd ledger; a partial frame
 * costs the bytes that arrived, at most `maxFrame` per connection, except
 * that one connection at a time (process-wide) may send a frame up to
 * MAX_CONTROL_FRAME: a restore carries a whole snapshot, VRAM included.
 *
 * The typed client is in control-client.ts (re-exported here).
 */
import type { DefinedDevices } from './defined-devices.ts';
import { inputFromMdevctl, type DefinitionChange, type DefinitionInput } from './definitions.ts';
import { logger } from '../util/log.ts';
import { ConfigError, VfioError } from '../util/errors.ts';
import { isSysError } from '../sys/sys-error.ts';
import { processFdLedger, type FdLedger, type FdRegistration } from '../sys/fd-ledger.ts';
import { listen, type UnixServer, type UnixSocket } from '../sys/socket.ts';
import {
  CONTROL_CALLS,
  FrameBusyError,
  FrameReader,
  FrameSizeError,
  MAX_CONTROL_FRAME,
  decodeBody,
  encodeFrame,
  msgpackProblem,
  parseRequest,
  type ControlCall,
  type ControlErrorBody,
  type ControlReply,
  type LargeFrameAllowance,
} from './control-wire.ts';
import { ManagerError, type CreateArgs, type Manager, type Resolution } from './manager.ts';

export { ControlError, MAX_CONTROL_FRAME } from './control-wire.ts';
export { ControlClient, type ControlClientOptions } from './control-client.ts';

const log = logger('mgmt');

/* ------------------------------------------------------------------ server */

/** Largest request frame a connection may send without the large-frame allowance. */
export const DEFAULT_CONTROL_MAX_FRAME = 1 << 20;
export const DEFAULT_CONTROL_MAX_CONNECTIONS = 8;
export const DEFAULT_CONTROL_IDLE_TIMEOUT_MS = 60_000;

export interface ControlServerOptions {
  /** Socket path (0600; a stale file is replaced, a live one refused with EADDRINUSE). */
  readonly path: string;
  readonly manager: Manager;
  /** The definitions the define/undefine/modify/start/stop/list-defined calls work on; absent, they are refused. */
  readonly definitions?: DefinedDevices;
  /**
   * Largest request frame without the large-frame allowance (one connection
   * at a time may send up to MAX_CONTROL_FRAME).
   * @defaultValue DEFAULT_CONTROL_MAX_FRAME (1 MiB)
   */
  readonly maxFrame?: number;
  /**
   * Connections open at once; the next one gets an EBUSY error reply and is closed.
   * @defaultValue DEFAULT_CONTROL_MAX_CONNECTIONS (8)
   */
  readonly maxConnections?: number;
  /**
   * A connection without a complete request for this long is closed; 0 never closes one.
   * @defaultValue DEFAULT_CONTROL_IDLE_TIMEOUT_MS (60000)
   */
  readonly idleTimeoutMs?: number;
  /** @defaultValue processFdLedger() */
  readonly fdLedger?: FdLedger;
}

/** Counters for tests and logs. */
export interface ControlStats {
  connections: number;
  requests: number;
  errors: number;
  /** Connections closed for a frame over the limit, or a large frame while another was in progress. */
  dropped: number;
  /** Connections refused at accept: too many connections, or no fds to spare. */
  refused: number;
  /** Connections closed by the idle timeout. */
  idle: number;
}

/**
 * The large-frame allowance, one per process: memory is the process's, so
 * several control servers (tests) share it too.
 */
const largeFrames: LargeFrameAllowance = (() => {
  let taken = false;
  return {
    limit: MAX_CONTROL_FRAME,
    take: () => !taken && (taken = true),
    give: () => {
      taken = false;
    },
  };
})();

function checkCount(value: number, what: string, min: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > 0x7fff_ffff) {
    throw new ConfigError(`Control socket: ${what} ${String(value)} must be an integer of at least ${min}.`);
  }
  return value;
}

function argRecord(args: unknown, call: string): Record<string, unknown> {
  if (args === undefined || args === null) return {};
  if (typeof args !== 'object' || Array.isArray(args) || args instanceof Uint8Array) {
    throw new ConfigError(`The args of ${call} must be a map.`);
  }
  return args as Record<string, unknown>;
}

function nameArg(args: Record<string, unknown>, call: string): string {
  const name = args['name'];
  if (typeof name !== 'string' || name === '') throw new ConfigError(`${call} needs the device's "name" (or UUID).`);
  return name;
}

/** One call against the manager. Throws what the manager throws. */
function dispatch(manager: Manager, defined: DefinedDevices | undefined, call: ControlCall, rawArgs: unknown): unknown {
  const args = argRecord(rawArgs, call);
  const store = (): DefinedDevices => {
    if (defined === undefined) throw new ConfigError('This server keeps no definitions (it was started with --device).');
    return defined;
  };
  switch (call) {
    case 'define': {
      const json = args['mdevctl'];
      if (json !== undefined) {
        const d = inputFromMdevctl(json, 'the --jsonfile document');
        return store().define({ ...d, ...(typeof args['uuid'] === 'string' ? { uuid: args['uuid'] } : {}), ...(typeof args['name'] === 'string' ? { name: args['name'] } : {}) });
      }
      return store().define(args as unknown as DefinitionInput);
    }
    case 'undefine':
      return store().undefine(nameArg(args, call));
    case 'modify': {
      const change = args['change'];
      if (change === null || typeof change !== 'object') throw new ConfigError('modify needs "change": the fields to change (null clears one).');
      return store().modify(nameArg(args, call), change as DefinitionChange);
    }
    case 'start':
      return store().start(nameArg(args, call));
    case 'stop':
      return store().stop(nameArg(args, call));
    case 'list-defined':
      return store().list();
    case 'types':
      return manager.types();
    case 'list':
      return manager.list();
    case 'create':
      return manager.create(args as unknown as CreateArgs);
    case 'remove':
      return manager.remove(nameArg(args, call));
    case 'describe':
      return manager.describe(nameArg(args, call));
    case 'set-resolution': {
      const r = args['resolution'];
      if (r !== 'off' && (r === null || typeof r !== 'object')) {
        throw new ConfigError('set-resolution needs "resolution": { width, height } or "off".');
      }
      return manager.setResolution(nameArg(args, call), r as Resolution | 'off');
    }
    case 'screenshot':
      return manager.screenshot(nameArg(args, call));
    case 'snapshot': {
      const name = nameArg(args, call);
      return { name, snapshot: manager.snapshot(name) };
    }
    case 'restore': {
      const bytes = args['snapshot'];
      if (!(bytes instanceof Uint8Array)) throw new ConfigError('restore needs "snapshot": the snapshot bytes (msgpack bin).');
      return manager.restore(nameArg(args, call), bytes);
    }
    case 'vnc': {
      // "listen": "unix" (the default) or { host, display }, display omitted = the next free one.
      const l = args['listen'] ?? 'unix';
      if (l === 'unix') return manager.startVnc(nameArg(args, call), 'unix');
      const rec = l !== null && typeof l === 'object' ? (l as Record<string, unknown>) : null;
      const host = rec?.['host'];
      const display = rec?.['display'] ?? manager.freeDisplay();
      if (typeof host !== 'string' || host === '' || typeof display !== 'number' || !Number.isInteger(display) || display < 0 || display > 65535 - 5900) {
        throw new ConfigError('vnc needs "listen": "unix" or { "host": HOST, "display": 0-59635 }.');
      }
      return manager.startVnc(nameArg(args, call), { host, display });
    }
  }
}

function sentence(message: string): string {
  const m = message.trim();
  return /[.!?]$/.test(m) ? m : `${m}.`;
}

/** Map anything a call throws to { code, message }. */
export function errorBody(err: unknown): ControlErrorBody {
  if (err instanceof ManagerError) return { code: err.code, message: sentence(err.message) };
  if (err instanceof ConfigError) return { code: err.code, message: sentence(err.message) };
  if (err instanceof VfioError) return { code: err.code, message: sentence(err.message) };
  if (isSysError(err)) return { code: err.code, message: sentence(err.message) };
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'EINTERNAL', message: sentence(`Internal error: ${message}`) };
}

export class ControlServer {
  readonly path: string;
  readonly stats: ControlStats = { connections: 0, requests: 0, errors: 0, dropped: 0, refused: 0, idle: 0 };
  readonly #listener: UnixServer;
  readonly #manager: Manager;
  readonly #defined: DefinedDevices | undefined;
  readonly #maxFrame: number;
  readonly #maxConnections: number;
  readonly #idleTimeoutMs: number;
  readonly #ledger: FdLedger;
  readonly #fds: FdRegistration;
  /** Accepted connections, with their frame readers. */
  readonly #sockets = new Map<UnixSocket, FrameReader>();
  /** Refused connections, closed as soon as their error reply is out. */
  readonly #refused = new Set<UnixSocket>();

  private constructor(opts: ControlServerOptions) {
    this.path = opts.path;
    this.#manager = opts.manager;
    this.#defined = opts.definitions;
    this.#maxFrame = checkCount(opts.maxFrame ?? DEFAULT_CONTROL_MAX_FRAME, 'maxFrame', 1024);
    if (this.#maxFrame > MAX_CONTROL_FRAME) throw new ConfigError(`Control socket: maxFrame ${this.#maxFrame} must be at most ${MAX_CONTROL_FRAME}.`);
    this.#maxConnections = checkCount(opts.maxConnections ?? DEFAULT_CONTROL_MAX_CONNECTIONS, 'maxConnections', 1);
    this.#idleTimeoutMs = checkCount(opts.idleTimeoutMs ?? DEFAULT_CONTROL_IDLE_TIMEOUT_MS, 'idleTimeoutMs', 0);
    this.#ledger = opts.fdLedger ?? processFdLedger();
    // No fds on the control socket: any that arrive are closed by the socket layer.
    this.#listener = listen(opts.path, { mode: 0o600, maxFds: 0 });
    this.#fds = this.#ledger.register(this.#maxConnections, 1);
    this.#listener.on('connection', (s) => this.#accept(s));
    this.#listener.on('error', (err) => log.warn(`control: accept failed: ${err.message}`));
  }

  /** Listen on opts.path. Throws (EADDRINUSE) when a live server owns it. */
  static listen(opts: ControlServerOptions): ControlServer {
    return new ControlServer(opts);
  }

  get connections(): number {
    return this.#sockets.size;
  }

  /** Bytes the connections' frame readers hold for incomplete frames. */
  get buffered(): number {
    let sum = 0;
    for (const reader of this.#sockets.values()) sum += reader.capacity;
    return sum;
  }

  /** Stop listening, close every connection, remove the socket file. Idempotent. */
  close(): void {
    this.#listener.close();
    this.#fds.release();
    for (const s of [...this.#sockets.keys(), ...this.#refused]) s.close();
  }

  #accept(socket: UnixSocket): void {
    if (this.#sockets.size >= this.#maxConnections) {
      this.#refuse(socket, 'EBUSY', `The control socket already has ${this.#maxConnections} connections; close one and retry.`);
      return;
    }
    const account = this.#ledger.open('control connection', 1);
    if (account === undefined) {
      this.#refuse(socket, 'EMFILE', 'The server has no file descriptors to spare for another control connection; close one and retry.');
      return;
    }
    socket.setFdCharger(account);
    this.stats.connections++;
    const reader = new FrameReader(this.#maxFrame, largeFrames);
    this.#sockets.set(socket, reader);
    let dropping = false;
    // unref: an idle client must not keep a server that is otherwise done alive.
    const idle = this.#idleTimeoutMs === 0 ? undefined : setTimeout(() => {
      this.stats.idle++;
      log.info(`control: closing a connection that sent no complete request for ${this.#idleTimeoutMs} ms.`);
      socket.close();
    }, this.#idleTimeoutMs).unref();
    socket.on('close', () => {
      clearTimeout(idle);
      reader.dispose();
      account.close();
      this.#sockets.delete(socket);
    });
    socket.on('data', (bytes) => {
      if (dropping) return;
      try {
        reader.push(bytes, (body) => {
          idle?.refresh();
          this.#handle(socket, body);
        });
      } catch (err) {
        if (!(err instanceof FrameSizeError || err instanceof FrameBusyError)) throw err;
        dropping = true;
        this.stats.dropped++;
        this.stats.errors++;
        // Give the allowance back now, not when the peer gets round to closing.
        reader.dispose();
        log.warn(`control: ${err.message} Closing that connection.`);
        const code = err instanceof FrameBusyError ? 'EBUSY' : 'EFRAME';
        this.#closeWith(socket, { id: null, ok: false, error: { code, message: `${err.message} The connection is closed.` } });
      }
    });
  }

  /** Answer a connection we do not take with one error reply, then close it. */
  #refuse(socket: UnixSocket, code: string, message: string): void {
    this.stats.refused++;
    this.stats.errors++;
    log.security('control-refused', `control: refusing a connection: ${message}`, { code });
    this.#refused.add(socket);
    socket.on('close', () => this.#refused.delete(socket));
    this.#closeWith(socket, { id: null, ok: false, error: { code, message } });
  }

  /** Send a last reply, read nothing more, close once it is out. */
  #closeWith(socket: UnixSocket, reply: ControlReply): void {
    this.#reply(socket, reply);
    socket.pause();
    if (socket.queuedBytes === 0) socket.close();
    else socket.once('drain', () => socket.close());
  }

  #handle(socket: UnixSocket, body: Uint8Array): void {
    this.stats.requests++;
    let raw: unknown;
    try {
      raw = decodeBody(body);
    } catch (err) {
      this.stats.errors++;
      this.#reply(socket, { id: null, ok: false, error: { code: 'EMSGPACK', message: `The frame is not valid msgpack: ${msgpackProblem(err)}.` } });
      return;
    }
    const req = parseRequest(raw);
    if ('problem' in req) {
      this.stats.errors++;
      this.#reply(socket, { id: req.id, ok: false, error: { code: 'EREQUEST', message: req.problem } });
      return;
    }
    if (!(CONTROL_CALLS as readonly string[]).includes(req.call)) {
      this.stats.errors++;
      this.#reply(socket, { id: req.id, ok: false, error: { code: 'ECALL', message: `Unknown call "${req.call.slice(0, 64)}"; calls: ${CONTROL_CALLS.join(', ')}.` } });
      return;
    }
    const failed = (err: unknown): ControlReply => {
      this.stats.errors++;
      const error = errorBody(err);
      if (error.code === 'EINTERNAL') log.warn(`control: ${req.call}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
      return { id: req.id, ok: false, error };
    };
    let result: unknown;
    try {
      result = dispatch(this.#manager, this.#defined, req.call as ControlCall, req.args);
    } catch (err) {
      this.#reply(socket, failed(err));
      return;
    }
    if (!(result instanceof Promise)) {
      this.#reply(socket, { id: req.id, ok: true, result });
      return;
    }
    // A call that waits (vnc binds a port): its reply goes out when it is done; replies carry their id.
    result.then(
      (r: unknown) => { if (!socket.closed) this.#reply(socket, { id: req.id, ok: true, result: r }); },
      (err: unknown) => { if (!socket.closed) this.#reply(socket, failed(err)); },
    );
  }

  #reply(socket: UnixSocket, reply: ControlReply): void {
    let frame: [Uint8Array, Uint8Array];
    try {
      frame = encodeFrame(reply);
    } catch (err) {
      frame = encodeFrame({ id: reply.id, ok: false, error: errorBody(err) });
    }
    // Replies are not bounded by maxFrame (a snapshot reply holds the VRAM), only by what clients accept.
    if (frame[1].length > MAX_CONTROL_FRAME) {
      frame = encodeFrame({ id: reply.id, ok: false, error: { code: 'EFRAME', message: `The reply of ${frame[1].length} bytes exceeds the ${MAX_CONTROL_FRAME}-byte frame limit.` } });
    }
    socket.send(frame);
  }
}
