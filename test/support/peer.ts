/**
 * Parent side of test/support/native-peer.ts: spawn a real child process
 * connected by a socketpair (its end becomes the child's fd 3) or told to
 * connect to a path, and talk to it with JSON frames.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { FdSet } from '../../src/sys/fds.ts';
import { UnixSocket, rawSocketpair, type CloseInfo, type SendFds, type SocketOptions } from '../../src/sys/socket.ts';
import { FrameReader, encodeJsonFrame } from './frames.ts';
import type { PeerRequest } from './native-peer.ts';

const PEER_SCRIPT = fileURLToPath(new URL('./native-peer.ts', import.meta.url));

export interface PeerReply {
  readonly value: Record<string, unknown>;
  /** Owned by the caller: close (or take) them. */
  readonly fds: FdSet;
}

export class Peer {
  readonly child: ChildProcess;
  readonly socket: UnixSocket;
  readonly exited: Promise<number | null>;
  readonly closed: Promise<CloseInfo>;
  readonly #reader = new FrameReader();
  readonly #waiting: ((reply: PeerReply) => void)[] = [];
  readonly #events: ((reply: PeerReply) => void)[] = [];

  constructor(child: ChildProcess, socket: UnixSocket) {
    this.child = child;
    this.socket = socket;
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    this.closed = new Promise((resolve) => socket.once('close', resolve));
    socket.on('data', (bytes, ancillary) => {
      for (const frame of this.#reader.push(bytes, ancillary)) {
        const value = JSON.parse(new TextDecoder().decode(frame.payload)) as Record<string, unknown>;
        const reply = { value, fds: frame.fds };
        const waiter = 'event' in value ? this.#events.shift() : this.#waiting.shift();
        if (waiter === undefined) frame.fds.closeAll();
        else waiter(reply);
      }
    });
    socket.on('close', () => this.#reader.dispose());
  }

  /** Bytes of an incomplete frame the reader holds. */
  get buffered(): number {
    return this.#reader.buffered;
  }

  /** Send a request (fds borrowed) and wait for its reply. Throws if the peer reports an error. */
  async request(req: PeerRequest, fds?: SendFds): Promise<PeerReply> {
    const reply = new Promise<PeerReply>((resolve) => this.#waiting.push(resolve));
    this.socket.send(encodeJsonFrame(req), fds);
    const r = await reply;
    if (r.value['ok'] !== true) {
      r.fds.closeAll();
      throw new Error(`peer: ${String(r.value['error'])}`);
    }
    return r;
  }

  /** Send a request without waiting for a reply. */
  post(req: PeerRequest, fds?: SendFds): void {
    this.socket.send(encodeJsonFrame(req), fds);
  }

  /** The next unsolicited `{ event }` frame. */
  nextEvent(): Promise<PeerReply> {
    return new Promise((resolve) => this.#events.push(resolve));
  }

  /** Ask the child to exit and wait for it. */
  async stop(): Promise<void> {
    if (!this.socket.closed) await this.request({ op: 'exit' }).then((r) => r.fds.closeAll());
    await this.exited;
    this.socket.close();
  }

  kill(): Promise<number | null> {
    this.child.kill('SIGKILL');
    return this.exited;
  }
}

function spawnPeer(args: string[], extraFd?: number): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', PEER_SCRIPT, ...args], {
    stdio: extraFd === undefined ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'inherit', 'inherit', extraFd],
  });
}

/** A child connected over a socketpair. */
export function startPeer(options: SocketOptions = {}): Peer {
  const [mine, theirs] = rawSocketpair();
  let child: ChildProcess;
  try {
    child = spawnPeer([], theirs.fd);
  } finally {
    theirs.close(); // the child has its copy; keeping ours would hide its exit (no EOF)
  }
  return new Peer(child, UnixSocket.adopt(mine, options));
}

/** Spawn a child that connects to `path`; resolves once `accept` yields its socket. */
export async function startConnectingPeer(path: string, accept: () => Promise<UnixSocket>): Promise<Peer> {
  const child = spawnPeer(['--connect', path]);
  return new Peer(child, await accept());
}
