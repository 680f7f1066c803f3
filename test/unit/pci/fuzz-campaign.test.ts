/**
 * A short fixed-seed `config` fuzz campaign through the same runner the CLI
 * uses (fuzz/campaign.ts runCampaign), so CI exercises the runner and the
 * target end to end. Seed printed in the title, FUZZ_SEED overrides.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { chunkSeed, decodeCorpusEntry, replayCase, runCampaign } from '../../../fuzz/campaign.ts';
import { defineTarget } from '../../../fuzz/target.ts';
import { testSeed } from '../../../fuzz/arb/seed.ts';
import { readFileSync } from 'node:fs';

const SEED = testSeed();

describe(`config fuzz campaign (seed ${SEED}; FUZZ_SEED overrides)`, () => {
  it('runs 400 executions of the config target without a failure and counts config accesses', async () => {
    const r = await runCampaign({ target: 'config', runs: 400, seed: SEED, chunk: 100, save: false });
    expect(r.failure).toBeUndefined();
    expect(r.executions).toBe(400);
    expect(r.unitName).toBe('accesses');
    expect(r.units).toBeGreaterThan(400);
    expect(r.execsPerSecond).toBeGreaterThan(0);
  });

  it('is deterministic for a seed: same runs, same accesses', async () => {
    const a = await runCampaign({ target: 'config', runs: 150, seed: SEED, chunk: 50, save: false });
    const b = await runCampaign({ target: 'config', runs: 150, seed: SEED, chunk: 50, save: false });
    expect(a.units).toBe(b.units);
  });
});

describe('campaign runner on a failing target', () => {
  // A target that fails when a generated number is ≥ 1000: fast-check shrinks it to exactly 1000.
  const failing = defineTarget<{ n: number }>({
    name: 'selftest',
    description: 'fails for n ≥ 1000',
    arbitrary: fc.record({ n: fc.nat({ max: 5000 }) }),
    check: (i) => { if (i.n >= 1000) throw new Error(`n=${i.n} is too big`); },
    unit: { name: 'numbers', count: () => 1 },
  });

  it('stops, saves the minimized case to the corpus, and prints a replay command that regenerates it exactly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdevsim-corpus-'));
    try {
      const lines: string[] = [];
      const r = await runCampaign({ target: failing, runs: 10_000, seed: 7, chunk: 64, corpusDir: dir, log: (l) => lines.push(l) });
      const f = r.failure!;
      expect(f).toBeDefined();
      expect(f.input).toEqual({ n: 1000 });
      expect(f.seed).toBe(chunkSeed(7, f.chunk));
      expect(f.replay).toBe(`npm run fuzz -- selftest --seed ${f.seed} --path ${f.path}`);
      expect(lines.join('\n')).toContain(f.replay);
      const files = readdirSync(join(dir, 'selftest'));
      expect(files).toHaveLength(1);
      const entry = decodeCorpusEntry(readFileSync(join(dir, 'selftest', files[0]!)));
      expect(entry).toMatchObject({ format: 1, target: 'selftest', seed: f.seed, path: f.path, input: { n: 1000 } });
      const replay = replayCase({ target: failing, seed: f.seed, path: f.path });
      expect(replay.input).toEqual({ n: 1000 });
      expect(replay.error).toBe('n=1000 is too big');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('chunk 0 uses the campaign seed; later chunks get distinct derived seeds', () => {
    expect(chunkSeed(123, 0)).toBe(123);
    const seeds = new Set(Array.from({ length: 1000 }, (_v, k) => chunkSeed(123, k)));
    expect(seeds.size).toBe(1000);
  });
});
