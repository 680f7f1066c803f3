/**
 * The live view against many and stuck pages (issue 11), over real HTTP
 * without a browser: every frame is encoded once per device however many
 * event streams watch it, new streams get the cached full frame, the
 * stream past maxClients gets 503, and a stream that never reads is
 * dropped once its backlog passes maxBacklogBytes.
 */
import { randomFillSync } from 'node:crypto';
import http, { type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { InstanceBudget } from '../../../devices/common/budget.ts';
import { MbochsDevice } from '../../../devices/mbochs/device.ts';
import { startLiveView, type LiveView } from '../../../src/display/live-view.ts';
import { memfdMemoryFactory } from '../../../src/sys/memfd.ts';
import { BochsDrm, bootBochsDrm } from '../../support/guest/bochs-drm.ts';

interface SseEvent { readonly type: string; readonly data: Record<string, unknown> }

/** One event stream, read as it arrives; wait() resolves on the first event (seen or to come) matching. */
class Sse {
  readonly events: SseEvent[] = [];
  closed = false;
  #text = '';
  #waiters: (() => void)[] = [];
  constructor(readonly res: IncomingMessage) {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      this.#text += chunk;
      let end: number;
      while ((end = this.#text.indexOf('\n\n')) >= 0) {
        const block = this.#text.slice(0, end);
        this.#text = this.#text.slice(end + 2);
        const type = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (type !== undefined && data !== undefined) this.events.push({ type, data: JSON.parse(data) as Record<string, unknown> });
      }
      this.#wake();
    });
    res.on('close', () => {
      this.closed = true;
      this.#wake();
    });
  }

  async wait(pred: (e: SseEvent) => boolean): Promise<SseEvent> {
    for (;;) {
      const hit = this.events.find(pred);
      if (hit !== undefined) return hit;
      if (this.closed) throw new Error('the event stream closed');
      await new Promise<void>((ok) => this.#waiters.push(ok));
    }
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}

function get(view: LiveView, path: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: view.port, path, agent: false }, resolve).on('error', reject);
  });
}

async function openStream(view: LiveView): Promise<Sse> {
  const res = await get(view, '/events');
  expect(res.statusCode).toBe(200);
  return new Sse(res);
}

const patchOf = (frame: number) => (e: SseEvent): boolean => e.type === 'patch' && e.data['device'] === 'mbochs-0' && e.data['frame'] === frame;

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

async function setup(width: number, height: number, opts: { maxBacklogBytes?: number } = {}): Promise<{ view: LiveView; drm: BochsDrm; frame: () => number }> {
  const device = new MbochsDevice('mbochs-medium', { name: 'mbochs-0', budget: new InstanceBudget({ total: 16 }), memory: memfdMemoryFactory });
  cleanup.push(() => device.destroy());
  const drm = bootBochsDrm(device);
  drm.probe();
  drm.setMode({ hdisplay: width, vdisplay: height });
  drm.fill(0x00ff0000);
  const view = await startLiveView({ devices: () => [{ name: 'mbochs-0', device }], port: 0, pollMs: 30, ...opts });
  cleanup.push(() => view.close());
  const frame = (): number => view.state().find((d) => d.name === 'mbochs-0')?.frame ?? -1;
  return { view, drm, frame };
}

describe('live view limits', () => {
  it('one encode per frame change however many streams watch; a new stream gets the cached frame; the 9th gets 503', async () => {
    const { view, drm, frame } = await setup(640, 480);
    const encodes = (): number => view.state().find((d) => d.name === 'mbochs-0')!.encodes;
    const streams: Sse[] = [];
    cleanup.push(() => { for (const s of streams) s.res.destroy(); });

    for (let i = 0; i < 4; i++) {
      streams.push(await openStream(view));
      await streams[i]!.wait(patchOf(frame()));
    }
    expect(encodes()).toBe(1);

    const before = frame();
    drm.fill(0x00ffff00, { x: 100, y: 120, w: 50, h: 40 });
    for (const s of streams) {
      const p = await s.wait(patchOf(before + 1));
      expect(p.data).toMatchObject({ x: 100, y: 120, w: 50, h: 40, full: false });
    }
    expect(encodes()).toBe(2);

    // The frame changed by a patch, so the first newcomer encodes it whole; the rest share that.
    for (let i = 4; i < 8; i++) {
      streams.push(await openStream(view));
      expect((await streams[i]!.wait(patchOf(before + 1))).data).toMatchObject({ full: true, w: 640, h: 480 });
    }
    expect(encodes()).toBe(3);
    expect(view.stats()).toMatchObject({ clients: 8, encodes: 3 });

    const ninth = await get(view, '/events');
    expect(ninth.statusCode).toBe(503);
    ninth.setEncoding('utf8');
    let body = '';
    for await (const chunk of ninth) body += chunk as string;
    expect(body).toBe('The live view already has 8 open event streams; close a page and retry.\n');
    expect(view.stats().refused).toBe(1);
  });

  it('a stream that never reads is dropped once its backlog passes maxBacklogBytes; a reading one is not', async () => {
    const W = 320;
    const H = 240;
    const { view, drm, frame } = await setup(W, H, { maxBacklogBytes: 64 * 1024 });
    const reader = await openStream(view);
    cleanup.push(() => { reader.res.destroy(); });
    await reader.wait(patchOf(frame()));

    // Asks for the stream and never reads: the kernel's buffers fill, then the server's backlog grows.
    const stuck: Socket = connect(view.port, '127.0.0.1');
    stuck.on('error', () => {});
    cleanup.push(() => { stuck.destroy(); });
    await new Promise<void>((ok) => stuck.once('connect', ok));
    stuck.pause();
    stuck.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1:${view.port}\r\n\r\n`);
    const vram = drm.probeResult!.vram!;
    // Each round is driven by the reading stream receiving the previous noise frame.
    for (let round = 0; view.stats().dropped === 0; round++) {
      expect(round, 'rounds of noise before the stuck stream is dropped').toBeLessThan(500);
      const next = frame() + 1;
      randomFillSync(vram.subarray(0, W * H * 4));
      await reader.wait(patchOf(next));
    }
    expect(view.stats()).toMatchObject({ dropped: 1, clients: 1 });
    expect(reader.closed).toBe(false);
  });
});
