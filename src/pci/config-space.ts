/**
 * A PCI function's conventional configuration space, modelled as QEMU does
 * (hw/pci/pci.c): the image plus four parallel per-byte arrays
 *
 * - `wmask`   bits the guest may write,
 * - `w1cmask` bits the guest clears by writing 1 (RW1C),
 * - `cmask`   bits a snapshot restore checks (QEMU `get_pci_config_device`),
 * - `used`    bytes claimed by capabilities and device register blocks.
 *
 * There is exactly one guest write path ({@link ConfigSpace.writeBytes}; the
 * sized {@link ConfigSpace.write} feeds it): for each byte, merge the written
 * value under `wmask`, then clear the bits written as 1 under `w1cmask`, then
 * run the write hooks whose ranges overlap the access. Reads have no side
 * effects. Every access is bounds-checked first and refused with AccessError
 * (EFAULT) without any state change.
 *
 * This module knows nothing of VFIO or sockets (layering: util ← pci ← vfio).
 */
import { AccessError, ConfigError } from '../util/errors.ts';
import { hex, show } from './format.ts';
import { readUint, writeUint } from '../util/bytes.ts';
import {
  barAddress as decodeBarAddress,
  barBytes,
  layoutBars,
  layoutRom,
  romWmask,
  type BarInfo,
  type BarOptions,
  type RomInfo,
  type RomOptions,
} from './bars.ts';
import {
  placeCapabilities,
  walkCapabilities,
  type CapabilityOptions,
  type CapabilityWalk,
  type DeviceRegisterOptions,
  type PlacedCapability,
  type PlacedRegion,
} from './capabilities.ts';
import {
  PCI_CFG_SPACE_SIZE,
  PCI_CFG_SPACE_SIZE_SAMPLE,
  PCI_COMMAND_QEMU_WMASK,
  PCI_HEADER,
  PCI_HEADER_REGS,
  PCI_HEADER_TYPE_MFD,
  PCI_HEADER_TYPE_NORMAL,
  PCI_ROM_ADDRESS_ENABLE,
  PCI_STATUS_CAP_LIST,
  PCI_STATUS_RW1C_MASK,
  PCI_STD_HEADER_SIZEOF,
  type RegDesc,
} from './regs.ts';
import type { ConfigWriteEvent, ReadonlyBytes, WriteHook, WriteHookOptions } from './types.ts';

/**
 * Config-space size: 256 (PCI conventional space) or 255, the `0xff` the
 * kernel samples report as their config region size. With 255, a 4-byte
 * access at 0xFC is out of range of the image. (The samples' region access
 * is looser: mdev_access() answers any chunk that starts below 0xff and
 * reads one byte past its buffer; the device models reproduce that bound
 * around this class, never through it.)
 */
export type ConfigSpaceSize = typeof PCI_CFG_SPACE_SIZE | typeof PCI_CFG_SPACE_SIZE_SAMPLE;

/** Identity and initial values of the type-0 header. */
export interface HeaderOptions {
  /** 0x0000–0xFFFE (0xFFFF means "no device" to every host). */
  readonly vendorId: number;
  readonly deviceId: number;
  /** @defaultValue 0 */
  readonly revision?: number;
  /**
   * Base class and sub-class as one 16-bit value, as Linux `PCI_CLASS_DEVICE`
   * and QEMU `pci_config_set_class` take it: 0x0380 = display / other.
   */
  readonly classCode: number;
  /** Programming interface (byte 0x09). @defaultValue 0 */
  readonly progIf?: number;
  /** @defaultValue 0 */
  readonly subsystemVendorId?: number;
  /** @defaultValue 0 */
  readonly subsystemId?: number;
  /** Initial COMMAND value; bits outside `commandWmask` stay constant. @defaultValue 0 */
  readonly command?: number;
  /**
   * COMMAND bits the guest may change (bits 0–10). Pass 0 to make COMMAND
   * constant (the kernel samples drop every COMMAND write).
   * @defaultValue PCI_COMMAND_QEMU_WMASK (IO | MEMORY | MASTER | SERR | INTX_DISABLE, QEMU `pci_init_wmask`)
   */
  readonly commandWmask?: number;
  /**
   * Initial STATUS value. PCI_STATUS_CAP_LIST is set automatically when a
   * capability exists and must not be given otherwise.
   * @defaultValue 0
   */
  readonly status?: number;
  /**
   * STATUS bits that are write-1-to-clear; a subset of PCI_STATUS_RW1C_MASK.
   * @defaultValue PCI_STATUS_RW1C_MASK (the six error bits, QEMU `pci_init_w1cmask`)
   */
  readonly statusW1cmask?: number;
  /** INTx pin: 0 = none, 1–4 = INTA#–INTD#. Read-only. @defaultValue 0 */
  readonly interruptPin?: number;
  /** Initial interrupt line. @defaultValue 0 */
  readonly interruptLine?: number;
  /** Whether the guest may write the interrupt line (QEMU: yes; kernel samples: no). @defaultValue true */
  readonly interruptLineWritable?: boolean;
  /** Whether the guest may write the cache line size (QEMU: yes; kernel samples: no). @defaultValue true */
  readonly cacheLineSizeWritable?: boolean;
  /** Set the multi-function bit of the header type. The header layout is always type 0. @defaultValue false */
  readonly multiFunction?: boolean;
}

/** Everything a device model declares about its config space. */
export interface ConfigSpaceOptions {
  /** @defaultValue 256 */
  readonly size?: ConfigSpaceSize;
  readonly header: HeaderOptions;
  /** BAR descriptors, one per BAR (a mem64 BAR takes two slots). Slots not listed read 0 and ignore writes. @defaultValue [] */
  readonly bars?: readonly BarOptions[];
  /** Expansion ROM. Without one, PCI_ROM_ADDRESS reads 0 and a sizing write reads back 0. @defaultValue none */
  readonly rom?: RomOptions;
  /** Capabilities, linked in this order from PCI_CAPABILITY_LIST. @defaultValue [] */
  readonly capabilities?: readonly CapabilityOptions[];
  /** Device-specific register blocks above the header that are not capabilities. @defaultValue [] */
  readonly deviceRegisters?: readonly DeviceRegisterOptions[];
  /**
   * Make bytes above the header that no capability or register block claims
   * guest-writable, as QEMU `pci_init_wmask` does for legacy devices. When
   * false they read their initial value (0) and ignore writes (PCI spec).
   * @defaultValue false
   */
  readonly unclaimedWritable?: boolean;
  /**
   * Write side effects chosen by range overlap. They run after the
   * capability and device-register hooks, in this order. @defaultValue []
   */
  readonly hooks?: readonly WriteHookOptions[];
}

/** A copy of the image, for device snapshots. Plain data (msgpack-friendly). */
export interface ConfigSpaceSnapshot {
  /** The config-space size the image was taken from. */
  readonly size: number;
  readonly bytes: Uint8Array;
}

interface BoundHook {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  readonly end: number;
  readonly onWrite: WriteHook;
}


function checkField(name: string, value: unknown, max: number, min = 0): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`header.${name} must be an integer ${hex(min)}–${hex(max)}, got ${show(value)}`);
  }
  return value;
}

/**
 * A PCI function's configuration space. Build one per device instance:
 *
 * ```ts
 * const cs = new ConfigSpace({
 *   size: 255,
 *   header: { vendorId: 0x1b36, deviceId: 0x000f, revision: 1, classCode: 0x0380,
 *             subsystemVendorId: 0x1af4, subsystemId: 0x1100, command: PCI_COMMAND_IO | PCI_COMMAND_MEMORY },
 *   bars: [{ index: 0, kind: 'mem32', size: 2 << 20, prefetchable: true }],
 *   capabilities: [vendorCapability({ offset: 0x40, size: 16, bytes })],
 * });
 * ```
 *
 * Guest side: {@link read}, {@link write}, {@link readBytes},
 * {@link writeBytes}. Device side: {@link deviceSetUint},
 * {@link deviceSetBytes} (bypass masks and hooks), {@link reset},
 * {@link snapshot}, {@link restore}. Inspection: the read-only views
 * {@link image}, {@link wmask}, {@link w1cmask}, {@link cmask}, {@link used},
 * {@link powerOnImage}, and the BAR / capability descriptions.
 */
export class ConfigSpace {
  /** Size in bytes (256, or 255 like the kernel samples). */
  readonly size: ConfigSpaceSize;
  /** The BARs, by ascending index. */
  readonly bars: readonly BarInfo[];
  /** The expansion ROM, if any. */
  readonly rom: RomInfo | undefined;
  /** The capabilities in chain order. */
  readonly capabilities: readonly PlacedCapability[];
  /** Device register blocks (not in the capability chain). */
  readonly deviceRegisters: readonly PlacedRegion[];

  readonly #config: Uint8Array;
  readonly #wmask: Uint8Array;
  readonly #w1cmask: Uint8Array;
  readonly #cmask: Uint8Array;
  readonly #used: Uint8Array;
  readonly #initial: Uint8Array;
  readonly #hooks: readonly BoundHook[];
  readonly #scratch = new Uint8Array(4);
  #inHook = false;

  /** @throws ConfigError when the options describe something that cannot work. */
  constructor(options: ConfigSpaceOptions) {
    if (options === null || typeof options !== 'object') throw new ConfigError('ConfigSpace: expected an options object');
    const size = options.size ?? PCI_CFG_SPACE_SIZE;
    if (size !== PCI_CFG_SPACE_SIZE && size !== PCI_CFG_SPACE_SIZE_SAMPLE) {
      throw new ConfigError(`size must be 256 or 255 (the kernel samples' 0xff), got ${show(size)}`);
    }
    this.size = size;
    this.#config = new Uint8Array(size);
    this.#wmask = new Uint8Array(size);
    this.#w1cmask = new Uint8Array(size);
    this.#cmask = new Uint8Array(size);
    this.#used = new Uint8Array(size);

    // Header registers: default masks from the table, identity values from the options.
    for (const reg of PCI_HEADER_REGS) {
      this.#setMask(this.#wmask, reg, reg.wmask);
      this.#setMask(this.#w1cmask, reg, reg.w1cmask);
      this.#setMask(this.#cmask, reg, reg.cmask);
    }
    const h = options.header;
    if (h === null || typeof h !== 'object') throw new ConfigError('header: expected an object with vendorId, deviceId and classCode');
    this.#setReg(PCI_HEADER.VENDOR_ID, checkField('vendorId', h.vendorId, 0xfffe));
    this.#setReg(PCI_HEADER.DEVICE_ID, checkField('deviceId', h.deviceId, 0xffff));
    this.#setReg(PCI_HEADER.REVISION_ID, checkField('revision', h.revision ?? 0, 0xff));
    this.#setReg(PCI_HEADER.CLASS_PROG, checkField('progIf', h.progIf ?? 0, 0xff));
    this.#setReg(PCI_HEADER.CLASS_DEVICE, checkField('classCode', h.classCode, 0xffff));
    this.#setReg(PCI_HEADER.SUBSYSTEM_VENDOR_ID, checkField('subsystemVendorId', h.subsystemVendorId ?? 0, 0xffff));
    this.#setReg(PCI_HEADER.SUBSYSTEM_ID, checkField('subsystemId', h.subsystemId ?? 0, 0xffff));
    this.#setReg(PCI_HEADER.HEADER_TYPE, PCI_HEADER_TYPE_NORMAL | (h.multiFunction === true ? PCI_HEADER_TYPE_MFD : 0));
    this.#setReg(PCI_HEADER.COMMAND, checkField('command', h.command ?? 0, 0xffff));
    this.#setMask(this.#wmask, PCI_HEADER.COMMAND, checkField('commandWmask', h.commandWmask ?? PCI_COMMAND_QEMU_WMASK, 0x07ff));
    const statusW1c = checkField('statusW1cmask', h.statusW1cmask ?? PCI_STATUS_RW1C_MASK, 0xffff);
    if ((statusW1c & ~PCI_STATUS_RW1C_MASK) !== 0) {
      throw new ConfigError(`header.statusW1cmask ${hex(statusW1c)} has bits outside the STATUS error bits ${hex(PCI_STATUS_RW1C_MASK)}`);
    }
    this.#setMask(this.#w1cmask, PCI_HEADER.STATUS, statusW1c);
    const status = checkField('status', h.status ?? 0, 0xffff);
    this.#setReg(PCI_HEADER.INTERRUPT_PIN, checkField('interruptPin', h.interruptPin ?? 0, 4));
    this.#setReg(PCI_HEADER.INTERRUPT_LINE, checkField('interruptLine', h.interruptLine ?? 0, 0xff));
    if (h.interruptLineWritable === false) this.#setMask(this.#wmask, PCI_HEADER.INTERRUPT_LINE, 0);
    if (h.cacheLineSizeWritable === false) this.#setMask(this.#wmask, PCI_HEADER.CACHE_LINE_SIZE, 0);

    // BARs and ROM: type bits in the image, ~(size-1) in wmask, cmask all ones (QEMU pci_register_bar).
    this.bars = Object.freeze(layoutBars(options.bars ?? []));
    for (const bar of this.bars) {
      const { value, wmask } = barBytes(bar);
      this.#config.set(value, bar.offset);
      this.#wmask.set(wmask, bar.offset);
      this.#cmask.fill(0xff, bar.offset, bar.offset + bar.width);
    }
    this.rom = options.rom === undefined ? undefined : layoutRom(options.rom);
    if (this.rom !== undefined) {
      this.#wmask.set(romWmask(this.rom), this.rom.offset);
      this.#cmask.fill(0xff, this.rom.offset, this.rom.offset + 4);
    }

    // Capabilities and device register blocks.
    const claimed = placeCapabilities(options.capabilities ?? [], options.deviceRegisters ?? [], size);
    const caps = claimed.filter((c) => c.kind === 'capability');
    for (const c of claimed) {
      this.#config.set(c.bytes, c.offset);
      this.#wmask.set(c.wmask, c.offset);
      this.#w1cmask.set(c.w1cmask, c.offset);
      this.#cmask.fill(0xff, c.offset, c.offset + c.size);
      this.#used.fill(0xff, c.offset, c.offset + c.size);
    }
    if ((status & PCI_STATUS_CAP_LIST) !== 0 && caps.length === 0) {
      throw new ConfigError('header.status has PCI_STATUS_CAP_LIST but no capability is declared');
    }
    this.#setReg(PCI_HEADER.STATUS, status | (caps.length > 0 ? PCI_STATUS_CAP_LIST : 0));
    this.#setReg(PCI_HEADER.CAPABILITY_LIST, caps[0]?.offset ?? 0);
    this.capabilities = Object.freeze(caps.map((c) => Object.freeze({ id: c.id, offset: c.offset, size: c.size, name: c.name })));
    this.deviceRegisters = Object.freeze(
      claimed.filter((c) => c.kind === 'registers').map((c) => Object.freeze({ name: c.name, offset: c.offset, size: c.size })),
    );

    if (options.unclaimedWritable === true) {
      for (let i = PCI_STD_HEADER_SIZEOF; i < size; i++) if (this.#used[i] === 0) this.#wmask[i] = 0xff;
    }

    // Hooks: capability and register hooks first, then the device's own.
    const hooks: BoundHook[] = [];
    for (const c of claimed) {
      if (c.onWrite !== undefined) hooks.push({ name: c.name, offset: c.offset, size: c.size, end: c.offset + c.size, onWrite: c.onWrite });
    }
    const userHooks = options.hooks ?? [];
    if (!Array.isArray(userHooks)) throw new ConfigError('hooks: expected an array');
    userHooks.forEach((hk: WriteHookOptions, i: number) => {
      const name = typeof hk?.name === 'string' ? hk.name : `hooks[${i}]`;
      if (hk === null || typeof hk !== 'object' || typeof hk.onWrite !== 'function') {
        throw new ConfigError(`${name}: expected { name, offset, size, onWrite }`);
      }
      if (!Number.isInteger(hk.offset) || !Number.isInteger(hk.size) || hk.offset < 0 || hk.size < 1 || hk.offset + hk.size > size) {
        throw new ConfigError(`${name}: range ${show(hk.offset)}+${show(hk.size)} is not inside the ${size}-byte config space`);
      }
      hooks.push({ name, offset: hk.offset, size: hk.size, end: hk.offset + hk.size, onWrite: hk.onWrite });
    });
    this.#hooks = Object.freeze(hooks);

    for (let i = 0; i < size; i++) {
      // Internal invariant (QEMU asserts the same in pci_default_write_config).
      if (((this.#wmask[i] ?? 0) & (this.#w1cmask[i] ?? 0)) !== 0) {
        throw new Error(`assertion failed: wmask and w1cmask overlap at ${hex(i)}`);
      }
    }
    this.#initial = this.#config.slice();
  }

  // -------------------------------------------------------------------------
  // Guest side

  /**
   * Read a little-endian unsigned value of 1, 2 or 4 bytes at any offset
   * (unaligned and register-straddling accesses read the underlying bytes).
   * @throws AccessError when the range leaves config space or the size is not 1, 2 or 4.
   */
  read(offset: number, size: 1 | 2 | 4): number {
    this.#checkSize(size, 'read');
    this.#checkRange(offset, size, 'read');
    return readUint(this.#config, offset, size);
  }

  /**
   * Write a little-endian value of 1, 2 or 4 bytes at any offset, through the
   * masked write path. `value` must be an integer in
   * [-2^(8·size-1), 2^(8·size)); negative values are taken modulo 2^(8·size),
   * so `~0` and `~(n-1)` work as written.
   * @throws AccessError when the range leaves config space, the size is not 1, 2 or 4, or the value does not fit.
   */
  write(offset: number, size: 1 | 2 | 4, value: number): void {
    this.#checkSize(size, 'write');
    this.#checkRange(offset, size, 'write');
    const limit = 2 ** (8 * size);
    if (typeof value !== 'number' || !Number.isInteger(value) || value < -limit / 2 || value >= limit) {
      throw new AccessError(`config write: value ${show(value)} does not fit in ${size} byte(s)`);
    }
    writeUint(this.#scratch, 0, size, value < 0 ? value + limit : value);
    this.#store(offset, this.#scratch, size);
  }

  /**
   * Copy `dst.length` bytes starting at `offset` into `dst` (any length,
   * including 0 and the whole space; a vfio-user client reads 255/256 bytes
   * at once). Returns `dst`.
   * @throws AccessError when [offset, offset+dst.length) leaves config space; `dst` is then untouched.
   */
  readBytes(offset: number, dst: Uint8Array): Uint8Array {
    if (!(dst instanceof Uint8Array)) throw new AccessError('config read: destination is not a Uint8Array');
    const n = dst.length;
    this.#checkRange(offset, n, 'read');
    const config = this.#config;
    // Guest reads are 1-4 bytes: a loop beats making a subarray to set() from.
    if (n <= 8) for (let i = 0; i < n; i++) dst[i] = config[offset + i]!;
    else dst.set(config.subarray(offset, offset + n));
    return dst;
  }

  /**
   * Write `src` starting at `offset` through the masked write path: per byte
   * wmask merge, then W1C, then the overlapping hooks, once, with the whole
   * access.
   * @throws AccessError when [offset, offset+src.length) leaves config space; nothing is written then.
   */
  writeBytes(offset: number, src: Uint8Array): void {
    if (!(src instanceof Uint8Array)) throw new AccessError('config write: source is not a Uint8Array');
    this.#checkRange(offset, src.length, 'write');
    this.#store(offset, src, src.length);
  }

  // -------------------------------------------------------------------------
  // Device side

  /**
   * Set a 1/2/4-byte little-endian value directly (no masks, no hooks): for
   * the device's own status changes and for hooks adjusting a stored value.
   * `value` is taken modulo 2^(8·size).
   * @throws AccessError when the range leaves config space.
   */
  deviceSetUint(offset: number, size: 1 | 2 | 4, value: number): void {
    this.#checkSize(size, 'device write');
    this.#checkRange(offset, size, 'device write');
    if (typeof value !== 'number' || !Number.isInteger(value)) throw new AccessError(`config device write: bad value ${show(value)}`);
    writeUint(this.#config, offset, size, value);
  }

  /** Set bytes directly (no masks, no hooks). @throws AccessError when the range leaves config space. */
  deviceSetBytes(offset: number, src: Uint8Array): void {
    if (!(src instanceof Uint8Array)) throw new AccessError('config device write: source is not a Uint8Array');
    this.#checkRange(offset, src.length, 'device write');
    this.#config.set(src, offset);
  }

  /**
   * Restore the power-on image exactly, every byte. The kernel samples never
   * reset config space (not even on VFIO_DEVICE_RESET); a device decides
   * whether to call this. (QEMU's own device reset is narrower: it clears
   * COMMAND/STATUS/interrupt-line writable bits and the BARs.)
   */
  reset(): void {
    this.#config.set(this.#initial);
  }

  /** A copy of the current image. */
  snapshot(): ConfigSpaceSnapshot {
    return { size: this.size, bytes: this.#config.slice() };
  }

  /**
   * Replace the image with a snapshot. Refused (ConfigError, image unchanged)
   * when the size differs or when a byte differs from this device in a bit
   * that is read-only and checked (cmask & ~wmask & ~w1cmask, QEMU
   * `get_pci_config_device`): the snapshot belongs to another device shape.
   */
  restore(snapshot: ConfigSpaceSnapshot): void {
    if (snapshot === null || typeof snapshot !== 'object' || !(snapshot.bytes instanceof Uint8Array)) {
      throw new ConfigError('config snapshot: expected { size, bytes: Uint8Array }');
    }
    if (snapshot.size !== this.size || snapshot.bytes.length !== this.size) {
      throw new ConfigError(`config snapshot is ${snapshot.bytes.length} bytes; this device's config space is ${this.size}`);
    }
    for (let i = 0; i < this.size; i++) {
      const fixed = (this.#cmask[i] ?? 0) & ~(this.#wmask[i] ?? 0) & ~(this.#w1cmask[i] ?? 0);
      if ((((snapshot.bytes[i] ?? 0) ^ (this.#config[i] ?? 0)) & fixed) !== 0) {
        throw new ConfigError(
          `config snapshot does not match this device at ${hex(i)} (${this.describeOffset(i)}): ` +
            `${hex(snapshot.bytes[i] ?? 0)} vs ${hex(this.#config[i] ?? 0)}`,
        );
      }
    }
    this.#config.set(snapshot.bytes);
  }

  // -------------------------------------------------------------------------
  // Inspection

  /** The live image (read-only view). */
  get image(): ReadonlyBytes { return this.#config; }
  /** The image as built, which {@link reset} restores (read-only view). */
  get powerOnImage(): ReadonlyBytes { return this.#initial; }
  /** Guest-writable bits per byte (read-only view). */
  get wmask(): ReadonlyBytes { return this.#wmask; }
  /** Write-1-to-clear bits per byte (read-only view). */
  get w1cmask(): ReadonlyBytes { return this.#w1cmask; }
  /** Bits a snapshot restore checks, per byte (read-only view). */
  get cmask(): ReadonlyBytes { return this.#cmask; }
  /** 0xFF for bytes claimed by a capability or device register block (read-only view). */
  get used(): ReadonlyBytes { return this.#used; }

  /** The BAR in slot `index` (the low slot of a mem64 BAR), or undefined. */
  bar(index: number): BarInfo | undefined {
    return this.bars.find((b) => b.index === index);
  }

  /**
   * The address programmed into the BAR in slot `index` (type bits removed;
   * both dwords for mem64), or undefined when no BAR starts at that slot.
   */
  barAddress(index: number): bigint | undefined {
    const bar = this.bar(index);
    return bar === undefined ? undefined : decodeBarAddress(this.#config, bar);
  }

  /** The expansion-ROM address and enable bit, or undefined without a ROM. */
  romAddress(): { address: number; enabled: boolean } | undefined {
    if (this.rom === undefined) return undefined;
    const v = readUint(this.#config, this.rom.offset, 4);
    return { address: (v & this.rom.addressMask) >>> 0, enabled: (v & PCI_ROM_ADDRESS_ENABLE) !== 0 };
  }

  /** The first capability with this id, or undefined. */
  findCapability(id: number): PlacedCapability | undefined {
    return this.capabilities.find((c) => c.id === id);
  }

  /** Walk the capability chain in the current image (see {@link walkCapabilities}). */
  walkCapabilities(): CapabilityWalk {
    return walkCapabilities(this.#config, this.size);
  }

  /** Name of what lives at `offset`, for messages: `COMMAND+1`, `cap vendor+0x4`, `unclaimed`. */
  describeOffset(offset: number): string {
    for (const r of PCI_HEADER_REGS) {
      if (offset >= r.offset && offset < r.offset + r.size) return offset === r.offset ? r.name : `${r.name}+${offset - r.offset}`;
    }
    for (const c of this.capabilities) {
      if (offset >= c.offset && offset < c.offset + c.size) return `cap ${c.name}+${hex(offset - c.offset)}`;
    }
    for (const c of this.deviceRegisters) {
      if (offset >= c.offset && offset < c.offset + c.size) return `${c.name}+${hex(offset - c.offset)}`;
    }
    return offset >= 0 && offset < this.size ? 'unclaimed' : 'outside config space';
  }

  // -------------------------------------------------------------------------
  // Internals

  /** The one guest write path. The range has been checked. */
  #store(offset: number, data: Uint8Array, len: number): void {
    if (this.#inHook) throw new Error('assertion failed: guest config write issued from inside a write hook');
    // An empty write touches no byte, so it overlaps no hook range (found by fuzzing: seed 42).
    if (len === 0) return;
    const end = offset + len;
    const config = this.#config;
    const wmask = this.#wmask;
    const w1cmask = this.#w1cmask;
    let hooked = false;
    for (const h of this.#hooks) if (h.offset < end && offset < h.end) { hooked = true; break; }
    const old = hooked ? config.slice(offset, end) : undefined;
    const dataCopy = hooked ? data.slice(0, len) : undefined;
    for (let i = 0; i < len; i++) {
      const a = offset + i;
      const d = data[i] ?? 0;
      const wm = wmask[a] ?? 0;
      // QEMU pci_default_write_config: merge under wmask, then clear written 1s under w1cmask.
      const merged = ((config[a] ?? 0) & ~wm) | (d & wm);
      config[a] = merged & ~(d & (w1cmask[a] ?? 0));
    }
    if (old === undefined || dataCopy === undefined) return;
    const oldValue = (at: number, size: 1 | 2 | 4): number => {
      this.#checkRange(at, size, 'hook oldValue');
      let v = 0;
      for (let i = size - 1; i >= 0; i--) {
        const p = at + i;
        v = v * 256 + (p >= offset && p < end ? (old[p - offset] ?? 0) : (config[p] ?? 0));
      }
      return v;
    };
    this.#inHook = true;
    try {
      for (const h of this.#hooks) {
        if (!(h.offset < end && offset < h.end)) continue;
        const event: ConfigWriteEvent = {
          offset, size: len, data: dataCopy, old, new: config.slice(offset, end),
          target: { name: h.name, offset: h.offset, size: h.size }, oldValue,
        };
        h.onWrite(event, this);
      }
    } finally {
      this.#inHook = false;
    }
  }

  #checkSize(size: unknown, op: string): asserts size is 1 | 2 | 4 {
    if (size !== 1 && size !== 2 && size !== 4) throw new AccessError(`config ${op}: size ${show(size)} is not 1, 2 or 4`);
  }

  #checkRange(offset: unknown, count: number, op: string): asserts offset is number {
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0 || offset > this.size || count > this.size - offset) {
      throw new AccessError(`config ${op}: ${count} byte(s) at ${show(offset)} are outside the ${this.size}-byte config space`);
    }
  }

  #setReg(reg: RegDesc, value: number): void {
    writeUint(this.#config, reg.offset, reg.size, value);
  }

  #setMask(mask: Uint8Array, reg: RegDesc, value: number): void {
    writeUint(mask, reg.offset, reg.size, value);
  }
}
