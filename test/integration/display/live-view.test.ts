/// <reference lib="dom" />
/**
 * The live view in a real browser, checking real pixels: headless Chromium
 * (Debian's, through playwright-core) opens the page served by
 * startLiveView over three in-process devices — an mbochs that the
 * bochs-drm guest model sets to 640×480 and draws four quadrants on, an
 * mdpy showing its reset gradient, and an untouched mbochs with no mode —
 * and the test reads the canvases back with getImageData. Then the guest
 * draws a rectangle and the page must update exactly those pixels through a
 * patch smaller than the frame; a mode change must resize the canvas.
 *
 * Skips (saying why) when /usr/bin/chromium is missing, and fails under
 * CI=true; `npm run setup:test` installs it (test/support/system-deps.ts).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { systemTool } from '../../support/system-deps.ts';
import { PNG } from 'pngjs';
import { InstanceBudget } from '../../../devices/common/budget.ts';
import { MbochsDevice } from '../../../devices/mbochs/device.ts';
import { MdpyDevice } from '../../../devices/mdpy/device.ts';
import { startLiveView, planPatches, type LiveView, type LiveViewDeviceState } from '../../../src/display/live-view.ts';
import { memfdMemoryFactory } from '../../../src/sys/memfd.ts';
import { BochsDrm, bootBochsDrm } from '../../support/guest/bochs-drm.ts';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = systemTool(CHROMIUM, ['--version'], 'the live-view browser test');

const W = 640;
const H = 480;
/** XRGB8888 words and the RGBA the canvas must show. */
const RED = 0x00ff0000;
const GREEN = 0x0000ff00;
const BLUE = 0x000000ff;
const WHITE = 0x00ffffff;
const YELLOW = 0x00ffff00;
const rgba = (xrgb: number): number[] => [(xrgb >>> 16) & 0xff, (xrgb >>> 8) & 0xff, xrgb & 0xff, 255];

describe.skipIf(!haveChromium)('live view in headless Chromium', () => {
  let drawn: MbochsDevice;
  let idle: MbochsDevice;
  let mdpy: MdpyDevice;
  let drm: BochsDrm;
  let view: LiveView;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    const budget = new InstanceBudget({ total: 1024 });
    drawn = new MbochsDevice('mbochs-medium', { name: 'mbochs-0', budget, memory: memfdMemoryFactory });
    idle = new MbochsDevice('mbochs-medium', { name: 'mbochs-1', budget });
    mdpy = new MdpyDevice('mdpy-vga', { name: 'mdpy-0', budget: new InstanceBudget({ total: 4, errno: 'EUSERS' }) });

    drm = bootBochsDrm(drawn);
    drm.probe();
    drm.setMode({ hdisplay: W, vdisplay: H });
    drm.fill(RED, { x: 0, y: 0, w: W / 2, h: H / 2 });
    drm.fill(GREEN, { x: W / 2, y: 0, w: W / 2, h: H / 2 });
    drm.fill(BLUE, { x: 0, y: H / 2, w: W / 2, h: H / 2 });
    drm.fill(WHITE, { x: W / 2, y: H / 2, w: W / 2, h: H / 2 });

    const devices = [
      { name: 'mbochs-0', device: drawn },
      { name: 'mdpy-0', device: mdpy },
      { name: 'mbochs-1', device: idle },
    ];
    view = await startLiveView({ devices: () => devices, port: 0, pollMs: 50 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 1150 } });
    page.on('console', (m) => { if (m.type() === 'error') console.error(`page: ${m.text()}`); });
    await page.goto(view.url);
  }, 20_000);

  afterAll(async () => {
    await view?.close();
    await browser?.close();
    for (const d of [drawn, idle, mdpy]) d?.destroy();
    expect(drawn.dmabufStats().liveHandles).toBe(0);
  });

  /** RGBA of canvas pixels of one device. */
  const pixels = (device: string, points: readonly (readonly [number, number])[]): Promise<number[][]> =>
    page.evaluate(([name, pts]) => {
      const canvas = document.querySelector<HTMLCanvasElement>(`canvas[data-device="${name}"]`)!;
      const ctx = canvas.getContext('2d')!;
      return pts.map(([x, y]) => Array.from(ctx.getImageData(x, y, 1, 1).data));
    }, [device, points] as const);

  const stateJson = async (): Promise<LiveViewDeviceState[]> =>
    ((await (await fetch(new URL('/state.json', view.url))).json()) as { devices: LiveViewDeviceState[] }).devices;

  it('shows mbochs-0 at 640×480 with its dmabuf id and the four quadrants the guest drew', async () => {
    await page.waitForFunction(() => {
      const d = (window as unknown as { liveView: { devices: Record<string, { mode: { width: number } | null; applied: number }> } }).liveView.devices['mbochs-0'];
      return d !== undefined && d.mode?.width === 640 && d.applied >= 1;
    });
    const id = drawn.activeDmabufId;
    expect(id).toBeGreaterThan(0);
    const modeText = await page.locator('section[data-device="mbochs-0"] .mode').textContent();
    expect(modeText).toBe(`640×480 XRGB8888 · dmabuf ${id}`);
    const px = await pixels('mbochs-0', [[10, 10], [W - 10, 10], [10, H - 10], [W - 10, H - 10], [W / 2 - 1, H / 2 - 1], [W / 2, H / 2]]);
    expect(px).toEqual([rgba(RED), rgba(GREEN), rgba(BLUE), rgba(WHITE), rgba(RED), rgba(WHITE)]);
  });

  it('shows mdpy-0 as region 0 with the reset gradient: row y is ⌊y·255/480⌋', async () => {
    await page.waitForFunction(() => {
      const d = (window as unknown as { liveView: { devices: Record<string, { applied: number }> } }).liveView.devices['mdpy-0'];
      return d !== undefined && d.applied >= 1;
    });
    expect(await page.locator('section[data-device="mdpy-0"] .mode').textContent()).toBe('640×480 XRGB8888 · region 0');
    const ys = [0, 1, 2, 100, 239, 240, 400, 478, 479];
    const px = await pixels('mdpy-0', ys.map((y) => [(y * 7) % 640, y] as const));
    expect(px).toEqual(ys.map((y) => {
      const v = Math.floor((y * 255) / 480);
      return [v, v, v, 255];
    }));
  });

  it('shows the untouched mbochs-1 as "no plane" text, not a canvas or an error', async () => {
    const card = page.locator('section[data-device="mbochs-1"]');
    await expect.poll(() => card.locator('.none').textContent()).toBe('no plane: the guest has not set a display mode');
    expect(await card.locator('.none').isVisible()).toBe(true);
    expect(await card.locator('canvas').isVisible()).toBe(false);
    expect(await card.locator('.mode').textContent()).toBe('');
  });

  it('the guest draws a rectangle: the page updates those pixels through one patch smaller than the frame', async () => {
    const before = (await stateJson()).find((d) => d.name === 'mbochs-0')!;
    drm.fill(YELLOW, { x: 100, y: 120, w: 50, h: 40 });
    await page.waitForFunction(() => {
      const c = document.querySelector<HTMLCanvasElement>('canvas[data-device="mbochs-0"]')!;
      const p = c.getContext('2d')!.getImageData(125, 140, 1, 1).data;
      return p[0] === 255 && p[1] === 255 && p[2] === 0;
    });
    const px = await pixels('mbochs-0', [[100, 120], [149, 159], [99, 120], [150, 159], [100, 119], [149, 160], [10, 10], [W - 10, H - 10]]);
    expect(px).toEqual([rgba(YELLOW), rgba(YELLOW), rgba(RED), rgba(RED), rgba(RED), rgba(RED), rgba(RED), rgba(WHITE)]);

    const onPage = await page.evaluate(() => (window as unknown as { liveView: { devices: Record<string, unknown> } }).liveView.devices['mbochs-0']);
    expect(onPage).toMatchObject({ lastPatch: { x: 100, y: 120, w: 50, h: 40, full: false } });

    const after = (await stateJson()).find((d) => d.name === 'mbochs-0')!;
    expect(after.lastPatch).toEqual({ x: 100, y: 120, w: 50, h: 40, full: false });
    expect(after.patches).toBe(before.patches + 1);
    expect(after.fullFrames).toBe(before.fullFrames);
    expect(after.frame).toBe(before.frame + 1);
    expect(after.dmabufId).toBe(drawn.activeDmabufId);
    // The unchanged devices sent nothing: mdpy-0's one frame reached the page in the snapshot a new page gets.
    const mdpyState = (await stateJson()).find((d) => d.name === 'mdpy-0')!;
    expect(mdpyState).toMatchObject({ state: 'plane', frame: 1, patches: 0, fullFrames: 0, lastPatch: null });
    expect((await stateJson()).find((d) => d.name === 'mbochs-1')).toMatchObject({ state: 'none', mode: null, none: { reason: 'no-mode' }, patches: 0 });
  });

  it('GET /screenshot/<name>.png is the full frame; a device without a plane answers 409', async () => {
    const res = await fetch(new URL('/screenshot/mbochs-0.png', view.url));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    const png = PNG.sync.read(Buffer.from(await res.arrayBuffer()));
    expect([png.width, png.height]).toEqual([W, H]);
    const at = (x: number, y: number): number[] => Array.from(png.data.subarray((y * W + x) * 4, (y * W + x) * 4 + 4));
    expect([at(10, 10), at(125, 140), at(W - 1, H - 1)]).toEqual([rgba(RED), rgba(YELLOW), rgba(WHITE)]);
    const none = await fetch(new URL('/screenshot/mbochs-1.png', view.url));
    expect(none.status).toBe(409);
    expect(await none.text()).toContain('no plane');
    expect((await fetch(new URL('/screenshot/nope.png', view.url))).status).toBe(404);
    expect(drawn.dmabufStats().liveHandles).toBe(0);
  });

  it('a page screenshot for the record (test/bench/results/live-view.png)', async () => {
    const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
    mkdirSync(dir, { recursive: true });
    const buf = await page.screenshot({ path: join(dir, 'live-view.png'), fullPage: true });
    expect(buf.length).toBeGreaterThan(1000);
  });

  it('a mode change resizes the canvas and names the new dmabuf', async () => {
    drm.setMode({ hdisplay: 800, vdisplay: 600 });
    drm.fill(BLUE);
    await page.waitForFunction(() => {
      const d = (window as unknown as { liveView: { devices: Record<string, { mode: { width: number } | null; lastPatch: { full: boolean } | null }> } }).liveView.devices['mbochs-0'];
      return d?.mode?.width === 800 && d.lastPatch?.full === true;
    });
    expect(await page.locator('section[data-device="mbochs-0"] .mode').textContent()).toBe(`800×600 XRGB8888 · dmabuf ${drawn.activeDmabufId}`);
    expect(await pixels('mbochs-0', [[0, 0], [799, 599]])).toEqual([rgba(BLUE), rgba(BLUE)]);
  });

  it('close() ends the open event stream and the listener promptly', async () => {
    const t0 = performance.now();
    await view.close();
    expect(performance.now() - t0).toBeLessThan(2000);
    await expect(fetch(new URL('/state.json', view.url))).rejects.toThrow();
    await page.waitForFunction(() => !(window as unknown as { liveView: { connected: boolean } }).liveView.connected);
    expect(drawn.dmabufStats().liveHandles).toBe(0);
  });
});

describe('live view without a browser', () => {
  it('planPatches: bands as they are, merged past the cap, a full frame past the area limit', () => {
    const band = (y: number, h = 1) => ({ x: 0, y, width: 10, height: h });
    expect(planPatches([band(0), band(5)], 100, 100, 8, 0.5)).toEqual([band(0), band(5)]);
    expect(planPatches([band(0), band(2), band(4)], 100, 100, 2, 0.5)).toEqual([{ x: 0, y: 0, width: 10, height: 5 }]);
    expect(planPatches([{ x: 0, y: 0, width: 100, height: 51 }], 100, 100, 8, 0.5)).toBe('full');
    expect(planPatches([{ x: 0, y: 0, width: 100, height: 50 }], 100, 100, 8, 0.5)).toEqual([{ x: 0, y: 0, width: 100, height: 50 }]);
  });

  it('refuses non-loopback hosts and bad options; answers only loopback Host headers', async () => {
    await expect(startLiveView({ devices: () => [], port: 0, host: '0.0.0.0' })).rejects.toThrow(/not a loopback address/);
    await expect(startLiveView({ devices: () => [], port: 70000 })).rejects.toThrow(/port/);
    await expect(startLiveView({ devices: () => [], port: 0, pollMs: 0 })).rejects.toThrow(/pollMs/);
    const v = await startLiveView({ devices: () => [], port: 0 });
    try {
      expect(v.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const { request } = await import('node:http');
      const status = (hostHeader: string): Promise<number> => new Promise((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: v.port, path: '/state.json', headers: { host: hostHeader } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
      expect(await status(`127.0.0.1:${v.port}`)).toBe(200);
      expect(await status(`localhost:${v.port}`)).toBe(200);
      expect(await status(`evil.example:${v.port}`)).toBe(403);
      expect((await fetch(new URL('/nope', v.url))).status).toBe(404);
      expect((await fetch(new URL('/', v.url), { method: 'POST' })).status).toBe(405);
      const page = await fetch(v.url);
      expect(page.headers.get('content-security-policy')).toMatch(/script-src 'sha256-/);
      expect(await page.text()).toContain("new EventSource('/events')");
      // A second listener on the same port is a clear configuration error.
      await expect(startLiveView({ devices: () => [], port: v.port })).rejects.toThrow(/already in use/);
    } finally {
      await v.close();
      await v.close(); // idempotent
    }
  });
});
