/**
 * The type-0 PCI configuration header as data, plus the bit constants that
 * belong to its registers. Constant names follow Linux
 * `include/uapi/linux/pci_regs.h` exactly, so grepping the kernel and QEMU
 * lines up with this file; values that belong to a register are listed right
 * under it, indented one space, as in pci_regs.h.
 *
 * Logic elsewhere refers to header registers through {@link PCI_HEADER} by
 * name (`PCI_HEADER.COMMAND.offset`), never by bare offset.
 *
 * Spec references are to the PCI Local Bus Specification, Revision 3.0
 * (§6.1 "Configuration Space Organization", §6.2 "Configuration Space
 * Functions", §6.7 "Capabilities List") and the PCI Bus Power Management
 * Interface Specification 1.2 (§3.2).
 */

/** Size of PCI conventional configuration space (pci_regs.h PCI_CFG_SPACE_SIZE). */
export const PCI_CFG_SPACE_SIZE = 256;
/**
 * Size of the config region the kernel samples (mdpy, mbochs) report:
 * `MDPY_CONFIG_SPACE_SIZE` / `MBOCHS_CONFIG_SPACE_SIZE` = 0xff.
 */
export const PCI_CFG_SPACE_SIZE_SAMPLE = 0xff;
/** End of the standard header; capabilities live at or above this (pci_regs.h PCI_STD_HEADER_SIZEOF). */
export const PCI_STD_HEADER_SIZEOF = 64;

export const PCI_VENDOR_ID = 0x00;
export const PCI_DEVICE_ID = 0x02;

export const PCI_COMMAND = 0x04;
export const  PCI_COMMAND_IO = 0x1; /* Enable response in I/O space */
export const  PCI_COMMAND_MEMORY = 0x2; /* Enable response in Memory space */
export const  PCI_COMMAND_MASTER = 0x4; /* Enable bus mastering */
export const  PCI_COMMAND_SPECIAL = 0x8; /* Enable response to special cycles */
export const  PCI_COMMAND_INVALIDATE = 0x10; /* Use memory write and invalidate */
export const  PCI_COMMAND_VGA_PALETTE = 0x20; /* Enable palette snooping */
export const  PCI_COMMAND_PARITY = 0x40; /* Enable parity checking */
export const  PCI_COMMAND_WAIT = 0x80; /* Enable address/data stepping */
export const  PCI_COMMAND_SERR = 0x100; /* Enable SERR */
export const  PCI_COMMAND_FAST_BACK = 0x200; /* Enable back-to-back writes */
export const  PCI_COMMAND_INTX_DISABLE = 0x400; /* INTx Emulation Disable */

/**
 * COMMAND bits QEMU makes guest-writable for every device
 * (hw/pci/pci.c `pci_init_wmask`): IO, MEMORY, MASTER, SERR, INTX_DISABLE.
 */
export const PCI_COMMAND_QEMU_WMASK =
  PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE;

export const PCI_STATUS = 0x06;
export const  PCI_STATUS_IMM_READY = 0x01; /* Immediate Readiness */
export const  PCI_STATUS_INTERRUPT = 0x08; /* Interrupt status */
export const  PCI_STATUS_CAP_LIST = 0x10; /* Support Capability List */
export const  PCI_STATUS_66MHZ = 0x20; /* Support 66 MHz PCI 2.1 bus */
export const  PCI_STATUS_UDF = 0x40; /* Support User Definable Features [obsolete] */
export const  PCI_STATUS_FAST_BACK = 0x80; /* Accept fast-back to back */
export const  PCI_STATUS_PARITY = 0x100; /* Detected parity error */
export const  PCI_STATUS_DEVSEL_MASK = 0x600; /* DEVSEL timing */
export const  PCI_STATUS_SIG_TARGET_ABORT = 0x800; /* Set on target abort */
export const  PCI_STATUS_REC_TARGET_ABORT = 0x1000; /* Master ack of " */
export const  PCI_STATUS_REC_MASTER_ABORT = 0x2000; /* Set on master abort */
export const  PCI_STATUS_SIG_SYSTEM_ERROR = 0x4000; /* Set when we drive SERR */
export const  PCI_STATUS_DETECTED_PARITY = 0x8000; /* Set on parity error */

/**
 * The STATUS error bits, write-1-to-clear (PCI 3.0 §6.2.3; QEMU
 * `pci_init_w1cmask`).
 */
export const PCI_STATUS_RW1C_MASK =
  PCI_STATUS_PARITY | PCI_STATUS_SIG_TARGET_ABORT | PCI_STATUS_REC_TARGET_ABORT |
  PCI_STATUS_REC_MASTER_ABORT | PCI_STATUS_SIG_SYSTEM_ERROR | PCI_STATUS_DETECTED_PARITY;

export const PCI_CLASS_REVISION = 0x08; /* High 24 bits are class, low 8 revision */
export const PCI_REVISION_ID = 0x08;
export const PCI_CLASS_PROG = 0x09; /* Reg. Level Programming Interface */
export const PCI_CLASS_DEVICE = 0x0a; /* Device class */

export const PCI_CACHE_LINE_SIZE = 0x0c;
export const PCI_LATENCY_TIMER = 0x0d;
export const PCI_HEADER_TYPE = 0x0e;
export const  PCI_HEADER_TYPE_MASK = 0x7f;
export const  PCI_HEADER_TYPE_NORMAL = 0;
export const  PCI_HEADER_TYPE_MFD = 0x80; /* Multi-Function Device (possible) */
export const PCI_BIST = 0x0f;

export const PCI_BASE_ADDRESS_0 = 0x10;
export const PCI_BASE_ADDRESS_1 = 0x14;
export const PCI_BASE_ADDRESS_2 = 0x18;
export const PCI_BASE_ADDRESS_3 = 0x1c;
export const PCI_BASE_ADDRESS_4 = 0x20;
export const PCI_BASE_ADDRESS_5 = 0x24;
export const  PCI_BASE_ADDRESS_SPACE = 0x01; /* 0 = memory, 1 = I/O */
export const  PCI_BASE_ADDRESS_SPACE_IO = 0x01;
export const  PCI_BASE_ADDRESS_SPACE_MEMORY = 0x00;
export const  PCI_BASE_ADDRESS_MEM_TYPE_MASK = 0x06;
export const  PCI_BASE_ADDRESS_MEM_TYPE_32 = 0x00; /* 32 bit address */
export const  PCI_BASE_ADDRESS_MEM_TYPE_1M = 0x02; /* Below 1M [obsolete] */
export const  PCI_BASE_ADDRESS_MEM_TYPE_64 = 0x04; /* 64 bit address */
export const  PCI_BASE_ADDRESS_MEM_PREFETCH = 0x08; /* prefetchable? */
/** Address bits of a memory BAR dword (pci_regs.h `~0x0fUL`, as a u32). */
export const  PCI_BASE_ADDRESS_MEM_MASK = 0xffff_fff0;
/** Address bits of an I/O BAR dword (pci_regs.h `~0x03UL`, as a u32). */
export const  PCI_BASE_ADDRESS_IO_MASK = 0xffff_fffc;
/** Number of BAR slots in a type-0 header. */
export const PCI_STD_NUM_BARS = 6;

export const PCI_CARDBUS_CIS = 0x28;
export const PCI_SUBSYSTEM_VENDOR_ID = 0x2c;
export const PCI_SUBSYSTEM_ID = 0x2e;
export const PCI_ROM_ADDRESS = 0x30; /* Bits 31..11 are address, 10..1 reserved */
export const  PCI_ROM_ADDRESS_ENABLE = 0x01;
/** Address bits of the expansion-ROM BAR (pci_regs.h `~0x7ffU`, as a u32). */
export const  PCI_ROM_ADDRESS_MASK = 0xffff_f800;

export const PCI_CAPABILITY_LIST = 0x34; /* Offset of first capability list entry */
export const PCI_INTERRUPT_LINE = 0x3c; /* 8 bits */
export const PCI_INTERRUPT_PIN = 0x3d; /* 8 bits */
export const PCI_MIN_GNT = 0x3e; /* 8 bits */
export const PCI_MAX_LAT = 0x3f; /* 8 bits */

/* Capability lists (PCI 3.0 §6.7) */
export const PCI_CAP_LIST_ID = 0; /* Capability ID */
export const  PCI_CAP_ID_PM = 0x01; /* Power Management */
export const  PCI_CAP_ID_AGP = 0x02; /* Accelerated Graphics Port */
export const  PCI_CAP_ID_VPD = 0x03; /* Vital Product Data */
export const  PCI_CAP_ID_MSI = 0x05; /* Message Signalled Interrupts */
export const  PCI_CAP_ID_VNDR = 0x09; /* Vendor-Specific */
export const  PCI_CAP_ID_EXP = 0x10; /* PCI Express */
export const  PCI_CAP_ID_MSIX = 0x11; /* MSI-X */
export const PCI_CAP_LIST_NEXT = 1; /* Next capability in the list */
/** Capability-defined flags (16 bits); for a vendor-specific capability, byte 2 is its length. */
export const PCI_CAP_FLAGS = 2;
export const PCI_CAP_SIZEOF = 4;

/* Power Management capability registers (PCI PM 1.2 §3.2) */
export const PCI_PM_PMC = 2; /* PM Capabilities Register */
export const  PCI_PM_CAP_VER_MASK = 0x0007; /* Version */
export const  PCI_PM_CAP_PME_CLOCK = 0x0008; /* PME clock required */
export const  PCI_PM_CAP_RESERVED = 0x0010; /* Reserved field */
export const  PCI_PM_CAP_DSI = 0x0020; /* Device specific initialization */
export const  PCI_PM_CAP_AUX_POWER = 0x01c0; /* Auxiliary power support mask */
export const  PCI_PM_CAP_D1 = 0x0200; /* D1 power state support */
export const  PCI_PM_CAP_D2 = 0x0400; /* D2 power state support */
export const  PCI_PM_CAP_PME_MASK = 0xf800; /* PME Mask of all supported states */
export const PCI_PM_CTRL = 4; /* PM control and status register */
export const  PCI_PM_CTRL_STATE_MASK = 0x0003; /* Current power state (D0 to D3) */
export const  PCI_PM_CTRL_NO_SOFT_RESET = 0x0008; /* No reset for D3hot->D0 */
export const  PCI_PM_CTRL_PME_ENABLE = 0x0100; /* PME pin enable */
export const  PCI_PM_CTRL_DATA_SEL_MASK = 0x1e00; /* Data select (??) */
export const  PCI_PM_CTRL_DATA_SCALE_MASK = 0x6000; /* Data scale (??) */
export const  PCI_PM_CTRL_PME_STATUS = 0x8000; /* PME pin status */
export const PCI_PM_PPB_EXTENSIONS = 6; /* PPB support extensions (??) */
export const PCI_PM_DATA_REGISTER = 7; /* (??) */
export const PCI_PM_SIZEOF = 8;
/** PMC version field value for PCI PM 1.2 (PMC bits 2:0 = 011b, PCI PM 1.2 §3.2.3). */
export const PCI_PM_CAP_VER_1_2 = 0x0003;
/** PMCSR PowerState values (PCI PM 1.2 §3.2.4). */
export const PCI_D0 = 0;
export const PCI_D1 = 1;
export const PCI_D2 = 2;
export const PCI_D3hot = 3;

/**
 * How the guest may change a register:
 * - `ro`: read-only; writes are ignored (identity registers, pointers, pin);
 * - `rw`: the bits in the register's write mask take the written value;
 * - `rw1c`: the bits in the register's W1C mask are cleared where a 1 is written;
 * - `rsvdz`: reserved, reads zero, writes ignored.
 *
 * BAR and ROM registers are `rw` with an empty default write mask: an absent
 * BAR is read-only zero, and a BAR descriptor opens its address bits.
 */
export type RegAccess = 'ro' | 'rw' | 'rw1c' | 'rsvdz';

/** One header register. Masks are the defaults a {@link ConfigSpace} starts from. */
export interface RegDesc {
  /** The register's name, as the key it is stored under in {@link PCI_HEADER}. */
  readonly name: string;
  readonly offset: number;
  readonly size: 1 | 2 | 4;
  readonly access: RegAccess;
  /** Default guest-writable bits (QEMU `pci_init_wmask`). */
  readonly wmask: number;
  /** Default write-1-to-clear bits (QEMU `pci_init_w1cmask`). */
  readonly w1cmask: number;
  /** Bits checked when a snapshot is restored (QEMU `pci_init_cmask`). */
  readonly cmask: number;
  /** Where the register is defined. */
  readonly spec: string;
}

type RegSpec = Omit<RegDesc, 'name' | 'wmask' | 'w1cmask' | 'cmask'> &
  Partial<Pick<RegDesc, 'wmask' | 'w1cmask' | 'cmask'>>;

function table<const T extends Record<string, RegSpec>>(spec: T): { readonly [K in keyof T]: RegDesc } {
  const out: Record<string, RegDesc> = {};
  for (const [name, r] of Object.entries(spec)) {
    out[name] = Object.freeze({ name, wmask: 0, w1cmask: 0, cmask: 0, ...r });
  }
  return Object.freeze(out) as { readonly [K in keyof T]: RegDesc };
}

const BAR_SPEC = 'PCI 3.0 §6.2.5.1';
const MISC_SPEC = 'PCI 3.0 §6.2.4';

/**
 * The type-0 configuration header (bytes 0x00–0x3F), one entry per register.
 * The entries tile the 64 bytes exactly, without gaps or overlaps (checked by
 * a unit test and by {@link validateHeaderTable}).
 */
export const PCI_HEADER = table({
  VENDOR_ID: { offset: PCI_VENDOR_ID, size: 2, access: 'ro', cmask: 0xffff, spec: 'PCI 3.0 §6.2.1' },
  DEVICE_ID: { offset: PCI_DEVICE_ID, size: 2, access: 'ro', cmask: 0xffff, spec: 'PCI 3.0 §6.2.1' },
  COMMAND: { offset: PCI_COMMAND, size: 2, access: 'rw', wmask: PCI_COMMAND_QEMU_WMASK, spec: 'PCI 3.0 §6.2.2' },
  STATUS: {
    offset: PCI_STATUS, size: 2, access: 'rw1c', w1cmask: PCI_STATUS_RW1C_MASK, cmask: PCI_STATUS_CAP_LIST,
    spec: 'PCI 3.0 §6.2.3',
  },
  REVISION_ID: { offset: PCI_REVISION_ID, size: 1, access: 'ro', cmask: 0xff, spec: 'PCI 3.0 §6.2.1' },
  CLASS_PROG: { offset: PCI_CLASS_PROG, size: 1, access: 'ro', cmask: 0xff, spec: 'PCI 3.0 §6.2.1, Appendix D' },
  CLASS_DEVICE: { offset: PCI_CLASS_DEVICE, size: 2, access: 'ro', cmask: 0xffff, spec: 'PCI 3.0 §6.2.1, Appendix D' },
  CACHE_LINE_SIZE: { offset: PCI_CACHE_LINE_SIZE, size: 1, access: 'rw', wmask: 0xff, spec: MISC_SPEC },
  // Writable only on bridges in QEMU; a type-0 function reads 0 (PCI 3.0 §6.2.4 allows hardwiring).
  LATENCY_TIMER: { offset: PCI_LATENCY_TIMER, size: 1, access: 'ro', spec: MISC_SPEC },
  HEADER_TYPE: { offset: PCI_HEADER_TYPE, size: 1, access: 'ro', cmask: 0xff, spec: 'PCI 3.0 §6.2.1' },
  BIST: { offset: PCI_BIST, size: 1, access: 'ro', spec: MISC_SPEC },
  BASE_ADDRESS_0: { offset: PCI_BASE_ADDRESS_0, size: 4, access: 'rw', spec: BAR_SPEC },
  BASE_ADDRESS_1: { offset: PCI_BASE_ADDRESS_1, size: 4, access: 'rw', spec: BAR_SPEC },
  BASE_ADDRESS_2: { offset: PCI_BASE_ADDRESS_2, size: 4, access: 'rw', spec: BAR_SPEC },
  BASE_ADDRESS_3: { offset: PCI_BASE_ADDRESS_3, size: 4, access: 'rw', spec: BAR_SPEC },
  BASE_ADDRESS_4: { offset: PCI_BASE_ADDRESS_4, size: 4, access: 'rw', spec: BAR_SPEC },
  BASE_ADDRESS_5: { offset: PCI_BASE_ADDRESS_5, size: 4, access: 'rw', spec: BAR_SPEC },
  CARDBUS_CIS: { offset: PCI_CARDBUS_CIS, size: 4, access: 'ro', spec: MISC_SPEC },
  SUBSYSTEM_VENDOR_ID: { offset: PCI_SUBSYSTEM_VENDOR_ID, size: 2, access: 'ro', spec: MISC_SPEC },
  SUBSYSTEM_ID: { offset: PCI_SUBSYSTEM_ID, size: 2, access: 'ro', spec: MISC_SPEC },
  ROM_ADDRESS: { offset: PCI_ROM_ADDRESS, size: 4, access: 'rw', spec: 'PCI 3.0 §6.2.5.2' },
  CAPABILITY_LIST: { offset: PCI_CAPABILITY_LIST, size: 1, access: 'ro', cmask: 0xff, spec: 'PCI 3.0 §6.7' },
  RESERVED_35: { offset: 0x35, size: 1, access: 'rsvdz', spec: 'PCI 3.0 §6.1' },
  RESERVED_36: { offset: 0x36, size: 2, access: 'rsvdz', spec: 'PCI 3.0 §6.1' },
  RESERVED_38: { offset: 0x38, size: 4, access: 'rsvdz', spec: 'PCI 3.0 §6.1' },
  INTERRUPT_LINE: { offset: PCI_INTERRUPT_LINE, size: 1, access: 'rw', wmask: 0xff, spec: MISC_SPEC },
  INTERRUPT_PIN: { offset: PCI_INTERRUPT_PIN, size: 1, access: 'ro', spec: MISC_SPEC },
  MIN_GNT: { offset: PCI_MIN_GNT, size: 1, access: 'ro', spec: MISC_SPEC },
  MAX_LAT: { offset: PCI_MAX_LAT, size: 1, access: 'ro', spec: MISC_SPEC },
});

export type HeaderRegName = keyof typeof PCI_HEADER;

/** The header registers in offset order. */
export const PCI_HEADER_REGS: readonly RegDesc[] = Object.freeze(
  Object.values(PCI_HEADER).sort((a, b) => a.offset - b.offset),
);

/** The six BAR registers, by BAR index. */
export const PCI_BAR_REGS: readonly RegDesc[] = Object.freeze([
  PCI_HEADER.BASE_ADDRESS_0, PCI_HEADER.BASE_ADDRESS_1, PCI_HEADER.BASE_ADDRESS_2,
  PCI_HEADER.BASE_ADDRESS_3, PCI_HEADER.BASE_ADDRESS_4, PCI_HEADER.BASE_ADDRESS_5,
]);

/**
 * Check that a register table tiles [0, end) exactly and that every mask fits
 * its register and matches its access kind. Returns the problems found (empty
 * when the table is sound). Run over {@link PCI_HEADER} by a unit test.
 */
export function validateHeaderTable(regs: readonly RegDesc[], end = PCI_STD_HEADER_SIZEOF): string[] {
  const problems: string[] = [];
  const sorted = [...regs].sort((a, b) => a.offset - b.offset);
  let pos = 0;
  for (const r of sorted) {
    if (r.offset !== pos) problems.push(`${r.name}: starts at 0x${r.offset.toString(16)}, expected 0x${pos.toString(16)}`);
    if (r.offset % r.size !== 0) problems.push(`${r.name}: not naturally aligned`);
    const full = r.size === 4 ? 0xffff_ffff : (1 << (8 * r.size)) - 1;
    for (const [k, m] of [['wmask', r.wmask], ['w1cmask', r.w1cmask], ['cmask', r.cmask]] as const) {
      if (!Number.isInteger(m) || m < 0 || m > full) problems.push(`${r.name}: ${k} 0x${m.toString(16)} does not fit ${r.size} bytes`);
    }
    if ((r.wmask & r.w1cmask) !== 0) problems.push(`${r.name}: wmask and w1cmask overlap`);
    if ((r.access === 'ro' || r.access === 'rsvdz') && (r.wmask !== 0 || r.w1cmask !== 0)) {
      problems.push(`${r.name}: ${r.access} register has writable bits`);
    }
    if (r.access === 'rw1c' && r.w1cmask === 0) problems.push(`${r.name}: rw1c register has no W1C bits`);
    if (r.access !== 'rw1c' && r.w1cmask !== 0) problems.push(`${r.name}: W1C bits on a ${r.access} register`);
    pos = r.offset + r.size;
  }
  if (pos !== end) problems.push(`table ends at 0x${pos.toString(16)}, expected 0x${end.toString(16)}`);
  return problems;
}
