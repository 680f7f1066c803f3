/**
 * MbochsDevice, the display path: dispi through BAR2 (docs/devices/mbochs.md "BAR2", "dispi"),
 * QUERY_GFX_PLANE and GET_GFX_DMABUF with the dmabuf lifecycle (docs/devices/mbochs.md
 * "Plane query and dmabufs"), and the bochs-drm guest model. Invariants 11, 16–25, 32.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { MbochsDevice } from '../../../../devices/mbochs/index.ts';
import type { DmabufExport, GfxPlaneInfo } from '../../../../src/vfio/device.ts';
import { EMPTY_PLANE } from '../../../../src/vfio/index.ts';
import { VfioError } from '../../../../src/util/errors.ts';
import { assignBar, deviceBus } from '../../../support/guest/bus.ts';
import { BochsDrm } from '../../../support/guest/bochs-drm.ts';
import { FC_SEED, fcParams } from '../fc-seed.ts';
import {
  BAR0, BAR2, BGRX8888, DISPI, MiB, PAGE, PRIMARY_QUERY, PROFILES, TYPES, VBE, XRGB8888,
  allBytes, bytesEqual, dispiAll, dispiRead, dispiWrite, errno, make, primary, program, rd, vgaBlank, wr,
} from './device-harness.ts';

/** The kernel's plane rule (mbochs.c mbochs_check_framebuffer(), invariant 18), from raw register values. */
function specPlane(r: readonly number[], memsize: number) {
  const reg = (i: number) => r[i] ?? 0;
  if ((reg(VBE.ENABLE) & 1) === 0 || reg(VBE.BPP) !== 32) return undefined;
  const width = reg(VBE.XRES);
  const height = reg(VBE.YRES);
  const stride = Math.max(reg(VBE.VIRT_WIDTH), width) * 4;
  const size = stride * height;
  const offset = reg(VBE.X_OFFSET) * 4 + reg(VBE.Y_OFFSET) * stride;
  if (width < 64 || height < 64 || offset + size > memsize) return undefined;
  return { width, height, stride, size, offset };
}

/** A plane as the spec says a valid one is reported: XRGB8888, modifier/positions/hotspot 0. */
function planeOf(p: { width: number; height: number; stride: number; size: number }, id: number, drmFormat = XRGB8888): GfxPlaneInfo {
  return {
    drmFormat, drmFormatMod: 0n, width: p.width, height: p.height, stride: p.stride, size: p.size,
    xPos: 0, yPos: 0, xHot: 0, yHot: 0, regionIndexOrDmabufId: id,
  };
}

function exportBytes(e: DmabufExport): Uint8Array {
  return e.memory.bytes.subarray(e.offset, e.offset + e.size);
}

describe('dispi through BAR2 (sample and strict rules)', () => {
  it(`sample: a 16-bit write of v to index i (0–10) reads back v; 1- and 4-byte accesses in 0x500–0x515 read 0 and change nothing (invariant 16; seed ${FC_SEED})`, () => {
    const dev = make('small');
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10 }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.oneof(
          fc.integer({ min: 0x500, max: 0x515 }).map((o) => ({ o, size: 1 as const })),
          fc.constantFrom(0x500, 0x504, 0x508, 0x50c, 0x510, 0x514).map((o) => ({ o, size: 4 as const })),
        ),
        fc.integer({ min: 0, max: 0xffffffff }),
        (i, v, odd, junk) => {
          dispiWrite(dev, i, v);
          expect(dispiRead(dev, i)).toBe(v);
          const before = dispiAll(dev);
          expect(rd(dev, BAR2, odd.o, odd.size)).toBe(0);
          wr(dev, BAR2, odd.o, odd.size, junk % 2 ** (8 * odd.size));
          expect(dispiAll(dev)).toEqual(before);
        },
      ),
      fcParams(300),
    );
  });

  it(`strict: after any write sequence with ENABLED set the registers satisfy QEMU's fixup (invariant 17; seed ${FC_SEED})`, () => {
    const memsize = 4 * MiB;
    const dev = make('small', { vbe: 'strict' });
    const write = fc.record({
      index: fc.integer({ min: 0, max: 10 }),
      value: fc.oneof(
        fc.integer({ min: 0, max: 0xffff }),
        fc.constantFrom(0, 1, 7, 8, 15, 16, 24, 32, 64, 640, 1024, 1920, 16000, 16001, 12000, 0xffff),
      ),
    });
    fc.assert(
      fc.property(fc.array(write, { minLength: 1, maxLength: 30 }), (writes) => {
        dev.reset();
        program(dev, { w: 640, h: 480 }); // enabled from the start, so most writes are checked
        for (const w of writes) {
          // GETCAPS would make XRES/YRES/BPP read the caps, not the registers: keep it clear.
          dispiWrite(dev, w.index, w.index === VBE.ENABLE ? w.value & ~0x02 : w.value);
          if ((dispiRead(dev, VBE.ENABLE) & 1) === 0) continue;
          const [xres, yres, bpp, virtW, virtH, x, y] = [VBE.XRES, VBE.YRES, VBE.BPP, VBE.VIRT_WIDTH, VBE.VIRT_HEIGHT, VBE.X_OFFSET, VBE.Y_OFFSET].map((i) => dispiRead(dev, i)) as [number, number, number, number, number, number, number];
          const bits = bpp === 15 ? 16 : bpp;
          expect([4, 8, 15, 16, 24, 32]).toContain(bpp);
          const line = (virtW * bits) / 8;
          expect(xres % 8).toBe(0);
          expect(xres).toBeLessThanOrEqual(16000);
          expect(virtW).toBeGreaterThanOrEqual(xres);
          expect(yres).toBeLessThanOrEqual(Math.floor(memsize / line));
          expect(Math.floor((x * bits) / 8) + (y + yres) * line).toBeLessThanOrEqual(memsize);
          expect(virtH).toBe(Math.min(Math.floor(memsize / line), 0xffff));
          expect(dispiRead(dev, VBE.VIDEO_MEMORY_64K)).toBe(64);
        }
      }),
      fcParams(200),
    );
  });

  it('strict: the ENABLE 0→1 edge clears YRES·line bytes of VRAM unless NOCLEARMEM; sample mode never clears', () => {
    for (const [vbe, enable, cleared] of [['strict', 0x41, true], ['strict', 0xc1, false], ['sample', 0x41, false]] as const) {
      const dev = make('small', { vbe });
      dev.vram.bytes.fill(0xff);
      program(dev, { w: 640, h: 480, enable });
      const visible = 480 * 640 * 4;
      expect(allBytes(dev.vram.bytes.subarray(0, visible), cleared ? 0 : 0xff)).toBe(true);
      expect(allBytes(dev.vram.bytes.subarray(visible), 0xff)).toBe(true);
    }
  });
});

describe(`QUERY_GFX_PLANE (mbochs_query_gfx_plane; seed ${FC_SEED})`, () => {
  it('PROBE|DMABUF → probe-ok; any other PROBE combination or flags ≠ DMABUF → EINVAL; argsz < 60 → EINVAL (invariant 21)', () => {
    const dev = make('medium');
    program(dev, { w: 1024, h: 768 });
    for (const argsz of [59, 60, 64, 0xffffffff]) {
      for (let flags = 0; flags < 8; flags++) {
        for (let drmPlaneType = 0; drmPlaneType < 4; drmPlaneType++) {
          const q = { argsz, flags, drmPlaneType };
          if (argsz < 60 || (flags !== 3 && flags !== 2)) {
            expect(() => dev.queryGfxPlane(q), JSON.stringify(q)).toThrow(errno('EINVAL'));
          } else if (flags === 3) {
            expect(dev.queryGfxPlane(q)).toBe('probe-ok');
          } else if (drmPlaneType === 1) {
            expect(dev.queryGfxPlane(q)).toEqual(planeOf({ width: 1024, height: 768, stride: 4096, size: 4096 * 768 }, 1));
          } else {
            expect(dev.queryGfxPlane(q)).toEqual(EMPTY_PLANE); // only PRIMARY is checked
          }
        }
      }
    }
  });

  for (const quirks of PROFILES) {
    it(`${quirks}: random dispi writes — a PRIMARY plane is non-empty iff ENABLE bit 0, BPP 32, XRES ≥ 64, YRES ≥ 64 and offset+size ≤ memsize, with the spec geometry; identical mode records share an id, new ones count up from 1 (invariants 11, 18, 19, 20)`, () => {
      const memsize = 4 * MiB;
      const op = fc.oneof(
        { weight: 4, arbitrary: fc.record({
          index: fc.constantFrom(VBE.ENABLE, VBE.BPP, VBE.XRES, VBE.YRES, VBE.VIRT_WIDTH, VBE.X_OFFSET, VBE.Y_OFFSET, VBE.ID, VBE.BANK, VBE.VIRT_HEIGHT),
          value: fc.oneof(fc.constantFrom(0, 1, 0x41, 32, 24, 63, 64, 100, 640, 800, 1024, 1023, 2048), fc.integer({ min: 0, max: 0xffff })),
        }) },
        { weight: 2, arbitrary: fc.constant('query' as const) },
      );
      fc.assert(
        fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
          const dev = make('small', { quirks });
          program(dev, { w: 640, h: 480 }); // start from a valid mode so small changes stay interesting
          const ids = new Map<string, number>();
          let last = 0;
          for (const o of ops) {
            if (o !== 'query') {
              dispiWrite(dev, o.index, o.value);
              continue;
            }
            const want = specPlane(dispiAll(dev), memsize);
            if (want === undefined) {
              expect(dev.queryGfxPlane(PRIMARY_QUERY)).toEqual(EMPTY_PLANE);
              expect(dev.activeDmabufId).toBe(0);
              continue;
            }
            const key = JSON.stringify(want);
            const known = ids.get(key);
            if (quirks === 'upstream' && known === undefined) {
              // The sample's bug: the first query of a new mode allocates it but answers ENOMEM.
              expect(() => dev.queryGfxPlane(PRIMARY_QUERY)).toThrow(errno('ENOMEM'));
            }
            const got = dev.queryGfxPlane(PRIMARY_QUERY) as GfxPlaneInfo;
            const id = known ?? last + 1;
            expect(got).toEqual(planeOf(want, id));
            expect(got.stride * got.height).toBeLessThanOrEqual(got.size);
            expect(got.size).toBeLessThanOrEqual(dev.regionInfo(BAR0).size);
            expect(dev.activeDmabufId).toBe(id);
            if (known === undefined) {
              ids.set(key, id);
              last = id;
            }
          }
        }),
        fcParams(150),
      );
    });
  }

  it('the default answers the first query of a new mode at once; upstream fails it with ENOMEM and the next identical query gets the id (mbochs_query_gfx_plane)', () => {
    const def = make('small');
    program(def, { w: 800, h: 600 });
    expect((def.queryGfxPlane(PRIMARY_QUERY) as GfxPlaneInfo).regionIndexOrDmabufId).toBe(1);
    const up = make('small', { quirks: 'upstream' });
    program(up, { w: 800, h: 600 });
    expect(() => up.queryGfxPlane(PRIMARY_QUERY)).toThrow(errno('ENOMEM'));
    expect(up.activeDmabufId).toBe(0);
    expect((up.queryGfxPlane(PRIMARY_QUERY) as GfxPlaneInfo).regionIndexOrDmabufId).toBe(1);
    expect(up.activeDmabufId).toBe(1);
  });

  it('CURSOR and OVERLAY queries report an empty plane and leave the active id alone', () => {
    const dev = make('small');
    program(dev, { w: 640, h: 480 });
    primary(dev);
    for (const drmPlaneType of [0, 2, 3]) expect(dev.queryGfxPlane({ ...PRIMARY_QUERY, drmPlaneType })).toEqual(EMPTY_PLANE);
    expect(dev.activeDmabufId).toBe(1);
  });

  it('strict + qext: the big-endian byte order makes a 32 bpp plane BGRX8888; reset brings back XRGB8888', () => {
    const dev = make('medium', { vbe: 'strict', qext: true });
    program(dev, { w: 1024, h: 768 });
    vgaBlank(dev, false); // strict starts blank, as QEMU stdvga after reset
    expect(primary(dev).drmFormat).toBe(XRGB8888);
    wr(dev, BAR2, 0x604, 4, 0xbebebebe);
    expect(primary(dev)).toEqual(planeOf({ width: 1024, height: 768, stride: 4096, size: 4096 * 768 }, 2, BGRX8888));
    dev.reset();
    program(dev, { w: 1024, h: 768 });
    vgaBlank(dev, false);
    expect(primary(dev).drmFormat).toBe(XRGB8888);
  });
});

describe(`GET_GFX_DMABUF and the dmabuf lifecycle (seed ${FC_SEED})`, () => {
  it('succeeds iff the id is known and its offset page-aligned: unknown → ENOENT, unaligned → EINVAL; export never changes VBE state (invariant 22)', () => {
    const dev = make('medium');
    for (const id of [0, 1, 999, 0xffffffff]) expect(() => dev.getGfxDmabuf(id)).toThrow(errno('ENOENT'));
    const cases = [
      { m: { w: 640, h: 480 }, offset: 0, ok: true },
      { m: { w: 640, h: 480, x: 1 }, offset: 4, ok: false },
      { m: { w: 640, h: 480, y: 1 }, offset: 2560, ok: false },
      { m: { w: 640, h: 480, y: 8 }, offset: 5 * PAGE, ok: true },
      { m: { w: 1024, h: 768, y: 1 }, offset: PAGE, ok: true },
    ];
    for (const c of cases) {
      program(dev, c.m);
      const id = primary(dev).regionIndexOrDmabufId; // no alignment check at query time
      const regs = dispiAll(dev);
      if (c.ok) {
        const e = dev.getGfxDmabuf(id);
        expect([e.dmabufId, e.offset, e.width, e.height, e.drmFormat, e.drmFormatMod]).toEqual([id, c.offset, c.m.w, c.m.h, XRGB8888, 0n]);
        expect(e.memory).toBe(dev.vram);
        e.release();
      } else {
        expect(() => dev.getGfxDmabuf(id)).toThrow(errno('EINVAL'));
      }
      expect(dispiAll(dev)).toEqual(regs);
      expect(primary(dev).regionIndexOrDmabufId).toBe(id);
    }
  });

  it('exported bytes equal VRAM[offset, offset+size) and track later VRAM writes through BAR0 and the mmap view (invariant 23)', () => {
    const dev = make('small');
    program(dev, { w: 640, h: 480, y: 16 });
    const plane = primary(dev);
    const e = dev.getGfxDmabuf(plane.regionIndexOrDmabufId);
    expect(e.offset).toBe(16 * 2560);
    expect(e.size).toBe(plane.size);
    dev.vram.bytes.fill(0x11, e.offset, e.offset + e.size);
    expect(allBytes(exportBytes(e), 0x11)).toBe(true);
    dev.regionWrite(BAR0, e.offset + 100, Uint8Array.of(1, 2, 3, 4));
    expect(exportBytes(e).subarray(100, 104)).toEqual(Uint8Array.of(1, 2, 3, 4));
    dev.regionInfo(BAR0).mmap!.memory.bytes[e.offset + e.size - 1] = 0x77;
    expect(exportBytes(e)[e.size - 1]).toBe(0x77);
    // Writes outside the buffer are not in it.
    dev.regionWrite(BAR0, e.offset - 1, Uint8Array.of(0x99));
    expect(exportBytes(e)[0]).toBe(0x11);
    e.release();
  });

  it('resource balance: after every handle is released and the device closed, pins and records return to 0; repeated export/release of one id never goes negative (invariant 24)', () => {
    const action = fc.oneof(
      fc.record({ kind: fc.constant('mode' as const), y: fc.integer({ min: 0, max: 6 }) }),
      fc.record({ kind: fc.constant('export' as const) }),
      fc.record({ kind: fc.constant('release' as const), which: fc.nat(), twice: fc.boolean() }),
      fc.record({ kind: fc.constant('close' as const) }),
      fc.record({ kind: fc.constant('reset' as const) }),
    );
    fc.assert(
      fc.property(fc.array(action, { maxLength: 40 }), (actions) => {
        const dev = make('small');
        const handles: DmabufExport[] = [];
        let id = 0;
        for (const a of actions) {
          switch (a.kind) {
            case 'mode':
              program(dev, { w: 640, h: 480, y: a.y * 8 }); // 8 lines of 2560 bytes = 5 pages: always aligned
              id = primary(dev).regionIndexOrDmabufId;
              break;
            case 'export':
              try {
                handles.push(dev.getGfxDmabuf(id));
              } catch (err) {
                expect((err as VfioError).code).toBe('ENOENT'); // no mode yet, or closed since
              }
              break;
            case 'release': {
              const h = handles.splice(a.which % Math.max(1, handles.length), 1)[0];
              h?.release();
              if (a.twice) h?.release();
              break;
            }
            case 'close':
              dev.closeDevice();
              break;
            case 'reset':
              dev.reset();
              break;
          }
          const s = dev.dmabufStats();
          expect(s.liveHandles).toBe(handles.length);
          expect(s.pinnedPages).toBeGreaterThanOrEqual(0);
          expect(s.records).toBeLessThanOrEqual(64);
        }
        for (const h of handles) h.release();
        dev.closeDevice();
        expect(dev.dmabufStats()).toEqual({ records: 0, liveRecords: 0, liveHandles: 0, pinnedPages: 0 });
      }),
      fcParams(150),
    );
  });

  it('the dmabuf table stays within dmabufLimit under X/Y offset churn (invariant 25)', () => {
    const dev = make('small', { dmabufLimit: 8 });
    program(dev, { w: 640, h: 480 });
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 1023 }), fc.integer({ min: 0, max: 1023 })), { maxLength: 50 }), (offsets) => {
        for (const [x, y] of offsets) {
          dispiWrite(dev, VBE.X_OFFSET, x);
          dispiWrite(dev, VBE.Y_OFFSET, y);
          dev.queryGfxPlane(PRIMARY_QUERY);
          expect(dev.dmabufStats().records).toBeLessThanOrEqual(8);
        }
      }),
      fcParams(100),
    );
  });

  it('closeDevice: ids become unknown (ENOENT) and new ids keep counting up; exported handles stay valid until released', () => {
    const dev = make('small');
    program(dev, { w: 640, h: 480 });
    const e = dev.getGfxDmabuf(primary(dev).regionIndexOrDmabufId);
    dev.vram.bytes.fill(0x5a, 0, 16);
    dev.closeDevice();
    expect(dev.activeDmabufId).toBe(0);
    expect(() => dev.getGfxDmabuf(1)).toThrow(errno('ENOENT'));
    expect(exportBytes(e).subarray(0, 16).every((b) => b === 0x5a)).toBe(true);
    expect(dev.dmabufStats()).toMatchObject({ records: 0, liveRecords: 1, liveHandles: 1, pinnedPages: 300 });
    // Device state survives close: the same registers give the same mode, under a new id.
    expect(primary(dev).regionIndexOrDmabufId).toBe(2);
    e.release();
    dev.closeDevice();
    expect(dev.dmabufStats()).toEqual({ records: 0, liveRecords: 0, liveHandles: 0, pinnedPages: 0 });
  });
});

describe('the bochs-drm guest model (invariant 32)', () => {
  const MODES = [
    { hdisplay: 640, vdisplay: 480 },
    { hdisplay: 1024, vdisplay: 768 },
    { hdisplay: 1920, vdisplay: 1080 },
  ];
  const MEMSIZE = { small: 4 * MiB, medium: 16 * MiB, large: 64 * MiB } as const;

  function boot(type: string, quirks: 'none' | 'upstream') {
    const dev = make(type, { quirks });
    const bus = deviceBus(dev);
    assignBar(bus, 0, 0xe0000000); // firmware assigns addresses first
    assignBar(bus, 2, 0xfebf0000);
    const drm = new BochsDrm(bus);
    return { dev, drm, probe: drm.probe() };
  }

  /** The XRGB8888 pixels of a w×h screen filled with `bg`, with an optional rectangle of `fg`. */
  function pixels(w: number, h: number, bg: number, rect?: { x: number; y: number; w: number; h: number; color: number }): Uint8Array {
    const px = new Uint32Array(w * h).fill(bg);
    if (rect) for (let y = rect.y; y < rect.y + rect.h; y++) px.fill(rect.color, y * w + rect.x, y * w + rect.x + rect.w);
    return new Uint8Array(px.buffer);
  }

  for (const quirks of PROFILES) {
    for (const type of TYPES) {
      it(`${quirks}, mbochs-${type}: probes, then every mode that fits VRAM is reported exactly and its dmabuf holds the drawn pixels; a mode that does not fit is an empty plane`, () => {
        const { dev, drm, probe } = boot(type, quirks);
        expect(probe).toMatchObject({ id: 0xb0c5, fbSize: MEMSIZE[type], sizeMismatch: false, qext: false, edid: undefined });
        expect(probe.preferred).toEqual({ hdisplay: 1024, vdisplay: 768 }); // no EDID: the driver's default
        drm.blank(false); // VGA port writes through 0x400–0x41F: harmless
        for (const mode of MODES) {
          const { hdisplay: w, vdisplay: h } = mode;
          drm.setMode(mode);
          if (w * h * 4 > MEMSIZE[type]) {
            expect(drm.modeValid(mode)).toBe(false);
            expect(dev.queryGfxPlane(PRIMARY_QUERY)).toEqual(EMPTY_PLANE);
            continue;
          }
          const rect = { x: 17, y: 9, w: 100, h: 50, color: 0x00ff8800 };
          drm.fill(0x00204060);
          drm.fill(rect.color, rect);
          const plane = primary(dev);
          expect(plane).toMatchObject({ drmFormat: XRGB8888, width: w, height: h, stride: w * 4, size: w * h * 4 });
          const e = dev.getGfxDmabuf(plane.regionIndexOrDmabufId);
          expect([e.width, e.height, e.stride, e.size, e.offset]).toEqual([w, h, w * 4, w * h * 4, 0]);
          expect(bytesEqual(exportBytes(e), pixels(w, h, 0x00204060, rect))).toBe(true);
          e.release();
        }
      });
    }

    it(`${quirks}: old-style Y-offset page flips give distinct dmabuf ids, each holding its own buffer; flipping back returns the first id`, () => {
      const { dev, drm } = boot('medium', quirks);
      const mode = { hdisplay: 640, vdisplay: 480 };
      const pitch = 640 * 4;
      const second = pitch * 480; // the second buffer right after the first (300 pages: aligned)
      drm.setMode(mode);
      drm.fill(0x000000ff);
      drm.fill(0x0000ff00, undefined, second);
      drm.setBase(0, 0, 0, pitch);
      const front = primary(dev).regionIndexOrDmabufId;
      drm.setBase(0, 0, second, pitch);
      expect(dispiRead(dev, VBE.Y_OFFSET)).toBe(480);
      const back = primary(dev);
      expect(back.regionIndexOrDmabufId).not.toBe(front);
      expect(back).toMatchObject({ width: 640, height: 480, stride: pitch, size: pitch * 480 });
      const eb = dev.getGfxDmabuf(back.regionIndexOrDmabufId);
      expect(eb.offset).toBe(second);
      expect(bytesEqual(exportBytes(eb), pixels(640, 480, 0x0000ff00))).toBe(true);
      drm.setBase(0, 0, 0, pitch);
      expect(primary(dev).regionIndexOrDmabufId).toBe(front);
      const ef = dev.getGfxDmabuf(front);
      expect(bytesEqual(exportBytes(ef), pixels(640, 480, 0x000000ff))).toBe(true);
      ef.release();
      eb.release();
    });
  }

  it('the probe fails like the driver (ENODEV) when the guest has overwritten ID in sample mode, and works again after reset', () => {
    const { dev, drm } = boot('small', 'none');
    dispiWrite(dev, VBE.ID, 0x1234);
    expect(() => drm.probe()).toThrow(/ENODEV/);
    dev.reset();
    expect(drm.probe().id).toBe(0xb0c5);
    expect(rd(dev, BAR2, DISPI + 2 * VBE.VIDEO_MEMORY_64K, 2)).toBe(64);
  });
});
