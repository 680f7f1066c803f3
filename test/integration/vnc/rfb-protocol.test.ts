/**
 * RFB protocol conformance of the server, message by message, against an
 * in-process mbochs driven by the bochs-drm guest model, over a real Unix
 * socket, seen through the test viewer written from RFC 6143
 * (test/support/rfb-client.ts). Each test names the section of RFC 6143
 * (or of rfbproto.rst for the extensions) whose behaviour it checks.
 * Expected pixels are worked out here from the guest's plane.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ENCODING } from '../../../src/vnc/rfb-wire.ts';
import { vncAuthenticator, vncAuthResponse } from '../../../src/vnc/vnc-auth.ts';
import { RfbSecurityFailure, type RfbClientPixelFormat, type RfbRect, type RfbTestClient } from '../../support/rfb-client.ts';
import { FIXTURE_HEIGHT as H, FIXTURE_WIDTH as W, startRfbFixture, type RfbFixture, type RfbFixtureOptions } from '../../support/rfb-fixture.ts';

let f: RfbFixture | undefined;
afterEach(async () => {
  await f?.close();
  f = undefined;
});

async function fixture(opts: RfbFixtureOptions = {}): Promise<RfbFixture> {
  f = await startRfbFixture(opts);
  return f;
}

const RGB565_BE: RfbClientPixelFormat = {
  bitsPerPixel: 16, depth: 16, bigEndian: true, trueColour: true, redMax: 31, greenMax: 63, blueMax: 31, redShift: 11, greenShift: 5, blueShift: 0,
};
/** §7.4: true-colour-flag 0 asks for a colour map; the maxima and shifts then mean nothing. */
const COLOUR_MAP_8: RfbClientPixelFormat = {
  bitsPerPixel: 8, depth: 8, bigEndian: false, trueColour: false, redMax: 0, greenMax: 0, blueMax: 0, redShift: 0, greenShift: 0, blueShift: 0,
};

/** Blocks of many colours over the top-left of the screen, so pixel formats have something to get wrong. */
function drawColours(fx: RfbFixture): void {
  for (let i = 0; i < 64; i++) {
    const rgb = (Math.imul(i + 1, 0x2f6b4d) >>> 0) & 0xffffff;
    fx.drm.fill(rgb, { x: (i % 16) * 16, y: Math.floor(i / 16) * 16, w: 16, h: 16 });
  }
}

/** The Raw rectangles of updates pasted into one W×H buffer of `bpp`-byte pixels. */
function rawFramebuffer(rects: RfbRect[], bpp: number): Buffer {
  const fb = Buffer.alloc(W * H * bpp);
  for (const r of rects.filter((q) => q.encoding === ENCODING.Raw)) {
    for (let y = 0; y < r.height; y++) r.data!.copy(fb, ((r.y + y) * W + r.x) * bpp, y * r.width * bpp, (y + 1) * r.width * bpp);
  }
  return fb;
}

/** Does the union of `rects` cover every pixel of `want`? */
function covers(rects: RfbRect[], want: { x: number; y: number; width: number; height: number }): boolean {
  for (let y = want.y; y < want.y + want.height; y++) {
    for (let x = want.x; x < want.x + want.width; x++) {
      if (!rects.some((r) => r.width > 0 && x >= r.x && x < r.x + r.width && y >= r.y && y < r.y + r.height)) return false;
    }
  }
  return true;
}

const same = (c: RfbTestClient, fx: RfbFixture): boolean => Buffer.from(c.fb).equals(Buffer.from(fx.planeRgba()));

describe('SetPixelFormat (RFC 6143 §7.5.1, pixel formats §7.4)', () => {
  it('RGB565 big-endian: a Raw update (§7.7.1) is the plane converted to 16-bit pixels, most significant byte first', async () => {
    const fx = await fixture();
    drawColours(fx);
    const c = await fx.viewer([ENCODING.Raw]);
    c.setPixelFormat(RGB565_BE);
    c.requestUpdate(false);
    const u = await c.update();
    expect(covers(u.rects, { x: 0, y: 0, width: W, height: H })).toBe(true);
    const plane = fx.planeRgba();
    const expected = Buffer.alloc(W * H * 2);
    const scale = (v: number, max: number): number => Math.floor((v * max + 127) / 255);
    for (let i = 0; i < W * H; i++) {
      expected.writeUInt16BE((scale(plane[i * 4]!, 31) << 11) | (scale(plane[i * 4 + 1]!, 63) << 5) | scale(plane[i * 4 + 2]!, 31), i * 2);
    }
    expect(rawFramebuffer(u.rects, 2).equals(expected)).toBe(true);
  });

  it('a colour map: SetColourMapEntries (§7.6.2, 256 entries from colour 0) comes before the update, whose indices map back to the plane within BGR233 precision', async () => {
    const fx = await fixture();
    drawColours(fx);
    const c = await fx.viewer([ENCODING.Raw]);
    c.setPixelFormat(COLOUR_MAP_8);
    c.requestUpdate(false);
    const u = await c.update();
    // update() reads messages in order until the FramebufferUpdate: the map was read first.
    expect(c.other).toEqual([1]);
    expect(c.colourMaps).toHaveLength(1);
    const map = c.colourMaps[0]!;
    expect(map.first).toBe(0);
    expect(map.colours).toHaveLength(256);
    const indices = rawFramebuffer(u.rects, 1);
    const plane = fx.planeRgba();
    // BGR233 keeps 3 bits of red and green, 2 of blue: a colour lands within half a step of its entry.
    const halfStep = [255 / 14, 255 / 14, 255 / 6];
    let worst = [0, 0, 0];
    for (let i = 0; i < W * H; i++) {
      const entry = map.colours[indices[i]!]!;
      worst = worst.map((w, ch) => Math.max(w, Math.abs((entry[ch]! * 255) / 65535 - plane[i * 4 + ch]!)));
    }
    worst.forEach((w, ch) => expect(w).toBeLessThanOrEqual(halfStep[ch]! + 1));
  });

  it('an unsupported format (24 bits per pixel, §7.4 allows 8, 16, 32) drops that viewer; another is served on', async () => {
    const fx = await fixture();
    const good = await fx.viewer([ENCODING.Raw]);
    const bad = await fx.viewer([ENCODING.Raw]);
    bad.setPixelFormat({ ...RGB565_BE, bitsPerPixel: 24, depth: 24, redMax: 255, greenMax: 255, blueMax: 255, redShift: 16, greenShift: 8 });
    await bad.closedByServer();
    good.requestUpdate(false);
    await good.update();
    expect(same(good, fx)).toBe(true);
  });
});

describe('security (RFC 6143 §7.1.2, §7.1.3, VNC Authentication §7.2.2)', () => {
  const PASSWORD = 's3cret';

  it('3.8, the right password: SecurityResult 0, then ServerInit', async () => {
    const fx = await fixture({ auth: vncAuthenticator(PASSWORD) });
    const c = await fx.connect();
    const challenges: Buffer[] = [];
    const type = await c.handshake({ respond: (ch) => { challenges.push(ch); return vncAuthResponse(PASSWORD, ch); } });
    expect(type).toBe(2);
    expect(challenges[0]).toHaveLength(16);
    expect([c.width, c.height]).toEqual([W, H]);
    // A fresh challenge for each connection: an answer seen once cannot be replayed.
    const c2 = await fx.connect();
    await c2.handshake({ respond: (ch) => { challenges.push(ch); return vncAuthResponse(PASSWORD, ch); } });
    expect(challenges[1]!.equals(challenges[0]!)).toBe(false);
  });

  it('3.8, a wrong password: SecurityResult 1 with a reason string, then the server closes', async () => {
    const fx = await fixture({ auth: vncAuthenticator(PASSWORD) });
    const c = await fx.connect();
    const failure = await c.handshake({ respond: (ch) => vncAuthResponse('wrong', ch) }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(RfbSecurityFailure);
    expect(failure).toMatchObject({ result: 1, reason: expect.stringMatching(/authentication failed/) });
    await c.closedByServer();
  });

  it('3.8 offers only VNC Authentication when a password is set, and a viewer that picks None is refused', async () => {
    const fx = await fixture({ auth: vncAuthenticator(PASSWORD) });
    const c = await fx.connect();
    await c.read(12);
    c.send(Buffer.from('RFB 003.008\n', 'latin1'));
    expect([...(await c.read(2))]).toEqual([1, 2]);
    c.send([1]);
    const result = await c.read(4);
    expect(result.readUInt32BE(0)).toBe(1);
    const reason = await c.read((await c.read(4)).readUInt32BE(0));
    expect(reason.toString('latin1')).toMatch(/not offered/);
    await c.closedByServer();
  });

  it('3.3: the server picks the type (u32 2), sends the challenge, and answers with SecurityResult', async () => {
    const fx = await fixture({ auth: vncAuthenticator(PASSWORD) });
    const c = await fx.connect();
    expect(await c.handshake({ version: 'RFB 003.003\n', respond: (ch) => vncAuthResponse(PASSWORD, ch) })).toBe(2);
    expect([c.width, c.height]).toEqual([W, H]);
    const bad = await fx.connect();
    const failure = await bad.handshake({ version: 'RFB 003.003\n', respond: (ch) => vncAuthResponse('wrong', ch) }).catch((e: unknown) => e);
    // Before 3.8 a failed SecurityResult carries no reason.
    expect(failure).toMatchObject({ result: 1, reason: null });
    await bad.closedByServer();
  });

  it('3.7 with None: no SecurityResult, ServerInit follows ClientInit directly', async () => {
    const fx = await fixture();
    const c = await fx.connect();
    expect((await c.read(12)).toString('latin1')).toBe('RFB 003.008\n');
    c.send(Buffer.from('RFB 003.007\n', 'latin1'));
    expect([...(await c.read(2))]).toEqual([1, 1]); // one type: None
    c.send([1]);
    c.send([1]); // ClientInit, shared
    const init = await c.read(24);
    // A SecurityResult (four zero bytes) here would have shifted ServerInit.
    expect([init.readUInt16BE(0), init.readUInt16BE(2), init[4]]).toEqual([W, H, 32]);
  });

  it('3.8 with None: SecurityResult 0 before ServerInit', async () => {
    const fx = await fixture();
    const c = await fx.connect();
    await c.read(12);
    c.send(Buffer.from('RFB 003.008\n', 'latin1'));
    expect([...(await c.read(2))]).toEqual([1, 1]);
    c.send([1]);
    expect((await c.read(4)).readUInt32BE(0)).toBe(0);
    c.send([1]);
    const init = await c.read(24);
    expect([init.readUInt16BE(0), init.readUInt16BE(2)]).toEqual([W, H]);
  });
});

describe('handshake timeout', () => {
  it('a viewer that sends nothing, or stops after its version, is closed; one that finished the handshake is served on', async () => {
    const fx = await fixture({ handshakeTimeoutMs: 200 });
    const good = await fx.viewer([ENCODING.Raw]);
    const silent = await fx.connect();
    const stalled = await fx.connect();
    stalled.send(Buffer.from('RFB 003.008\n', 'latin1'));
    await silent.closedByServer();
    await stalled.closedByServer();
    // good connected before both and its deadline passed before theirs: it was never dropped.
    expect(good.closed).toBe(false);
    good.requestUpdate(false);
    await good.update();
    expect(same(good, fx)).toBe(true);
  });
});

describe('ExtendedDesktopSize (rfbproto "ExtendedDesktopSize Pseudo-encoding", "SetDesktopSize")', () => {
  it('SetDesktopSize is answered at once with x = 1 (client request), y = 1 (prohibited) and the current size and screen', async () => {
    const fx = await fixture();
    const c = await fx.viewer([ENCODING.ExtendedDesktopSize, ENCODING.Raw]);
    c.setDesktopSize(800, 600);
    const u = await c.update();
    expect(u.rects).toEqual([{
      x: 1, y: 1, width: W, height: H, encoding: ENCODING.ExtendedDesktopSize,
      screens: [{ id: 0, x: 0, y: 0, width: W, height: H, flags: 0 }],
    }]);
    expect([c.width, c.height]).toEqual([W, H]);
  });

  it('a non-incremental request is answered with an ExtendedDesktopSize rectangle (x = 0) and the pixels', async () => {
    const fx = await fixture();
    const c = await fx.viewer([ENCODING.ExtendedDesktopSize, ENCODING.Raw]);
    c.requestUpdate(false);
    const u = await c.update();
    const [layout, ...pixels] = u.rects;
    expect(layout).toMatchObject({ x: 0, y: 0, width: W, height: H, encoding: ENCODING.ExtendedDesktopSize });
    expect(pixels.every((r) => r.encoding === ENCODING.Raw)).toBe(true);
    expect(same(c, fx)).toBe(true);
  });
});

describe('DesktopName (rfbproto "DesktopName Pseudo-encoding")', () => {
  it('after desktopNameChanged() a viewer that listed it gets a -307 rectangle with the new name; one that did not, nothing', async () => {
    let name = 'before';
    const fx = await fixture({ desktopName: () => name });
    const listens = await fx.viewer([ENCODING.DesktopName, ENCODING.Raw]);
    const deaf = await fx.viewer([ENCODING.Raw]);
    expect(listens.name).toBe('before');
    name = 'after: view only ✓';
    fx.server.desktopNameChanged();
    const u = await listens.update();
    expect(u.rects).toEqual([{ x: 0, y: 0, width: 0, height: 0, encoding: ENCODING.DesktopName, name: 'after: view only ✓' }]);
    expect(listens.name).toBe('after: view only ✓');
    deaf.requestUpdate(false);
    expect((await deaf.update()).rects.every((r) => r.encoding === ENCODING.Raw)).toBe(true);
  });
});

describe('FramebufferUpdateRequest (RFC 6143 §7.5.3)', () => {
  it('non-incremental for a sub-rectangle: the update covers at least that rectangle, first request or later', async () => {
    const fx = await fixture();
    const sub = { x: 100, y: 50, width: 30, height: 20 };
    const c = await fx.viewer([ENCODING.Raw]);
    c.requestUpdate(false, sub);
    expect(covers((await c.update()).rects, sub)).toBe(true);
    c.requestUpdate(false);
    await c.update();
    const sub2 = { x: 321, y: 400, width: 7, height: 9 };
    c.requestUpdate(false, sub2);
    const u = await c.update();
    expect(covers(u.rects, sub2)).toBe(true);
    expect(same(c, fx)).toBe(true);
  });

  it('a non-incremental request for the whole screen is answered with the frame once, first request or after a change', async () => {
    const fx = await fixture();
    const c = await fx.viewer([ENCODING.Raw]);
    c.requestUpdate(false);
    expect((await c.update()).rects.map(({ x, y, width, height }) => ({ x, y, width, height }))).toEqual([{ x: 0, y: 0, width: W, height: H }]);
    fx.drm.fill(0x00ffff00, { x: 200, y: 100, w: 40, h: 10 });
    fx.screen.poll(); // the change is in the screen's history before the request
    c.requestUpdate(false);
    expect((await c.update()).rects.map(({ x, y, width, height }) => ({ x, y, width, height }))).toEqual([{ x: 0, y: 0, width: W, height: H }]);
    expect(same(c, fx)).toBe(true);
  });

  it('incremental with nothing changed: no update until the screen changes, then the change', async () => {
    const fx = await fixture();
    const c = await fx.viewer([ENCODING.ExtendedDesktopSize, ENCODING.Raw]);
    c.requestUpdate(false);
    await c.update();
    c.requestUpdate(true);
    // The server reads in order: its answer to this SetDesktopSize shows it had the request and nothing to send for it.
    c.setDesktopSize(W, H);
    expect((await c.update()).rects.map((r) => r.encoding)).toEqual([ENCODING.ExtendedDesktopSize]);
    fx.drm.fill(0x00ffff00, { x: 200, y: 100, w: 40, h: 10 });
    const u = await c.update();
    expect(u.rects.map(({ x, y, width, height, encoding }) => ({ x, y, width, height, encoding })))
      .toEqual([{ x: 200, y: 100, width: 40, height: 10, encoding: ENCODING.Raw }]);
    expect(same(c, fx)).toBe(true);
  });
});
