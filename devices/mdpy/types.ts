/**
 * The mdpy mdev types (mdpy.c mdpy_types[]; docs/devices/mdpy.md "Types"), as a table.
 *
 * The kernel's type table (samples/vfio-mdev/mdpy.c `mdpy_types[]`) holds
 * name, format, bytepp, width and height; memsize is derived at create as
 * roundup_pow_of_two(W·H·bytepp). The other columns here are derived facts
 * kept as data so tests can compare them with the spec (sysfs strings, BAR0
 * size-probe readback).
 */
import { DRM_FORMAT_XRGB8888 } from '../../src/vfio/uapi.ts';
import { ConfigError } from '../../src/util/errors.ts';
import { InstanceBudget } from '../common/budget.ts';

/** mdev type sysfs names (MDPY_TYPE_1..3). */
export type MdpyTypeName = 'vga' | 'xga' | 'hd';

export interface MdpyType {
  /** sysfs name of the type (`mdev_type.sysfs_name`). */
  readonly sysfsName: MdpyTypeName;
  /** `mdev_type.pretty_name` and the mdev type id under mdev_supported_types: "mdpy-" + sysfs name. */
  readonly prettyName: string;
  readonly width: number;
  readonly height: number;
  /** DRM fourcc of the framebuffer (`mdpy_type.format`): XRGB8888 for every type. */
  readonly format: number;
  /** Bytes per pixel (`mdpy_type.bytepp`). */
  readonly bytepp: number;
  /** Bytes per line: width · bytepp. */
  readonly stride: number;
  /** Visible framebuffer bytes: stride · height (page aligned for all three types). */
  readonly fbSize: number;
  /** `mdev_state.memsize` = roundup_pow_of_two(fbSize) = BAR0 and region 0 size. */
  readonly memsize: number;
  /** sysfs `description`: "virtual display, WxH framebuffer". */
  readonly description: string;
  /** Vendor sysfs attribute `resolution`: "WxH". */
  readonly resolution: string;
  /** What a BAR0 size probe (write 0xFFFFFFFF) reads back: (−memsize mod 2^32) | 0x08 (mem32, prefetchable). */
  readonly bar0SizingReadback: number;
}

const MiB = 1024 * 1024;

/** Default of the mdpy module parameter `count`: instances across all mdpy types. */
export const MDPY_DEFAULT_MAX_INSTANCES = 4;

/** The three mdpy types, keyed by sysfs name. */
export const MDPY_TYPES = {
  vga: {
    sysfsName: 'vga',
    prettyName: 'mdpy-vga',
    width: 640,
    height: 480,
    format: DRM_FORMAT_XRGB8888,
    bytepp: 4,
    stride: 640 * 4,
    fbSize: 640 * 480 * 4, // 1,228,800
    memsize: 2 * MiB,
    description: 'virtual display, 640x480 framebuffer',
    resolution: '640x480',
    bar0SizingReadback: 0xffe00008,
  },
  xga: {
    sysfsName: 'xga',
    prettyName: 'mdpy-xga',
    width: 1024,
    height: 768,
    format: DRM_FORMAT_XRGB8888,
    bytepp: 4,
    stride: 1024 * 4,
    fbSize: 1024 * 768 * 4, // 3,145,728
    memsize: 4 * MiB,
    description: 'virtual display, 1024x768 framebuffer',
    resolution: '1024x768',
    bar0SizingReadback: 0xffc00008,
  },
  hd: {
    sysfsName: 'hd',
    prettyName: 'mdpy-hd',
    width: 1920,
    height: 1080,
    format: DRM_FORMAT_XRGB8888,
    bytepp: 4,
    stride: 1920 * 4,
    fbSize: 1920 * 1080 * 4, // 8,294,400
    memsize: 8 * MiB,
    description: 'virtual display, 1920x1080 framebuffer',
    resolution: '1920x1080',
    bar0SizingReadback: 0xff800008,
  },
} as const satisfies Record<MdpyTypeName, MdpyType>;

/** The types in kernel table order (vga, xga, hd). */
export const MDPY_TYPE_LIST: readonly MdpyType[] = [MDPY_TYPES.vga, MDPY_TYPES.xga, MDPY_TYPES.hd];

/**
 * Look a type up by sysfs name ("vga") or pretty name ("mdpy-vga").
 * @throws ConfigError for an unknown name (the newest kernel has no fallback
 *   type; the 2018 code silently used "vga").
 */
export function mdpyType(name: string): MdpyType {
  const found = MDPY_TYPE_LIST.find((t) => t.sysfsName === name || t.prettyName === name);
  if (!found) {
    throw new ConfigError(`unknown mdpy type "${name}"; use one of ${MDPY_TYPE_LIST.map((t) => t.sysfsName).join(', ')}.`);
  }
  return found;
}

/**
 * A budget of mdpy instances: at most `total` live instances across all
 * three types (the mdev core's `max_instances`, module parameter `count`);
 * creation beyond fails EUSERS (docs/devices/mdpy.md "Instances").
 * @param total - @defaultValue {@link MDPY_DEFAULT_MAX_INSTANCES} (4)
 */
export function createMdpyBudget(total: number = MDPY_DEFAULT_MAX_INSTANCES): InstanceBudget {
  return new InstanceBudget({ total, errno: 'EUSERS', name: 'mdpy instances', unit: 'instances' });
}

/**
 * The budget every MdpyDevice shares unless one is injected (one per process,
 * as the kernel module has one per parent device).
 */
export const MDPY_SHARED_BUDGET: InstanceBudget = createMdpyBudget();
