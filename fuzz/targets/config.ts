/**
 * Fuzz target `config`: PCI config-space invariants, checked after every
 * access of a generated sequence.
 *
 * The oracle is written from the PCI spec and the case's plain-data spec,
 * not from src/pci: it derives the expected power-on image and write masks
 * itself, keeps a shadow image updated with the QEMU write rule (merge under
 * wmask, clear written 1s under w1cmask, PM's unsupported-D-state rule), and
 * compares. On top of that it checks the invariants directly: read-only bits
 * never change, RW bits read back what was written, RW1C bits clear only
 * where 1s were written and are never set, BAR sizing, the capability chain,
 * byte composition of wide reads, reset, and that invalid accesses throw
 * AccessError (EFAULT) and change nothing, while valid ones throw nothing.
 */
import { AccessError } from '../../src/util/errors.ts';
import type { ConfigSpace, ConfigSpaceSnapshot, ConfigWriteEvent } from '../../src/pci/index.ts';
import {
  arbConfigCase,
  buildConfigSpace,
  countAccesses,
  describeConfigCase,
  type CapSpec,
  type ConfigCase,
  type ConfigOp,
  type ConfigSpec,
} from '../arb/config.ts';
import { defineTarget } from '../target.ts';

const hex = (n: number): string => `0x${n.toString(16)}`;
const capSize = (c: CapSpec): number => (c.type === 'pm' ? 8 : c.size);

// PCI 3.0 numbers, spelled out here on purpose (the oracle does not share constants with the code under test).
const QEMU_COMMAND_WMASK = 0x0507; // IO | MEMORY | MASTER | SERR | INTX_DISABLE
const STATUS_ERROR_BITS = 0xf900; // PARITY | SIG/REC TARGET ABORT | REC MASTER ABORT | SIG SYSTEM ERROR | DETECTED PARITY
const STATUS_CAP_LIST = 0x10;
const PM_PME_SUPPORT = 0xf800;

interface Model {
  readonly spec: ConfigSpec;
  readonly size: number;
  readonly image: Uint8Array;
  readonly wmask: Uint8Array;
  readonly w1cmask: Uint8Array;
  /** PM capabilities: PMCSR offset and PMC value. */
  readonly pm: readonly { readonly ctrl: number; readonly pmc: number }[];
  /** Per byte: bits a PM capability's D-state rule may hold back (PMCSR PowerState). */
  readonly pmStateMask: Uint8Array;
  /** Expected capability chain. */
  readonly chain: readonly { readonly id: number; readonly offset: number; readonly next: number }[];
  readonly bars: readonly { readonly offset: number; readonly width: 4 | 8; readonly size: bigint; readonly typeBits: number; readonly addrMask: bigint }[];
}

const put = (a: Uint8Array, off: number, size: number, v: number | bigint): void => {
  let x = BigInt(v);
  for (let i = 0; i < size; i++) { a[off + i] = Number(x & 0xffn); x >>= 8n; }
};
const get = (a: ArrayLike<number>, off: number, size: number): number => {
  let v = 0;
  for (let i = size - 1; i >= 0; i--) v = v * 256 + (a[off + i] ?? 0);
  return v;
};

class Violation extends Error {
  constructor(invariant: string, detail: string) {
    super(`invariant violated: ${invariant}: ${detail}`);
    this.name = 'InvariantViolation';
  }
}

/**
 * Expected power-on image, masks and chain from the spec. Capability offsets
 * are the one thing taken from the implementation (automatic placement is a
 * policy); they are checked against the placement rule here.
 */
function buildModel(spec: ConfigSpec, cs: ConfigSpace): Model {
  const size = spec.size;
  const image = new Uint8Array(size);
  const wmask = new Uint8Array(size);
  const w1cmask = new Uint8Array(size);
  const h = spec.header;
  put(image, 0x00, 2, h.vendorId);
  put(image, 0x02, 2, h.deviceId);
  put(image, 0x04, 2, h.command ?? 0);
  put(wmask, 0x04, 2, h.commandWmask ?? QEMU_COMMAND_WMASK);
  put(image, 0x06, 2, (h.status ?? 0) | (spec.caps.length > 0 ? STATUS_CAP_LIST : 0));
  put(w1cmask, 0x06, 2, h.statusW1cmask ?? STATUS_ERROR_BITS);
  put(image, 0x08, 1, h.revision ?? 0);
  put(image, 0x09, 1, h.progIf ?? 0);
  put(image, 0x0a, 2, h.classCode);
  if (h.cacheLineSizeWritable !== false) wmask[0x0c] = 0xff;
  image[0x0e] = h.multiFunction === true ? 0x80 : 0;
  put(image, 0x2c, 2, h.subsystemVendorId ?? 0);
  put(image, 0x2e, 2, h.subsystemId ?? 0);
  image[0x3c] = h.interruptLine ?? 0;
  if (h.interruptLineWritable !== false) wmask[0x3c] = 0xff;
  image[0x3d] = h.interruptPin ?? 0;

  const bars = spec.bars.map((b) => {
    const offset = 0x10 + 4 * b.index;
    const width: 4 | 8 = b.kind === 'mem64' ? 8 : 4;
    const typeBits = b.kind === 'io' ? 0x1 : (b.kind === 'mem64' ? 0x4 : 0x0) | (b.prefetchable === true ? 0x8 : 0);
    const all = width === 8 ? (1n << 64n) - 1n : 0xffff_ffffn;
    const addrMask = all & ~(BigInt(b.size) - 1n) & ~BigInt(b.kind === 'io' ? 0x3 : 0xf);
    image[offset] = typeBits;
    put(wmask, offset, width, addrMask);
    return { offset, width, size: BigInt(b.size), typeBits, addrMask };
  });
  if (spec.romSize > 0) put(wmask, 0x30, 4, ((~(spec.romSize - 1) & 0xfffff800) | 1) >>> 0);

  // Capability placement: explicit offsets exactly; automatic ones after the previous, dword aligned, from 0x40.
  const placed = cs.capabilities;
  if (placed.length !== spec.caps.length) {
    throw new Violation('capabilities are placed as declared', `${placed.length} placed, ${spec.caps.length} declared`);
  }
  const claimed = new Uint8Array(size);
  let autoAt = 0x40;
  const allAuto = spec.caps.every((c) => c.offset === undefined);
  const pm: { ctrl: number; pmc: number }[] = [];
  spec.caps.forEach((c, i) => {
    const p = placed[i];
    const csize = capSize(c);
    if (p === undefined) throw new Violation('capabilities are placed as declared', `capability ${i} missing`);
    const expectedId = c.type === 'pm' ? 0x01 : c.type === 'vendor' ? 0x09 : c.id;
    if (p.id !== expectedId || p.size !== csize) {
      throw new Violation('capabilities are placed as declared', `capability ${i}: id ${p.id} size ${p.size}, expected ${expectedId}/${csize}`);
    }
    if (c.offset !== undefined && p.offset !== c.offset) {
      throw new Violation('explicit capability offsets are honoured', `capability ${i} at ${hex(p.offset)}, asked ${hex(c.offset)}`);
    }
    if (allAuto) {
      if (p.offset !== autoAt) throw new Violation('automatic placement follows the previous capability, dword aligned, from 0x40', `capability ${i} at ${hex(p.offset)}, expected ${hex(autoAt)}`);
      autoAt = Math.ceil((p.offset + csize) / 4) * 4;
    }
    if (p.offset < 0x40 || p.offset % 4 !== 0 || p.offset + csize > size) {
      throw new Violation('capabilities lie dword aligned inside [0x40, size)', `capability ${i} at ${hex(p.offset)} size ${csize}`);
    }
    for (let k = p.offset; k < p.offset + csize; k++) {
      if (claimed[k] !== 0) throw new Violation('capabilities do not overlap', `byte ${hex(k)}`);
      claimed[k] = 1;
    }
    const base = p.offset;
    if (c.type === 'pm') {
      put(image, base + 2, 2, c.pmc);
      put(image, base + 4, 2, c.noSoftReset ? 0x0008 : 0);
      const pme = (c.pmc & PM_PME_SUPPORT) !== 0;
      put(wmask, base + 4, 2, 0x0003 | (pme ? 0x0100 : 0));
      put(w1cmask, base + 4, 2, pme ? 0x8000 : 0);
      pm.push({ ctrl: base + 4, pmc: c.pmc });
    } else {
      image.set(c.bytes, base);
      wmask.set(c.wmask, base);
      w1cmask.set(c.w1cmask, base);
      if (c.type === 'vendor') image[base + 2] = c.size;
    }
    image[base] = expectedId;
  });
  const chain = placed.map((p, i) => ({ id: p.id, offset: p.offset, next: placed[i + 1]?.offset ?? 0 }));
  for (const e of chain) image[e.offset + 1] = e.next;
  image[0x34] = chain[0]?.offset ?? 0;
  if (spec.unclaimedWritable) for (let k = 0x40; k < size; k++) if (claimed[k] === 0) wmask[k] = 0xff;
  const pmStateMask = new Uint8Array(size);
  for (const p of pm) pmStateMask[p.ctrl] = 0x03;
  return { spec, size, image, wmask, w1cmask, pm, pmStateMask, chain, bars };
}

function compareBytes(invariant: string, actual: ArrayLike<number>, expected: ArrayLike<number>, cs: ConfigSpace): void {
  const n = Math.max(actual.length, expected.length);
  for (let i = 0; i < n; i++) {
    if (actual[i] !== expected[i]) {
      throw new Violation(invariant, `byte ${hex(i)} (${cs.describeOffset(i)}) is ${hex(actual[i] ?? -1)}, expected ${hex(expected[i] ?? -1)}`);
    }
  }
}

/** Apply one guest write to the shadow image with the QEMU rule and PM's D-state rule. */
function shadowWrite(m: Model, shadow: Uint8Array, offset: number, data: ArrayLike<number>): void {
  const end = offset + data.length;
  const before = shadow.slice();
  for (let i = 0; i < data.length; i++) {
    const a = offset + i;
    const d = data[i] ?? 0;
    const wm = m.wmask[a] ?? 0;
    shadow[a] = (((shadow[a] ?? 0) & ~wm) | (d & wm)) & ~(d & (m.w1cmask[a] ?? 0));
  }
  for (const p of m.pm) {
    if (p.ctrl < offset || p.ctrl >= end) continue;
    const state = (shadow[p.ctrl] ?? 0) & 3;
    const unsupported = (state === 1 && (p.pmc & 0x0200) === 0) || (state === 2 && (p.pmc & 0x0400) === 0);
    if (unsupported) shadow[p.ctrl] = ((shadow[p.ctrl] ?? 0) & ~3) | ((before[p.ctrl] ?? 0) & 3);
  }
}

/** Name which write rule a differing byte breaks (for a precise failure message). */
function classify(m: Model, cs: ConfigSpace, before: Uint8Array, op: { offset: number; data: ArrayLike<number> } | undefined): void {
  const img = cs.image;
  for (let a = 0; a < m.size; a++) {
    const old = before[a] ?? 0;
    const now = img[a] ?? 0;
    const inRange = op !== undefined && a >= op.offset && a < op.offset + op.data.length;
    const d = inRange ? (op.data[a - op.offset] ?? 0) : 0;
    const wm = m.wmask[a] ?? 0;
    const w1c = m.w1cmask[a] ?? 0;
    // PM PowerState may legitimately refuse an unsupported D-state (PCI PM 1.2 §3.2.4).
    const pmState = m.pmStateMask[a] ?? 0;
    if (inRange && ((now ^ d) & wm & ~pmState) !== 0) {
      throw new Violation('RW bits read back what was written under the mask', `byte ${hex(a)} (${cs.describeOffset(a)}) reads ${hex(now)}, wrote ${hex(d)}, wmask ${hex(wm)}`);
    }
    if (old === now) continue;
    const where = (): string => `byte ${hex(a)} (${cs.describeOffset(a)}) ${hex(old)} -> ${hex(now)}`;
    if (!inRange) throw new Violation('an access changes no byte outside its range', where());
    if (((old ^ now) & ~(wm | w1c) & 0xff) !== 0) throw new Violation('read-only bits never change under any write', `${where()}, wrote ${hex(d)}, wmask ${hex(wm)} w1cmask ${hex(w1c)}`);
    if ((now & ~old & w1c) !== 0) throw new Violation('RW1C bits are never set by a write', `${where()}, wrote ${hex(d)}`);
    if ((old & ~now & w1c & ~d) !== 0) throw new Violation('RW1C bits clear only where 1s were written', `${where()}, wrote ${hex(d)}`);
  }
}

interface State {
  shadow: Uint8Array;
  saved: ConfigSpaceSnapshot | undefined;
  /** The snapshot's bytes as they were when it was taken. */
  savedCopy: Uint8Array | undefined;
  events: ConfigWriteEvent[];
  /** Whether the current op was an accepted write. */
  wrote: boolean;
}

const validOffset = (o: number, count: number, size: number): boolean =>
  Number.isSafeInteger(o) && o >= 0 && Number.isSafeInteger(count) && count >= 0 && o + count <= size;

function expectAccessError(what: string, fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (e instanceof AccessError && e.errno === 14) return;
    throw new Violation('invalid accesses throw AccessError (EFAULT) and nothing else', `${what} threw ${String(e)}`);
  }
  throw new Violation('out-of-range or malformed accesses are refused', `${what} did not throw`);
}

function guard<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new Violation('valid accesses never throw', `${what} threw ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  }
}

function checkGlobal(m: Model, cs: ConfigSpace, st: State, afterOp: string): void {
  compareBytes(`image equals the QEMU-rule shadow model (after ${afterOp})`, cs.image, st.shadow, cs);
  const walk = cs.walkCapabilities();
  if (!walk.ok) throw new Violation('the capability chain stays valid, acyclic and inside config space', `${walk.error}: ${walk.message}`);
  if (walk.caps.length !== m.chain.length || walk.caps.some((c, i) => c.offset !== m.chain[i]?.offset || c.id !== m.chain[i]?.id || c.next !== m.chain[i]?.next)) {
    throw new Violation('the capability chain never changes', `walked ${JSON.stringify(walk.caps)}, expected ${JSON.stringify(m.chain)}`);
  }
  const status = get(cs.image, 0x06, 2);
  if (((status & STATUS_CAP_LIST) !== 0) !== (m.chain.length > 0)) {
    throw new Violation('STATUS.CAP_LIST is set iff a capability exists', `status ${hex(status)}`);
  }
  for (const b of m.bars) {
    let v = 0n;
    for (let i = b.width - 1; i >= 0; i--) v = (v << 8n) | BigInt(cs.image[b.offset + i] ?? 0);
    const low = Number(v & 0xfn);
    if ((b.typeBits & 1) === 1 ? (low & 1) !== 1 || (low & 2) !== 0 : low !== b.typeBits) {
      throw new Violation('BAR type bits are always intact', `BAR at ${hex(b.offset)} reads ${hex(Number(v & 0xffff_ffffn))}`);
    }
    if ((v & ~b.addrMask & ~BigInt(b.typeBits) & ((1n << BigInt(8 * b.width)) - 1n)) !== 0n) {
      throw new Violation('a BAR holds only address bits above its size plus its type bits', `BAR at ${hex(b.offset)} holds ${hex(Number(v & 0xffff_ffffn))} (size ${b.size})`);
    }
  }
}

function runOp(m: Model, cs: ConfigSpace, st: State, o: ConfigOp, index: number): void {
  const what = `op ${index}`;
  const size = m.size;
  const before = cs.image.slice();
  st.events.length = 0;
  st.wrote = false;
  switch (o.op) {
    case 'read': {
      const ok = (o.size === 1 || o.size === 2 || o.size === 4) && validOffset(o.offset, o.size, size);
      if (!ok) { expectAccessError(`${what} read(${o.offset}, ${o.size})`, () => cs.read(o.offset, o.size as 1)); break; }
      const v = guard(what, () => cs.read(o.offset, o.size as 1 | 2 | 4));
      const bytes = [];
      for (let i = 0; i < o.size; i++) bytes.push(guard(what, () => cs.read(o.offset + i, 1)));
      const composed = bytes.reduceRight((acc, b) => acc * 256 + b, 0);
      if (v !== composed) throw new Violation('wide and unaligned reads equal their byte composition', `${what} read ${hex(v)}, bytes give ${hex(composed)}`);
      if (v !== get(st.shadow, o.offset, o.size)) throw new Violation('reads return the image', `${what} read ${hex(v)} at ${hex(o.offset)}`);
      break;
    }
    case 'readBytes': {
      const ok = validOffset(o.offset, o.length, size);
      const dst = new Uint8Array(Math.max(0, Math.min(o.length, 4096))).fill(0xa5);
      if (!ok) {
        expectAccessError(`${what} readBytes(${o.offset}, ${o.length})`, () => cs.readBytes(o.offset, dst));
        if (dst.some((b) => b !== 0xa5)) throw new Violation('a refused read leaves the destination untouched', what);
        break;
      }
      guard(what, () => cs.readBytes(o.offset, dst));
      compareBytes(`readBytes returns the image bytes (${what})`, dst, st.shadow.subarray(o.offset, o.offset + o.length), cs);
      break;
    }
    case 'write': {
      const s = o.size;
      const sized = s === 1 || s === 2 || s === 4;
      const limit = sized ? 2 ** (8 * s) : 0;
      const ok = sized && validOffset(o.offset, s, size) && Number.isInteger(o.value) && o.value >= -limit / 2 && o.value < limit;
      if (!ok) { expectAccessError(`${what} write(${o.offset}, ${s}, ${o.value})`, () => cs.write(o.offset, s as 1, o.value)); break; }
      const data = new Uint8Array(s);
      put(data, 0, s, o.value < 0 ? o.value + limit : o.value);
      guard(what, () => cs.write(o.offset, s as 1 | 2 | 4, o.value));
      afterWrite(m, cs, st, before, o.offset, data, what);
      // BAR sizing: all ones into a whole (low) BAR dword reads back ~(size-1) with the type bits.
      const bar = m.bars.find((b) => b.offset === o.offset);
      if (bar !== undefined && s === 4 && o.value === 0xffff_ffff) {
        const expect = Number((bar.addrMask & 0xffff_ffffn) | BigInt(bar.typeBits));
        if (cs.read(bar.offset, 4) !== expect) {
          throw new Violation('BAR sizing returns ~(size-1) with the type bits', `BAR at ${hex(bar.offset)} reads ${hex(cs.read(bar.offset, 4))}, expected ${hex(expect)}`);
        }
      }
      break;
    }
    case 'writeBytes': {
      const ok = validOffset(o.offset, o.data.length, size);
      if (!ok) { expectAccessError(`${what} writeBytes(${o.offset}, ${o.data.length} bytes)`, () => cs.writeBytes(o.offset, o.data)); break; }
      guard(what, () => cs.writeBytes(o.offset, o.data));
      afterWrite(m, cs, st, before, o.offset, o.data, what);
      break;
    }
    case 'reset':
      guard(what, () => cs.reset());
      compareBytes('reset restores the power-on image', cs.image, m.image, cs);
      st.shadow = m.image.slice();
      break;
    case 'snapshot':
      st.saved = guard(what, () => cs.snapshot());
      compareBytes('a snapshot equals the image', st.saved.bytes, cs.image, cs);
      st.savedCopy = st.saved.bytes.slice();
      break;
    case 'restore':
      if (st.saved === undefined || st.savedCopy === undefined) break;
      compareBytes('a snapshot is a copy: later accesses do not change it', st.saved.bytes, st.savedCopy, cs);
      guard(what, () => cs.restore(st.saved as ConfigSpaceSnapshot));
      compareBytes('restore brings back the snapshot exactly', cs.image, st.savedCopy, cs);
      st.shadow = st.savedCopy.slice();
      break;
  }
  if (o.op !== 'write' && o.op !== 'writeBytes' && o.op !== 'reset' && o.op !== 'restore') {
    compareBytes(`${o.op} changes no state`, cs.image, before, cs);
  }
  if (!st.wrote && st.events.length !== 0) {
    throw new Violation('only accepted writes run write hooks', `${what} (${o.op}) ran ${st.events.length} hook call(s)`);
  }
  checkGlobal(m, cs, st, what);
}

function afterWrite(m: Model, cs: ConfigSpace, st: State, before: Uint8Array, offset: number, data: Uint8Array, what: string): void {
  st.wrote = true;
  classify(m, cs, before, { offset, data });
  shadowWrite(m, st.shadow, offset, data);
  compareBytes(`image equals the QEMU-rule shadow model (after ${what})`, cs.image, st.shadow, cs);
  // The whole-space recorder hook sees exactly this access once (an empty write overlaps nothing).
  const expected = data.length > 0 ? 1 : 0;
  if (st.events.length !== expected) throw new Violation('a write runs each overlapping hook exactly once', `${what}: ${st.events.length} hook calls for ${data.length} bytes`);
  const ev = st.events[0];
  if (ev === undefined) return;
  if (ev.offset !== offset || ev.size !== data.length) throw new Violation('hooks see the access range', `${what}: hook saw ${ev.offset}+${ev.size}`);
  compareBytes(`hooks see the written data (${what})`, ev.data, data, cs);
  compareBytes(`hooks see the old bytes (${what})`, ev.old, before.subarray(offset, offset + data.length), cs);
  compareBytes(`hooks see the new bytes (${what})`, ev.new, st.shadow.subarray(offset, offset + data.length), cs);
}

/** Run one case; throws an InvariantViolation naming the broken invariant. */
export function checkConfigCase(c: ConfigCase): void {
  const events: ConfigWriteEvent[] = [];
  const size = c.spec.size;
  const cs = buildConfigSpace(c.spec, [{ name: 'recorder', offset: 0, size, onWrite: (ev) => { events.push(ev); } }]);
  const m = buildModel(c.spec, cs);
  compareBytes('the power-on image matches the spec', cs.image, m.image, cs);
  compareBytes('wmask matches the spec (RW bits: COMMAND subset, cache line, interrupt line, BARs, ROM, capability fields)', cs.wmask, m.wmask, cs);
  compareBytes('w1cmask matches the spec (STATUS error bits, capability W1C fields)', cs.w1cmask, m.w1cmask, cs);
  for (let i = 0; i < size; i++) {
    if (((cs.wmask[i] ?? 0) & (cs.w1cmask[i] ?? 0)) !== 0) throw new Violation('wmask and w1cmask are disjoint', `byte ${hex(i)}`);
  }
  const st: State = { shadow: m.image.slice(), saved: undefined, savedCopy: undefined, events, wrote: false };
  checkGlobal(m, cs, st, 'construction');
  c.ops.forEach((o, i) => runOp(m, cs, st, o, i));
  // After any sequence, reset restores the power-on image.
  cs.reset();
  compareBytes('reset restores the power-on image (end of sequence)', cs.image, m.image, cs);
}

export default defineTarget<ConfigCase>({
  name: 'config',
  description: 'PCI config space: masks, RW1C, BAR sizing, capability chain, bounds, reset, snapshot',
  arbitrary: arbConfigCase(),
  check: checkConfigCase,
  describe: describeConfigCase,
  unit: { name: 'accesses', count: countAccesses },
});
