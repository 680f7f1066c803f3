/**
 * Programmatic fuzz campaigns over the targets in fuzz/targets: run a target
 * for N executions or S seconds from a seed, report rates, and on failure
 * save the minimized case to fuzz/corpus/<target>/ with an exact replay
 * command. The CLI (fuzz/run.ts) and the CI test
 * (test/unit/pci/fuzz-campaign.test.ts) both go through {@link runCampaign}.
 *
 * Chunking: the campaign is a sequence of `fc.check` calls of `chunk`
 * executions each, so progress can be printed between them. Chunk 0 uses
 * the campaign seed itself; chunk k uses `chunkSeed(seed, k)`. A failure is
 * reported with the seed of its chunk and fast-check's counterexample path,
 * which is all `--seed S --path P` needs to regenerate the exact input.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { decode, encode } from '@msgpack/msgpack';
import type { AnyFuzzTarget } from './target.ts';
import { getTarget, TARGETS } from './targets/index.ts';

/** Where saved cases live: fuzz/corpus/<target>/*.msgpack. */
export const CORPUS_DIR = fileURLToPath(new URL('./corpus/', import.meta.url));

/** Default executions per fc.check call (progress granularity). */
export const DEFAULT_CHUNK = 200;

/** What a corpus file holds (msgpack-encoded). */
export interface CorpusEntry {
  /** Format version of this record. */
  readonly format: 1;
  readonly target: string;
  /** Seed and path that generated the case, when it came from a campaign. */
  readonly seed?: number;
  readonly path?: string;
  /** Why the case is kept (the failure message, or a note for hand-made cases). */
  readonly note: string;
  readonly input: unknown;
}

export interface CampaignOptions {
  /** Registered target name (or the target itself). */
  readonly target: string | AnyFuzzTarget;
  /** Stop after this many executions (generated cases). @defaultValue unlimited when `timeSeconds` is given, else 1000 */
  readonly runs?: number;
  /** Stop after this many seconds (checked between chunks). @defaultValue no limit */
  readonly timeSeconds?: number;
  /** Campaign seed (int32). @defaultValue random, printed */
  readonly seed?: number;
  /** Executions per fc.check chunk. @defaultValue DEFAULT_CHUNK */
  readonly chunk?: number;
  /** Save a failing case to the corpus. @defaultValue true */
  readonly save?: boolean;
  /** Corpus root directory. @defaultValue CORPUS_DIR */
  readonly corpusDir?: string;
  /** Print a one-line progress bar to stderr. @defaultValue false */
  readonly progress?: boolean;
  /** Sink for the failure report. @defaultValue writes to stderr */
  readonly log?: (line: string) => void;
}

export interface CampaignFailure {
  /** Seed of the failing chunk: pass it with `path` to replay. */
  readonly seed: number;
  readonly path: string;
  readonly chunk: number;
  readonly input: unknown;
  readonly error: string;
  readonly description: string;
  readonly corpusFile: string | undefined;
  /** `npm run fuzz -- <target> --seed S --path P` */
  readonly replay: string;
}

export interface CampaignResult {
  readonly target: string;
  readonly seed: number;
  /** Generated cases checked, including shrink attempts after a failure. */
  readonly executions: number;
  /** Target units (e.g. config accesses) in those cases; 0 when the target declares none. */
  readonly units: number;
  readonly unitName: string | undefined;
  /** Distinct coverage labels hit (targets that declare coverage). */
  readonly coverage: readonly string[];
  readonly elapsedMs: number;
  readonly execsPerSecond: number;
  readonly unitsPerSecond: number;
  readonly failure: CampaignFailure | undefined;
}

/** Seed of chunk k of a campaign seeded with `seed` (int32; chunk 0 is the seed itself). */
export function chunkSeed(seed: number, k: number): number {
  if (k === 0) return seed | 0;
  // splitmix32-style mix of (seed, k)
  let z = (Math.imul(seed | 0, 0x9e3779b9) + Math.imul(k, 0x85ebca6b)) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  return (z ^ (z >>> 15)) | 0;
}

/** A fresh random int32 seed. */
export function randomSeed(): number {
  return (Math.random() * 2 ** 32) | 0;
}

function resolveTarget(t: string | AnyFuzzTarget): AnyFuzzTarget {
  if (typeof t !== 'string') return t;
  const found = getTarget(t);
  if (found === undefined) throw new Error(`unknown fuzz target '${t}'; known: ${Object.keys(TARGETS).join(', ')}`);
  return found;
}

const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
const fmtRate = (n: number): string =>
  n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e4 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(0);

/** A safe file name for a corpus case: `<seed>-<path>` with ':' written as '_'. */
export function corpusFileName(seed: number, path: string): string {
  const flat = path.replaceAll(':', '_');
  // Shrink paths can be hundreds of steps long; keep names well under NAME_MAX (the full path is inside the entry).
  if (flat.length <= 120) return `${seed}-${flat}.msgpack`;
  const digest = createHash('sha256').update(path).digest('hex').slice(0, 16);
  return `${seed}-${path.split(':')[0] ?? '0'}_${digest}.msgpack`;
}

/** Save a case to `<corpusDir>/<target>/<seed>-<path>.msgpack`; returns the file path. */
export function saveCorpusCase(corpusDir: string, entry: CorpusEntry & { seed: number; path: string }): string {
  const dir = join(corpusDir, entry.target);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, corpusFileName(entry.seed, entry.path));
  writeFileSync(file, encode(entry, { ignoreUndefined: true }));
  return file;
}

/** Decode a corpus file's bytes. Throws when the record is not a CorpusEntry. */
export function decodeCorpusEntry(bytes: Uint8Array): CorpusEntry {
  const e = decode(bytes) as Partial<CorpusEntry> | null;
  if (e === null || typeof e !== 'object' || e.format !== 1 || typeof e.target !== 'string' || !('input' in e)) {
    throw new Error('not a corpus entry (expected { format: 1, target, note, input })');
  }
  return e as CorpusEntry;
}

/**
 * Structural equality of plain data, as msgpack sees it: objects compare by
 * own enumerable keys whatever their prototype (fast-check records have a
 * null prototype, decoded ones Object.prototype), arrays and Uint8Arrays
 * element-wise, NaN equals NaN.
 */
export function plainEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && a.length === b.length && a.every((x, i) => x === b[i]);
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(rb, k) && plainEqual(ra[k], rb[k]));
}

/** Whether a case survives a msgpack round trip unchanged (what a corpus file needs). */
export function roundTripsThroughMsgpack(input: unknown): boolean {
  return plainEqual(decode(encode(input, { ignoreUndefined: true })), input);
}

/** Replay command for a failure. */
export function replayCommand(target: string, seed: number, path: string): string {
  return `npm run fuzz -- ${target} --seed ${seed} --path ${path}`;
}

/**
 * Run a campaign. Resolves with counts, rates and the first failure (the
 * campaign stops at it), after saving the minimized case unless `save` is
 * false.
 */
export async function runCampaign(options: CampaignOptions): Promise<CampaignResult> {
  const target = resolveTarget(options.target);
  const seed = (options.seed ?? randomSeed()) | 0;
  const chunk = options.chunk ?? DEFAULT_CHUNK;
  const timeMs = options.timeSeconds !== undefined ? options.timeSeconds * 1000 : undefined;
  const runs = options.runs ?? (timeMs === undefined ? 1000 : Number.POSITIVE_INFINITY);
  const log = options.log ?? ((line: string) => { process.stderr.write(`${line}\n`); });
  if (!Number.isInteger(chunk) || chunk < 1) throw new Error(`chunk must be a positive integer, got ${chunk}`);
  if (!(runs > 0)) throw new Error(`runs must be positive, got ${runs}`);

  let executions = 0;
  let units = 0;
  const countUnits = target.unit?.count.bind(target.unit);
  const covered = new Set<string>();
  const coverLabels = target.coverage?.labels.bind(target.coverage);
  const property = fc.property(target.arbitrary, (input: unknown) => {
    executions++;
    if (countUnits !== undefined) units += countUnits(input);
    if (coverLabels !== undefined) for (const l of coverLabels(input)) covered.add(l);
    target.check(input);
  });

  let done = 0; // executions scheduled in completed chunks (excludes shrink runs)
  const started = performance.now();
  const elapsed = (): number => performance.now() - started;
  const tty = options.progress === true && process.stderr.isTTY === true;
  let lastLine = 0;
  const progress = (final: boolean): void => {
    if (options.progress !== true) return;
    const ms = elapsed();
    if (!tty && !final && ms - lastLine < 5000) return;
    lastLine = ms;
    const frac = Math.max(Number.isFinite(runs) ? done / runs : 0, timeMs !== undefined ? ms / timeMs : 0);
    const width = 24;
    const filled = Math.max(0, Math.min(width, Math.round(frac * width)));
    const secs = ms / 1000;
    const unitPart = (target.unit !== undefined ? `  ${fmtRate(units)} ${target.unit.name} ${fmtRate(units / secs)}/s` : '') +
      (target.coverage !== undefined ? `  cov ${covered.size}${target.coverage.space !== undefined ? `/${target.coverage.space}` : ''}` : '');
    const line =
      `${target.name} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(Math.min(frac, 1) * 100).toFixed(0).padStart(3)}%` +
      `  ${fmtInt(executions)} execs ${fmtRate(executions / secs)}/s${unitPart}  ${secs.toFixed(1)}s`;
    process.stderr.write(tty ? `\r${line}\x1b[K${final ? '\n' : ''}` : `${line}\n`);
  };

  let failure: CampaignFailure | undefined;
  for (let k = 0; done < runs; k++) {
    if (timeMs !== undefined && elapsed() >= timeMs) break;
    const n = Math.min(chunk, runs - done);
    const s = chunkSeed(seed, k);
    const details = fc.check(property, { seed: s, numRuns: n });
    done += n;
    if (details.failed) {
      const input = details.counterexample?.[0];
      const path = details.counterexamplePath ?? '';
      const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
      const description = target.describe !== undefined ? target.describe(input) : fc.stringify(input);
      let corpusFile: string | undefined;
      if (options.save !== false) {
        corpusFile = saveCorpusCase(options.corpusDir ?? CORPUS_DIR, { format: 1, target: target.name, seed: s, path, note: error, input });
      }
      failure = { seed: s, path, chunk: k, input, error, description, corpusFile, replay: replayCommand(target.name, s, path) };
      break;
    }
    progress(false);
    // Let signals and timers run between chunks.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  progress(true);

  const ms = elapsed();
  const result: CampaignResult = {
    target: target.name, seed, executions, units, unitName: target.unit?.name, elapsedMs: ms,
    execsPerSecond: executions / (ms / 1000), unitsPerSecond: units / (ms / 1000), failure,
    coverage: [...covered].sort(),
  };
  if (failure !== undefined) {
    const roundTrip = roundTripsThroughMsgpack(failure.input);
    log(`${target.name}: FAILURE in chunk ${failure.chunk} of campaign seed ${seed}`);
    log(`  seed ${failure.seed}  path ${failure.path}`);
    log(`  ${failure.error}`);
    log(`  counterexample:\n${failure.description.replace(/^/gm, '    ')}`);
    if (failure.corpusFile !== undefined) log(`  saved: ${failure.corpusFile}${roundTrip ? '' : ' (WARNING: input does not round-trip through msgpack)'}`);
    log(`  replay: ${failure.replay}`);
  }
  return result;
}

/** Outcome of replaying one (seed, path). */
export interface ReplayResult {
  readonly target: string;
  readonly seed: number;
  readonly path: string;
  readonly input: unknown;
  readonly description: string;
  /** The error message, or undefined when the case passes now. */
  readonly error: string | undefined;
}

/**
 * Regenerate the exact input at (seed, path) and check it once. The path is
 * fast-check's counterexample path (run index, then shrink steps).
 */
export function replayCase(options: { target: string | AnyFuzzTarget; seed: number; path: string }): ReplayResult {
  const target = resolveTarget(options.target);
  const [input] = fc.sample(target.arbitrary, { seed: options.seed | 0, path: options.path, numRuns: 1 });
  let error: string | undefined;
  try {
    target.check(input);
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
  }
  const description = target.describe !== undefined ? target.describe(input) : fc.stringify(input);
  return { target: target.name, seed: options.seed | 0, path: options.path, input, description, error };
}
