/**
 * Region access helpers shared by device models and transports: the kernel
 * samples' access splitter and checked offset/range arithmetic.
 */
import { ERRNO, type ErrnoName } from '../util/errno.ts';
import { VfioError } from '../util/errors.ts';

export type ChunkSize = 1 | 2 | 4;

/**
 * Size of the chunk the samples take at file position `pos` with `remaining`
 * bytes left (samples/vfio-mdev/mdpy.c and mbochs.c read()/write() loops):
 * 4 if at least 4 remain and pos is 4-aligned, else 2 if at least 2 remain and
 * pos is 2-aligned, else 1.
 */
export function chunkSizeAt(pos: number, remaining: number): ChunkSize {
  if (remaining >= 4 && pos % 4 === 0) return 4;
  if (remaining >= 2 && pos % 2 === 0) return 2;
  return 1;
}

/**
 * Walk [offset, offset+count) in the samples' chunks, calling
 * `fn(pos, size, bufIndex)` for each: pos is the chunk's position, bufIndex
 * its index in the caller's buffer (pos − offset). Allocation-free. `fn` may
 * return false to stop (the samples abort the whole call on the first failing
 * chunk; throwing a VfioError from `fn` does the same). Alignment is taken on
 * `offset` as given: pass the kernel file position to model the samples
 * (their region file offsets are page aligned, so region offsets give the
 * same chunks).
 * @returns the number of bytes covered by chunks for which fn did not return false.
 */
export function forEachChunk(
  offset: number,
  count: number,
  fn: (pos: number, size: ChunkSize, bufIndex: number) => boolean | void,
): number {
  let done = 0;
  while (done < count) {
    const pos = offset + done;
    const size = chunkSizeAt(pos, count - done);
    if (fn(pos, size, done) === false) return done;
    done += size;
  }
  return done;
}

/**
 * A u64 offset from the wire as a JS number, or undefined when it is not a
 * safe integer (≥ 2^53) or not a u64 at all. Every region offset mdevsim
 * serves is far below 2^53, so an unsafe one is simply out of range.
 */
export function u64ToOffset(value: bigint): number | undefined {
  if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  return Number(value);
}

/**
 * True when [offset, offset+count) lies inside [0, size), computed without
 * overflow. All three must be non-negative safe integers; anything else is
 * outside.
 */
export function inRange(offset: number, count: number, size: number): boolean {
  return (
    Number.isSafeInteger(offset) && Number.isSafeInteger(count) && Number.isSafeInteger(size) &&
    offset >= 0 && count >= 0 && offset <= size && count <= size - offset
  );
}

/**
 * Throw VfioError(errno) unless [offset, offset+count) lies inside a region of
 * `size` bytes. The samples answer out-of-range read()/write() with EFAULT;
 * libvfio-user answers REGION_READ/WRITE with EINVAL.
 * @defaultValue errno 'EINVAL'
 */
export function checkRange(offset: number, count: number, size: number, what: string, errno: ErrnoName = 'EINVAL'): void {
  if (!inRange(offset, count, size)) {
    throw new VfioError(ERRNO[errno], `${what}: access [${offset}, +${count}) outside the ${size}-byte region`);
  }
}

/**
 * A wire access (u64 offset, count) checked against a region size: the
 * offset as a number when [offset, offset+count) fits, else undefined. Never
 * overflows (offset+count is not computed in u64).
 */
export function wireRange(offset: bigint, count: number, size: number): number | undefined {
  const off = u64ToOffset(offset);
  return off !== undefined && inRange(off, count, size) ? off : undefined;
}
