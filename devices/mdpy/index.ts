/**
 * mdpy: the kernel's sample region display (samples/vfio-mdev/mdpy.c) as a
 * VfioDevice. See docs/devices/mdpy.md.
 */
import { MDPY_TYPE_LIST, type MdpyTypeName } from './types.ts';

export { MdpyDevice, MDPY_SNAPSHOT_FORMAT, MDPY_SNAPSHOT_VERSION } from './device.ts';
export type { MdpyDeviceOptions, MdpySnapshot } from './device.ts';

export {
  MDPY_DEFAULT_MAX_INSTANCES,
  MDPY_SHARED_BUDGET,
  MDPY_TYPES,
  MDPY_TYPE_LIST,
  createMdpyBudget,
  mdpyType,
} from './types.ts';
export type { MdpyType, MdpyTypeName } from './types.ts';

export {
  MDPY_CONFIG_SPACE_SIZE,
  MDPY_DISPLAY_REGION,
  MDPY_EMPTY_BELOW,
  MDPY_FORMAT_OFFSET,
  MDPY_HEIGHT_OFFSET,
  MDPY_MEMORY_BAR_OFFSET,
  MDPY_PCI_CLASS,
  MDPY_PCI_DEVICE_ID,
  MDPY_PCI_REVISION,
  MDPY_PCI_SUBDEVICE_ID,
  MDPY_PCI_SUBVENDOR_ID,
  MDPY_PCI_VENDOR_ID,
  MDPY_REGIONS,
  MDPY_VENDOR_CAP,
  MDPY_WIDTH_OFFSET,
  mdpyConfigOptions,
  mdpyConfigSize,
  mdpyVendorCapBytes,
} from './regs.ts';
export type { MdpyCapField, MdpyRegionKind, MdpyRegionRow } from './regs.ts';

/** What the management layer lists for an mdpy type (mdev_supported_types). */
export interface MdpyTypeDescriptor {
  /** The mdev type id, "mdpy-" + sysfs name (mdev_supported_types/<name>). */
  readonly name: string;
  /** sysfs name of the type ("vga"); MdpyDevice accepts either name. */
  readonly sysfsName: MdpyTypeName;
  /** sysfs `description`: "virtual display, WxH framebuffer". */
  readonly description: string;
  /** Vendor attribute `resolution`: "WxH". */
  readonly resolution: string;
  /** How the display is reached: a REGION plane (QUERY_GFX_PLANE with REGION). */
  readonly display: 'region';
  /** mdpy has no EDID region. */
  readonly edid: false;
}

/** The three mdpy types as the management layer lists them, in kernel order. */
export const MDPY_TYPE_DESCRIPTORS: readonly MdpyTypeDescriptor[] = Object.freeze(
  MDPY_TYPE_LIST.map((t) => Object.freeze({
    name: t.prettyName,
    sysfsName: t.sysfsName,
    description: t.description,
    resolution: t.resolution,
    display: 'region' as const,
    edid: false as const,
  })),
);
