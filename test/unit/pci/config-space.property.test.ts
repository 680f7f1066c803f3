/**
 * Property-based tests of ConfigSpace over realistic config spaces (mdpy,
 * mbochs, kitchen-sink presets and random valid specs) and random access
 * sequences, shared with the `config` fuzz target (fuzz/arb/config.ts).
 * Seed: fixed, printed in the describe title, overridable with FUZZ_SEED.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decode, encode } from '@msgpack/msgpack';
import { isDeepStrictEqual } from 'node:util';
import { AccessError } from '../../../src/util/errors.ts';
import { walkCapabilities, PCI_CAP_ID_PM, type ConfigSpace } from '../../../src/pci/index.ts';
import {
  applyConfigOp,
  arbConfigCase,
  arbConfigOp,
  arbConfigSpec,
  buildConfigSpace,
  type ConfigOp,
  type ConfigSpec,
} from '../../../fuzz/arb/config.ts';
import { testSeed } from '../../../fuzz/arb/seed.ts';
import { checkConfigCase } from '../../../fuzz/targets/config.ts';
import { plainEqual, roundTripsThroughMsgpack } from '../../../fuzz/campaign.ts';

const SEED = testSeed();
const RUNS = 300;
const params = { seed: SEED, numRuns: RUNS };
const ops = fc.array(arbConfigOp, { maxLength: 40, size: 'max' });

/** Bytes a guest write op put on the bus, or undefined when the op is not an accepted write. */
function written(o: ConfigOp, result: unknown): { offset: number; data: Uint8Array } | undefined {
  if (result instanceof AccessError) return undefined;
  if (o.op === 'writeBytes') return { offset: o.offset, data: o.data };
  if (o.op !== 'write') return undefined;
  const data = new Uint8Array(o.size);
  let v = o.value < 0 ? o.value + 2 ** (8 * o.size) : o.value;
  for (let i = 0; i < o.size; i++) { data[i] = v % 256; v = Math.floor(v / 256); }
  return { offset: o.offset, data };
}

/** PowerState bits of PM capabilities: the one place a hook may refuse an RW write. */
function pmStateMask(cs: ConfigSpace): Uint8Array {
  const m = new Uint8Array(cs.size);
  for (const c of cs.capabilities) if (c.id === PCI_CAP_ID_PM) m[c.offset + 4] = 0x03;
  return m;
}

/** Identity bytes that must equal their power-on values forever (PCI 3.0 §6.2.1, §6.7). */
function identityBytes(cs: ConfigSpace): number[] {
  const fixed = [0x00, 0x01, 0x02, 0x03, 0x08, 0x09, 0x0a, 0x0b, 0x0e, 0x2c, 0x2d, 0x2e, 0x2f, 0x34, 0x3d];
  for (const c of cs.capabilities) fixed.push(c.offset, c.offset + 1);
  return fixed;
}

describe(`config space properties (seed ${SEED}; FUZZ_SEED overrides)`, () => {
  it('read-only bits never change under any write sequence; identity registers and capability headers keep their power-on bytes', () => {
    fc.assert(fc.property(arbConfigSpec, ops, (spec, seq) => {
      const cs = buildConfigSpace(spec);
      const initial = cs.powerOnImage.slice();
      const fixed = identityBytes(cs);
      const saved = {};
      for (const o of seq) {
        applyConfigOp(cs, o, saved);
        for (let i = 0; i < cs.size; i++) {
          const ro = ~((cs.wmask[i] ?? 0) | (cs.w1cmask[i] ?? 0)) & 0xff;
          if ((((cs.image[i] ?? 0) ^ (initial[i] ?? 0)) & ro) !== 0) return false;
        }
        if (fixed.some((i) => cs.image[i] !== initial[i])) return false;
      }
      return true;
    }), params);
  });

  it('RW bits read back what was written under the mask (PM PowerState may refuse an unsupported D-state)', () => {
    fc.assert(fc.property(arbConfigSpec, ops, (spec, seq) => {
      const cs = buildConfigSpace(spec);
      const pm = pmStateMask(cs);
      for (const o of seq) {
        const w = written(o, applyConfigOp(cs, o));
        if (w === undefined) continue;
        for (let i = 0; i < w.data.length; i++) {
          const a = w.offset + i;
          const wm = (cs.wmask[a] ?? 0) & ~(pm[a] ?? 0);
          if ((((cs.image[a] ?? 0) ^ (w.data[i] ?? 0)) & wm) !== 0) return false;
        }
      }
      return true;
    }), params);
  });

  it('RW1C bits clear only where 1s were written, and are never set by a write', () => {
    fc.assert(fc.property(arbConfigSpec, ops, (spec, seq) => {
      const cs = buildConfigSpace(spec);
      for (const o of seq) {
        const before = cs.image.slice();
        const w = written(o, applyConfigOp(cs, o));
        if (w === undefined) continue;
        for (let a = 0; a < cs.size; a++) {
          const w1c = cs.w1cmask[a] ?? 0;
          const inRange = a >= w.offset && a < w.offset + w.data.length;
          const d = inRange ? (w.data[a - w.offset] ?? 0) : 0;
          const expected = (before[a] ?? 0) & ~d & w1c;
          if (((cs.image[a] ?? 0) & w1c) !== expected) return false;
        }
      }
      return true;
    }), params);
  });

  it('BAR sizing always returns ~(size-1) with the type bits intact, and a later address write keeps only address bits', () => {
    const withBars = arbConfigSpec.filter((s) => s.bars.length > 0);
    fc.assert(fc.property(withBars, ops, fc.nat(), fc.integer({ min: 0, max: 0xffffffff }), (spec, seq, pick, addr) => {
      const cs = buildConfigSpace(spec);
      for (const o of seq) applyConfigOp(cs, o);
      const b = spec.bars[pick % spec.bars.length]!;
      const off = 0x10 + 4 * b.index;
      const type = b.kind === 'io' ? 0x1 : (b.kind === 'mem64' ? 0x4 : 0) | (b.prefetchable === true ? 0x8 : 0);
      const size = BigInt(b.size);
      const inv = ~(size - 1n) & 0xffff_ffff_ffff_ffffn;
      const lowAddr = Number(inv & 0xffff_ffffn & (b.kind === 'io' ? 0xffff_fffcn : 0xffff_fff0n));
      cs.write(off, 4, 0xffffffff);
      if (cs.read(off, 4) !== (lowAddr | type) >>> 0) return false;
      if (b.kind === 'mem64') {
        cs.write(off + 4, 4, 0xffffffff);
        if (cs.read(off + 4, 4) !== Number(inv >> 32n)) return false;
      }
      cs.write(off, 4, addr);
      return cs.read(off, 4) === ((addr & lowAddr) | type) >>> 0;
    }), params);
  });

  it('the capability chain stays valid, acyclic and inside config space after any write sequence', () => {
    fc.assert(fc.property(arbConfigSpec, ops, (spec, seq) => {
      const cs = buildConfigSpace(spec);
      const expected = cs.capabilities.map((c, i) => ({ id: c.id, offset: c.offset, next: cs.capabilities[i + 1]?.offset ?? 0 }));
      const saved = {};
      for (const o of seq) {
        applyConfigOp(cs, o, saved);
        const w = cs.walkCapabilities();
        if (!w.ok || w.capList !== expected.length > 0 || !isDeepStrictEqual(w.caps, expected)) return false;
        if (w.caps.some((c) => c.offset < 0x40 || c.offset % 4 !== 0 || c.offset + 2 > cs.size)) return false;
      }
      return true;
    }), params);
  });

  it('straddling and unaligned reads equal the composition of their byte reads', () => {
    fc.assert(fc.property(arbConfigSpec, ops, fc.integer({ min: 0, max: 0xff }), fc.constantFrom<1 | 2 | 4>(1, 2, 4), (spec, seq, offset, size) => {
      const cs = buildConfigSpace(spec);
      for (const o of seq) applyConfigOp(cs, o);
      if (offset + size > cs.size) return true;
      let composed = 0;
      for (let i = size - 1; i >= 0; i--) composed = composed * 256 + cs.read(offset + i, 1);
      const bytes = cs.readBytes(offset, new Uint8Array(size));
      return cs.read(offset, size) === composed && bytes.every((b, i) => b === cs.read(offset + i, 1));
    }), params);
  });

  it('straddling and unaligned writes equal the same bytes written one at a time', () => {
    fc.assert(fc.property(arbConfigSpec, ops, fc.integer({ min: 0, max: 0xff }), fc.constantFrom<2 | 4>(2, 4), fc.integer({ min: 0, max: 0xffffffff }), (spec, seq, offset, size, value) => {
      const wide = buildConfigSpace(spec);
      const narrow = buildConfigSpace(spec);
      for (const o of seq) { applyConfigOp(wide, o); applyConfigOp(narrow, o); }
      if (offset + size > wide.size) return true;
      const v = value % 2 ** (8 * size);
      wide.write(offset, size, v);
      for (let i = 0; i < size; i++) narrow.write(offset + i, 1, Math.floor(v / 256 ** i) % 256);
      const bulk = buildConfigSpace(spec);
      for (const o of seq) applyConfigOp(bulk, o);
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i++) bytes[i] = Math.floor(v / 256 ** i) % 256;
      bulk.writeBytes(offset, bytes);
      return isDeepStrictEqual(wide.image.slice(), narrow.image.slice()) && isDeepStrictEqual(wide.image.slice(), bulk.image.slice());
    }), params);
  });

  it('reset restores the initial image after any sequence', () => {
    fc.assert(fc.property(arbConfigSpec, ops, (spec, seq) => {
      const cs = buildConfigSpace(spec);
      const initial = cs.image.slice();
      for (const o of seq) applyConfigOp(cs, o);
      cs.reset();
      return isDeepStrictEqual(cs.image.slice(), initial) && isDeepStrictEqual(cs.powerOnImage.slice(), initial);
    }), params);
  });

  it('snapshot then restore brings back the exact image, also after a msgpack round trip', () => {
    fc.assert(fc.property(arbConfigSpec, ops, ops, (spec, before, after) => {
      const cs = buildConfigSpace(spec);
      for (const o of before) applyConfigOp(cs, o);
      const snap = cs.snapshot();
      const want = cs.image.slice();
      for (const o of after) applyConfigOp(cs, o);
      cs.restore(decode(encode(snap)) as typeof snap);
      return isDeepStrictEqual(cs.image.slice(), want);
    }), params);
  });

  it('no input makes any access call throw anything but AccessError, and a refused call changes nothing', () => {
    const anything = fc.oneof(
      fc.anything({ withTypedArray: true, withBigInt: true, withBoxedValues: true, withNullPrototype: true, withMap: true, withSet: true, withSparseArray: true }),
      fc.integer({ min: -8, max: 0x108 }),
      fc.constantFrom(1, 2, 4, 255, 256, 0xffffffff, -1, 0.5, Number.NaN),
      fc.uint8Array({ maxLength: 260 }),
    );
    const method = fc.constantFrom('read', 'write', 'readBytes', 'writeBytes', 'deviceSetUint', 'deviceSetBytes');
    fc.assert(fc.property(arbConfigSpec, fc.array(fc.tuple(method, anything, anything, anything), { maxLength: 12 }), (spec, calls) => {
      const cs = buildConfigSpace(spec);
      for (const [m, a, b, c] of calls) {
        const before = cs.image.slice();
        try {
          (cs as unknown as Record<string, (...args: unknown[]) => unknown>)[m]!(a, b, c);
        } catch (e) {
          if (!(e instanceof AccessError) || e.errno !== 14) throw e;
          if (!isDeepStrictEqual(cs.image.slice(), before)) return false;
        }
      }
      return true;
    }), params);
  });

  it('walkCapabilities terminates and never throws for any image', () => {
    fc.assert(fc.property(fc.constantFrom(255, 256), fc.uint8Array({ minLength: 256, maxLength: 256 }), fc.boolean(), (size, raw, capList) => {
      const img = raw.slice(0, size);
      if (capList) img[0x06] = (img[0x06] ?? 0) | 0x10;
      const w = walkCapabilities(img, size);
      return w.caps.length <= (size - 0x40) / 4 && (w.ok || ['cycle', 'out-of-range', 'misaligned'].includes(w.error));
    }), { seed: SEED, numRuns: 2000 });
  });

  it('every invariant of the spec-derived oracle (fuzz target `config`) holds after every access', () => {
    fc.assert(fc.property(arbConfigCase(), (c) => { checkConfigCase(c); }), params);
  });

  it('generated cases are plain data that round-trips through msgpack (so failures can be saved and replayed)', () => {
    fc.assert(fc.property(arbConfigCase(), (c) => roundTripsThroughMsgpack(c)), { seed: SEED, numRuns: 200 });
    // and the comparison is not vacuous
    expect(plainEqual({ a: Uint8Array.of(1) }, { a: Uint8Array.of(2) })).toBe(false);
    expect(plainEqual({ a: [1, Number.NaN] }, { a: [1, Number.NaN], b: undefined })).toBe(false);
  });
});

describe('config space generators', () => {
  it('cover every preset, random specs, and every op kind (guards against an arbitrary that generates nothing useful)', () => {
    const specs = fc.sample(arbConfigSpec, { seed: SEED, numRuns: 400 }) as ConfigSpec[];
    const names = new Set(specs.map((s) => s.name));
    expect([...names].sort()).toEqual(['kitchen-sink', 'mbochs', 'mdpy', 'mdpy-256', 'mdpy-frozen', 'random']);
    const kinds = new Set(fc.sample(arbConfigOp, { seed: SEED, numRuns: 400 }).map((o) => o.op));
    expect([...kinds].sort()).toEqual(['read', 'readBytes', 'reset', 'restore', 'snapshot', 'write', 'writeBytes']);
  });
});
