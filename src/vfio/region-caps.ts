/**
 * Info replies: vfio_region_info with its capability chain, vfio_device_info
 * and vfio_irq_info, in both flavours:
 *
 * - 'vfio-user' (QEMU docs/interop/vfio-user.rst "Message sizes",
 *   "VFIO_USER_DEVICE_GET_INFO", "VFIO_USER_DEVICE_GET_REGION_INFO"): device info is the 16-byte
 *   prefix; reply argsz is the size of the full answer; a region-info answer
 *   that does not fit the request's argsz is the bare 32-byte struct with
 *   argsz = needed size, CAPS cleared and cap_offset 0 (libvfio-user; QEMU
 *   rejects CAPS with cap_offset 0).
 * - 'kernel' (vfio-pci core, vfio_pci_ioctl_get_region_info): a truncated
 *   region-info answer keeps CAPS with cap_offset 0; device/irq info copy back
 *   what fits and leave argsz as the caller gave it.
 *
 * Capability chain layout (vfio_info_add_capability / vfio_info_cap_shift):
 * caps start at 32 (sizeof vfio_region_info), each 8-byte aligned, in the
 * order given; header `next` is an offset from the start of the region info,
 * 0 ends the chain.
 */
import type { DeviceInfo, IrqInfo, RegionCap, RegionInfo, SparseMmapArea } from './device.ts';
import {
  VFIO_REGION_INFO_CAP_MSIX_MAPPABLE,
  VFIO_REGION_INFO_CAP_SPARSE_MMAP,
  VFIO_REGION_INFO_CAP_TYPE,
  VFIO_REGION_INFO_FLAG_CAPS,
} from './uapi.ts';
import {
  VfioDeviceInfo,
  VfioDeviceInfoPrefix,
  VfioInfoCapHeader,
  VfioIrqInfo,
  VfioRegionInfo,
  VfioRegionInfoCapSparseMmap,
  VfioRegionInfoCapType,
  VfioRegionSparseMmapArea,
} from './structs.ts';
import { u64ToOffset } from './access.ts';
import { U32_MAX, alignUp } from '../util/bits.ts';
import { VfioError, assert } from '../util/errors.ts';

/** Which reply convention to follow; see the module comment. */
export type InfoStyle = 'vfio-user' | 'kernel';

/** Version of every region-info capability mdevsim emits (uapi: all are version 1). */
export const REGION_CAP_VERSION = 1;

const CAP_ALIGN = 8;

/** A TYPE capability (VFIO_REGION_INFO_CAP_TYPE). */
export function typeCap(type: number, subtype: number): RegionCap {
  return { kind: 'type', type, subtype };
}

/** A SPARSE_MMAP capability (VFIO_REGION_INFO_CAP_SPARSE_MMAP). */
export function sparseMmapCap(areas: readonly SparseMmapArea[]): RegionCap {
  return { kind: 'sparse-mmap', areas: areas.map((a) => ({ offset: a.offset, size: a.size })) };
}

/** Encoded size of one capability (header included, before alignment). */
export function capSize(cap: RegionCap): number {
  switch (cap.kind) {
    case 'sparse-mmap':
      return VfioRegionInfoCapSparseMmap.size + cap.areas.length * VfioRegionSparseMmapArea.size;
    case 'type':
      return VfioRegionInfoCapType.size;
    case 'msix-mappable':
      return VfioInfoCapHeader.size;
  }
}

/** Size of the complete answer: 32 + every cap, each 8-byte aligned. */
export function regionInfoSize(caps: readonly RegionCap[]): number {
  let pos = VfioRegionInfo.size;
  for (const cap of caps) pos = alignUp(pos, CAP_ALIGN) + capSize(cap);
  return pos;
}

function u64(n: number, what: string): bigint {
  assert(Number.isSafeInteger(n) && n >= 0, `${what} must be a non-negative safe integer, got ${n}`);
  return BigInt(n);
}

/** Write one cap at bytes[pos] with the given next pointer. */
function encodeCap(cap: RegionCap, bytes: Uint8Array, pos: number, next: number): void {
  switch (cap.kind) {
    case 'sparse-mmap': {
      VfioRegionInfoCapSparseMmap.encode(
        { id: VFIO_REGION_INFO_CAP_SPARSE_MMAP, version: REGION_CAP_VERSION, next, nr_areas: cap.areas.length, reserved: 0, areas: EMPTY },
        bytes,
        pos,
      );
      let p = pos + VfioRegionInfoCapSparseMmap.size;
      for (const area of cap.areas) {
        VfioRegionSparseMmapArea.encode(
          { offset: u64(area.offset, 'sparse area offset'), size: u64(area.size, 'sparse area size') },
          bytes,
          p,
        );
        p += VfioRegionSparseMmapArea.size;
      }
      return;
    }
    case 'type':
      VfioRegionInfoCapType.encode(
        { id: VFIO_REGION_INFO_CAP_TYPE, version: REGION_CAP_VERSION, next, type: cap.type, subtype: cap.subtype },
        bytes,
        pos,
      );
      return;
    case 'msix-mappable':
      VfioInfoCapHeader.encode({ id: VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, version: REGION_CAP_VERSION, next }, bytes, pos);
      return;
  }
}

const EMPTY = new Uint8Array(0);

export interface EncodeRegionInfoOptions {
  readonly style: InfoStyle;
  /**
   * Reported `offset` instead of info.offset: a vfio-user transport reports
   * the mmap offset into the fd it passes, not the kernel file offset.
   * @defaultValue info.offset
   */
  readonly offset?: number;
}

export interface EncodedRegionInfo {
  /** The reply payload: 32 bytes when truncated, else the full answer (never padded to argsz). */
  readonly bytes: Uint8Array;
  /** Size of the full answer (also the argsz written in the reply). */
  readonly neededArgsz: number;
  /**
   * False iff the answer was truncated to the bare struct because it did not
   * fit argsz (then libvfio-user also sends no fd). True when there are no caps.
   */
  readonly capsIncluded: boolean;
}

/**
 * Encode a GET_REGION_INFO answer for a request carrying `argsz`.
 * CAPS in the reply is owned by the encoder: set iff caps are non-empty
 * (whatever info.flags says), cleared again on vfio-user truncation.
 * @throws VfioError EINVAL when argsz < 32 (both styles; vfio_region_info minsz).
 */
export function encodeRegionInfo(info: RegionInfo, argsz: number, opts: EncodeRegionInfoOptions): EncodedRegionInfo {
  if (!(argsz >= VfioRegionInfo.size)) {
    throw new VfioError('EINVAL', `region ${info.index} info: argsz ${argsz} is below sizeof(vfio_region_info) = ${VfioRegionInfo.size}`);
  }
  const needed = regionInfoSize(info.caps);
  assert(needed <= U32_MAX, `region ${info.index} info: capability chain of ${needed} bytes does not fit argsz`);
  const hasCaps = info.caps.length > 0;
  const fits = needed <= argsz;
  const baseFlags = (info.flags & ~VFIO_REGION_INFO_FLAG_CAPS) >>> 0;
  let flags = baseFlags;
  let capOffset = 0;
  if (hasCaps) {
    if (fits) {
      flags = baseFlags | VFIO_REGION_INFO_FLAG_CAPS;
      capOffset = VfioRegionInfo.size;
    } else if (opts.style === 'kernel') {
      flags = baseFlags | VFIO_REGION_INFO_FLAG_CAPS;
    }
  }
  const bytes = new Uint8Array(fits ? needed : VfioRegionInfo.size);
  VfioRegionInfo.encode(
    {
      argsz: needed,
      flags,
      index: info.index,
      cap_offset: capOffset,
      size: u64(info.size, `region ${info.index} size`),
      offset: u64(opts.offset ?? info.offset, `region ${info.index} offset`),
    },
    bytes,
    0,
  );
  if (fits && hasCaps) {
    let pos = VfioRegionInfo.size;
    for (let i = 0; i < info.caps.length; i++) {
      const cap = info.caps[i] as RegionCap;
      const end = pos + capSize(cap);
      const next = i + 1 < info.caps.length ? alignUp(end, CAP_ALIGN) : 0;
      encodeCap(cap, bytes, pos, next);
      pos = next;
    }
  }
  return { bytes, neededArgsz: needed, capsIncluded: fits };
}

/** A capability decodeRegionInfo does not model: known id with a version other than 1, or unknown id. */
export interface UnknownRegionCap {
  readonly kind: 'unknown';
  readonly id: number;
  readonly version: number;
  /** Offset of its header from the start of the region info. */
  readonly offset: number;
}

export type DecodedRegionCap = RegionCap | UnknownRegionCap;

/** A GET_REGION_INFO reply as a client sees it (RegionInfo without mmap, plus the wire fields). */
export interface DecodedRegionInfo {
  readonly argsz: number;
  /** As sent, CAPS included. */
  readonly flags: number;
  readonly index: number;
  readonly capOffset: number;
  readonly size: number;
  readonly offset: number;
  readonly caps: readonly DecodedRegionCap[];
  /**
   * False when the reply was truncated (argsz > bytes received, in either
   * style): caps are then not parsed (empty); retry with argsz.
   */
  readonly complete: boolean;
}

function bad(message: string): VfioError {
  return new VfioError('EINVAL', `region info reply: ${message}`);
}

function wireOffset(v: bigint, what: string): number {
  const n = u64ToOffset(v);
  if (n === undefined) throw bad(`${what} 0x${v.toString(16)} is beyond 2^53`);
  return n;
}

/**
 * Decode a GET_REGION_INFO reply payload, walking the capability chain with
 * bounds checks. A chain is parsed only from a complete reply (argsz ≤
 * bytes.length) and must lie inside [32, argsz): every pointer 8-byte aligned,
 * every cap inside, no pointer visited twice.
 * @throws VfioError EINVAL naming the defect (short reply, argsz < 32, CAPS
 * with cap_offset 0 in a complete reply, out-of-range / misaligned / cyclic
 * next pointers, a sparse-mmap cap whose areas overrun, a u64 beyond 2^53).
 */
export function decodeRegionInfo(bytes: Uint8Array): DecodedRegionInfo {
  if (bytes.length < VfioRegionInfo.size) throw bad(`${bytes.length} bytes, need ${VfioRegionInfo.size}`);
  const raw = VfioRegionInfo.decode(bytes, 0);
  if (raw.argsz < VfioRegionInfo.size) throw bad(`argsz ${raw.argsz} is below ${VfioRegionInfo.size}`);
  const base = {
    argsz: raw.argsz,
    flags: raw.flags,
    index: raw.index,
    capOffset: raw.cap_offset,
    size: wireOffset(raw.size, 'size'),
    offset: wireOffset(raw.offset, 'offset'),
  };
  const complete = raw.argsz <= bytes.length;
  if (!complete || (raw.flags & VFIO_REGION_INFO_FLAG_CAPS) === 0) return { ...base, caps: [], complete };
  if (raw.cap_offset === 0) throw bad('CAPS set with cap_offset 0 in a complete reply');
  const limit = raw.argsz;
  const caps: DecodedRegionCap[] = [];
  const seen = new Set<number>();
  let pos = raw.cap_offset;
  let prev = -1; // header offset of the cap whose next is pos; -1 = cap_offset
  while (pos !== 0) {
    const what = prev < 0 ? `cap_offset ${pos}` : `next ${pos} (of the cap at ${prev})`;
    if (pos < VfioRegionInfo.size || pos + VfioInfoCapHeader.size > limit) {
      throw bad(`${what} is outside [${VfioRegionInfo.size}, ${limit - VfioInfoCapHeader.size}]`);
    }
    if (pos % CAP_ALIGN !== 0) throw bad(`${what} is not ${CAP_ALIGN}-byte aligned`);
    if (seen.has(pos)) throw bad(`${what} points back into the chain (cycle)`);
    seen.add(pos);
    const hdr = VfioInfoCapHeader.decode(bytes, pos);
    caps.push(decodeCap(bytes, pos, hdr.id, hdr.version, limit));
    prev = pos;
    pos = hdr.next;
  }
  return { ...base, caps, complete };
}

function decodeCap(bytes: Uint8Array, pos: number, id: number, version: number, limit: number): DecodedRegionCap {
  if (version === REGION_CAP_VERSION) {
    switch (id) {
      case VFIO_REGION_INFO_CAP_SPARSE_MMAP: {
        if (pos + VfioRegionInfoCapSparseMmap.size > limit) throw bad(`sparse-mmap cap at ${pos} overruns argsz ${limit}`);
        const cap = VfioRegionInfoCapSparseMmap.decode(bytes.subarray(0, limit), pos);
        const room = (limit - pos - VfioRegionInfoCapSparseMmap.size) / VfioRegionSparseMmapArea.size;
        if (cap.nr_areas > room) throw bad(`sparse-mmap cap at ${pos}: ${cap.nr_areas} areas overrun argsz ${limit}`);
        const areas: SparseMmapArea[] = [];
        let p = pos + VfioRegionInfoCapSparseMmap.size;
        for (let i = 0; i < cap.nr_areas; i++, p += VfioRegionSparseMmapArea.size) {
          const a = VfioRegionSparseMmapArea.decode(bytes, p);
          areas.push({ offset: wireOffset(a.offset, `sparse area ${i} offset`), size: wireOffset(a.size, `sparse area ${i} size`) });
        }
        return { kind: 'sparse-mmap', areas };
      }
      case VFIO_REGION_INFO_CAP_TYPE: {
        if (pos + VfioRegionInfoCapType.size > limit) throw bad(`type cap at ${pos} overruns argsz ${limit}`);
        const cap = VfioRegionInfoCapType.decode(bytes, pos);
        return { kind: 'type', type: cap.type, subtype: cap.subtype };
      }
      case VFIO_REGION_INFO_CAP_MSIX_MAPPABLE:
        return { kind: 'msix-mappable' };
    }
  }
  return { kind: 'unknown', id, version, offset: pos };
}

/** A decoded DEVICE_GET_INFO reply. */
export interface DecodedDeviceInfo extends DeviceInfo {
  readonly argsz: number;
}

/**
 * Encode a DEVICE_GET_INFO answer (mdevsim devices have no device caps).
 * vfio-user: the 16-byte prefix with argsz 16. kernel (vfio-pci core):
 * min(argsz, 24) bytes of vfio_device_info with argsz echoed and cap_offset 0
 * (the samples copy back only 16).
 * @throws VfioError EINVAL when argsz < 16 (minsz = offsetofend(num_irqs)).
 */
export function encodeDeviceInfo(info: DeviceInfo, argsz: number, opts: { readonly style: InfoStyle }): Uint8Array {
  if (!(argsz >= VfioDeviceInfoPrefix.size)) {
    throw new VfioError('EINVAL', `device info: argsz ${argsz} is below ${VfioDeviceInfoPrefix.size}`);
  }
  if (opts.style === 'vfio-user') {
    return VfioDeviceInfoPrefix.toBytes({
      argsz: VfioDeviceInfoPrefix.size,
      flags: info.flags,
      num_regions: info.numRegions,
      num_irqs: info.numIrqs,
    });
  }
  const full = VfioDeviceInfo.toBytes({
    argsz,
    flags: info.flags,
    num_regions: info.numRegions,
    num_irqs: info.numIrqs,
    cap_offset: 0,
    pad: 0,
  });
  return full.subarray(0, Math.min(argsz, VfioDeviceInfo.size));
}

/** Decode a DEVICE_GET_INFO reply (the 16-byte prefix; a longer kernel struct is accepted). */
export function decodeDeviceInfo(bytes: Uint8Array): DecodedDeviceInfo {
  if (bytes.length < VfioDeviceInfoPrefix.size) {
    throw new VfioError('EINVAL', `device info reply: ${bytes.length} bytes, need ${VfioDeviceInfoPrefix.size}`);
  }
  const raw = VfioDeviceInfoPrefix.decode(bytes, 0);
  return { argsz: raw.argsz, flags: raw.flags, numRegions: raw.num_regions, numIrqs: raw.num_irqs };
}

/** A decoded DEVICE_GET_IRQ_INFO reply. */
export interface DecodedIrqInfo extends IrqInfo {
  readonly argsz: number;
}

/**
 * Encode a DEVICE_GET_IRQ_INFO answer: 16 bytes; argsz 16 (vfio-user) or the
 * caller's argsz (kernel: the samples copy back minsz and never write argsz).
 * @throws VfioError EINVAL when argsz < 16.
 */
export function encodeIrqInfo(info: IrqInfo, argsz: number, opts: { readonly style: InfoStyle }): Uint8Array {
  if (!(argsz >= VfioIrqInfo.size)) {
    throw new VfioError('EINVAL', `irq info: argsz ${argsz} is below ${VfioIrqInfo.size}`);
  }
  return VfioIrqInfo.toBytes({
    argsz: opts.style === 'vfio-user' ? VfioIrqInfo.size : argsz,
    flags: info.flags,
    index: info.index,
    count: info.count,
  });
}

/** Decode a DEVICE_GET_IRQ_INFO reply. */
export function decodeIrqInfo(bytes: Uint8Array): DecodedIrqInfo {
  if (bytes.length < VfioIrqInfo.size) {
    throw new VfioError('EINVAL', `irq info reply: ${bytes.length} bytes, need ${VfioIrqInfo.size}`);
  }
  const raw = VfioIrqInfo.decode(bytes, 0);
  return { argsz: raw.argsz, flags: raw.flags, index: raw.index, count: raw.count };
}
