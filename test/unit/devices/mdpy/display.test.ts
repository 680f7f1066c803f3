/**
 * mdpy display, reset, guest driver, snapshots and lifecycle: mdpy.c
 * mdpy_query_gfx_plane(), mdpy_reset(), mdpy-fb.c, docs/devices/mdpy.md "The display region";
 * invariants 10, 11, 12 (and 21 for mdpy).
 */
import fc from 'fast-check';
import { decode, encode } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { MDPY_TYPE_LIST, MdpyDevice, createMdpyBudget, type MdpySnapshot, type MdpyType } from '../../../../devices/mdpy/index.ts';
import type { Quirks } from '../../../../devices/common/options.ts';
import type { GfxPlaneInfo } from '../../../../src/vfio/device.ts';
import { HeapMemory, type Memory } from '../../../../src/vfio/memory.ts';
import { ConfigError, VfioError } from '../../../../src/util/errors.ts';
import { deviceBus } from '../../../support/guest/bus.ts';
import { mdpyFbProbe } from '../../../support/guest/mdpy-fb.ts';
import { FC_SEED, fcParams } from '../fc-seed.ts';

const PROFILES: readonly Quirks[] = ['none', 'upstream'];
const XRGB8888 = 0x34325258;
const PROBE = 1, DMABUF = 2, REGION = 4;
const EINVAL = 22, ENODEV = 19;

function make(t: MdpyType | string, quirks: Quirks = 'none', memory?: (n: string, s: number) => Memory): MdpyDevice {
  return new MdpyDevice(t, { quirks, budget: createMdpyBudget(1), ...(memory ? { memory } : {}) });
}

function plane(d: MdpyDevice, drmPlaneType = 1): GfxPlaneInfo {
  const p = d.queryGfxPlane({ argsz: 64, flags: REGION, drmPlaneType });
  if (p === 'probe-ok') throw new Error('expected a plane');
  return p;
}

function errnoOf(fn: () => unknown): number | undefined {
  try { fn(); } catch (e) {
    if (e instanceof VfioError) return e.errno;
    throw e;
  }
  return undefined;
}

/** The bytes of the plane's region a client maps (QEMU: the first mmap area of region_index). */
function planeView(d: MdpyDevice, p: GfxPlaneInfo): Uint8Array {
  const info = d.regionInfo(p.regionIndexOrDmabufId);
  if (!info.mmap) throw new Error('plane region is not mappable (QEMU would abort)');
  const sparse = info.caps.find((c) => c.kind === 'sparse-mmap');
  const first = sparse?.kind === 'sparse-mmap' ? sparse.areas[0] : { offset: 0, size: info.size };
  if (!first) throw new Error('no mmap area');
  const { memory, memoryOffset } = info.mmap;
  return memory.bytes.subarray(memoryOffset + first.offset, memoryOffset + first.offset + first.size);
}

/** mdpy.c mdpy_reset(): row y of the visible framebuffer is ⌊y·255/H⌋ in every byte. */
function expectGradient(view: Uint8Array, t: MdpyType): void {
  const stride = t.width * 4;
  for (let y = 0; y < t.height; y++) {
    const v = Math.floor((y * 255) / t.height);
    const row = view.subarray(y * stride, (y + 1) * stride);
    if (row[0] !== v || row[stride - 1] !== v || row[stride >> 1] !== v || !row.every((b) => b === v)) {
      expect.fail(`row ${y}: expected 0x${v.toString(16)}`);
    }
  }
}

describe(`mdpy QUERY_GFX_PLANE (seed ${FC_SEED})`, () => {
  for (const t of MDPY_TYPE_LIST) {
    it(`${t.sysfsName}: the plane is (XRGB8888, W, H, W·4, W·H·4, region 0) by default and (…, memsize, 16) with upstream quirks`, () => {
      const base = { drmFormat: XRGB8888, drmFormatMod: 0n, width: t.width, height: t.height, stride: t.width * 4, xPos: 0, yPos: 0, xHot: 0, yHot: 0 };
      const d = make(t);
      expect(plane(d)).toEqual({ ...base, size: t.width * t.height * 4, regionIndexOrDmabufId: 0 });
      // the display region is reachable by a client that only asks indexes < num_regions (docs/devices/mdpy.md "The display region")
      expect(plane(d).regionIndexOrDmabufId).toBeLessThan(d.info().numRegions);
      const u = make(t, 'upstream');
      expect(plane(u)).toEqual({ ...base, size: t.memsize, regionIndexOrDmabufId: 16 });
    });
  }

  it('invariant 21 (mdpy): probe semantics for every flags × plane type × argsz combination', () => {
    for (const q of PROFILES) {
      const d = make('vga', q);
      for (let flags = 0; flags < 8; flags++) {
        for (const drmPlaneType of [0, 1, 2, 3]) {
          for (const argsz of [0, 59, 60, 64, 0xffffffff]) {
            const query = { argsz, flags, drmPlaneType };
            if (argsz < 60 || (flags !== REGION && flags !== (PROBE | REGION))) {
              expect(errnoOf(() => d.queryGfxPlane(query)), JSON.stringify(query)).toBe(EINVAL);
            } else if (flags === (PROBE | REGION)) {
              expect(d.queryGfxPlane(query)).toBe('probe-ok');
            } else {
              expect((d.queryGfxPlane(query) as GfxPlaneInfo).width).toBe(640);
            }
          }
        }
      }
      expect(errnoOf(() => d.queryGfxPlane({ argsz: 64, flags: PROBE | DMABUF, drmPlaneType: 1 }))).toBe(EINVAL);
    }
  });

  for (const q of PROFILES) {
    it(`invariants 10 and 11 (${q}): the same plane for any drm_plane_type and after any guest writes; stride·height ≤ size ≤ region size`, () => {
      const t = MDPY_TYPE_LIST[1]!;
      const d = make(t, q);
      const first = plane(d);
      const writes = fc.array(fc.tuple(fc.constantFrom(0, 7, 16), fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 })), { maxLength: 8 });
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 0xffffffff }), writes, (drmPlaneType, ws) => {
          for (const [i, off, data] of ws) {
            const size = d.regionInfo(i).size;
            d.regionWrite(i, off % (size - data.length + 1), data);
          }
          const p = plane(d, drmPlaneType);
          expect(p).toEqual(first);
          const region = d.regionInfo(p.regionIndexOrDmabufId);
          expect(p.stride * p.height).toBeLessThanOrEqual(p.size);
          expect(p.size).toBeLessThanOrEqual(region.size);
          expect(planeView(d, p).length).toBeGreaterThanOrEqual(p.stride * p.height); // QEMU maps stride·height
        }),
        fcParams(150),
      );
    });
  }
});

describe(`mdpy reset (seed ${FC_SEED})`, () => {
  for (const t of MDPY_TYPE_LIST) {
    it(`${t.sysfsName}: the gradient is visible from creation onward in both profiles`, () => {
      for (const q of PROFILES) {
        const d = make(t, q);
        expectGradient(planeView(d, plane(d)), t);
        d.destroy();
      }
    });
  }

  for (const q of PROFILES) {
    it(`invariant 12 (${q}): after reset row y reads ⌊y·255/H⌋ everywhere; config space is unchanged by reset`, () => {
      const t = MDPY_TYPE_LIST[0]!;
      const d = make(t, q);
      const view = planeView(d, plane(d));
      view.fill(0xc3);
      d.regionWrite(0, 0, new Uint8Array(4096).fill(0x11));
      d.regionWrite(7, 0x10, Uint8Array.of(0, 0, 0x40, 0xfe)); // program BAR0
      d.regionWrite(7, 0x04, Uint8Array.of(0x07, 0x04)); // a dropped COMMAND write
      const config = d.config.image.slice();
      d.reset();
      expectGradient(view, t);
      expect(d.config.image.slice()).toEqual(config);
      expect(d.config.barAddress(0)).toBe(0xfe400000n); // both BAR rules keep these bits
      // through read() too (the default profile honours the offset)
      if (q === 'none') {
        const row = new Uint8Array(t.width * 4);
        d.regionRead(0, 240 * t.width * 4, row);
        expect(row.every((b) => b === Math.floor((240 * 255) / 480))).toBe(true);
      }
    });
  }

  it('upstream: reset leaves the bytes beyond H rows (up to memsize) untouched', () => {
    const t = MDPY_TYPE_LIST[2]!;
    const d = make(t, 'upstream');
    const mem = d.regionInfo(0).mmap!.memory.bytes;
    expect(mem.length).toBe(t.memsize);
    expect(mem.subarray(t.fbSize).every((b) => b === 0)).toBe(true); // zero at create
    mem.fill(0x9d, t.fbSize);
    d.reset();
    expect(mem.subarray(t.fbSize).every((b) => b === 0x9d)).toBe(true);
    expectGradient(mem, t);
  });
});

describe(`mdpy-fb guest driver over the device (seed ${FC_SEED})`, () => {
  for (const t of MDPY_TYPE_LIST) {
    for (const q of PROFILES) {
      it(`${t.sysfsName}/${q}: mdpy-fb probes, draws into the mapped BAR0 and the plane's region shows the pattern`, () => {
        const d = make(t, q);
        const bus = deviceBus(d);
        const fb = mdpyFbProbe(bus);
        expect([fb.width, fb.height, fb.lineLength, fb.smemLen]).toEqual([t.width, t.height, t.width * 4, t.memsize]);
        const screen = fb.screen;
        if (!screen) throw new Error('BAR0 not mapped');
        expect(screen.length).toBe(q === 'upstream' ? t.memsize : t.width * t.height * 4);
        // the BAR sizing left BAR0 as it was
        expect(bus.configRead(0x10, 4)).toBe(0x8);

        // draw: pixel (x, y) = 0x00RRGGBB with R = x, G = y, B = x ^ y (low bytes)
        const px = new Uint32Array(screen.buffer, screen.byteOffset, (fb.lineLength * fb.height) / 4);
        for (let y = 0; y < fb.height; y++) {
          for (let x = 0; x < fb.width; x++) px[y * fb.width + x] = (((x & 0xff) << 16) | ((y & 0xff) << 8) | ((x ^ y) & 0xff)) >>> 0;
        }

        const p = plane(d);
        const view = planeView(d, p);
        const shown = new Uint32Array(view.buffer, view.byteOffset, (p.stride * p.height) / 4);
        for (const [x, y] of [[0, 0], [t.width - 1, 0], [0, t.height - 1], [t.width - 1, t.height - 1], [123, 77]] as const) {
          expect(shown[y * (p.stride / 4) + x]).toBe((((x & 0xff) << 16) | ((y & 0xff) << 8) | ((x ^ y) & 0xff)) >>> 0);
        }
        expect(Buffer.compare(view.subarray(0, p.stride * p.height), screen.subarray(0, p.stride * p.height))).toBe(0);

        if (q === 'none') {
          // and read() of the plane's region agrees (the offset is honoured)
          const line = new Uint8Array(p.stride);
          d.regionRead(p.regionIndexOrDmabufId, 77 * p.stride, line);
          expect(Buffer.compare(line, view.subarray(77 * p.stride, 78 * p.stride))).toBe(0);
        }
        d.destroy();
      });
    }
  }
});

describe('mdpy snapshot / restore', () => {
  for (const q of PROFILES) {
    it(`${q}: a named record survives msgpack and restores config and framebuffer into a fresh device`, () => {
      const a = make('xga', q);
      a.regionWrite(7, 0x10, Uint8Array.of(0, 0, 0, 0xe0));
      planeView(a, plane(a)).fill(0x42, 1000, 5000);
      const snap = a.snapshot();
      expect(snap).toMatchObject({ format: 'mdevsim-mdpy', version: 1, type: 'xga', quirks: q });
      expect(snap.framebuffer.length).toBe(4 << 20); // all of BAR0, padding included, in both profiles
      expect(snap.config.size).toBe(q === 'upstream' ? 255 : 256);
      const wire = decode(encode(snap)) as MdpySnapshot;
      planeView(a, plane(a)).fill(0); // the snapshot is a copy

      const b = make('xga', q);
      b.restore(wire);
      expect(b.config.image.slice()).toEqual(snap.config.bytes);
      expect(Buffer.compare(b.snapshot().framebuffer, snap.framebuffer)).toBe(0);
      expect(b.config.barAddress(0)).toBe(0xe0000000n);
    });
  }

  it('default: a snapshot holding only the W·H·4 picture (written before the padding was backed) restores, with the padding zeroed', () => {
    const a = make('vga');
    planeView(a, plane(a)).fill(0x42);
    const old = { ...a.snapshot(), framebuffer: a.snapshot().framebuffer.slice(0, 640 * 480 * 4) };
    const b = make('vga');
    b.regionWrite(0, 640 * 480 * 4, new Uint8Array(64).fill(0x99)); // padding state the restore replaces
    b.restore(old);
    const fb = b.snapshot().framebuffer;
    expect(fb.subarray(0, 640 * 480 * 4).every((x) => x === 0x42)).toBe(true);
    expect(fb.subarray(640 * 480 * 4).every((x) => x === 0)).toBe(true);
    // upstream snapshots always held memsize bytes: a short one is refused
    expect(() => make('vga', 'upstream').restore({ ...make('vga', 'upstream').snapshot(), framebuffer: new Uint8Array(640 * 480 * 4) })).toThrow(ConfigError);
  });

  it('refuses another type, format, version or profile, or a short framebuffer, with ConfigError and no change', () => {
    const d = make('vga');
    const good = d.snapshot();
    const other = make('xga').snapshot();
    const bad: [string, unknown][] = [
      ['type', other],
      ['type field', { ...good, type: 'xga' }],
      ['format', { ...good, format: 'mdevsim-mbochs' }],
      ['version', { ...good, version: 2 }],
      ['quirks', { ...good, quirks: 'upstream' }],
      ['upstream snapshot', make('vga', 'upstream').snapshot()],
      ['framebuffer', { ...good, framebuffer: new Uint8Array(10) }],
      ['config size', { ...good, config: { size: 255, bytes: new Uint8Array(255) } }],
      ['config identity', { ...good, config: { size: 256, bytes: new Uint8Array(256) } }],
      ['null', null],
    ];
    planeView(d, plane(d)).fill(0x33);
    const before = d.snapshot();
    for (const [what, s] of bad) {
      expect(() => d.restore(s as MdpySnapshot), what).toThrow(ConfigError);
      const after = d.snapshot();
      expect(after.config.bytes, what).toEqual(before.config.bytes);
      expect(Buffer.compare(after.framebuffer, before.framebuffer), what).toBe(0);
    }
  });
});

describe('mdpy lifecycle', () => {
  it('closeDevice() keeps framebuffer and config (mdpy has no close_device)', () => {
    const d = make('vga');
    d.regionWrite(0, 64, Uint8Array.of(1, 2, 3));
    d.regionWrite(7, 0x10, Uint8Array.of(0, 0, 0, 0xc0));
    d.closeDevice();
    const b = new Uint8Array(3);
    d.regionRead(0, 64, b);
    expect([...b]).toEqual([1, 2, 3]);
    expect(d.config.barAddress(0)).toBe(0xc0000000n);
  });

  it('destroy() closes the memory once and releases the budget once; the device then answers ENODEV', () => {
    let closes = 0;
    const memory = (_n: string, size: number): Memory => {
      const m = new HeapMemory(size);
      return { get size() { return m.size; }, get bytes() { return m.bytes; }, fd: undefined, close: () => { closes++; m.close(); } };
    };
    const budget = createMdpyBudget(2);
    const d = new MdpyDevice('hd', { budget, memory });
    expect(budget.remaining).toBe(1);
    d.destroy();
    d.destroy();
    expect(closes).toBe(1);
    expect(budget.remaining).toBe(2);
    expect(d.destroyed).toBe(true);
    for (const call of [() => d.info(), () => d.regionInfo(0), () => d.regionRead(0, 0, new Uint8Array(4)), () => d.reset(),
      () => d.queryGfxPlane({ argsz: 64, flags: REGION, drmPlaneType: 1 }), () => d.snapshot(), () => d.irqInfo(0)]) {
      expect(errnoOf(call)).toBe(ENODEV);
    }
    d.closeDevice(); // harmless
  });
});
