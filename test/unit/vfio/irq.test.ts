import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { IrqSet } from '../../../src/vfio/device.ts';
import { IrqSetError, decodeIrqSet, encodeIrqSet, validateIrqSet, type IrqSetRule } from '../../../src/vfio/irq.ts';
import { VfioError } from '../../../src/util/errors.ts';
import { dump, hex } from './hex.ts';

// Flag values written out from include/uapi/linux/vfio.h (VFIO_IRQ_SET_*, VFIO_IRQ_INFO_*).
const NONE = 0x01;
const BOOL = 0x02;
const EVENTFD = 0x04;
const MASK = 0x08;
const UNMASK = 0x10;
const TRIGGER = 0x20;

/** A device with vectors: INTx 1, MSI 4, MSI-X 8, ERR 1, REQ 1. */
const COUNTS = [1, 4, 8, 1, 1];
const counts = (i: number) => COUNTS[i] ?? 0;
/** mdpy/mbochs: every index has 0 vectors. */
const zero = () => 0;

function set(flags: number, index: number, start: number, count: number, extra: Partial<IrqSet> = {}): IrqSet {
  return { flags, index, start, count, ...extra };
}

function rejects(s: IrqSet, rule: IrqSetRule, irqCount: (i: number) => number = counts, opts = {}): void {
  let err: unknown;
  try {
    validateIrqSet(s, irqCount, opts);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(IrqSetError);
  expect((err as IrqSetError).rule).toBe(rule);
  expect((err as IrqSetError).errno).toBe(22);
  expect((err as IrqSetError).code).toBe('EINVAL');
}

describe('validateIrqSet: accepted requests', () => {
  it('eventfds for all of MSI, kept as given', () => {
    const v = validateIrqSet(set(EVENTFD | TRIGGER, 1, 0, 4, { eventfds: [10, 11, 12, 13] }), counts);
    expect(v).toMatchObject({ dataType: EVENTFD, action: TRIGGER, disable: false, eventfds: [10, 11, 12, 13] });
    expect(v.bools).toBeUndefined();
  });

  it('DATA_EVENTFD without fds de-assigns: eventfds normalised to -1 × count', () => {
    const v = validateIrqSet(set(EVENTFD | TRIGGER, 2, 2, 3, { eventfds: [] }), counts);
    expect(v.eventfds).toEqual([-1, -1, -1]);
    expect(validateIrqSet(set(EVENTFD | TRIGGER, 2, 0, 2), counts).eventfds).toEqual([-1, -1]);
  });

  it('kernel-style -1 entries inside an fd list', () => {
    expect(validateIrqSet(set(EVENTFD | TRIGGER, 1, 1, 2, { eventfds: [5, -1] }), counts).eventfds).toEqual([5, -1]);
  });

  it('DATA_BOOL with one byte per sub-index; DATA_NONE mask/unmask', () => {
    const v = validateIrqSet(set(BOOL | UNMASK, 0, 0, 1, { bools: hex('01') }), counts);
    expect(v).toMatchObject({ dataType: BOOL, action: UNMASK });
    expect(v.bools).toEqual(hex('01'));
    expect(validateIrqSet(set(NONE | MASK, 0, 0, 1), counts).action).toBe(MASK);
    expect(validateIrqSet(set(BOOL | TRIGGER, 1, 1, 3, { bools: hex('01 00 01') }), counts).count).toBe(3);
  });

  it('count 0, start 0, DATA_NONE|TRIGGER disables the index', () => {
    expect(validateIrqSet(set(NONE | TRIGGER, 1, 0, 0), counts).disable).toBe(true);
    expect(validateIrqSet(set(NONE | TRIGGER, 2, 0, 0), counts).disable).toBe(true);
  });

  it('the disable of an index with 0 vectors only with allowDisableEmptyIndex', () => {
    rejects(set(NONE | TRIGGER, 0, 0, 0), 'start', zero);
    expect(validateIrqSet(set(NONE | TRIGGER, 0, 0, 0), zero, { allowDisableEmptyIndex: true }).disable).toBe(true);
    // still nothing else on an empty index
    rejects(set(NONE | TRIGGER, 0, 0, 1), 'start', zero, { allowDisableEmptyIndex: true });
  });

  it('ERR and REQ with TRIGGER', () => {
    expect(validateIrqSet(set(EVENTFD | TRIGGER, 3, 0, 1, { eventfds: [9] }), counts).index).toBe(3);
    expect(validateIrqSet(set(NONE | TRIGGER, 4, 0, 1), counts).index).toBe(4);
  });

  it('start + count exactly at the end of the index', () => {
    expect(validateIrqSet(set(NONE | TRIGGER, 2, 7, 1), counts).start).toBe(7);
    expect(validateIrqSet(set(NONE | TRIGGER, 2, 0, 8), counts).count).toBe(8);
  });
});

describe('validateIrqSet: each rule rejects with EINVAL', () => {
  it('unknown flag bits', () => {
    rejects(set(NONE | TRIGGER | 0x40, 0, 0, 1), 'flags');
    rejects(set(NONE | TRIGGER | 0x80000000, 0, 0, 1), 'flags');
  });
  it('exactly one DATA bit', () => {
    rejects(set(TRIGGER, 0, 0, 1), 'data');
    rejects(set(NONE | BOOL | TRIGGER, 0, 0, 1), 'data');
    rejects(set(NONE | BOOL | EVENTFD | TRIGGER, 0, 0, 1), 'data');
  });
  it('exactly one ACTION bit', () => {
    rejects(set(NONE, 0, 0, 1), 'action');
    rejects(set(NONE | MASK | UNMASK, 0, 0, 1), 'action');
    rejects(set(NONE | MASK | UNMASK | TRIGGER, 0, 0, 1), 'action');
  });
  it('index < num_irqs', () => {
    rejects(set(NONE | TRIGGER, 5, 0, 1), 'index');
    rejects(set(NONE | TRIGGER, 0xffffffff, 0, 1), 'index');
    rejects(set(NONE | TRIGGER, 3, 0, 1), 'index', counts, { numIrqs: 3 });
  });
  it('start < count of the index', () => {
    rejects(set(NONE | TRIGGER, 0, 1, 1), 'start');
    rejects(set(NONE | TRIGGER, 1, 4, 0), 'start');
    rejects(set(EVENTFD | TRIGGER, 1, 0, 1, { eventfds: [3] }), 'start', zero);
  });
  it('start + count <= count of the index', () => {
    rejects(set(NONE | TRIGGER, 1, 2, 3), 'range');
    rejects(set(NONE | TRIGGER, 2, 0, 9), 'range');
    rejects(set(NONE | TRIGGER, 1, 0, 0xffffffff), 'range');
    // u32 arithmetic would wrap these to 0 and accept them (libvfio-user adds in u32)
    rejects(set(NONE | TRIGGER, 0, 0xfffffffe, 2), 'range', () => 0xffffffff);
    rejects(set(NONE | TRIGGER, 0, 1, 0xffffffff), 'range', () => 0xffffffff);
  });
  it('ERR/REQ only TRIGGER', () => {
    rejects(set(NONE | MASK, 3, 0, 1), 'errReq');
    rejects(set(BOOL | UNMASK, 4, 0, 1, { bools: hex('01') }), 'errReq');
  });
  it('count 0 only as the disable', () => {
    rejects(set(BOOL | TRIGGER, 1, 0, 0), 'countZero');
    rejects(set(EVENTFD | TRIGGER, 1, 0, 0), 'countZero');
    rejects(set(NONE | MASK, 1, 0, 0), 'countZero');
    rejects(set(NONE | TRIGGER, 1, 1, 0), 'countZero');
  });
  it('data payload only with DATA_BOOL', () => {
    rejects(set(NONE | TRIGGER, 1, 0, 1, { bools: hex('01') }), 'payload');
    rejects(set(EVENTFD | TRIGGER, 1, 0, 1, { bools: hex('01'), eventfds: [4] }), 'payload');
  });
  it('DATA_BOOL payload length == count', () => {
    rejects(set(BOOL | TRIGGER, 1, 0, 2, { bools: hex('01') }), 'bools');
    rejects(set(BOOL | TRIGGER, 1, 0, 2, { bools: hex('01 01 01') }), 'bools');
    rejects(set(BOOL | TRIGGER, 1, 0, 2), 'bools');
  });
  it('fds only with DATA_EVENTFD', () => {
    rejects(set(NONE | TRIGGER, 1, 0, 1, { eventfds: [5] }), 'fdsOnly');
    rejects(set(BOOL | TRIGGER, 1, 0, 1, { bools: hex('01'), eventfds: [5] }), 'fdsOnly');
  });
  it('DATA_EVENTFD fd count == count or 0', () => {
    rejects(set(EVENTFD | TRIGGER, 1, 0, 4, { eventfds: [1, 2] }), 'fdCount');
    rejects(set(EVENTFD | TRIGGER, 1, 0, 1, { eventfds: [1, 2] }), 'fdCount');
  });
  it('eventfds are fd numbers or -1', () => {
    rejects(set(EVENTFD | TRIGGER, 1, 0, 1, { eventfds: [-2] }), 'fdValue');
    rejects(set(EVENTFD | TRIGGER, 1, 0, 1, { eventfds: [1.5] }), 'fdValue');
  });
  it('every SET_IRQS is EINVAL on mdpy/mbochs (all indexes 0 vectors)', () => {
    for (const flags of [NONE | TRIGGER, BOOL | MASK, EVENTFD | UNMASK]) {
      for (let index = 0; index < 5; index++) {
        expect(() => validateIrqSet(set(flags, index, 0, 0), zero)).toThrow(VfioError);
        expect(() => validateIrqSet(set(flags, index, 0, 1), zero)).toThrow(VfioError);
      }
    }
  });
});

describe('validateIrqSet properties', () => {
  const u32 = fc.nat({ max: 0xffffffff });
  it('an accepted request never runs past the index: start + count <= vectors, computed exactly', () => {
    fc.assert(fc.property(u32, u32, u32, (start, count, vectors) => {
      let accepted = true;
      try {
        validateIrqSet(set(NONE | TRIGGER, 0, start, count), () => vectors);
      } catch (e) {
        expect(e).toBeInstanceOf(IrqSetError);
        accepted = false;
      }
      const fits = BigInt(start) + BigInt(count) <= BigInt(vectors) && start < vectors;
      const disable = count === 0 && start === 0 && vectors > 0;
      expect(accepted).toBe(count === 0 ? disable : fits);
    }));
  });

  it('with small vector counts too (start, count near the edges)', () => {
    const near = fc.oneof(fc.nat(10), fc.integer({ min: 0xfffffff0, max: 0xffffffff }));
    fc.assert(fc.property(near, near, fc.nat(10), (start, count, vectors) => {
      let accepted = true;
      try {
        validateIrqSet(set(NONE | MASK, 0, start, count), () => vectors);
      } catch {
        accepted = false;
      }
      expect(accepted).toBe(count > 0 && start < vectors && start + count <= vectors);
    }));
  });
});

describe('decodeIrqSet / encodeIrqSet', () => {
  it('vfio-user DATA_EVENTFD: argsz 20, fds out of band', () => {
    const bytes = hex('14 00 00 00 24 00 00 00 | 01 00 00 00 00 00 00 00 | 02 00 00 00');
    expect(decodeIrqSet(bytes, [7, 8])).toEqual({ flags: 0x24, index: 1, start: 0, count: 2, eventfds: [7, 8] });
    // QEMU's de-assign of a run: count n, no fds
    expect(decodeIrqSet(bytes, [])).toEqual({ flags: 0x24, index: 1, start: 0, count: 2, eventfds: [] });
  });

  it('vfio-user DATA_BOOL: argsz 22, two bytes of data', () => {
    const bytes = hex('16 00 00 00 22 00 00 00 | 01 00 00 00 01 00 00 00 | 02 00 00 00 01 00');
    const d = decodeIrqSet(bytes);
    expect(d).toEqual({ flags: 0x22, index: 1, start: 1, count: 2, bools: hex('01 00') });
    expect(dump(encodeIrqSet(d))).toBe(dump(bytes));
    expect(validateIrqSet(d, counts).bools).toEqual(hex('01 00'));
  });

  it('vfio-user disable: 20 bytes, DATA_NONE|TRIGGER, count 0', () => {
    const bytes = hex('14 00 00 00 21 00 00 00 | 02 00 00 00 00 00 00 00 | 00 00 00 00');
    const d = decodeIrqSet(bytes);
    expect(d).toEqual({ flags: 0x21, index: 2, start: 0, count: 0 });
    expect(dump(encodeIrqSet(d))).toBe(dump(bytes));
  });

  it('vfio-user: argsz must equal the payload size; short payloads are EINVAL', () => {
    expect(() => decodeIrqSet(hex('18 00 00 00 21 00 00 00 | 02 00 00 00 00 00 00 00 | 00 00 00 00'))).toThrow(/argsz 24/);
    expect(() => decodeIrqSet(hex('14 00 00 00 21 00 00 00 | 02 00 00 00 00 00 00 00 | 00 00 00 00 00'))).toThrow(/argsz 20/);
    expect(() => decodeIrqSet(new Uint8Array(19))).toThrow(VfioError);
  });

  it('vfio-user: stray data or fds are kept so validateIrqSet can refuse them', () => {
    const d = decodeIrqSet(hex('15 00 00 00 21 00 00 00 | 02 00 00 00 00 00 00 00 | 01 00 00 00 01'), [4]);
    expect(d.bools).toEqual(hex('01'));
    expect(d.eventfds).toEqual([4]);
    rejects(d, 'payload');
  });

  it('kernel style: s32 fds in data, -1 = de-assign', () => {
    const bytes = hex('1c 00 00 00 24 00 00 00 | 02 00 00 00 00 00 00 00 | 02 00 00 00 07 00 00 00 | ff ff ff ff');
    expect(decodeIrqSet(bytes, [], { style: 'kernel' })).toEqual({ flags: 0x24, index: 2, start: 0, count: 2, eventfds: [7, -1] });
    expect(() => decodeIrqSet(bytes.subarray(0, 24), [], { style: 'kernel' })).toThrow(/argsz 28/);
    expect(() => decodeIrqSet(hex('18 00 00 00 24 00 00 00 | 02 00 00 00 00 00 00 00 | 02 00 00 00 07 00 00 00'), [], { style: 'kernel' }))
      .toThrow(/4 data bytes for 2 fds/);
    expect(() => decodeIrqSet(bytes, [3], { style: 'kernel' })).toThrow(VfioError);
  });

  it('kernel style: DATA_BOOL takes count bytes even if argsz is larger', () => {
    const bytes = hex('18 00 00 00 22 00 00 00 | 01 00 00 00 00 00 00 00 | 02 00 00 00 01 01 00 00');
    expect(decodeIrqSet(bytes, [], { style: 'kernel' })).toEqual({ flags: 0x22, index: 1, start: 0, count: 2, bools: hex('01 01') });
    expect(() => decodeIrqSet(hex('15 00 00 00 22 00 00 00 | 01 00 00 00 00 00 00 00 | 02 00 00 00 01'), [], { style: 'kernel' }))
      .toThrow(/1 data bytes for 2 bools/);
  });
});
