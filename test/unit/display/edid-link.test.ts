/**
 * src/display/edid-link.ts on a real MbochsDevice: QEMU's EDID update
 * sequence (hw/vfio/display.c vfio_display_edid_update()) through the VfioDevice
 * contract, what the bochs-drm guest model then finds (docs/protocol.md "Seen in a
 * real boot"), and the mode it sets as the dmabuf plane reports it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { InstanceBudget } from '../../../devices/common/budget.ts';
import { MbochsDevice, type MbochsTypeName } from '../../../devices/mbochs/index.ts';
import { MdpyDevice } from '../../../devices/mdpy/index.ts';
import { generateEdid } from '../../../src/display/edid.ts';
import { findEdidRegion, loadEdid, readEdidRegisters, setLink } from '../../../src/display/edid-link.ts';
import { edidModeFor } from '../../../src/display/edid-policy.ts';
import type { VfioDevice } from '../../../src/vfio/device.ts';
import { DRM_PLANE_TYPE_PRIMARY, VFIO_GFX_PLANE_TYPE_DMABUF } from '../../../src/vfio/uapi.ts';
import { VfioError } from '../../../src/util/errors.ts';
import { bootBochsDrm } from '../../support/guest/bochs-drm.ts';

/** mbochs region indexes and struct vfio_region_gfx_edid offsets (docs/devices/mbochs.md "Regions"; include/uapi/linux/vfio.h). */
const EDID_REGION = 9;
const EDID_SIZE = 8, LINK_STATE = 20;
const LINK_UP = 1, LINK_DOWN = 2;

const budget = new InstanceBudget({ total: 1024 });
const created: VfioDevice[] = [];

function mbochs(type: MbochsTypeName): MbochsDevice {
  const dev = new MbochsDevice(type, { budget });
  created.push(dev);
  return dev;
}

afterEach(() => {
  for (const dev of created.splice(0)) dev.destroy();
});

const boot = bootBochsDrm;

type Access = { op: 'read' | 'write'; index: number; offset: number; bytes: number[] };

/** A VfioDevice that records every region access on its way to the real device. */
function recording(dev: VfioDevice): { dev: VfioDevice; log: Access[] } {
  const log: Access[] = [];
  const proxy: VfioDevice = {
    info: () => dev.info(),
    regionInfo: (index) => dev.regionInfo(index),
    regionRead: (index, offset, dst) => {
      dev.regionRead(index, offset, dst);
      log.push({ op: 'read', index, offset, bytes: Array.from(dst) });
    },
    regionWrite: (index, offset, data) => {
      log.push({ op: 'write', index, offset, bytes: Array.from(data) });
      dev.regionWrite(index, offset, data);
    },
    irqInfo: (index) => dev.irqInfo(index),
    setIrqs: (set) => dev.setIrqs(set),
    reset: () => dev.reset(),
    queryGfxPlane: (query) => dev.queryGfxPlane(query),
    getGfxDmabuf: (id) => dev.getGfxDmabuf(id),
    closeDevice: () => dev.closeDevice(),
    destroy: () => dev.destroy(),
  };
  return { dev: proxy, log };
}

const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];

describe('findEdidRegion', () => {
  it('finds mbochs region 9 by its {GFX, EDID} type capability', () => {
    expect(findEdidRegion(mbochs('small'))).toBe(EDID_REGION);
  });

  it('finds none on mdpy (no EDID region)', () => {
    const dev = new MdpyDevice('vga', { budget: new InstanceBudget({ total: 4, errno: 'EUSERS' }) });
    created.push(dev);
    expect(findEdidRegion(dev)).toBeUndefined();
  });
});

describe("loadEdid: QEMU's sequence through the VfioDevice contract", () => {
  it('reads edid_offset and edid_max_size, then writes link DOWN, edid_size, the blob at edid_offset, link UP — each register as one 4-byte access', () => {
    const real = mbochs('medium');
    const { dev, log } = recording(real);
    const blob = generateEdid({ width: 1280, height: 800 });
    loadEdid(dev, EDID_REGION, blob);
    expect(log.map(({ op, offset, bytes }) => ({ op, offset, n: bytes.length }))).toEqual([
      { op: 'read', offset: 0, n: 4 },
      { op: 'read', offset: 4, n: 4 },
      { op: 'write', offset: LINK_STATE, n: 4 },
      { op: 'write', offset: EDID_SIZE, n: 4 },
      { op: 'write', offset: 0x800, n: 128 },
      { op: 'write', offset: LINK_STATE, n: 4 },
    ]);
    expect(log.every((a) => a.index === EDID_REGION)).toBe(true);
    expect(log[2]!.bytes).toEqual(le32(LINK_DOWN));
    expect(log[3]!.bytes).toEqual(le32(128));
    expect(log[4]!.bytes).toEqual(Array.from(blob));
    expect(log[5]!.bytes).toEqual(le32(LINK_UP));
    expect(readEdidRegisters(real, EDID_REGION)).toEqual({
      edidOffset: 0x800, edidMaxSize: 0x400, edidSize: 128, maxXres: 1920, maxYres: 1440, linkState: LINK_UP,
    });
  });

  it('refuses a blob larger than edid_max_size (or empty) with EINVAL, before writing anything', () => {
    const { dev, log } = recording(mbochs('small'));
    expect(() => loadEdid(dev, EDID_REGION, new Uint8Array(0x401))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => loadEdid(dev, EDID_REGION, new Uint8Array(0))).toThrow(VfioError);
    expect(log.filter((a) => a.op === 'write')).toEqual([]);
  });

  it('accepts a blob of exactly edid_max_size (1024 bytes)', () => {
    const dev = mbochs('small');
    loadEdid(dev, EDID_REGION, new Uint8Array(0x400).fill(0xab));
    expect(readEdidRegisters(dev, EDID_REGION).edidSize).toBe(0x400);
  });

  it('setLink writes 1 or 2 at offset 20', () => {
    const dev = mbochs('small');
    setLink(dev, EDID_REGION, true);
    expect(readEdidRegisters(dev, EDID_REGION).linkState).toBe(LINK_UP);
    setLink(dev, EDID_REGION, false);
    expect(readEdidRegisters(dev, EDID_REGION).linkState).toBe(LINK_DOWN);
  });
});

describe('the guest sees the EDID and sets its preferred mode', () => {
  const cases: { type: MbochsTypeName; request?: { width: number; height: number }; expected: [number, number] }[] = [
    { type: 'small', expected: [800, 600] },
    { type: 'small', request: { width: 640, height: 480 }, expected: [640, 480] },
    { type: 'medium', expected: [1280, 800] },
    { type: 'medium', request: { width: 1920, height: 1080 }, expected: [1920, 1080] },
    { type: 'large', expected: [1280, 800] },
    { type: 'large', request: { width: 2560, height: 1600 }, expected: [2560, 1600] },
  ];
  for (const { type, request, expected } of cases) {
    const label = request ? `${request.width}×${request.height}` : 'default';
    it(`mbochs-${type}, ${label}: 'Found EDID data blob.', preferred ${expected.join('×')}, and the plane reports it`, () => {
      const dev = mbochs(type);
      const mode = edidModeFor(dev.type, request);
      expect([mode.width, mode.height]).toEqual(expected);
      const index = findEdidRegion(dev);
      expect(index).toBe(EDID_REGION);
      loadEdid(dev, index!, generateEdid(mode));

      const drm = boot(dev);
      const probe = drm.probe();
      expect(drm.log).toContain('Found EDID data blob.');
      expect(probe.preferred).toEqual({ hdisplay: expected[0], vdisplay: expected[1] });
      expect(drm.modeValid(probe.preferred)).toBe(true);
      drm.setMode(probe.preferred);
      const plane = dev.queryGfxPlane({ argsz: 64, flags: VFIO_GFX_PLANE_TYPE_DMABUF, drmPlaneType: DRM_PLANE_TYPE_PRIMARY });
      if (plane === 'probe-ok') throw new Error('a DMABUF query answered like a probe');
      expect([plane.width, plane.height]).toEqual(expected);
      expect(plane.stride).toBe(expected[0] * 4);
    });
  }

  it('while the link is down the guest finds no EDID and prefers 1024×768; up again, the EDID is back', () => {
    const dev = mbochs('medium');
    expect(boot(dev).probe().preferred).toEqual({ hdisplay: 1024, vdisplay: 768 }); // fresh device: link_state 0
    loadEdid(dev, EDID_REGION, generateEdid({ width: 1280, height: 800 }));
    setLink(dev, EDID_REGION, false);
    const down = boot(dev);
    const probe = down.probe();
    expect(probe.edid).toBeUndefined();
    expect(probe.preferred).toEqual({ hdisplay: 1024, vdisplay: 768 });
    expect(down.log).not.toContain('Found EDID data blob.');
    setLink(dev, EDID_REGION, true);
    expect(boot(dev).probe().preferred).toEqual({ hdisplay: 1280, vdisplay: 800 });
  });

  it('a second load replaces the first (a window resize in QEMU terms)', () => {
    const dev = mbochs('large');
    loadEdid(dev, EDID_REGION, generateEdid({ width: 1280, height: 800 }));
    loadEdid(dev, EDID_REGION, generateEdid({ width: 1920, height: 1200 }));
    expect(boot(dev).probe().preferred).toEqual({ hdisplay: 1920, vdisplay: 1200 });
  });
});
