/**
 * The mdev types mdevsim offers, by their mdev type names ("mbochs-medium",
 * "mdpy-xga"), and how to create, count and snapshot an instance.
 *
 * The one door to the device models for the layers that build devices by
 * type name: management (serve, create) and trace replay, which sits below
 * management (management records traces) and so cannot ask it. The
 * vfio-user layer never builds devices.
 */
import { ConfigError } from '../src/util/errors.ts';
import type { MemoryFactory } from '../src/vfio/memory.ts';
import type { VfioDevice } from '../src/vfio/device.ts';
import type { Quirks } from './common/options.ts';
import type { InstanceBudget } from './common/budget.ts';
import {
  MDPY_SHARED_BUDGET,
  MDPY_SNAPSHOT_FORMAT,
  MDPY_SNAPSHOT_VERSION,
  MDPY_TYPE_DESCRIPTORS,
  MdpyDevice,
  type MdpySnapshot,
} from './mdpy/index.ts';
import {
  MBOCHS_SHARED_BUDGET,
  MBOCHS_SNAPSHOT_FORMAT,
  MBOCHS_SNAPSHOT_VERSION,
  MBOCHS_TYPE_DESCRIPTORS,
  MbochsDevice,
  type MbochsSnapshot,
} from './mbochs/index.ts';

export interface CreateOptions {
  readonly name: string;
  readonly quirks?: Quirks;
  /** mbochs only (ignored by mdpy). */
  readonly vbe?: 'sample' | 'strict';
  readonly memory?: MemoryFactory;
}

export interface DeviceType {
  /** mdev type name, e.g. "mbochs-medium". */
  readonly name: string;
  readonly family: 'mdpy' | 'mbochs';
  readonly description: string;
  /** How a client sees the display: a mappable region, or dmabufs. */
  readonly display: 'region' | 'dmabuf';
  readonly edid: boolean;
  /** The type takes the `vbe` option (mbochs). */
  readonly vbe: boolean;
  /** Framebuffer or VRAM bytes. */
  readonly memorySize: number;
  /** The EDID region's max_xres/max_yres (0 = no limit); 0×0 for types without EDID. */
  readonly maxXres: number;
  readonly maxYres: number;
  /** Fixed resolution of region displays (mdpy); undefined for dmabuf displays. */
  readonly resolution: { readonly width: number; readonly height: number } | undefined;
  /**
   * The budget instances of this type reserve from: the device module's
   * shared budget (mbochs: 256 MB across all mbochs types; mdpy: 4 instances
   * across all mdpy types).
   */
  readonly budget: InstanceBudget;
  /** Units of {@link budget} one instance reserves (mbochs: its MB; mdpy: 1). */
  readonly budgetUnits: number;
  /** The device model's snapshot record format and version (what its snapshot() writes). */
  readonly snapshotFormat: string;
  readonly snapshotVersion: number;
  create(opts: CreateOptions): VfioDevice;
  /** The device's own named snapshot record. */
  snapshot(device: VfioDevice): object;
  /** Replace the device's state with a record from {@link snapshot}; ConfigError when refused (state unchanged). */
  restore(device: VfioDevice, record: unknown): void;
}

function asMbochs(device: VfioDevice): MbochsDevice {
  if (!(device instanceof MbochsDevice)) throw new ConfigError('This device is not an mbochs instance.');
  return device;
}

function asMdpy(device: VfioDevice): MdpyDevice {
  if (!(device instanceof MdpyDevice)) throw new ConfigError('This device is not an mdpy instance.');
  return device;
}

export const DEVICE_TYPES: readonly DeviceType[] = [
  ...MBOCHS_TYPE_DESCRIPTORS.map((d): DeviceType => ({
    name: d.name, family: 'mbochs', description: d.description, display: 'dmabuf', edid: true, vbe: true,
    memorySize: d.memorySize, maxXres: d.maxResolution?.width ?? 0, maxYres: d.maxResolution?.height ?? 0, resolution: undefined,
    budget: MBOCHS_SHARED_BUDGET, budgetUnits: d.mbytes,
    snapshotFormat: MBOCHS_SNAPSHOT_FORMAT, snapshotVersion: MBOCHS_SNAPSHOT_VERSION,
    create: (o) => new MbochsDevice(d.name, { name: o.name, quirks: o.quirks, vbe: o.vbe, memory: o.memory }),
    snapshot: (dev) => asMbochs(dev).snapshot(),
    restore: (dev, record) => asMbochs(dev).restore(record as MbochsSnapshot),
  })),
  ...MDPY_TYPE_DESCRIPTORS.map((d): DeviceType => ({
    name: d.name, family: 'mdpy', description: d.description, display: 'region', edid: false, vbe: false,
    ...mdpyGeometry(d.resolution),
    budget: MDPY_SHARED_BUDGET, budgetUnits: 1,
    snapshotFormat: MDPY_SNAPSHOT_FORMAT, snapshotVersion: MDPY_SNAPSHOT_VERSION,
    create: (o) => new MdpyDevice(d.name, { name: o.name, quirks: o.quirks, memory: o.memory }),
    snapshot: (dev) => asMdpy(dev).snapshot(),
    restore: (dev, record) => asMdpy(dev).restore(record as MdpySnapshot),
  })),
];

export function deviceType(name: string): DeviceType {
  const t = DEVICE_TYPES.find((x) => x.name === name);
  if (!t) throw new ConfigError(`Unknown device type "${name}"; known types: ${DEVICE_TYPES.map((x) => x.name).join(', ')}.`);
  return t;
}

/** mdev `available_instances`: how many more instances of the type the budget holds right now. */
export function availableInstances(type: DeviceType): number {
  return type.budget.available(type.budgetUnits);
}

function mdpyGeometry(resolution: string): Pick<DeviceType, 'memorySize' | 'maxXres' | 'maxYres' | 'resolution'> {
  const [w, h] = resolution.split('x').map(Number) as [number, number];
  return { memorySize: w * h * 4, maxXres: 0, maxYres: 0, resolution: { width: w, height: h } };
}
