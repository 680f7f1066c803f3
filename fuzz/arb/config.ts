/**
 * Shared fast-check arbitraries for PCI config space: realistic config-space
 * specs (mdpy-, mbochs-shaped and a kitchen-sink device, plus random valid
 * ones) and guest access sequences over them. Used by the property tests in
 * test/unit/pci and by the `config` fuzz target.
 *
 * Every generated value is plain data (objects, arrays, numbers, booleans,
 * strings, Uint8Array) that round-trips through msgpack, so a failing case
 * can be saved to fuzz/corpus and replayed.
 */
import fc from 'fast-check';
import { AccessError } from '../../src/util/errors.ts';
import {
  ConfigSpace,
  powerManagementCapability,
  vendorCapability,
  PCI_CAP_ID_MSI,
  PCI_COMMAND_IO,
  PCI_COMMAND_MEMORY,
  PCI_PM_CAP_D1,
  PCI_PM_CAP_VER_1_2,
  PCI_STATUS_66MHZ,
  PCI_STATUS_CAP_LIST,
  PCI_STATUS_FAST_BACK,
  PCI_STATUS_RW1C_MASK,
  PCI_STATUS_SIG_TARGET_ABORT,
  type BarOptions,
  type CapabilityOptions,
  type ConfigSpaceSnapshot,
  type HeaderOptions,
  type WriteHookOptions,
} from '../../src/pci/index.ts';

// ---------------------------------------------------------------------------
// Specs: plain-data descriptions of a config space

/** A capability in plain data (builders are applied by {@link buildConfigSpace}). */
export type CapSpec =
  | { readonly type: 'vendor'; readonly size: number; readonly offset?: number; readonly bytes: Uint8Array; readonly wmask: Uint8Array; readonly w1cmask: Uint8Array }
  | { readonly type: 'pm'; readonly offset?: number; readonly pmc: number; readonly noSoftReset: boolean }
  | { readonly type: 'generic'; readonly id: number; readonly size: number; readonly offset?: number; readonly bytes: Uint8Array; readonly wmask: Uint8Array; readonly w1cmask: Uint8Array };

/** A config space in plain data: ConfigSpaceOptions without functions. */
export interface ConfigSpec {
  /** Preset name, or 'random'. */
  readonly name: string;
  readonly size: 256 | 255;
  readonly header: HeaderOptions;
  readonly bars: readonly BarOptions[];
  /** Expansion ROM size; 0 = no ROM. */
  readonly romSize: number;
  readonly caps: readonly CapSpec[];
  readonly unclaimedWritable: boolean;
}

/** Turn a plain capability spec into builder options. */
export function capabilityOptions(c: CapSpec): CapabilityOptions {
  const at = c.offset !== undefined ? { offset: c.offset } : {};
  switch (c.type) {
    case 'vendor':
      return vendorCapability({ size: c.size, bytes: c.bytes, wmask: c.wmask, w1cmask: c.w1cmask, ...at });
    case 'pm':
      return powerManagementCapability({ pmc: c.pmc, noSoftReset: c.noSoftReset, ...at });
    case 'generic':
      return { id: c.id, size: c.size, bytes: c.bytes, wmask: c.wmask, w1cmask: c.w1cmask, name: `cap-${c.id}`, ...at };
  }
}

/** Build the ConfigSpace a spec describes (plus optional hooks, e.g. a recorder). */
export function buildConfigSpace(spec: ConfigSpec, hooks: readonly WriteHookOptions[] = []): ConfigSpace {
  return new ConfigSpace({
    size: spec.size,
    header: spec.header,
    bars: spec.bars,
    ...(spec.romSize > 0 ? { rom: { size: spec.romSize } } : {}),
    capabilities: spec.caps.map(capabilityOptions),
    unclaimedWritable: spec.unclaimedWritable,
    hooks,
  });
}

const MiB = 1024 * 1024;
const u8 = (...b: number[]): Uint8Array => Uint8Array.from(b);

/** The mdpy vendor capability body: format XRGB8888, 640×480 (mdpy.c mdpy_create_config_space()). */
export function mdpyVendorBytes(width = 640, height = 480): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setUint32(4, 0x34325258, true);
  v.setUint32(8, width, true);
  v.setUint32(12, height, true);
  return b;
}

/** mdpy-shaped: 1b36:000f class 0x0380 rev 1, BAR0 mem32 prefetchable 2 MiB, vendor cap at 0x40 (len 16). */
export const MDPY_SPEC: ConfigSpec = {
  name: 'mdpy',
  size: 255,
  header: {
    vendorId: 0x1b36, deviceId: 0x000f, revision: 1, classCode: 0x0380,
    subsystemVendorId: 0x1af4, subsystemId: 0x1100, command: PCI_COMMAND_IO | PCI_COMMAND_MEMORY,
  },
  bars: [{ index: 0, kind: 'mem32', size: 2 * MiB, prefetchable: true }],
  romSize: 0,
  caps: [{ type: 'vendor', size: 16, offset: 0x40, bytes: mdpyVendorBytes(), wmask: new Uint8Array(0), w1cmask: new Uint8Array(0) }],
  unclaimedWritable: false,
};

/** mdpy with the samples' "every header write dropped" masks (BARs keep their QEMU masks). */
export const MDPY_FROZEN_SPEC: ConfigSpec = {
  ...MDPY_SPEC,
  name: 'mdpy-frozen',
  header: { ...MDPY_SPEC.header, commandWmask: 0, statusW1cmask: 0, interruptLineWritable: false, cacheLineSizeWritable: false },
};

/** mbochs-shaped (medium): 1234:1111, BAR0 16 MiB prefetchable, BAR2 4 KiB MMIO, no capabilities. */
export const MBOCHS_SPEC: ConfigSpec = {
  name: 'mbochs',
  size: 255,
  header: {
    vendorId: 0x1234, deviceId: 0x1111, revision: 1, classCode: 0x0380,
    subsystemVendorId: 0x1af4, subsystemId: 0x1100, command: PCI_COMMAND_IO | PCI_COMMAND_MEMORY,
  },
  bars: [
    { index: 0, kind: 'mem32', size: 16 * MiB, prefetchable: true },
    { index: 2, kind: 'mem32', size: 4096 },
  ],
  romSize: 0,
  caps: [],
  unclaimedWritable: false,
};

/**
 * Everything at once, 256 bytes: 8 GiB mem64 BAR0/1 (upper BAR has
 * read-only low bits), I/O BAR2, 4 KiB mem32 BAR3, 64 KiB mem64 BAR4/5, a
 * 64 KiB ROM, PM (D1 + PME from D0/D3hot), an MSI-like generic capability
 * with writable and W1C bytes, a vendor capability with one writable byte,
 * an interrupt pin, some read-only STATUS bits and one error bit set at
 * power-on, and QEMU's writable unclaimed bytes.
 */
export const KITCHEN_SINK_SPEC: ConfigSpec = {
  name: 'kitchen-sink',
  size: 256,
  header: {
    vendorId: 0x1af4, deviceId: 0x10f0, revision: 0x22, classCode: 0x0300, progIf: 0x00,
    subsystemVendorId: 0x1af4, subsystemId: 0x0001, interruptPin: 1, interruptLine: 0x0b,
    status: PCI_STATUS_66MHZ | PCI_STATUS_FAST_BACK | PCI_STATUS_SIG_TARGET_ABORT,
  },
  bars: [
    { index: 0, kind: 'mem64', size: 8 * 1024 * MiB, prefetchable: true },
    { index: 2, kind: 'io', size: 32 },
    { index: 3, kind: 'mem32', size: 4096 },
    { index: 4, kind: 'mem64', size: 64 * 1024 },
  ],
  romSize: 64 * 1024,
  caps: [
    { type: 'pm', pmc: PCI_PM_CAP_VER_1_2 | PCI_PM_CAP_D1 | 0x4800, noSoftReset: true },
    {
      type: 'generic', id: PCI_CAP_ID_MSI, size: 14,
      bytes: u8(0, 0, 0x80, 0x00), wmask: u8(0, 0, 0x71, 0x00, 0xfc, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
      w1cmask: new Uint8Array(0),
    },
    {
      type: 'vendor', size: 12, bytes: u8(0, 0, 12, 0, 0xaa, 0x55),
      wmask: u8(0, 0, 0, 0, 0, 0, 0xff), w1cmask: u8(0, 0, 0, 0, 0, 0, 0, 0xf0),
    },
  ],
  unclaimedWritable: true,
};

/** The realistic presets, by name. */
export const CONFIG_PRESETS: Readonly<Record<string, ConfigSpec>> = {
  mdpy: MDPY_SPEC,
  'mdpy-256': { ...MDPY_SPEC, name: 'mdpy-256', size: 256 },
  'mdpy-frozen': MDPY_FROZEN_SPEC,
  mbochs: MBOCHS_SPEC,
  'kitchen-sink': KITCHEN_SINK_SPEC,
};

// ---------------------------------------------------------------------------
// Random valid specs

const pow2 = (minLog: number, maxLog: number): fc.Arbitrary<number> =>
  fc.integer({ min: minLog, max: maxLog }).map((e) => 2 ** e);

type SlotChoice = 'none' | 'mem32' | 'mem64' | 'io';

const arbBars: fc.Arbitrary<BarOptions[]> = fc
  .array(
    fc.record({
      kind: fc.constantFrom<SlotChoice>('none', 'none', 'mem32', 'mem64', 'io'),
      memLog: fc.integer({ min: 4, max: 31 }),
      mem64Log: fc.integer({ min: 4, max: 40 }),
      ioLog: fc.integer({ min: 2, max: 8 }),
      prefetchable: fc.boolean(),
    }),
    { minLength: 6, maxLength: 6 },
  )
  .map((slots) => {
    const bars: BarOptions[] = [];
    for (let i = 0; i < 6; i++) {
      const s = slots[i];
      if (s === undefined || s.kind === 'none') continue;
      if (s.kind === 'io') bars.push({ index: i, kind: 'io', size: 2 ** s.ioLog });
      else if (s.kind === 'mem32') bars.push({ index: i, kind: 'mem32', size: 2 ** s.memLog, prefetchable: s.prefetchable });
      else if (i < 5) bars.push({ index: i++, kind: 'mem64', size: 2 ** s.mem64Log, prefetchable: s.prefetchable });
    }
    return bars;
  });

/** wmask and w1cmask bytes for a range, disjoint, with `protect` leading bytes kept read-only. */
const arbMasks = (size: number, protect: number): fc.Arbitrary<{ wmask: Uint8Array; w1cmask: Uint8Array }> =>
  fc.tuple(fc.uint8Array({ minLength: size, maxLength: size }), fc.uint8Array({ minLength: size, maxLength: size }))
    .map(([a, b]) => {
      const wmask = new Uint8Array(size);
      const w1cmask = new Uint8Array(size);
      for (let i = protect; i < size; i++) {
        wmask[i] = a[i] ?? 0;
        w1cmask[i] = (b[i] ?? 0) & ~(a[i] ?? 0);
      }
      return { wmask, w1cmask };
    });

const arbVendorCap: fc.Arbitrary<CapSpec> = fc.integer({ min: 3, max: 32 }).chain((size) =>
  fc.tuple(fc.uint8Array({ minLength: size, maxLength: size }), arbMasks(size, 3)).map(([raw, m]): CapSpec => {
    const bytes = raw.slice();
    bytes[0] = 0; bytes[1] = 0; bytes[2] = 0;
    return { type: 'vendor', size, bytes, ...m };
  }),
);

const arbPmCap: fc.Arbitrary<CapSpec> = fc
  .record({ pmc: fc.integer({ min: 0, max: 0xffff }), noSoftReset: fc.boolean() })
  .map(({ pmc, noSoftReset }): CapSpec => ({ type: 'pm', pmc: (pmc & ~0x7) | PCI_PM_CAP_VER_1_2, noSoftReset }));

const arbGenericCap: fc.Arbitrary<CapSpec> = fc
  .record({ id: fc.integer({ min: 1, max: 0xfe }), size: fc.integer({ min: 2, max: 32 }) })
  .chain(({ id, size }) =>
    fc.tuple(fc.uint8Array({ minLength: size, maxLength: size }), arbMasks(size, 2)).map(([raw, m]): CapSpec => {
      const bytes = raw.slice();
      bytes[0] = 0; bytes[1] = 0;
      return { type: 'generic', id, size, bytes, ...m };
    }),
  );

const capSize = (c: CapSpec): number => (c.type === 'pm' ? 8 : c.size);

/**
 * Up to four capabilities, either all placed automatically or all at
 * explicit offsets with random dword gaps and a shuffled chain order (so the
 * chain is not sorted by offset).
 */
const arbCaps: fc.Arbitrary<CapSpec[]> = fc
  .record({
    caps: fc.array(fc.oneof(arbVendorCap, arbPmCap, arbGenericCap), { maxLength: 4 }),
    explicit: fc.boolean(),
    gaps: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 4, maxLength: 4 }),
    order: fc.array(fc.nat(), { minLength: 4, maxLength: 4 }),
  })
  .map(({ caps, explicit, gaps, order }) => {
    if (!explicit) return caps;
    let at = 0x40;
    const placed = caps.map((c, i) => {
      at += 4 * (gaps[i] ?? 0);
      const offset = at;
      at = Math.ceil((at + capSize(c)) / 4) * 4;
      return { ...c, offset };
    });
    // Deterministic shuffle driven by `order`.
    return placed
      .map((c, i) => ({ c, k: order[i] ?? 0 }))
      .sort((a, b) => a.k - b.k)
      .map((x) => x.c);
  });

const arbHeader: fc.Arbitrary<HeaderOptions> = fc.record({
  vendorId: fc.integer({ min: 0, max: 0xfffe }),
  deviceId: fc.integer({ min: 0, max: 0xffff }),
  revision: fc.integer({ min: 0, max: 0xff }),
  classCode: fc.integer({ min: 0, max: 0xffff }),
  progIf: fc.integer({ min: 0, max: 0xff }),
  subsystemVendorId: fc.integer({ min: 0, max: 0xffff }),
  subsystemId: fc.integer({ min: 0, max: 0xffff }),
  command: fc.integer({ min: 0, max: 0xffff }),
  commandWmask: fc.integer({ min: 0, max: 0x07ff }),
  status: fc.integer({ min: 0, max: 0xffff }).map((s) => s & ~PCI_STATUS_CAP_LIST),
  statusW1cmask: fc.integer({ min: 0, max: 0xffff }).map((s) => s & PCI_STATUS_RW1C_MASK),
  interruptPin: fc.integer({ min: 0, max: 4 }),
  interruptLine: fc.integer({ min: 0, max: 0xff }),
  interruptLineWritable: fc.boolean(),
  cacheLineSizeWritable: fc.boolean(),
  multiFunction: fc.boolean(),
});

/** A random but valid config space. */
export const arbRandomConfigSpec: fc.Arbitrary<ConfigSpec> = fc.record({
  name: fc.constant('random'),
  size: fc.constantFrom<256 | 255>(256, 255),
  header: arbHeader,
  bars: arbBars,
  romSize: fc.oneof(fc.constant(0), pow2(11, 24)),
  caps: arbCaps,
  unclaimedWritable: fc.boolean(),
});

/** A realistic preset (weighted 3:1) or a random valid config space. */
export const arbConfigSpec: fc.Arbitrary<ConfigSpec> = fc.oneof(
  { arbitrary: fc.constantFrom(...Object.values(CONFIG_PRESETS)), weight: 3 },
  { arbitrary: arbRandomConfigSpec, weight: 1 },
);

// ---------------------------------------------------------------------------
// Guest access sequences

/** One guest-side (or device-side lifecycle) operation on a config space. */
export type ConfigOp =
  | { readonly op: 'read'; readonly offset: number; readonly size: number }
  | { readonly op: 'write'; readonly offset: number; readonly size: number; readonly value: number }
  | { readonly op: 'readBytes'; readonly offset: number; readonly length: number }
  | { readonly op: 'writeBytes'; readonly offset: number; readonly data: Uint8Array }
  | { readonly op: 'reset' }
  | { readonly op: 'snapshot' }
  | { readonly op: 'restore' };

/** A fuzz case: a config space and a sequence of accesses to it. */
export interface ConfigCase {
  readonly spec: ConfigSpec;
  readonly ops: readonly ConfigOp[];
}

/** Offsets where things happen: header registers, BARs, ROM, capabilities, the end of space. */
const HOT_OFFSETS = [
  0x00, 0x02, 0x04, 0x05, 0x06, 0x07, 0x08, 0x0c, 0x0e, 0x10, 0x14, 0x18, 0x1c, 0x20, 0x24, 0x2c,
  0x30, 0x34, 0x3c, 0x3d, 0x40, 0x41, 0x42, 0x44, 0x48, 0x4c, 0x50, 0x54, 0x58, 0x5c, 0x60, 0x64,
  0xf8, 0xfc, 0xfd, 0xfe, 0xff,
];

/** A config offset: mostly near a hot spot, sometimes anywhere, rarely invalid. */
export const arbOffset: fc.Arbitrary<number> = fc.oneof(
  { arbitrary: fc.tuple(fc.constantFrom(...HOT_OFFSETS), fc.integer({ min: -3, max: 3 })).map(([o, d]) => o + d), weight: 6 },
  { arbitrary: fc.integer({ min: 0, max: 0xff }), weight: 4 },
  { arbitrary: fc.integer({ min: -8, max: 0x108 }), weight: 1 },
  { arbitrary: fc.constantFrom(-1, 0x100, 0x101, 0.5, 16.25, Number.NaN, Infinity, -Infinity, 2 ** 53, -(2 ** 31), 2 ** 32), weight: 1 },
);

const fullOf = (size: 1 | 2 | 4): number => 2 ** (8 * size) - 1;

const arbSizedWrite = (size: 1 | 2 | 4): fc.Arbitrary<ConfigOp> =>
  fc.record({
    op: fc.constant('write' as const),
    offset: arbOffset,
    size: fc.constant(size),
    value: fc.oneof(
      { arbitrary: fc.constantFrom(0, fullOf(size)), weight: 3 },
      { arbitrary: fc.integer({ min: 0, max: fullOf(size) }), weight: 4 },
      // sizing patterns and their neighbours, truncated to the access width
      { arbitrary: fc.constantFrom(0xfffff800, 0xfffffffe, 0xfffffff0, 0x12345678, 0x80000000).map((v) => v % (fullOf(size) + 1)), weight: 1 },
      { arbitrary: fc.integer({ min: -(2 ** (8 * size - 1)), max: -1 }), weight: 1 },
    ),
  });

/** Invalid writes: bad size or a value that does not fit. */
const arbBadWrite: fc.Arbitrary<ConfigOp> = fc.record({
  op: fc.constant('write' as const),
  offset: arbOffset,
  size: fc.constantFrom(0, 3, 8, -1, 1.5, Number.NaN, 1, 2, 4),
  value: fc.constantFrom(2 ** 32, 0x100, 0x10000, -(2 ** 31) - 1, 1.5, Number.NaN, Infinity, 0),
});

/** One operation; accesses dominate, lifecycle operations are rare. */
export const arbConfigOp: fc.Arbitrary<ConfigOp> = fc.oneof(
  { arbitrary: arbSizedWrite(4), weight: 8 },
  { arbitrary: arbSizedWrite(2), weight: 4 },
  { arbitrary: arbSizedWrite(1), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant('read' as const), offset: arbOffset, size: fc.constantFrom(1, 2, 4) }), weight: 6 },
  {
    arbitrary: fc.record({ op: fc.constant('read' as const), offset: arbOffset, size: fc.constantFrom(0, 3, 8, -4, 2.5, Number.NaN) }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      op: fc.constant('readBytes' as const),
      offset: arbOffset,
      length: fc.oneof(fc.integer({ min: 0, max: 16 }), fc.constantFrom(64, 255, 256, 257)),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      op: fc.constant('writeBytes' as const),
      offset: arbOffset,
      data: fc.oneof(
        { arbitrary: fc.uint8Array({ maxLength: 16 }), weight: 4 },
        { arbitrary: fc.uint8Array({ minLength: 8, maxLength: 64 }), weight: 1 },
        { arbitrary: fc.constantFrom(255, 256).map((n) => new Uint8Array(n).fill(0xff)), weight: 1 },
        { arbitrary: fc.uint8Array({ minLength: 255, maxLength: 257 }), weight: 1 },
      ),
    }),
    weight: 3,
  },
  { arbitrary: arbBadWrite, weight: 1 },
  { arbitrary: fc.constantFrom<ConfigOp>({ op: 'reset' }, { op: 'snapshot' }, { op: 'restore' }), weight: 1 },
);

/** A config space and up to `maxOps` operations on it. */
export function arbConfigCase(maxOps = 48): fc.Arbitrary<ConfigCase> {
  return fc.record({ spec: arbConfigSpec, ops: fc.array(arbConfigOp, { maxLength: maxOps, size: 'max' }) });
}

/** How many of a case's operations are config accesses (reads and writes of any form). */
export function countAccesses(c: ConfigCase): number {
  let n = 0;
  for (const o of c.ops) if (o.op !== 'reset' && o.op !== 'snapshot' && o.op !== 'restore') n++;
  return n;
}

const opText = (o: ConfigOp): string => {
  const off = (v: number): string => (Number.isInteger(v) && v >= 0 ? `0x${v.toString(16)}` : String(v));
  switch (o.op) {
    case 'read': return `read(${off(o.offset)}, ${o.size})`;
    case 'write': return `write(${off(o.offset)}, ${o.size}, ${off(o.value)})`;
    case 'readBytes': return `readBytes(${off(o.offset)}, ${o.length})`;
    case 'writeBytes': return `writeBytes(${off(o.offset)}, [${Buffer.from(o.data).toString('hex')}])`;
    default: return `${o.op}()`;
  }
};

/** A readable multi-line rendering of a case. */
export function describeConfigCase(c: ConfigCase): string {
  const spec = c.spec.name === 'random' ? `random ${JSON.stringify(c.spec, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v))}` : c.spec.name;
  return [`config space: ${spec}`, ...c.ops.map((o, i) => `  ${i}: ${opText(o)}`)].join('\n');
}

/**
 * Apply one operation to a config space, the way a transport would: returns
 * the value read (number or bytes) or undefined; an AccessError is caught and
 * returned so callers can tell refusals apart. `saved` carries the last
 * snapshot between calls. Any other exception propagates.
 */
export function applyConfigOp(
  cs: ConfigSpace,
  o: ConfigOp,
  saved: { snapshot?: ConfigSpaceSnapshot } = {},
): number | Uint8Array | AccessError | undefined {
  try {
    switch (o.op) {
      case 'read': return cs.read(o.offset, o.size as 1 | 2 | 4);
      case 'write': cs.write(o.offset, o.size as 1 | 2 | 4, o.value); return undefined;
      case 'readBytes': return cs.readBytes(o.offset, new Uint8Array(Math.max(0, Math.min(o.length, 4096))));
      case 'writeBytes': cs.writeBytes(o.offset, o.data); return undefined;
      case 'reset': cs.reset(); return undefined;
      case 'snapshot': saved.snapshot = cs.snapshot(); return undefined;
      case 'restore': if (saved.snapshot !== undefined) cs.restore(saved.snapshot); return undefined;
    }
  } catch (e) {
    if (e instanceof AccessError) return e;
    throw e;
  }
}
