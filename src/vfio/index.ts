/** The VFIO device API as a transport-free model: contract, uapi constants, structs and codecs. */
export type {
  DeviceInfo,
  DmabufExport,
  GfxPlaneInfo,
  GfxPlaneQuery,
  GfxPlaneResult,
  IrqInfo,
  IrqSet,
  RegionCap,
  RegionInfo,
  RegionMmap,
  SparseMmapArea,
  VfioDevice,
} from './device.ts';

export * from './uapi.ts';

export {
  VfioDeviceGfxPlaneInfo,
  VfioDeviceInfo,
  VfioDeviceInfoPrefix,
  VfioGfxDmabufArg,
  VfioInfoCapHeader,
  VfioIrqInfo,
  VfioIrqSet,
  VfioRegionGfxEdid,
  VfioRegionInfo,
  VfioRegionInfoCapSparseMmap,
  VfioRegionInfoCapType,
  VfioRegionSparseMmapArea,
} from './structs.ts';
export type {
  VfioDeviceGfxPlaneInfoValue,
  VfioDeviceInfoPrefixValue,
  VfioDeviceInfoValue,
  VfioInfoCapHeaderValue,
  VfioIrqInfoValue,
  VfioIrqSetValue,
  VfioRegionGfxEdidValue,
  VfioRegionInfoCapSparseMmapValue,
  VfioRegionInfoCapTypeValue,
  VfioRegionInfoValue,
  VfioRegionSparseMmapAreaValue,
} from './structs.ts';

export {
  REGION_CAP_VERSION,
  capSize,
  decodeDeviceInfo,
  decodeIrqInfo,
  decodeRegionInfo,
  encodeDeviceInfo,
  encodeIrqInfo,
  encodeRegionInfo,
  regionInfoSize,
  sparseMmapCap,
  typeCap,
} from './region-caps.ts';
export type {
  DecodedDeviceInfo,
  DecodedIrqInfo,
  DecodedRegionCap,
  DecodedRegionInfo,
  EncodeRegionInfoOptions,
  EncodedRegionInfo,
  UnknownRegionCap,
} from './region-caps.ts';

export { IRQ_SET_RULES, IrqSetError, decodeIrqSet, validateIrqSet } from './irq.ts';
export type { IrqSetRule, ValidIrqSet, ValidateIrqSetOptions } from './irq.ts';

export {
  EMPTY_PLANE,
  classifyPlaneQuery,
  decodeGfxDmabufArg,
  decodeGfxPlaneInfo,
  decodeGfxPlaneQuery,
  encodeGfxDmabufArg,
  encodeGfxPlaneInfo,
  encodeGfxPlaneResult,
} from './gfx.ts';
export type { DecodedGfxPlaneInfo, EncodeGfxPlaneOptions, GfxPlaneKind } from './gfx.ts';

export { checkRange, chunkSizeAt, forEachChunk, inRange, u64ToOffset, wireRange } from './access.ts';
export type { ChunkSize } from './access.ts';

export { defineRegionLayout } from './region-layout.ts';
export type { LocatedAccess, RegionLayout, RegionLayoutEntry, RegionLayoutOptions } from './region-layout.ts';
