/**
 * An EDID 1.4 base-block generator (VESA E-EDID Release A, Revision 2), for
 * devices whose EDID region nobody else fills: over vfio-user QEMU's display
 * code does not run, so a guest's bochs-drm reads zeros and falls back to
 * 1024×768 unless the server loads a blob itself (docs/protocol.md
 * "QEMU's client"; QEMU hw/vfio/display.c vfio_display_edid_update()).
 *
 * The output is one 128-byte block, extension count 0, deterministic (no
 * clock, no randomness): the same options give the same bytes.
 *
 * | bytes   | content                                                           |
 * |---------|-------------------------------------------------------------------|
 * | 0–7     | header 00 FF FF FF FF FF FF 00                                    |
 * | 8–9     | manufacturer PNP id, three 5-bit letters ('A' = 1), big-endian    |
 * | 10–11   | product code, little-endian                                       |
 * | 12–15   | serial number (numeric `serial`, else 0), little-endian           |
 * | 16–17   | week 1 of 2024 (fixed: {@link EDID_MANUFACTURE_WEEK}/{@link EDID_MANUFACTURE_YEAR}) |
 * | 18–19   | version 1, revision 4                                             |
 * | 20      | 0xA0: digital input, 8 bits per colour, interface not defined     |
 * | 21–22   | screen size in cm at a fixed 96 dpi, or 0 × 0 (unknown) below 10 cm |
 * | 23      | gamma 2.2 (stored as 120)                                         |
 * | 24      | 0x07: RGB 4:4:4, sRGB default, preferred timing is native, continuous frequency |
 * | 25–34   | sRGB / D65 chromaticity                                           |
 * | 35–37   | established timings 640×480, 800×600, 1024×768 @ 60 Hz, each only if it fits inside the preferred mode |
 * | 38–53   | standard timings: all unused (01 01)                              |
 * | 54–71   | descriptor 1: detailed timing of the preferred mode (CVT reduced blanking) |
 * | 72–89   | descriptor 2: display range limits (tag 0xFD)                     |
 * | 90–107  | descriptor 3: monitor name (tag 0xFC)                             |
 * | 108–125 | descriptor 4: serial string (tag 0xFF) or dummy (tag 0x10)        |
 * | 126     | extension count 0                                                 |
 * | 127     | checksum: the block sums to 0 mod 256                             |
 *
 * Physical size: the display is virtual, so a size is made up from a fixed
 * 96 dpi (the common desktop default): mm = round(px · 25.4 / 96) in the
 * DTD, cm = round(mm / 10) in bytes 21–22. A made-up size keeps DPI-aware
 * guests at scale 1. Below 10 cm on either axis (edid-decode calls such a
 * size dubious) both are 0, "unknown" ({@link physicalSize}).
 *
 * Conformity: `edid-decode --check` (0.1~git20220315) reports "EDID
 * conformity: PASS" with no warnings for every size in 1..4095 × 1..4095
 * tried, including the corners; that is what the 10 MHz clock floor in
 * {@link cvtReducedBlanking} and the unknown-size rule in {@link physicalSize}
 * are for.
 */
import { ConfigError, assert } from '../util/errors.ts';

/** Size of one EDID block. */
export const EDID_BLOCK_SIZE = 128;
/** The fixed 8-byte EDID header. */
export const EDID_HEADER: readonly number[] = Object.freeze([0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00]);
/** Largest active width/height a detailed timing descriptor can hold (12-bit fields). */
export const EDID_DTD_MAX_ACTIVE = 4095;
/** Largest pixel clock a detailed timing descriptor can hold: 0xFFFF · 10 kHz = 655.35 MHz. */
export const EDID_DTD_MAX_PIXEL_CLOCK_10KHZ = 0xffff;
/** The density used to make up a physical size (see the module comment). */
export const EDID_DPI = 96;
/** Fixed week of manufacture (deterministic output). */
export const EDID_MANUFACTURE_WEEK = 1;
/** Fixed year of manufacture (deterministic output). */
export const EDID_MANUFACTURE_YEAR = 2024;
/** Refresh rate of the preferred mode when none is given. */
export const EDID_DEFAULT_REFRESH_HZ = 60;
/** Lowest refresh rate accepted (film rate; also the floor when 60 Hz is lowered for very large modes). */
export const EDID_MIN_REFRESH_HZ = 24;
/** Highest refresh rate accepted (CVT-RB needs frames well above its 460 µs minimum vertical blanking). */
export const EDID_MAX_REFRESH_HZ = 240;

export interface EdidOptions {
  /** Preferred (native) width in pixels, an integer in 1..4095. */
  readonly width: number;
  /** Preferred (native) height in pixels, an integer in 1..4095. */
  readonly height: number;
  /**
   * Refresh rate of the preferred mode in Hz (24..240). When omitted, 60 Hz,
   * lowered to the highest whole rate whose pixel clock fits the DTD's
   * 655.35 MHz (only very large modes: 4095×4095 gets 36 Hz). An
   * explicit rate that does not fit is refused.
   * @defaultValue 60
   */
  readonly refreshHz?: number;
  /**
   * Monitor name (descriptor tag 0xFC): 1..13 printable ASCII characters.
   * @defaultValue `'mdevsim'`
   */
  readonly name?: string;
  /**
   * A number (u32) goes into the ID serial number field (bytes 12–15); a
   * string (1..13 printable ASCII characters) becomes a serial-number
   * descriptor (tag 0xFF) in slot 4. Omitted: serial field 0, slot 4 dummy.
   */
  readonly serial?: number | string;
  /**
   * Three-letter PNP manufacturer id, 'A'..'Z' only.
   * @defaultValue `'MDS'`
   */
  readonly manufacturer?: string;
  /**
   * Product code, u16.
   * @defaultValue 1
   */
  readonly productCode?: number;
}

/** A detailed timing, in the units of an EDID detailed timing descriptor. */
export interface DetailedTiming {
  /** Pixel clock in 10 kHz units (1..65535). */
  readonly pixelClock10kHz: number;
  readonly hActive: number;
  /** Horizontal blanking = front porch + sync + back porch. */
  readonly hBlank: number;
  /** Horizontal front porch ("sync offset"). */
  readonly hFrontPorch: number;
  readonly hSync: number;
  readonly vActive: number;
  readonly vBlank: number;
  readonly vFrontPorch: number;
  readonly vSync: number;
  /** Image size in mm. */
  readonly hSizeMm: number;
  readonly vSizeMm: number;
  readonly hsyncPositive: boolean;
  readonly vsyncPositive: boolean;
}

/* CVT 1.2 reduced blanking (version 1) constants. */
const RB_H_BLANK = 160;
const RB_H_SYNC = 32;
const RB_H_FRONT_PORCH = 48;
const RB_V_FRONT_PORCH = 3;
const RB_MIN_V_BACK_PORCH = 6;
/** Minimum vertical blanking time in µs. */
const RB_MIN_V_BLANK_US = 460;
/** Pixel clock step: 0.25 MHz = 25 × 10 kHz. */
const CVT_CLOCK_STEP_10KHZ = 25;
/** Highest line rate a range-limits descriptor can state: 255 kHz + the 255 kHz offset. */
const MAX_LINE_RATE_KHZ = 510;
/** Slowest DTD pixel clock generated: 10 MHz (see {@link cvtReducedBlanking}). */
const MIN_PIXEL_CLOCK_10KHZ = 1000;

/**
 * CVT vertical sync width by aspect ratio: 4:3 → 4, 16:9 → 5, 16:10 → 6,
 * 5:4 and 15:9 → 7, anything else → 10 (the width tells a source which
 * aspect ratio a CVT mode has).
 */
function cvtVsyncWidth(width: number, height: number): number {
  const is = (num: number, den: number) => height % den === 0 && (height / den) * num === width;
  if (is(4, 3)) return 4;
  if (is(16, 9)) return 5;
  if (is(16, 10)) return 6;
  if (is(5, 4) || is(15, 9)) return 7;
  return 10;
}

/** Smallest screen dimension (cm) reported; edid-decode calls anything smaller dubious. */
const MIN_SCREEN_CM = 10;

/**
 * Physical size at {@link EDID_DPI}: the DTD image size in mm (round(px ·
 * 25.4 / 96)) and the screen size in cm (round(mm / 10)). When either screen
 * dimension would be under 10 cm (below about 360 px) the size is reported
 * as unknown instead: 0 cm and 0 mm everywhere (EDID 1.4 allows 0 × 0, and
 * image and screen sizes must agree).
 */
export function physicalSize(width: number, height: number): { hMm: number; vMm: number; hCm: number; vCm: number } {
  const hMm = Math.round((width * 25.4) / EDID_DPI);
  const vMm = Math.round((height * 25.4) / EDID_DPI);
  const hCm = Math.round(hMm / 10);
  const vCm = Math.round(vMm / 10);
  if (hCm < MIN_SCREEN_CM || vCm < MIN_SCREEN_CM || hCm > 255 || vCm > 255) return { hMm: 0, vMm: 0, hCm: 0, vCm: 0 };
  return { hMm, vMm, hCm, vCm };
}

/**
 * CVT reduced-blanking timing for width×height at refreshHz (VESA CVT 1.2,
 * RB v1): h blank 160 (front porch 48, sync 32, back porch 80); v front
 * porch 3, sync by aspect ratio, back porch ≥ 6, vertical blanking ≥ 460 µs;
 * pixel clock rounded down to a 0.25 MHz step; +hsync −vsync. The active
 * size is used as given (CVT would round the width down to a multiple of 8;
 * an EDID preferred mode must be exactly the requested size).
 *
 * One departure, for small modes only: a pixel clock under 10 MHz is raised
 * to 10 MHz (edid-decode rejects slower DTDs as "invalid data"), and the
 * extra time goes into the horizontal back porch (and, if that would pass
 * the 12-bit blanking field, the vertical back porch), keeping the refresh
 * rate. Front porches and sync widths stay CVT-RB.
 *
 * The pixel clock may exceed what a DTD holds; {@link generateEdid} checks.
 */
export function cvtReducedBlanking(width: number, height: number, refreshHz: number): DetailedTiming {
  const vSync = cvtVsyncWidth(width, height);
  // VBI_LINES = floor(RB_MIN_V_BLANK / H_PERIOD_EST) + 1 with
  // H_PERIOD_EST = (1e6 / refresh − RB_MIN_V_BLANK) / V_LINES, rearranged so
  // that integer refresh rates stay in exact integer arithmetic.
  const vbiLines = Math.floor((RB_MIN_V_BLANK_US * height * refreshHz) / (1e6 - RB_MIN_V_BLANK_US * refreshHz)) + 1;
  let vBlank = Math.max(vbiLines, RB_V_FRONT_PORCH + vSync + RB_MIN_V_BACK_PORCH);
  let hBlank = RB_H_BLANK;
  const steps = Math.floor((refreshHz * (width + hBlank) * (height + vBlank)) / (CVT_CLOCK_STEP_10KHZ * 10_000));
  let pixelClock10kHz = steps * CVT_CLOCK_STEP_10KHZ;
  if (pixelClock10kHz < MIN_PIXEL_CLOCK_10KHZ) {
    pixelClock10kHz = MIN_PIXEL_CLOCK_10KHZ;
    const pixelsPerFrame = (MIN_PIXEL_CLOCK_10KHZ * 10_000) / refreshHz;
    const maxHTotal = width + EDID_DTD_MAX_ACTIVE;
    let vTotal = height + vBlank;
    if (pixelsPerFrame / vTotal > maxHTotal) vTotal = Math.ceil(pixelsPerFrame / maxHTotal);
    vBlank = vTotal - height;
    // At least width + 160: the CVT frame at this rate held fewer than pixelsPerFrame pixels.
    hBlank = Math.min(maxHTotal, Math.round(pixelsPerFrame / vTotal)) - width;
  }
  const size = physicalSize(width, height);
  return {
    pixelClock10kHz,
    hActive: width,
    hBlank,
    hFrontPorch: RB_H_FRONT_PORCH,
    hSync: RB_H_SYNC,
    vActive: height,
    vBlank,
    vFrontPorch: RB_V_FRONT_PORCH,
    vSync,
    hSizeMm: size.hMm,
    vSizeMm: size.vMm,
    hsyncPositive: true,
    vsyncPositive: false,
  };
}

/** Frame and line rates of a timing: vertical in Hz, horizontal in kHz. */
function rates(clock10kHz: number, hTotal: number, vTotal: number): { vHz: number; hKHz: number } {
  const hz = clock10kHz * 10_000;
  return { vHz: hz / (hTotal * vTotal), hKHz: hz / hTotal / 1000 };
}

/** An established timing (bytes 35–36) with its VESA DMT figures, for the range limits. */
interface Established {
  readonly width: number;
  readonly height: number;
  readonly byte: number;
  readonly bit: number;
  readonly clock10kHz: number;
  readonly hTotal: number;
  readonly vTotal: number;
}

/** VESA DMT 640×480@60 (25.175 MHz), 800×600@60 (40 MHz), 1024×768@60 (65 MHz). */
const ESTABLISHED: readonly Established[] = [
  { width: 640, height: 480, byte: 35, bit: 5, clock10kHz: 2518, hTotal: 800, vTotal: 525 },
  { width: 800, height: 600, byte: 35, bit: 0, clock10kHz: 4000, hTotal: 1056, vTotal: 628 },
  { width: 1024, height: 768, byte: 36, bit: 3, clock10kHz: 6500, hTotal: 1344, vTotal: 806 },
];

function checkText(what: string, s: unknown): string {
  if (typeof s !== 'string' || s.length < 1 || s.length > 13 || !/^[\x20-\x7e]+$/.test(s)) {
    throw new ConfigError(`EDID ${what} must be 1 to 13 printable ASCII characters, got ${JSON.stringify(s)}.`);
  }
  return s;
}

function checkInt(what: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(`EDID ${what} must be an integer in ${min}..${max}, got ${String(v)}.`);
  }
  return v;
}

/** Manufacturer id: three letters A..Z, 5 bits each ('A' = 1), bit 15 zero, stored big-endian. */
export function encodeManufacturerId(id: string): number {
  if (typeof id !== 'string' || !/^[A-Z]{3}$/.test(id)) {
    throw new ConfigError(`EDID manufacturer must be a three-letter PNP id in A-Z, got ${JSON.stringify(id)}.`);
  }
  const l = (i: number) => id.charCodeAt(i) - 0x40;
  return (l(0) << 10) | (l(1) << 5) | l(2);
}

/** Write an 18-byte detailed timing descriptor at `at`. */
export function encodeDetailedTiming(out: Uint8Array, at: number, t: DetailedTiming): void {
  const fits = (v: number, bits: number) => Number.isInteger(v) && v >= 0 && v < 2 ** bits;
  assert(fits(t.pixelClock10kHz, 16) && t.pixelClock10kHz > 0, 'DTD pixel clock is 16-bit and non-zero');
  assert(fits(t.hActive, 12) && fits(t.hBlank, 12) && fits(t.vActive, 12) && fits(t.vBlank, 12), 'DTD active/blank are 12-bit');
  assert(fits(t.hFrontPorch, 10) && fits(t.hSync, 10) && fits(t.vFrontPorch, 6) && fits(t.vSync, 6), 'DTD sync fields are 10/6-bit');
  assert(fits(t.hSizeMm, 12) && fits(t.vSizeMm, 12), 'DTD image size is 12-bit');
  const d = out.subarray(at, at + 18);
  d[0] = t.pixelClock10kHz & 0xff;
  d[1] = t.pixelClock10kHz >> 8;
  d[2] = t.hActive & 0xff;
  d[3] = t.hBlank & 0xff;
  d[4] = ((t.hActive >> 8) << 4) | (t.hBlank >> 8);
  d[5] = t.vActive & 0xff;
  d[6] = t.vBlank & 0xff;
  d[7] = ((t.vActive >> 8) << 4) | (t.vBlank >> 8);
  d[8] = t.hFrontPorch & 0xff;
  d[9] = t.hSync & 0xff;
  d[10] = ((t.vFrontPorch & 0x0f) << 4) | (t.vSync & 0x0f);
  d[11] = ((t.hFrontPorch >> 8) << 6) | ((t.hSync >> 8) << 4) | ((t.vFrontPorch >> 4) << 2) | (t.vSync >> 4);
  d[12] = t.hSizeMm & 0xff;
  d[13] = t.vSizeMm & 0xff;
  d[14] = ((t.hSizeMm >> 8) << 4) | (t.vSizeMm >> 8);
  d[15] = 0; // no borders
  d[16] = 0;
  // Non-interlaced, no stereo, digital separate sync (bits 4–3 = 11), polarities in bits 2 (V) and 1 (H).
  d[17] = 0x18 | (t.vsyncPositive ? 0x04 : 0) | (t.hsyncPositive ? 0x02 : 0);
}

/** A display descriptor: 00 00 00 tag 00, then 13 bytes. */
function displayDescriptor(out: Uint8Array, at: number, tag: number, data: ArrayLike<number>): void {
  assert(data.length <= 13, 'display descriptor payload is 13 bytes');
  out.fill(0, at, at + 18);
  out[at + 3] = tag;
  out.set(data, at + 5);
}

/** Text descriptor payload: the text, then 0x0A, then spaces to 13 bytes. */
function textPayload(s: string): number[] {
  const bytes = Array.from(s, (c) => c.charCodeAt(0));
  if (bytes.length < 13) bytes.push(0x0a);
  while (bytes.length < 13) bytes.push(0x20);
  return bytes;
}

/**
 * Pick the refresh rate and timing: the requested rate, or 60 Hz lowered
 * until the pixel clock fits a DTD.
 */
function preferredTiming(width: number, height: number, refreshHz: number | undefined): DetailedTiming {
  if (refreshHz !== undefined) {
    if (typeof refreshHz !== 'number' || !Number.isFinite(refreshHz) || refreshHz < EDID_MIN_REFRESH_HZ || refreshHz > EDID_MAX_REFRESH_HZ) {
      throw new ConfigError(`EDID refreshHz must be a number in ${EDID_MIN_REFRESH_HZ}..${EDID_MAX_REFRESH_HZ}, got ${String(refreshHz)}.`);
    }
    const t = cvtReducedBlanking(width, height, refreshHz);
    if (t.pixelClock10kHz > EDID_DTD_MAX_PIXEL_CLOCK_10KHZ) {
      throw new ConfigError(
        `EDID: ${width}×${height} at ${refreshHz} Hz needs a ${t.pixelClock10kHz / 100} MHz pixel clock, above the 655.35 MHz a detailed timing can hold; ask for a lower refreshHz.`,
      );
    }
    const lineKHz = rates(t.pixelClock10kHz, t.hActive + t.hBlank, t.vActive + t.vBlank).hKHz;
    if (lineKHz > MAX_LINE_RATE_KHZ) {
      throw new ConfigError(
        `EDID: ${width}×${height} at ${refreshHz} Hz needs a ${Math.ceil(lineKHz)} kHz line rate, above the ${MAX_LINE_RATE_KHZ} kHz a range-limits descriptor can state; ask for a lower refreshHz.`,
      );
    }
    return t;
  }
  for (let hz = EDID_DEFAULT_REFRESH_HZ; hz >= EDID_MIN_REFRESH_HZ; hz--) {
    const t = cvtReducedBlanking(width, height, hz);
    if (t.pixelClock10kHz <= EDID_DTD_MAX_PIXEL_CLOCK_10KHZ) return t;
  }
  // 4095×4095 at 24 Hz needs about 420 MHz, so every allowed size fits.
  throw new Error(`assertion failed: no refresh rate fits ${width}×${height}`);
}

/**
 * Generate an EDID 1.4 base block for a display whose preferred (native)
 * mode is width×height (see the module comment for the layout).
 * @throws ConfigError for a width/height outside 1..4095 (the DTD's 12-bit
 *   fields), a bad name, serial, manufacturer, product code or refresh rate.
 */
export function generateEdid(opts: EdidOptions): Uint8Array {
  const width = checkInt('width', opts.width, 1, EDID_DTD_MAX_ACTIVE);
  const height = checkInt('height', opts.height, 1, EDID_DTD_MAX_ACTIVE);
  const name = checkText('name', opts.name ?? 'mdevsim');
  const manufacturer = encodeManufacturerId(opts.manufacturer ?? 'MDS');
  const productCode = checkInt('productCode', opts.productCode ?? 1, 0, 0xffff);
  const serial = opts.serial;
  const serialNumber = typeof serial === 'string' || serial === undefined ? 0 : checkInt('serial', serial, 0, 0xffff_ffff);
  const serialString = typeof serial === 'string' ? checkText('serial', serial) : undefined;
  const dtd = preferredTiming(width, height, opts.refreshHz);

  const e = new Uint8Array(EDID_BLOCK_SIZE);
  e.set(EDID_HEADER, 0);
  e[8] = manufacturer >> 8;
  e[9] = manufacturer & 0xff;
  e[10] = productCode & 0xff;
  e[11] = productCode >> 8;
  for (let i = 0; i < 4; i++) e[12 + i] = Math.floor(serialNumber / 2 ** (8 * i)) & 0xff;
  e[16] = EDID_MANUFACTURE_WEEK;
  e[17] = EDID_MANUFACTURE_YEAR - 1990;
  e[18] = 1;
  e[19] = 4;

  // Basic display parameters.
  e[20] = 0x80 | (0b010 << 4) | 0x0; // digital, 8 bpc, interface not defined
  const size = physicalSize(width, height);
  e[21] = size.hCm;
  e[22] = size.vCm;
  e[23] = 120; // gamma 2.2 = (120 + 100) / 100
  e[24] = 0x04 | 0x02 | 0x01; // sRGB default, preferred timing is native, continuous frequency; no DPMS, RGB 4:4:4

  // Chromaticity: sRGB primaries and D65 white, 10-bit binary fractions.
  const chroma = [0.64, 0.33, 0.3, 0.6, 0.15, 0.06, 0.3127, 0.329].map((v) => Math.round(v * 1024));
  const [rx, ry, gx, gy, bx, by, wx, wy] = chroma as [number, number, number, number, number, number, number, number];
  e[25] = ((rx & 3) << 6) | ((ry & 3) << 4) | ((gx & 3) << 2) | (gy & 3);
  e[26] = ((bx & 3) << 6) | ((by & 3) << 4) | ((wx & 3) << 2) | (wy & 3);
  [rx, ry, gx, gy, bx, by, wx, wy].forEach((v, i) => (e[27 + i] = v >> 2));

  // Established timings that fit inside the preferred mode.
  const established = ESTABLISHED.filter((m) => m.width <= width && m.height <= height);
  for (const m of established) e[m.byte]! |= 1 << m.bit;
  // Standard timings: all unused.
  e.fill(0x01, 38, 54);

  // Descriptor 1: the preferred mode.
  encodeDetailedTiming(e, 54, dtd);

  // Descriptor 2: range limits enclosing every advertised timing, widened to
  // at least 50–75 Hz vertical and down to 30 kHz horizontal.
  const all = [
    { clock: dtd.pixelClock10kHz, ...rates(dtd.pixelClock10kHz, dtd.hActive + dtd.hBlank, dtd.vActive + dtd.vBlank) },
    ...established.map((m) => ({ clock: m.clock10kHz, ...rates(m.clock10kHz, m.hTotal, m.vTotal) })),
  ];
  const vMin = Math.max(1, Math.min(50, Math.floor(Math.min(...all.map((r) => r.vHz)))));
  const vMax = Math.max(75, Math.ceil(Math.max(...all.map((r) => r.vHz))));
  const hMin = Math.max(1, Math.min(30, Math.floor(Math.min(...all.map((r) => r.hKHz)))));
  const hMax = Math.max(hMin + 1, Math.ceil(Math.max(...all.map((r) => r.hKHz))));
  const maxClock10MHz = Math.ceil(Math.max(...all.map((r) => r.clock)) / 1000);
  assert(vMax <= 255 && hMax <= MAX_LINE_RATE_KHZ && maxClock10MHz <= 255, 'range limits fit their bytes');
  // Byte 4 holds the rate-offset flags, so the payload is written field by field.
  displayDescriptor(e, 72, 0xfd, []);
  e[72 + 4] = hMax > 255 ? 0x08 : 0x00; // bits 3–2 = 10: max horizontal rate is stored − 255 kHz
  e[72 + 5] = vMin;
  e[72 + 6] = vMax;
  e[72 + 7] = hMin;
  e[72 + 8] = hMax > 255 ? hMax - 255 : hMax;
  e[72 + 9] = maxClock10MHz;
  e[72 + 10] = 0x01; // range limits only: no secondary GTF/CVT formula
  e[72 + 11] = 0x0a;
  e.fill(0x20, 72 + 12, 72 + 18);

  // Descriptor 3: monitor name. Descriptor 4: serial string or dummy.
  displayDescriptor(e, 90, 0xfc, textPayload(name));
  if (serialString !== undefined) displayDescriptor(e, 108, 0xff, textPayload(serialString));
  else displayDescriptor(e, 108, 0x10, []);

  e[126] = 0; // no extensions
  let sum = 0;
  for (let i = 0; i < 127; i++) sum += e[i]!;
  e[127] = (256 - (sum & 0xff)) & 0xff;
  return e;
}
