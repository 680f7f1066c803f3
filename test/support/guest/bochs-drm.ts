/**
 * A model of the Linux guest driver drivers/gpu/drm/tiny/bochs.c as it drives
 * an mbochs device (bochs_hw_init(), bochs_hw_setmode(), the EDID read):
 * probe (ID, VIDEO_MEMORY_64K vs BAR0,
 * optional qext, EDID header and blocks read byte-wise through MMIO
 * 0x000–0x3FF), the mode-set register sequence, plane updates, VGA
 * blank/unblank, and old-style Y-offset page flips.
 *
 * Two things depend on the guest's Linux release ({@link bochsDrmRelease}),
 * both changed by Thomas Zimmermann's bochs rework, first released in
 * Linux 6.13:
 *
 * | | Linux ≤ 6.12 (e.g. 6.1, 6.12) | Linux ≥ 6.13 |
 * |---|---|---|
 * | EDID | read once at driver load: bochs_connector_init() → bochs_hw_load_edid(); every connector probe reuses that copy | read at every connector probe: bochs_connector_helper_get_modes() → bochs_hw_read_edid() → drm_edid_read_custom() (commit 759ef92532f3 "drm/bochs: Use helpers for struct drm_edid") |
 * | mode check | drm_vram_helper_mode_valid() (drm_gem_vram_helper.c): ⌈w·h·4 / 4096⌉ ≤ ⌊VRAM/2⌋ / 4096 pages, since GEM VRAM keeps two framebuffers in VRAM across a page flip | bochs_mode_config_mode_valid(): vdisplay ≤ ⌊VRAM / (hdisplay·4)⌋, one framebuffer in VRAM, the rest in shmem (commits c3ac343c1448 "drm/bochs: Use GEM SHMEM helpers for memory management", 4dc9bb66ebdd "drm/bochs: Validate display modes against available video memory") |
 *
 * Nothing in either makes the guest probe by itself: bochs has no hot-plug
 * interrupt and its connector is not polled, so a probe happens when
 * userspace asks (`echo detect > /sys/class/drm/card0-Virtual-1/status`, a
 * desktop's re-probe) or at driver load.
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

/** A Linux release as "major.minor", e.g. '6.1', '6.12', '6.13'. */
export type LinuxRelease = `${number}.${number}`;

/** The first Linux release with the bochs rework (EDID at every probe, the driver's own VRAM check). */
export const BOCHS_DRM_REWORK_RELEASE: LinuxRelease = '6.13';

/** What a bochs-drm of a given Linux release does differently (see the module comment). */
export interface BochsDrmRelease {
  readonly release: LinuxRelease;
  /** Reads the EDID at every connector probe (≥ 6.13), not once at driver load. */
  readonly edidAtProbe: boolean;
  /** Which mode_valid the driver installs: the VRAM helper's half of VRAM (≤ 6.12), or its own check against all of it. */
  readonly modeCheck: 'vram-helper-half' | 'whole-vram';
}

/** The bochs-drm behaviour of a Linux release. @throws Error for a string that is not "major.minor". */
export function bochsDrmRelease(release: LinuxRelease): BochsDrmRelease {
  const m = /^(\d+)\.(\d+)$/.exec(release);
  if (!m) throw new Error(`not a Linux release: ${release}`);
  const [rm, rn] = BOCHS_DRM_REWORK_RELEASE.split('.').map(Number) as [number, number];
  const reworked = Number(m[1]) > rm || (Number(m[1]) === rm && Number(m[2]) >= rn);
  return { release, edidAtProbe: reworked, modeCheck: reworked ? 'whole-vram' : 'vram-helper-half' };
}

export interface BochsDrmOptions {
  /** The guest's Linux release. @defaultValue BOCHS_DRM_REWORK_RELEASE (the current driver) */
  readonly kernel?: LinuxRelease;
}

/** What one connector probe (drm_helper_probe_single_connector_modes() → get_modes → mode_valid) leaves. */
export interface ConnectorProbe {
  /** The EDID the modes came from (whole blocks), or undefined: read now (≥ 6.13) or at driver load (≤ 6.12). */
  edid: Uint8Array | undefined;
  /** The connector's mode list after mode_valid, largest first (see {@link BochsDrm.probeConnector}). */
  modes: DisplayMode[];
  /** Modes get_modes offered that mode_valid pruned (MODE_MEM). */
  refused: DisplayMode[];
  /** The mode userspace gets by default: the EDID preferred mode, else 1024×768, else (pruned) the largest left. */
  preferred: DisplayMode;
}

export interface BochsProbe extends ConnectorProbe {
  id: number;
  fbSize: number;
  sizeMismatch: boolean;
  qext: boolean;
  vram: Uint8Array | undefined;
}

/** GEM VRAM's page size (PAGE_SHIFT 12 on x86). */
const PAGE_SIZE = 4096;
/** drm_add_modes_noedid()'s DMT list, of which only these sizes are modelled, and bochs' defx×defy. */
const NO_EDID_MODES: readonly DisplayMode[] = [
  { hdisplay: 640, vdisplay: 480 }, { hdisplay: 800, vdisplay: 600 }, { hdisplay: 1024, vdisplay: 768 },
];
const NO_EDID_PREFERRED: DisplayMode = { hdisplay: 1024, vdisplay: 768 };

export class BochsDrm {
  readonly log: string[] = [];
  readonly release: BochsDrmRelease;
  probeResult: BochsProbe | undefined;
  current: DisplayMode | undefined;
  /** ≤ 6.12: the copy bochs_hw_load_edid() kept at driver load. */
  #edidAtLoad: Uint8Array | undefined;

  constructor(private readonly bus: GuestBus, opts: BochsDrmOptions = {}) {
    this.release = bochsDrmRelease(opts.kernel ?? BOCHS_DRM_REWORK_RELEASE);
  }

  readDispi(index: number): number {
    return this.bus.barRead(MMIO_BAR, DISPI + 2 * index, 2);
  }

  writeDispi(index: number, value: number): void {
    this.bus.barWrite(MMIO_BAR, DISPI + 2 * index, 2, value & 0xffff);
  }

  /**
   * Driver load (bochs_pci_probe(): bochs_hw_init(), on ≤ 6.12 the EDID read
   * of bochs_connector_init()) and the first connector probe the fbdev
   * client makes. Calling it again is a driver reload (unbind and bind, or
   * a reboot). Throws with ENODEV like the driver.
   */
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
    this.probeResult = { id, fbSize, sizeMismatch, qext, edid: undefined, modes: [], refused: [], preferred: NO_EDID_PREFERRED, vram: this.bus.barMap(VRAM_BAR) };
    this.#edidAtLoad = this.release.edidAtProbe ? undefined : this.#loadEdid();
    Object.assign(this.probeResult, this.probeConnector());
    return this.probeResult;
  }

  /**
   * A later connector probe (`echo detect > /sys/class/drm/card0-Virtual-1/status`,
   * a desktop's re-probe): get_modes from the EDID — read now on ≥ 6.13, the
   * load-time copy on ≤ 6.12 — then mode_valid. The EDID's modes are its
   * preferred detailed timing and its established timings (the DMT modes
   * drm_edid infers from the range limits are not modelled; they all lie
   * inside the preferred mode); without an EDID, drm_add_modes_noedid()'s
   * (of which 640×480, 800×600, 1024×768 are modelled) with 1024×768 preferred.
   * It changes no mode: a probe only refreshes the list.
   */
  probeConnector(): ConnectorProbe {
    if (!this.probeResult) throw new Error('probeConnector: the driver is not loaded (probe() first)');
    const edid = this.release.edidAtProbe ? this.#loadEdid() : this.#edidAtLoad;
    const preferredTiming = edid && edidPreferredMode(edid);
    const offered = preferredTiming ? [preferredTiming, ...edidEstablishedModes(edid)] : [...NO_EDID_MODES];
    const wanted = preferredTiming ?? NO_EDID_PREFERRED;
    const unique = offered.filter((m, i) => offered.findIndex((o) => o.hdisplay === m.hdisplay && o.vdisplay === m.vdisplay) === i);
    // drm_mode_sort(): the preferred mode first, then by area.
    const byArea = (a: DisplayMode, b: DisplayMode) => b.hdisplay * b.vdisplay - a.hdisplay * a.vdisplay;
    const modes = unique.filter((m) => this.modeValid(m)).sort(byArea);
    const refused = unique.filter((m) => !this.modeValid(m));
    const kept = modes.find((m) => m.hdisplay === wanted.hdisplay && m.vdisplay === wanted.vdisplay);
    const preferred = kept ?? modes[0] ?? wanted;
    const result = { edid, modes: kept ? [kept, ...modes.filter((m) => m !== kept)] : modes, refused, preferred };
    Object.assign(this.probeResult, result);
    return result;
  }

  /** The EDID as bochs reads it (bochs_hw_load_edid() ≤ 6.12, bochs_hw_read_edid() ≥ 6.13), logged like the driver. */
  #loadEdid(): Uint8Array | undefined {
    const edid = this.readEdid();
    if (edid) this.log.push('Found EDID data blob.');
    return edid;
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

  /**
   * The mode_config mode_valid of this release, at 32 bpp: ≥ 6.13
   * bochs_mode_config_mode_valid(), vdisplay ≤ ⌊VRAM / pitch⌋; ≤ 6.12
   * drm_vram_helper_mode_valid(), ⌈w·h·4 / PAGE_SIZE⌉ ≤ ⌊VRAM/2⌋ >> PAGE_SHIFT.
   */
  modeValid(mode: DisplayMode): boolean {
    const fb = this.probeResult?.fbSize ?? 0;
    if (mode.hdisplay <= 0) return false;
    if (this.release.modeCheck === 'whole-vram') return mode.vdisplay <= Math.floor(fb / (mode.hdisplay * 4));
    const maxPages = Math.floor(Math.floor(fb / 2) / PAGE_SIZE);
    return Math.ceil((mode.hdisplay * mode.vdisplay * 4) / PAGE_SIZE) <= maxPages;
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
export function bootBochsDrm(dev: VfioDevice, opts: BochsDrmOptions = {}): BochsDrm {
  const bus = deviceBus(dev);
  assignBar(bus, 0, 0xe0000000);
  assignBar(bus, 2, 0xfebf0000);
  return new BochsDrm(bus, opts);
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

/** Established timings (EDID 1.4 §3.8, bytes 35–36) by byte and bit; 1024×768i (byte 36 bit 4) is left out: bochs' connector refuses interlace. */
const ESTABLISHED_TIMINGS: readonly (readonly [byte: number, bit: number, mode: DisplayMode])[] = [
  [35, 7, { hdisplay: 720, vdisplay: 400 }], [35, 6, { hdisplay: 720, vdisplay: 400 }],
  [35, 5, { hdisplay: 640, vdisplay: 480 }], [35, 4, { hdisplay: 640, vdisplay: 480 }],
  [35, 3, { hdisplay: 640, vdisplay: 480 }], [35, 2, { hdisplay: 640, vdisplay: 480 }],
  [35, 1, { hdisplay: 800, vdisplay: 600 }], [35, 0, { hdisplay: 800, vdisplay: 600 }],
  [36, 7, { hdisplay: 800, vdisplay: 600 }], [36, 6, { hdisplay: 800, vdisplay: 600 }],
  [36, 5, { hdisplay: 832, vdisplay: 624 }], [36, 3, { hdisplay: 1024, vdisplay: 768 }],
  [36, 2, { hdisplay: 1024, vdisplay: 768 }], [36, 1, { hdisplay: 1024, vdisplay: 768 }],
  [36, 0, { hdisplay: 1280, vdisplay: 1024 }],
];

/** The sizes of the established timings an EDID sets (drm_edid add_established_modes()). */
export function edidEstablishedModes(edid: Uint8Array): DisplayMode[] {
  return ESTABLISHED_TIMINGS.filter(([byte, bit]) => ((edid[byte] ?? 0) & (1 << bit)) !== 0).map(([, , m]) => ({ ...m }));
}
