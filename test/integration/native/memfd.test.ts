import { readFileSync } from 'node:fs';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { C, native } from '../../../src/sys/addon.ts';
import { MemfdMemory, createMemfd, mapFd, mappingStats, memfdMemoryFactory, memfdSeals, resizeMemfd } from '../../../src/sys/memfd.ts';
import { expectNoLeak, memfdMappedBytes } from '../../support/leak.ts';

const MiB = 1024 * 1024;

/** Rss (bytes) of the mapping of the memfd called `name`, from /proc/self/smaps. */
function rssOf(name: string): number {
  const smaps = readFileSync('/proc/self/smaps', 'utf8').split('\n');
  let inside = false;
  for (const line of smaps) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inside = line.includes(`/memfd:${name}`);
    else if (inside && line.startsWith('Rss:')) return Number(/(\d+) kB/.exec(line)![1]) * 1024;
  }
  throw new Error(`no mapping of memfd ${name}`);
}

describe('MemfdMemory', () => {
  it('is sparse: a 64 MiB memfd costs only the pages touched', async () => {
    await expectNoLeak(() => {
      const mem = new MemfdMemory('sparse-64m', 64 * MiB);
      try {
        expect(mem.size).toBe(64 * MiB);
        expect(mem.bytes.byteLength).toBe(64 * MiB);
        mem.bytes[0] = 1;
        mem.bytes[32 * MiB] = 2;
        expect(rssOf('sparse-64m')).toBeLessThanOrEqual(64 * 1024);
        expect(memfdMappedBytes()).toBeGreaterThanOrEqual(64 * MiB);
      } finally {
        mem.close();
      }
    });
  });

  it('shares its bytes with any other mapping of its fd', async () => {
    await expectNoLeak(() => {
      const mem = memfdMemoryFactory('shared', 3 * C.PAGE_SIZE);
      const other = mapFd(mem.fd!, C.PAGE_SIZE, C.PAGE_SIZE, { writable: true });
      mem.bytes[C.PAGE_SIZE + 7] = 0xab;
      expect(other.bytes[7]).toBe(0xab);
      other.bytes[8] = 0xcd;
      expect(mem.bytes[C.PAGE_SIZE + 8]).toBe(0xcd);
      other.unmap();
      mem.close();
    });
  });

  it('close() unmaps and closes the fd, is idempotent, and detaches old views', async () => {
    await expectNoLeak(() => {
      const mem = new MemfdMemory('closing', 2 * C.PAGE_SIZE);
      const view = mem.bytes;
      const fd = mem.fd!;
      view[5] = 5;
      mem.close();
      mem.close();
      expect(view.byteLength).toBe(0);
      expect(view.buffer.byteLength).toBe(0);
      expect(view[5]).toBeUndefined(); // reads nothing instead of faulting
      expect(mem.bytes.byteLength).toBe(0);
      expect(mem.fd).toBeUndefined();
      expect(() => native.fstat(fd)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    });
  });

  it('is sealed against resizing by default (a client cannot shrink it under us)', () => {
    const mem = new MemfdMemory('sealed', C.PAGE_SIZE);
    try {
      expect(memfdSeals(mem.fd!) & (C.F_SEAL_SHRINK | C.F_SEAL_GROW)).toBe(C.F_SEAL_SHRINK | C.F_SEAL_GROW);
      expect(() => resizeMemfd(mem.fd!, 0)).toThrow(expect.objectContaining({ code: 'EPERM', syscall: 'ftruncate' }));
    } finally {
      mem.close();
    }
  });

  it('supports size 0 (no mapping)', () => {
    const mem = new MemfdMemory('empty', 0);
    expect(mem.bytes.byteLength).toBe(0);
    expect(typeof mem.fd).toBe('number');
    mem.close();
  });
});

describe('createMemfd / mapFd', () => {
  it('resizes an unsealed memfd and maps ranges at unaligned offsets', async () => {
    await expectNoLeak(() => {
      const fd = createMemfd('resizable', C.PAGE_SIZE);
      try {
        expect(memfdSeals(fd) & C.F_SEAL_SHRINK).toBe(0);
        resizeMemfd(fd, 4 * C.PAGE_SIZE);
        expect(native.fstat(fd.fd).size).toBe(4 * C.PAGE_SIZE);
        const whole = mapFd(fd, 0, 4 * C.PAGE_SIZE, { writable: true });
        whole.bytes.set([1, 2, 3, 4], C.PAGE_SIZE + 100);
        const part = mapFd(fd, C.PAGE_SIZE + 101, 2, { writable: false });
        expect([...part.bytes]).toEqual([2, 3]);
        expect(part.writable).toBe(false);
        part.unmap();
        whole.unmap();
      } finally {
        fd.close();
      }
    });
  });

  it('refuses ranges past the end of the file (they would SIGBUS) and unsealed fds on request', () => {
    const fd = createMemfd('short', C.PAGE_SIZE);
    try {
      expect(() => mapFd(fd, 0, 2 * C.PAGE_SIZE, { writable: false })).toThrow(
        expect.objectContaining({ code: 'EINVAL', errno: 22, syscall: 'mmap' }),
      );
      expect(() => mapFd(fd, C.PAGE_SIZE, 1, { writable: false })).toThrow(/past the end of the file/);
      expect(() => mapFd(fd, 0, 16, { writable: false, requireShrinkSeal: true })).toThrow(/F_SEAL_SHRINK/);
      expect(() => mapFd(fd, -1, 16, { writable: false })).toThrow(RangeError);
    } finally {
      fd.close();
    }
    const sealed = createMemfd('sealed-short', C.PAGE_SIZE, { seal: true });
    mapFd(sealed, 0, 16, { writable: false, requireShrinkSeal: true }).unmap();
    sealed.close();
  });

  it('a mapping outlives the fd it was made from', async () => {
    await expectNoLeak(() => {
      const fd = createMemfd('outlive', C.PAGE_SIZE);
      const m = mapFd(fd, 0, C.PAGE_SIZE, { writable: true });
      fd.close();
      m.bytes[0] = 9;
      expect(m.bytes[0]).toBe(9);
      m.unmap();
    });
  });

  it('unmap() detaches the ArrayBuffer: byteLength 0, no crash, idempotent', () => {
    const before = mappingStats();
    const fd = createMemfd('detach', C.PAGE_SIZE);
    const m = mapFd(fd, 0, C.PAGE_SIZE, { writable: true });
    fd.close();
    const buffer = m.bytes.buffer as ArrayBuffer;
    const alias = new DataView(buffer);
    expect(mappingStats().count).toBe(before.count + 1);
    m.unmap();
    expect(m.mapped).toBe(false);
    expect(buffer.byteLength).toBe(0);
    expect(m.bytes.byteLength).toBe(0);
    expect(m.bytes[0]).toBeUndefined();
    expect(() => alias.getUint8(0)).toThrow(TypeError); // detached DataView
    m.unmap();
    expect(() => native.munmap(buffer)).toThrow(RangeError); // already unmapped
    expect(mappingStats()).toEqual(before);
  });

  it('the GC finalizer unmaps a mapping that was never unmapped', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const before = mappingStats();
    (() => {
      const fd = createMemfd('gc', MiB);
      for (let i = 0; i < 20; i++) mapFd(fd, 0, MiB, { writable: true }).bytes[i] = i;
      fd.close();
    })();
    expect(mappingStats().count).toBe(before.count + 20);
    for (let i = 0; i < 20 && mappingStats().count !== before.count; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 10)); // finalizers run from setImmediate
    }
    expect(mappingStats()).toEqual(before);
  });
});
