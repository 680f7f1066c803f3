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
 * The typed client is in control-client.ts (re-exported here).
 */
import { logger } from '../util/log.ts';
import { ConfigError, VfioError } from '../util/errors.ts';
import { isSysError } from '../sys/sys-error.ts';
import { listen, type UnixServer, type UnixSocket } from '../sys/socket.ts';
import {
  CONTROL_CALLS,
  FrameReader,
  FrameSizeError,
  MAX_CONTROL_FRAME,
  decodeBody,
  encodeFrame,
  parseRequest,
  type ControlCall,
  type ControlErrorBody,
  type ControlReply,
} from './control-wire.ts';
import { ManagerError, type CreateArgs, type Manager, type Resolution } from './manager.ts';

export { ControlError, MAX_CONTROL_FRAME } from './control-wire.ts';
export { ControlClient, type ControlClientOptions } from './control-client.ts';

const log = logger('mgmt');

/* ------------------------------------------------------------------ server */

export interface ControlServerOptions {
  /** Socket path (0600; a stale file is replaced, a live one refused with EADDRINUSE). */
  readonly path: string;
  readonly manager: Manager;
  /** @defaultValue MAX_CONTROL_FRAME */
  readonly maxFrame?: number;
}

/** Counters for tests and logs. */
export interface ControlStats {
  connections: number;
  requests: number;
  errors: number;
  /** Connections closed for a frame over the limit. */
  dropped: number;
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
function dispatch(manager: Manager, call: ControlCall, rawArgs: unknown): unknown {
  const args = argRecord(rawArgs, call);
  switch (call) {
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
  readonly stats: ControlStats = { connections: 0, requests: 0, errors: 0, dropped: 0 };
  readonly #listener: UnixServer;
  readonly #manager: Manager;
  readonly #maxFrame: number;
  readonly #sockets = new Set<UnixSocket>();

  private constructor(opts: ControlServerOptions) {
    this.path = opts.path;
    this.#manager = opts.manager;
    this.#maxFrame = opts.maxFrame ?? MAX_CONTROL_FRAME;
    // No fds on the control socket: any that arrive are closed by the socket layer.
    this.#listener = listen(opts.path, { mode: 0o600, maxFds: 0 });
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

  /** Stop listening, close every connection, remove the socket file. Idempotent. */
  close(): void {
    this.#listener.close();
    for (const s of this.#sockets) s.close();
    this.#sockets.clear();
  }

  #accept(socket: UnixSocket): void {
    this.stats.connections++;
    this.#sockets.add(socket);
    const reader = new FrameReader(this.#maxFrame);
    let dropping = false;
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('data', (bytes) => {
      if (dropping) return;
      try {
        reader.push(bytes, (body) => this.#handle(socket, body));
      } catch (err) {
        if (!(err instanceof FrameSizeError)) throw err;
        dropping = true;
        this.stats.dropped++;
        this.stats.errors++;
        log.warn(`control: ${err.message} Closing that connection.`);
        this.#reply(socket, { id: null, ok: false, error: { code: 'EFRAME', message: `${err.message} The connection is closed.` } });
        socket.pause();
        if (socket.queuedBytes === 0) socket.close();
        else socket.once('drain', () => socket.close());
      }
    });
  }

  #handle(socket: UnixSocket, body: Uint8Array): void {
    this.stats.requests++;
    let raw: unknown;
    try {
      raw = decodeBody(body);
    } catch (err) {
      this.stats.errors++;
      const why = err instanceof Error ? err.message : String(err);
      this.#reply(socket, { id: null, ok: false, error: { code: 'EMSGPACK', message: sentence(`The frame is not valid msgpack (${why})`) } });
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
    let reply: ControlReply;
    try {
      reply = { id: req.id, ok: true, result: dispatch(this.#manager, req.call as ControlCall, req.args) };
    } catch (err) {
      this.stats.errors++;
      const error = errorBody(err);
      if (error.code === 'EINTERNAL') log.warn(`control: ${req.call}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
      reply = { id: req.id, ok: false, error };
    }
    this.#reply(socket, reply);
  }

  #reply(socket: UnixSocket, reply: ControlReply): void {
    let frame: [Uint8Array, Uint8Array];
    try {
      frame = encodeFrame(reply);
    } catch (err) {
      frame = encodeFrame({ id: reply.id, ok: false, error: errorBody(err) });
    }
    if (frame[1].length > this.#maxFrame) {
      frame = encodeFrame({ id: reply.id, ok: false, error: { code: 'EFRAME', message: `The reply of ${frame[1].length} bytes exceeds the ${this.#maxFrame}-byte frame limit.` } });
    }
    socket.send(frame);
  }
}
