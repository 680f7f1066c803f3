/**
 * Runs benchmarks: every test/bench/*.bench.ts, or the ones named on the
 * command line (`npm run bench -- native-roundtrip`). Each bench module's
 * default export runs it and prints its table (and writes its JSON under
 * test/bench/results/).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BENCH_DIR } from './lib.ts';

const all = readdirSync(BENCH_DIR)
  .filter((f) => f.endsWith('.bench.ts'))
  .sort();
const wanted = process.argv.slice(2);
const chosen = wanted.length === 0 ? all : all.filter((f) => wanted.some((w) => f === w || f === `${w}.bench.ts`));
const unknown = wanted.filter((w) => !all.some((f) => f === w || f === `${w}.bench.ts`));
if (unknown.length > 0) {
  console.error(`unknown bench: ${unknown.join(', ')} (have: ${all.map((f) => f.replace(/\.bench\.ts$/, '')).join(', ')})`);
  process.exit(2);
}

let failed = 0;
for (const file of chosen) {
  console.log(`\n=== ${file.replace(/\.bench\.ts$/, '')} ===`);
  const started = Date.now();
  try {
    const mod = (await import(pathToFileURL(join(BENCH_DIR, file)).href)) as { default?: () => Promise<void> };
    if (typeof mod.default !== 'function') throw new Error(`${file} has no default export to run`);
    await mod.default();
  } catch (error) {
    failed++;
    console.error(`${file} failed:`, error);
  }
  console.log(`  (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}
process.exit(failed === 0 ? 0 : 1);
