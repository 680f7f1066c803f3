/**
 * Child-process peer for the native-layer integration tests. Started by
 * test/support/peer.ts as `node --import tsx native-peer.ts`, with its socket
 * as fd 3 (or `--connect <path>`). Speaks JSON frames (test/support/frames.ts):
 * each request gets exactly one reply `{ ok: true, ... }` or
 * `{ ok: false, error }`, possibly with fds. Received fds not used by an
 * operation are closed when the request is done.
 */
import { readlinkSync } from 'node:fs';
import { EventFd } from '../../src/sys/eventfd.ts';
import type { FdSet, OwnedFd } from '../../src/sys/fds.ts';
import { closeAll } from '../../src/sys/fds.ts';
import { createMemfd, mapFd } from '../../src/sys/memfd.ts';
import { UnixSocket, connect } from '../../src/sys/socket.ts';
import { FrameReader, encodeFrame, encodeJsonFrame } from './frames.ts';

export type PeerRequest =
  /** Map fds[0] read-only and return bytes [offset, offset+length) as base64. */
  | { op: 'read-memfd'; offset: number; length: number }
  /** Map fds[0] read-write and write base64 `data` at `offset`. */
  | { op: 'write-memfd'; offset: number; data: string }
  /** Create a memfd of `size` bytes holding `data` at 0 and send it back. */
  | { op: 'make-memfd'; size: number; data: string }
  /** Send every received fd back in one message. */
  | { op: 'echo-fds' }
  /** Report what each received fd points to (readlink /proc/self/fd/N). */
  | { op: 'describe-fds' }
  /** Add `value` to the eventfd fds[0]. */
  | { op: 'signal-eventfd'; value: number }
  /** Reply at once; later send `{ event: 'signalled', count }` when eventfd fds[0] fires. */
  | { op: 'watch-eventfd' }
  /** Send `count` fresh eventfds in one message (more than the receiver may accept). */
  | { op: 'send-fds'; count: number }
  /** Send the first `sent` bytes of a frame announcing `length` bytes, with `fds` memfds, then nothing. */
  | { op: 'send-partial'; length: number; sent: number; fds: number }
  /** Reply, then stop reading (so that the parent's output queues up). */
  | { op: 'pause' }
  /** Reply, then exit. */
  | { op: 'exit' };

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
const unb64 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'base64'));

function handle(socket: UnixSocket, req: PeerRequest, fds: FdSet): void {
  const reply = (value: object, sendFds?: readonly (number | OwnedFd)[]): void => {
    socket.send(encodeJsonFrame({ ok: true, ...value }), sendFds);
  };
  const fd0 = (): OwnedFd => {
    const fd = fds.at(0);
    if (fd === undefined) throw new Error(`${req.op}: needs an fd`);
    return fd;
  };
  switch (req.op) {
    case 'read-memfd': {
      const m = mapFd(fd0(), req.offset, req.length, { writable: false });
      try {
        reply({ data: b64(m.bytes) });
      } finally {
        m.unmap();
      }
      return;
    }
    case 'write-memfd': {
      const data = unb64(req.data);
      const m = mapFd(fd0(), req.offset, data.byteLength, { writable: true });
      m.bytes.set(data);
      m.unmap();
      reply({});
      return;
    }
    case 'make-memfd': {
      const fd = createMemfd('peer', req.size);
      try {
        const data = unb64(req.data);
        const m = mapFd(fd, 0, Math.max(data.byteLength, 1), { writable: true });
        m.bytes.set(data);
        m.unmap();
        reply({}, [fd]);
      } finally {
        fd.close();
      }
      return;
    }
    case 'echo-fds':
      reply({ count: fds.ownedCount }, [...fds].filter((f) => f.owned));
      return;
    case 'describe-fds':
      reply({ targets: [...fds].map((f) => readlinkSync(`/proc/self/fd/${f.fd}`)) });
      return;
    case 'signal-eventfd': {
      const efd = EventFd.adopt(fd0());
      try {
        efd.signal(req.value);
      } finally {
        efd.close();
      }
      reply({});
      return;
    }
    case 'watch-eventfd': {
      const efd = EventFd.adopt(fd0());
      efd.watch().once('signal', (count) => {
        efd.close();
        socket.send(encodeJsonFrame({ event: 'signalled', count: count.toString() }));
      });
      reply({});
      return;
    }
    case 'send-fds': {
      const efds = Array.from({ length: req.count }, () => EventFd.create());
      try {
        reply({ count: req.count }, efds.map((e) => e.fd));
      } finally {
        for (const e of efds) e.close();
      }
      return;
    }
    case 'send-partial': {
      const memfds = Array.from({ length: req.fds }, (_, i) => createMemfd(`partial-${i}`, 4096));
      try {
        const frame = encodeFrame(new Uint8Array(req.length).fill(0x5a));
        socket.send(frame.subarray(0, req.sent), memfds);
      } finally {
        closeAll(memfds);
      }
      return; // no reply: the parent kills us mid-message
    }
    case 'pause':
      reply({});
      socket.pause();
      return;
    case 'exit':
      reply({});
      setImmediate(() => {
        socket.close();
        process.exit(0);
      });
      return;
  }
}

async function main(): Promise<void> {
  const at = process.argv.indexOf('--connect');
  const socket = at >= 0 ? await connect(process.argv[at + 1]!) : UnixSocket.adopt(3);
  const reader = new FrameReader();
  socket.on('data', (bytes, ancillary) => {
    for (const frame of reader.push(bytes, ancillary)) {
      try {
        const req = JSON.parse(new TextDecoder().decode(frame.payload)) as PeerRequest;
        handle(socket, req, frame.fds);
      } catch (error) {
        socket.send(encodeJsonFrame({ ok: false, error: String(error) }));
      } finally {
        frame.fds.closeAll();
      }
    }
  });
  socket.on('close', () => {
    reader.dispose();
    process.exit(0);
  });
}

void main();
