/**
 * What a device looks like, read from the device model directly (the
 * VfioDevice methods in this process), never through a connection: nothing
 * here opens the device, so it works while a VMM holds the device socket and
 * disturbs nothing the VMM sees. Every result is plain data (no bigint, no
 * Memory) so that it travels over the control socket as msgpack.
 */
import type { PeekedGfxPlane, RegionCap, VfioDevice } from '../vfio/device.ts';
import { VfioDeviceGfxPlaneInfo } from '../vfio/structs.ts';
import {
  DRM_PLANE_TYPE_PRIMARY,
  VFIO_DEVICE_FLAGS_PCI,
  VFIO_DEVICE_FLAGS_RESET,
  VFIO_DEVICE_GFX_LINK_STATE_DOWN,
  VFIO_DEVICE_GFX_LINK_STATE_UP,
  VFIO_GFX_PLANE_TYPE_REGION,
  VFIO_PCI_CONFIG_REGION_INDEX,
  VFIO_PCI_ROM_REGION_INDEX,
  VFIO_PCI_VGA_REGION_INDEX,
  VFIO_REGION_INFO_FLAG_MMAP,
  VFIO_REGION_INFO_FLAG_READ,
  VFIO_REGION_INFO_FLAG_WRITE,
  VFIO_REGION_SUBTYPE_GFX_EDID,
  VFIO_REGION_TYPE_GFX,
} from '../vfio/uapi.ts';
import { VfioError } from '../util/errors.ts';
import { findEdidRegion, readEdidRegisters } from '../display/edid-link.ts';
import { fourccName } from '../display/formats.ts';
import { probePlaneKind } from '../display/plane-source.ts';

/** The EDID region's state, as a manager shows it. */
export interface EdidState {
  /** VFIO region index of the EDID region. */
  readonly region: number;
  /** link_state: 1 'up', 2 'down', anything else (0 until someone writes it) 'unset'. */
  readonly link: 'up' | 'down' | 'unset';
  readonly edidSize: number;
  readonly edidMaxSize: number;
  /** max_xres/max_yres (0 = no limit). */
  readonly maxXres: number;
  readonly maxYres: number;
  /** The preferred mode of the loaded blob (its first detailed timing), or null when no valid blob is loaded. */
  readonly mode: { readonly width: number; readonly height: number } | null;
}

export interface RegionDescription {
  readonly index: number;
  /** PCI name by index (BAR0…, ROM, config, VGA), "EDID" for the GFX EDID region, else "region N". */
  readonly name: string;
  readonly size: number;
  /** The kernel sample's file offset of the region. */
  readonly offset: number;
  /** VFIO_REGION_INFO_FLAG_* as the device reports them. */
  readonly flags: number;
  readonly flagNames: readonly string[];
  readonly caps: readonly RegionCap[];
}

export interface IrqDescription {
  readonly index: number;
  readonly flags: number;
  readonly count: number;
}

export interface PlaneDescription {
  readonly drmFormat: number;
  readonly format: string;
  readonly width: number;
  readonly height: number;
  readonly stride: number;
  readonly size: number;
}

export interface DeviceModelDescription {
  readonly info: { readonly flags: number; readonly flagNames: readonly string[]; readonly numRegions: number; readonly numIrqs: number };
  readonly regions: readonly RegionDescription[];
  readonly irqs: readonly IrqDescription[];
  readonly plane: {
    /** What QUERY_GFX_PLANE with PROBE accepts: 'dmabuf', 'region', or 'none'. */
    readonly kind: 'dmabuf' | 'region' | 'none';
    /** The plane the guest's registers describe now, or null (no mode set). */
    readonly current: PlaneDescription | null;
  };
  readonly edid: EdidState | null;
}

const PCI_REGION_NAMES: Record<number, string> = {
  [VFIO_PCI_ROM_REGION_INDEX]: 'ROM',
  [VFIO_PCI_CONFIG_REGION_INDEX]: 'config',
  [VFIO_PCI_VGA_REGION_INDEX]: 'VGA',
};

function regionName(index: number, caps: readonly RegionCap[]): string {
  if (caps.some((c) => c.kind === 'type' && c.type === VFIO_REGION_TYPE_GFX && c.subtype === VFIO_REGION_SUBTYPE_GFX_EDID)) return 'EDID';
  if (index <= 5) return `BAR${index}`;
  return PCI_REGION_NAMES[index] ?? `region ${index}`;
}

function flagNames(flags: number, table: readonly [number, string][]): string[] {
  return table.filter(([bit]) => (flags & bit) !== 0).map(([, name]) => name);
}

const REGION_FLAGS: readonly [number, string][] = [
  [VFIO_REGION_INFO_FLAG_READ, 'read'],
  [VFIO_REGION_INFO_FLAG_WRITE, 'write'],
  [VFIO_REGION_INFO_FLAG_MMAP, 'mmap'],
];
const DEVICE_FLAGS: readonly [number, string][] = [
  [VFIO_DEVICE_FLAGS_RESET, 'reset'],
  [VFIO_DEVICE_FLAGS_PCI, 'pci'],
];

/** The kind of plane the device offers: the flags a PROBE query accepts (a probe changes nothing). */
function planeKind(device: VfioDevice): 'dmabuf' | 'region' | 'none' {
  try {
    return probePlaneKind(device) ?? 'none';
  } catch (err) {
    if (err instanceof VfioError) return 'none';
    throw err;
  }
}

/** Preferred mode of an EDID base block: its first detailed timing descriptor (EDID 1.4 §3.10.2), or null. */
export function edidPreferredMode(block: Uint8Array): { width: number; height: number } | null {
  const header = [0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00];
  if (block.length < 128 || header.some((b, i) => block[i] !== b)) return null;
  let sum = 0;
  for (let i = 0; i < 128; i++) sum = (sum + block[i]!) & 0xff;
  if (sum !== 0) return null;
  const d = 54;
  if ((block[d]! | (block[d + 1]! << 8)) === 0) return null;
  return {
    width: block[d + 2]! | ((block[d + 4]! & 0xf0) << 4),
    height: block[d + 5]! | ((block[d + 7]! & 0xf0) << 4),
  };
}

/** The EDID region's registers and loaded mode, or null for a device without one. */
export function edidState(device: VfioDevice): EdidState | null {
  const region = findEdidRegion(device);
  if (region === undefined) return null;
  const regs = readEdidRegisters(device, region);
  let mode: EdidState['mode'] = null;
  if (regs.edidSize >= 128 && regs.edidSize <= regs.edidMaxSize) {
    const block = new Uint8Array(128);
    try {
      device.regionRead(region, regs.edidOffset, block);
      mode = edidPreferredMode(block);
    } catch (err) {
      if (!(err instanceof VfioError)) throw err;
    }
  }
  const link = regs.linkState === VFIO_DEVICE_GFX_LINK_STATE_UP ? 'up' : regs.linkState === VFIO_DEVICE_GFX_LINK_STATE_DOWN ? 'down' : 'unset';
  return { region, link, edidSize: regs.edidSize, edidMaxSize: regs.edidMaxSize, maxXres: regs.maxXres, maxYres: regs.maxYres, mode };
}

/**
 * The current plane without the side effects of a real query: the device's
 * own look when it offers one (a DMABUF query creates dmabuf records); else
 * a region plane is queried, which changes nothing.
 */
function currentPlane(device: VfioDevice, kind: 'dmabuf' | 'region' | 'none'): PlaneDescription | null {
  if (device.peekGfxPlane !== undefined) {
    const p = device.peekGfxPlane();
    return p === null ? null : describePlane(p);
  }
  if (kind !== 'region') return null;
  try {
    const p = device.queryGfxPlane({ argsz: VfioDeviceGfxPlaneInfo.size, flags: VFIO_GFX_PLANE_TYPE_REGION, drmPlaneType: DRM_PLANE_TYPE_PRIMARY });
    if (p === 'probe-ok' || p.drmFormat === 0 || p.size === 0) return null;
    return describePlane(p);
  } catch (err) {
    if (err instanceof VfioError) return null;
    throw err;
  }
}

function describePlane(p: PeekedGfxPlane): PlaneDescription {
  return { drmFormat: p.drmFormat, format: fourccName(p.drmFormat), width: p.width, height: p.height, stride: p.stride, size: p.size };
}

/** Device info, every region and irq index below the counts GET_INFO reports, the plane kind and the EDID state. */
export function describeDeviceModel(device: VfioDevice): DeviceModelDescription {
  const info = device.info();
  const regions: RegionDescription[] = [];
  for (let index = 0; index < info.numRegions; index++) {
    let r;
    try {
      r = device.regionInfo(index);
    } catch (err) {
      if (err instanceof VfioError) continue;
      throw err;
    }
    regions.push({
      index, name: regionName(index, r.caps), size: r.size, offset: r.offset, flags: r.flags,
      flagNames: flagNames(r.flags, REGION_FLAGS), caps: r.caps.map((c) => structuredClone(c)),
    });
  }
  const irqs: IrqDescription[] = [];
  for (let index = 0; index < info.numIrqs; index++) {
    try {
      const q = device.irqInfo(index);
      irqs.push({ index: q.index, flags: q.flags, count: q.count });
    } catch (err) {
      if (!(err instanceof VfioError)) throw err;
    }
  }
  const kind = planeKind(device);
  return {
    info: { flags: info.flags, flagNames: flagNames(info.flags, DEVICE_FLAGS), numRegions: info.numRegions, numIrqs: info.numIrqs },
    regions,
    irqs,
    plane: { kind, current: currentPlane(device, kind) },
    edid: edidState(device),
  };
}
