/**
 * src/display/edid-policy.ts: the EDID mode per mbochs type (mbochs.c mbochs_types[]
 * max_x/max_y and VRAM, mbochs_check_framebuffer()'s 64×64 minimum, QEMU
 * hw/vfio/display.c vfio_display_edid_update()'s clamp and 1280×800 fallback,
 * and the VRAM check of the guest's bochs-drm: half of VRAM up to Linux 6.12,
 * drm_gem_vram_helper.c drm_vram_helper_mode_valid(); all of it from 6.13,
 * drivers/gpu/drm/tiny/bochs.c bochs_mode_config_mode_valid()).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MBOCHS_TYPES } from '../../../devices/mbochs/index.ts';
import { edidFramebufferLimit, edidModeFor, type EdidVram } from '../../../src/display/edid-policy.ts';
import { generateEdid } from '../../../src/display/edid.ts';
import { loadEdid } from '../../../src/display/edid-link.ts';
import { InstanceBudget } from '../../../devices/common/budget.ts';
import { MbochsDevice } from '../../../devices/mbochs/index.ts';
import { ConfigError } from '../../../src/util/errors.ts';
import { bootBochsDrm } from '../../support/guest/bochs-drm.ts';
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
  it("2560×1600 on medium: clamped per axis to max_xres/max_yres as QEMU does, then, as the policy's own pick, to half of its 16 MiB (1920×1440 would not fit Linux 6.12 bochs-drm's drm_vram_helper_mode_valid); with vram full, 1920×1440", () => {
    const m = edidModeFor(medium, { width: 2560, height: 1600 });
    expect(m).toEqual({
      width: 1672, height: 1254, clamped: true,
      reason: "The requested 2560×1600 became 1672×1254 because the type's max_xres×max_yres is 1920×1440, and a 32 bpp framebuffer must fit half of the 16 MiB of VRAM, all that bochs-drm up to Linux 6.12 accepts (edid-vram full allows all of it, for 6.13 and later).",
    });
    expect(edidModeFor(medium, { width: 2560, height: 1600 }, { vram: 'full' })).toEqual({
      width: 1920, height: 1440, clamped: true, reason: "The requested 2560×1600 became 1920×1440 because the type's max_xres×max_yres is 1920×1440.",
    });
  });

  it('an exact request above half of VRAM is honoured with a warning naming Linux bochs-drm up to 6.12 (drm_vram_helper_mode_valid), which refuses it: 1920×1440 and 1920×1200 on medium; 1920×1080 fits half and has none; vram full drops the warning', () => {
    for (const [width, height] of [[1920, 1440], [1920, 1200]] as const) {
      expect(edidModeFor(medium, { width, height })).toEqual({
        width, height, clamped: false,
        warning: `${width}×${height} takes more than half of the 16 MiB of VRAM: Linux bochs-drm up to 6.12 (drm_vram_helper_mode_valid) refuses it and picks another mode; 6.13 and later show it.`,
      });
      expect(edidModeFor(medium, { width, height }, { vram: 'full' })).toEqual({ width, height, clamped: false });
    }
    expect(edidModeFor(medium, { width: 1920, height: 1080 })).toEqual({ width: 1920, height: 1080, clamped: false });
  });

  it('1920×1080 on small becomes 800×600', () => {
    const m = edidModeFor(small, { width: 1920, height: 1080 });
    expect(m).toMatchObject({ width: 800, height: 600, clamped: true });
    expect(m.reason).toContain('800×600');
  });

  it('only the axis over the maximum changes: 1024×500 on small becomes 800×500', () => {
    expect(edidModeFor(small, { width: 1024, height: 500 })).toMatchObject({ width: 800, height: 500, clamped: true });
  });

  it('large has no maximum: 8192×8192 becomes 4095×4095 (the DTD limit, which its 64 MiB holds) with vram full, and 2896×2896 (half of 64 MiB) by default', () => {
    const m = edidModeFor(large, { width: 8192, height: 8192 }, { vram: 'full' });
    expect(m).toMatchObject({ width: 4095, height: 4095, clamped: true });
    expect(m.reason).toBe('The requested 8192×8192 became 4095×4095 because an EDID detailed timing holds at most 4095×4095.');
    const half = edidModeFor(large, { width: 8192, height: 8192 });
    expect(half).toMatchObject({ width: 2896, height: 2896, clamped: true });
    expect(half.reason).toMatch(/^The requested 8192×8192 became 2896×2896 because an EDID detailed timing holds at most 4095×4095, and a 32 bpp framebuffer must fit half of the 64 MiB of VRAM, /);
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

  it('VRAM bound: with small\'s maximum but 1 MiB of VRAM, 800×600 shrinks keeping its aspect ratio until w·h·4 ≤ memsize (vram full)', () => {
    const m = edidModeFor({ maxXres: 800, maxYres: 600, memsize: 1 * MiB }, { width: 800, height: 600 }, { vram: 'full' });
    expect(m.clamped).toBe(true);
    expect(m.width * m.height * 4).toBeLessThanOrEqual(MiB);
    expect(Math.abs(m.width / m.height - 4 / 3)).toBeLessThan(0.01);
    // As large as possible: one more line or column would not fit at that aspect.
    expect((m.width + 2) * (m.height + 1) * 4).toBeGreaterThan(MiB);
    expect(m.reason).toBe(
      `The requested 800×600 became ${m.width}×${m.height} because a 32 bpp framebuffer (width·height·4 bytes) must fit the 1 MiB of VRAM.`,
    );
    // By default a mode the policy has to shrink is its own pick: half of the 1 MiB.
    const half = edidModeFor({ maxXres: 800, maxYres: 600, memsize: 1 * MiB }, { width: 800, height: 600 });
    expect(half).toMatchObject({ width: 418, height: 313, clamped: true });
    expect(half.warning).toBeUndefined();
  });

  it('several limits at once are all named in one sentence', () => {
    const m = edidModeFor({ maxXres: 0, maxYres: 0, memsize: 64 * 1024 }, { width: 5000, height: 20 }, { vram: 'full' });
    expect(m.width).toBeLessThanOrEqual(4095);
    expect(m.height).toBe(64);
    expect(m.width * m.height * 4).toBeLessThanOrEqual(64 * 1024);
    expect(m.reason).toMatch(/^The requested 5000×20 became \d+×64 because an EDID .*, and mbochs .*, and a 32 bpp .* 64 KiB of VRAM\.$/);
    expect(edidModeFor({ maxXres: 0, maxYres: 0, memsize: 64 * 1024 }, { width: 5000, height: 20 })).toMatchObject({ width: 128, height: 64 });
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
    // 16 KiB holds one 64×64 framebuffer, not two.
    expect(edidModeFor({ maxXres: 0, maxYres: 0, memsize: 16 * 1024 }, undefined, { vram: 'full' })).toMatchObject({ width: 64, height: 64 });
    expect(() => edidModeFor({ maxXres: 0, maxYres: 0, memsize: 16 * 1024 })).toThrow(/at least 32768 bytes \(a 64×64 framebuffer in half of it\)/);
    expect(() => edidModeFor(medium, undefined, { vram: 'most' as EdidVram })).toThrow(/^EDID mode: vram must be half or full, not most\.$/);
  });
});

describe('the guest accepts what the policy picks', () => {
  const budget = new InstanceBudget({ total: 1024 });
  it(`invariant: with vram half every mode the policy picks itself (the default, or a request it shrank) survives Linux 6.12 bochs-drm's mode_valid (drm_vram_helper_mode_valid) on the type, and so the whole EDID list does; with vram full, 6.13's (bochs_mode_config_mode_valid); an honoured request survives 6.13's, and 6.12's unless it warns (seed ${FC_SEED})`, () => {
    const guests = (['small', 'medium', 'large'] as const).map((t) => {
      const dev = new MbochsDevice(t, { budget });
      return { dev, type: MBOCHS_TYPES[t], old: bootBochsDrm(dev, { kernel: '6.12' }), now: bootBochsDrm(dev, { kernel: '6.13' }) };
    });
    for (const g of guests) { g.old.probe(); g.now.probe(); }
    try {
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 2 }), fc.option(fc.record({ width: fc.integer({ min: 1, max: 9000 }), height: fc.integer({ min: 1, max: 9000 }) })),
          fc.constantFrom<EdidVram>('half', 'full'),
          (t, request, vram) => {
            const g = guests[t]!;
            const m = edidModeFor(g.type, request ?? undefined, { vram });
            const asked = request !== null && !m.clamped;
            loadEdid(g.dev, 9, generateEdid(m));
            const oldProbe = g.old.probe();
            const nowProbe = g.now.probe();
            expect(nowProbe.refused).toEqual([]);
            expect(nowProbe.preferred).toEqual({ hdisplay: m.width, vdisplay: m.height });
            if (vram === 'half' && !asked) expect(oldProbe.refused).toEqual([]);
            if (vram === 'half') expect(oldProbe.refused.length > 0).toBe(m.warning !== undefined);
            expect(m.width * m.height * 4 <= edidFramebufferLimit(g.type.memsize, 'half')).toBe(oldProbe.refused.length === 0);
          },
        ),
        fcParams(150),
      );
    } finally {
      for (const g of guests) g.dev.destroy();
    }
  });
});
