/**
 * MbochsDevice, state and lifecycle: the EDID region as QEMU drives it
 * (hw/vfio/display.c vfio_display_edid_update()), reset (mbochs_reset()), VGA/qext
 * windows, the instance budget, close/destroy, snapshots, type descriptors.
 * Invariants 15, 26–31.
 */
import { decode, encode } from '@msgpack/msgpack';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MBOCHS_TYPES,
  MBOCHS_TYPE_DESCRIPTORS,
  MbochsDevice,
  createMbochsBudget,
  mbochsAvailableInstances,
  MBOCHS_SHARED_BUDGET,
  type MbochsSnapshot,
} from '../../../../devices/mbochs/index.ts';
import { HeapMemory, type Memory, type MemoryFactory } from '../../../../src/vfio/memory.ts';
import { EMPTY_PLANE } from '../../../../src/vfio/index.ts';
import { ConfigError, VfioError } from '../../../../src/util/errors.ts';
import { bootBochsDrm, edidChecksumOk } from '../../../support/guest/bochs-drm.ts';
import { FC_SEED, fcParams } from '../fc-seed.ts';
import {
  BAR0, BAR2, CONFIG, EDID, MiB, PRIMARY_QUERY, TYPES, VBE,
  bytesEqual, dispiAll, dispiWrite, errno, make, primary, program, rd, readRegion, wr,
} from './device-harness.ts';

/* struct vfio_region_gfx_edid field offsets and link states (include/uapi/linux/vfio.h). */
const EDID_OFFSET = 0, EDID_MAX_SIZE = 4, EDID_SIZE = 8, MAX_XRES = 12, MAX_YRES = 16, LINK_STATE = 20;
const LINK_UP = 1, LINK_DOWN = 2;

/** A 128-byte EDID base block whose first detailed timing is w×h (EDID 1.4 §3.10.2), with a valid checksum. */
function edidBlob(w: number, h: number, tag = 0): Uint8Array {
  const b = new Uint8Array(128);
  b.set([0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00]);
  b[8] = 0x49; b[9] = 0x14; b[10] = tag; // manufacturer / product, tag makes blobs distinct
  b[18] = 1; b[19] = 4;
  b[54] = 0x1d; b[55] = 0x36; // pixel clock ≠ 0
  b[56] = w & 0xff; b[58] = (w >> 8) << 4;
  b[59] = h & 0xff; b[61] = (h >> 8) << 4;
  let sum = 0;
  for (let i = 0; i < 127; i++) sum += b[i]!;
  b[127] = (256 - (sum & 0xff)) & 0xff;
  return b;
}

/** Guest view of the EDID window (BAR2 0x000–0x3FF), byte by byte as bochs-drm reads it. */
function guestEdid(dev: MbochsDevice, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => rd(dev, BAR2, i, 1));
}

/** QEMU's vfio_display_edid_update (hw/vfio/display.c), the link-up timer fired by hand. */
function qemuEdidUpdate(dev: MbochsDevice, blob: Uint8Array, duringDown?: () => void): void {
  wr(dev, EDID, LINK_STATE, 4, LINK_DOWN);
  duringDown?.();
  wr(dev, EDID, EDID_SIZE, 4, blob.length);
  duringDown?.();
  const edidOffset = rd(dev, EDID, EDID_OFFSET, 4);
  dev.regionWrite(EDID, edidOffset, blob); // one write of the whole blob
  duringDown?.();
  wr(dev, EDID, LINK_STATE, 4, LINK_UP); // 100 ms later in QEMU
}

const boot = bootBochsDrm;

/** Everything guest- or host-visible except VRAM (reads have no side effects). */
function visible(dev: MbochsDevice): Uint8Array {
  return Buffer.concat([
    readRegion(dev, CONFIG, 0, dev.regionInfo(CONFIG).size),
    readRegion(dev, BAR2, 0, 0x1000),
    readRegion(dev, EDID, 0, 0x1000),
    Uint8Array.from(dispiAll(dev).flatMap((v) => [v & 0xff, v >> 8])),
  ]);
}

describe('EDID region as QEMU drives it', () => {
  it('QEMU init reads edid_offset 0x800, edid_max_size 0x400 and the type max_xres/max_yres; link_state starts at 0', () => {
    const want = { small: [800, 600], medium: [1920, 1440], large: [0, 0] } as const;
    for (const t of TYPES) {
      const dev = make(t);
      expect([EDID_OFFSET, EDID_MAX_SIZE, EDID_SIZE, MAX_XRES, MAX_YRES, LINK_STATE].map((o) => rd(dev, EDID, o, 4)))
        .toEqual([0x800, 0x400, 0, ...want[t], 0]);
    }
  });

  it('the update sequence (DOWN, size, blob, UP) leaves the guest-visible EDID equal to the blob; the guest sees zeros at every point while the link is not UP; bochs-drm then finds it (invariant 28)', () => {
    const dev = make('medium');
    const drm = boot(dev);
    const zeros = () => expect(guestEdid(dev, 16)).toEqual(new Uint8Array(16));
    zeros(); // link_state 0 at creation
    expect(drm.probe().edid).toBeUndefined();
    const blob = edidBlob(1280, 800, 1);
    expect(edidChecksumOk(blob)).toBe(true);
    qemuEdidUpdate(dev, blob, zeros);
    expect(guestEdid(dev, 128)).toEqual(blob);
    expect(drm.readEdid()).toEqual(blob);
    const probe = drm.probe();
    expect(probe.preferred).toEqual({ hdisplay: 1280, vdisplay: 800 });
    expect(drm.log).toContain('Found EDID data blob.');
    // A window resize: a second sequence replaces the blob; zeros again while DOWN.
    const blob2 = edidBlob(1024, 768, 2);
    qemuEdidUpdate(dev, blob2, zeros);
    expect(drm.readEdid()).toEqual(blob2);
    // The window closing: link DOWN, the guest sees no EDID.
    wr(dev, EDID, LINK_STATE, 4, LINK_DOWN);
    expect(drm.readEdid()).toBeUndefined();
  });

  it(`a guest byte read at o < 0x400 returns blob[o] iff link_state = 1 and o < edid_size, else 0; guest writes to 0x000–0x3FF never change the blob (invariant 26; seed ${FC_SEED})`, () => {
    const dev = make('small');
    fc.assert(
      fc.property(
        fc.oneof(fc.constantFrom(0, 1, 2, 3), fc.integer({ min: 0, max: 0xffffffff })),
        fc.oneof(fc.constantFrom(0, 128, 256, 0x400, 0x401, 0xffffffff), fc.integer({ min: 0, max: 0x500 })),
        fc.uint8Array({ minLength: 0x400, maxLength: 0x400 }),
        fc.array(fc.integer({ min: 0, max: 0x3ff }), { minLength: 1, maxLength: 16 }),
        fc.tuple(fc.integer({ min: 0, max: 0x3fc }), fc.constantFrom(1 as const, 2 as const, 4 as const), fc.integer({ min: 0, max: 0xffffffff })),
        (link, size, blob, probes, [wo, ws, wv]) => {
          dev.regionWrite(EDID, 0x800, blob);
          wr(dev, EDID, EDID_SIZE, 4, size);
          wr(dev, EDID, LINK_STATE, 4, link);
          for (const o of probes) expect(rd(dev, BAR2, o, 1)).toBe(link === 1 && o < size ? blob[o] : 0);
          wr(dev, BAR2, wo, ws, wv % 2 ** (8 * ws));
          expect(bytesEqual(readRegion(dev, EDID, 0x800, 0x400), blob)).toBe(true);
        },
      ),
      fcParams(150),
    );
  });

  it(`EDID registers: edid_offset, edid_max_size, max_xres, max_yres are read-only; aligned 4-byte writes to edid_size/link_state read back exactly; any other register access changes nothing (invariant 27; seed ${FC_SEED})`, () => {
    const dev = make('medium');
    const regs = () => [0, 4, 8, 12, 16, 20].map((o) => rd(dev, EDID, o, 4));
    const u32 = fc.integer({ min: 0, max: 0xffffffff });
    fc.assert(
      fc.property(u32, u32, u32, fc.integer({ min: 0, max: 23 }), fc.uint8Array({ minLength: 1, maxLength: 3 }), fc.integer({ min: 24, max: 0x7f8 }), fc.uint8Array({ minLength: 1, maxLength: 8 }),
        (size, link, junk, o, short, hole, data) => {
          wr(dev, EDID, EDID_SIZE, 4, size);
          wr(dev, EDID, LINK_STATE, 4, link);
          expect(regs()).toEqual([0x800, 0x400, size, 1920, 1440, link]);
          for (const ro of [EDID_OFFSET, EDID_MAX_SIZE, MAX_XRES, MAX_YRES]) wr(dev, EDID, ro, 4, junk);
          expect(regs()).toEqual([0x800, 0x400, size, 1920, 1440, link]);
          // Fewer than 4 bytes: never a register access, wherever it starts.
          dev.regionWrite(EDID, o, short.subarray(0, Math.min(short.length, 24 - o)));
          // The gap between the struct and the blob ignores writes and reads 0.
          dev.regionWrite(EDID, hole, data.subarray(0, Math.min(data.length, 0x800 - hole)));
          expect(regs()).toEqual([0x800, 0x400, size, 1920, 1440, link]);
          expect(readRegion(dev, EDID, hole, Math.min(data.length, 0x800 - hole)).every((b) => b === 0)).toBe(true);
        }),
      fcParams(150),
    );
  });
});

describe('reset (mbochs_reset)', () => {
  for (const vbe of ['sample', 'strict'] as const) {
    it(`${vbe}: after reset ID = 0xB0C5, VIDEO_MEMORY_64K = memsize/64 KiB, every other dispi register 0, and VRAM is unchanged (invariant 15)`, () => {
      for (const t of TYPES) {
        const dev = make(t, { vbe });
        program(dev, { w: 1024, h: 768, x: 8, y: 2 });
        dispiWrite(dev, VBE.BANK, 1);
        dispiWrite(dev, VBE.ID, 0xb0c0);
        for (let i = 0; i < dev.vram.size; i += 4093) dev.vram.bytes[i] = (i >> 3) & 0xff;
        const vram = dev.vram.bytes.slice();
        dev.reset();
        expect(dispiAll(dev)).toEqual([0xb0c5, 0, 0, 0, 0, 0, 0, 0, 0, 0, MBOCHS_TYPES[t].memsize / 65536]);
        expect(bytesEqual(dev.vram.bytes, vram)).toBe(true);
      }
    });
  }

  it('reset changes neither the EDID registers/blob, nor config space (programmed BARs included), nor existing dmabuf ids (invariant 29)', () => {
    const dev = make('medium');
    const blob = edidBlob(1280, 800);
    qemuEdidUpdate(dev, blob);
    wr(dev, CONFIG, 0x10, 4, 0xe0000000);
    wr(dev, CONFIG, 0x18, 4, 0xfebf0000);
    program(dev, { w: 1024, h: 768 });
    const id1 = primary(dev).regionIndexOrDmabufId;
    program(dev, { w: 800, h: 600 });
    const id2 = primary(dev).regionIndexOrDmabufId;
    const handle = dev.getGfxDmabuf(id1);
    const edid = readRegion(dev, EDID, 0, 0x1000);
    const config = readRegion(dev, CONFIG, 0, 256);

    dev.reset();
    expect(readRegion(dev, EDID, 0, 0x1000)).toEqual(edid);
    expect(guestEdid(dev, 128)).toEqual(blob);
    expect(readRegion(dev, CONFIG, 0, 256)).toEqual(config);
    expect(dev.queryGfxPlane(PRIMARY_QUERY)).toEqual(EMPTY_PLANE); // the display is off after reset
    expect(dev.getGfxDmabuf(id2).dmabufId).toBe(id2); // ids survive, even before the mode comes back
    program(dev, { w: 1024, h: 768 });
    expect(primary(dev).regionIndexOrDmabufId).toBe(id1);
    program(dev, { w: 800, h: 600 });
    expect(primary(dev).regionIndexOrDmabufId).toBe(id2);
    expect(handle.memory.bytes.length).toBe(16 * MiB);
    handle.release();
  });
});

describe('VGA and qext windows', () => {
  const WINDOWS = [[0x400, 0x420], [0x600, 0x608]] as const;

  it(`sample: 0x400–0x41F and 0x600–0x607 read 0 at every size and accept writes with no observable effect (invariant 31; seed ${FC_SEED})`, () => {
    const dev = make('small');
    program(dev, { w: 640, h: 480 });
    const vram = dev.vram.bytes.slice();
    const before = visible(dev);
    fc.assert(
      fc.property(fc.constantFrom(...WINDOWS).chain(([a, b]) => fc.integer({ min: a, max: b - 1 })), fc.constantFrom(1 as const, 2 as const, 4 as const), fc.integer({ min: 0, max: 0xffffffff }), (o, size, v) => {
        expect(rd(dev, BAR2, o, size)).toBe(0);
        wr(dev, BAR2, o, size, v % 2 ** (8 * size));
        expect(rd(dev, BAR2, o, size)).toBe(0);
      }),
      fcParams(200),
    );
    expect(bytesEqual(visible(dev), before)).toBe(true);
    expect(bytesEqual(dev.vram.bytes, vram)).toBe(true);
  });

  it(`strict with revision 2: qext size reads 8 and the byte order reads one of the two magic values, changed only by them (invariant 31; seed ${FC_SEED})`, () => {
    const dev = make('medium', { vbe: 'strict', qext: true });
    expect(rd(dev, CONFIG, 0x08, 1)).toBe(2);
    expect(rd(dev, BAR2, 0x600, 4)).toBe(8);
    expect(rd(dev, BAR2, 0x604, 4)).toBe(0x1e1e1e1e);
    let expected = 0x1e1e1e1e;
    fc.assert(
      fc.property(fc.oneof(fc.constantFrom(0x1e1e1e1e, 0xbebebebe), fc.integer({ min: 0, max: 0xffffffff })), (v) => {
        wr(dev, BAR2, 0x604, 4, v);
        if (v === 0x1e1e1e1e || v === 0xbebebebe) expected = v;
        expect(rd(dev, BAR2, 0x604, 4)).toBe(expected);
        expect(rd(dev, BAR2, 0x600, 4)).toBe(8);
      }),
      fcParams(100),
    );
    // bochs-drm sees revision 2, probes qext and selects little endian.
    wr(dev, BAR2, 0x604, 4, 0xbebebebe);
    const drm = boot(dev);
    expect(drm.probe().qext).toBe(true);
    expect(rd(dev, BAR2, 0x604, 4)).toBe(0x1e1e1e1e);
  });
});

describe('instance budget', () => {
  it('the shared default budget: four mbochs-large fit, a fifth fails ENOSPC without a partial reservation; destroy returns the memory exactly once (invariant 30)', () => {
    expect(MBOCHS_SHARED_BUDGET.total).toBe(256);
    const start = MBOCHS_SHARED_BUDGET.remaining;
    expect(start).toBe(256); // every other test in this file injects its own budget
    const large = [1, 2, 3, 4].map(() => new MbochsDevice('mbochs-large'));
    expect(MBOCHS_SHARED_BUDGET.remaining).toBe(0);
    expect(mbochsAvailableInstances('large')).toBe(0);
    expect(mbochsAvailableInstances('small')).toBe(0);
    let caught: unknown;
    try {
      new MbochsDevice('mbochs-large');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(VfioError);
    expect(caught).toMatchObject({ code: 'ENOSPC', errno: 28 });
    expect(() => new MbochsDevice('mbochs-small')).toThrow(errno('ENOSPC'));
    expect(MBOCHS_SHARED_BUDGET.remaining).toBe(0);
    large[0]!.destroy();
    large[0]!.destroy();
    expect(MBOCHS_SHARED_BUDGET.remaining).toBe(64);
    expect(mbochsAvailableInstances(MBOCHS_TYPES.small)).toBe(16);
    const again = new MbochsDevice('large');
    expect(MBOCHS_SHARED_BUDGET.remaining).toBe(0);
    for (const d of [...large, again]) d.destroy();
    expect(MBOCHS_SHARED_BUDGET.remaining).toBe(start);
  });

  it(`random create/destroy storms: Σ live MB ≤ budget, available(t) = ⌊remaining / t.MB⌋, refusals change nothing (invariant 30; seed ${FC_SEED})`, () => {
    const tiny: MemoryFactory = (_n, size) => ({ size, bytes: new Uint8Array(0), fd: undefined, close() {} });
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constantFrom(...TYPES), fc.nat({ max: 20 })), { maxLength: 40 }), (ops) => {
        const budget = createMbochsBudget(100);
        const live: MbochsDevice[] = [];
        for (const op of ops) {
          if (typeof op === 'number') {
            live.splice(op % Math.max(1, live.length), 1)[0]?.destroy();
          } else {
            const before = budget.remaining;
            if (before >= MBOCHS_TYPES[op].mbytes) live.push(new MbochsDevice(op, { budget, memory: tiny }));
            else {
              expect(() => new MbochsDevice(op, { budget, memory: tiny })).toThrow(errno('ENOSPC'));
              expect(budget.remaining).toBe(before);
            }
          }
          const used = live.reduce((s, d) => s + d.type.mbytes, 0);
          expect(used).toBeLessThanOrEqual(100);
          expect(budget.remaining).toBe(100 - used);
          for (const t of TYPES) expect(mbochsAvailableInstances(t, budget)).toBe(Math.floor((100 - used) / MBOCHS_TYPES[t].mbytes));
        }
      }),
      fcParams(100),
    );
  });

  it('a creation that fails after the reservation (memory factory error) gives the reservation back; bad options fail before reserving', () => {
    const budget = createMbochsBudget();
    const failing: MemoryFactory = () => {
      throw new Error('out of memfd');
    };
    expect(() => new MbochsDevice('small', { budget, memory: failing })).toThrow('out of memfd');
    expect(budget.remaining).toBe(256);
    expect(() => new MbochsDevice('small', { budget, qext: true })).toThrow(ConfigError);
    expect(() => new MbochsDevice('huge', { budget })).toThrow(ConfigError);
    expect(() => new MbochsDevice('small', { budget, dmabufLimit: 0 })).toThrow(ConfigError);
    expect(() => new MbochsDevice('small', { budget, vbe: 'qemu' as 'strict' })).toThrow(ConfigError);
    expect(() => new MbochsDevice({ ...MBOCHS_TYPES.small, memsize: 3 * MiB }, { budget })).toThrow(ConfigError);
    expect(budget.remaining).toBe(256);
  });
});

describe('close and destroy', () => {
  /** A factory that records what it hands out and how often each memory is closed. */
  function recording() {
    const made: { name: string; size: number; closes: number; memory: Memory }[] = [];
    const factory: MemoryFactory = (name, size) => {
      const inner = new HeapMemory(size);
      const rec = { name, size, closes: 0, memory: undefined as unknown as Memory };
      rec.memory = {
        size,
        fd: undefined,
        get bytes() {
          return inner.bytes;
        },
        close() {
          rec.closes++;
          inner.close();
        },
      };
      made.push(rec);
      return rec.memory;
    };
    return { made, factory };
  }

  it('VRAM comes from the factory as one memory named `${name}-vram` of memsize bytes', () => {
    const { made, factory } = recording();
    make('medium', { memory: factory });
    make('small', { memory: factory, name: 'c0ffee' });
    expect(made.map((m) => [m.name, m.size])).toEqual([['mbochs-medium-vram', 16 * MiB], ['c0ffee-vram', 4 * MiB]]);
  });

  it('closeDevice keeps dispi registers, VRAM, EDID and config (a vfio-user client may reconnect); only the dmabuf table is unlinked', () => {
    const dev = make('small');
    qemuEdidUpdate(dev, edidBlob(800, 600));
    program(dev, { w: 640, h: 480 });
    dev.vram.bytes.fill(0x42, 0, 640 * 480 * 4);
    const id = primary(dev).regionIndexOrDmabufId;
    const before = visible(dev);
    const vram = dev.vram.bytes.slice();
    dev.closeDevice();
    expect(bytesEqual(visible(dev), before)).toBe(true);
    expect(bytesEqual(dev.vram.bytes, vram)).toBe(true);
    expect(() => dev.getGfxDmabuf(id)).toThrow(errno('ENOENT'));
    expect(primary(dev)).toMatchObject({ width: 640, height: 480, regionIndexOrDmabufId: id + 1 });
  });

  it('destroy returns the budget once, closes VRAM at once when nothing is exported, and is idempotent; later calls are ENODEV', () => {
    const { made, factory } = recording();
    const budget = createMbochsBudget();
    const dev = new MbochsDevice('small', { budget, memory: factory });
    expect(budget.remaining).toBe(252);
    dev.destroy();
    dev.destroy();
    dev.closeDevice();
    expect(dev.destroyed).toBe(true);
    expect(budget.remaining).toBe(256);
    expect(made[0]!.closes).toBe(1);
    expect(() => dev.info()).toThrow(errno('ENODEV'));
    expect(() => dev.regionRead(CONFIG, 0, new Uint8Array(4))).toThrow(errno('ENODEV'));
    expect(() => dev.queryGfxPlane(PRIMARY_QUERY)).toThrow(errno('ENODEV'));
    expect(() => dev.reset()).toThrow(errno('ENODEV'));
  });

  it('destroy with exported dmabufs keeps VRAM until the last handle is released, then closes it exactly once', () => {
    const { made, factory } = recording();
    const budget = createMbochsBudget();
    const dev = new MbochsDevice('small', { budget, memory: factory });
    program(dev, { w: 640, h: 480 });
    const id = primary(dev).regionIndexOrDmabufId;
    const a = dev.getGfxDmabuf(id);
    const b = dev.getGfxDmabuf(id);
    dev.vram.bytes.fill(0x33, 0, 16);
    dev.destroy();
    expect(budget.remaining).toBe(256); // the budget models the sample's accounting: returned at remove
    expect(made[0]!.closes).toBe(0);
    expect(a.memory.bytes.subarray(0, 16).every((x) => x === 0x33)).toBe(true);
    a.release();
    a.release();
    expect(made[0]!.closes).toBe(0);
    expect(dev.dmabufStats()).toMatchObject({ liveHandles: 1 });
    b.release();
    expect(made[0]!.closes).toBe(1);
    b.release();
    expect(made[0]!.closes).toBe(1);
    expect(dev.dmabufStats()).toEqual({ records: 0, liveRecords: 0, liveHandles: 0, pinnedPages: 0 });
  });
});

describe('snapshot / restore', () => {
  function populated(quirks: 'none' | 'upstream' = 'none') {
    const dev = make('small', { quirks });
    qemuEdidUpdate(dev, edidBlob(800, 600, 7));
    wr(dev, CONFIG, 0x10, 4, 0xe0000000);
    program(dev, { w: 800, h: 600, y: 32 }); // 32 lines of 3200 bytes = 25 pages: exportable
    for (let i = 0; i < dev.vram.size; i += 511) dev.vram.bytes[i] = (i >> 9) & 0xff;
    return dev;
  }

  it('is a named record of plain data that survives msgpack; restoring it into a fresh instance reproduces every visible byte and the plane', () => {
    for (const quirks of ['none', 'upstream'] as const) {
      const src = populated(quirks);
      const snap = src.snapshot();
      expect(Object.keys(snap).sort()).toEqual(['config', 'dispi', 'edid', 'format', 'mmio', 'qext', 'quirks', 'type', 'vbe', 'version', 'vram']);
      expect(snap).toMatchObject({ format: 'mdevsim-mbochs', version: 1, type: 'small', quirks, vbe: 'sample', qext: false });
      const wire = decode(encode(snap)) as MbochsSnapshot;
      const dst = make('small', { quirks });
      dst.restore(wire);
      expect(bytesEqual(visible(dst), visible(src))).toBe(true);
      expect(bytesEqual(dst.vram.bytes, src.vram.bytes)).toBe(true);
      const p = primary(dst);
      expect(p).toMatchObject({ width: 800, height: 600, stride: 3200, size: 3200 * 600 });
      expect(dst.getGfxDmabuf(p.regionIndexOrDmabufId).offset).toBe(32 * 3200);
    }
  });

  it('refuses another format, version, type or device shape with a ConfigError and changes nothing', () => {
    const dev = populated();
    const good = dev.snapshot();
    const before = visible(dev);
    const vram = dev.vram.bytes.slice();
    const other = make('medium').snapshot();
    const cases: unknown[] = [
      { ...good, format: 'mdevsim-mdpy' },
      { ...good, version: 2 },
      { ...good, type: 'medium' },
      other,
      { ...good, quirks: 'upstream' },
      { ...good, vbe: 'strict' },
      { ...good, qext: true },
      { ...good, vram: new Uint8Array(16) },
      // Malformed parts, found after earlier parts were already restored: all rolled back.
      { ...good, dispi: { ...good.dispi, registers: { ...good.dispi.registers, XRES: 0x10000 } } },
      { ...good, config: { size: 256, bytes: Uint8Array.from(good.config.bytes, (b, i) => (i === 0 ? 0x78 : b)) } },
      { ...good, edid: { ...good.edid, blob: new Uint8Array(3) } },
      { ...good, mmio: { ...good.mmio, byteOrder: 'be' } },
      null,
    ];
    program(dev, { w: 640, h: 480 }); // current state differs from the snapshot
    const now = visible(dev);
    for (const bad of cases) {
      expect(() => dev.restore(bad as MbochsSnapshot)).toThrow(ConfigError);
      expect(bytesEqual(visible(dev), now)).toBe(true);
      expect(bytesEqual(dev.vram.bytes, vram)).toBe(true);
    }
    dev.restore(good);
    expect(bytesEqual(visible(dev), before)).toBe(true);
  });
});

describe('type descriptors for the management layer', () => {
  it('list the three mbochs types with their memory, dmabuf display, EDID and max resolution', () => {
    expect(MBOCHS_TYPE_DESCRIPTORS).toEqual([
      { name: 'mbochs-small', sysfsName: 'small', description: 'virtual display, 4 MB video memory', memorySize: 4 * MiB, mbytes: 4, display: 'dmabuf', edid: true, maxResolution: { width: 800, height: 600 } },
      { name: 'mbochs-medium', sysfsName: 'medium', description: 'virtual display, 16 MB video memory', memorySize: 16 * MiB, mbytes: 16, display: 'dmabuf', edid: true, maxResolution: { width: 1920, height: 1440 } },
      { name: 'mbochs-large', sysfsName: 'large', description: 'virtual display, 64 MB video memory', memorySize: 64 * MiB, mbytes: 64, display: 'dmabuf', edid: true, maxResolution: null },
    ]);
    for (const d of MBOCHS_TYPE_DESCRIPTORS) expect(make(d.name).regionInfo(BAR0).size).toBe(d.memorySize);
  });

  it('a device can be created from the descriptor name, the sysfs name or the types-table entry', () => {
    expect(make('mbochs-medium').type).toBe(MBOCHS_TYPES.medium);
    expect(make('medium').type).toBe(MBOCHS_TYPES.medium);
    expect(new MbochsDevice(MBOCHS_TYPES.large, { budget: createMbochsBudget() }).type).toBe(MBOCHS_TYPES.large);
  });
});
