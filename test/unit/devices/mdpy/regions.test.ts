/**
 * mdpy regions, device info and irqs: mdpy.c mdpy_get_region_info(), mdev_access(), mdpy_ioctl(),
 * the sparse-mmap capability; invariants 1, 2, 6 (irqs), 7, 8, 9, 14.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MDPY_TYPE_LIST, MdpyDevice, createMdpyBudget, type MdpyType } from '../../../../devices/mdpy/index.ts';
import type { Quirks } from '../../../../devices/common/options.ts';
import { decodeRegionInfo, encodeRegionInfo } from '../../../../src/vfio/region-caps.ts';
import type { IrqSet } from '../../../../src/vfio/device.ts';
import { VfioError } from '../../../../src/util/errors.ts';
import { assignBar, deviceBus } from '../../../support/guest/bus.ts';
import { fbRead, fbWrite, mdpyFbProbe } from '../../../support/guest/mdpy-fb.ts';
import { FC_SEED, fcParams } from '../fc-seed.ts';
import { encodeRegionInfo as encodeUserRegionInfo } from '../../../../src/vfio-user/info.ts';

const PROFILES: readonly Quirks[] = ['none', 'upstream'];
const EFAULT = 14, EINVAL = 22, ENOTTY = 25;
const R = 1, W = 2, MMAP = 4, CAPS = 8;

function make(t: MdpyType | string, quirks: Quirks = 'none'): MdpyDevice {
  return new MdpyDevice(t, { quirks, budget: createMdpyBudget(1) });
}

function errnoOf(fn: () => unknown): number | undefined {
  try { fn(); } catch (e) {
    if (e instanceof VfioError) return e.errno;
    throw e;
  }
  return undefined;
}

/** The bytes a client that maps BAR0 sees: the first sparse-mmap area, or the whole region without a cap. */
function mapped(d: MdpyDevice, index = 0): Uint8Array {
  const info = d.regionInfo(index);
  if (!info.mmap) throw new Error(`region ${index} is not mappable`);
  const sparse = info.caps.find((c) => c.kind === 'sparse-mmap');
  const size = sparse?.kind === 'sparse-mmap' && sparse.areas[0] ? sparse.areas[0].size : info.size;
  return info.mmap.memory.bytes.subarray(info.mmap.memoryOffset, info.mmap.memoryOffset + size);
}

describe(`mdpy GET_REGION_INFO (seed ${FC_SEED})`, () => {
  for (const t of MDPY_TYPE_LIST) {
    for (const q of PROFILES) {
      it(`${t.sysfsName}/${q}: indexes 0–20 and 2^32−1 answer as the table says`, () => {
        const d = make(t, q);
        const bar0Caps = q === 'upstream' ? [] : [{ kind: 'sparse-mmap', areas: [{ offset: 0, size: t.width * t.height * 4 }] }];
        for (let i = 0; i <= 20; i++) {
          if (i === 0 || i === 16) {
            expect(d.regionInfo(i)).toMatchObject({ index: i, offset: 0x1000, size: t.memsize, flags: R | W | MMAP, caps: bar0Caps });
          } else if (i === 7) {
            expect(d.regionInfo(i)).toMatchObject({ index: 7, offset: 0, size: q === 'upstream' ? 0xff : 0x100, flags: R | W, caps: [] });
          } else if (i < 9) {
            expect(d.regionInfo(i)).toEqual({ index: i, offset: 0, size: 0, flags: 0, caps: [] });
          } else {
            expect(errnoOf(() => d.regionInfo(i)), `index ${i}`).toBe(EINVAL);
          }
        }
        for (const i of [0xffffffff, -1, 1.5]) expect(errnoOf(() => d.regionInfo(i))).toBe(EINVAL);
        d.destroy();
      });
    }

    it(`${t.sysfsName}: invariant 9: memsize is the least power of two ≥ W·H·4; region 16 equals region 0 in offset, size, flags (and caps)`, () => {
      for (const q of PROFILES) {
        const d = make(t, q);
        const r0 = d.regionInfo(0);
        const r16 = d.regionInfo(16);
        expect(r0.size).toBe(2 ** Math.ceil(Math.log2(t.width * t.height * 4)));
        expect([r16.offset, r16.size, r16.flags]).toEqual([r0.offset, r0.size, r0.flags]);
        expect(r16.caps).toEqual(r0.caps);
        expect(r16.mmap?.memory).toBe(r0.mmap?.memory);
        // the encoded flags agree too (CAPS is the encoder's)
        expect(encodeUserRegionInfo(r16, 4096).bytes.subarray(4, 8)).toEqual(encodeUserRegionInfo(r0, 4096).bytes.subarray(4, 8));
        d.destroy();
      }
    });
  }

  it('BAR0 region info bytes carry the sparse-mmap cap [0, W·H·4) (vfio_region_info + vfio_region_info_cap_sparse_mmap)', () => {
    const d = make('vga');
    const { bytes, neededArgsz, capsIncluded } = encodeUserRegionInfo(d.regionInfo(0), 64);
    const expected = new Uint8Array(64);
    const dv = new DataView(expected.buffer);
    dv.setUint32(0, 64, true); // argsz
    dv.setUint32(4, R | W | MMAP | CAPS, true); // flags
    dv.setUint32(8, 0, true); // index
    dv.setUint32(12, 32, true); // cap_offset
    dv.setBigUint64(16, 0x200000n, true); // size = memsize
    dv.setBigUint64(24, 0x1000n, true); // offset
    dv.setUint16(32, 1, true); // id VFIO_REGION_INFO_CAP_SPARSE_MMAP
    dv.setUint16(34, 1, true); // version
    dv.setUint32(36, 0, true); // next: end of chain
    dv.setUint32(40, 1, true); // nr_areas
    dv.setUint32(44, 0, true); // reserved
    dv.setBigUint64(48, 0n, true); // area offset
    dv.setBigUint64(56, 1228800n, true); // area size = 640·480·4
    expect([...bytes]).toEqual([...expected]);
    expect(neededArgsz).toBe(64);
    expect(capsIncluded).toBe(true);
    expect(decodeRegionInfo(bytes).caps).toEqual([{ kind: 'sparse-mmap', areas: [{ offset: 0, size: 1228800 }] }]);

    // A 32-byte request (QEMU's first GET_REGION_INFO) gets the bare struct with argsz 64 and no CAPS (vfio-user).
    const short = encodeUserRegionInfo(d.regionInfo(0), 32);
    expect(short.bytes.length).toBe(32);
    expect(new DataView(short.bytes.buffer).getUint32(0, true)).toBe(64);
    expect(new DataView(short.bytes.buffer).getUint32(4, true)).toBe(R | W | MMAP);

    // upstream: no cap chain, the whole BAR is mappable
    const u = make('vga', 'upstream');
    const up = encodeUserRegionInfo(u.regionInfo(0), 64);
    expect(up.bytes.length).toBe(32);
    expect(new DataView(up.bytes.buffer).getUint32(0, true)).toBe(32);
    expect(new DataView(up.bytes.buffer).getUint32(4, true)).toBe(R | W | MMAP);
    expect(u.regionInfo(0).mmap?.memory.size).toBe(0x200000);
  });
});

describe(`mdpy device info and irqs (seed ${FC_SEED})`, () => {
  it('invariant 7: GET_INFO is stable: (PCI|RESET, 9, 5) by default, (PCI, 9, 5) with upstream quirks', () => {
    for (const [q, flags] of [['none', 0x3], ['upstream', 0x2]] as const) {
      const d = make('xga', q);
      for (let i = 0; i < 3; i++) {
        expect(d.info()).toEqual({ flags, numRegions: 9, numIrqs: 5 });
        d.regionWrite(0, 0, new Uint8Array(16).fill(i));
        d.reset();
      }
      d.destroy();
    }
  });

  it('invariant 6: every irq index 0–4 reports count 0, flags 0; others EINVAL (default: independent of GET_INFO)', () => {
    const d = make('vga');
    for (let i = 0; i < 5; i++) expect(d.irqInfo(i)).toEqual({ index: i, flags: 0, count: 0 });
    for (const i of [5, 6, 0xffffffff, -1, 0.5]) expect(errnoOf(() => d.irqInfo(i))).toBe(EINVAL);
  });

  it('upstream quirk (mdpy_ioctl caches num_irqs): GET_IRQ_INFO before any GET_INFO is EINVAL, afterwards count 0', () => {
    const d = make('vga', 'upstream');
    for (let i = 0; i < 6; i++) expect(errnoOf(() => d.irqInfo(i))).toBe(EINVAL);
    d.info();
    for (let i = 0; i < 5; i++) expect(d.irqInfo(i)).toEqual({ index: i, flags: 0, count: 0 });
    expect(errnoOf(() => d.irqInfo(5))).toBe(EINVAL);
    d.closeDevice(); // the cached value lives in the device state, not the open file
    expect(d.irqInfo(0).count).toBe(0);
  });

  it('SET_IRQS is EINVAL for every request (no vectors anywhere), both profiles', () => {
    const sets: IrqSet[] = [
      { flags: 0x21, index: 0, start: 0, count: 0 }, // DATA_NONE|TRIGGER disable
      { flags: 0x24, index: 1, start: 0, count: 1, eventfds: [-1] },
      { flags: 0x22, index: 2, start: 0, count: 1, bools: Uint8Array.of(1) },
      { flags: 0x21, index: 3, start: 0, count: 1 },
      { flags: 0x21, index: 9, start: 0, count: 0 },
      { flags: 0xffff, index: 0, start: 0, count: 0 },
    ];
    for (const q of PROFILES) {
      const d = make('vga', q);
      d.info();
      for (const s of sets) expect(errnoOf(() => d.setIrqs(s))).toBe(EINVAL);
    }
  });

  it('GET_GFX_DMABUF is ENOTTY (mdpy_ioctl has no case for it)', () => {
    for (const q of PROFILES) {
      const d = make('vga', q);
      for (const id of [0, 1, 0xffffffff]) expect(errnoOf(() => d.getGfxDmabuf(id))).toBe(ENOTTY);
    }
  });
});

/** Region offsets a fuzzer should hit: boundaries of every region, and ones past 2^32 and 2^53. */
function offsetArb(t: MdpyType): fc.Arbitrary<number> {
  return fc.oneof(
    fc.integer({ min: 0, max: t.memsize + 64 }),
    fc.constantFrom(0, 1, 0xfc, 0xfe, 0xff, 0x100, t.fbSize - 4, t.fbSize - 1, t.fbSize, t.memsize - 8, t.memsize - 1, t.memsize, 0x1000),
    fc.constantFrom(2 ** 32 - 1, 2 ** 32, 2 ** 53 - 8, 2 ** 53 - 1, 2 ** 53, 2 ** 63, 2 ** 64 - 1, 2 ** 64, Number.MAX_VALUE),
    fc.nat(),
  );
}

const countArb = fc.oneof(fc.integer({ min: 0, max: 16 }), fc.constantFrom(64, 4096, 0x10000));

describe(`mdpy region read/write (seed ${FC_SEED})`, () => {
  const t = MDPY_TYPE_LIST[0]!; // vga: the properties do not depend on the geometry; it keeps them fast

  for (const q of PROFILES) {
    it(`invariants 1 and 2 (${q}): random accesses return exactly count defined bytes, or fail EFAULT/EINVAL and change no state`, () => {
      const d = make(t, q);
      d.regionWrite(7, 0x10, Uint8Array.of(0, 0, 0, 0xe0)); // some config state
      const memory = d.regionInfo(0).mmap!.memory.bytes; // all of BAR0: picture and padding
      let state = d.snapshot();
      const index = fc.constantFrom(0, 7, 16, 1, 6, 8, 9, 15, 17, 0xffffffff);
      fc.assert(
        fc.property(index, offsetArb(t), countArb, fc.boolean(), fc.integer({ min: 0, max: 255 }), (i, off, count, write, fill) => {
          const info = (() => { try { return d.regionInfo(i); } catch { return undefined; } })();
          // upstream config: mdpy.c mdev_access() answers every chunk that starts below 0xFF, so n > 0 bytes at o fit iff o < 0xFF and o + n ≤ 0x100
          const sampleConfig = q === 'upstream' && i === 7;
          const fits = info !== undefined && Number.isSafeInteger(off) &&
            (sampleConfig ? (count === 0 ? off <= 0xff : off < 0xff && off + count <= 0x100) : off + count <= info.size);
          const buf = new Uint8Array(count).fill(fill);
          const errno = errnoOf(() => (write ? d.regionWrite(i, off, buf) : d.regionRead(i, off, buf)));
          if (info === undefined) expect(errno).toBe(EINVAL);
          else if (!fits) expect(errno).toBe(EFAULT);
          else expect(errno).toBeUndefined();
          if (errno !== undefined) {
            expect(d.config.image.slice()).toEqual(state.config.bytes);
            expect(Buffer.compare(memory, state.framebuffer)).toBe(0);
          } else if (write) {
            state = d.snapshot(); // the reference for the next failing access
          } else if (count > 0) {
            // zero-fill: every byte of dst comes from the device, none is left over from the caller
            const ref = new Uint8Array(count).fill(fill ^ 0xff);
            d.regionRead(i, off, ref);
            expect(buf).toEqual(ref);
          }
        }),
        fcParams(400),
      );
      d.destroy();
    });
  }

  it('invariant 14 (default): a write of B at BAR0 offset o reads back B for every o ≤ memsize − |B|, padding included (regions 0 and 16); the mapped area shows it', () => {
    const d = make(t);
    const offset = (n: number) => fc.oneof(fc.integer({ min: 0, max: t.memsize - n }), fc.integer({ min: t.fbSize - n, max: t.fbSize }));
    const access = fc.integer({ min: 1, max: 64 }).chain((n) =>
      fc.tuple(offset(n), fc.uint8Array({ minLength: n, maxLength: n }), fc.constantFrom(0, 16), fc.constantFrom(0, 16)));
    fc.assert(
      fc.property(access, ([o, b, wi, ri]) => {
        d.regionWrite(wi, o, b);
        const back = new Uint8Array(b.length);
        d.regionRead(ri, o, back);
        expect(back).toEqual(b);
        const view = mapped(d);
        const inView = Math.max(0, Math.min(b.length, view.length - o));
        expect(view.subarray(o, o + inView)).toEqual(b.subarray(0, inView));
      }),
      fcParams(300),
    );
  });

  it('the padding [W·H·4, memsize) keeps what the guest writes through /dev/fbN: mdpy-fb sets screen_size = smem_len = the whole BAR (mdpy-fb.c mdpy_fb_probe(), Linux v6.12) and the kernel backs all of it (mdpy.c mdpy_init_dev(): vmalloc_user(memsize))', () => {
    const d = make(t);
    const bus = deviceBus(d);
    assignBar(bus, 0, 0xe0000000);
    const fb = mdpyFbProbe(bus);
    expect(fb.smemLen).toBe(t.memsize);
    expect(fb.screen?.length).toBe(t.fbSize); // the mapped part is the picture; the padding is trapped
    const pattern = Uint8Array.from({ length: 4096 }, (_, i) => (i * 7 + 3) & 0xff);
    for (const at of [t.fbSize, t.fbSize + 12345, t.memsize - pattern.length]) {
      expect(fbWrite(bus, fb, at, pattern)).toBe(pattern.length);
      expect(fbRead(bus, fb, at, pattern.length)).toEqual(pattern);
    }
    // a write straddling the end of the picture: the mapped part and the trapped part both hold
    expect(fbWrite(bus, fb, t.fbSize - 2, Uint8Array.of(1, 2, 3, 4))).toBe(4);
    expect([...fbRead(bus, fb, t.fbSize - 2, 4)]).toEqual([1, 2, 3, 4]);
    // fb_io_write stops at screen_size
    expect(fbWrite(bus, fb, t.memsize - 2, Uint8Array.of(5, 6, 7, 8))).toBe(2);
    expect(fbWrite(bus, fb, t.memsize, Uint8Array.of(9))).toBe(0);
    // the picture the plane describes is unchanged in size; region 16 sees the same padding bytes
    expect(d.queryGfxPlane({ argsz: 64, flags: 4, drmPlaneType: 1 })).toMatchObject({ size: t.fbSize });
    const via16 = new Uint8Array(4);
    d.regionRead(16, t.fbSize + 12345 + 6, via16);
    expect(via16).toEqual(pattern.subarray(6, 10));
    // zero at creation, like vmalloc_user's memory
    const fresh = make(t);
    const zeros = new Uint8Array(t.memsize - t.fbSize).fill(0xaa);
    fresh.regionRead(0, t.fbSize, zeros);
    expect(zeros.every((x) => x === 0)).toBe(true);
  });

  it('invariant 8 (default): the mmap view equals the read view byte for byte; the mapped area is the sparse area', () => {
    const d = make(t);
    const view = mapped(d);
    const sparse = d.regionInfo(0).caps[0];
    expect(sparse).toEqual({ kind: 'sparse-mmap', areas: [{ offset: 0, size: t.fbSize }] });
    for (let i = 0; i < view.length; i += 4099) view[i] = i & 0xff;
    const read = new Uint8Array(t.fbSize);
    d.regionRead(0, 0, read);
    expect(Buffer.compare(read, view)).toBe(0);
    // the guest bus maps exactly that area
    expect(deviceBus(d).barMap(0)?.length).toBe(t.fbSize);
  });

  it('upstream quirk (mdev_access): BAR0 read()/write() touch memblk[0..chunk) whatever the offset, chunked 4/2/1', () => {
    const d = make(t, 'upstream');
    const mem = mapped(d);
    expect(mem.length).toBe(t.memsize);
    d.regionWrite(0, 0x800, Uint8Array.of(1, 2, 3, 4));
    expect([...mem.subarray(0, 4)]).toEqual([1, 2, 3, 4]);
    expect([...mem.subarray(0x800, 0x804)]).not.toEqual([1, 2, 3, 4]);
    const r = new Uint8Array(8);
    d.regionRead(16, 0x4000, r); // two 4-byte chunks, each from memblk[0..4)
    expect([...r]).toEqual([1, 2, 3, 4, 1, 2, 3, 4]);
    // 3 bytes at offset 1: chunks of 1 (odd position) then 2; the last one wins at memblk[0..2)
    d.regionWrite(0, 1, Uint8Array.of(9, 8, 7));
    expect([...mem.subarray(0, 4)]).toEqual([8, 7, 3, 4]);
    // bounded at the very end of the BAR, never past memblk
    const last = new Uint8Array(4);
    d.regionRead(0, t.memsize - 4, last);
    expect([...last]).toEqual([8, 7, 3, 4]);
    expect(errnoOf(() => d.regionRead(0, t.memsize - 2, new Uint8Array(4)))).toBe(EFAULT);
    // the mmap path is correct in both profiles: the whole BAR is mapped
    mem[t.memsize - 1] = 0x77;
    expect(mem[t.memsize - 1]).toBe(0x77);
  });
});
