/**
 * vfio-user payload structs (QEMU docs/interop/vfio-user.rst, VFIO_USER_DMA_MAP
 * through VFIO_USER_DEVICE_RESET), declared once; sizes,
 * offsets and codecs derive from the field lists (src/util/struct.ts). The
 * VFIO structs that vfio-user reuses (region info, irq info/set, gfx plane)
 * come from src/vfio/structs.ts.
 */
import { struct } from '../util/struct.ts';
import { VFIO_USER_F_ERROR, VFIO_USER_F_TYPE_REPLY, VFIO_USER_HEADER_SIZE } from './protocol.ts';

export const VfioUserHeader = struct('vfio_user_header', [
  ['msg_id', 'u16'], ['command', 'u16'], ['msg_size', 'u32'], ['flags', 'u32'], ['error_no', 'u32'],
]);

export const VfioUserDmaMap = struct('vfio_user_dma_map', [
  ['argsz', 'u32'], ['flags', 'u32'], ['offset', 'u64'], ['address', 'u64'], ['size', 'u64'],
]);

export const VfioUserDmaUnmap = struct('vfio_user_dma_unmap', [
  ['argsz', 'u32'], ['flags', 'u32'], ['address', 'u64'], ['size', 'u64'],
]);

/** REGION_READ / REGION_WRITE fixed part; write data (and read reply data) follows. */
export const VfioUserRegionAccess = struct('vfio_user_region_access', [
  ['offset', 'u64'], ['region', 'u32'], ['count', 'u32'],
], { tail: 'data' });

/** The argsz-led request of GET_INFO / GET_IRQ_INFO: only argsz (and index) matter. */
export const VfioUserArgsz = struct('vfio_user argsz prefix', [['argsz', 'u32']]);

/** mdevsim display extension: GET_GFX_DMABUF request (docs/protocol.md). */
export const MdevsimDmabufRequest = struct('mdevsim_gfx_dmabuf_request', [
  ['argsz', 'u32'], ['dmabuf_id', 'u32'],
]);

/** mdevsim display extension: GET_GFX_DMABUF reply, one fd (the VRAM memfd) attached. */
export const MdevsimDmabufReply = struct('mdevsim_gfx_dmabuf_reply', [
  ['argsz', 'u32'], ['dmabuf_id', 'u32'],
  ['handle', 'u32'], ['drm_format', 'u32'],
  ['offset', 'u64'], ['size', 'u64'],
  ['width', 'u32'], ['height', 'u32'],
  ['stride', 'u32'], ['reserved', 'u32'],
  ['drm_format_mod', 'u64'],
]);

/** mdevsim display extension: RELEASE_GFX_DMABUF request (no reply payload). */
export const MdevsimDmabufRelease = struct('mdevsim_gfx_dmabuf_release', [
  ['argsz', 'u32'], ['handle', 'u32'],
]);

/** DMA_MAP flags (spec) and DMA_UNMAP flags. */
export const VFIO_USER_F_DMA_REGION_READ = 1 << 0;
export const VFIO_USER_F_DMA_REGION_WRITE = 1 << 1;
export const VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP = 1 << 0;
export const VFIO_DMA_UNMAP_FLAG_ALL = 1 << 1;

/** Write a reply header in place at out[0..16). */
export function writeReplyHeader(out: Uint8Array, id: number, command: number, errno: number): void {
  const v = new DataView(out.buffer, out.byteOffset, VFIO_USER_HEADER_SIZE);
  v.setUint16(0, id, true);
  v.setUint16(2, command, true);
  v.setUint32(4, out.length, true);
  v.setUint32(8, errno === 0 ? VFIO_USER_F_TYPE_REPLY : VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR, true);
  v.setUint32(12, errno, true);
}

/** A reply message: header + payload (payload may be empty). */
export function replyMessage(id: number, command: number, payload?: Uint8Array): Uint8Array {
  const out = new Uint8Array(VFIO_USER_HEADER_SIZE + (payload?.length ?? 0));
  if (payload) out.set(payload, VFIO_USER_HEADER_SIZE);
  writeReplyHeader(out, id, command, 0);
  return out;
}

/** An error reply: header only, Reply type, ERROR flag, non-zero errno (vfio-user.rst "Header"). */
export function errorReply(id: number, command: number, errno: number): Uint8Array {
  const out = new Uint8Array(VFIO_USER_HEADER_SIZE);
  writeReplyHeader(out, id, command, errno === 0 ? 22 : errno);
  return out;
}
