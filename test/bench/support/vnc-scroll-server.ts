/**
 * The server side of the VNC bench, in its own process so its CPU time is
 * its own: an mbochs-medium that the bochs-drm guest model sets to
 * WIDTHxHEIGHT and fills with text-like lines, scrolled by one 16-row line
 * LINES times a second the way fbcon scrolls (the whole visible frame moves
 * up in VRAM, a new line is drawn at the bottom), served by a VNC server
 * on SOCKET.
 *
 * Usage: vnc-scroll-server.ts SOCKET WIDTH HEIGHT LINES_PER_SECOND
 * Prints {"ready":true} when listening; on each line "usage" on stdin,
 * prints {"cpuMs":…, "rss":…, "hwm":…, "scrolls":…, "viewers":…, "updates":…, "bytes":…}.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { InstanceBudget } from '../../../devices/common/budget.ts';
import { MbochsDevice } from '../../../devices/mbochs/device.ts';
import { readDisplay } from '../../../src/display/plane-source.ts';
import { memfdMemoryFactory } from '../../../src/sys/memfd.ts';
import { VncServer } from '../../../src/vnc/rfb-server.ts';
import { Screen } from '../../../src/vnc/screen.ts';
import { bootBochsDrm } from '../../support/guest/bochs-drm.ts';

const [socket, w, h, rate] = process.argv.slice(2);
const W = Number(w);
const H = Number(h);
const LINES = Number(rate);
const LINE = 16;

const dev = new MbochsDevice('mbochs-medium', { name: 'bench', budget: new InstanceBudget({ total: 64 }), memory: memfdMemoryFactory });
const drm = bootBochsDrm(dev);
const probe = drm.probe();
drm.setMode({ hdisplay: W, vdisplay: H });
const vram = probe.vram!;
const pitch = W * 4;
const words = new Uint32Array(vram.buffer, vram.byteOffset, (W * H));

/** One line of "text": glyph-like cells of varying width on a dark background. */
function drawLine(n: number, y0: number): void {
  words.fill(0x00101010, y0 * W, (y0 + LINE) * W);
  let x = 0;
  let seed = n * 2654435761 >>> 0;
  while (x < W - 8) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const word = 2 + (seed % 9);
    for (let c = 0; c < word && x < W - 8; c++, x += 8) {
      for (let r = 3; r < 13; r++) {
        const bits = (seed >>> (r + c)) & 0x7e;
        for (let b = 0; b < 8; b++) if (bits & (1 << b)) words[(y0 + r) * W + x + b] = 0x00c0c0c0;
      }
    }
    x += 8;
  }
}

for (let l = 0; l < H / LINE; l++) drawLine(l, l * LINE);
let next = H / LINE;
let scrolls = 0;

const screen = new Screen({ name: 'bench', read: (use) => readDisplay(dev, 'bench', ({ state }) => use(state)) });
const server = await VncServer.start({
  name: 'bench', screen, desktopName: 'bench', target: { kind: 'unix', path: socket! }, auth: { kind: 'none' }, input: () => null, maxViewers: 64,
});

if (LINES > 0) {
  setInterval(() => {
    vram.copyWithin(0, LINE * pitch, H * pitch);
    drawLine(next++, H - LINE);
    scrolls++;
  }, 1000 / LINES);
}

function hwm(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

process.stdout.write(JSON.stringify({ ready: true }) + '\n');
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== 'usage') return;
  const u = process.cpuUsage();
  const s = server.stats();
  process.stdout.write(JSON.stringify({
    cpuMs: (u.user + u.system) / 1000, rss: process.memoryUsage().rss, hwm: hwm(), scrolls, viewers: s.viewers,
    updates: s.connections.reduce((n, c) => n + c.updates, 0), bytes: s.connections.reduce((n, c) => n + c.bytesOut, 0),
    polls: screen.stats().polls, converted: screen.stats().converted,
  }) + '\n');
});
process.stdin.on('end', () => process.exit(0));
