/**
 * The RFB server against an in-process mbochs that the bochs-drm guest
 * model drives, seen through an RFB viewer written from RFC 6143 (test
 * support, not the server's code) over a real Unix socket: what the viewer
 * holds after each update must equal the guest's plane, byte for byte, for
 * Raw and ZRLE; a scroll travels as CopyRect; a mode change as the size
 * pseudo-encodings; a device without a mode shows the placeholder.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InstanceBudget } from '../../../devices/common/budget.ts';
import { MbochsDevice } from '../../../devices/mbochs/device.ts';
import { readDisplay } from '../../../src/display/plane-source.ts';
import { VncServer } from '../../../src/vnc/rfb-server.ts';
import { Screen } from '../../../src/vnc/screen.ts';
import { ENCODING } from '../../../src/vnc/rfb-wire.ts';
import type { BochsDrm } from '../../support/guest/bochs-drm.ts';
import { RfbTestClient } from '../../support/rfb-client.ts';
import { FIXTURE_HEIGHT as H, FIXTURE_WIDTH as W, startRfbFixture, type RfbFixture } from '../../support/rfb-fixture.ts';

/** Text-like rows: every 16-row line differs from its neighbours, so a scroll by one line is unambiguous. */
function drawLines(drm: BochsDrm, first: number): void {
  for (let line = 0; line < H / 16; line++) {
    const n = first + line;
    drm.fill(0x00101010, { x: 0, y: line * 16, w: W, h: 16 });
    drm.fill(0x00c0c0c0 ^ (n * 0x010305), { x: (n * 37) % 400, y: line * 16 + 3, w: 8 + (n % 23) * 9, h: 10 });
  }
}

describe('RFB server over a Unix socket', () => {
  let fx: RfbFixture;
  let drm: BochsDrm;

  beforeEach(async () => {
    fx = await startRfbFixture();
    drm = fx.drm;
  });

  afterEach(() => fx.close());

  const viewer = (encodings: number[]): Promise<RfbTestClient> => fx.viewer(encodings);
  const planeRgba = (): Uint8Array => fx.planeRgba();

  it('answers a 3.8 viewer with None, the mode as the framebuffer size and the desktop name', async () => {
    const c = await viewer([ENCODING.Raw]);
    expect(c.version).toBe('RFB 003.008\n');
    expect([c.width, c.height, c.name]).toEqual([W, H, 'mbochs-0 (mdevsim)']);
  });

  it.each([['Raw', ENCODING.Raw], ['ZRLE', ENCODING.ZRLE]])('a full update in %s equals the plane byte for byte', async (_n, enc) => {
    const c = await viewer([enc]);
    c.requestUpdate(false);
    const u = await c.update();
    expect(u.rects.every((r) => r.encoding === enc)).toBe(true);
    expect(Buffer.from(c.fb).equals(Buffer.from(planeRgba()))).toBe(true);
  });

  it('an incremental update carries only the damaged rectangle, and the viewer still equals the plane', async () => {
    const c = await viewer([ENCODING.ZRLE]);
    c.requestUpdate(false);
    await c.update();
    drm.fill(0x00ffff00, { x: 100, y: 50, w: 30, h: 20 });
    c.requestUpdate(true);
    const u = await c.update();
    expect(u.rects).toEqual([{ x: 100, y: 50, width: 30, height: 20, encoding: ENCODING.ZRLE }]);
    expect(Buffer.from(c.fb).equals(Buffer.from(planeRgba()))).toBe(true);
  });

  it('a scroll by one text line travels as one CopyRect plus the new line', async () => {
    drawLines(drm, 0);
    const c = await viewer([ENCODING.CopyRect, ENCODING.ZRLE]);
    c.requestUpdate(false);
    await c.update();
    drawLines(drm, 1); // every line moved up by 16 rows, a new one at the bottom
    c.requestUpdate(true);
    const u = await c.update();
    expect(u.rects[0]).toEqual({ x: 0, y: 0, width: W, height: H - 16, encoding: ENCODING.CopyRect });
    expect(u.rects.slice(1).every((r) => r.y >= H - 16)).toBe(true);
    expect(Buffer.from(c.fb).equals(Buffer.from(planeRgba()))).toBe(true);
  });

  it('a mode change reaches a viewer as ExtendedDesktopSize and then the new frame', async () => {
    const c = await viewer([ENCODING.ExtendedDesktopSize, ENCODING.ZRLE]);
    c.requestUpdate(false);
    await c.update();
    drm.setMode({ hdisplay: 800, vdisplay: 600 });
    drm.fill(0x00808000);
    c.requestUpdate(true);
    const u = await c.update();
    expect(u.rects[0]).toMatchObject({ x: 0, y: 0, width: 800, height: 600, encoding: ENCODING.ExtendedDesktopSize });
    expect([c.width, c.height]).toEqual([800, 600]);
    expect(Buffer.from(c.fb).equals(Buffer.from(planeRgba()))).toBe(true);
  });

  it('a viewer that only knows DesktopSize follows a mode change too', async () => {
    const c = await viewer([ENCODING.DesktopSize, ENCODING.Raw]);
    c.requestUpdate(false);
    await c.update();
    drm.setMode({ hdisplay: 1024, vdisplay: 768 });
    c.requestUpdate(true);
    const u = await c.update();
    expect(u.rects[0]).toMatchObject({ width: 1024, height: 768, encoding: ENCODING.DesktopSize });
    expect(Buffer.from(c.fb).equals(Buffer.from(planeRgba()))).toBe(true);
  });

  it.each([['3.3', 'RFB 003.003\n'], ['3.7', 'RFB 003.007\n'], ['an unknown 3.5, served as 3.3', 'RFB 003.005\n']])('speaks RFB %s', async (_n, version) => {
    const c = await fx.connect();
    expect(await c.handshake({ version })).toBe(1);
    c.setEncodings([ENCODING.Raw]);
    c.requestUpdate(false);
    await c.update();
    expect(Buffer.from(c.fb).equals(Buffer.from(planeRgba()))).toBe(true);
  });
});

describe('RFB server: a device without a mode', () => {
  it('shows the 640×480 placeholder rather than black or garbage', async () => {
    const dev = new MbochsDevice('mbochs-medium', { name: 'idle', budget: new InstanceBudget({ total: 64 }) });
    const screen = new Screen({ name: 'idle', read: (use) => readDisplay(dev, 'idle', ({ state }) => use(state)) });
    const server = await VncServer.start({ name: 'idle', screen, desktopName: () => 'idle', target: null, auth: { kind: 'none' }, input: () => null });
    const { PassThrough, Duplex } = await import('node:stream');
    // Two pipes make a socket pair in memory for attach().
    const up = new PassThrough();
    const down = new PassThrough();
    const serverSide = Duplex.from({ readable: up, writable: down });
    const clientSide = Duplex.from({ readable: down, writable: up });
    expect(server.attach(serverSide, 'test')).toBe(true);
    const c = new RfbTestClient(clientSide);
    await c.handshake();
    c.setEncodings([ENCODING.Raw]);
    c.requestUpdate(false);
    await c.update();
    expect([c.width, c.height]).toEqual([640, 480]);
    expect(screen.none?.reason).toBe('no-mode');
    const colours = new Set<number>();
    const words = new Uint32Array(c.fb.buffer);
    for (let i = 0; i < words.length; i += 97) colours.add(words[i]!);
    expect(colours.size).toBeGreaterThan(1); // text on a background, not one flat colour
    c.close();
    await server.close();
    screen.close();
  });
});
