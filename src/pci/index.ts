/**
 * Generic PCI function model: config space (QEMU-style masks), BARs,
 * capabilities. Knows nothing of VFIO or sockets.
 */
export { ConfigSpace } from './config-space.ts';
export type { ConfigSpaceOptions, ConfigSpaceSize, ConfigSpaceSnapshot, HeaderOptions } from './config-space.ts';

export {
  barAddress,
  sampleBarWriteHook,
  PCI_BAR_IO_MAX_SIZE,
  PCI_BAR_IO_MIN_SIZE,
  PCI_BAR_MEM32_MAX_SIZE,
  PCI_BAR_MEM64_MAX_SIZE,
  PCI_BAR_MEM_MIN_SIZE,
  PCI_ROM_MAX_SIZE,
  PCI_ROM_MIN_SIZE,
} from './bars.ts';
export type { BarInfo, BarKind, BarOptions, RomInfo, RomOptions } from './bars.ts';

export { powerManagementCapability, vendorCapability, walkCapabilities } from './capabilities.ts';
export type {
  CapabilityOptions,
  CapabilityWalk,
  CapabilityWalkEntry,
  CapabilityWalkError,
  DeviceRegisterOptions,
  PlacedCapability,
  PlacedRegion,
  PowerManagementOptions,
  VendorCapabilityOptions,
} from './capabilities.ts';

export * from './regs.ts';
export type { ConfigWriteEvent, ReadonlyBytes, WriteHook, WriteHookOptions } from './types.ts';
