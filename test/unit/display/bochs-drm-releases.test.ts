/**
 * What a Linux bochs-drm guest of each release makes of an mbochs EDID, on a
 * real MbochsDevice (the guest model test/support/guest/bochs-drm.ts, which
 * follows drivers/gpu/drm/tiny/bochs.c of each release):
 *
 * - when the EDID is read: once at driver load up to Linux 6.12
 *   (bochs_connector_init() → bochs_hw_load_edid()), at every connector probe
 *   from 6.13 on (bochs_connector_helper_get_modes() → bochs_hw_read_edid(),
 *   commit 759ef92532f3 "drm/bochs: Use helpers for struct drm_edid");
 * - which modes survive mode_valid: half of VRAM up to 6.12
 *   (drm_gem_vram_helper.c drm_vram_helper_mode_valid()), all of it from 6.13
 *   on (bochs_mode_config_mode_valid(), commit 4dc9bb66ebdd "drm/bochs:
 *   Validate display modes against available video memory").
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { InstanceBudget } from '../../../devices/common/budget.ts';
import { MbochsDevice, type MbochsTypeName } from '../../../devices/mbochs/index.ts';
import { generateEdid } from '../../../src/display/edid.ts';
import { loadEdid, setLink } from '../../../src/display/edid-link.ts';
import type { VfioDevice } from '../../../src/vfio/device.ts';
import { DRM_PLANE_TYPE_PRIMARY, VFIO_GFX_PLANE_TYPE_DMABUF } from '../../../src/vfio/uapi.ts';
import { bochsDrmRelease, bootBochsDrm, type LinuxRelease } from '../../support/guest/bochs-drm.ts';
import { FC_SEED, fcParams } from '../devices/fc-seed.ts';

const EDID_REGION = 9;
const MiB = 1 << 20;
const budget = new InstanceBudget({ total: 1024 });
const created: VfioDevice[] = [];

function mbochs(type: MbochsTypeName, edid?: { width: number; height: number }): MbochsDevice {
  const dev = new MbochsDevice(type, { budget });
  created.push(dev);
  if (edid) loadEdid(dev, EDID_REGION, generateEdid(edid));
  return dev;
}

afterEach(() => {
  for (const dev of created.splice(0)) dev.destroy();
});

const mode = (w: number, h: number) => ({ hdisplay: w, vdisplay: h });

describe('bochsDrmRelease(): the rework is first released in Linux 6.13', () => {
  it('6.1 and 6.12 read the EDID at load and use the VRAM helper; 6.13, 6.14 and 7.0 do neither', () => {
    for (const r of ['6.1', '6.12', '5.15'] as const) expect(bochsDrmRelease(r)).toEqual({ release: r, edidAtProbe: false, modeCheck: 'vram-helper-half' });
    for (const r of ['6.13', '6.14', '7.0'] as const) expect(bochsDrmRelease(r)).toEqual({ release: r, edidAtProbe: true, modeCheck: 'whole-vram' });
  });
});

describe('when the guest reads the EDID', () => {
  for (const kernel of ['6.1', '6.12'] as const) {
    it(`Linux ${kernel} bochs-drm (bochs.c bochs_connector_init() → bochs_hw_load_edid()) reads the EDID once at driver load: a new EDID is not in its next connector probe, only after a driver reload`, () => {
      const dev = mbochs('medium', { width: 1280, height: 800 });
      const drm = bootBochsDrm(dev, { kernel });
      expect(drm.probe().preferred).toEqual(mode(1280, 800));
      loadEdid(dev, EDID_REGION, generateEdid({ width: 1920, height: 1080 }));
      expect(drm.probeConnector().preferred).toEqual(mode(1280, 800));
      setLink(dev, EDID_REGION, false);
      expect(drm.probeConnector()).toMatchObject({ preferred: mode(1280, 800), edid: expect.any(Uint8Array) });
      setLink(dev, EDID_REGION, true);
      expect(drm.probe().preferred).toEqual(mode(1920, 1080)); // rmmod bochs; modprobe bochs (or a reboot)
      expect(drm.log.filter((l) => l === 'Found EDID data blob.')).toHaveLength(2); // one read per load
    });
  }

  it('Linux 6.13 bochs-drm (bochs.c bochs_connector_helper_get_modes() → drm_edid_read_custom(), commit 759ef92532f3) reads the EDID at every connector probe: the next probe offers the new list, and no mode changes by itself', () => {
    const dev = mbochs('medium', { width: 1280, height: 800 });
    const drm = bootBochsDrm(dev, { kernel: '6.13' });
    drm.setMode(drm.probe().preferred);
    loadEdid(dev, EDID_REGION, generateEdid({ width: 1920, height: 1080 }));
    const probe = drm.probeConnector();
    expect(probe.preferred).toEqual(mode(1920, 1080));
    expect(probe.modes.map((m) => `${m.hdisplay}x${m.vdisplay}`)).toEqual(['1920x1080', '1024x768', '800x600', '640x480']);
    // The probe refreshed the list; the mode set at boot is still on the screen until userspace picks another.
    expect(drm.current).toEqual(mode(1280, 800));
    const plane = dev.queryGfxPlane({ argsz: 64, flags: VFIO_GFX_PLANE_TYPE_DMABUF, drmPlaneType: DRM_PLANE_TYPE_PRIMARY });
    expect(plane !== 'probe-ok' && [plane.width, plane.height]).toEqual([1280, 800]);

    setLink(dev, EDID_REGION, false);
    // No EDID: drm_add_modes_noedid() with bochs' defx×defy 1024×768 preferred; the connector stays connected.
    expect(drm.probeConnector()).toMatchObject({ edid: undefined, preferred: mode(1024, 768) });
    expect(drm.log.filter((l) => l === 'Found EDID data blob.')).toHaveLength(2);
  });
});

describe('which modes survive mode_valid', () => {
  it('Linux 6.12 bochs-drm (drm_gem_vram_helper.c drm_vram_helper_mode_valid()) keeps only framebuffers in half of VRAM: on mbochs-medium (16 MiB) 1920×1440 and 1920×1200 are refused and another mode is picked; 1920×1080 stays', () => {
    for (const [w, h] of [[1920, 1440], [1920, 1200]] as const) {
      const drm = bootBochsDrm(mbochs('medium', { width: w, height: h }), { kernel: '6.12' });
      const probe = drm.probe();
      expect(probe.refused).toEqual([mode(w, h)]);
      expect(probe.preferred).toEqual(mode(1024, 768)); // the largest mode left of the EDID's (DMT modes it infers are not modelled)
    }
    const drm = bootBochsDrm(mbochs('medium', { width: 1920, height: 1080 }), { kernel: '6.12' });
    expect(drm.probe()).toMatchObject({ refused: [], preferred: mode(1920, 1080) });
  });

  it('Linux 6.13 bochs-drm (bochs.c bochs_mode_config_mode_valid(), commit 4dc9bb66ebdd) keeps every mode whose framebuffer fits all of VRAM: 1920×1440 on mbochs-medium is shown', () => {
    const drm = bootBochsDrm(mbochs('medium', { width: 1920, height: 1440 }), { kernel: '6.13' });
    expect(drm.probe()).toMatchObject({ refused: [], preferred: mode(1920, 1440) });
    expect(drm.modeValid(mode(2048, 2048))).toBe(true); // exactly 16 MiB
    expect(drm.modeValid(mode(2048, 2049))).toBe(false);
  });

  it(`invariant: for VRAM sizes of whole 8 KiB pages, the ≤ 6.12 check is w·h·4 ≤ VRAM/2 and the ≥ 6.13 check is w·h·4 ≤ VRAM (seed ${FC_SEED})`, () => {
    const kernels: LinuxRelease[] = ['6.12', '6.13'];
    const drms = (['small', 'medium', 'large'] as const).map((t) => {
      const dev = mbochs(t);
      return kernels.map((kernel) => { const d = bootBochsDrm(dev, { kernel }); d.probe(); return d; });
    });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 64, max: 4096 }), fc.integer({ min: 64, max: 4096 }), (t, w, h) => {
        const [old, now] = drms[t]!;
        const vram = old!.probeResult!.fbSize;
        expect(old!.modeValid(mode(w, h))).toBe(w * h * 4 <= vram / 2);
        expect(now!.modeValid(mode(w, h))).toBe(w * h * 4 <= vram);
      }),
      fcParams(500),
    );
    expect(drms[1]![0]!.probeResult!.fbSize).toBe(16 * MiB);
  });
});
