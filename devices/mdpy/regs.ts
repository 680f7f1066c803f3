/**
 * mdpy's registers and regions as tables (docs/devices/mdpy.md "Tables";
 * samples/vfio-mdev/mdpy.c, mdpy-defs.h).
 *
 * - PCI identity and the vendor capability at 0x40 whose format/width/height
 *   dwords mdpy-fb reads at fixed offsets (it does not walk the cap list);
 * - the ConfigSpace options for a type and quirks profile;
 * - the region table (file offsets are explicit, never derived from indexes).
 */
import {
  PCI_COMMAND_IO,
  PCI_COMMAND_MEMORY,
  PCI_CFG_SPACE_SIZE,
  PCI_CFG_SPACE_SIZE_SAMPLE,
  vendorCapability,
  type ConfigSpaceOptions,
  type WriteHookOptions,
} from '../../src/pci/index.ts';
import {
  VFIO_PCI_BAR0_REGION_INDEX,
  VFIO_PCI_CONFIG_REGION_INDEX,
  VFIO_PCI_NUM_REGIONS,
  VFIO_REGION_INFO_FLAG_MMAP,
  VFIO_REGION_INFO_FLAG_READ,
  VFIO_REGION_INFO_FLAG_WRITE,
} from '../../src/vfio/uapi.ts';
import type { Quirks } from '../common/options.ts';
import type { MdpyType } from './types.ts';

/* PCI ids (mdpy-defs.h) */
export const MDPY_PCI_VENDOR_ID = 0x1b36; // Red Hat
export const MDPY_PCI_DEVICE_ID = 0x000f;
export const MDPY_PCI_SUBVENDOR_ID = 0x1af4; // PCI_SUBVENDOR_ID_REDHAT_QUMRANET
export const MDPY_PCI_SUBDEVICE_ID = 0x1100; // PCI_SUBDEVICE_ID_QEMU
/** PCI_CLASS_DISPLAY_OTHER (base 0x03, sub-class 0x80). */
export const MDPY_PCI_CLASS = 0x0380;
export const MDPY_PCI_REVISION = 0x01;

/** mdpy.c MDPY_CONFIG_SPACE_SIZE: the sample's config region is 0xFF bytes ('upstream' profile). */
export const MDPY_CONFIG_SPACE_SIZE = PCI_CFG_SPACE_SIZE_SAMPLE;
/** mdpy.c MDPY_MEMORY_BAR_OFFSET (PAGE_SIZE): file offset of BAR0 on the device fd. */
export const MDPY_MEMORY_BAR_OFFSET = 0x1000;
/** mdpy.c MDPY_DISPLAY_REGION: the magic region index that aliases BAR0. */
export const MDPY_DISPLAY_REGION = 16;

/** One dword of the vendor capability. `offset` is absolute in config space. */
export interface MdpyCapField {
  readonly name: string;
  readonly offset: number;
  readonly size: 4;
  /** The mdpy-defs.h macro that names the offset. */
  readonly kernelName: string;
}

/**
 * The vendor-specific capability (PCI 3.0 Appendix H) carrying the
 * framebuffer configuration: id 0x09 at 0x40, next 0, length 0x10, then the
 * three read-only dwords below (mdpy-defs.h MDPY_*_OFFSET; mdpy.c mdpy_create_config_space()).
 */
export const MDPY_VENDOR_CAP = Object.freeze({
  offset: 0x40,
  size: 0x10,
  fields: Object.freeze({
    format: Object.freeze({ name: 'format', offset: 0x44, size: 4, kernelName: 'MDPY_FORMAT_OFFSET' }),
    width: Object.freeze({ name: 'width', offset: 0x48, size: 4, kernelName: 'MDPY_WIDTH_OFFSET' }),
    height: Object.freeze({ name: 'height', offset: 0x4c, size: 4, kernelName: 'MDPY_HEIGHT_OFFSET' }),
  } satisfies Record<string, MdpyCapField>),
});

export const MDPY_FORMAT_OFFSET = MDPY_VENDOR_CAP.fields.format.offset;
export const MDPY_WIDTH_OFFSET = MDPY_VENDOR_CAP.fields.width.offset;
export const MDPY_HEIGHT_OFFSET = MDPY_VENDOR_CAP.fields.height.offset;

/**
 * Config-space size per profile. Fix (default): 256, because QEMU reads 4
 * bytes at 0xFC (docs/devices/mdpy.md "Sample bugs fixed by default" item 6); 'upstream': 0xFF
 * as the sample.
 */
export function mdpyConfigSize(quirks: Quirks): typeof PCI_CFG_SPACE_SIZE | typeof PCI_CFG_SPACE_SIZE_SAMPLE {
  return quirks === 'upstream' ? MDPY_CONFIG_SPACE_SIZE : PCI_CFG_SPACE_SIZE;
}

function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

/** The vendor capability's bytes from its first byte (id, next and length are written by the builder). */
export function mdpyVendorCapBytes(type: MdpyType): Uint8Array {
  const bytes = new Uint8Array(MDPY_VENDOR_CAP.size);
  const { format, width, height } = MDPY_VENDOR_CAP.fields;
  bytes.set(le32(type.format), format.offset - MDPY_VENDOR_CAP.offset);
  bytes.set(le32(type.width), width.offset - MDPY_VENDOR_CAP.offset);
  bytes.set(le32(type.height), height.offset - MDPY_VENDOR_CAP.offset);
  return bytes;
}

/**
 * ConfigSpace options reproducing mdpy.c mdpy_create_config_space():
 * COMMAND reads IO|MEM and ignores writes, no STATUS W1C bits, interrupt
 * line and cache line size read-only, no interrupt pin, BAR0 mem32
 * prefetchable of memsize, vendor cap at 0x40; every other byte reads its
 * initial value and ignores writes (the sample drops every config write but
 * BAR0's).
 *
 * `hooks` carries the 'upstream' BAR0 rule (sampleBarWriteHook), which needs
 * the laid-out BarInfo, so the device builds it from a first ConfigSpace.
 */
export function mdpyConfigOptions(type: MdpyType, quirks: Quirks, hooks: readonly WriteHookOptions[] = []): ConfigSpaceOptions {
  // Fix (default): BAR0 uses QEMU's masking (address bits ≥ memsize, sub-dword
  // writes merged) instead of the sample's rule (docs/devices/mdpy.md "Sample bugs fixed by default" item 7);
  // 'upstream' passes sampleBarWriteHook in `hooks`.
  return {
    size: mdpyConfigSize(quirks),
    header: {
      vendorId: MDPY_PCI_VENDOR_ID,
      deviceId: MDPY_PCI_DEVICE_ID,
      revision: MDPY_PCI_REVISION,
      classCode: MDPY_PCI_CLASS,
      subsystemVendorId: MDPY_PCI_SUBVENDOR_ID,
      subsystemId: MDPY_PCI_SUBDEVICE_ID,
      command: PCI_COMMAND_IO | PCI_COMMAND_MEMORY,
      commandWmask: 0,
      statusW1cmask: 0,
      interruptPin: 0,
      interruptLineWritable: false,
      cacheLineSizeWritable: false,
    },
    bars: [{ index: 0, kind: 'mem32', size: type.memsize, prefetchable: true }],
    capabilities: [
      vendorCapability({ name: 'mdpy fb config', offset: MDPY_VENDOR_CAP.offset, size: MDPY_VENDOR_CAP.size, bytes: mdpyVendorCapBytes(type) }),
    ],
    hooks,
  };
}

/** What a region dispatches to. */
export type MdpyRegionKind = 'bar0' | 'config';

/** A row of the region table; `size` names the device parameter it comes from. */
export interface MdpyRegionRow {
  readonly index: number;
  readonly name: string;
  /** The sample's file offset on the device fd. */
  readonly offset: number;
  readonly size: 'memsize' | 'config';
  readonly flags: number;
  readonly kind: MdpyRegionKind;
  readonly aliasOf?: number;
}

const RW = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;

/**
 * mdpy.c mdpy_get_region_info(). Indexes 1–6 and 8 are empty (size 0, success), 9–15 and
 * ≥ 17 EINVAL: indexes below {@link MDPY_EMPTY_BELOW} not listed are empty.
 */
export const MDPY_REGIONS: readonly MdpyRegionRow[] = Object.freeze(([
  { index: VFIO_PCI_BAR0_REGION_INDEX, name: 'BAR0 framebuffer', offset: MDPY_MEMORY_BAR_OFFSET, size: 'memsize', flags: RW | VFIO_REGION_INFO_FLAG_MMAP, kind: 'bar0' },
  { index: VFIO_PCI_CONFIG_REGION_INDEX, name: 'PCI config', offset: 0, size: 'config', flags: RW, kind: 'config' },
  {
    index: MDPY_DISPLAY_REGION, name: 'display (alias of BAR0)', offset: MDPY_MEMORY_BAR_OFFSET, size: 'memsize',
    flags: RW | VFIO_REGION_INFO_FLAG_MMAP, kind: 'bar0', aliasOf: VFIO_PCI_BAR0_REGION_INDEX,
  },
] satisfies MdpyRegionRow[]).map((r): MdpyRegionRow => Object.freeze(r)));

/** mdpy_get_region_info: indexes < VFIO_PCI_NUM_REGIONS not in the table answer "empty". */
export const MDPY_EMPTY_BELOW = VFIO_PCI_NUM_REGIONS;
