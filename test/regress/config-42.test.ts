/**
 * Regression for fuzz campaign `npm run fuzz -- config --runs 20000 --seed 42`,
 * failure at seed 42 path 88:0:1:0:0:0:2:1:1:1:1:1:1:2. The path was valid
 * for the arbitraries of that day (they have changed since; a path is tied to
 * the arbitrary's definition), so this test replays the minimized input saved
 * in fuzz/corpus/config/42-88_0_1_0_0_0_2_1_1_1_1_1_1_2.msgpack.
 *
 * Bug: a zero-length writeBytes inside a hooked range (e.g. writeBytes(0x01, [])
 * on an mdpy-shaped space) ran the write hooks, although the access touches no
 * byte; at offset == size it ran none. Fix: an empty write is a no-op and
 * overlaps no hook range (src/pci/config-space.ts #store).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CORPUS_DIR, decodeCorpusEntry } from '../../fuzz/campaign.ts';
import { buildConfigSpace, describeConfigCase, CONFIG_PRESETS, type ConfigCase } from '../../fuzz/arb/config.ts';
import { checkConfigCase } from '../../fuzz/targets/config.ts';

describe('config fuzz seed 42: empty write ran hooks', () => {
  it('the saved minimized case (seed 42, path 88:0:1:0:0:0:2:1:1:1:1:1:1:2) passes', () => {
    const entry = decodeCorpusEntry(readFileSync(join(CORPUS_DIR, 'config', '42-88_0_1_0_0_0_2_1_1_1_1_1_1_2.msgpack')));
    expect(entry).toMatchObject({ target: 'config', seed: 42, path: '88:0:1:0:0:0:2:1:1:1:1:1:1:2' });
    const input = entry.input as ConfigCase;
    expect(describeConfigCase(input)).toBe('config space: mdpy\n  0: writeBytes(0x1, [])');
    checkConfigCase(input);
  });

  it('an empty write anywhere in [0, size] runs no hook and changes nothing', () => {
    let calls = 0;
    const cs = buildConfigSpace(CONFIG_PRESETS['mdpy']!, [{ name: 'all', offset: 0, size: 255, onWrite: () => { calls++; } }]);
    const before = cs.image.slice();
    for (const offset of [0, 1, 0x10, 0xfe, 0xff]) cs.writeBytes(offset, new Uint8Array(0));
    expect(calls).toBe(0);
    expect(cs.image.slice()).toEqual(before);
  });
});
