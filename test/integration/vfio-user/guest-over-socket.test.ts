/**
 * The guest-driver models drive devices in a real `mdevsim serve` process
 * over vfio-user, with a blocking client (a vCPU waiting on MMIO): bochs-drm
 * probes and sets modes through REGION_WRITE to BAR2, draws through the
 * mmapped BAR0 fd, and the display extension's plane query + dmabuf import
 * show exactly those pixels. mdpy-fb probes and draws the same way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SyncVfioUserClient } from '../../../src/vfio-user/sync-client.ts';
import { DRM_FORMAT_XRGB8888, DRM_PLANE_TYPE_PRIMARY, VFIO_GFX_PLANE_TYPE_DMABUF, VFIO_GFX_PLANE_TYPE_REGION } from '../../../src/vfio/uapi.ts';
import { BochsDrm } from '../../support/guest/bochs-drm.ts';
import { mdpyFbProbe } from '../../support/guest/mdpy-fb.ts';
import { assignBar, socketBus } from '../../support/guest/bus.ts';
import { startServe, type ServeProcess } from '../../support/serve-process.ts';

let serve: ServeProcess;
beforeAll(async () => { serve = await startServe(['--no-edid', '--device', 'mbochs-small', '--device', 'mbochs-medium', '--device', 'mdpy-vga']); });
afterAll(async () => { expect(await serve.stop()).toBe(0); });

describe('guest drivers over vfio-user', () => {
  for (const [name, fits] of [['mbochs-small-0', [[640, 480], [1024, 768]]], ['mbochs-medium-0', [[640, 480], [1024, 768], [1920, 1080]]]] as const) {
    it(`bochs-drm on ${name}: every mode that fits reaches the plane query, and the dmabuf shows the pixels drawn through the mapping`, () => {
      const client = SyncVfioUserClient.connect(serve.sockets.get(name)!, { display: true });
      const bus = socketBus(client);
      try {
        assignBar(bus, 0, 0xe0000000);
        assignBar(bus, 2, 0xfebf0000);
        const drm = new BochsDrm(bus);
        const probe = drm.probe();
        expect(probe.id).toBe(0xb0c5);
        expect(probe.sizeMismatch).toBe(false);
        expect(probe.edid).toBeUndefined(); // link down: the sample's initial state
        expect(probe.vram).toBeDefined();
        for (const [w, h] of fits) {
          drm.setMode({ hdisplay: w, vdisplay: h });
          drm.fill(0x00102030);
          drm.fill(0x00ff8000, { x: 10, y: 20, w: 30, h: 5 });
          const plane = client.queryGfxPlane(VFIO_GFX_PLANE_TYPE_DMABUF, DRM_PLANE_TYPE_PRIMARY);
          expect(plane).toMatchObject({ drmFormat: DRM_FORMAT_XRGB8888, width: w, height: h, stride: w * 4, size: w * h * 4 });
          const buf = client.importDmabuf(plane.regionIndexOrDmabufId);
          const px = new Uint32Array(buf.bytes.buffer, buf.bytes.byteOffset, w * h);
          expect(px[0]).toBe(0x00102030);
          expect(px[20 * w + 10]).toBe(0x00ff8000);
          expect(px[24 * w + 39]).toBe(0x00ff8000);
          expect(px[25 * w + 10]).toBe(0x00102030);
          expect(px[w * h - 1]).toBe(0x00102030);
          buf.release();
        }
      } finally {
        bus.unmapAll();
        client.close();
      }
    });
  }

  it('bochs-drm on mbochs-small: 1920×1080 does not fit 4 MiB, so mode_valid refuses it and a forced mode set gives an empty plane', () => {
    const client = SyncVfioUserClient.connect(serve.sockets.get('mbochs-small-0')!, { display: true });
    const bus = socketBus(client);
    try {
      assignBar(bus, 0, 0xe0000000);
      const drm = new BochsDrm(bus);
      drm.probe();
      expect(drm.modeValid({ hdisplay: 1920, vdisplay: 1080 })).toBe(false);
      drm.setMode({ hdisplay: 1920, vdisplay: 1080 });
      const plane = client.queryGfxPlane(VFIO_GFX_PLANE_TYPE_DMABUF, DRM_PLANE_TYPE_PRIMARY);
      expect(plane).toMatchObject({ drmFormat: 0, width: 0, height: 0, size: 0, regionIndexOrDmabufId: 0 });
    } finally {
      bus.unmapAll();
      client.close();
    }
  });

  it('mdpy-fb on mdpy-vga: probe reads the vendor capability, draws into the mapped framebuffer, and the REGION plane describes it', () => {
    const client = SyncVfioUserClient.connect(serve.sockets.get('mdpy-vga-0')!, { display: true });
    const bus = socketBus(client);
    try {
      assignBar(bus, 0, 0xe0000000);
      const fb = mdpyFbProbe(bus);
      expect(fb).toMatchObject({ width: 640, height: 480, lineLength: 2560, smemLen: 2 << 20 });
      const screen = new Uint32Array(fb.screen!.buffer, fb.screen!.byteOffset, 640 * 480);
      screen.fill(0x0000ff00);
      const plane = client.queryGfxPlane(VFIO_GFX_PLANE_TYPE_REGION, 0);
      expect(plane).toMatchObject({ width: 640, height: 480, stride: 2560, size: 640 * 480 * 4, regionIndexOrDmabufId: 0 });
      // The server sees the guest's pixels without any message: read them back over the protocol.
      expect([...client.regionRead(0, 4 * 1000, 4)]).toEqual([0x00, 0xff, 0x00, 0x00]);
    } finally {
      bus.unmapAll();
      client.close();
    }
  });
});
