/**
 * The VGA ports of QEMU stdvga that decide whether it shows a picture, for
 * mbochs `vbe: 'strict'` (docs/devices/mbochs.md "VGA ports and holes (strict)").
 *
 * QEMU draws nothing while the attribute controller's index register has its
 * palette address source bit (0x20, PAS) clear: vga_update_display() picks
 * GMODE_BLANK when `(s->ar_index & 0x20) == 0` and vga_draw_blank() paints
 * the screen black (QEMU 7.2 hw/display/vga.c). bochs-drm blanks and unblanks
 * with exactly that bit (bochs_hw_blank(): misc output := VGA_MIS_COLOR,
 * read input status 1 to reset the flip-flop, then write 0x00 or 0x20 to
 * 0x3C0; the colour write since Linux 6.1, commit e740ceb53e45 "drm/bochs:
 * fix blanking"). So the state kept here is what that sequence goes through
 * in QEMU's vga_ioport_read()/vga_ioport_write():
 *
 * | port  | QEMU name  | read                                   | write                                      |
 * |-------|------------|----------------------------------------|--------------------------------------------|
 * | 0x3C0 | VGA_ATT_W  | ar_index while the flip-flop is 0, else 0 | flip-flop 0: ar_index := v & 0x3F; 1: ar[ar_index & 0x1F] := v (masked); then toggle |
 * | 0x3C1 | VGA_ATT_R  | ar[ar_index & 0x1F] (0 past 0x14)      | ignored (as QEMU)                           |
 * | 0x3C2 | VGA_MIS_W  | st00 (always 0)                        | msr := v & ~0x10                            |
 * | 0x3CA | VGA_FTC_R  | fcr                                    | ignored (as QEMU)                           |
 * | 0x3CC | VGA_MIS_R  | msr                                    | ignored (as QEMU)                           |
 * | 0x3DA | VGA_IS1_RC | st01 ^= 0x09 (QEMU's default "dumb" retrace), flip-flop := 0 | fcr := v & 0x10 |
 *
 * While msr has VGA_MIS_COLOR clear (the reset state: no VGA BIOS ran) QEMU
 * treats 0x3D0–0x3DF as absent (vga_ioport_invalid()): they read 0xFF and
 * ignore writes, so a 0x3DA read does not reset the flip-flop.
 *
 * Divergence, documented: the sequencer, graphics controller, CRTC and DAC
 * ports (0x3C4–0x3C9, 0x3CE–0x3CF, 0x3D4–0x3D5) are not modelled; they read
 * 0 and ignore writes, where QEMU stores and returns them. Nothing mbochs
 * shows depends on them.
 *
 * Deterministic: QEMU's default retrace is the "dumb" one (a toggle per
 * read, no clock).
 */
import { VfioError } from '../../src/util/errors.ts';

/** First port of the window: BAR2 offset 0x400 is port 0x3C0 (QEMU vga-pci.c PCI_VGA_IOPORT_OFFSET). */
export const VGA_PORT_BASE = 0x3c0;

/** Port numbers (QEMU include/hw/display/vga.h and Linux include/video/vga.h names). */
export const VGA_ATT_W = 0x3c0;
export const VGA_ATT_R = 0x3c1;
export const VGA_MIS_W = 0x3c2;
export const VGA_FTC_R = 0x3ca;
export const VGA_MIS_R = 0x3cc;
export const VGA_IS1_RC = 0x3da;

/** msr bit 0: colour emulation, which makes 0x3D0–0x3DF answer (QEMU vga_ioport_invalid()). */
export const VGA_MIS_COLOR = 0x01;
/** The attribute controller index's palette address source bit: clear = blank screen. */
export const VGA_AR_PAS = 0x20;
/** Attribute controller registers 0x00–0x14 (QEMU VGA_ATT_C, ar[] size). */
export const VGA_ATT_C = 0x15;
/** Input status 1 bits QEMU's dumb retrace toggles on every read (ST01_V_RETRACE | ST01_DISP_ENABLE). */
export const ST01_TOGGLE = 0x08 | 0x01;

/** The bits an attribute data write keeps, per register (QEMU vga_ioport_write() VGA_ATT_W, flip-flop 1). */
export const VGA_AR_WRITE_MASK: readonly number[] = Object.freeze([
  ...Array<number>(16).fill(0x3f), // 0x00–0x0F palette
  0xff & ~0x10, // 0x10 mode control
  0xff, // 0x11 overscan
  0xff & ~0xc0, // 0x12 colour plane enable
  0xff & ~0xf0, // 0x13 horizontal pel panning
  0xff & ~0xf0, // 0x14 colour select
]);

/** A named-record snapshot of {@link VgaPorts}. */
export interface VgaPortsSnapshot {
  readonly kind: 'mbochs-vga';
  readonly version: 1;
  /** Misc output register. */
  readonly msr: number;
  /** Feature control register. */
  readonly fcr: number;
  /** Input status 1 as last read. */
  readonly st01: number;
  /** Attribute controller index (6 bits: PAS and the register number). */
  readonly arIndex: number;
  /** 0: the next 0x3C0 write is an index; 1: it is data. */
  readonly arFlipFlop: 0 | 1;
  /** Attribute controller registers 0x00–0x14. */
  readonly ar: readonly number[];
}

/** The state {@link VgaPorts.reset} sets: QEMU vga_common_reset() zeroes all of it, so PAS is clear and the screen blank. */
const RESET = { msr: 0, fcr: 0, st01: 0, arIndex: 0, arFlipFlop: 0 as 0 | 1 };

/** One instance's VGA port state; guest accesses never throw. */
export class VgaPorts {
  #msr = RESET.msr;
  #fcr = RESET.fcr;
  #st01 = RESET.st01;
  #arIndex = RESET.arIndex;
  #arFlipFlop: 0 | 1 = RESET.arFlipFlop;
  readonly #ar = new Uint8Array(VGA_ATT_C);

  /** True while QEMU would draw a blank screen: the attribute index has PAS (0x20) clear. */
  get blanked(): boolean {
    return (this.#arIndex & VGA_AR_PAS) === 0;
  }

  /** QEMU vga_common_reset(): everything 0, so the screen is blank until the guest sets PAS. */
  reset(): void {
    this.#msr = RESET.msr;
    this.#fcr = RESET.fcr;
    this.#st01 = RESET.st01;
    this.#arIndex = RESET.arIndex;
    this.#arFlipFlop = RESET.arFlipFlop;
    this.#ar.fill(0);
  }

  /** A guest byte read of `port` (any number: ports without a register read 0). May have side effects (0x3DA). */
  read(port: number): number {
    if (this.#absent(port)) return 0xff;
    switch (port) {
      case VGA_ATT_W:
        return this.#arFlipFlop === 0 ? this.#arIndex : 0;
      case VGA_ATT_R: {
        const index = this.#arIndex & 0x1f;
        return index < VGA_ATT_C ? this.#ar[index]! : 0;
      }
      case VGA_FTC_R:
        return this.#fcr;
      case VGA_MIS_R:
        return this.#msr;
      case VGA_IS1_RC:
        this.#st01 ^= ST01_TOGGLE;
        this.#arFlipFlop = 0;
        return this.#st01;
      default: // VGA_MIS_W reads st00, which QEMU never sets; the unmodelled ports (module doc) read 0 too
        return 0;
    }
  }

  /** A guest byte write of `value` (taken mod 256) to `port`. */
  write(port: number, value: number): void {
    const v = (Number.isFinite(value) ? Math.trunc(value) : 0) & 0xff;
    if (this.#absent(port)) return;
    switch (port) {
      case VGA_ATT_W:
        if (this.#arFlipFlop === 0) {
          this.#arIndex = v & 0x3f;
        } else {
          const index = this.#arIndex & 0x1f;
          const mask = VGA_AR_WRITE_MASK[index];
          if (mask !== undefined) this.#ar[index] = v & mask;
        }
        this.#arFlipFlop ^= 1;
        return;
      case VGA_MIS_W:
        this.#msr = v & ~0x10;
        return;
      case VGA_IS1_RC:
        this.#fcr = v & 0x10;
        return;
      default:
        return;
    }
  }

  snapshot(): VgaPortsSnapshot {
    return {
      kind: 'mbochs-vga', version: 1, msr: this.#msr, fcr: this.#fcr, st01: this.#st01,
      arIndex: this.#arIndex, arFlipFlop: this.#arFlipFlop, ar: [...this.#ar],
    };
  }

  /**
   * Restore a snapshot; all or nothing.
   * @throws VfioError EINVAL for a value no guest could have produced.
   */
  restore(snapshot: VgaPortsSnapshot): void {
    const bad = (why: string): never => {
      throw new VfioError('EINVAL', `mbochs VGA snapshot: ${why}`);
    };
    if (snapshot?.kind !== 'mbochs-vga' || snapshot.version !== 1) bad('not a version 1 VGA snapshot');
    const byte = (v: unknown, mask: number): boolean => Number.isInteger(v) && ((v as number) & ~mask) === 0;
    if (!byte(snapshot.msr, 0xef)) bad('msr is not a misc output value');
    if (!byte(snapshot.fcr, 0x10)) bad('fcr is not a feature control value');
    if (!byte(snapshot.st01, ST01_TOGGLE)) bad('st01 is not an input status 1 value');
    if (!byte(snapshot.arIndex, 0x3f)) bad('arIndex is not a 6-bit index');
    if (snapshot.arFlipFlop !== 0 && snapshot.arFlipFlop !== 1) bad('arFlipFlop is not 0 or 1');
    const ar = snapshot.ar;
    if (!Array.isArray(ar) || ar.length !== VGA_ATT_C || ar.some((v, i) => !byte(v, VGA_AR_WRITE_MASK[i]!))) {
      bad(`ar is not ${VGA_ATT_C} attribute register values`);
    }
    this.#msr = snapshot.msr;
    this.#fcr = snapshot.fcr;
    this.#st01 = snapshot.st01;
    this.#arIndex = snapshot.arIndex;
    this.#arFlipFlop = snapshot.arFlipFlop;
    this.#ar.set(ar);
  }

  /** QEMU vga_ioport_invalid(): in monochrome mode the colour ports 0x3D0–0x3DF do not answer. */
  #absent(port: number): boolean {
    return (this.#msr & VGA_MIS_COLOR) === 0 && port >= 0x3d0 && port <= 0x3df;
  }
}
