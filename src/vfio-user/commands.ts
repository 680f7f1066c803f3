/**
 * The command table: one row per command the server knows, built from the
 * struct descriptors (wire.ts, src/vfio/structs.ts). A row states what the
 * codec checks before the handler runs (codec.ts: gate, NO_REPLY, fds,
 * payload length, argsz, data count); the handler applies only the rules
 * that need the device or the session's state, and returns the reply.
 * A command without a row is answered ENOSYS.
 */
import { VfioError } from '../util/errors.ts';
import type { DmabufExport, RegionInfo, VfioDevice } from '../vfio/device.ts';
import { decodeGfxPlaneQuery, encodeGfxPlaneResult } from '../vfio/gfx.ts';
import { VfioDeviceGfxPlaneInfo, VfioDeviceInfoPrefix, VfioIrqInfo, VfioIrqSet, VfioRegionInfo } from '../vfio/structs.ts';
import { VFIO_REGION_INFO_FLAG_MMAP } from '../vfio/uapi.ts';
import type { FdCharger } from '../sys/socket.ts';
import type { FdInspector, SessionLimits } from './limits.ts';
import type { DmaTable } from './dma-table.ts';
import type { Frame } from './framer.ts';
import { accessCount, accessOffset, accessRegion, type CommandRow, type Reply } from './codec.ts';
import { encodeDeviceInfo, encodeIrqInfo, encodeRegionInfo, irqSetOf } from './info.ts';
import * as P from './protocol.ts';
import { negotiateVersion, parseVersionPayload, type ClientProposal, type NegotiatedSession } from './version.ts';
import {
  MdevsimDmabufRelease, MdevsimDmabufReply, MdevsimDmabufRequest, VFIO_DMA_UNMAP_FLAG_ALL,
  VFIO_USER_F_DMA_REGION_READ, VFIO_USER_F_DMA_REGION_WRITE, VfioUserArgsz, VfioUserDmaMap, VfioUserDmaUnmap,
  VfioUserHeader, VfioUserRegionAccess, VfioUserVersion, writeReplyHeaderAt,
} from './wire.ts';

/** One DMA window a client mapped; `fd` is owned by the session until unmap or disconnect. */
export interface DmaMap { readonly address: bigint; readonly size: bigint; readonly flags: number; readonly fd: number | undefined }

/** The connection state handlers read and change; session.ts owns it. */
export interface SessionState {
  readonly device: VfioDevice;
  readonly limits: SessionLimits;
  readonly display: boolean;
  readonly inspectFd: FdInspector | undefined;
  readonly fdCharger: FdCharger | undefined;
  negotiated: NegotiatedSession | undefined;
  readonly dmaMaps: DmaTable<DmaMap>;
  readonly exports: Map<number, DmabufExport>;
  nextExportHandle: number;
  readonly stats: { requests: number; errors: number; noReply: number };
  /** Windows left the table: close the fds they kept and give back their charges. */
  release(maps: readonly DmaMap[]): void;
}

type Row<Req = unknown> = CommandRow<SessionState, Req>;

const EMPTY: Reply = {};
const U64_LIMIT = 1n << 64n;
const HEADER = VfioUserHeader.size;
/** A region access reply: header, then the request's access struct echoed. */
const ACCESS_REPLY = HEADER + VfioUserRegionAccess.size;

/** Copy the request's access struct into the reply after its header. */
function echoAccess(p: Uint8Array, out: Uint8Array, at: number): void {
  for (let i = 0; i < VfioUserRegionAccess.size; i++) out[at + HEADER + i] = p[i]!;
}

const version: Row<ClientProposal> = {
  command: P.VFIO_USER_VERSION, name: 'VERSION', gate: 'unnegotiated', noReply: false, fds: { max: 0 },
  request: VfioUserVersion, minPayload: VfioUserVersion.size, payload: 'at-least',
  decode: parseVersionPayload,
  handle(s, proposal, frame) {
    const n = negotiateVersion(proposal, {
      maxMsgFds: s.limits.maxMsgFds,
      maxDataXferSize: s.limits.maxDataXfer,
      maxDmaMaps: s.limits.maxDmaMaps,
      display: s.display,
    }, frame.size);
    s.negotiated = n;
    return { payload: n.replyPayload };
  },
};

/**
 * Cheap refusals come before costly ones, so that a client hammering a
 * full table costs a few comparisons per request: the shape of the
 * message (the row), then the map limit, then the window's arithmetic,
 * then the table search, then the fd (a syscall), then its charge.
 */
const dmaMap: Row<ReturnType<typeof VfioUserDmaMap.decode>> = {
  command: P.VFIO_USER_DMA_MAP, name: 'DMA_MAP', gate: 'negotiated', noReply: true, fds: { max: 1 },
  request: VfioUserDmaMap, minPayload: VfioUserDmaMap.size, payload: 'at-least', argsz: VfioUserDmaMap.size,
  decode: (p) => VfioUserDmaMap.decode(p),
  handle(s, m, frame) {
    if ((m.flags & ~(VFIO_USER_F_DMA_REGION_READ | VFIO_USER_F_DMA_REGION_WRITE)) !== 0) {
      throw new VfioError('EINVAL', `DMA_MAP flags 0x${m.flags.toString(16)} has unknown bits`);
    }
    if (s.dmaMaps.count >= s.limits.maxDmaMaps) throw new VfioError('ENOSPC', `the DMA map table is full (${s.limits.maxDmaMaps} windows); unmap some first`);
    const fd = frame.fds.length === 1 ? frame.fds[0] : undefined;
    if (m.size === 0n) throw new VfioError('EINVAL', 'DMA_MAP size 0');
    if (m.address + m.size > U64_LIMIT) throw new VfioError('EINVAL', 'DMA_MAP address + size overflows u64');
    if (fd === undefined && m.offset !== 0n) throw new VfioError('EINVAL', 'DMA_MAP offset without an fd');
    if (m.offset + m.size > U64_LIMIT) throw new VfioError('EINVAL', 'DMA_MAP fd offset + size overflows u64');
    if (s.dmaMaps.overlapping(m.address, m.size) !== undefined) {
      throw new VfioError('EEXIST', `DMA_MAP [0x${m.address.toString(16)}, +0x${m.size.toString(16)}) overlaps an existing window`);
    }
    if (fd !== undefined) {
      checkDmaFd(s.inspectFd, fd, m.offset, m.size);
      if (s.fdCharger !== undefined && !s.fdCharger.charge(1)) throw new VfioError('EMFILE', 'no fd budget left for this connection\'s DMA maps');
    }
    // mdpy and mbochs do no DMA: the window is recorded (QEMU requires success) and its fd kept until unmap.
    s.dmaMaps.insert({ address: m.address, size: m.size, flags: m.flags, fd });
    if (fd !== undefined) frame.fds[0] = -1; // taken: the session's fd sweep skips it
    return EMPTY;
  },
};

/**
 * A DMA fd must be a regular file (memfds, tmpfs and hugetlbfs files all
 * are) long enough for the window. The client can still shrink it
 * afterwards; that is harmless only because we never mmap DMA fds. If we
 * ever do, require F_SEAL_SHRINK as well (src/sys/memfd.ts memfdSeals),
 * or a shrink turns our accesses past the new end into SIGBUS.
 */
function checkDmaFd(inspect: FdInspector | undefined, fd: number, offset: bigint, size: bigint): void {
  if (inspect === undefined) return;
  const st = inspect(fd);
  if (st === undefined) throw new VfioError('EINVAL', 'DMA_MAP fd cannot be inspected');
  if (st.kind !== 'file') throw new VfioError('EINVAL', 'DMA_MAP fd is not a regular file (a memfd, tmpfs or hugetlbfs file)');
  if (offset + size > st.size) {
    throw new VfioError('EINVAL', `DMA_MAP fd range [0x${offset.toString(16)}, +0x${size.toString(16)}) ends past the end of the file (${st.size} bytes)`);
  }
}

const dmaUnmap: Row<ReturnType<typeof VfioUserDmaUnmap.decode>> = {
  command: P.VFIO_USER_DMA_UNMAP, name: 'DMA_UNMAP', gate: 'negotiated', noReply: true, fds: 'ignored',
  request: VfioUserDmaUnmap, minPayload: VfioUserDmaUnmap.size, payload: 'at-least',
  decode: (p) => VfioUserDmaUnmap.decode(p),
  handle(s, u) {
    if ((u.flags & ~VFIO_DMA_UNMAP_FLAG_ALL) !== 0) throw new VfioError('EINVAL', `DMA_UNMAP flags 0x${u.flags.toString(16)} unsupported (no dirty bitmaps)`);
    if ((u.flags & VFIO_DMA_UNMAP_FLAG_ALL) !== 0) {
      if (u.address !== 0n || u.size !== 0n) throw new VfioError('EINVAL', 'DMA_UNMAP ALL with a non-zero address or size');
      s.release(s.dmaMaps.clear());
    } else {
      const m = s.dmaMaps.remove(u.address, u.size);
      if (m === undefined) throw new VfioError('ENOENT', `DMA_UNMAP [0x${u.address.toString(16)}, +0x${u.size.toString(16)}) matches no window`);
      s.release([m]);
    }
    // Echo the struct, not what followed it (libvfio-user, rust-vmm); QEMU accepts up to 40 bytes.
    return { payload: VfioUserDmaUnmap.toBytes(u) };
  },
};

const getInfo: Row<number> = {
  command: P.VFIO_USER_DEVICE_GET_INFO, name: 'DEVICE_GET_INFO', gate: 'negotiated', noReply: false, fds: { max: 0 },
  request: VfioUserArgsz, minPayload: VfioUserArgsz.size, payload: 'at-least', argsz: VfioDeviceInfoPrefix.size,
  decode: (p) => VfioUserArgsz.decode(p).argsz,
  handle: (s, argsz) => ({ payload: encodeDeviceInfo(s.device.info(), argsz) }),
};

const getRegionInfo: Row<ReturnType<typeof VfioRegionInfo.decode>> = {
  command: P.VFIO_USER_DEVICE_GET_REGION_INFO, name: 'DEVICE_GET_REGION_INFO', gate: 'negotiated', noReply: false, fds: { max: 0 },
  request: VfioRegionInfo, minPayload: VfioRegionInfo.size, payload: 'at-least', argsz: VfioRegionInfo.size,
  decode: (p) => VfioRegionInfo.decode(p),
  handle(s, req) {
    const info = mappable(s.device.regionInfo(req.index, req.argsz));
    const offset = info.mmap ? info.mmap.memoryOffset : info.offset;
    const enc = encodeRegionInfo(info, req.argsz, { offset });
    // The fd goes only with a complete reply (libvfio-user; QEMU closes the fd of a truncated first reply).
    const fd = info.mmap && enc.capsIncluded ? info.mmap.memory.fd : undefined;
    return fd === undefined ? { payload: enc.bytes } : { payload: enc.bytes, fds: [fd] };
  },
};

/**
 * Over vfio-user a region is mappable only with an fd to pass. Heap-backed
 * memory has none, so such a region is reported without MMAP (clients then
 * use REGION_READ/WRITE), and without the sparse-mmap cap that only makes
 * sense with MMAP.
 */
function mappable(info: RegionInfo): RegionInfo {
  if (!info.mmap || info.mmap.memory.fd !== undefined) return info;
  const { mmap: _dropped, ...rest } = info;
  return { ...rest, flags: info.flags & ~VFIO_REGION_INFO_FLAG_MMAP, caps: info.caps.filter((c) => c.kind !== 'sparse-mmap') };
}

const getIrqInfo: Row<ReturnType<typeof VfioIrqInfo.decode>> = {
  command: P.VFIO_USER_DEVICE_GET_IRQ_INFO, name: 'DEVICE_GET_IRQ_INFO', gate: 'negotiated', noReply: false, fds: { max: 0 },
  request: VfioIrqInfo, minPayload: VfioIrqInfo.size, payload: 'at-least', argsz: VfioIrqInfo.size,
  decode: (p) => VfioIrqInfo.decode(p),
  handle: (s, req) => ({ payload: encodeIrqInfo(s.device.irqInfo(req.index), req.argsz) }),
};

const setIrqs: Row<ReturnType<typeof VfioIrqSet.decode>> = {
  command: P.VFIO_USER_DEVICE_SET_IRQS, name: 'DEVICE_SET_IRQS', gate: 'negotiated', noReply: true, fds: 'any',
  request: VfioIrqSet, minPayload: VfioIrqSet.size, payload: 'at-least', argsz: 'payload',
  decode: (p) => VfioIrqSet.decode(p),
  handle(s, req, frame) {
    s.device.setIrqs(irqSetOf(req, frame.fds));
    return EMPTY;
  },
};

const regionRead: Row = {
  command: P.VFIO_USER_REGION_READ, name: 'REGION_READ', gate: 'negotiated', noReply: false, fds: { max: 0 },
  request: VfioUserRegionAccess, minPayload: VfioUserRegionAccess.size, payload: 'exact', dataCount: true,
  inPlace: {
    replySize: (p) => ACCESS_REPLY + accessCount(p),
    write(s, frame, p, _noReply, out, at) {
      const count = accessCount(p);
      const offset = accessOffset(p, count);
      const end = at + ACCESS_REPLY + count;
      if (count > 0) {
        const data = out.subarray(at + ACCESS_REPLY, end);
        // out is reused: never let one request's bytes show in another's reply.
        if (count <= 8) for (let i = 0; i < count; i++) data[i] = 0;
        else data.fill(0);
        s.device.regionRead(accessRegion(p), offset, data);
      }
      echoAccess(p, out, at);
      writeReplyHeaderAt(out, at, frame.id, frame.command, ACCESS_REPLY + count, 0);
      return end;
    },
  },
};

const regionWrite: Row = {
  command: P.VFIO_USER_REGION_WRITE, name: 'REGION_WRITE', gate: 'negotiated', noReply: true, fds: { max: 0 },
  request: VfioUserRegionAccess, minPayload: VfioUserRegionAccess.size, payload: 'access+data', dataCount: true,
  inPlace: {
    replySize: () => ACCESS_REPLY,
    write(s, frame, p, noReply, out, at) {
      const count = accessCount(p);
      const offset = accessOffset(p, count);
      if (count > 0) s.device.regionWrite(accessRegion(p), offset, p.subarray(VfioUserRegionAccess.size));
      if (noReply) {
        s.stats.noReply++;
        return at;
      }
      echoAccess(p, out, at);
      writeReplyHeaderAt(out, at, frame.id, frame.command, ACCESS_REPLY, 0);
      return at + ACCESS_REPLY;
    },
  },
};

const reset: Row = {
  command: P.VFIO_USER_DEVICE_RESET, name: 'DEVICE_RESET', gate: 'negotiated', noReply: true, fds: { max: 0 },
  minPayload: 0, payload: 'exact',
  handle(s) {
    s.device.reset();
    return EMPTY;
  },
};

/** Known, honours NO_REPLY, not served: ENOSYS (QEMU falls back to single writes). */
const regionWriteMulti: Row = {
  command: P.VFIO_USER_REGION_WRITE_MULTI, name: 'REGION_WRITE_MULTI', gate: 'negotiated', noReply: true, fds: { max: 0 },
  minPayload: 0, payload: 'at-least',
};

function serverToClient(command: number, name: string): Row {
  return {
    command, name, gate: 'negotiated', noReply: false, fds: { max: 0 }, minPayload: 0, payload: 'at-least',
    handle() {
      throw new VfioError('EINVAL', `command ${command} goes from server to client`);
    },
  };
}

/** Only the input fields (argsz, flags, drm_plane_type) must be present; the rest is output space. */
const queryPlane: Row<ReturnType<typeof decodeGfxPlaneQuery>> = {
  command: P.MDEVSIM_USER_QUERY_GFX_PLANE, name: 'QUERY_GFX_PLANE', gate: 'display', noReply: false, fds: { max: 0 },
  request: VfioDeviceGfxPlaneInfo, minPayload: VfioDeviceGfxPlaneInfo.offsets.drm_format, payload: 'at-least',
  decode: decodeGfxPlaneQuery,
  handle: (s, query) => ({ payload: encodeGfxPlaneResult(query, s.device.queryGfxPlane(query), { argsz: VfioDeviceGfxPlaneInfo.size }) }),
};

const getDmabuf: Row<ReturnType<typeof MdevsimDmabufRequest.decode>> = {
  command: P.MDEVSIM_USER_GET_GFX_DMABUF, name: 'GET_GFX_DMABUF', gate: 'display', noReply: false, fds: { max: 0 },
  request: MdevsimDmabufRequest, minPayload: MdevsimDmabufRequest.size, payload: 'at-least', argsz: MdevsimDmabufReply.size,
  decode: (p) => MdevsimDmabufRequest.decode(p),
  handle(s, req) {
    if (s.exports.size >= s.limits.maxExports) throw new VfioError('ENOSPC', `more than ${s.limits.maxExports} live dmabuf exports; release some`);
    const exp = s.device.getGfxDmabuf(req.dmabuf_id);
    const fd = exp.memory.fd;
    if (fd === undefined) {
      exp.release();
      throw new VfioError('ENODEV', 'device memory is not shareable (no memfd)');
    }
    const handle = s.nextExportHandle++;
    s.exports.set(handle, exp);
    const payload = MdevsimDmabufReply.toBytes({
      argsz: MdevsimDmabufReply.size, dmabuf_id: exp.dmabufId, handle, drm_format: exp.drmFormat,
      offset: BigInt(exp.offset), size: BigInt(exp.size), width: exp.width, height: exp.height,
      stride: exp.stride, reserved: 0, drm_format_mod: exp.drmFormatMod,
    });
    return { payload, fds: [fd] };
  },
};

const releaseDmabuf: Row<ReturnType<typeof MdevsimDmabufRelease.decode>> = {
  command: P.MDEVSIM_USER_RELEASE_GFX_DMABUF, name: 'RELEASE_GFX_DMABUF', gate: 'display', noReply: true, fds: { max: 0 },
  request: MdevsimDmabufRelease, minPayload: MdevsimDmabufRelease.size, payload: 'at-least',
  decode: (p) => MdevsimDmabufRelease.decode(p),
  handle(s, { handle }) {
    const exp = s.exports.get(handle);
    if (!exp) throw new VfioError('ENOENT', `no dmabuf export handle ${handle}`);
    s.exports.delete(handle);
    exp.release();
    return EMPTY;
  },
};

/** A row whose request type is erased: the dispatcher only passes decode's result to handle. */
export type AnyRow = Row<never>;

function erase<Req>(row: Row<Req>): AnyRow {
  return row as unknown as AnyRow;
}

/** Every command the server knows, in command-number order. */
export const COMMANDS: readonly AnyRow[] = [
  erase(version), erase(dmaMap), erase(dmaUnmap), erase(getInfo), erase(getRegionInfo), erase(getIrqInfo),
  erase(setIrqs), erase(regionRead), erase(regionWrite),
  erase(serverToClient(P.VFIO_USER_DMA_READ, 'DMA_READ')), erase(serverToClient(P.VFIO_USER_DMA_WRITE, 'DMA_WRITE')),
  erase(reset), erase(regionWriteMulti), erase(queryPlane), erase(getDmabuf), erase(releaseDmabuf),
];

const BY_COMMAND = new Map<number, AnyRow>(COMMANDS.map((r) => [r.command, r]));

/** The row of a command number; undefined for a command the server does not know. */
export function commandRow(command: number): AnyRow | undefined {
  return BY_COMMAND.get(command);
}

/** The two rows the serving loop answers in place. */
export const REGION_READ_ROW: AnyRow = erase(regionRead);
export const REGION_WRITE_ROW: AnyRow = erase(regionWrite);
