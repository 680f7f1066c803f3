/**
 * One suite, run against both clients on a real `mdevsim serve` process, so
 * "SyncVfioUserClient offers the same calls as VfioUserClient" is checked
 * rather than promised: every call of client-core.ts's table, its reply
 * reading, its retries and its errors, over the libuv transport and over the
 * blocking one. Each case awaits the result, which is a no-op for the
 * blocking client's plain values.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VfioUserClient } from '../../../src/vfio-user/client.ts';
import { SyncVfioUserClient } from '../../../src/vfio-user/sync-client.ts';
import { CALLS } from '../../../src/vfio-user/client-core.ts';
import { createMemfd } from '../../../src/sys/memfd.ts';
import { closeFd } from '../../../src/sys/fds.ts';
import type { ClientOptions } from '../../../src/vfio-user/requests.ts';
import {
  DRM_FORMAT_XRGB8888, DRM_PLANE_TYPE_PRIMARY, VFIO_GFX_PLANE_TYPE_DMABUF, VFIO_GFX_PLANE_TYPE_PROBE, VFIO_GFX_PLANE_TYPE_REGION,
  VFIO_PCI_CONFIG_REGION_INDEX, VFIO_REGION_INFO_FLAG_MMAP,
} from '../../../src/vfio/uapi.ts';
import { startServe, type ServeProcess } from '../../support/serve-process.ts';
import { expectNoLeak } from '../../support/leak.ts';

let serve: ServeProcess;
beforeAll(async () => { serve = await startServe(); });
afterAll(async () => { expect(await serve.stop()).toBe(0); });

type AnyClient = VfioUserClient | SyncVfioUserClient;

const kinds: [string, (path: string, opts?: ClientOptions) => Promise<AnyClient>][] = [
  ['VfioUserClient (async)', (path, opts) => VfioUserClient.connect(path, opts)],
  ['SyncVfioUserClient (blocking)', (path, opts) => Promise.resolve(SyncVfioUserClient.connect(path, opts))],
];

/** What a call threw or rejected with (sync throws and async rejections alike). */
async function failure(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('the call succeeded');
}

function le16(v: number): Uint8Array { return new Uint8Array([v & 0xff, v >> 8]); }

async function using<T>(client: Promise<AnyClient>, fn: (c: AnyClient) => Promise<T>): Promise<T> {
  const c = await client;
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

describe('both clients', () => {
  it('offer exactly the same methods, one per call of the core table', () => {
    const methods = (proto: object): string[] => Object.getOwnPropertyNames(proto).filter((n) => n !== 'constructor').sort();
    expect(methods(SyncVfioUserClient.prototype)).toEqual(methods(VfioUserClient.prototype));
    for (const name of Object.keys(CALLS)) expect(methods(VfioUserClient.prototype)).toContain(name);
  });
});

describe.each(kinds)('%s against mdevsim serve', (_kind, open) => {
  const mbochs = (opts?: ClientOptions): Promise<AnyClient> => open(serve.sockets.get('mbochs-medium-0')!, opts);

  it('negotiates: server limits, and display only when proposed', async () => {
    await using(mbochs(), async (c) => {
      expect(c.display).toBe(false);
      expect(c.server.maxDataXfer).toBeGreaterThan(0);
    });
    await using(mbochs({ display: true }), async (c) => { expect(c.display).toBe(true); });
  });

  it('deviceInfo, irqInfo and regionInfo; a region with capabilities comes back complete after the argsz retry', async () => {
    await using(mbochs(), async (c) => {
      const dev = await c.deviceInfo();
      expect(dev).toMatchObject({ flags: 3, numRegions: 10, numIrqs: 5 });
      for (let i = 0; i < dev.numIrqs; i++) expect((await c.irqInfo(i)).index).toBe(i);
      let withCaps = 0;
      for (let i = 0; i < dev.numRegions; i++) {
        const { info, fd } = await c.regionInfo(i);
        if (fd !== undefined) closeFd(fd);
        expect(info).toMatchObject({ index: i, complete: true });
        if (info.caps.length > 0) withCaps++;
      }
      expect(withCaps).toBeGreaterThan(0);
    });
  });

  it('regionRead, regionWrite and a posted write, ordered on the stream; mapRegion sees the same bytes', async () => {
    await expectNoLeak(() => using(mbochs(), async (c) => {
      expect([...(await c.regionRead(VFIO_PCI_CONFIG_REGION_INDEX, 0, 4))]).toEqual([0x34, 0x12, 0x11, 0x11]);
      await c.regionWrite(0, 0x3000, new Uint8Array([5, 6, 7]));
      await c.regionWrite(0, 0x3003, new Uint8Array([8]), { posted: true });
      expect([...(await c.regionRead(0, 0x3000, 4))]).toEqual([5, 6, 7, 8]);
      const vram = await c.mapRegion(0);
      try {
        expect(vram.regionOffset).toBe(0);
        expect([...vram.bytes.subarray(0x3000, 0x3004)]).toEqual([5, 6, 7, 8]);
      } finally {
        vram.unmap();
      }
      expect(await failure(() => c.mapRegion(VFIO_PCI_CONFIG_REGION_INDEX))).toMatchObject({ code: 'ENOTSUP' });
    }));
  });

  it('dmaMap and dmaUnmap, with and without an fd; the server errno comes back by name', async () => {
    const mem = createMemfd('client-calls-dma', 0x2000);
    try {
      await expectNoLeak(() => using(mbochs(), async (c) => {
        await c.dmaMap(0x100000n, 0x2000n, { fd: mem.fd });
        await c.dmaMap(0x200000n, 0x1000n);
        await c.dmaUnmap(0x100000n, 0x2000n);
        expect(await failure(() => c.dmaUnmap(0x100000n, 0x2000n))).toMatchObject({ name: 'VfioError', code: 'ENOENT' });
        await c.dmaUnmap(0x200000n, 0x1000n);
      }));
    } finally {
      mem.close();
    }
  });

  it('an error reply fails only that call: the connection goes on', async () => {
    await using(mbochs(), async (c) => {
      expect(await failure(() => c.regionRead(42, 0, 4))).toMatchObject({ name: 'VfioError', code: 'EINVAL' });
      expect(await failure(() => c.queryGfxPlane(VFIO_GFX_PLANE_TYPE_DMABUF, DRM_PLANE_TYPE_PRIMARY))).toMatchObject({ code: 'ENOSYS' });
      await c.reset();
      expect((await c.deviceInfo()).numRegions).toBe(10);
    });
  });

  it('display extension: a mode set over BAR2 reaches the plane query, and the imported dmabuf shows the pixels', async () => {
    await expectNoLeak(() => using(mbochs({ display: true }), async (c) => {
      await c.reset();
      expect(await failure(() => c.queryGfxPlane(VFIO_GFX_PLANE_TYPE_PROBE | VFIO_GFX_PLANE_TYPE_REGION, 0))).toMatchObject({ code: 'EINVAL' });
      // bochs-drm's mode-set sequence for 640×480 as 16-bit writes at BAR2 0x500 + 2·index, posted as QEMU does.
      const dispi = [[4, 0], [3, 32], [1, 640], [2, 480], [5, 0], [6, 640], [7, (16 << 20) / (640 * 4)], [8, 0], [9, 0], [4, 0x41]];
      for (const [index, value] of dispi) await c.regionWrite(2, 0x500 + 2 * index!, le16(value!), { posted: true });
      const vram = await c.mapRegion(0);
      try {
        new Uint32Array(vram.bytes.buffer, vram.bytes.byteOffset, 640 * 480).fill(0x00336699);
      } finally {
        vram.unmap();
      }
      const plane = await c.queryGfxPlane(VFIO_GFX_PLANE_TYPE_DMABUF, DRM_PLANE_TYPE_PRIMARY);
      expect(plane).toMatchObject({ drmFormat: DRM_FORMAT_XRGB8888, width: 640, height: 480, stride: 2560 });
      const buf = await c.importDmabuf(plane.regionIndexOrDmabufId);
      expect(buf).toMatchObject({ width: 640, height: 480, size: 640 * 480 * 4 });
      expect([...buf.bytes.subarray(0, 4)]).toEqual([0x99, 0x66, 0x33, 0x00]);
      await buf.release();
      await c.reset();
    }));
  });

  it('mdpy: BAR0 is mappable and region info carries the mmap flag', async () => {
    await using(open(serve.sockets.get('mdpy-xga-0')!), async (c) => {
      const { info, fd } = await c.regionInfo(0);
      if (fd !== undefined) closeFd(fd);
      expect(info.flags & VFIO_REGION_INFO_FLAG_MMAP).toBeTruthy();
    });
  });
});
