/**
 * The bochs VBE "dispi" register file of mbochs (docs/devices/mbochs.md "dispi";
 * mbochs.c handle_mmio_read()/handle_mmio_write(); QEMU hw/display/vga.c for the
 * strict rules).
 *
 * Registers are stored raw (a Uint16Array of VBE_DISPI_INDEX_COUNT entries);
 * a descriptor table gives each index its kernel name, reset value, read rule
 * and write rule for both behaviours:
 *
 * - `'sample'` (default; kernel samples/vfio-mdev/mbochs.c handle_mmio_*):
 *   any u16 is stored verbatim at indexes 0–10 (ID and VIDEO_MEMORY_64K
 *   included, so a guest can break its own probe); reads return what was
 *   stored. Flag bits in ENABLE are stored and ignored; VRAM is never cleared.
 * - `'strict'` (QEMU hw/display/vga.c vbe_ioport_{read,write}_data and
 *   vbe_fixup_regs): ID whitelist, GETCAPS reads, BANK masking, the ENABLE
 *   edge (zero VIRT_WIDTH/X/Y, fixup, clear the visible VRAM unless
 *   NOCLEARMEM), VIRT_HEIGHT/VIDEO_MEM writes ignored, fixup after every
 *   geometry write while enabled.
 *
 * dispi does not own VRAM: the strict ENABLE edge reports the bytes to clear
 * as a {@link VramClearRequest}, returned by write() and also passed to the
 * optional `clearVram` callback.
 *
 * All arithmetic is exact (JS numbers, every intermediate < 2^53): the
 * CVE-2016-3712 lesson. The one place QEMU truncates, VIRT_HEIGHT := maxy
 * into a u16, saturates at 0xFFFF here instead of wrapping.
 *
 * Deterministic: no clock, no randomness.
 */
import { ConfigError, VfioError } from '../../src/util/errors.ts';
import { showSent } from '../../src/pci/format.ts';

/* ---- Register indexes, each followed by the values that belong to it (bochs-vbe.h order) ---- */

export const VBE_DISPI_INDEX_ID = 0x0;
export const VBE_DISPI_ID0 = 0xb0c0;
export const VBE_DISPI_ID1 = 0xb0c1;
export const VBE_DISPI_ID2 = 0xb0c2;
export const VBE_DISPI_ID3 = 0xb0c3;
export const VBE_DISPI_ID4 = 0xb0c4;
export const VBE_DISPI_ID5 = 0xb0c5;

export const VBE_DISPI_INDEX_XRES = 0x1;
/** Largest XRES (and VIRT_WIDTH, X_OFFSET) after the strict fixup; XRES read while GETCAPS. */
export const VBE_DISPI_MAX_XRES = 16000;

export const VBE_DISPI_INDEX_YRES = 0x2;
/** Largest YRES (and Y_OFFSET) after the strict fixup; YRES read while GETCAPS. */
export const VBE_DISPI_MAX_YRES = 12000;

export const VBE_DISPI_INDEX_BPP = 0x3;
export const VBE_DISPI_BPP_4 = 0x04;
export const VBE_DISPI_BPP_8 = 0x08;
export const VBE_DISPI_BPP_15 = 0x0f;
export const VBE_DISPI_BPP_16 = 0x10;
export const VBE_DISPI_BPP_24 = 0x18;
export const VBE_DISPI_BPP_32 = 0x20;
/** BPP read while GETCAPS. */
export const VBE_DISPI_MAX_BPP = 32;

export const VBE_DISPI_INDEX_ENABLE = 0x4;
export const VBE_DISPI_DISABLED = 0x00;
export const VBE_DISPI_ENABLED = 0x01;
export const VBE_DISPI_GETCAPS = 0x02;
export const VBE_DISPI_8BIT_DAC = 0x20;
export const VBE_DISPI_LFB_ENABLED = 0x40;
export const VBE_DISPI_NOCLEARMEM = 0x80;

export const VBE_DISPI_INDEX_BANK = 0x5;
export const VBE_DISPI_INDEX_VIRT_WIDTH = 0x6;
export const VBE_DISPI_INDEX_VIRT_HEIGHT = 0x7;
export const VBE_DISPI_INDEX_X_OFFSET = 0x8;
export const VBE_DISPI_INDEX_Y_OFFSET = 0x9;
export const VBE_DISPI_INDEX_VIDEO_MEMORY_64K = 0xa;

/** Number of registers (mbochs.c VBE_DISPI_INDEX_COUNT; QEMU's VBE_DISPI_INDEX_NB is 0xa, the stored ones). */
export const VBE_DISPI_INDEX_COUNT = 0xb;

/** BAR2 offset of the dispi registers: register i at VBE_DISPI_MMIO_OFFSET + 2·i (QEMU PCI_VGA_BOCHS_OFFSET). */
export const VBE_DISPI_MMIO_OFFSET = 0x500;
/** Bytes of the dispi MMIO window: 0x500–0x515 (QEMU PCI_VGA_BOCHS_SIZE = 0x0b·2). */
export const VBE_DISPI_MMIO_SIZE = VBE_DISPI_INDEX_COUNT * 2;

/* ---- The register table ---- */

/** VBE behaviour: kernel sample (default) or QEMU stdvga. */
export type VbeMode = 'sample' | 'strict';

/** Reset value rule. */
export type DispiResetRule = 'zero' | 'id5' | 'video-memory-64k';
/**
 * Read rules. `raw`: the stored value. `caps`: the descriptor's `caps` value
 * while ENABLE has GETCAPS, else raw. `video-memory-64k`: vramSize / 64 KiB,
 * computed (the stored value is not consulted).
 */
export type DispiReadRule = 'raw' | 'caps' | 'video-memory-64k';
/**
 * Write rules. `store`: verbatim. `id-whitelist`: stored only if one of
 * VBE_DISPI_ID0..ID5. `store-fixup`: store, then the QEMU fixup (only while
 * enabled). `enable`: QEMU's ENABLE logic. `bank`: masked to the VRAM's 64 KiB
 * banks. `ignore`: dropped.
 */
export type DispiWriteRule = 'store' | 'id-whitelist' | 'store-fixup' | 'enable' | 'bank' | 'ignore';

export interface DispiRegDesc {
  readonly index: number;
  /** Kernel/QEMU constant name. */
  readonly name: string;
  /** mbochs.c vbe_name_list label (used in logs). */
  readonly label: string;
  readonly reset: DispiResetRule;
  readonly read: { readonly sample: DispiReadRule; readonly strict: DispiReadRule };
  readonly write: { readonly sample: DispiWriteRule; readonly strict: DispiWriteRule };
  /** Value read in strict mode while GETCAPS is set (rule `caps`). */
  readonly caps?: number;
  /** Named values that belong to this register. */
  readonly values?: Readonly<Record<string, number>>;
}

const SAMPLE_RAW = 'raw' as const;
const SAMPLE_STORE = 'store' as const;

/** The dispi register table, keyed by the register's short name. */
export const DISPI_REGS = {
  ID: {
    index: VBE_DISPI_INDEX_ID, name: 'VBE_DISPI_INDEX_ID', label: 'id', reset: 'id5',
    read: { sample: SAMPLE_RAW, strict: 'raw' }, write: { sample: SAMPLE_STORE, strict: 'id-whitelist' },
    values: { VBE_DISPI_ID0, VBE_DISPI_ID1, VBE_DISPI_ID2, VBE_DISPI_ID3, VBE_DISPI_ID4, VBE_DISPI_ID5 },
  },
  XRES: {
    index: VBE_DISPI_INDEX_XRES, name: 'VBE_DISPI_INDEX_XRES', label: 'xres', reset: 'zero',
    read: { sample: SAMPLE_RAW, strict: 'caps' }, write: { sample: SAMPLE_STORE, strict: 'store-fixup' },
    caps: VBE_DISPI_MAX_XRES, values: { VBE_DISPI_MAX_XRES },
  },
  YRES: {
    index: VBE_DISPI_INDEX_YRES, name: 'VBE_DISPI_INDEX_YRES', label: 'yres', reset: 'zero',
    read: { sample: SAMPLE_RAW, strict: 'caps' }, write: { sample: SAMPLE_STORE, strict: 'store-fixup' },
    caps: VBE_DISPI_MAX_YRES, values: { VBE_DISPI_MAX_YRES },
  },
  BPP: {
    index: VBE_DISPI_INDEX_BPP, name: 'VBE_DISPI_INDEX_BPP', label: 'bpp', reset: 'zero',
    read: { sample: SAMPLE_RAW, strict: 'caps' }, write: { sample: SAMPLE_STORE, strict: 'store-fixup' },
    caps: VBE_DISPI_MAX_BPP,
    values: { VBE_DISPI_BPP_4, VBE_DISPI_BPP_8, VBE_DISPI_BPP_15, VBE_DISPI_BPP_16, VBE_DISPI_BPP_24, VBE_DISPI_BPP_32, VBE_DISPI_MAX_BPP },
  },
  ENABLE: {
    index: VBE_DISPI_INDEX_ENABLE, name: 'VBE_DISPI_INDEX_ENABLE', label: 'enable', reset: 'zero',
    read: { sample: SAMPLE_RAW, strict: 'raw' }, write: { sample: SAMPLE_STORE, strict: 'enable' },
    values: { VBE_DISPI_DISABLED, VBE_DISPI_ENABLED, VBE_DISPI_GETCAPS, VBE_DISPI_8BIT_DAC, VBE_DISPI_LFB_ENABLED, VBE_DISPI_NOCLEARMEM },
  },
  BANK: {
    index: VBE_DISPI_INDEX_BANK, name: 'VBE_DISPI_INDEX_BANK', label: 'bank', reset: 'zero',
    read: { sample: SAMPLE_RAW, strict: 'raw' }, write: { sample: SAMPLE_STORE, strict: 'bank' },
  },
  VIRT_WIDTH: {
    index: VBE_DISPI_INDEX_VIRT_WIDTH, name: 'VBE_DISPI_INDEX_VIRT_WIDTH', label: 'virt-width', reset: 'zero',
    read: { sample: SAMPLE_RAW, strict: 'raw' }, write: { sample: SAMPLE_STORE, strict: 'store-fixup' },
  },
  VIRT_HEIGHT: {
    index: VBE_DISPI_INDEX_VIRT_HEIGHT, name: 'VBE_DISPI_INDEX_VIRT_HEIGHT', label: 'virt-height', reset: 'zero',
    read: { sample: SAMPLE_RAW, strict: 'raw' }, write: { sample: SAMPLE_STORE, strict: 'ignore' },
  },
  X_OFFSET: {
    index: VBE_DISPI_INDEX_X_OFFSET, name: 'VBE_DISPI_INDEX_X_OFFSET', label: 'x-offset', reset: 'zero',
    read: { sample: SAMPLE_RAW, strict: 'raw' }, write: { sample: SAMPLE_STORE, strict: 'store-fixup' },
  },
  Y_OFFSET: {
    index: VBE_DISPI_INDEX_Y_OFFSET, name: 'VBE_DISPI_INDEX_Y_OFFSET', label: 'y-offset', reset: 'zero',
    read: { sample: SAMPLE_RAW, strict: 'raw' }, write: { sample: SAMPLE_STORE, strict: 'store-fixup' },
  },
  VIDEO_MEMORY_64K: {
    index: VBE_DISPI_INDEX_VIDEO_MEMORY_64K, name: 'VBE_DISPI_INDEX_VIDEO_MEMORY_64K', label: 'video-mem', reset: 'video-memory-64k',
    read: { sample: SAMPLE_RAW, strict: 'video-memory-64k' }, write: { sample: SAMPLE_STORE, strict: 'ignore' },
  },
} as const satisfies Record<string, DispiRegDesc>;

/** Short register names (keys of {@link DISPI_REGS}). */
export type DispiRegName = keyof typeof DISPI_REGS;

/** The table ordered by index; validated once at load: indexes 0..COUNT−1, each exactly once. */
export const DISPI_REG_BY_INDEX: readonly (DispiRegDesc & { readonly key: DispiRegName })[] = (() => {
  const out: (DispiRegDesc & { key: DispiRegName })[] = [];
  for (const [key, desc] of Object.entries(DISPI_REGS) as [DispiRegName, DispiRegDesc][]) {
    if (out[desc.index] !== undefined) throw new Error(`dispi table: index ${desc.index} declared twice`);
    out[desc.index] = { ...desc, key };
  }
  if (out.length !== VBE_DISPI_INDEX_COUNT || out.some((d) => d === undefined)) {
    throw new Error('dispi table: indexes must cover 0..VBE_DISPI_INDEX_COUNT-1');
  }
  return out;
})();

/** The IDs a strict ID write accepts (QEMU: ID0..ID5; ID5 since the Jun 2021 fix). */
const VBE_DISPI_IDS: ReadonlySet<number> = new Set(Object.values(DISPI_REGS.ID.values));

/** Register descriptor for an index, or undefined outside 0..10. */
export function dispiReg(index: number): (DispiRegDesc & { readonly key: DispiRegName }) | undefined {
  return Number.isInteger(index) ? DISPI_REG_BY_INDEX[index] : undefined;
}

/* ---- The register file ---- */

/** Bytes of VRAM the strict ENABLE edge asks the owner of VRAM to zero: [offset, offset+length). */
export interface VramClearRequest {
  readonly offset: number;
  readonly length: number;
}

export interface DispiOptions {
  /** VRAM size in bytes (memsize). Positive safe integer with memsize/64 KiB ≤ 0xFFFF. */
  readonly vramSize: number;
  /**
   * Register behaviour.
   * @defaultValue `'sample'`
   */
  readonly vbe?: VbeMode;
  /**
   * Called (strict mode) when an ENABLE 0→1 edge without NOCLEARMEM clears
   * the visible part of VRAM. The same request is also returned by write().
   * @defaultValue none (the caller uses write()'s return value)
   */
  readonly clearVram?: (request: VramClearRequest) => void;
}

/** A named-record snapshot of {@link DispiRegisters}. */
export interface DispiSnapshot {
  readonly kind: 'mbochs-dispi';
  readonly version: 1;
  readonly vbe: VbeMode;
  readonly vramSize: number;
  /** Raw stored registers by short name. */
  readonly registers: Readonly<Record<DispiRegName, number>>;
  /** Strict mode: QEMU bank_offset (BANK<<16, zeroed by a non-edge ENABLE write). Always 0 in sample mode. */
  readonly bankOffset: number;
}

/** What the strict fixup leaves besides the registers (QEMU vbe_line_offset / vbe_start_addr). */
export interface VbeFixupResult {
  /** Bytes per scanline: VIRT_WIDTH · bits / 8. */
  readonly lineLength: number;
  /** Display start in bytes: X·bits/8 + Y·lineLength. */
  readonly startOffset: number;
}

/**
 * QEMU vbe_fixup_regs on raw registers, in place, exact arithmetic. Runs only
 * when ENABLE has VBE_DISPI_ENABLED; returns undefined otherwise.
 *
 * Rules (QEMU hw/display/vga.c, vbe_fixup_regs()): bpp 4/8/16/24/32 kept, 15 → line maths with 16
 * (register keeps 15), else register := 8. XRES &= ~7, 0 → 8, > 16000 → 16000.
 * VIRT_WIDTH &= ~7, > 16000 → 16000, < XRES → XRES. line = VIRT_WIDTH·bits/8,
 * maxy = ⌊vram/line⌋. YRES 0 → 1, > 12000 → 12000, > maxy → maxy. X > 16000 →
 * 16000, Y > 12000 → 12000. If X·bits/8 + Y·line + YRES·line > vram: Y := 0;
 * if it still overflows, X := 0. VIRT_HEIGHT := maxy (saturated to 0xFFFF;
 * QEMU truncates into the u16).
 */
export function vbeFixupRegs(regs: Uint16Array, vramSize: number): VbeFixupResult | undefined {
  if (((regs[VBE_DISPI_INDEX_ENABLE] ?? 0) & VBE_DISPI_ENABLED) === 0) return undefined;
  const r = (i: number): number => regs[i] ?? 0;

  let bits: number;
  switch (r(VBE_DISPI_INDEX_BPP)) {
    case VBE_DISPI_BPP_4:
    case VBE_DISPI_BPP_8:
    case VBE_DISPI_BPP_16:
    case VBE_DISPI_BPP_24:
    case VBE_DISPI_BPP_32:
      bits = r(VBE_DISPI_INDEX_BPP);
      break;
    case VBE_DISPI_BPP_15:
      bits = 16;
      break;
    default:
      bits = VBE_DISPI_BPP_8;
      regs[VBE_DISPI_INDEX_BPP] = VBE_DISPI_BPP_8;
      break;
  }

  let xres = r(VBE_DISPI_INDEX_XRES) & ~7;
  if (xres === 0) xres = 8;
  if (xres > VBE_DISPI_MAX_XRES) xres = VBE_DISPI_MAX_XRES;
  regs[VBE_DISPI_INDEX_XRES] = xres;

  let virtWidth = r(VBE_DISPI_INDEX_VIRT_WIDTH) & ~7;
  if (virtWidth > VBE_DISPI_MAX_XRES) virtWidth = VBE_DISPI_MAX_XRES;
  if (virtWidth < xres) virtWidth = xres;
  regs[VBE_DISPI_INDEX_VIRT_WIDTH] = virtWidth;

  // virtWidth is a multiple of 8, so virtWidth·bits/8 is an integer for every bits.
  const lineLength = (virtWidth * bits) / 8;
  const maxy = Math.floor(vramSize / lineLength);
  let yres = r(VBE_DISPI_INDEX_YRES);
  if (yres === 0) yres = 1;
  if (yres > VBE_DISPI_MAX_YRES) yres = VBE_DISPI_MAX_YRES;
  if (yres > maxy) yres = maxy;
  regs[VBE_DISPI_INDEX_YRES] = yres;

  let x = r(VBE_DISPI_INDEX_X_OFFSET);
  let y = r(VBE_DISPI_INDEX_Y_OFFSET);
  if (x > VBE_DISPI_MAX_XRES) x = VBE_DISPI_MAX_XRES;
  if (y > VBE_DISPI_MAX_YRES) y = VBE_DISPI_MAX_YRES;
  const xBytes = (): number => Math.floor((x * bits) / 8);
  let start = xBytes() + y * lineLength;
  if (start + yres * lineLength > vramSize) {
    y = 0;
    start = xBytes();
    if (start + yres * lineLength > vramSize) {
      x = 0;
      start = 0;
    }
  }
  regs[VBE_DISPI_INDEX_X_OFFSET] = x;
  regs[VBE_DISPI_INDEX_Y_OFFSET] = y;
  regs[VBE_DISPI_INDEX_VIRT_HEIGHT] = Math.min(maxy, 0xffff);
  return { lineLength, startOffset: start };
}

/**
 * The 11 dispi registers of one mbochs instance. Guest accesses never throw:
 * unknown indexes read 0 and ignore writes; values are taken mod 2^16.
 */
export class DispiRegisters {
  readonly vbe: VbeMode;
  readonly vramSize: number;
  readonly #regs = new Uint16Array(VBE_DISPI_INDEX_COUNT);
  readonly #clearVram: ((request: VramClearRequest) => void) | undefined;
  #bankOffset = 0;

  /** @throws ConfigError for a bad vramSize or vbe mode. */
  constructor(options: DispiOptions) {
    const { vramSize } = options;
    if (!Number.isSafeInteger(vramSize) || vramSize <= 0 || Math.floor(vramSize / 65536) > 0xffff) {
      throw new ConfigError(`mbochs dispi: VRAM size must be a positive size below 4 GiB, got ${String(vramSize)}.`);
    }
    const vbe = options.vbe ?? 'sample';
    if (vbe !== 'sample' && vbe !== 'strict') {
      throw new ConfigError(`mbochs dispi: vbe must be 'sample' or 'strict', got ${String(vbe)}.`);
    }
    this.vbe = vbe;
    this.vramSize = vramSize;
    this.#clearVram = options.clearVram;
    this.reset();
  }

  /** VIDEO_MEMORY_64K for this VRAM: ⌊vramSize / 64 KiB⌋. */
  get videoMemory64k(): number {
    return Math.floor(this.vramSize / 65536);
  }

  /**
   * Reset (init and VFIO_DEVICE_RESET), both modes: all registers 0, then
   * ID = VBE_DISPI_ID5 and VIDEO_MEMORY_64K = vramSize/64 KiB (mbochs_reset;
   * QEMU vga_common_reset for the stored ones). Touches nothing else (VRAM,
   * dmabufs, EDID and config are not dispi's).
   */
  reset(): void {
    for (const desc of DISPI_REG_BY_INDEX) {
      this.#regs[desc.index] =
        desc.reset === 'id5' ? VBE_DISPI_ID5 : desc.reset === 'video-memory-64k' ? this.videoMemory64k : 0;
    }
    this.#bankOffset = 0;
  }

  /** Guest read of register `index` (what the MMIO data port returns). 0 for an index outside 0..10. */
  read(index: number): number {
    const desc = dispiReg(index);
    if (!desc) return 0;
    const raw = this.#regs[desc.index] ?? 0;
    switch (desc.read[this.vbe]) {
      case 'raw':
        return raw;
      case 'caps':
        return (this.#regs[VBE_DISPI_INDEX_ENABLE]! & VBE_DISPI_GETCAPS) !== 0 ? (desc.caps ?? raw) : raw;
      case 'video-memory-64k':
        return this.videoMemory64k;
    }
  }

  /**
   * Guest write of `value` (taken mod 2^16) to register `index`. Ignored for
   * an index outside 0..10. Returns the VRAM clear a strict ENABLE edge
   * requests (also passed to the `clearVram` callback), else undefined.
   */
  write(index: number, value: number): VramClearRequest | undefined {
    const desc = dispiReg(index);
    if (!desc) return undefined;
    const v = (Number.isFinite(value) ? Math.trunc(value) : 0) & 0xffff;
    switch (desc.write[this.vbe]) {
      case 'store':
        this.#regs[desc.index] = v;
        return undefined;
      case 'ignore':
        return undefined;
      case 'id-whitelist':
        if (VBE_DISPI_IDS.has(v)) this.#regs[desc.index] = v;
        return undefined;
      case 'store-fixup':
        this.#regs[desc.index] = v;
        vbeFixupRegs(this.#regs, this.vramSize);
        return undefined;
      case 'bank': {
        // QEMU vbe_bank_mask = (vbe_size >> 16) - 1 (CVE-2016-3710: never let the bank leave VRAM).
        const banks = Math.floor(this.vramSize / 65536);
        const masked = banks > 0 ? v & (banks - 1) : 0;
        this.#regs[desc.index] = masked;
        this.#bankOffset = masked * 65536;
        return undefined;
      }
      case 'enable':
        return this.#writeEnable(v);
    }
  }

  #writeEnable(v: number): VramClearRequest | undefined {
    const regs = this.#regs;
    let clear: VramClearRequest | undefined;
    if ((v & VBE_DISPI_ENABLED) !== 0 && (regs[VBE_DISPI_INDEX_ENABLE]! & VBE_DISPI_ENABLED) === 0) {
      regs[VBE_DISPI_INDEX_VIRT_WIDTH] = 0;
      regs[VBE_DISPI_INDEX_X_OFFSET] = 0;
      regs[VBE_DISPI_INDEX_Y_OFFSET] = 0;
      regs[VBE_DISPI_INDEX_ENABLE] = regs[VBE_DISPI_INDEX_ENABLE]! | VBE_DISPI_ENABLED;
      const fix = vbeFixupRegs(regs, this.vramSize);
      if ((v & VBE_DISPI_NOCLEARMEM) === 0 && fix) {
        // QEMU: memset(vram, 0, YRES · vbe_line_offset). YRES ≤ ⌊vram/line⌋, so this stays inside VRAM.
        clear = { offset: 0, length: regs[VBE_DISPI_INDEX_YRES]! * fix.lineLength };
      }
    } else {
      this.#bankOffset = 0;
    }
    // dac_8bit is bit 5 of the stored value; GETCAPS/LFB/NOCLEARMEM bits persist verbatim.
    regs[VBE_DISPI_INDEX_ENABLE] = v;
    if (clear) this.#clearVram?.(clear);
    return clear;
  }

  /** Raw stored value of register `index` (no GETCAPS or computed reads); 0 outside 0..10. */
  raw(index: number): number {
    const desc = dispiReg(index);
    return desc ? this.#regs[desc.index]! : 0;
  }

  /** Copy of the raw registers, indexed by VBE_DISPI_INDEX_*: the input of deriveMode(). */
  values(): Uint16Array {
    return this.#regs.slice();
  }

  /** Strict mode: QEMU bank_offset in bytes. Has no effect on mbochs (no legacy VGA window); kept for fidelity. */
  get bankOffset(): number {
    return this.#bankOffset;
  }

  /** Strict mode: QEMU dac_8bit (ENABLE bit 5). */
  get dac8bit(): boolean {
    return (this.#regs[VBE_DISPI_INDEX_ENABLE]! & VBE_DISPI_8BIT_DAC) !== 0;
  }

  snapshot(): DispiSnapshot {
    const registers = {} as Record<DispiRegName, number>;
    for (const desc of DISPI_REG_BY_INDEX) registers[desc.key] = this.#regs[desc.index]!;
    return { kind: 'mbochs-dispi', version: 1, vbe: this.vbe, vramSize: this.vramSize, registers, bankOffset: this.#bankOffset };
  }

  /**
   * Restore a snapshot taken from an instance with the same vbe mode and VRAM size.
   * @throws VfioError EINVAL for a snapshot that does not fit; nothing changes then.
   */
  restore(snapshot: DispiSnapshot): void {
    const bad = (why: string): never => {
      throw new VfioError('EINVAL', `mbochs dispi snapshot: ${why}`);
    };
    if (snapshot.kind !== 'mbochs-dispi' || snapshot.version !== 1) bad('not a version 1 dispi snapshot');
    if (snapshot.vbe !== this.vbe) bad(`vbe ${showSent(snapshot.vbe)} ≠ ${this.vbe}`);
    if (snapshot.vramSize !== this.vramSize) bad(`VRAM size ${showSent(snapshot.vramSize)} ≠ ${this.vramSize}`);
    const next = new Uint16Array(VBE_DISPI_INDEX_COUNT);
    for (const desc of DISPI_REG_BY_INDEX) {
      const v = snapshot.registers?.[desc.key];
      if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 0xffff) bad(`${desc.key} is not a u16`);
      next[desc.index] = v as number;
    }
    const bo = snapshot.bankOffset;
    if (!Number.isSafeInteger(bo) || bo < 0 || bo % 65536 !== 0 || bo >= Math.max(this.vramSize, 65536)) bad('bad bankOffset');
    this.#regs.set(next);
    this.#bankOffset = bo;
  }
}
