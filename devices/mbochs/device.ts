/**
 * MbochsDevice: the kernel's samples/vfio-mdev/mbochs.c as a VfioDevice
 * (per-device doc: docs/devices/mbochs.md).
 *
 * This file only assembles the tested pure parts:
 *
 * | part          | module          | owns                                                  |
 * |---------------|-----------------|-------------------------------------------------------|
 * | config space  | src/pci         | the 256-byte (upstream: 255) type-0 header           |
 * | dispi         | dispi.ts        | the 11 VBE registers, sample or strict (QEMU) rules   |
 * | BAR2 map      | mmio.ts         | EDID window, VGA ports, dispi, qext at named offsets  |
 * | EDID region   | edid-region.ts  | vfio_region_gfx_edid + the 1 KiB blob (region 9)      |
 * | plane mode    | mode.ts         | mbochs_check_framebuffer as a pure function           |
 * | dmabufs       | dmabuf.ts       | the bounded, refcounted dmabuf table                  |
 * | VRAM          | src/vfio/memory | one Memory of memsize bytes (BAR0, mmap-able)         |
 *
 * Two profiles (DeviceOptions.quirks):
 * - 'none' (default): the sample with its observable bugs fixed. Every fix is
 *   marked `FIX (…)` below and listed in docs/devices/mbochs.md
 *   under "Sample bugs fixed by default".
 * - 'upstream': the sample's observable protocol quirks — 0xFF-byte config
 *   region, the sample BAR write rule, no RESET flag, the BAR0 read()/write()
 *   2-page skew (bounded to VRAM), ENOMEM on the first query of a new mode.
 *   Never anything memory-unsafe or leaky (docs/devices/mbochs.md "Profiles").
 *
 * The VBE register behaviour (`vbe: 'sample' | 'strict'`) is a separate axis
 * (docs/devices/mbochs.md "Options"), as is QEMU's extended register block (`qext`, strict only).
 *
 * Deterministic: no clock, no randomness; memory comes from the injected
 * factory, the instance budget is injectable.
 */
import {
  ConfigSpace,
  PCI_CFG_SPACE_SIZE,
  PCI_CFG_SPACE_SIZE_SAMPLE,
  PCI_COMMAND_IO,
  PCI_COMMAND_MEMORY,
  sampleBarWriteHook,
  type ConfigSpaceOptions,
  type ConfigSpaceSnapshot,
} from '../../src/pci/index.ts';
import type { Memory } from '../../src/vfio/memory.ts';
import { ConfigError, VfioError } from '../../src/util/errors.ts';
import { showSent } from '../../src/pci/format.ts';
import type {
  DeviceInfo,
  DmabufExport,
  GfxPlaneInfo,
  GfxPlaneQuery,
  GfxPlaneResult,
  IrqInfo,
  IrqSet,
  RegionInfo,
  PeekedGfxPlane,
  VfioDevice,
} from '../../src/vfio/device.ts';
import { EMPTY_PLANE, classifyPlaneQuery } from '../../src/vfio/gfx.ts';
import { inRange } from '../../src/vfio/access.ts';
import { validateIrqSet } from '../../src/vfio/irq.ts';
import { typeCap } from '../../src/vfio/region-caps.ts';
import { VfioRegionInfo, VfioRegionInfoCapType } from '../../src/vfio/structs.ts';
import { defineRegionLayout, type RegionLayout } from '../../src/vfio/region-layout.ts';
import {
  DRM_PLANE_TYPE_PRIMARY,
  VFIO_DEVICE_FLAGS_PCI,
  VFIO_DEVICE_FLAGS_RESET,
  VFIO_GFX_PLANE_TYPE_DMABUF,
  VFIO_PCI_BAR0_REGION_INDEX,
  VFIO_PCI_BAR2_REGION_INDEX,
  VFIO_PCI_CONFIG_REGION_INDEX,
  VFIO_PCI_NUM_IRQS,
  VFIO_PCI_NUM_REGIONS,
  VFIO_REGION_INFO_FLAG_MMAP,
  VFIO_REGION_INFO_FLAG_READ,
  VFIO_REGION_INFO_FLAG_WRITE,
  VFIO_REGION_SUBTYPE_GFX_EDID,
  VFIO_REGION_TYPE_GFX,
} from '../../src/vfio/uapi.ts';
import type { InstanceBudget, BudgetReservation } from '../common/budget.ts';
import { resolveCommon, type DeviceOptions, type Quirks } from '../common/options.ts';
import { destroyedError } from '../common/lifecycle.ts';
import { sampleConfigRead, sampleConfigWrite } from '../common/sample-config.ts';
import { DispiRegisters, type DispiSnapshot, type VbeMode, type VramClearRequest } from './dispi.ts';
import { DmabufTable } from './dmabuf.ts';
import { EdidRegion, MBOCHS_EDID_SIZE, type EdidRegionSnapshot } from './edid-region.ts';
import { MBOCHS_MMIO_BAR_SIZE, MbochsMmio, type MbochsMmioSnapshot } from './mmio.ts';
import { deriveMode, type Invalid, type Mode } from './mode.ts';
import { MBOCHS_TYPE_LIST, createMbochsBudget, mbochsType, type MbochsType, type MbochsTypeName } from './types.ts';

/* ---- Identity and layout constants (kernel names where the kernel has one) ---- */

/** The PCI identity of every mbochs instance (mbochs.c mbochs_create_config_space(); QEMU stdvga's ids, so bochs-drm binds). */
export const MBOCHS_PCI_ID = {
  /** PCI_VENDOR_ID 0x1234 (QEMU's "bochs" vendor). */
  vendorId: 0x1234,
  /** 0x1111: QEMU stdvga / bochs. */
  deviceId: 0x1111,
  /** PCI_SUBVENDOR_ID_REDHAT_QUMRANET. */
  subsystemVendorId: 0x1af4,
  /** PCI_SUBDEVICE_ID_QEMU. */
  subsystemId: 0x1100,
  /** PCI_CLASS_DISPLAY_OTHER. */
  classCode: 0x0380,
  /** The sample's revision: 1, so bochs-drm never probes qext. */
  revision: 0x01,
  /** QEMU's revision with the extended registers (vga-pci.c "qemu-extended-regs"). */
  revisionQext: 0x02,
  /** COMMAND as the sample stores it (IO | MEMORY); writes are dropped. */
  command: PCI_COMMAND_IO | PCI_COMMAND_MEMORY,
} as const;

/** File offset of BAR2 on the sample's device fd (MBOCHS_MMIO_BAR_OFFSET = PAGE_SIZE). */
export const MBOCHS_MMIO_BAR_OFFSET = 0x1000;
/** File offset of the EDID region (MBOCHS_EDID_OFFSET). */
export const MBOCHS_EDID_OFFSET = 0x2000;
/** File offset of BAR0 (MBOCHS_MEMORY_BAR_OFFSET; 0x2000 before the EDID page was added). */
export const MBOCHS_MEMORY_BAR_OFFSET = 0x3000;
/** VFIO region index of the EDID region (VFIO_PCI_NUM_REGIONS + 0). */
export const MBOCHS_EDID_REGION_INDEX = VFIO_PCI_NUM_REGIONS;
/** num_regions of GET_INFO: the nine PCI regions plus EDID. */
export const MBOCHS_NUM_REGIONS = VFIO_PCI_NUM_REGIONS + 1;
/**
 * How far the sample's BAR0 read()/write() lands past the mmap view: it
 * subtracts the MMIO BAR's file offset instead of the VRAM BAR's, 0x3000 −
 * 0x1000 = 2 pages (mbochs.c mdev_access(); docs/devices/mbochs.md "Sample bugs
 * fixed by default" item 3). 'upstream' reproduces it.
 */
export const MBOCHS_BAR0_RW_SKEW = MBOCHS_MEMORY_BAR_OFFSET - MBOCHS_MMIO_BAR_OFFSET;

/** What each region of the layout table is, for dispatch. */
export type MbochsRegionKind = 'vram' | 'mmio' | 'config' | 'edid';

/* ---- Options ---- */

export interface MbochsDeviceOptions extends DeviceOptions {
  /**
   * dispi register behaviour (docs/devices/mbochs.md "Options"): the kernel sample's verbatim
   * u16 store, or QEMU stdvga's rules (ID whitelist, fixup, ENABLE edge clear).
   * @defaultValue `'sample'`
   */
  readonly vbe?: VbeMode;
  /**
   * QEMU's extended registers at BAR2 0x600 (size, framebuffer byte order),
   * as stdvga with PCI revision 2; config space then reports revision 2 so
   * bochs-drm probes them. Only with `vbe: 'strict'` (ConfigError otherwise).
   * @defaultValue `false`
   */
  readonly qext?: boolean;
  /**
   * The memory budget the instance reserves `type.mbytes` from at creation
   * (ENOSPC when short, nothing reserved). Released exactly once by destroy().
   * @defaultValue {@link MBOCHS_SHARED_BUDGET}, the module-level 256 MB budget every mbochs instance shares
   */
  readonly budget?: InstanceBudget;
  /**
   * Most dmabuf mode records kept (bounded LRU; docs/devices/mbochs.md "Plane query and dmabufs").
   * @defaultValue 64 (MBOCHS_DMABUF_LIMIT_DEFAULT)
   */
  readonly dmabufLimit?: number;
}

/**
 * The budget all mbochs instances share unless one is injected: 256 MB, the
 * default of the module parameter `count` (mbochs.c max_mbytes).
 */
export const MBOCHS_SHARED_BUDGET: InstanceBudget = createMbochsBudget();

/** available_instances of a type: ⌊remaining MB / type MB⌋ (docs/devices/mbochs.md "Instances"). */
export function mbochsAvailableInstances(type: MbochsType | string, budget: InstanceBudget = MBOCHS_SHARED_BUDGET): number {
  return budget.available(resolveType(type).mbytes);
}

/* ---- Type descriptors for the management layer ---- */

/** What the management layer lists for an mdev type. Plain data. */
export interface MbochsTypeDescriptor {
  /** The type's pretty name, which the management layer creates instances by ("mbochs-small"). */
  readonly name: string;
  /** sysfs name ("small"). */
  readonly sysfsName: MbochsTypeName;
  /** sysfs description: "virtual display, N MB video memory". */
  readonly description: string;
  /** Video memory in bytes (= BAR0 size). */
  readonly memorySize: number;
  /** Budget units (MB) an instance reserves. */
  readonly mbytes: number;
  /** How the display reaches a client: QUERY_GFX_PLANE DMABUF planes. */
  readonly display: 'dmabuf';
  /** The device has the EDID region (index 9). */
  readonly edid: true;
  /** EDID max_xres × max_yres; null when the type has no limit (the kernel's 0×0). */
  readonly maxResolution: { readonly width: number; readonly height: number } | null;
}

/** The three mbochs types as management descriptors, in kernel table order. */
export const MBOCHS_TYPE_DESCRIPTORS: readonly MbochsTypeDescriptor[] = Object.freeze(
  MBOCHS_TYPE_LIST.map((t) =>
    Object.freeze({
      name: t.prettyName,
      sysfsName: t.sysfsName,
      description: t.description,
      memorySize: t.memsize,
      mbytes: t.mbytes,
      display: 'dmabuf' as const,
      edid: true as const,
      maxResolution: t.maxXres === 0 && t.maxYres === 0 ? null : Object.freeze({ width: t.maxXres, height: t.maxYres }),
    }),
  ),
);

/* ---- Snapshot ---- */

/**
 * A named-record snapshot of one instance (plain data: strings, numbers,
 * Uint8Arrays, nested records; msgpack encodes it as is).
 *
 * Not included: dmabuf ids and export handles. They name client-side
 * resources (fds) that a snapshot cannot carry; restore() leaves the dmabuf
 * table as it is, and a client re-queries the plane as after any mode change.
 */
export interface MbochsSnapshot {
  readonly format: 'mdevsim-mbochs';
  readonly version: 1;
  /** sysfs type name. */
  readonly type: MbochsTypeName;
  readonly quirks: Quirks;
  readonly vbe: VbeMode;
  readonly qext: boolean;
  readonly config: ConfigSpaceSnapshot;
  readonly dispi: DispiSnapshot;
  readonly edid: EdidRegionSnapshot;
  readonly mmio: MbochsMmioSnapshot;
  /** The whole VRAM (memsize bytes). */
  readonly vram: Uint8Array;
}

export const MBOCHS_SNAPSHOT_FORMAT = 'mdevsim-mbochs';
export const MBOCHS_SNAPSHOT_VERSION = 1;

/** Counters of the dmabuf table, for tests, leak checks and status output. */
export interface MbochsDmabufStats {
  /** Mode records in the table. */
  readonly records: number;
  /** Records not yet freed (table + closed-but-exported). */
  readonly liveRecords: number;
  /** Export handles not yet released. */
  readonly liveHandles: number;
  /** VRAM pages pinned by exports. */
  readonly pinnedPages: number;
}

/* ---- Helpers ---- */

/**
 * sizeof(struct vfio_region_info_ext) in mbochs.c: a vfio_region_info and one
 * vfio_region_info_cap_type, 32 + 16 = 48 bytes. mbochs_ioctl()
 * (VFIO_DEVICE_GET_REGION_INFO, Linux v6.12) copies the caller's argsz back
 * from that struct, so it refuses any argsz above it with EINVAL, whatever
 * the index and whether the region has caps.
 */
const MBOCHS_REGION_INFO_EXT_SIZE = VfioRegionInfo.size + VfioRegionInfoCapType.size;

function resolveType(type: MbochsType | string): MbochsType {
  if (typeof type === 'string') return mbochsType(type);
  if (type === null || typeof type !== 'object' || typeof type.sysfsName !== 'string') {
    throw new ConfigError('mbochs: the type must be a type name ("mbochs-small") or an entry of MBOCHS_TYPES.');
  }
  const known = mbochsType(type.sysfsName);
  // Only the kernel's three types: BAR sizes, budgets and snapshots are keyed by them.
  if (known.memsize !== type.memsize || known.mbytes !== type.mbytes || known.maxXres !== type.maxXres || known.maxYres !== type.maxYres) {
    throw new ConfigError(`mbochs: type "${type.sysfsName}" does not match the kernel's table; use MBOCHS_TYPES.${known.sysfsName}.`);
  }
  return known;
}

function configSpaceOptions(type: MbochsType, quirks: Quirks, revision: number): ConfigSpaceOptions {
  const bars = [
    { index: 0, kind: 'mem32', size: type.memsize, prefetchable: true },
    { index: 2, kind: 'mem32', size: MBOCHS_MMIO_BAR_SIZE, prefetchable: false },
  ] as const;
  const base: ConfigSpaceOptions = {
    // FIX (docs/devices/mbochs.md "Sample bugs fixed by default" item 1): 256 bytes, so QEMU's 4-byte read at 0xFC succeeds.
    size: quirks === 'upstream' ? PCI_CFG_SPACE_SIZE_SAMPLE : PCI_CFG_SPACE_SIZE,
    header: {
      vendorId: MBOCHS_PCI_ID.vendorId,
      deviceId: MBOCHS_PCI_ID.deviceId,
      revision,
      classCode: MBOCHS_PCI_ID.classCode,
      subsystemVendorId: MBOCHS_PCI_ID.subsystemVendorId,
      subsystemId: MBOCHS_PCI_ID.subsystemId,
      // The sample drops every config write but BAR0/BAR2 (handle_pci_cfg_write), in both profiles:
      // COMMAND reads 0x0003 forever (invariant 6), nothing else is writable (invariant 3).
      command: MBOCHS_PCI_ID.command,
      commandWmask: 0,
      status: 0,
      statusW1cmask: 0,
      interruptPin: 0,
      interruptLineWritable: false,
      cacheLineSizeWritable: false,
    },
    bars,
  };
  // FIX (docs/devices/mbochs.md "Sample bugs fixed by default" item 5): by default BAR writes go through the PCI masks (QEMU pci_register_bar):
  // address bits ~(size−1), sub-dword writes merged into the dword.
  if (quirks !== 'upstream') return base;
  // The sample BAR rule (mbochs.c handle_pci_cfg_write(), invariant 5): address bits below the BAR size are kept,
  // sub-dword writes ignored. The hook needs the laid-out BARs, so lay them out once without it.
  const probe = new ConfigSpace(base);
  return { ...base, hooks: [sampleBarWriteHook(probe.bar(0)!), sampleBarWriteHook(probe.bar(2)!)] };
}

/** Bytes of VRAM a strict ENABLE edge clears, bounded to VRAM (dispi already guarantees it). */
function applyClear(vram: Memory, clear: VramClearRequest | undefined): void {
  if (clear === undefined) return;
  const start = Math.min(Math.max(0, clear.offset), vram.size);
  const end = Math.min(start + Math.max(0, clear.length), vram.size);
  vram.bytes.fill(0, start, end);
}

/* ---- The device ---- */

/**
 * One mbochs instance: a VFIO PCI display device with a dmabuf plane.
 *
 * ```ts
 * const dev = new MbochsDevice('mbochs-medium', { memory: memfdFactory, name: uuid });
 * dev.regionWrite(2, 0x500 + 2 * 4, Uint8Array.of(0x41, 0)); // dispi ENABLE
 * const plane = dev.queryGfxPlane({ argsz: 64, flags: 2, drmPlaneType: 1 });
 * ```
 *
 * Lifecycle (mbochs.c vfio_device_ops: init, close_device, release):
 * constructor = create + init (budget reserved, VRAM allocated, reset); closeDevice() = last fd closed;
 * destroy() = remove.
 */
export class MbochsDevice implements VfioDevice {
  readonly type: MbochsType;
  /** Instance name (memory is named `${name}-vram`). */
  readonly name: string;
  readonly quirks: Quirks;
  readonly vbe: VbeMode;
  readonly qext: boolean;
  /** The region table (docs/devices/mbochs.md "Regions"): index, name, kernel file offset, size, flags, caps. */
  readonly layout: RegionLayout<MbochsRegionKind>;

  readonly #config: ConfigSpace;
  readonly #vram: Memory;
  readonly #dispi: DispiRegisters;
  readonly #edid: EdidRegion;
  readonly #mmio: MbochsMmio;
  readonly #dmabufs: DmabufTable;
  readonly #reservation: BudgetReservation;
  readonly #info: DeviceInfo;
  #activeId = 0;
  #destroyed = false;
  #vramClosed = false;

  /**
   * Create and initialise an instance.
   * @param type - an entry of MBOCHS_TYPES, or a sysfs ("small") or pretty ("mbochs-small") name
   * @throws ConfigError for an unknown type or bad options (nothing reserved).
   * @throws BudgetExhaustedError (VfioError ENOSPC) when the budget has fewer than type.mbytes left (nothing reserved).
   */
  constructor(type: MbochsType | string, opts: MbochsDeviceOptions = {}) {
    this.type = resolveType(type);
    const common = resolveCommon(opts, this.type.prettyName);
    if (common.quirks !== 'none' && common.quirks !== 'upstream') {
      throw new ConfigError(`mbochs: quirks must be 'none' or 'upstream', got ${String(common.quirks)}.`);
    }
    const vbe = opts.vbe ?? 'sample';
    if (vbe !== 'sample' && vbe !== 'strict') throw new ConfigError(`mbochs: vbe must be 'sample' or 'strict', got ${String(vbe)}.`);
    const qext = opts.qext ?? false;
    if (typeof qext !== 'boolean') throw new ConfigError(`mbochs: qext must be a boolean, got ${String(qext)}.`);
    if (qext && vbe !== 'strict') throw new ConfigError("mbochs: qext (QEMU extended registers) needs vbe: 'strict'.");
    this.name = common.name;
    this.quirks = common.quirks;
    this.vbe = vbe;
    this.qext = qext;

    // Everything that can fail on bad options is built before the reservation.
    this.#dmabufs = new DmabufTable(opts.dmabufLimit === undefined ? {} : { limit: opts.dmabufLimit });
    this.#config = new ConfigSpace(configSpaceOptions(this.type, this.quirks, qext ? MBOCHS_PCI_ID.revisionQext : MBOCHS_PCI_ID.revision));
    this.#dispi = new DispiRegisters({ vramSize: this.type.memsize, vbe });
    this.#edid = new EdidRegion({ maxXres: this.type.maxXres, maxYres: this.type.maxYres });
    this.#mmio = new MbochsMmio({ dispi: this.#dispi, edid: this.#edid, qext });
    this.#info = Object.freeze({
      // FIX (docs/devices/mbochs.md "Sample bugs fixed by default" item 2): the RESET ioctl works, so advertise it (QEMU then computes reset_works = true).
      flags: this.quirks === 'upstream' ? VFIO_DEVICE_FLAGS_PCI : VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET,
      numRegions: MBOCHS_NUM_REGIONS,
      numIrqs: VFIO_PCI_NUM_IRQS,
    });

    // Atomic all-or-nothing reservation (mbochs.c mbochs_init_dev()'s cmpxchg loop).
    const budget = opts.budget ?? MBOCHS_SHARED_BUDGET;
    this.#reservation = budget.reserve(this.type.mbytes);
    try {
      this.#vram = common.memory(`${this.name}-vram`, this.type.memsize);
      if (this.#vram.size !== this.type.memsize) {
        this.#vram.close();
        throw new ConfigError(`mbochs: the memory factory returned ${this.#vram.size} bytes for ${this.type.memsize}.`);
      }
      this.layout = this.#defineLayout();
    } catch (err) {
      this.#reservation.release();
      throw err;
    }
    this.reset();
  }

  #defineLayout(): RegionLayout<MbochsRegionKind> {
    const RW = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
    return defineRegionLayout<MbochsRegionKind>(
      [
        {
          index: VFIO_PCI_BAR0_REGION_INDEX, name: 'BAR0 VRAM', kind: 'vram',
          offset: MBOCHS_MEMORY_BAR_OFFSET, size: this.type.memsize, flags: RW | VFIO_REGION_INFO_FLAG_MMAP,
          // The mmap path is correct in the sample too: region offset r maps VRAM byte r.
          mmap: { memory: this.#vram, memoryOffset: 0 },
        },
        { index: VFIO_PCI_BAR2_REGION_INDEX, name: 'BAR2 MMIO', kind: 'mmio', offset: MBOCHS_MMIO_BAR_OFFSET, size: MBOCHS_MMIO_BAR_SIZE, flags: RW },
        { index: VFIO_PCI_CONFIG_REGION_INDEX, name: 'config', kind: 'config', offset: 0, size: this.#config.size, flags: RW },
        {
          index: MBOCHS_EDID_REGION_INDEX, name: 'EDID', kind: 'edid',
          offset: MBOCHS_EDID_OFFSET, size: MBOCHS_EDID_SIZE, flags: RW,
          caps: [typeCap(VFIO_REGION_TYPE_GFX, VFIO_REGION_SUBTYPE_GFX_EDID)],
        },
      ],
      { emptyBelow: MBOCHS_NUM_REGIONS },
    );
  }

  /* ---- Inspection (not part of VfioDevice) ---- */

  /** The VRAM (BAR0 backing; what the transport passes to clients for mmap). */
  get vram(): Memory {
    return this.#vram;
  }

  /** True once destroy() has run. */
  get destroyed(): boolean {
    return this.#destroyed;
  }

  /**
   * The kernel's active_id: the dmabuf id of the last valid PRIMARY plane
   * query, 0 after an invalid one (the kernel only logs its changes).
   */
  get activeDmabufId(): number {
    return this.#activeId;
  }

  /** The framebuffer the dispi registers describe right now (what a PRIMARY query would report). */
  displayMode(): Mode | Invalid {
    // Strict: QEMU stdvga shows nothing while PAS is clear (vga.c vga_update_display(): GMODE_BLANK), so neither do we.
    if (this.#mmio.blanked) return { kind: 'invalid', reason: 'blanked (VGA attribute index without the palette address source bit 0x20)' };
    // byteOrder is 'le' unless strict mode with qext set big endian (mode.ts divergence, opt-in).
    return deriveMode(this.#dispi.values(), this.type.memsize, { byteOrder: this.#mmio.byteOrder });
  }

  /** The plane {@link displayMode} describes, as VfioDevice.peekGfxPlane reports it: a DMABUF query would create a record. */
  peekGfxPlane(): PeekedGfxPlane | null {
    const m = this.displayMode();
    return m.kind === 'mode' ? { drmFormat: m.drmFormat, width: m.width, height: m.height, stride: m.stride, size: m.size } : null;
  }

  dmabufStats(): MbochsDmabufStats {
    const t = this.#dmabufs;
    return { records: t.size, liveRecords: t.liveRecords, liveHandles: t.liveHandles, pinnedPages: t.pinnedPages };
  }

  /* ---- VfioDevice ---- */

  /** GET_INFO: PCI|RESET, 10 regions, 5 irqs ('upstream': PCI only, as the sample). */
  info(): DeviceInfo {
    this.#alive('GET_INFO');
    return this.#info;
  }

  /**
   * GET_REGION_INFO from the layout table; indexes 1, 3–6, 8 are empty, ≥ 10
   * EINVAL. 'upstream': an `argsz` above {@link MBOCHS_REGION_INFO_EXT_SIZE}
   * (48) is EINVAL too, for every index, as the sample refuses it.
   */
  regionInfo(index: number, argsz?: number): RegionInfo {
    this.#alive('GET_REGION_INFO');
    // FIX (docs/devices/mbochs.md "Sample bugs fixed by default" item 6): any argsz ≥ 32 is answered; 'upstream' refuses > 48.
    if (this.quirks === 'upstream' && argsz !== undefined && argsz > MBOCHS_REGION_INFO_EXT_SIZE) {
      throw new VfioError('EINVAL', `GET_REGION_INFO: argsz ${argsz} is above the sample's ${MBOCHS_REGION_INFO_EXT_SIZE}-byte vfio_region_info_ext`);
    }
    return this.layout.info(index);
  }

  /**
   * read() on a region. dst is zeroed first, so nothing stale is ever
   * returned, even on error (invariant 1). The whole access is checked before
   * anything happens: out of range or straddling → EFAULT, no state change
   * (invariant 2). Empty regions (size 0) accept only zero-length accesses;
   * an index that is not a region → EINVAL.
   */
  regionRead(index: number, offset: number, dst: Uint8Array): void {
    const n = dst.length;
    if (n <= 8) for (let i = 0; i < n; i++) dst[i] = 0;
    else dst.fill(0);
    this.#alive('read');
    const region = this.layout.entry(index);
    if (region === undefined) return this.#emptyAccess(index, offset, dst.length);
    switch (region.kind) {
      case 'config':
        // 'upstream': the sample's bound, a chunk starting below 0xff is answered (devices/common/sample-config.ts).
        if (this.quirks === 'upstream') sampleConfigRead(this.#config, offset, dst);
        else this.#config.readBytes(offset, dst);
        return;
      case 'mmio':
        this.#mmio.regionRead(offset, dst);
        return;
      case 'edid':
        this.#edid.regionRead(offset, dst);
        return;
      case 'vram': {
        const at = this.#vramPosition(offset, dst.length);
        dst.set(this.#vram.bytes.subarray(at, at + dst.length));
        return;
      }
    }
  }

  /** write() on a region; same range rules as {@link regionRead}. */
  regionWrite(index: number, offset: number, data: Uint8Array): void {
    this.#alive('write');
    const region = this.layout.entry(index);
    if (region === undefined) return this.#emptyAccess(index, offset, data.length);
    switch (region.kind) {
      case 'config':
        if (this.quirks === 'upstream') sampleConfigWrite(this.#config, offset, data);
        else this.#config.writeBytes(offset, data);
        return;
      case 'mmio':
        // Strict mode: an ENABLE 0→1 edge without NOCLEARMEM clears the visible VRAM (QEMU vbe_ioport_write_data).
        applyClear(this.#vram, this.#mmio.regionWrite(offset, data));
        return;
      case 'edid':
        this.#edid.regionWrite(offset, data);
        return;
      case 'vram': {
        const at = this.#vramPosition(offset, data.length);
        this.#vram.bytes.set(data, at);
        return;
      }
    }
  }

  /** GET_IRQ_INFO: every index 0–4 has count 0, flags 0 (invariant 6); other indexes EINVAL. */
  irqInfo(index: number): IrqInfo {
    this.#alive('GET_IRQ_INFO');
    if (!Number.isInteger(index) || index < 0 || index >= VFIO_PCI_NUM_IRQS) {
      throw new VfioError('EINVAL', `GET_IRQ_INFO: index ${String(index)} (mbochs has ${VFIO_PCI_NUM_IRQS} irq indexes)`);
    }
    return { index, flags: 0, count: 0 };
  }

  /**
   * SET_IRQS: always EINVAL, as the sample. Validation runs with 0 vectors
   * for every index, so the message names the rule that refuses the request
   * (at the latest "start < count of the index").
   */
  setIrqs(set: IrqSet): void {
    this.#alive('SET_IRQS');
    validateIrqSet(set, () => 0, { numIrqs: VFIO_PCI_NUM_IRQS });
    throw new VfioError('EINVAL', 'SET_IRQS: mbochs has no interrupts');
  }

  /**
   * VFIO_DEVICE_RESET (mbochs_reset): dispi registers to their reset values
   * (ID 0xB0C5, VIDEO_MEMORY_64K = memsize/64 KiB, the rest 0), the qext
   * byte order to little endian and, strict, the VGA ports to QEMU's reset
   * state (blank until the guest sets PAS). VRAM, EDID state, config space and dmabuf
   * ids are untouched (invariants 15, 29).
   */
  reset(): void {
    this.#alive('RESET');
    this.#dispi.reset();
    this.#mmio.reset();
  }

  /**
   * QUERY_GFX_PLANE (mbochs.c mbochs_query_gfx_plane(); docs/devices/mbochs.md
   * "Plane query and dmabufs").
   * @throws VfioError EINVAL for bad argsz/flags; ENOMEM when the dmabuf table
   *   is full of exported records, or ('upstream') on the first query of a new mode.
   */
  queryGfxPlane(query: GfxPlaneQuery): GfxPlaneResult {
    this.#alive('QUERY_GFX_PLANE');
    if (classifyPlaneQuery(query, VFIO_GFX_PLANE_TYPE_DMABUF) === 'probe') return 'probe-ok';
    // Only PRIMARY is checked; every other plane type (cursor, overlay) fails the check → empty plane.
    if (query.drmPlaneType !== DRM_PLANE_TYPE_PRIMARY) return EMPTY_PLANE;
    const mode = this.displayMode();
    if (mode.kind !== 'mode') {
      this.#activeId = 0;
      return EMPTY_PLANE;
    }
    // FIX (docs/devices/mbochs.md "Sample bugs fixed by default" item 4): the first query of a new mode succeeds; 'upstream' fails it with ENOMEM.
    const { id } = this.#dmabufs.lookupOrCreate(mode, { upstreamEnomem: this.quirks === 'upstream' });
    this.#activeId = id;
    return {
      drmFormat: mode.drmFormat,
      drmFormatMod: 0n,
      width: mode.width,
      height: mode.height,
      stride: mode.stride,
      // The exact stride·height, not page-rounded (invariant 11: ≤ memsize by the mode check).
      size: mode.size,
      xPos: 0,
      yPos: 0,
      xHot: 0,
      yHot: 0,
      regionIndexOrDmabufId: id,
    } satisfies GfxPlaneInfo;
  }

  /**
   * GET_GFX_DMABUF: a new handle on the record's VRAM pages (shared: the
   * bytes track later VRAM writes). Export never touches VBE state.
   * @throws VfioError ENOENT for an unknown id; EINVAL for a mode whose offset is not page aligned.
   */
  getGfxDmabuf(dmabufId: number): DmabufExport {
    this.#alive('GET_GFX_DMABUF');
    const exp = this.#dmabufs.export(dmabufId, this.#vram);
    return {
      dmabufId: exp.dmabufId,
      memory: exp.memory,
      offset: exp.offset,
      size: exp.size,
      width: exp.width,
      height: exp.height,
      stride: exp.stride,
      drmFormat: exp.drmFormat,
      drmFormatMod: exp.drmFormatMod,
      release: () => {
        exp.release();
        // A destroyed device keeps VRAM only for outstanding handles: the last one closes it.
        if (this.#destroyed && this.#dmabufs.liveHandles === 0) this.#closeVram();
      },
    };
  }

  /**
   * close_device: the dmabuf table is unlinked (ids become unknown;
   * exported handles stay valid until released).
   *
   * Device state — dispi registers, VRAM, EDID, config — is kept. The kernel
   * drops every VRAM page reference at close, so VRAM contents are lost
   * across close/reopen there (mbochs.c mbochs_close_device()). We keep them because a
   * vfio-user server keeps device state across client disconnects
   * (vfio-user.rst "Client Disconnection"): a reconnecting client finds the
   * guest's framebuffer where the guest left it.
   */
  closeDevice(): void {
    if (this.#destroyed) return;
    this.#dmabufs.closeDevice();
    this.#activeId = 0;
  }

  /**
   * mdev remove: unlink every dmabuf, return the budget reservation (exactly
   * once), and close the VRAM memory — now, or when the last outstanding
   * dmabuf handle is released. Every later call except closeDevice()/destroy()
   * throws ENODEV. Idempotent.
   */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#dmabufs.closeDevice();
    this.#activeId = 0;
    this.#reservation.release();
    if (this.#dmabufs.liveHandles === 0) this.#closeVram();
  }

  /* ---- Snapshot ---- */

  /** A named-record copy of the whole device state (see {@link MbochsSnapshot}). */
  snapshot(): MbochsSnapshot {
    this.#alive('snapshot');
    return {
      format: MBOCHS_SNAPSHOT_FORMAT,
      version: MBOCHS_SNAPSHOT_VERSION,
      type: this.type.sysfsName,
      quirks: this.quirks,
      vbe: this.vbe,
      qext: this.qext,
      config: this.#config.snapshot(),
      dispi: this.#dispi.snapshot(),
      edid: this.#edid.snapshot(),
      mmio: this.#mmio.snapshot(),
      vram: this.#vram.bytes.slice(),
    };
  }

  /**
   * Replace the device state with a snapshot of the same device shape. All or
   * nothing: on any refusal the state is unchanged. The dmabuf table is left
   * alone (ids are not part of a snapshot).
   * @throws ConfigError when the format, version, type, quirks, vbe or qext differ, or a part is malformed.
   */
  restore(snapshot: MbochsSnapshot): void {
    this.#alive('restore');
    const bad = (why: string): never => {
      throw new ConfigError(`mbochs snapshot: ${why}`);
    };
    if (snapshot === null || typeof snapshot !== 'object') bad('expected a snapshot record');
    if (snapshot.format !== MBOCHS_SNAPSHOT_FORMAT) bad(`format ${showSent(snapshot.format)} is not ${MBOCHS_SNAPSHOT_FORMAT}`);
    if (snapshot.version !== MBOCHS_SNAPSHOT_VERSION) bad(`version ${showSent(snapshot.version)} is not supported (only ${MBOCHS_SNAPSHOT_VERSION})`);
    if (snapshot.type !== this.type.sysfsName) bad(`taken from an mbochs-${showSent(snapshot.type)} instance; this one is ${this.type.prettyName}`);
    if (snapshot.quirks !== this.quirks) bad(`quirks profile ${showSent(snapshot.quirks)} differs from this instance's ${this.quirks}`);
    if (snapshot.vbe !== this.vbe) bad(`vbe ${showSent(snapshot.vbe)} differs from this instance's ${this.vbe}`);
    if (snapshot.qext !== this.qext) bad(`qext ${showSent(snapshot.qext)} differs from this instance's ${String(this.qext)}`);
    if (!(snapshot.vram instanceof Uint8Array) || snapshot.vram.length !== this.type.memsize) {
      bad(`vram must be ${this.type.memsize} bytes`);
    }
    const before = {
      config: this.#config.snapshot(),
      dispi: this.#dispi.snapshot(),
      edid: this.#edid.snapshot(),
      mmio: this.#mmio.snapshot(),
    };
    let part = 'config';
    try {
      this.#config.restore(snapshot.config);
      part = 'dispi';
      this.#dispi.restore(snapshot.dispi);
      part = 'edid';
      this.#edid.restore(snapshot.edid);
      part = 'mmio';
      this.#mmio.restore(snapshot.mmio);
    } catch (err) {
      this.#config.restore(before.config);
      this.#dispi.restore(before.dispi);
      this.#edid.restore(before.edid);
      this.#mmio.restore(before.mmio);
      // The parts' own refusals say what is wrong; anything else (a TypeError on a missing field) only says where.
      if (err instanceof ConfigError || err instanceof VfioError) bad(err.message.replace(/^E[A-Z]+: /, '').replace(/\.$/, ''));
      bad(`the ${part} record is malformed`);
    }
    this.#vram.bytes.set(snapshot.vram);
  }

  /* ---- Internals ---- */

  #alive(op: string): void {
    if (this.#destroyed) throw destroyedError(this.name, op);
  }

  /**
   * The VRAM byte a BAR0 read()/write() at region offset `offset` starts at.
   * FIX (docs/devices/mbochs.md "Sample bugs fixed by default" item 3): the
   * offset itself. 'upstream' reproduces the
   * sample's 2-page skew, bounded to VRAM: where the sample would index past
   * its pages[] array, the whole access fails with EFAULT instead.
   */
  #vramPosition(offset: number, count: number): number {
    const size = this.type.memsize;
    if (!inRange(offset, count, size)) {
      throw new VfioError('EFAULT', `BAR0: access [${String(offset)}, +${count}) outside the ${size}-byte region`);
    }
    if (this.quirks !== 'upstream') return offset;
    const skewed = offset + MBOCHS_BAR0_RW_SKEW;
    if (!inRange(skewed, count, size)) {
      throw new VfioError('EFAULT', `BAR0: access at ${offset} lands at ${skewed} with the sample's 2-page skew, past the ${size}-byte VRAM`);
    }
    return skewed;
  }

  /** An access to an index that has no table entry: size-0 region (only count 0 fits) or EINVAL. */
  #emptyAccess(index: number, offset: number, count: number): void {
    const info = this.layout.info(index); // EINVAL for an index that is not a region
    if (!inRange(offset, count, info.size)) {
      throw new VfioError('EFAULT', `region ${index}: access [${String(offset)}, +${count}) outside the empty region`);
    }
  }

  #closeVram(): void {
    if (this.#vramClosed) return;
    this.#vramClosed = true;
    this.#vram.close();
  }
}
