/**
 * The web view over real HTTP and real WebSockets (the `ws` package as the
 * client), without a browser: the token on the page, /state.json and the
 * WebSocket; the Host check; the Origin check on upgrade; the subprotocol;
 * the WebSocket cap; the noVNC assets and what they refuse; the CSP; the
 * frame and backlog bounds; and close() ending everything. One test carries
 * real RFB through to QEMU's VNC server (test/support/qemu-vga.ts).
 */
import { readFileSync } from 'node:fs';
import http, { type IncomingHttpHeaders } from 'node:http';
import { connect, type Socket } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { type ClientOptions } from 'ws';
import { startWebView, type WebView, type WebViewOptions } from '../../../src/vnc/web-view.ts';
import { webViewCsp } from '../../../src/vnc/web-view-page.ts';
import { QEMU, startQemuVga, type QemuVga } from '../../support/qemu-vga.ts';
import { systemTool } from '../../support/system-deps.ts';

const haveQemu = systemTool(QEMU, ['--version'], 'the web view test against QEMU');
const TOKEN = 'test-token-0123456789abcdefghij';

interface Attached {
  readonly device: string;
  readonly stream: Duplex;
  readonly peer: string;
  readonly closed: Promise<void>;
}

let cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

/** A web view over devices 'a' (with input) and 'b' (view only) whose attach keeps the streams it gets. */
async function open(opts: Partial<WebViewOptions> = {}): Promise<{ view: WebView; attached: Attached[]; origin: string }> {
  const attached: Attached[] = [];
  const view = await startWebView({
    port: 0,
    token: TOKEN,
    devices: () => [{ name: 'a', input: true }, { name: 'b', input: false }],
    attach: (device, stream, peer) => {
      const closed = new Promise<void>((done) => stream.once('close', () => done()));
      stream.on('error', () => {});
      attached.push({ device, stream, peer, closed });
      return true;
    },
    ...opts,
  });
  cleanup.push(() => view.close());
  return { view, attached, origin: `http://127.0.0.1:${view.port}` };
}

interface Reply { readonly status: number; readonly headers: IncomingHttpHeaders; readonly body: Buffer }

function get(view: WebView, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: view.port, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
}

type Upgrade = { readonly ws: WebSocket } | { readonly status: number; readonly body: string };

/** Open a WebSocket; resolves with it once open, or with the HTTP refusal. */
function upgrade(view: WebView, path: string, opts: ClientOptions & { protocols?: string[] } = {}): Promise<Upgrade> {
  const { protocols, ...rest } = opts;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${view.port}${path}`, protocols ?? [], { origin: `http://127.0.0.1:${view.port}`, ...rest });
    cleanup.push(() => ws.terminate());
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    ws.once('error', reject);
  });
}

const opened = (u: Upgrade): WebSocket => {
  if (!('ws' in u)) throw new Error(`refused: ${u.status} ${u.body}`);
  return u.ws;
};

const closeOf = (ws: WebSocket): Promise<{ code: number; reason: string }> =>
  new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));

describe('web view: who may use it', () => {
  it('the page and /state.json need the token: 403 without it or with a wrong one', async () => {
    const { view } = await open();
    for (const path of ['/', '/index.html', '/state.json', '/?token=', `/?token=${TOKEN}x`, `/state.json?token=${TOKEN.slice(1)}`]) {
      const r = await get(view, path);
      expect([path, r.status]).toEqual([path, 403]);
      expect(r.body.toString()).toBe('Forbidden: open the URL mdevsim printed; it carries the token.\n');
    }
    expect(view.stats().badToken).toBe(6);

    expect(view.url).toBe(`http://127.0.0.1:${view.port}/?token=${TOKEN}`);
    const page = await get(view, `/?token=${TOKEN}`);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.body.toString()).toContain('<script type="module" src="/app.js"></script>');
    const state = await get(view, `/state.json?token=${TOKEN}`);
    expect(JSON.parse(state.body.toString())).toEqual({ devices: [{ name: 'a', input: true }, { name: 'b', input: false }] });
  });

  it('a WebSocket needs the token too: 403 without it or with a wrong one', async () => {
    const { view, attached } = await open();
    for (const path of ['/ws/a', '/ws/a?token=', `/ws/a?token=${TOKEN}0`]) {
      expect(await upgrade(view, path)).toEqual({ status: 403, body: 'Forbidden: the WebSocket URL needs the token of the URL mdevsim printed.\n' });
    }
    expect(view.stats().badToken).toBe(3);
    expect(attached).toEqual([]);
    opened(await upgrade(view, `/ws/a?token=${TOKEN}`));
    expect(attached.map((a) => a.device)).toEqual(['a']);
    expect(attached[0]!.peer).toMatch(/^web view 127\.0\.0\.1:\d+$/);
  });

  it('answers loopback Host names only (DNS rebinding): 403 for another name, on HTTP and on upgrade', async () => {
    const { view } = await open();
    const evil = { Host: `evil.example:${view.port}` };
    expect((await get(view, `/?token=${TOKEN}`, evil)).status).toBe(403);
    expect((await get(view, '/app.js', evil)).status).toBe(403);
    expect(await upgrade(view, `/ws/a?token=${TOKEN}`, { headers: evil, origin: `http://evil.example:${view.port}` }))
      .toEqual({ status: 403, body: 'Forbidden: the web view answers loopback host names only.\n' });
    expect(view.stats().badHost).toBe(3);
    expect((await get(view, `/?token=${TOKEN}`, { Host: `localhost:${view.port}` })).status).toBe(200);
    // The page's origin follows the name the browser used.
    opened(await upgrade(view, `/ws/a?token=${TOKEN}`, { headers: { Host: `localhost:${view.port}` }, origin: `http://localhost:${view.port}` }));
  });

  it("admits a WebSocket only from the page's own origin; a missing Origin is refused too", async () => {
    const { view, attached } = await open();
    const path = `/ws/a?token=${TOKEN}`;
    const refused = { status: 403, body: "Forbidden: only the web view's own page may open its WebSockets.\n" };
    expect(await upgrade(view, path, { origin: 'http://evil.example' })).toEqual(refused);
    expect(await upgrade(view, path, { origin: 'http://127.0.0.1:1' })).toEqual(refused);
    expect(await upgrade(view, path, { origin: `http://localhost:${view.port}` })).toEqual(refused); // Host says 127.0.0.1
    expect(await upgrade(view, path, { origin: 'null' })).toEqual(refused);
    expect(await upgrade(view, path, { origin: undefined })).toEqual(refused); // ws sends no Origin unless told to
    expect(view.stats().badOrigin).toBe(5);
    expect(attached).toEqual([]);
  });
});

describe('web view: WebSockets', () => {
  it("answers subprotocol 'binary' when offered, none when none is; refuses offers without it (400)", async () => {
    const { view } = await open();
    const path = `/ws/a?token=${TOKEN}`;
    expect(opened(await upgrade(view, path)).protocol).toBe(''); // noVNC 1.7's default: no subprotocol
    expect(opened(await upgrade(view, path, { protocols: ['binary'] })).protocol).toBe('binary');
    expect(opened(await upgrade(view, path, { protocols: ['base64', 'binary'] })).protocol).toBe('binary');
    expect(await upgrade(view, path, { protocols: ['base64'] }))
      .toEqual({ status: 400, body: "Bad request: the web view speaks RFB in binary frames only (subprotocol 'binary' or none).\n" });
  });

  it('unknown devices are 404; a device whose attach() refuses gets the WebSocket closed with 1013 and a reason', async () => {
    const { view } = await open({ attach: () => false });
    expect(await upgrade(view, `/ws/nope?token=${TOKEN}`)).toEqual({ status: 404, body: 'Not found: no device named "nope".\n' });
    expect(await upgrade(view, `/nope?token=${TOKEN}`)).toEqual({ status: 404, body: 'Not found: WebSockets are at /ws/<device>.\n' });
    const ws = opened(await upgrade(view, `/ws/b?token=${TOKEN}`));
    expect(await closeOf(ws)).toEqual({ code: 1013, reason: 'the device refused this viewer (viewer limit reached or device gone)' });
    expect(view.stats().deviceRefused).toBe(1);
  });

  it('at most maxClients WebSockets: one more gets 503 until one closes', async () => {
    const { view, attached } = await open({ maxClients: 2 });
    const path = `/ws/a?token=${TOKEN}`;
    const first = opened(await upgrade(view, path));
    opened(await upgrade(view, path));
    expect(await upgrade(view, path)).toEqual({ status: 503, body: 'The web view already has 2 open WebSockets; close a page and retry.\n' });
    expect(view.stats()).toMatchObject({ webSockets: 2, refused: 1 });
    first.close();
    await attached[0]!.closed;
    opened(await upgrade(view, path));
    expect(view.stats()).toMatchObject({ webSockets: 2, refused: 1 });
  });

  it('a message over 64 KiB closes the WebSocket with 1009 (message too big)', async () => {
    const { view, attached } = await open();
    const ws = opened(await upgrade(view, `/ws/a?token=${TOKEN}`));
    const received: Buffer[] = [];
    attached[0]!.stream.on('data', (d: Buffer) => received.push(d));
    ws.send(Buffer.alloc(64 * 1024, 1));
    ws.send(Buffer.alloc(64 * 1024 + 1, 2));
    expect((await closeOf(ws)).code).toBe(1009);
    await attached[0]!.closed;
    expect(Buffer.concat(received)).toEqual(Buffer.alloc(64 * 1024, 1));
  });

  it('a browser that does not read is dropped once a write leaves more than maxBacklogBytes unsent; one that reads is not', async () => {
    const limit = 256 * 1024;
    const { view, attached } = await open({ maxBacklogBytes: limit });
    const reader = opened(await upgrade(view, `/ws/a?token=${TOKEN}`));
    const stuck = opened(await upgrade(view, `/ws/b?token=${TOKEN}`));
    stuck.pause(); // stops reading its socket: the kernel's buffers fill, then ours would
    const chunk = Buffer.alloc(32 * 1024, 7);

    // The reader gets 8 MiB from a writer that waits for 'drain'; it is never dropped.
    const toReader = attached[0]!.stream;
    let got = 0;
    const all = 8 << 20;
    const readAll = new Promise<void>((done) => reader.on('message', (m: Buffer) => { got += m.length; if (got >= all) done(); }));
    for (let sent = 0; sent < all; sent += chunk.length) {
      if (!toReader.write(chunk)) await new Promise((ok) => toReader.once('drain', ok));
    }
    await readAll;

    // A writer that ignores write() returning false, towards the one that does not read.
    const toStuck = attached[1]!.stream;
    let written = 0;
    let gone = false;
    void attached[1]!.closed.then(() => { gone = true; });
    while (!gone) {
      toStuck.write(chunk);
      written += chunk.length;
      expect(written, 'bytes written before the drop').toBeLessThan(64 << 20);
      await new Promise((ok) => setImmediate(ok));
    }
    expect(view.stats()).toMatchObject({ dropped: 1, webSockets: 1 });
    stuck.resume();
    expect((await closeOf(stuck)).code).toBe(1006); // cut, not closed: it was not reading a close frame either
    expect(reader.readyState).toBe(WebSocket.OPEN);
  });

  it.skipIf(!haveQemu)("carries RFB both ways: QEMU's greeting reaches the browser, the browser's reply reaches QEMU", async () => {
    const qemu: QemuVga = await startQemuVga();
    cleanup.push(() => qemu.close());
    const { view } = await open({ attach: (_device, stream) => qemu.attach(stream) });
    const ws = opened(await upgrade(view, `/ws/a?token=${TOKEN}`, { protocols: ['binary'] }));
    const messages: Buffer[] = [];
    const next = (n: number): Promise<Buffer> => new Promise((resolve) => {
      const check = (): void => {
        const all = Buffer.concat(messages);
        if (all.length >= n) {
          ws.off('message', onMessage);
          messages.splice(0, messages.length, all.subarray(n));
          resolve(all.subarray(0, n));
        }
      };
      const onMessage = (m: Buffer): void => { messages.push(m); check(); };
      ws.on('message', onMessage);
      check();
    });
    expect((await next(12)).toString()).toBe('RFB 003.008\n'); // RFC 6143 section 7.1.1
    ws.send(Buffer.from('RFB 003.008\n'));
    expect([...(await next(2))]).toEqual([1, 1]); // one security type: None (section 7.1.2)
    ws.send(Buffer.from([1]));
    expect((await next(4)).readUInt32BE(0)).toBe(0); // SecurityResult OK
  });
});

describe('web view: what it serves', () => {
  it('the page carries the CSP and the private headers; its script and style are served without the token', async () => {
    const { view, origin } = await open();
    const page = await get(view, `/?token=${TOKEN}`);
    expect(page.headers['content-security-policy']).toBe(webViewCsp(origin));
    expect(webViewCsp(origin)).toBe(
      `default-src 'none'; script-src 'self'; style-src 'self'; img-src data:; connect-src 'self' ws://127.0.0.1:${view.port}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    );
    expect(page.headers).toMatchObject({ 'referrer-policy': 'no-referrer', 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' });
    expect((await get(view, `/?token=${TOKEN}`, { Host: `localhost:${view.port}` })).headers['content-security-policy'])
      .toBe(webViewCsp(`http://localhost:${view.port}`));
    const app = await get(view, '/app.js');
    expect([app.status, app.headers['content-type']]).toEqual([200, 'text/javascript; charset=utf-8']);
    expect(app.body.toString()).toMatch(/^import RFB from '\/novnc\/core\/rfb\.js';/);
    expect((await get(view, '/app.css')).headers['content-type']).toBe('text/css; charset=utf-8');
  });

  it("serves noVNC's core/ and vendor/ .js files from the installed package, as text/javascript, without the token", async () => {
    const { view } = await open();
    const pkg = dirname(dirname(createRequire(import.meta.url).resolve('@novnc/novnc')));
    for (const file of ['core/rfb.js', 'core/util/browser.js', 'vendor/pako/lib/zlib/inflate.js']) {
      const r = await get(view, `/novnc/${file}`);
      expect([file, r.status, r.headers['content-type']]).toEqual([file, 200, 'text/javascript; charset=utf-8']);
      expect(r.body.equals(readFileSync(join(pkg, file)))).toBe(true);
    }
  });

  it('refuses every path outside those files (traversal, encodings, other types, other folders)', async () => {
    const { view } = await open();
    const paths = [
      '/novnc/../package.json', '/novnc/core/../../package.json', '/novnc/core/../core/rfb.js', '/novnc/%2e%2e/package.json',
      '/novnc/core%2frfb.js', '/novnc/core/./rfb.js', '/novnc//core/rfb.js', '/novnc/core\\rfb.js', '/novnc/package.json',
      '/novnc/docs/API.md', '/novnc/vendor/pako/README.md', '/novnc/vendor/pako/LICENSE', '/novnc/core/rfb.js.map', '/novnc/core',
      '/novnc/', '/novnc/core/', '/novnc/core/RFB.js', '/novnc/core/rfb.js/',
    ];
    for (const path of paths) expect([path, (await get(view, path)).status]).toEqual([path, 404]);
    // The raw request line, as a client that does not normalise paths sends it.
    const raw = await new Promise<string>((resolve) => {
      const s: Socket = connect(view.port, '127.0.0.1', () => s.end(`GET /novnc/../../../../etc/passwd HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`));
      let text = '';
      s.on('data', (d) => { text += d.toString(); });
      s.on('close', () => resolve(text));
    });
    expect(raw).toMatch(/^HTTP\/1\.1 404 /);
  });

  it('close() ends every WebSocket (1001), every HTTP connection and the listener, and is idempotent', async () => {
    const { view, attached } = await open();
    const ws = opened(await upgrade(view, `/ws/a?token=${TOKEN}`));
    const wsClosed = closeOf(ws);
    // An idle keep-alive HTTP connection.
    const agent = new http.Agent({ keepAlive: true });
    cleanup.push(() => agent.destroy());
    await new Promise<void>((done) => http.get({ host: '127.0.0.1', port: view.port, path: '/app.css', agent }, (res) => { res.resume(); res.on('end', done); }));
    const idle = Object.values(agent.freeSockets).flat()[0]!;
    const idleClosed = new Promise<void>((done) => idle.once('close', () => done()));
    expect(view.stats().sockets).toBe(2);

    const closing = view.close();
    expect(view.close()).toBe(closing);
    await closing;
    expect(await wsClosed).toEqual({ code: 1001, reason: 'the mdevsim web view is shutting down' });
    await idleClosed;
    await attached[0]!.closed;
    expect(view.stats()).toMatchObject({ sockets: 0, webSockets: 0 });
    const refused = await new Promise<string>((resolve) => connect(view.port, '127.0.0.1').once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? '')).once('connect', () => resolve('connected')));
    expect(refused).toBe('ECONNREFUSED');
  });
});

describe('web view: options', () => {
  it('refuses a non-loopback host, a bad port, token or bound, and a port in use', async () => {
    const base = { port: 0, devices: () => [], attach: () => true };
    await expect(startWebView({ ...base, host: '0.0.0.0' })).rejects.toThrow(/not a loopback address/);
    await expect(startWebView({ ...base, port: 70000 })).rejects.toThrow(/must be an integer 0–65535/);
    await expect(startWebView({ ...base, token: 'short' })).rejects.toThrow(/token must be 22–256/);
    await expect(startWebView({ ...base, maxClients: 0 })).rejects.toThrow(/maxClients 0 must be an integer 1–10000/);
    await expect(startWebView({ ...base, maxBacklogBytes: 0 })).rejects.toThrow(/maxBacklogBytes 0 must be a positive integer/);
    const { view } = await open();
    await expect(startWebView({ ...base, port: view.port })).rejects.toThrow(`Web view: port ${view.port} on 127.0.0.1 is already in use; pick another port or 0 for a free one.`);
  });

  it('a generated token is 43 base64url characters in the printed URL', async () => {
    const view = await startWebView({ port: 0, devices: () => [], attach: () => true });
    cleanup.push(() => view.close());
    expect(view.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${view.port}/\\?token=[A-Za-z0-9_-]{43}$`));
  });
});
