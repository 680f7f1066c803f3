/**
 * Replays every saved corpus case (fuzz/corpus/<target>/*.msgpack) of every
 * registered fuzz target. A case is saved when a campaign finds a failure;
 * once the bug is fixed it must pass forever. Hand-made cases live next to
 * them (fuzz/corpus/handmade.ts writes those).
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CORPUS_DIR, decodeCorpusEntry } from '../../fuzz/campaign.ts';
import { TARGETS } from '../../fuzz/targets/index.ts';

function casesOf(target: string): string[] {
  const dir = join(CORPUS_DIR, target);
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.msgpack')).sort() : [];
}

describe('fuzz corpus replay', () => {
  it('the target registry loads and holds the config target', () => {
    expect(Object.keys(TARGETS)).toContain('config');
    for (const [name, t] of Object.entries(TARGETS)) expect(t.name).toBe(name);
  });

  it('the config corpus is not empty (hand-made cases keep the replay loop exercised)', () => {
    expect(casesOf('config').length).toBeGreaterThan(0);
  });

  for (const [name, target] of Object.entries(TARGETS)) {
    for (const file of casesOf(name)) {
      it(`${name}/${file} passes`, () => {
        const entry = decodeCorpusEntry(readFileSync(join(CORPUS_DIR, name, file)));
        expect(entry.target).toBe(name);
        target.check(entry.input);
      });
    }
  }
});
