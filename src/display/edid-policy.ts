/**
 * Which mode an EDID should advertise for a display device of a given type
 * (docs/devices/mbochs.md "Types" and "EDID region"; QEMU hw/vfio/display.c
 * vfio_display_edid_update()).
 *
 * Default mode: QEMU's fallback, 1280×800, clamped like any request. That is
 * 800×600 on mbochs-small (its max_xres×max_yres) and 1280×800 on medium
 * and large. Large has no maximum and 64 MiB of VRAM, so 1920×1080 would
 * fit, but 1280×800 is what QEMU shows a guest of a kernel mbochs when no
 * window size is known, and what the reference boot (docs/protocol.md "Seen in a real boot")
 * expects; a bigger mode is one request away. (QEMU itself clamps before it
 * falls back, so on mbochs-small it would advertise 1280×800 beyond the
 * type's advisory maximum; here the maximum wins.)
 *
 * Limits, applied in this order, each per axis unless said otherwise:
 * 1. max_xres / max_yres, when non-zero (as QEMU clamps its preferred size);
 * 2. 4095, the largest size an EDID detailed timing descriptor holds;
 * 3. at least 64×64, the smallest mode mbochs displays (mbochs.c mbochs_check_framebuffer());
 * 4. the framebuffer must fit VRAM at 32 bpp, w·h·4 ≤ memsize (what
 *    bochs-drm's mode_valid and the plane check require): both sides are
 *    scaled down by the same factor, keeping the aspect ratio.
 */
import { ConfigError } from '../util/errors.ts';
import { EDID_DTD_MAX_ACTIVE } from './edid.ts';

/** QEMU's EDID generator fallback when no preferred size is known. */
export const QEMU_EDID_DEFAULT_MODE = Object.freeze({ width: 1280, height: 800 });
/** Smallest width/height mbochs shows (its plane check rejects w or h < 64). */
export const EDID_MIN_MODE_SIDE = 64;
/** Bytes per pixel of the framebuffer formats mbochs and bochs-drm use (XRGB8888). */
const BYTES_PER_PIXEL = 4;

/** The parts of a device type the policy needs (an MbochsType fits). */
export interface EdidModeLimits {
  /** vfio_region_gfx_edid.max_xres; 0 = no limit. */
  readonly maxXres: number;
  /** vfio_region_gfx_edid.max_yres; 0 = no limit. */
  readonly maxYres: number;
  /** Video memory in bytes. */
  readonly memsize: number;
}

export interface EdidModeRequest {
  readonly width: number;
  readonly height: number;
}

export interface EdidMode {
  readonly width: number;
  readonly height: number;
  /** True iff the result differs from the request (or from QEMU's 1280×800 default). */
  readonly clamped: boolean;
  /** One sentence saying what changed and why; present iff clamped. */
  readonly reason?: string;
}

function isU32(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff;
}

function formatBytes(n: number): string {
  if (n % (1 << 20) === 0) return `${n / (1 << 20)} MiB`;
  if (n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}

function formatMax(maxXres: number, maxYres: number): string {
  if (maxXres !== 0 && maxYres !== 0) return `max_xres×max_yres is ${maxXres}×${maxYres}`;
  return maxXres !== 0 ? `max_xres is ${maxXres}` : `max_yres is ${maxYres}`;
}

/**
 * The mode to advertise: `requested`, or QEMU's 1280×800 default, limited as
 * the module comment lists.
 * @throws ConfigError for a request that is not two positive integers, or a
 *   type that cannot show a 64×64 mode (max below 64, VRAM under 16 KiB).
 */
export function edidModeFor(type: EdidModeLimits, requested?: EdidModeRequest): EdidMode {
  const { maxXres, maxYres, memsize } = type;
  if (!isU32(maxXres) || !isU32(maxYres)) throw new ConfigError('EDID mode: maxXres/maxYres must be u32 (0 = no limit).');
  if ((maxXres !== 0 && maxXres < EDID_MIN_MODE_SIDE) || (maxYres !== 0 && maxYres < EDID_MIN_MODE_SIDE)) {
    throw new ConfigError(`EDID mode: a maximum of ${maxXres}×${maxYres} leaves no room for the 64×64 minimum.`);
  }
  const minBytes = EDID_MIN_MODE_SIDE * EDID_MIN_MODE_SIDE * BYTES_PER_PIXEL;
  if (typeof memsize !== 'number' || !Number.isSafeInteger(memsize) || memsize < minBytes) {
    throw new ConfigError(`EDID mode: memsize must be an integer of at least ${minBytes} bytes (a 64×64 framebuffer), got ${String(memsize)}.`);
  }
  if (requested !== undefined) {
    const { width, height } = requested;
    if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1) {
      throw new ConfigError(`EDID mode: the requested size must be two positive integers, got ${String(width)}×${String(height)}.`);
    }
  }
  const start = requested ?? QEMU_EDID_DEFAULT_MODE;
  let w = start.width;
  let h = start.height;
  const why: string[] = [];

  if ((maxXres !== 0 && w > maxXres) || (maxYres !== 0 && h > maxYres)) {
    if (maxXres !== 0) w = Math.min(w, maxXres);
    if (maxYres !== 0) h = Math.min(h, maxYres);
    why.push(`the type's ${formatMax(maxXres, maxYres)}`);
  }
  if (w > EDID_DTD_MAX_ACTIVE || h > EDID_DTD_MAX_ACTIVE) {
    w = Math.min(w, EDID_DTD_MAX_ACTIVE);
    h = Math.min(h, EDID_DTD_MAX_ACTIVE);
    why.push(`an EDID detailed timing holds at most ${EDID_DTD_MAX_ACTIVE}×${EDID_DTD_MAX_ACTIVE}`);
  }
  if (w < EDID_MIN_MODE_SIDE || h < EDID_MIN_MODE_SIDE) {
    w = Math.max(w, EDID_MIN_MODE_SIDE);
    h = Math.max(h, EDID_MIN_MODE_SIDE);
    why.push(`mbochs shows nothing smaller than ${EDID_MIN_MODE_SIDE}×${EDID_MIN_MODE_SIDE}`);
  }
  if (w * h * BYTES_PER_PIXEL > memsize) {
    const pixels = Math.floor(memsize / BYTES_PER_PIXEL);
    const scale = Math.sqrt(pixels / (w * h));
    let nw = Math.max(EDID_MIN_MODE_SIDE, Math.floor(w * scale));
    let nh = Math.max(EDID_MIN_MODE_SIDE, Math.floor(h * scale));
    // A side pinned at 64 leaves the other one whatever still fits.
    if (nw * nh > pixels) {
      if (nh === EDID_MIN_MODE_SIDE) nw = Math.floor(pixels / nh);
      else if (nw === EDID_MIN_MODE_SIDE) nh = Math.floor(pixels / nw);
    }
    // Guard against sqrt rounding: shrink the relatively larger side.
    while (nw * nh > pixels) {
      if (nh > EDID_MIN_MODE_SIDE && (nw === EDID_MIN_MODE_SIDE || nh / h >= nw / w)) nh--;
      else nw--;
    }
    w = nw;
    h = nh;
    why.push(`a 32 bpp framebuffer (width·height·4 bytes) must fit the ${formatBytes(memsize)} of VRAM`);
  }

  if (w === start.width && h === start.height) return { width: w, height: h, clamped: false };
  const what = requested ? `The requested ${start.width}×${start.height}` : `QEMU's default ${start.width}×${start.height}`;
  return { width: w, height: h, clamped: true, reason: `${what} became ${w}×${h} because ${why.join(', and ')}.` };
}
