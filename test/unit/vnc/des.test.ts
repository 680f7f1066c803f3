/**
 * Our DES against published known answers and, when the openssl command
 * with its legacy provider is here (Debian: openssl + libssl3, which ships
 * ossl-modules/legacy.so), against OpenSSL's des-ecb on random keys and blocks.
 */
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { DES_TABLES, desDecryptBlock, desEncryptBlock } from '../../../src/vnc/des.ts';
import { systemTool } from '../../support/system-deps.ts';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

/**
 * [key, plaintext, ciphertext]. Sources: the worked example of J. Orlin
 * Grabbe, "The DES Algorithm Illustrated" (133457799BBCDFF1); FIPS 81
 * Appendix B, ECB mode ("Now is t"); the d3des validation set (in TigerVNC
 * common/rfb/d3des.c); NBS Special Publication 500-20 (variable plaintext,
 * variable key, permutation and substitution tables).
 */
const KNOWN: readonly (readonly [string, string, string])[] = [
  ['133457799bbcdff1', '0123456789abcdef', '85e813540f0ab405'],
  ['0123456789abcdef', '4e6f772069732074', '3fa40e8a984d4815'],
  ['0123456789abcdef', '0123456789abcde7', 'c95744256a5ed31d'],
  ['0101010101010101', '8000000000000000', '95f8a5e5dd31d900'],
  ['0101010101010101', '4000000000000000', 'dd7f121ca5015619'],
  ['8001010101010101', '0000000000000000', '95a8d72813daa94d'],
  ['1046913489980131', '0000000000000000', '88d55e54f54c97b4'],
  ['7ca110454a1a6e57', '01a1d6d039776742', '690f5b0d9a26939b'],
];

describe('DES tables', () => {
  it('IP, FP, P and PC-1 are permutations, FP undoes IP, E and PC-2 pick from their inputs', () => {
    const { IP, FP, E, P, PC1, PC2, SHIFTS, S } = DES_TABLES;
    expect([...IP].sort((a, b) => a - b)).toEqual(range(64));
    expect([...FP].sort((a, b) => a - b)).toEqual(range(64));
    expect(IP.map((_, i) => IP[FP[i]! - 1])).toEqual(range(64));
    expect([...P].sort((a, b) => a - b)).toEqual(range(32));
    expect(new Set(E)).toEqual(new Set(range(32)));
    expect(E).toHaveLength(48);
    // PC-1 drops the 8 parity bits (the low bit of each byte) and keeps the other 56 once each.
    expect([...PC1].sort((a, b) => a - b)).toEqual(range(64).filter((n) => n % 8 !== 0));
    expect(new Set(PC2).size).toBe(48);
    expect(PC2.every((n) => n >= 1 && n <= 56)).toBe(true);
    // C and D are rotated by 28 in all, so after round 16 they are back where they started.
    expect(SHIFTS.reduce((a, b) => a + b, 0)).toBe(28);
  });

  it('every row of every S-box is a permutation of 0…15', () => {
    expect(DES_TABLES.S).toHaveLength(8);
    for (const box of DES_TABLES.S) {
      for (let row = 0; row < 4; row++) {
        expect([...box.slice(row * 16, row * 16 + 16)].sort((a, b) => a - b)).toEqual(range(16).map((n) => n - 1));
      }
    }
  });
});

describe('desEncryptBlock / desDecryptBlock', () => {
  it.each(KNOWN)('key %s encrypts %s to %s, and decrypts it back', (key, plain, cipher) => {
    expect(toHex(desEncryptBlock(hex(key), hex(plain)))).toBe(cipher);
    expect(toHex(desDecryptBlock(hex(key), hex(cipher)))).toBe(plain);
  });

  it('passes Rivest\'s 16-step test (x₀ = 9474B8E8C73BCA7D, xᵢ₊₁ = E or D of xᵢ under key xᵢ, alternately)', () => {
    // R. L. Rivest, "Testing implementations of DES" (1985): a wrong table entry almost surely changes x₁₆.
    let x = hex('9474b8e8c73bca7d');
    for (let i = 0; i < 16; i++) x = i % 2 === 0 ? desEncryptBlock(x, x) : desDecryptBlock(x, x);
    expect(toHex(x)).toBe('1b1a2ddb4c642438');
  });

  it('ignores the low (parity) bit of every key byte', () => {
    expect(toHex(desEncryptBlock(hex('133457799bbcdff1'), hex('0123456789abcdef'))))
      .toBe(toHex(desEncryptBlock(hex('123556789abddef0'), hex('0123456789abcdef'))));
  });

  it('does not modify its inputs', () => {
    const key = hex('133457799bbcdff1');
    const block = hex('0123456789abcdef');
    desEncryptBlock(key, block);
    desDecryptBlock(key, block);
    expect(toHex(key)).toBe('133457799bbcdff1');
    expect(toHex(block)).toBe('0123456789abcdef');
  });

  it('throws RangeError for a key or block that is not 8 bytes', () => {
    expect(() => desEncryptBlock(new Uint8Array(7), new Uint8Array(8))).toThrow(new RangeError('a DES key is 8 bytes, not 7'));
    expect(() => desEncryptBlock(new Uint8Array(8), new Uint8Array(16))).toThrow(new RangeError('a DES block is 8 bytes, not 16'));
    expect(() => desDecryptBlock(new Uint8Array(9), new Uint8Array(8))).toThrow(RangeError);
  });

  it('decrypting what it encrypted gives the block back, for any key and block', () => {
    fc.assert(fc.property(
      fc.uint8Array({ minLength: 8, maxLength: 8 }),
      fc.uint8Array({ minLength: 8, maxLength: 8 }),
      (key, block) => {
        expect(toHex(desDecryptBlock(key, desEncryptBlock(key, block)))).toBe(toHex(block));
      },
    ), { seed: 6143, numRuns: 200 });
  });
});

/** Whether `openssl enc -des-ecb` can run here: the command exists (else skip/fail per systemTool) and loads its legacy provider. */
function opensslDes(): boolean {
  if (!systemTool('openssl', ['version'], 'the DES-against-OpenSSL property test')) return false;
  const r = spawnSync('openssl', ['list', '-providers', '-provider', 'legacy'], { stdio: 'ignore' });
  if (r.status === 0) return true;
  const line = 'the DES-against-OpenSSL property test skipped: openssl cannot load its legacy provider (Debian ships it in libssl3).';
  if (process.env['CI'] === 'true') throw new Error(`CI=true and ${line}`);
  console.warn(line);
  return false;
}
const haveOpensslDes = opensslDes();

describe.skipIf(!haveOpensslDes)('desEncryptBlock against openssl des-ecb', () => {
  it('for any key, every block encrypts to what OpenSSL\'s DES-ECB gives', () => {
    fc.assert(fc.property(
      fc.uint8Array({ minLength: 8, maxLength: 8 }),
      fc.array(fc.uint8Array({ minLength: 8, maxLength: 8 }), { minLength: 1, maxLength: 16 }),
      (key, blocks) => {
        // One openssl run per key: in ECB without padding each 8-byte block is encrypted on its own.
        const r = spawnSync('openssl', ['enc', '-des-ecb', '-provider', 'legacy', '-provider', 'default', '-nopad', '-K', toHex(key)], {
          input: Buffer.concat(blocks),
        });
        expect(r.status, r.stderr?.toString()).toBe(0);
        expect(toHex(Buffer.concat(blocks.map((b) => desEncryptBlock(key, b))))).toBe(r.stdout.toString('hex'));
      },
    ), { seed: 81, numRuns: 60 });
  });
});
