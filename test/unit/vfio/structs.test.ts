import { describe, expect, it } from 'vitest';
import {
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
} from '../../../src/vfio/structs.ts';

// Numbers from include/uapi/linux/vfio.h and QEMU docs/interop/vfio-user.rst.
describe('VFIO uapi struct sizes match the spec', () => {
  it.each([
    ['vfio_info_cap_header', VfioInfoCapHeader.size, 8],
    ['vfio_device_info (kernel)', VfioDeviceInfo.size, 24],
    ['vfio_device_info (vfio-user prefix)', VfioDeviceInfoPrefix.size, 16],
    ['vfio_region_info', VfioRegionInfo.size, 32],
    ['vfio_region_sparse_mmap_area', VfioRegionSparseMmapArea.size, 16],
    ['vfio_region_info_cap_sparse_mmap (fixed part)', VfioRegionInfoCapSparseMmap.size, 16],
    ['vfio_region_info_cap_type', VfioRegionInfoCapType.size, 16],
    ['vfio_irq_info', VfioIrqInfo.size, 16],
    ['vfio_irq_set (fixed part)', VfioIrqSet.size, 20],
    ['vfio_device_gfx_plane_info', VfioDeviceGfxPlaneInfo.size, 64],
    ['vfio_region_gfx_edid', VfioRegionGfxEdid.size, 24],
    ['GET_GFX_DMABUF argument', VfioGfxDmabufArg.size, 4],
  ])('%s: size %i equals the spec number %i', (_name, actual, expected) => {
    expect(actual).toBe(expected);
  });

  it('tails: sparse-mmap areas and irq_set data', () => {
    expect(VfioRegionInfoCapSparseMmap.tail).toBe('areas');
    expect(VfioIrqSet.tail).toBe('data');
  });
});

describe('VFIO uapi field offsets match the spec', () => {
  it('vfio_info_cap_header', () => {
    expect(VfioInfoCapHeader.offsets).toEqual({ id: 0, version: 2, next: 4 });
  });
  it('vfio_device_info', () => {
    expect(VfioDeviceInfo.offsets).toEqual({ argsz: 0, flags: 4, num_regions: 8, num_irqs: 12, cap_offset: 16, pad: 20 });
    expect(VfioDeviceInfoPrefix.offsets).toEqual({ argsz: 0, flags: 4, num_regions: 8, num_irqs: 12 });
  });
  it('vfio_region_info', () => {
    expect(VfioRegionInfo.offsets).toEqual({ argsz: 0, flags: 4, index: 8, cap_offset: 12, size: 16, offset: 24 });
  });
  it('sparse mmap cap and area', () => {
    expect(VfioRegionInfoCapSparseMmap.offsets).toEqual({ id: 0, version: 2, next: 4, nr_areas: 8, reserved: 12 });
    expect(VfioRegionSparseMmapArea.offsets).toEqual({ offset: 0, size: 8 });
  });
  it('type cap', () => {
    expect(VfioRegionInfoCapType.offsets).toEqual({ id: 0, version: 2, next: 4, type: 8, subtype: 12 });
  });
  it('irq info and irq set', () => {
    expect(VfioIrqInfo.offsets).toEqual({ argsz: 0, flags: 4, index: 8, count: 12 });
    expect(VfioIrqSet.offsets).toEqual({ argsz: 0, flags: 4, index: 8, start: 12, count: 16 });
  });
  it('vfio_device_gfx_plane_info (include/uapi/linux/vfio.h)', () => {
    expect(VfioDeviceGfxPlaneInfo.offsets).toEqual({
      argsz: 0, flags: 4, drm_plane_type: 8, drm_format: 12, drm_format_mod: 16,
      width: 24, height: 28, stride: 32, size: 36, x_pos: 40, y_pos: 44,
      x_hot: 48, y_hot: 52, region_index: 56, reserved: 60,
    });
  });
  it('vfio_region_gfx_edid', () => {
    expect(VfioRegionGfxEdid.offsets).toEqual({
      edid_offset: 0, edid_max_size: 4, edid_size: 8, max_xres: 12, max_yres: 16, link_state: 20,
    });
  });
});
