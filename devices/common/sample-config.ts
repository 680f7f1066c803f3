/**
 * The kernel samples' config-region bound, for the 'upstream' profile.
 *
 * mdpy.c and mbochs.c (samples/vfio-mdev/, Linux v6.12) report a config
 * region of 0xff bytes and kzalloc a 0xff-byte `vconfig`. Their read()/write()
 * loop splits an access into 4/2/1-byte chunks (./access.ts), and
 * `mdev_access()` handles a chunk whenever its *start* is below 0xff, copying
 * the whole chunk: a 4-byte read at 0xFC is answered (it reads one byte past
 * `vconfig`), a chunk that starts at 0xff or later fails and the loop answers
 * EFAULT. Writes never store past `vconfig`: `handle_pci_cfg_write()` acts
 * only on the BAR dwords, so a write near the end is accepted and changes
 * nothing.
 *
 * We answer the same accesses and return the same errors, but never touch a
 * byte past the config space: a read returns the real bytes and 0 for the
 * bytes past the end (the kernel's 0xff-byte kzalloc comes from a 256-byte
 * kmalloc object, normally zeroed whole), a write drops the bytes past the
 * end.
 */
import type { ConfigSpace } from '../../src/pci/index.ts';
import { AccessError } from '../../src/util/errors.ts';
import { kernelChunks } from './access.ts';

/**
 * How many leading bytes of an access of `count` bytes at `offset` lie
 * inside a config space of `size` bytes, when the sample answers the access;
 * undefined when it answers EFAULT (a chunk starts at or past `size`). A
 * zero-length access is answered iff offset ≤ size, as every region access
 * here. Arguments that are not non-negative safe integers are refused.
 */
export function sampleConfigSpan(offset: number, count: number, size: number): number | undefined {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(count) || offset < 0 || count < 0) return undefined;
  if (count === 0) return offset <= size ? 0 : undefined;
  // The walk stops at the first chunk at or past `size`: at most size + 1 steps whatever `count` is.
  for (const chunk of kernelChunks(offset, count)) if (chunk.offset >= size) return undefined;
  return Math.max(0, Math.min(count, size - offset));
}

/**
 * read() on the config region with the sample's bound: the bytes inside
 * config space, then zeros.
 * @throws AccessError (EFAULT) when the sample refuses the access; `dst` is then untouched.
 */
export function sampleConfigRead(config: ConfigSpace, offset: number, dst: Uint8Array): void {
  const inside = spanOrThrow(config, offset, dst.length, 'read');
  config.readBytes(offset, dst.subarray(0, inside));
  dst.fill(0, inside);
}

/**
 * write() on the config region with the sample's bound: the bytes inside
 * config space go through the normal write path, the rest are dropped.
 * @throws AccessError (EFAULT) when the sample refuses the access; nothing is written then.
 */
export function sampleConfigWrite(config: ConfigSpace, offset: number, data: Uint8Array): void {
  const inside = spanOrThrow(config, offset, data.length, 'write');
  config.writeBytes(offset, data.subarray(0, inside));
}

function spanOrThrow(config: ConfigSpace, offset: number, count: number, op: string): number {
  const inside = sampleConfigSpan(offset, count, config.size);
  if (inside === undefined) {
    throw new AccessError(`config ${op}: ${count} byte(s) at 0x${offset.toString(16)} reach a chunk that starts outside the ${config.size}-byte config space`);
  }
  return inside;
}
