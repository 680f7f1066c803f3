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
 *    scaled down by the same factor, keeping the aspect ratio;
 * 5. with `vram: 'half'` (the default), a mode the policy picks itself — the
 *    default, or a request it had to shrink — must also fit half of VRAM,
 *    scaled down the same way. Linux bochs-drm up to 6.12 validates modes
 *    with drm_vram_helper_mode_valid() (drm_gem_vram_helper.c), which keeps
 *    two framebuffers in VRAM for page flips and so refuses (MODE_MEM) any
 *    mode of more than ⌊VRAM/2⌋ >> PAGE_SHIFT pages; it then picks another
 *    mode. From 6.13 bochs-drm keeps one framebuffer in VRAM and checks
 *    against all of it (bochs_mode_config_mode_valid(), commit 4dc9bb66ebdd
 *    "drm/bochs: Validate display modes against available video memory"),
 *    which `vram: 'full'` is for.
 *
 * A request that passes 1–4 as it is, is honoured even above half of VRAM
 * (the user asked for exactly that mode, and 6.13+ guests show it); with
 * `vram: 'half'` it then carries a warning naming the guests that refuse it.
 *
 * Every mode the EDID lists lies inside its preferred mode (edid.ts: the
 * established timings only where they fit; Linux infers further modes from
 * the range limits only up to the preferred one, drm_edid.c
 * valid_inferred_mode()), so a preferred mode that fits a guest's VRAM check
 * means the whole list does.
 */
import { ConfigError } from '../util/errors.ts';
import { EDID_DTD_MAX_ACTIVE } from './edid.ts';

/** QEMU's EDID generator fallback when no preferred size is known. */
export const QEMU_EDID_DEFAULT_MODE = Object.freeze({ width: 1280, height: 800 });
/** Smallest width/height mbochs shows (its plane check rejects w or h < 64). */
export const EDID_MIN_MODE_SIDE = 64;
/** Bytes per pixel of the framebuffer formats mbochs and bochs-drm use (XRGB8888). */
const BYTES_PER_PIXEL = 4;
/** The guest page size drm_vram_helper_mode_valid() counts in (PAGE_SHIFT 12 on x86). */
const GUEST_PAGE_SIZE = 4096;

/**
 * How much of VRAM the framebuffer of a mode the policy picks may take:
 * 'half', what every bochs-drm accepts (Linux up to 6.12 double-buffers in
 * VRAM), or 'full', for guests with Linux 6.13 or later.
 */
export type EdidVram = 'half' | 'full';
/** The policy's default: modes every bochs-drm guest accepts. */
export const EDID_VRAM_DEFAULT: EdidVram = 'half';
/** The oldest Linux release whose bochs-drm accepts a mode of more than half of VRAM. */
export const BOCHS_DRM_WHOLE_VRAM_RELEASE = '6.13';

/**
 * The largest framebuffer, in bytes, bochs-drm accepts with `vram`: all of
 * memsize, or what drm_vram_helper_mode_valid() admits, ⌊memsize/2⌋ rounded
 * down to whole pages (its test is ⌈w·h·4 / PAGE_SIZE⌉ ≤ ⌊memsize/2⌋ >> PAGE_SHIFT).
 */
export function edidFramebufferLimit(memsize: number, vram: EdidVram): number {
  return vram === 'full' ? memsize : Math.floor(Math.floor(memsize / 2) / GUEST_PAGE_SIZE) * GUEST_PAGE_SIZE;
}

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

export interface EdidModeOptions {
  /** How much of VRAM a mode the policy picks may take. @defaultValue EDID_VRAM_DEFAULT ('half') */
  readonly vram?: EdidVram;
}

export interface EdidMode {
  readonly width: number;
  readonly height: number;
  /** True iff the result differs from the request (or from QEMU's 1280×800 default). */
  readonly clamped: boolean;
  /** One sentence saying what changed and why; present iff clamped. */
  readonly reason?: string;
  /**
   * One sentence naming the guests that refuse the mode; present iff
   * `vram` is 'half' and an honoured request takes more than half of VRAM.
   */
  readonly warning?: string;
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
 * Scale w×h down by one factor until w·h ≤ pixels, no side below 64 (a side
 * pinned at 64 leaves the other whatever still fits), as large as that allows.
 */
function shrinkToFit(w: number, h: number, pixels: number): { w: number; h: number } {
  const scale = Math.sqrt(pixels / (w * h));
  let nw = Math.max(EDID_MIN_MODE_SIDE, Math.floor(w * scale));
  let nh = Math.max(EDID_MIN_MODE_SIDE, Math.floor(h * scale));
  if (nw * nh > pixels) {
    if (nh === EDID_MIN_MODE_SIDE) nw = Math.floor(pixels / nh);
    else if (nw === EDID_MIN_MODE_SIDE) nh = Math.floor(pixels / nw);
  }
  // Guard against sqrt rounding: shrink the relatively larger side.
  while (nw * nh > pixels) {
    if (nh > EDID_MIN_MODE_SIDE && (nw === EDID_MIN_MODE_SIDE || nh / h >= nw / w)) nh--;
    else nw--;
  }
  return { w: nw, h: nh };
}

/**
 * The mode to advertise: `requested`, or QEMU's 1280×800 default, limited as
 * the module comment lists.
 * @throws ConfigError for a request that is not two positive integers, a
 *   type that cannot show a 64×64 mode (max below 64, VRAM under 16 KiB, or
 *   under 32 KiB with `vram: 'half'`), or an unknown `vram`.
 */
export function edidModeFor(type: EdidModeLimits, requested?: EdidModeRequest, opts: EdidModeOptions = {}): EdidMode {
  const { maxXres, maxYres, memsize } = type;
  const vram = opts.vram ?? EDID_VRAM_DEFAULT;
  if (vram !== 'half' && vram !== 'full') throw new ConfigError(`EDID mode: vram must be half or full, not ${String(vram)}.`);
  if (!isU32(maxXres) || !isU32(maxYres)) throw new ConfigError('EDID mode: maxXres/maxYres must be u32 (0 = no limit).');
  if ((maxXres !== 0 && maxXres < EDID_MIN_MODE_SIDE) || (maxYres !== 0 && maxYres < EDID_MIN_MODE_SIDE)) {
    throw new ConfigError(`EDID mode: a maximum of ${maxXres}×${maxYres} leaves no room for the 64×64 minimum.`);
  }
  const minBytes = EDID_MIN_MODE_SIDE * EDID_MIN_MODE_SIDE * BYTES_PER_PIXEL;
  if (typeof memsize !== 'number' || !Number.isSafeInteger(memsize) || edidFramebufferLimit(memsize, vram) < minBytes) {
    const least = vram === 'full' ? `${minBytes} bytes (a 64×64 framebuffer)` : `${2 * minBytes} bytes (a 64×64 framebuffer in half of it)`;
    throw new ConfigError(`EDID mode: memsize must be an integer of at least ${least}, got ${String(memsize)}.`);
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
  const bytes = w * h * BYTES_PER_PIXEL;
  const half = edidFramebufferLimit(memsize, 'half');
  // The user's own mode, passing every hard limit: honoured, whatever the guests below 6.13 make of it.
  const honoured = requested !== undefined && why.length === 0 && bytes <= memsize;
  const limit = honoured ? memsize : edidFramebufferLimit(memsize, vram);
  if (bytes > limit) {
    ({ w, h } = shrinkToFit(w, h, Math.floor(limit / BYTES_PER_PIXEL)));
    why.push(limit === memsize
      ? `a 32 bpp framebuffer (width·height·4 bytes) must fit the ${formatBytes(memsize)} of VRAM`
      : `a 32 bpp framebuffer must fit half of the ${formatBytes(memsize)} of VRAM, all that bochs-drm up to Linux 6.12 accepts (edid-vram full allows all of it, for ${BOCHS_DRM_WHOLE_VRAM_RELEASE} and later)`);
  }
  const warning = vram === 'half' && w * h * BYTES_PER_PIXEL > half
    ? `${w}×${h} takes more than half of the ${formatBytes(memsize)} of VRAM: Linux bochs-drm up to 6.12 (drm_vram_helper_mode_valid) refuses it and picks another mode; ${BOCHS_DRM_WHOLE_VRAM_RELEASE} and later show it.`
    : undefined;
  const extra = warning !== undefined ? { warning } : {};

  if (w === start.width && h === start.height) return { width: w, height: h, clamped: false, ...extra };
  const what = requested ? `The requested ${start.width}×${start.height}` : `QEMU's default ${start.width}×${start.height}`;
  return { width: w, height: h, clamped: true, reason: `${what} became ${w}×${h} because ${why.join(', and ')}.`, ...extra };
}
