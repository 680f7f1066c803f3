/**
 * mdpy types, descriptors and the instance budget: mdpy.c mdpy_types[],
 * docs/devices/mdpy.md "Instances", invariant 30 (mdpy part). Expected values
 * are the kernel sample's.
 */
import { describe, expect, it } from 'vitest';
import {
  MDPY_SHARED_BUDGET,
  MDPY_TYPE_DESCRIPTORS,
  MDPY_TYPE_LIST,
  MdpyDevice,
  createMdpyBudget,
  mdpyType,
} from '../../../../devices/mdpy/index.ts';
import { HeapMemory, type Memory } from '../../../../src/vfio/memory.ts';
import { ConfigError, VfioError } from '../../../../src/util/errors.ts';

const EUSERS = 87;
const MiB = 1024 * 1024;

/** mdpy.c mdpy_types[], written out. */
const SPEC = [
  { sysfs: 'vga', pretty: 'mdpy-vga', w: 640, h: 480, memsize: 2 * MiB, readback: 0xffe00008 },
  { sysfs: 'xga', pretty: 'mdpy-xga', w: 1024, h: 768, memsize: 4 * MiB, readback: 0xffc00008 },
  { sysfs: 'hd', pretty: 'mdpy-hd', w: 1920, h: 1080, memsize: 8 * MiB, readback: 0xff800008 },
] as const;

describe('mdpy type table', () => {
  it('three types in kernel order with the spec geometry, XRGB8888 and memsize = next power of two ≥ W·H·4', () => {
    expect(MDPY_TYPE_LIST.map((t) => t.sysfsName)).toEqual(['vga', 'xga', 'hd']);
    for (const s of SPEC) {
      const t = mdpyType(s.sysfs);
      expect(t.prettyName).toBe(s.pretty);
      expect([t.width, t.height, t.format, t.bytepp]).toEqual([s.w, s.h, 0x34325258, 4]);
      expect(t.stride).toBe(s.w * 4);
      expect(t.fbSize).toBe(s.w * s.h * 4);
      expect(t.memsize).toBe(s.memsize);
      // least power of two ≥ W·H·4
      expect(t.memsize >= s.w * s.h * 4 && t.memsize / 2 < s.w * s.h * 4).toBe(true);
      // the visible framebuffer is page aligned: the sparse area needs no rounding
      expect(t.fbSize % 4096).toBe(0);
      expect(t.bar0SizingReadback).toBe(s.readback);
      expect(t.description).toBe(`virtual display, ${s.w}x${s.h} framebuffer`);
      expect(t.resolution).toBe(`${s.w}x${s.h}`);
    }
  });

  it('lookup by sysfs or pretty name; an unknown name is a ConfigError (no fallback type)', () => {
    expect(mdpyType('mdpy-xga')).toBe(mdpyType('xga'));
    expect(() => mdpyType('svga')).toThrow(ConfigError);
    expect(() => new MdpyDevice('svga', { budget: createMdpyBudget() })).toThrow(ConfigError);
  });

  it('MDPY_TYPE_DESCRIPTORS: name, description, resolution, region display, no EDID', () => {
    expect(MDPY_TYPE_DESCRIPTORS).toEqual(SPEC.map((s) => ({
      name: s.pretty,
      sysfsName: s.sysfs,
      description: `virtual display, ${s.w}x${s.h} framebuffer`,
      resolution: `${s.w}x${s.h}`,
      display: 'region',
      edid: false,
    })));
  });

  it('an unknown quirks value is a ConfigError and reserves nothing', () => {
    const budget = createMdpyBudget();
    expect(() => new MdpyDevice('vga', { budget, quirks: 'strict' as never })).toThrow(ConfigError);
    expect(budget.remaining).toBe(4);
  });
});

describe('mdpy instance budget (create/remove storms)', () => {
  it('4 instances across all types, the 5th fails EUSERS without a partial reservation; destroy frees a slot', () => {
    const budget = createMdpyBudget();
    const devs = ['vga', 'xga', 'hd', 'vga'].map((t) => new MdpyDevice(t, { budget }));
    expect(budget.remaining).toBe(0);
    for (const t of ['vga', 'xga', 'hd']) {
      let caught: unknown;
      try { new MdpyDevice(t, { budget }); } catch (e) { caught = e; }
      expect(caught).toBeInstanceOf(VfioError);
      expect((caught as VfioError).errno).toBe(EUSERS);
      expect((caught as VfioError).code).toBe('EUSERS');
      expect((caught as Error).message).toMatch(/mdpy instances/);
      expect(budget.used).toBe(4);
    }
    devs[1]!.destroy();
    expect(budget.remaining).toBe(1);
    const again = new MdpyDevice('hd', { budget });
    expect(budget.remaining).toBe(0);
    for (const d of [...devs, again]) d.destroy();
    expect(budget.remaining).toBe(4);
  });

  it('destroy() releases exactly once (idempotent), never inflating the budget', () => {
    const budget = createMdpyBudget();
    const a = new MdpyDevice('vga', { budget });
    const b = new MdpyDevice('vga', { budget });
    a.destroy();
    a.destroy();
    a.destroy();
    expect(budget.remaining).toBe(3);
    b.destroy();
    expect(budget.remaining).toBe(4);
  });

  it('a failing memory factory leaves the budget untouched', () => {
    const budget = createMdpyBudget();
    const failing = (): Memory => { throw new Error('memfd_create: ENOMEM'); };
    expect(() => new MdpyDevice('hd', { budget, memory: failing })).toThrow(/ENOMEM/);
    expect(budget.remaining).toBe(4);
  });

  it('a memory factory returning the wrong size is a ConfigError; its memory is closed and the slot returned', () => {
    const budget = createMdpyBudget();
    let closed = 0;
    const short = (_n: string, size: number): Memory => {
      const m = new HeapMemory(size - 4096);
      return { get size() { return m.size; }, get bytes() { return m.bytes; }, fd: undefined, close: () => { closed++; m.close(); } };
    };
    expect(() => new MdpyDevice('vga', { budget, memory: short })).toThrow(ConfigError);
    expect(closed).toBe(1);
    expect(budget.remaining).toBe(4);
  });

  it('without an injected budget all devices share one module-level budget of 4', () => {
    expect(MDPY_SHARED_BUDGET.total).toBe(4);
    const devs = [new MdpyDevice('vga'), new MdpyDevice('xga', { quirks: 'upstream' }), new MdpyDevice('hd'), new MdpyDevice('vga')];
    expect(MDPY_SHARED_BUDGET.remaining).toBe(0);
    expect(() => new MdpyDevice('vga')).toThrow(expect.objectContaining({ errno: EUSERS }));
    for (const d of devs) d.destroy();
    expect(MDPY_SHARED_BUDGET.remaining).toBe(4);
  });

  it('memory is requested as <name>-fb of memsize bytes in both profiles (mdpy.c mdpy_init_dev() vmalloc_user()s all of memsize)', () => {
    const asked: [string, number][] = [];
    const factory = (n: string, size: number): Memory => { asked.push([n, size]); return new HeapMemory(size); };
    const budget = createMdpyBudget();
    new MdpyDevice('xga', { budget, memory: factory, name: 'u1' }).destroy();
    new MdpyDevice('xga', { budget, memory: factory, quirks: 'upstream' }).destroy();
    expect(asked).toEqual([['u1-fb', 4 * MiB], ['mdpy-xga-fb', 4 * MiB]]);
  });
});
