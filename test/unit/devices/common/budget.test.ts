/**
 * Instance budgets: docs/devices/mbochs.md and docs/devices/mdpy.md "Instances"; invariant 30.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InstanceBudget, type BudgetReservation } from '../../../../devices/common/budget.ts';
import { MBOCHS_TYPE_LIST, createMbochsBudget } from '../../../../devices/mbochs/types.ts';
import { FC_SEED, fcParams } from '../fc-seed.ts';

describe(`mbochs memory budget (seed ${FC_SEED})`, () => {
  it('defaults to 256 MB: 64 small, 16 medium or 4 large instances', () => {
    const b = createMbochsBudget();
    expect(b.total).toBe(256);
    expect(MBOCHS_TYPE_LIST.map((t) => b.available(t.mbytes))).toEqual([64, 16, 4]);
  });

  it('is shared by every type; creation beyond it fails ENOSPC without partial reservation', () => {
    const b = createMbochsBudget();
    const large = [0, 1, 2].map(() => b.reserve(64));
    const med = [0, 1, 2].map(() => b.reserve(16)); // 240 used
    expect(b.available(16)).toBe(1);
    expect(b.available(64)).toBe(0);
    let err: unknown;
    try {
      b.reserve(64);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'ENOSPC', errno: 28, requested: 64, remaining: 16 });
    expect(b.remaining).toBe(16);
    b.reserve(4);
    expect(b.available(4)).toBe(3);
    for (const r of [...large, ...med]) r.release();
    expect(b.remaining).toBe(256 - 4);
  });

  it('random create/remove storms keep Σ live ≤ budget, available = ⌊remaining/type⌋ ≥ 0, refusals change nothing (invariant 30)', () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant('create' as const), t: fc.integer({ min: 0, max: 2 }) }),
      fc.record({ k: fc.constant('remove' as const), i: fc.nat() }),
      fc.record({ k: fc.constant('double-remove' as const), i: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), fc.array(op, { maxLength: 100 }), (total, ops) => {
        const b = createMbochsBudget(total);
        const live: BudgetReservation[] = [];
        const removed: BudgetReservation[] = [];
        for (const o of ops) {
          if (o.k === 'create') {
            const mb = MBOCHS_TYPE_LIST[o.t]!.mbytes;
            const before = b.remaining;
            if (before >= mb) {
              live.push(b.reserve(mb));
              expect(b.remaining).toBe(before - mb);
            } else {
              expect(() => b.reserve(mb)).toThrow(expect.objectContaining({ code: 'ENOSPC' }));
              expect(b.remaining).toBe(before);
            }
          } else if (o.k === 'remove' && live.length > 0) {
            const [r] = live.splice(o.i % live.length, 1);
            r!.release();
            removed.push(r!);
          } else if (o.k === 'double-remove' && removed.length > 0) {
            removed[o.i % removed.length]!.release(); // idempotent
          }
          const used = live.reduce((s, r) => s + r.units, 0);
          expect(used).toBeLessThanOrEqual(total);
          expect(b.remaining).toBe(total - used);
          for (const t of MBOCHS_TYPE_LIST) {
            expect(b.available(t.mbytes)).toBe(Math.floor((total - used) / t.mbytes));
            expect(b.available(t.mbytes)).toBeGreaterThanOrEqual(0);
          }
        }
      }),
      fcParams(300),
    );
  });
});

describe('mdpy instance limit as a budget', () => {
  it('at most 4 instances across all types, the fifth fails EUSERS', () => {
    const b = new InstanceBudget({ total: 4, errno: 'EUSERS', name: 'mdpy instances', unit: 'instances' });
    const rs = [0, 1, 2, 3].map(() => b.reserve(1));
    expect(b.available(1)).toBe(0);
    expect(() => b.reserve(1)).toThrow(expect.objectContaining({ code: 'EUSERS', errno: 87 }));
    b.release(rs[0]!);
    b.release(rs[0]!);
    expect(b.available(1)).toBe(1);
  });

  it('bad totals and unit counts are configuration errors', () => {
    expect(() => new InstanceBudget({ total: -1 })).toThrow(expect.objectContaining({ code: 'ECONFIG' }));
    const b = new InstanceBudget({ total: 4 });
    for (const n of [0, -1, 1.5, Number.NaN]) {
      expect(() => b.reserve(n)).toThrow(expect.objectContaining({ code: 'ECONFIG' }));
      expect(() => b.available(n)).toThrow(expect.objectContaining({ code: 'ECONFIG' }));
    }
    expect(b.remaining).toBe(4);
  });
});
