/**
 * Shared benchmark helpers: tables, JSON results, building C baselines,
 * running commands pinned to one CPU or not, percentiles. Benchmarks print
 * and record; they assert nothing (test/bench is never part of `vitest run`).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const RESULTS_DIR = join(BENCH_DIR, 'results');
export const BIN_DIR = join(RESULTS_DIR, 'bin');

export type Cell = string | number;
export type Row = Record<string, Cell>;

function formatCell(value: Cell): string {
  if (typeof value === 'string') return value;
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  return value.toLocaleString('en-US', { maximumFractionDigits: value >= 100 ? 0 : 2 });
}

/** Print rows as an aligned table (columns from the first row; numbers right-aligned). */
export function printTable(title: string, rows: readonly Row[]): void {
  console.log(`\n${title}`);
  if (rows.length === 0) {
    console.log('  (no rows)');
    return;
  }
  const columns = Object.keys(rows[0]!);
  const cells = rows.map((row) => columns.map((c) => formatCell(row[c] ?? '')));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const numeric = columns.map((c) => rows.every((row) => typeof row[c] === 'number'));
  const line = (values: string[]): string =>
    '  ' + values.map((v, i) => (numeric[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join('  ');
  console.log(line(columns));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const r of cells) console.log(line(r));
}

/** Write `data` to test/bench/results/<name>.json (with a timestamp and host facts); returns the path. */
export function writeResult(name: string, data: unknown): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${name}.json`);
  const record = { name, date: new Date().toISOString(), node: process.version, cpus: cpuCount(), data };
  writeFileSync(path, JSON.stringify(record, null, 2) + '\n');
  return path;
}

/** CPUs this process may run on. */
export function cpuCount(): number {
  const out = spawnSync('nproc', { encoding: 'utf8' });
  return out.status === 0 ? Number(out.stdout.trim()) : 1;
}

/**
 * Compile a C file (path relative to test/bench) with `cc -O2` into
 * test/bench/results/bin/<name>; skipped when the binary is newer than the
 * source. Returns the binary's path.
 */
export function buildC(source: string, name: string, extraFlags: readonly string[] = []): string {
  const src = resolve(BENCH_DIR, source);
  const out = join(BIN_DIR, name);
  mkdirSync(BIN_DIR, { recursive: true });
  let fresh = false;
  try {
    fresh = statSync(out).mtimeMs > statSync(src).mtimeMs;
  } catch {
    fresh = false;
  }
  if (!fresh) execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', out, src, ...extraFlags], { stdio: 'inherit' });
  return out;
}

export interface RunOptions {
  /** Pin the command (and every process it forks) to this CPU with `taskset -c`. Unpinned when undefined. */
  readonly cpu?: number;
  readonly timeoutMs?: number;
}

/** Run a command to completion and return its stdout; stderr passes through. Throws on a non-zero exit. */
export function runCommand(command: string, args: readonly string[], options: RunOptions = {}): string {
  const [cmd, argv] = options.cpu === undefined ? [command, args] : ['taskset', ['-c', String(options.cpu), command, ...args]];
  const result = spawnSync(cmd, argv, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: options.timeoutMs ?? 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error !== undefined) throw result.error;
  if (result.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} exited with ${result.status ?? result.signal}`);
  return result.stdout;
}

/** The last line of `output` that parses as JSON. */
export function lastJsonLine<T>(output: string): T {
  const lines = output.trim().split('\n').reverse();
  for (const line of lines) {
    try {
      return JSON.parse(line) as T;
    } catch {
      // not JSON: keep looking
    }
  }
  throw new Error(`no JSON line in output:\n${output}`);
}

/** The p-th percentile (0..100, nearest rank) of ascending `sorted`. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export interface Summary {
  readonly count: number;
  readonly mean: number;
  readonly min: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

/** Sort a copy of `samples` and summarize it. */
export function summarize(samples: ArrayLike<number>): Summary {
  const sorted = Float64Array.from(samples).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: sorted.length,
    mean: sorted.length === 0 ? Number.NaN : sum / sorted.length,
    min: sorted[0] ?? Number.NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? Number.NaN,
  };
}
