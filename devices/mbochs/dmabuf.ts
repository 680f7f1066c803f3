/**
 * The mbochs dmabuf table, done right (docs/devices/mbochs.md "Plane query and dmabufs"
 * and "Sample bugs fixed by default" items 7, 8; invariants 19, 20, 22–25).
 *
 * Model:
 * - A record is an immutable (id, Mode) pair. A valid PRIMARY plane query
 *   calls {@link DmabufTable.lookupOrCreate}: the same mode record (all seven
 *   fields, {@link sameMode}) yields the same id; a new one gets the next id.
 *   Ids start at 1, strictly increase, are never reused (not even across
 *   closeDevice(), like the kernel's next_id), so an id always names one
 *   geometry (QEMU caches dmabufs by id).
 * - The table is a bounded LRU (default 64 records). A new record evicts the
 *   least recently used record that has no live export handle. An evicted
 *   mode that comes back gets a new id (its old id is then unknown →
 *   ENOENT): remembering evicted ids would make the table unbounded again.
 *   If every record is exported, the query is refused with ENOMEM and the
 *   table does not grow — the client frees handles and retries (QEMU keeps
 *   at most a handful of dmabufs and already retries a failed query on the
 *   next refresh, because of the upstream ENOMEM bug below).
 * - {@link DmabufTable.export} needs a known id (ENOENT) and a page-aligned
 *   offset (EINVAL). Each export returns a fresh handle; the record counts
 *   handles explicitly. Its pages are pinned while it has ≥ 1 handle (pinned
 *   once per record, released exactly once when the last handle goes).
 *   release() is idempotent per handle. Nothing here reproduces the kernel's
 *   extra-fd-without-reference or re-export-without-re-pin bugs.
 * - {@link DmabufTable.closeDevice} unlinks every record: unexported ones are
 *   freed, exported ones live (pinned) until their last handle is released.
 * - VFIO_DEVICE_RESET does nothing to the table (the table has no reset).
 *
 * Upstream quirk (mbochs.c mbochs_query_gfx_plane(), which drops the result of
 * mbochs_dmabuf_alloc()): in the kernel, the first query
 * of a new mode allocates the record but returns -ENOMEM; the next identical
 * query succeeds. lookupOrCreate() reports `fresh: true` for a new record, and
 * with `{ upstreamEnomem: true }` it throws that ENOMEM itself after creating
 * the record. The device passes the option for its 'upstream' quirk profile.
 *
 * Deterministic: no clock, no randomness. Counters `liveRecords`,
 * `liveHandles`, `pinnedPages` exist for tests and leak checks.
 */
import type { Memory } from '../../src/vfio/memory.ts';
import { ConfigError, VfioError, assert } from '../../src/util/errors.ts';
import { rangeInside } from '../../src/util/bits.ts';
import type { DmabufExport } from '../../src/vfio/device.ts';
import { modeKey, type Mode } from './mode.ts';

/** Page size of VRAM pinning and the GET_GFX_DMABUF alignment check. */
export const MBOCHS_PAGE_SIZE = 4096;

/** Default bound of the table (records, exported or not). */
export const MBOCHS_DMABUF_LIMIT_DEFAULT = 64;

/** Largest dmabuf id (dmabuf_id is a u32 in struct vfio_device_gfx_plane_info). */
export const DMABUF_ID_MAX = 0xffff_ffff;

export interface DmabufTableOptions {
  /**
   * Most records the table holds (positive integer).
   * @defaultValue {@link MBOCHS_DMABUF_LIMIT_DEFAULT} (64)
   */
  readonly limit?: number;
  /**
   * Largest id handed out; once reached, new records are refused with ENOMEM
   * (ids are never reused). Lower it only to test exhaustion.
   * @defaultValue {@link DMABUF_ID_MAX}
   */
  readonly maxId?: number;
}

/** Result of a lookup: the record's id, and whether this call created it. */
export interface DmabufLookup {
  readonly id: number;
  readonly fresh: boolean;
}

export interface LookupOptions {
  /**
   * Reproduce the upstream bug: when the record is new, create it and then
   * throw VfioError ENOMEM. The next identical lookup succeeds.
   * @defaultValue `false`
   */
  readonly upstreamEnomem?: boolean;
}

interface DmabufRecord {
  readonly id: number;
  readonly mode: Mode;
  readonly key: string;
  /** ⌈size / 4096⌉: the pages pinned while exported. */
  readonly pageCount: number;
  /** Live export handles. */
  handles: number;
  /** In the table (false once evicted or unlinked by closeDevice). */
  linked: boolean;
}

export class DmabufTable {
  readonly limit: number;
  readonly maxId: number;
  /** Linked records in LRU order: first = least recently used. */
  readonly #lru = new Map<number, DmabufRecord>();
  readonly #byKey = new Map<string, DmabufRecord>();
  /** Unlinked records that still have handles (freed at their last release). */
  readonly #orphans = new Set<DmabufRecord>();
  #nextId = 1;
  #liveHandles = 0;
  #pinnedPages = 0;

  /** @throws ConfigError for a limit or maxId that is not a positive integer. */
  constructor(options: DmabufTableOptions = {}) {
    const limit = options.limit ?? MBOCHS_DMABUF_LIMIT_DEFAULT;
    const maxId = options.maxId ?? DMABUF_ID_MAX;
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new ConfigError(`mbochs dmabuf limit must be a positive integer, got ${String(limit)}.`);
    }
    if (!Number.isSafeInteger(maxId) || maxId < 1 || maxId > DMABUF_ID_MAX) {
      throw new ConfigError(`mbochs dmabuf maxId must be in 1..${DMABUF_ID_MAX}, got ${String(maxId)}.`);
    }
    this.limit = limit;
    this.maxId = maxId;
  }

  /** Records in the table (linked). Never above `limit`. */
  get size(): number {
    return this.#lru.size;
  }

  /** Records not yet freed: linked ones plus unlinked ones that still have handles. */
  get liveRecords(): number {
    return this.#lru.size + this.#orphans.size;
  }

  /** Export handles not yet released. */
  get liveHandles(): number {
    return this.#liveHandles;
  }

  /** VRAM pages pinned by exported records. */
  get pinnedPages(): number {
    return this.#pinnedPages;
  }

  /** The id the next new record will get. */
  get nextId(): number {
    return this.#nextId;
  }

  /**
   * The id of `mode`'s record, creating it if needed (see the module comment
   * for eviction). Marks the record most recently used.
   * @throws VfioError ENOMEM when the table is full of exported records, or ids are exhausted (nothing changes);
   *   or, with `upstreamEnomem`, after creating a fresh record.
   */
  lookupOrCreate(mode: Mode, options: LookupOptions = {}): DmabufLookup {
    const key = modeKey(mode);
    const hit = this.#byKey.get(key);
    if (hit) {
      this.#touch(hit);
      return { id: hit.id, fresh: false };
    }
    if (this.#nextId > this.maxId) {
      throw new VfioError('ENOMEM', `dmabuf ids exhausted (last id ${this.maxId})`);
    }
    if (this.#lru.size >= this.limit) {
      let victim: DmabufRecord | undefined;
      for (const r of this.#lru.values()) {
        if (r.handles === 0) {
          victim = r;
          break;
        }
      }
      if (!victim) {
        throw new VfioError('ENOMEM', `dmabuf table full: all ${this.limit} records are exported`);
      }
      this.#lru.delete(victim.id);
      this.#byKey.delete(victim.key);
      victim.linked = false;
    }
    const rec: DmabufRecord = {
      id: this.#nextId++,
      mode: { ...mode },
      key,
      pageCount: Math.ceil(mode.size / MBOCHS_PAGE_SIZE),
      handles: 0,
      linked: true,
    };
    this.#lru.set(rec.id, rec);
    this.#byKey.set(key, rec);
    if (options.upstreamEnomem) {
      throw new VfioError('ENOMEM', `dmabuf ${rec.id} allocated; upstream mbochs fails the first query of a mode`);
    }
    return { id: rec.id, fresh: true };
  }

  /** The mode of a record in the table, or undefined for an unknown (never issued, evicted or closed) id. */
  modeOf(id: number): Mode | undefined {
    return this.#lru.get(id)?.mode;
  }

  /** True iff `id` names a record in the table. */
  has(id: number): boolean {
    return this.#lru.has(id);
  }

  /** Live export handles of a record (0 for unknown ids). */
  handlesOf(id: number): number {
    return this.#lru.get(id)?.handles ?? 0;
  }

  /**
   * VFIO_DEVICE_GET_GFX_DMABUF: a new handle on record `id`'s pages of `memory` (the VRAM).
   * Marks the record most recently used. Does not touch VBE state.
   * @throws VfioError ENOENT for an unknown id; EINVAL when the mode's offset is not
   *   page-aligned or the buffer does not lie inside `memory`. Nothing changes then.
   */
  export(id: number, memory: Memory): DmabufExport {
    const rec = this.#lru.get(id);
    if (!rec) throw new VfioError('ENOENT', `no dmabuf with id ${String(id)}`);
    const { mode } = rec;
    if (mode.offset % MBOCHS_PAGE_SIZE !== 0) {
      throw new VfioError('EINVAL', `dmabuf ${id}: offset 0x${mode.offset.toString(16)} is not page aligned`);
    }
    if (!rangeInside(mode.offset, rec.pageCount * MBOCHS_PAGE_SIZE, memory.size)) {
      throw new VfioError('EINVAL', `dmabuf ${id}: pages beyond video memory of ${memory.size} bytes`);
    }
    if (rec.handles === 0) this.#pinnedPages += rec.pageCount;
    rec.handles++;
    this.#liveHandles++;
    this.#touch(rec);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.#drop(rec);
    };
    return {
      dmabufId: id,
      memory,
      offset: mode.offset,
      size: mode.size,
      width: mode.width,
      height: mode.height,
      stride: mode.stride,
      drmFormat: mode.drmFormat,
      drmFormatMod: 0n,
      release,
    };
  }

  /**
   * close_device: unlink every record. Unexported records are freed; exported
   * ones stay alive (and pinned) until their last handle is released. Ids keep
   * increasing afterwards. Idempotent.
   */
  closeDevice(): void {
    for (const rec of this.#lru.values()) {
      rec.linked = false;
      if (rec.handles > 0) this.#orphans.add(rec);
    }
    this.#lru.clear();
    this.#byKey.clear();
  }

  #touch(rec: DmabufRecord): void {
    this.#lru.delete(rec.id);
    this.#lru.set(rec.id, rec);
  }

  #drop(rec: DmabufRecord): void {
    assert(rec.handles > 0 && this.#liveHandles > 0, `dmabuf ${rec.id}: handle count underflow`);
    rec.handles--;
    this.#liveHandles--;
    if (rec.handles === 0) {
      this.#pinnedPages -= rec.pageCount;
      assert(this.#pinnedPages >= 0, 'pinned page count underflow');
      if (!rec.linked) this.#orphans.delete(rec);
    }
  }
}
