/**
 * Leak checks for fds and shared-memory mappings, for any test that touches
 * real fds (the fd-ownership rule: "leaks no fd" is checked, not assumed).
 *
 *   await expectNoFdLeak(async () => { ...exercise... });
 *   await expectNoLeak(async () => { ... });   // fds + memfd mappings
 *
 * Both compare a snapshot before and after `fn`. Because the test runner and
 * child-process plumbing open and close fds of their own asynchronously, the
 * "after" side is re-read for up to `settleMs` until it matches; a mismatch
 * that persists fails with the offending fds and what they point to.
 *
 * Measures this process only (/proc/self). Works with any test runner: a
 * failure throws a plain Error.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mappingStats } from '../../src/sys/memfd.ts';

/** Number of open fds of this process (entries in /proc/self/fd, excluding the one used to list it). */
export function fdCount(): number {
  return openFds().size;
}

/** Open fds of this process → what they point to (readlink of /proc/self/fd/N). */
export function openFds(): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of readdirSync('/proc/self/fd')) {
    const fd = Number(name);
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${name}`);
    } catch {
      continue; // the directory fd used for the listing itself, already closed
    }
    out.set(fd, target);
  }
  return out;
}

/** Bytes of this process's address space mapped from memfds (sum over /proc/self/maps). */
export function memfdMappedBytes(): number {
  let total = 0;
  for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    // start-end perms offset dev inode path
    const m = /^([0-9a-f]+)-([0-9a-f]+)\s+\S+\s+\S+\s+\S+\s+\S+\s+(\/memfd:.*)$/.exec(line);
    if (m !== null) total += Number(BigInt(`0x${m[2]}`) - BigInt(`0x${m[1]}`));
  }
  return total;
}

export interface LeakSnapshot {
  readonly fds: Map<number, string>;
  readonly memfdMappedBytes: number;
  /** Live mappings according to the native addon's own counter. */
  readonly nativeMappings: { readonly count: number; readonly bytes: number };
}

export function snapshot(): LeakSnapshot {
  return { fds: openFds(), memfdMappedBytes: memfdMappedBytes(), nativeMappings: mappingStats() };
}

export interface LeakOptions {
  /** How long the "after" state may take to come back to the baseline. @defaultValue 2000 */
  readonly settleMs?: number;
  /** Also check memfd mappings (/proc/self/maps and the addon's counter). @defaultValue false */
  readonly mappings?: boolean;
}

function describeFds(fds: number[], table: Map<number, string>): string {
  return fds.map((fd) => `${fd} -> ${table.get(fd) ?? '?'}`).join(', ');
}

/** Differences between two snapshots, as human-readable problems (empty: no leak). */
export function compareSnapshots(before: LeakSnapshot, after: LeakSnapshot, mappings: boolean): string[] {
  const problems: string[] = [];
  const leaked = [...after.fds.keys()].filter((fd) => !before.fds.has(fd));
  const lost = [...before.fds.keys()].filter((fd) => !after.fds.has(fd));
  if (leaked.length > 0) problems.push(`fds leaked: ${describeFds(leaked, after.fds)}`);
  if (lost.length > 0) problems.push(`fds closed that were open before (double close?): ${describeFds(lost, before.fds)}`);
  if (mappings) {
    if (after.memfdMappedBytes !== before.memfdMappedBytes) {
      problems.push(`memfd mappings: ${before.memfdMappedBytes} bytes before, ${after.memfdMappedBytes} after`);
    }
    if (after.nativeMappings.count !== before.nativeMappings.count || after.nativeMappings.bytes !== before.nativeMappings.bytes) {
      problems.push(
        `native mappings: ${before.nativeMappings.count} (${before.nativeMappings.bytes} bytes) before, ` +
          `${after.nativeMappings.count} (${after.nativeMappings.bytes} bytes) after`,
      );
    }
  }
  return problems;
}

async function checkAround<T>(fn: () => T | Promise<T>, options: LeakOptions, mappings: boolean): Promise<T> {
  const settleMs = options.settleMs ?? 2000;
  const before = snapshot();
  const result = await fn();
  const deadline = Date.now() + settleMs;
  for (;;) {
    const problems = compareSnapshots(before, snapshot(), mappings);
    if (problems.length === 0) return result;
    if (Date.now() >= deadline) throw new Error(`leak check failed after ${settleMs} ms: ${problems.join('; ')}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Run `fn`; fail if the set of open fds is not back to what it was before. */
export function expectNoFdLeak<T>(fn: () => T | Promise<T>, options: LeakOptions = {}): Promise<T> {
  return checkAround(fn, options, options.mappings ?? false);
}

/** Run `fn`; fail if open fds or memfd mappings are not back to what they were before. */
export function expectNoLeak<T>(fn: () => T | Promise<T>, options: LeakOptions = {}): Promise<T> {
  return checkAround(fn, options, true);
}
