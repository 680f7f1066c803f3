/**
 * Owned file descriptors. Every fd that reaches TypeScript from the kernel
 * (received over a socket, accepted, created) is wrapped in an OwnedFd at
 * once, and ownership is explicit from then on:
 *
 * - `take()` hands the raw number over to the caller, who must close it (or
 *   hand it on); the OwnedFd is then empty.
 * - `close()` releases it; idempotent.
 * - `fd` only borrows the number (valid while this object still owns it).
 *
 * Rule: whoever keeps an fd takes it; everything not
 * taken is closed on every path (success, error, disconnect). As a last
 * resort an OwnedFd that becomes garbage while still owning its fd is closed
 * by a FinalizationRegistry and reported on stderr as a leak; do not rely on
 * it, it only runs after a GC.
 */
import { logger } from '../util/log.ts';
import { C, native } from './addon.ts';

const log = logger('native');

const gcCloser = new FinalizationRegistry<number>((fd) => {
  log.warn(`fd ${fd} was neither taken nor closed before its OwnedFd was collected; closing it`);
  try {
    native.close(fd);
  } catch {
    // Nothing useful left to do: the warning above already names the bug.
  }
});

function checkFd(fd: number): void {
  if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fff_ffff) {
    throw new RangeError(`OwnedFd: not a file descriptor: ${fd}`);
  }
}

export class OwnedFd {
  #fd: number;

  /** Adopt `fd`: from now on this object is responsible for closing it. */
  constructor(fd: number) {
    checkFd(fd);
    this.#fd = fd;
    gcCloser.register(this, fd, this);
  }

  /** True while this object still owns an fd (not taken, not closed). */
  get owned(): boolean {
    return this.#fd >= 0;
  }

  /** Borrow the fd number; throws once taken or closed. Do not close it or keep it. */
  get fd(): number {
    if (this.#fd < 0) throw new Error('OwnedFd: fd already taken or closed');
    return this.#fd;
  }

  /** Transfer ownership of the raw fd to the caller. Throws if already taken or closed. */
  take(): number {
    const fd = this.fd;
    this.#fd = -1;
    gcCloser.unregister(this);
    return fd;
  }

  /** Move ownership into a new OwnedFd (this one becomes empty). */
  transfer(): OwnedFd {
    return new OwnedFd(this.take());
  }

  /** Close the fd if still owned. Idempotent. */
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    gcCloser.unregister(this);
    native.close(fd);
  }

  toString(): string {
    return this.#fd >= 0 ? `OwnedFd(${this.#fd})` : 'OwnedFd(released)';
  }
}

/**
 * An ordered group of owned fds, e.g. the fds that arrived with one message.
 * Slots keep their index when taken, so protocol code can say "fd 0 is the
 * DMA region, fd 1 the eventfd".
 */
export class FdSet implements Iterable<OwnedFd> {
  readonly #fds: OwnedFd[];

  constructor(fds: readonly OwnedFd[] = []) {
    this.#fds = [...fds];
  }

  /** Adopt raw fds (closing all of them if one is invalid). */
  static adopt(fds: Iterable<number>): FdSet {
    const owned: OwnedFd[] = [];
    try {
      for (const fd of fds) owned.push(new OwnedFd(fd));
    } catch (error) {
      closeAll(owned);
      throw error;
    }
    return new FdSet(owned);
  }

  /** Number of slots (taken or closed ones included). */
  get length(): number {
    return this.#fds.length;
  }

  /** Number of fds still owned. */
  get ownedCount(): number {
    let n = 0;
    for (const fd of this.#fds) if (fd.owned) n++;
    return n;
  }

  at(index: number): OwnedFd | undefined {
    return this.#fds[index];
  }

  /** Take the raw fd in slot `index`; throws if there is none or it was already taken/closed. */
  take(index: number): number {
    const fd = this.#fds[index];
    if (fd === undefined) throw new RangeError(`FdSet: no fd at index ${index} (have ${this.#fds.length})`);
    return fd.take();
  }

  /** Move every still-owned fd into a new set; this one keeps only empty slots. */
  transfer(): FdSet {
    return new FdSet(this.#fds.filter((fd) => fd.owned).map((fd) => fd.transfer()));
  }

  /** Close every fd still owned. Idempotent. */
  closeAll(): void {
    closeAll(this.#fds);
  }

  [Symbol.iterator](): Iterator<OwnedFd> {
    return this.#fds[Symbol.iterator]();
  }
}

type Closable = OwnedFd | FdSet | null | undefined;

/**
 * Close everything given, still owned fds only. Every fd is attempted even if
 * one close fails; failures are rethrown afterwards (one error as is, several
 * as an AggregateError).
 */
export function closeAll(...groups: (Closable | Iterable<Closable>)[]): void {
  const errors: unknown[] = [];
  const visit = (item: Closable | Iterable<Closable>): void => {
    if (item === null || item === undefined) return;
    if (item instanceof OwnedFd) {
      try {
        item.close();
      } catch (error) {
        errors.push(error);
      }
      return;
    }
    for (const inner of item) visit(inner);
  };
  for (const group of groups) visit(group);
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, `closeAll: ${errors.length} closes failed`);
}

/** close(2) a raw fd you own. */
export function closeFd(fd: number): void {
  native.close(fd);
}

/** A close-on-exec duplicate of `fd` (borrowed), owned by the result. */
export function dupFd(fd: number): OwnedFd {
  return new OwnedFd(native.dupCloexec(fd));
}

/** What fstat says of an fd: a regular file (memfd, tmpfs, hugetlbfs) with its size, or anything else. */
export interface FdInspection {
  readonly kind: 'file' | 'other';
  readonly size: bigint;
}

/** fstat of `fd` (borrowed) as an FdInspection; undefined when fstat fails (not an open fd). */
export function inspectFd(fd: number): FdInspection | undefined {
  try {
    const st = native.fstat(fd);
    return { kind: (st.mode & C.S_IFMT) === C.S_IFREG ? 'file' : 'other', size: BigInt(st.size) };
  } catch {
    return undefined;
  }
}

/**
 * What an fd refers to, for logs and traces: a regular file (memfd) and its
 * size, or something else. Never throws: a bad fd is 'other'.
 */
export function describeFd(fd: number): { kind: 'memfd' | 'other'; size?: number } {
  const st = inspectFd(fd);
  return st?.kind === 'file' ? { kind: 'memfd', size: Number(st.size) } : { kind: 'other' };
}
