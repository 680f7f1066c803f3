/**
 * VNC Authentication's key, response and check, and the vncpasswd file
 * format, against known answers from other implementations. That real
 * clients agree is test/integration/vnc/vncsnapshot-auth.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { desDecryptBlock, desEncryptBlock } from '../../../src/vnc/des.ts';
import {
  VNC_CHALLENGE_SIZE,
  checkVncAuthResponse,
  newVncChallenge,
  vncAuthKey,
  vncAuthResponse,
  vncAuthenticator,
  vncPasswdFile,
} from '../../../src/vnc/vnc-auth.ts';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const ascii = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'latin1'));

describe('vncAuthKey', () => {
  it('reverses the bits of each byte: QEMU\'s des-rfb key 0123456789abcdef is DES key 80c4a2e691d5b3f7', () => {
    // QEMU tests/unit/test-crypto-cipher.c had cipher "des-rfb" encrypt "password" to 73fa80b66134e403 under key
    // 0123456789abcdef; when QEMU moved the bit reversal into its VNC server, the test became plain "des" with
    // key 80c4a2e691d5b3f7 and the same ciphertext.
    expect(toHex(vncAuthKey(hex('0123456789abcdef')))).toBe('80c4a2e691d5b3f7');
    expect(toHex(desEncryptBlock(vncAuthKey(hex('0123456789abcdef')), ascii('password')))).toBe('73fa80b66134e403');
  });

  it('pads a short password with zero bytes and uses only the first 8 bytes of a long one', () => {
    expect(toHex(vncAuthKey('ab'))).toBe('8646000000000000');
    expect(toHex(vncAuthKey(''))).toBe('0000000000000000');
    expect(toHex(vncAuthKey('password-and-more'))).toBe(toHex(vncAuthKey('password')));
  });

  it('takes a string as UTF-8 and bytes as they are', () => {
    // é is c3 a9 in UTF-8; reversed, c3 stays c3 and a9 (10101001) becomes 95 (10010101).
    expect(toHex(vncAuthKey('é'))).toBe('c395000000000000');
    expect(toHex(vncAuthKey(hex('c3a9')))).toBe('c395000000000000');
    expect(toHex(vncAuthKey(ascii('secret')))).toBe(toHex(vncAuthKey('secret')));
  });
});

describe('vncAuthResponse', () => {
  it('is the two 8-byte halves of the challenge DES-encrypted on their own (ECB) under the VNC key', () => {
    fc.assert(fc.property(
      fc.uint8Array({ maxLength: 12 }),
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
      (password, challenge) => {
        const key = vncAuthKey(password);
        const halves = Buffer.concat([desEncryptBlock(key, challenge.subarray(0, 8)), desEncryptBlock(key, challenge.subarray(8))]);
        expect(toHex(vncAuthResponse(password, challenge))).toBe(halves.toString('hex'));
      },
    ), { seed: 7, numRuns: 100 });
  });

  it('throws RangeError for a challenge that is not 16 bytes', () => {
    expect(() => vncAuthResponse('secret', new Uint8Array(15))).toThrow(new RangeError('a VNC challenge is 16 bytes, not 15'));
  });
});

describe('checkVncAuthResponse', () => {
  const challenge = hex('000102030405060708090a0b0c0d0e0f');

  it('accepts the response of the right password and refuses that of a wrong one', () => {
    const response = vncAuthResponse('s3cret', challenge);
    expect(checkVncAuthResponse('s3cret', challenge, response)).toBe(true);
    expect(checkVncAuthResponse('s3creT', challenge, response)).toBe(false);
    expect(checkVncAuthResponse('s3cret', hex('ff0102030405060708090a0b0c0d0e0f'), response)).toBe(false);
  });

  it('accepts any password that shares the first 8 bytes (the protocol ignores the rest)', () => {
    expect(checkVncAuthResponse('password', challenge, vncAuthResponse('password123', challenge))).toBe(true);
  });

  it('answers false for a response that is not 16 bytes', () => {
    const response = vncAuthResponse('s3cret', challenge);
    expect(checkVncAuthResponse('s3cret', challenge, response.subarray(0, 15))).toBe(false);
    expect(checkVncAuthResponse('s3cret', challenge, new Uint8Array(17))).toBe(false);
    expect(checkVncAuthResponse('s3cret', challenge, new Uint8Array(0))).toBe(false);
  });
});

describe('newVncChallenge', () => {
  it('is 16 bytes in a buffer of its own, different every time', () => {
    const a = newVncChallenge();
    const b = newVncChallenge();
    expect(a).toHaveLength(VNC_CHALLENGE_SIZE);
    expect(a.buffer.byteLength).toBe(VNC_CHALLENGE_SIZE);
    expect(toHex(a)).not.toBe(toHex(b)); // equal with probability 2⁻¹²⁸
  });
});

describe('vncAuthenticator', () => {
  it('hands out fresh 16-byte challenges and accepts only the right password\'s response to one', () => {
    const auth = vncAuthenticator('s3cret');
    expect(auth.kind).toBe('vnc');
    const challenge = auth.challenge();
    expect(challenge).toHaveLength(VNC_CHALLENGE_SIZE);
    expect(toHex(auth.challenge())).not.toBe(toHex(challenge));
    expect(auth.verify(challenge, vncAuthResponse('s3cret', challenge))).toBe(true);
    expect(auth.verify(challenge, vncAuthResponse('s3creT', challenge))).toBe(false);
  });

  it('keeps its own copy of the password: zeroing the caller\'s buffer afterwards changes nothing', () => {
    const password = ascii('s3cret');
    const auth = vncAuthenticator(password);
    password.fill(0);
    const challenge = auth.challenge();
    expect(auth.verify(challenge, vncAuthResponse('s3cret', challenge))).toBe(true);
  });
});

describe('vncPasswdFile', () => {
  /** The obfuscation key as a standard DES takes it: {23,82,107,6,35,78,88,7} bit-reversed. */
  const FIXED_DES_KEY = hex('e84ad660c4721ae0');

  it('writes "password" as dbd83cfd727a1458, the bytes vncpasswd writes for it', () => {
    expect(toHex(vncPasswdFile('password'))).toBe('dbd83cfd727a1458');
  });

  it('is what a viewer decodes back to the password\'s first 8 bytes, zero-padded', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 12 }), (password) => {
      const padded = new Uint8Array(8);
      padded.set(password.subarray(0, 8));
      expect(toHex(desDecryptBlock(FIXED_DES_KEY, vncPasswdFile(password)))).toBe(toHex(padded));
    }), { seed: 1999, numRuns: 100 });
  });
});
