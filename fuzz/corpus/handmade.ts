/**
 * Writes the hand-made corpus cases (fuzz/corpus/<target>/handmade-*.msgpack).
 * Run `npx tsx fuzz/corpus/handmade.ts` after changing them; the files are
 * committed and replayed by test/regress/corpus.test.ts like any saved failure.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encode } from '@msgpack/msgpack';
import { CORPUS_DIR, roundTripsThroughMsgpack, type CorpusEntry } from '../campaign.ts';
import { CONFIG_PRESETS, type ConfigCase } from '../arb/config.ts';

const ff = (n: number): Uint8Array => new Uint8Array(n).fill(0xff);

const cases: Record<string, { target: string; note: string; input: ConfigCase }> = {
  'handmade-mdpy-probe': {
    target: 'config',
    note: 'QEMU/guest probe of an mdpy-shaped 255-byte space: BAR0 sizing and programming, ROM probe without a ROM, ' +
      'straddling COMMAND/STATUS write, the 4-byte read at 0xFC that must fail, full-space reads and writes, ' +
      'snapshot/reset/restore, and the empty write of regression seed 42',
    input: {
      spec: CONFIG_PRESETS['mdpy']!,
      ops: [
        { op: 'write', offset: 0x10, size: 4, value: 0xffffffff },
        { op: 'read', offset: 0x10, size: 4 },
        { op: 'write', offset: 0x10, size: 4, value: 0xe0000000 },
        { op: 'read', offset: 0x10, size: 4 },
        { op: 'write', offset: 0x30, size: 4, value: 0xfffff800 },
        { op: 'read', offset: 0x30, size: 4 },
        { op: 'write', offset: 0x04, size: 4, value: 0xffffffff },
        { op: 'write', offset: 0x3f, size: 2, value: 0xffff },
        { op: 'read', offset: 0xfc, size: 4 },
        { op: 'read', offset: 0xfc, size: 2 },
        { op: 'snapshot' },
        { op: 'readBytes', offset: 0, length: 255 },
        { op: 'readBytes', offset: 0, length: 256 },
        { op: 'writeBytes', offset: 0, data: ff(255) },
        { op: 'writeBytes', offset: 0x01, data: new Uint8Array(0) },
        { op: 'reset' },
        { op: 'restore' },
        { op: 'read', offset: 0x10, size: 4 },
      ],
    },
  },
  'handmade-kitchen-sink': {
    target: 'config',
    note: '64-bit BAR pair sizing, I/O BAR, ROM enable, PM D-state refusal and PME_Status W1C, MSI-like writable fields',
    input: {
      spec: CONFIG_PRESETS['kitchen-sink']!,
      ops: [
        { op: 'write', offset: 0x10, size: 4, value: 0xffffffff },
        { op: 'write', offset: 0x14, size: 4, value: 0xffffffff },
        { op: 'read', offset: 0x10, size: 4 },
        { op: 'read', offset: 0x14, size: 4 },
        { op: 'write', offset: 0x18, size: 4, value: 0xffffffff },
        { op: 'write', offset: 0x30, size: 4, value: 0xffffffff },
        { op: 'write', offset: 0x44, size: 2, value: 0x0003 },
        { op: 'write', offset: 0x44, size: 2, value: 0x0002 },
        { op: 'write', offset: 0x44, size: 2, value: 0x8101 },
        { op: 'write', offset: 0x06, size: 2, value: 0x0800 },
        { op: 'writeBytes', offset: 0x40, data: ff(0x40) },
        { op: 'read', offset: 0xfc, size: 4 },
      ],
    },
  },
};

for (const [name, c] of Object.entries(cases)) {
  if (!roundTripsThroughMsgpack(c.input)) throw new Error(`${name}: input does not round-trip through msgpack`);
  const entry: CorpusEntry = { format: 1, target: c.target, note: c.note, input: c.input };
  const dir = join(CORPUS_DIR, c.target);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.msgpack`), encode(entry, { ignoreUndefined: true }));
  process.stdout.write(`wrote ${join(dir, `${name}.msgpack`)}\n`);
}
