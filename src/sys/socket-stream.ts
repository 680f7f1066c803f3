/**
 * A connected UnixSocket as a Node Duplex stream, for protocols written
 * against streams (the RFB server) that still want this layer's listener:
 * its stale-socket handling, the socket file's mode set before listen(),
 * its fd accounting.
 *
 * Backpressure carries through both ways: the socket is paused while the
 * stream's reader is full, and a write completes only once the socket's own
 * queue is below the stream's high-water mark, so `writableLength` grows
 * for a peer that does not read, as it would on a net.Socket.
 */
import { Duplex } from 'node:stream';
import type { UnixSocket } from './socket.ts';

export function unixSocketStream(socket: UnixSocket, highWaterMark = 64 * 1024): Duplex {
  let waiting: (() => void) | null = null;
  const stream = new Duplex({
    allowHalfOpen: false,
    highWaterMark,
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _enc, done) {
      if (socket.closed) { done(new Error('the socket is closed')); return; }
      socket.send(chunk);
      if (socket.queuedBytes <= highWaterMark) done();
      else waiting = done;
    },
    destroy(err, done) {
      socket.close();
      done(err);
    },
  });
  socket.on('data', (bytes) => {
    // The socket reuses its receive buffer: the stream gets its own copy.
    if (!stream.push(Buffer.from(bytes))) socket.pause();
  });
  socket.on('drain', () => {
    const done = waiting;
    waiting = null;
    done?.();
  });
  socket.on('close', () => {
    const done = waiting;
    waiting = null;
    done?.();
    stream.push(null);
    stream.destroy();
  });
  return stream;
}
