/**
 * mdevsim's RFB server seen by real native viewers (Debian's packages),
 * with the guest's plane as the reference: an in-process mbochs driven by
 * the bochs-drm guest model, its console serving VNC.
 *
 * - TigerVNC's vncviewer under Xvfb over the Unix socket negotiates ZRLE,
 *   shows the plane pixel for pixel, and follows a mode change
 *   (ExtendedDesktopSize) to the new size and pixels.
 * - vncsnapshot over TCP with VNC authentication captures the screen as a
 *   JPEG, equal to the plane within JPEG's tolerance; a wrong password is
 *   refused.
 *
 * Skips (saying why) when a client is missing, and fails under CI=true;
 * `npm run setup:test` installs them (scripts/test-deps.sh).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InstanceBudget } from '../../../devices/common/budget.ts';
import { MbochsDevice } from '../../../devices/mbochs/device.ts';
import { currentDisplay } from '../../../src/display/plane-source.ts';
import { planeToRgba, type RgbaImage } from '../../../src/display/pixels.ts';
import { memfdMemoryFactory } from '../../../src/sys/memfd.ts';
import { ensurePrivateDir } from '../../../src/sys/trusted-path.ts';
import { DeviceConsole } from '../../../src/vnc/console.ts';
import { vncAuthenticator } from '../../../src/vnc/vnc-auth.ts';
import { systemTool } from '../../support/system-deps.ts';
import { BochsDrm, bootBochsDrm } from '../../support/guest/bochs-drm.ts';
import { compareImages, startTigerViewer, TIGERVNC_VIEWER, vncsnapshot } from '../../support/vnc-clients.ts';

const haveTiger = systemTool(TIGERVNC_VIEWER, ['-help'], 'the TigerVNC viewer test')
  && systemTool('Xvfb', ['-help'], 'the TigerVNC viewer test (virtual X server)')
  && systemTool('xwd', ['-help'], 'the TigerVNC viewer test (window dumps)')
  && systemTool('xwininfo', ['-version'], 'the TigerVNC viewer test (window geometry)');
const haveSnapshot = systemTool('vncsnapshot', [], 'the vncsnapshot test')
  && systemTool('djpeg', ['-version'], 'the vncsnapshot test (JPEG decoding)');

function plane(dev: MbochsDevice): RgbaImage {
  const d = currentDisplay(dev, 'm');
  if (d.kind !== 'plane') throw new Error('no plane');
  return planeToRgba(d.plane);
}

/** Blocks, two-colour "text" and a noisy band: ZRLE's solid, packed-palette and raw tiles all occur. */
function draw(drm: BochsDrm, w: number, h: number): void {
  drm.fill(0x00c03030, { x: 0, y: 0, w, h: h / 4 });
  drm.fill(0x00101010, { x: 0, y: h / 4, w, h: h / 4 });
  for (let y = h / 4; y < h / 2; y++) {
    for (let x = 0; x < w; x++) if ((x * 7 + y * 3) % 5 < 2 && x % 8 < 6) drm.fill(0x00c0c0c0, { x, y, w: 1, h: 1 });
  }
  for (let y = h / 2; y < h; y += 8) {
    for (let x = 0; x < w; x += 8) drm.fill(((x * 2654435761) ^ (y * 40503)) & 0x00ffffff, { x, y, w: 8, h: 8 });
  }
}

describe('real VNC viewers against mdevsim', () => {
  let dir: string;
  let dev: MbochsDevice;
  let drm: BochsDrm;
  let console_: DeviceConsole | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mdevsim-viewers-'));
    ensurePrivateDir(join(dir, 's'));
    dev = new MbochsDevice('mbochs-medium', { name: 'm', budget: new InstanceBudget({ total: 64 }), memory: memfdMemoryFactory });
    drm = bootBochsDrm(dev);
    drm.probe();
    drm.setMode({ hdisplay: 640, vdisplay: 480 });
    draw(drm, 640, 480);
  });

  afterEach(async () => {
    await console_?.close();
    console_ = undefined;
    dev.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(!haveTiger)('TigerVNC over the Unix socket: ZRLE, the plane exactly, and it follows a mode change', async () => {
    console_ = await DeviceConsole.start({
      name: 'm', desktopName: 'm', device: dev, vnc: { kind: 'unix', path: join(dir, 's', 'm.vnc') }, auth: { kind: 'none' }, qmpPath: null,
    });
    const viewer = await startTigerViewer({ socketPath: join(dir, 's', 'm.vnc') }, { preferredEncoding: 'ZRLE', viewOnly: true });
    try {
      await viewer.waitForImage(plane(dev), { timeoutMs: 15_000 });
      expect(viewer.encoding()).toBe('ZRLE');
      drm.setMode({ hdisplay: 800, vdisplay: 600 });
      draw(drm, 800, 600);
      await viewer.waitForSize(800, 600, 15_000);
      await viewer.waitForImage(plane(dev), { timeoutMs: 15_000 });
    } finally {
      await viewer.close();
    }
  });

  it.skipIf(!haveTiger)('TigerVNC preferring Tight still gets a lossless encoding mdevsim speaks (ZRLE), with the same pixels', async () => {
    console_ = await DeviceConsole.start({
      name: 'm', desktopName: 'm', device: dev, vnc: { kind: 'unix', path: join(dir, 's', 'm.vnc') }, auth: { kind: 'none' }, qmpPath: null,
    });
    const viewer = await startTigerViewer({ socketPath: join(dir, 's', 'm.vnc') }, { preferredEncoding: 'Tight', viewOnly: true });
    try {
      await viewer.waitForImage(plane(dev), { timeoutMs: 15_000 });
      expect(viewer.encoding()).toBe('ZRLE');
    } finally {
      await viewer.close();
    }
  });

  it.skipIf(!haveSnapshot)('vncsnapshot over TCP with the password sees the plane within JPEG tolerance; a wrong password is refused', async () => {
    console_ = await DeviceConsole.start({
      name: 'm', desktopName: 'm', device: dev, vnc: { kind: 'tcp', host: '127.0.0.1', port: 0 }, auth: vncAuthenticator('s3cret'), qmpPath: null,
    });
    const port = Number(console_.vnc.address!.split(':').pop());
    const shot = await vncsnapshot({ host: '127.0.0.1', port }, { password: 's3cret' });
    const diff = compareImages(shot, plane(dev), { tolerance: 48 });
    expect([shot.width, shot.height]).toEqual([640, 480]);
    expect(diff.meanDiff).toBeLessThan(6);
    await expect(vncsnapshot({ host: '127.0.0.1', port }, { password: 'wrong' })).rejects.toThrow();
  });
});
