/**
 * The noVNC modules the web page imports, served from the installed
 * `@novnc/novnc` package (a dependency of mdevsim, so it resolves both in a
 * checkout and next to an installed tarball).
 *
 * Only `.js` regular files under the package's `core/` and `vendor/` are
 * served: they are listed once by walking those two directories without
 * following symbolic links, read into memory (bounded: noVNC 1.7 is ~580 KB
 * of JavaScript in 54 files), and looked up by their relative path. A
 * request can therefore reach nothing the walk did not list — no `..`, no
 * link out of the package, no other file type.
 */
import { lstatSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** Bounds on what the walk accepts (noVNC 1.7: 54 files, the largest 120 KB). */
const MAX_FILES = 256;
const MAX_FILE_BYTES = 1 << 20;
const MAX_TOTAL_BYTES = 4 << 20;
const MAX_DEPTH = 8;
const SERVED_DIRS = ['core', 'vendor'] as const;
/** A served path: segments of these characters, none of them "." or "..". */
const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/;

/** noVNC's served modules: relative path ('core/rfb.js') → contents. */
export interface NoVncAssets {
  /** The package directory they came from (its real path). */
  readonly dir: string;
  readonly files: ReadonlyMap<string, Buffer>;
  readonly bytes: number;
}

let cached: NoVncAssets | undefined;

/**
 * The modules, read at first use and kept for the process's lifetime.
 * @throws Error when the package is missing or larger than the bounds (a broken installation).
 */
export function noVncAssets(): NoVncAssets {
  cached ??= readAssets(noVncDir());
  return cached;
}

/** The asset for a request path below /novnc/ ('core/rfb.js'); undefined for anything not served. */
export function noVncAsset(relative: string): Buffer | undefined {
  const segments = relative.split('/');
  if (!segments.every((s) => SEGMENT.test(s))) return undefined;
  return noVncAssets().files.get(segments.join('/'));
}

function noVncDir(): string {
  // The package exports only core/rfb.js, so resolve that and climb to the package root.
  let entry: string;
  try {
    entry = createRequire(import.meta.url).resolve('@novnc/novnc');
  } catch {
    throw new Error('Web view: the @novnc/novnc package is not installed next to mdevsim; reinstall mdevsim.');
  }
  return realpathSync(dirname(dirname(entry)));
}

function readAssets(dir: string): NoVncAssets {
  const files = new Map<string, Buffer>();
  let bytes = 0;
  const walk = (rel: string, depth: number): void => {
    if (depth > MAX_DEPTH) throw new Error(`Web view: ${join(dir, rel)} is nested deeper than noVNC's own layout; reinstall @novnc/novnc.`);
    for (const entry of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const path = `${rel}/${entry.name}`;
      if (!SEGMENT.test(entry.name)) continue;
      if (entry.isDirectory()) walk(path, depth + 1);
      else if (entry.isFile() && entry.name.endsWith('.js')) {
        // Checked before reading (no large allocation) and again after (the file may have changed since).
        const tooMuch = (size: number): boolean => files.size >= MAX_FILES || size > MAX_FILE_BYTES || bytes + size > MAX_TOTAL_BYTES;
        if (tooMuch(statSync(join(dir, path)).size)) throw oversized(dir, path);
        const data = readFileSync(join(dir, path));
        if (tooMuch(data.length)) throw oversized(dir, path);
        bytes += data.length;
        files.set(path, data);
      }
      // Symbolic links and anything else are not served.
    }
  };
  for (const top of SERVED_DIRS) {
    if (!lstatSync(join(dir, top)).isDirectory()) throw new Error(`Web view: ${join(dir, top)} is not a directory; reinstall @novnc/novnc.`);
    walk(top, 1);
  }
  if (!files.has('core/rfb.js')) throw new Error(`Web view: ${dir} has no core/rfb.js; reinstall @novnc/novnc.`);
  return { dir, files, bytes };
}

const oversized = (dir: string, path: string): Error => new Error(`Web view: ${dir} holds more JavaScript than noVNC should (at ${path}); reinstall @novnc/novnc.`);
