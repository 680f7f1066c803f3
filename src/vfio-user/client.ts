/**
 * A typed vfio-user client over the same wire declarations as the server.
 * It is the public API other projects use to drive mdevsim devices from their
 * tests: connect, negotiate, query, read/write regions, map region fds, DMA
 * map/unmap, reset, and (with the display extension) query planes and import
 * dmabufs.
 *
 * ```ts
 * const client = await VfioUserClient.connect(socketPath, { display: true });
 * const info = await client.deviceInfo();                  // { flags, numRegions: 10, numIrqs: 5 }
 * const ids = await client.regionRead(7, 0, 4);             // config space: vendor/device id bytes
 * const vram = await client.mapRegion(0);                   // zero-copy view of BAR0 (the server's memfd)
 * const plane = await client.queryGfxPlane(VFIO_GFX_PLANE_TYPE_DMABUF, DRM_PLANE_TYPE_PRIMARY);
 * const buf = await client.importDmabuf(plane.regionIndexOrDmabufId);  // exactly the plane's bytes
 * await buf.release();
 * client.close();
 * ```
 *
 * Requests may be pipelined: each gets the next message id and its promise
 * resolves when the reply with that id arrives. Error replies reject with a
 * VfioError carrying the server's errno. The calls, their bytes and their
 * reply checks live in client-core.ts; this file is the libuv transport.
 * SyncVfioUserClient (sync-client.ts) offers the same calls, blocking.
 */
import { VfioError } from '../util/errors.ts';
import { connect, type UnixSocket } from '../sys/socket.ts';
import * as P from './protocol.ts';
import * as R from './requests.ts';
import {
  ClientCore, RUN, handshake, installCalls,
  type AsyncCalls, type DmabufView, type Exchange, type Plan, type Reply, type Transport,
} from './client-core.ts';

export type { ClientOptions, RegionMapping } from './requests.ts';
export type { Reply } from './client-core.ts';

/** An imported dmabuf: exactly the plane's bytes, mapped from the fd the server sent. */
export interface ImportedDmabuf extends DmabufView {
  /** Unmap and tell the server to release its export handle. */
  release(): Promise<void>;
}

interface Pending { resolve(r: Reply): void; reject(e: Error): void; command: number }

export interface VfioUserClient extends AsyncCalls {}

export class VfioUserClient implements Transport {
  readonly #socket: UnixSocket;
  readonly #core: ClientCore;
  readonly #pending = new Map<number, Pending>();
  #closedError: Error | undefined;
  /** What the server agreed to (valid after connect). */
  server: R.ServerCapabilities = { maxDataXfer: P.DEFAULT_MAX_DATA_XFER_SIZE, maxMsgFds: P.DEFAULT_MAX_MSG_FDS, display: false };

  private constructor(socket: UnixSocket, opts: R.ClientOptions) {
    this.#socket = socket;
    this.#core = new ClientCore(opts);
    const framer = this.#core.framer;
    socket.on('data', (bytes, anc) => {
      const fds: number[] = [];
      if (anc) for (let i = 0; i < anc.fds.length; i++) fds.push(anc.fds.take(i));
      framer.push(bytes, fds);
      try {
        for (let f = framer.next(); f; f = framer.next()) {
          const pending = this.#pending.get(f.id);
          const r = this.#core.settle(f, pending?.command);
          this.#pending.delete(f.id);
          if (r instanceof VfioError) pending!.reject(r);
          else pending!.resolve(r);
        }
      } catch (err) {
        this.#fail(err instanceof Error ? err : new Error(String(err)));
        socket.close();
      }
    });
    socket.on('close', (info) => this.#fail(new VfioError('ECONNRESET', `connection closed (${info.reason})`)));
  }

  /** Connect and negotiate VERSION. */
  static async connect(path: string, opts: R.ClientOptions = {}): Promise<VfioUserClient> {
    const socket = await connect(path, { maxFds: R.clientMaxMsgFds(opts) });
    const client = new VfioUserClient(socket, opts);
    try {
      client.server = await client[RUN](handshake(opts), (caps) => caps);
    } catch (err) {
      client.close();
      throw err;
    }
    return client;
  }

  /** Whether the server agreed to the display extension. */
  get display(): boolean {
    return this.server.display;
  }

  /**
   * Send one command and wait for its reply. `fds` are borrowed. With
   * `noReply` the promise resolves once the message is queued.
   */
  request(command: number, payload?: Uint8Array, fds: readonly number[] = [], opts: { noReply?: boolean } = {}): Promise<Reply> {
    return this.#exchange({ command, payload: payload ?? new Uint8Array(0), fds, noReply: opts.noReply ?? false });
  }

  #exchange(ex: Exchange): Promise<Reply> {
    if (this.#closedError) return Promise.reject(this.#closedError);
    const { id, bytes } = this.#core.message(ex);
    if (ex.noReply) {
      this.#socket.send(bytes, ex.fds);
      return Promise.resolve({ payload: new Uint8Array(0), fds: [] });
    }
    return new Promise<Reply>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, command: ex.command });
      this.#socket.send(bytes, ex.fds);
    });
  }

  async [RUN]<T, U>(plan: Plan<T>, finish: (value: T) => U): Promise<U> {
    let step = plan.next();
    while (!step.done) step = await this.#exchange(step.value).then((r) => plan.next(r), (err: unknown) => plan.throw(err));
    return finish(step.value);
  }

  #fail(err: Error): void {
    this.#closedError ??= err;
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    this.#core.framer.close();
  }

  /** Close the connection; pending requests reject with ECONNRESET. Idempotent. */
  close(): void {
    this.#fail(new VfioError('ECONNRESET', 'client closed'));
    this.#socket.close();
  }
}
installCalls(VfioUserClient);
