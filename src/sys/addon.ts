/**
 * The raw native surface (native/src/*.cc), declared once and loaded once.
 *
 * Only src/sys/* imports this module. The functions here are syscalls plus
 * argument checks: they return plain values and throw
 * `Error{code, errno, syscall}` for syscall failures, `TypeError` /
 * `RangeError` (naming the parameter) for bad arguments. Ownership, errno
 * classification and lifetimes live in the typed wrappers: fds.ts, memfd.ts,
 * socket.ts, eventfd.ts, sd-notify.ts. See docs/native.md.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../util/package-root.ts';

/** Readiness callback of a {@link NativeWatcher}. */
export type WatcherCallback = (
  /** 0, or a negative errno from libuv. */
  status: number,
  /** UV_READABLE | UV_WRITABLE | UV_DISCONNECT that fired. */
  events: number,
  /**
   * In receive mode, on a readable wake: bytes the native side already drained
   * into the receive buffer (details in the status array). Otherwise -1.
   */
  nread: number,
) => void;

/** A libuv poll handle on one fd (native/src/watcher.cc). */
export interface NativeWatcher {
  /** uv_poll_start with these events (0 = stop). Pins the object while started. */
  start(events: number): void;
  stop(): void;
  /** Release the uv handle and all references. Idempotent. Does not close the fd. */
  close(): void;
  /**
   * Receive mode: every readable wake drains the socket into `buffer` (from
   * offset 0) before the callback runs. `null` turns it off. `fdsOut` and
   * `status` may instead both be (non-overlapping) views on the front of
   * `buffer`: bytes then go after the later of the two, and each drain
   * checks `buffer` only (one query instead of three).
   */
  setRecv(buffer: ArrayBuffer, maxFds: number, fdsOut: Int32Array, status: Int32Array): void;
  setRecv(buffer: null): void;
  /**
   * Receive mode: one drain now, exactly as a readable wake does it (status
   * array filled), without waiting for the poll. Returns the bytes read, or
   * -1 when not in receive mode.
   */
  drain(): number;
  /**
   * Receive mode: one sendmsg of `bytes` (no fds) and, only if the kernel took
   * all of them, drain() right after, in the same native call. Returns the
   * bytes written (-1: EAGAIN, nothing written); status is filled only when
   * everything went. A send error throws a SysError, as sendmsg() does.
   */
  sendDrain(bytes: Uint8Array): number;
  /** Keep (default) / stop keeping the event loop alive while started. */
  ref(): void;
  unref(): void;
}

export interface NativeConstants {
  readonly MFD_CLOEXEC: number;
  readonly MFD_ALLOW_SEALING: number;
  readonly F_SEAL_SEAL: number;
  readonly F_SEAL_SHRINK: number;
  readonly F_SEAL_GROW: number;
  readonly F_SEAL_WRITE: number;
  readonly EFD_CLOEXEC: number;
  readonly EFD_NONBLOCK: number;
  readonly EFD_SEMAPHORE: number;
  readonly UV_READABLE: number;
  readonly UV_WRITABLE: number;
  readonly UV_DISCONNECT: number;
  /** Slots of the recvmsg status Int32Array. */
  readonly RECV_NREAD: number;
  readonly RECV_NFDS: number;
  readonly RECV_FDS_AT: number;
  readonly RECV_FLAGS: number;
  readonly RECV_ERRNO: number;
  readonly RECV_STATUS_LEN: number;
  /** Bits of status[RECV_FLAGS]. */
  readonly RECV_FLAG_EOF: number;
  readonly RECV_FLAG_CTRUNC: number;
  readonly RECV_FLAG_FULL: number;
  /** Most fds in one SCM_RIGHTS message (Linux SCM_MAX_FD). */
  readonly SCM_MAX_FD: number;
  /** Most buffers in one sendmsg. */
  readonly IOV_MAX: number;
  readonly PAGE_SIZE: number;
  readonly S_IFMT: number;
  readonly S_IFREG: number;
  readonly S_IFSOCK: number;
}

export interface NativeStat {
  readonly size: number;
  /** st_mode, S_IFMT type bits included. */
  readonly mode: number;
}

export interface NativeMappingStats {
  /** Live mappings made by mmap() and not yet unmapped (explicitly or by GC). */
  readonly count: number;
  readonly bytes: number;
}

/** Everything mdevsim_native.node (native/build/Release or a prebuild) exports. */
export interface NativeAddon {
  readonly abiVersion: number;
  readonly constants: NativeConstants;

  // fd.cc
  /** close(2); EINTR is treated as success (Linux releases the fd anyway). */
  close(fd: number): void;
  /** fcntl(F_DUPFD_CLOEXEC). */
  dupCloexec(fd: number): number;
  setNonBlocking(fd: number, nonBlocking: boolean): void;
  fstat(fd: number): NativeStat;

  // memfd.cc
  memfdCreate(name: string, flags: number): number;
  ftruncate(fd: number, size: number): void;
  addSeals(fd: number, seals: number): void;
  getSeals(fd: number): number;

  // mmap.cc
  /** MAP_SHARED mapping as an external ArrayBuffer (GC finalizer unmaps). */
  mmap(fd: number, offset: number, length: number, writable: boolean): ArrayBuffer;
  /** Detach the ArrayBuffer from mmap(), then munmap. RangeError for any other buffer. */
  munmap(buffer: ArrayBuffer): void;
  mappingStats(): NativeMappingStats;

  // scm.cc
  /** socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC). */
  socket(): number;
  socketpair(): [number, number];
  bind(fd: number, path: string): void;
  listen(fd: number, backlog: number): void;
  /** 0 = connected, -1 = would block / interrupted (retry; EISCONN then means connected). */
  connect(fd: number, path: string): number;
  /** New non-blocking, close-on-exec fd, or -1 when no connection is pending. */
  accept(fd: number): number;
  /**
   * Bytes written (possibly fewer than given; fds ride with the first byte),
   * or -1 when nothing could be written (EAGAIN). The caller keeps its fds.
   */
  sendmsg(fd: number, data: Uint8Array | readonly Uint8Array[], fds?: readonly number[] | Int32Array | null): number;
  /**
   * Drain into buffer[offset...]: returns the byte count; status gets
   * RECV_NFDS / RECV_FDS_AT / RECV_FLAGS / RECV_ERRNO. Syscall errors are
   * reported in status, never thrown (bytes read before them are kept).
   */
  recvmsg(fd: number, buffer: ArrayBuffer, offset: number, maxFds: number, fdsOut: Int32Array, status: Int32Array): number;
  /** Pending SO_ERROR (cleared by reading it), 0 if none. */
  socketError(fd: number): number;

  // dgram.cc
  /**
   * One datagram on a fresh AF_UNIX SOCK_DGRAM socket to `address` (a path,
   * or '@' + a Linux abstract name; at most 107 bytes): bytes sent, or -1
   * when the receiver's queue stayed full for `timeoutMs` (0-60000; 0 does
   * not wait). Never raises SIGPIPE.
   */
  sendDatagram(address: string, data: Uint8Array, timeoutMs: number): number;

  // eventfd.cc
  eventfd(initval: number, flags: number): number;
  /** true = added; false = would overflow the counter (EAGAIN). */
  eventfdWrite(fd: number, value: bigint | number): boolean;
  /** Counter value, or 0n when it is 0 (EAGAIN). The fd must be O_NONBLOCK. */
  eventfdRead(fd: number): bigint;

  // watcher.cc
  readonly Watcher: new (fd: number, callback: WatcherCallback) => NativeWatcher;
}

/** ABI version this facade was written for (native/src/addon.cc kAbiVersion). */
export const NATIVE_ABI_VERSION = 1;

/**
 * Every export with its JS type. `satisfies` makes the compiler reject a key
 * that NativeAddon lacks, and the mapped type below rejects a NativeAddon key
 * missing here; test/integration/native/addon.test.ts compares this table
 * with what the binary exports.
 */
export const NATIVE_EXPORTS = {
  abiVersion: 'number',
  constants: 'object',
  close: 'function',
  dupCloexec: 'function',
  setNonBlocking: 'function',
  fstat: 'function',
  memfdCreate: 'function',
  ftruncate: 'function',
  addSeals: 'function',
  getSeals: 'function',
  mmap: 'function',
  munmap: 'function',
  mappingStats: 'function',
  socket: 'function',
  socketpair: 'function',
  bind: 'function',
  listen: 'function',
  connect: 'function',
  accept: 'function',
  sendmsg: 'function',
  recvmsg: 'function',
  socketError: 'function',
  sendDatagram: 'function',
  eventfd: 'function',
  eventfdWrite: 'function',
  eventfdRead: 'function',
  Watcher: 'function',
} as const satisfies { readonly [K in keyof NativeAddon]: 'number' | 'object' | 'function' };

/** Resolves the addon file in a directory holding binding.gyp (node-gyp-build's lookup). */
type NodeGypBuildResolve = (dir: string) => string;

/**
 * Where the addon is loaded from. `MDEVSIM_NATIVE` overrides (an absolute
 * path to a .node file). Otherwise node-gyp-build looks in the package's
 * native/ directory (the one with binding.gyp), in this order:
 * native/build/Release (a checkout's `npm run build:native`, or the fallback
 * compile of an install that had no fitting prebuild), then
 * native/prebuilds/<platform>-<arch>/ (the binaries `npm pack` ships, tagged
 * napi and glibc/musl). The package root is found from package.json, so the
 * sources (src/sys/) and the build (dist/src/sys/) agree.
 */
function resolveNativePath(): string {
  const override = process.env['MDEVSIM_NATIVE'];
  if (override !== undefined) return override;
  const nativeDir = join(packageRoot(), 'native');
  const resolve = (createRequire(import.meta.url)('node-gyp-build') as { resolve: NodeGypBuildResolve }).resolve;
  try {
    return resolve(nativeDir);
  } catch (cause) {
    throw new Error(
      `mdevsim: no native addon for this platform in ${nativeDir} (neither build/Release nor a prebuild fits); ` +
        'build it with `npm rebuild mdevsim` (needs a C++ toolchain), or in a checkout `npm run build:native`',
      { cause },
    );
  }
}

export const NATIVE_PATH: string = resolveNativePath();

function load(): NativeAddon {
  const require = createRequire(import.meta.url);
  let loaded: unknown;
  try {
    loaded = require(NATIVE_PATH);
  } catch (cause) {
    throw new Error(
      `mdevsim: cannot load the native addon ${NATIVE_PATH}; rebuild it ` +
        '(`npm rebuild mdevsim`, or in a checkout `npm run build:native`)',
      { cause },
    );
  }
  const exports = loaded as Record<string, unknown>;
  for (const [name, type] of Object.entries(NATIVE_EXPORTS)) {
    if (typeof exports[name] !== type) {
      throw new Error(`mdevsim: native addon ${NATIVE_PATH} lacks export '${name}' (${type}); rebuild it`);
    }
  }
  if (exports['abiVersion'] !== NATIVE_ABI_VERSION) {
    throw new Error(
      `mdevsim: native addon ABI ${String(exports['abiVersion'])}, expected ${NATIVE_ABI_VERSION}; rebuild it`,
    );
  }
  return loaded as NativeAddon;
}

/** The loaded addon. Import only from src/sys/*. */
export const native: NativeAddon = load();
export const C: NativeConstants = native.constants;
