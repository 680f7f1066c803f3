/**
 * How the kernel samples split one read()/write() on a region into register
 * accesses. mdpy_read/mbochs_read (samples/vfio-mdev/*.c) loop over the
 * buffer: a 4-byte access when at least 4 bytes remain and the position is
 * 4-aligned, else a 2-byte access when at least 2 remain and the position is
 * 2-aligned, else 1 byte. Every access handler sees only these chunks, so a
 * chunk never straddles a 4-aligned boundary (0x400, 0x516 excepted: 0x516 is
 * only 2-aligned, so a 4-byte chunk at 0x514 does straddle it).
 *
 * Device models use this to give a multi-byte region access the same meaning
 * as the kernel's loop, without each model re-deriving it.
 */

/** One chunk of a region access: position relative to the region, and its size. */
export interface AccessChunk {
  readonly offset: number;
  readonly size: 1 | 2 | 4;
}

/**
 * The chunks of an access of `count` bytes at `offset`, in order, as the
 * kernel's read/write loop produces them. `offset` and `count` must be
 * non-negative safe integers (the caller has range-checked the access).
 */
export function* kernelChunks(offset: number, count: number): Generator<AccessChunk> {
  let pos = offset;
  let left = count;
  while (left > 0) {
    const size: 1 | 2 | 4 = left >= 4 && pos % 4 === 0 ? 4 : left >= 2 && pos % 2 === 0 ? 2 : 1;
    yield { offset: pos, size };
    pos += size;
    left -= size;
  }
}
