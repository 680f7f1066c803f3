/**
 * VNC Authentication, RFB security type 2 (RFC 6143 §7.2.2): the server sends
 * a random 16-byte challenge, the client answers with the challenge
 * DES-encrypted (ECB, two blocks) under a key made from the password. Also
 * the vncpasswd file format that VNC viewers read a password from.
 *
 * The key is the password's first 8 bytes, zero-padded, with the bits of
 * every byte reversed. RFC 6143 only says "the password"; the reversal comes
 * from the original AT&T VNC d3des.c, whose bytebit[] table was reversed "so
 * that the most significant bit in each byte of the key is ignored, not the
 * least significant" (TigerVNC common/rfb/d3des.c, libvncserver
 * common/d3des.c). Every client inherited it, so a standard DES needs the
 * key's bits mirrored to give the same answers.
 *
 * A string password is encoded as UTF-8, which is what C clients send for a
 * typed or stored password in a UTF-8 locale (TigerVNC, vncsnapshot, QEMU
 * take the bytes as they are). noVNC (core/rfb.js genDES, 1.7.0) instead
 * takes the low byte of each UTF-16 code unit, so for non-ASCII passwords
 * the two kinds of client disagree; ASCII passwords work everywhere.
 *
 * This is weak authentication (56-bit DES, at most 8 characters, a sniffed
 * challenge and response can be brute-forced offline): see docs/vnc.md.
 */
import { randomFillSync, timingSafeEqual } from 'node:crypto';
import { desEncryptBlock } from './des.ts';
import type { RfbAuth } from './rfb-connection.ts';

/** Bytes in a challenge and in a response. */
export const VNC_CHALLENGE_SIZE = 16;

/** Password bytes that take part in the key; the rest are ignored. */
export const VNC_PASSWORD_MAX_BYTES = 8;

/**
 * The fixed key vncpasswd files are obfuscated with, as d3des takes it (so
 * still to be bit-reversed for a standard DES): {23,82,107,6,35,78,88,7} in
 * TigerVNC common/rfb/obfuscate.cxx and libvncserver common/vncauth.c.
 */
const VNCPASSWD_FIXED_KEY = Uint8Array.of(0x17, 0x52, 0x6b, 0x06, 0x23, 0x4e, 0x58, 0x07);

function reverseBits(byte: number): number {
  let out = 0;
  for (let i = 0; i < 8; i++) out |= ((byte >> i) & 1) << (7 - i);
  return out;
}

function passwordBytes(password: string | Uint8Array): Uint8Array {
  return typeof password === 'string' ? new TextEncoder().encode(password) : password;
}

/** The first 8 bytes of the password, zero-padded: what both the key and a vncpasswd file are made of. */
function first8(password: string | Uint8Array): Uint8Array {
  const out = new Uint8Array(VNC_PASSWORD_MAX_BYTES);
  out.set(passwordBytes(password).subarray(0, VNC_PASSWORD_MAX_BYTES));
  return out;
}

/**
 * The standard-DES key VNC authentication uses for `password`: its first 8
 * bytes (a string as UTF-8), zero-padded, each byte bit-reversed.
 */
export function vncAuthKey(password: string | Uint8Array): Uint8Array {
  return first8(password).map(reverseBits);
}

/**
 * What a client with `password` answers to `challenge`: both 8-byte halves
 * DES-encrypted under vncAuthKey(password).
 * @throws RangeError when the challenge is not 16 bytes.
 */
export function vncAuthResponse(password: string | Uint8Array, challenge: Uint8Array): Uint8Array {
  if (challenge.length !== VNC_CHALLENGE_SIZE) throw new RangeError(`a VNC challenge is ${VNC_CHALLENGE_SIZE} bytes, not ${challenge.length}`);
  const key = vncAuthKey(password);
  const response = new Uint8Array(VNC_CHALLENGE_SIZE);
  response.set(desEncryptBlock(key, challenge.subarray(0, 8)), 0);
  response.set(desEncryptBlock(key, challenge.subarray(8, 16)), 8);
  return response;
}

/**
 * Whether `response` (from the client) is the right answer to `challenge`
 * for `password`, compared in constant time; false when it is not 16 bytes.
 * @throws RangeError when the challenge is not 16 bytes.
 */
export function checkVncAuthResponse(password: string | Uint8Array, challenge: Uint8Array, response: Uint8Array): boolean {
  const expected = vncAuthResponse(password, challenge);
  if (response.length !== VNC_CHALLENGE_SIZE) return false;
  return timingSafeEqual(expected, response);
}

/** A fresh challenge from the CSPRNG (its own 16-byte buffer, not a slice of Node's pool). */
export function newVncChallenge(): Uint8Array {
  return randomFillSync(new Uint8Array(VNC_CHALLENGE_SIZE));
}

/**
 * The server side of VNC authentication with `password`, as an RFB
 * connection takes it: fresh challenges and a constant-time check. Keeps its
 * own copy of the password's first 8 bytes (all that counts), so the
 * caller's buffer may change or be zeroed afterwards.
 */
export function vncAuthenticator(password: string | Uint8Array): Extract<RfbAuth, { kind: 'vnc' }> {
  const key = first8(password);
  return {
    kind: 'vnc',
    challenge: newVncChallenge,
    verify: (challenge, response) => checkVncAuthResponse(key, challenge, response),
  };
}

/**
 * The 8 bytes of a vncpasswd file for `password` (what TigerVNC's
 * `vncpasswd` writes and `vncviewer -passwd` / `vncsnapshot -passwd` read):
 * the password's first 8 bytes, zero-padded, DES-encrypted under the fixed
 * obfuscation key. Obfuscation only: anyone who reads the file can undo it.
 */
export function vncPasswdFile(password: string | Uint8Array): Uint8Array {
  return desEncryptBlock(VNCPASSWD_FIXED_KEY.map(reverseBits), first8(password));
}
