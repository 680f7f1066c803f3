/**
 * VNC: what a 1080p guest scrolling fbcon-like text costs the server per
 * connected viewer, and whether a viewer that stops reading slows the
 * others. The server (test/bench/support/vnc-scroll-server.ts) runs in its
 * own process and reports its CPU time; viewers are RFB clients in this
 * process (test/support/rfb-client.ts, ZRLE + CopyRect, each asking for the
 * next update as soon as one arrives), and, when Debian's TigerVNC and Xvfb
 * are installed, real TigerVNC viewers.
 *
 * Rows: server CPU share (% of one CPU) over the measured window, updates
 * and bytes per second per viewer, the server's peak RSS.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ENCODING } from '../../src/vnc/rfb-wire.ts';
import { RfbTestClient } from '../support/rfb-client.ts';
import { BENCH_DIR, printTable, writeResult, type Row } from './lib.ts';

const W = 1920;
const H = 1080;
const LINES_PER_SECOND = 30;
const WARMUP_MS = 1500;
const WINDOW_MS = 5000;

interface Usage { cpuMs: number; hwm: number; scrolls: number; updates: number; bytes: number; polls: number; converted: number }

class ServerProcess {
  readonly child: ChildProcess;
  readonly #lines: string[] = [];
  #wake: (() => void) | null = null;
  constructor(readonly socket: string, rate: number, pin: boolean) {
    const args = [join(BENCH_DIR, '..', '..', 'node_modules', '.bin', 'tsx'), join(BENCH_DIR, 'support', 'vnc-scroll-server.ts'), socket, String(W), String(H), String(rate)];
    this.child = pin ? spawn('taskset', ['-c', '0', ...args], { stdio: ['pipe', 'pipe', 'inherit'] }) : spawn(args[0]!, args.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
    createInterface({ input: this.child.stdout! }).on('line', (l) => { this.#lines.push(l); this.#wake?.(); });
  }
  async line(): Promise<string> {
    while (this.#lines.length === 0) await new Promise<void>((r) => { this.#wake = r; });
    return this.#lines.shift()!;
  }
  async usage(): Promise<Usage> {
    this.child.stdin!.write('usage\n');
    return JSON.parse(await this.line()) as Usage;
  }
  stop(): void { this.child.stdin!.end(); this.child.kill(); }
}

interface Viewer { updates: number; bytes: number; stop(): void }

/** An RFB viewer that asks for the next update whenever one arrives. */
async function eagerViewer(socket: string): Promise<Viewer> {
  const c = await RfbTestClient.unix(socket);
  await c.handshake();
  c.setEncodings([ENCODING.CopyRect, ENCODING.ZRLE]);
  const v = { updates: 0, bytes: 0, stopped: false, stop: () => { v.stopped = true; c.close(); } };
  let first = true;
  c.stream.on('data', (b: Buffer) => { v.bytes += b.length; });
  void (async () => {
    while (!v.stopped) {
      c.requestUpdate(!first);
      first = false;
      try { await c.update(); } catch { return; }
      v.updates++;
    }
  })();
  return v;
}

/** A viewer that keeps asking for full updates and never reads one. */
async function stuckViewer(socket: string): Promise<Viewer> {
  const c = await RfbTestClient.unix(socket);
  await c.handshake();
  c.setEncodings([ENCODING.Raw]);
  c.stream.pause();
  const timer = setInterval(() => c.requestUpdate(false), 5);
  return { updates: 0, bytes: 0, stop: () => { clearInterval(timer); c.close(); } };
}

async function scenario(name: string, opts: { viewers: number; stuck?: number; pin?: boolean; rate?: number }): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), 'mdevsim-vnc-bench-'));
  const socket = join(dir, 'bench.vnc');
  const server = new ServerProcess(socket, opts.rate ?? LINES_PER_SECOND, opts.pin ?? false);
  try {
    await server.line();
    const viewers: Viewer[] = [];
    for (let i = 0; i < (opts.stuck ?? 0); i++) viewers.push(await stuckViewer(socket));
    const eager: Viewer[] = [];
    for (let i = 0; i < opts.viewers; i++) eager.push(await eagerViewer(socket));
    await new Promise((r) => setTimeout(r, WARMUP_MS));
    const before = await server.usage();
    const counts = eager.map((v) => ({ u: v.updates, b: v.bytes }));
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, WINDOW_MS));
    const after = await server.usage();
    const secs = (performance.now() - t0) / 1000;
    const perViewer = eager.map((v, i) => ({ u: (v.updates - counts[i]!.u) / secs, b: (v.bytes - counts[i]!.b) / secs }));
    for (const v of [...viewers, ...eager]) v.stop();
    const ups = perViewer.length ? perViewer.reduce((n, p) => n + p.u, 0) / perViewer.length : 0;
    const minUps = perViewer.length ? Math.min(...perViewer.map((p) => p.u)) : 0;
    const kbs = perViewer.length ? perViewer.reduce((n, p) => n + p.b, 0) / perViewer.length / 1024 : 0;
    return {
      scenario: name,
      'server CPU %': Math.round(((after.cpuMs - before.cpuMs) / (secs * 1000)) * 1000) / 10,
      'scrolls/s': Math.round(((after.scrolls - before.scrolls) / secs) * 10) / 10,
      'updates/s per viewer': Math.round(ups * 10) / 10,
      'slowest viewer updates/s': Math.round(minUps * 10) / 10,
      'KiB/s per viewer': Math.round(kbs),
      'frames converted/s': Math.round(((after.converted - before.converted) / secs) * 10) / 10,
      'server peak RSS MiB': Math.round(after.hwm / 1048576),
    };
  } finally {
    server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export default async function main(): Promise<void> {
  const rows: Row[] = [];
  rows.push(await scenario('idle screen, 1 viewer', { viewers: 1, rate: 0 }));
  rows.push(await scenario('scrolling, no viewer', { viewers: 0 }));
  for (const n of [1, 2, 4]) rows.push(await scenario(`scrolling, ${n} viewer(s)`, { viewers: n }));
  rows.push(await scenario('scrolling, 1 viewer, server pinned to CPU 0', { viewers: 1, pin: true }));
  rows.push(await scenario('scrolling, 2 viewers + 1 that never reads', { viewers: 2, stuck: 1 }));
  printTable(`VNC: ${W}x${H} guest scrolling ${LINES_PER_SECOND} text lines/s (ZRLE + CopyRect viewers)`, rows);
  console.log(`  wrote ${writeResult('vnc', { width: W, height: H, linesPerSecond: LINES_PER_SECOND, windowMs: WINDOW_MS, rows })}`);
}
