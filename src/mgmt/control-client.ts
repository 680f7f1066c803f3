/**
 * The typed client of the control socket (control.ts; docs/management.md).
 * It loads only the wire format and the socket layer (no device models), so
 * a CLI command starts quickly.
 *
 * ```ts
 * const c = await ControlClient.connect('/run/user/1000/mdevsim/control.sock');
 * const dev = await c.create({ type: 'mbochs-small' });     // dev.socket: its vfio-user socket
 * await c.setResolution(dev.name, { width: 800, height: 600 });
 * const shot = await c.screenshot(dev.name);                // shot.png: a PNG, or state 'none'
 * c.close();
 * ```
 */
import { connect, type UnixSocket } from '../sys/socket.ts';
import { checkTrustedSocket } from '../sys/trusted-path.ts';
import {
  ControlError,
  FrameReader,
  MAX_CONTROL_FRAME,
  decodeBody,
  encodeFrame,
  type ControlCall,
  type ControlErrorBody,
  type RequestId,
} from './control-wire.ts';
import type { ConsoleInfo } from '../vnc/console.ts';
import type { Definition, DefinitionChange, DefinitionInput, DefinitionProblem } from './definitions.ts';
import type {
  CreateArgs,
  CreatedInstance,
  DeviceDescription,
  InstanceInfo,
  Resolution,
  SetResolutionResult,
  TypeInfo,
} from './manager.ts';
import type { ScreenshotResult } from './screenshot.ts';

export { ControlError, MAX_CONTROL_FRAME } from './control-wire.ts';

export interface ControlClientOptions {
  /** @defaultValue MAX_CONTROL_FRAME */
  readonly maxFrame?: number;
  /** connect() gives up after this long when the listener's backlog stays full. @defaultValue 5000 */
  readonly timeoutMs?: number;
}

interface Pending {
  resolve(result: unknown): void;
  reject(err: Error): void;
}

/** What `snapshot` returns over the wire. */
interface SnapshotReply {
  readonly name: string;
  readonly snapshot: Uint8Array;
}

/**
 * Calls may be pipelined; each resolves with its result or rejects with a
 * ControlError carrying the server's code and sentence.
 */
export class ControlClient {
  readonly #socket: UnixSocket;
  readonly #reader: FrameReader;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed: ControlError | undefined;

  private constructor(socket: UnixSocket, opts: ControlClientOptions) {
    this.#socket = socket;
    this.#reader = new FrameReader(opts.maxFrame ?? MAX_CONTROL_FRAME);
    socket.on('data', (bytes) => {
      try {
        this.#reader.push(bytes, (body) => this.#onReply(body));
      } catch (err) {
        this.#fail(err instanceof ControlError ? err : new ControlError('EPROTO', err instanceof Error ? err.message : String(err)));
        socket.close();
      }
    });
    socket.on('close', (info) => this.#fail(new ControlError('ECONNRESET', `The control connection closed (${info.reason}).`)));
  }

  /**
   * Connect to a control socket. Rejects with ConfigError, without
   * connecting, when the socket or its directory could have been planted by
   * another user (checkTrustedSocket); else with the connect error (ENOENT,
   * ECONNREFUSED, ...).
   */
  static async connect(path: string, opts: ControlClientOptions = {}): Promise<ControlClient> {
    // A fake control.sock would see every create, snapshot and restore.
    checkTrustedSocket(path, { what: 'Control socket' });
    const socket = await connect(path, { maxFds: 0, timeoutMs: opts.timeoutMs ?? 5000 });
    return new ControlClient(socket, opts);
  }

  /** Any call by name (the typed methods below are the same thing). */
  call(call: ControlCall | string, args?: unknown): Promise<unknown> {
    if (this.#closed) return Promise.reject(this.#closed);
    const id = this.#nextId++;
    let frame: [Uint8Array, Uint8Array];
    try {
      frame = encodeFrame({ id, call, args });
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#socket.send(frame);
    });
  }

  types(): Promise<TypeInfo[]> {
    return this.call('types') as Promise<TypeInfo[]>;
  }

  create(args: CreateArgs): Promise<CreatedInstance> {
    return this.call('create', args) as Promise<CreatedInstance>;
  }

  remove(name: string): Promise<{ name: string; uuid: string }> {
    return this.call('remove', { name }) as Promise<{ name: string; uuid: string }>;
  }

  list(): Promise<InstanceInfo[]> {
    return this.call('list') as Promise<InstanceInfo[]>;
  }

  describe(name: string): Promise<DeviceDescription> {
    return this.call('describe', { name }) as Promise<DeviceDescription>;
  }

  /** Change the EDID's preferred mode (or take the link down): the guest's mode list, read at its next connector probe on Linux 6.13+ and at its next driver load on 6.12 and older (Manager.setResolution). */
  setResolution(name: string, resolution: Resolution | 'off'): Promise<SetResolutionResult> {
    return this.call('set-resolution', { name, resolution }) as Promise<SetResolutionResult>;
  }

  /** Taken in the server process from the device model (works while a VMM holds the device socket). */
  screenshot(name: string): Promise<ScreenshotResult & { name: string }> {
    return this.call('screenshot', { name }) as Promise<ScreenshotResult & { name: string }>;
  }

  /** The instance's snapshot: msgpack bytes (docs/management.md, "Snapshots"). */
  async snapshot(name: string): Promise<Uint8Array> {
    return ((await this.call('snapshot', { name })) as SnapshotReply).snapshot;
  }

  restore(name: string, snapshot: Uint8Array): Promise<InstanceInfo> {
    return this.call('restore', { name, snapshot }) as Promise<InstanceInfo>;
  }

  /** Store a definition in the server's store. */
  define(input: DefinitionInput | { mdevctl: unknown; uuid?: string; name?: string }): Promise<Definition> {
    return this.call('define', input) as Promise<Definition>;
  }

  undefine(name: string): Promise<Definition> {
    return this.call('undefine', { name }) as Promise<Definition>;
  }

  modify(name: string, change: DefinitionChange): Promise<Definition> {
    return this.call('modify', { name, change }) as Promise<Definition>;
  }

  /** Start a defined device (by name or UUID). */
  start(name: string): Promise<CreatedInstance> {
    return this.call('start', { name }) as Promise<CreatedInstance>;
  }

  /** Stop (remove) a running defined device; its definition stays. */
  stop(name: string): Promise<{ name: string; uuid: string }> {
    return this.call('stop', { name }) as Promise<{ name: string; uuid: string }>;
  }

  listDefined(): Promise<{ dir: string; definitions: Definition[]; problems: DefinitionProblem[] }> {
    return this.call('list-defined', {}) as Promise<{ dir: string; definitions: Definition[]; problems: DefinitionProblem[] }>;
  }

  /** Start a VNC listener for a device: its Unix socket, or a TCP display (display omitted: the next free one). */
  vnc(name: string, listen: 'unix' | { host: string; display?: number } = 'unix'): Promise<ConsoleInfo> {
    return this.call('vnc', { name, listen }) as Promise<ConsoleInfo>;
  }

  /** Close; pending calls reject with ECONNRESET. Idempotent. */
  close(): void {
    this.#fail(new ControlError('ECONNRESET', 'The control client was closed.'));
    this.#socket.close();
  }

  #onReply(body: Uint8Array): void {
    let raw: unknown;
    try {
      raw = decodeBody(body);
    } catch (err) {
      throw new ControlError('EPROTO', `The server sent a frame that is not msgpack (${err instanceof Error ? err.message : String(err)}).`);
    }
    const r = raw as Partial<{ id: RequestId | null; ok: boolean; result: unknown; error: Partial<ControlErrorBody> }> | null;
    if (r === null || typeof r !== 'object') throw new ControlError('EPROTO', 'The server sent a reply that is not a record.');
    const pending = typeof r.id === 'number' ? this.#pending.get(r.id) : undefined;
    if (!pending) {
      // id null: the server could not read one of our requests; there is nothing to match it to.
      const e = r.error;
      throw new ControlError(typeof e?.code === 'string' ? e.code : 'EPROTO', typeof e?.message === 'string' ? e.message : `The server sent a reply to unknown request ${String(r.id)}.`);
    }
    this.#pending.delete(r.id as number);
    if (r.ok === true) pending.resolve(r.result);
    else pending.reject(new ControlError(String(r.error?.code ?? 'EPROTO'), String(r.error?.message ?? 'The server refused the call.')));
  }

  #fail(err: ControlError): void {
    this.#closed ??= err;
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }
}
