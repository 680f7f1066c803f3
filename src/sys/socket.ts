/**
 * AF_UNIX stream sockets with fd passing (SCM_RIGHTS), driven by libuv
 * readiness (uv_poll_t): the loop sleeps in epoll, nothing busy-polls, nothing
 * blocks.
 *
 * Receiving: each readable wake costs one native crossing, which has already
 * drained the socket (recvmsg in a loop until EAGAIN, a short read, a batch of
 * fds, EOF, an error or a full buffer) into this socket's reusable receive
 * buffer. 'data' hands out a *view* of that buffer:
 *
 *   socket.on('data', (bytes, ancillary) => { ... })
 *
 * - `bytes` is valid only until the listener returns; copy (`bytes.slice()`)
 *   whatever must outlive it. The stream carries no message boundaries: a
 *   message may arrive split over several 'data' events, or several messages
 *   in one. Reassembly is the consumer's job (the vfio-user framer).
 * - `ancillary.fds` belong to the listener: take() (or transfer()) the ones to
 *   keep, before returning; every fd still owned afterwards is closed.
 * - Which message do the fds belong to? The kernel attaches them to the first
 *   byte of the sendmsg that carried them and ends a read right after that
 *   chunk (possibly gluing earlier fd-less data in front of it); the drain
 *   stops there too. So the fds came with the sendmsg whose data holds the
 *   LAST byte of `bytes`, and that sendmsg started at or after
 *   `bytes[ancillary.fdsAt]`. For a sender that puts nothing after an
 *   fd-carrying message in the same sendmsg (UnixSocket.send guarantees it;
 *   QEMU's and libvfio-user's one-message-per-sendmsg clients do too), the
 *   fds belong to the message containing the chunk's last byte, and that
 *   message starts at or after fdsAt (if not, the peer broke the rule).
 * - MSG_CTRUNC (more fds than `maxFds` in one message): every fd that did
 *   arrive is closed and `ancillary.truncated` is set. The stream itself is
 *   intact, but the message lost fds: a protocol layer should drop the peer.
 *
 * Sending: `send()` calls sendmsg at once. Whatever the kernel does not take
 * (EAGAIN or a partial write) is copied into a queue that is flushed when the
 * socket becomes writable ('drain' when it empties). fds go with the first
 * byte of their message: a partial write sends them with the prefix, a queued
 * message carries private duplicates until its first byte goes out. The
 * caller always keeps its fds and buffers: both may be reused or closed as
 * soon as send() returns.
 *
 * Closing: 'close' is emitted exactly once (on the next tick) with the
 * reason: 'local' (close() called), 'eof' (peer closed), 'hangup' (ECONNRESET,
 * EPIPE, ENOTCONN) or 'error' (anything else, or a libuv poll error). Queued
 * output and its fds are dropped on close.
 */
import { EventEmitter } from 'node:events';
import { lstatSync, chmodSync, chownSync, unlinkSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { logger } from '../util/log.ts';
import { C, native, type NativeWatcher } from './addon.ts';
import { FdSet, OwnedFd, closeAll } from './fds.ts';
import { isSysError, sysError, type SysError } from './sys-error.ts';

const log = logger('native');
const E = osConstants.errno;

/** errnos meaning "the peer is gone" rather than "something broke". */
const HANGUP_CODES = ['ECONNRESET', 'EPIPE', 'ENOTCONN'];

export interface SocketOptions {
  /**
   * Most fds accepted with one message (size of the recvmsg control buffer);
   * more arrive as MSG_CTRUNC. At most SCM_MAX_FD (253).
   * @defaultValue 16
   */
  readonly maxFds?: number;
  /**
   * Size of the reusable receive buffer: the most bytes one 'data' event
   * carries.
   * @defaultValue 262144
   */
  readonly readBufferSize?: number;
}

/**
 * Pays for the private duplicates of fds queued behind a receiver that is
 * not reading (src/sys/fd-ledger.ts FdAccount has this shape).
 */
export interface FdCharger {
  /** false: no room, nothing charged. */
  charge(n: number): boolean;
  release(n: number): void;
}

/** Ancillary data that arrived with a 'data' chunk. */
export interface Ancillary {
  /** The received fds, owned by the 'data' listener until it returns (see module doc). */
  readonly fds: FdSet;
  /**
   * The fds came with the sendmsg holding the chunk's last byte, which
   * started at or after bytes[fdsAt] (see the module doc).
   */
  readonly fdsAt: number;
  /** MSG_CTRUNC: fds were lost; the ones that arrived are already closed. */
  readonly truncated: boolean;
}

export type CloseReason = 'local' | 'eof' | 'hangup' | 'error';

export interface CloseInfo {
  readonly reason: CloseReason;
  /** The failing syscall for 'hangup' and 'error'. */
  readonly error?: SysError;
}

export interface UnixSocketEvents {
  data: [bytes: Uint8Array, ancillary: Ancillary | undefined];
  drain: [];
  close: [info: CloseInfo];
}

/** Data accepted by send(): one buffer or several (one iovec each). */
export type SendData = Uint8Array | readonly Uint8Array[];
/** fds to pass with a message; borrowed (the caller keeps them). */
export type SendFds = readonly (number | OwnedFd)[];

interface QueueEntry {
  bytes: Uint8Array;
  /** First entry of a message (batches of an fd-carrying message end at the next one). */
  start: boolean;
  /** Private duplicates, sent with this entry's first byte. Only on a message's first entry. */
  fds: OwnedFd[] | undefined;
}

const DEFAULT_MAX_FDS = 16;
const DEFAULT_READ_BUFFER = 256 * 1024;

function checkOptions(options: SocketOptions): { maxFds: number; readBufferSize: number } {
  const maxFds = options.maxFds ?? DEFAULT_MAX_FDS;
  const readBufferSize = options.readBufferSize ?? DEFAULT_READ_BUFFER;
  if (!Number.isInteger(maxFds) || maxFds < 0 || maxFds > C.SCM_MAX_FD) {
    throw new RangeError(`socket: maxFds must be an integer in [0, ${C.SCM_MAX_FD}], got ${maxFds}`);
  }
  if (!Number.isInteger(readBufferSize) || readBufferSize < 1 || readBufferSize > 0x4000_0000) {
    throw new RangeError(`socket: readBufferSize must be an integer in [1, 2^30], got ${readBufferSize}`);
  }
  return { maxFds, readBufferSize };
}

function toSysError(error: unknown): SysError | undefined {
  return isSysError(error) ? error : undefined;
}

function dataLength(data: SendData): number {
  if (data instanceof Uint8Array) return data.byteLength;
  let total = 0;
  for (const b of data) total += b.byteLength;
  return total;
}

/** A connected AF_UNIX stream socket. Create with socketpair(), connect(), a UnixServer, or UnixSocket.adopt(). */
export class UnixSocket extends EventEmitter<UnixSocketEvents> {
  #fd: number;
  #closed = false;
  #paused = false;
  #events = 0;
  readonly #watcher: NativeWatcher;
  /** status, fdsOut, then the received bytes from #recvAt on. */
  readonly #buffer: ArrayBuffer;
  readonly #recvAt: number;
  readonly #maxFds: number;
  readonly #fdsOut: Int32Array;
  readonly #status: Int32Array;
  readonly #queue: QueueEntry[] = [];
  #queuedBytes = 0;
  #charger: FdCharger | undefined;
  /** The last 'data' view: a chunk as long as the one before gets the same view again (valid only during 'data' anyway). */
  #lastView: Uint8Array | undefined;

  private constructor(fd: OwnedFd, options: SocketOptions) {
    super();
    const { maxFds, readBufferSize } = checkOptions(options);
    // One ArrayBuffer: status, then room for the fds, then the bytes. The
    // native drain then checks a single buffer instead of querying three.
    const fdsLen = Math.max(maxFds, 1);
    this.#recvAt = (C.RECV_STATUS_LEN + fdsLen) * Int32Array.BYTES_PER_ELEMENT;
    this.#buffer = new ArrayBuffer(this.#recvAt + readBufferSize);
    this.#maxFds = maxFds;
    this.#status = new Int32Array(this.#buffer, 0, C.RECV_STATUS_LEN);
    this.#fdsOut = new Int32Array(this.#buffer, C.RECV_STATUS_LEN * Int32Array.BYTES_PER_ELEMENT, fdsLen);
    // uv_poll_init also sets O_NONBLOCK; sendmsg/recvmsg pass MSG_DONTWAIT anyway.
    this.#watcher = new native.Watcher(fd.fd, (status, events, nread) => this.#onPoll(status, events, nread));
    try {
      this.#watcher.setRecv(this.#buffer, maxFds, this.#fdsOut, this.#status);
      this.#updatePoll();
    } catch (error) {
      this.#watcher.close();
      throw error;
    }
    this.#fd = fd.take();
  }

  /**
   * Wrap a connected stream socket. Takes ownership: a raw number is owned
   * from now on, an OwnedFd is taken (left empty). Reading starts at once;
   * attach 'data' and 'close' listeners before yielding to the event loop.
   */
  static adopt(fd: number | OwnedFd, options: SocketOptions = {}): UnixSocket {
    const owned = typeof fd === 'number' ? new OwnedFd(fd) : fd;
    try {
      return new UnixSocket(owned, options);
    } catch (error) {
      owned.close();
      throw error;
    }
  }

  /** The socket fd (borrowed); -1 after close. */
  get fd(): number {
    return this.#fd;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes accepted by send() but not yet taken by the kernel. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /**
   * Charge queued fd duplicates to `charger` from now on. When it refuses
   * (or dup fails), the socket closes with 'error' (EMFILE) instead of
   * queueing: the peer that does not read loses its connection, nobody else
   * notices.
   */
  setFdCharger(charger: FdCharger | undefined): void {
    this.#charger = charger;
  }

  /**
   * Send `data` (one buffer, or several sent as one iovec) with `fds` attached
   * to its first byte. With fds, `data` must end with the message they belong
   * to (normally: be exactly that message): the receiver attributes fds to
   * the message holding the last byte of what one sendmsg carried (module
   * doc). Several fd-less messages may share one call; put an fd-carrying
   * message last, or alone. Returns true when the kernel took everything now;
   * false when the rest was queued (wait for 'drain' if you care) or the
   * socket is closed (data dropped; 'close' reported why). A syscall failure
   * closes the socket ('hangup' / 'error'); bad arguments throw.
   */
  send(data: SendData, fds?: SendFds): boolean {
    if (this.#closed) return false;
    const rawFds = fds === undefined || fds.length === 0 ? undefined : fds.map((f) => (typeof f === 'number' ? f : f.fd));
    const total = dataLength(data);
    if (rawFds !== undefined && total === 0) {
      throw new RangeError('UnixSocket.send: fds need at least one byte of data to travel with');
    }
    if (total === 0) return true;
    if (this.#queue.length > 0) {
      this.#enqueue(data, 0, rawFds);
      return false;
    }
    let sent: number;
    try {
      sent = native.sendmsg(this.#fd, data, rawFds);
    } catch (error) {
      const sys = toSysError(error);
      if (sys === undefined) throw error; // argument error: the caller's bug
      this.#shutdown(HANGUP_CODES.includes(sys.code) ? 'hangup' : 'error', sys);
      return false;
    }
    if (sent === total) return true;
    // Nothing went (EAGAIN): the fds still have to go, with the first byte.
    this.#enqueue(data, Math.max(sent, 0), sent <= 0 ? rawFds : undefined);
    this.#updatePoll();
    return false;
  }

  /** Stop reading (flow control). Hang-ups are noticed only after resume(). */
  pause(): void {
    this.#paused = true;
    this.#updatePoll();
  }

  resume(): void {
    this.#paused = false;
    this.#updatePoll();
  }

  /**
   * Read now instead of waiting for the next readable wake: one drain, exactly
   * what a wake does (same 'data' event, fds, EOF and error handling), run
   * before this returns. Works while paused (the caller decides when to read;
   * pause() only stops the wakes). Returns false when nothing arrived
   * (EAGAIN) or the socket is closed: then nothing was emitted.
   *
   * A server that just replied can find the peer's next request already here
   * (a blocking server's read after its write would not sleep either), and
   * skip a trip through the event loop.
   */
  readNow(): boolean {
    if (this.#closed) return false;
    const nread = this.#watcher.drain();
    if (nread < 0) throw new Error('UnixSocket.readNow: the watcher is not in receive mode'); // cannot happen: set in the constructor
    return this.#afterDrain(nread);
  }

  /**
   * send(bytes) (no fds), then readNow() if the kernel took all of it: both
   * in one native call. Returns what readNow() returns; false without reading
   * when the bytes were (partly) queued or the socket is closed. Send
   * failures close the socket exactly as send() does.
   */
  sendAndReadNow(bytes: Uint8Array): boolean {
    if (this.#closed) return false;
    const total = bytes.byteLength;
    if (total === 0) return this.#queue.length > 0 ? false : this.readNow();
    if (this.#queue.length > 0) {
      this.#enqueue(bytes, 0, undefined);
      return false;
    }
    let sent: number;
    try {
      sent = this.#watcher.sendDrain(bytes);
    } catch (error) {
      const sys = toSysError(error);
      if (sys === undefined) throw error; // argument error: the caller's bug
      this.#shutdown(HANGUP_CODES.includes(sys.code) ? 'hangup' : 'error', sys);
      return false;
    }
    if (sent !== total) {
      this.#enqueue(bytes, Math.max(sent, 0), undefined);
      this.#updatePoll();
      return false;
    }
    return this.#afterDrain(this.#status[C.RECV_NREAD]!);
  }

  /** The end of readNow(): false (nothing emitted) when the drain found nothing at all. */
  #afterDrain(nread: number): boolean {
    const st = this.#status;
    if (nread === 0 && st[C.RECV_FLAGS] === 0 && st[C.RECV_ERRNO] === 0 && st[C.RECV_NFDS] === 0) return false;
    this.#onDrained(nread);
    return true;
  }

  /** Keep the event loop alive while this socket is open (default). */
  ref(): this {
    if (!this.#closed) this.#watcher.ref();
    return this;
  }

  /** Do not keep the event loop alive for this socket. */
  unref(): this {
    if (!this.#closed) this.#watcher.unref();
    return this;
  }

  /** Close now; queued output is dropped. Idempotent. Emits 'close' {reason: 'local'} on the next tick. */
  close(): void {
    this.#shutdown('local');
  }

  /**
   * Queue what the kernel did not take. If the fds cannot be duplicated (the
   * charger refuses, or dup fails: EMFILE) the socket closes with 'error':
   * a syscall failure never escapes to the caller's event handler.
   */
  #enqueue(data: SendData, skip: number, rawFds: readonly number[] | undefined): void {
    // Duplicate first: if that fails nothing has been queued yet.
    let dups: OwnedFd[] | undefined;
    if (rawFds !== undefined) {
      if (this.#charger !== undefined && !this.#charger.charge(rawFds.length)) {
        this.#shutdown('error', sysError(E.EMFILE, 'dup', { detail: `no fd budget left to queue ${rawFds.length} fd(s) for a peer that is not reading` }));
        return;
      }
      dups = [];
      try {
        for (const fd of rawFds) dups.push(new OwnedFd(native.dupCloexec(fd)));
      } catch (error) {
        closeAll(dups);
        this.#charger?.release(rawFds.length);
        const sys = toSysError(error);
        if (sys === undefined) throw error; // argument error: the caller's bug
        this.#shutdown('error', sys);
        return;
      }
    }
    const buffers = data instanceof Uint8Array ? [data] : data;
    // The rest of a partially sent message (skip > 0) is no message start.
    let start = skip === 0;
    let first = true;
    for (const b of buffers) {
      if (skip >= b.byteLength) {
        skip -= b.byteLength;
        continue;
      }
      // Copy: the caller may reuse its buffer once send() returns.
      const bytes = b.slice(skip);
      skip = 0;
      this.#queue.push({ bytes, start, fds: first ? dups : undefined });
      this.#queuedBytes += bytes.byteLength;
      start = false;
      first = false;
    }
  }

  #flush(): void {
    while (this.#queue.length > 0 && !this.#closed) {
      // One sendmsg per batch. fds ride with the batch's first byte, so a
      // batch never continues past an entry that has fds; and an fd-carrying
      // message travels alone (its batch ends with the message), so that the
      // receiver finds the fds with the chunk whose last byte is in that very
      // message (see the module doc).
      const head = this.#queue[0]!;
      const batch: Uint8Array[] = [head.bytes];
      for (let i = 1; i < this.#queue.length && batch.length < C.IOV_MAX; i++) {
        const entry = this.#queue[i]!;
        if (entry.fds !== undefined || (head.fds !== undefined && entry.start)) break;
        batch.push(entry.bytes);
      }
      let sent: number;
      try {
        sent = native.sendmsg(this.#fd, batch, head.fds?.map((f) => f.fd));
      } catch (error) {
        const sys = toSysError(error);
        if (sys === undefined) throw error;
        this.#shutdown(HANGUP_CODES.includes(sys.code) ? 'hangup' : 'error', sys);
        return;
      }
      if (sent <= 0) break; // EAGAIN: wait for the next writable wake
      if (head.fds !== undefined) {
        closeAll(head.fds); // the kernel has its own references now
        this.#charger?.release(head.fds.length);
        head.fds = undefined;
      }
      this.#queuedBytes -= sent;
      while (sent > 0) {
        const entry = this.#queue[0]!;
        if (sent >= entry.bytes.byteLength) {
          sent -= entry.bytes.byteLength;
          this.#queue.shift();
        } else {
          entry.bytes = entry.bytes.subarray(sent);
          sent = 0;
        }
      }
    }
    this.#updatePoll();
    if (this.#queue.length === 0 && !this.#closed) {
      try {
        this.emit('drain');
      } catch (error) {
        log.error(`UnixSocket: a 'drain' listener threw; closing the connection: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
        this.#shutdown('error', sysError(E.EPROTO, 'drain listener', { detail: 'the drain listener failed' }));
      }
    }
  }

  #updatePoll(): void {
    if (this.#closed) return;
    const events = (this.#paused ? 0 : C.UV_READABLE) | (this.#queue.length > 0 ? C.UV_WRITABLE : 0);
    if (events === this.#events) return;
    this.#events = events;
    this.#watcher.start(events);
  }

  #onPoll(status: number, events: number, nread: number): void {
    if (this.#closed) return;
    if (status < 0) {
      this.#onPollError(status);
      return;
    }
    if (nread >= 0) this.#onDrained(nread);
    if (!this.#closed && (events & C.UV_WRITABLE) !== 0) this.#flush();
  }

  /**
   * libuv reports EPOLLERR as UV_EBADF (and stops the handle) whatever the
   * cause, typically ECONNRESET: the peer closed with our data unread. Hand
   * out what is still queued for us, then close with the real error.
   */
  #onPollError(status: number): void {
    let errno = -status;
    try {
      this.#onDrained(native.recvmsg(this.#fd, this.#buffer, this.#recvAt, this.#maxFds, this.#fdsOut, this.#status));
      if (this.#closed) return;
      errno = native.socketError(this.#fd) || errno;
    } catch (error) {
      if (!isSysError(error)) throw error;
    }
    const error = sysError(errno, 'poll');
    this.#shutdown(HANGUP_CODES.includes(error.code) ? 'hangup' : 'error', error);
  }

  #onDrained(nread: number): void {
    const st = this.#status;
    const flags = st[C.RECV_FLAGS]!;
    const nfds = st[C.RECV_NFDS]!;
    const errno = st[C.RECV_ERRNO]!;
    let ancillary: Ancillary | undefined;
    if (nfds > 0 || (flags & C.RECV_FLAG_CTRUNC) !== 0) {
      const fds = FdSet.adopt(this.#fdsOut.subarray(0, nfds));
      const truncated = (flags & C.RECV_FLAG_CTRUNC) !== 0;
      if (truncated) fds.closeAll();
      ancillary = { fds, fdsAt: st[C.RECV_FDS_AT]!, truncated };
    }
    if (nread > 0 || ancillary !== undefined) {
      try {
        this.emit('data', this.#view(nread), ancillary);
      } catch (error) {
        // A listener's bug costs this connection, never the process.
        log.error(`UnixSocket: a 'data' listener threw; closing the connection: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
        this.#shutdown('error', sysError(E.EPROTO, 'data listener', { detail: 'the data listener failed' }));
      } finally {
        ancillary?.fds.closeAll(); // whatever the listeners did not take
      }
    }
    if (this.#closed) return;
    if (errno !== 0) {
      const error = sysError(errno, 'recvmsg');
      this.#shutdown(HANGUP_CODES.includes(error.code) ? 'hangup' : 'error', error);
    } else if ((flags & C.RECV_FLAG_EOF) !== 0) {
      this.#shutdown('eof');
    }
  }

  #view(n: number): Uint8Array {
    const last = this.#lastView;
    if (last !== undefined && last.length === n) return last;
    const view = new Uint8Array(this.#buffer, this.#recvAt, n);
    this.#lastView = view;
    return view;
  }

  #shutdown(reason: CloseReason, error?: SysError): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watcher.close();
    for (const entry of this.#queue) {
      if (entry.fds === undefined) continue;
      closeAll(entry.fds);
      this.#charger?.release(entry.fds.length);
    }
    this.#queue.length = 0;
    this.#queuedBytes = 0;
    const fd = this.#fd;
    this.#fd = -1;
    try {
      native.close(fd);
    } catch (closeError) {
      log.warn(`UnixSocket: close(${fd}) failed: ${String(closeError)}`);
    }
    const info: CloseInfo = error === undefined ? { reason } : { reason, error };
    process.nextTick(() => this.emit('close', info));
  }
}

/** A connected pair of raw sockets (e.g. to hand one end to a child process). */
export function rawSocketpair(): [OwnedFd, OwnedFd] {
  const [a, b] = native.socketpair();
  return [new OwnedFd(a), new OwnedFd(b)];
}

/** A connected pair of sockets in this process (tests, in-process transports). */
export function socketpair(options: SocketOptions = {}): [UnixSocket, UnixSocket] {
  const [a, b] = rawSocketpair();
  let first: UnixSocket | undefined;
  try {
    first = UnixSocket.adopt(a, options);
    return [first, UnixSocket.adopt(b, options)];
  } catch (error) {
    first?.close();
    closeAll(a, b);
    throw error;
  }
}

export interface ConnectOptions extends SocketOptions {
  /**
   * Give up after this long while the listener's backlog is full (EAGAIN).
   * @defaultValue 5000
   */
  readonly timeoutMs?: number;
}

/** Connect to a listening socket at `path`. Rejects with a SysError (ENOENT, ECONNREFUSED, ETIMEDOUT, ...). */
export async function connect(path: string, options: ConnectOptions = {}): Promise<UnixSocket> {
  const fd = new OwnedFd(native.socket());
  try {
    const deadline = Date.now() + (options.timeoutMs ?? 5000);
    let delay = 1;
    for (;;) {
      let rc: number;
      try {
        rc = native.connect(fd.fd, path);
      } catch (error) {
        if (!isSysError(error, 'EISCONN')) throw error; // an earlier interrupted attempt completed
        rc = 0;
      }
      if (rc === 0) break;
      if (Date.now() >= deadline) throw sysError(E.ETIMEDOUT, 'connect', { path, detail: 'listener backlog stayed full' });
      await sleep(delay);
      delay = Math.min(delay * 2, 50);
    }
    return UnixSocket.adopt(fd, options);
  } finally {
    fd.close(); // no-op once adopted
  }
}

export interface ListenOptions extends SocketOptions {
  /** @defaultValue 64 */
  readonly backlog?: number;
  /**
   * Mode of the socket file, set before listen(): connecting needs write
   * permission on the file, and no one can connect before listen(), so the
   * mode is never looser than this while anyone can get in.
   * @defaultValue 0o600
   */
  readonly mode?: number;
  /** Group of the socket file, set with the mode before listen(): a VMM user in that group may connect (mode 0660). */
  readonly gid?: number;
}

export interface UnixServerEvents {
  /** A new connection; it is closed at once if nobody listens for this event. */
  connection: [socket: UnixSocket];
  /** accept() failed (EMFILE, ...); the server keeps listening. Logged when nobody listens. */
  error: [error: SysError];
  close: [];
}

/** Retry delay after accept() fails for lack of resources (EMFILE, ENFILE, ENOBUFS, ENOMEM). */
const ACCEPT_BACKOFF_MS = 100;

/** A listening socket bound to a path. Create with listen(). */
export class UnixServer extends EventEmitter<UnixServerEvents> {
  readonly path: string;
  #fd: number;
  #closed = false;
  readonly #watcher: NativeWatcher;
  readonly #options: SocketOptions;
  readonly #ino: number;
  readonly #dev: number;
  #backoff: NodeJS.Timeout | undefined;

  /** @internal use listen() */
  constructor(fd: OwnedFd, path: string, options: SocketOptions) {
    super();
    this.path = path;
    this.#options = options;
    const st = lstatSync(path);
    this.#ino = st.ino;
    this.#dev = st.dev;
    this.#watcher = new native.Watcher(fd.fd, (status) => this.#onReadable(status));
    this.#fd = fd.take();
    this.#watcher.start(C.UV_READABLE);
  }

  get closed(): boolean {
    return this.#closed;
  }

  ref(): this {
    if (!this.#closed) this.#watcher.ref();
    return this;
  }

  unref(): this {
    if (!this.#closed) this.#watcher.unref();
    return this;
  }

  /** Stop listening, close the fd and remove the socket file (if it is still ours). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#backoff !== undefined) clearTimeout(this.#backoff);
    this.#watcher.close();
    native.close(this.#fd);
    this.#fd = -1;
    try {
      const st = lstatSync(this.path);
      if (st.ino === this.#ino && st.dev === this.#dev) unlinkSync(this.path);
    } catch {
      // Already gone (or replaced and then removed): nothing to clean up.
    }
    process.nextTick(() => this.emit('close'));
  }

  #onReadable(status: number): void {
    if (this.#closed) return;
    if (status < 0) {
      this.#report(sysError(-status, 'uv_poll'));
      return;
    }
    for (;;) {
      let conn: number;
      try {
        conn = native.accept(this.#fd);
      } catch (error) {
        const sys = toSysError(error);
        if (sys === undefined) throw error;
        if (sys.code === 'ECONNABORTED' || sys.code === 'EPROTO') continue; // that client gave up
        this.#report(sys);
        if (['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM'].includes(sys.code)) {
          // Level-triggered poll would spin: back off until resources free up.
          this.#watcher.stop();
          this.#backoff = setTimeout(() => {
            this.#backoff = undefined;
            if (!this.#closed) this.#watcher.start(C.UV_READABLE);
          }, ACCEPT_BACKOFF_MS);
        }
        return;
      }
      if (conn < 0) return;
      let socket: UnixSocket;
      try {
        socket = UnixSocket.adopt(conn, this.#options); // closes conn when it throws
      } catch (error) {
        this.#report(toSysError(error) ?? sysError(E.ENOMEM, 'accept', { detail: `cannot set up the connection: ${String(error)}` }));
        continue;
      }
      if (this.listenerCount('connection') === 0) {
        socket.close();
        continue;
      }
      try {
        this.emit('connection', socket);
      } catch (error) {
        log.error(`UnixServer ${this.path}: a 'connection' listener threw; closing that connection: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
        socket.close();
      }
      if (this.#closed) return;
    }
  }

  #report(error: SysError): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else log.warn(`UnixServer ${this.path}: ${error.message}`);
  }
}

/**
 * Probe an existing socket file: 'stale' if nothing listens (ECONNREFUSED),
 * 'live' if something accepts (or its backlog is full), 'gone' if it
 * vanished meanwhile.
 */
function probe(path: string): 'stale' | 'live' | 'gone' {
  const fd = new OwnedFd(native.socket());
  try {
    native.connect(fd.fd, path); // 0: accepted; -1: backlog full. Live either way.
    return 'live';
  } catch (error) {
    if (isSysError(error, 'ECONNREFUSED')) return 'stale';
    if (isSysError(error, 'ENOENT')) return 'gone';
    throw error;
  } finally {
    fd.close();
  }
}

function isSocketFile(path: string): boolean | undefined {
  try {
    return lstatSync(path).isSocket();
  } catch {
    return undefined; // gone
  }
}

/**
 * Listen on `path` (mode 0600 unless `options.mode`). A stale socket file (a
 * dead server's: connecting is refused) is replaced; a live one is refused
 * with EADDRINUSE naming the path, and so is a path that is not a socket.
 */
export function listen(path: string, options: ListenOptions = {}): UnixServer {
  checkOptions(options);
  const mode = options.mode ?? 0o600;
  const backlog = options.backlog ?? 64;
  const fd = new OwnedFd(native.socket());
  let bound = false;
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        native.bind(fd.fd, path);
        bound = true;
        break;
      } catch (error) {
        if (!isSysError(error, 'EADDRINUSE') || attempt >= 3) throw error;
        const kind = isSocketFile(path);
        if (kind === false) {
          throw sysError(E.EADDRINUSE, 'bind', { path, detail: 'path exists and is not a socket' });
        }
        if (kind === true) {
          const state = probe(path);
          if (state === 'live') {
            throw sysError(E.EADDRINUSE, 'bind', { path, detail: `a live server is listening on ${path}` });
          }
          if (state === 'stale') {
            log.info(`replacing stale socket ${path}`);
            try {
              unlinkSync(path);
            } catch (unlinkError) {
              if ((unlinkError as NodeJS.ErrnoException).code !== 'ENOENT') throw unlinkError;
            }
          }
        }
        // 'gone' or unlinked: bind again.
      }
    }
    if (options.gid !== undefined) chownSync(path, -1, options.gid);
    chmodSync(path, mode);
    native.listen(fd.fd, backlog);
    return new UnixServer(fd, path, options);
  } catch (error) {
    fd.close();
    if (bound) {
      try {
        unlinkSync(path);
      } catch {
        // best effort: the original error is what matters
      }
    }
    throw error;
  }
}
