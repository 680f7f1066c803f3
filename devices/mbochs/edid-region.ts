/**
 * The mbochs EDID region, VFIO region index 9 (mbochs.c handle_edid_regs()/
 * handle_edid_blob(); docs/devices/mbochs.md "EDID region"; invariants 26–29).
 *
 * Layout of the 4 KiB region (offsets relative to the region):
 *
 * | offset       | what                                                      |
 * |--------------|-----------------------------------------------------------|
 * | 0x000–0x017  | struct vfio_region_gfx_edid (6 × u32, table below)        |
 * | 0x018–0x7FF  | nothing: accesses ignored, reads zero                     |
 * | 0x800–0xBFF  | the EDID blob (edid_max_size = 0x400 bytes)               |
 * | 0xC00–0xFFF  | nothing: accesses ignored, reads zero                     |
 *
 * Host (VMM) accesses go through {@link EdidRegion.regionRead} /
 * {@link EdidRegion.regionWrite}; the guest sees the blob read-only through
 * MMIO BAR2 0x000–0x3FF ({@link EdidRegion.guestRead}).
 *
 * Kernel rules, per access chunk (a read()/write() is split like the kernel's
 * loop, see devices/common/access.ts):
 * - register: exactly 4 bytes, 4-aligned, inside the 24 register bytes; else
 *   nothing happens. Writes reach only edid_size and link_state (any u32, no
 *   validation); the rest is read-only.
 * - blob: accepted iff rel + count ≤ 0x400, whatever the link state.
 * - A read that does nothing returns zeros (the kernel leaves the caller's
 *   buffer uninitialised; never leak).
 *
 * State survives reset and close (the device only drops it with the instance).
 */
import { AccessError, VfioError } from '../../src/util/errors.ts';
import { rangeInside } from '../../src/util/bits.ts';
import { VFIO_DEVICE_GFX_LINK_STATE_UP } from '../../src/vfio/uapi.ts';
import { readUint, writeUint } from '../../src/util/bytes.ts';
import { VfioRegionGfxEdid } from '../../src/vfio/structs.ts';
import { kernelChunks } from '../common/access.ts';

/** Size of the EDID region (MBOCHS_EDID_SIZE, one page). */
export const MBOCHS_EDID_SIZE = 0x1000;
/** Region offset of the blob (MBOCHS_EDID_BLOB_OFFSET = edid_offset). */
export const MBOCHS_EDID_BLOB_OFFSET = 0x800;
/** Blob capacity (sizeof edid_blob = edid_max_size). */
export const MBOCHS_EDID_BLOB_SIZE = 0x400;

/** A register of struct vfio_region_gfx_edid (the uapi struct, declared once in src/vfio/structs.ts). */
export type EdidRegName = keyof typeof VfioRegionGfxEdid.offsets;

/** The registers the host may write (the sample's handle_edid_regs); the rest are read-only. */
const WRITABLE: ReadonlySet<EdidRegName> = new Set(['edid_size', 'link_state']);

const EDID_REG_BY_OFFSET: ReadonlyMap<number, EdidRegName> = (() => {
  const m = new Map<number, EdidRegName>();
  // The register file below is a u32 array: every field must be one aligned u32, with no gaps.
  for (const f of VfioRegionGfxEdid.fields) {
    if (f.type !== 'u32' || f.offset % 4 !== 0) throw new Error(`vfio_region_gfx_edid: ${f.name} is not an aligned u32`);
    m.set(f.offset, f.name as EdidRegName);
  }
  if (m.size * 4 !== VfioRegionGfxEdid.size) throw new Error('vfio_region_gfx_edid: gaps');
  return m;
})();

/** The guest-visible side of the EDID state (what MMIO 0x000–0x3FF reads). */
export interface EdidSource {
  /** Guest read of `size` bytes at MMIO offset `offset`, little-endian. */
  guestRead(offset: number, size: 1 | 2 | 4): number;
}

export interface EdidRegionOptions {
  /** max_xres of the type (0 = no limit). u32. */
  readonly maxXres: number;
  /** max_yres of the type (0 = no limit). u32. */
  readonly maxYres: number;
}

/** A named-record snapshot of {@link EdidRegion} (the read-only registers come from the type). */
export interface EdidRegionSnapshot {
  readonly kind: 'mbochs-edid';
  readonly version: 1;
  readonly edidSize: number;
  readonly linkState: number;
  /** The whole 1 KiB blob. */
  readonly blob: Uint8Array;
}

function isU32(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff;
}

export class EdidRegion implements EdidSource {
  readonly #regs = new Uint32Array(VfioRegionGfxEdid.size / 4);
  readonly #blob = new Uint8Array(MBOCHS_EDID_BLOB_SIZE);

  /** @throws VfioError EINVAL when maxXres/maxYres are not u32. */
  constructor(options: EdidRegionOptions) {
    if (!isU32(options.maxXres) || !isU32(options.maxYres)) {
      throw new VfioError('EINVAL', 'mbochs EDID: max_xres/max_yres must be u32');
    }
    this.#set('edid_offset', MBOCHS_EDID_BLOB_OFFSET);
    this.#set('edid_max_size', MBOCHS_EDID_BLOB_SIZE);
    this.#set('edid_size', 0);
    this.#set('max_xres', options.maxXres);
    this.#set('max_yres', options.maxYres);
    // link_state starts at 0: neither UP (1) nor DOWN (2).
    this.#set('link_state', 0);
  }

  #set(name: EdidRegName, value: number): void {
    this.#regs[VfioRegionGfxEdid.offsets[name] / 4] = value;
  }

  /** Current value of a register. */
  register(name: EdidRegName): number {
    return this.#regs[VfioRegionGfxEdid.offsets[name] / 4]!;
  }

  /** edid_size as last written by the host (not clamped, may exceed 0x400). */
  get edidSize(): number {
    return this.register('edid_size');
  }

  get linkState(): number {
    return this.register('link_state');
  }

  /** link_state == VFIO_DEVICE_GFX_LINK_STATE_UP (1). */
  get linkUp(): boolean {
    return this.linkState === VFIO_DEVICE_GFX_LINK_STATE_UP;
  }

  /** Copy of the 1 KiB blob. */
  blob(): Uint8Array {
    return this.#blob.slice();
  }

  /**
   * Host read() of the region: fills dst from region offset `offset`. Parts
   * that the kernel ignores read as zero.
   * @throws AccessError (EFAULT) when [offset, offset+dst.length) is not inside the 4 KiB region; dst is zero-filled then.
   */
  regionRead(offset: number, dst: Uint8Array): void {
    dst.fill(0);
    this.#check(offset, dst.length);
    for (const { offset: pos, size } of kernelChunks(offset, dst.length)) {
      const out = dst.subarray(pos - offset, pos - offset + size);
      if (pos < MBOCHS_EDID_BLOB_OFFSET) {
        const name = this.#regAt(pos, size);
        if (name !== undefined) writeUint(out, 0, 4, this.register(name));
      } else {
        const rel = pos - MBOCHS_EDID_BLOB_OFFSET;
        if (rel + size <= MBOCHS_EDID_BLOB_SIZE) out.set(this.#blob.subarray(rel, rel + size));
      }
    }
  }

  /**
   * Host write() of the region. Register chunks reach only edid_size and
   * link_state (4 bytes, aligned); blob chunks land iff rel + count ≤ 0x400;
   * everything else is dropped.
   * @throws AccessError (EFAULT) when the access is not inside the 4 KiB region; nothing changes then.
   */
  regionWrite(offset: number, src: Uint8Array): void {
    this.#check(offset, src.length);
    for (const { offset: pos, size } of kernelChunks(offset, src.length)) {
      const data = src.subarray(pos - offset, pos - offset + size);
      if (pos < MBOCHS_EDID_BLOB_OFFSET) {
        const name = this.#regAt(pos, size);
        if (name !== undefined && WRITABLE.has(name)) this.#set(name, readUint(data, 0, 4));
      } else {
        const rel = pos - MBOCHS_EDID_BLOB_OFFSET;
        if (rel + size <= MBOCHS_EDID_BLOB_SIZE) this.#blob.set(data, rel);
      }
    }
  }

  /**
   * Guest MMIO read at BAR2 offset `offset` (window 0x000–0x3FF), `size`
   * bytes little-endian.
   *
   * A byte at p reads blob[p] iff link_state == UP (1) and p < edid_size and
   * p < 0x400; else 0. Decision for a read that straddles edid_size: gated
   * per byte, so bytes at or beyond edid_size read 0 even when the access
   * starts below it. (The kernel gates on the start offset only and would
   * return stale blob bytes past edid_size; with the aligned 1/2/4-byte
   * accesses guests make and edid_size a multiple of 128 the two agree.)
   * edid_size is not clamped in the register (kernel: no validation), but
   * the guest view never reaches beyond the 1 KiB blob.
   * Never throws; offsets outside the window read 0.
   */
  guestRead(offset: number, size: 1 | 2 | 4): number {
    if (!this.linkUp) return 0;
    const limit = Math.min(this.edidSize, MBOCHS_EDID_BLOB_SIZE);
    let v = 0;
    for (let i = size - 1; i >= 0; i--) {
      const p = offset + i;
      const byte = Number.isInteger(p) && p >= 0 && p < limit ? this.#blob[p]! : 0;
      v = v * 256 + byte;
    }
    return v;
  }

  snapshot(): EdidRegionSnapshot {
    return { kind: 'mbochs-edid', version: 1, edidSize: this.edidSize, linkState: this.linkState, blob: this.blob() };
  }

  /**
   * Restore host-written state (edid_size, link_state, blob). The read-only
   * registers stay those of this instance's type.
   * @throws VfioError EINVAL for a malformed snapshot; nothing changes then.
   */
  restore(snapshot: EdidRegionSnapshot): void {
    if (snapshot.kind !== 'mbochs-edid' || snapshot.version !== 1) {
      throw new VfioError('EINVAL', 'mbochs EDID snapshot: not a version 1 EDID snapshot');
    }
    if (!isU32(snapshot.edidSize) || !isU32(snapshot.linkState)) {
      throw new VfioError('EINVAL', 'mbochs EDID snapshot: edidSize/linkState must be u32');
    }
    if (!(snapshot.blob instanceof Uint8Array) || snapshot.blob.length !== MBOCHS_EDID_BLOB_SIZE) {
      throw new VfioError('EINVAL', `mbochs EDID snapshot: blob must be ${MBOCHS_EDID_BLOB_SIZE} bytes`);
    }
    this.#set('edid_size', snapshot.edidSize);
    this.#set('link_state', snapshot.linkState);
    this.#blob.set(snapshot.blob);
  }

  #check(offset: number, count: number): void {
    if (!rangeInside(offset, count, MBOCHS_EDID_SIZE)) {
      throw new AccessError(`EDID region offset ${String(offset)} count ${count} outside 0..0x${MBOCHS_EDID_SIZE.toString(16)}`);
    }
  }

  /** The register a chunk addresses, iff it is exactly 4 bytes, 4-aligned and inside the struct (handle_edid_regs). */
  #regAt(pos: number, size: number): EdidRegName | undefined {
    if (size !== 4 || pos % 4 !== 0 || pos + size > VfioRegionGfxEdid.size) return undefined;
    return EDID_REG_BY_OFFSET.get(pos);
  }
}
