/**
 * Display mode derivation for mbochs: a pure function from raw dispi
 * registers and the VRAM size to a framebuffer description, following the
 * kernel's mbochs_check_framebuffer (samples/vfio-mdev/mbochs.c;
 * docs/devices/mbochs.md "Plane query and dmabufs", invariant 18):
 *
 * - ENABLE bit 0 (VBE_DISPI_ENABLED) must be set;
 * - BPP must be 32 → DRM_FORMAT_XRGB8888, 4 bytes per pixel;
 * - width = XRES, height = YRES, virt = max(VIRT_WIDTH, XRES), stride = virt·4;
 * - size = stride·height, offset = X_OFFSET·4 + Y_OFFSET·stride;
 * - rejected when width < 64 or height < 64, or offset + size > vramSize.
 *
 * The kernel computes size and offset in u64; here every quantity is an exact
 * JS integer (largest: 0xFFFF·4 + 0xFFFF·0xFFFF·4 + 0xFFFF·4·0xFFFF < 2^36), so
 * nothing wraps (CVE-2016-3712 lesson).
 *
 * Divergence, opt-in only: with `byteOrder: 'be'` (the QEMU qext byte-order
 * register set to big endian, strict mode with qext only) a 32 bpp mode is
 * reported as DRM_FORMAT_BGRX8888, as bochs-drm programs it. The kernel sample
 * has no qext and always reports XRGB8888.
 */
import { DRM_FORMAT_BGRX8888, DRM_FORMAT_XRGB8888 } from '../../src/vfio/uapi.ts';
import {
  VBE_DISPI_ENABLED,
  VBE_DISPI_INDEX_BPP,
  VBE_DISPI_INDEX_ENABLE,
  VBE_DISPI_INDEX_VIRT_WIDTH,
  VBE_DISPI_INDEX_XRES,
  VBE_DISPI_INDEX_X_OFFSET,
  VBE_DISPI_INDEX_YRES,
  VBE_DISPI_INDEX_Y_OFFSET,
} from './dispi.ts';

/** Smallest width and height mbochs_check_framebuffer accepts. */
export const MBOCHS_MIN_RESOLUTION = 64;

/**
 * A valid framebuffer: the kernel's struct mbochs_mode (format, bytepp,
 * width, height, stride, offset, size). Two modes are the same dmabuf iff
 * all seven fields are equal ({@link sameMode}).
 */
export interface Mode {
  readonly kind: 'mode';
  /** DRM fourcc (XRGB8888, or BGRX8888 with byteOrder 'be'). */
  readonly drmFormat: number;
  /** Bytes per pixel (always 4). */
  readonly bytepp: number;
  readonly width: number;
  readonly height: number;
  /** Bytes per line: max(VIRT_WIDTH, XRES)·4. */
  readonly stride: number;
  /** Byte offset of the first visible pixel in VRAM: X_OFFSET·4 + Y_OFFSET·stride. */
  readonly offset: number;
  /** stride·height (exact, not page-rounded). */
  readonly size: number;
}

/** No framebuffer: the plane query reports an empty plane. `reason` is for logs and tests. */
export interface Invalid {
  readonly kind: 'invalid';
  readonly reason: string;
}

export interface DeriveModeOptions {
  /**
   * Framebuffer byte order from the QEMU qext register (strict mode with qext
   * only). 'be' reports 32 bpp as DRM_FORMAT_BGRX8888.
   * @defaultValue `'le'`
   */
  readonly byteOrder?: 'le' | 'be';
}

function reg(regs: ArrayLike<number>, index: number): number {
  const v = regs[index];
  return typeof v === 'number' && Number.isFinite(v) ? Math.trunc(v) & 0xffff : 0;
}

/**
 * Derive the framebuffer from raw dispi registers (indexed by
 * VBE_DISPI_INDEX_*, values taken mod 2^16) and the VRAM size in bytes.
 * Checks run in the kernel's order, so `reason` names the first failing one.
 */
export function deriveMode(regs: ArrayLike<number>, vramSize: number, options: DeriveModeOptions = {}): Mode | Invalid {
  if ((reg(regs, VBE_DISPI_INDEX_ENABLE) & VBE_DISPI_ENABLED) === 0) {
    return { kind: 'invalid', reason: 'display disabled (ENABLE bit 0 clear)' };
  }
  const bpp = reg(regs, VBE_DISPI_INDEX_BPP);
  if (bpp !== 32) return { kind: 'invalid', reason: `bpp ${bpp} not supported` };
  const bytepp = 4;
  const drmFormat = options.byteOrder === 'be' ? DRM_FORMAT_BGRX8888 : DRM_FORMAT_XRGB8888;

  const width = reg(regs, VBE_DISPI_INDEX_XRES);
  const height = reg(regs, VBE_DISPI_INDEX_YRES);
  const virtWidth = Math.max(reg(regs, VBE_DISPI_INDEX_VIRT_WIDTH), width);
  const stride = virtWidth * bytepp;
  const size = stride * height;
  const offset = reg(regs, VBE_DISPI_INDEX_X_OFFSET) * bytepp + reg(regs, VBE_DISPI_INDEX_Y_OFFSET) * stride;

  if (width < MBOCHS_MIN_RESOLUTION || height < MBOCHS_MIN_RESOLUTION) {
    return { kind: 'invalid', reason: `invalid resolution ${width}x${height}` };
  }
  if (offset + size > vramSize) {
    return { kind: 'invalid', reason: `framebuffer memory overflow: offset ${offset} + size ${size} > ${vramSize}` };
  }
  return { kind: 'mode', drmFormat, bytepp, width, height, stride, offset, size };
}

export function isMode(m: Mode | Invalid): m is Mode {
  return m.kind === 'mode';
}

/**
 * Structural equality (the kernel's mbochs_modes_equal memcmp): two Modes are
 * the same iff all seven fields match; two Invalids iff their reasons match.
 */
export function sameMode(a: Mode | Invalid, b: Mode | Invalid): boolean {
  if (a.kind === 'mode' && b.kind === 'mode') {
    return (
      a.drmFormat === b.drmFormat && a.bytepp === b.bytepp && a.width === b.width && a.height === b.height &&
      a.stride === b.stride && a.offset === b.offset && a.size === b.size
    );
  }
  if (a.kind === 'invalid' && b.kind === 'invalid') return a.reason === b.reason;
  return false;
}

/** A string that is equal for two modes iff {@link sameMode} holds: a map key for mode records. */
export function modeKey(m: Mode): string {
  return `${m.drmFormat}:${m.bytepp}:${m.width}:${m.height}:${m.stride}:${m.offset}:${m.size}`;
}
