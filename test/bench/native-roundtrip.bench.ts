/**
 * Round trip of a 16-byte message over an AF_UNIX socketpair between two
 * processes: through the addon (Node client <-> Node echo server, both on
 * UnixSocket) against plain C (c/pingpong.c: blocking sendmsg/recvmsg),
 * unpinned and with both processes pinned to CPU 0 (`taskset -c 0`).
 *
 * The pinned Node/C ratio is the figure the vfio-user server must keep at
 * or above 0.70 (a do-nothing reply path through the addon vs C).
 *
 * VMs are noisy, so C and Node runs alternate REPEATS times per mode and the
 * table shows the median run of each (by rate); "ratio range" is the spread
 * of the per-pair Node/C ratios.
 *
 *   npm run bench -- native-roundtrip
 *   ITERATIONS=200000 REPEATS=5 npm run bench -- native-roundtrip
 */
import { fileURLToPath } from 'node:url';
import { buildC, lastJsonLine, printTable, runCommand, writeResult, type Row } from './lib.ts';

interface PingResult {
  readonly impl: 'c' | 'node';
  readonly iterations: number;
  readonly seconds: number;
  readonly rate: number;
  readonly p50_ns: number;
  readonly p99_ns: number;
}

const DRIVER = fileURLToPath(new URL('./support/roundtrip-driver.ts', import.meta.url));

function median(results: readonly PingResult[]): PingResult {
  const sorted = [...results].sort((a, b) => a.rate - b.rate);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

export default async function run(): Promise<void> {
  const iterations = Number(process.env['ITERATIONS'] ?? 100_000);
  const repeats = Number(process.env['REPEATS'] ?? 3);
  const warmup = Math.min(20_000, Math.ceil(iterations / 5));
  const pingpong = buildC('c/pingpong.c', 'pingpong');
  const rows: Row[] = [];
  const raw: Record<string, PingResult[]> = {};
  for (const [mode, cpu] of [['unpinned', undefined], ['pinned cpu0', 0]] as const) {
    const cRuns: PingResult[] = [];
    const nodeRuns: PingResult[] = [];
    for (let i = 0; i < repeats; i++) {
      cRuns.push(lastJsonLine<PingResult>(runCommand(pingpong, [String(iterations), String(warmup)], { cpu })));
      nodeRuns.push(
        lastJsonLine<PingResult>(
          runCommand(process.execPath, ['--import', 'tsx', DRIVER, String(iterations), String(warmup)], { cpu }),
        ),
      );
    }
    raw[`${mode}/c`] = cRuns;
    raw[`${mode}/node`] = nodeRuns;
    const c = median(cRuns);
    const node = median(nodeRuns);
    const ratios = nodeRuns.map((n, i) => n.rate / cRuns[i]!.rate);
    for (const r of [c, node]) {
      rows.push({
        mode,
        impl: r.impl === 'c' ? 'C (blocking)' : 'Node addon',
        'round trips/s': Math.round(r.rate),
        'p50 µs': r.p50_ns / 1000,
        'p99 µs': r.p99_ns / 1000,
        'vs C': r.rate / c.rate,
        'ratio range': r.impl === 'c' ? '' : `${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}`,
      });
    }
  }
  printTable(
    `native round trip, 16-byte message, ${iterations.toLocaleString('en-US')} iterations, median of ${repeats}`,
    rows,
  );
  const path = writeResult('native-roundtrip', { iterations, warmup, repeats, results: raw, rows });
  console.log(`  -> ${path}`);
}

// Standalone: `tsx test/bench/native-roundtrip.bench.ts`
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await run();
