/**
 * MdpyDevice: the kernel's samples/vfio-mdev/mdpy.c (newest upstream;
 * docs/devices/mdpy.md) as a VfioDevice: a PCI display whose framebuffer is BAR0,
 * shown through a REGION plane.
 *
 * Two profiles (devices/common/options.ts):
 * - 'none' (default): the sample with its bugs fixed; every fix is marked
 *   "Fix:" below and listed in docs/devices/mdpy.md ("Sample bugs fixed by
 *   default").
 * - 'upstream': the sample's observable protocol quirks, bounded (nothing
 *   here ever reads or writes outside BAR0's memory).
 *
 * Display region choice (docs/devices/mdpy.md "The display region"). The
 * kernel's plane reports region_index 16 (MDPY_DISPLAY_REGION), an alias of
 * BAR0 beyond num_regions = 9. QEMU ≥ 10.1 over vfio-user refuses region
 * indexes > num_regions, and QEMU 10.1.0's region-info cache read out of
 * bounds on 16. By default the plane therefore reports region 0 (BAR0: the
 * very memory region 16 aliases), so a client that only asks indexes below
 * num_regions reaches the display; num_regions stays 9 (the PCI layout) and
 * region 16 still answers GET_REGION_INFO as the alias for kernel-style
 * clients. 'upstream' reports 16, as the kernel does.
 *
 * Framebuffer backing. BAR0 is memsize (a power of two) but the visible
 * framebuffer is W·H·4 bytes, page aligned for every type. The whole BAR is
 * backed by memory in both profiles, as the kernel backs it (mdpy.c
 * mdpy_init_dev(): memblk = vmalloc_user(memsize), zeroed): mdpy-fb hands
 * the whole BAR to guest userspace (mdpy-fb.c mdpy_fb_probe(): smem_len =
 * pci_resource_len(BAR0), screen_size = smem_len), so bytes a guest writes
 * past the picture through /dev/fbN must read back. A memfd's pages cost
 * nothing until touched. By default BAR0 (and its alias 16) still carries a
 * sparse-mmap capability (VFIO_REGION_INFO_CAP_SPARSE_MMAP,
 * include/uapi/linux/vfio.h) with the one area [0, W·H·4): what a client
 * maps is the picture the plane describes (plane size = the area), and a
 * VMM traps guest accesses to the padding [W·H·4, memsize) into
 * read()/write(), which reach the same memory. 'upstream' lets the whole
 * BAR be mapped, without a cap, as the kernel does.
 */
import {
  ConfigSpace,
  sampleBarWriteHook,
  type ConfigSpaceSnapshot,
} from '../../src/pci/index.ts';
import type {
  DeviceInfo,
  DmabufExport,
  GfxPlaneInfo,
  GfxPlaneQuery,
  GfxPlaneResult,
  IrqInfo,
  IrqSet,
  RegionInfo,
  VfioDevice,
} from '../../src/vfio/device.ts';
import {
  VFIO_DEVICE_FLAGS_PCI,
  VFIO_DEVICE_FLAGS_RESET,
  VFIO_GFX_PLANE_TYPE_REGION,
  VFIO_PCI_BAR0_REGION_INDEX,
  VFIO_PCI_NUM_IRQS,
  VFIO_PCI_NUM_REGIONS,
  VFIO_REGION_INFO_FLAG_MMAP,
} from '../../src/vfio/uapi.ts';
import { classifyPlaneQuery } from '../../src/vfio/gfx.ts';
import { validateIrqSet } from '../../src/vfio/irq.ts';
import { forEachChunk, inRange } from '../../src/vfio/access.ts';
import { sparseMmapCap } from '../../src/vfio/region-caps.ts';
import { defineRegionLayout, type RegionLayout, type RegionLayoutEntry } from '../../src/vfio/region-layout.ts';
import type { Memory } from '../../src/vfio/memory.ts';
import { ConfigError, VfioError, assert } from '../../src/util/errors.ts';
import { showSent } from '../../src/pci/format.ts';
import type { BudgetReservation, InstanceBudget } from '../common/budget.ts';
import { resolveCommon, type DeviceOptions, type Quirks } from '../common/options.ts';
import { destroyedError } from '../common/lifecycle.ts';
import { sampleConfigRead, sampleConfigSpan, sampleConfigWrite } from '../common/sample-config.ts';
import {
  MDPY_DISPLAY_REGION,
  MDPY_EMPTY_BELOW,
  MDPY_REGIONS,
  mdpyConfigOptions,
  type MdpyRegionKind,
} from './regs.ts';
import { MDPY_SHARED_BUDGET, mdpyType, type MdpyType, type MdpyTypeName } from './types.ts';

/** Options of {@link MdpyDevice}. */
export interface MdpyDeviceOptions extends DeviceOptions {
  /**
   * The instance budget this device reserves one unit of (EUSERS when none
   * is left). Tests and multi-parent setups inject their own.
   * @defaultValue {@link MDPY_SHARED_BUDGET} (4 instances across all types, per process)
   */
  readonly budget?: InstanceBudget;
}

/** Snapshot record format tag. */
export const MDPY_SNAPSHOT_FORMAT = 'mdevsim-mdpy';
/** Snapshot record version this code writes and accepts. */
export const MDPY_SNAPSHOT_VERSION = 1;

/**
 * A device snapshot: a named record of plain data (msgpack encodes the
 * Uint8Arrays as bin). Holds the guest-visible state: config space and the
 * BAR0 memory (memsize bytes; restore also takes the W·H·4 bytes that
 * default-profile snapshots held before the padding was backed, and zeroes
 * the padding then, which is what that device read back there).
 */
export interface MdpySnapshot {
  readonly format: typeof MDPY_SNAPSHOT_FORMAT;
  readonly version: typeof MDPY_SNAPSHOT_VERSION;
  /** sysfs name of the type. */
  readonly type: MdpyTypeName;
  readonly quirks: Quirks;
  readonly config: ConfigSpaceSnapshot;
  readonly framebuffer: Uint8Array;
}

const QUIRKS: readonly Quirks[] = ['none', 'upstream'];

/** One VFIO mdpy instance. Create one per mdev; destroy() on remove. */
export class MdpyDevice implements VfioDevice {
  readonly type: MdpyType;
  readonly quirks: Quirks;
  /** Instance name (memory is named `${name}-fb`). */
  readonly name: string;
  /** The PCI config space (region 7). */
  readonly config: ConfigSpace;
  /** The region table (GET_REGION_INFO indexes, file offsets). */
  readonly layout: RegionLayout<MdpyRegionKind>;

  readonly #fb: Memory;
  readonly #reservation: BudgetReservation;
  readonly #plane: GfxPlaneInfo;
  readonly #info: DeviceInfo;
  /**
   * 'upstream': mdpy_ioctl bounds GET_IRQ_INFO by `dev_info.num_irqs` cached
   * by the last GET_INFO, 0 before the first (mdpy.c mdpy_ioctl()).
   */
  #cachedNumIrqs = 0;
  #destroyed = false;

  /**
   * Create an instance (mdpy_init + mdpy_reset): reserve one instance of the
   * budget, build config space, allocate the framebuffer, paint the gradient.
   * @param type - a type object or its sysfs ("vga") / pretty ("mdpy-vga") name.
   * @throws ConfigError for an unknown type or quirks value, or a memory
   *   factory that returns the wrong size.
   * @throws BudgetExhaustedError (VfioError EUSERS) when the budget is used up;
   *   nothing is reserved then, and a failure after the reservation releases it.
   */
  constructor(type: MdpyType | string, opts: MdpyDeviceOptions = {}) {
    this.type = mdpyType(typeof type === 'string' ? type : type.sysfsName);
    const common = resolveCommon(opts, this.type.prettyName);
    if (!QUIRKS.includes(common.quirks)) {
      throw new ConfigError(`quirks must be one of ${QUIRKS.join(', ')}, got ${String(common.quirks)}.`);
    }
    this.quirks = common.quirks;
    this.name = common.name;
    const upstream = this.quirks === 'upstream';

    this.#reservation = (opts.budget ?? MDPY_SHARED_BUDGET).reserve(1);
    let fb: Memory | undefined;
    try {
      // Config space. 'upstream' swaps QEMU's BAR masking for the sample's
      // handle_pci_cfg_write rule, which needs BAR0 as laid out.
      const plain = new ConfigSpace(mdpyConfigOptions(this.type, this.quirks));
      const bar0 = plain.bar(0);
      assert(bar0 !== undefined, 'mdpy config space has no BAR0');
      this.config = upstream ? new ConfigSpace(mdpyConfigOptions(this.type, this.quirks, [sampleBarWriteHook(bar0)])) : plain;

      // The whole BAR, as the sample's vmalloc_user(memsize): the padding holds what the guest stores there.
      const fbLen = this.type.memsize;
      fb = common.memory(`${this.name}-fb`, fbLen);
      if (fb.size !== fbLen || fb.bytes.length !== fbLen) {
        throw new ConfigError(`memory factory returned ${fb.size} bytes for ${this.name}-fb; ${fbLen} were requested.`);
      }
      this.#fb = fb;
      this.layout = this.#buildLayout(fb);
      this.#plane = this.#buildPlane();
      this.#info = Object.freeze({
        // Fix (default): advertise RESET; the sample's RESET ioctl works but
        // the flag is missing, so QEMU computes reset_works = false
        // (docs/devices/mdpy.md "Sample bugs fixed by default" item 2).
        flags: upstream ? VFIO_DEVICE_FLAGS_PCI : VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET,
        numRegions: VFIO_PCI_NUM_REGIONS,
        numIrqs: VFIO_PCI_NUM_IRQS,
      });
      this.#paintGradient();
    } catch (e) {
      fb?.close();
      this.#reservation.release();
      throw e;
    }
  }

  /**
   * The region table: the sample's regions, R|W|MMAP over memsize for BAR0
   * and its alias 16, backed by the whole memory. By default they carry the
   * sparse-mmap cap that makes only the picture [0, W·H·4) mappable.
   */
  #buildLayout(fb: Memory): RegionLayout<MdpyRegionKind> {
    const caps = this.quirks === 'upstream' ? [] : [sparseMmapCap([{ offset: 0, size: this.type.fbSize }])];
    const entries = MDPY_REGIONS.map((row): RegionLayoutEntry<MdpyRegionKind> => {
      const mmap = (row.flags & VFIO_REGION_INFO_FLAG_MMAP) !== 0;
      return {
        index: row.index,
        name: row.name,
        offset: row.offset,
        size: row.size === 'memsize' ? this.type.memsize : this.config.size,
        flags: row.flags,
        kind: row.kind,
        ...(mmap ? { mmap: { memory: fb, memoryOffset: 0 }, caps } : {}),
        ...(row.aliasOf !== undefined ? { aliasOf: row.aliasOf } : {}),
      };
    });
    return defineRegionLayout(entries, { emptyBelow: MDPY_EMPTY_BELOW });
  }

  #buildPlane(): GfxPlaneInfo {
    const upstream = this.quirks === 'upstream';
    const t = this.type;
    return Object.freeze({
      drmFormat: t.format,
      drmFormatMod: 0n,
      width: t.width,
      height: t.height,
      stride: t.stride,
      // Fix (default): size = stride·height (= the mappable sparse area), not
      // the power-of-two memsize the sample reports (docs/devices/mdpy.md "Sample bugs fixed by default" item 5);
      // stride·height ≤ size ≤ region size holds either way (invariant 11).
      size: upstream ? t.memsize : t.fbSize,
      xPos: 0,
      yPos: 0,
      xHot: 0,
      yHot: 0,
      // Fix (default): region 0, reachable below num_regions (module comment; docs/devices/mdpy.md "Sample bugs fixed by default" item 4).
      regionIndexOrDmabufId: upstream ? MDPY_DISPLAY_REGION : VFIO_PCI_BAR0_REGION_INDEX,
    });
  }

  /** mdpy_reset: row y of the visible framebuffer is filled with ⌊y·255/H⌋; rows beyond H untouched. */
  #paintGradient(): void {
    const { stride, height } = this.type;
    const bytes = this.#fb.bytes;
    for (let y = 0; y < height; y++) bytes.fill(Math.floor((y * 255) / height), y * stride, (y + 1) * stride);
  }

  #live(): void {
    if (this.#destroyed) throw destroyedError(this.name);
  }

  // -------------------------------------------------------------------------
  // VfioDevice

  /** VFIO_DEVICE_GET_INFO: (PCI|RESET, 9, 5); 'upstream' (PCI, 9, 5). */
  info(): DeviceInfo {
    this.#live();
    if (this.quirks === 'upstream') this.#cachedNumIrqs = this.#info.numIrqs;
    return this.#info;
  }

  /** VFIO_DEVICE_GET_REGION_INFO (mdpy.c mdpy_get_region_info()). @throws VfioError EINVAL for 9–15, ≥ 17. */
  regionInfo(index: number): RegionInfo {
    this.#live();
    return this.layout.info(index);
  }

  /**
   * read() on a region. Out of range (offset+count beyond the region, computed
   * without overflow) → EFAULT with nothing read; an unknown index → EINVAL.
   */
  regionRead(index: number, offset: number, dst: Uint8Array): void {
    const kind = this.#locate(index, offset, dst.length, 'read');
    if (kind === undefined || dst.length === 0) return;
    if (kind === 'config') {
      if (this.quirks === 'upstream') sampleConfigRead(this.config, offset, dst);
      else this.config.readBytes(offset, dst);
      return;
    }
    const fb = this.#fb.bytes;
    if (this.quirks === 'upstream') {
      // The sample's BAR0 bug (mdpy.c mdev_access()): it copies
      // memblk[0..chunk) for every 1/2/4-byte chunk, whatever the offset.
      forEachChunk(offset, dst.length, (_pos, size, at) => { dst.set(fb.subarray(0, size), at); });
      return;
    }
    // Fix (default): honour the offset (docs/devices/mdpy.md "Sample bugs fixed by default" item 1), padding included.
    dst.set(fb.subarray(offset, offset + dst.length));
  }

  /** write() on a region; same range rules as {@link regionRead}. */
  regionWrite(index: number, offset: number, data: Uint8Array): void {
    const kind = this.#locate(index, offset, data.length, 'write');
    if (kind === undefined || data.length === 0) return;
    if (kind === 'config') {
      if (this.quirks === 'upstream') sampleConfigWrite(this.config, offset, data);
      else this.config.writeBytes(offset, data);
      return;
    }
    const fb = this.#fb.bytes;
    if (this.quirks === 'upstream') {
      // The sample's BAR0 bug: each chunk lands at memblk[0..chunk).
      forEachChunk(offset, data.length, (_pos, size, at) => { fb.set(data.subarray(at, at + size), 0); });
      return;
    }
    // Fix (default): honour the offset (docs/devices/mdpy.md "Sample bugs fixed by default" item 1), padding included.
    fb.set(data, offset);
  }

  /**
   * Range-check an access; the region kind, or undefined for an empty region
   * (count 0 at 0). 'upstream' config accesses follow the sample's bound
   * instead: answered when every chunk starts below 0xff, so they may run up
   * to 256 (devices/common/sample-config.ts).
   */
  #locate(index: number, offset: number, count: number, op: string): MdpyRegionKind | undefined {
    this.#live();
    const info = this.regionInfo(index);
    const kind = this.layout.entry(index)?.kind;
    const inside = kind === 'config' && this.quirks === 'upstream'
      ? sampleConfigSpan(offset, count, info.size) !== undefined
      : inRange(offset, count, info.size);
    if (!inside) {
      throw new VfioError('EFAULT', `${this.name}: region ${index} ${op} [${offset}, +${count}) outside its ${info.size} bytes`);
    }
    return kind;
  }

  /**
   * VFIO_DEVICE_GET_IRQ_INFO: every index below 5 has count 0, flags 0.
   * 'upstream': bounded by the num_irqs the last GET_INFO cached, so EINVAL
   * before the first GET_INFO (mdpy.c mdpy_ioctl()).
   * @throws VfioError EINVAL
   */
  irqInfo(index: number): IrqInfo {
    this.#live();
    // Fix (default): bound by VFIO_PCI_NUM_IRQS, as mbochs does since 2018 (docs/devices/mdpy.md "Sample bugs fixed by default" item 3).
    const bound = this.quirks === 'upstream' ? this.#cachedNumIrqs : VFIO_PCI_NUM_IRQS;
    if (!Number.isInteger(index) || index < 0 || index >= bound) {
      throw new VfioError('EINVAL', `${this.name}: irq index ${index} (num_irqs ${bound})`);
    }
    return { index, flags: 0, count: 0 };
  }

  /** VFIO_DEVICE_SET_IRQS: every index has 0 vectors, so every request is EINVAL. */
  setIrqs(set: IrqSet): void {
    this.#live();
    validateIrqSet(set, () => 0, { numIrqs: VFIO_PCI_NUM_IRQS });
    throw new VfioError('EINVAL', `${this.name}: SET_IRQS (mdpy has no interrupts)`);
  }

  /** VFIO_DEVICE_RESET: repaint the gray gradient; config space is not reset (mdpy.c mdpy_reset()). */
  reset(): void {
    this.#live();
    this.#paintGradient();
  }

  /**
   * VFIO_DEVICE_QUERY_GFX_PLANE: REGION only; drm_plane_type is ignored
   * (invariant 10: even CURSOR and OVERLAY get the primary plane).
   * @throws VfioError EINVAL (argsz < 60, unsupported flags)
   */
  queryGfxPlane(query: GfxPlaneQuery): GfxPlaneResult {
    this.#live();
    return classifyPlaneQuery(query, VFIO_GFX_PLANE_TYPE_REGION) === 'probe' ? 'probe-ok' : this.#plane;
  }

  /**
   * VFIO_DEVICE_GET_GFX_DMABUF: mdpy_ioctl has no case for it and falls
   * through to -ENOTTY.
   * @throws VfioError ENOTTY
   */
  getGfxDmabuf(dmabufId: number): DmabufExport {
    this.#live();
    throw new VfioError('ENOTTY', `${this.name}: GET_GFX_DMABUF (id ${dmabufId}): mdpy is a region display`);
  }

  /** mdpy has no close_device: the framebuffer and config persist until destroy(). */
  closeDevice(): void {
    // nothing to do
  }

  /** mdev remove: free the framebuffer and return the instance to the budget. Idempotent. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#fb.close();
    this.#reservation.release();
  }

  // -------------------------------------------------------------------------
  // Extras

  /** True once destroy() ran. */
  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** The visible framebuffer (stride·height bytes, live view), e.g. for a display sink. */
  get framebuffer(): Uint8Array {
    this.#live();
    return this.#fb.bytes.subarray(0, this.type.fbSize);
  }

  /** The guest-visible state as a named plain-data record. */
  snapshot(): MdpySnapshot {
    this.#live();
    return {
      format: MDPY_SNAPSHOT_FORMAT,
      version: MDPY_SNAPSHOT_VERSION,
      type: this.type.sysfsName,
      quirks: this.quirks,
      config: this.config.snapshot(),
      framebuffer: this.#fb.bytes.slice(),
    };
  }

  /**
   * Replace config space and framebuffer with a snapshot's. All checks come
   * first: a refused snapshot changes nothing.
   * @throws ConfigError for another format, version, type or profile, a
   *   framebuffer of neither memsize nor (default profile) W·H·4 bytes, or a
   *   config image of another device shape.
   */
  restore(snapshot: MdpySnapshot): void {
    this.#live();
    const s = snapshot as Partial<Record<keyof MdpySnapshot, unknown>> | null;
    if (s === null || typeof s !== 'object') throw new ConfigError('mdpy snapshot: expected a record.');
    if (s.format !== MDPY_SNAPSHOT_FORMAT) {
      throw new ConfigError(`mdpy snapshot: format ${showSent(s.format)} is not ${MDPY_SNAPSHOT_FORMAT}.`);
    }
    if (s.version !== MDPY_SNAPSHOT_VERSION) {
      throw new ConfigError(`mdpy snapshot: version ${showSent(s.version)} is not supported (only ${MDPY_SNAPSHOT_VERSION}).`);
    }
    if (s.type !== this.type.sysfsName) {
      throw new ConfigError(`mdpy snapshot of type ${showSent(s.type)} cannot be restored into a ${this.type.sysfsName} device.`);
    }
    if (s.quirks !== this.quirks) {
      throw new ConfigError(`mdpy snapshot taken with quirks ${showSent(s.quirks)} cannot be restored into a '${this.quirks}' device.`);
    }
    const fb = s.framebuffer;
    // Default-profile snapshots held only the W·H·4 picture before the padding was backed; they still restore.
    const legacy = this.quirks === 'none' ? this.type.fbSize : this.#fb.size;
    if (!(fb instanceof Uint8Array) || (fb.length !== this.#fb.size && fb.length !== legacy)) {
      const sizes = legacy === this.#fb.size ? `${this.#fb.size}` : `${this.#fb.size} (or ${legacy}, the visible framebuffer)`;
      throw new ConfigError(`mdpy snapshot: framebuffer must be ${sizes} bytes.`);
    }
    this.config.restore(s.config as ConfigSpaceSnapshot); // validates before changing anything
    this.#fb.bytes.set(fb);
    this.#fb.bytes.fill(0, fb.length);
  }
}
