/**
 * What a guest driver sees of a PCI function: config accesses, BAR accesses
 * and (where the VMM maps it) a direct view of a BAR. Two implementations: one
 * straight on a VfioDevice (unit tests), one over a vfio-user client (socket).
 */
import type { VfioDevice } from '../../../src/vfio/device.ts';
import { VFIO_PCI_CONFIG_REGION_INDEX } from '../../../src/vfio/uapi.ts';

export interface GuestBus {
  configRead(offset: number, size: 1 | 2 | 4): number;
  configWrite(offset: number, size: 1 | 2 | 4, value: number): void;
  barRead(bar: number, offset: number, size: 1 | 2 | 4): number;
  barWrite(bar: number, offset: number, size: 1 | 2 | 4, value: number): void;
  /** The BAR's memory as the VMM maps it into the guest, or undefined (then accesses go through barRead/barWrite). */
  barMap(bar: number): Uint8Array | undefined;
}

function toBytes(size: 1 | 2 | 4, value: number): Uint8Array {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i++) b[i] = (value >>> (8 * i)) & 0xff;
  return b;
}

function fromBytes(b: Uint8Array): number {
  let v = 0;
  for (let i = b.length - 1; i >= 0; i--) v = v * 256 + (b[i] ?? 0);
  return v;
}

/** A bus straight onto the device model, as QEMU's vfio-pci would give a guest. */
export function deviceBus(dev: VfioDevice): GuestBus {
  return {
    configRead(offset, size) {
      const b = new Uint8Array(size);
      dev.regionRead(VFIO_PCI_CONFIG_REGION_INDEX, offset, b);
      return fromBytes(b);
    },
    configWrite(offset, size, value) {
      dev.regionWrite(VFIO_PCI_CONFIG_REGION_INDEX, offset, toBytes(size, value));
    },
    barRead(bar, offset, size) {
      const b = new Uint8Array(size);
      dev.regionRead(bar, offset, b);
      return fromBytes(b);
    },
    barWrite(bar, offset, size, value) {
      dev.regionWrite(bar, offset, toBytes(size, value));
    },
    barMap(bar) {
      const info = dev.regionInfo(bar);
      if (!info.mmap) return undefined;
      const { memory, memoryOffset } = info.mmap;
      // Map the first sparse area when there is one (clients map areas, not whole regions).
      const sparse = info.caps.find((c) => c.kind === 'sparse-mmap');
      const length = sparse && sparse.kind === 'sparse-mmap' && sparse.areas[0] ? sparse.areas[0].size : info.size;
      return memory.bytes.subarray(memoryOffset, memoryOffset + length);
    },
  };
}

/** PCI BAR sizing as firmware does it: save, write all ones, read the mask, restore. */
export function sizeBar(bus: GuestBus, bar: number): { size: number; isIo: boolean; flags: number } {
  const reg = 0x10 + 4 * bar;
  const saved = bus.configRead(reg, 4);
  bus.configWrite(reg, 4, 0xffffffff);
  const mask = bus.configRead(reg, 4);
  bus.configWrite(reg, 4, saved);
  const isIo = (saved & 1) === 1;
  const addrMask = (isIo ? mask & ~0x3 : mask & ~0xf) >>> 0;
  const size = addrMask === 0 ? 0 : ((~addrMask >>> 0) + 1) >>> 0 || 0x1_0000_0000;
  return { size, isIo, flags: saved & (isIo ? 0x3 : 0xf) };
}

/** Firmware assigns a BAR address (the drivers below require a non-zero one). */
export function assignBar(bus: GuestBus, bar: number, address: number): void {
  bus.configWrite(0x10 + 4 * bar, 4, address >>> 0);
}

/** The vfio-user client surface a socket bus needs (SyncVfioUserClient has it). */
export interface BlockingDeviceClient {
  regionRead(region: number, offset: number, count: number): Uint8Array;
  regionWrite(region: number, offset: number, data: Uint8Array): void;
  mapRegion(index: number): { bytes: Uint8Array; unmap(): void };
}

/**
 * A bus over a vfio-user connection, as QEMU gives the guest: config and BAR
 * accesses become REGION_READ/WRITE messages; mappable BARs are mapped from
 * the region fd (the guest's pixel writes never cross the socket).
 */
export function socketBus(client: BlockingDeviceClient): GuestBus & { unmapAll(): void } {
  const maps = new Map<number, { bytes: Uint8Array; unmap(): void } | undefined>();
  return {
    configRead: (offset, size) => fromBytes(client.regionRead(VFIO_PCI_CONFIG_REGION_INDEX, offset, size)),
    configWrite: (offset, size, value) => client.regionWrite(VFIO_PCI_CONFIG_REGION_INDEX, offset, toBytes(size, value)),
    barRead: (bar, offset, size) => fromBytes(client.regionRead(bar, offset, size)),
    barWrite: (bar, offset, size, value) => client.regionWrite(bar, offset, toBytes(size, value)),
    barMap(bar) {
      if (!maps.has(bar)) {
        try {
          maps.set(bar, client.mapRegion(bar));
        } catch {
          maps.set(bar, undefined);
        }
      }
      return maps.get(bar)?.bytes;
    },
    unmapAll() {
      for (const m of maps.values()) m?.unmap();
      maps.clear();
    },
  };
}
