/**
 * Region layouts as explicit per-device tables: index, name, kernel file
 * offset, size, flags, caps. Offsets are never derived from indexes (the
 * kernel review of the samples asked exactly that; contrast mtty's
 * VFIO_PCI_INDEX_TO_OFFSET). Built once per device instance, so sizes may come
 * from device parameters (BAR0 = memsize).
 *
 * Two lookups:
 * - by index, for VFIO_DEVICE_GET_REGION_INFO: table entries, then "empty"
 *   indexes (below `emptyBelow`, not in the table) answered with size 0,
 *   flags 0, offset 0 as the samples do, else EINVAL;
 * - by file position, for modelling the samples' single-fd read()/write()
 *   dispatch (mdpy.c and mbochs.c mdev_access()): the access must lie wholly inside one
 *   region, otherwise the whole call fails.
 */
import type { RegionCap, RegionInfo, RegionMmap } from './device.ts';
import { VFIO_PCI_NUM_REGIONS, VFIO_REGION_INFO_FLAG_CAPS, VFIO_REGION_INFO_FLAG_MMAP } from './uapi.ts';
import { VfioError, assert } from '../util/errors.ts';

export interface RegionLayoutEntry<K extends string = string> {
  readonly index: number;
  /** For logs and docs ("BAR0 VRAM", "EDID"). */
  readonly name: string;
  /** The sample's file offset of the region on the device fd. */
  readonly offset: number;
  readonly size: number;
  /** VFIO_REGION_INFO_FLAG_READ/WRITE/MMAP (CAPS is the encoder's). */
  readonly flags: number;
  readonly caps?: readonly RegionCap[];
  /** A device-defined tag the device dispatches on ('config', 'vram', 'mmio', 'edid', …). */
  readonly kind: K;
  /** Backing of the mmap-able part; required iff flags has MMAP. */
  readonly mmap?: RegionMmap;
  /**
   * This index answers GET_REGION_INFO with its own entry but is not a
   * separate file range: locate() never returns it (mdpy's region 16 aliases
   * BAR0 at 0x1000).
   */
  readonly aliasOf?: number;
}

export interface RegionLayoutOptions {
  /**
   * Indexes below this bound that are not in the table are "empty": region
   * info succeeds with size 0, flags 0, offset 0. Every other index not in the
   * table is EINVAL. The samples: mdpy 9 (VFIO_PCI_NUM_REGIONS), mbochs 10.
   * @defaultValue VFIO_PCI_NUM_REGIONS (9)
   */
  readonly emptyBelow?: number;
}

/** Where a file-position access lands. */
export interface LocatedAccess<K extends string = string> {
  readonly region: RegionLayoutEntry<K>;
  /** Offset of the access from the region start. */
  readonly relOffset: number;
}

export interface RegionLayout<K extends string = string> {
  /** The table entries, by ascending index. */
  readonly entries: readonly RegionLayoutEntry<K>[];
  readonly emptyBelow: number;
  /** The table entry for an index (undefined for empty and unknown indexes). */
  entry(index: number): RegionLayoutEntry<K> | undefined;
  /**
   * GET_REGION_INFO for an index: the entry's info, the empty info, or EINVAL.
   * Returns a shared frozen object (no allocation per call).
   * @throws VfioError EINVAL for an index that is neither in the table nor empty.
   */
  info(index: number): RegionInfo;
  /**
   * The region holding the whole file range [pos, pos+count), with the
   * offset into it, or undefined when the range lies outside every region or
   * straddles a boundary. count 0 asks whether pos lies inside a region.
   * Aliases and size-0 entries are never returned.
   */
  locate(pos: number, count: number): LocatedAccess<K> | undefined;
}

const MAX_INDEXES = 1024;

function isSafeNonNegative(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

/**
 * Declare a device's region layout. Validated once (violations are bugs in
 * the declaration and throw an assertion error): unique u32 indexes,
 * non-negative safe offsets and sizes, no CAPS flag, MMAP iff `mmap` (and the
 * mapping inside its memory), aliases pointing at a non-alias entry, and
 * dispatchable (non-alias, non-empty) file ranges pairwise disjoint.
 */
export function defineRegionLayout<K extends string>(
  entries: readonly RegionLayoutEntry<K>[],
  opts: RegionLayoutOptions = {},
): RegionLayout<K> {
  const emptyBelow = opts.emptyBelow ?? VFIO_PCI_NUM_REGIONS;
  assert(Number.isInteger(emptyBelow) && emptyBelow >= 0 && emptyBelow <= MAX_INDEXES, `emptyBelow ${emptyBelow} out of range`);

  const byIndex = new Map<number, RegionLayoutEntry<K>>();
  for (const e of entries) {
    assert(Number.isInteger(e.index) && e.index >= 0 && e.index <= 0xffff_ffff, `region ${e.name}: index ${e.index} is not a u32`);
    assert(!byIndex.has(e.index), `region ${e.name}: index ${e.index} declared twice`);
    assert(isSafeNonNegative(e.offset) && isSafeNonNegative(e.size) && Number.isSafeInteger(e.offset + e.size),
      `region ${e.name}: offset ${e.offset} / size ${e.size} must be non-negative safe integers`);
    assert(Number.isInteger(e.flags) && e.flags >= 0 && e.flags <= 0xffff_ffff, `region ${e.name}: flags ${e.flags} is not a u32`);
    assert((e.flags & VFIO_REGION_INFO_FLAG_CAPS) === 0, `region ${e.name}: CAPS is set by the encoder from caps, not declared`);
    const mmapFlag = (e.flags & VFIO_REGION_INFO_FLAG_MMAP) !== 0;
    assert(mmapFlag === (e.mmap !== undefined), `region ${e.name}: MMAP flag and mmap backing must come together`);
    if (e.mmap !== undefined) {
      const { memory, memoryOffset } = e.mmap;
      assert(isSafeNonNegative(memoryOffset) && memoryOffset <= memory.size && e.size <= memory.size - memoryOffset,
        `region ${e.name}: mmap [${memoryOffset}, +${e.size}) outside its ${memory.size}-byte memory`);
    }
    byIndex.set(e.index, e);
  }
  for (const e of entries) {
    if (e.aliasOf === undefined) continue;
    const target = byIndex.get(e.aliasOf);
    assert(target !== undefined && target !== e && target.aliasOf === undefined, `region ${e.name}: aliasOf ${e.aliasOf} must name another, non-alias region`);
  }

  const dispatch = entries.filter((e) => e.aliasOf === undefined && e.size > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < dispatch.length; i++) {
    const prev = dispatch[i - 1] as RegionLayoutEntry<K>;
    const cur = dispatch[i] as RegionLayoutEntry<K>;
    assert(prev.offset + prev.size <= cur.offset, `regions ${prev.name} and ${cur.name} overlap in the file`);
  }

  const infos = new Map<number, RegionInfo>();
  for (const e of entries) {
    infos.set(e.index, Object.freeze({
      index: e.index,
      flags: e.flags,
      size: e.size,
      offset: e.offset,
      caps: Object.freeze([...(e.caps ?? [])]),
      ...(e.mmap !== undefined ? { mmap: e.mmap } : {}),
    }));
  }
  const NO_CAPS: readonly RegionCap[] = Object.freeze([]);
  for (let i = 0; i < emptyBelow; i++) {
    if (!infos.has(i)) infos.set(i, Object.freeze({ index: i, flags: 0, size: 0, offset: 0, caps: NO_CAPS }));
  }

  const sorted = Object.freeze([...entries].sort((a, b) => a.index - b.index));

  return Object.freeze({
    entries: sorted,
    emptyBelow,
    entry(index: number): RegionLayoutEntry<K> | undefined {
      return byIndex.get(index);
    },
    info(index: number): RegionInfo {
      const info = infos.get(index);
      if (info === undefined) throw new VfioError('EINVAL', `region info: no region ${index}`);
      return info;
    },
    locate(pos: number, count: number): LocatedAccess<K> | undefined {
      if (!isSafeNonNegative(pos) || !isSafeNonNegative(count)) return undefined;
      for (const e of dispatch) {
        if (pos < e.offset) return undefined; // sorted: no later region starts at or before pos
        const rel = pos - e.offset;
        if (rel < e.size && count <= e.size - rel) return { region: e, relOffset: rel };
      }
      return undefined;
    },
  });
}
