/**
 * Types shared by the PCI modules: read-only byte views and the write-hook
 * contract. Kept apart so bars.ts and capabilities.ts need not import the
 * ConfigSpace class at run time.
 */
import type { ConfigSpace } from './config-space.ts';

/**
 * A read-only view of a byte array. A `Uint8Array` is one; holders of this
 * type cannot write through it (the compiler refuses index assignment). The
 * view is live: it reflects later changes made by its owner.
 */
export interface ReadonlyBytes extends Iterable<number> {
  readonly length: number;
  readonly [index: number]: number;
  /** A copy of [start, end), as `Uint8Array.prototype.slice`. */
  slice(start?: number, end?: number): Uint8Array;
}

/** What a write hook learns about one guest write that overlapped its range. */
export interface ConfigWriteEvent {
  /** Start of the whole guest access (config-space offset). */
  readonly offset: number;
  /** Length of the whole guest access in bytes. */
  readonly size: number;
  /** The bytes the guest wrote, before any masking (a copy; `data[i]` is for `offset + i`). */
  readonly data: Uint8Array;
  /** Image bytes [offset, offset+size) before the write (a copy). */
  readonly old: Uint8Array;
  /**
   * Image bytes [offset, offset+size) after the wmask merge and W1C clear,
   * before this hook ran (a copy). Earlier hooks' adjustments are included.
   */
  readonly new: Uint8Array;
  /** The range this hook was registered for (absolute offsets) and its name. */
  readonly target: { readonly name: string; readonly offset: number; readonly size: number };
  /**
   * Value of the `size`-byte little-endian register at `offset` as it was
   * before this guest write: bytes inside the access come from `old`, bytes
   * outside it from the current image (the write did not touch them).
   */
  oldValue(offset: number, size: 1 | 2 | 4): number;
}

/**
 * A side effect of a guest config write, run after the masked store (QEMU
 * `pci_default_write_config` runs its BAR/COMMAND/MSI updates the same way).
 * A hook may adjust the stored image with `space.deviceSetUint` /
 * `space.deviceSetBytes` (e.g. a device reproducing a kernel sample's quirky
 * BAR rule). It must not call the guest-side `write`/`writeBytes` (that is a
 * programming error and throws) and should not throw.
 */
export type WriteHook = (event: ConfigWriteEvent, space: ConfigSpace) => void;

/** A write hook bound to a config-space range; chosen by range overlap. */
export interface WriteHookOptions {
  /** For logs and error messages. */
  readonly name: string;
  /** First byte of the watched range. */
  readonly offset: number;
  /** Length of the watched range in bytes (≥ 1). */
  readonly size: number;
  readonly onWrite: WriteHook;
}
