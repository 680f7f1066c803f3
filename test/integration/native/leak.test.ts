/**
 * Leak tests: fds and memfd mappings return to their starting values after
 * many cycles and after malformed traffic (MSG_CTRUNC, a peer killed in the
 * middle of a message).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { C } from '../../../src/sys/addon.ts';
import { EventFd } from '../../../src/sys/eventfd.ts';
import { MemfdMemory, createMemfd, mapFd } from '../../../src/sys/memfd.ts';
import { type Ancillary, type CloseInfo, type UnixSocket, connect, listen, socketpair } from '../../../src/sys/socket.ts';
import { expectNoFdLeak, expectNoLeak } from '../../support/leak.ts';
import { startPeer } from '../../support/peer.ts';

beforeAll(async () => {
  // The first spawn in a process makes libuv open its SIGCHLD plumbing for
  // good; do it before any baseline is taken.
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await once(child, 'exit');
});

describe('no leaks after many cycles', () => {
  it('2000 send / receive / map / write / unmap / close cycles of a memfd', async () => {
    await expectNoLeak(async () => {
      const [a, b] = socketpair();
      let received = 0;
      let resolveNext: () => void = () => {};
      b.on('data', (bytes, anc) => {
        const fd = anc!.fds.at(0)!;
        const m = mapFd(fd, C.PAGE_SIZE, C.PAGE_SIZE, { writable: true });
        m.bytes[bytes[0]!] = bytes[0]!;
        m.unmap();
        received++;
        resolveNext(); // fd not taken: the socket closes it after we return
      });
      for (let i = 0; i < 2000; i++) {
        const fd = createMemfd(`cycle-${i}`, 2 * C.PAGE_SIZE);
        const next = new Promise<void>((resolve) => (resolveNext = resolve));
        a.send(new Uint8Array([i & 0xff]), [fd]);
        fd.close();
        await next;
      }
      expect(received).toBe(2000);
      a.close();
      b.close();
    });
  });

  it('500 MemfdMemory create / touch / close cycles, 4 MiB each', async () => {
    await expectNoLeak(() => {
      for (let i = 0; i < 500; i++) {
        const mem = new MemfdMemory('churn', 4 * 1024 * 1024);
        mem.bytes[i * 4096] = 1;
        mem.close();
      }
    });
  });

  it('200 listen / connect / accept / close cycles leave no fds and no socket files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdevsim-leak-'));
    try {
      await expectNoFdLeak(async () => {
        for (let i = 0; i < 200; i++) {
          const path = join(dir, 'churn.sock');
          const server = listen(path);
          const accepted = once(server, 'connection') as Promise<[UnixSocket]>;
          const client = await connect(path);
          const [conn] = await accepted;
          const closed = once(conn, 'close');
          client.close();
          await closed;
          server.close();
          expect(existsSync(path)).toBe(false);
        }
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('no leaks after malformed traffic', () => {
  it('MSG_CTRUNC in-process: 500 messages with more fds than the receiver accepts', async () => {
    await expectNoFdLeak(async () => {
      const [a, b] = socketpair({ maxFds: 3 });
      const efds = Array.from({ length: 8 }, () => EventFd.create());
      let truncated = 0;
      let bytes = 0;
      let resolveNext: () => void = () => {};
      b.on('data', (chunk, anc) => {
        bytes += chunk.byteLength;
        if (anc?.truncated === true) truncated++;
        resolveNext();
      });
      for (let i = 0; i < 500; i++) {
        const next = new Promise<void>((resolve) => (resolveNext = resolve));
        a.send(new Uint8Array(8), efds.map((e) => e.fd));
        await next;
      }
      expect(truncated).toBe(500);
      expect(bytes).toBe(500 * 8);
      for (const e of efds) e.close();
      a.close();
      b.close();
    });
  });

  it('MSG_CTRUNC from a child process: the fds that arrived are closed and the stream goes on', async () => {
    await expectNoFdLeak(async () => {
      const peer = startPeer({ maxFds: 4 });
      const seen: Ancillary[] = [];
      peer.socket.on('data', (_bytes, anc) => {
        if (anc !== undefined) seen.push({ ...anc });
      });
      const reply = await peer.request({ op: 'send-fds', count: 10 });
      expect(reply.value['count']).toBe(10);
      expect(reply.fds.ownedCount).toBe(0); // truncated: nothing reached the frame
      expect(seen.map((a) => a.truncated)).toEqual([true]);
      expect(seen[0]!.fds.length).toBe(4);
      // Still usable afterwards.
      const again = await peer.request({ op: 'send-fds', count: 2 });
      expect(again.fds.ownedCount).toBe(2);
      again.fds.closeAll();
      await peer.stop();
    });
  });

  it('a peer killed in the middle of a message: its fds and the partial frame are released', async () => {
    await expectNoLeak(async () => {
      const peer = startPeer();
      // Warm up the child (it is up once it answers).
      await peer.request({ op: 'describe-fds' });
      const got = new Promise<void>((resolve) => peer.socket.once('data', () => resolve()));
      peer.post({ op: 'send-partial', length: 100_000, sent: 1000, fds: 3 });
      await got;
      expect(peer.buffered).toBeGreaterThan(0);
      const closed = peer.closed;
      await peer.kill();
      const info: CloseInfo = await closed;
      expect(info.reason).toBe('eof');
      expect(peer.buffered).toBe(0);
    });
  });

  it('a peer killed while we still have output queued for it', async () => {
    await expectNoFdLeak(async () => {
      const peer = startPeer();
      await peer.request({ op: 'pause' });
      const memfd = createMemfd('queued', 4096);
      const junk = new Uint8Array(256 * 1024);
      for (let i = 0; i < 64 && peer.socket.send(junk, [memfd]); i++) {
        // until the child's receive buffer is full and output queues up here
      }
      expect(peer.socket.queuedBytes).toBeGreaterThan(0);
      memfd.close();
      const closed = peer.closed;
      await peer.kill();
      const info = await closed;
      // It died with our data unread: ECONNRESET, reported as a hang-up.
      expect(info).toMatchObject({ reason: 'hangup', error: { code: 'ECONNRESET' } });
      expect(peer.socket.queuedBytes).toBe(0);
    });
  });
});
