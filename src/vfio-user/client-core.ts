/**
 * The vfio-user client without I/O: what each call sends, how its reply is
 * read, when it asks again, and which frames are acceptable replies. The
 * async client (client.ts) and the blocking one (sync-client.ts) are only
 * transports that drive it, so they cannot drift apart in what they offer or
 * how they read the server.
 *
 * A call is a plan: a generator that yields each request it needs
 * ({@link Exchange}) and is resumed with the reply (or thrown into with the
 * error), so a retry such as region info's argsz round trip is written once
 * and runs unchanged over either transport.
 */
import { VfioError } from '../util/errors.ts';
import { ERRNO } from '../util/errno.ts';
import { closeFd } from '../sys/fds.ts';
import type { DeviceInfo, GfxPlaneInfo } from '../vfio/device.ts';
import { decodeDeviceInfo, decodeIrqInfo, decodeRegionInfo, type DecodedIrqInfo, type DecodedRegionInfo } from '../vfio/region-caps.ts';
import { decodeGfxPlaneInfo } from '../vfio/gfx.ts';
import { VfioRegionInfo } from '../vfio/structs.ts';
import { Framer, type Frame } from './framer.ts';
import * as P from './protocol.ts';
import * as R from './requests.ts';
import { DEFAULT_SESSION_LIMITS, maxMessageSize } from './session.ts';
import { VfioUserRegionAccess } from './wire.ts';

/** A reply: payload copy plus the fds that came with it (the caller owns them). */
export interface Reply {
  readonly payload: Uint8Array;
  readonly fds: number[];
}

/** One request a plan wants sent. `fds` are borrowed; with `noReply` the transport answers at once with an empty reply. */
export interface Exchange {
  readonly command: number;
  readonly payload: Uint8Array;
  readonly fds: readonly number[];
  readonly noReply: boolean;
}

export type Plan<T> = Generator<Exchange, T, Reply>;

const EMPTY = new Uint8Array(0);

function exchange(command: number, payload: Uint8Array = EMPTY, fds: readonly number[] = [], noReply = false): Exchange {
  return { command, payload, fds, noReply };
}

/**
 * A result that carries a follow-up call: each transport turns `release` into
 * its own kind of call (a promise, or a blocking one), so the plan stays
 * transport-free.
 */
export class Releasable<T> {
  constructor(readonly value: T, readonly release: () => Plan<void>) {}
}

/** What a transport makes of a call's result: Releasable values get a release() of the transport's kind. */
export type Lifted<T, Done> = T extends Releasable<infer V> ? V & { release(): Done } : T;

/** Per-connection state shared by both transports: message ids, the framer and its limits, reply checks. */
export class ClientCore {
  readonly framer: Framer;
  #nextId = 1;

  constructor(opts: R.ClientOptions) {
    // The server's rule for the largest message, applied to what we proposed.
    const limits = { ...DEFAULT_SESSION_LIMITS, maxDataXfer: opts.maxDataXfer ?? P.DEFAULT_MAX_DATA_XFER_SIZE };
    this.framer = new Framer({ maxMessageSize: maxMessageSize(limits), maxFdsPerMessage: R.clientMaxMsgFds(opts) }, closeFd);
  }

  /** The bytes of `ex` under the next message id. */
  message(ex: Exchange): { id: number; bytes: Uint8Array } {
    const id = this.#nextId;
    this.#nextId = (this.#nextId + 1) & 0xffff;
    return { id, bytes: R.requestMessage(id, ex.command, ex.payload, ex.noReply) };
  }

  /**
   * Judge a frame against the command awaited under its id (undefined: none
   * is). Returns the reply, or the server's error as a VfioError (its fds
   * closed). Throws EPROTO, fds closed, for a frame that answers nothing we
   * sent: the stream can no longer be trusted.
   */
  settle(f: Frame, awaited: number | undefined): Reply | VfioError {
    if (awaited === undefined || f.command !== awaited || (f.flags & P.VFIO_USER_F_TYPE_MASK) !== P.VFIO_USER_F_TYPE_REPLY) {
      for (const fd of f.fds) closeFd(fd);
      throw new VfioError('EPROTO', `unexpected message id ${f.id} command ${f.command} flags 0x${f.flags.toString(16)}`);
    }
    if ((f.flags & P.VFIO_USER_F_ERROR) !== 0) {
      for (const fd of f.fds) closeFd(fd);
      // An error reply without an errno is still an error; EINVAL is what the spec's servers mean by it.
      return new VfioError(f.error === 0 ? ERRNO.EINVAL : f.error, `command ${f.command} failed`);
    }
    return { payload: f.payload.slice(), fds: f.fds };
  }
}

/** Resume `plan` with what `get` returns, or throw what it throws into the plan. */
export function resume<T>(plan: Plan<T>, get: () => Reply): IteratorResult<Exchange, T> {
  let reply: Reply;
  try {
    reply = get();
  } catch (err) {
    return plan.throw(err);
  }
  return plan.next(reply);
}

/** Connect-time VERSION negotiation. */
export function* handshake(opts: R.ClientOptions): Plan<R.ServerCapabilities> {
  return R.parseVersionReply((yield exchange(P.VFIO_USER_VERSION, R.versionProposal(opts))).payload);
}

function* deviceInfo(): Plan<DeviceInfo> {
  return decodeDeviceInfo((yield exchange(P.VFIO_USER_DEVICE_GET_INFO, R.deviceInfoRequest())).payload);
}

/**
 * Region info with the argsz retry QEMU does: ask with 32 bytes, and again
 * with the announced argsz when capabilities did not fit. Returns the
 * decoded info and the mmap fd (owned by the caller) when the server sent one.
 */
function* regionInfo(index: number): Plan<{ info: DecodedRegionInfo; fd: number | undefined }> {
  let argsz = VfioRegionInfo.size;
  for (let attempt = 0; ; attempt++) {
    const reply = yield exchange(P.VFIO_USER_DEVICE_GET_REGION_INFO, R.regionInfoRequest(index, argsz));
    const info = decodeRegionInfo(reply.payload);
    if (info.complete || attempt === 1) {
      for (const fd of reply.fds.slice(1)) closeFd(fd);
      return { info, fd: reply.fds[0] };
    }
    for (const fd of reply.fds) closeFd(fd);
    argsz = info.argsz;
  }
}

function* irqInfo(index: number): Plan<DecodedIrqInfo> {
  return decodeIrqInfo((yield exchange(P.VFIO_USER_DEVICE_GET_IRQ_INFO, R.irqInfoRequest(index))).payload);
}

/** The bytes read (a view into the reply's copy). */
function* regionRead(region: number, offset: number | bigint, count: number): Plan<Uint8Array> {
  return (yield exchange(P.VFIO_USER_REGION_READ, R.regionAccessRequest(region, offset, count))).payload.subarray(VfioUserRegionAccess.size);
}

/** Write; with `posted` the message carries NO_REPLY (as QEMU posts BAR writes) and the call returns once it is sent. */
function* regionWrite(region: number, offset: number | bigint, data: Uint8Array, opts: { posted?: boolean } = {}): Plan<void> {
  yield exchange(P.VFIO_USER_REGION_WRITE, R.regionAccessRequest(region, offset, data.length, data), [], opts.posted ?? false);
}

/** DMA_MAP a window; `fd` (borrowed) backs it when given. */
function* dmaMap(address: bigint, size: bigint, opts: { fd?: number; offset?: bigint; flags?: number } = {}): Plan<void> {
  yield exchange(P.VFIO_USER_DMA_MAP, R.dmaMapRequest(address, size, opts), opts.fd === undefined ? [] : [opts.fd]);
}

function* dmaUnmap(address: bigint, size: bigint, flags = 0): Plan<void> {
  yield exchange(P.VFIO_USER_DMA_UNMAP, R.dmaUnmapRequest(address, size, flags));
}

function* reset(): Plan<void> {
  yield exchange(P.VFIO_USER_DEVICE_RESET);
}

/** Map a region's mmap-able part (first sparse area, or the whole region). ENOTSUP when not mappable. */
function* mapRegion(index: number): Plan<R.RegionMapping> {
  const { info, fd } = yield* regionInfo(index);
  return R.mapRegionFromInfo(index, info, fd);
}

/** QUERY_GFX_PLANE through the display extension (requires `display`). */
function* queryGfxPlane(flags: number, drmPlaneType: number): Plan<GfxPlaneInfo> {
  return decodeGfxPlaneInfo((yield exchange(P.MDEVSIM_USER_QUERY_GFX_PLANE, R.gfxPlaneRequest(flags, drmPlaneType))).payload).plane;
}

/** An imported dmabuf: exactly the plane's bytes, mapped from the fd the server sent. */
export type DmabufView = Omit<R.DmabufImport, 'mapping' | 'handle'>;

/** GET_GFX_DMABUF: map exactly the plane's buffer from the VRAM fd the server sends; release() unmaps it and releases the server's handle. */
function* importDmabuf(dmabufId: number): Plan<Releasable<DmabufView>> {
  const reply = yield exchange(P.MDEVSIM_USER_GET_GFX_DMABUF, R.dmabufRequest(dmabufId));
  const { mapping, handle, ...view } = R.importDmabufReply(reply.payload, reply.fds);
  return new Releasable(view, function* () {
    mapping.unmap();
    yield exchange(P.MDEVSIM_USER_RELEASE_GFX_DMABUF, R.dmabufReleaseRequest(handle));
  });
}

/** Every call a client offers; both transports get exactly these (installCalls). */
export const CALLS = { deviceInfo, regionInfo, irqInfo, regionRead, regionWrite, dmaMap, dmaUnmap, reset, mapRegion, queryGfxPlane, importDmabuf };
type CallTable = typeof CALLS;
type ResultOf<K extends keyof CallTable> = ReturnType<CallTable[K]> extends Plan<infer T> ? T : never;

/** The calls as an async transport offers them. */
export type AsyncCalls = { [K in keyof CallTable]: (...args: Parameters<CallTable[K]>) => Promise<Lifted<ResultOf<K>, Promise<void>>> };
/** The calls as a blocking transport offers them. */
export type SyncCalls = { [K in keyof CallTable]: (...args: Parameters<CallTable[K]>) => Lifted<ResultOf<K>, void> };

/** How a transport runs a plan: `finish` maps the plan's result (in a promise for the async one). */
export const RUN = Symbol('run');
export interface Transport {
  [RUN]<T, U>(plan: Plan<T>, finish: (value: T) => U): unknown;
}

/**
 * Give a transport class one method per call, each running that call's plan.
 * Generated rather than written out so neither transport can lack a call or
 * spell one differently: the method set is the table.
 */
export function installCalls(transport: { prototype: Transport }): void {
  for (const [name, call] of Object.entries(CALLS) as [string, (...args: unknown[]) => Plan<unknown>][]) {
    Object.defineProperty(transport.prototype, name, {
      configurable: true,
      writable: true,
      value(this: Transport, ...args: unknown[]): unknown {
        const lift = (v: unknown): unknown =>
          v instanceof Releasable ? { ...(v.value as object), release: () => this[RUN](v.release(), (x) => x) } : v;
        return this[RUN](call(...args), lift);
      },
    });
  }
}
