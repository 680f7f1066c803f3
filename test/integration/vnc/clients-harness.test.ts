/**
 * The native-client harness (test/support/vnc-clients.ts) against a server
 * whose pixels we know: QEMU 7.2's own VNC server over an ISA VGA written
 * through qtest (test/support/qemu-vga.ts), with QMP screendump as the reference.
 * What passes here is what mdevsim's RFB server will be held to: vncsnapshot
 * within JPEG tolerance, TigerVNC exactly, in the encoding asked for, across
 * a DesktopSize.
 *
 * Skips (saying why) when QEMU or a client is missing, and fails under
 * CI=true; `npm run setup:test` installs them (scripts/test-deps.sh).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vncPasswdFile } from '../../../src/vnc/vnc-auth.ts';
import { QEMU, startQemuVga, type QemuVga } from '../../support/qemu-vga.ts';
import { systemTool } from '../../support/system-deps.ts';
import {
  compareImages, startTigerViewer, TIGERVNC_VIEWER, vncsnapshot,
  type RgbaImage, type TigerEncoding, type TigerViewer, type TigerViewerOptions, type VncTarget,
} from '../../support/vnc-clients.ts';
import { ENCODINGS, encodingName, isPixelEncoding } from '../../support/vnc/rfb-wire.ts';

const haveQemu = systemTool(QEMU, ['--version'], 'the VNC client harness tests (QEMU as reference server)');
const haveSnapshot = haveQemu
  && systemTool('vncsnapshot', [], 'the vncsnapshot harness tests')
  && systemTool('djpeg', ['-version'], 'the vncsnapshot harness tests (JPEG decoding)');
const haveTiger = haveQemu
  && systemTool(TIGERVNC_VIEWER, ['-help'], 'the TigerVNC harness tests')
  && systemTool('Xvfb', ['-help'], 'the TigerVNC harness tests (virtual X server)')
  && systemTool('xwd', ['-help'], 'the TigerVNC harness tests (window dumps)')
  && systemTool('xwininfo', ['-version'], 'the TigerVNC harness tests (window geometry)');

/** Deterministic noise: the worst case for JPEG and for every encoder's run finding. */
function noise(seed: number): (x: number, y: number) => [number, number, number] {
  let s = seed >>> 0;
  const next = (): number => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s >>> 24; };
  return () => [next(), next(), next()];
}
/**
 * Flat blocks, gradients and a noisy band: runs for RLE/palette paths and
 * detail for raw ones. The ramp has 128 colours per row, not 256: QEMU
 * 7.2's Tight encoder sends palette index 255 as 0 (ui/vnc-enc-tight.c,
 * DEFINE_IDX_ENCODE_FUNCTION: `if (idx == (uint8_t)-1) idx = 0`, meant for
 * "colour not found"), so a rectangle of exactly 256 colours shows its last
 * colour wrong in every Tight viewer — a server bug, not the harness's.
 */
function mixed(x: number, y: number): [number, number, number] {
  if (y < 40) return [(x * 7) & 255, (y * 5) & 255, ((x ^ y) * 3) & 255];
  if (y < 80) return ((x >> 4) + (y >> 4)) & 1 ? [255, 0, 0] : [0, 0, 255];
  if (y < 120) return [(x * 2) & 255, 128, 255 - ((x * 2) & 255)];
  const h = Math.imul(x * 73856093 ^ y * 19349663, 2654435761) >>> 0;
  return [h & 255, (h >>> 8) & 255, (h >>> 16) & 255];
}

/** Run `body` with a viewer that is closed however `body` ends. */
async function withViewer(target: VncTarget, opts: TigerViewerOptions, body: (viewer: TigerViewer) => Promise<void>): Promise<void> {
  const viewer = await startTigerViewer(target, opts);
  try {
    await body(viewer);
  } finally {
    await viewer.close();
  }
}

describe.skipIf(!haveQemu)('native VNC clients against QEMU 7.2', () => {
  let qemu: QemuVga;
  let dir: string;

  beforeAll(async () => {
    qemu = await startQemuVga();
    dir = mkdtempSync(join(tmpdir(), 'mdevsim-vnc-harness-'));
  });
  afterAll(async () => {
    await qemu?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Set a mode, paint it, and return QEMU's own view of it. */
  async function show(width: number, height: number, rgb: (x: number, y: number) => readonly [number, number, number]): Promise<RgbaImage> {
    await qemu.setMode(width, height);
    await qemu.paint(rgb);
    const ref = await qemu.screendump();
    expect([ref.width, ref.height]).toEqual([width, height]);
    return ref;
  }

  it.skipIf(!haveSnapshot)('vncsnapshot over TCP matches screendump within JPEG tolerance (no channel off by more than 4, mean under 0.5)', async () => {
    for (const [pattern, rgb] of [['mixed', mixed], ['noise', noise(7)]] as const) {
      const ref = await show(320, 200, rgb);
      const snap = await vncsnapshot(qemu.tcp);
      const diff = compareImages(snap, ref, { tolerance: 4 });
      expect({ pattern, differing: diff.differingPixels }).toEqual({ pattern, differing: 0 });
      expect(diff.meanDiff).toBeLessThan(0.5);
    }
  });

  describe.skipIf(!haveTiger)('TigerVNC under Xvfb', () => {
    it.each(['ZRLE', 'Tight', 'Hextile', 'Raw'] as const satisfies readonly TigerEncoding[])(
      '-PreferredEncoding %s over the Unix socket: screendump exactly, and every pixel rectangle in that encoding',
      async (encoding) => {
        const ref = await show(320, 200, mixed);
        await withViewer(qemu.unix, { preferredEncoding: encoding }, async (viewer) => {
          await viewer.waitForImage(ref);
          expect(viewer.encoding()).toBe(encoding);
          const wire = viewer.wire();
          // TigerVNC lists pseudo-encodings first, then the preferred one (CConnection::updateEncodings).
          expect(encodingName(wire.clientEncodings.find(isPixelEncoding)!)).toBe(encoding);
          expect([...wire.rectCounts.keys()].filter(isPixelEncoding).map(encodingName)).toEqual([encoding]);
          expect(wire.pixelFormat).toMatchObject({ bitsPerPixel: 32, depth: 24, trueColour: true, redMax: 255 });
          expect(wire.stopped).toBeUndefined();
        });
      },
    );

    it('follows a DesktopSize: 320x200 → 640x480 → 320x200, window and pixels exact each time', async () => {
      const small = await show(320, 200, mixed);
      await withViewer(qemu.unix, {}, async (viewer) => {
        await viewer.waitForImage(small);
        const large = await show(640, 480, noise(3));
        await viewer.waitForSize(640, 480);
        await viewer.waitForImage(large);
        expect(viewer.log()).toMatch(/Viewport:\s+Resizing framebuffer from 320x200 to 640x480/);
        expect(viewer.wire().rectCounts.get(ENCODINGS.ExtendedDesktopSize)).toBeGreaterThanOrEqual(2);
        const again = await show(320, 200, noise(4));
        await viewer.waitForSize(320, 200);
        await viewer.waitForImage(again);
        expect(await viewer.windowSize()).toEqual({ width: 320, height: 200 });
        expect(viewer.framebufferSize()).toEqual({ width: 320, height: 200 });
      });
    });

    it('connects without the tap: straight to the Unix socket path and to host::port', async () => {
      const ref = await show(320, 200, mixed);
      await withViewer(qemu.unix, { tap: false }, async (viewer) => {
        await viewer.waitForImage(ref);
        expect(viewer.log()).toContain(`CConn:       Connected to socket ${qemu.unix.socketPath}`);
        expect(() => viewer.encoding()).toThrow(/needs the wire tap/);
      });
      await withViewer(qemu.tcp, { tap: false }, async (viewer) => {
        await viewer.waitForImage(ref);
        expect(viewer.log()).toContain(`CConn:       Connected to host ${qemu.tcp.host} port ${qemu.tcp.port}`);
      });
    });
  });
});

describe.skipIf(!haveQemu)('native VNC clients with VNC authentication (QEMU password=on)', () => {
  let qemu: QemuVga;
  let dir: string;
  let ref: RgbaImage;

  beforeAll(async () => {
    qemu = await startQemuVga({ tcpPassword: 'sekrit' });
    dir = mkdtempSync(join(tmpdir(), 'mdevsim-vnc-auth-'));
    await qemu.setMode(256, 128);
    await qemu.paint(mixed);
    ref = await qemu.screendump();
  });
  afterAll(async () => {
    await qemu?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(!haveSnapshot)('vncsnapshot succeeds with the right password (as a password and as a vncpasswd file) and fails with a wrong one', async () => {
    const snap = await vncsnapshot(qemu.tcp, { password: 'sekrit' });
    expect(compareImages(snap, ref, { tolerance: 4 }).differingPixels).toBe(0);
    const passwdFile = join(dir, 'passwd');
    writeFileSync(passwdFile, vncPasswdFile('sekrit'), { mode: 0o600 });
    expect(compareImages(await vncsnapshot(qemu.tcp, { passwdFile }), ref, { tolerance: 4 }).differingPixels).toBe(0);
    await expect(vncsnapshot(qemu.tcp, { password: 'other' })).rejects.toThrow(/vncsnapshot/);
  });

  it.skipIf(!haveTiger)('TigerVNC authenticates with the password (VncAuth on the wire) and shows screendump exactly', async () => {
    await withViewer(qemu.tcp, { password: 'sekrit' }, async (viewer) => {
      await viewer.waitForImage(ref);
      expect(viewer.wire()).toMatchObject({ version: '3.8', securityType: 2, securityResult: 0 });
    });
  });
});
