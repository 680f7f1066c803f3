/**
 * DmaTable (binary search, neighbour-only overlap checks) against the
 * obvious model: an unsorted array scanned in full. Addresses are drawn
 * from a small range so that collisions, exact and near-miss unmaps are
 * common, with a few windows near the top of the u64 space.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DmaTable, type DmaWindow } from '../../../src/vfio-user/dma-table.ts';

const SEED = Number(process.env['FUZZ_SEED'] ?? 20261122);
const TOP = 1n << 64n;

interface Win extends DmaWindow { readonly tag: number }

const windowArb: fc.Arbitrary<{ address: bigint; size: bigint }> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ address: fc.bigInt({ min: 0n, max: 40n }), size: fc.bigInt({ min: 1n, max: 8n }) }) },
  { weight: 1, arbitrary: fc.bigInt({ min: 1n, max: 8n }).chain((size) => fc.record({ address: fc.bigInt({ min: TOP - 24n, max: TOP - size }), size: fc.constant(size) })) },
);

type Op = { readonly op: 'map' | 'unmap' | 'probe'; readonly address: bigint; readonly size: bigint } | { readonly op: 'clear' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: windowArb.map((w) => ({ op: 'map' as const, ...w })) },
  { weight: 4, arbitrary: windowArb.map((w) => ({ op: 'unmap' as const, ...w })) },
  { weight: 2, arbitrary: windowArb.map((w) => ({ op: 'probe' as const, ...w })) },
  { weight: 1, arbitrary: fc.constant({ op: 'clear' as const }) },
);

const overlaps = (a: DmaWindow, address: bigint, size: bigint): boolean => address < a.address + a.size && a.address < address + size;
const byAddress = (a: DmaWindow, b: DmaWindow): number => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0);

describe('DmaTable', () => {
  it(`agrees with a full-scan array model on every map/unmap/probe/clear result and on its contents; windows stay sorted and never overlap (seed ${SEED})`, () => {
    fc.assert(fc.property(fc.array(opArb, { maxLength: 120 }), (ops) => {
      const table = new DmaTable<Win>();
      let model: Win[] = [];
      ops.forEach((o, tag) => {
        switch (o.op) {
          case 'map': {
            const w = { address: o.address, size: o.size, tag };
            const free = !model.some((m) => overlaps(m, o.address, o.size));
            expect(table.insert(w)).toBe(free);
            if (free) model.push(w);
            break;
          }
          case 'unmap': {
            const i = model.findIndex((m) => m.address === o.address && m.size === o.size);
            const want = i < 0 ? undefined : model.splice(i, 1)[0];
            expect(table.remove(o.address, o.size)).toBe(want);
            break;
          }
          case 'probe': {
            const hit = table.overlapping(o.address, o.size);
            if (hit === undefined) expect(model.some((m) => overlaps(m, o.address, o.size))).toBe(false);
            else expect(model.includes(hit) && overlaps(hit, o.address, o.size)).toBe(true);
            break;
          }
          case 'clear':
            expect(table.clear()).toEqual(model.slice().sort(byAddress));
            model = [];
            break;
        }
        const entries = table.entries();
        expect(table.count).toBe(model.length);
        expect(entries).toEqual(model.slice().sort(byAddress));
        for (let i = 1; i < entries.length; i++) expect(entries[i - 1]!.address + entries[i - 1]!.size <= entries[i]!.address).toBe(true);
      });
    }), { seed: SEED, numRuns: 300 });
  });

  it('a window ending exactly at 2^64 and one starting where another ends are both legal neighbours', () => {
    const t = new DmaTable<DmaWindow>();
    expect(t.insert({ address: TOP - 0x1000n, size: 0x1000n })).toBe(true);
    expect(t.insert({ address: TOP - 0x2000n, size: 0x1000n })).toBe(true);
    expect(t.insert({ address: TOP - 0x1800n, size: 0x1000n })).toBe(false);
    expect(t.overlapping(TOP - 1n, 1n)?.address).toBe(TOP - 0x1000n);
    expect(t.remove(TOP - 0x2000n, 0x800n)).toBeUndefined();
    expect(t.count).toBe(2);
  });
});
