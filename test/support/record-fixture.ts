/**
 * Regenerates test/fixtures/traces/mbochs-qemu-realize-bochs-drm.trace:
 * `mdevsim serve --record` on an mbochs-medium, then QEMU 10.2's realize
 * sequence (docs/protocol.md "QEMU's client") followed by the bochs-drm guest model's
 * probe, mode set and drawing, and a plane query + dmabuf export through the
 * display extension.
 *
 *   npx tsx test/support/record-fixture.ts
 */
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SyncVfioUserClient } from '../../src/vfio-user/sync-client.ts';
import { createMemfd } from '../../src/sys/memfd.ts';
import { closeFd } from '../../src/sys/fds.ts';
import * as P from '../../src/vfio-user/protocol.ts';
import { DRM_PLANE_TYPE_PRIMARY, VFIO_GFX_PLANE_TYPE_DMABUF } from '../../src/vfio/uapi.ts';
import { BochsDrm } from './guest/bochs-drm.ts';
import { assignBar, socketBus } from './guest/bus.ts';
import { le } from './vfio-user-msg.ts';
import { startServe } from './serve-process.ts';

const root = resolve(import.meta.dirname, '../..');
const prefix = join(mkdtempSync(join(tmpdir(), 'mdevsim-record-')), 'rec');
const rec = await startServe(['--device', 'mbochs-medium', '--record', prefix]);
const c = SyncVfioUserClient.connect(rec.sockets.get('mbochs-medium-0')!, { display: true, maxMsgFds: 16 });
const ram = createMemfd('guest-ram', 1 << 20);
c.request(P.VFIO_USER_DMA_MAP, le([32, 4], [3, 4], [0, 8], [0, 8], [1 << 20, 8]), [ram.fd]);
c.request(P.VFIO_USER_DMA_MAP, le([32, 4], [1, 4], [0, 8], [0xfffc0000, 8], [0x40000, 8]));
ram.close();
c.deviceInfo();
for (const i of [0, 1, 2, 3, 4, 5, 7]) {
  const { fd } = c.regionInfo(i);
  if (fd !== undefined) closeFd(fd);
}
c.request(P.VFIO_USER_DEVICE_GET_IRQ_INFO, le([16, 4], [0, 4], [3, 4], [0, 4]));
c.regionRead(7, 0, 256);
c.regionRead(7, 0x30, 4);
c.regionWrite(7, 0x30, le([0xfffff800, 4]));
c.regionRead(7, 0x30, 4);
c.regionWrite(7, 0x30, le([0, 4]));
for (const bar of [0, 2]) c.regionRead(7, 0x10 + 4 * bar, 4);
const bus = socketBus(c);
assignBar(bus, 0, 0xe0000000);
assignBar(bus, 2, 0xfebf0000);
const drm = new BochsDrm(bus);
const probe = drm.probe();
drm.blank(false);
drm.setMode(probe.preferred);
drm.fill(0x00204080);
drm.fill(0x00ffffff, { x: 8, y: 8, w: 64, h: 16 });
const plane = c.queryGfxPlane(VFIO_GFX_PLANE_TYPE_DMABUF, DRM_PLANE_TYPE_PRIMARY);
c.importDmabuf(plane.regionIndexOrDmabufId).release();
c.reset();
bus.unmapAll();
c.close();
await new Promise((r) => setTimeout(r, 200));
copyFileSync(`${prefix}-mbochs-medium-0.trace`, join(root, 'test/fixtures/traces/mbochs-qemu-realize-bochs-drm.trace'));
console.log(`recorded; preferred mode ${probe.preferred.hdisplay}x${probe.preferred.vdisplay}, plane ${plane.width}x${plane.height}`);
await rec.stop();
