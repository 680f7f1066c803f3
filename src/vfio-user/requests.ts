/**
 * Client-side message building and reply parsing, used by the client core
 * (client-core.ts) that drives both the async and the blocking client: the
 * transports differ, the bytes do not.
 */
import { VfioError } from '../util/errors.ts';
import { closeFd } from '../sys/fds.ts';
import { mapFd, type FdMapping } from '../sys/memfd.ts';
import type { DecodedRegionInfo } from '../vfio/region-caps.ts';
import { VfioDeviceGfxPlaneInfo, VfioDeviceInfoPrefix, VfioIrqInfo, VfioRegionInfo } from '../vfio/structs.ts';
import { VFIO_REGION_INFO_FLAG_MMAP, VFIO_REGION_INFO_FLAG_WRITE } from '../vfio/uapi.ts';
import * as P from './protocol.ts';
import {
  MdevsimDmabufRelease, MdevsimDmabufReply, MdevsimDmabufRequest, VfioUserDmaMap, VfioUserDmaUnmap, VfioUserHeader, VfioUserRegionAccess,
} from './wire.ts';

/** Most fds a client accepts per message unless told otherwise (and proposes as max_msg_fds). */
export const DEFAULT_CLIENT_MAX_MSG_FDS = 8;

/** The fd bound a client proposes, receives with and frames with: one value, or a reply could be cut. */
export function clientMaxMsgFds(opts: ClientOptions): number {
  return opts.maxMsgFds ?? DEFAULT_CLIENT_MAX_MSG_FDS;
}

export interface ClientOptions {
  /** Propose the mdevsim display extension. @defaultValue false */
  readonly display?: boolean;
  /** Most fds we accept per message (proposed as max_msg_fds). @defaultValue 8 */
  readonly maxMsgFds?: number;
  /** Largest transfer we accept (proposed as max_data_xfer_size). @defaultValue 1 MiB */
  readonly maxDataXfer?: number;
}

/** What the server agreed to in its VERSION reply (absent keys: spec defaults). */
export interface ServerCapabilities {
  readonly maxDataXfer: number;
  readonly maxMsgFds: number;
  readonly display: boolean;
}

/** A whole request message. */
export function requestMessage(id: number, command: number, payload: Uint8Array, noReply = false): Uint8Array {
  const msg = new Uint8Array(VfioUserHeader.size + payload.length);
  VfioUserHeader.encode({ msg_id: id, command, msg_size: msg.length, flags: noReply ? P.VFIO_USER_F_NO_REPLY : 0, error_no: 0 }, msg);
  msg.set(payload, VfioUserHeader.size);
  return msg;
}

export function versionProposal(opts: ClientOptions): Uint8Array {
  const caps: Record<string, unknown> = {
    max_msg_fds: clientMaxMsgFds(opts),
    max_data_xfer_size: opts.maxDataXfer ?? P.DEFAULT_MAX_DATA_XFER_SIZE,
  };
  if (opts.display) caps[P.MDEVSIM_DISPLAY_CAPABILITY] = true;
  const json = new TextEncoder().encode(JSON.stringify({ capabilities: caps }));
  const payload = new Uint8Array(4 + json.length + 1);
  payload.set([P.VFIO_USER_MAJOR, 0, P.VFIO_USER_MINOR, 0]);
  payload.set(json, 4);
  return payload;
}

export function parseVersionReply(p: Uint8Array): ServerCapabilities {
  if (p.length < 4 || (p[0]! | (p[1]! << 8)) !== P.VFIO_USER_MAJOR) throw new VfioError('EPROTO', 'server answered another protocol major');
  let c: Record<string, unknown> = {};
  if (p.length > 4) {
    if (p[p.length - 1] !== 0) throw new VfioError('EPROTO', 'VERSION reply JSON is not NUL-terminated');
    const parsed = JSON.parse(new TextDecoder().decode(p.subarray(4, p.length - 1))) as { capabilities?: Record<string, unknown> };
    c = parsed.capabilities ?? {};
  }
  return {
    maxDataXfer: typeof c['max_data_xfer_size'] === 'number' ? c['max_data_xfer_size'] : P.DEFAULT_MAX_DATA_XFER_SIZE,
    maxMsgFds: typeof c['max_msg_fds'] === 'number' ? c['max_msg_fds'] : P.DEFAULT_MAX_MSG_FDS,
    display: c[P.MDEVSIM_DISPLAY_CAPABILITY] === true,
  };
}

export function deviceInfoRequest(): Uint8Array {
  return VfioDeviceInfoPrefix.toBytes({ argsz: VfioDeviceInfoPrefix.size, flags: 0, num_regions: 0, num_irqs: 0 });
}

export function regionInfoRequest(index: number, argsz: number): Uint8Array {
  return VfioRegionInfo.toBytes({ argsz, flags: 0, index, cap_offset: 0, size: 0n, offset: 0n });
}

export function irqInfoRequest(index: number): Uint8Array {
  return VfioIrqInfo.toBytes({ argsz: VfioIrqInfo.size, flags: 0, index, count: 0 });
}

export function regionAccessRequest(region: number, offset: number | bigint, count: number, data?: Uint8Array): Uint8Array {
  return VfioUserRegionAccess.toBytes({ offset: BigInt(offset), region, count, data: data ?? new Uint8Array(0) });
}

export function dmaMapRequest(address: bigint, size: bigint, opts: { offset?: bigint; flags?: number } = {}): Uint8Array {
  return VfioUserDmaMap.toBytes({ argsz: VfioUserDmaMap.size, flags: opts.flags ?? 3, offset: opts.offset ?? 0n, address, size });
}

export function dmaUnmapRequest(address: bigint, size: bigint, flags = 0): Uint8Array {
  return VfioUserDmaUnmap.toBytes({ argsz: VfioUserDmaUnmap.size, flags, address, size });
}

export function gfxPlaneRequest(flags: number, drmPlaneType: number): Uint8Array {
  // Every output field starts zeroed, so decode an all-zero struct rather than list them.
  const blank = VfioDeviceGfxPlaneInfo.decode(new Uint8Array(VfioDeviceGfxPlaneInfo.size));
  return VfioDeviceGfxPlaneInfo.toBytes({ ...blank, argsz: VfioDeviceGfxPlaneInfo.size, flags, drm_plane_type: drmPlaneType });
}

export function dmabufRequest(dmabufId: number): Uint8Array {
  return MdevsimDmabufRequest.toBytes({ argsz: MdevsimDmabufReply.size, dmabuf_id: dmabufId });
}

export function dmabufReleaseRequest(handle: number): Uint8Array {
  return MdevsimDmabufRelease.toBytes({ argsz: MdevsimDmabufRelease.size, handle });
}

/** A region's mmap-able part, mapped into this process. */
export interface RegionMapping {
  readonly bytes: Uint8Array;
  /** Offset of `bytes` from the region start. */
  readonly regionOffset: number;
  unmap(): void;
}

/**
 * Map the first sparse area (or the whole region) from the fd of a region-info
 * reply. Takes ownership of `fd` (closed on every path: the mapping keeps the
 * memory alive). ENOTSUP when the region is not mappable.
 */
export function mapRegionFromInfo(index: number, info: DecodedRegionInfo, fd: number | undefined): RegionMapping {
  try {
    if ((info.flags & VFIO_REGION_INFO_FLAG_MMAP) === 0 || fd === undefined) {
      throw new VfioError('ENOTSUP', `region ${index} is not mappable`);
    }
    const sparse = info.caps.find((c) => c.kind === 'sparse-mmap');
    const area = sparse?.kind === 'sparse-mmap' ? sparse.areas[0] : { offset: 0, size: info.size };
    if (!area) throw new VfioError('ENOTSUP', `region ${index} has no mmap area`);
    const m: FdMapping = mapFd(fd, info.offset + area.offset, area.size, { writable: (info.flags & VFIO_REGION_INFO_FLAG_WRITE) !== 0 });
    return { bytes: m.bytes, regionOffset: area.offset, unmap: () => m.unmap() };
  } finally {
    if (fd !== undefined) closeFd(fd);
  }
}

/** An imported dmabuf, mapped; `handle` is the server's export handle to release. */
export interface DmabufImport {
  readonly dmabufId: number;
  readonly handle: number;
  readonly width: number;
  readonly height: number;
  readonly stride: number;
  readonly drmFormat: number;
  readonly drmFormatMod: bigint;
  readonly size: number;
  readonly bytes: Uint8Array;
  readonly mapping: FdMapping;
}

/** Map exactly the dmabuf's bytes from the reply's fd. Takes ownership of every fd. */
export function importDmabufReply(payload: Uint8Array, fds: readonly number[]): DmabufImport {
  const [fd, ...extra] = fds;
  for (const e of extra) closeFd(e);
  if (fd === undefined) throw new VfioError('EPROTO', 'GET_GFX_DMABUF reply without an fd');
  try {
    if (payload.length < MdevsimDmabufReply.size) throw new VfioError('EPROTO', `GET_GFX_DMABUF reply of ${payload.length} bytes`);
    const r = MdevsimDmabufReply.decode(payload);
    const mapping = mapFd(fd, Number(r.offset), Number(r.size), { writable: false });
    return {
      dmabufId: r.dmabuf_id, handle: r.handle, width: r.width, height: r.height, stride: r.stride,
      drmFormat: r.drm_format, drmFormatMod: r.drm_format_mod, size: Number(r.size), bytes: mapping.bytes, mapping,
    };
  } finally {
    closeFd(fd);
  }
}
