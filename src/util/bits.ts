/** Integer helpers. u64 quantities are bigint; everything here is exact (no wrap). */

export const U32_MAX = 0xffff_ffff;
export const U64_MAX = (1n << 64n) - 1n;

export function isPowerOfTwo(n: number | bigint): boolean {
  if (typeof n === 'bigint') return n > 0n && (n & (n - 1n)) === 0n;
  return Number.isSafeInteger(n) && n > 0 && 2 ** Math.round(Math.log2(n)) === n;
}

/** Least power of two ≥ n (n ≥ 1, result must stay a safe integer). */
export function nextPowerOfTwo(n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`nextPowerOfTwo: bad input ${n}`);
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export function alignUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}

export function isAligned(n: number, align: number): boolean {
  return n % align === 0;
}

/** a + b over u64, or undefined when the sum does not fit in 64 bits. */
export function checkedAddU64(a: bigint, b: bigint): bigint | undefined {
  const sum = a + b;
  return sum > U64_MAX ? undefined : sum;
}

/**
 * True when [offset, offset+count) lies inside [0, size). Exact for any
 * non-negative inputs: numbers must be safe integers, and the sum is computed
 * without wrap (JS numbers are exact up to 2^53; larger offsets are refused).
 */
export function rangeInside(offset: number, count: number, size: number): boolean {
  return (
    Number.isSafeInteger(offset) && Number.isSafeInteger(count) &&
    offset >= 0 && count >= 0 && offset <= size && count <= size - offset
  );
}
