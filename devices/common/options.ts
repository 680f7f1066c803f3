/**
 * Options every device model takes. A device model is deterministic: anything
 * that could vary between runs (memory backing, names) is injected here.
 */
import { heapMemoryFactory, type MemoryFactory } from '../../src/vfio/memory.ts';

/**
 * Which behaviour a device reproduces.
 * - 'none' (default): the kernel sample's behaviour with its bugs fixed; each
 *   fix is named in a comment and listed in the README and docs/devices/*.md.
 * - 'upstream': the samples' observable protocol quirks (never anything
 *   memory-unsafe or leaky): see docs/devices/*.md "Profiles".
 */
export type Quirks = 'none' | 'upstream';

export interface DeviceOptions {
  /** @defaultValue 'none' */
  readonly quirks?: Quirks;
  /** Allocates framebuffers/VRAM. @defaultValue heap memory (the server passes memfd-backed memory). */
  readonly memory?: MemoryFactory;
  /** Instance name (e.g. a UUID), used to name memory. @defaultValue the type name */
  readonly name?: string;
}

export function resolveCommon(opts: DeviceOptions, typeName: string): { quirks: Quirks; memory: MemoryFactory; name: string } {
  return { quirks: opts.quirks ?? 'none', memory: opts.memory ?? heapMemoryFactory, name: opts.name ?? typeName };
}
