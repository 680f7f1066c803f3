/**
 * The DMA map table under a hostile client: what filling it to the limit
 * (65535 fd-less maps, the most QEMU is told it may hold), a refused map
 * once it is full, and unmapping cost in CPU. Frames go straight into
 * Session.handle(), no socket, so only the session's own work is measured;
 * payloads are encoded before the clock starts.
 *
 * Fills run in ascending address order (every insert at the end of the
 * table) and descending order (every insert at the front: the worst case
 * for an array insert, which moves every entry). Refusals are timed one by
 * one on a full table: a free address (ENOSPC), an address overlapping a
 * window (ENOSPC too: the limit is checked first). Unmaps go in a shuffled
 * order, then one UNMAP_ALL clears a full table.
 *
 *   npm run bench -- dma
 *   MAPS=10000 npm run bench -- dma
 */
import { fileURLToPath } from 'node:url';
import { Session } from '../../src/vfio-user/session.ts';
import type { Frame } from '../../src/vfio-user/framer.ts';
import * as P from '../../src/vfio-user/protocol.ts';
import { dmaMapRequest, dmaUnmapRequest } from '../../src/vfio-user/requests.ts';
import { VFIO_DMA_UNMAP_FLAG_ALL } from '../../src/vfio-user/wire.ts';
import { MdpyDevice } from '../../devices/mdpy/index.ts';
import { InstanceBudget } from '../../devices/common/budget.ts';
import { versionPayload } from '../support/vfio-user-msg.ts';
import { printTable, summarize, writeResult, type Row } from './lib.ts';

const MAPS = Number(process.env['MAPS'] ?? 65535);
const REFUSALS = Number(process.env['REFUSALS'] ?? 2000);
const PAGE = 0x1000n;

function frameOf(id: number, command: number, payload: Uint8Array): Frame {
  return { id: id & 0xffff, command, flags: 0, error: 0, size: P.VFIO_USER_HEADER_SIZE + payload.length, payload, fds: [] };
}

/** Window i: one page at 2·i pages, so the gap between windows stays free for refusals that do not overlap. */
const mapFrame = (i: number): Frame => frameOf(i, P.VFIO_USER_DMA_MAP, dmaMapRequest(BigInt(i) * 2n * PAGE, PAGE, { flags: 3 }));
const unmapFrame = (i: number): Frame => frameOf(i, P.VFIO_USER_DMA_UNMAP, dmaUnmapRequest(BigInt(i) * 2n * PAGE, PAGE));

function errnoOf(reply: { bytes: Uint8Array } | undefined): number {
  if (reply === undefined) return -1;
  return new DataView(reply.bytes.buffer, reply.bytes.byteOffset).getUint32(12, true);
}

interface Fixture { readonly session: Session; done(): void }

function fixture(): Fixture {
  const device = new MdpyDevice('mdpy-vga', { budget: new InstanceBudget({ total: 4, errno: 'EUSERS' }) });
  const session = new Session(device, { closeFd: () => {}, limits: { maxDmaMaps: MAPS } });
  session.handle(frameOf(0, P.VFIO_USER_VERSION, versionPayload(undefined)));
  return { session, done: () => { session.close(); device.destroy(); } };
}

interface Timed { readonly wallMs: number; readonly cpuMs: number }

function timed(fn: () => void): Timed {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  fn();
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  return { wallMs, cpuMs: (cpu.user + cpu.system) / 1000 };
}

/** Map every frame; throws on the first refusal (a bench of successes must not measure errors). */
function fill(s: Session, frames: readonly Frame[]): void {
  for (const f of frames) {
    const e = errnoOf(s.handle(f));
    if (e !== 0) throw new Error(`DMA_MAP ${f.id} refused with errno ${e} while filling the table`);
  }
}

/** A fixed shuffle (LCG-driven Fisher–Yates), so every run unmaps in the same order. */
function shuffled(n: number): number[] {
  const out = Array.from({ length: n }, (_, i) => i);
  let s = 12345;
  for (let i = n - 1; i > 0; i--) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Per-call µs of `count` refused maps on a full table (any errno: the bench also runs against older orders of checks). */
function refusals(s: Session, count: number, address: (k: number) => bigint): Float64Array {
  const samples = new Float64Array(count);
  for (let k = 0; k < count; k++) {
    const f = frameOf(k, P.VFIO_USER_DMA_MAP, dmaMapRequest(address(k), PAGE, { flags: 3 }));
    const t0 = process.hrtime.bigint();
    const e = errnoOf(s.handle(f));
    samples[k] = Number(process.hrtime.bigint() - t0) / 1000;
    if (e === 0) throw new Error('a DMA_MAP on a full table succeeded');
  }
  return samples;
}

export default async function run(): Promise<void> {
  const ascending = Array.from({ length: MAPS }, (_, i) => mapFrame(i));
  const descending = [...ascending].reverse();
  const rows: Row[] = [];
  const results: Record<string, unknown> = { maps: MAPS, refusals: REFUSALS };
  const row = (step: string, ops: number, t: Timed): void => {
    rows.push({ step, ops, 'wall ms': t.wallMs, 'cpu ms': t.cpuMs, 'µs/op': (t.wallMs * 1000) / ops });
    results[step] = { ops, ...t, usPerOp: (t.wallMs * 1000) / ops };
  };

  for (const [name, frames] of [['fill ascending', ascending], ['fill descending', descending]] as const) {
    const fx = fixture();
    row(name, MAPS, timed(() => fill(fx.session, frames)));
    fx.done();
  }

  const fx = fixture();
  fill(fx.session, ascending);
  const free = summarize(refusals(fx.session, REFUSALS, (k) => (BigInt(k % MAPS) * 2n + 1n) * PAGE));
  const overlapping = summarize(refusals(fx.session, REFUSALS, (k) => BigInt(k % MAPS) * 2n * PAGE));
  for (const [step, s] of [['refused when full (free address)', free], ['refused when full (overlapping)', overlapping]] as const) {
    rows.push({ step, ops: s.count, 'wall ms': (s.mean * s.count) / 1000, 'cpu ms': '', 'µs/op': s.p50 });
    results[step] = s;
  }

  const order = shuffled(MAPS).map(unmapFrame);
  row('unmap one by one (shuffled)', MAPS, timed(() => fill(fx.session, order)));
  fill(fx.session, ascending);
  const all = frameOf(1, P.VFIO_USER_DMA_UNMAP, dmaUnmapRequest(0n, 0n, VFIO_DMA_UNMAP_FLAG_ALL));
  row('UNMAP_ALL of a full table', 1, timed(() => { if (errnoOf(fx.session.handle(all)) !== 0) throw new Error('UNMAP_ALL refused'); }));
  fx.done();

  printTable(`DMA map table: ${MAPS} fd-less one-page maps through Session.handle() (refusals: median µs of ${REFUSALS})`, rows);
  const path = writeResult('dma', results);
  console.log(`  -> ${path}`);
}

// Standalone: `tsx test/bench/dma.bench.ts`
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await run();
