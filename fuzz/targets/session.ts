/**
 * Fuzz target `session`: a vfio-user Session (src/vfio-user/session.ts)
 * driving a real device model, checked against a small reference model with
 * fast-check's model-based testing API (fc.Command + fc.modelRun).
 *
 * A case (plain data, see fuzz/arb/vfio-user/session.ts SessionCase) picks mdpy or
 * mbochs, a quirks profile, device memory with a fake fd number or heap
 * memory, small session limits, and a command sequence: VERSION (valid,
 * malformed, repeated), DMA_MAP (with and without fake fds, overlapping, out
 * of limits), DMA_UNMAP (exact, inexact, ALL), GET_INFO, GET_REGION_INFO
 * (argsz at the struct sizes and index edges), GET_IRQ_INFO, SET_IRQS,
 * REGION_READ/WRITE (offsets relative to region ends and u64 edges),
 * DEVICE_RESET, unknown commands, and for mbochs the mdevsim display
 * extension (mode programming, QUERY_GFX_PLANE, GET/RELEASE_GFX_DMABUF).
 * Every command may carry NO_REPLY, a wrong message type, stray fake fds or
 * a garbage payload length. check() turns the plain commands into
 * fc.Command objects and runs them with fc.modelRun; the `fc.commands`
 * arbitrary over the same commands is exported for property tests
 * ({@link sessionCommandsArbitrary}).
 *
 * The reference model holds: negotiated?, display negotiated?, the DMA
 * window list with the fd each window keeps, whether GET_INFO ran (mdpy
 * 'upstream' bounds GET_IRQ_INFO by it), the dmabuf ids seen and the live
 * export handles. From it and from an independent region table
 * (docs/devices/mdpy.md, mbochs.md "Regions") it predicts each reply: success or the errno (a set
 * where the spec leaves a choice), the payload size and the fds attached.
 *
 * Invariants, after every message:
 * 1. Session.handle never throws and never logs an internal error (anything
 *    but a VfioError inside a handler).
 * 2. A NO_REPLY request of a command that allows it gets no reply, even on
 *    error; every other request gets exactly one reply.
 * 3. Reply header: id and command echoed, msg_size = bytes, type Reply (1),
 *    no NO_REPLY bit, ERROR set iff error ≠ 0; an error reply is header-only
 *    with a non-zero errno, the one the model predicts.
 * 4. A successful reply has the payload size the model predicts and fits
 *    QEMU's limits (docs/protocol.md "QEMU's client"): DMA_MAP ≤ 48, DMA_UNMAP ≤ 40,
 *    GET_INFO ≤ 32, GET_REGION_INFO ≤ 16 + argsz, GET_IRQ_INFO ≤ 32,
 *    SET_IRQS ≤ request, REGION_READ ≤ 32 + count, REGION_WRITE ≤ request,
 *    RESET 16, VERSION ≤ request. Field checks: GET_INFO (flags, regions,
 *    irqs), GET_REGION_INFO (argsz = full size, index, size, flags, cap chain
 *    or truncation without CAPS), GET_IRQ_INFO, DMA_UNMAP echo, REGION_*
 *    echo, VERSION (0.0, NUL-terminated JSON whose capabilities ⊆ proposed).
 * 5. fds: a reply carries an fd only for GET_REGION_INFO of a mappable
 *    region with a complete reply, and GET_GFX_DMABUF — always the device
 *    memory's fd, never one of the client's. The client's fds: at every step
 *    the fds closed so far are exactly those given minus those held by the
 *    model's DMA windows; none is closed twice; nothing else is closed.
 * 6. Session counters match the model: dmaMapCount, exportCount, negotiated.
 * 7. mbochs display: dmabuf ids are never 0 for a plane, new ids are larger
 *    than every id seen before, an id never changes geometry; an empty plane
 *    is all zeros.
 * At the end, session.close(): every client fd closed exactly once, and the
 * device has no live dmabuf handle, record or pinned page; destroy() returns
 * the budget.
 */
import fc from 'fast-check';
import { Session } from '../../src/vfio-user/session.ts';
import type { Frame } from '../../src/vfio-user/framer.ts';
import type { Memory, MemoryFactory } from '../../src/vfio/memory.ts';
import type { VfioDevice } from '../../src/vfio/device.ts';
import { MdpyDevice } from '../../devices/mdpy/index.ts';
import { MbochsDevice } from '../../devices/mbochs/index.ts';
import { InstanceBudget } from '../../devices/common/budget.ts';
import { CMD, F_ERROR, F_NO_REPLY, F_TYPE_MASK, F_TYPE_REPLY, HEADER_SIZE, le, pattern, resize, u64, type MsgHead } from '../arb/vfio-user/header.ts';
import { MODE_WRITES, type ModeSpec } from '../arb/vfio-user/display.ts';
import type { OffsetSpec } from '../arb/vfio-user/region.ts';
import { arbSessionCase, arbSessionCmd, countSessionMessages, type SessionCase, type SessionCmd } from '../arb/vfio-user/session.ts';
import { versionExpectation, versionProposal } from '../arb/vfio-user/version.ts';
import { VBE_DISPI_MMIO_OFFSET } from '../../devices/mbochs/dispi.ts';
import { ERRNO } from '../../src/util/errno.ts';
import { DRM_FORMAT_XRGB8888 } from '../../src/vfio/uapi.ts';
import { defineTarget } from '../target.ts';

/* ---- errno values (Linux) ---- */
const { EINVAL, EFAULT, ENOENT, EEXIST, ENOSPC, ENOSYS, ENOMEM, ENODEV, ENOTSUP } = ERRNO;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const U64_LIMIT = 1n << 64n;
/** Fake fd numbers: client fds from 1000, device memory fds from 900000 (never real descriptors). */
const CLIENT_FD_BASE = 1000;
const MEM_FD_BASE = 900_000;

class Violation extends Error {
  constructor(invariant: string, detail: string) {
    super(`invariant violated: ${invariant}: ${detail}`);
    this.name = 'InvariantViolation';
  }
}

/* ------------------------------------------------------------------------ */
/* Independent device facts (docs/devices/*.md: tables and fixes)             */

interface RegionFact {
  readonly size: number;
  /** R|W|MMAP as the device declares it (before the transport drops MMAP for heap memory). */
  readonly flags: number;
  /** Cap chain bytes the region carries: 'sparse' (one area [0, fbSize)), 'type' (GFX/EDID) or none. */
  readonly cap: 'sparse' | 'type' | 'none';
}

interface DeviceFacts {
  readonly infoFlags: number;
  readonly numRegions: number;
  readonly regions: ReadonlyMap<number, RegionFact>;
  readonly memsize: number;
  /** mdpy visible framebuffer bytes (sparse area), 0 for mbochs. */
  readonly fbSize: number;
  /** mbochs 'upstream': BAR0 read()/write() land 2 pages further (bounded: past the end → EFAULT). */
  readonly bar0Skew: number;
  readonly cfgSize: number;
}

const R = 1, W = 2, MMAP = 4, CAPS = 8;
const MiB = 1 << 20;

function deviceFacts(c: SessionCase): DeviceFacts {
  const upstream = c.quirks === 'upstream';
  const cfgSize = upstream ? 255 : 256;
  const regions = new Map<number, RegionFact>();
  const empty: RegionFact = { size: 0, flags: 0, cap: 'none' };
  if (c.device === 'mdpy') {
    // mdpy-vga: 640×480×4 = 1,228,800 visible bytes in a 2 MiB BAR.
    const memsize = 2 * MiB;
    const fbSize = 640 * 480 * 4;
    const bar0: RegionFact = { size: memsize, flags: R | W | MMAP, cap: upstream ? 'none' : 'sparse' };
    for (const i of [1, 2, 3, 4, 5, 6, 8]) regions.set(i, empty);
    regions.set(0, bar0);
    regions.set(16, bar0);
    regions.set(7, { size: cfgSize, flags: R | W, cap: 'none' });
    return { infoFlags: upstream ? 2 : 3, numRegions: 9, regions, memsize, fbSize, bar0Skew: 0, cfgSize };
  }
  // mbochs-small: 4 MiB VRAM.
  const memsize = 4 * MiB;
  for (const i of [1, 3, 4, 5, 6, 8]) regions.set(i, empty);
  regions.set(0, { size: memsize, flags: R | W | MMAP, cap: 'none' });
  regions.set(2, { size: 0x1000, flags: R | W, cap: 'none' });
  regions.set(7, { size: cfgSize, flags: R | W, cap: 'none' });
  regions.set(9, { size: 0x1000, flags: R | W, cap: 'type' });
  return { infoFlags: upstream ? 2 : 3, numRegions: 10, regions, memsize, fbSize: 0, bar0Skew: upstream ? 0x2000 : 0, cfgSize };
}

/* ------------------------------------------------------------------------ */
/* Model and real system                                                     */

interface Window { readonly addr: bigint; readonly size: bigint; readonly fd: number | undefined }

interface Geometry { readonly width: number; readonly height: number; readonly stride: number; readonly size: number }

/** The reference model. */
export interface SessionModel {
  readonly facts: DeviceFacts;
  readonly memFd: boolean;
  readonly device: 'mdpy' | 'mbochs';
  readonly quirks: 'none' | 'upstream';
  readonly limits: { readonly maxDmaMaps: number; readonly maxDataXfer: number; readonly maxExports: number };
  negotiated: boolean;
  display: boolean;
  getInfoDone: boolean;
  windows: Window[];
  /** dmabuf id → geometry, for every id a plane query returned. */
  readonly ids: Map<number, Geometry>;
  maxId: number;
  /** 'upstream': queries answered ENOMEM, each of which allocated an id the client has not seen. */
  enomems: number;
  /** Live export handles (handle → dmabuf id). */
  readonly exports: Map<number, number>;
}

/** The system under test and the fd bookkeeping around it. */
export interface SessionReal {
  readonly session: Session;
  readonly device: VfioDevice & { destroy(): void };
  readonly budget: InstanceBudget;
  /** Client fds given to the session. */
  readonly given: Set<number>;
  /** closeFd calls per fd. */
  readonly closes: Map<number, number>;
  /** Device memory fds (handed out by the session, never to be closed by it). */
  readonly memFds: Set<number>;
  nextFd: number;
  nextMsg: number;
  /** Lines the session logged at error level during the current message. */
  readonly logged: string[];
}

function fakeFdMemoryFactory(memFds: Set<number>): MemoryFactory {
  return (_name, size) => {
    let bytes = new Uint8Array(size);
    const fd = MEM_FD_BASE + memFds.size;
    memFds.add(fd);
    const m: Memory = {
      size,
      get bytes() { return bytes; },
      fd,
      close() { bytes = new Uint8Array(0); },
    };
    return m;
  };
}

function setup(c: SessionCase): { model: SessionModel; real: SessionReal } {
  const memFds = new Set<number>();
  const closes = new Map<number, number>();
  const given = new Set<number>();
  const memory = c.memory === 'fd' ? fakeFdMemoryFactory(memFds) : undefined;
  const budget = c.device === 'mdpy'
    ? new InstanceBudget({ total: 4, errno: 'EUSERS' })
    : new InstanceBudget({ total: 256, errno: 'ENOSPC', unit: 'MB' });
  const device = c.device === 'mdpy'
    ? new MdpyDevice('mdpy-vga', { quirks: c.quirks, budget, ...(memory ? { memory } : {}) })
    : new MbochsDevice('mbochs-small', { quirks: c.quirks, budget, ...(memory ? { memory } : {}) });
  const session = new Session(device, {
    closeFd: (fd) => {
      closes.set(fd, (closes.get(fd) ?? 0) + 1);
    },
    label: 'fuzz',
    display: c.device === 'mbochs',
    limits: { maxDmaMaps: c.maxDmaMaps, maxDataXfer: c.maxDataXfer, maxExports: c.maxExports, maxMsgFds: 8 },
  });
  const model: SessionModel = {
    facts: deviceFacts(c),
    memFd: c.memory === 'fd',
    device: c.device,
    quirks: c.quirks,
    limits: { maxDmaMaps: c.maxDmaMaps, maxDataXfer: c.maxDataXfer, maxExports: c.maxExports },
    negotiated: false,
    display: false,
    getInfoDone: false,
    windows: [],
    ids: new Map(),
    maxId: 0,
    enomems: 0,
    exports: new Map(),
  };
  return { model, real: { session, device, budget, given, closes, memFds, nextFd: CLIENT_FD_BASE, nextMsg: 0, logged: [] } };
}

/* ------------------------------------------------------------------------ */
/* Prediction                                                                */

/** What the model expects for one message. */
interface Pred {
  /** true: success; false: error with an errno in `errnos`; 'maybe': either. */
  readonly ok: boolean | 'maybe';
  readonly errnos: readonly number[];
  /** Payload bytes of a successful reply. */
  readonly payload?: number;
  /** fds attached to a successful reply (the device memory fd). */
  readonly fds?: 0 | 1;
  /** Check a successful reply's payload (and learn from it); runs before `apply`. */
  readonly verify?: (payload: Uint8Array, fds: readonly number[]) => void;
  /** Update the model after a success. */
  readonly apply?: (payload: Uint8Array | undefined) => void;
  /** Learn from an error reply. */
  readonly onError?: (errno: number) => void;
}

const err = (...errnos: number[]): Pred => ({ ok: false, errnos });

const NO_REPLY_ALLOWED = new Set<number>([CMD.DMA_MAP, CMD.DMA_UNMAP, CMD.SET_IRQS, CMD.REGION_WRITE, CMD.RESET, CMD.REGION_WRITE_MULTI, CMD.RELEASE_GFX_DMABUF]);
const FDS_ALLOWED = new Set<number>([CMD.DMA_MAP, CMD.SET_IRQS]);
const DISPLAY_CMDS = new Set<number>([CMD.QUERY_GFX_PLANE, CMD.GET_GFX_DMABUF, CMD.RELEASE_GFX_DMABUF]);

const rd32 = (b: Uint8Array, o: number): number => (o + 4 <= b.length ? new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(o, true) : -1);
const rd64 = (b: Uint8Array, o: number): bigint => (o + 8 <= b.length ? new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(o, true) : -1n);
const rd16 = (b: Uint8Array, o: number): number => (o + 2 <= b.length ? new DataView(b.buffer, b.byteOffset, b.byteLength).getUint16(o, true) : -1);

const withLen = (bytes: Uint8Array, len: number): Uint8Array => (len < 0 ? bytes : resize(bytes, len));

/** A guest mode set: bochs-drm's order (disable, bpp, geometry, offsets, enable); dispi register i at BAR2 VBE_DISPI_MMIO_OFFSET + 2i. */
function modeMessages(mode: ModeSpec, head: MsgHead): Msg[] {
  const regs: [number, number][] = [[4, 0], [3, 32], [1, mode.xres], [2, mode.yres], [6, mode.virt], [8, mode.x], [9, mode.y], [4, mode.enable]];
  return regs.map(([i, v]) => ({
    command: CMD.REGION_WRITE,
    payload: le([VBE_DISPI_MMIO_OFFSET + 2 * i, 8], [2, 4], [2, 4], [v, 2]),
    head,
    what: `REGION_WRITE dispi[${i}] = ${v}`,
  }));
}

/** One wire message built from a command. */
interface Msg {
  readonly command: number;
  readonly payload: Uint8Array;
  readonly head: MsgHead;
  readonly what: string;
}

/** Region size per the independent table, or undefined for an index that is not a region (EINVAL). */
const regionSize = (m: SessionModel, index: number): number | undefined => m.facts.regions.get(index)?.size;

function resolveOffset(m: SessionModel, index: number, off: OffsetSpec): bigint {
  if (off.k === 'lit') return u64(off.v);
  return BigInt.asUintN(64, BigInt((regionSize(m, index) ?? 0) + off.d));
}

/** The device-level outcome of a region access of `count` > 0 bytes at a safe offset. */
function predictAccess(m: SessionModel, index: number, off: number, count: number): Pred | undefined {
  const size = regionSize(m, index);
  if (size === undefined) return err(EINVAL);
  if (index === 7 && m.quirks === 'upstream') {
    // mdpy.c / mbochs.c mdev_access() (Linux v6.12): each chunk is answered when it starts below 0xff, so an access may end at 0x100.
    return off < size && off + count <= 0x100 ? undefined : err(EFAULT);
  }
  if (off + count > size) return err(EFAULT);
  if (index === 0 && m.facts.bar0Skew > 0 && off + m.facts.bar0Skew + count > size) return err(EFAULT);
  return undefined;
}

function predictVersion(m: SessionModel, s: Extract<SessionCmd, { c: 'version' }>, msg: Msg, frameSize: number): Pred {
  if (msg.head.fds > 0) return err(EINVAL);
  const kind = versionExpectation(s.variant);
  if (kind === 'EINVAL') return err(EINVAL);
  if (kind === 'ENOTSUP') return err(ENOTSUP);
  const proposedText = new TextDecoder().decode(msg.payload.subarray(4)).replace(/\0+$/, '');
  const proposed = proposedText === '' ? undefined : (JSON.parse(proposedText) as { capabilities?: Record<string, unknown> }).capabilities;
  return {
    ok: true,
    errnos: [],
    verify: (p) => {
      if (HEADER_SIZE + p.length > frameSize) throw new Violation('VERSION reply ≤ the request (QEMU reads it into the request buffer)', `reply ${HEADER_SIZE + p.length} > request ${frameSize}`);
      if (rd16(p, 0) !== 0 || rd16(p, 2) !== 0) throw new Violation('VERSION answers 0.0', `${rd16(p, 0)}.${rd16(p, 2)}`);
      if (p.length === 4) return;
      if (p[p.length - 1] !== 0) throw new Violation('VERSION JSON is NUL-terminated', `last byte ${p[p.length - 1]}`);
      let json: unknown;
      try {
        json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(p.subarray(4, p.length - 1)));
      } catch (e) {
        throw new Violation('VERSION reply JSON parses', String(e));
      }
      const caps = (json as { capabilities?: unknown }).capabilities;
      if (typeof caps !== 'object' || caps === null || Array.isArray(caps)) throw new Violation('VERSION reply has a capabilities object', JSON.stringify(json));
      for (const k of Object.keys(caps)) {
        if (proposed === undefined || !(k in proposed)) throw new Violation('reply capabilities ⊆ proposed ones (vfio-user.rst VFIO_USER_VERSION)', `key ${k} not proposed`);
      }
      const display = (caps as Record<string, unknown>)['mdevsim_display'];
      if (display === true && m.device !== 'mbochs') throw new Violation('only a display device offers the display extension', m.device);
    },
    apply: (p) => {
      m.negotiated = true;
      if (p !== undefined && p.length > 4) {
        const caps = (JSON.parse(new TextDecoder().decode(p.subarray(4, p.length - 1))) as { capabilities: Record<string, unknown> }).capabilities;
        m.display = caps['mdevsim_display'] === true;
      } else {
        m.display = false;
      }
    },
  };
}

function predictDmaMap(m: SessionModel, msg: Msg, fds: readonly number[]): Pred {
  const p = msg.payload;
  if (p.length < 32) return err(EINVAL);
  const argsz = rd32(p, 0), flags = rd32(p, 4), offset = rd64(p, 8), addr = rd64(p, 16), size = rd64(p, 24);
  if (argsz < 32) return err(EINVAL);
  if ((flags & ~3) !== 0) return err(EINVAL);
  if (fds.length > 1) return err(EINVAL);
  // The limit comes before every other check, so a full table refuses anything with ENOSPC.
  if (m.windows.length >= m.limits.maxDmaMaps) return err(ENOSPC);
  if (size === 0n) return err(EINVAL);
  if (addr + size > U64_LIMIT) return err(EINVAL);
  if (fds.length === 0 && offset !== 0n) return err(EINVAL);
  if (offset + size > U64_LIMIT) return err(EINVAL);
  const end = addr + size;
  if (m.windows.some((w) => addr < w.addr + w.size && w.addr < end)) return err(EEXIST);
  return { ok: true, errnos: [], payload: 0, apply: () => { m.windows.push({ addr, size, fd: fds[0] }); } };
}

function predictDmaUnmap(m: SessionModel, msg: Msg): Pred {
  const p = msg.payload;
  if (p.length < 24) return err(EINVAL);
  const flags = rd32(p, 4), addr = rd64(p, 8), size = rd64(p, 16);
  if ((flags & ~2) !== 0) return err(EINVAL);
  const echo = (q: Uint8Array): void => {
    if (q.length !== 24 || q.some((b, i) => b !== p[i])) throw new Violation('DMA_UNMAP echoes the 24-byte request', `${q.length} bytes`);
  };
  if ((flags & 2) !== 0) {
    if (addr !== 0n || size !== 0n) return err(EINVAL);
    return { ok: true, errnos: [], payload: 24, verify: echo, apply: () => { m.windows = []; } };
  }
  const i = m.windows.findIndex((w) => w.addr === addr && w.size === size);
  if (i < 0) return err(ENOENT);
  return { ok: true, errnos: [], payload: 24, verify: echo, apply: () => { m.windows.splice(i, 1); } };
}

function predictGetInfo(m: SessionModel, msg: Msg): Pred {
  const p = msg.payload;
  if (p.length < 4 || rd32(p, 0) < 16) return err(EINVAL);
  return {
    ok: true, errnos: [], payload: 16,
    verify: (q) => {
      const got = [rd32(q, 0), rd32(q, 4), rd32(q, 8), rd32(q, 12)];
      const want = [16, m.facts.infoFlags, m.facts.numRegions, 5];
      if (got.some((v, i) => v !== want[i])) throw new Violation('GET_INFO reports (16, flags, regions, irqs) of the device (invariant 7)', `got [${got}], want [${want}]`);
    },
    apply: () => { m.getInfoDone = true; },
  };
}

function capBytes(cap: RegionFact['cap']): number {
  if (cap === 'sparse') return 16 + 16; // header + nr_areas/reserved, one area
  if (cap === 'type') return 16;
  return 0;
}

function predictRegionInfo(m: SessionModel, msg: Msg): Pred {
  const p = msg.payload;
  if (p.length < 32) return err(EINVAL);
  const argsz = rd32(p, 0), index = rd32(p, 8);
  if (argsz < 32) return err(EINVAL);
  // mbochs.c (Linux v6.12) copies argsz bytes of its 48-byte vfio_region_info_ext back: it refuses more (docs/devices/mbochs.md).
  if (m.device === 'mbochs' && m.quirks === 'upstream' && argsz > 48) return err(EINVAL);
  const fact = m.facts.regions.get(index);
  if (fact === undefined) return err(EINVAL);
  // Over vfio-user a region is mappable only with an fd to pass; without one, MMAP and the sparse cap go.
  const mappable = (fact.flags & MMAP) !== 0 && m.memFd;
  const cap = fact.cap === 'sparse' && !mappable ? 'none' : fact.cap;
  const needed = 32 + capBytes(cap);
  const complete = argsz >= needed;
  const flags = (fact.flags & ~(mappable ? 0 : MMAP)) | (complete && cap !== 'none' ? CAPS : 0);
  return {
    ok: true, errnos: [], payload: complete ? needed : 32, fds: mappable && complete ? 1 : 0,
    verify: (q) => {
      const what = `region ${index} argsz ${argsz}`;
      if (rd32(q, 0) !== needed) throw new Violation('GET_REGION_INFO argsz is the full answer size', `${what}: ${rd32(q, 0)}, want ${needed}`);
      if (rd32(q, 4) !== flags) throw new Violation('GET_REGION_INFO flags (CAPS only with the caps)', `${what}: 0x${rd32(q, 4).toString(16)}, want 0x${flags.toString(16)}`);
      if (rd32(q, 8) !== index) throw new Violation('GET_REGION_INFO echoes the index', `${what}: ${rd32(q, 8)}`);
      const capOffset = rd32(q, 12);
      if (capOffset !== ((flags & CAPS) !== 0 ? 32 : 0)) throw new Violation('cap_offset is 32 with CAPS, else 0 (QEMU rejects CAPS with cap_offset < 32)', `${what}: ${capOffset}`);
      if (rd64(q, 16) !== BigInt(fact.size)) throw new Violation('GET_REGION_INFO size is the region size', `${what}: ${rd64(q, 16)}, want ${fact.size}`);
      if (mappable && rd64(q, 24) !== 0n) throw new Violation('a mappable region reports its offset into the passed fd (0)', `${what}: ${rd64(q, 24)}`);
      if ((flags & CAPS) === 0) return;
      if (cap === 'sparse') {
        const ok = rd16(q, 32) === 1 && rd16(q, 34) === 1 && rd32(q, 36) === 0 && rd32(q, 40) === 1 && rd64(q, 48) === 0n && rd64(q, 56) === BigInt(m.facts.fbSize);
        if (!ok) throw new Violation('mdpy BAR0 carries one sparse area [0, W·H·4)', `${what}: cap ${Buffer.from(q.subarray(32)).toString('hex')}`);
      } else {
        const ok = rd16(q, 32) === 2 && rd16(q, 34) === 1 && rd32(q, 36) === 0 && rd32(q, 40) === 1 && rd32(q, 44) === 1;
        if (!ok) throw new Violation('the EDID region carries the type cap GFX/EDID', `${what}: cap ${Buffer.from(q.subarray(32)).toString('hex')}`);
      }
    },
  };
}

function predictIrqInfo(m: SessionModel, msg: Msg): Pred {
  const p = msg.payload;
  if (p.length < 16 || rd32(p, 0) < 16) return err(EINVAL);
  const index = rd32(p, 8);
  if (index >= 5) return err(EINVAL);
  // mdpy 'upstream' bounds the index by the num_irqs the last GET_INFO cached (mdpy.c mdpy_ioctl()).
  if (m.device === 'mdpy' && m.quirks === 'upstream' && !m.getInfoDone) return err(EINVAL);
  return {
    ok: true, errnos: [], payload: 16,
    verify: (q) => {
      const got = [rd32(q, 0), rd32(q, 4), rd32(q, 8), rd32(q, 12)];
      if (got[0] !== 16 || got[1] !== 0 || got[2] !== index || got[3] !== 0) throw new Violation('every IRQ index reports count 0 (invariant 6)', `[${got}]`);
    },
  };
}

function predictRead(m: SessionModel, msg: Msg, device: VfioDevice): Pred {
  const p = msg.payload;
  if (p.length !== 16) return err(EINVAL);
  const off = rd64(p, 0), index = rd32(p, 8), count = rd32(p, 12);
  if (count > m.limits.maxDataXfer) return err(EINVAL);
  if (off > MAX_SAFE || off + BigInt(count) > MAX_SAFE) return err(EFAULT);
  const echo = (q: Uint8Array): void => {
    if (q.subarray(0, 16).some((b, i) => b !== p[i])) throw new Violation('REGION_READ echoes offset/region/count', Buffer.from(q.subarray(0, 16)).toString('hex'));
  };
  if (count === 0) return { ok: true, errnos: [], payload: 16, verify: echo };
  return predictAccess(m, index, Number(off), count) ?? {
    ok: true, errnos: [], payload: 16 + count,
    verify: (q) => {
      echo(q);
      // The data is the device's: a direct read (reads have no side effects) returns the same bytes.
      const direct = new Uint8Array(count);
      device.regionRead(index, Number(off), direct);
      if (!Buffer.from(direct).equals(Buffer.from(q.subarray(16)))) throw new Violation('REGION_READ returns the device\'s bytes at the requested offset', `region ${index} @${off} +${count}`);
    },
  };
}

function predictWrite(m: SessionModel, msg: Msg): Pred {
  const p = msg.payload;
  if (p.length < 16) return err(EINVAL);
  const off = rd64(p, 0), index = rd32(p, 8), count = rd32(p, 12);
  if (count > m.limits.maxDataXfer) return err(EINVAL);
  if (p.length !== 16 + count) return err(EINVAL);
  if (off > MAX_SAFE || off + BigInt(count) > MAX_SAFE) return err(EFAULT);
  const echo = (q: Uint8Array): void => {
    if (q.some((b, i) => b !== p[i])) throw new Violation('REGION_WRITE echoes offset/region/count', Buffer.from(q).toString('hex'));
  };
  if (count === 0) return { ok: true, errnos: [], payload: 16, verify: echo };
  return predictAccess(m, index, Number(off), count) ?? { ok: true, errnos: [], payload: 16, verify: echo };
}


function predictQuery(m: SessionModel, msg: Msg): Pred {
  const p = msg.payload;
  if (p.length < 12) return err(EINVAL);
  const argsz = rd32(p, 0), flags = rd32(p, 4), planeType = rd32(p, 8);
  if (argsz < 60) return err(EINVAL);
  const probe = (flags & 1) !== 0;
  if (probe && flags !== 3) return err(EINVAL);
  if (!probe && flags !== 2) return err(EINVAL);
  return {
    ok: m.quirks === 'upstream' && !probe ? 'maybe' : true,
    errnos: [ENOMEM], // 'upstream': the first query of a new mode (mbochs.c mbochs_query_gfx_plane())
    payload: 64,
    onError: () => { m.enomems++; },
    verify: (q) => {
      if (rd32(q, 0) !== 64 || rd32(q, 4) !== flags || rd32(q, 8) !== planeType) {
        throw new Violation('QUERY_GFX_PLANE echoes flags and plane type with argsz 64', `[${rd32(q, 0)}, ${rd32(q, 4)}, ${rd32(q, 8)}]`);
      }
      const format = rd32(q, 12), width = rd32(q, 24), height = rd32(q, 28), stride = rd32(q, 32), size = rd32(q, 36), id = rd32(q, 56);
      const empty = format === 0;
      if (probe || planeType !== 1 || empty) {
        const zeros = [format, width, height, stride, size, id, rd32(q, 40), rd32(q, 44), rd32(q, 48), rd32(q, 52)];
        if (zeros.some((v) => v !== 0)) throw new Violation('an empty plane (probe, non-primary, disabled) is all zeros (invariant 20)', `[${zeros}]`);
        return;
      }
      if (format !== DRM_FORMAT_XRGB8888) throw new Violation('a mbochs plane is XRGB8888', `0x${format.toString(16)}`);
      if (id === 0) throw new Violation('dmabuf ids are never 0 for a valid plane (invariant 20)', `${width}x${height}`);
      if (stride * height > size || size > m.facts.memsize) throw new Violation('stride·height ≤ size ≤ VRAM (invariant 11)', `${stride}·${height} vs ${size}`);
      const g: Geometry = { width, height, stride, size };
      const prev = m.ids.get(id);
      if (prev === undefined) {
        // Ids count up from 1 and are never reused: with every allocation seen ('none') a new id is the next one;
        // 'upstream' allocates on the ENOMEM answer too, so a new id is one of the ids those answers hid.
        if (m.quirks === 'none' ? id !== m.maxId + 1 : id > m.ids.size + m.enomems) {
          throw new Violation('dmabuf ids are issued in increasing order from 1, never reused (invariant 20)', `new id ${id}; ${m.ids.size} ids seen (largest ${m.maxId}), ${m.enomems} ENOMEM answers`);
        }
        m.ids.set(id, g);
        m.maxId = Math.max(m.maxId, id);
      } else if (prev.width !== width || prev.height !== height || prev.stride !== stride || prev.size !== size) {
        throw new Violation('an id never changes geometry (invariant 19)', `id ${id}: ${JSON.stringify(prev)} → ${JSON.stringify(g)}`);
      }
    },
  };
}

function predictGetDmabuf(m: SessionModel, msg: Msg, mem: SessionReal['memFds']): Pred {
  const p = msg.payload;
  if (p.length < 8) return err(EINVAL);
  const argsz = rd32(p, 0), id = rd32(p, 4);
  if (argsz < 56) return err(EINVAL);
  if (m.exports.size >= m.limits.maxExports) return err(ENOSPC);
  const geometry = m.ids.get(id);
  // 'upstream' allocated ids behind its ENOMEM answers: an unseen id up to that count may exist.
  const hidden = geometry === undefined && id >= 1 && id <= m.ids.size + m.enomems;
  if (geometry === undefined && !hidden) return err(ENOENT);
  // The table is an LRU of 64 records: an id may have been evicted once more than 64 modes were seen.
  const evictable = m.ids.size + m.enomems > 64 || hidden ? [ENOENT] : [];
  // Unaligned offset → EINVAL; heap memory has no fd to pass → ENODEV.
  if (!m.memFd) return err(EINVAL, ENODEV, ...evictable);
  return {
    ok: 'maybe', errnos: [EINVAL, ...evictable], payload: 56, fds: 1,
    verify: (q, fds) => {
      const got = { width: rd32(q, 32), height: rd32(q, 36), stride: rd32(q, 40), size: Number(rd64(q, 24)) };
      if (rd32(q, 0) !== 56 || rd32(q, 4) !== id) throw new Violation('GET_GFX_DMABUF answers argsz 56 and the id', `[${rd32(q, 0)}, ${rd32(q, 4)}]`);
      if (geometry === undefined) {
        m.ids.set(id, got);
        m.maxId = Math.max(m.maxId, id);
      } else if (got.width !== geometry.width || got.height !== geometry.height || got.stride !== geometry.stride || got.size !== geometry.size) {
        throw new Violation('an exported dmabuf has the geometry its id was issued with (invariant 19)', `id ${id}: ${JSON.stringify(got)} vs ${JSON.stringify(geometry)}`);
      }
      if (rd64(q, 16) % 4096n !== 0n || rd64(q, 16) + BigInt(got.size) > BigInt(m.facts.memsize)) {
        throw new Violation('an export is page aligned inside VRAM (invariant 22)', `offset ${rd64(q, 16)} size ${got.size}`);
      }
      if (!mem.has(fds[0] ?? -1)) throw new Violation('GET_GFX_DMABUF passes the VRAM fd', `fds [${fds}]`);
      if (m.exports.has(rd32(q, 8))) throw new Violation('export handles are unique', `handle ${rd32(q, 8)}`);
    },
    apply: (q) => { m.exports.set(rd32(q!, 8), id); },
  };
}

function predictRelease(m: SessionModel, msg: Msg): Pred {
  const p = msg.payload;
  if (p.length < 8) return err(EINVAL);
  const handle = rd32(p, 4);
  if (!m.exports.has(handle)) return err(ENOENT);
  return { ok: true, errnos: [], payload: 0, apply: () => { m.exports.delete(handle); } };
}

/** Everything before per-command rules: message type, NO_REPLY, negotiation, stray fds. */
function predict(m: SessionModel, s: SessionCmd, msg: Msg, fds: readonly number[], real: SessionReal, frameSize: number): Pred {
  const cmd = msg.command;
  if (msg.head.type !== 0) return err(EINVAL);
  if (msg.head.noReply && !NO_REPLY_ALLOWED.has(cmd)) return err(EINVAL);
  if (!m.negotiated) {
    if (cmd !== CMD.VERSION || s.c !== 'version') return err(EINVAL);
    return predictVersion(m, s, msg, frameSize);
  }
  if (fds.length > 0 && !FDS_ALLOWED.has(cmd) && cmd !== CMD.DMA_UNMAP) return err(EINVAL);
  switch (cmd) {
    case CMD.VERSION: return err(EINVAL);
    case CMD.DMA_MAP: return predictDmaMap(m, msg, fds);
    case CMD.DMA_UNMAP: return predictDmaUnmap(m, msg);
    case CMD.GET_INFO: return predictGetInfo(m, msg);
    case CMD.GET_REGION_INFO: return predictRegionInfo(m, msg);
    case CMD.GET_IRQ_INFO: return predictIrqInfo(m, msg);
    case CMD.SET_IRQS: return err(EINVAL); // neither device has interrupts
    case CMD.REGION_READ: return predictRead(m, msg, real.device);
    case CMD.REGION_WRITE: return predictWrite(m, msg);
    case CMD.RESET: return msg.payload.length === 0 ? { ok: true, errnos: [], payload: 0 } : err(EINVAL);
    case CMD.DMA_READ: case CMD.DMA_WRITE: return err(EINVAL); // server → client only
    case CMD.QUERY_GFX_PLANE: return m.display ? predictQuery(m, msg) : err(ENOSYS);
    case CMD.GET_GFX_DMABUF: return m.display ? predictGetDmabuf(m, msg, real.memFds) : err(ENOSYS);
    case CMD.RELEASE_GFX_DMABUF: return m.display ? predictRelease(m, msg) : err(ENOSYS);
    default: return err(ENOSYS);
  }
}

/* ------------------------------------------------------------------------ */
/* Building messages                                                         */

function messagesOf(m: SessionModel, s: SessionCmd): Msg[] {
  const one = (command: number, payload: Uint8Array, what: string): Msg[] => [{ command, payload, head: s.h, what }];
  switch (s.c) {
    case 'version':
      return one(CMD.VERSION, versionProposal(s.variant), `VERSION ${s.variant}`);
    case 'dmaMap':
      return one(CMD.DMA_MAP, withLen(le([s.argsz, 4], [s.flags, 4], [u64(s.offset), 8], [u64(s.addr), 8], [u64(s.size), 8]), s.len),
        `DMA_MAP [0x${u64(s.addr).toString(16)}, +0x${u64(s.size).toString(16)}) flags ${s.flags}`);
    case 'dmaUnmap': {
      const w = m.windows.length > 0 ? m.windows[s.pick % m.windows.length] : undefined;
      let flags = s.flags;
      let addr = u64(s.addr);
      let size = u64(s.size);
      if (s.mode === 'exact' && w !== undefined) { addr = w.addr; size = w.size; }
      if (s.mode === 'all') {
        flags |= 2;
        if (s.pick % 4 !== 0) { addr = 0n; size = 0n; }
      }
      return one(CMD.DMA_UNMAP, withLen(le([24, 4], [flags, 4], [addr, 8], [size, 8]), s.len), `DMA_UNMAP ${s.mode} [0x${addr.toString(16)}, +0x${size.toString(16)}) flags ${flags}`);
    }
    case 'getInfo':
      return one(CMD.GET_INFO, withLen(le([s.argsz, 4], [0, 4], [0, 4], [0, 4]), s.len), `GET_INFO argsz ${s.argsz}`);
    case 'regionInfo':
      return one(CMD.GET_REGION_INFO, withLen(le([s.argsz, 4], [0, 4], [s.index, 4], [0, 4], [0, 8], [0, 8]), s.len), `GET_REGION_INFO ${s.index} argsz ${s.argsz}`);
    case 'irqInfo':
      return one(CMD.GET_IRQ_INFO, withLen(le([s.argsz, 4], [0, 4], [s.index, 4], [0, 4]), s.len), `GET_IRQ_INFO ${s.index} argsz ${s.argsz}`);
    case 'setIrqs': {
      const head = le([20 + s.data.length + s.argszDelta, 4], [s.flags, 4], [s.index, 4], [s.start, 4], [s.count, 4]);
      const payload = new Uint8Array(head.length + s.data.length);
      payload.set(head);
      payload.set(s.data, head.length);
      return one(CMD.SET_IRQS, payload, `SET_IRQS flags 0x${s.flags.toString(16)} index ${s.index} ${s.start}+${s.count}`);
    }
    case 'read': {
      const off = resolveOffset(m, s.index, s.off);
      return one(CMD.REGION_READ, withLen(le([off, 8], [s.index, 4], [s.count, 4]), s.len), `REGION_READ ${s.index} @0x${off.toString(16)} +${s.count}`);
    }
    case 'write': {
      const off = resolveOffset(m, s.index, s.off);
      const data = pattern(s.dataLen < 0 ? s.count : s.dataLen, s.seed);
      const payload = new Uint8Array(16 + data.length);
      payload.set(le([off, 8], [s.index, 4], [s.count, 4]));
      payload.set(data, 16);
      return one(CMD.REGION_WRITE, payload, `REGION_WRITE ${s.index} @0x${off.toString(16)} +${s.count} (${data.length} data bytes)`);
    }
    case 'reset':
      return one(CMD.RESET, new Uint8Array(s.len), `RESET (${s.len} payload bytes)`);
    case 'unknown':
      return one(s.command, new Uint8Array(s.len), `command ${s.command} (${s.len} bytes)`);
    case 'mode':
      return modeMessages(s, s.h);
    case 'refresh':
      throw new Error('session target: refresh is run by SessionCommand.run');
    case 'query':
      return one(CMD.QUERY_GFX_PLANE, withLen(resize(le([s.argsz, 4], [s.flags, 4], [s.planeType, 4]), 64), s.len),
        `QUERY_GFX_PLANE flags ${s.flags} type ${s.planeType} argsz ${s.argsz}`);
    case 'getDmabuf': {
      const ids = [...m.ids.keys()];
      const id = s.raw >= 0 ? s.raw : ids.length > 0 ? ids[s.pick % ids.length]! : 1;
      return one(CMD.GET_GFX_DMABUF, withLen(le([s.argsz, 4], [id, 4]), s.len), `GET_GFX_DMABUF id ${id} argsz ${s.argsz}`);
    }
    case 'release': {
      const handles = [...m.exports.keys()];
      const handle = s.raw >= 0 ? s.raw : handles.length > 0 ? handles[s.pick % handles.length]! : 1;
      return one(CMD.RELEASE_GFX_DMABUF, withLen(le([8, 4], [handle, 4]), s.len), `RELEASE_GFX_DMABUF handle ${handle}`);
    }
  }
}

/* ------------------------------------------------------------------------ */
/* Running and checking one message                                          */

/** QEMU's largest accepted reply per command (docs/protocol.md "QEMU's client", hw/vfio-user/proxy.c). */
function qemuReplyLimit(command: number, requestSize: number, requestPayload: Uint8Array): number | undefined {
  switch (command) {
    case CMD.VERSION: return requestSize;
    case CMD.DMA_MAP: return 48;
    case CMD.DMA_UNMAP: return 40;
    case CMD.GET_INFO: return 32;
    case CMD.GET_REGION_INFO: return 16 + rd32(requestPayload, 0);
    case CMD.GET_IRQ_INFO: return 32;
    case CMD.SET_IRQS: return requestSize;
    case CMD.REGION_READ: return 32 + rd32(requestPayload, 12);
    case CMD.REGION_WRITE: return requestSize;
    case CMD.RESET: return 16;
    default: return undefined;
  }
}

/**
 * Outcome counts per command number across every case run in this process
 * (for tests that assert the campaign reaches both successes and refusals).
 */
export const sessionCoverage = new Map<number, { ok: number; error: number; silent: number; errnos: Record<number, number> }>();

function cover(command: number, kind: 'ok' | 'error' | 'silent', errno: number): void {
  let e = sessionCoverage.get(command);
  if (e === undefined) { e = { ok: 0, error: 0, silent: 0, errnos: {} }; sessionCoverage.set(command, e); }
  e[kind]++;
  if (errno !== 0) e.errnos[errno] = (e.errnos[errno] ?? 0) + 1;
}

/** What came back for one message: errno 0 with the payload, an errno, or nothing (NO_REPLY). */
type Answer = { readonly errno: number; readonly payload?: Uint8Array } | undefined;

function runMessage(m: SessionModel, r: SessionReal, s: SessionCmd, msg: Msg, step: string): Answer {
  const fds = Array.from({ length: msg.head.fds }, () => r.nextFd++);
  for (const fd of fds) r.given.add(fd);
  const flags = (msg.head.type & F_TYPE_MASK) | (msg.head.noReply ? F_NO_REPLY : 0);
  const id = msg.head.id;
  const frame: Frame = { id, command: msg.command, flags, error: 0, size: HEADER_SIZE + msg.payload.length, payload: msg.payload, fds: [...fds] };
  const pred = predict(m, s, msg, fds, r, frame.size);
  const silent = msg.head.noReply && NO_REPLY_ALLOWED.has(msg.command);
  r.nextMsg++;

  r.logged.length = 0;
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    if (text.includes('mdevsim vfio-user error')) { r.logged.push(text.trim()); return true; }
    return (write as (...a: unknown[]) => boolean).call(process.stderr, chunk, ...rest);
  }) as typeof process.stderr.write;
  let out;
  try {
    out = r.session.handle(frame);
  } catch (e) {
    throw new Violation('Session.handle never throws', `${step} ${msg.what}: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  } finally {
    process.stderr.write = write;
  }
  if (r.logged.length > 0) throw new Violation('handlers raise only VfioError (no internal error)', `${step} ${msg.what}: ${r.logged.join(' | ')}`);

  let okPayload: Uint8Array | undefined;
  let answer: Answer;
  if (silent) {
    if (out !== undefined) throw new Violation('a NO_REPLY request gets no reply, even on error', `${step} ${msg.what}`);
    if (pred.ok === 'maybe') throw new Error(`session target: no way to tell the outcome of silent ${msg.what}`);
  } else {
    if (out === undefined) throw new Violation('every request without NO_REPLY gets exactly one reply', `${step} ${msg.what}`);
    const b = out.bytes;
    if (b.length < HEADER_SIZE) throw new Violation('a reply has a 16-byte header', `${step} ${msg.what}: ${b.length} bytes`);
    const rid = rd16(b, 0), rcmd = rd16(b, 2), rsize = rd32(b, 4), rflags = rd32(b, 8), rerr = rd32(b, 12);
    const where = `${step} ${msg.what}`;
    if (rid !== id || rcmd !== msg.command) throw new Violation('replies echo id and command', `${where}: id ${rid} cmd ${rcmd}`);
    if (rsize !== b.length) throw new Violation('msg_size equals the reply length', `${where}: ${rsize} vs ${b.length}`);
    if ((rflags & F_TYPE_MASK) !== F_TYPE_REPLY || (rflags & F_NO_REPLY) !== 0) throw new Violation('replies carry the Reply type and no NO_REPLY bit', `${where}: flags 0x${rflags.toString(16)}`);
    if (((rflags & F_ERROR) !== 0) !== (rerr !== 0)) throw new Violation('ERROR is set iff error ≠ 0', `${where}: flags 0x${rflags.toString(16)} error ${rerr}`);
    if (rerr !== 0) {
      if (b.length !== HEADER_SIZE) throw new Violation('error replies are header-only', `${where}: ${b.length} bytes`);
      if (out.fds.length !== 0) throw new Violation('error replies carry no fds', `${where}: [${out.fds}]`);
      if (pred.ok === true) throw new Violation('the reference model predicts success', `${where}: got errno ${rerr}`);
      if (!pred.errnos.includes(rerr)) throw new Violation('the errno is the one the reference model predicts', `${where}: got ${rerr}, expected ${pred.errnos.join(' or ')}`);
      pred.onError?.(rerr);
      answer = { errno: rerr };
    } else {
      if (pred.ok === false) throw new Violation('the reference model predicts an error', `${where}: succeeded, expected errno ${pred.errnos.join(' or ')}`);
      const payload = b.subarray(HEADER_SIZE);
      if (pred.payload !== undefined && payload.length !== pred.payload) {
        throw new Violation('the reply payload has the predicted size', `${where}: ${payload.length} bytes, expected ${pred.payload}`);
      }
      const limit = qemuReplyLimit(msg.command, frame.size, msg.payload);
      if (limit !== undefined && b.length > limit) throw new Violation('replies fit QEMU\'s limits (docs/protocol.md)', `${where}: ${b.length} > ${limit}`);
      if (out.fds.length !== (pred.fds ?? 0)) throw new Violation('a reply carries the predicted fds', `${where}: [${out.fds}], expected ${pred.fds ?? 0}`);
      for (const fd of out.fds) if (!r.memFds.has(fd)) throw new Violation('a reply passes only device memory fds', `${where}: fd ${fd}`);
      pred.verify?.(payload, out.fds);
      okPayload = payload;
      answer = { errno: 0, payload };
    }
  }
  const succeeded = silent ? pred.ok === true : okPayload !== undefined;
  cover(msg.command, silent ? 'silent' : succeeded ? 'ok' : 'error', answer?.errno ?? 0);
  if (succeeded) pred.apply?.(okPayload);
  checkState(m, r, `${step} ${msg.what}`);
  return answer;
}

function checkState(m: SessionModel, r: SessionReal, where: string): void {
  const held = new Set<number>();
  for (const w of m.windows) if (w.fd !== undefined) held.add(w.fd);
  for (const [fd, n] of r.closes) {
    if (!r.given.has(fd)) throw new Violation('the session closes only fds it was given', `${where}: closed ${fd}`);
    if (n > 1) throw new Violation('no fd is closed twice', `${where}: fd ${fd} closed ${n} times`);
  }
  for (const fd of r.given) {
    const closed = (r.closes.get(fd) ?? 0) === 1;
    if (closed === held.has(fd)) {
      throw new Violation('client fds are closed unless a DMA window holds them', `${where}: fd ${fd} ${closed ? 'closed while held' : 'still open but not held by any window'}`);
    }
  }
  if (r.session.dmaMapCount !== m.windows.length) throw new Violation('the DMA window count matches the model', `${where}: ${r.session.dmaMapCount} vs ${m.windows.length}`);
  if (r.session.exportCount !== m.exports.size) throw new Violation('the export handle count matches the model', `${where}: ${r.session.exportCount} vs ${m.exports.size}`);
  if ((r.session.negotiated !== undefined) !== m.negotiated) throw new Violation('negotiation state matches the model', `${where}: ${r.session.negotiated !== undefined}`);
}

/* ------------------------------------------------------------------------ */
/* fast-check commands                                                       */

/** One plain command as an fc.Command over (model, real). */
export class SessionCommand implements fc.Command<SessionModel, SessionReal> {
  constructor(readonly spec: SessionCmd) {}
  check(): boolean {
    return true; // every command is legal input; the model predicts refusals
  }
  run(m: SessionModel, r: SessionReal): void {
    if (this.spec.c === 'refresh') {
      const s = this.spec;
      if (s.mode !== null) for (const msg of modeMessages(s.mode, s.h)) runMessage(m, r, s, msg, `msg ${r.nextMsg} (refresh mode):`);
      const query: Msg = { command: CMD.QUERY_GFX_PLANE, payload: resize(le([64, 4], [2, 4], [1, 4]), 64), head: s.h, what: 'QUERY_GFX_PLANE PRIMARY (refresh)' };
      let id = 0;
      for (let i = 1; i <= 2; i++) {
        const a = runMessage(m, r, s, query, `msg ${r.nextMsg} (refresh ${i}/3):`);
        if (a?.errno === 0 && a.payload !== undefined) id = rd32(a.payload, 56);
      }
      const get: Msg = { command: CMD.GET_GFX_DMABUF, payload: le([56, 4], [id, 4]), head: s.h, what: `GET_GFX_DMABUF id ${id} (refresh)` };
      runMessage(m, r, s, get, `msg ${r.nextMsg} (refresh 3/3):`);
      return;
    }
    const msgs = messagesOf(m, this.spec);
    msgs.forEach((msg, i) => runMessage(m, r, this.spec, msg, `msg ${r.nextMsg}${msgs.length > 1 ? ` (${i + 1}/${msgs.length})` : ''}:`));
  }
  toString(): string {
    return describeCmd(this.spec);
  }
}

function finish(_m: SessionModel, r: SessionReal): void {
  r.session.close();
  r.session.close(); // idempotent
  for (const fd of r.given) {
    if (r.closes.get(fd) !== 1) throw new Violation('after close(), every client fd is closed exactly once', `fd ${fd} closed ${r.closes.get(fd) ?? 0} times`);
  }
  for (const fd of r.closes.keys()) if (!r.given.has(fd)) throw new Violation('the session closes only fds it was given', `fd ${fd}`);
  if (r.device instanceof MbochsDevice) {
    const st = r.device.dmabufStats();
    if (st.liveHandles !== 0 || st.records !== 0 || st.liveRecords !== 0 || st.pinnedPages !== 0) {
      throw new Violation('after close(), the device holds no dmabuf handle, record or pinned page (invariant 24)', JSON.stringify(st));
    }
  }
  r.device.destroy();
  if (r.budget.remaining !== r.budget.total) throw new Violation('destroy() returns the instance budget', `${r.budget.remaining} of ${r.budget.total}`);
}

/** Run one case through fc.modelRun. */
export function checkSessionCase(c: SessionCase): void {
  const { model, real } = setup(c);
  try {
    fc.modelRun(() => ({ model, real }), c.cmds.map((s) => new SessionCommand(s)));
    finish(model, real);
  } finally {
    real.device.destroy();
  }
}

/**
 * The same commands as an `fc.commands` arbitrary, for property tests that
 * want fast-check's command shrinking: run with
 * `fc.modelRun(() => sessionSetup(c), cmds)` and then {@link sessionFinish}.
 * (The campaign target itself generates plain command lists so failures can
 * be saved to the corpus and replayed by seed and path.)
 */
export function sessionCommandsArbitrary(display: boolean, maxCommands = 40): fc.Arbitrary<Iterable<fc.Command<SessionModel, SessionReal>>> {
  return fc.commands([arbSessionCmd(display).map((s) => new SessionCommand(s))], { maxCommands });
}
export const sessionSetup = setup;
export const sessionFinish = finish;

/* ------------------------------------------------------------------------ */
/* Description                                                               */

const u64t = (v: readonly [number, number]): string => `0x${u64(v).toString(16)}`;
function headText(h: MsgHead): string {
  const bits = [h.noReply ? 'NO_REPLY' : '', h.type !== 0 ? `type ${h.type}` : '', h.fds > 0 ? `${h.fds} fds` : ''].filter(Boolean);
  return `#${h.id}${bits.length > 0 ? ` [${bits.join(', ')}]` : ''}`;
}
const offText = (o: OffsetSpec): string => (o.k === 'lit' ? u64t(o.v) : `end${o.d >= 0 ? '+' : ''}${o.d}`);

export function describeCmd(s: SessionCmd): string {
  const len = 'len' in s && s.len >= 0 ? ` len ${s.len}` : '';
  switch (s.c) {
    case 'version': return `VERSION ${s.variant} ${headText(s.h)}`;
    case 'dmaMap': return `DMA_MAP argsz ${s.argsz} flags ${s.flags} off ${u64t(s.offset)} [${u64t(s.addr)}, +${u64t(s.size)})${len} ${headText(s.h)}`;
    case 'dmaUnmap': return `DMA_UNMAP ${s.mode} pick ${s.pick} flags ${s.flags} [${u64t(s.addr)}, +${u64t(s.size)})${len} ${headText(s.h)}`;
    case 'getInfo': return `GET_INFO argsz ${s.argsz}${len} ${headText(s.h)}`;
    case 'regionInfo': return `GET_REGION_INFO ${s.index} argsz ${s.argsz}${len} ${headText(s.h)}`;
    case 'irqInfo': return `GET_IRQ_INFO ${s.index} argsz ${s.argsz}${len} ${headText(s.h)}`;
    case 'setIrqs': return `SET_IRQS flags 0x${s.flags.toString(16)} index ${s.index} ${s.start}+${s.count} data[${s.data.length}] argsz${s.argszDelta >= 0 ? '+' : ''}${s.argszDelta} ${headText(s.h)}`;
    case 'read': return `REGION_READ ${s.index} @${offText(s.off)} +${s.count}${len} ${headText(s.h)}`;
    case 'write': return `REGION_WRITE ${s.index} @${offText(s.off)} +${s.count}${s.dataLen >= 0 ? ` data ${s.dataLen}` : ''} ${headText(s.h)}`;
    case 'reset': return `RESET len ${s.len} ${headText(s.h)}`;
    case 'unknown': return `command ${s.command} len ${s.len} ${headText(s.h)}`;
    case 'mode': return `mode ${s.xres}x${s.yres} virt ${s.virt} @${s.x},${s.y} enable 0x${s.enable.toString(16)} (${MODE_WRITES} writes) ${headText(s.h)}`;
    case 'refresh': return `refresh${s.mode === null ? '' : ` after mode ${s.mode.xres}x${s.mode.yres} virt ${s.mode.virt} @${s.mode.x},${s.mode.y} enable 0x${s.mode.enable.toString(16)}`} (QUERY ×2, GET_GFX_DMABUF) ${headText(s.h)}`;
    case 'query': return `QUERY_GFX_PLANE flags ${s.flags} type ${s.planeType} argsz ${s.argsz}${len} ${headText(s.h)}`;
    case 'getDmabuf': return `GET_GFX_DMABUF ${s.raw >= 0 ? `id ${s.raw}` : `pick ${s.pick}`} argsz ${s.argsz}${len} ${headText(s.h)}`;
    case 'release': return `RELEASE_GFX_DMABUF ${s.raw >= 0 ? `handle ${s.raw}` : `pick ${s.pick}`}${len} ${headText(s.h)}`;
  }
}

export function describeSessionCase(c: SessionCase): string {
  return [
    `${c.device} quirks ${c.quirks} memory ${c.memory}; limits: maxDmaMaps ${c.maxDmaMaps} maxDataXfer ${c.maxDataXfer} maxExports ${c.maxExports}`,
    ...c.cmds.map((s, i) => `  ${i}: ${describeCmd(s)}`),
  ].join('\n');
}

export default defineTarget<SessionCase>({
  name: 'session',
  description: 'vfio-user session vs a reference model (fc.modelRun): replies, errnos, sizes, QEMU limits, fd ownership',
  arbitrary: arbSessionCase,
  check: checkSessionCase,
  describe: describeSessionCase,
  unit: { name: 'messages', count: countSessionMessages },
  coverage: {
    labels: (c: SessionCase) => [`device:${c.device}/${c.quirks}/${c.memory}`, ...c.cmds.map((x) => `cmd:${x.c}${x.c === 'regionInfo' || x.c === 'read' || x.c === 'write' ? `:${x.index}` : ''}${x.h.noReply ? ':noreply' : ''}`)],
  },
});
