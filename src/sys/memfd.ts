/**
 * Shared memory: memfds and mappings of any fd range.
 *
 * - createMemfd / resizeMemfd: a sparse anonymous file (a 64 MiB memfd costs
 *   nothing until its pages are touched).
 * - mapFd: MAP_SHARED mapping of a range of an fd you hold (e.g. one received
 *   from a vfio-user peer). The mapping keeps its own reference to the file:
 *   closing the fd afterwards does not affect it.
 * - MemfdMemory: a Memory (src/vfio/memory.ts) that owns a memfd and its
 *   read-write mapping; what the server hands to devices so that clients can
 *   mmap VRAM through the fd. It fits that interface structurally: this
 *   layer sits below the VFIO model and must not import it; the composition
 *   roots that plug it in (mgmt, trace replay) have the compiler check the fit.
 *
 * Unmapping detaches the ArrayBuffer: every view of it then has length 0, so
 * stale views read nothing instead of touching unmapped memory.
 */
import { C, native, type NativeMappingStats } from './addon.ts';
import { OwnedFd } from './fds.ts';
import { sysError } from './sys-error.ts';
import { ERRNO } from '../util/errno.ts';

export interface MemfdOptions {
  /**
   * Add F_SEAL_SHRINK | F_SEAL_GROW after sizing, so nobody holding the fd
   * (a client, say) can change the size: shrinking under a live mapping turns
   * every access past the new end into SIGBUS.
   * @defaultValue false for createMemfd, true for MemfdMemory
   */
  readonly seal?: boolean;
}

function rawFd(fd: number | OwnedFd): number {
  return typeof fd === 'number' ? fd : fd.fd;
}

function checkSize(what: string, size: number): void {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`${what}: bad size ${size}`);
}

/** memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING) sized to `size` bytes. */
export function createMemfd(name: string, size: number, options: MemfdOptions = {}): OwnedFd {
  checkSize('createMemfd', size);
  const fd = new OwnedFd(native.memfdCreate(name, C.MFD_CLOEXEC | C.MFD_ALLOW_SEALING));
  try {
    if (size > 0) native.ftruncate(fd.fd, size);
    if (options.seal === true) native.addSeals(fd.fd, C.F_SEAL_SHRINK | C.F_SEAL_GROW);
  } catch (error) {
    fd.close();
    throw error;
  }
  return fd;
}

/** ftruncate: new size of a memfd (fails with EPERM once sealed). */
export function resizeMemfd(fd: number | OwnedFd, size: number): void {
  checkSize('resizeMemfd', size);
  native.ftruncate(rawFd(fd), size);
}

/** The F_SEAL_* bits set on a memfd. */
export function memfdSeals(fd: number | OwnedFd): number {
  return native.getSeals(rawFd(fd));
}

/** A mapping made by mapFd. */
export interface FdMapping {
  /** The mapped range; length 0 once unmapped (the ArrayBuffer is detached). */
  readonly bytes: Uint8Array;
  readonly length: number;
  readonly writable: boolean;
  /** False after unmap(). */
  readonly mapped: boolean;
  /** Detach and munmap. Idempotent. */
  unmap(): void;
}

export interface MapFdOptions {
  /** PROT_WRITE as well as PROT_READ. */
  readonly writable: boolean;
  /**
   * Refuse an fd whose owner could still shrink it (no F_SEAL_SHRINK): a
   * shrink under the mapping makes later accesses raise SIGBUS.
   * @defaultValue false
   */
  readonly requireShrinkSeal?: boolean;
}

class Mapping implements FdMapping {
  readonly length: number;
  readonly writable: boolean;
  readonly #buffer: ArrayBuffer | undefined;
  readonly #bytes: Uint8Array;
  #mapped = true;

  constructor(buffer: ArrayBuffer | undefined, delta: number, length: number, writable: boolean) {
    this.#buffer = buffer;
    this.#bytes = buffer === undefined ? new Uint8Array(0) : new Uint8Array(buffer, delta, length);
    this.length = length;
    this.writable = writable;
  }

  get bytes(): Uint8Array {
    return this.#bytes;
  }

  get mapped(): boolean {
    return this.#mapped;
  }

  unmap(): void {
    if (!this.#mapped) return;
    this.#mapped = false;
    if (this.#buffer !== undefined) native.munmap(this.#buffer);
  }
}

/**
 * Map `length` bytes of `fd` from `offset` (MAP_SHARED). The fd is borrowed:
 * the caller still owns it and may close it right away. `offset` need not be
 * page aligned (the mapping starts at the page below; `bytes` starts at
 * `offset`). For regular files (memfds) the range must lie inside the file:
 * mapping past the end would make accesses there raise SIGBUS.
 *
 * Errors: SysError from fstat/mmap (EACCES for writable on a read-only fd,
 * EINVAL for a range past the end of the file or a missing shrink seal).
 */
export function mapFd(fd: number | OwnedFd, offset: number, length: number, options: MapFdOptions): FdMapping {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`mapFd: bad offset ${offset}`);
  checkSize('mapFd', length);
  if (typeof options?.writable !== 'boolean') throw new TypeError("mapFd: argument 'options.writable' must be a boolean");
  const raw = rawFd(fd);
  const stat = native.fstat(raw);
  if ((stat.mode & C.S_IFMT) === C.S_IFREG && offset + length > stat.size) {
    throw sysError(ERRNO.EINVAL, 'mmap', {
      detail: `range [${offset}, ${offset + length}) ends past the end of the file (${stat.size} bytes)`,
    });
  }
  if (options.requireShrinkSeal === true && (native.getSeals(raw) & C.F_SEAL_SHRINK) === 0) {
    throw sysError(ERRNO.EINVAL, 'mmap', { detail: 'fd is not sealed against shrinking (F_SEAL_SHRINK)' });
  }
  if (length === 0) return new Mapping(undefined, 0, 0, options.writable);
  const delta = offset % C.PAGE_SIZE;
  const buffer = native.mmap(raw, offset - delta, delta + length, options.writable);
  return new Mapping(buffer, delta, length, options.writable);
}

/** Live mappings made through this module (and not yet unmapped or collected). */
export function mappingStats(): NativeMappingStats {
  return native.mappingStats();
}

/**
 * Memory backed by a memfd that this object owns, mapped read-write here and
 * mappable by clients through `fd`. Sealed against resizing by default.
 */
export class MemfdMemory {
  readonly size: number;
  #fd: OwnedFd | undefined;
  #mapping: FdMapping | undefined;

  constructor(name: string, size: number, options: MemfdOptions = {}) {
    checkSize('MemfdMemory', size);
    this.size = size;
    const fd = createMemfd(name, size, { seal: options.seal ?? true });
    try {
      this.#mapping = mapFd(fd, 0, size, { writable: true });
    } catch (error) {
      fd.close();
      throw error;
    }
    this.#fd = fd;
  }

  /** The whole memory; length 0 after close(). */
  get bytes(): Uint8Array {
    return this.#mapping?.bytes ?? new Uint8Array(0);
  }

  /** The memfd (borrowed: do not close it; dup it to keep it); undefined after close(). */
  get fd(): number | undefined {
    return this.#fd?.fd;
  }

  /** Unmap, then close the memfd. Idempotent. */
  close(): void {
    const mapping = this.#mapping;
    const fd = this.#fd;
    this.#mapping = undefined;
    this.#fd = undefined;
    try {
      mapping?.unmap();
    } finally {
      fd?.close();
    }
  }
}

export const memfdMemoryFactory = (name: string, size: number): MemfdMemory => new MemfdMemory(name, size);
