import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineSplitter, LineTooLongError } from '../../../src/vnc/qmp-lines.ts';

const enc = new TextEncoder();

describe('LineSplitter', () => {
  it('any split of a stream into chunks yields the same lines (reassembly is chunking-independent)', () => {
    fc.assert(fc.property(
      fc.array(fc.string({ unit: 'grapheme', maxLength: 30 }).map((s) => s.replaceAll('\n', ' ')), { maxLength: 10 }),
      fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1, maxLength: 10 }),
      (lines, cuts) => {
        const stream = enc.encode(lines.map((l) => `${l}\n`).join(''));
        const s = new LineSplitter(1024);
        const got: string[] = [];
        let pos = 0;
        for (let i = 0; pos < stream.length; i++) {
          const n = cuts[i % cuts.length]!;
          s.push(stream.subarray(pos, pos + n), (line) => { got.push(line); });
          pos += n;
        }
        expect(got).toEqual(lines);
        expect(s.buffered).toBe(0);
      },
    ), { seed: 3, numRuns: 300 });
  });

  it('never holds more than the limit: a longer line throws before its bytes are kept', () => {
    const s = new LineSplitter(8);
    s.push(enc.encode('12345'), () => {});
    expect(s.buffered).toBe(5);
    expect(() => s.push(enc.encode('6789'), () => {})).toThrow(LineTooLongError);
    expect(s.buffered).toBe(5);
    const t = new LineSplitter(8);
    t.push(enc.encode('12345678\n'), () => {}); // exactly the limit is fine
    expect(() => t.push(enc.encode('123456789\n'), () => {})).toThrow(LineTooLongError);
  });

  it('stops when the callback returns false', () => {
    const s = new LineSplitter(64);
    const got: string[] = [];
    s.push(enc.encode('a\nb\nc\n'), (line) => { got.push(line); return line !== 'b'; });
    expect(got).toEqual(['a', 'b']);
  });
});
