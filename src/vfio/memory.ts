/**
 * Guest-visible memory (framebuffers, VRAM) behind one small interface, so a
 * device model does not care whether its bytes live in this process's heap or
 * in a memfd that a vfio-user client maps.
 *
 * It lives in the VFIO layer, not beside the native facade, because device
 * models depend on it and may not reach into src/sys; src/sys/memfd.ts
 * provides the memfd-backed implementation the server plugs in.
 */
export interface Memory {
  /** Size in bytes; fixed for the memory's lifetime. */
  readonly size: number;
  /** Byte view of the whole memory. Invalid (detached) after close(). */
  readonly bytes: Uint8Array;
  /**
   * File descriptor backing the memory (a memfd), when there is one: the
   * transport passes it to clients for mmap. Heap memory has none.
   */
  readonly fd: number | undefined;
  /** Release the memory. Idempotent. */
  close(): void;
}

/**
 * Memory in this process's heap. Large ArrayBuffers are zero-filled by the
 * allocator with fresh pages, so untouched VRAM costs no resident memory.
 */
export class HeapMemory implements Memory {
  readonly size: number;
  readonly fd = undefined;
  #bytes: Uint8Array;
  constructor(size: number) {
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`HeapMemory: bad size ${size}`);
    this.size = size;
    this.#bytes = new Uint8Array(size);
  }
  get bytes(): Uint8Array {
    return this.#bytes;
  }
  close(): void {
    this.#bytes = new Uint8Array(0);
  }
}

/** Creates the memory a device model uses; injected so the server can hand out memfd-backed memory. */
export type MemoryFactory = (name: string, size: number) => Memory;

export const heapMemoryFactory: MemoryFactory = (_name, size) => new HeapMemory(size);
