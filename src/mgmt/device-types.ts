/**
 * The mdev types mdevsim offers, by their mdev type names ("mbochs-medium",
 * "mdpy-xga"), and how to create an instance. This is the composition root:
 * management may import device models; the vfio-user layer never does.
 */
import { ConfigError } from '../util/errors.ts';
import type { MemoryFactory } from '../sys/memory.ts';
import type { VfioDevice } from '../vfio/device.ts';
import type { Quirks } from '../../devices/common/options.ts';
import { MDPY_TYPE_DESCRIPTORS, MdpyDevice } from '../../devices/mdpy/index.ts';
import { MBOCHS_TYPE_DESCRIPTORS, MbochsDevice } from '../../devices/mbochs/index.ts';

export interface CreateOptions {
  readonly name: string;
  readonly quirks?: Quirks;
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
  /** Framebuffer or VRAM bytes. */
  readonly memorySize: number;
  /** The EDID region's max_xres/max_yres (0 = no limit); 0×0 for types without EDID. */
  readonly maxXres: number;
  readonly maxYres: number;
  /** Fixed resolution of region displays (mdpy); undefined for dmabuf displays. */
  readonly resolution: { readonly width: number; readonly height: number } | undefined;
  create(opts: CreateOptions): VfioDevice;
}

export const DEVICE_TYPES: readonly DeviceType[] = [
  ...MBOCHS_TYPE_DESCRIPTORS.map((d): DeviceType => ({
    name: d.name, family: 'mbochs', description: d.description, display: 'dmabuf', edid: true,
    memorySize: d.memorySize, maxXres: d.maxResolution?.width ?? 0, maxYres: d.maxResolution?.height ?? 0, resolution: undefined,
    create: (o) => new MbochsDevice(d.name, { name: o.name, quirks: o.quirks, vbe: o.vbe, memory: o.memory }),
  })),
  ...MDPY_TYPE_DESCRIPTORS.map((d): DeviceType => ({
    name: d.name, family: 'mdpy', description: d.description, display: 'region', edid: false,
    ...mdpyGeometry(d.resolution),
    create: (o) => new MdpyDevice(d.name, { name: o.name, quirks: o.quirks, memory: o.memory }),
  })),
];

export function deviceType(name: string): DeviceType {
  const t = DEVICE_TYPES.find((x) => x.name === name);
  if (!t) throw new ConfigError(`Unknown device type "${name}"; known types: ${DEVICE_TYPES.map((x) => x.name).join(', ')}.`);
  return t;
}

function mdpyGeometry(resolution: string): Pick<DeviceType, 'memorySize' | 'maxXres' | 'maxYres' | 'resolution'> {
  const [w, h] = resolution.split('x').map(Number) as [number, number];
  return { memorySize: w * h * 4, maxXres: 0, maxYres: 0, resolution: { width: w, height: h } };
}
