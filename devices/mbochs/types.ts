/**
 * The mbochs mdev types (mbochs.c mbochs_types[]; docs/devices/mbochs.md "Types"), as a table.
 *
 * The kernel's type table holds only name, mbytes and max_x/max_y; the other
 * columns here are derived facts kept as data so tests can compare them with
 * the spec (VIDEO_MEMORY_64K, BAR0 size-probe readback, sysfs strings).
 */
import { ConfigError } from '../../src/util/errors.ts';
import { InstanceBudget } from '../common/budget.ts';

/** mdev type sysfs names (MBOCHS_TYPE_1..3). */
export type MbochsTypeName = 'small' | 'medium' | 'large';

export interface MbochsType {
  /** sysfs name of the type (`mdev_type.sysfs_name`). */
  readonly sysfsName: MbochsTypeName;
  /** `mdev_type.pretty_name`: "mbochs-" + sysfs name. */
  readonly prettyName: string;
  /** Video memory in MiB (`mbochs_type.mbytes`); also the budget units the type reserves. */
  readonly mbytes: number;
  /** Video memory in bytes (`mdev_state.memsize` = mbytes · 1 MiB) = BAR0 and region 0 size. */
  readonly memsize: number;
  /** Reset value of VBE_DISPI_INDEX_VIDEO_MEMORY_64K: memsize / 64 KiB. */
  readonly videoMemory64k: number;
  /** `vfio_region_gfx_edid.max_xres` (0 = no limit). Advisory only: VBE writes are not limited. */
  readonly maxXres: number;
  /** `vfio_region_gfx_edid.max_yres` (0 = no limit). */
  readonly maxYres: number;
  /** sysfs `description`: "virtual display, N MB video memory". */
  readonly description: string;
  /** Vendor sysfs attribute `memory`: "N MB". */
  readonly memoryAttr: string;
  /** What a BAR0 size probe (write 0xFFFFFFFF) reads back: (−memsize mod 2^32) | 0x08 (mem32, prefetchable). */
  readonly bar0SizingReadback: number;
}

const MiB = 1024 * 1024;

/** Default of the mbochs module parameter `count`: megabytes shared by all mbochs instances. */
export const MBOCHS_DEFAULT_BUDGET_MB = 256;

/** The three mbochs types, keyed by sysfs name. */
export const MBOCHS_TYPES = {
  small: {
    sysfsName: 'small',
    prettyName: 'mbochs-small',
    mbytes: 4,
    memsize: 4 * MiB,
    videoMemory64k: 64,
    maxXres: 800,
    maxYres: 600,
    description: 'virtual display, 4 MB video memory',
    memoryAttr: '4 MB',
    bar0SizingReadback: 0xffc00008,
  },
  medium: {
    sysfsName: 'medium',
    prettyName: 'mbochs-medium',
    mbytes: 16,
    memsize: 16 * MiB,
    videoMemory64k: 256,
    maxXres: 1920,
    maxYres: 1440,
    description: 'virtual display, 16 MB video memory',
    memoryAttr: '16 MB',
    bar0SizingReadback: 0xff000008,
  },
  large: {
    sysfsName: 'large',
    prettyName: 'mbochs-large',
    mbytes: 64,
    memsize: 64 * MiB,
    videoMemory64k: 1024,
    maxXres: 0,
    maxYres: 0,
    description: 'virtual display, 64 MB video memory',
    memoryAttr: '64 MB',
    bar0SizingReadback: 0xfc000008,
  },
} as const satisfies Record<MbochsTypeName, MbochsType>;

/** The types in kernel table order (small, medium, large). */
export const MBOCHS_TYPE_LIST: readonly MbochsType[] = [MBOCHS_TYPES.small, MBOCHS_TYPES.medium, MBOCHS_TYPES.large];

/**
 * Look a type up by sysfs name ("small") or pretty name ("mbochs-small").
 * @throws ConfigError for an unknown name (the newest kernel has no fallback type;
 *   the 2018 code silently used "small").
 */
export function mbochsType(name: string): MbochsType {
  const found = MBOCHS_TYPE_LIST.find((t) => t.sysfsName === name || t.prettyName === name);
  if (!found) {
    throw new ConfigError(
      `unknown mbochs type "${name}"; use one of ${MBOCHS_TYPE_LIST.map((t) => t.sysfsName).join(', ')}.`,
    );
  }
  return found;
}

/**
 * The budget all mbochs instances share, in MB. Instances reserve `type.mbytes`
 * at creation (ENOSPC when short); available_instances(type) =
 * `budget.available(type.mbytes)`.
 * @param totalMb - @defaultValue {@link MBOCHS_DEFAULT_BUDGET_MB} (256)
 */
export function createMbochsBudget(totalMb: number = MBOCHS_DEFAULT_BUDGET_MB): InstanceBudget {
  return new InstanceBudget({ total: totalMb, errno: 'ENOSPC', name: 'mbochs memory', unit: 'MB' });
}
