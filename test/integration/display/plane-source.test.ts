/**
 * currentDisplay / readDisplay against the real device models, driven by
 * the guest-driver models: every device state becomes a DisplayState (no
 * throw), DMABUF exports are released (mbochs counts handles), the mbochs
 * 'upstream' ENOMEM on a new mode's first query is retried, and mdpy's
 * REGION plane is read from its mapping.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { InstanceBudget } from '../../../devices/common/budget.ts';
import { MbochsDevice } from '../../../devices/mbochs/device.ts';
import { MdpyDevice } from '../../../devices/mdpy/device.ts';
import { currentDisplay, probePlaneKind, readDisplay } from '../../../src/display/plane-source.ts';
import { renderDisplay } from '../../../src/display/no-plane.ts';
import { findEdidRegion, setLink } from '../../../src/display/edid-link.ts';
import { memfdMemoryFactory } from '../../../src/sys/memfd.ts';
import type { VfioDevice } from '../../../src/vfio/device.ts';
import { VfioError } from '../../../src/util/errors.ts';
import {
  DRM_FORMAT_XRGB8888,
  DRM_PLANE_TYPE_PRIMARY,
  VFIO_GFX_PLANE_TYPE_DMABUF,
  VFIO_GFX_PLANE_TYPE_REGION,
} from '../../../src/vfio/uapi.ts';
import { BochsDrm, bootBochsDrm } from '../../support/guest/bochs-drm.ts';

const made: VfioDevice[] = [];
afterEach(() => {
  for (const d of made.splice(0)) d.destroy();
});

function mbochs(opts: { quirks?: 'none' | 'upstream'; memfd?: boolean } = {}): MbochsDevice {
  const dev = new MbochsDevice('mbochs-medium', {
    name: 'mbochs-t',
    budget: new InstanceBudget({ total: 1024 }),
    ...(opts.quirks !== undefined ? { quirks: opts.quirks } : {}),
    ...(opts.memfd === true ? { memory: memfdMemoryFactory } : {}),
  });
  made.push(dev);
  return dev;
}

function mdpy(quirks: 'none' | 'upstream' = 'none'): MdpyDevice {
  const dev = new MdpyDevice('mdpy-vga', { name: 'mdpy-t', quirks, budget: new InstanceBudget({ total: 4, errno: 'EUSERS' }) });
  made.push(dev);
  return dev;
}

/** bochs-drm probes the device and sets a mode. */
function guest(dev: MbochsDevice, w = 640, h = 480): BochsDrm {
  const drm = bootBochsDrm(dev);
  drm.probe();
  drm.setMode({ hdisplay: w, vdisplay: h });
  return drm;
}

/** RGBA of pixel (x, y) of a plane state, through renderDisplay. */
function pixel(state: ReturnType<typeof currentDisplay>, x: number, y: number): number[] {
  const frame = renderDisplay(state);
  if (frame.kind !== 'image') throw new Error(`no image: ${frame.message}`);
  const i = (y * frame.image.width + x) * 4;
  return Array.from(frame.image.data.subarray(i, i + 4));
}

describe('currentDisplay: mbochs (DMABUF planes)', () => {
  it('probes DMABUF', () => {
    expect(probePlaneKind(mbochs())).toBe('dmabuf');
    expect(probePlaneKind(mdpy())).toBe('region');
  });

  it('no mode set → "no plane", and nothing exported', () => {
    const dev = mbochs();
    expect(currentDisplay(dev, 'm')).toEqual({ kind: 'none', reason: 'no-mode', message: 'no plane: the guest has not set a display mode' });
    expect(dev.dmabufStats().liveHandles).toBe(0);
  });

  it('a mode the sample rejects (8 bpp) is "no plane" too', () => {
    const dev = mbochs();
    const drm = guest(dev);
    drm.writeDispi(3, 8); // BPP 8: mbochs_check_framebuffer refuses it
    expect(currentDisplay(dev, 'm')).toMatchObject({ kind: 'none', reason: 'no-mode' });
  });

  for (const memfd of [false, true]) {
    it(`mode set (${memfd ? 'memfd' : 'heap'} VRAM) → the plane, copied; the export is released`, () => {
      const dev = mbochs({ memfd });
      const drm = guest(dev);
      drm.fill(0x00112233);
      drm.fill(0x00ff8000, { x: 10, y: 20, w: 5, h: 5 });
      const state = currentDisplay(dev, 'm');
      expect(state.kind).toBe('plane');
      if (state.kind !== 'plane') return;
      expect(state.plane).toMatchObject({ width: 640, height: 480, stride: 2560, drmFormat: DRM_FORMAT_XRGB8888, offset: 0 });
      expect(state.plane.bytes.length).toBe(640 * 480 * 4);
      expect(dev.dmabufStats().liveHandles).toBe(0);
      expect(dev.dmabufStats().pinnedPages).toBe(0);
      expect(pixel(state, 0, 0)).toEqual([0x11, 0x22, 0x33, 255]);
      expect(pixel(state, 12, 22)).toEqual([0xff, 0x80, 0x00, 255]);
      // A copy: later guest drawing does not change it.
      drm.fill(0x00000000);
      expect(pixel(state, 0, 0)).toEqual([0x11, 0x22, 0x33, 255]);
      expect(pixel(currentDisplay(dev, 'm'), 0, 0)).toEqual([0, 0, 0, 255]);
      expect(dev.dmabufStats().liveHandles).toBe(0);
    });
  }

  it('readDisplay holds the export only while the callback runs, also when it throws', () => {
    const dev = mbochs();
    guest(dev, 800, 600);
    const seen = readDisplay(dev, 'm', ({ state, mode }) => {
      expect(dev.dmabufStats().liveHandles).toBe(1);
      return { kind: state.kind, mode };
    });
    expect(seen).toEqual({
      kind: 'plane',
      mode: { kind: 'dmabuf', id: dev.activeDmabufId, width: 800, height: 600, stride: 3200, drmFormat: DRM_FORMAT_XRGB8888, format: 'XRGB8888' },
    });
    expect(dev.dmabufStats().liveHandles).toBe(0);
    expect(() => readDisplay(dev, 'm', () => { throw new Error('boom'); })).toThrow('boom');
    expect(dev.dmabufStats().liveHandles).toBe(0);
  });

  it('many reads leak nothing and reuse one dmabuf record per mode', () => {
    const dev = mbochs();
    const drm = guest(dev);
    for (let i = 0; i < 50; i++) currentDisplay(dev, 'm');
    drm.setMode({ hdisplay: 1024, vdisplay: 768 });
    for (let i = 0; i < 50; i++) currentDisplay(dev, 'm');
    expect(dev.dmabufStats()).toMatchObject({ records: 2, liveHandles: 0, pinnedPages: 0 });
  });

  it('link down (EDID region) → "no plane: link down", without touching the dmabuf table', () => {
    const dev = mbochs();
    guest(dev);
    const edid = findEdidRegion(dev)!;
    setLink(dev, edid, false);
    const records = dev.dmabufStats().records;
    expect(currentDisplay(dev, 'm')).toMatchObject({ kind: 'none', reason: 'link-down', message: 'no plane: the display link is down' });
    expect(dev.dmabufStats().records).toBe(records);
    setLink(dev, edid, true);
    expect(currentDisplay(dev, 'm').kind).toBe('plane');
  });

  it("'upstream': the first query of a new mode fails with ENOMEM; currentDisplay retries once and gets the plane", () => {
    const dev = mbochs({ quirks: 'upstream' });
    const drm = guest(dev);
    drm.fill(0x00abcdef);
    // What a raw client sees on a new mode:
    const q = { argsz: 64, flags: VFIO_GFX_PLANE_TYPE_DMABUF, drmPlaneType: DRM_PLANE_TYPE_PRIMARY };
    expect(() => dev.queryGfxPlane(q)).toThrow(expect.objectContaining({ code: 'ENOMEM' }) as unknown as Error);
    drm.setMode({ hdisplay: 800, vdisplay: 600 }); // another new mode: currentDisplay meets the ENOMEM itself
    const state = currentDisplay(dev, 'm');
    expect(state).toMatchObject({ kind: 'plane', plane: { width: 800, height: 600 } });
    expect(dev.dmabufStats().liveHandles).toBe(0);
  });

  it('a destroyed device → "unavailable", never a throw', () => {
    const dev = mbochs();
    guest(dev);
    dev.destroy();
    expect(currentDisplay(dev, 'gone')).toMatchObject({ kind: 'none', reason: 'unavailable' });
    expect((currentDisplay(dev, 'gone') as { message: string }).message).toContain('gone');
  });
});

describe('currentDisplay: mdpy (REGION planes)', () => {
  for (const quirks of ['none', 'upstream'] as const) {
    it(`the reset gradient through region ${quirks === 'none' ? 0 : 16}'s mapping (${quirks})`, () => {
      const dev = mdpy(quirks);
      const seen = readDisplay(dev, 'd', ({ mode }) => mode);
      expect(seen).toMatchObject({ kind: 'region', id: quirks === 'none' ? 0 : 16, width: 640, height: 480, format: 'XRGB8888' });
      const state = currentDisplay(dev, 'd');
      expect(state.kind).toBe('plane');
      for (const y of [0, 1, 100, 240, 479]) {
        const v = Math.floor((y * 255) / 480);
        expect(pixel(state, 0, y)).toEqual([v, v, v, 255]);
        expect(pixel(state, 639, y)).toEqual([v, v, v, 255]);
      }
    });
  }

  it('has no EDID region, so never "link down"; destroyed → "unavailable"', () => {
    const dev = mdpy();
    expect(findEdidRegion(dev)).toBeUndefined();
    expect(currentDisplay(dev, 'd').kind).toBe('plane');
    dev.destroy();
    expect(currentDisplay(dev, 'd')).toMatchObject({ kind: 'none', reason: 'unavailable' });
  });

  it('a region plane without an mmap backing is read through regionRead', () => {
    const dev = mdpy();
    const unmapped: VfioDevice = Object.assign(Object.create(dev) as VfioDevice, {
      regionInfo: (i: number) => {
        const { mmap: _mmap, ...rest } = dev.regionInfo(i);
        return rest;
      },
      regionRead: (i: number, o: number, dst: Uint8Array) => dev.regionRead(i, o, dst),
      queryGfxPlane: (q: Parameters<VfioDevice['queryGfxPlane']>[0]) => dev.queryGfxPlane(q),
      info: () => dev.info(),
    });
    const state = currentDisplay(unmapped, 'd');
    expect(pixel(state, 5, 479)).toEqual([254, 254, 254, 255]);
  });
});

describe('currentDisplay: devices without a display', () => {
  it('a device that answers neither PROBE → "unavailable" naming the device', () => {
    const dev = mdpy();
    const noDisplay: VfioDevice = Object.assign(Object.create(dev) as VfioDevice, {
      info: () => dev.info(),
      regionInfo: (i: number) => dev.regionInfo(i),
      queryGfxPlane: () => {
        throw new VfioError('EINVAL', 'no display');
      },
    });
    expect(currentDisplay(noDisplay, 'plain')).toMatchObject({ kind: 'none', reason: 'unavailable' });
    expect((currentDisplay(noDisplay, 'plain') as { message: string }).message).toMatch(/plain reports no display plane/);
    // REGION flags sanity: mdpy refuses a DMABUF query outright.
    expect(() => dev.queryGfxPlane({ argsz: 64, flags: VFIO_GFX_PLANE_TYPE_DMABUF, drmPlaneType: 1 })).toThrow(VfioError);
    expect(dev.queryGfxPlane({ argsz: 64, flags: VFIO_GFX_PLANE_TYPE_REGION, drmPlaneType: 0 })).not.toBe('probe-ok');
  });
});
