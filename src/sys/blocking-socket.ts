/**
 * A blocking AF_UNIX stream client: send() and receive() block the calling
 * thread, as a vCPU blocks on an MMIO exit while QEMU waits for the device.
 * For synchronous callers (guest-driver models, deterministic unit tests of
 * other projects); the peer must run in another thread or process.
 */
import { constants as osConstants } from 'node:os';
import { C, native } from './addon.ts';
import { OwnedFd, closeFd } from './fds.ts';
import { sysError } from './sys-error.ts';

const E = osConstants.errno;
const SLEEPER = new Int32Array(new SharedArrayBuffer(4));

export class BlockingSocket {
  #fd: OwnedFd;
  readonly #buffer: ArrayBuffer;
  readonly #fdsOut: Int32Array;
  readonly #status = new Int32Array(C.RECV_STATUS_LEN);

  private constructor(fd: OwnedFd, readBufferSize: number, maxFds: number) {
    this.#fd = fd;
    this.#buffer = new ArrayBuffer(readBufferSize);
    this.#fdsOut = new Int32Array(maxFds);
  }

  /** Connect to `path`. */
  static connect(path: string, opts: { readBufferSize?: number; maxFds?: number } = {}): BlockingSocket {
    const fd = new OwnedFd(native.socket());
    try {
      const rc = native.connect(fd.fd, path);
      if (rc !== 0) throw sysError(E.EAGAIN, 'connect', { path, detail: 'listener backlog full' });
      return new BlockingSocket(fd.transfer(), opts.readBufferSize ?? 1 << 20, opts.maxFds ?? 16);
    } finally {
      fd.close();
    }
  }

  /** Send all of `data` (fds ride with the first byte). */
  send(data: Uint8Array, fds: readonly number[] = []): void {
    let sent = 0;
    for (let wait = 0.01; sent < data.length; ) {
      const n = native.sendmsg(this.#fd.fd, sent === 0 ? data : data.subarray(sent), sent === 0 && fds.length > 0 ? fds : null);
      if (n < 0) {
        Atomics.wait(SLEEPER, 0, 0, wait); // socket buffer full: the peer is still reading
        wait = Math.min(wait * 2, 1);
        continue;
      }
      sent += n;
    }
  }

  /**
   * Block until some bytes arrive; returns a copy and the fds (owned by the
   * caller). EOF → ECONNRESET. The addon's recvmsg never blocks (it drains
   * with MSG_DONTWAIT), so an empty socket is waited on with Atomics.wait in
   * growing steps (10 µs … 1 ms): cheap for a test-driving client, and no
   * event loop is needed.
   */
  receive(): { bytes: Uint8Array; fds: number[] } {
    const status = this.#status;
    let n = 0;
    for (let wait = 0.01; ; wait = Math.min(wait * 2, 1)) {
      status.fill(0);
      n = native.recvmsg(this.#fd.fd, this.#buffer, 0, this.#fdsOut.length, this.#fdsOut, status);
      const flags = status[C.RECV_FLAGS] ?? 0;
      const errno = status[C.RECV_ERRNO] ?? 0;
      if (n > 0 || (status[C.RECV_NFDS] ?? 0) > 0 || (flags & C.RECV_FLAG_EOF) !== 0) break;
      if (errno !== 0 && errno !== E.EAGAIN && errno !== E.EINTR) break;
      Atomics.wait(SLEEPER, 0, 0, wait);
    }
    const nfds = status[C.RECV_NFDS] ?? 0;
    const fds = Array.from(this.#fdsOut.subarray(0, nfds));
    const errno = status[C.RECV_ERRNO] ?? 0;
    const flags = status[C.RECV_FLAGS] ?? 0;
    if (flags & C.RECV_FLAG_CTRUNC) {
      for (const fd of fds) closeFd(fd);
      throw sysError(E.EPROTO, 'recvmsg', { detail: 'fds truncated (MSG_CTRUNC)' });
    }
    if (n === 0) {
      for (const fd of fds) closeFd(fd);
      if (errno !== 0) throw sysError(errno, 'recvmsg');
      throw sysError(E.ECONNRESET, 'recvmsg', { detail: 'peer closed the connection' });
    }
    return { bytes: new Uint8Array(this.#buffer.slice(0, n)), fds };
  }

  close(): void {
    this.#fd.close();
  }
}
