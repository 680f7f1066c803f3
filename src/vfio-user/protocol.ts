/**
 * vfio-user wire constants (QEMU docs/interop/vfio-user.rst).
 * Host-endian; mdevsim supports little-endian hosts only (src/util/bytes.ts).
 */

/** Command numbers (vfio-user.rst "Commands"). */
export const VFIO_USER_VERSION = 1;
export const VFIO_USER_DMA_MAP = 2;
export const VFIO_USER_DMA_UNMAP = 3;
export const VFIO_USER_DEVICE_GET_INFO = 4;
export const VFIO_USER_DEVICE_GET_REGION_INFO = 5;
export const VFIO_USER_DEVICE_GET_REGION_IO_FDS = 6;
export const VFIO_USER_DEVICE_GET_IRQ_INFO = 7;
export const VFIO_USER_DEVICE_SET_IRQS = 8;
export const VFIO_USER_REGION_READ = 9;
export const VFIO_USER_REGION_WRITE = 10;
export const VFIO_USER_DMA_READ = 11;
export const VFIO_USER_DMA_WRITE = 12;
export const VFIO_USER_DEVICE_RESET = 13;
export const VFIO_USER_REGION_WRITE_MULTI = 15;
export const VFIO_USER_DEVICE_FEATURE = 16;
export const VFIO_USER_MIG_DATA_READ = 17;
export const VFIO_USER_MIG_DATA_WRITE = 18;

/**
 * mdevsim display extension (docs/protocol.md): commands outside 1–18, only
 * usable after the client proposed the "mdevsim-display" capability.
 */
export const MDEVSIM_USER_QUERY_GFX_PLANE = 0x4d01;
export const MDEVSIM_USER_GET_GFX_DMABUF = 0x4d02;
export const MDEVSIM_USER_RELEASE_GFX_DMABUF = 0x4d03;
export const MDEVSIM_DISPLAY_CAPABILITY = 'mdevsim_display';

/** Message header (vfio-user.rst "Header"): id u16, command u16, size u32, flags u32, error u32. */
export const VFIO_USER_HEADER_SIZE = 16;
export const VFIO_USER_F_TYPE_MASK = 0xf;
export const VFIO_USER_F_TYPE_COMMAND = 0;
export const VFIO_USER_F_TYPE_REPLY = 1;
export const VFIO_USER_F_NO_REPLY = 0x10;
export const VFIO_USER_F_ERROR = 0x20;

/** Protocol version spoken (QEMU 10.x proposes 0.0 and rejects a reply minor above its own). */
export const VFIO_USER_MAJOR = 0;
export const VFIO_USER_MINOR = 0;

/** Defaults the spec assumes when a key is absent (vfio-user.rst "VFIO_USER_VERSION"). */
export const DEFAULT_MAX_MSG_FDS = 1;
export const DEFAULT_MAX_DATA_XFER_SIZE = 1 << 20;
export const DEFAULT_MAX_DMA_MAPS = 65535;
export const DEFAULT_PGSIZES = 4096;
