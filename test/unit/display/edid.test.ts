/**
 * src/display/edid.ts against VESA E-EDID Release A Rev. 2 (EDID 1.4). The
 * expected bytes and the decoder below are written from the standard's
 * tables (§3.1–§3.10), not from the generator.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateEdid } from '../../../src/display/edid.ts';
import { ConfigError } from '../../../src/util/errors.ts';
import { edidPreferredMode } from '../../support/guest/bochs-drm.ts';
import { FC_SEED, fcParams } from '../devices/fc-seed.ts';

/* ---- An independent decoder, from the EDID 1.4 tables ---- */

/** Table 3.21: an 18-byte detailed timing descriptor. */
function decodeDtd(e: Uint8Array, at: number) {
  const b = (i: number) => e[at + i]!;
  return {
    pixelClockKHz: (b(0) | (b(1) << 8)) * 10,
    hActive: b(2) | ((b(4) >> 4) << 8),
    hBlank: b(3) | ((b(4) & 0x0f) << 8),
    vActive: b(5) | ((b(7) >> 4) << 8),
    vBlank: b(6) | ((b(7) & 0x0f) << 8),
    hFrontPorch: b(8) | (((b(11) >> 6) & 3) << 8),
    hSync: b(9) | (((b(11) >> 4) & 3) << 8),
    vFrontPorch: (b(10) >> 4) | (((b(11) >> 2) & 3) << 4),
    vSync: (b(10) & 0x0f) | ((b(11) & 3) << 4),
    hSizeMm: b(12) | ((b(14) >> 4) << 8),
    vSizeMm: b(13) | ((b(14) & 0x0f) << 8),
    hBorder: b(15),
    vBorder: b(16),
    flags: b(17),
  };
}

/** Table 3.26: display range limits (tag 0xFD), with the rate offsets of byte 4. */
function decodeRangeLimits(e: Uint8Array, at: number) {
  const b = (i: number) => e[at + i]!;
  const hOff = (b(4) >> 2) & 3;
  const vOff = b(4) & 3;
  return {
    tag: b(3),
    vMin: b(5) + (vOff === 3 ? 255 : 0),
    vMax: b(6) + (vOff >= 2 ? 255 : 0),
    hMinKHz: b(7) + (hOff === 3 ? 255 : 0),
    hMaxKHz: b(8) + (hOff >= 2 ? 255 : 0),
    maxPixelClockMHz: b(9) * 10,
    timingSupport: b(10),
  };
}

/** §3.4.1: three 5-bit letters, 'A' = 00001, big-endian. */
function decodeManufacturer(e: Uint8Array): string {
  const v = (e[8]! << 8) | e[9]!;
  return [10, 5, 0].map((s) => String.fromCharCode(0x40 + ((v >> s) & 0x1f))).join('');
}

/** Table 3.27/3.28: a text descriptor's 13 bytes, up to the 0x0A terminator. */
function descriptorText(e: Uint8Array, at: number): string {
  const raw = Array.from(e.subarray(at + 5, at + 18));
  const end = raw.indexOf(0x0a);
  return String.fromCharCode(...(end < 0 ? raw : raw.slice(0, end)));
}

function sum(e: Uint8Array): number {
  return e.reduce((a, v) => (a + v) & 0xff, 0);
}

function refreshHz(d: ReturnType<typeof decodeDtd>): number {
  return (d.pixelClockKHz * 1000) / ((d.hActive + d.hBlank) * (d.vActive + d.vBlank));
}

function lineRateKHz(d: ReturnType<typeof decodeDtd>): number {
  return d.pixelClockKHz / (d.hActive + d.hBlank);
}

const HEADER = [0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00];

describe('EDID 1.4 base block structure', () => {
  const e = generateEdid({ width: 1280, height: 800 });

  it('is 128 bytes: header, version 1.4 at bytes 18–19, no extensions, checksum to 0 mod 256', () => {
    expect(e.length).toBe(128);
    expect(Array.from(e.subarray(0, 8))).toEqual(HEADER);
    expect([e[18], e[19]]).toEqual([1, 4]);
    expect(e[126]).toBe(0);
    expect(sum(e)).toBe(0);
  });

  it("packs the manufacturer id 'MDS' as 0x34 0x93 (M=13, D=4, S=19 in 5-bit fields, bit 15 zero)", () => {
    expect([e[8], e[9]]).toEqual([0x34, 0x93]);
    expect(decodeManufacturer(e)).toBe('MDS');
    const other = generateEdid({ width: 1280, height: 800, manufacturer: 'AZZ' });
    // A=1, Z=26: 0 00001 11010 11010 = 0x075A
    expect([other[8], other[9]]).toEqual([0x07, 0x5a]);
    expect(decodeManufacturer(other)).toBe('AZZ');
  });

  it('stores product code and numeric serial little-endian; week/year are fixed', () => {
    const x = generateEdid({ width: 1280, height: 800, productCode: 0xbeef, serial: 0x12345678 });
    expect([x[10], x[11]]).toEqual([0xef, 0xbe]);
    expect(Array.from(x.subarray(12, 16))).toEqual([0x78, 0x56, 0x34, 0x12]);
    expect([e[10], e[11]]).toEqual([1, 0]); // default product code 1
    expect(Array.from(e.subarray(12, 16))).toEqual([0, 0, 0, 0]);
    expect(e[16]).toBeGreaterThanOrEqual(1);
    expect(e[16]).toBeLessThanOrEqual(54);
    expect(e[17]! + 1990).toBe(2024);
  });

  it('basic display parameters: digital 8 bpc, gamma 2.2, size in cm matching the DTD, feature bits', () => {
    expect(e[20]! & 0x80).toBe(0x80); // digital
    expect((e[20]! >> 4) & 7).toBe(0b010); // 8 bits per primary
    expect(e[23]).toBe(120); // (2.2 × 100) − 100
    const dtd = decodeDtd(e, 54);
    expect(e[21]).toBe(Math.round(dtd.hSizeMm / 10));
    expect(e[22]).toBe(Math.round(dtd.vSizeMm / 10));
    // 96 dpi: 1280 px = 338.7 mm, 800 px = 211.7 mm
    expect([dtd.hSizeMm, dtd.vSizeMm]).toEqual([339, 212]);
    expect(e[24]! & 0x02).toBe(0x02); // preferred timing mode includes native format and rate
    expect(e[24]! & 0x01).toBe(0x01); // continuous frequency (a range-limits descriptor is required)
    expect((e[24]! >> 3) & 3).toBe(0); // RGB 4:4:4
  });

  it('chromaticity is sRGB with a D65 white point (the canonical EE 91 A3 54 4C 99 26 0F 50 54)', () => {
    expect(Array.from(e.subarray(25, 35))).toEqual([0xee, 0x91, 0xa3, 0x54, 0x4c, 0x99, 0x26, 0x0f, 0x50, 0x54]);
    expect(e[24]! & 0x04).toBe(0x04); // sRGB is the default colour space
  });

  it('established timings are those that fit inside the preferred mode; standard timings are unused', () => {
    const est = (w: number, h: number) => Array.from(generateEdid({ width: w, height: h }).subarray(35, 38));
    // byte 35 bit 5 = 640×480@60, bit 0 = 800×600@60; byte 36 bit 3 = 1024×768@60
    expect(est(1280, 800)).toEqual([0x21, 0x08, 0x00]);
    expect(est(1024, 768)).toEqual([0x21, 0x08, 0x00]);
    expect(est(800, 600)).toEqual([0x21, 0x00, 0x00]);
    expect(est(1023, 768)).toEqual([0x21, 0x00, 0x00]);
    expect(est(640, 480)).toEqual([0x20, 0x00, 0x00]);
    expect(est(639, 2000)).toEqual([0x00, 0x00, 0x00]);
    expect(Array.from(e.subarray(38, 54))).toEqual(new Array(16).fill(0x01));
  });

  it('descriptor 1 is the DMT 1280×800@60 reduced-blanking timing (71 MHz, 1440×823, +H −V, digital separate sync)', () => {
    expect(decodeDtd(e, 54)).toEqual({
      pixelClockKHz: 71_000,
      hActive: 1280, hBlank: 160, hFrontPorch: 48, hSync: 32,
      vActive: 800, vBlank: 23, vFrontPorch: 3, vSync: 6,
      hSizeMm: 339, vSizeMm: 212, hBorder: 0, vBorder: 0,
      flags: 0x1a, // not interlaced, no stereo, digital separate (11), vsync −, hsync +
    });
  });

  it('1920×1080 is the DMT CVT-RB timing (138.5 MHz, 2080×1111, vsync 5 for 16:9)', () => {
    const d = decodeDtd(generateEdid({ width: 1920, height: 1080 }), 54);
    expect([d.pixelClockKHz, d.hActive + d.hBlank, d.vActive + d.vBlank]).toEqual([138_500, 2080, 1111]);
    expect([d.hFrontPorch, d.hSync, d.vFrontPorch, d.vSync]).toEqual([48, 32, 3, 5]);
  });

  it('12-bit fields split across the shared nibble bytes exactly (0xABC × 0x9DE)', () => {
    const x = generateEdid({ width: 0xabc, height: 0x9de });
    expect(x[56]).toBe(0xbc); // h active low 8
    expect(x[58]! >> 4).toBe(0xa); // h active high 4, upper nibble of byte 4
    expect(x[57]).toBe(160); // h blank low 8
    expect(x[58]! & 0x0f).toBe(0); // h blank high 4
    expect(x[59]).toBe(0xde);
    expect(x[61]! >> 4).toBe(0x9);
    const d = decodeDtd(x, 54);
    expect([d.hActive, d.vActive]).toEqual([0xabc, 0x9de]);
    // image size 2748 px → 727 mm = 0x2D7, 2526 px → 668 mm = 0x29C: high nibbles in byte 14
    expect([x[66], x[67], x[68]]).toEqual([0xd7, 0x9c, 0x22]);
  });

  it('descriptor 2 is range limits (0xFD) covering the DTD: rates inside, max pixel clock ≥ the DTD clock', () => {
    for (const [w, h] of [[1280, 800], [64, 64], [4095, 4095], [64, 4095], [4095, 64]] as const) {
      const x = generateEdid({ width: w, height: h });
      expect(Array.from(x.subarray(72, 75))).toEqual([0, 0, 0]);
      const r = decodeRangeLimits(x, 72);
      const d = decodeDtd(x, 54);
      expect(r.tag).toBe(0xfd);
      expect(r.maxPixelClockMHz * 1000).toBeGreaterThanOrEqual(d.pixelClockKHz);
      expect(refreshHz(d)).toBeGreaterThanOrEqual(r.vMin);
      expect(refreshHz(d)).toBeLessThanOrEqual(r.vMax);
      expect(lineRateKHz(d)).toBeGreaterThanOrEqual(r.hMinKHz);
      expect(lineRateKHz(d)).toBeLessThanOrEqual(r.hMaxKHz);
      expect(r.timingSupport).toBe(0x01); // range limits only
    }
  });

  it("descriptor 3 is the monitor name (0xFC): text, 0x0A, space padding; 13 characters fill it with no terminator", () => {
    expect(Array.from(e.subarray(90, 95))).toEqual([0, 0, 0, 0xfc, 0]);
    expect(Array.from(e.subarray(95, 108))).toEqual([...Buffer.from('mdevsim'), 0x0a, 0x20, 0x20, 0x20, 0x20, 0x20]);
    const x = generateEdid({ width: 800, height: 600, name: 'ABCDEFGHIJKLM' });
    expect(descriptorText(x, 90)).toBe('ABCDEFGHIJKLM');
    expect(x.subarray(95, 108).includes(0x0a)).toBe(false);
  });

  it('descriptor 4 is a dummy (0x10) by default, a serial string (0xFF) when serial is a string', () => {
    expect(Array.from(e.subarray(108, 126))).toEqual([0, 0, 0, 0x10, ...new Array(14).fill(0)]);
    const x = generateEdid({ width: 800, height: 600, serial: 'SN-42' });
    expect(x[111]).toBe(0xff);
    expect(descriptorText(x, 108)).toBe('SN-42');
    expect(sum(x)).toBe(0);
  });

  it('is deterministic: same options, same bytes', () => {
    expect(generateEdid({ width: 1280, height: 800 })).toEqual(e);
  });

  it('an explicit refresh rate is used; the default 60 Hz is lowered only when the pixel clock would pass 655.35 MHz', () => {
    const at75 = decodeDtd(generateEdid({ width: 1280, height: 800, refreshHz: 75 }), 54);
    expect(Math.round(refreshHz(at75))).toBe(75);
    const big = decodeDtd(generateEdid({ width: 4095, height: 4095 }), 54);
    expect(big.pixelClockKHz).toBeLessThanOrEqual(655_350);
    expect(refreshHz(big)).toBeLessThan(60);
    expect(refreshHz(big)).toBeGreaterThan(24);
    expect(() => generateEdid({ width: 4095, height: 4095, refreshHz: 60 })).toThrow(ConfigError);
  });

  it('refuses what an EDID cannot carry, with ConfigError', () => {
    const bad = [
      { width: 4096, height: 800 },
      { width: 1280, height: 4096 },
      { width: 0, height: 800 },
      { width: 1280.5, height: 800 },
      { width: 1280, height: 800, manufacturer: 'mds' },
      { width: 1280, height: 800, manufacturer: 'MDSX' },
      { width: 1280, height: 800, name: 'ABCDEFGHIJKLMN' },
      { width: 1280, height: 800, name: '' },
      { width: 1280, height: 800, name: 'caf\u00e9' },
      { width: 1280, height: 800, serial: -1 },
      { width: 1280, height: 800, serial: 2 ** 32 },
      { width: 1280, height: 800, productCode: 0x10000 },
      { width: 1280, height: 800, refreshHz: 500 },
    ];
    for (const opts of bad) expect(() => generateEdid(opts), JSON.stringify(opts)).toThrow(ConfigError);
  });
});

describe(`EDID generator properties (seed ${FC_SEED})`, () => {
  it('for any width/height in 64..4095: checksum 0, the DTD decodes to the request, bochs-drm prefers the request, range limits cover it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 64, max: 4095 }), fc.integer({ min: 64, max: 4095 }), (width, height) => {
        const e = generateEdid({ width, height });
        expect(e.length).toBe(128);
        expect(sum(e)).toBe(0);
        const d = decodeDtd(e, 54);
        expect([d.hActive, d.vActive]).toEqual([width, height]);
        expect(d.pixelClockKHz).toBeGreaterThan(0);
        expect(d.hFrontPorch + d.hSync).toBeLessThanOrEqual(d.hBlank);
        expect(d.vFrontPorch + d.vSync).toBeLessThanOrEqual(d.vBlank);
        expect(edidPreferredMode(e)).toEqual({ hdisplay: width, vdisplay: height });
        const r = decodeRangeLimits(e, 72);
        expect(r.maxPixelClockMHz * 1000).toBeGreaterThanOrEqual(d.pixelClockKHz);
        expect(lineRateKHz(d)).toBeLessThanOrEqual(r.hMaxKHz);
        expect(refreshHz(d)).toBeGreaterThanOrEqual(r.vMin);
      }),
      fcParams(500),
    );
  });
});
