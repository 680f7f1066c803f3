/**
 * Fuzz target `region`: region read()/write() on both device models and
 * both profiles, at every boundary of the region tables (invariants
 * 1, 2, 8, 14, 26, 27 of docs/devices/invariants.md).
 *
 * A case is an mdpy (vga/xga/hd) or mbochs (small/medium/large) instance,
 * quirks 'none' or 'upstream' (private budget, destroyed at the end), and a
 * sequence of region accesses: a random index (0–20, 2^32−1), an offset
 * given relative to a boundary — region-relative hot spots (config
 * 0xFC–0x100; MMIO 0x3FF/0x400, 0x41F/0x420, 0x515/0x516, 0x5FF/0x600,
 * 0x607/0x608, 0xFFF/0x1000; EDID 23/24, 0x7FF/0x800, 0xBFF/0xC00), the
 * region's end, memsize, the mdpy sparse tail (W·H·4), the mbochs
 * 'upstream' skew end (memsize − 0x2000); these three name the region end
 * on regions other than BAR0/16 — or a raw u64 (overflowing ones
 * included), and a count of 0, 1–8, a page, "huge", or "to the end ± d".
 * Offsets travel as u64 and go through src/vfio/access.ts's wireRange the
 * way the vfio-user transport does before the device sees them.
 *
 * Invariants, after every access:
 * 1. The transport helpers (u64ToOffset, wireRange) agree with exact bigint
 *    arithmetic: an offset is usable iff offset + count ≤ 2^53 − 1, and
 *    [offset, offset+count) fits a region iff offset + count ≤ its size.
 * 2. Success or error is what the independent region table predicts
 *    (docs/devices/mdpy.md and mbochs.md "Regions", and the 'upstream' mbochs BAR0 skew bounded to
 *    VRAM): unknown index → EINVAL, out of range → EFAULT; errors are
 *    VfioError with errno EFAULT or EINVAL and nothing else escapes.
 *    'upstream' config follows the samples' mdev_access() bound instead: n > 0
 *    bytes at o are answered iff o < 0xFF and o + n ≤ 0x100 (every chunk
 *    starts below 0xFF), and read 0 past the end.
 * 3. A read returns exactly `count` bytes; a failing access and every read
 *    change no state: config image, dispi registers (through guest reads),
 *    EDID registers and blob, and the touched VRAM/framebuffer range are
 *    byte-identical before and after. A successful write changes only the
 *    state of the region it addresses (config writes never touch VRAM,
 *    MMIO writes never touch EDID, …).
 * 4. Contents: BAR0/16 reads equal the mmap view (default profile: the same
 *    bytes, mdpy's padding past the sparse area [0, W·H·4) included, as it is
 *    backed like the kernel's vmalloc_user(memsize); mbochs 'upstream':
 *    the mmap view two pages further on; mdpy 'upstream': every kernel chunk
 *    reads the first bytes of the framebuffer) and writes read back
 *    (invariant 14); the EDID region follows its register/blob rules per
 *    kernel chunk (invariant 27), and the guest EDID window (BAR2
 *    0x000–0x3FF) shows the blob only while link is UP, below edid_size
 *    (invariant 26); VGA ports and holes read 0 (invariant 31).
 * 5. Region info: BAR0 (and mdpy's alias 16) is mappable with its memory
 *    and, for mdpy by default, exactly one sparse area [0, W·H·4).
 */
import fc from 'fast-check';
import { MdpyDevice } from '../../devices/mdpy/index.ts';
import { MbochsDevice, createMbochsBudget } from '../../devices/mbochs/index.ts';
import { InstanceBudget } from '../../devices/common/budget.ts';
import { u64ToOffset, wireRange } from '../../src/vfio/access.ts';
import { VfioError } from '../../src/util/errors.ts';
import type { RegionInfo } from '../../src/vfio/device.ts';
import { arbU64, pattern, u64, type U64 } from '../arb/vfio-user/header.ts';
import { VBE_DISPI_MMIO_OFFSET, VBE_DISPI_MMIO_SIZE } from '../../devices/mbochs/dispi.ts';
import { ERRNO } from '../../src/util/errno.ts';
import { defineTarget } from '../target.ts';
import { pooledMemory } from './dispi.ts';

/* ------------------------------------------------------------------------ */
/* Case                                                                      */

/** An offset: a region-relative hot spot (+ delta), an anchor + delta, or a raw u64. Negative results wrap as u64. */
export type OffsetSpec =
  | { readonly k: 'lit'; readonly v: number }
  | { readonly k: 'end' | 'mem' | 'fb' | 'skew'; readonly d: number }
  | { readonly k: 'u64'; readonly v: U64 };

/** A count: literal, or "region size − offset + d" (clamped to [0, MAX_COUNT]). */
export type CountSpec = { readonly k: 'n'; readonly v: number } | { readonly k: 'toEnd'; readonly d: number };

export type RegionOp =
  | { readonly op: 'read' | 'write'; readonly index: number; readonly off: OffsetSpec; readonly count: CountSpec; readonly seed: number }
  /** Compare BAR0's read view with its mmap view (and mdpy's alias 16) over [off, off+count). */
  | { readonly op: 'view'; readonly off: OffsetSpec; readonly count: number };

export interface RegionCase {
  readonly device: 'mdpy' | 'mbochs';
  /** mdpy: vga, xga, hd; mbochs: small, medium, large. */
  readonly type: string;
  readonly quirks: 'none' | 'upstream';
  readonly ops: readonly RegionOp[];
}

/** Largest access buffer the target allocates (the transport caps REGION_READ/WRITE at max_data_xfer_size = 1 MiB). */
const MAX_COUNT = (1 << 20) + 1;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Region-relative hot spots: the edges of the region tables, the BAR2 map and the EDID region. */
const HOT = [
  0, 1, 2, 3, 4, 7, 8, 12, 16, 20, 23, 24, 0x40, 0xfc, 0xfd, 0xfe, 0xff, 0x100, 0x3fc, 0x3ff, 0x400, 0x41f, 0x420,
  0x500, 0x514, 0x515, 0x516, 0x5ff, 0x600, 0x604, 0x607, 0x608, 0x7fc, 0x7ff, 0x800, 0x801, 0xbfc, 0xbff, 0xc00,
  0xffc, 0xfff, 0x1000, 0x1001, 0x2000, 0x3000,
];

const arbOffset: fc.Arbitrary<OffsetSpec> = fc.oneof(
  { arbitrary: fc.tuple(fc.constantFrom(...HOT), fc.integer({ min: -2, max: 2 })).map(([h, d]): OffsetSpec => ({ k: 'lit', v: h + d })), weight: 8 },
  { arbitrary: fc.record({ k: fc.constantFrom<'end' | 'mem' | 'fb' | 'skew'>('end', 'end', 'mem', 'fb', 'skew'), d: fc.integer({ min: -16, max: 4 }) }), weight: 5 },
  { arbitrary: fc.integer({ min: 0, max: 0x1000 }).map((v): OffsetSpec => ({ k: 'lit', v })), weight: 2 },
  { arbitrary: arbU64.map((v): OffsetSpec => ({ k: 'u64', v })), weight: 1 },
);

const arbCountSpec: fc.Arbitrary<CountSpec> = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 8 }).map((v): CountSpec => ({ k: 'n', v })), weight: 8 },
  { arbitrary: fc.constantFrom(16, 22, 24, 255, 256, 257, 0x400, 0x401, 4096, 4097).map((v): CountSpec => ({ k: 'n', v })), weight: 2 },
  { arbitrary: fc.constantFrom(1 << 20, MAX_COUNT).map((v): CountSpec => ({ k: 'n', v })), weight: 1 },
  { arbitrary: fc.integer({ min: -3, max: 3 }).map((d): CountSpec => ({ k: 'toEnd', d })), weight: 2 },
);

/** Indexes: mostly regions that exist, then all of 0–20 and 2^32−1 (the EINVAL gaps and extremes). */
const arbIndex: fc.Arbitrary<number> = fc.oneof(
  { arbitrary: fc.constantFrom(0, 2, 7, 9, 16), weight: 6 },
  { arbitrary: fc.integer({ min: 0, max: 20 }), weight: 3 },
  { arbitrary: fc.constant(0xffff_ffff), weight: 1 },
);

const arbOp: fc.Arbitrary<RegionOp> = fc.oneof(
  {
    arbitrary: fc.record({ op: fc.constantFrom<'read' | 'write'>('read', 'write'), index: arbIndex, off: arbOffset, count: arbCountSpec, seed: fc.nat() }),
    weight: 10,
  },
  {
    arbitrary: fc.record({
      op: fc.constant('view' as const),
      off: fc.oneof(arbOffset, fc.integer({ min: 0, max: 8 << 20 }).map((v): OffsetSpec => ({ k: 'lit', v }))),
      count: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.constantFrom(4096, 65536)),
    }),
    weight: 1,
  },
);

export const arbRegionCase: fc.Arbitrary<RegionCase> = fc
  .record({
    device: fc.constantFrom<'mdpy' | 'mbochs'>('mdpy', 'mbochs'),
    size: fc.oneof({ arbitrary: fc.constant(0), weight: 6 }, { arbitrary: fc.constant(1), weight: 2 }, { arbitrary: fc.constant(2), weight: 1 }),
    quirks: fc.constantFrom<'none' | 'upstream'>('none', 'upstream'),
    ops: fc.array(arbOp, { maxLength: 32, size: 'medium' }),
  })
  .map(({ device, size, quirks, ops }): RegionCase => ({
    device,
    type: (device === 'mdpy' ? ['vga', 'xga', 'hd'] : ['small', 'medium', 'large'])[size]!,
    quirks,
    ops,
  }));

export const countRegionAccesses = (c: RegionCase): number => c.ops.length;

/* ------------------------------------------------------------------------ */
/* Independent device facts                                                  */

class Violation extends Error {
  constructor(invariant: string, detail: string) {
    super(`invariant violated: ${invariant}: ${detail}`);
    this.name = 'InvariantViolation';
  }
}

const { EFAULT, EINVAL } = ERRNO;
const DISPI = VBE_DISPI_MMIO_OFFSET, DISPI_END = VBE_DISPI_MMIO_OFFSET + VBE_DISPI_MMIO_SIZE;
const MiB = 1 << 20;

interface Facts {
  readonly memsize: number;
  /** mdpy: W·H·4 (the sparse area by default); mbochs: memsize. */
  readonly fbSize: number;
  readonly cfgSize: number;
  /** index → size; absent = not a region (EINVAL). */
  readonly sizes: ReadonlyMap<number, number>;
  /** 'upstream' mbochs: BAR0 read()/write() land this much further (mbochs.c mdev_access()). */
  readonly skew: number;
  readonly maxRes: readonly [number, number];
}

function factsOf(c: RegionCase): Facts {
  const upstream = c.quirks === 'upstream';
  const cfgSize = upstream ? 255 : 256;
  const sizes = new Map<number, number>();
  if (c.device === 'mdpy') {
    const [w, h] = ({ vga: [640, 480], xga: [1024, 768], hd: [1920, 1080] } as Record<string, [number, number]>)[c.type]!;
    const fbSize = w * h * 4;
    let memsize = 1;
    while (memsize < fbSize) memsize *= 2;
    for (const i of [1, 2, 3, 4, 5, 6, 8]) sizes.set(i, 0);
    sizes.set(0, memsize);
    sizes.set(16, memsize);
    sizes.set(7, cfgSize);
    return { memsize, fbSize, cfgSize, sizes, skew: 0, maxRes: [0, 0] };
  }
  const memsize = ({ small: 4, medium: 16, large: 64 } as Record<string, number>)[c.type]! * MiB;
  for (const i of [1, 3, 4, 5, 6, 8]) sizes.set(i, 0);
  sizes.set(0, memsize);
  sizes.set(2, 0x1000);
  sizes.set(7, cfgSize);
  sizes.set(9, 0x1000);
  const maxRes = ({ small: [800, 600], medium: [1920, 1440], large: [0, 0] } as Record<string, [number, number]>)[c.type]!;
  return { memsize, fbSize: memsize, cfgSize, sizes, skew: upstream ? 0x2000 : 0, maxRes };
}

function resolveOffset(f: Facts, index: number, o: OffsetSpec): bigint {
  // BAR0 anchors name the region end on every other region (memsize, W·H·4 and the skew end mean nothing there).
  const bar0 = index === 0 || index === 16;
  switch (o.k) {
    case 'lit': return BigInt.asUintN(64, BigInt(o.v));
    case 'end': return BigInt.asUintN(64, BigInt((f.sizes.get(index) ?? 0) + o.d));
    case 'mem': return BigInt.asUintN(64, BigInt((bar0 ? f.memsize : f.sizes.get(index) ?? 0) + o.d));
    case 'fb': return BigInt.asUintN(64, BigInt((bar0 ? f.fbSize : f.sizes.get(index) ?? 0) + o.d));
    case 'skew': return BigInt.asUintN(64, BigInt((bar0 ? f.memsize - 0x2000 : f.sizes.get(index) ?? 0) + o.d));
    case 'u64': return u64(o.v);
  }
}

function resolveCount(f: Facts, index: number, off: bigint, c: CountSpec): number {
  const raw = c.k === 'n' ? c.v : Number(BigInt(f.sizes.get(index) ?? 0) - (off > MAX_SAFE ? MAX_SAFE : off)) + c.d;
  return Math.max(0, Math.min(MAX_COUNT, raw));
}

/* ------------------------------------------------------------------------ */
/* Shadow of the host-visible EDID region (mbochs region 9, handle_edid_*())  */

interface EdidShadow { size: number; link: number; readonly blob: Uint8Array }

/** Kernel loop chunks: 4 if ≥ 4 left and 4-aligned, else 2 if ≥ 2 left and 2-aligned, else 1. */
function chunks(offset: number, count: number): { pos: number; size: number }[] {
  const out: { pos: number; size: number }[] = [];
  for (let pos = offset, left = count; left > 0;) {
    const size = left >= 4 && pos % 4 === 0 ? 4 : left >= 2 && pos % 2 === 0 ? 2 : 1;
    out.push({ pos, size });
    pos += size;
    left -= size;
  }
  return out;
}

const le32 = (b: Uint8Array, at: number): number => ((b[at] ?? 0) | ((b[at + 1] ?? 0) << 8) | ((b[at + 2] ?? 0) << 16)) + (b[at + 3] ?? 0) * 0x1000000;

function edidRead(f: Facts, e: EdidShadow, offset: number, count: number): Uint8Array {
  const out = new Uint8Array(count);
  for (const { pos, size } of chunks(offset, count)) {
    if (pos < 0x800) {
      if (size !== 4 || pos % 4 !== 0 || pos + 4 > 24) continue;
      const v = [0x800, 0x400, e.size, f.maxRes[0], f.maxRes[1], e.link][pos / 4]!;
      for (let k = 0; k < 4; k++) out[pos - offset + k] = Math.floor(v / 2 ** (8 * k)) & 0xff;
    } else if (pos - 0x800 + size <= 0x400) {
      out.set(e.blob.subarray(pos - 0x800, pos - 0x800 + size), pos - offset);
    }
  }
  return out;
}

function edidWrite(e: EdidShadow, offset: number, data: Uint8Array): void {
  for (const { pos, size } of chunks(offset, data.length)) {
    if (pos < 0x800) {
      if (size !== 4 || pos % 4 !== 0 || pos + 4 > 24) continue;
      if (pos === 8) e.size = le32(data, pos - offset);
      if (pos === 20) e.link = le32(data, pos - offset);
    } else if (pos - 0x800 + size <= 0x400) {
      e.blob.set(data.subarray(pos - offset, pos - offset + size), pos - 0x800);
    }
  }
}

/* ------------------------------------------------------------------------ */
/* The run                                                                   */

type Device = MdpyDevice | MbochsDevice;

interface World {
  readonly c: RegionCase;
  readonly f: Facts;
  readonly dev: Device;
  /** BAR0's mmap backing (region offset r ↔ bytes[r]). */
  readonly mem: () => Uint8Array;
  readonly edid: EdidShadow;
}

/** Cheap state digest: config image, dispi registers (guest reads), EDID registers + blob, a window of VRAM (copies). */
interface Digest { readonly config: Uint8Array; readonly dispi: Uint8Array; readonly edid: Uint8Array; readonly mem: Uint8Array }

const same = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** `count` bytes of a 4 KiB pattern block repeated (writing megabytes of fresh pseudo-random bytes costs more than it finds). */
function fillPattern(count: number, seed: number): Uint8Array {
  const block = pattern(Math.min(count, 4096), seed);
  const out = new Uint8Array(count);
  for (let at = 0; at < count; at += block.length) out.set(block.subarray(0, Math.min(block.length, count - at)), at);
  return out;
}

function readOk(w: World, index: number, offset: number, count: number): Uint8Array {
  const b = new Uint8Array(count);
  w.dev.regionRead(index, offset, b);
  return b;
}

/** The VRAM/framebuffer bytes an access at `off` of `count` bytes could touch, plus the first 8 (mdpy 'upstream' writes there). */
function memWindow(w: World, off: number | undefined, count: number): Uint8Array {
  const m = w.mem();
  const head = m.subarray(0, 8);
  if (off === undefined) return head.slice();
  const lo = Math.max(0, off - 8);
  const hi = Math.min(m.length, off + w.f.skew + count + 8);
  const win = lo < hi ? m.subarray(lo, hi) : new Uint8Array(0);
  const out = new Uint8Array(head.length + win.length);
  out.set(head);
  out.set(win, head.length);
  return out;
}

const NONE = new Uint8Array(0);

function digest(w: World, off: number | undefined, count: number): Digest {
  const config = readOk(w, 7, 0, w.f.cfgSize);
  let dispi = NONE;
  let edid = NONE;
  if (w.c.device === 'mbochs') {
    dispi = new Uint8Array(VBE_DISPI_MMIO_SIZE);
    for (let i = 0; i < VBE_DISPI_MMIO_SIZE / 2; i++) dispi.set(readOk(w, 2, DISPI + 2 * i, 2), 2 * i);
    edid = new Uint8Array(24 + 0x400);
    edid.set(readOk(w, 9, 0, 24));
    edid.set(readOk(w, 9, 0x800, 0x400), 24);
  }
  return { config, dispi, edid, mem: memWindow(w, off, count) };
}

function compareDigest(invariant: string, where: string, a: Digest, b: Digest, except: keyof Digest | undefined): void {
  for (const k of ['config', 'dispi', 'edid', 'mem'] as const) {
    if (k === except) continue;
    if (!same(a[k], b[k])) throw new Violation(invariant, `${where}: ${k} changed`);
  }
}

/** The expected outcome of a device access at a safe offset: undefined = success, else the errno. */
function expectedErrno(w: World, index: number, off: number, count: number): number | undefined {
  const size = w.f.sizes.get(index);
  if (size === undefined) return EINVAL;
  if (index === 7 && w.c.quirks === 'upstream') {
    // mdpy.c / mbochs.c mdev_access(): a chunk is answered when it starts below 0xff (so accesses may end at 0x100).
    const answered = count === 0 ? off <= size : off < size && off + count <= 0x100;
    return answered ? undefined : EFAULT;
  }
  if (off + count > size) return EFAULT;
  if (index === 0 && w.f.skew > 0 && off + w.f.skew + count > size) return EFAULT;
  return undefined;
}

function checkReadContent(w: World, index: number, off: number, got: Uint8Array, where: string): void {
  const { f, c } = w;
  const mem = w.mem();
  if (index === 0 || index === 16) {
    if (c.device === 'mdpy' && c.quirks === 'upstream') {
      // The sample's BAR bug: each kernel chunk reads framebuffer bytes [0, chunk) whatever the offset (mdpy.c mdev_access()).
      for (const ch of chunks(off, got.length)) {
        for (let k = 0; k < ch.size; k++) {
          if (got[ch.pos - off + k] !== mem[k]) throw new Violation("mdpy 'upstream': every chunk reads the first framebuffer bytes", `${where}: chunk at ${ch.pos}`);
        }
      }
      return;
    }
    const base = off + f.skew;
    if (same(got, mem.subarray(base, base + got.length))) return;
    for (let k = 0; k < got.length; k++) {
      const p = base + k;
      const want = mem[p];
      if (got[k] !== want) {
        throw new Violation(
          f.skew > 0 ? "mbochs 'upstream': BAR0 read() sees the mmap view two pages further on" : c.device === 'mdpy' ? 'BAR0 reads equal the memory behind the mmap view, padding included' : 'BAR0 reads equal the mmap view (invariant 8)',
          `${where}: byte ${off + k} reads 0x${got[k]!.toString(16)}, mmap view 0x${(want ?? -1).toString(16)}`,
        );
      }
    }
    return;
  }
  if (index === 7) {
    // The config image where it exists; 'upstream' reads past the 0xff bytes return 0 (the sample copies slab padding there).
    const image = readOk(w, 7, 0, f.cfgSize);
    for (let k = 0; k < got.length; k++) {
      const want = image[off + k] ?? 0;
      if (got[k] !== want) throw new Violation('config reads return the config image, and 0 past its end', `${where}: byte 0x${(off + k).toString(16)} reads 0x${got[k]!.toString(16)}, expected 0x${want.toString(16)}`);
    }
    return;
  }
  if (index === 9 && c.device === 'mbochs') {
    const want = edidRead(f, w.edid, off, got.length);
    const k = want.findIndex((b, i) => b !== got[i]);
    if (k >= 0) throw new Violation('EDID region reads follow the register/blob rules per chunk (invariant 27)', `${where}: byte ${off + k} reads 0x${got[k]!.toString(16)}, expected 0x${want[k]!.toString(16)}`);
    return;
  }
  if (index === 2 && c.device === 'mbochs') {
    for (const ch of chunks(off, got.length)) {
      for (let k = 0; k < ch.size; k++) {
        const p = ch.pos + k;
        let want: number | undefined;
        if (ch.pos < 0x400) want = w.edid.link === 1 && p < Math.min(w.edid.size, 0x400) ? w.edid.blob[p] : 0;
        else if (ch.pos < DISPI || ch.pos >= DISPI_END) want = 0; // VGA ports, holes, qext without qext
        if (want !== undefined && got[p - off] !== want) {
          throw new Violation(ch.pos < 0x400 ? 'the guest EDID window shows the blob only while link is UP, below edid_size (invariant 26)' : 'VGA ports, qext (sample) and holes read 0 (invariant 31)', `${where}: byte 0x${p.toString(16)} reads 0x${got[p - off]!.toString(16)}, expected 0x${want.toString(16)}`);
        }
      }
    }
  }
}

function checkWriteEffect(w: World, index: number, off: number, data: Uint8Array, where: string): void {
  const { f, c } = w;
  const mem = w.mem();
  if (index === 0 || index === 16) {
    if (c.device === 'mdpy' && c.quirks === 'upstream') return; // lands at [0, chunk): covered by the read rule
    const base = off + f.skew;
    if (!same(mem.subarray(base, base + data.length), data)) {
      throw new Violation('a BAR0 write lands in the memory behind the mmap view at its offset (invariant 14)', `${where}: [${off}, +${data.length})`);
    }
    const back = new Uint8Array(data.length);
    w.dev.regionRead(index, off, back);
    if (!same(back, data)) throw new Violation('BAR0 reads back what was written, padding included (invariant 14)', `${where}: [${off}, +${data.length})`);
  }
  if (index === 9 && c.device === 'mbochs') edidWrite(w.edid, off, data);
}

/** Outcome counts across every case run in this process (tests assert the campaign reaches each). */
export const regionCoverage: Record<string, number> = {};
const cover = (event: string): void => { regionCoverage[event] = (regionCoverage[event] ?? 0) + 1; };

function runAccess(w: World, op: Extract<RegionOp, { op: 'read' | 'write' }>, where: string): void {
  const { f } = w;
  const big = resolveOffset(f, op.index, op.off);
  const count = resolveCount(f, op.index, big, op.count);
  // 1. The transport helpers, against exact bigint arithmetic.
  const usable = big + BigInt(count) <= MAX_SAFE;
  const asOffset = u64ToOffset(big);
  if ((asOffset !== undefined) !== (big <= MAX_SAFE) || (asOffset !== undefined && BigInt(asOffset) !== big)) {
    throw new Violation('u64ToOffset maps exactly the safe u64s', `${where}: 0x${big.toString(16)} → ${asOffset}`);
  }
  const wire = wireRange(big, count, Number.MAX_SAFE_INTEGER);
  if ((wire !== undefined) !== usable) throw new Violation('wireRange(offset, count, 2^53−1) accepts iff offset + count ≤ 2^53−1', `${where}: 0x${big.toString(16)} + ${count}`);
  const size = f.sizes.get(op.index);
  if (size !== undefined) {
    const fits = wireRange(big, count, size);
    if ((fits !== undefined) !== (big + BigInt(count) <= BigInt(size))) {
      throw new Violation('wireRange(offset, count, size) accepts iff offset + count ≤ size, without overflow', `${where}: 0x${big.toString(16)} + ${count} vs ${size}`);
    }
  }
  const off = wire;
  const before = digest(w, off, count);
  cover(off === undefined ? 'transport-efault' : `${op.op} ${op.index > 20 ? 'bad-index' : op.index}: ${expectedErrno(w, op.index, off, count) === undefined ? 'ok' : expectedErrno(w, op.index, off, count) === EFAULT ? 'EFAULT' : 'EINVAL'}${count === 0 ? ' (count 0)' : ''}`);
  if (off === undefined) {
    // The transport refuses (EFAULT) before the device sees the access; nothing may change.
    compareDigest('a refused access changes no state', where, before, digest(w, off, count), undefined);
    return;
  }
  const want = expectedErrno(w, op.index, off, count);
  const data = op.op === 'write' ? fillPattern(count, op.seed) : new Uint8Array(count).fill(0xa5);
  let error: VfioError | undefined;
  try {
    if (op.op === 'read') w.dev.regionRead(op.index, off, data);
    else w.dev.regionWrite(op.index, off, data);
  } catch (e) {
    if (!(e instanceof VfioError)) throw new Violation('region accesses throw only VfioError', `${where}: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    error = e;
  }
  if (error !== undefined) {
    if (error.errno !== EFAULT && error.errno !== EINVAL) throw new Violation('region access errors are EFAULT or EINVAL', `${where}: ${error.message}`);
    if (want === undefined) throw new Violation('an access inside a region succeeds', `${where}: ${error.message}`);
    if (error.errno !== want) throw new Violation('unknown index → EINVAL, out of range → EFAULT', `${where}: ${error.message}, expected errno ${want}`);
    compareDigest('a failing access changes no state (invariant 2)', where, before, digest(w, off, count), undefined);
    return;
  }
  if (want !== undefined) throw new Violation(want === EINVAL ? 'an index that is not a region fails with EINVAL' : 'an access outside its region fails with EFAULT (invariant 2)', `${where}: succeeded`);
  if (op.op === 'read') {
    if (data.length !== count) throw new Violation('a read returns exactly count bytes (invariant 1)', where);
    compareDigest('a read changes no state', where, before, digest(w, off, count), undefined);
    checkReadContent(w, op.index, off, data, where);
    return;
  }
  const region: keyof Digest | undefined = op.index === 7 ? 'config' : op.index === 2 ? 'dispi' : op.index === 9 ? 'edid' : op.index === 0 || op.index === 16 ? 'mem' : undefined;
  compareDigest('a write changes only the region it addresses', where, before, digest(w, off, count), region);
  checkWriteEffect(w, op.index, off, data, where);
}

function runView(w: World, op: Extract<RegionOp, { op: 'view' }>, where: string): void {
  const big = resolveOffset(w.f, 0, op.off);
  if (big + BigInt(op.count) > BigInt(w.f.memsize - w.f.skew)) return;
  const off = Number(big);
  const a = new Uint8Array(op.count);
  w.dev.regionRead(0, off, a);
  checkReadContent(w, 0, off, a, where);
  if (w.c.device === 'mdpy') {
    const b = new Uint8Array(op.count);
    w.dev.regionRead(16, off, b);
    if (!same(a, b)) throw new Violation('mdpy region 16 reads equal region 0 (invariant 9)', where);
  }
}

function checkRegionInfo(w: World): void {
  const { f, c, dev } = w;
  const check = (info: RegionInfo, index: number): void => {
    const where = `region ${index} info`;
    if (info.size !== f.memsize || (info.flags & 7) !== 7 || info.mmap === undefined) {
      throw new Violation('BAR0 is R|W|MMAP over memsize (invariants 8, 9)', `${where}: size ${info.size} flags ${info.flags}`);
    }
    if (info.mmap.memoryOffset !== 0 || info.mmap.memory.bytes !== w.mem()) throw new Violation('BAR0 maps the device memory from its start', where);
    const sparse = info.caps.filter((cap) => cap.kind === 'sparse-mmap');
    if (c.device === 'mdpy' && c.quirks === 'none') {
      const areas = sparse[0]?.kind === 'sparse-mmap' ? sparse[0].areas : [];
      if (sparse.length !== 1 || areas.length !== 1 || areas[0]!.offset !== 0 || areas[0]!.size !== f.fbSize) {
        throw new Violation('mdpy BAR0 has one sparse area [0, W·H·4)', `${where}: ${JSON.stringify(info.caps)}`);
      }
    } else if (sparse.length !== 0) {
      throw new Violation('a whole-region mapping carries no sparse cap', `${where}: ${JSON.stringify(info.caps)}`);
    }
  };
  check(dev.regionInfo(0), 0);
  if (c.device === 'mdpy') check(dev.regionInfo(16), 16);
}

export function checkRegionCase(c: RegionCase): void {
  const f = factsOf(c);
  const dev: Device = c.device === 'mdpy'
    ? new MdpyDevice(c.type, { quirks: c.quirks, budget: new InstanceBudget({ total: 4, errno: 'EUSERS' }), memory: regionMemory })
    : new MbochsDevice(c.type, { quirks: c.quirks, budget: createMbochsBudget(256), memory: regionMemory });
  try {
    const info0 = dev.regionInfo(0);
    const memory = info0.mmap?.memory;
    if (memory === undefined) throw new Violation('BAR0 is mappable', 'no mmap backing');
    const w: World = { c, f, dev, mem: () => memory.bytes, edid: { size: 0, link: 0, blob: new Uint8Array(0x400) } };
    checkRegionInfo(w);
    c.ops.forEach((op, i) => {
      const where = `op ${i} (${opText(c, f, op)})`;
      if (op.op === 'view') runView(w, op, where);
      else runAccess(w, op, where);
    });
    checkRegionInfo(w);
  } finally {
    dev.destroy();
  }
}

/** Region target memory: pooled, zero-filled on reuse (accesses write VRAM). */
const regionMemory = pooledMemory(true);

/* ------------------------------------------------------------------------ */
/* Description                                                               */

function offText(o: OffsetSpec): string {
  switch (o.k) {
    case 'lit': return o.v < 0 ? `${o.v} (wraps)` : `0x${o.v.toString(16)}`;
    case 'u64': return `0x${u64(o.v).toString(16)}`;
    default: return `${o.k}${o.d >= 0 ? '+' : ''}${o.d}`;
  }
}

function opText(c: RegionCase, f: Facts, op: RegionOp): string {
  if (op.op === 'view') return `view BAR0 @${offText(op.off)} +${op.count}`;
  const big = resolveOffset(f, op.index, op.off);
  const count = resolveCount(f, op.index, big, op.count);
  void c;
  return `${op.op} region ${op.index} @${offText(op.off)} = 0x${big.toString(16)} +${count}${op.count.k === 'toEnd' ? ` (to end ${op.count.d >= 0 ? '+' : ''}${op.count.d})` : ''}`;
}

export function describeRegionCase(c: RegionCase): string {
  const f = factsOf(c);
  return [`${c.device}-${c.type} quirks ${c.quirks}`, ...c.ops.map((op, i) => `  ${i}: ${opText(c, f, op)}`)].join('\n');
}

export default defineTarget<RegionCase>({
  name: 'region',
  description: 'region read/write on mdpy and mbochs at every boundary, u64 offsets: errnos, no state change on failure, views',
  arbitrary: arbRegionCase,
  check: checkRegionCase,
  describe: describeRegionCase,
  unit: { name: 'accesses', count: countRegionAccesses },
  coverage: {
    labels: (c: RegionCase) => c.ops.map((o) => (o.op === 'view' ? `${c.device}:view:${o.off.k}` : `${c.device}/${c.quirks}:${o.op}:region ${o.index}:${o.off.k}`)),
  },
});
