/**
 * Echo server for native-roundtrip.bench.ts: a Node process that answers
 * every byte it receives on fd 3 through the addon (UnixSocket), i.e. the
 * do-nothing request/reply server, in Node.
 */
import { UnixSocket } from '../../../src/sys/socket.ts';

const socket = UnixSocket.adopt(3);
socket.on('data', (bytes) => {
  socket.send(bytes); // sendmsg right away; copied only if the kernel does not take it all
});
socket.on('close', () => process.exit(0));
