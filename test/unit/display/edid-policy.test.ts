/**
 * src/display/edid-policy.ts: the EDID mode per mbochs type (mbochs.c mbochs_types[]
 * max_x/max_y and VRAM, mbochs_check_framebuffer()'s 64×64 minimum, QEMU
 * hw/vfio/display.c vfio_display_edid_update()'s clamp and 1280×800 fallback).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MBOCHS_TYPES } from '../../../devices/mbochs/index.ts';
import { edidModeFor } from '../../../src/display/edid-policy.ts';
import { ConfigError } from '../../../src/util/errors.ts';
import { FC_SEED, fcParams } from '../devices/fc-seed.ts';

const MiB = 1 << 20;
const { small, medium, large } = MBOCHS_TYPES;

describe('default mode per mbochs type (QEMU fallback 1280×800, clamped)', () => {
  it('small: 800×600, clamped to its max_xres×max_yres, with the reason', () => {
    const m = edidModeFor(small);
    expect(m).toMatchObject({ width: 800, height: 600, clamped: true });
    expect(m.reason).toBe("QEMU's default 1280×800 became 800×600 because the type's max_xres×max_yres is 800×600.");
  });

  it('medium and large: 1280×800, unchanged', () => {
    expect(edidModeFor(medium)).toEqual({ width: 1280, height: 800, clamped: false });
    expect(edidModeFor(large)).toEqual({ width: 1280, height: 800, clamped: false });
  });
});

describe('requests', () => {
  it('2560×1600 on medium becomes 1920×1440 (per-axis clamp to max_xres/max_yres, as QEMU)', () => {
    const m = edidModeFor(medium, { width: 2560, height: 1600 });
    expect(m).toMatchObject({ width: 1920, height: 1440, clamped: true });
    expect(m.reason).toBe("The requested 2560×1600 became 1920×1440 because the type's max_xres×max_yres is 1920×1440.");
  });

  it('1920×1080 on small becomes 800×600', () => {
    const m = edidModeFor(small, { width: 1920, height: 1080 });
    expect(m).toMatchObject({ width: 800, height: 600, clamped: true });
    expect(m.reason).toContain('800×600');
  });

  it('only the axis over the maximum changes: 1024×500 on small becomes 800×500', () => {
    expect(edidModeFor(small, { width: 1024, height: 500 })).toMatchObject({ width: 800, height: 500, clamped: true });
  });

  it('large has no maximum, so only the DTD limit applies: 8192×8192 becomes 4095×4095 (which its 64 MiB holds)', () => {
    const m = edidModeFor(large, { width: 8192, height: 8192 });
    expect(m).toMatchObject({ width: 4095, height: 4095, clamped: true });
    expect(m.reason).toBe('The requested 8192×8192 became 4095×4095 because an EDID detailed timing holds at most 4095×4095.');
    expect(edidModeFor(large, { width: 2560, height: 1600 })).toEqual({ width: 2560, height: 1600, clamped: false });
  });

  it('below 64 a side is raised to the mbochs minimum', () => {
    const m = edidModeFor(medium, { width: 32, height: 480 });
    expect(m).toMatchObject({ width: 64, height: 480, clamped: true });
    expect(m.reason).toBe('The requested 32×480 became 64×480 because mbochs shows nothing smaller than 64×64.');
  });

  it(`on small every mode within the maximum fits its 4 MiB of VRAM, so none is clamped (seed ${FC_SEED})`, () => {
    fc.assert(
      fc.property(fc.integer({ min: 64, max: 800 }), fc.integer({ min: 64, max: 600 }), (width, height) => {
        expect(edidModeFor(small, { width, height })).toEqual({ width, height, clamped: false });
      }),
      fcParams(200),
    );
  });

  it('VRAM bound: with small\'s maximum but 1 MiB of VRAM, 800×600 shrinks keeping its aspect ratio until w·h·4 ≤ memsize', () => {
    const m = edidModeFor({ maxXres: 800, maxYres: 600, memsize: 1 * MiB }, { width: 800, height: 600 });
    expect(m.clamped).toBe(true);
    expect(m.width * m.height * 4).toBeLessThanOrEqual(MiB);
    expect(Math.abs(m.width / m.height - 4 / 3)).toBeLessThan(0.01);
    // As large as possible: one more line or column would not fit at that aspect.
    expect((m.width + 2) * (m.height + 1) * 4).toBeGreaterThan(MiB);
    expect(m.reason).toBe(
      `The requested 800×600 became ${m.width}×${m.height} because a 32 bpp framebuffer (width·height·4 bytes) must fit the 1 MiB of VRAM.`,
    );
  });

  it('several limits at once are all named in one sentence', () => {
    const m = edidModeFor({ maxXres: 0, maxYres: 0, memsize: 64 * 1024 }, { width: 5000, height: 20 });
    expect(m.width).toBeLessThanOrEqual(4095);
    expect(m.height).toBe(64);
    expect(m.width * m.height * 4).toBeLessThanOrEqual(64 * 1024);
    expect(m.reason).toMatch(/^The requested 5000×20 became \d+×64 because an EDID .*, and mbochs .*, and a 32 bpp .* 64 KiB of VRAM\.$/);
  });

  it(`any request on any mbochs type gives a mode inside every limit; an in-limit request is unchanged (seed ${FC_SEED})`, () => {
    fc.assert(
      fc.property(
        fc.constantFrom(small, medium, large),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 10_000 }),
        (type, width, height) => {
          const m = edidModeFor(type, { width, height });
          const inLimits = (w: number, h: number) =>
            w >= 64 && h >= 64 && w <= 4095 && h <= 4095 &&
            (type.maxXres === 0 || w <= type.maxXres) && (type.maxYres === 0 || h <= type.maxYres) &&
            w * h * 4 <= type.memsize;
          expect(inLimits(m.width, m.height)).toBe(true);
          expect(m.clamped).toBe(!inLimits(width, height));
          expect(m.reason !== undefined).toBe(m.clamped);
          if (!m.clamped) expect([m.width, m.height]).toEqual([width, height]);
        },
      ),
      fcParams(300),
    );
  });

  it('refuses malformed requests and types that cannot show 64×64, with ConfigError', () => {
    expect(() => edidModeFor(medium, { width: 0, height: 600 })).toThrow(ConfigError);
    expect(() => edidModeFor(medium, { width: 800.5, height: 600 })).toThrow(ConfigError);
    expect(() => edidModeFor({ maxXres: 32, maxYres: 32, memsize: MiB })).toThrow(ConfigError);
    expect(() => edidModeFor({ maxXres: 0, maxYres: 0, memsize: 1024 })).toThrow(ConfigError);
  });
});
