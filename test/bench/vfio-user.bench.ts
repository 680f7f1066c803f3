/**
 * vfio-user round trips against `mdevsim serve` (mbochs-medium) and against
 * a do-nothing C server (c/vfu-null-server.c: a blocking loop, two reads and
 * one write per message), driven by the same C client (c/vfu-load.c), so
 * only the server differs. Every scenario runs unpinned and with server and
 * client pinned to CPU 0 (`taskset -c 0` on both processes; the Node server
 * is started under taskset, so all its threads are pinned), sequentially
 * (depth 1) and with 16 requests in flight.
 *
 * Scenarios (c/vfu-load.c explains each):
 *   config        4-byte config REGION_READ (region 7, offset 0)
 *   dispi         2-byte dispi REGION_READ (region 2, offset 0x500)
 *   regioninfo    GET_REGION_INFO region 7, argsz 32 (no fd)
 *   regioninfo-fd GET_REGION_INFO region 0, argsz 32 (the memfd comes along; closed)
 *   plane-dmabuf  QUERY_GFX_PLANE + GET_GFX_DMABUF + mmap/munmap + RELEASE (3 round trips)
 * The null server answers the last three header-only and sends no fd, so
 * their Node/C ratios compare real work against nothing: read them as "how
 * far from the transport floor", not as like-for-like.
 *
 * Project targets (pinned, config): sequential ≥ 0.70× the C server, 16 in
 * flight ≥ 1.3× the C server. VMs are noisy: C and Node runs alternate
 * REPEATS times per cell, the table shows each side's median run (by rate)
 * and the spread of the per-pair ratios.
 *
 *   npm run bench -- vfio-user
 *   REPEATS=5 COUNT=100000 SCENARIOS=config PINS=pinned npm run bench -- vfio-user
 *   SEND=batch npm run bench -- vfio-user     # client coalesces its requests per read
 *   MDEVSIM_ROOT=/path/to/other/checkout npm run bench -- vfio-user   # serve from another tree
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_DIR, buildC, lastJsonLine, printTable, runCommand, writeResult, type Row } from './lib.ts';
import { startDaemon, type Daemon } from './support/daemon.ts';

/** The tree whose `mdevsim serve` is measured (MDEVSIM_ROOT: e.g. a checkout of an older commit, for before/after). */
const ROOT = resolve(process.env['MDEVSIM_ROOT'] ?? resolve(BENCH_DIR, '../..'));

interface LoadResult {
  readonly mode: string;
  readonly depth: number;
  readonly send: string;
  readonly ops: number;
  readonly round_trips: number;
  readonly seconds: number;
  readonly rate: number;
  readonly rt_rate: number;
  readonly p50_ns: number;
  readonly p99_ns: number;
  readonly fds_per_op: number;
  readonly replies_per_read: number;
}

const SCENARIOS = ['config', 'dispi', 'regioninfo', 'regioninfo-fd', 'plane-dmabuf'] as const;
type Scenario = (typeof SCENARIOS)[number];
const DEPTHS = [1, 16] as const;
const PINS = [['unpinned', undefined], ['pinned cpu0', 0]] as const;

/** Pinned config targets (Node rate / C rate). */
const TARGETS: Partial<Record<Scenario, Record<number, number>>> = { config: { 1: 0.7, 16: 1.3 } };

function median(results: readonly LoadResult[]): LoadResult {
  const sorted = [...results].sort((a, b) => a.rate - b.rate);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

function listFromEnv<T>(name: string, all: readonly T[], match: (value: string, item: T) => boolean): T[] {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return [...all];
  const wanted = raw.split(',').map((s) => s.trim());
  const chosen = all.filter((item) => wanted.some((w) => match(w, item)));
  if (chosen.length === 0) throw new Error(`${name}=${raw} matches nothing`);
  return chosen;
}

interface Servers {
  readonly node: Daemon;
  readonly nodeSocket: string;
  readonly c: Daemon;
  readonly cSocket: string;
}

async function startServers(dir: string, nullServer: string, cpu: number | undefined): Promise<Servers> {
  const nodeDir = join(dir, cpu === undefined ? 'node' : `node-cpu${cpu}`);
  let nodeSocket = '';
  const node = await startDaemon(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'serve', '--json', '--dir', nodeDir, '--device', 'mbochs-medium'],
    {
      cpu,
      cwd: ROOT,
      ready: (line) => {
        const e = JSON.parse(line) as Record<string, unknown>;
        if (e['event'] === 'device') nodeSocket = String(e['socket']);
        return e['event'] === 'ready';
      },
    },
  );
  const cSocket = join(dir, cpu === undefined ? 'null.sock' : `null-cpu${cpu}.sock`);
  let c: Daemon;
  try {
    c = await startDaemon(nullServer, [cSocket], { cpu, ready: (line) => line.includes('"ready"') });
  } catch (error) {
    await node.stop();
    throw error;
  }
  return { node, nodeSocket, c, cSocket };
}

export default async function run(): Promise<void> {
  const count = Number(process.env['COUNT'] ?? 50_000);
  const planeCount = Number(process.env['PLANE_COUNT'] ?? Math.ceil(count / 3));
  const repeats = Number(process.env['REPEATS'] ?? 3);
  const send = process.env['SEND'] ?? 'per-request';
  const scenarios = listFromEnv('SCENARIOS', SCENARIOS, (w, s) => w === s);
  const pins = listFromEnv('PINS', PINS, (w, [name]) => name.startsWith(w));
  const load = buildC('c/vfu-load.c', 'vfu-load');
  const nullServer = buildC('c/vfu-null-server.c', 'vfu-null-server');
  const dir = mkdtempSync(join(tmpdir(), 'mdevsim-bench-'));
  const rows: Row[] = [];
  const raw: Record<string, { c: LoadResult[]; node: LoadResult[] }> = {};
  const verdicts: string[] = [];
  try {
    for (const [pin, cpu] of pins) {
      const servers = await startServers(dir, nullServer, cpu);
      try {
        for (const scenario of scenarios) {
          for (const depth of DEPTHS) {
            const n = scenario === 'plane-dmabuf' ? planeCount : count;
            const args = ['--mode', scenario, '--depth', String(depth), '--count', String(n), '--send', send];
            const cRuns: LoadResult[] = [];
            const nodeRuns: LoadResult[] = [];
            for (let i = 0; i < repeats; i++) {
              cRuns.push(lastJsonLine<LoadResult>(runCommand(load, [servers.cSocket, ...args], { cpu })));
              nodeRuns.push(lastJsonLine<LoadResult>(runCommand(load, [servers.nodeSocket, ...args, '--strict'], { cpu })));
            }
            raw[`${pin}/${scenario}/${depth}`] = { c: cRuns, node: nodeRuns };
            const c = median(cRuns);
            const node = median(nodeRuns);
            const ratios = nodeRuns.map((r, i) => r.rate / cRuns[i]!.rate);
            const ratio = node.rate / c.rate;
            const target = cpu === undefined ? undefined : TARGETS[scenario]?.[depth];
            const verdict = target === undefined ? '' : `≥${target.toFixed(2)} ${ratio >= target ? 'met' : 'MISSED'}`;
            if (target !== undefined) verdicts.push(`${pin} ${scenario} depth ${depth}: Node/C ${ratio.toFixed(2)} (target ${verdict})`);
            rows.push({
              mode: pin,
              scenario,
              depth,
              'C ops/s': Math.round(c.rate),
              'Node ops/s': Math.round(node.rate),
              'Node/C': ratio,
              'ratio range': `${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}`,
              'C p50/p99 µs': `${(c.p50_ns / 1000).toFixed(1)}/${(c.p99_ns / 1000).toFixed(0)}`,
              'Node p50/p99 µs': `${(node.p50_ns / 1000).toFixed(1)}/${(node.p99_ns / 1000).toFixed(0)}`,
              'Node replies/read': node.replies_per_read,
              'Node fds/op': node.fds_per_op,
              target: verdict,
            });
          }
        }
      } finally {
        await servers.node.stop();
        await servers.c.stop();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  printTable(
    `vfio-user round trips, mdevsim serve (mbochs-medium) vs C null server, ${count.toLocaleString('en-US')} ops ` +
      `(plane-dmabuf ${planeCount.toLocaleString('en-US')} cycles of 3 round trips), client sends ${send}, median of ${repeats}`,
    rows,
  );
  console.log('  (an op is one round trip; for plane-dmabuf one cycle of 3 round trips + mmap/munmap. The C server answers');
  console.log('   regioninfo, regioninfo-fd and plane-dmabuf header-only and sends no fds: those ratios are not like-for-like)');
  for (const v of verdicts) console.log(`  ${v}`);
  const path = writeResult('vfio-user', { root: ROOT, count, planeCount, repeats, send, results: raw, rows });
  console.log(`  -> ${path}`);
}

// Standalone: `tsx test/bench/vfio-user.bench.ts`
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await run();
