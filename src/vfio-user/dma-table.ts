/**
 * A connection's DMA windows, kept sorted by address and never overlapping.
 *
 * A client may hold up to max_dma_maps (65535) windows; with a plain list
 * every map scans all of them for overlap and every unmap searches them, so
 * filling the table costs O(n²) and each refused request O(n). Sorted, a
 * binary search finds the insert position, and because windows never
 * overlap, a new one can only collide with its two neighbours there. Inserts
 * and removals splice the array: a memmove of at most 64k pointers, cheaper
 * than any tree's allocation (test/bench/dma.bench.ts measures it).
 *
 * Pure bookkeeping: no fds, no errors beyond the return values; the session
 * decides what a refusal means on the wire.
 */

/** A window [address, address + size); size > 0 and address + size ≤ 2^64 are the caller's to check. */
export interface DmaWindow {
  readonly address: bigint;
  readonly size: bigint;
}

export class DmaTable<W extends DmaWindow> {
  readonly #windows: W[] = [];

  get count(): number {
    return this.#windows.length;
  }

  /** The windows in address order (a copy). */
  entries(): W[] {
    return this.#windows.slice();
  }

  /** A window sharing at least one address with [address, address + size), or undefined. */
  overlapping(address: bigint, size: bigint): W | undefined {
    return this.#neighbourIn(this.#lowerBound(address), address, size);
  }

  /** Add `w` unless it overlaps a window; false (nothing added) when it does. */
  insert(w: W): boolean {
    const i = this.#lowerBound(w.address);
    if (this.#neighbourIn(i, w.address, w.size) !== undefined) return false;
    this.#windows.splice(i, 0, w);
    return true;
  }

  /** Remove and return the window that is exactly [address, address + size); undefined when there is none. */
  remove(address: bigint, size: bigint): W | undefined {
    const i = this.#lowerBound(address);
    const w = this.#windows[i];
    if (w === undefined || w.address !== address || w.size !== size) return undefined;
    this.#windows.splice(i, 1);
    return w;
  }

  /** Remove every window; returns them in address order. */
  clear(): W[] {
    return this.#windows.splice(0);
  }

  /**
   * The window at i or i - 1 that overlaps [address, address + size), where
   * i is address's lower bound. No other can: the windows before i - 1 end
   * before that one starts, below `address`; the windows after i start
   * after that one ends, so they are clear whenever it is.
   */
  #neighbourIn(i: number, address: bigint, size: bigint): W | undefined {
    const next = this.#windows[i];
    if (next !== undefined && next.address < address + size) return next;
    const prev = this.#windows[i - 1];
    if (prev !== undefined && prev.address + prev.size > address) return prev;
    return undefined;
  }

  /** Index of the first window whose address is ≥ `address` (the count when there is none). */
  #lowerBound(address: bigint): number {
    const ws = this.#windows;
    let lo = 0;
    let hi = ws.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ws[mid]!.address < address) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
