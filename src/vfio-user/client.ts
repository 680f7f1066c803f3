/**
 * A typed vfio-user client over the same wire declarations as the server.
 * It is the public API other projects use to drive mdevsim devices from their
 * tests: connect, negotiate, query, read/write regions, map region fds, reset,
 * and (with the display extension) query planes and import dmabufs.
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
 * VfioError carrying the server's errno. SyncVfioUserClient (sync-client.ts)
 * offers the same operations, blocking.
 */
import { VfioError } from '../util/errors.ts';
import { closeFd } from '../sys/fds.ts';
import { connect, type UnixSocket } from '../sys/socket.ts';
import type { DeviceInfo, GfxPlaneInfo } from '../vfio/device.ts';
import { decodeDeviceInfo, decodeIrqInfo, decodeRegionInfo, type DecodedIrqInfo, type DecodedRegionInfo } from '../vfio/region-caps.ts';
import { decodeGfxPlaneInfo } from '../vfio/gfx.ts';
import { VfioRegionInfo } from '../vfio/structs.ts';
import { Framer, type Frame } from './framer.ts';
import * as P from './protocol.ts';
import * as R from './requests.ts';

export type { ClientOptions, RegionMapping } from './requests.ts';

/** A reply: payload copy plus the fds that came with it (the caller owns them). */
export interface Reply {
  readonly payload: Uint8Array;
  readonly fds: number[];
}

/** An imported dmabuf: exactly the plane's bytes, mapped from the fd the server sent. */
export interface ImportedDmabuf extends Omit<R.DmabufImport, 'mapping' | 'handle'> {
  /** Unmap and tell the server to release its export handle. */
  release(): Promise<void>;
}

interface Pending { resolve(r: Reply): void; reject(e: Error): void; command: number }

export class VfioUserClient {
  readonly #socket: UnixSocket;
  readonly #framer: Framer;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closedError: Error | undefined;
  /** What the server agreed to (valid after connect). */
  server: R.ServerCapabilities = { maxDataXfer: P.DEFAULT_MAX_DATA_XFER_SIZE, maxMsgFds: P.DEFAULT_MAX_MSG_FDS, display: false };

  private constructor(socket: UnixSocket, opts: R.ClientOptions) {
    this.#socket = socket;
    this.#framer = new Framer({ maxMessageSize: 64 + (opts.maxDataXfer ?? P.DEFAULT_MAX_DATA_XFER_SIZE), maxFdsPerMessage: opts.maxMsgFds ?? 8 }, closeFd);
    socket.on('data', (bytes, anc) => {
      const fds: number[] = [];
      if (anc) for (let i = 0; i < anc.fds.length; i++) fds.push(anc.fds.take(i));
      this.#framer.push(bytes, fds);
      try {
        for (let f = this.#framer.next(); f; f = this.#framer.next()) this.#onReply(f);
      } catch (err) {
        this.#fail(err instanceof Error ? err : new Error(String(err)));
        socket.close();
      }
    });
    socket.on('close', (info) => this.#fail(new VfioError('ECONNRESET', `connection closed (${info.reason})`)));
  }

  /** Connect and negotiate VERSION. */
  static async connect(path: string, opts: R.ClientOptions = {}): Promise<VfioUserClient> {
    const socket = await connect(path, { maxFds: opts.maxMsgFds ?? 8 });
    const client = new VfioUserClient(socket, opts);
    try {
      client.server = R.parseVersionReply((await client.request(P.VFIO_USER_VERSION, R.versionProposal(opts))).payload);
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
  request(command: number, payload: Uint8Array = new Uint8Array(0), fds: readonly number[] = [], opts: { noReply?: boolean } = {}): Promise<Reply> {
    if (this.#closedError) return Promise.reject(this.#closedError);
    const id = this.#nextId;
    this.#nextId = (this.#nextId + 1) & 0xffff;
    const msg = R.requestMessage(id, command, payload, opts.noReply);
    if (opts.noReply) {
      this.#socket.send(msg, fds);
      return Promise.resolve({ payload: new Uint8Array(0), fds: [] });
    }
    return new Promise<Reply>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, command });
      this.#socket.send(msg, fds);
    });
  }

  #onReply(f: Frame): void {
    const pending = this.#pending.get(f.id);
    if (!pending || (f.flags & P.VFIO_USER_F_TYPE_MASK) !== P.VFIO_USER_F_TYPE_REPLY || f.command !== pending.command) {
      for (const fd of f.fds) closeFd(fd);
      throw new VfioError('EPROTO', `unexpected message id ${f.id} command ${f.command} flags 0x${f.flags.toString(16)}`);
    }
    this.#pending.delete(f.id);
    if ((f.flags & P.VFIO_USER_F_ERROR) !== 0) {
      for (const fd of f.fds) closeFd(fd);
      pending.reject(new VfioError(f.error === 0 ? 22 : f.error, `command ${f.command} failed`));
      return;
    }
    pending.resolve({ payload: f.payload.slice(), fds: f.fds });
  }

  #fail(err: Error): void {
    this.#closedError ??= err;
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    this.#framer.close();
  }

  async deviceInfo(): Promise<DeviceInfo> {
    return decodeDeviceInfo((await this.request(P.VFIO_USER_DEVICE_GET_INFO, R.deviceInfoRequest())).payload);
  }

  /**
   * Region info with the argsz retry QEMU does: ask with 32 bytes, and again
   * with the announced argsz when capabilities did not fit. Returns the
   * decoded info and the mmap fd (owned by the caller) when the server sent one.
   */
  async regionInfo(index: number): Promise<{ info: DecodedRegionInfo; fd: number | undefined }> {
    let argsz = VfioRegionInfo.size;
    for (let attempt = 0; ; attempt++) {
      const reply = await this.request(P.VFIO_USER_DEVICE_GET_REGION_INFO, R.regionInfoRequest(index, argsz));
      const info = decodeRegionInfo(reply.payload);
      if (info.complete || attempt === 1) {
        for (const fd of reply.fds.slice(1)) closeFd(fd);
        return { info, fd: reply.fds[0] };
      }
      for (const fd of reply.fds) closeFd(fd);
      argsz = info.argsz;
    }
  }

  async irqInfo(index: number): Promise<DecodedIrqInfo> {
    return decodeIrqInfo((await this.request(P.VFIO_USER_DEVICE_GET_IRQ_INFO, R.irqInfoRequest(index))).payload);
  }

  async regionRead(region: number, offset: number | bigint, count: number): Promise<Uint8Array> {
    const reply = await this.request(P.VFIO_USER_REGION_READ, R.regionAccessRequest(region, offset, count));
    return reply.payload.subarray(16);
  }

  /** Write; with `posted` the message carries NO_REPLY (as QEMU posts BAR writes). */
  async regionWrite(region: number, offset: number | bigint, data: Uint8Array, opts: { posted?: boolean } = {}): Promise<void> {
    await this.request(P.VFIO_USER_REGION_WRITE, R.regionAccessRequest(region, offset, data.length, data), [], { noReply: opts.posted ?? false });
  }

  async dmaMap(address: bigint, size: bigint, opts: { fd?: number; offset?: bigint; flags?: number } = {}): Promise<void> {
    await this.request(P.VFIO_USER_DMA_MAP, R.dmaMapRequest(address, size, opts), opts.fd === undefined ? [] : [opts.fd]);
  }

  async dmaUnmap(address: bigint, size: bigint, flags = 0): Promise<void> {
    await this.request(P.VFIO_USER_DMA_UNMAP, R.dmaUnmapRequest(address, size, flags));
  }

  async reset(): Promise<void> {
    await this.request(P.VFIO_USER_DEVICE_RESET);
  }

  /** Map a region's mmap-able part (first sparse area, or the whole region). ENOTSUP when not mappable. */
  async mapRegion(index: number): Promise<R.RegionMapping> {
    const { info, fd } = await this.regionInfo(index);
    return R.mapRegionFromInfo(index, info, fd);
  }

  /** QUERY_GFX_PLANE through the display extension (requires `display`). */
  async queryGfxPlane(flags: number, drmPlaneType: number): Promise<GfxPlaneInfo> {
    return decodeGfxPlaneInfo((await this.request(P.MDEVSIM_USER_QUERY_GFX_PLANE, R.gfxPlaneRequest(flags, drmPlaneType))).payload).plane;
  }

  /** GET_GFX_DMABUF: map exactly the plane's buffer from the VRAM fd the server sends. */
  async importDmabuf(dmabufId: number): Promise<ImportedDmabuf> {
    const reply = await this.request(P.MDEVSIM_USER_GET_GFX_DMABUF, R.dmabufRequest(dmabufId));
    const { mapping, handle, ...rest } = R.importDmabufReply(reply.payload, reply.fds);
    return {
      ...rest,
      release: async () => {
        mapping.unmap();
        await this.request(P.MDEVSIM_USER_RELEASE_GFX_DMABUF, R.dmabufReleaseRequest(handle));
      },
    };
  }

  /** Close the connection; pending requests reject with ECONNRESET. Idempotent. */
  close(): void {
    this.#fail(new VfioError('ECONNRESET', 'client closed'));
    this.#socket.close();
  }
}
