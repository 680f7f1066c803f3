import { describe, expect, it } from 'vitest';
import {
  MdevsimDmabufRelease, MdevsimDmabufReply, MdevsimDmabufRequest, VfioUserArgsz, VfioUserDmaMap, VfioUserDmaUnmap,
  VfioUserHeader, VfioUserRegionAccess, VfioUserVersion, errorReply, replyMessage, writeReplyHeaderAt,
} from '../../../src/vfio-user/wire.ts';
import {
  VfioDeviceGfxPlaneInfo, VfioDeviceInfoPrefix, VfioIrqInfo, VfioIrqSet, VfioRegionInfo,
} from '../../../src/vfio/structs.ts';
import { COMMANDS } from '../../../src/vfio-user/commands.ts';
import * as P from '../../../src/vfio-user/protocol.ts';

// Sizes written out from QEMU docs/interop/vfio-user.rst (message header,
// VERSION, DMA_MAP, DMA_UNMAP, REGION_READ/WRITE) and include/uapi/linux/vfio.h
// (the VFIO structs vfio-user carries); the display extension's from docs/protocol.md.
describe('vfio-user wire struct sizes match the spec', () => {
  it.each([
    ['vfio_user_header', VfioUserHeader.size, 16],
    ['VERSION fixed part (major, minor)', VfioUserVersion.size, 4],
    ['vfio_user_dma_map', VfioUserDmaMap.size, 32],
    ['vfio_user_dma_unmap (without bitmap)', VfioUserDmaUnmap.size, 24],
    ['region access (REGION_READ / REGION_WRITE fixed part)', VfioUserRegionAccess.size, 16],
    ['argsz prefix', VfioUserArgsz.size, 4],
    ['DEVICE_GET_INFO reply (vfio_device_info minsz)', VfioDeviceInfoPrefix.size, 16],
    ['vfio_region_info', VfioRegionInfo.size, 32],
    ['vfio_irq_info', VfioIrqInfo.size, 16],
    ['vfio_irq_set (fixed part)', VfioIrqSet.size, 20],
    ['vfio_device_gfx_plane_info', VfioDeviceGfxPlaneInfo.size, 64],
    ['mdevsim GET_GFX_DMABUF request', MdevsimDmabufRequest.size, 8],
    ['mdevsim GET_GFX_DMABUF reply', MdevsimDmabufReply.size, 56],
    ['mdevsim RELEASE_GFX_DMABUF request', MdevsimDmabufRelease.size, 8],
  ])('%s: size %i equals the spec number %i', (_name, actual, expected) => {
    expect(actual).toBe(expected);
  });

  it('field offsets of the header, DMA and region access structs', () => {
    expect(VfioUserHeader.offsets).toEqual({ msg_id: 0, command: 2, msg_size: 4, flags: 8, error_no: 12 });
    expect(VfioUserDmaMap.offsets).toEqual({ argsz: 0, flags: 4, offset: 8, address: 16, size: 24 });
    expect(VfioUserDmaUnmap.offsets).toEqual({ argsz: 0, flags: 4, address: 8, size: 16 });
    expect(VfioUserRegionAccess.offsets).toEqual({ offset: 0, region: 8, count: 12 });
  });
});

describe('reply headers', () => {
  it('success and error replies as §1.2 lays them out', () => {
    expect([...replyMessage(0x1234, 9, new Uint8Array([0xaa]))]).toEqual([
      0x34, 0x12, 9, 0, 17, 0, 0, 0, P.VFIO_USER_F_TYPE_REPLY, 0, 0, 0, 0, 0, 0, 0, 0xaa,
    ]);
    expect([...errorReply(7, 2, 0)]).toEqual([7, 0, 2, 0, 16, 0, 0, 0, P.VFIO_USER_F_TYPE_REPLY | P.VFIO_USER_F_ERROR, 0, 0, 0, 22, 0, 0, 0]);
  });

  it('writeReplyHeaderAt writes only its 16 bytes', () => {
    const out = new Uint8Array(40).fill(0xee);
    writeReplyHeaderAt(out, 8, 1, 10, 32, 0);
    expect([...out.subarray(0, 8)]).toEqual(new Array(8).fill(0xee));
    expect(VfioUserHeader.decode(out, 8)).toEqual({ msg_id: 1, command: 10, msg_size: 32, flags: P.VFIO_USER_F_TYPE_REPLY, error_no: 0 });
    expect([...out.subarray(24)]).toEqual(new Array(16).fill(0xee));
  });
});

describe('the command table', () => {
  it('one row per command, with the request struct as its minimum unless it names a prefix', () => {
    const numbers = COMMANDS.map((r) => r.command);
    expect(new Set(numbers).size).toBe(numbers.length);
    for (const row of COMMANDS) {
      if (row.request === undefined) continue;
      const min = row.command === P.MDEVSIM_USER_QUERY_GFX_PLANE ? VfioDeviceGfxPlaneInfo.offsets.drm_format : row.request.size;
      expect([row.name, row.minPayload]).toEqual([row.name, min]);
      // the codec reads every checked argsz at offset 0
      if (row.argsz !== undefined) expect([row.name, (row.request.offsets as Record<string, number>)['argsz']]).toEqual([row.name, 0]);
    }
  });

  it('serves the commands of the spec and the display extension', () => {
    const served = COMMANDS.filter((r) => r.handle !== undefined || r.inPlace !== undefined).map((r) => r.command);
    expect(served).toEqual(expect.arrayContaining([
      P.VFIO_USER_VERSION, P.VFIO_USER_DMA_MAP, P.VFIO_USER_DMA_UNMAP, P.VFIO_USER_DEVICE_GET_INFO,
      P.VFIO_USER_DEVICE_GET_REGION_INFO, P.VFIO_USER_DEVICE_GET_IRQ_INFO, P.VFIO_USER_DEVICE_SET_IRQS,
      P.VFIO_USER_REGION_READ, P.VFIO_USER_REGION_WRITE, P.VFIO_USER_DEVICE_RESET,
      P.MDEVSIM_USER_QUERY_GFX_PLANE, P.MDEVSIM_USER_GET_GFX_DMABUF, P.MDEVSIM_USER_RELEASE_GFX_DMABUF,
    ]));
  });
});
