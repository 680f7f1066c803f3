/**
 * Real child processes (test/support/native-peer.ts) on the other end of the
 * socket: memfds, several fds and eventfds crossing process boundaries in
 * both directions.
 */
import { readlinkSync, mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { C, native } from '../../../src/sys/addon.ts';
import { EventFd } from '../../../src/sys/eventfd.ts';
import { MemfdMemory, createMemfd, mapFd } from '../../../src/sys/memfd.ts';
import { type UnixSocket, listen } from '../../../src/sys/socket.ts';
import { type Peer, startConnectingPeer, startPeer } from '../../support/peer.ts';

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
const target = (fd: number): string => readlinkSync(`/proc/self/fd/${fd}`);

describe('across processes (socketpair peer)', () => {
  let peer: Peer;
  beforeAll(() => {
    peer = startPeer();
  });
  afterAll(async () => {
    await peer.stop();
  });

  it('the child maps a memfd received from the parent and sees the bytes the parent wrote', async () => {
    const mem = new MemfdMemory('parent-vram', 16 * C.PAGE_SIZE);
    try {
      const data = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff);
      mem.bytes.set(data, 5 * C.PAGE_SIZE + 11);
      const reply = await peer.request({ op: 'read-memfd', offset: 5 * C.PAGE_SIZE + 11, length: 300 }, [mem.fd!]);
      expect(reply.value['data']).toBe(b64(data));
    } finally {
      mem.close();
    }
  });

  it('the parent sees bytes the child writes into a shared memfd', async () => {
    const mem = new MemfdMemory('parent-shared', 4 * C.PAGE_SIZE);
    try {
      await peer.request({ op: 'write-memfd', offset: 3 * C.PAGE_SIZE - 2, data: b64(new Uint8Array([9, 8, 7, 6])) }, [mem.fd!]);
      expect([...mem.bytes.subarray(3 * C.PAGE_SIZE - 2, 3 * C.PAGE_SIZE + 2)]).toEqual([9, 8, 7, 6]);
    } finally {
      mem.close();
    }
  });

  it('the parent maps a memfd the child created and sent', async () => {
    const reply = await peer.request({ op: 'make-memfd', size: 8192, data: b64(new TextEncoder().encode('hello from the child')) });
    expect(reply.fds.length).toBe(1);
    const fd = reply.fds.at(0)!;
    expect(target(fd.fd)).toBe('/memfd:peer (deleted)');
    const m = mapFd(fd, 0, 8192, { writable: true });
    fd.close(); // the mapping keeps the file alive
    expect(new TextDecoder().decode(m.bytes.subarray(0, 20))).toBe('hello from the child');
    m.unmap();
  });

  it('passes several fds in one message in both directions', async () => {
    const memfd = createMemfd('several', 4096);
    const efd = EventFd.create();
    const [x, y] = native.socketpair();
    try {
      const sent = [memfd.fd, efd.fd, x];
      const described = await peer.request({ op: 'describe-fds' }, sent);
      expect(described.value['targets']).toEqual(sent.map(target));
      const echoed = await peer.request({ op: 'echo-fds' }, sent);
      expect(echoed.value['count']).toBe(3);
      expect([...echoed.fds].map((f) => target(f.fd))).toEqual(sent.map(target));
      // Really the same open files: a write through the echoed eventfd is seen here.
      const echoedEfd = EventFd.adopt(echoed.fds.at(1)!);
      expect(echoedEfd.signal(5n)).toBe(true);
      expect(efd.read()).toBe(5n);
      echoedEfd.close();
      echoed.fds.closeAll();
    } finally {
      memfd.close();
      efd.close();
      native.close(x);
      native.close(y);
    }
  });

  it('an eventfd signalled by the child wakes the parent, and the other way round', async () => {
    const efd = EventFd.create();
    try {
      const signalled = once(efd.watch(), 'signal') as Promise<[bigint]>;
      await peer.request({ op: 'signal-eventfd', value: 3 }, [efd.fd]);
      expect((await signalled)[0]).toBe(3n);
    } finally {
      efd.close();
    }

    const toChild = EventFd.create();
    try {
      const event = peer.nextEvent();
      await peer.request({ op: 'watch-eventfd' }, [toChild.fd]);
      toChild.signal(11n);
      const { value } = await event;
      expect(value).toMatchObject({ event: 'signalled', count: '11' });
    } finally {
      toChild.close();
    }
  });
});

describe('across processes (path socket)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mdevsim-xproc-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a child connects to a listening path and exchanges a memfd', async () => {
    const path = join(dir, 'server.sock');
    const server = listen(path);
    try {
      const peer = await startConnectingPeer(path, async () => ((await once(server, 'connection')) as [UnixSocket])[0]);
      const mem = new MemfdMemory('over-path', C.PAGE_SIZE);
      try {
        mem.bytes.set([1, 2, 3]);
        const reply = await peer.request({ op: 'read-memfd', offset: 0, length: 3 }, [mem.fd!]);
        expect(reply.value['data']).toBe(b64(new Uint8Array([1, 2, 3])));
      } finally {
        mem.close();
        await peer.stop();
      }
    } finally {
      server.close();
    }
  });
});
