/**
 * The mbochs MMIO BAR (BAR2, 4 KiB) as a table of subregions at named offsets
 * (docs/devices/mbochs.md "BAR2"; mbochs.c handle_mmio_read()/handle_mmio_write();
 * invariants 16, 26, 31), the layout of QEMU's
 * "vga.mmio" container (hw/display/vga-pci.c) that mbochs copies.
 *
 * | subregion | offset       | sample (kernel mbochs)                       | strict (QEMU stdvga)                                   |
 * |-----------|--------------|----------------------------------------------|--------------------------------------------------------|
 * | edid      | 0x000–0x3FF  | blob bytes, gated on link state; writes ignored | same                                                |
 * | vga       | 0x400–0x41F  | reads 0, writes ignored                       | ports 0x3C0–0x3DF byte by byte: the attribute controller, misc output, input status 1 (vga-ports.ts) |
 * | dispi     | 0x500–0x515  | 2-byte accesses only; others read 0 / dropped | 1–4 bytes, split into 16-bit accesses (QEMU mmio ops)  |
 * | qext      | 0x600–0x607  | not implemented: reads 0                      | with `qext`: size reads 8, byte order 0x1E1E1E1E/0xBEBEBEBE; without: a hole |
 * | —         | elsewhere    | reads 0, writes ignored                       | reads all ones, writes ignored (QEMU's "vga.mmio" container is unassigned_io_ops) |
 *
 * An access is dispatched by its start offset, as the kernel's switch and
 * QEMU's flat view do: QEMU does not clamp an MMIO access at the end of the
 * subregion it starts in (QEMU 7.2 softmmu/physmem.c address_space_translate_internal()
 * clamps RAM only), so the subregion's own ops see all of it. The one case a
 * naturally aligned access reaches past a subregion is a 4-byte access at
 * 0x514: QEMU hands both halves to the dispi ops, the upper one as register
 * index 11, which reads 0 and drops writes (vbe_ioport_read_data(),
 * vbe_ioport_write_data()). Observed on QEMU 7.2 stdvga: `readl BAR2+0x514`
 * = 0x00000100 with 16 MiB, `readw BAR2+0x516` = 0xFFFF.
 * regionRead()/regionWrite() split every access into naturally aligned
 * chunks, as the kernel does and as QEMU's memory_access_size() does.
 *
 * Guest accesses never throw for offsets 0..0xFFF; values are little-endian.
 */
import { AccessError, ConfigError, VfioError } from '../../src/util/errors.ts';
import { showSent } from '../../src/pci/format.ts';
import { rangeInside } from '../../src/util/bits.ts';
import { readUint, writeUint } from '../../src/util/bytes.ts';
import { kernelChunks } from '../common/access.ts';
import {
  VBE_DISPI_MMIO_OFFSET,
  VBE_DISPI_MMIO_SIZE,
  type DispiRegisters,
  type VbeMode,
  type VramClearRequest,
} from './dispi.ts';
import { MBOCHS_EDID_BLOB_SIZE, type EdidSource } from './edid-region.ts';
import { VGA_AR_PAS, VGA_MIS_COLOR, VGA_PORT_BASE, VgaPorts, type VgaPortsSnapshot } from './vga-ports.ts';

export { VBE_DISPI_MMIO_OFFSET, VBE_DISPI_MMIO_SIZE } from './dispi.ts';

/** Size of the MMIO BAR (MBOCHS_MMIO_BAR_SIZE, one page). */
export const MBOCHS_MMIO_BAR_SIZE = 0x1000;

/** EDID blob window: guest-visible copy of the EDID region's blob. */
export const MBOCHS_MMIO_EDID_OFFSET = 0x000;
export const MBOCHS_MMIO_EDID_SIZE = MBOCHS_EDID_BLOB_SIZE;

/** VGA ioports 0x3C0–0x3DF remapped: MMIO 0x400 + (port − 0x3C0) (QEMU PCI_VGA_IOPORT_OFFSET/SIZE). */
export const PCI_VGA_IOPORT_OFFSET = 0x400;
export const PCI_VGA_IOPORT_SIZE = 0x3e0 - 0x3c0;

/** QEMU extended registers (only with PCI revision ≥ 2; mbochs has revision 1). */
export const PCI_VGA_QEXT_OFFSET = 0x600;
export const PCI_VGA_QEXT_SIZE = 2 * 4;
export const PCI_VGA_QEXT_REG_SIZE = 0 * 4;
export const PCI_VGA_QEXT_REG_BYTEORDER = 1 * 4;
export const PCI_VGA_QEXT_LITTLE_ENDIAN = 0x1e1e1e1e;
export const PCI_VGA_QEXT_BIG_ENDIAN = 0xbebebebe;

export type MmioSubregionName = 'edid' | 'vga' | 'dispi' | 'qext';

export interface MmioSubregion {
  readonly name: MmioSubregionName;
  readonly offset: number;
  readonly size: number;
  /** QEMU memory-region name, for logs. */
  readonly label: string;
}

/** The BAR2 map. Anything not covered reads 0 and ignores writes. */
export const MBOCHS_MMIO_MAP = {
  edid: { name: 'edid', offset: MBOCHS_MMIO_EDID_OFFSET, size: MBOCHS_MMIO_EDID_SIZE, label: 'edid' },
  vga: { name: 'vga', offset: PCI_VGA_IOPORT_OFFSET, size: PCI_VGA_IOPORT_SIZE, label: 'vga ioports remapped' },
  dispi: { name: 'dispi', offset: VBE_DISPI_MMIO_OFFSET, size: VBE_DISPI_MMIO_SIZE, label: 'bochs dispi interface' },
  qext: { name: 'qext', offset: PCI_VGA_QEXT_OFFSET, size: PCI_VGA_QEXT_SIZE, label: 'qemu extended regs' },
} as const satisfies Record<MmioSubregionName, MmioSubregion>;

const MAP_LIST: readonly MmioSubregion[] = (() => {
  const list = (Object.values(MBOCHS_MMIO_MAP) as MmioSubregion[]).slice().sort((a, b) => a.offset - b.offset);
  for (let i = 0; i < list.length; i++) {
    const r = list[i]!;
    const next = list[i + 1];
    if (r.offset + r.size > (next?.offset ?? MBOCHS_MMIO_BAR_SIZE)) throw new Error(`mbochs MMIO map: ${r.name} overlaps`);
  }
  return list;
})();

/** The subregion containing BAR2 offset `offset`, or undefined for a hole. */
export function mmioSubregionAt(offset: number): MmioSubregion | undefined {
  return MAP_LIST.find((r) => offset >= r.offset && offset < r.offset + r.size);
}

export interface MbochsMmioOptions {
  /** The instance's dispi registers; their `vbe` mode selects the MMIO behaviour. */
  readonly dispi: DispiRegisters;
  /** Where the EDID window reads from (an EdidRegion). */
  readonly edid: EdidSource;
  /**
   * Strict mode only: implement QEMU's extended registers at 0x600, as with
   * PCI revision 2 (the device must then report revision 2 in config space so
   * bochs-drm probes them). Sample mode has no qext.
   * @defaultValue `false`
   */
  readonly qext?: boolean;
}

/**
 * A named-record snapshot of the MMIO-owned state (the qext byte order, the
 * strict VGA ports). dispi and EDID snapshot themselves.
 *
 * Version 1 (before the VGA ports were modelled) is still accepted. In
 * strict mode it restores the ports as bochs-drm leaves them after a mode
 * set (colour, PAS set), because the guest it was taken from was shown.
 */
export interface MbochsMmioSnapshot {
  readonly kind: 'mbochs-mmio';
  readonly version: 1 | 2;
  readonly byteOrder: 'le' | 'be';
  /** Strict mode: the VGA ports; null in sample mode (version 2). */
  readonly vga?: VgaPortsSnapshot | null;
}

const SIZE_MASK = { 1: 0xff, 2: 0xffff, 4: 0xffff_ffff } as const;

/** The BAR2 register map of one mbochs instance. */
export class MbochsMmio {
  readonly vbe: VbeMode;
  readonly qext: boolean;
  readonly #dispi: DispiRegisters;
  readonly #edid: EdidSource;
  /** Strict only: the kernel sample ignores the VGA window. */
  readonly #vga: VgaPorts | undefined;
  #bigEndianFb = false;

  /** @throws ConfigError when qext is asked for in sample mode. */
  constructor(options: MbochsMmioOptions) {
    this.#dispi = options.dispi;
    this.#edid = options.edid;
    this.vbe = options.dispi.vbe;
    this.qext = options.qext ?? false;
    if (this.qext && this.vbe !== 'strict') {
      throw new ConfigError("mbochs: the QEMU extended registers (qext) exist only with vbe 'strict'.");
    }
    this.#vga = this.vbe === 'strict' ? new VgaPorts() : undefined;
  }

  /**
   * Strict mode: QEMU would show a blank screen, because the VGA attribute
   * controller's palette address source bit is clear (vga-ports.ts). Always
   * false in sample mode, where the kernel ignores the VGA ports.
   */
  get blanked(): boolean {
    return this.#vga?.blanked ?? false;
  }

  /**
   * Framebuffer byte order set through qext (strict + qext only; always 'le'
   * otherwise). Pass it to deriveMode({ byteOrder }).
   */
  get byteOrder(): 'le' | 'be' {
    return this.#bigEndianFb ? 'be' : 'le';
  }

  /**
   * Reset the MMIO-owned state: qext byte order back to little endian and,
   * strict, the VGA ports to QEMU's reset values (blank: vga_common_reset).
   * Does not reset dispi or EDID (the device resets dispi; EDID survives reset).
   */
  reset(): void {
    this.#bigEndianFb = false;
    this.#vga?.reset();
  }

  /**
   * Guest read of `size` bytes at BAR2 offset `offset` (0..0xFFF), little-endian.
   * @throws AccessError (EFAULT) only for an offset outside 0..0xFFF or a size other than 1, 2, 4.
   */
  mmioRead(offset: number, size: 1 | 2 | 4): number {
    checkAccess(offset, size);
    const region = mmioSubregionAt(offset);
    switch (region?.name) {
      case 'edid':
        return this.#edid.guestRead(offset - region.offset, size);
      case 'dispi':
        return this.#dispiRead(offset, size);
      case 'qext':
        return this.qext ? this.#qextRead(offset - region.offset, size) : this.#holeRead(size);
      case 'vga':
        return this.#vgaRead(offset - region.offset, size);
      case undefined:
        return this.#holeRead(size);
    }
  }

  /**
   * Guest write of `value` (taken mod 2^(8·size)) at BAR2 offset `offset`.
   * Returns the VRAM clear a strict dispi ENABLE edge requests, else undefined.
   * @throws AccessError (EFAULT) only for an offset outside 0..0xFFF or a size other than 1, 2, 4.
   */
  mmioWrite(offset: number, size: 1 | 2 | 4, value: number): VramClearRequest | undefined {
    checkAccess(offset, size);
    const v = toUint(value, size);
    const region = mmioSubregionAt(offset);
    switch (region?.name) {
      case 'dispi':
        return this.#dispiWrite(offset, size, v);
      case 'qext':
        this.#qextWrite(offset - region.offset, size, v);
        return undefined;
      case 'vga':
        this.#vgaWrite(offset - region.offset, size, v);
        return undefined;
      case 'edid': // the guest view of the EDID is read-only
      case undefined:
        return undefined;
    }
  }

  /**
   * A VFIO read() of BAR2 (region index 2) at `offset`: split like the
   * kernel's mbochs_read loop (4/2/1-byte chunks by alignment) into mmioRead()s.
   * @throws AccessError (EFAULT) when the access is not inside the 4 KiB BAR; dst is zero-filled then.
   */
  regionRead(offset: number, dst: Uint8Array): void {
    dst.fill(0);
    if (!rangeInside(offset, dst.length, MBOCHS_MMIO_BAR_SIZE)) {
      throw new AccessError(`MMIO BAR offset ${String(offset)} count ${dst.length} outside 0..0xfff`);
    }
    for (const c of kernelChunks(offset, dst.length)) writeUint(dst, c.offset - offset, c.size, this.mmioRead(c.offset, c.size));
  }

  /**
   * A VFIO write() of BAR2, split like the kernel's mbochs_write loop.
   * Returns the VRAM clear requested by a strict ENABLE edge, if any (a
   * contiguous write reaches ENABLE at most once).
   * @throws AccessError (EFAULT) when the access is not inside the 4 KiB BAR; nothing changes then.
   */
  regionWrite(offset: number, src: Uint8Array): VramClearRequest | undefined {
    if (!rangeInside(offset, src.length, MBOCHS_MMIO_BAR_SIZE)) {
      throw new AccessError(`MMIO BAR offset ${String(offset)} count ${src.length} outside 0..0xfff`);
    }
    let clear: VramClearRequest | undefined;
    for (const c of kernelChunks(offset, src.length)) {
      clear = this.mmioWrite(c.offset, c.size, readUint(src, c.offset - offset, c.size)) ?? clear;
    }
    return clear;
  }

  snapshot(): MbochsMmioSnapshot {
    return { kind: 'mbochs-mmio', version: 2, byteOrder: this.byteOrder, vga: this.#vga?.snapshot() ?? null };
  }

  /** @throws VfioError EINVAL for a malformed snapshot, 'be' without qext, or VGA state that does not fit the vbe mode; nothing changes then. */
  restore(snapshot: MbochsMmioSnapshot): void {
    if (snapshot.kind !== 'mbochs-mmio' || (snapshot.version !== 1 && snapshot.version !== 2)) {
      throw new VfioError('EINVAL', 'mbochs MMIO snapshot: not a version 1 or 2 MMIO snapshot');
    }
    if (snapshot.byteOrder !== 'le' && (snapshot.byteOrder !== 'be' || !this.qext)) {
      throw new VfioError('EINVAL', `mbochs MMIO snapshot: byte order ${showSent(snapshot.byteOrder)} not possible here`);
    }
    let vga: VgaPortsSnapshot | undefined;
    if (snapshot.version === 1) {
      vga = this.#vga ? { ...new VgaPorts().snapshot(), msr: VGA_MIS_COLOR, arIndex: VGA_AR_PAS } : undefined;
    } else if (this.#vga === undefined) {
      if (snapshot.vga !== null && snapshot.vga !== undefined) throw new VfioError('EINVAL', 'mbochs MMIO snapshot: VGA port state in a sample-mode snapshot');
    } else {
      if (snapshot.vga === null || snapshot.vga === undefined) throw new VfioError('EINVAL', 'mbochs MMIO snapshot: no VGA port state in a strict-mode snapshot');
      vga = snapshot.vga;
    }
    // VgaPorts.restore checks everything before it changes anything, and nothing can fail after it.
    if (this.#vga && vga) this.#vga.restore(vga);
    this.#bigEndianFb = snapshot.byteOrder === 'be';
  }

  /* ---- VGA ports and holes (strict: QEMU pci_vga_ioport_ops, unassigned_io_ops) ---- */

  #vgaRead(rel: number, size: 1 | 2 | 4): number {
    if (this.#vga === undefined) return 0; // handle_mmio_read: not handled, reads 0
    // QEMU pci_vga_ioport_ops (impl 1..2, little endian): byte by byte from the lowest port up.
    let v = 0;
    for (let i = 0; i < size; i++) v += this.#vga.read(VGA_PORT_BASE + rel + i) * 2 ** (8 * i);
    return v;
  }

  #vgaWrite(rel: number, size: 1 | 2 | 4, v: number): void {
    if (this.#vga === undefined) return;
    // Lowest port first, so one 16-bit write sets an index and then its data (QEMU pci_vga_ioport_write()).
    for (let i = 0; i < size; i++) this.#vga.write(VGA_PORT_BASE + rel + i, Math.floor(v / 2 ** (8 * i)) & 0xff);
  }

  /** What an offset no subregion covers reads: 0 (the kernel's unhandled case), all ones in strict mode (QEMU 7.2 softmmu/ioport.c unassigned_io_read() returns -1; system/ since 8.1). */
  #holeRead(size: 1 | 2 | 4): number {
    return this.vbe === 'strict' ? SIZE_MASK[size] : 0;
  }

  /* ---- dispi ---- */

  #dispiRead(offset: number, size: 1 | 2 | 4): number {
    if (this.vbe === 'sample') {
      // handle_mmio_read: count must be 2; index = (offset − 0x500)/2 (an odd offset aliases the register below).
      return size === 2 ? this.#dispi.read((offset - VBE_DISPI_MMIO_OFFSET) >> 1) : 0;
    }
    // QEMU pci_vga_bochs_ops: valid 1..4, impl 2..2. access_with_adjusted_size issues
    // 2-byte accesses at offset + i (i = 0, 2 < size), index = addr >> 1, and merges
    // them at shift 8·i; the caller keeps `size` bytes. The upper half of a 4-byte
    // access at 0x514 is index 11 to QEMU, which reads 0 (module doc).
    let v = 0;
    for (let i = 0; i < size; i += 2) {
      const a = offset + i;
      if (a >= VBE_DISPI_MMIO_OFFSET + VBE_DISPI_MMIO_SIZE) continue;
      v += (this.#dispi.read((a - VBE_DISPI_MMIO_OFFSET) >> 1) & 0xffff) * 2 ** (8 * i);
    }
    return v % 2 ** (8 * size);
  }

  #dispiWrite(offset: number, size: 1 | 2 | 4, v: number): VramClearRequest | undefined {
    if (this.vbe === 'sample') {
      return size === 2 ? this.#dispi.write((offset - VBE_DISPI_MMIO_OFFSET) >> 1, v) : undefined;
    }
    let clear: VramClearRequest | undefined;
    for (let i = 0; i < size; i += 2) {
      const a = offset + i;
      if (a >= VBE_DISPI_MMIO_OFFSET + VBE_DISPI_MMIO_SIZE) continue;
      // A 1-byte write reaches the register as a 16-bit write of that byte (high byte 0), as in QEMU.
      clear = this.#dispi.write((a - VBE_DISPI_MMIO_OFFSET) >> 1, Math.floor(v / 2 ** (8 * i)) & 0xffff) ?? clear;
    }
    return clear;
  }

  /* ---- qext (QEMU pci_vga_qext_ops: 4-byte, aligned accesses only) ---- */

  #qextRead(rel: number, size: 1 | 2 | 4): number {
    // pci_vga_qext_ops accept only 4 bytes; memory_region_dispatch_read() answers any other size with 0.
    if (size !== 4) return 0;
    switch (rel) {
      case PCI_VGA_QEXT_REG_SIZE:
        return PCI_VGA_QEXT_SIZE;
      case PCI_VGA_QEXT_REG_BYTEORDER:
        return this.#bigEndianFb ? PCI_VGA_QEXT_BIG_ENDIAN : PCI_VGA_QEXT_LITTLE_ENDIAN;
      default:
        return 0;
    }
  }

  #qextWrite(rel: number, size: 1 | 2 | 4, v: number): void {
    if (!this.qext || size !== 4 || rel !== PCI_VGA_QEXT_REG_BYTEORDER) return;
    if (v === PCI_VGA_QEXT_BIG_ENDIAN) this.#bigEndianFb = true;
    else if (v === PCI_VGA_QEXT_LITTLE_ENDIAN) this.#bigEndianFb = false;
  }
}

function checkAccess(offset: number, size: number): void {
  if (!Number.isInteger(offset) || offset < 0 || offset >= MBOCHS_MMIO_BAR_SIZE || (size !== 1 && size !== 2 && size !== 4)) {
    throw new AccessError(`MMIO BAR access at ${String(offset)} size ${String(size)}`);
  }
}

function toUint(value: number, size: 1 | 2 | 4): number {
  if (!Number.isFinite(value)) return 0;
  return (Math.trunc(value) & SIZE_MASK[size]) >>> 0;
}
