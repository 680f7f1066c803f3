/**
 * A blocking vfio-user client: every call sends one request and blocks until
 * its reply arrives, the way a vCPU blocks on an MMIO exit while QEMU waits
 * for the device. For synchronous callers such as guest-driver models; the
 * server must run in another process or thread. Same bytes as client.ts
 * (requests.ts builds both).
 */
import { VfioError } from '../util/errors.ts';
import { closeFd } from '../sys/fds.ts';
import { BlockingSocket } from '../sys/blocking-socket.ts';
import type { DeviceInfo, GfxPlaneInfo } from '../vfio/device.ts';
import { decodeDeviceInfo, decodeRegionInfo, type DecodedRegionInfo } from '../vfio/region-caps.ts';
import { decodeGfxPlaneInfo } from '../vfio/gfx.ts';
import { VfioRegionInfo } from '../vfio/structs.ts';
import { Framer } from './framer.ts';
import * as P from './protocol.ts';
import * as R from './requests.ts';

export class SyncVfioUserClient {
  readonly #socket: BlockingSocket;
  readonly #framer: Framer;
  #nextId = 1;
  readonly server: R.ServerCapabilities;

  private constructor(socket: BlockingSocket, opts: R.ClientOptions) {
    this.#socket = socket;
    this.#framer = new Framer({ maxMessageSize: 64 + (opts.maxDataXfer ?? P.DEFAULT_MAX_DATA_XFER_SIZE), maxFdsPerMessage: opts.maxMsgFds ?? 8 }, closeFd);
    this.server = R.parseVersionReply(this.request(P.VFIO_USER_VERSION, R.versionProposal(opts)).payload);
  }

  static connect(path: string, opts: R.ClientOptions = {}): SyncVfioUserClient {
    const socket = BlockingSocket.connect(path, { maxFds: opts.maxMsgFds ?? 8 });
    try {
      return new SyncVfioUserClient(socket, opts);
    } catch (err) {
      socket.close();
      throw err;
    }
  }

  /** Send one command and block for its reply (payload copied; fds owned by the caller). */
  request(command: number, payload: Uint8Array = new Uint8Array(0), fds: readonly number[] = []): { payload: Uint8Array; fds: number[] } {
    const id = this.#nextId;
    this.#nextId = (this.#nextId + 1) & 0xffff;
    this.#socket.send(R.requestMessage(id, command, payload), fds);
    for (;;) {
      const f = this.#framer.next();
      if (!f) {
        const chunk = this.#socket.receive();
        this.#framer.push(chunk.bytes, chunk.fds);
        continue;
      }
      if (f.id !== id || f.command !== command || (f.flags & P.VFIO_USER_F_TYPE_MASK) !== P.VFIO_USER_F_TYPE_REPLY) {
        for (const fd of f.fds) closeFd(fd);
        throw new VfioError('EPROTO', `unexpected message id ${f.id} command ${f.command} while waiting for ${id}`);
      }
      if ((f.flags & P.VFIO_USER_F_ERROR) !== 0) {
        for (const fd of f.fds) closeFd(fd);
        throw new VfioError(f.error === 0 ? 22 : f.error, `command ${command} failed`);
      }
      return { payload: f.payload.slice(), fds: f.fds };
    }
  }

  deviceInfo(): DeviceInfo {
    return decodeDeviceInfo(this.request(P.VFIO_USER_DEVICE_GET_INFO, R.deviceInfoRequest()).payload);
  }

  regionInfo(index: number): { info: DecodedRegionInfo; fd: number | undefined } {
    let argsz = VfioRegionInfo.size;
    for (let attempt = 0; ; attempt++) {
      const reply = this.request(P.VFIO_USER_DEVICE_GET_REGION_INFO, R.regionInfoRequest(index, argsz));
      const info = decodeRegionInfo(reply.payload);
      if (info.complete || attempt === 1) {
        for (const fd of reply.fds.slice(1)) closeFd(fd);
        return { info, fd: reply.fds[0] };
      }
      for (const fd of reply.fds) closeFd(fd);
      argsz = info.argsz;
    }
  }

  regionRead(region: number, offset: number | bigint, count: number): Uint8Array {
    return this.request(P.VFIO_USER_REGION_READ, R.regionAccessRequest(region, offset, count)).payload.subarray(16);
  }

  regionWrite(region: number, offset: number | bigint, data: Uint8Array): void {
    this.request(P.VFIO_USER_REGION_WRITE, R.regionAccessRequest(region, offset, data.length, data));
  }

  reset(): void {
    this.request(P.VFIO_USER_DEVICE_RESET);
  }

  mapRegion(index: number): R.RegionMapping {
    const { info, fd } = this.regionInfo(index);
    return R.mapRegionFromInfo(index, info, fd);
  }

  queryGfxPlane(flags: number, drmPlaneType: number): GfxPlaneInfo {
    return decodeGfxPlaneInfo(this.request(P.MDEVSIM_USER_QUERY_GFX_PLANE, R.gfxPlaneRequest(flags, drmPlaneType)).payload).plane;
  }

  /** Import a dmabuf; release() unmaps it and releases the server's handle. */
  importDmabuf(dmabufId: number): Omit<R.DmabufImport, 'mapping'> & { release(): void } {
    const reply = this.request(P.MDEVSIM_USER_GET_GFX_DMABUF, R.dmabufRequest(dmabufId));
    const { mapping, ...rest } = R.importDmabufReply(reply.payload, reply.fds);
    return { ...rest, release: () => { mapping.unmap(); this.request(P.MDEVSIM_USER_RELEASE_GFX_DMABUF, R.dmabufReleaseRequest(rest.handle)); } };
  }

  close(): void {
    this.#framer.close();
    this.#socket.close();
  }
}
