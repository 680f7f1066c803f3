/**
 * Base Address Registers from descriptors (PCI 3.0 §6.2.5.1) and the
 * expansion-ROM BAR (§6.2.5.2).
 *
 * A BAR is nothing but its initial image (the read-only type bits) and its
 * write mask `~(size-1)`: the sizing protocol (write all ones, read back
 * `~(size-1) | type bits`) and address programming both fall out of the one
 * masked write path in ConfigSpace, as in QEMU `pci_register_bar`.
 */
import { ConfigError } from '../util/errors.ts';
import { hex, show } from './format.ts';
import { isPowerOfTwo } from '../util/bits.ts';
import { readUint } from '../util/bytes.ts';
import {
  PCI_BAR_REGS,
  PCI_BASE_ADDRESS_IO_MASK,
  PCI_BASE_ADDRESS_MEM_MASK,
  PCI_BASE_ADDRESS_MEM_PREFETCH,
  PCI_BASE_ADDRESS_MEM_TYPE_32,
  PCI_BASE_ADDRESS_MEM_TYPE_64,
  PCI_BASE_ADDRESS_SPACE_IO,
  PCI_HEADER,
  PCI_ROM_ADDRESS_ENABLE,
  PCI_ROM_ADDRESS_MASK,
  PCI_STD_NUM_BARS,
} from './regs.ts';
import type { ConfigWriteEvent, ReadonlyBytes, WriteHookOptions } from './types.ts';
import type { ConfigSpace } from './config-space.ts';

/** Kind of BAR: 32-bit memory, 64-bit memory (uses two slots), or I/O. */
export type BarKind = 'mem32' | 'mem64' | 'io';

/** Smallest memory BAR: the 4 low bits are type bits (PCI 3.0 §6.2.5.1). */
export const PCI_BAR_MEM_MIN_SIZE = 16;
/** Smallest I/O BAR: the 2 low bits are type bits. */
export const PCI_BAR_IO_MIN_SIZE = 4;
/** "Devices … must not consume more than 256 bytes per I/O Base Address register" (PCI 3.0 §6.2.5.1). */
export const PCI_BAR_IO_MAX_SIZE = 256;
/** Largest 32-bit memory BAR: bit 31 must stay an address bit or the BAR cannot be sized. */
export const PCI_BAR_MEM32_MAX_SIZE = 2 ** 31;
/** Largest 64-bit memory BAR accepted here: sizes are JS numbers, so the largest power of two that is a safe integer. */
export const PCI_BAR_MEM64_MAX_SIZE = 2 ** 52;
/** Smallest expansion ROM: bits 10..1 are reserved, bit 0 is the enable bit (PCI 3.0 §6.2.5.2). */
export const PCI_ROM_MIN_SIZE = 2048;
/** Largest expansion ROM: "up to 16 MB" (PCI 3.0 §6.2.5.2). */
export const PCI_ROM_MAX_SIZE = 16 * 1024 * 1024;

/** A BAR a device asks for. */
export interface BarOptions {
  /** BAR slot 0–5. A `mem64` BAR also occupies slot `index + 1` (its upper half). */
  readonly index: number;
  readonly kind: BarKind;
  /**
   * Size in bytes: a power of two; memory BARs ≥ 16 (mem32 ≤ 2 GiB, mem64 ≤ 2^52),
   * I/O BARs 4–256. QEMU aborts on a non-power-of-two size, so it is refused
   * here with a ConfigError instead.
   */
  readonly size: number;
  /** Memory BARs only. @defaultValue false */
  readonly prefetchable?: boolean;
}

/** A BAR as laid out in config space. */
export interface BarInfo {
  readonly index: number;
  readonly kind: BarKind;
  readonly size: number;
  readonly prefetchable: boolean;
  /** Config offset of the BAR register (the low dword for mem64). */
  readonly offset: number;
  /** Read-only low bits of the (low) BAR dword: space, type and prefetch bits. */
  readonly typeBits: number;
  /** Writable bits of the BAR, `~(size-1)` without the type bits; 64 bits wide for mem64. */
  readonly addressMask: bigint;
  /** Bytes of config space the BAR occupies: 4, or 8 for mem64. */
  readonly width: 4 | 8;
}

/** An expansion ROM (PCI 3.0 §6.2.5.2). */
export interface RomOptions {
  /** Size in bytes: a power of two, 2 KiB – 16 MiB. */
  readonly size: number;
}

/** The expansion-ROM BAR as laid out in config space. */
export interface RomInfo {
  readonly size: number;
  readonly offset: number;
  /** Writable address bits `~(size-1) & 0xfffff800`; the enable bit is writable too. */
  readonly addressMask: number;
}


function checkBar(b: BarOptions, where: string): void {
  if (b === null || typeof b !== 'object') throw new ConfigError(`${where}: expected a BAR descriptor object`);
  if (!Number.isInteger(b.index) || b.index < 0 || b.index >= PCI_STD_NUM_BARS) {
    throw new ConfigError(`${where}: index must be an integer 0–5, got ${show(b.index)}`);
  }
  if (b.kind !== 'mem32' && b.kind !== 'mem64' && b.kind !== 'io') {
    throw new ConfigError(`${where}: kind must be 'mem32', 'mem64' or 'io', got ${show(b.kind)}`);
  }
  if (!isPowerOfTwo(b.size)) {
    throw new ConfigError(`${where}: size ${show(b.size)} is not a power of two (QEMU refuses such BARs)`);
  }
  const [min, max] =
    b.kind === 'io' ? [PCI_BAR_IO_MIN_SIZE, PCI_BAR_IO_MAX_SIZE]
    : b.kind === 'mem32' ? [PCI_BAR_MEM_MIN_SIZE, PCI_BAR_MEM32_MAX_SIZE]
    : [PCI_BAR_MEM_MIN_SIZE, PCI_BAR_MEM64_MAX_SIZE];
  if (b.size < min || b.size > max) {
    throw new ConfigError(`${where}: a ${b.kind} BAR must be ${hex(min)}–${hex(max)} bytes, got ${hex(b.size)}`);
  }
  if (b.kind === 'io' && b.prefetchable) throw new ConfigError(`${where}: an I/O BAR cannot be prefetchable`);
  if (b.kind === 'mem64' && b.index === PCI_STD_NUM_BARS - 1) {
    throw new ConfigError(`${where}: a mem64 BAR needs two slots; index 5 has no upper slot`);
  }
}

/**
 * Validate BAR descriptors and lay them out. Throws ConfigError on a bad
 * size, kind or index, and when two BARs claim the same slot (a mem64 BAR
 * claims its index and index+1).
 */
export function layoutBars(bars: readonly BarOptions[]): BarInfo[] {
  if (!Array.isArray(bars)) throw new ConfigError('bars: expected an array of BAR descriptors');
  const owner: (number | undefined)[] = new Array(PCI_STD_NUM_BARS).fill(undefined);
  const out: BarInfo[] = [];
  bars.forEach((b, i) => {
    const where = `bars[${i}]`;
    checkBar(b, where);
    const slots = b.kind === 'mem64' ? [b.index, b.index + 1] : [b.index];
    for (const s of slots) {
      const prev = owner[s];
      if (prev !== undefined) throw new ConfigError(`${where}: BAR slot ${s} is already used by bars[${prev}]`);
      owner[s] = i;
    }
    const prefetchable = b.kind !== 'io' && b.prefetchable === true;
    const typeBits =
      b.kind === 'io' ? PCI_BASE_ADDRESS_SPACE_IO
      : (b.kind === 'mem64' ? PCI_BASE_ADDRESS_MEM_TYPE_64 : PCI_BASE_ADDRESS_MEM_TYPE_32) |
        (prefetchable ? PCI_BASE_ADDRESS_MEM_PREFETCH : 0);
    const lowMask = b.kind === 'io' ? PCI_BASE_ADDRESS_IO_MASK : PCI_BASE_ADDRESS_MEM_MASK;
    const width = b.kind === 'mem64' ? 64n : 32n;
    const all = (1n << width) - 1n;
    const addressMask = ~(BigInt(b.size) - 1n) & all & (BigInt(lowMask) | (all ^ 0xffff_ffffn));
    const reg = PCI_BAR_REGS[b.index];
    if (reg === undefined) throw new ConfigError(`${where}: no BAR register for index ${b.index}`);
    out.push(Object.freeze({
      index: b.index, kind: b.kind, size: b.size, prefetchable, offset: reg.offset, typeBits, addressMask,
      width: b.kind === 'mem64' ? 8 : 4,
    }));
  });
  return out.sort((a, b) => a.index - b.index);
}

/** Validate a ROM descriptor and lay it out at PCI_ROM_ADDRESS. */
export function layoutRom(rom: RomOptions): RomInfo {
  if (rom === null || typeof rom !== 'object') throw new ConfigError('rom: expected { size }');
  if (!isPowerOfTwo(rom.size) || rom.size < PCI_ROM_MIN_SIZE || rom.size > PCI_ROM_MAX_SIZE) {
    throw new ConfigError(
      `rom: size must be a power of two from ${hex(PCI_ROM_MIN_SIZE)} to ${hex(PCI_ROM_MAX_SIZE)}, got ${show(rom.size)}`,
    );
  }
  return Object.freeze({
    size: rom.size,
    offset: PCI_HEADER.ROM_ADDRESS.offset,
    addressMask: (~(rom.size - 1) & PCI_ROM_ADDRESS_MASK) >>> 0,
  });
}

/** The per-byte initial value and write mask of a BAR (width bytes, little-endian). */
export function barBytes(bar: BarInfo): { value: Uint8Array; wmask: Uint8Array } {
  const value = new Uint8Array(bar.width);
  const wmask = new Uint8Array(bar.width);
  value[0] = bar.typeBits;
  for (let i = 0; i < bar.width; i++) wmask[i] = Number((bar.addressMask >> BigInt(8 * i)) & 0xffn);
  return { value, wmask };
}

/** The per-byte write mask of the ROM BAR: address bits plus the enable bit (QEMU `pci_register_bar`). */
export function romWmask(rom: RomInfo): Uint8Array {
  const m = (rom.addressMask | PCI_ROM_ADDRESS_ENABLE) >>> 0;
  return Uint8Array.of(m & 0xff, (m >>> 8) & 0xff, (m >>> 16) & 0xff, m >>> 24);
}

/**
 * The address a BAR currently holds (its register with the type bits
 * removed; both dwords for mem64). After a sizing write this is
 * `~(size-1)`, which is not a usable address: callers that map BARs should
 * treat an all-ones-address as unmapped, as QEMU `pci_bar_address` does.
 */
export function barAddress(image: ReadonlyBytes, bar: BarInfo): bigint {
  let v = 0n;
  for (let i = bar.width - 1; i >= 0; i--) v = (v << 8n) | BigInt(image[bar.offset + i] ?? 0);
  return v & bar.addressMask;
}

/**
 * Kernel-sample BAR write rule as a write hook, for a device's opt-in
 * "upstream quirks" profile. Reproduces `handle_pci_cfg_write` in
 * samples/vfio-mdev/mdpy.c (BAR0) and mbochs.c (BAR0 and BAR2):
 *
 * - only a 4-byte chunk starting exactly at the BAR offset is recognised;
 *   the dword 0xFFFFFFFF stores `0xFFFFFFFF & bar_mask`, any other value
 *   stores `value & PCI_BASE_ADDRESS_MEM_MASK` (address bits *below the BAR
 *   size are kept*, unlike the masked QEMU rule); the original low nibble
 *   (type bits) is ORed back in either case;
 * - a 1- or 2-byte chunk at the BAR offset makes the kernel read 4 bytes from
 *   its caller's buffer (stale stack bytes); this undefined case is treated as
 *   "ignored" in sample-faithful mode (the kernel's value would be stale stack);
 * - every other byte of the BAR ignores writes.
 *
 * Chunks are formed as the kernel's read/write loop does (4 bytes when at
 * least 4 remain and the position is 4-aligned, else 2 when 2-aligned, else
 * 1), so one long `writeBytes` behaves like the samples' split write.
 * Only for 32-bit memory BARs (the samples have no other kind).
 */
export function sampleBarWriteHook(bar: BarInfo): WriteHookOptions {
  if (bar.kind !== 'mem32') throw new ConfigError(`sampleBarWriteHook: BAR ${bar.index} is ${bar.kind}; the kernel samples only have mem32 BARs`);
  const barMask = Number(BigInt.asUintN(32, -BigInt(bar.size)));
  return {
    name: `sample-bar${bar.index}-rule`,
    offset: bar.offset,
    size: 4,
    onWrite(ev: ConfigWriteEvent, space: ConfigSpace): void {
      // Undo whatever the masked store did to this BAR: the sample drops it.
      const old = ev.oldValue(bar.offset, 4);
      let stored = old;
      let pos = ev.offset;
      let left = ev.size;
      while (left > 0) {
        const chunk = left >= 4 && pos % 4 === 0 ? 4 : left >= 2 && pos % 2 === 0 ? 2 : 1;
        if (pos === bar.offset && chunk === 4) {
          const value = readUint(ev.data, pos - ev.offset, 4);
          const addr = value === 0xffff_ffff ? (value & barMask) >>> 0 : (value & PCI_BASE_ADDRESS_MEM_MASK) >>> 0;
          stored = (addr | (old & ~PCI_BASE_ADDRESS_MEM_MASK & 0xff)) >>> 0;
        }
        pos += chunk;
        left -= chunk;
      }
      space.deviceSetUint(bar.offset, 4, stored);
    },
  };
}
