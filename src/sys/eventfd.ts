/**
 * eventfd(2): the interrupt (and wake-up) primitive vfio-user passes around
 * with SET_IRQS. The counter is a u64, handled as bigint.
 *
 *   const efd = EventFd.create();
 *   efd.watch().on('signal', (count) => ...);   // poll-driven, optional
 *   efd.signal();                               // counter += 1
 *   efd.read();                                 // counter value and reset; 0n if 0
 */
import { EventEmitter } from 'node:events';
import { C, native, type NativeWatcher } from './addon.ts';
import { OwnedFd } from './fds.ts';
import { sysError } from './sys-error.ts';

export interface EventFdOptions {
  /** Initial counter value. @defaultValue 0 */
  readonly initial?: number;
  /** EFD_SEMAPHORE: each read returns 1 and decrements. @defaultValue false */
  readonly semaphore?: boolean;
}

export interface EventFdEvents {
  /** The counter was non-zero; `count` is what read() returned (the counter is now reset). */
  signal: [count: bigint];
}

export class EventFd extends EventEmitter<EventFdEvents> {
  #fd: OwnedFd;
  #watcher: NativeWatcher | undefined;
  #unref = false;

  private constructor(fd: OwnedFd) {
    super();
    this.#fd = fd;
  }

  /** A new non-blocking, close-on-exec eventfd owned by the result. */
  static create(options: EventFdOptions = {}): EventFd {
    const flags = C.EFD_CLOEXEC | C.EFD_NONBLOCK | (options.semaphore === true ? C.EFD_SEMAPHORE : 0);
    return new EventFd(new OwnedFd(native.eventfd(options.initial ?? 0, flags)));
  }

  /**
   * Wrap an eventfd received from elsewhere; takes ownership (an OwnedFd is
   * taken). Sets O_NONBLOCK, which is shared with every other holder of the
   * same open file (harmless for eventfd writers: adds only block on
   * counter overflow).
   */
  static adopt(fd: number | OwnedFd): EventFd {
    const owned = typeof fd === 'number' ? new OwnedFd(fd) : fd.transfer();
    try {
      native.setNonBlocking(owned.fd, true);
    } catch (error) {
      owned.close();
      throw error;
    }
    return new EventFd(owned);
  }

  /** The fd (borrowed: send it, do not close it). Throws after close(). */
  get fd(): number {
    return this.#fd.fd;
  }

  get closed(): boolean {
    return !this.#fd.owned;
  }

  /** Add `value` (default 1) to the counter. False if it would overflow (the reader is far behind). */
  signal(value: bigint | number = 1n): boolean {
    return native.eventfdWrite(this.fd, value);
  }

  /** Read and reset the counter (or take 1 in semaphore mode); 0n when it is 0. */
  read(): bigint {
    return native.eventfdRead(this.fd);
  }

  /** Emit 'signal' whenever the counter becomes non-zero (reads it). Idempotent. */
  watch(): this {
    if (this.#watcher !== undefined) return this;
    const watcher = new native.Watcher(this.fd, (status) => this.#onReadable(status));
    if (this.#unref) watcher.unref();
    watcher.start(C.UV_READABLE);
    this.#watcher = watcher;
    return this;
  }

  /** Stop emitting 'signal'. Idempotent. */
  unwatch(): this {
    this.#watcher?.close();
    this.#watcher = undefined;
    return this;
  }

  /** Keep the event loop alive while watching (default). */
  ref(): this {
    this.#unref = false;
    this.#watcher?.ref();
    return this;
  }

  unref(): this {
    this.#unref = true;
    this.#watcher?.unref();
    return this;
  }

  /** Stop watching and close the fd. Idempotent. */
  close(): void {
    this.unwatch();
    this.#fd.close();
  }

  #onReadable(status: number): void {
    if (status < 0) {
      this.unwatch();
      throw sysError(-status, 'uv_poll');
    }
    if (this.closed) return;
    const count = native.eventfdRead(this.fd);
    if (count > 0n) this.emit('signal', count);
  }
}
