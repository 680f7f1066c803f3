import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Framer, ProtocolViolation } from '../../../src/vfio-user/framer.ts';

function msg(id: number, command: number, payload: number[] = [], flags = 0): Uint8Array {
  const size = 16 + payload.length;
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint16(0, id, true);
  v.setUint16(2, command, true);
  v.setUint32(4, size, true);
  v.setUint32(8, flags, true);
  out.set(payload, 16);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

const limits = { maxMessageSize: 1024, maxFdsPerMessage: 2 };

describe('Framer', () => {
  it('decodes header fields and payload of one whole message', () => {
    const closed: number[] = [];
    const f = new Framer(limits, (fd) => closed.push(fd));
    f.push(msg(0x1234, 9, [1, 2, 3, 4], 0x10));
    const frame = f.next()!;
    expect(frame).toMatchObject({ id: 0x1234, command: 9, size: 20, flags: 0x10, error: 0, fds: [] });
    expect([...frame.payload]).toEqual([1, 2, 3, 4]);
    expect(f.next()).toBeUndefined();
    expect(closed).toEqual([]);
  });

  it('any split of a byte stream into chunks yields the same frames (reassembly is chunking-independent)', () => {
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 1, max: 20 }), fc.uint8Array({ maxLength: 40 })), { maxLength: 8 }),
      fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 20 }),
      (msgs, cuts) => {
        const stream = concat(msgs.map(([id, cmd, p]) => msg(id, cmd, [...p])));
        const f = new Framer(limits, () => {});
        const got: [number, number, number[]][] = [];
        let pos = 0;
        let i = 0;
        while (pos < stream.length) {
          const n = cuts[i++ % cuts.length]!;
          f.push(stream.subarray(pos, pos + n));
          pos += n;
          for (let fr = f.next(); fr; fr = f.next()) got.push([fr.id, fr.command, [...fr.payload]]);
        }
        expect(got).toEqual(msgs.map(([id, cmd, p]) => [id, cmd, [...p]]));
        expect(f.buffered).toBe(0);
      },
    ), { seed: 42, numRuns: 300 });
  });

  it('fds go to the message holding the chunk\'s last byte, even when fd-less messages were glued in front', () => {
    const f = new Framer(limits, () => {});
    const a = msg(1, 2, [9, 9]);
    const b = msg(2, 4);
    const c = msg(3, 2);
    f.push(a.subarray(0, 10));
    f.push(concat([a.subarray(10), b, c]), [7]);
    expect(f.next()!.fds).toEqual([]);
    expect(f.next()!.fds).toEqual([]);
    expect(f.next()!.fds).toEqual([7]);
  });

  it('fds that came with the first part of a message written in pieces belong to that message', () => {
    const f = new Framer(limits, () => {});
    const a = msg(1, 2, [1, 2, 3, 4, 5, 6, 7, 8]);
    f.push(a.subarray(0, 20), [9]);
    expect(f.next()).toBeUndefined();
    f.push(a.subarray(20));
    expect(f.next()!.fds).toEqual([9]);
  });

  it('a size below 16 is a violation and closes queued fds; the framer stays broken', () => {
    const closed: number[] = [];
    const f = new Framer(limits, (fd) => closed.push(fd));
    const bad = msg(1, 1);
    new DataView(bad.buffer).setUint32(4, 15, true);
    f.push(bad, [5, 6]);
    expect(() => f.next()).toThrow(ProtocolViolation);
    expect(closed).toEqual([5, 6]);
    expect(() => f.next()).toThrow(/smaller than the 16-byte header/);
    f.push(msg(2, 4), [8]);
    expect(closed).toEqual([5, 6, 8]);
  });

  it('a size over the limit is a violation before any payload is buffered', () => {
    const f = new Framer(limits, () => {});
    const head = msg(1, 9).subarray(0, 16);
    new DataView(head.buffer).setUint32(4, 1025, true);
    f.push(head);
    expect(() => f.next()).toThrow(/exceeds the limit of 1024/);
  });

  it('more fds than allowed on one message closes all of them and breaks the stream', () => {
    const closed: number[] = [];
    const f = new Framer(limits, (fd) => closed.push(fd));
    f.push(msg(1, 2), [3, 4, 5]);
    expect(() => f.next()).toThrow(/3 fds/);
    expect(closed.sort()).toEqual([3, 4, 5]);
  });

  it('close() releases fds of a message that never completed (peer vanished mid-message)', () => {
    const closed: number[] = [];
    const f = new Framer(limits, (fd) => closed.push(fd));
    f.push(msg(1, 2, [1, 2, 3]).subarray(0, 12), [11]);
    expect(f.next()).toBeUndefined();
    f.close();
    expect(closed).toEqual([11]);
  });

  it('grows for a message larger than its initial buffer', () => {
    const f = new Framer({ maxMessageSize: 1 << 20, maxFdsPerMessage: 1 }, () => {});
    const big = msg(3, 10, new Array(200_000).fill(7));
    f.push(big.subarray(0, 100_000));
    expect(f.next()).toBeUndefined();
    f.push(big.subarray(100_000));
    const fr = f.next()!;
    expect(fr.payload.length).toBe(200_000);
    expect(fr.payload[199_999]).toBe(7);
  });
});
