import { lstatSync, mkdtempSync, readlinkSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { afterAll, describe, expect, it } from 'vitest';
import { C, native } from '../../../src/sys/addon.ts';
import { EventFd } from '../../../src/sys/eventfd.ts';
import { OwnedFd } from '../../../src/sys/fds.ts';
import { createMemfd } from '../../../src/sys/memfd.ts';
import { type Ancillary, type CloseInfo, UnixSocket, connect, listen, socketpair } from '../../../src/sys/socket.ts';
import { FrameReader, encodeFrame, type Frame } from '../../support/frames.ts';
import { expectNoFdLeak } from '../../support/leak.ts';

const dir = mkdtempSync(join(tmpdir(), 'mdevsim-native-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;
const sockPath = (): string => join(dir, `s${seq++}.sock`);

/** Collect 'data' into copies until `count` bytes arrived. */
function collect(socket: UnixSocket, count: number): Promise<{ bytes: Uint8Array; chunks: number }> {
  const out = new Uint8Array(count);
  let have = 0;
  let chunks = 0;
  return new Promise((resolve) => {
    const onData = (bytes: Uint8Array): void => {
      out.set(bytes, have);
      have += bytes.byteLength;
      chunks++;
      if (have >= count) {
        socket.off('data', onData);
        resolve({ bytes: out, chunks });
      }
    };
    socket.on('data', onData);
  });
}

/** Collect frames from a socket until `count` complete. */
function frames(socket: UnixSocket, count: number): Promise<Frame[]> {
  const reader = new FrameReader();
  const got: Frame[] = [];
  return new Promise((resolve) => {
    const onData = (bytes: Uint8Array, anc: Ancillary | undefined): void => {
      got.push(...reader.push(bytes, anc));
      if (got.length >= count) {
        socket.off('data', onData);
        reader.dispose();
        resolve(got);
      }
    };
    socket.on('data', onData);
  });
}

const pattern = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

describe('UnixSocket over a socketpair', () => {
  it('sends several buffers as one iovec and receives them in order', async () => {
    await expectNoFdLeak(async () => {
      const [a, b] = socketpair();
      const got = collect(b, 10);
      expect(a.send([new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array([4, 5, 6, 7]), new Uint8Array([8, 9, 10])])).toBe(true);
      expect([...(await got).bytes]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      a.close();
      b.close();
    });
  });

  it('passes several fds in one message, attached to its first byte', async () => {
    await expectNoFdLeak(async () => {
      const [a, b] = socketpair();
      const memfd = createMemfd('several', 4096);
      const efd = EventFd.create();
      const [x, y] = native.socketpair();
      // The fds are the listener's only while it runs: inspect them there.
      const received = new Promise<{ bytes: number[]; anc: Ancillary | undefined; targets: string[] }>((resolve) =>
        b.once('data', (bytes, anc) =>
          resolve({ bytes: [...bytes], anc, targets: [...(anc?.fds ?? [])].map((f) => readlinkSync(`/proc/self/fd/${f.fd}`)) }),
        ),
      );
      a.send(new Uint8Array([42]), [memfd, efd.fd, x]);
      const { bytes, anc, targets } = await received;
      expect(bytes).toEqual([42]);
      expect(anc?.truncated).toBe(false);
      expect(anc?.fdsAt).toBe(0);
      expect(anc?.fds.length).toBe(3);
      expect(targets).toEqual([
        readlinkSync(`/proc/self/fd/${memfd.fd}`),
        readlinkSync(`/proc/self/fd/${efd.fd}`),
        readlinkSync(`/proc/self/fd/${x}`),
      ]);
      // Not taken by the listener: closed by the socket after 'data' returned.
      expect(anc!.fds.ownedCount).toBe(0);
      memfd.close();
      efd.close();
      native.close(x);
      native.close(y);
      a.close();
      b.close();
    });
  });

  it('reassembles a message sent in several small writes (partial reads)', async () => {
    await expectNoFdLeak(async () => {
      const [a, b] = socketpair();
      const frame = encodeFrame(pattern(1000, 3));
      const got = frames(b, 1);
      const cuts = [0, 1, 3, 4, 5, 100, 101, 700, frame.byteLength];
      for (let i = 0; i + 1 < cuts.length; i++) {
        // The next piece goes out only once this one has been read: one read per piece, however fast the kernel is.
        const read = once(b, 'data');
        a.send(frame.subarray(cuts[i], cuts[i + 1]));
        await read;
      }
      const [f] = await got;
      expect(f!.payload).toEqual(pattern(1000, 3));
      a.close();
      b.close();
    });
  });

  it('queues what the kernel does not take, keeps order, sends fds with their own message', async () => {
    await expectNoFdLeak(async () => {
      const [a, b] = socketpair({ readBufferSize: 64 * 1024 });
      b.pause(); // let a's socket buffer fill up
      const m1 = createMemfd('m1', 4096);
      const m2 = createMemfd('m2', 4096);
      const big = pattern(4 * 1024 * 1024, 7);
      expect(a.send(encodeFrame(pattern(10, 1)))).toBe(true);
      expect(a.send(encodeFrame(big), [m1])).toBe(false); // larger than the socket buffer: partially queued
      expect(a.queuedBytes).toBeGreaterThan(0);
      expect(a.send(encodeFrame(pattern(20, 2)))).toBe(false); // behind the queue
      expect(a.send(encodeFrame(pattern(30, 3)), [m2, m1])).toBe(false);
      // The caller keeps its fds and buffers: close and scribble right away.
      m1.close();
      m2.close();
      const drained = once(a, 'drain');
      const got = frames(b, 4);
      b.resume();
      await drained;
      expect(a.queuedBytes).toBe(0);
      const [f1, f2, f3, f4] = await got;
      expect(f1!.payload).toEqual(pattern(10, 1));
      expect(f1!.fds.length).toBe(0);
      expect(Buffer.compare(f2!.payload, big)).toBe(0); // (toEqual on 4 MiB is slow)
      expect([...f2!.fds].map((f) => readlinkSync(`/proc/self/fd/${f.fd}`))).toEqual(['/memfd:m1 (deleted)']);
      expect(f3!.payload).toEqual(pattern(20, 2));
      expect(f3!.fds.length).toBe(0);
      expect(f4!.payload).toEqual(pattern(30, 3));
      expect([...f4!.fds].map((f) => readlinkSync(`/proc/self/fd/${f.fd}`))).toEqual(['/memfd:m2 (deleted)', '/memfd:m1 (deleted)']);
      for (const f of [f1, f2, f3, f4]) f!.fds.closeAll();
      a.close();
      b.close();
    });
  });

  it("reports the peer's close as 'eof', its own as 'local', once each; send after close returns false", async () => {
    await expectNoFdLeak(async () => {
      const [a, b] = socketpair();
      const closes: CloseInfo[] = [];
      a.on('close', (info) => closes.push(info));
      const aClosed = once(a, 'close');
      const bClosed = once(b, 'close') as Promise<[CloseInfo]>;
      a.close();
      a.close();
      expect(a.closed).toBe(true);
      expect(a.fd).toBe(-1);
      expect(a.send(new Uint8Array([1]))).toBe(false);
      expect((await bClosed)[0]).toEqual({ reason: 'eof' });
      await aClosed;
      expect(closes).toEqual([{ reason: 'local' }]);
    });
  });

  it("reports a write to a vanished peer as 'hangup' (EPIPE) and drops queued fds", async () => {
    await expectNoFdLeak(async () => {
      const [a, b] = socketpair();
      b.pause();
      const memfd = createMemfd('dropped', 4096);
      while (a.send(new Uint8Array(64 * 1024))) {
        // fill the socket buffer
      }
      a.send(new Uint8Array([1]), [memfd]); // queued with a private dup of memfd
      memfd.close();
      const closed = once(a, 'close') as Promise<[CloseInfo]>;
      b.close();
      const [info] = await closed;
      // b closed with our data unread: the kernel resets the connection.
      expect(info.reason).toBe('hangup');
      expect(info.error).toMatchObject({ code: expect.stringMatching(/^(ECONNRESET|EPIPE)$/) });
    });
  });

  it('rejects fds without data, and bad arguments, without closing the socket', () => {
    const [a, b] = socketpair();
    try {
      expect(() => a.send(new Uint8Array(0), [0])).toThrow(RangeError);
      expect(() => a.send('x' as unknown as Uint8Array)).toThrow(TypeError);
      expect(a.closed).toBe(false);
      expect(a.send(new Uint8Array(0))).toBe(true);
    } finally {
      a.close();
      b.close();
    }
  });

  it('readNow() reads what is there at once (also while paused), emits it as a wake would, and returns false on EAGAIN', async () => {
    await expectNoFdLeak(async () => {
      const [a, b] = socketpair();
      const seen: { bytes: number[]; fds: number }[] = [];
      b.on('data', (bytes, anc) => seen.push({ bytes: [...bytes], fds: anc?.fds.length ?? 0 }));
      b.pause();
      expect(b.readNow()).toBe(false);
      expect(seen).toEqual([]);
      const memfd = createMemfd('read-now', 4096);
      a.send(new Uint8Array([7, 8, 9]), [memfd]);
      memfd.close();
      expect(b.readNow()).toBe(true); // the fd is closed after the listener returns, as on a wake
      expect(seen).toEqual([{ bytes: [7, 8, 9], fds: 1 }]);
      expect(b.readNow()).toBe(false);
      const closed = once(b, 'close') as Promise<[CloseInfo]>;
      a.close();
      await once(a, 'close');
      expect(b.readNow()).toBe(true); // EOF: closes, as a wake would
      expect(b.closed).toBe(true);
      expect((await closed)[0]).toEqual({ reason: 'eof' });
      expect(b.readNow()).toBe(false);
    });
  });

  it('sendAndReadNow() sends, then reads as readNow() does; it does not read when the bytes were queued; a failed send closes', async () => {
    await expectNoFdLeak(async () => {
      const [a, b] = socketpair();
      const atA: number[][] = [];
      const atB: number[][] = [];
      a.on('data', (bytes) => atA.push([...bytes]));
      b.on('data', (bytes) => atB.push([...bytes]));
      a.pause();
      b.pause();
      expect(a.sendAndReadNow(new Uint8Array([1, 2]))).toBe(false); // sent, nothing to read
      expect(b.sendAndReadNow(new Uint8Array([3]))).toBe(true); // sent, and a's bytes were there
      expect(atB).toEqual([[1, 2]]);
      expect(a.readNow()).toBe(true);
      expect(atA).toEqual([[3]]);
      // Fill b's receive queue until a's sends queue: then nothing is read.
      const big = new Uint8Array(64 * 1024);
      while (a.send(big));
      const queued = a.queuedBytes;
      b.send(new Uint8Array([4]));
      expect(a.sendAndReadNow(new Uint8Array([5]))).toBe(false);
      expect(a.queuedBytes).toBe(queued + 1);
      expect(atA).toEqual([[3]]);
      const aClosed = once(a, 'close');
      a.close();
      // Sending to a closed peer: the socket closes ('hangup'), nothing throws.
      const [c, d] = socketpair();
      const closed = once(c, 'close') as Promise<[CloseInfo]>;
      d.close();
      await once(d, 'close');
      expect(c.sendAndReadNow(new Uint8Array([6]))).toBe(false);
      expect(c.closed).toBe(true);
      expect((await closed)[0]).toMatchObject({ reason: 'hangup' });
      expect(c.sendAndReadNow(new Uint8Array([7]))).toBe(false);
      await aClosed;
      b.close();
      await once(b, 'close');
    });
  });

  it('Watcher.setRecv: fdsOut and status on the front of the buffer; bytes land after them; a detached buffer is never written', () => {
    const [x, y] = native.socketpair();
    const w = new native.Watcher(x, () => {});
    try {
      const buffer = new ArrayBuffer(64);
      const status = new Int32Array(buffer, 0, C.RECV_STATUS_LEN);
      const fdsOut = new Int32Array(buffer, C.RECV_STATUS_LEN * 4, 2);
      const recvAt = (C.RECV_STATUS_LEN + 2) * 4;
      // Both views inside or neither; not overlapping; room left for bytes.
      expect(() => w.setRecv(buffer, 2, new Int32Array(2), status)).toThrow(RangeError);
      expect(() => w.setRecv(buffer, 2, new Int32Array(buffer, 4, 2), status)).toThrow(RangeError);
      expect(() => w.setRecv(buffer, 2, new Int32Array(buffer, 60, 1), status)).toThrow(RangeError); // room for 1 fd < maxFds
      expect(() => w.setRecv(buffer, 1, new Int32Array(buffer, 60, 1), status)).toThrow(RangeError); // no room for bytes
      w.setRecv(buffer, 2, fdsOut, status);
      expect(native.sendmsg(y, new Uint8Array([1, 2, 3]), null)).toBe(3);
      expect(w.drain()).toBe(3);
      expect(status[C.RECV_NREAD]).toBe(3);
      expect([...new Uint8Array(buffer, recvAt, 4)]).toEqual([1, 2, 3, 0]);
      expect([...new Uint8Array(buffer, 0, recvAt)].some((b, i) => i >= C.RECV_STATUS_LEN * 4 && b !== 0)).toBe(false);
      structuredClone(buffer, { transfer: [buffer] });
      expect(buffer.byteLength).toBe(0);
      expect(native.sendmsg(y, new Uint8Array([4]), null)).toBe(1);
      expect(w.drain()).toBe(-1); // detached: nothing read, nothing written
      const other = new ArrayBuffer(16);
      w.setRecv(other, 0, new Int32Array(0), new Int32Array(C.RECV_STATUS_LEN));
      expect(w.drain()).toBe(1);
      expect(new Uint8Array(other)[0]).toBe(4);
    } finally {
      w.close();
      native.close(x);
      native.close(y);
    }
  });

  it('validates options', () => {
    expect(() => socketpair({ maxFds: 254 })).toThrow(RangeError);
    expect(() => socketpair({ readBufferSize: 0 })).toThrow(RangeError);
  });
});

describe('MSG_CTRUNC', () => {
  it('closes every fd that did arrive and flags the chunk; the bytes are intact', async () => {
    await expectNoFdLeak(async () => {
      for (const maxFds of [0, 1, 2]) {
        const [a, b] = socketpair({ maxFds });
        const efds = Array.from({ length: 5 }, () => EventFd.create());
        const received = once(b, 'data') as Promise<[Uint8Array, Ancillary | undefined]>;
        a.send(new Uint8Array([1, 2, 3]), efds.map((e) => e.fd));
        for (const e of efds) e.close();
        const [bytes, anc] = await received;
        expect([...bytes]).toEqual([1, 2, 3]);
        expect(anc?.truncated).toBe(true);
        expect(anc?.fds.length).toBe(maxFds);
        expect(anc?.fds.ownedCount).toBe(0);
        a.close();
        b.close();
      }
    });
  });
});

describe('listen / connect on a path', () => {
  it('accepts connections, creates the socket file with mode 0600 and removes it on close', async () => {
    await expectNoFdLeak(async () => {
      const path = sockPath();
      const server = listen(path);
      expect(lstatSync(path).isSocket()).toBe(true);
      expect(lstatSync(path).mode & 0o777).toBe(0o600);
      const accepted = once(server, 'connection') as Promise<[UnixSocket]>;
      const client = await connect(path);
      const [conn] = await accepted;
      const got = collect(conn, 5);
      client.send(new Uint8Array([5, 4, 3, 2, 1]));
      expect([...(await got).bytes]).toEqual([5, 4, 3, 2, 1]);
      client.close();
      conn.close();
      server.close();
      server.close();
      expect(existsSync(path)).toBe(false);
      await once(server, 'close');
    });
  });

  it('honours a custom mode', () => {
    const path = sockPath();
    const server = listen(path, { mode: 0o660 });
    expect(lstatSync(path).mode & 0o777).toBe(0o660);
    server.close();
  });

  it('replaces a stale socket file left by a dead server', async () => {
    await expectNoFdLeak(async () => {
      const path = sockPath();
      const dead = new OwnedFd(native.socket());
      native.bind(dead.fd, path); // bound, never listening: connect() is refused, like a dead server's
      dead.close();
      expect(lstatSync(path).isSocket()).toBe(true);
      await expect(connect(path)).rejects.toMatchObject({ code: 'ECONNREFUSED', syscall: 'connect', path });
      const server = listen(path);
      const accepted = once(server, 'connection') as Promise<[UnixSocket]>;
      const client = await connect(path);
      const [conn] = await accepted;
      client.close();
      conn.close();
      server.close();
    });
  });

  it('refuses a live socket with EADDRINUSE naming the path, and leaves it working', async () => {
    await expectNoFdLeak(async () => {
      const path = sockPath();
      const server = listen(path);
      let caught: unknown;
      try {
        listen(path);
      } catch (error) {
        caught = error;
      }
      expect(caught).toMatchObject({ code: 'EADDRINUSE', errno: 98, syscall: 'bind', path });
      expect((caught as Error).message).toContain(path);
      expect(lstatSync(path).isSocket()).toBe(true);
      const accepted = once(server, 'connection') as Promise<[UnixSocket]>;
      const client = await connect(path);
      (await accepted)[0].close();
      client.close();
      server.close();
    });
  });

  it('refuses a path that is not a socket and leaves the file alone', () => {
    const path = sockPath();
    writeFileSync(path, 'precious');
    expect(() => listen(path)).toThrow(expect.objectContaining({ code: 'EADDRINUSE', path, message: expect.stringMatching(/not a socket/) }));
    expect(lstatSync(path).isFile()).toBe(true);
    rmSync(path);
  });

  it('connect() to a missing path rejects with ENOENT', async () => {
    await expect(connect(join(dir, 'missing.sock'))).rejects.toMatchObject({ code: 'ENOENT', errno: 2, syscall: 'connect' });
  });

  it('closes connections nobody listens for', async () => {
    await expectNoFdLeak(async () => {
      const path = sockPath();
      const server = listen(path);
      const client = await connect(path);
      const [info] = (await once(client, 'close')) as [CloseInfo];
      expect(info.reason).toBe('eof');
      server.close();
    });
  });
});

describe('EventFd', () => {
  it('signal / read / watch / close', async () => {
    await expectNoFdLeak(async () => {
      const efd = EventFd.create();
      expect(efd.read()).toBe(0n);
      expect(efd.signal()).toBe(true);
      expect(efd.signal(41)).toBe(true);
      expect(efd.read()).toBe(42n);
      expect(efd.read()).toBe(0n);
      const signalled = once(efd.watch(), 'signal') as Promise<[bigint]>;
      efd.watch(); // idempotent
      efd.signal(7n);
      expect((await signalled)[0]).toBe(7n);
      expect(efd.signal(0xffff_ffff_ffff_fffen)).toBe(true);
      efd.unwatch();
      expect(efd.signal(1n)).toBe(false); // would overflow the counter
      efd.close();
      efd.close();
      expect(efd.closed).toBe(true);
      expect(() => efd.signal()).toThrow(/already taken or closed/);
    });
  });

  it('semaphore mode reads one at a time', () => {
    const efd = EventFd.create({ semaphore: true, initial: 2 });
    expect(efd.read()).toBe(1n);
    expect(efd.read()).toBe(1n);
    expect(efd.read()).toBe(0n);
    efd.close();
  });

  it('adopt() takes an OwnedFd and makes it non-blocking', () => {
    const fd = new OwnedFd(native.eventfd(0, C.EFD_CLOEXEC)); // blocking
    const efd = EventFd.adopt(fd);
    expect(fd.owned).toBe(false);
    expect(efd.read()).toBe(0n); // would block forever if adopt had not set O_NONBLOCK
    efd.close();
  });
});
