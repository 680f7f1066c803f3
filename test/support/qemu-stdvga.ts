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
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RgbaImage } from '../../src/display/pixels.ts';
import { QEMU, lineChannel, listenOnce, qmpClient } from './qemu-vga.ts';
import { parsePnm } from './vnc/pnm.ts';
import { spawnGroup } from './vnc/processes.ts';

/** Where the harness maps the BARs (the addresses a typical VM gives them, as test/support/guest/bochs-drm.ts). */
export const STDVGA_BAR0 = 0xe0000000;
export const STDVGA_BAR2 = 0xfebf0000;
const START_TIMEOUT_MS = 15_000;
/** QEMU reads the qtest socket 1 KiB at a time and rescans the line each time (qemu-vga.ts B64WRITE_CHUNK). */
const B64WRITE_CHUNK = 64 * 1024;
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
  const dir = mkdtempSync(join(tmpdir(), 'mdevsim-qemu-stdvga-'));
  const qtestListener = await listenOnce(join(dir, 'qtest.sock'));
  const qmpListener = await listenOnce(join(dir, 'qmp.sock'));
  const qemu = spawnGroup('QEMU', QEMU, [
    '-nodefaults', '-machine', 'pc', '-accel', 'tcg', '-S', '-display', 'none',
    '-device', `VGA,vgamem_mb=${opts.vgamemMb},qemu-extended-regs=${opts.qext ? 'on' : 'off'}`,
    '-qtest', `unix:${join(dir, 'qtest.sock')}`, '-qtest-log', '/dev/null',
    '-chardev', `socket,id=qmp,path=${join(dir, 'qmp.sock')}`, '-mon', 'chardev=qmp,mode=control',
  ]);
  const close = async (): Promise<void> => {
    await qemu.stop();
    qtestListener.server.close();
    qmpListener.server.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const timer = setTimeout(() => void qemu.stop(), START_TIMEOUT_MS);
    const died = qemu.exited.then((): never => { throw new Error(`QEMU exited before it was ready: ${qemu.log()}`); });
    const [qtestSocket, qmpSocket] = await Promise.race([Promise.all([qtestListener.connection, qmpListener.connection]), died]);
    clearTimeout(timer);
    const qt = lineChannel(qtestSocket);
    const qmp = qmpClient(qmpSocket);
    await Promise.race([qmp.ready, died]);
    await qmp.execute('qmp_capabilities');
    const version = ((await qmp.execute('query-version')) as { qemu: { major: number; minor: number; micro: number } }).qemu;

    const command = async (line: string): Promise<string> => {
      const reply = await qt(line);
      if (!reply.startsWith('OK')) throw new Error(`qtest "${line.slice(0, 60)}" answered ${reply}`);
      return reply;
    };
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
      vramWrite: async (offset, bytes) => {
        for (let at = 0; at < bytes.length; at += B64WRITE_CHUNK) {
          const part = Buffer.from(bytes.subarray(at, at + B64WRITE_CHUNK));
          await command(`b64write ${hex(STDVGA_BAR0 + offset + at)} ${hex(part.length)} ${part.toString('base64')}`);
        }
      },
      screendump: async () => {
        const file = join(dir, 'screendump.ppm');
        await qmp.execute('screendump', { filename: file });
        return parsePnm(readFileSync(file));
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
