/**
 * deriveMode: mbochs_check_framebuffer (invariant 18, the bochs-drm
 * mode-set sequence, CVE-2016-3712: offsets and sizes computed without overflow).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DispiRegisters } from '../../../../devices/mbochs/dispi.ts';
import { deriveMode, isMode, modeKey, sameMode, type Mode } from '../../../../devices/mbochs/mode.ts';
import { MBOCHS_TYPE_LIST } from '../../../../devices/mbochs/types.ts';
import { DRM_FORMAT_XRGB8888 } from '../../../../src/vfio/uapi.ts';
import { FC_SEED, fcParams } from '../fc-seed.ts';

const XRES = 1, YRES = 2, BPP = 3, ENABLE = 4, BANK = 5, VIRT_WIDTH = 6, VIRT_HEIGHT = 7, X_OFF = 8, Y_OFF = 9;
const XRGB8888 = 0x34325258; // 'XR24' (drm_fourcc.h)

function regsOf(r: Partial<Record<'xres' | 'yres' | 'bpp' | 'enable' | 'virt' | 'x' | 'y', number>>): Uint16Array {
  const a = new Uint16Array(11);
  a[0] = 0xb0c5;
  a[XRES] = r.xres ?? 0;
  a[YRES] = r.yres ?? 0;
  a[BPP] = r.bpp ?? 0;
  a[ENABLE] = r.enable ?? 0;
  a[VIRT_WIDTH] = r.virt ?? 0;
  a[X_OFF] = r.x ?? 0;
  a[Y_OFF] = r.y ?? 0;
  return a;
}

const u16 = fc.oneof(
  fc.integer({ min: 0, max: 0xffff }),
  fc.constantFrom(0, 1, 32, 63, 64, 65, 0x41, 480, 640, 768, 1024, 1080, 1920, 0xffff),
  fc.integer({ min: 0, max: 2048 }),
);

describe(`deriveMode (seed ${FC_SEED})`, () => {
  it('XRGB8888 is the fourcc the spec names', () => {
    expect(DRM_FORMAT_XRGB8888).toBe(XRGB8888);
  });

  it('non-empty iff ENABLE bit 0, BPP 32, XRES ≥ 64, YRES ≥ 64 and offset+size ≤ memsize; then the formulas hold (invariant 18)', () => {
    fc.assert(
      fc.property(
        fc.record({ xres: u16, yres: u16, bpp: fc.oneof(fc.constant(32), u16), enable: u16, virt: u16, x: u16, y: u16 }),
        fc.constantFrom(...MBOCHS_TYPE_LIST.map((t) => t.memsize)),
        (r, memsize) => {
          const m = deriveMode(regsOf(r), memsize);
          // spec formulas in BigInt (exact by construction, independent of the module's number maths)
          const stride = BigInt(Math.max(r.virt, r.xres)) * 4n;
          const size = stride * BigInt(r.yres);
          const offset = BigInt(r.x) * 4n + BigInt(r.y) * stride;
          const valid = (r.enable & 1) === 1 && r.bpp === 32 && r.xres >= 64 && r.yres >= 64 && offset + size <= BigInt(memsize);
          expect(isMode(m)).toBe(valid);
          if (isMode(m)) {
            expect(m).toEqual({
              kind: 'mode', drmFormat: XRGB8888, bytepp: 4, width: r.xres, height: r.yres,
              stride: Number(stride), offset: Number(offset), size: Number(size),
            });
          } else {
            expect(m.reason.length).toBeGreaterThan(0);
          }
        },
      ),
      fcParams(1000),
    );
  });

  it('only ENABLE bit 0 matters among the ENABLE flags', () => {
    const base = { xres: 640, yres: 480, bpp: 32, virt: 640 };
    for (const enable of [0x01, 0x41, 0xc1, 0x03, 0x21, 0xffff]) expect(isMode(deriveMode(regsOf({ ...base, enable }), 4 << 20))).toBe(true);
    for (const enable of [0x00, 0x40, 0xc0, 0x02, 0xfffe]) expect(isMode(deriveMode(regsOf({ ...base, enable }), 4 << 20))).toBe(false);
  });

  it('names the first failing check, in the kernel order', () => {
    expect(deriveMode(regsOf({}), 4 << 20)).toMatchObject({ kind: 'invalid', reason: expect.stringContaining('disabled') });
    expect(deriveMode(regsOf({ enable: 1, bpp: 16 }), 4 << 20)).toMatchObject({ reason: 'bpp 16 not supported' });
    expect(deriveMode(regsOf({ enable: 1, bpp: 32, xres: 63, yres: 480 }), 4 << 20)).toMatchObject({ reason: 'invalid resolution 63x480' });
    expect(deriveMode(regsOf({ enable: 1, bpp: 32, xres: 1024, yres: 1025 }), 4 << 20)).toMatchObject({ reason: expect.stringContaining('overflow') });
  });

  it('the boundary offset+size = memsize is accepted, one byte more is not', () => {
    // 1024×1024×4 = 4 MiB exactly
    expect(deriveMode(regsOf({ enable: 1, bpp: 32, xres: 1024, yres: 1024 }), 4 << 20)).toMatchObject({ kind: 'mode', size: 4 << 20, offset: 0 });
    expect(isMode(deriveMode(regsOf({ enable: 1, bpp: 32, xres: 1024, yres: 1023, y: 1 }), 4 << 20))).toBe(true);
    expect(isMode(deriveMode(regsOf({ enable: 1, bpp: 32, xres: 1024, yres: 1023, y: 1, x: 1 }), 4 << 20))).toBe(false);
  });

  it('all-0xFFFF registers overflow without wrapping (CVE-2016-3712 lesson)', () => {
    const m = deriveMode(regsOf({ enable: 1, bpp: 32, xres: 0xffff, yres: 0xffff, virt: 0xffff, x: 0xffff, y: 0xffff }), 64 << 20);
    expect(m.kind).toBe('invalid');
    // stride 262140, size 262140·65535, offset 65535·4 + 65535·262140 — far beyond 2^32
    expect(m).toMatchObject({ reason: expect.stringContaining(`size ${262140 * 65535}`) });
  });

  it('an offset+size that is exactly 2^32 (0 in 32-bit arithmetic) is rejected', () => {
    // stride = 16384·4 = 65536; size = 65536·65535 = 2^32 − 65536; offset = 1·65536 → sum 2^32
    const m = deriveMode(regsOf({ enable: 1, bpp: 32, xres: 16384, yres: 0xffff, y: 1 }), 64 << 20);
    expect(m.kind).toBe('invalid');
    // and with a u64 sum of exactly 2^32 + a little that would wrap to a small number in u32
    const m2 = deriveMode(regsOf({ enable: 1, bpp: 32, xres: 16384, yres: 0xffff, y: 2, x: 0 }), 64 << 20);
    expect(m2.kind).toBe('invalid');
  });

  it('sameMode is structural over all seven fields; modeKey agrees with it', () => {
    const a = deriveMode(regsOf({ enable: 1, bpp: 32, xres: 640, yres: 480 }), 4 << 20) as Mode;
    const b = deriveMode(regsOf({ enable: 0x41, bpp: 32, xres: 640, yres: 480, virt: 640 }), 4 << 20) as Mode;
    const c = deriveMode(regsOf({ enable: 1, bpp: 32, xres: 640, yres: 480, virt: 641 }), 4 << 20) as Mode;
    const d = deriveMode(regsOf({ enable: 1, bpp: 32, xres: 640, yres: 480, y: 1 }), 4 << 20) as Mode;
    expect(sameMode(a, b)).toBe(true);
    expect(modeKey(a)).toBe(modeKey(b));
    for (const other of [c, d]) {
      expect(sameMode(a, other)).toBe(false);
      expect(modeKey(a)).not.toBe(modeKey(other));
    }
    const off = deriveMode(regsOf({}), 4 << 20);
    expect(sameMode(a, off)).toBe(false);
    expect(sameMode(off, deriveMode(regsOf({}), 4 << 20))).toBe(true);
  });
});

/** The bochs-drm mode set (drivers/gpu/drm/tiny/bochs.c bochs_hw_setmode()), as 16-bit guest writes to the dispi registers. */
function bochsModeSet(d: DispiRegisters, h: number, v: number, fbSize: number): void {
  d.write(ENABLE, 0);
  d.write(BPP, 32);
  d.write(XRES, h);
  d.write(YRES, v);
  d.write(BANK, 0);
  d.write(VIRT_WIDTH, h);
  d.write(VIRT_HEIGHT, Math.floor(fbSize / (h * 4)));
  d.write(X_OFF, 0);
  d.write(Y_OFF, 0);
  d.write(ENABLE, 0x41);
}

describe('the bochs-drm mode-set sequence (invariant 32)', () => {
  const modes = [[640, 480], [1024, 768], [1920, 1080]] as const;
  for (const t of MBOCHS_TYPE_LIST) {
    for (const [h, v] of modes) {
      const fits = h * v * 4 <= t.memsize;
      it(`${h}×${v} on ${t.sysfsName} (${t.mbytes} MB): ${fits ? 'a plane of exactly that size' : 'Invalid'} in sample mode`, () => {
        const d = new DispiRegisters({ vramSize: t.memsize });
        bochsModeSet(d, h, v, t.memsize);
        const m = deriveMode(d.values(), t.memsize);
        if (fits) {
          expect(m).toEqual({ kind: 'mode', drmFormat: XRGB8888, bytepp: 4, width: h, height: v, stride: h * 4, offset: 0, size: h * v * 4 });
        } else {
          expect(m).toMatchObject({ kind: 'invalid', reason: expect.stringContaining('overflow') });
        }
      });

      it(`${h}×${v} on ${t.sysfsName} in strict mode: ${fits ? 'the same plane' : 'YRES clamped to ⌊vram/line⌋ by the fixup'}`, () => {
        const d = new DispiRegisters({ vramSize: t.memsize, vbe: 'strict' });
        bochsModeSet(d, h, v, t.memsize);
        const m = deriveMode(d.values(), t.memsize);
        const maxy = Math.floor(t.memsize / (h * 4));
        expect(d.raw(VIRT_HEIGHT)).toBe(Math.min(maxy, 0xffff));
        if (fits) {
          expect(m).toEqual({ kind: 'mode', drmFormat: XRGB8888, bytepp: 4, width: h, height: v, stride: h * 4, offset: 0, size: h * v * 4 });
        } else {
          expect(d.raw(YRES)).toBe(maxy);
          expect(m).toEqual({ kind: 'mode', drmFormat: XRGB8888, bytepp: 4, width: h, height: maxy, stride: h * 4, offset: 0, size: h * maxy * 4 });
        }
      });
    }
  }
});
