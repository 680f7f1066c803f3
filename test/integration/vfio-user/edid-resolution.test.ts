/**
 * The guest gets the resolution the user asks for (issue: EDID generation
 * and link control). `mdevsim serve` loads an EDID and raises the link before
 * any client connects; the bochs-drm guest model, driving the device over
 * vfio-user, finds the EDID, picks its preferred mode, sets it, and the plane
 * query reports exactly that mode.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SyncVfioUserClient } from '../../../src/vfio-user/sync-client.ts';
import { DRM_PLANE_TYPE_PRIMARY, VFIO_GFX_PLANE_TYPE_DMABUF } from '../../../src/vfio/uapi.ts';
import { BochsDrm, type DisplayMode, type LinuxRelease } from '../../support/guest/bochs-drm.ts';
import { assignBar, socketBus } from '../../support/guest/bus.ts';
import { startServe, type ServeProcess } from '../../support/serve-process.ts';

const TYPES = ['mbochs-small', 'mbochs-medium', 'mbochs-large'];
const typeArgs = TYPES.flatMap((t) => ['--device', t]);

/** Boot the guest model, take the mode the driver prefers, set it, and read the plane back. */
function bootAndSetPreferred(socket: string, kernel?: LinuxRelease): { probe: ReturnType<BochsDrm['probe']>; plane: { width: number; height: number; size: number } } {
  const client = SyncVfioUserClient.connect(socket, { display: true });
  const bus = socketBus(client);
  try {
    assignBar(bus, 0, 0xe0000000);
    const drm = new BochsDrm(bus, kernel !== undefined ? { kernel } : {});
    const probe = drm.probe();
    drm.setMode(probe.preferred);
    const plane = client.queryGfxPlane(VFIO_GFX_PLANE_TYPE_DMABUF, DRM_PLANE_TYPE_PRIMARY);
    return { probe, plane };
  } finally {
    bus.unmapAll();
    client.close();
  }
}

function expectMode(socket: string, mode: DisplayMode, edid: boolean, kernel?: LinuxRelease): void {
  const { probe, plane } = bootAndSetPreferred(socket, kernel);
  expect(probe.edid !== undefined).toBe(edid);
  expect(probe.preferred).toEqual(mode);
  expect(plane).toMatchObject({ width: mode.hdisplay, height: mode.vdisplay, size: mode.hdisplay * mode.vdisplay * 4 });
}

describe('default EDID per type', () => {
  let serve: ServeProcess;
  beforeAll(async () => { serve = await startServe(typeArgs); });
  afterAll(async () => { expect(await serve.stop()).toBe(0); });
  // QEMU's default 1280×800, clamped to the type's max_xres×max_yres (small: 800×600).
  const expected: Record<string, DisplayMode> = {
    'mbochs-small-0': { hdisplay: 800, vdisplay: 600 },
    'mbochs-medium-0': { hdisplay: 1280, vdisplay: 800 },
    'mbochs-large-0': { hdisplay: 1280, vdisplay: 800 },
  };
  for (const [name, mode] of Object.entries(expected)) {
    it(`${name}: bochs-drm finds the EDID, prefers ${mode.hdisplay}×${mode.vdisplay}, and the plane query reports it`, () => {
      expectMode(serve.sockets.get(name)!, mode, true);
    });
  }
});

describe('--resolution 1920x1080', () => {
  let serve: ServeProcess;
  beforeAll(async () => { serve = await startServe([...typeArgs, '--resolution', '1920x1080']); });
  afterAll(async () => { expect(await serve.stop()).toBe(0); });
  it('medium and large get 1920×1080; small is clamped to 800×600 and serve says so in one sentence', () => {
    expectMode(serve.sockets.get('mbochs-medium-0')!, { hdisplay: 1920, vdisplay: 1080 }, true);
    expectMode(serve.sockets.get('mbochs-large-0')!, { hdisplay: 1920, vdisplay: 1080 }, true);
    expectMode(serve.sockets.get('mbochs-small-0')!, { hdisplay: 800, vdisplay: 600 }, true);
    const clamped = serve.events.filter((e) => e['event'] === 'clamped');
    expect(clamped).toEqual([expect.objectContaining({ device: 'mbochs-small-0', width: 800, height: 600 })]);
    expect(String(clamped[0]!['reason'])).toMatch(/max_xres×max_yres is 800×600/);
  });
});

describe('--resolution 2560x1600 (over medium\'s 1920×1440 maximum)', () => {
  let serve: ServeProcess;
  beforeAll(async () => { serve = await startServe(['--device', 'mbochs-medium', '--device', 'mbochs-large', '--resolution', '2560x1600']); });
  afterAll(async () => { expect(await serve.stop()).toBe(0); });
  it('medium is clamped to its 1920×1440 maximum and, as mdevsim picks that mode, to half of its 16 MiB, which Linux 6.12 bochs-drm (drm_vram_helper_mode_valid) accepts: 1672×1254; large (no limit, 64 MiB) gets 2560×1600', () => {
    for (const kernel of ['6.12', '6.13'] as const) {
      expectMode(serve.sockets.get('mbochs-medium-0')!, { hdisplay: 1672, vdisplay: 1254 }, true, kernel);
      expectMode(serve.sockets.get('mbochs-large-0')!, { hdisplay: 2560, vdisplay: 1600 }, true, kernel);
    }
    const clamped = serve.events.filter((e) => e['event'] === 'clamped');
    expect(clamped).toEqual([expect.objectContaining({ device: 'mbochs-medium-0', width: 1672, height: 1254 })]);
    expect(String(clamped[0]!['reason'])).toMatch(/max_xres×max_yres is 1920×1440, and a 32 bpp framebuffer must fit half of the 16 MiB of VRAM/);
  });
});

describe('--resolution 2560x1600 --edid-vram full', () => {
  let serve: ServeProcess;
  beforeAll(async () => { serve = await startServe(['--device', 'mbochs-medium', '--resolution', '2560x1600', '--edid-vram', 'full']); });
  afterAll(async () => { expect(await serve.stop()).toBe(0); });
  it('medium is clamped to 1920×1440 only, which Linux 6.13 bochs-drm (bochs_mode_config_mode_valid) shows and 6.12 (drm_vram_helper_mode_valid) refuses', () => {
    expectMode(serve.sockets.get('mbochs-medium-0')!, { hdisplay: 1920, vdisplay: 1440 }, true, '6.13');
    const old = bootAndSetPreferred(serve.sockets.get('mbochs-medium-0')!, '6.12');
    expect(old.probe.refused).toEqual([{ hdisplay: 1920, vdisplay: 1440 }]);
    expect(serve.stderr()).not.toMatch(/edid|VRAM/i);
  });
});

describe('--resolution 1920x1440 on mbochs-medium (exactly its maximum, over half of its VRAM)', () => {
  let serve: ServeProcess;
  beforeAll(async () => { serve = await startServe(['--device', 'mbochs-medium', '--resolution', '1920x1440']); });
  afterAll(async () => { expect(await serve.stop()).toBe(0); });
  it('is honoured, with a warning on stderr naming Linux bochs-drm up to 6.12, which refuses it (drm_vram_helper_mode_valid) while 6.13 shows it', () => {
    expectMode(serve.sockets.get('mbochs-medium-0')!, { hdisplay: 1920, vdisplay: 1440 }, true, '6.13');
    expect(bootAndSetPreferred(serve.sockets.get('mbochs-medium-0')!, '6.12').probe.refused).toEqual([{ hdisplay: 1920, vdisplay: 1440 }]);
    expect(serve.events.filter((e) => e['event'] === 'clamped')).toEqual([]);
    expect(serve.stderr()).toContain('mbochs-medium-0: 1920×1440 takes more than half of the 16 MiB of VRAM: Linux bochs-drm up to 6.12 (drm_vram_helper_mode_valid) refuses it and picks another mode; 6.13 and later show it.');
  });
});

describe('--no-edid keeps the sample\'s initial state', () => {
  let serve: ServeProcess;
  beforeAll(async () => { serve = await startServe(['--device', 'mbochs-medium', '--no-edid']); });
  afterAll(async () => { expect(await serve.stop()).toBe(0); });
  it('the link is down: bochs-drm reads no EDID and falls back to 1024×768', () => {
    expectMode(serve.sockets.get('mbochs-medium-0')!, { hdisplay: 1024, vdisplay: 768 }, false);
  });
});
