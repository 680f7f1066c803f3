import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { bytes, struct } from '../../../src/util/struct.ts';
import { dump, hex } from './hex.ts';

const Mixed = struct('mixed', [
  ['a', 'u8'],
  ['b', 'u8'],
  ['c', 'u16'],
  ['d', 'u32'],
  ['e', 'u64'],
  ['f', bytes(8)],
]);

const WithTail = struct('with_tail', [['len', 'u32'], ['kind', 'u32']], { tail: 'data' });

describe('struct descriptor', () => {
  it('derives size, alignment and offsets from the field list', () => {
    expect(Mixed.size).toBe(24);
    expect(Mixed.align).toBe(8);
    expect(Mixed.offsets).toEqual({ a: 0, b: 1, c: 2, d: 4, e: 8, f: 16 });
    expect(Mixed.fields.map((f) => [f.name, f.offset, f.size])).toEqual([
      ['a', 0, 1], ['b', 1, 1], ['c', 2, 2], ['d', 4, 4], ['e', 8, 8], ['f', 16, 8],
    ]);
    expect(WithTail.size).toBe(8);
    expect(WithTail.tail).toBe('data');
  });

  it('encodes little-endian, field by field', () => {
    const out = Mixed.toBytes({
      a: 0x01, b: 0x02, c: 0x0304, d: 0x05060708, e: 0x090a0b0c0d0e0f10n,
      f: hex('11 12 13 14 15 16 17 18'),
    });
    expect(dump(out)).toBe(dump(hex('01 02 04 03 08 07 06 05 | 10 0f 0e 0d 0c 0b 0a 09 | 11 12 13 14 15 16 17 18')));
  });

  it('decodes at an offset, u64 as bigint including the top bit', () => {
    const buf = hex('ee ee ff 00 ff ff ff ff ff ff ff ff | ff ff ff ff ff ff ff ff | aa bb cc dd ee ff 00 11 | 99');
    expect(Mixed.decode(buf, 2)).toEqual({
      a: 0xff, b: 0x00, c: 0xffff, d: 0xffffffff, e: 0xffff_ffff_ffff_ffffn,
      f: hex('ff ff aa bb cc dd ee ff'),
    });
  });

  it('copies bytes(n) fields and aliases the tail', () => {
    const buf = hex('03 00 00 00 07 00 00 00 | 0a 0b 0c');
    const v = WithTail.decode(buf, 0);
    expect(v).toEqual({ len: 3, kind: 7, data: hex('0a 0b 0c') });
    buf[8] = 0x55;
    expect(v.data[0]).toBe(0x55);
    const m = Mixed.decode(new Uint8Array(24), 0);
    const src = new Uint8Array(24);
    const m2 = Mixed.decode(src, 0);
    src[16] = 1;
    expect(m2.f[0]).toBe(0);
    expect(m.f).toEqual(new Uint8Array(8));
  });

  it('writes the tail after the fixed part', () => {
    const v = { len: 2, kind: 1, data: hex('aa bb') };
    expect(WithTail.encodedLength(v)).toBe(10);
    expect(dump(WithTail.toBytes(v))).toBe(dump(hex('02 00 00 00 01 00 00 00 | aa bb')));
  });

  it('refuses short buffers and values that do not fit their field', () => {
    expect(() => Mixed.decode(new Uint8Array(23), 0)).toThrow(RangeError);
    expect(() => Mixed.decode(new Uint8Array(24), 1)).toThrow(RangeError);
    expect(() => Mixed.decode(new Uint8Array(32), 0.5)).toThrow(RangeError);
    expect(() => Mixed.decode(new Uint8Array(32), -1)).toThrow(RangeError);
    expect(() => Mixed.encode(ok(), new Uint8Array(23), 0)).toThrow(RangeError);
    expect(() => Mixed.toBytes({ ...ok(), a: 256 })).toThrow(RangeError);
    expect(() => Mixed.toBytes({ ...ok(), c: 0x10000 })).toThrow(RangeError);
    expect(() => Mixed.toBytes({ ...ok(), d: -1 })).toThrow(RangeError);
    expect(() => Mixed.toBytes({ ...ok(), d: 1.5 })).toThrow(RangeError);
    expect(() => Mixed.toBytes({ ...ok(), d: 2 ** 32 })).toThrow(RangeError);
    expect(() => Mixed.toBytes({ ...ok(), e: 1n << 64n })).toThrow(RangeError);
    expect(() => Mixed.toBytes({ ...ok(), e: -1n })).toThrow(RangeError);
    expect(() => Mixed.toBytes({ ...ok(), f: new Uint8Array(7) })).toThrow(RangeError);
  });

  it('asserts natural alignment, explicit trailing padding and unique names at declaration', () => {
    expect(() => struct('bad', [['a', 'u8'], ['b', 'u32']])).toThrow(/aligned/);
    expect(() => struct('bad', [['a', 'u16'], ['b', 'u64']])).toThrow(/aligned/);
    expect(() => struct('bad', [['a', 'u64'], ['b', 'u32']])).toThrow(/multiple of its alignment/);
    expect(() => struct('bad', [['a', 'u32'], ['a', 'u32']])).toThrow(/duplicate/);
    expect(() => struct('bad', [['a', 'u32']], { tail: 'a' })).toThrow(/clashes/);
    expect(() => struct('bad', [['__proto__', 'u32']])).toThrow(/identifier/);
    expect(() => struct('bad', [['a-b', 'u32']])).toThrow(/identifier/);
    expect(() => struct('ok', [['a', 'u32'], ['b', bytes(3)], ['c', 'u8']])).not.toThrow();
  });

  it('decode(encode(v)) equals v for any in-range value', () => {
    const arb = fc.record({
      a: fc.integer({ min: 0, max: 0xff }),
      b: fc.integer({ min: 0, max: 0xff }),
      c: fc.integer({ min: 0, max: 0xffff }),
      d: fc.integer({ min: 0, max: 0xffff_ffff }),
      e: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      f: fc.uint8Array({ minLength: 8, maxLength: 8 }),
    });
    fc.assert(fc.property(arb, fc.nat(16), (v, at) => {
      const buf = new Uint8Array(at + Mixed.size);
      Mixed.encode(v, buf, at);
      expect(Mixed.decode(buf, at)).toEqual(v);
    }));
  });
});

function ok() {
  return { a: 0, b: 0, c: 0, d: 0, e: 0n, f: new Uint8Array(8) };
}
