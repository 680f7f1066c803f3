/**
 * vfio-user round trips: `mdevsim serve` (mbochs-medium) against the floor
 * that issue 13 defines, c/vfu-null-server.c (a blocking C loop doing, per
 * message, recv of the 16-byte header, recv of the body and ONE send of the
 * reply), against a plain `node:net` yardstick (support/net-null-server.ts:
 * no fds, no batching), and, when LVU_GPIO names a built
 * libvfio-user `gpio-pci-idio-16` sample, against that (config scenario
 * only; n/a otherwise). The same C client (c/vfu-load.c) drives them all,
 * so only the server differs.
 *
 * Every cell runs unpinned and with server and client pinned to CPU 0
 * (`taskset -c 0` on both; the Node servers are started under taskset, so
 * all their threads are pinned), sequentially (depth 1) and with 16
 * requests in flight. A cell is REPEATS rounds (default 5); each round runs
 * every server once, in an order that rotates per round (interleaved, so
 * drift on a shared VM hits all of them). A server's figure is the MEDIAN
 * OF ITS PER-ROUND RATIOS to the floor's rate in the same round; the range
 * column is the spread of those ratios.
 *
 * Scenarios (c/vfu-load.c explains each):
 *   config        4-byte config REGION_READ (region 7, offset 0)
 *   dispi         2-byte dispi REGION_READ (region 2, offset 0x500)
 *   regionwrite   2-byte dispi REGION_WRITE (region 2, offset 0x50a, BANK = 0)
 *   regioninfo    GET_REGION_INFO region 7, argsz 32 (no fd)
 *   regioninfo-fd GET_REGION_INFO region 0, argsz 32 (the memfd comes along; closed)
 *   plane-dmabuf  QUERY_GFX_PLANE + GET_GFX_DMABUF + mmap/munmap + RELEASE (3 round trips)
 * The floor and the yardstick answer the last three header-only and send no
 * fd, so those ratios compare real work against nothing: read them as "how
 * far from the transport floor", not as like-for-like.
 *
 * Targets (issue 13; pinned, config): sequential ≥ 0.70× the floor, 16 in
 * flight ≥ 1.30× the floor.
 *
 *   npm run bench -- vfio-user
 *   REPEATS=7 COUNT=100000 SCENARIOS=config PINS=pinned npm run bench -- vfio-user
 *   SEND=batch npm run bench -- vfio-user     # client coalesces its requests per read
 *   MDEVSIM_ROOT=/path/to/other/checkout npm run bench -- vfio-user   # serve from another tree
 *   LVU_GPIO=/path/to/libvfio-user/build/samples/gpio-pci-idio-16 npm run bench -- vfio-user
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { BENCH_DIR, buildC, lastJsonLine, printTable, runCommand, writeResult, type Row } from './lib.ts';
import { startDaemon, type Daemon } from './support/daemon.ts';

/** The tree whose `mdevsim serve` is measured (MDEVSIM_ROOT: e.g. a checkout of an older commit, for before/after). */
const ROOT = resolve(process.env['MDEVSIM_ROOT'] ?? resolve(BENCH_DIR, '../..'));
const LVU_GPIO = process.env['LVU_GPIO'];

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

const SCENARIOS = ['config', 'dispi', 'regionwrite', 'regioninfo', 'regioninfo-fd', 'plane-dmabuf'] as const;
type Scenario = (typeof SCENARIOS)[number];
const DEPTHS = [1, 16] as const;
const PINS = [['unpinned', undefined], ['pinned cpu0', 0]] as const;
type ServerName = 'floor' | 'node:net' | 'mdevsim' | 'libvfio-user';

/** Pinned config targets (mdevsim rate / floor rate). */
const TARGETS: Partial<Record<Scenario, Record<number, number>>> = { config: { 1: 0.7, 16: 1.3 } };

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function listFromEnv<T>(name: string, all: readonly T[], match: (value: string, item: T) => boolean): T[] {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return [...all];
  const wanted = raw.split(',').map((s) => s.trim());
  const chosen = all.filter((item) => wanted.some((w) => match(w, item)));
  if (chosen.length === 0) throw new Error(`${name}=${raw} matches nothing`);
  return chosen;
}

/** A long-running server of one pin mode, and how to reach it. */
interface Running {
  readonly daemon: Daemon;
  readonly socket: string;
}

async function startMdevsim(dir: string, cpu: number | undefined): Promise<Running> {
  let socket = '';
  const daemon = await startDaemon(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'serve', '--json', '--dir', join(dir, `mdevsim-${cpu ?? 'any'}`), '--config-dir', join(dir, 'config'), '--device', 'mbochs-medium'],
    {
      cpu,
      cwd: ROOT,
      ready: (line) => {
        const e = JSON.parse(line) as Record<string, unknown>;
        if (e['event'] === 'device') socket = String(e['socket']);
        return e['event'] === 'ready';
      },
    },
  );
  return { daemon, socket };
}

async function startSimple(command: string, args: readonly string[], socket: string, cpu: number | undefined): Promise<Running> {
  const daemon = await startDaemon(command, [...args, socket], { cpu, cwd: BENCH_DIR, ready: (line) => line.includes('"ready"') });
  return { daemon, socket };
}

/**
 * One run against the libvfio-user sample: it serves a single client and
 * exits, so each run starts its own (readiness: the socket file appears).
 */
async function runLvu(gpio: string, socket: string, load: string, args: readonly string[], cpu: number | undefined): Promise<LoadResult> {
  rmSync(socket, { force: true });
  const [cmd, argv] = cpu === undefined ? [gpio, [socket]] : ['taskset', ['-c', String(cpu), gpio, socket]];
  const child = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    for (let i = 0; !existsSync(socket); i++) {
      if (i > 500 || child.exitCode !== null) throw new Error(`${gpio}: no socket at ${socket}`);
      await sleep(10);
    }
    return lastJsonLine<LoadResult>(runCommand(load, [socket, ...args], { cpu }));
  } finally {
    child.kill('SIGKILL');
    rmSync(socket, { force: true });
  }
}

interface CellResult {
  readonly runs: Partial<Record<ServerName, LoadResult[]>>;
  /** Per-round ratios to the floor, by server. */
  readonly ratios: Partial<Record<ServerName, number[]>>;
  readonly median_ratio: Partial<Record<ServerName, number>>;
  readonly floor_median_rate: number;
}

export default async function run(): Promise<void> {
  const count = Number(process.env['COUNT'] ?? 50_000);
  const planeCount = Number(process.env['PLANE_COUNT'] ?? Math.ceil(count / 3));
  const repeats = Number(process.env['REPEATS'] ?? 5);
  const send = process.env['SEND'] ?? 'per-request';
  const scenarios = listFromEnv('SCENARIOS', SCENARIOS, (w, s) => w === s);
  const pins = listFromEnv('PINS', PINS, (w, [name]) => name.startsWith(w));
  const load = buildC('c/vfu-load.c', 'vfu-load');
  const nullServer = buildC('c/vfu-null-server.c', 'vfu-null-server');
  const netServer = join(BENCH_DIR, 'support/net-null-server.ts');
  const dir = mkdtempSync(join(tmpdir(), 'mdevsim-bench-'));
  const rows: Row[] = [];
  const cells: Record<string, CellResult> = {};
  const verdicts: string[] = [];
  try {
    for (const [pin, cpu] of pins) {
      const tag = cpu ?? 'any';
      const floor = await startSimple(nullServer, [], join(dir, `floor-${tag}.sock`), cpu);
      const net = await startSimple(process.execPath, ['--import', 'tsx', netServer], join(dir, `net-${tag}.sock`), cpu).catch(async (e: unknown) => {
        await floor.daemon.stop();
        throw e;
      });
      const mdevsim = await startMdevsim(dir, cpu).catch(async (e: unknown) => {
        await Promise.all([floor.daemon.stop(), net.daemon.stop()]);
        throw e;
      });
      try {
        for (const scenario of scenarios) {
          for (const depth of DEPTHS) {
            const n = scenario === 'plane-dmabuf' ? planeCount : count;
            const args = ['--mode', scenario, '--depth', String(depth), '--count', String(n), '--send', send];
            const servers: ServerName[] = ['floor', 'node:net', 'mdevsim'];
            if (LVU_GPIO !== undefined && scenario === 'config') servers.push('libvfio-user');
            const runs: Partial<Record<ServerName, LoadResult[]>> = {};
            const ratios: Partial<Record<ServerName, number[]>> = {};
            for (let round = 0; round < repeats; round++) {
              const got: Partial<Record<ServerName, LoadResult>> = {};
              for (let k = 0; k < servers.length; k++) {
                const server = servers[(k + round) % servers.length]!;
                let r: LoadResult;
                if (server === 'libvfio-user') r = await runLvu(LVU_GPIO!, join(dir, `lvu-${tag}.sock`), load, args, cpu);
                else if (server === 'mdevsim') r = lastJsonLine<LoadResult>(runCommand(load, [mdevsim.socket, ...args, '--strict'], { cpu }));
                else r = lastJsonLine<LoadResult>(runCommand(load, [(server === 'floor' ? floor : net).socket, ...args], { cpu }));
                got[server] = r;
                (runs[server] ??= []).push(r);
              }
              for (const server of servers) if (server !== 'floor') (ratios[server] ??= []).push(got[server]!.rate / got.floor!.rate);
            }
            const medianRatio: Partial<Record<ServerName, number>> = {};
            for (const [server, rs] of Object.entries(ratios) as [ServerName, number[]][]) medianRatio[server] = median(rs);
            const floorRate = median(runs.floor!.map((r) => r.rate));
            cells[`${pin}/${scenario}/${depth}`] = { runs, ratios, median_ratio: medianRatio, floor_median_rate: floorRate };
            const m = medianRatio.mdevsim!;
            const target = cpu === undefined ? undefined : TARGETS[scenario]?.[depth];
            const verdict = target === undefined ? '' : `≥${target.toFixed(2)} ${m >= target ? 'met' : 'MISSED'}`;
            if (target !== undefined) verdicts.push(`${pin} ${scenario} depth ${depth}: mdevsim ${m.toFixed(2)}x the floor (target ${verdict})`);
            const p50 = (s: ServerName): string => ((median(runs[s]!.map((r) => r.p50_ns)) / 1000).toFixed(1));
            const mr = ratios.mdevsim!;
            rows.push({
              mode: pin,
              scenario,
              depth,
              'floor ops/s': Math.round(floorRate),
              'floor p50 µs': p50('floor'),
              'mdevsim ×floor': m,
              'range': `${Math.min(...mr).toFixed(2)}-${Math.max(...mr).toFixed(2)}`,
              'mdevsim p50 µs': p50('mdevsim'),
              'node:net ×floor': medianRatio['node:net']!,
              'libvfio-user ×floor': medianRatio['libvfio-user'] ?? 'n/a',
              'mdevsim replies/read': median(runs.mdevsim!.map((r) => r.replies_per_read)),
              target: verdict,
            });
          }
        }
      } finally {
        await Promise.all([mdevsim.daemon.stop(), floor.daemon.stop(), net.daemon.stop()]);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  printTable(
    `vfio-user round trips, ${count.toLocaleString('en-US')} ops (plane-dmabuf ${planeCount.toLocaleString('en-US')} cycles of 3), ` +
      `client sends ${send}; ×floor = median of ${repeats} interleaved per-round ratios to the C floor (recv header, recv body, one send)`,
    rows,
  );
  console.log('  (an op is one round trip; for plane-dmabuf one cycle of 3 round trips + mmap/munmap. The floor and node:net answer');
  console.log('   regioninfo, regioninfo-fd and plane-dmabuf header-only and send no fds: those ratios are not like-for-like.');
  console.log(`   libvfio-user: ${LVU_GPIO === undefined ? 'n/a (set LVU_GPIO=/path/to/gpio-pci-idio-16 to include it; config only)' : LVU_GPIO})`);
  for (const v of verdicts) console.log(`  ${v}`);
  const path = writeResult('vfio-user', { root: ROOT, count, planeCount, repeats, send, lvu: LVU_GPIO ?? null, cells, rows });
  console.log(`  -> ${path}`);
}

// Standalone: `tsx test/bench/vfio-user.bench.ts`
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await run();
