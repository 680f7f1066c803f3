/**
 * `mdevsim serve --view 0`: the browser view of every device on loopback,
 * behind the token in the printed URL, and a WebSocket from the page's
 * origin that speaks RFB to a device's console — the same RFB server a VNC
 * viewer reaches.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebSocketStream, WebSocket } from 'ws';
import { startServe, type ServeProcess } from '../../support/serve-process.ts';
import { RfbTestClient } from '../../support/rfb-client.ts';
import { ENCODING } from '../../../src/vnc/rfb-wire.ts';

let serve: ServeProcess;
beforeAll(async () => { serve = await startServe(['--view', '0']); });
afterAll(async () => { expect(await serve.stop()).toBe(0); });

describe('serve --view', () => {
  it('prints a loopback URL with a token; state.json lists every device only with it, and the page loads', async () => {
    const url = new URL(String(serve.view));
    expect(url.origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const token = url.searchParams.get('token');
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await fetch(new URL('/state.json', url.origin))).status).toBe(403);
    const state = (await (await fetch(new URL(`/state.json?token=${token}`, url.origin))).json()) as { devices: { name: string; input: boolean }[] };
    expect(state.devices).toEqual([{ name: 'mbochs-medium-0', input: false }, { name: 'mdpy-xga-0', input: false }]);
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
  });

  it("a WebSocket from the page's origin speaks RFB to the device's console", async () => {
    const url = new URL(String(serve.view));
    const ws = new WebSocket(`ws://${url.host}/ws/mdpy-xga-0?token=${url.searchParams.get('token')}`, ['binary'], { origin: url.origin });
    // The stream before 'open': the server speaks first, and a message with no listener yet is lost.
    const c = new RfbTestClient(createWebSocketStream(ws));
    await c.handshake();
    expect([c.width, c.height]).toEqual([1024, 768]); // mdpy-xga's fixed mode
    c.setEncodings([ENCODING.ZRLE]);
    c.requestUpdate(false);
    expect((await c.update()).rects.length).toBeGreaterThan(0);
    c.close();
  });
});
