/**
 * A model of the Linux guest driver drivers/gpu/drm/tiny/bochs.c as it drives
 * an mbochs device (bochs_hw_init(), bochs_hw_setmode(), bochs_hw_load_edid()):
 * probe (ID, VIDEO_MEMORY_64K vs BAR0,
 * optional qext, EDID header and blocks read byte-wise through MMIO
 * 0x000–0x3FF), the mode-set register sequence, plane updates, VGA
 * blank/unblank, and old-style Y-offset page flips.
 */
import type { VfioDevice } from '../../../src/vfio/device.ts';
import { assignBar, deviceBus, sizeBar, type GuestBus } from './bus.ts';

const MMIO_BAR = 2;
const VRAM_BAR = 0;
const DISPI = 0x500;
const QEXT = 0x600;
const VGA = 0x400;

/** dispi register indexes (include/drm/bochs-vbe style names). */
export const VBE = {
  ID: 0, XRES: 1, YRES: 2, BPP: 3, ENABLE: 4, BANK: 5,
  VIRT_WIDTH: 6, VIRT_HEIGHT: 7, X_OFFSET: 8, Y_OFFSET: 9, VIDEO_MEMORY_64K: 10,
} as const;
const VBE_DISPI_ENABLED = 0x01;
const VBE_DISPI_LFB_ENABLED = 0x40;

const EDID_HEADER = [0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00];

export interface DisplayMode { hdisplay: number; vdisplay: number }

export interface BochsProbe {
  id: number;
  fbSize: number;
  sizeMismatch: boolean;
  qext: boolean;
  /** The EDID the driver found (whole blocks), or undefined. */
  edid: Uint8Array | undefined;
  /** The mode userspace gets by default: the EDID preferred mode, else 1024×768. */
  preferred: DisplayMode;
  vram: Uint8Array | undefined;
}

export class BochsDrm {
  readonly log: string[] = [];
  probeResult: BochsProbe | undefined;
  current: DisplayMode | undefined;

  constructor(private readonly bus: GuestBus) {}

  readDispi(index: number): number {
    return this.bus.barRead(MMIO_BAR, DISPI + 2 * index, 2);
  }

  writeDispi(index: number, value: number): void {
    this.bus.barWrite(MMIO_BAR, DISPI + 2 * index, 2, value & 0xffff);
  }

  /** bochs_hw_init + bochs_load_edid. Throws with ENODEV like the driver. */
  probe(): BochsProbe {
    const bar2 = this.bus.configRead(0x10 + 4 * MMIO_BAR, 4);
    if ((bar2 & 1) !== 0) throw new Error('ENODEV: BAR2 is not memory (legacy port path not modelled)');
    const id = this.readDispi(VBE.ID);
    if ((id & 0xfff0) !== 0xb0c0) throw new Error(`ENODEV: ID mismatch 0x${id.toString(16)}`);
    const mem64k = this.readDispi(VBE.VIDEO_MEMORY_64K);
    let fbSize = mem64k * 64 * 1024;
    const bar0 = sizeBar(this.bus, VRAM_BAR);
    if (bar0.isIo) throw new Error('ENODEV: BAR0 is not memory');
    if (this.bus.configRead(0x10, 4) >>> 4 === 0) throw new Error('ENODEV: BAR0 has no address');
    let sizeMismatch = false;
    if (fbSize !== bar0.size) {
      this.log.push(`Size mismatch: pci=${bar0.size}, bochs=${fbSize}`);
      sizeMismatch = true;
      fbSize = Math.min(fbSize, bar0.size);
    }
    let qext = false;
    const revision = this.bus.configRead(0x08, 1);
    if (revision >= 2) {
      const size = this.bus.barRead(MMIO_BAR, QEXT, 4);
      const bar2Size = sizeBar(this.bus, MMIO_BAR).size;
      if (size >= 4 && size <= bar2Size) {
        qext = true;
        if (size >= 8) this.bus.barWrite(MMIO_BAR, QEXT + 4, 4, 0x1e1e1e1e);
      }
    }
    const edid = this.readEdid();
    if (edid) this.log.push('Found EDID data blob.');
    const preferred = (edid && edidPreferredMode(edid)) ?? { hdisplay: 1024, vdisplay: 768 };
    this.probeResult = { id, fbSize, sizeMismatch, qext, edid, preferred, vram: this.bus.barMap(VRAM_BAR) };
    return this.probeResult;
  }

  /** drm_do_get_edid through bochs_get_edid_block: byte reads at MMIO offset 0…0x3FF. */
  readEdid(): Uint8Array | undefined {
    const header: number[] = [];
    for (let i = 0; i < 8; i++) header.push(this.bus.barRead(MMIO_BAR, i, 1));
    if (header.some((b, i) => b !== EDID_HEADER[i])) return undefined;
    const readBlock = (block: number): Uint8Array | undefined => {
      const start = block * 128;
      if (start + 128 > 0x400) return undefined;
      const out = new Uint8Array(128);
      for (let i = 0; i < 128; i++) out[i] = this.bus.barRead(MMIO_BAR, start + i, 1);
      return out;
    };
    const base = readBlock(0);
    if (!base || !edidChecksumOk(base)) return undefined;
    const extensions = base[126] ?? 0;
    const blocks = [base];
    for (let i = 1; i <= extensions; i++) {
      const b = readBlock(i);
      if (!b) break;
      blocks.push(b);
    }
    const out = new Uint8Array(blocks.length * 128);
    blocks.forEach((b, i) => out.set(b, i * 128));
    return out;
  }

  /** bochs_connector mode_valid: the mode must fit the framebuffer at 32 bpp. */
  modeValid(mode: DisplayMode): boolean {
    const fb = this.probeResult?.fbSize ?? 0;
    return mode.hdisplay > 0 && mode.vdisplay <= Math.floor(fb / (mode.hdisplay * 4));
  }

  /**
   * bochs_hw_setmode: the exact register sequence of the Linux driver. It
   * unblanks first, as bochs_hw_setmode() does up to Linux 6.13 (from 6.14,
   * commit 80da96d73509 "drm/bochs: Fix DPMS regression", the CRTC's
   * atomic_enable unblanks right after the mode set: the same accesses).
   */
  setMode(mode: DisplayMode): void {
    const fb = this.probeResult?.fbSize ?? 0;
    this.blank(false);
    this.writeDispi(VBE.ENABLE, 0);
    this.writeDispi(VBE.BPP, 32);
    this.writeDispi(VBE.XRES, mode.hdisplay);
    this.writeDispi(VBE.YRES, mode.vdisplay);
    this.writeDispi(VBE.BANK, 0);
    this.writeDispi(VBE.VIRT_WIDTH, mode.hdisplay);
    this.writeDispi(VBE.VIRT_HEIGHT, Math.floor(fb / (mode.hdisplay * 4)));
    this.writeDispi(VBE.X_OFFSET, 0);
    this.writeDispi(VBE.Y_OFFSET, 0);
    this.writeDispi(VBE.ENABLE, VBE_DISPI_ENABLED | VBE_DISPI_LFB_ENABLED);
    this.current = mode;
  }

  /** bochs_hw_setbase: scan out from byte offset `base` of VRAM with the given pitch. */
  setBase(x: number, y: number, base: number, pitch: number): void {
    const offset = base + y * pitch + x * 4;
    const vy = Math.floor(offset / pitch);
    const vx = Math.floor((offset % pitch) / 4);
    this.writeDispi(VBE.VIRT_WIDTH, pitch / 4);
    this.writeDispi(VBE.X_OFFSET, vx);
    this.writeDispi(VBE.Y_OFFSET, vy);
  }

  /**
   * bochs_hw_blank() through the VGA port window at BAR2 0x400 + (port − 0x3C0):
   * misc output := VGA_MIS_COLOR (since Linux 6.1, commit e740ceb53e45 "drm/bochs:
   * fix blanking"; `color: false` is the driver before it), read input status 1
   * (0x3DA) to reset the attribute flip-flop, then write the attribute index:
   * 0x00 blanks, 0x20 (palette address source) unblanks. The kernel sample
   * ignores all of it; mbochs `vbe: 'strict'` blanks as QEMU stdvga does.
   */
  blank(blank: boolean, opts: { color?: boolean } = {}): void {
    if (opts.color ?? true) this.bus.barWrite(MMIO_BAR, VGA + (0x3c2 - 0x3c0), 1, 0x01);
    this.bus.barRead(MMIO_BAR, VGA + (0x3da - 0x3c0), 1);
    this.bus.barWrite(MMIO_BAR, VGA + (0x3c0 - 0x3c0), 1, blank ? 0x00 : 0x20);
  }

  /** Pipe / CRTC disable (bochs_pipe_disable(), later bochs_crtc_helper_atomic_disable()): blank. */
  disable(): void {
    this.blank(true);
  }

  /** Fill a rectangle of the visible mode with an XRGB8888 colour, through the mapped VRAM. */
  fill(color: number, rect?: { x: number; y: number; w: number; h: number }, base = 0): void {
    const vram = this.probeResult?.vram;
    const mode = this.current;
    if (!vram || !mode) throw new Error('fill: no mapped VRAM or no mode set');
    const r = rect ?? { x: 0, y: 0, w: mode.hdisplay, h: mode.vdisplay };
    const view = new DataView(vram.buffer, vram.byteOffset, vram.byteLength);
    const pitch = mode.hdisplay * 4;
    for (let y = r.y; y < r.y + r.h; y++) {
      for (let x = r.x; x < r.x + r.w; x++) view.setUint32(base + y * pitch + x * 4, color >>> 0, true);
    }
  }
}

/** The driver on an in-process device whose BARs sit where a typical VM puts them (not probed yet). */
export function bootBochsDrm(dev: VfioDevice): BochsDrm {
  const bus = deviceBus(dev);
  assignBar(bus, 0, 0xe0000000);
  assignBar(bus, 2, 0xfebf0000);
  return new BochsDrm(bus);
}

export function edidChecksumOk(block: Uint8Array): boolean {
  let sum = 0;
  for (const b of block) sum = (sum + b) & 0xff;
  return sum === 0;
}

/** The preferred mode: the first detailed timing descriptor of the base block (EDID 1.4 §3.10.2). */
export function edidPreferredMode(edid: Uint8Array): DisplayMode | undefined {
  const d = 54;
  const pixelClock = (edid[d] ?? 0) | ((edid[d + 1] ?? 0) << 8);
  if (pixelClock === 0) return undefined;
  const hdisplay = (edid[d + 2] ?? 0) | (((edid[d + 4] ?? 0) & 0xf0) << 4);
  const vdisplay = (edid[d + 5] ?? 0) | (((edid[d + 7] ?? 0) & 0xf0) << 4);
  return { hdisplay, vdisplay };
}
