/**
 * VFIO uapi structs (include/uapi/linux/vfio.h) as wire-struct descriptors.
 * Field names are the kernel's, so grepping vfio.h lines up. Sizes are checked
 * in test/unit/vfio/structs.test.ts against numbers written out from include/uapi/linux/vfio.h.
 */
import { struct, type ValueOf } from '../util/struct.ts';

/** struct vfio_info_cap_header: `next` is an offset from the start of the enclosing info struct; 0 ends the chain. */
export const VfioInfoCapHeader = struct('vfio_info_cap_header', [
  ['id', 'u16'],
  ['version', 'u16'],
  ['next', 'u32'],
]);

/** struct vfio_device_info as the kernel defines it (24 bytes, minsz 16). */
export const VfioDeviceInfo = struct('vfio_device_info', [
  ['argsz', 'u32'],
  ['flags', 'u32'],
  ['num_regions', 'u32'],
  ['num_irqs', 'u32'],
  ['cap_offset', 'u32'],
  ['pad', 'u32'],
]);

/**
 * The 16-byte prefix of vfio_device_info that vfio-user carries
 * (vfio-user.rst "VFIO_USER_DEVICE_GET_INFO"; QEMU rejects a 24-byte reply, docs/protocol.md).
 */
export const VfioDeviceInfoPrefix = struct('vfio_device_info (vfio-user, 16-byte prefix)', [
  ['argsz', 'u32'],
  ['flags', 'u32'],
  ['num_regions', 'u32'],
  ['num_irqs', 'u32'],
]);

/** struct vfio_region_info (32 bytes); a capability chain may follow at cap_offset. */
export const VfioRegionInfo = struct('vfio_region_info', [
  ['argsz', 'u32'],
  ['flags', 'u32'],
  ['index', 'u32'],
  ['cap_offset', 'u32'],
  ['size', 'u64'],
  ['offset', 'u64'],
]);

/** struct vfio_region_sparse_mmap_area: offset relative to the region's mmap offset. */
export const VfioRegionSparseMmapArea = struct('vfio_region_sparse_mmap_area', [
  ['offset', 'u64'],
  ['size', 'u64'],
]);

/** struct vfio_region_info_cap_sparse_mmap (id 1, version 1): 16 bytes + nr_areas × 16 in `areas`. */
export const VfioRegionInfoCapSparseMmap = struct(
  'vfio_region_info_cap_sparse_mmap',
  [
    ['id', 'u16'],
    ['version', 'u16'],
    ['next', 'u32'],
    ['nr_areas', 'u32'],
    ['reserved', 'u32'],
  ],
  { tail: 'areas' },
);

/** struct vfio_region_info_cap_type (id 2, version 1). */
export const VfioRegionInfoCapType = struct('vfio_region_info_cap_type', [
  ['id', 'u16'],
  ['version', 'u16'],
  ['next', 'u32'],
  ['type', 'u32'],
  ['subtype', 'u32'],
]);

/** struct vfio_irq_info (16 bytes). */
export const VfioIrqInfo = struct('vfio_irq_info', [
  ['argsz', 'u32'],
  ['flags', 'u32'],
  ['index', 'u32'],
  ['count', 'u32'],
]);

/**
 * struct vfio_irq_set: 20 bytes + `data` (DATA_BOOL: one u8 per sub-index;
 * kernel DATA_EVENTFD: one s32 per sub-index; vfio-user sends eventfds as
 * SCM_RIGHTS instead).
 */
export const VfioIrqSet = struct(
  'vfio_irq_set',
  [
    ['argsz', 'u32'],
    ['flags', 'u32'],
    ['index', 'u32'],
    ['start', 'u32'],
    ['count', 'u32'],
  ],
  { tail: 'data' },
);

/**
 * struct vfio_device_gfx_plane_info (64 bytes). `region_index` is the kernel
 * union { region_index; dmabuf_id; }. The samples' minsz is 60 (end of the
 * union, VFIO_GFX_PLANE_INFO_MINSZ) and they copy back 60 bytes; `reserved`
 * was added to the uapi in 2023.
 */
export const VfioDeviceGfxPlaneInfo = struct('vfio_device_gfx_plane_info', [
  ['argsz', 'u32'],
  ['flags', 'u32'],
  ['drm_plane_type', 'u32'],
  ['drm_format', 'u32'],
  ['drm_format_mod', 'u64'],
  ['width', 'u32'],
  ['height', 'u32'],
  ['stride', 'u32'],
  ['size', 'u32'],
  ['x_pos', 'u32'],
  ['y_pos', 'u32'],
  ['x_hot', 'u32'],
  ['y_hot', 'u32'],
  ['region_index', 'u32'],
  ['reserved', 'u32'],
]);

/** VFIO_DEVICE_GET_GFX_DMABUF argument: the u32 dmabuf_id (the ioctl returns an fd). */
export const VfioGfxDmabufArg = struct('VFIO_DEVICE_GET_GFX_DMABUF argument', [['dmabuf_id', 'u32']]);

/** struct vfio_region_gfx_edid: the register block at the start of a GFX/EDID region. */
export const VfioRegionGfxEdid = struct('vfio_region_gfx_edid', [
  ['edid_offset', 'u32'],
  ['edid_max_size', 'u32'],
  ['edid_size', 'u32'],
  ['max_xres', 'u32'],
  ['max_yres', 'u32'],
  ['link_state', 'u32'],
]);

export type VfioInfoCapHeaderValue = ValueOf<typeof VfioInfoCapHeader>;
export type VfioDeviceInfoValue = ValueOf<typeof VfioDeviceInfo>;
export type VfioDeviceInfoPrefixValue = ValueOf<typeof VfioDeviceInfoPrefix>;
export type VfioRegionInfoValue = ValueOf<typeof VfioRegionInfo>;
export type VfioRegionSparseMmapAreaValue = ValueOf<typeof VfioRegionSparseMmapArea>;
export type VfioRegionInfoCapSparseMmapValue = ValueOf<typeof VfioRegionInfoCapSparseMmap>;
export type VfioRegionInfoCapTypeValue = ValueOf<typeof VfioRegionInfoCapType>;
export type VfioIrqInfoValue = ValueOf<typeof VfioIrqInfo>;
export type VfioIrqSetValue = ValueOf<typeof VfioIrqSet>;
export type VfioDeviceGfxPlaneInfoValue = ValueOf<typeof VfioDeviceGfxPlaneInfo>;
export type VfioRegionGfxEdidValue = ValueOf<typeof VfioRegionGfxEdid>;
