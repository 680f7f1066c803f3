/**
 * vfio-user's conventions for the VFIO structs it reuses (QEMU
 * docs/interop/vfio-user.rst "Message sizes", "VFIO_USER_DEVICE_GET_INFO",
 * "VFIO_USER_DEVICE_GET_REGION_INFO", "VFIO_USER_DEVICE_SET_IRQS"). The device API (src/vfio/) answers as the kernel
 * ioctls do; these adapt its answers where the protocol differs, so only
 * this layer knows the transport:
 *
 * - device info is the 16-byte minsz prefix with argsz 16 (QEMU rejects a
 *   24-byte reply, docs/protocol.md);
 * - irq info carries argsz 16, not the caller's;
 * - a region-info answer that does not fit the request's argsz is the bare
 *   32-byte struct with CAPS cleared (libvfio-user; QEMU rejects CAPS with
 *   cap_offset 0, which the kernel sends);
 * - SET_IRQS argsz equals the payload length and eventfds travel as
 *   SCM_RIGHTS, not in the data.
 */
import type { DeviceInfo, IrqInfo, IrqSet, RegionInfo } from '../vfio/device.ts';
import { encodeRegionInfo as encodeKernelRegionInfo, type EncodedRegionInfo } from '../vfio/region-caps.ts';
import { VfioDeviceInfoPrefix, VfioIrqInfo, VfioIrqSet, VfioRegionInfo, type VfioIrqSetValue } from '../vfio/structs.ts';
import { VFIO_IRQ_SET_DATA_BOOL, VFIO_IRQ_SET_DATA_EVENTFD, VFIO_IRQ_SET_DATA_TYPE_MASK, VFIO_REGION_INFO_FLAG_CAPS } from '../vfio/uapi.ts';
import { readUint, writeUint } from '../util/bytes.ts';
import { VfioError } from '../util/errors.ts';

/**
 * A GET_REGION_INFO answer for a request carrying `argsz`; `offset` replaces
 * info.offset (the mmap offset into the fd this transport passes).
 * @throws VfioError EINVAL when argsz < 32.
 */
export function encodeRegionInfo(info: RegionInfo, argsz: number, opts: { readonly offset?: number } = {}): EncodedRegionInfo {
  const enc = encodeKernelRegionInfo(info, argsz, opts);
  if (enc.capsIncluded) return enc;
  const at = VfioRegionInfo.offsets.flags;
  const b = enc.bytes;
  writeUint(b, at, 4, (readUint(b, at, 4) & ~VFIO_REGION_INFO_FLAG_CAPS) >>> 0);
  return enc;
}

/**
 * A DEVICE_GET_INFO answer (mdevsim devices have no device caps).
 * @throws VfioError EINVAL when argsz < 16 (minsz = offsetofend(num_irqs)).
 */
export function encodeDeviceInfo(info: DeviceInfo, argsz: number): Uint8Array {
  if (!(argsz >= VfioDeviceInfoPrefix.size)) {
    throw new VfioError('EINVAL', `device info: argsz ${argsz} is below ${VfioDeviceInfoPrefix.size}`);
  }
  return VfioDeviceInfoPrefix.toBytes({
    argsz: VfioDeviceInfoPrefix.size,
    flags: info.flags,
    num_regions: info.numRegions,
    num_irqs: info.numIrqs,
  });
}

/**
 * A DEVICE_GET_IRQ_INFO answer.
 * @throws VfioError EINVAL when argsz < 16.
 */
export function encodeIrqInfo(info: IrqInfo, argsz: number): Uint8Array {
  if (!(argsz >= VfioIrqInfo.size)) {
    throw new VfioError('EINVAL', `irq info: argsz ${argsz} is below ${VfioIrqInfo.size}`);
  }
  return VfioIrqInfo.toBytes({ argsz: VfioIrqInfo.size, flags: info.flags, index: info.index, count: info.count });
}

/**
 * Decode a SET_IRQS payload into an IrqSet (structure only; the device runs
 * validateIrqSet for the semantics). `fds` came with the message; ownership
 * stays with the caller. Data after the 20-byte header becomes `bools` (QEMU
 * sends DATA_EVENTFD with argsz 20 and the fds out of band; a run of -1 fds
 * travels as a message with count n and no fds).
 *
 * `bools` is a copy; `eventfds` is set when fds were given or DATA_EVENTFD is set.
 * @throws VfioError EINVAL for a short payload or an argsz that is not the payload length.
 */
export function decodeIrqSet(bytes: Uint8Array, fds: readonly number[] = []): IrqSet {
  if (bytes.length < VfioIrqSet.size) {
    throw new VfioError('EINVAL', `SET_IRQS: ${bytes.length} bytes, need ${VfioIrqSet.size}`);
  }
  const raw = VfioIrqSet.decode(bytes, 0);
  if (raw.argsz !== bytes.length) {
    throw new VfioError('EINVAL', `SET_IRQS: argsz ${raw.argsz} differs from the payload size ${bytes.length}`);
  }
  return irqSetOf(raw, fds);
}

/** The IrqSet of a decoded SET_IRQS payload whose argsz was checked (the command table's row does that). */
export function irqSetOf(raw: VfioIrqSetValue, fds: readonly number[]): IrqSet {
  const dataType = raw.flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
  const data = raw.data;
  return {
    flags: raw.flags,
    index: raw.index,
    start: raw.start,
    count: raw.count,
    ...(data.length > 0 || dataType === VFIO_IRQ_SET_DATA_BOOL ? { bools: data.slice() } : {}),
    ...(fds.length > 0 || dataType === VFIO_IRQ_SET_DATA_EVENTFD ? { eventfds: [...fds] } : {}),
  };
}

/** Encode a SET_IRQS request (clients, tests): 20 bytes + bools, argsz = total length; eventfds go as SCM_RIGHTS. */
export function encodeIrqSet(set: IrqSet): Uint8Array {
  const data = set.bools ?? new Uint8Array(0);
  return VfioIrqSet.toBytes({
    argsz: VfioIrqSet.size + data.length,
    flags: set.flags,
    index: set.index,
    start: set.start,
    count: set.count,
    data,
  });
}
