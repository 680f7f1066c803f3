/**
 * Fuzz target `dispi`: the mbochs display engine (docs/devices/mbochs.md;
 * QEMU hw/display/vga.c for strict; invariants 15–26 of docs/devices/invariants.md).
 *
 * A case is an MbochsDevice (random type, quirks 'none'/'upstream', vbe
 * 'sample'/'strict', qext when strict, a small or the default dmabuf limit;
 * private budget, destroyed at the end) and a sequence of operations:
 * MMIO accesses over BAR2 (dispi indexes 0–15 at sizes 1/2/4 and odd
 * offsets, bochs-drm style mode sets and pans, VGA window, bochs_hw_blank()
 * sequences with and without the colour write, qext, EDID window, holes,
 * multi-byte accesses that the kernel loop splits), host EDID
 * updates, PRIMARY/CURSOR/other plane queries with edge flags and argsz,
 * GET_GFX_DMABUF of returned, stale and unknown ids, handle releases in
 * random order, VFIO reset and closeDevice.
 *
 * The oracle is independent of devices/mbochs: it keeps a shadow of the
 * eleven dispi registers written from mbochs.c handle_mmio_write() (sample:
 * verbatim u16, 2-byte accesses only) and QEMU hw/display/vga.c
 * vbe_ioport_write_data() (strict: QEMU's ID whitelist, BANK mask,
 * ENABLE edge, fixup, GETCAPS reads, split into 16-bit halves), strict: the
 * VGA ports of QEMU vga_ioport_read()/vga_ioport_write() that decide blanking
 * (misc output colour bit, the attribute flip-flop and index with its PAS
 * bit 0x20, input status 1), the qext byte
 * order, the EDID link/size/blob, and the dmabuf table as the documented
 * bounded LRU of mode records (docs/devices/mbochs.md "Plane query and dmabufs").
 *
 * Invariants, after every operation:
 * 1. Only the documented calls throw, and only VfioError: queryGfxPlane
 *    (EINVAL for argsz/flags, ENOMEM on 'upstream' first queries or a table
 *    full of exported records), getGfxDmabuf (ENOENT, EINVAL), an MMIO access
 *    past the 4 KiB BAR (EFAULT). In-range accesses, reset, closeDevice,
 *    handle release and destroy never throw.
 * 2. Every guest read of BAR2 equals the oracle: dispi registers (invariant
 *    16: sample non-16-bit accesses read 0; strict GETCAPS/VIDEO_MEM rules),
 *    sample: 0 for VGA ports, holes and 0x600–0x607 (invariant 31); strict:
 *    the VGA port model, all ones for holes and (without qext) 0x600–0x607
 *    (QEMU's unassigned_io_ops container), and the upper half of a 4-byte
 *    read at 0x514 reads 0 (dispi index 11),
 *    qext size 8 and the byte-order magic, EDID window gated on link UP and
 *    edid_size (invariant 26). Strict: the shadow registers satisfy QEMU's
 *    fixup bounds whenever ENABLED is set (invariant 17).
 * 3. Plane queries: the flag/argsz classification of mbochs_query_gfx_plane() (invariant 21);
 *    non-PRIMARY types and invalid modes give the all-zero empty plane; a
 *    PRIMARY query is non-empty iff mbochs_check_framebuffer() on the shadow registers
 *    says so (invariant 18) and, strict, the shadow attribute index has PAS set
 *    (QEMU vga_update_display() blanks otherwise), with exactly that format, width, height, stride
 *    and size, stride·height ≤ size ≤ VRAM (invariant 11).
 * 4. Ids (invariants 19, 20): the same mode record yields the same id while
 *    its record is in the table; a new record gets exactly the next id
 *    (strictly increasing from 1, never reused, across closeDevice too); an
 *    id never changes geometry. activeDmabufId follows PRIMARY queries.
 * 5. GET_GFX_DMABUF (invariant 22) succeeds iff the id is in the table and
 *    its offset is page aligned; the export has the record's geometry, lies
 *    inside VRAM and shares the VRAM memory (invariant 23); it changes no
 *    register.
 * 6. Resources (invariants 24, 25): dmabufStats equals the model (records ≤
 *    limit, live records, live handles, pinned pages = Σ ⌈size/4096⌉ of
 *    exported records) after every step; releasing every handle and
 *    closeDevice brings all counters to 0; a second release is a no-op.
 *    destroy() returns the budget; VRAM lives until the last handle goes.
 * 7. Reset (invariants 15, 29): registers back to ID 0xB0C5, VIDEO_MEM =
 *    memsize/64K, rest 0; qext byte order little endian; strict VGA ports
 *    to QEMU vga_common_reset() (all 0: monochrome, PAS clear, blank);
 *    dmabuf table, handles and EDID untouched.
 */
import fc from 'fast-check';
import { MbochsDevice, createMbochsBudget } from '../../devices/mbochs/index.ts';
import type { Memory, MemoryFactory } from '../../src/vfio/memory.ts';
import type { DmabufExport, GfxPlaneInfo, GfxPlaneResult } from '../../src/vfio/device.ts';
import { VfioError } from '../../src/util/errors.ts';
import { VBE_DISPI_MMIO_OFFSET, VBE_DISPI_MMIO_SIZE } from '../../devices/mbochs/dispi.ts';
import { ERRNO, errnoName } from '../../src/util/errno.ts';
import { DRM_FORMAT_BGRX8888, DRM_FORMAT_XRGB8888 } from '../../src/vfio/uapi.ts';
import { defineTarget } from '../target.ts';

/* ------------------------------------------------------------------------ */
/* Case                                                                      */

export type MbochsTypeName = 'small' | 'medium' | 'large';

export type DispiOp =
  /** A guest MMIO access of `count` bytes (1–8, or more) at BAR2 `offset`; the kernel loop splits it. */
  | { readonly op: 'read'; readonly offset: number; readonly count: number }
  | { readonly op: 'write'; readonly offset: number; readonly data: Uint8Array }
  /** dispi register `index` (0–15) at 0x500 + 2·index (+1 when odd), `size` bytes of `value`. */
  | { readonly op: 'reg'; readonly index: number; readonly size: number; readonly odd: boolean; readonly value: number; readonly read: boolean }
  /** A bochs-drm mode set: [ENABLE 0,] BPP, XRES, YRES, VIRT_WIDTH, X, Y, ENABLE (2-byte writes). */
  | {
    readonly op: 'mode'; readonly bpp: number; readonly xres: number; readonly yres: number; readonly virt: number;
    readonly x: number; readonly y: number; readonly enable: number; readonly disableFirst: boolean;
  }
  /**
   * bochs_hw_blank(): [misc output := colour,] read input status 1, write 0x00 (blank) or 0x20 (unblank) to 0x3C0,
   * 1-byte accesses through BAR2 0x400–0x41F. Without `color` it is the driver before Linux 6.1 (commit e740ceb53e45).
   */
  | { readonly op: 'blank'; readonly blank: boolean; readonly color: boolean }
  /** Pan: X_OFFSET and Y_OFFSET only (mode churn: the dmabuf table must stay bounded). */
  | { readonly op: 'pan'; readonly x: number; readonly y: number }
  /**
   * Mode churn (a bounded dmabuf table, invariant 25): `steps` times pan to (x + i·dx, y + i·dy), query PRIMARY,
   * and export the returned id when `exportEvery` > 0 and i % exportEvery = 0.
   */
  | { readonly op: 'churn'; readonly steps: number; readonly x: number; readonly y: number; readonly dx: number; readonly dy: number; readonly exportEvery: number }
  /** Host EDID update through region 9: link_state, edid_size, blob bytes at `at`. */
  | { readonly op: 'edid'; readonly link: number; readonly size: number; readonly at: number; readonly blob: Uint8Array }
  | { readonly op: 'query'; readonly planeType: number; readonly flags: number; readonly argsz: number }
  /** GET_GFX_DMABUF of an id issued before (pick mod the ids seen), or of `raw` when raw ≥ 0. */
  | { readonly op: 'export'; readonly pick: number; readonly raw: number }
  /** Release a live handle (pick mod the live handles), or release an already released one again. */
  | { readonly op: 'release'; readonly pick: number; readonly again: boolean }
  | { readonly op: 'reset' }
  | { readonly op: 'close' };

export interface DispiCase {
  readonly type: MbochsTypeName;
  readonly quirks: 'none' | 'upstream';
  readonly vbe: 'sample' | 'strict';
  /** QEMU extended registers (honoured only with vbe 'strict'). */
  readonly qext: boolean;
  /** Most dmabuf mode records (0 = the default, 64). */
  readonly dmabufLimit: number;
  readonly ops: readonly DispiOp[];
  /** Order in which the remaining handles are released at the end (sort keys). */
  readonly releaseOrder: readonly number[];
  /** Destroy the device before releasing the remaining handles (VRAM must outlive it). */
  readonly destroyFirst: boolean;
}

const MiB = 1 << 20;
const MEMSIZE: Record<MbochsTypeName, number> = { small: 4 * MiB, medium: 16 * MiB, large: 64 * MiB };
const MAX_RES: Record<MbochsTypeName, [number, number]> = { small: [800, 600], medium: [1920, 1440], large: [0, 0] };

/* ------------------------------------------------------------------------ */
/* Memory                                                                    */

/**
 * Device memory from a per-size pool: allocating (and freeing) 4–64 MiB of
 * zeroed heap per case dominated the campaign's time. After close() the
 * memory's bytes are empty (as HeapMemory's) and the buffer goes back to the
 * pool. With `zero` a reused buffer is zero-filled, exactly like fresh
 * memory; without, it is handed out as the last user left it — only for
 * callers that never write non-zero bytes to it (the dispi target makes no
 * BAR0 access; the device itself only ever writes zeros to VRAM, on a strict
 * ENABLE edge), so a reused buffer is all zeros anyway.
 */
export function pooledMemory(zero: boolean): MemoryFactory {
  const pool = new Map<number, Uint8Array[]>();
  return (_name, size) => {
    let buf = pool.get(size)?.pop();
    if (buf === undefined) buf = new Uint8Array(size);
    else if (zero) buf.fill(0);
    const backing = buf;
    let bytes = backing;
    let closed = false;
    const m: Memory = {
      size,
      get bytes() { return bytes; },
      fd: undefined,
      close() {
        if (closed) return;
        closed = true;
        bytes = new Uint8Array(0);
        let list = pool.get(size);
        if (list === undefined) { list = []; pool.set(size, list); }
        if (list.length < 2) list.push(backing);
      },
    };
    return m;
  };
}

/** The dispi target's pool (never zeroed: see {@link pooledMemory}). */
const dispiMemory = pooledMemory(false);

/* ------------------------------------------------------------------------ */
/* Arbitraries                                                               */

const u16 = fc.integer({ min: 0, max: 0xffff });

/** Values a register is likely to care about, plus anything. */
const arbRegValue: fc.Arbitrary<number> = fc.oneof(
  { arbitrary: fc.constantFrom(0, 1, 8, 32, 64, 0x41, 0xc1, 0x43, 640, 1024, 4096, 16000, 16001, 0xb0c0, 0xb0c5, 0xb0c6, 0xffff), weight: 3 },
  { arbitrary: u16, weight: 2 },
);

const arbMode: fc.Arbitrary<DispiOp> = fc.record({
  op: fc.constant('mode' as const),
  bpp: fc.oneof({ arbitrary: fc.constant(32), weight: 6 }, { arbitrary: fc.constantFrom(0, 4, 8, 15, 16, 24, 33), weight: 1 }),
  xres: fc.oneof(
    { arbitrary: fc.constantFrom(64, 640, 800, 1024, 1280, 1920), weight: 4 },
    { arbitrary: fc.integer({ min: 0, max: 2100 }), weight: 2 },
    { arbitrary: fc.constantFrom(0, 63, 65, 16000, 16384, 0xffff), weight: 1 },
  ),
  yres: fc.oneof(
    { arbitrary: fc.constantFrom(64, 480, 600, 768, 1024, 1080), weight: 4 },
    { arbitrary: fc.integer({ min: 0, max: 1600 }), weight: 2 },
    { arbitrary: fc.constantFrom(0, 63, 65, 12000, 0xffff), weight: 1 },
  ),
  virt: fc.oneof({ arbitrary: fc.constant(0), weight: 4 }, { arbitrary: fc.constantFrom(1024, 2048, 4096), weight: 1 }, { arbitrary: u16, weight: 1 }),
  x: fc.oneof({ arbitrary: fc.constant(0), weight: 4 }, { arbitrary: fc.constantFrom(1, 8, 1024, 16000), weight: 1 }, { arbitrary: u16, weight: 1 }),
  y: fc.oneof({ arbitrary: fc.constant(0), weight: 4 }, { arbitrary: fc.integer({ min: 1, max: 2000 }), weight: 1 }, { arbitrary: u16, weight: 1 }),
  enable: fc.oneof(
    { arbitrary: fc.constantFrom(0x41, 0xc1, 0x01), weight: 6 },
    { arbitrary: fc.constantFrom(0x00, 0x02, 0x03, 0x43, 0x21, 0x80), weight: 1 },
  ),
  disableFirst: fc.boolean(),
});

/** BAR2 offsets where something happens (docs/devices/mbochs.md "BAR2"): every subregion edge. */
const HOT_MMIO = [
  0x000, 0x001, 0x002, 0x004, 0x07f, 0x080, 0x0ff, 0x100, 0x3fc, 0x3fd, 0x3fe, 0x3ff, 0x400, 0x401, 0x402, 0x40a, 0x40c,
  0x418, 0x41a, 0x41c, 0x41f, 0x420,
  0x4fe, 0x4ff, 0x500, 0x501, 0x502, 0x508, 0x50e, 0x512, 0x513, 0x514, 0x515, 0x516, 0x517, 0x518, 0x51e, 0x5ff,
  0x600, 0x601, 0x602, 0x603, 0x604, 0x605, 0x606, 0x607, 0x608, 0xffc, 0xffd, 0xffe, 0xfff, 0x1000,
];

const arbMmioOffset: fc.Arbitrary<number> = fc.oneof(
  { arbitrary: fc.constantFrom(...HOT_MMIO), weight: 4 },
  { arbitrary: fc.integer({ min: 0x500, max: 0x51f }), weight: 3 },
  { arbitrary: fc.integer({ min: 0, max: 0xfff }), weight: 1 },
);

const arbCount: fc.Arbitrary<number> = fc.oneof(
  { arbitrary: fc.constantFrom(1, 2, 4), weight: 6 },
  { arbitrary: fc.integer({ min: 0, max: 8 }), weight: 2 },
  { arbitrary: fc.constantFrom(22, 32, 0x400, 0x1000), weight: 1 },
);

/** Bytes of a qext byte-order write: the two magic values, or anything. */
const arbWriteData: fc.Arbitrary<Uint8Array> = fc.oneof(
  { arbitrary: arbCount.chain((n) => fc.uint8Array({ minLength: Math.min(n, 64), maxLength: Math.min(n, 64) })), weight: 4 },
  { arbitrary: fc.constantFrom(Uint8Array.of(0xbe, 0xbe, 0xbe, 0xbe), Uint8Array.of(0x1e, 0x1e, 0x1e, 0x1e)), weight: 1 },
);

const arbDispiOp: fc.Arbitrary<DispiOp> = fc.oneof(
  {
    arbitrary: fc.record({
      op: fc.constant('reg' as const),
      index: fc.oneof({ arbitrary: fc.integer({ min: 0, max: 10 }), weight: 4 }, { arbitrary: fc.integer({ min: 11, max: 15 }), weight: 1 }),
      size: fc.oneof({ arbitrary: fc.constant(2), weight: 4 }, { arbitrary: fc.constantFrom(1, 4), weight: 2 }),
      odd: fc.oneof({ arbitrary: fc.constant(false), weight: 4 }, { arbitrary: fc.constant(true), weight: 1 }),
      value: arbRegValue,
      read: fc.boolean(),
    }),
    weight: 8,
  },
  { arbitrary: arbMode, weight: 5 },
  {
    arbitrary: fc.record({
      op: fc.constant('blank' as const),
      blank: fc.oneof({ arbitrary: fc.constant(false), weight: 3 }, { arbitrary: fc.constant(true), weight: 1 }),
      color: fc.oneof({ arbitrary: fc.constant(true), weight: 4 }, { arbitrary: fc.constant(false), weight: 1 }),
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      op: fc.constant('pan' as const),
      x: fc.oneof(fc.constantFrom(0, 8, 1024), fc.integer({ min: 0, max: 2048 })),
      y: fc.oneof(fc.constantFrom(0, 1, 2, 64), fc.integer({ min: 0, max: 1200 })),
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      op: fc.constant('churn' as const),
      steps: fc.integer({ min: 1, max: 12 }),
      x: fc.constantFrom(0, 8, 1024),
      y: fc.constantFrom(0, 1, 16),
      dx: fc.constantFrom(0, 1, 8, 1024),
      dy: fc.constantFrom(0, 1, 2),
      exportEvery: fc.constantFrom(0, 1, 2, 3),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ op: fc.constant('read' as const), offset: arbMmioOffset, count: arbCount }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant('write' as const), offset: arbMmioOffset, data: arbWriteData }), weight: 3 },
  {
    arbitrary: fc.record({
      op: fc.constant('edid' as const),
      link: fc.oneof({ arbitrary: fc.constantFrom(1, 2, 0), weight: 4 }, { arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }), weight: 1 }),
      size: fc.oneof({ arbitrary: fc.constantFrom(0, 128, 256, 0x400), weight: 3 }, { arbitrary: fc.integer({ min: 0, max: 0x800 }), weight: 1 }),
      at: fc.integer({ min: 0, max: 0x3ff }),
      blob: fc.uint8Array({ maxLength: 64 }),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      op: fc.constant('query' as const),
      planeType: fc.oneof({ arbitrary: fc.constant(1), weight: 6 }, { arbitrary: fc.constantFrom(0, 2, 3), weight: 2 }),
      flags: fc.oneof({ arbitrary: fc.constant(2), weight: 10 }, { arbitrary: fc.constant(3), weight: 1 }, { arbitrary: fc.integer({ min: 0, max: 7 }), weight: 1 }, { arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }), weight: 1 }),
      argsz: fc.oneof({ arbitrary: fc.constant(64), weight: 10 }, { arbitrary: fc.constantFrom(0, 59, 60, 0xffff_ffff), weight: 1 }),
    }),
    weight: 6,
  },
  {
    arbitrary: fc.record({
      op: fc.constant('export' as const),
      pick: fc.nat(),
      raw: fc.oneof({ arbitrary: fc.constant(-1), weight: 8 }, { arbitrary: fc.constantFrom(0, 1, 2, 3, 1000, 0xffff_ffff), weight: 1 }),
    }),
    weight: 4,
  },
  { arbitrary: fc.record({ op: fc.constant('release' as const), pick: fc.nat(), again: fc.oneof({ arbitrary: fc.constant(false), weight: 5 }, { arbitrary: fc.constant(true), weight: 1 }) }), weight: 3 },
  { arbitrary: fc.constantFrom<DispiOp>({ op: 'reset' }, { op: 'close' }), weight: 1 },
);

export const arbDispiCase: fc.Arbitrary<DispiCase> = fc
  .record({
    type: fc.oneof({ arbitrary: fc.constant<MbochsTypeName>('small'), weight: 4 }, { arbitrary: fc.constantFrom<MbochsTypeName>('medium', 'large'), weight: 1 }),
    quirks: fc.constantFrom<'none' | 'upstream'>('none', 'upstream'),
    vbe: fc.constantFrom<'sample' | 'strict'>('sample', 'strict'),
    qext: fc.boolean(),
    dmabufLimit: fc.oneof({ arbitrary: fc.constant(0), weight: 1 }, { arbitrary: fc.integer({ min: 1, max: 6 }), weight: 2 }),
    ops: fc.array(arbDispiOp, { maxLength: 40, size: 'medium' }),
    releaseOrder: fc.array(fc.nat(), { maxLength: 8 }),
    destroyFirst: fc.oneof({ arbitrary: fc.constant(false), weight: 3 }, { arbitrary: fc.constant(true), weight: 1 }),
  })
  .map((c) => ({ ...c, qext: c.qext && c.vbe === 'strict' }));

/** Device calls a case makes (the `accesses` unit). */
export function countDispiAccesses(c: DispiCase): number {
  let n = 0;
  for (const o of c.ops) {
    n += o.op === 'mode' ? (o.disableFirst ? 8 : 7) : o.op === 'pan' ? 2 : o.op === 'edid' ? 3 : o.op === 'blank' ? (o.color ? 3 : 2)
      : o.op === 'churn' ? o.steps * 3 + (o.exportEvery > 0 ? Math.ceil(o.steps / o.exportEvery) : 0) : 1;
  }
  return n;
}

/* ------------------------------------------------------------------------ */
/* Oracle                                                                    */

class Violation extends Error {
  constructor(invariant: string, detail: string) {
    super(`invariant violated: ${invariant}: ${detail}`);
    this.name = 'InvariantViolation';
  }
}

const XRGB8888 = DRM_FORMAT_XRGB8888;
const BGRX8888 = DRM_FORMAT_BGRX8888;
const PAGE = 4096;
const { ENOENT, ENOMEM, EFAULT, EINVAL } = ERRNO;

interface ModeT { readonly format: number; readonly width: number; readonly height: number; readonly stride: number; readonly offset: number; readonly size: number }
const modeKey = (m: ModeT): string => `${m.format}:${m.width}:${m.height}:${m.stride}:${m.offset}:${m.size}`;

interface Rec { readonly id: number; readonly mode: ModeT; handles: number; linked: boolean }

interface Handle { readonly exp: DmabufExport; readonly rec: Rec; released: boolean }

interface VgaShadow { msr: number; fcr: number; st01: number; arIndex: number; flip: number; readonly ar: number[] }

interface Oracle {
  readonly c: DispiCase;
  readonly memsize: number;
  readonly limit: number;
  readonly regs: number[];
  /** Strict: the VGA port state (QEMU VGACommonState msr, fcr, st01, ar_index, ar_flip_flop, ar[]). */
  readonly vga: VgaShadow;
  bigEndian: boolean;
  edidSize: number;
  edidLink: number;
  readonly blob: Uint8Array;
  /** Linked records in LRU order (Map order: first = least recently used). */
  readonly lru: Map<number, Rec>;
  readonly byKey: Map<string, Rec>;
  /** Every id ever issued → its geometry (never forgotten). */
  readonly everIssued: Map<number, ModeT>;
  nextId: number;
  readonly handles: Handle[];
  activeId: number;
}

function newOracle(c: DispiCase): Oracle {
  const memsize = MEMSIZE[c.type];
  const o: Oracle = {
    c, memsize, limit: c.dmabufLimit === 0 ? 64 : c.dmabufLimit, regs: new Array<number>(11).fill(0), bigEndian: false,
    vga: { msr: 0, fcr: 0, st01: 0, arIndex: 0, flip: 0, ar: new Array<number>(0x15).fill(0) },
    edidSize: 0, edidLink: 0, blob: new Uint8Array(0x400),
    lru: new Map(), byKey: new Map(), everIssued: new Map(), nextId: 1, handles: [], activeId: 0,
  };
  resetRegs(o);
  return o;
}

/** mbochs.c mbochs_reset(): all registers 0, ID = 0xB0C5, VIDEO_MEMORY_64K = memsize / 64 KiB; qext little endian; QEMU vga_common_reset() zeroes the VGA ports. */
function resetRegs(o: Oracle): void {
  o.regs.fill(0);
  o.regs[0] = 0xb0c5;
  o.regs[10] = o.memsize / 65536;
  o.bigEndian = false;
  Object.assign(o.vga, { msr: 0, fcr: 0, st01: 0, arIndex: 0, flip: 0 });
  o.vga.ar.fill(0);
}

/** QEMU hw/display/vga.c vga_ioport_read() for the ports the model keeps (strict), restated; 0x3D0–0x3DF read 0xFF in monochrome mode. */
function vgaPortRead(o: Oracle, port: number): number {
  const g = o.vga;
  if ((g.msr & 1) === 0 && port >= 0x3d0 && port <= 0x3df) return 0xff;
  if (port === 0x3c0) return g.flip === 0 ? g.arIndex : 0;
  if (port === 0x3c1) return (g.arIndex & 0x1f) < 0x15 ? g.ar[g.arIndex & 0x1f]! : 0;
  if (port === 0x3ca) return g.fcr;
  if (port === 0x3cc) return g.msr;
  if (port === 0x3da) { g.st01 ^= 0x09; g.flip = 0; return g.st01; }
  return 0;
}

/** QEMU vga_ioport_write(), the same ports. */
function vgaPortWrite(o: Oracle, port: number, v: number): void {
  const g = o.vga;
  if ((g.msr & 1) === 0 && port >= 0x3d0 && port <= 0x3df) return;
  if (port === 0x3c0) {
    if (g.flip === 0) g.arIndex = v & 0x3f;
    else {
      const i = g.arIndex & 0x1f;
      const mask = i < 0x10 ? 0x3f : [0xef, 0xff, 0x3f, 0x0f, 0x0f][i - 0x10];
      if (mask !== undefined) g.ar[i] = v & mask;
    }
    g.flip ^= 1;
  } else if (port === 0x3c2) g.msr = v & 0xef;
  else if (port === 0x3da) g.fcr = v & 0x10;
}

/** Strict: QEMU shows a blank screen while the attribute index lacks PAS (0x20). */
const blanked = (o: Oracle): boolean => strict(o) && (o.vga.arIndex & 0x20) === 0;

const strict = (o: Oracle): boolean => o.c.vbe === 'strict';
const reg = (o: Oracle, i: number): number => o.regs[i] ?? 0;

/** QEMU hw/display/vga.c vbe_fixup_regs(), restated (only while ENABLED). */
function fixup(o: Oracle): void {
  const r = o.regs;
  if ((reg(o, 4) & 1) === 0) return;
  let bits: number;
  const bpp = reg(o, 3);
  if (bpp === 4 || bpp === 8 || bpp === 16 || bpp === 24 || bpp === 32) bits = bpp;
  else if (bpp === 15) bits = 16;
  else { r[3] = 8; bits = 8; }
  let xres = reg(o, 1) & ~7;
  if (xres === 0) xres = 8;
  if (xres > 16000) xres = 16000;
  r[1] = xres;
  let vw = reg(o, 6) & ~7;
  if (vw > 16000) vw = 16000;
  if (vw < xres) vw = xres;
  r[6] = vw;
  const line = (vw * bits) / 8;
  const maxy = Math.floor(o.memsize / line);
  let yres = reg(o, 2);
  if (yres === 0) yres = 1;
  if (yres > 12000) yres = 12000;
  if (yres > maxy) yres = maxy;
  r[2] = yres;
  let x = Math.min(reg(o, 8), 16000);
  let y = Math.min(reg(o, 9), 12000);
  const xb = (): number => Math.floor((x * bits) / 8);
  if (xb() + y * line + yres * line > o.memsize) {
    y = 0;
    if (xb() + yres * line > o.memsize) x = 0;
  }
  r[8] = x;
  r[9] = y;
  // VIRT_HEIGHT := maxy; QEMU truncates into the u16, mdevsim saturates (documented in dispi.ts).
  r[7] = Math.min(maxy, 0xffff);
}

/** One 16-bit register write (index from the MMIO address), per mode. */
function regWrite(o: Oracle, i: number, v: number): void {
  if (i < 0 || i > 10) return;
  v &= 0xffff;
  if (!strict(o)) { o.regs[i] = v; return; }
  switch (i) {
    case 0: if (v >= 0xb0c0 && v <= 0xb0c5) o.regs[0] = v; return;
    case 1: case 2: case 3: case 6: case 8: case 9: o.regs[i] = v; fixup(o); return;
    case 4:
      if ((v & 1) !== 0 && (reg(o, 4) & 1) === 0) {
        o.regs[6] = 0; o.regs[8] = 0; o.regs[9] = 0;
        o.regs[4] = reg(o, 4) | 1;
        fixup(o);
      }
      o.regs[4] = v;
      return;
    case 5: o.regs[5] = v & (o.memsize / 65536 - 1); return;
    default: return; // 7 VIRT_HEIGHT, 10 VIDEO_MEM: ignored
  }
}

/** What a guest reads from register i. */
function regRead(o: Oracle, i: number): number {
  if (i < 0 || i > 10) return 0;
  if (!strict(o)) return reg(o, i);
  if (i === 10) return o.memsize / 65536;
  if ((reg(o, 4) & 2) !== 0 && (i === 1 || i === 2 || i === 3)) return [0, 16000, 12000, 32][i]!;
  return reg(o, i);
}

/** Chunks of the kernel's read()/write() loop: 4 if ≥ 4 left and 4-aligned, else 2 if ≥ 2 left and 2-aligned, else 1. */
function chunks(offset: number, count: number): { pos: number; size: 1 | 2 | 4 }[] {
  const out: { pos: number; size: 1 | 2 | 4 }[] = [];
  for (let pos = offset, left = count; left > 0;) {
    const size: 1 | 2 | 4 = left >= 4 && pos % 4 === 0 ? 4 : left >= 2 && pos % 2 === 0 ? 2 : 1;
    out.push({ pos, size });
    pos += size;
    left -= size;
  }
  return out;
}

const DISPI = VBE_DISPI_MMIO_OFFSET, DISPI_END = VBE_DISPI_MMIO_OFFSET + VBE_DISPI_MMIO_SIZE;

/** A guest read of one chunk at BAR2 `pos`, as a little-endian value. */
function mmioReadChunk(o: Oracle, pos: number, size: 1 | 2 | 4): number {
  if (pos < 0x400) {
    // EDID window: byte p is blob[p] iff link is UP (1) and p < edid_size (gated per byte, never past the 1 KiB blob).
    let v = 0;
    for (let k = size - 1; k >= 0; k--) {
      const p = pos + k;
      v = v * 256 + (o.edidLink === 1 && p < Math.min(o.edidSize, 0x400) ? o.blob[p]! : 0);
    }
    return v;
  }
  if (pos >= DISPI && pos < DISPI_END) {
    if (!strict(o)) return size === 2 ? regRead(o, (pos - DISPI) >> 1) : 0;
    let v = 0;
    for (let k = 0; k < size; k += 2) {
      const a = pos + k;
      if (a < DISPI_END) v += regRead(o, (a - DISPI) >> 1) * 2 ** (8 * k);
    }
    return v % 2 ** (8 * size);
  }
  const ones = strict(o) ? 2 ** (8 * size) - 1 : 0; // QEMU's unassigned_io_ops container answers -1
  if (pos >= 0x400 && pos < 0x420) {
    if (!strict(o)) return 0;
    let v = 0;
    for (let k = 0; k < size; k++) v += vgaPortRead(o, 0x3c0 + pos - 0x400 + k) * 2 ** (8 * k);
    return v;
  }
  if (pos >= 0x600 && pos < 0x608) {
    if (!o.c.qext) return ones;
    if (size !== 4) return 0;
    if (pos === 0x600) return 8;
    if (pos === 0x604) return o.bigEndian ? 0xbebebebe : 0x1e1e1e1e;
    return 0;
  }
  return ones;
}

function mmioWriteChunk(o: Oracle, pos: number, size: 1 | 2 | 4, v: number): void {
  if (pos >= 0x400 && pos < 0x420) {
    if (strict(o)) for (let k = 0; k < size; k++) vgaPortWrite(o, 0x3c0 + pos - 0x400 + k, Math.floor(v / 2 ** (8 * k)) & 0xff);
    return;
  }
  if (pos >= DISPI && pos < DISPI_END) {
    if (!strict(o)) { if (size === 2) regWrite(o, (pos - DISPI) >> 1, v); return; }
    for (let k = 0; k < size; k += 2) {
      const a = pos + k;
      if (a < DISPI_END) regWrite(o, (a - DISPI) >> 1, Math.floor(v / 2 ** (8 * k)) & 0xffff);
    }
    return;
  }
  if (o.c.qext && size === 4 && pos === 0x604) {
    if (v === 0xbebebebe) o.bigEndian = true;
    else if (v === 0x1e1e1e1e) o.bigEndian = false;
  }
}

const leValue = (b: Uint8Array, at: number, size: number): number => {
  let v = 0;
  for (let k = size - 1; k >= 0; k--) v = v * 256 + (b[at + k] ?? 0);
  return v;
};

/** The plane a PRIMARY query reports: nothing while blanked (strict), else {@link registersMode}. */
function oracleMode(o: Oracle): ModeT | undefined {
  return blanked(o) ? undefined : registersMode(o);
}

/** mbochs.c mbochs_check_framebuffer(): the framebuffer the raw registers describe, or undefined for an empty plane. */
function registersMode(o: Oracle): ModeT | undefined {
  if ((reg(o, 4) & 1) === 0) return undefined;
  if (reg(o, 3) !== 32) return undefined;
  const width = reg(o, 1), height = reg(o, 2);
  const stride = Math.max(reg(o, 6), width) * 4;
  const size = stride * height;
  const offset = reg(o, 8) * 4 + reg(o, 9) * stride;
  if (width < 64 || height < 64 || offset + size > o.memsize) return undefined;
  return { format: o.c.qext && o.bigEndian ? BGRX8888 : XRGB8888, width, height, stride, offset, size };
}

/* ------------------------------------------------------------------------ */
/* Checking                                                                  */

interface World { readonly o: Oracle; readonly dev: MbochsDevice; readonly step: string }

/** Outcome counts across every case run in this process (tests assert the campaign reaches each). */
export const dispiCoverage: Record<string, number> = {};
const cover = (event: string): void => { dispiCoverage[event] = (dispiCoverage[event] ?? 0) + 1; };

function vfioCall<T>(w: World, what: string, allowed: readonly number[], fn: () => T): T | VfioError {
  try {
    return fn();
  } catch (e) {
    if (e instanceof VfioError && allowed.includes(e.errno)) return e;
    throw new Violation(`${what} throws only VfioError ${allowed.map(errnoText).join('/') || '(nothing)'}`, `${w.step}: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  }
}

const errnoText = (n: number): string => errnoName(n);

function guestRead(w: World, offset: number, count: number): void {
  const { o, dev } = w;
  const dst = new Uint8Array(count).fill(0xa5);
  const r = vfioCall(w, 'an MMIO read', offset + count > 0x1000 ? [EFAULT] : [], () => dev.regionRead(2, offset, dst));
  if (offset + count > 0x1000) {
    if (!(r instanceof VfioError)) throw new Violation('an MMIO access past the 4 KiB BAR fails with EFAULT', `${w.step}: read(0x${offset.toString(16)}, ${count}) succeeded`);
    return;
  }
  for (const ch of chunks(offset, count)) {
    const want = mmioReadChunk(o, ch.pos, ch.size);
    const got = leValue(dst, ch.pos - offset, ch.size);
    if (got !== want) {
      throw new Violation('guest BAR2 reads equal the oracle (dispi registers, VGA/qext/holes, EDID window)', `${w.step}: ${ch.size}-byte chunk at 0x${ch.pos.toString(16)} reads 0x${got.toString(16)}, expected 0x${want.toString(16)} (regs [${o.regs.map((v) => v.toString(16)).join(' ')}], vbe ${o.c.vbe})`);
    }
  }
}

function guestWrite(w: World, offset: number, data: Uint8Array): void {
  const { o, dev } = w;
  const out = offset + data.length > 0x1000;
  const r = vfioCall(w, 'an MMIO write', out ? [EFAULT] : [], () => dev.regionWrite(2, offset, data));
  if (out) {
    if (!(r instanceof VfioError)) throw new Violation('an MMIO access past the 4 KiB BAR fails with EFAULT', `${w.step}: write(0x${offset.toString(16)}, ${data.length}) succeeded`);
    return; // nothing changes: later reads check it
  }
  for (const ch of chunks(offset, data.length)) mmioWriteChunk(o, ch.pos, ch.size, leValue(data, ch.pos - offset, ch.size));
}

const le = (v: number, size: number): Uint8Array => {
  const b = new Uint8Array(size);
  for (let k = 0; k < size; k++) b[k] = Math.floor(v / 2 ** (8 * k)) & 0xff;
  return b;
};

/** The whole dispi window, register by register (2-byte reads), checked against the oracle. */
function checkRegisters(w: World): void {
  for (let i = 0; i <= 10; i++) guestRead(w, DISPI + 2 * i, 2);
  const { o } = w;
  const want = oracleMode(o);
  const got = w.dev.displayMode();
  const same = want === undefined ? got.kind === 'invalid'
    : got.kind === 'mode' && got.drmFormat === want.format && got.width === want.width && got.height === want.height &&
      got.stride === want.stride && got.offset === want.offset && got.size === want.size;
  if (!same) throw new Violation('displayMode() is the mbochs_check_framebuffer mode of the registers (invariant 18)', `${w.step}: ${JSON.stringify(got)}, expected ${JSON.stringify(want ?? 'invalid')}`);
  if (strict(o) && (reg(o, 4) & 1) !== 0) {
    cover('strict-enabled');
    // Invariant 17, on the shadow (the reads above tie it to the device).
    const bits = reg(o, 3) === 15 ? 16 : reg(o, 3);
    const line = (reg(o, 6) * bits) / 8;
    const ok = reg(o, 1) % 8 === 0 && reg(o, 1) <= 16000 && reg(o, 6) >= reg(o, 1) && reg(o, 2) <= Math.floor(o.memsize / line) &&
      Math.floor((reg(o, 8) * bits) / 8) + (reg(o, 9) + reg(o, 2)) * line <= o.memsize && reg(o, 7) === Math.min(Math.floor(o.memsize / line), 0xffff);
    if (!ok) throw new Violation('strict: enabled registers satisfy QEMU\'s fixup bounds (invariant 17)', `${w.step}: regs [${o.regs.join(' ')}]`);
  }
}

function checkStats(w: World): void {
  const { o, dev } = w;
  let liveRecords = o.lru.size;
  let handles = 0;
  let pinned = 0;
  const seen = new Set<Rec>();
  for (const h of o.handles) {
    if (h.released) continue;
    handles++;
    if (!seen.has(h.rec)) {
      seen.add(h.rec);
      pinned += Math.ceil(h.rec.mode.size / PAGE);
      if (!h.rec.linked) liveRecords++;
    }
  }
  const want = { records: o.lru.size, liveRecords, liveHandles: handles, pinnedPages: pinned };
  const got = dev.dmabufStats();
  if (got.records > o.limit) throw new Violation('the dmabuf table is bounded by its limit (invariant 25)', `${w.step}: ${got.records} > ${o.limit}`);
  if (got.records !== want.records || got.liveRecords !== want.liveRecords || got.liveHandles !== want.liveHandles || got.pinnedPages !== want.pinnedPages) {
    throw new Violation('dmabufStats equals the model (records, live records, handles, pinned pages)', `${w.step}: got ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
  }
}

const planeText = (p: GfxPlaneInfo): string =>
  `{format 0x${p.drmFormat.toString(16)}, ${p.width}x${p.height}, stride ${p.stride}, size ${p.size}, id ${p.regionIndexOrDmabufId}}`;

function expectEmpty(w: World, p: GfxPlaneResult, why: string): void {
  if (p === 'probe-ok') throw new Violation('a query (not a probe) returns a plane', `${w.step}: probe-ok (${why})`);
  const fields = [p.drmFormat, p.width, p.height, p.stride, p.size, p.xPos, p.yPos, p.xHot, p.yHot, p.regionIndexOrDmabufId];
  if (fields.some((v) => v !== 0) || p.drmFormatMod !== 0n) {
    throw new Violation('an empty plane is all zeros (invariant 20)', `${w.step} (${why}): ${planeText(p)}`);
  }
}

/** The model's lookupOrCreate: hit → touch; miss → evict the LRU unexported record when full, or ENOMEM. */
function lookup(o: Oracle, mode: ModeT): { rec: Rec; fresh: boolean } | 'full' {
  const hit = o.byKey.get(modeKey(mode));
  if (hit !== undefined) {
    o.lru.delete(hit.id);
    o.lru.set(hit.id, hit);
    return { rec: hit, fresh: false };
  }
  if (o.lru.size >= o.limit) {
    const victim = [...o.lru.values()].find((r) => r.handles === 0);
    if (victim === undefined) return 'full';
    cover('evict');
    o.lru.delete(victim.id);
    o.byKey.delete(modeKey(victim.mode));
    victim.linked = false;
  }
  const rec: Rec = { id: o.nextId++, mode, handles: 0, linked: true };
  o.lru.set(rec.id, rec);
  o.byKey.set(modeKey(mode), rec);
  o.everIssued.set(rec.id, mode);
  return { rec, fresh: true };
}

function doQuery(w: World, planeType: number, flags: number, argsz: number): void {
  const { o, dev } = w;
  const badArgs = argsz < 60 || ((flags & 1) !== 0 ? flags !== 3 : flags !== 2);
  const probe = !badArgs && flags === 3;
  const mode = !badArgs && !probe && planeType === 1 ? oracleMode(o) : undefined;
  // Predict the table outcome before calling (the model's lookup mutates like the device's).
  let predicted: { rec: Rec; fresh: boolean } | 'full' | undefined;
  if (mode !== undefined) predicted = lookup(o, mode);
  const upstreamFresh = predicted !== undefined && predicted !== 'full' && predicted.fresh && o.c.quirks === 'upstream';
  const allowed = badArgs ? [EINVAL] : predicted === 'full' || upstreamFresh ? [ENOMEM] : [];
  const r = vfioCall(w, 'QUERY_GFX_PLANE', allowed, () => dev.queryGfxPlane({ argsz, flags, drmPlaneType: planeType }));
  const what = `query(type ${planeType}, flags 0x${flags.toString(16)}, argsz ${argsz})`;
  cover(badArgs ? 'query-einval' : predicted === 'full' ? 'query-enomem-full' : upstreamFresh ? 'query-enomem-upstream' : probe ? 'query-probe' : planeType !== 1 ? 'query-nonprimary' : mode === undefined ? (blanked(o) && registersMode(o) !== undefined ? 'query-blanked' : 'query-empty') : predicted?.fresh === true ? 'query-new-id' : 'query-same-id');
  if (mode !== undefined && strict(o)) cover('query-strict-shown');
  if (allowed.length > 0) {
    if (!(r instanceof VfioError)) {
      throw new Violation(badArgs ? 'bad argsz/flags → EINVAL (invariant 21)' : predicted === 'full' ? 'a table full of exported records refuses a new mode with ENOMEM' : "'upstream': the first query of a new mode fails with ENOMEM (mbochs_query_gfx_plane)", `${w.step}: ${what} succeeded`);
    }
    return; // activeId unchanged
  }
  if (r instanceof VfioError) throw new Violation('unreachable', String(r));
  if (probe) {
    if (r !== 'probe-ok') throw new Violation('PROBE|DMABUF answers the probe (invariant 21)', `${w.step}: ${what}`);
    return;
  }
  if (planeType !== 1) { expectEmpty(w, r, 'non-primary plane'); return; }
  if (mode === undefined || predicted === undefined || predicted === 'full') {
    expectEmpty(w, r, 'mbochs_check_framebuffer rejects the registers');
    o.activeId = 0;
  } else {
    if (r === 'probe-ok') throw new Violation('a query returns a plane', `${w.step}: ${what}`);
    const id = predicted.rec.id;
    const got = { format: r.drmFormat, width: r.width, height: r.height, stride: r.stride, size: r.size };
    if (got.format !== mode.format || got.width !== mode.width || got.height !== mode.height || got.stride !== mode.stride || got.size !== mode.size) {
      throw new Violation('a non-empty PRIMARY plane is the mbochs_check_framebuffer mode of the registers (invariant 18)', `${w.step}: ${planeText(r)}, expected ${JSON.stringify(mode)}`);
    }
    if (r.stride * r.height > r.size || r.size > o.memsize) throw new Violation('stride·height ≤ size ≤ VRAM (invariant 11)', `${w.step}: ${planeText(r)}`);
    if (r.regionIndexOrDmabufId !== id) {
      throw new Violation(predicted.fresh ? 'a new mode record gets the next id: strictly increasing from 1, never reused (invariant 20)' : 'the same mode record yields the same id (invariant 19)', `${w.step}: id ${r.regionIndexOrDmabufId}, expected ${id}`);
    }
    const first = o.everIssued.get(id);
    if (first === undefined || modeKey(first) !== modeKey(mode)) throw new Violation('an id never changes geometry (invariant 19)', `${w.step}: id ${id}`);
    if (r.xPos !== 0 || r.yPos !== 0 || r.xHot !== 0 || r.yHot !== 0 || r.drmFormatMod !== 0n) throw new Violation('position, hotspot and modifier are 0 (mbochs_query_gfx_plane)', `${w.step}: ${planeText(r)}`);
    o.activeId = id;
  }
  if (dev.activeDmabufId !== o.activeId) throw new Violation('activeDmabufId follows PRIMARY queries', `${w.step}: ${dev.activeDmabufId}, expected ${o.activeId}`);
}

function doExport(w: World, id: number): void {
  const { o, dev } = w;
  const rec = o.lru.get(id);
  const allowed = rec === undefined ? [ENOENT] : rec.mode.offset % PAGE !== 0 ? [EINVAL] : [];
  const before = dev.displayMode();
  const r = vfioCall(w, 'GET_GFX_DMABUF', allowed, () => dev.getGfxDmabuf(id));
  cover(allowed[0] === ENOENT ? 'export-enoent' : allowed[0] === EINVAL ? 'export-einval' : 'export-ok');
  if (allowed.length > 0) {
    if (!(r instanceof VfioError)) throw new Violation('GET_GFX_DMABUF succeeds iff the id is known and its offset page aligned (invariant 22)', `${w.step}: id ${id} succeeded (${rec === undefined ? 'unknown' : `offset ${rec.mode.offset}`})`);
    return;
  }
  if (r instanceof VfioError || rec === undefined) throw new Violation('unreachable', String(r));
  const m = rec.mode;
  if (r.dmabufId !== id || r.width !== m.width || r.height !== m.height || r.stride !== m.stride || r.size !== m.size || r.offset !== m.offset || r.drmFormat !== m.format) {
    throw new Violation('an export has its record\'s geometry (invariant 19)', `${w.step}: id ${id}: ${JSON.stringify({ w: r.width, h: r.height, stride: r.stride, size: r.size, offset: r.offset, fmt: r.drmFormat })} vs ${JSON.stringify(m)}`);
  }
  if (r.memory !== dev.vram || r.offset + r.size > o.memsize || r.offset % PAGE !== 0) {
    throw new Violation('an export shares the VRAM pages of [offset, offset+size) (invariant 23)', `${w.step}: offset ${r.offset} size ${r.size}`);
  }
  const after = dev.displayMode();
  if (JSON.stringify(before) !== JSON.stringify(after)) throw new Violation('export never changes VBE state (invariant 22)', `${w.step}`);
  rec.handles++;
  o.lru.delete(rec.id);
  o.lru.set(rec.id, rec);
  o.handles.push({ exp: r, rec, released: false });
}

function release(o: Oracle, h: Handle, w: World): void {
  vfioCall(w, 'a handle release', [], () => h.exp.release());
  if (h.released) { cover('release-again'); return; }
  cover('release');
  h.released = true;
  h.rec.handles--;
}

function runOp(w: World, op: DispiOp): void {
  const { o, dev } = w;
  switch (op.op) {
    case 'read':
      guestRead(w, op.offset, op.count);
      break;
    case 'write':
      guestWrite(w, op.offset, op.data);
      break;
    case 'reg': {
      const offset = DISPI + 2 * op.index + (op.odd ? 1 : 0);
      if (op.read) guestRead(w, offset, op.size);
      else guestWrite(w, offset, le(op.value, op.size));
      break;
    }
    case 'mode': {
      const seq: [number, number][] = [[3, op.bpp], [1, op.xres], [2, op.yres], [6, op.virt], [8, op.x], [9, op.y], [4, op.enable]];
      if (op.disableFirst) seq.unshift([4, 0]);
      for (const [i, v] of seq) guestWrite(w, DISPI + 2 * i, le(v, 2));
      break;
    }
    case 'blank':
      if (op.color) guestWrite(w, 0x402, le(0x01, 1)); // VGA_MIS_W := VGA_MIS_COLOR
      guestRead(w, 0x41a, 1); // VGA_IS1_RC: resets the flip-flop (in colour mode)
      guestWrite(w, 0x400, le(op.blank ? 0x00 : 0x20, 1)); // VGA_ATT_W: the index, PAS or not
      break;
    case 'pan':
      guestWrite(w, DISPI + 2 * 8, le(op.x, 2));
      guestWrite(w, DISPI + 2 * 9, le(op.y, 2));
      break;
    case 'churn':
      for (let i = 0; i < op.steps; i++) {
        const sw: World = { ...w, step: `${w.step} step ${i}` };
        guestWrite(sw, DISPI + 2 * 8, le(op.x + i * op.dx, 2));
        guestWrite(sw, DISPI + 2 * 9, le(op.y + i * op.dy, 2));
        doQuery(sw, 1, 2, 64);
        if (op.exportEvery > 0 && i % op.exportEvery === 0 && o.activeId !== 0) doExport(sw, o.activeId);
        checkStats(sw);
      }
      break;
    case 'edid': {
      vfioCall(w, 'an EDID host write', [], () => dev.regionWrite(9, 20, le(op.link, 4)));
      vfioCall(w, 'an EDID host write', [], () => dev.regionWrite(9, 8, le(op.size, 4)));
      const blob = op.blob.subarray(0, 0x400 - op.at);
      vfioCall(w, 'an EDID host write', [], () => dev.regionWrite(9, 0x800 + op.at, blob));
      o.edidLink = op.link;
      o.edidSize = op.size;
      o.blob.set(blob, op.at);
      const regs = new Uint8Array(24);
      vfioCall(w, 'an EDID host read', [], () => dev.regionRead(9, 0, regs));
      const got = [0, 4, 8, 12, 16, 20].map((k) => leValue(regs, k, 4));
      const want = [0x800, 0x400, op.size, MAX_RES[o.c.type][0], MAX_RES[o.c.type][1], op.link];
      if (got.some((v, k) => v !== want[k])) throw new Violation('EDID registers: fixed ones read their values, edid_size/link_state read back (invariant 27)', `${w.step}: [${got}] vs [${want}]`);
      break;
    }
    case 'query':
      doQuery(w, op.planeType, op.flags, op.argsz);
      break;
    case 'export': {
      const ids = [...o.everIssued.keys()];
      doExport(w, op.raw >= 0 ? op.raw : ids.length > 0 ? ids[op.pick % ids.length]! : 1);
      break;
    }
    case 'release': {
      const pool = o.handles.filter((h) => (op.again ? h.released : !h.released));
      const h = pool.length > 0 ? pool[op.pick % pool.length] : undefined;
      if (h !== undefined) release(o, h, w);
      break;
    }
    case 'reset': {
      const stats = dev.dmabufStats();
      vfioCall(w, 'RESET', [], () => dev.reset());
      resetRegs(o);
      const after = dev.dmabufStats();
      if (JSON.stringify(stats) !== JSON.stringify(after)) throw new Violation('reset leaves the dmabuf table alone (invariant 29)', `${w.step}: ${JSON.stringify(stats)} → ${JSON.stringify(after)}`);
      // Reset values (invariant 15) are checked by the register reads below.
      break;
    }
    case 'close':
      vfioCall(w, 'closeDevice', [], () => dev.closeDevice());
      for (const r of o.lru.values()) r.linked = false;
      o.lru.clear();
      o.byKey.clear();
      o.activeId = 0;
      if (dev.activeDmabufId !== 0) throw new Violation('closeDevice clears the active id', `${w.step}: ${dev.activeDmabufId}`);
      break;
  }
}

export function checkDispiCase(c: DispiCase): void {
  const budget = createMbochsBudget(256);
  const dev = new MbochsDevice(c.type, {
    quirks: c.quirks, vbe: c.vbe, qext: c.qext, budget, memory: dispiMemory, ...(c.dmabufLimit > 0 ? { dmabufLimit: c.dmabufLimit } : {}),
  });
  const o = newOracle(c);
  let destroyed = false;
  try {
    const w0: World = { o, dev, step: 'after create' };
    checkRegisters(w0);
    c.ops.forEach((op, i) => {
      const w: World = { o, dev, step: `op ${i} (${op.op})` };
      runOp(w, op);
      if (op.op !== 'read') checkRegisters(w);
      checkStats(w);
    });

    // Wind down: release every live handle in the case's order, then close; all counters return to 0.
    const live = o.handles.filter((h) => !h.released);
    const order = live.map((h, i) => ({ h, k: c.releaseOrder[i % Math.max(1, c.releaseOrder.length)] ?? i, i }))
      .sort((a, b) => a.k - b.k || a.i - b.i).map((x) => x.h);
    const endStep: World = { o, dev, step: 'wind-down' };
    if (c.destroyFirst) {
      dev.destroy();
      destroyed = true;
      if (budget.remaining !== budget.total) throw new Violation('destroy() returns the budget at once', `${budget.remaining} of ${budget.total}`);
      for (const h of order) {
        if (dev.vram.bytes.length !== o.memsize) throw new Violation('VRAM outlives destroy() while a dmabuf handle is live', `after ${o.handles.filter((x) => x.released).length} releases`);
        release(o, h, endStep);
      }
      if (dev.vram.bytes.length !== 0) throw new Violation('the last handle release after destroy() frees VRAM', `${dev.vram.bytes.length} bytes left`);
      const st = dev.dmabufStats();
      if (st.liveHandles !== 0 || st.pinnedPages !== 0 || st.liveRecords !== 0) throw new Violation('resource counters return to 0 (invariant 24)', JSON.stringify(st));
      return;
    }
    for (const h of order) release(o, h, endStep);
    for (const h of o.handles) release(o, h, endStep); // second release: a no-op
    dev.closeDevice();
    const st = dev.dmabufStats();
    if (st.records !== 0 || st.liveRecords !== 0 || st.liveHandles !== 0 || st.pinnedPages !== 0) {
      throw new Violation('after releasing every handle and closeDevice, resource counters are 0 (invariant 24)', JSON.stringify(st));
    }
    dev.destroy();
    destroyed = true;
    if (budget.remaining !== budget.total) throw new Violation('destroy() returns the budget', `${budget.remaining} of ${budget.total}`);
    const gone = vfioCall(w0, 'a call on a destroyed device', [ERRNO.ENODEV], () => dev.reset());
    if (!(gone instanceof VfioError)) throw new Violation('a destroyed device refuses calls (ENODEV)', 'reset() succeeded');
  } finally {
    if (!destroyed) dev.destroy();
    for (const h of o.handles) h.exp.release();
  }
}

/* ------------------------------------------------------------------------ */
/* Description                                                               */

function opText(op: DispiOp): string {
  const hex = (n: number): string => `0x${n.toString(16)}`;
  switch (op.op) {
    case 'read': return `read BAR2 ${hex(op.offset)} +${op.count}`;
    case 'write': return `write BAR2 ${hex(op.offset)} [${Buffer.from(op.data).toString('hex')}]`;
    case 'reg': return `${op.read ? 'read' : 'write'} dispi[${op.index}]${op.odd ? '+1' : ''} size ${op.size}${op.read ? '' : ` = ${hex(op.value)}`}`;
    case 'mode': return `mode ${op.xres}x${op.yres} bpp ${op.bpp} virt ${op.virt} @${op.x},${op.y} enable ${hex(op.enable)}${op.disableFirst ? ' (disable first)' : ''}`;
    case 'blank': return `${op.blank ? 'blank' : 'unblank'}${op.color ? '' : ' (no colour write)'}`;
    case 'pan': return `pan ${op.x},${op.y}`;
    case 'churn': return `churn ${op.steps}× pan from ${op.x},${op.y} by ${op.dx},${op.dy}, query${op.exportEvery > 0 ? `, export every ${op.exportEvery}` : ''}`;
    case 'edid': return `EDID host: link ${op.link} size ${op.size} blob[${op.at}..+${op.blob.length}]`;
    case 'query': return `query type ${op.planeType} flags ${hex(op.flags)} argsz ${op.argsz}`;
    case 'export': return `GET_GFX_DMABUF ${op.raw >= 0 ? `id ${op.raw}` : `issued id #${op.pick}`}`;
    case 'release': return `release handle #${op.pick}${op.again ? ' (again)' : ''}`;
    case 'reset': return 'reset';
    case 'close': return 'closeDevice';
  }
}

export function describeDispiCase(c: DispiCase): string {
  return [
    `mbochs-${c.type} quirks ${c.quirks} vbe ${c.vbe}${c.qext ? ' qext' : ''} dmabufLimit ${c.dmabufLimit || 'default'}${c.destroyFirst ? ' destroy-first' : ''} releaseOrder [${c.releaseOrder.join(',')}]`,
    ...c.ops.map((op, i) => `  ${i}: ${opText(op)}`),
  ].join('\n');
}

export default defineTarget<DispiCase>({
  name: 'dispi',
  description: 'mbochs BAR2 dispi/VGA/qext/EDID accesses, plane queries, dmabuf export/release, reset, close: invariants 15–26',
  arbitrary: arbDispiCase,
  check: checkDispiCase,
  describe: describeDispiCase,
  unit: { name: 'accesses', count: countDispiAccesses },
  coverage: {
    labels: (c: DispiCase) => [`${c.type}/${c.quirks}/${c.vbe}`, ...c.ops.map((o) => (o.op === 'reg' ? `reg:${o.index}:${o.size}${o.read ? ':r' : ':w'}` : `op:${o.op}`))],
  },
});
