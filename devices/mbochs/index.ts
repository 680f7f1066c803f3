/**
 * The mbochs device model (docs/devices/mbochs.md): the
 * device class, its types and management descriptors, and the pure parts it
 * is assembled from.
 */
export {
  MBOCHS_BAR0_RW_SKEW,
  MBOCHS_EDID_OFFSET,
  MBOCHS_EDID_REGION_INDEX,
  MBOCHS_MEMORY_BAR_OFFSET,
  MBOCHS_MMIO_BAR_OFFSET,
  MBOCHS_NUM_REGIONS,
  MBOCHS_PCI_ID,
  MBOCHS_SNAPSHOT_FORMAT,
  MBOCHS_SNAPSHOT_VERSION,
  MBOCHS_TYPE_DESCRIPTORS,
  MbochsDevice,
  mbochsAvailableInstances,
  MBOCHS_SHARED_BUDGET,
} from './device.ts';
export type {
  MbochsDeviceOptions,
  MbochsDmabufStats,
  MbochsRegionKind,
  MbochsSnapshot,
  MbochsTypeDescriptor,
} from './device.ts';

export { MBOCHS_DEFAULT_BUDGET_MB, MBOCHS_TYPES, MBOCHS_TYPE_LIST, createMbochsBudget, mbochsType } from './types.ts';
export type { MbochsType, MbochsTypeName } from './types.ts';

export { DispiRegisters, VBE_DISPI_INDEX_COUNT, VBE_DISPI_MMIO_OFFSET, vbeFixupRegs } from './dispi.ts';
export type { DispiSnapshot, VbeMode, VramClearRequest } from './dispi.ts';

export { MBOCHS_MIN_RESOLUTION, deriveMode, isMode, sameMode } from './mode.ts';
export type { Invalid, Mode } from './mode.ts';

export { EdidRegion, MBOCHS_EDID_BLOB_OFFSET, MBOCHS_EDID_BLOB_SIZE, MBOCHS_EDID_SIZE } from './edid-region.ts';
export type { EdidRegionSnapshot } from './edid-region.ts';

export { MBOCHS_MMIO_BAR_SIZE, MBOCHS_MMIO_MAP, MbochsMmio } from './mmio.ts';
export type { MbochsMmioSnapshot } from './mmio.ts';

export { DmabufTable, MBOCHS_DMABUF_LIMIT_DEFAULT, MBOCHS_PAGE_SIZE } from './dmabuf.ts';
