/**
 * The client library against a real `mdevsim serve` process: real sockets,
 * real fd passing, the framebuffer mapped from the server's memfd in this
 * process (zero copy: pixels written here are read back over the protocol).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, statSync } from 'node:fs';
import { VfioUserClient } from '../../../src/vfio-user/client.ts';
import { DRM_FORMAT_XRGB8888, DRM_PLANE_TYPE_PRIMARY, VFIO_GFX_PLANE_TYPE_DMABUF, VFIO_GFX_PLANE_TYPE_PROBE, VFIO_GFX_PLANE_TYPE_REGION, VFIO_REGION_INFO_FLAG_MMAP } from '../../../src/vfio/uapi.ts';
import { startServe, type ServeProcess } from '../../support/serve-process.ts';
import { fdCount } from '../../support/leak.ts';

let serve: ServeProcess;
beforeAll(async () => { serve = await startServe(); });
afterAll(async () => { expect(await serve.stop()).toBe(0); });

function le16(v: number): Uint8Array { return new Uint8Array([v & 0xff, v >> 8]); }

/** Connections this file opened, per device: what serve's disconnection events are counted against. */
const opened = new Map<string, number>();
function connect(device: string, opts?: Parameters<typeof VfioUserClient.connect>[1]): Promise<VfioUserClient> {
  opened.set(device, (opened.get(device) ?? 0) + 1);
  return VfioUserClient.connect(serve.sockets.get(device)!, opts);
}

/**
 * Resolves once serve has logged the disconnection of all but `open` of the
 * connections this file opened to `device`: the server has processed every
 * close, not merely been given time to.
 */
async function closedAllBut(device: string, open: number): Promise<void> {
  const want = (opened.get(device) ?? 0) - open;
  if (want <= 0) return;
  let seen = 0;
  await serve.waitFor((e) => e['event'] === 'disconnected' && e['device'] === device && ++seen === want);
}

describe('mdevsim serve + VfioUserClient', () => {
  it('serves the default devices on 0600 sockets', () => {
    expect([...serve.sockets.keys()].sort()).toEqual(['mbochs-medium-0', 'mdpy-xga-0']);
    for (const path of serve.sockets.values()) expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('mbochs: BAR0 comes with an fd; pixels written through the mapping are what REGION_READ returns', async () => {
    const c = await connect('mbochs-medium-0');
    try {
      expect(await c.deviceInfo()).toMatchObject({ flags: 3, numRegions: 10, numIrqs: 5 });
      const { info, fd } = await c.regionInfo(0);
      expect(info.flags & VFIO_REGION_INFO_FLAG_MMAP).toBeTruthy();
      expect(fd).toBeGreaterThan(2);
      const { closeFd } = await import('../../../src/sys/fds.ts');
      closeFd(fd!);
      const vram = await c.mapRegion(0);
      expect(vram.bytes.length).toBe(16 << 20);
      vram.bytes.set([1, 2, 3, 4], 0x1000);
      expect([...(await c.regionRead(0, 0x1000, 4))]).toEqual([1, 2, 3, 4]);
      await c.regionWrite(0, 0x2000, new Uint8Array([9, 8, 7]));
      expect([...vram.bytes.subarray(0x2000, 0x2003)]).toEqual([9, 8, 7]);
      vram.unmap();
    } finally {
      c.close();
    }
  });

  it('mbochs display extension: mode set over BAR2, plane query and dmabuf import show the pixels drawn through the mapping', async () => {
    const c = await connect('mbochs-medium-0', { display: true });
    try {
      expect(c.display).toBe(true);
      const probe = await c.queryGfxPlane(VFIO_GFX_PLANE_TYPE_PROBE | VFIO_GFX_PLANE_TYPE_DMABUF, 0);
      expect(probe.drmFormat).toBe(0);
      await expect(c.queryGfxPlane(VFIO_GFX_PLANE_TYPE_PROBE | VFIO_GFX_PLANE_TYPE_REGION, 0)).rejects.toMatchObject({ code: 'EINVAL' });
      // bochs-drm's mode-set sequence (drivers/gpu/drm/tiny/bochs.c bochs_hw_setmode()) for 640×480 as 16-bit writes at BAR2 0x500 + 2·index.
      const dispi = [[4, 0], [3, 32], [1, 640], [2, 480], [5, 0], [6, 640], [7, (16 << 20) / (640 * 4)], [8, 0], [9, 0], [4, 0x41]];
      for (const [index, value] of dispi) await c.regionWrite(2, 0x500 + 2 * index!, le16(value!));
      const vram = await c.mapRegion(0);
      new Uint32Array(vram.bytes.buffer, vram.bytes.byteOffset, 640 * 480).fill(0x00336699);
      const plane = await c.queryGfxPlane(VFIO_GFX_PLANE_TYPE_DMABUF, DRM_PLANE_TYPE_PRIMARY);
      expect(plane).toMatchObject({ drmFormat: DRM_FORMAT_XRGB8888, width: 640, height: 480, stride: 2560, size: 640 * 480 * 4 });
      const buf = await c.importDmabuf(plane.regionIndexOrDmabufId);
      expect(buf.size).toBe(640 * 480 * 4);
      const px = new Uint32Array(buf.bytes.buffer, buf.bytes.byteOffset, buf.size / 4);
      expect(px.every((p) => p === 0x00336699)).toBe(true);
      // The buffer is the VRAM itself (shared memory): a later guest write shows through.
      vram.bytes.set([0, 0, 0xff, 0], 4 * 10);
      expect(px[10]).toBe(0x00ff0000);
      await buf.release();
      vram.unmap();
    } finally {
      c.close();
    }
  });

  it('mdpy: BAR0 maps only its sparse framebuffer area; the REGION plane names region 0', async () => {
    const c = await VfioUserClient.connect(serve.sockets.get('mdpy-xga-0')!, { display: true });
    try {
      const { info, fd } = await c.regionInfo(0);
      const { closeFd } = await import('../../../src/sys/fds.ts');
      if (fd !== undefined) closeFd(fd);
      expect(info.size).toBe(4 << 20);
      expect(info.caps).toEqual([{ kind: 'sparse-mmap', areas: [{ offset: 0, size: 1024 * 768 * 4 }] }]);
      const fb = await c.mapRegion(0);
      expect(fb.bytes.length).toBe(1024 * 768 * 4);
      const plane = await c.queryGfxPlane(VFIO_GFX_PLANE_TYPE_REGION, 0);
      expect(plane).toMatchObject({ width: 1024, height: 768, stride: 4096, regionIndexOrDmabufId: 0 });
      // Row 384 of the reset gradient: every byte ⌊384·255/768⌋ = 127.
      expect(fb.bytes[384 * 4096 + 17]).toBe(127);
      fb.unmap();
    } finally {
      c.close();
    }
  });

  it('a viewer connects alongside the first client and sees what it draws; closing the viewer leaves the first client\'s state alone', async () => {
    const vmm = await connect('mbochs-medium-0', { display: true });
    const viewer = await connect('mbochs-medium-0', { display: true });
    try {
      const dispi = [[4, 0], [3, 32], [1, 800], [2, 600], [6, 800], [8, 0], [9, 0], [4, 0x41]];
      for (const [index, value] of dispi) await vmm.regionWrite(2, 0x500 + 2 * index!, le16(value!));
      const plane = await viewer.queryGfxPlane(VFIO_GFX_PLANE_TYPE_DMABUF, DRM_PLANE_TYPE_PRIMARY);
      expect(plane).toMatchObject({ width: 800, height: 600 });
      const vmmPlane = await vmm.queryGfxPlane(VFIO_GFX_PLANE_TYPE_DMABUF, DRM_PLANE_TYPE_PRIMARY);
      const held = await vmm.importDmabuf(vmmPlane.regionIndexOrDmabufId);
      viewer.close();
      await closedAllBut('mbochs-medium-0', 1);
      // The device did not hear close_device: the VMM's dmabuf id is still known.
      const again = await vmm.importDmabuf(vmmPlane.regionIndexOrDmabufId);
      await again.release();
      await held.release();
      expect((await vmm.deviceInfo()).numRegions).toBe(10);
    } finally {
      vmm.close();
      viewer.close();
    }
  });

  it('every slot held by a client that mapped DMA: a fifth connection is closed, the four keep working', async () => {
    const path = serve.sockets.get('mdpy-xga-0')!;
    const clients = await Promise.all([0, 1, 2, 3].map(() => VfioUserClient.connect(path)));
    try {
      // fd-less maps, as QEMU sends for RAM it does not share: enough to count as a VMM.
      for (const [i, c] of clients.entries()) await c.dmaMap(BigInt(i) << 32n, 0x1000n);
      await expect(VfioUserClient.connect(path)).rejects.toMatchObject({ code: 'ECONNRESET' });
      for (const c of clients) expect((await c.deviceInfo()).numRegions).toBe(9);
    } finally {
      for (const c of clients) c.close();
    }
  });

  it('every slot taken: a newcomer displaces the longest-idle client that never mapped DMA, never the VMM', async () => {
    const path = serve.sockets.get('mdpy-xga-0')!;
    const vmm = await VfioUserClient.connect(path);
    const idle = await VfioUserClient.connect(path);
    const busy = await Promise.all([0, 1].map(() => VfioUserClient.connect(path)));
    try {
      await vmm.dmaMap(0n, 0x1000n);
      for (const c of busy) await c.deviceInfo(); // idle is now the longest idle
      const newcomer = await VfioUserClient.connect(path);
      expect((await newcomer.deviceInfo()).numRegions).toBe(9); // answered: the server has made room
      await expect(idle.deviceInfo()).rejects.toMatchObject({ code: 'ECONNRESET' });
      for (const c of [vmm, ...busy]) expect((await c.deviceInfo()).numRegions).toBe(9);
      newcomer.close();
    } finally {
      for (const c of [vmm, idle, ...busy]) c.close();
    }
  });

  it('connect/negotiate/close cycles leak no fd in the client process', async () => {
    const path = serve.sockets.get('mbochs-medium-0')!;
    const warm = await connect('mbochs-medium-0');
    warm.close();
    await closedAllBut('mbochs-medium-0', 0);
    const before = fdCount();
    for (let i = 0; i < 20; i++) {
      const c = await connect('mbochs-medium-0');
      const m = await c.mapRegion(0);
      m.unmap();
      c.close();
      await closedAllBut('mbochs-medium-0', 0);
    }
    expect(fdCount()).toBe(before);
    expect(existsSync(path)).toBe(true);
  });
});

describe('pipelined requests', () => {
  it('fds of a region-info reply reach that reply even when other replies are answered in the same batch', async () => {
    const c = await connect('mbochs-medium-0');
    try {
      const { closeFd } = await import('../../../src/sys/fds.ts');
      // Fire a burst without awaiting: the server drains them in one read and batches the replies.
      const burst = await Promise.all([
        c.request(4, new Uint8Array([16, 0, 0, 0])),
        c.request(5, new Uint8Array([32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ...new Array(16).fill(0)])),
        c.request(4, new Uint8Array([16, 0, 0, 0])),
        c.request(5, new Uint8Array([32, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, ...new Array(16).fill(0)])),
        c.request(4, new Uint8Array([16, 0, 0, 0])),
      ]);
      expect(burst.map((r) => r.fds.length)).toEqual([0, 1, 0, 0, 0]); // region 0 (VRAM) has an fd; region 2 (MMIO) none
      closeFd(burst[1]!.fds[0]!);
    } finally {
      c.close();
    }
  });
});
