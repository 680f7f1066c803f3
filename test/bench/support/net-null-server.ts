/**
 * The plain-Node yardstick of vfio-user.bench.ts: c/vfu-null-server.c's
 * answers (VERSION, REGION_READ, REGION_WRITE, header-only for the rest)
 * from an ordinary `node:net` server, the way one would write it without
 * this project's machinery: no fds, no batching (one socket.write per
 * reply), a Buffer.concat when a message straddles two chunks.
 *
 *   node --import tsx test/bench/support/net-null-server.ts SOCKET_PATH
 *
 * Prints {"event":"ready"} once listening; SIGTERM removes the socket file.
 */
import { unlinkSync } from 'node:fs';
import { createServer } from 'node:net';

const HDR = 16;
const MAX_MSG = HDR + 16 + (1 << 20);
const CMD_VERSION = 1;
const CMD_REGION_READ = 9;
const CMD_REGION_WRITE = 10;
const F_NO_REPLY = 0x10;
const F_TYPE_REPLY = 1;

const path = process.argv[2];
if (path === undefined) {
  console.error('usage: net-null-server SOCKET_PATH');
  process.exit(2);
}

function reply(id: number, command: number, body: Buffer | undefined, bodyLen: number): Buffer {
  const out = Buffer.alloc(HDR + bodyLen);
  out.writeUInt16LE(id, 0);
  out.writeUInt16LE(command, 2);
  out.writeUInt32LE(HDR + bodyLen, 4);
  out.writeUInt32LE(F_TYPE_REPLY, 8);
  if (body !== undefined) body.copy(out, HDR, 0, Math.min(body.length, bodyLen));
  return out;
}

const server = createServer((socket) => {
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    let buf = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let at = 0;
    while (buf.length - at >= HDR) {
      const size = buf.readUInt32LE(at + 4);
      if (size < HDR || size > MAX_MSG) {
        socket.destroy();
        return;
      }
      if (buf.length - at < size) break;
      const id = buf.readUInt16LE(at);
      const command = buf.readUInt16LE(at + 2);
      const flags = buf.readUInt32LE(at + 8);
      const body = buf.subarray(at + HDR, at + size);
      at += size;
      if ((flags & F_NO_REPLY) !== 0) continue;
      if (command === CMD_VERSION) socket.write(reply(id, command, undefined, 4));
      else if (command === CMD_REGION_READ && body.length >= 16) socket.write(reply(id, command, body, 16 + body.readUInt32LE(12)));
      else if (command === CMD_REGION_WRITE && body.length >= 16) socket.write(reply(id, command, body, 16));
      else socket.write(reply(id, command, undefined, 0));
    }
    buf = buf.subarray(at);
    pending = buf.length === 0 ? Buffer.alloc(0) : Buffer.from(buf);
  });
  socket.on('error', () => socket.destroy());
});

try {
  unlinkSync(path);
} catch {
  // no stale file
}
server.listen(path, () => console.log(JSON.stringify({ event: 'ready', socket: path })));
process.on('SIGTERM', () => {
  server.close();
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
  process.exit(0);
});
