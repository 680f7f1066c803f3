/** Little-endian helpers. vfio-user is host-endian; mdevsim supports little-endian hosts only. */
import { endianness } from 'node:os';

if (endianness() !== 'LE') {
  throw new Error('mdevsim supports little-endian hosts only (vfio-user is host-endian)');
}

export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Read an unsigned little-endian integer of 1, 2 or 4 bytes. */
export function readUint(bytes: Uint8Array, offset: number, size: 1 | 2 | 4): number {
  let v = 0;
  for (let i = size - 1; i >= 0; i--) v = v * 256 + (bytes[offset + i] ?? 0);
  return v;
}

/** Write an unsigned little-endian integer of 1, 2 or 4 bytes (value taken mod 2^(8·size)). */
export function writeUint(bytes: Uint8Array, offset: number, size: 1 | 2 | 4, value: number): void {
  let v = value >>> 0;
  for (let i = 0; i < size; i++) {
    bytes[offset + i] = v & 0xff;
    v >>>= 8;
  }
}

/** Bytes of an unsigned integer, little-endian. */
export function uintBytes(value: number, size: 1 | 2 | 4): Uint8Array {
  const out = new Uint8Array(size);
  writeUint(out, 0, size, value);
  return out;
}
