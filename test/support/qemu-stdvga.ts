/**
 * QEMU's PCI stdvga (`-device VGA`), the device mbochs `vbe: 'strict'`
 * follows, driven over the qtest protocol (QEMU docs/devel/qtest.rst) so a
 * test can make the same BAR2 accesses to it and to an MbochsDevice and
 * compare the answers, and QMP `screendump` shows what QEMU displays.
 *
 * The machine never starts (-S), as in qemu-vga.ts: no firmware runs, so the
 * VGA is in its reset state (monochrome, attribute index 0: blank) and its
 * BARs are unassigned; startQemuStdVga() finds the device on bus 0 through
 * the 0xCF8/0xCFC configuration mechanism, assigns BAR0 and BAR2 and enables
 * memory decoding. qtest reads and writes go through address_space_read()
 * and address_space_write(), the path a KVM MMIO exit takes.
 */
import type { RgbaImage } from '../../src/display/pixels.ts';
import { startQtestQemu } from './qemu-vga.ts';

/** Where the harness maps the BARs (the addresses a typical VM gives them, as test/support/guest/bochs-drm.ts). */
export const STDVGA_BAR0 = 0xe0000000;
export const STDVGA_BAR2 = 0xfebf0000;
const PCI_VENDOR_DEVICE = 0x11111234;

export interface QemuStdVgaOptions {
  /** VRAM in MiB (vgamem_mb). */
  readonly vgamemMb: number;
  /** qemu-extended-regs (PCI revision 2 and the qext block at BAR2 0x600). */
  readonly qext: boolean;
}

export interface QemuStdVga {
  /** QEMU's version, major.minor.micro (QMP query-version). */
  readonly version: string;
  /** A `size`-byte read at BAR2 offset `offset`. */
  mmioRead(offset: number, size: 1 | 2 | 4): Promise<number>;
  mmioWrite(offset: number, size: 1 | 2 | 4, value: number): Promise<void>;
  /** Bytes into VRAM (BAR0) at `offset`. */
  vramWrite(offset: number, bytes: Uint8Array): Promise<void>;
  /** What QEMU displays (QMP screendump, PPM). */
  screendump(): Promise<RgbaImage>;
  close(): Promise<void>;
}

const QTEST_ACCESS = { 1: ['readb', 'writeb'], 2: ['readw', 'writew'], 4: ['readl', 'writel'] } as const;

/** Start QEMU with one stdvga; resolves once its BARs are assigned. */
export async function startQemuStdVga(opts: QemuStdVgaOptions): Promise<QemuStdVga> {
  const q = await startQtestQemu('mdevsim-qemu-stdvga-', () => [
    '-device', `VGA,vgamem_mb=${opts.vgamemMb},qemu-extended-regs=${opts.qext ? 'on' : 'off'}`,
  ]);
  const { command } = q;
  try {
    const version = ((await q.qmp.execute('query-version')) as { qemu: { major: number; minor: number; micro: number } }).qemu;
    const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;
    const value = (reply: string): number => Number.parseInt(reply.slice(3), 16);
    const cfgAddress = (slot: number, reg: number): number => (0x80000000 | (slot << 11) | reg) >>> 0;
    const cfgRead = async (slot: number, reg: number): Promise<number> => {
      await command(`outl 0xcf8 ${hex(cfgAddress(slot, reg))}`);
      return value(await command('inl 0xcfc'));
    };
    const cfgWrite = async (slot: number, reg: number, v: number): Promise<void> => {
      await command(`outl 0xcf8 ${hex(cfgAddress(slot, reg))}`);
      await command(`outl 0xcfc ${hex(v)}`);
    };
    let slot = -1;
    for (let s = 0; s < 32 && slot < 0; s++) if ((await cfgRead(s, 0)) === PCI_VENDOR_DEVICE) slot = s;
    if (slot < 0) throw new Error('no 1234:1111 device on bus 0');
    await cfgWrite(slot, 0x10, STDVGA_BAR0);
    await cfgWrite(slot, 0x18, STDVGA_BAR2);
    await cfgWrite(slot, 0x04, 0x0003); // COMMAND: I/O and memory decoding

    return {
      version: `${version.major}.${version.minor}.${version.micro}`,
      mmioRead: async (offset, size) => value(await command(`${QTEST_ACCESS[size][0]} ${hex(STDVGA_BAR2 + offset)}`)),
      mmioWrite: async (offset, size, v) => {
        await command(`${QTEST_ACCESS[size][1]} ${hex(STDVGA_BAR2 + offset)} ${hex(v)}`);
      },
      vramWrite: (offset, bytes) => q.write(STDVGA_BAR0 + offset, bytes),
      screendump: q.screendump,
      close: q.close,
    };
  } catch (err) {
    await q.close();
    throw err;
  }
}
