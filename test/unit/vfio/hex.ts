/** Bytes from a hand-written hex dump ("30 00 00 00  0b 00 …"); whitespace and | are ignored. */
export function hex(dump: string): Uint8Array {
  const digits = dump.replace(/[\s|]/g, '');
  if (digits.length % 2 !== 0 || /[^0-9a-fA-F]/.test(digits)) throw new Error(`bad hex dump: ${dump}`);
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Hex dump of bytes, 8 per group, for readable assertion diffs. */
export function dump(bytes: Uint8Array): string {
  const parts: string[] = [];
  for (let i = 0; i < bytes.length; i += 8) {
    parts.push([...bytes.subarray(i, i + 8)].map((b) => b.toString(16).padStart(2, '0')).join(' '));
  }
  return parts.join(' | ');
}
