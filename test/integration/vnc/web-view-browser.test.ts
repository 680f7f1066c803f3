/// <reference lib="dom" />
/**
 * The web view in a real browser against a real RFB server: headless
 * Chromium (Debian's, through playwright-core) opens the URL startWebView
 * prints; noVNC, served by the view, connects over the view's WebSocket,
 * which attach() pipes to QEMU's VNC server (test/support/qemu-vnc-target.ts).
 * The canvas noVNC draws must equal QEMU's own screendump pixel for pixel;
 * a click and a key on the page must arrive at the RFB stream as a
 * PointerEvent and a key event; without a QMP peer (input: false) the page
 * says so and sends no input; a dropped connection is reconnected.
 *
 * Skips (saying why) when chromium or QEMU is missing, and fails under
 * CI=true; `npm run setup:test` installs them (test/support/system-deps.ts).
 */
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startWebView, type WebView } from '../../../src/vnc/web-view.ts';
import { QEMU, startQemuVnc, type QemuVnc, type RgbaImage } from '../../support/qemu-vnc-target.ts';
import { systemTool } from '../../support/system-deps.ts';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = systemTool(CHROMIUM, ['--version'], 'the web view browser test');
const haveQemu = systemTool(QEMU, ['--version'], 'the web view browser test');

const DEVICE = 'vga-0';
const W = 640;
const H = 480;
/** Every channel varies independently, so a swapped channel or a shifted row shows. */
const pattern = (x: number, y: number): number => (((x * 7) & 0xff) << 16) | (((y * 3) & 0xff) << 8) | ((x ^ y) & 0xff);

/** An RFB client-to-server message (RFC 6143 section 7.5; QEMU's extension is type 255, subtype 0). */
type ClientMessage =
  | { readonly type: 'pointer'; readonly mask: number; readonly x: number; readonly y: number }
  | { readonly type: 'key'; readonly down: boolean; readonly keysym: number; readonly via: 4 | 255 }
  | { readonly type: 'other'; readonly id: number };

/**
 * The browser's side of one RFB stream, parsed as it arrives: the 12-byte
 * ProtocolVersion, the chosen security type and ClientInit (1 byte each;
 * security None adds nothing more), then messages. waitFor resolves on the
 * first message (seen or to come) that matches.
 */
class ClientMessages {
  readonly messages: ClientMessage[] = [];
  #bytes = Buffer.alloc(0);
  #handshake = 12 + 1 + 1;
  #waiters: (() => void)[] = [];

  feed(chunk: Buffer): void {
    this.#bytes = Buffer.concat([this.#bytes, chunk]);
    const skip = Math.min(this.#handshake, this.#bytes.length);
    this.#bytes = this.#bytes.subarray(skip);
    this.#handshake -= skip;
    for (let size: number | undefined; this.#bytes.length > 0 && (size = messageSize(this.#bytes)) !== undefined && size <= this.#bytes.length;) {
      this.messages.push(decode(this.#bytes.subarray(0, size)));
      this.#bytes = this.#bytes.subarray(size);
    }
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Index of the first message after index `after` that matches, once it has arrived. */
  async waitFor(match: (m: ClientMessage) => boolean, after = -1): Promise<number> {
    for (;;) {
      const at = this.messages.findIndex((m, i) => i > after && match(m));
      if (at >= 0) return at;
      await new Promise<void>((wake) => this.#waiters.push(wake));
    }
  }
}

/** Bytes of the message at the start of `b`, or undefined until enough of it is there to tell. */
function messageSize(b: Buffer): number | undefined {
  const need = (n: number, size: () => number): number | undefined => (b.length < n ? undefined : size());
  switch (b[0]) {
    case 0: return 20; // SetPixelFormat
    case 2: return need(4, () => 4 + 4 * b.readUInt16BE(2)); // SetEncodings
    case 3: return 10; // FramebufferUpdateRequest
    case 4: return 8; // KeyEvent
    case 5: return 6; // PointerEvent
    // ClientCutText; a negative length is the Extended Clipboard form of |length| bytes (noVNC sends its caps that way).
    case 6: return need(8, () => 8 + Math.abs(b.readInt32BE(4)));
    case 255: return need(2, () => (b[1] === 0 ? 12 : 4)); // QEMU: ExtendedKeyEvent; audio enable/disable
    default: throw new Error(`unexpected client message type ${b[0]}`);
  }
}

function decode(m: Buffer): ClientMessage {
  if (m[0] === 5) return { type: 'pointer', mask: m[1]!, x: m.readUInt16BE(2), y: m.readUInt16BE(4) };
  if (m[0] === 4) return { type: 'key', down: m[1] === 1, keysym: m.readUInt32BE(4), via: 4 };
  if (m[0] === 255 && m[1] === 0) return { type: 'key', down: m.readUInt16BE(2) === 1, keysym: m.readUInt32BE(4), via: 255 };
  return { type: 'other', id: m[0]! };
}

const pressAt = (x: number, y: number) => (m: ClientMessage): boolean => m.type === 'pointer' && m.mask === 1 && m.x === x && m.y === y;
const keyOf = (keysym: number, down: boolean) => (m: ClientMessage): boolean => m.type === 'key' && m.keysym === keysym && m.down === down;

interface PageDevice { status: string; input: boolean; viewOnly: boolean; connects: number; disconnects: number }

describe.skipIf(!haveChromium || !haveQemu)('web view in headless Chromium against QEMU', () => {
  let qemu: QemuVnc;
  let reference: RgbaImage;
  let view: WebView;
  let browser: Browser;
  let page: Page;
  let input = true;
  /** Every RFB stream attach() got, in order, with what the browser sent on it. */
  const streams: { stream: Duplex; sent: ClientMessages }[] = [];
  const current = (): { stream: Duplex; sent: ClientMessages } => streams[streams.length - 1]!;

  beforeAll(async () => {
    qemu = await startQemuVnc();
    await qemu.draw(W, H, pattern);
    reference = await qemu.screendump();
    expect([reference.width, reference.height]).toEqual([W, H]);
    view = await startWebView({
      port: 0,
      devices: () => [{ name: DEVICE, input }],
      attach: (device, stream) => {
        expect(device).toBe(DEVICE);
        const sent = new ClientMessages();
        stream.on('data', (chunk: Buffer) => sent.feed(chunk));
        streams.push({ stream, sent });
        return qemu.attach(stream);
      },
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
    page.on('console', (m) => { if (m.type() === 'error') console.error(`page: ${m.text()}`); });
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
    await page.goto(view.url);
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    await view?.close();
    await qemu?.stop();
  });

  const device = (): Promise<PageDevice | undefined> =>
    page.evaluate((name) => (window as unknown as { webView: { devices: Record<string, PageDevice> } }).webView.devices[name], DEVICE);
  const statusText = (): Promise<string | null> => page.locator(`section[data-device="${DEVICE}"] .status`).textContent();
  const canvas = (): ReturnType<Page['locator']> => page.locator(`section[data-device="${DEVICE}"] canvas`);

  /** The canvas as RGBA, and how many pixels differ from QEMU's screendump. */
  async function compare(): Promise<{ width: number; height: number; mismatched: number; first?: string }> {
    const { width, height, base64 } = await page.evaluate((name) => {
      const c = document.querySelector<HTMLCanvasElement>(`section[data-device="${name}"] canvas`)!;
      const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let bin = '';
      for (let i = 0; i < data.length; i += 0x8000) bin += String.fromCharCode(...data.subarray(i, i + 0x8000));
      return { width: c.width, height: c.height, base64: btoa(bin) };
    }, DEVICE);
    if (width !== reference.width || height !== reference.height) return { width, height, mismatched: -1 };
    const got = Buffer.from(base64, 'base64');
    let mismatched = 0;
    let first: string | undefined;
    for (let i = 0; i < got.length; i += 4) {
      if (got.readUInt32BE(i) !== Buffer.from(reference.rgba.buffer, reference.rgba.byteOffset + i, 4).readUInt32BE(0)) {
        mismatched++;
        first ??= `(${(i / 4) % width}, ${Math.floor(i / 4 / width)}): canvas ${got.subarray(i, i + 4).toString('hex')}, QEMU ${Buffer.from(reference.rgba.subarray(i, i + 4)).toString('hex')}`;
      }
    }
    return first === undefined ? { width, height, mismatched } : { width, height, mismatched, first };
  }

  /** Resolves once the device's view is connected (noVNC's 'connect' event), returning the stream it got. */
  async function connected(): Promise<{ stream: Duplex; sent: ClientMessages }> {
    await page.waitForFunction((name) => (window as unknown as { webView: { devices: Record<string, PageDevice> } }).webView.devices[name]?.status === 'connected', DEVICE);
    return current();
  }

  /** Page coordinates of framebuffer pixel (x, y): noVNC truncates clientX − the canvas's left edge. */
  async function pagePoint(x: number, y: number): Promise<{ x: number; y: number }> {
    const box = (await canvas().boundingBox())!;
    return { x: Math.ceil(box.x) + x, y: Math.ceil(box.y) + y };
  }

  it("noVNC connects (its 'connect' event) and its canvas shows exactly QEMU's screendump, at 1:1", async () => {
    await connected();
    expect(await device()).toMatchObject({ status: 'connected', input: true, viewOnly: false });
    expect(await statusText()).toBe('connected');
    await expect.poll(compare, { timeout: 10_000 }).toEqual({ width: W, height: H, mismatched: 0 });
    const box = (await canvas().boundingBox())!;
    expect([box.width, box.height]).toEqual([W, H]); // scaling is off: one CSS pixel per framebuffer pixel
    expect(view.stats()).toMatchObject({ webSockets: 1, badToken: 0, badOrigin: 0, badHost: 0 });
  });

  it('a click and a key on the page reach the RFB stream as a PointerEvent and a key event', async () => {
    const { sent } = await connected();
    const at = await pagePoint(100, 50);
    await page.mouse.click(at.x, at.y);
    await page.keyboard.press('a');
    const press = await sent.waitFor(pressAt(100, 50));
    await sent.waitFor((m) => m.type === 'pointer' && m.mask === 0 && m.x === 100 && m.y === 50, press); // the release
    const down = await sent.waitFor(keyOf(0x61, true), press); // XK_a
    await sent.waitFor(keyOf(0x61, false), down);
    // QEMU announces its Extended Key Event, so noVNC sends scancodes through it (type 255) rather than KeyEvent (type 4).
    expect(sent.messages[down]).toMatchObject({ via: 255 });
  });

  it('without a QMP peer the page says "view only" and sends no input; once there is one, input flows again', async () => {
    const { sent } = await connected();
    input = false;
    await page.waitForFunction((name) => (window as unknown as { webView: { devices: Record<string, PageDevice> } }).webView.devices[name]?.viewOnly === true, DEVICE);
    expect(await statusText()).toBe('connected · view only: no QMP peer');
    const ignored = await pagePoint(30, 40);
    await page.mouse.click(ignored.x, ignored.y);
    await page.keyboard.press('b');

    input = true;
    await page.waitForFunction((name) => (window as unknown as { webView: { devices: Record<string, PageDevice> } }).webView.devices[name]?.viewOnly === false, DEVICE);
    expect(await statusText()).toBe('connected');
    const counted = await pagePoint(200, 100);
    await page.mouse.click(counted.x, counted.y);
    await page.keyboard.press('c');
    await sent.waitFor(pressAt(200, 100));
    await sent.waitFor(keyOf(0x63, false)); // XK_c released: everything sent before it has arrived
    // One stream, in order: had the view-only click or key been sent, it would be here by now.
    expect(sent.messages.filter((m) => (m.type === 'pointer' && m.x === 30 && m.y === 40) || (m.type === 'key' && m.keysym === 0x62))).toEqual([]);
  });

  it('when the connection drops, the page says so and reconnects by itself', async () => {
    const { stream } = await connected();
    const before = streams.length;
    const { connects, disconnects } = (await device())!;
    stream.destroy();
    await page.waitForFunction(([name, n]) => (window as unknown as { webView: { devices: Record<string, PageDevice> } }).webView.devices[name]?.connects === n, [DEVICE, connects + 1] as const);
    expect(await device()).toMatchObject({ connects: connects + 1, disconnects: disconnects + 1 });
    expect(streams.length).toBe(before + 1);
    expect(await statusText()).toBe('connected');
    await expect.poll(compare, { timeout: 10_000 }).toEqual({ width: W, height: H, mismatched: 0 });
  });
});
