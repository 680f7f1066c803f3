/**
 * DES (FIPS 46-3) on one 8-byte block, for VNC authentication (RFC 6143
 * §7.2.2) and the vncpasswd file format, which need nothing else. Node's
 * OpenSSL 3 no longer offers des-ecb without its legacy provider, so this is
 * our own: written bit by bit straight from the standard's tables, because it
 * runs once per connection and being obviously right matters more than speed.
 *
 * Bits are numbered as in FIPS 46-3: bit 1 is the most significant bit of the
 * first byte, bit 64 the least significant bit of the last. Every table below
 * lists, for each output bit in order, the number of the input bit it takes.
 * The key's bits 8, 16, …, 64 (the low bit of each byte, parity in the
 * standard) are ignored, as PC-1 drops them.
 */

/** Initial permutation IP. */
const IP: readonly number[] = [
  58, 50, 42, 34, 26, 18, 10, 2,
  60, 52, 44, 36, 28, 20, 12, 4,
  62, 54, 46, 38, 30, 22, 14, 6,
  64, 56, 48, 40, 32, 24, 16, 8,
  57, 49, 41, 33, 25, 17, 9, 1,
  59, 51, 43, 35, 27, 19, 11, 3,
  61, 53, 45, 37, 29, 21, 13, 5,
  63, 55, 47, 39, 31, 23, 15, 7,
];

/** Final permutation IP⁻¹. */
const FP: readonly number[] = [
  40, 8, 48, 16, 56, 24, 64, 32,
  39, 7, 47, 15, 55, 23, 63, 31,
  38, 6, 46, 14, 54, 22, 62, 30,
  37, 5, 45, 13, 53, 21, 61, 29,
  36, 4, 44, 12, 52, 20, 60, 28,
  35, 3, 43, 11, 51, 19, 59, 27,
  34, 2, 42, 10, 50, 18, 58, 26,
  33, 1, 41, 9, 49, 17, 57, 25,
];

/** Expansion E: the 32-bit half block to 48 bits. */
const E: readonly number[] = [
  32, 1, 2, 3, 4, 5,
  4, 5, 6, 7, 8, 9,
  8, 9, 10, 11, 12, 13,
  12, 13, 14, 15, 16, 17,
  16, 17, 18, 19, 20, 21,
  20, 21, 22, 23, 24, 25,
  24, 25, 26, 27, 28, 29,
  28, 29, 30, 31, 32, 1,
];

/** Permutation P of the S-boxes' 32 output bits. */
const P: readonly number[] = [
  16, 7, 20, 21,
  29, 12, 28, 17,
  1, 15, 23, 26,
  5, 18, 31, 10,
  2, 8, 24, 14,
  32, 27, 3, 9,
  19, 13, 30, 6,
  22, 11, 4, 25,
];

/** Permuted choice 1: the key's 56 non-parity bits, as C (first 28) then D. */
const PC1: readonly number[] = [
  57, 49, 41, 33, 25, 17, 9,
  1, 58, 50, 42, 34, 26, 18,
  10, 2, 59, 51, 43, 35, 27,
  19, 11, 3, 60, 52, 44, 36,
  63, 55, 47, 39, 31, 23, 15,
  7, 62, 54, 46, 38, 30, 22,
  14, 6, 61, 53, 45, 37, 29,
  21, 13, 5, 28, 20, 12, 4,
];

/** Permuted choice 2: a round's 48-bit subkey from C‖D (56 bits). */
const PC2: readonly number[] = [
  14, 17, 11, 24, 1, 5,
  3, 28, 15, 6, 21, 10,
  23, 19, 12, 4, 26, 8,
  16, 7, 27, 20, 13, 2,
  41, 52, 31, 37, 47, 55,
  30, 40, 51, 45, 33, 48,
  44, 49, 39, 56, 34, 53,
  46, 42, 50, 36, 29, 32,
];

/** Left rotations of C and D before each of the 16 rounds. */
const SHIFTS: readonly number[] = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1];

/**
 * S-boxes S1…S8, each 4 rows of 16. For a box's 6 input bits b1…b6 the row
 * is b1b6 and the column b2b3b4b5 (both read as binary numbers).
 */
const S: readonly (readonly number[])[] = [
  [
    14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7,
    0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11, 9, 5, 3, 8,
    4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0,
    15, 12, 8, 2, 4, 9, 1, 7, 5, 11, 3, 14, 10, 0, 6, 13,
  ],
  [
    15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10,
    3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10, 6, 9, 11, 5,
    0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15,
    13, 8, 10, 1, 3, 15, 4, 2, 11, 6, 7, 12, 0, 5, 14, 9,
  ],
  [
    10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8,
    13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14, 12, 11, 15, 1,
    13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7,
    1, 10, 13, 0, 6, 9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12,
  ],
  [
    7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15,
    13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12, 1, 10, 14, 9,
    10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4,
    3, 15, 0, 6, 10, 1, 13, 8, 9, 4, 5, 11, 12, 7, 2, 14,
  ],
  [
    2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9,
    14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10, 3, 9, 8, 6,
    4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14,
    11, 8, 12, 7, 1, 14, 2, 13, 6, 15, 0, 9, 10, 4, 5, 3,
  ],
  [
    12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11,
    10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14, 0, 11, 3, 8,
    9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6,
    4, 3, 2, 12, 9, 5, 15, 10, 11, 14, 1, 7, 6, 0, 8, 13,
  ],
  [
    4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1,
    13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12, 2, 15, 8, 6,
    1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2,
    6, 11, 13, 8, 1, 4, 10, 7, 9, 5, 0, 15, 14, 2, 3, 12,
  ],
  [
    13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7,
    1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11, 0, 14, 9, 2,
    7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8,
    2, 1, 14, 7, 4, 10, 8, 13, 15, 12, 9, 0, 3, 5, 6, 11,
  ],
];

/** The tables, for tests that check their shape (each a permutation, IP·FP = identity). */
export const DES_TABLES = { IP, FP, E, P, PC1, PC2, SHIFTS, S } as const;

/** A bit string: one array element (0 or 1) per bit, bit 1 first. */
type Bits = readonly number[];

function toBits(bytes: Uint8Array): number[] {
  const bits: number[] = [];
  for (const byte of bytes) for (let i = 7; i >= 0; i--) bits.push((byte >> i) & 1);
  return bits;
}

function toBytes(bits: Bits): Uint8Array {
  const out = new Uint8Array(bits.length / 8);
  bits.forEach((bit, i) => { out[i >> 3]! |= bit << (7 - (i & 7)); });
  return out;
}

function permute(bits: Bits, table: readonly number[]): number[] {
  return table.map((n) => bits[n - 1]!);
}

function xor(a: Bits, b: Bits): number[] {
  return a.map((bit, i) => bit ^ b[i]!);
}

function rotateLeft(bits: Bits, n: number): number[] {
  return [...bits.slice(n), ...bits.slice(0, n)];
}

/** The 16 round subkeys K1…K16 (48 bits each). */
function subkeys(key: Uint8Array): number[][] {
  const cd = permute(toBits(key), PC1);
  let c = cd.slice(0, 28);
  let d = cd.slice(28);
  return SHIFTS.map((shift) => {
    c = rotateLeft(c, shift);
    d = rotateLeft(d, shift);
    return permute([...c, ...d], PC2);
  });
}

/** The cipher function f(R, K): expand, mix in the subkey, substitute, permute. */
function f(right: Bits, subkey: Bits): number[] {
  const mixed = xor(permute(right, E), subkey);
  const out: number[] = [];
  for (let box = 0; box < 8; box++) {
    const [b1, b2, b3, b4, b5, b6] = mixed.slice(box * 6, box * 6 + 6) as [number, number, number, number, number, number];
    const row = (b1 << 1) | b6;
    const column = (b2 << 3) | (b3 << 2) | (b4 << 1) | b5;
    const value = S[box]![row * 16 + column]!;
    out.push((value >> 3) & 1, (value >> 2) & 1, (value >> 1) & 1, value & 1);
  }
  return permute(out, P);
}

function checkLengths(key: Uint8Array, block: Uint8Array): void {
  if (key.length !== 8) throw new RangeError(`a DES key is 8 bytes, not ${key.length}`);
  if (block.length !== 8) throw new RangeError(`a DES block is 8 bytes, not ${block.length}`);
}

/** 16 rounds with the subkeys in the given order; the last round's halves are not swapped (R16‖L16). */
function crypt(keys: readonly Bits[], block: Uint8Array): Uint8Array {
  const permuted = permute(toBits(block), IP);
  let left: Bits = permuted.slice(0, 32);
  let right: Bits = permuted.slice(32);
  for (const k of keys) [left, right] = [right, xor(left, f(right, k))];
  return toBytes(permute([...right, ...left], FP));
}

/**
 * DES-encrypt one 8-byte block with an 8-byte key (standard bit order: the
 * low bit of each key byte is the ignored parity bit).
 * @throws RangeError when key or block is not 8 bytes.
 */
export function desEncryptBlock(key: Uint8Array, block: Uint8Array): Uint8Array {
  checkLengths(key, block);
  return crypt(subkeys(key), block);
}

/**
 * DES-decrypt one 8-byte block: the same rounds with the subkeys in reverse.
 * @throws RangeError when key or block is not 8 bytes.
 */
export function desDecryptBlock(key: Uint8Array, block: Uint8Array): Uint8Array {
  checkLengths(key, block);
  return crypt(subkeys(key).reverse(), block);
}
