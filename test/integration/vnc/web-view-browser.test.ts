/// <reference lib="dom" />
/**
 * The web view in a real browser against real RFB servers: headless
 * Chromium (Debian's, through playwright-core) opens the URL startWebView
 * prints; noVNC, served by the view, connects over the view's WebSocket to
 * what attach() hands the stream to.
 *
 * - QEMU's VNC server (test/support/qemu-vga.ts), a server we did
 *   not write: the canvas must equal QEMU's own screendump pixel for pixel;
 *   a click and a key must arrive on the RFB stream as a PointerEvent and a
 *   key event; without a QMP peer (input: false) the page says so and
 *   sends no input; a dropped connection is reconnected.
 * - mdevsim's RFB server over an in-process mbochs that the bochs-drm
 *   guest model draws on: the canvas must equal the guest's plane, follow
 *   what the guest draws next, and the server must receive the click and
 *   the key as input.
 *
 * Skips (saying why) when chromium or QEMU is missing, and fails under
 * CI=true; `npm run setup:test` installs them (test/support/system-deps.ts).
 */
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { InstanceBudget } from '../../../devices/common/budget.ts';
import { MbochsDevice } from '../../../devices/mbochs/device.ts';
import { currentDisplay, readDisplay } from '../../../src/display/plane-source.ts';
import { planeToRgba, type RgbaImage } from '../../../src/display/pixels.ts';
import { memfdMemoryFactory } from '../../../src/sys/memfd.ts';
import type { RfbInput } from '../../../src/vnc/rfb-connection.ts';
import { VncServer } from '../../../src/vnc/rfb-server.ts';
import { Screen } from '../../../src/vnc/screen.ts';
import { startWebView, type WebView } from '../../../src/vnc/web-view.ts';
import { BochsDrm, bootBochsDrm } from '../../support/guest/bochs-drm.ts';
import { QEMU, startQemuVga, type QemuVga } from '../../support/qemu-vga.ts';
import { systemTool } from '../../support/system-deps.ts';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = systemTool(CHROMIUM, ['--version'], 'the web view browser test');
const haveQemu = systemTool(QEMU, ['--version'], 'the web view browser test');

const DEVICE = 'vga-0';
const W = 640;
const H = 480;
/** Every channel varies independently, so a swapped channel or a shifted row shows. */
const pattern = (x: number, y: number): number => (((x * 7) & 0xff) << 16) | (((y * 3) & 0xff) << 8) | ((x ^ y) & 0xff);
/** The same pattern as the [r, g, b] QemuVga.paint takes. */
const patternRgb = (x: number, y: number): [number, number, number] => {
  const p = pattern(x, y);
  return [(p >> 16) & 0xff, (p >> 8) & 0xff, p & 0xff];
};

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

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function openPage(url: string): Promise<{ browser: Browser; page: Page }> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
  page.on('console', (m) => { if (m.type() === 'error') console.error(`page: ${m.text()}`); });
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto(url);
  return { browser, page };
}

/** One device's card on the page: what the page says of it, and its noVNC canvas. */
class DeviceCard {
  constructor(readonly page: Page, readonly name: string) {}

  info(): Promise<PageDevice | undefined> {
    return this.page.evaluate((name) => (window as unknown as { webView?: { devices: Record<string, PageDevice> } }).webView?.devices[name], this.name);
  }

  /** Resolves once the page's `webView` entry for the device has `key` equal to `value`. */
  async until<K extends keyof PageDevice>(key: K, value: PageDevice[K]): Promise<void> {
    await this.page.waitForFunction(([name, k, v]) => {
      // The page's module script may not have run yet: no webView is "not yet", not an error.
      const d = (window as unknown as { webView?: { devices: Record<string, Record<string, unknown>> } }).webView?.devices[name];
      return d !== undefined && d[k] === v;
    }, [this.name, key as string, value] as const);
  }

  status(): Promise<string | null> {
    return this.page.locator(`section[data-device="${this.name}"] .status`).textContent();
  }

  async box(): Promise<{ x: number; y: number; width: number; height: number }> {
    return (await this.page.locator(`section[data-device="${this.name}"] canvas`).boundingBox())!;
  }

  /** Page coordinates of framebuffer pixel (x, y): noVNC truncates clientX − the canvas's left edge. */
  async point(x: number, y: number): Promise<{ x: number; y: number }> {
    const box = await this.box();
    return { x: Math.ceil(box.x) + x, y: Math.ceil(box.y) + y };
  }

  /** The canvas (getImageData) against a reference RGBA image: its size and how many pixels differ. */
  async compare(reference: RgbaImage): Promise<{ width: number; height: number; mismatched: number; first?: string }> {
    const { width, height, base64 } = await this.page.evaluate((name) => {
      const c = document.querySelector<HTMLCanvasElement>(`section[data-device="${name}"] canvas`)!;
      const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let bin = '';
      for (let i = 0; i < data.length; i += 0x8000) bin += String.fromCharCode(...data.subarray(i, i + 0x8000));
      return { width: c.width, height: c.height, base64: btoa(bin) };
    }, this.name);
    if (width !== reference.width || height !== reference.height) return { width, height, mismatched: -1 };
    const got = Buffer.from(base64, 'base64');
    const want = Buffer.from(reference.data.buffer, reference.data.byteOffset, reference.data.byteLength);
    let mismatched = 0;
    let first: string | undefined;
    for (let i = 0; i < got.length; i += 4) {
      if (got.readUInt32BE(i) === want.readUInt32BE(i)) continue;
      mismatched++;
      first ??= `(${(i / 4) % width}, ${Math.floor(i / 4 / width)}): canvas ${got.subarray(i, i + 4).toString('hex')}, reference ${want.subarray(i, i + 4).toString('hex')}`;
    }
    return first === undefined ? { width, height, mismatched } : { width, height, mismatched, first };
  }
}

describe.skipIf(!haveChromium || !haveQemu)('web view in headless Chromium against QEMU', () => {
  let qemu: QemuVga;
  let reference: RgbaImage;
  let view: WebView;
  let browser: Browser;
  let card: DeviceCard;
  let input = true;
  /** Every RFB stream attach() got, in order, with what the browser sent on it. */
  const streams: { stream: Duplex; sent: ClientMessages }[] = [];

  beforeAll(async () => {
    qemu = await startQemuVga();
    await qemu.setMode(W, H);
    await qemu.paint(patternRgb);
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
    let page: Page;
    ({ browser, page } = await openPage(view.url));
    card = new DeviceCard(page, DEVICE);
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    await view?.close();
    await qemu?.close();
  });

  /** Resolves once the device's view is connected (noVNC's 'connect' event), with the stream it got. */
  async function connected(): Promise<{ stream: Duplex; sent: ClientMessages }> {
    await card.until('status', 'connected');
    return streams[streams.length - 1]!;
  }

  it("noVNC connects (its 'connect' event) and its canvas shows exactly QEMU's screendump, at 1:1", async () => {
    await connected();
    expect(await card.info()).toMatchObject({ status: 'connected', input: true, viewOnly: false });
    expect(await card.status()).toBe('connected');
    await expect.poll(() => card.compare(reference), { timeout: 10_000 }).toEqual({ width: W, height: H, mismatched: 0 });
    const box = await card.box();
    expect([box.width, box.height]).toEqual([W, H]); // scaling is off: one CSS pixel per framebuffer pixel
    expect(view.stats()).toMatchObject({ webSockets: 1, badToken: 0, badOrigin: 0, badHost: 0 });
  });

  it('a click and a key on the page reach the RFB stream as a PointerEvent and a key event', async () => {
    const { sent } = await connected();
    const at = await card.point(100, 50);
    await card.page.mouse.click(at.x, at.y);
    await card.page.keyboard.press('a');
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
    await card.until('viewOnly', true); // the page's next /state.json poll
    expect(await card.status()).toBe('connected · view only: no QMP peer');
    const ignored = await card.point(30, 40);
    await card.page.mouse.click(ignored.x, ignored.y);
    await card.page.keyboard.press('b');

    input = true;
    await card.until('viewOnly', false);
    expect(await card.status()).toBe('connected');
    const counted = await card.point(200, 100);
    await card.page.mouse.click(counted.x, counted.y);
    await card.page.keyboard.press('c');
    await sent.waitFor(pressAt(200, 100));
    await sent.waitFor(keyOf(0x63, false)); // XK_c released: everything sent before it has arrived
    // One stream, in order: had the view-only click or key been sent, it would be here by now.
    expect(sent.messages.filter((m) => (m.type === 'pointer' && m.x === 30 && m.y === 40) || (m.type === 'key' && m.keysym === 0x62))).toEqual([]);
  });

  it('when the connection drops, the page says so and reconnects by itself', async () => {
    const { stream } = await connected();
    const before = streams.length;
    const { connects, disconnects } = (await card.info())!;
    stream.destroy();
    await card.until('connects', connects + 1);
    expect(await card.info()).toMatchObject({ connects: connects + 1, disconnects: disconnects + 1 });
    expect(streams.length).toBe(before + 1);
    expect(await card.status()).toBe('connected');
    await expect.poll(() => card.compare(reference), { timeout: 10_000 }).toEqual({ width: W, height: H, mismatched: 0 });
  });
});

/** What mdevsim's RFB server passed on as input, in order; waitFor resolves on the first match, seen or to come. */
class InputLog implements RfbInput {
  readonly active = true;
  readonly events: ({ kind: 'key'; down: boolean; keysym: number; keycode: number | null } | { kind: 'pointer'; x: number; y: number; buttons: number })[] = [];
  #waiters: (() => void)[] = [];
  key(down: boolean, keysym: number, keycode: number | null): void { this.#push({ kind: 'key', down, keysym, keycode }); }
  pointer(x: number, y: number, buttons: number): void { this.#push({ kind: 'pointer', x, y, buttons }); }
  release(): void {}
  #push(e: InputLog['events'][number]): void {
    this.events.push(e);
    for (const w of this.#waiters.splice(0)) w();
  }

  async waitFor(match: (e: InputLog['events'][number]) => boolean): Promise<InputLog['events'][number]> {
    for (;;) {
      const hit = this.events.find(match);
      if (hit !== undefined) return hit;
      await new Promise<void>((wake) => this.#waiters.push(wake));
    }
  }
}

describe.skipIf(!haveChromium)("web view in headless Chromium against mdevsim's RFB server", () => {
  const NAME = 'mbochs-0';
  let dev: MbochsDevice;
  let drm: BochsDrm;
  let screen: Screen;
  let server: VncServer;
  let view: WebView;
  let browser: Browser;
  let card: DeviceCard;
  const input = new InputLog();

  /** The guest's plane as the reference (src/display: what any display client reads). */
  const plane = (): RgbaImage => {
    const d = currentDisplay(dev, NAME);
    if (d.kind !== 'plane') throw new Error(`${NAME} has no plane`);
    return planeToRgba(d.plane);
  };

  beforeAll(async () => {
    dev = new MbochsDevice('mbochs-medium', { name: NAME, budget: new InstanceBudget({ total: 64 }), memory: memfdMemoryFactory });
    drm = bootBochsDrm(dev);
    drm.probe();
    drm.setMode({ hdisplay: W, vdisplay: H });
    const vram = new DataView(drm.probeResult!.vram!.buffer, drm.probeResult!.vram!.byteOffset);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) vram.setUint32((y * W + x) * 4, pattern(x, y), true);
    screen = new Screen({ name: NAME, read: (use) => readDisplay(dev, NAME, ({ state }) => use(state)), pollMs: 20 });
    server = await VncServer.start({ name: NAME, screen, desktopName: () => `${NAME} (mdevsim)`, target: null, auth: { kind: 'none' }, input: () => input });
    view = await startWebView({ port: 0, devices: () => [{ name: NAME, input: true }], attach: (_device, stream, peer) => server.attach(stream, peer) });
    let page: Page;
    ({ browser, page } = await openPage(view.url));
    card = new DeviceCard(page, NAME);
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    await view?.close();
    await server?.close();
    screen?.close();
    dev?.destroy();
  });

  it("the canvas equals the guest's plane pixel for pixel, and follows what the guest draws next", async () => {
    await card.until('status', 'connected');
    await expect.poll(() => card.compare(plane()), { timeout: 10_000 }).toEqual({ width: W, height: H, mismatched: 0 });
    drm.fill(0x00ffff00, { x: 100, y: 120, w: 50, h: 40 });
    await expect.poll(() => card.compare(plane()), { timeout: 10_000 }).toEqual({ width: W, height: H, mismatched: 0 });
  });

  it('a click and a key on the page reach the server as pointer and key input', async () => {
    await card.until('status', 'connected');
    const at = await card.point(100, 50);
    await card.page.mouse.click(at.x, at.y);
    await card.page.keyboard.press('a');
    await input.waitFor((e) => e.kind === 'pointer' && e.buttons === 1 && e.x === 100 && e.y === 50);
    // XK_a with its XT scancode: the server announces QEMU's Extended Key Event and noVNC uses it.
    expect(await input.waitFor((e) => e.kind === 'key' && e.keysym === 0x61 && e.down)).toEqual({ kind: 'key', down: true, keysym: 0x61, keycode: 0x1e });
    await input.waitFor((e) => e.kind === 'key' && e.keysym === 0x61 && !e.down);
  });
});
