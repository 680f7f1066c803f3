import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { C, NATIVE_EXPORTS, NATIVE_PATH, native } from '../../../src/sys/addon.ts';
import { OwnedFd, FdSet, closeAll } from '../../../src/sys/fds.ts';
import { isSysError, sysError } from '../../../src/sys/sys-error.ts';
import { expectNoFdLeak } from '../../support/leak.ts';

describe('native addon surface', () => {
  it('exports exactly what src/sys/addon.ts declares, with the declared JS types', () => {
    const raw = createRequire(import.meta.url)(NATIVE_PATH) as Record<string, unknown>;
    expect(Object.keys(raw).sort()).toEqual(Object.keys(NATIVE_EXPORTS).sort());
    for (const [name, type] of Object.entries(NATIVE_EXPORTS)) expect(typeof raw[name], name).toBe(type);
  });

  it('declares every constant the binary exports', () => {
    const declared = [
      'MFD_CLOEXEC', 'MFD_ALLOW_SEALING', 'F_SEAL_SEAL', 'F_SEAL_SHRINK', 'F_SEAL_GROW', 'F_SEAL_WRITE',
      'EFD_CLOEXEC', 'EFD_NONBLOCK', 'EFD_SEMAPHORE', 'UV_READABLE', 'UV_WRITABLE', 'UV_DISCONNECT',
      'RECV_NREAD', 'RECV_NFDS', 'RECV_FDS_AT', 'RECV_FLAGS', 'RECV_ERRNO', 'RECV_STATUS_LEN',
      'RECV_FLAG_EOF', 'RECV_FLAG_CTRUNC', 'RECV_FLAG_FULL', 'SCM_MAX_FD', 'IOV_MAX', 'PAGE_SIZE',
      'S_IFMT', 'S_IFREG', 'S_IFSOCK',
    ] satisfies (keyof typeof C)[];
    expect(Object.keys(C).sort()).toEqual([...declared].sort());
  });
});

describe('native error contract', () => {
  it('a wrong argument type is a TypeError naming the function and the parameter', () => {
    const cases: [() => unknown, RegExp][] = [
      [() => native.close('3' as unknown as number), /close: argument 'fd' must be an integer \(got string\)/],
      [() => native.memfdCreate(5 as unknown as string, 0), /memfdCreate: argument 'name' must be a string/],
      [() => native.mmap(0, 0, 4096, 1 as unknown as boolean), /mmap: argument 'writable' must be a boolean/],
      [() => native.sendmsg(0, 'bytes' as unknown as Uint8Array), /sendmsg: argument 'data' must be a Uint8Array/],
      [() => native.sendmsg(0, [new Uint8Array(1), 7 as unknown as Uint8Array]), /argument 'data\[i\]'/],
      [() => native.sendmsg(0, new Uint8Array(1), ['x'] as unknown as number[]), /argument 'fds'/],
      [() => native.munmap(new Uint8Array(8) as unknown as ArrayBuffer), /munmap: argument 'buffer' must be an ArrayBuffer/],
      [() => native.eventfdWrite(0, 'x' as unknown as number), /eventfdWrite: argument 'value'/],
      [() => new native.Watcher(0, undefined as unknown as () => void), /Watcher: argument 'callback' must be a function/],
    ];
    for (const [call, message] of cases) {
      let caught: unknown;
      try {
        call();
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(TypeError);
      expect((caught as Error).message).toMatch(message);
      expect((caught as { code?: string }).code).toBe('ERR_INVALID_ARG_TYPE');
    }
  });

  it('a well-typed but out-of-range argument is a RangeError naming the parameter', () => {
    expect(() => native.close(-1)).toThrow(RangeError);
    expect(() => native.close(1.5)).toThrow(/argument 'fd' must be an integer in/);
    expect(() => native.mmap(0, 0, 0, false)).toThrow(/argument 'length'/);
    expect(() => native.memfdCreate('a\0b', 0)).toThrow(/argument 'name' must be non-empty and contain no NUL/);
    expect(() => native.munmap(new ArrayBuffer(8))).toThrow(/argument 'buffer' is not a live mapping/);
    expect(() => native.sendmsg(1, new Uint8Array(0), [0])).toThrow(/must not be empty when fds are sent/);
    expect(() => native.sendmsg(1, new Uint8Array(1), new Array<number>(254).fill(0))).toThrow(/at most 253/);
  });

  it('a syscall failure is an Error with code, positive errno and syscall', () => {
    const [a, b] = native.socketpair();
    native.close(a);
    native.close(b);
    const cases: [() => unknown, string, string][] = [
      [() => native.close(a), 'EBADF', 'close'],
      [() => native.fstat(a), 'EBADF', 'fstat'],
      [() => native.sendmsg(a, new Uint8Array(1)), 'EBADF', 'sendmsg'],
      [() => native.mmap(a, 0, 4096, false), 'EBADF', 'mmap'],
      [() => native.eventfdRead(a), 'EBADF', 'read'],
      [() => native.ftruncate(a, 10), 'EBADF', 'ftruncate'],
    ];
    for (const [call, code, syscall] of cases) {
      let caught: unknown;
      try {
        call();
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(Error);
      expect(caught).toMatchObject({ code, errno: 9, syscall });
      expect((caught as Error).message).toBe(`EBADF: Bad file descriptor, ${syscall}`);
      expect(isSysError(caught, 'EBADF')).toBe(true);
    }
  });

  it('path-based failures carry the path', () => {
    const fd = new OwnedFd(native.socket());
    try {
      const long = `/tmp/${'x'.repeat(200)}`;
      expect(() => native.bind(fd.fd, long)).toThrow(expect.objectContaining({ code: 'ENAMETOOLONG', syscall: 'bind', path: long }));
      expect(() => native.connect(fd.fd, '/nonexistent/mdevsim.sock')).toThrow(
        expect.objectContaining({ code: 'ENOENT', errno: 2, syscall: 'connect', path: '/nonexistent/mdevsim.sock' }),
      );
    } finally {
      fd.close();
    }
  });

  it('errors built in TypeScript have the same shape as native ones', () => {
    const e = sysError(104, 'recvmsg');
    expect(e).toBeInstanceOf(Error);
    expect(e).toMatchObject({ code: 'ECONNRESET', errno: 104, syscall: 'recvmsg' });
    expect(e.message).toMatch(/^ECONNRESET: .*, recvmsg$/);
    expect(isSysError(e, 'EPIPE', 'ECONNRESET')).toBe(true);
    expect(isSysError(new Error('x'))).toBe(false);
  });
});

describe('OwnedFd / FdSet', () => {
  it('take() transfers ownership, close() is idempotent, closeAll closes what is left', async () => {
    await expectNoFdLeak(() => {
      const [a, b] = native.socketpair();
      const owned = new OwnedFd(a);
      expect(owned.owned).toBe(true);
      const raw = owned.take();
      expect(raw).toBe(a);
      expect(owned.owned).toBe(false);
      expect(() => owned.take()).toThrow(/already taken or closed/);
      expect(() => owned.fd).toThrow(/already taken or closed/);
      owned.close(); // no-op: it was taken
      native.close(raw);

      const set = FdSet.adopt([b, native.dupCloexec(b), native.dupCloexec(b)]);
      expect(set.length).toBe(3);
      const kept = set.take(1);
      expect(set.ownedCount).toBe(2);
      const moved = set.transfer();
      expect(set.ownedCount).toBe(0);
      expect(moved.ownedCount).toBe(2);
      closeAll(moved, set, undefined, [new OwnedFd(kept)]);
      closeAll(moved);
      moved.closeAll();
      expect(moved.ownedCount).toBe(0);
    });
  });

  it('refuses non-fds', () => {
    expect(() => new OwnedFd(-1)).toThrow(RangeError);
    expect(() => new OwnedFd(Number.NaN)).toThrow(RangeError);
  });
});
