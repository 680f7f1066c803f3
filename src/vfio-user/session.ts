/**
 * One client connection's protocol state: negotiated capabilities, the DMA
 * map table, dmabuf export handles, and fd ownership. Frames in, replies out;
 * no sockets here (server.ts does I/O), and no device knowledge beyond the
 * VfioDevice contract.
 *
 * Error rule (docs/protocol.md, "error replies"): a well-framed request that cannot be
 * honoured gets an error reply and the connection stays — QEMU aborts later if
 * its connection is dropped. Only a corrupt stream (the framer's business) is
 * a reason to disconnect.
 *
 * fd rule: every fd a frame brings is closed here unless a handler takes it
 * (DMA_MAP keeps its fd until unmap or disconnect). Commands that may not
 * carry fds are refused with EINVAL; DMA_UNMAP's stray fds (SPDK's client
 * sends one) are closed silently.
 */
import { logger } from '../util/log.ts';
import { VfioError } from '../util/errors.ts';
import { ERRNO } from '../util/errno.ts';
import type { DmabufExport, RegionInfo, VfioDevice } from '../vfio/device.ts';
import { encodeDeviceInfo, encodeIrqInfo, encodeRegionInfo } from '../vfio/region-caps.ts';
import { decodeIrqSet } from '../vfio/irq.ts';
import { decodeGfxPlaneQuery, encodeGfxPlaneResult } from '../vfio/gfx.ts';
import { VfioIrqInfo, VfioRegionInfo } from '../vfio/structs.ts';
import { VFIO_REGION_INFO_FLAG_MMAP } from '../vfio/uapi.ts';
import type { FdInspection } from '../sys/fds.ts';
import type { FdCharger } from '../sys/socket.ts';
import type { Frame } from './framer.ts';
import { DmaTable } from './dma-table.ts';
import * as P from './protocol.ts';
import { negotiateVersion, parseVersionPayload, type NegotiatedSession } from './version.ts';
import {
  MdevsimDmabufRelease, MdevsimDmabufReply, MdevsimDmabufRequest, VFIO_DMA_UNMAP_FLAG_ALL,
  VFIO_USER_F_DMA_REGION_READ, VFIO_USER_F_DMA_REGION_WRITE, VfioUserDmaMap, VfioUserDmaUnmap,
  errorReply, replyMessage,
} from './wire.ts';

const log = logger('vfio-user');

/** Named limits, checked before any allocation. */
export interface SessionLimits {
  /** Largest REGION_READ/WRITE count. @defaultValue 1 MiB */
  readonly maxDataXfer: number;
  /** Most fds accepted in one message. @defaultValue 8 */
  readonly maxMsgFds: number;
  /** Most simultaneous DMA windows. @defaultValue 65535 */
  readonly maxDmaMaps: number;
  /** Most live dmabuf export handles per connection. @defaultValue 16 */
  readonly maxExports: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = {
  maxDataXfer: 1 << 20,
  maxMsgFds: 8,
  maxDmaMaps: 65535,
  maxExports: 16,
};

/** Largest message the server accepts: header + region access + max transfer (libvfio-user's rule). */
export function maxMessageSize(limits: SessionLimits): number {
  return P.VFIO_USER_HEADER_SIZE + 16 + limits.maxDataXfer;
}

/** What the session wants sent: bytes plus fds to attach (borrowed: the sender must not close them). */
export interface Outgoing {
  readonly bytes: Uint8Array;
  readonly fds: readonly number[];
}

interface DmaMap { readonly address: bigint; readonly size: bigint; readonly flags: number; readonly fd: number | undefined }

/** fstat of a client's fd (src/sys/fds.ts inspectFd); undefined when it cannot be inspected. */
export type FdInspector = (fd: number) => FdInspection | undefined;

const U64_LIMIT = 1n << 64n;

export interface SessionOptions {
  readonly limits?: Partial<SessionLimits>;
  /** Closes an fd the session owns. */
  readonly closeFd: (fd: number) => void;
  /** Label for logs (device name). */
  readonly label?: string;
  /** Whether the device offers the display extension. */
  readonly display?: boolean;
  /**
   * Checks the fd of a DMA_MAP: it must be a regular file covering
   * [offset, offset + size). Without one (tests, fuzzers with fake fd
   * numbers) any fd is accepted.
   */
  readonly inspectFd?: FdInspector;
  /**
   * Pays for the fds DMA maps keep (src/sys/fd-ledger.ts FdAccount has this
   * shape): one per map, charged before the map is recorded, released when
   * it goes. Without one, maps keep fds unaccounted.
   */
  readonly fds?: FdCharger;
}

const NO_FDS: readonly number[] = [];

export class Session {
  readonly limits: SessionLimits;
  #negotiated: NegotiatedSession | undefined;
  readonly #dmaMaps = new DmaTable<DmaMap>();
  readonly #exports = new Map<number, DmabufExport>();
  #nextExportHandle = 1;
  #closed = false;
  /** Counters by outcome, for logs, fuzzers and the soak benchmark. */
  readonly stats = { requests: 0, errors: 0, noReply: 0 };

  constructor(private readonly device: VfioDevice, private readonly opts: SessionOptions) {
    this.limits = { ...DEFAULT_SESSION_LIMITS, ...opts.limits };
  }

  get negotiated(): NegotiatedSession | undefined {
    return this.#negotiated;
  }

  get dmaMapCount(): number {
    return this.#dmaMaps.count;
  }

  get exportCount(): number {
    return this.#exports.size;
  }

  /**
   * Handle one frame. Returns the reply, or undefined for NO_REPLY requests.
   * Never throws for any frame content.
   */
  handle(frame: Frame): Outgoing | undefined {
    this.stats.requests++;
    const fds = frame.fds;
    if (fds.length === 0) return this.#handle(frame);
    try {
      return this.#handle(frame);
    } finally {
      for (let i = 0; i < fds.length; i++) {
        const fd = fds[i]!;
        if (fd >= 0) this.opts.closeFd(fd);
      }
    }
  }

  /**
   * The hot path of a serving loop: a REGION_READ, or a REGION_WRITE (NO_REPLY
   * allowed), that carries no fds and arrives after VERSION, with its reply
   * (success or error) written straight into `out` at `at` instead of a new
   * buffer. Returns the end of what was written (`at` itself when no reply is
   * due), or -1 when the frame is anything else or its reply might not fit
   * in `out`: then call handle(), which does the same thing the slow way.
   * Replies, errors, counters and logs are exactly handle()'s. Never throws
   * for any frame content.
   */
  handleInto(frame: Frame, out: Uint8Array, at: number): number {
    const cmd = frame.command;
    if ((cmd !== P.VFIO_USER_REGION_READ && cmd !== P.VFIO_USER_REGION_WRITE) || frame.fds.length !== 0 || this.#negotiated === undefined) return -1;
    const flags = frame.flags;
    if ((flags & P.VFIO_USER_F_TYPE_MASK) !== P.VFIO_USER_F_TYPE_COMMAND) return -1;
    const p = frame.payload;
    const noReply = (flags & P.VFIO_USER_F_NO_REPLY) !== 0;
    let need = 32;
    if (cmd === P.VFIO_USER_REGION_READ) {
      if (noReply || p.length !== 16) return -1;
      need += u32(p, 12);
    } else if (p.length < 16) {
      return -1;
    }
    if (at + need > out.length) return -1;
    this.stats.requests++;
    try {
      return cmd === P.VFIO_USER_REGION_READ ? this.#regionReadInto(frame, p, out, at) : this.#regionWriteInto(frame, p, noReply, out, at);
    } catch (err) {
      const reply = this.#failure(frame, err, noReply);
      if (reply === undefined) return at;
      out.set(reply.bytes, at); // 16 bytes: fits, need >= 32
      return at + reply.bytes.length;
    }
  }

  #handle(frame: Frame): Outgoing | undefined {
    const noReply = (frame.flags & P.VFIO_USER_F_NO_REPLY) !== 0;
    try {
      if ((frame.flags & P.VFIO_USER_F_TYPE_MASK) !== P.VFIO_USER_F_TYPE_COMMAND) {
        throw new VfioError('EINVAL', `message type ${frame.flags & P.VFIO_USER_F_TYPE_MASK} is not a command (the server sends no requests)`);
      }
      if (noReply && !NO_REPLY_ALLOWED.has(frame.command)) {
        throw new VfioError('EINVAL', `command ${frame.command} needs a reply; NO_REPLY refused`);
      }
      const out = this.#dispatch(frame);
      if (noReply) {
        this.stats.noReply++;
        return undefined;
      }
      return out;
    } catch (err) {
      return this.#failure(frame, err, noReply);
    }
  }

  /** A handler threw: count it, log it, and answer it (an error reply, docs/protocol.md) unless NO_REPLY applies. */
  #failure(frame: Frame, err: unknown, noReply: boolean): Outgoing | undefined {
    const errno = err instanceof VfioError ? err.errno : ERRNO.EINVAL;
    this.stats.errors++;
    if (!(err instanceof VfioError)) log.error(`${this.opts.label ?? 'device'}: internal error on command ${frame.command}: ${String(err)}`);
    else log.debug(`${this.opts.label ?? 'device'}: msg ${frame.id} cmd ${frame.command}: ${err.message}`);
    if (noReply && NO_REPLY_ALLOWED.has(frame.command)) return undefined; // §1.1: nothing back, even on error
    return { bytes: errorReply(frame.id, frame.command, errno), fds: NO_FDS };
  }

  /**
   * The connection is gone: release DMA maps, fds and export handles. Device
   * state is kept. `lastUser` (default true) also tells the device its last
   * user closed it (close_device); a server with other clients still
   * connected passes false. Idempotent.
   */
  close(lastUser = true): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#release(this.#dmaMaps.clear());
    for (const e of this.#exports.values()) e.release();
    this.#exports.clear();
    if (lastUser) this.device.closeDevice();
  }

  #dispatch(frame: Frame): Outgoing {
    const cmd = frame.command;
    if (!this.#negotiated) {
      if (cmd !== P.VFIO_USER_VERSION) throw new VfioError('EINVAL', `command ${cmd} before VERSION`);
      return this.#version(frame);
    }
    if (frame.fds.length > 0 && !FDS_ALLOWED.has(cmd)) {
      if (cmd === P.VFIO_USER_DMA_UNMAP) {
        log.debug('closing unexpected fd on DMA_UNMAP');
      } else {
        throw new VfioError('EINVAL', `command ${cmd} carries ${frame.fds.length} fds; none allowed`);
      }
    }
    switch (cmd) {
      case P.VFIO_USER_REGION_READ: return this.#regionRead(frame);
      case P.VFIO_USER_REGION_WRITE: return this.#regionWrite(frame);
      case P.VFIO_USER_DMA_MAP: return this.#dmaMap(frame);
      case P.VFIO_USER_DMA_UNMAP: return this.#dmaUnmap(frame);
      case P.VFIO_USER_DEVICE_GET_INFO: return this.#getInfo(frame);
      case P.VFIO_USER_DEVICE_GET_REGION_INFO: return this.#getRegionInfo(frame);
      case P.VFIO_USER_DEVICE_GET_IRQ_INFO: return this.#getIrqInfo(frame);
      case P.VFIO_USER_DEVICE_SET_IRQS: return this.#setIrqs(frame);
      case P.VFIO_USER_DEVICE_RESET: return this.#reset(frame);
      case P.VFIO_USER_VERSION: throw new VfioError('EINVAL', 'VERSION already negotiated');
      case P.MDEVSIM_USER_QUERY_GFX_PLANE:
      case P.MDEVSIM_USER_GET_GFX_DMABUF:
      case P.MDEVSIM_USER_RELEASE_GFX_DMABUF:
        if (!this.#negotiated.display) throw new VfioError('ENOSYS', `command ${cmd} is not negotiated`);
        if (cmd === P.MDEVSIM_USER_QUERY_GFX_PLANE) return this.#queryPlane(frame);
        if (cmd === P.MDEVSIM_USER_GET_GFX_DMABUF) return this.#getDmabuf(frame);
        return this.#releaseDmabuf(frame);
      case P.VFIO_USER_DMA_READ:
      case P.VFIO_USER_DMA_WRITE:
        throw new VfioError('EINVAL', `command ${cmd} goes from server to client`);
      default:
        throw new VfioError('ENOSYS', `unknown or unsupported command ${cmd}`);
    }
  }

  #version(frame: Frame): Outgoing {
    if (frame.fds.length > 0) throw new VfioError('EINVAL', 'VERSION carries fds');
    const proposal = parseVersionPayload(frame.payload);
    const s = negotiateVersion(proposal, {
      maxMsgFds: this.limits.maxMsgFds,
      maxDataXferSize: this.limits.maxDataXfer,
      maxDmaMaps: this.limits.maxDmaMaps,
      display: this.opts.display ?? false,
    }, frame.size);
    this.#negotiated = s;
    return { bytes: replyMessage(frame.id, frame.command, s.replyPayload), fds: NO_FDS };
  }

  #regionRead(frame: Frame): Outgoing {
    const p = frame.payload;
    if (p.length !== 16) throw new VfioError('EINVAL', `REGION_READ payload is ${p.length} bytes, expected 16`);
    const out = new Uint8Array(32 + this.#checkedCount(p, 'REGION_READ'));
    this.#regionReadInto(frame, p, out, 0);
    return { bytes: out, fds: NO_FDS };
  }

  /** REGION_READ with a 16-byte payload; the reply (32 + count bytes) fits in out at `at`. */
  #regionReadInto(frame: Frame, p: Uint8Array, out: Uint8Array, at: number): number {
    const region = u32(p, 8);
    const count = this.#checkedCount(p, 'REGION_READ');
    const offset = wireOffset(p, count);
    const end = at + 32 + count;
    if (count > 0) {
      const data = out.subarray(at + 32, end);
      data.fill(0);
      this.device.regionRead(region, offset, data);
    }
    copy16(p, out, at + 16);
    putReplyHeader(out, at, frame.id, frame.command, 32 + count);
    return end;
  }

  #regionWrite(frame: Frame): Outgoing {
    const p = frame.payload;
    if (p.length < 16) throw new VfioError('EINVAL', `REGION_WRITE payload is ${p.length} bytes, shorter than 16`);
    const out = new Uint8Array(32);
    this.#regionWriteInto(frame, p, false, out, 0);
    return { bytes: out, fds: NO_FDS };
  }

  /** REGION_WRITE with a payload of at least 16 bytes; the reply (32 bytes) fits in out at `at`, unless noReply. */
  #regionWriteInto(frame: Frame, p: Uint8Array, noReply: boolean, out: Uint8Array, at: number): number {
    const region = u32(p, 8);
    const count = this.#checkedCount(p, 'REGION_WRITE');
    if (p.length !== 16 + count) throw new VfioError('EINVAL', `REGION_WRITE carries ${p.length - 16} data bytes, count says ${count}`);
    const offset = wireOffset(p, count);
    if (count > 0) this.device.regionWrite(region, offset, p.subarray(16));
    if (noReply) {
      this.stats.noReply++;
      return at;
    }
    copy16(p, out, at + 16);
    putReplyHeader(out, at, frame.id, frame.command, 32);
    return at + 32;
  }

  /** The count of a region access struct, within max_data_xfer_size. */
  #checkedCount(p: Uint8Array, what: string): number {
    const count = u32(p, 12);
    if (count > this.limits.maxDataXfer) throw new VfioError('EINVAL', `${what} count ${count} exceeds max_data_xfer_size ${this.limits.maxDataXfer}`);
    return count;
  }

  /**
   * Cheap refusals come before costly ones, so that a client hammering a
   * full table costs a few comparisons per request: the shape of the
   * message, then the map limit, then the window's arithmetic, then the
   * table search, then the fd (a syscall), then its charge.
   */
  #dmaMap(frame: Frame): Outgoing {
    const p = frame.payload;
    if (p.length < VfioUserDmaMap.size) throw new VfioError('EINVAL', `DMA_MAP payload is ${p.length} bytes, shorter than 32`);
    const m = VfioUserDmaMap.decode(p);
    if (m.argsz < VfioUserDmaMap.size) throw new VfioError('EINVAL', `DMA_MAP argsz ${m.argsz} < 32`);
    if ((m.flags & ~(VFIO_USER_F_DMA_REGION_READ | VFIO_USER_F_DMA_REGION_WRITE)) !== 0) {
      throw new VfioError('EINVAL', `DMA_MAP flags 0x${m.flags.toString(16)} has unknown bits`);
    }
    if (frame.fds.length > 1) throw new VfioError('EINVAL', `DMA_MAP carries ${frame.fds.length} fds, at most 1`);
    if (this.#dmaMaps.count >= this.limits.maxDmaMaps) throw new VfioError('ENOSPC', `the DMA map table is full (${this.limits.maxDmaMaps} windows); unmap some first`);
    const fd = frame.fds.length === 1 ? frame.fds[0] : undefined;
    if (m.size === 0n) throw new VfioError('EINVAL', 'DMA_MAP size 0');
    if (m.address + m.size > U64_LIMIT) throw new VfioError('EINVAL', 'DMA_MAP address + size overflows u64');
    if (fd === undefined && m.offset !== 0n) throw new VfioError('EINVAL', 'DMA_MAP offset without an fd');
    if (m.offset + m.size > U64_LIMIT) throw new VfioError('EINVAL', 'DMA_MAP fd offset + size overflows u64');
    if (this.#dmaMaps.overlapping(m.address, m.size) !== undefined) {
      throw new VfioError('EEXIST', `DMA_MAP [0x${m.address.toString(16)}, +0x${m.size.toString(16)}) overlaps an existing window`);
    }
    if (fd !== undefined) {
      this.#checkDmaFd(fd, m.offset, m.size);
      if (this.opts.fds !== undefined && !this.opts.fds.charge(1)) throw new VfioError('EMFILE', 'no fd budget left for this connection\'s DMA maps');
    }
    // mdpy and mbochs do no DMA: the window is recorded (QEMU requires success) and its fd kept until unmap.
    this.#dmaMaps.insert({ address: m.address, size: m.size, flags: m.flags, fd });
    if (fd !== undefined) frame.fds[0] = -1; // taken: the finally block skips it
    return { bytes: replyMessage(frame.id, frame.command), fds: NO_FDS };
  }

  /**
   * A DMA fd must be a regular file (memfds, tmpfs and hugetlbfs files all
   * are) long enough for the window. The client can still shrink it
   * afterwards; that is harmless only because we never mmap DMA fds. If we
   * ever do, require F_SEAL_SHRINK as well (src/sys/memfd.ts memfdSeals),
   * or a shrink turns our accesses past the new end into SIGBUS.
   */
  #checkDmaFd(fd: number, offset: bigint, size: bigint): void {
    const inspect = this.opts.inspectFd;
    if (inspect === undefined) return;
    const st = inspect(fd);
    if (st === undefined) throw new VfioError('EINVAL', 'DMA_MAP fd cannot be inspected');
    if (st.kind !== 'file') throw new VfioError('EINVAL', 'DMA_MAP fd is not a regular file (a memfd, tmpfs or hugetlbfs file)');
    if (offset + size > st.size) {
      throw new VfioError('EINVAL', `DMA_MAP fd range [0x${offset.toString(16)}, +0x${size.toString(16)}) ends past the end of the file (${st.size} bytes)`);
    }
  }

  #dmaUnmap(frame: Frame): Outgoing {
    const p = frame.payload;
    if (p.length < VfioUserDmaUnmap.size) throw new VfioError('EINVAL', `DMA_UNMAP payload is ${p.length} bytes, shorter than 24`);
    const u = VfioUserDmaUnmap.decode(p);
    if ((u.flags & ~VFIO_DMA_UNMAP_FLAG_ALL) !== 0) throw new VfioError('EINVAL', `DMA_UNMAP flags 0x${u.flags.toString(16)} unsupported (no dirty bitmaps)`);
    if ((u.flags & VFIO_DMA_UNMAP_FLAG_ALL) !== 0) {
      if (u.address !== 0n || u.size !== 0n) throw new VfioError('EINVAL', 'DMA_UNMAP ALL with a non-zero address or size');
      this.#release(this.#dmaMaps.clear());
    } else {
      const m = this.#dmaMaps.remove(u.address, u.size);
      if (m === undefined) throw new VfioError('ENOENT', `DMA_UNMAP [0x${u.address.toString(16)}, +0x${u.size.toString(16)}) matches no window`);
      this.#release([m]);
    }
    // Echo the 24-byte struct (libvfio-user, rust-vmm); QEMU accepts up to 40 bytes.
    return { bytes: replyMessage(frame.id, frame.command, p.subarray(0, VfioUserDmaUnmap.size)), fds: NO_FDS };
  }

  /** Windows left the table: close the fds they kept and give back their charges. */
  #release(maps: readonly DmaMap[]): void {
    let fds = 0;
    for (const m of maps) if (m.fd !== undefined) fds++;
    // Charges first: a close that throws must not leave the budget short for the rest of the connection.
    if (fds > 0) this.opts.fds?.release(fds);
    for (const m of maps) if (m.fd !== undefined) this.opts.closeFd(m.fd);
  }

  #getInfo(frame: Frame): Outgoing {
    const argsz = argszOf(frame, 16, 'DEVICE_GET_INFO');
    return { bytes: replyMessage(frame.id, frame.command, encodeDeviceInfo(this.device.info(), argsz, { style: 'vfio-user' })), fds: NO_FDS };
  }

  #getRegionInfo(frame: Frame): Outgoing {
    const p = frame.payload;
    if (p.length < VfioRegionInfo.size) throw new VfioError('EINVAL', `GET_REGION_INFO payload is ${p.length} bytes, shorter than 32`);
    const req = VfioRegionInfo.decode(p);
    if (req.argsz < VfioRegionInfo.size) throw new VfioError('EINVAL', `GET_REGION_INFO argsz ${req.argsz} < 32`);
    const info = mappable(this.device.regionInfo(req.index));
    const offset = info.mmap ? info.mmap.memoryOffset : info.offset;
    const enc = encodeRegionInfo(info, req.argsz, { style: 'vfio-user', offset });
    // The fd goes only with a complete reply (libvfio-user; QEMU closes the fd of a truncated first reply).
    const fd = info.mmap && enc.capsIncluded ? info.mmap.memory.fd : undefined;
    return { bytes: replyMessage(frame.id, frame.command, enc.bytes), fds: fd === undefined ? NO_FDS : [fd] };
  }

  #getIrqInfo(frame: Frame): Outgoing {
    const p = frame.payload;
    if (p.length < VfioIrqInfo.size) throw new VfioError('EINVAL', `GET_IRQ_INFO payload is ${p.length} bytes, shorter than 16`);
    const req = VfioIrqInfo.decode(p);
    if (req.argsz < VfioIrqInfo.size) throw new VfioError('EINVAL', `GET_IRQ_INFO argsz ${req.argsz} < 16`);
    return { bytes: replyMessage(frame.id, frame.command, encodeIrqInfo(this.device.irqInfo(req.index), req.argsz, { style: 'vfio-user' })), fds: NO_FDS };
  }

  #setIrqs(frame: Frame): Outgoing {
    this.device.setIrqs(decodeIrqSet(frame.payload, frame.fds, { style: 'vfio-user' }));
    return { bytes: replyMessage(frame.id, frame.command), fds: NO_FDS };
  }

  #reset(frame: Frame): Outgoing {
    if (frame.payload.length !== 0) throw new VfioError('EINVAL', 'DEVICE_RESET carries a payload');
    this.device.reset();
    return { bytes: replyMessage(frame.id, frame.command), fds: NO_FDS };
  }

  #queryPlane(frame: Frame): Outgoing {
    const query = decodeGfxPlaneQuery(frame.payload);
    const result = this.device.queryGfxPlane(query);
    return { bytes: replyMessage(frame.id, frame.command, encodeGfxPlaneResult(query, result, { argsz: 64 })), fds: NO_FDS };
  }

  #getDmabuf(frame: Frame): Outgoing {
    const p = frame.payload;
    if (p.length < MdevsimDmabufRequest.size) throw new VfioError('EINVAL', `GET_GFX_DMABUF payload is ${p.length} bytes, shorter than 8`);
    const req = MdevsimDmabufRequest.decode(p);
    if (req.argsz < MdevsimDmabufReply.size) throw new VfioError('EINVAL', `GET_GFX_DMABUF argsz ${req.argsz} < ${MdevsimDmabufReply.size}`);
    if (this.#exports.size >= this.limits.maxExports) throw new VfioError('ENOSPC', `more than ${this.limits.maxExports} live dmabuf exports; release some`);
    const exp = this.device.getGfxDmabuf(req.dmabuf_id);
    const fd = exp.memory.fd;
    if (fd === undefined) {
      exp.release();
      throw new VfioError('ENODEV', 'device memory is not shareable (no memfd)');
    }
    const handle = this.#nextExportHandle++;
    this.#exports.set(handle, exp);
    const body = MdevsimDmabufReply.toBytes({
      argsz: MdevsimDmabufReply.size, dmabuf_id: exp.dmabufId, handle, drm_format: exp.drmFormat,
      offset: BigInt(exp.offset), size: BigInt(exp.size), width: exp.width, height: exp.height,
      stride: exp.stride, reserved: 0, drm_format_mod: exp.drmFormatMod,
    });
    return { bytes: replyMessage(frame.id, frame.command, body), fds: [fd] };
  }

  #releaseDmabuf(frame: Frame): Outgoing {
    const p = frame.payload;
    if (p.length < MdevsimDmabufRelease.size) throw new VfioError('EINVAL', `RELEASE_GFX_DMABUF payload is ${p.length} bytes, shorter than 8`);
    const { handle } = MdevsimDmabufRelease.decode(p);
    const exp = this.#exports.get(handle);
    if (!exp) throw new VfioError('ENOENT', `no dmabuf export handle ${handle}`);
    this.#exports.delete(handle);
    exp.release();
    return { bytes: replyMessage(frame.id, frame.command), fds: NO_FDS };
  }
}

/** Commands whose NO_REPLY flag is honoured (posted writes and fire-and-forget setup). */
const NO_REPLY_ALLOWED = new Set<number>([
  P.VFIO_USER_DMA_MAP, P.VFIO_USER_DMA_UNMAP, P.VFIO_USER_DEVICE_SET_IRQS, P.VFIO_USER_REGION_WRITE,
  P.VFIO_USER_DEVICE_RESET, P.VFIO_USER_REGION_WRITE_MULTI, P.MDEVSIM_USER_RELEASE_GFX_DMABUF,
]);

/** Commands that may carry fds (docs/protocol.md "fds"). */
const FDS_ALLOWED = new Set<number>([P.VFIO_USER_DMA_MAP, P.VFIO_USER_DEVICE_SET_IRQS]);

function argszOf(frame: Frame, min: number, what: string): number {
  const p = frame.payload;
  if (p.length < 4) throw new VfioError('EINVAL', `${what} payload is ${p.length} bytes, shorter than 4`);
  const argsz = (p[0]! | (p[1]! << 8) | (p[2]! << 16)) + p[3]! * 0x1000000;
  if (argsz < min) throw new VfioError('EINVAL', `${what} argsz ${argsz} < ${min}`);
  return argsz;
}

/** u32 little-endian at p[i]. */
function u32(p: Uint8Array, i: number): number {
  return (p[i]! | (p[i + 1]! << 8) | (p[i + 2]! << 16)) + p[i + 3]! * 0x1000000;
}

/** p[0..16) to out[at..at+16). */
function copy16(p: Uint8Array, out: Uint8Array, at: number): void {
  for (let i = 0; i < 16; i++) out[at + i] = p[i]!;
}

/** A success reply header at out[at..at+16) (the bytes wire.ts writeReplyHeader writes). */
function putReplyHeader(out: Uint8Array, at: number, id: number, command: number, size: number): void {
  out[at] = id & 0xff;
  out[at + 1] = id >>> 8;
  out[at + 2] = command & 0xff;
  out[at + 3] = command >>> 8;
  out[at + 4] = size & 0xff;
  out[at + 5] = (size >>> 8) & 0xff;
  out[at + 6] = (size >>> 16) & 0xff;
  out[at + 7] = size >>> 24;
  out[at + 8] = P.VFIO_USER_F_TYPE_REPLY;
  for (let i = 9; i < 16; i++) out[at + i] = 0;
}

/** A u64 whose high u32 is at least 2^21 is at least 2^53: not a safe integer. */
const TWO_POW_21 = 0x200000;

/**
 * The u64 wire offset at p[0..8) as a safe integer; EFAULT when it lies
 * beyond any region (offset + count would pass 2^53 - 1). The same rule as
 * wireRange(offset, count, Number.MAX_SAFE_INTEGER), on two u32 halves.
 */
function wireOffset(p: Uint8Array, count: number): number {
  const hi = u32(p, 4);
  if (hi < TWO_POW_21) {
    const off = hi * 0x100000000 + u32(p, 0);
    if (count <= Number.MAX_SAFE_INTEGER - off) return off;
  }
  const offset = new DataView(p.buffer, p.byteOffset, 8).getBigUint64(0, true);
  throw new VfioError('EFAULT', `offset 0x${offset.toString(16)} + count ${count} is outside any region`);
}

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
