/**
 * dmabuf table: docs/devices/mbochs.md "Plane query and dmabufs" and "Sample
 * bugs fixed by default" 4, 7, 8;
 * invariants 19, 20, 22–25.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DispiRegisters } from '../../../../devices/mbochs/dispi.ts';
import { DmabufTable } from '../../../../devices/mbochs/dmabuf.ts';
import { deriveMode, isMode, sameMode, type Mode } from '../../../../devices/mbochs/mode.ts';
import { HeapMemory } from '../../../../src/vfio/memory.ts';
import type { DmabufExport } from '../../../../src/vfio/device.ts';
import { FC_SEED, fcParams } from '../fc-seed.ts';

const MiB = 1 << 20;
const XRGB8888 = 0x34325258;

/** A valid mode record built from the spec formulas (stride = w·4 unless given, offset = x·4 + y·stride). */
function mode(w: number, h: number, x = 0, y = 0, virt = w): Mode {
  const stride = Math.max(virt, w) * 4;
  return { kind: 'mode', drmFormat: XRGB8888, bytepp: 4, width: w, height: h, stride, offset: x * 4 + y * stride, size: stride * h };
}

const errno = (code: string) => expect.objectContaining({ code });

describe(`dmabuf ids (seed ${FC_SEED})`, () => {
  it('identical mode records share an id; different ones never do; ids count up from 1 (invariants 19, 20)', () => {
    const pool = fc.constantFrom(mode(640, 480), mode(640, 480, 0, 1), mode(640, 480, 0, 480), mode(1024, 768), mode(1024, 768, 8, 0), mode(800, 600, 0, 0, 1024), mode(64, 64));
    fc.assert(
      fc.property(fc.array(pool, { minLength: 1, maxLength: 60 }), (seq) => {
        const t = new DmabufTable();
        const idOf = new Map<string, number>();
        let last = 0;
        for (const m of seq) {
          const { id, fresh } = t.lookupOrCreate(m);
          const k = JSON.stringify(m);
          if (idOf.has(k)) {
            expect(fresh).toBe(false);
            expect(id).toBe(idOf.get(k));
          } else {
            expect(fresh).toBe(true);
            expect(id).toBe(last + 1);
            last = id;
            expect([...idOf.values()]).not.toContain(id);
            idOf.set(k, id);
          }
          expect(sameMode(t.modeOf(id)!, m)).toBe(true);
        }
        for (const [k, id] of idOf) expect(t.modeOf(id)).toEqual(JSON.parse(k));
      }),
      fcParams(300),
    );
  });

  it('the record keeps its own copy of the mode (id → mode is immutable)', () => {
    const t = new DmabufTable();
    const m = { ...mode(640, 480) };
    const { id } = t.lookupOrCreate(m);
    (m as { width: number }).width = 1;
    expect(t.modeOf(id)).toEqual(mode(640, 480));
  });

  it('upstream profile: the first query of a new mode is ENOMEM, the record exists, the next query succeeds (mbochs_query_gfx_plane)', () => {
    const t = new DmabufTable();
    expect(() => t.lookupOrCreate(mode(1024, 768), { upstreamEnomem: true })).toThrow(errno('ENOMEM'));
    expect(t.size).toBe(1);
    expect(t.has(1)).toBe(true);
    expect(t.lookupOrCreate(mode(1024, 768), { upstreamEnomem: true })).toEqual({ id: 1, fresh: false });
    expect(() => t.lookupOrCreate(mode(1024, 768, 0, 1), { upstreamEnomem: true })).toThrow(errno('ENOMEM'));
    expect(t.lookupOrCreate(mode(1024, 768, 0, 1), { upstreamEnomem: true })).toEqual({ id: 2, fresh: false });
  });

  it('ids keep increasing across closeDevice and are never reused', () => {
    const t = new DmabufTable();
    expect(t.lookupOrCreate(mode(640, 480)).id).toBe(1);
    expect(t.lookupOrCreate(mode(800, 600)).id).toBe(2);
    t.closeDevice();
    expect(t.has(1)).toBe(false);
    expect(t.lookupOrCreate(mode(640, 480))).toEqual({ id: 3, fresh: true });
  });

  it('id exhaustion refuses new records with ENOMEM and changes nothing', () => {
    const t = new DmabufTable({ maxId: 2 });
    t.lookupOrCreate(mode(640, 480));
    t.lookupOrCreate(mode(800, 600));
    expect(() => t.lookupOrCreate(mode(1024, 768))).toThrow(errno('ENOMEM'));
    expect(t.size).toBe(2);
    expect(t.lookupOrCreate(mode(640, 480))).toEqual({ id: 1, fresh: false });
  });
});

describe(`dmabuf export (seed ${FC_SEED})`, () => {
  it('succeeds iff the id is known and the offset page-aligned; unknown → ENOENT, unaligned → EINVAL (invariant 22)', () => {
    const vram = new HeapMemory(16 * MiB);
    const t = new DmabufTable();
    const aligned = t.lookupOrCreate(mode(1024, 768, 0, 1)).id; // offset 4096
    const unaligned = t.lookupOrCreate(mode(1024, 768, 1, 0)).id; // offset 4
    const rowStep = t.lookupOrCreate(mode(640, 480, 0, 1)).id; // offset 2560
    for (const bad of [0, 99, -1, 2 ** 32]) expect(() => t.export(bad, vram)).toThrow(errno('ENOENT'));
    expect(() => t.export(unaligned, vram)).toThrow(errno('EINVAL'));
    expect(() => t.export(rowStep, vram)).toThrow(errno('EINVAL'));
    expect(t.liveHandles).toBe(0);
    const h = t.export(aligned, vram);
    expect(h).toMatchObject({ dmabufId: aligned, offset: 4096, size: 4096 * 768, width: 1024, height: 768, stride: 4096, drmFormat: XRGB8888, drmFormatMod: 0n });
    expect(h.memory).toBe(vram);
    h.release();
  });

  it('an export references the live VRAM pages: later VRAM writes show through (invariant 23)', () => {
    const vram = new HeapMemory(4 * MiB);
    const t = new DmabufTable();
    const h = t.export(t.lookupOrCreate(mode(640, 480, 0, 32)).id, vram);
    vram.bytes[h.offset] = 0x7f;
    expect(h.memory.bytes.subarray(h.offset, h.offset + h.size)[0]).toBe(0x7f);
    h.release();
  });

  it('pins ⌈size/4096⌉ pages once per exported record, releases them with the last handle, release is idempotent', () => {
    const vram = new HeapMemory(4 * MiB);
    const t = new DmabufTable();
    const id = t.lookupOrCreate(mode(100, 100)).id; // 40000 bytes → 10 pages
    const a = t.export(id, vram);
    const b = t.export(id, vram);
    expect([t.liveHandles, t.pinnedPages, t.handlesOf(id)]).toEqual([2, 10, 2]);
    a.release();
    a.release();
    expect([t.liveHandles, t.pinnedPages]).toEqual([1, 10]);
    b.release();
    expect([t.liveHandles, t.pinnedPages, t.liveRecords]).toEqual([0, 0, 1]);
    // re-export after the last release pins again (no stale re-export)
    const c = t.export(id, vram);
    expect(t.pinnedPages).toBe(10);
    c.release();
    expect(t.pinnedPages).toBe(0);
  });

  it('closeDevice unlinks everything; exported records live until their last handle goes', () => {
    const vram = new HeapMemory(16 * MiB);
    const t = new DmabufTable();
    const kept = t.lookupOrCreate(mode(1024, 768)).id;
    t.lookupOrCreate(mode(640, 480));
    const h = t.export(kept, vram);
    t.closeDevice();
    expect([t.size, t.liveRecords, t.liveHandles, t.pinnedPages]).toEqual([0, 1, 1, 768]);
    expect(() => t.export(kept, vram)).toThrow(errno('ENOENT'));
    expect(h.size).toBe(1024 * 768 * 4); // the handle stays usable
    h.release();
    expect([t.liveRecords, t.liveHandles, t.pinnedPages]).toEqual([0, 0, 0]);
    t.closeDevice();
    h.release();
    expect([t.liveRecords, t.liveHandles, t.pinnedPages]).toEqual([0, 0, 0]);
  });

  it('random lookup/export/release/close orders never drive a count negative and end at 0 (invariant 24)', () => {
    const vram = new HeapMemory(16 * MiB);
    const op = fc.oneof(
      fc.record({ k: fc.constant('lookup' as const), m: fc.integer({ min: 0, max: 11 }) }),
      fc.record({ k: fc.constant('export' as const), id: fc.integer({ min: 0, max: 20 }) }),
      fc.record({ k: fc.constant('release' as const), h: fc.nat() }),
      fc.record({ k: fc.constant('close' as const) }),
    );
    const modes = Array.from({ length: 12 }, (_, i) => mode(640, 480, (i % 3) * 1024, i * 8));
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), fc.integer({ min: 1, max: 8 }), (ops, limit) => {
        const t = new DmabufTable({ limit });
        const handles: DmabufExport[] = [];
        const check = () => {
          expect(t.liveHandles).toBeGreaterThanOrEqual(0);
          expect(t.pinnedPages).toBeGreaterThanOrEqual(0);
          expect(t.size).toBeLessThanOrEqual(limit);
          expect(t.liveRecords).toBeGreaterThanOrEqual(t.size);
        };
        for (const o of ops) {
          try {
            if (o.k === 'lookup') t.lookupOrCreate(modes[o.m]!);
            else if (o.k === 'export') handles.push(t.export(o.id, vram));
            else if (o.k === 'release') handles[o.h % Math.max(1, handles.length)]?.release(); // may repeat: idempotent
            else t.closeDevice();
          } catch (e) {
            expect(['ENOENT', 'EINVAL', 'ENOMEM']).toContain((e as { code?: string }).code);
          }
          check();
        }
        for (const h of handles) h.release();
        t.closeDevice();
        expect([t.liveRecords, t.liveHandles, t.pinnedPages]).toEqual([0, 0, 0]);
      }),
      fcParams(300),
    );
  });
});

describe(`dmabuf table bound (seed ${FC_SEED})`, () => {
  it('adversarial X/Y offset churn through the guest registers keeps the table ≤ its limit (invariant 25)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ x: fc.integer({ min: 0, max: 0xffff }), y: fc.integer({ min: 0, max: 2000 }) }), { minLength: 1, maxLength: 300 }),
        fc.integer({ min: 1, max: 16 }),
        fc.integer({ min: 0, max: 5 }),
        (churn, limit, keep) => {
          const vramSize = 16 * MiB;
          const vram = new HeapMemory(vramSize);
          const d = new DispiRegisters({ vramSize });
          for (const [i, v] of [[3, 32], [1, 1024], [2, 768], [6, 1024], [4, 0x41]] as const) d.write(i, v);
          const t = new DmabufTable({ limit });
          const held: DmabufExport[] = []; // like QEMU's small dmabuf cache
          for (const { x, y } of churn) {
            d.write(8, x);
            d.write(9, y);
            const m = deriveMode(d.values(), vramSize);
            if (!isMode(m)) continue;
            try {
              const { id } = t.lookupOrCreate(m);
              if (m.offset % 4096 === 0 && keep > 0) {
                held.push(t.export(id, vram));
                if (held.length > keep) held.shift()!.release();
              }
            } catch (e) {
              expect((e as { code?: string }).code).toBe('ENOMEM'); // only when every record is exported
              expect(t.liveHandles).toBeGreaterThanOrEqual(limit);
            }
            expect(t.size).toBeLessThanOrEqual(limit);
            expect(t.liveRecords).toBeLessThanOrEqual(limit);
          }
          for (const h of held) h.release();
          t.closeDevice();
          expect([t.liveRecords, t.liveHandles, t.pinnedPages]).toEqual([0, 0, 0]);
        },
      ),
      fcParams(150),
    );
  });

  it('evicts the least recently used unexported record; an evicted mode comes back with a new id', () => {
    const vram = new HeapMemory(16 * MiB);
    const t = new DmabufTable({ limit: 2 });
    const a = t.lookupOrCreate(mode(640, 480)).id; // 1
    const b = t.lookupOrCreate(mode(800, 600)).id; // 2
    t.lookupOrCreate(mode(640, 480)); // touch a: b is now LRU
    const c = t.lookupOrCreate(mode(1024, 768)).id; // evicts b
    expect([t.has(a), t.has(b), t.has(c)]).toEqual([true, false, true]);
    expect(() => t.export(b, vram)).toThrow(errno('ENOENT'));
    expect(t.lookupOrCreate(mode(800, 600))).toEqual({ id: 4, fresh: true }); // evicts a (LRU)
    expect(t.has(a)).toBe(false);
  });

  it('a table full of exported records refuses a new mode with ENOMEM and does not grow', () => {
    const vram = new HeapMemory(16 * MiB);
    const t = new DmabufTable({ limit: 2 });
    const h1 = t.export(t.lookupOrCreate(mode(640, 480)).id, vram);
    const h2 = t.export(t.lookupOrCreate(mode(800, 600)).id, vram);
    expect(() => t.lookupOrCreate(mode(1024, 768))).toThrow(errno('ENOMEM'));
    expect([t.size, t.liveRecords, t.nextId]).toEqual([2, 2, 3]);
    expect(t.lookupOrCreate(mode(640, 480))).toEqual({ id: 1, fresh: false }); // existing modes still work
    h1.release();
    expect(t.lookupOrCreate(mode(1024, 768))).toEqual({ id: 3, fresh: true });
    expect(t.has(1)).toBe(false);
    h2.release();
  });

  it('rejects a non-positive limit', () => {
    for (const limit of [0, -1, 1.5]) expect(() => new DmabufTable({ limit })).toThrow(errno('ECONFIG'));
    expect(new DmabufTable().limit).toBe(64);
  });
});
