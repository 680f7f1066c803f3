/**
 * The PCI capability list (PCI 3.0 §6.7): descriptors, placement, linking
 * and a walker.
 *
 * A capability is a range of config space starting with an id byte and a
 * next-pointer byte. Like QEMU `pci_add_capability`, every byte of a placed
 * capability starts read-only and "used"; the descriptor then opens the bits
 * the device wants writable (`wmask`) or write-1-to-clear (`w1cmask`). The id
 * and next bytes can never be opened, and the capability pointer (0x34) is
 * read-only, so no guest write can corrupt the chain.
 *
 * Generic capabilities (MSI, MSI-X, PCIe later) are plain
 * {@link CapabilityOptions}; {@link vendorCapability} and
 * {@link powerManagementCapability} are small builders over it.
 */
import { ConfigError } from '../util/errors.ts';
import { hex, show } from './format.ts';
import { alignUp } from '../util/bits.ts';
import {
  PCI_CAP_FLAGS,
  PCI_CAP_ID_PM,
  PCI_CAP_ID_VNDR,
  PCI_CAP_LIST_ID,
  PCI_CAP_LIST_NEXT,
  PCI_HEADER,
  PCI_PM_CAP_D1,
  PCI_PM_CAP_D2,
  PCI_PM_CAP_PME_MASK,
  PCI_PM_CAP_VER_1_2,
  PCI_PM_CTRL,
  PCI_PM_CTRL_NO_SOFT_RESET,
  PCI_PM_CTRL_PME_ENABLE,
  PCI_PM_CTRL_PME_STATUS,
  PCI_PM_CTRL_STATE_MASK,
  PCI_PM_PMC,
  PCI_PM_SIZEOF,
  PCI_STATUS_CAP_LIST,
  PCI_STD_HEADER_SIZEOF,
  PCI_D1,
  PCI_D2,
} from './regs.ts';
import type { ReadonlyBytes, WriteHook } from './types.ts';

/** A capability a device asks for. Byte arrays are indexed from the capability's first byte. */
export interface CapabilityOptions {
  /** Capability ID (PCI_CAP_ID_*), 0x01–0xFE. */
  readonly id: number;
  /** Length in bytes, ≥ 2 (id and next). */
  readonly size: number;
  /**
   * Config offset: a multiple of 4, ≥ 0x40. When omitted the capability is
   * placed after the last claimed byte, 4-byte aligned, starting at 0x40
   * (capabilities with an explicit offset and device registers are claimed
   * first, then the others in declaration order).
   */
  readonly offset?: number;
  /**
   * Initial contents, at most `size` bytes (the rest is 0). Byte 0 must be 0
   * or the id and byte 1 must be 0: the builder writes the id and the next
   * pointer.
   */
  readonly bytes?: ArrayLike<number>;
  /** Guest-writable bits, at most `size` bytes. Bytes 0 and 1 must be 0. @defaultValue all read-only */
  readonly wmask?: ArrayLike<number>;
  /** Write-1-to-clear bits, at most `size` bytes; disjoint from `wmask`. Bytes 0 and 1 must be 0. @defaultValue none */
  readonly w1cmask?: ArrayLike<number>;
  /** For messages and logs. @defaultValue `cap-0x<id>` */
  readonly name?: string;
  /** Side effect of a guest write overlapping this capability (see WriteHook). */
  readonly onWrite?: WriteHook;
}

/**
 * A device-specific register block in config space that is not a
 * capability (not linked into the list), e.g. a legacy device's private
 * registers at 0x40+. Claimed like a capability: read-only unless opened.
 */
export interface DeviceRegisterOptions {
  readonly name: string;
  /** Config offset, ≥ 0x40. */
  readonly offset: number;
  readonly size: number;
  readonly bytes?: ArrayLike<number>;
  readonly wmask?: ArrayLike<number>;
  readonly w1cmask?: ArrayLike<number>;
  readonly onWrite?: WriteHook;
}

/** A capability as placed in config space. */
export interface PlacedCapability {
  readonly id: number;
  readonly offset: number;
  readonly size: number;
  readonly name: string;
}

/** A device register block as placed in config space. */
export interface PlacedRegion {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
}

/** Internal result of placement: where each range goes and what its bytes and masks are. */
export interface ClaimedRange {
  readonly kind: 'capability' | 'registers';
  readonly name: string;
  readonly id: number;
  readonly offset: number;
  readonly size: number;
  readonly bytes: Uint8Array;
  readonly wmask: Uint8Array;
  readonly w1cmask: Uint8Array;
  readonly onWrite: WriteHook | undefined;
}


function byteArray(src: ArrayLike<number> | undefined, size: number, what: string): Uint8Array {
  const out = new Uint8Array(size);
  if (src === undefined) return out;
  if (src === null || typeof src !== 'object' || typeof src.length !== 'number') {
    throw new ConfigError(`${what}: expected an array of bytes`);
  }
  if (src.length > size) throw new ConfigError(`${what}: ${src.length} bytes given, the range is only ${size} bytes`);
  for (let i = 0; i < src.length; i++) {
    const b = src[i];
    if (typeof b !== 'number' || !Number.isInteger(b) || b < 0 || b > 0xff) {
      throw new ConfigError(`${what}[${i}]: ${show(b)} is not a byte`);
    }
    out[i] = b;
  }
  return out;
}

function checkMasks(name: string, wmask: Uint8Array, w1cmask: Uint8Array, protectedBytes: number): void {
  for (let i = 0; i < wmask.length; i++) {
    if (((wmask[i] ?? 0) & (w1cmask[i] ?? 0)) !== 0) {
      throw new ConfigError(`${name}: byte +${i} has bits that are both writable and write-1-to-clear`);
    }
    if (i < protectedBytes && ((wmask[i] ?? 0) | (w1cmask[i] ?? 0)) !== 0) {
      throw new ConfigError(`${name}: byte +${i} (capability header) must stay read-only`);
    }
  }
}

/**
 * Validate capability and device-register descriptors and place them in a
 * config space of `spaceSize` bytes. Throws ConfigError on a bad id, size or
 * offset, an overlap, or when a range does not fit. Returned ranges are in
 * declaration order: capabilities (the chain order), then device registers.
 */
export function placeCapabilities(
  caps: readonly CapabilityOptions[],
  registers: readonly DeviceRegisterOptions[],
  spaceSize: number,
): ClaimedRange[] {
  if (!Array.isArray(caps)) throw new ConfigError('capabilities: expected an array');
  if (!Array.isArray(registers)) throw new ConfigError('deviceRegisters: expected an array');
  const owner: (string | undefined)[] = new Array(spaceSize).fill(undefined);
  const claim = (name: string, offset: number, size: number): void => {
    if (offset < PCI_STD_HEADER_SIZEOF) {
      throw new ConfigError(`${name}: offset ${hex(offset)} is inside the standard header (below 0x40)`);
    }
    if (offset + size > spaceSize) {
      throw new ConfigError(
        `${name}: ${size} bytes at ${hex(offset)} do not fit in a ${spaceSize}-byte config space (last offset ${hex(spaceSize - 1)})`,
      );
    }
    for (let i = offset; i < offset + size; i++) {
      const prev = owner[i];
      if (prev !== undefined) throw new ConfigError(`${name}: byte ${hex(i)} overlaps ${prev}`);
    }
    owner.fill(name, offset, offset + size);
  };

  const prepared = caps.map((c, i) => {
    if (c === null || typeof c !== 'object') throw new ConfigError(`capabilities[${i}]: expected an object`);
    const name = typeof c.name === 'string' ? c.name : `capabilities[${i}] (cap-${show(c.id)})`;
    if (!Number.isInteger(c.id) || c.id < 1 || c.id > 0xfe) {
      throw new ConfigError(`${name}: id must be 0x01–0xfe, got ${show(c.id)}`);
    }
    if (!Number.isInteger(c.size) || c.size < 2 || c.size > spaceSize - PCI_STD_HEADER_SIZEOF) {
      throw new ConfigError(`${name}: size must be an integer ≥ 2 that fits above the header, got ${show(c.size)}`);
    }
    if (c.offset !== undefined && (!Number.isInteger(c.offset) || c.offset % 4 !== 0)) {
      throw new ConfigError(`${name}: offset must be a multiple of 4 (capability pointers are dword aligned), got ${show(c.offset)}`);
    }
    if (c.onWrite !== undefined && typeof c.onWrite !== 'function') throw new ConfigError(`${name}: onWrite must be a function`);
    const bytes = byteArray(c.bytes, c.size, `${name}.bytes`);
    if ((bytes[PCI_CAP_LIST_ID] !== 0 && bytes[PCI_CAP_LIST_ID] !== c.id) || bytes[PCI_CAP_LIST_NEXT] !== 0) {
      throw new ConfigError(`${name}: bytes[0] must be 0 or the id and bytes[1] must be 0 (the builder writes id and next)`);
    }
    const wmask = byteArray(c.wmask, c.size, `${name}.wmask`);
    const w1cmask = byteArray(c.w1cmask, c.size, `${name}.w1cmask`);
    checkMasks(name, wmask, w1cmask, 2);
    bytes[PCI_CAP_LIST_ID] = c.id;
    return { kind: 'capability' as const, name, id: c.id, offset: c.offset, size: c.size, bytes, wmask, w1cmask, onWrite: c.onWrite };
  });
  const regs = registers.map((r, i) => {
    if (r === null || typeof r !== 'object') throw new ConfigError(`deviceRegisters[${i}]: expected an object`);
    const name = typeof r.name === 'string' ? r.name : `deviceRegisters[${i}]`;
    if (!Number.isInteger(r.offset) || !Number.isInteger(r.size) || r.size < 1) {
      throw new ConfigError(`${name}: offset and size must be integers, size ≥ 1`);
    }
    if (r.onWrite !== undefined && typeof r.onWrite !== 'function') throw new ConfigError(`${name}: onWrite must be a function`);
    const bytes = byteArray(r.bytes, r.size, `${name}.bytes`);
    const wmask = byteArray(r.wmask, r.size, `${name}.wmask`);
    const w1cmask = byteArray(r.w1cmask, r.size, `${name}.w1cmask`);
    checkMasks(name, wmask, w1cmask, 0);
    return { kind: 'registers' as const, name, id: 0, offset: r.offset, size: r.size, bytes, wmask, w1cmask, onWrite: r.onWrite };
  });

  // Explicit offsets first, so automatic placement cannot steal them.
  for (const r of regs) claim(r.name, r.offset, r.size);
  for (const c of prepared) if (c.offset !== undefined) claim(c.name, c.offset, c.size);
  let end = PCI_STD_HEADER_SIZEOF;
  for (let i = spaceSize - 1; i >= PCI_STD_HEADER_SIZEOF; i--) {
    if (owner[i] !== undefined) { end = i + 1; break; }
  }
  const placed: ClaimedRange[] = [];
  for (const c of prepared) {
    let offset = c.offset;
    if (offset === undefined) {
      offset = alignUp(end, 4);
      claim(c.name, offset, c.size);
      end = offset + c.size;
    }
    placed.push({ ...c, offset });
  }
  for (const r of regs) placed.push(r);

  // Link in declaration order: 0x34 -> first -> second -> … -> 0.
  const capsPlaced = placed.filter((p) => p.kind === 'capability');
  capsPlaced.forEach((c, i) => {
    c.bytes[PCI_CAP_LIST_NEXT] = capsPlaced[i + 1]?.offset ?? 0;
  });
  return placed;
}

// ---------------------------------------------------------------------------
// Builders

/** A vendor-specific capability (id 0x09; PCI 3.0 Appendix H: byte 2 is the capability's length). */
export interface VendorCapabilityOptions {
  /** Length in bytes, 3–255; written to byte 2 (PCI_CAP_FLAGS). */
  readonly size: number;
  /** @see CapabilityOptions.offset */
  readonly offset?: number;
  /**
   * Initial contents from the capability start (bytes 0–2 must be 0 or the
   * values the builder writes: id, next = 0, length). E.g. mdpy puts its
   * format/width/height dwords at +4, +8, +12.
   */
  readonly bytes?: ArrayLike<number>;
  /** @defaultValue all read-only */
  readonly wmask?: ArrayLike<number>;
  readonly w1cmask?: ArrayLike<number>;
  /** @defaultValue 'vendor' */
  readonly name?: string;
  readonly onWrite?: WriteHook;
}

/** Build a vendor-specific capability: id 0x09 with its length at byte 2 (read-only). */
export function vendorCapability(o: VendorCapabilityOptions): CapabilityOptions {
  const name = o.name ?? 'vendor';
  if (!Number.isInteger(o.size) || o.size < 3 || o.size > 0xff) {
    throw new ConfigError(`${name}: a vendor-specific capability is 3–255 bytes (its length is one byte), got ${show(o.size)}`);
  }
  const bytes = byteArray(o.bytes, o.size, `${name}.bytes`);
  if (bytes[PCI_CAP_FLAGS] !== 0 && bytes[PCI_CAP_FLAGS] !== o.size) {
    throw new ConfigError(`${name}: bytes[2] is the length (${o.size}); give 0 or ${o.size}`);
  }
  bytes[PCI_CAP_FLAGS] = o.size;
  const wmask = byteArray(o.wmask, o.size, `${name}.wmask`);
  const w1cmask = byteArray(o.w1cmask, o.size, `${name}.w1cmask`);
  if ((wmask[PCI_CAP_FLAGS] ?? 0) !== 0 || (w1cmask[PCI_CAP_FLAGS] ?? 0) !== 0) {
    throw new ConfigError(`${name}: the length byte (+2) must stay read-only`);
  }
  return {
    id: PCI_CAP_ID_VNDR, size: o.size, name, bytes, wmask, w1cmask,
    ...(o.offset !== undefined ? { offset: o.offset } : {}),
    ...(o.onWrite !== undefined ? { onWrite: o.onWrite } : {}),
  };
}

/** A PCI Power Management capability (id 0x01, 8 bytes, PCI PM 1.2 §3.2). */
export interface PowerManagementOptions {
  /** @see CapabilityOptions.offset */
  readonly offset?: number;
  /**
   * PMC (Power Management Capabilities) register value. Bits 2:0 are the
   * version, 9/10 advertise D1/D2, 15:11 the states PME# can be asserted from.
   * @defaultValue PCI_PM_CAP_VER_1_2 (0x0003: PM 1.2, D0/D3hot only, no PME#)
   */
  readonly pmc?: number;
  /** PMCSR No_Soft_Reset (bit 3, read-only). @defaultValue false */
  readonly noSoftReset?: boolean;
  /** @defaultValue 'pm' */
  readonly name?: string;
}

/**
 * Build a PM capability. PMCSR PowerState (bits 1:0) is guest-writable, as in
 * QEMU `pci_pm_init`. A write selecting a state the PMC does not advertise
 * (D1 without PCI_PM_CAP_D1, D2 without PCI_PM_CAP_D2) completes but keeps
 * the previous state ("the data is discarded and no state change occurs",
 * PCI PM 1.2 §3.2.4). When PMC advertises PME# support, PME_En is writable and
 * PME_Status is write-1-to-clear; otherwise both read 0.
 */
export function powerManagementCapability(o: PowerManagementOptions = {}): CapabilityOptions {
  const name = o.name ?? 'pm';
  const pmc = o.pmc ?? PCI_PM_CAP_VER_1_2;
  if (!Number.isInteger(pmc) || pmc < 0 || pmc > 0xffff) throw new ConfigError(`${name}: pmc must be a 16-bit value, got ${show(pmc)}`);
  const pme = (pmc & PCI_PM_CAP_PME_MASK) !== 0;
  const pmcsr = o.noSoftReset ? PCI_PM_CTRL_NO_SOFT_RESET : 0;
  const ctrlWmask = PCI_PM_CTRL_STATE_MASK | (pme ? PCI_PM_CTRL_PME_ENABLE : 0);
  const ctrlW1c = pme ? PCI_PM_CTRL_PME_STATUS : 0;
  const bytes = new Uint8Array(PCI_PM_SIZEOF);
  const wmask = new Uint8Array(PCI_PM_SIZEOF);
  const w1cmask = new Uint8Array(PCI_PM_SIZEOF);
  const put16 = (a: Uint8Array, off: number, v: number): void => { a[off] = v & 0xff; a[off + 1] = v >>> 8; };
  put16(bytes, PCI_PM_PMC, pmc);
  put16(bytes, PCI_PM_CTRL, pmcsr);
  put16(wmask, PCI_PM_CTRL, ctrlWmask);
  put16(w1cmask, PCI_PM_CTRL, ctrlW1c);
  const supported = (state: number): boolean =>
    (state !== PCI_D1 || (pmc & PCI_PM_CAP_D1) !== 0) && (state !== PCI_D2 || (pmc & PCI_PM_CAP_D2) !== 0);
  const onWrite: WriteHook = (ev, space) => {
    const ctrl = ev.target.offset + PCI_PM_CTRL;
    if (ev.offset > ctrl || ev.offset + ev.size <= ctrl) return; // PowerState lives in the PMCSR low byte
    const now = space.read(ctrl, 1);
    if (!supported(now & PCI_PM_CTRL_STATE_MASK)) {
      const before = ev.oldValue(ctrl, 1) & PCI_PM_CTRL_STATE_MASK;
      space.deviceSetUint(ctrl, 1, (now & ~PCI_PM_CTRL_STATE_MASK) | before);
    }
  };
  return { id: PCI_CAP_ID_PM, size: PCI_PM_SIZEOF, name, bytes, wmask, w1cmask, onWrite, ...(o.offset !== undefined ? { offset: o.offset } : {}) };
}

// ---------------------------------------------------------------------------
// Walker

/** One capability found by {@link walkCapabilities}. */
export interface CapabilityWalkEntry {
  readonly id: number;
  readonly offset: number;
  readonly next: number;
}

/** Why a capability walk stopped early. */
export type CapabilityWalkError = 'cycle' | 'out-of-range' | 'misaligned';

/** The result of walking a capability chain. */
export type CapabilityWalk =
  | {
      readonly ok: true;
      /** STATUS.CAP_LIST: when clear, the chain is empty whatever 0x34 holds (Linux `pci_find_capability`). */
      readonly capList: boolean;
      readonly caps: readonly CapabilityWalkEntry[];
    }
  | {
      readonly ok: false;
      readonly capList: true;
      /** The entries visited before the problem. */
      readonly caps: readonly CapabilityWalkEntry[];
      readonly error: CapabilityWalkError;
      /** The offending pointer value. */
      readonly at: number;
      readonly message: string;
    };

/**
 * Walk the capability chain of a config-space image of `size` bytes, from
 * the pointer at 0x34 to a next pointer of 0. Stricter than Linux (which
 * masks the low pointer bits and gives up silently after 48 entries): a
 * pointer below 0x40, a capability whose id/next bytes lie beyond the space,
 * a pointer that is not dword aligned, and a pointer to an already visited
 * capability are all reported as errors. Never throws for any image.
 */
export function walkCapabilities(image: ReadonlyBytes, size: number = image.length): CapabilityWalk {
  const status = (image[PCI_HEADER.STATUS.offset] ?? 0) | ((image[PCI_HEADER.STATUS.offset + 1] ?? 0) << 8);
  if ((status & PCI_STATUS_CAP_LIST) === 0) return { ok: true, capList: false, caps: [] };
  const caps: CapabilityWalkEntry[] = [];
  const seen = new Set<number>();
  let ptr = image[PCI_HEADER.CAPABILITY_LIST.offset] ?? 0;
  while (ptr !== 0) {
    const fail = (error: CapabilityWalkError, message: string): CapabilityWalk =>
      ({ ok: false, capList: true, caps, error, at: ptr, message });
    if (ptr < PCI_STD_HEADER_SIZEOF || ptr + PCI_CAP_LIST_NEXT >= size) {
      return fail('out-of-range', `capability pointer ${hex(ptr)} is outside [0x40, ${hex(size - 2)}]`);
    }
    if (ptr % 4 !== 0) return fail('misaligned', `capability pointer ${hex(ptr)} is not dword aligned`);
    if (seen.has(ptr)) return fail('cycle', `capability pointer ${hex(ptr)} points back into the chain`);
    seen.add(ptr);
    const entry = { id: image[ptr + PCI_CAP_LIST_ID] ?? 0, offset: ptr, next: image[ptr + PCI_CAP_LIST_NEXT] ?? 0 };
    caps.push(entry);
    ptr = entry.next;
  }
  return { ok: true, capList: true, caps };
}
