/**
 * A blocking vfio-user client: every call sends one request and blocks until
 * its reply arrives, the way a vCPU blocks on an MMIO exit while QEMU waits
 * for the device. For synchronous callers such as guest-driver models; the
 * server must run in another process or thread. The calls, their bytes and
 * their reply checks are client-core.ts's, shared with the async client, so
 * both offer the same calls; this file is only the blocking transport.
 */
import { VfioError } from '../util/errors.ts';
import { BlockingSocket } from '../sys/blocking-socket.ts';
import * as R from './requests.ts';
import {
  ClientCore, RUN, handshake, installCalls, resume,
  type DmabufView, type Exchange, type Plan, type Reply, type SyncCalls, type Transport,
} from './client-core.ts';

/** An imported dmabuf; release() unmaps it and releases the server's handle. */
export interface SyncImportedDmabuf extends DmabufView {
  release(): void;
}

export interface SyncVfioUserClient extends SyncCalls {}

export class SyncVfioUserClient implements Transport {
  readonly #socket: BlockingSocket;
  readonly #core: ClientCore;
  readonly server: R.ServerCapabilities;

  private constructor(socket: BlockingSocket, opts: R.ClientOptions) {
    this.#socket = socket;
    this.#core = new ClientCore(opts);
    this.server = this[RUN](handshake(opts), (caps) => caps);
  }

  static connect(path: string, opts: R.ClientOptions = {}): SyncVfioUserClient {
    const socket = BlockingSocket.connect(path, { maxFds: R.clientMaxMsgFds(opts) });
    try {
      return new SyncVfioUserClient(socket, opts);
    } catch (err) {
      socket.close();
      throw err;
    }
  }

  /** Whether the server agreed to the display extension. */
  get display(): boolean {
    return this.server.display;
  }

  /** Send one command and block for its reply (payload copied; fds owned by the caller). With `noReply`, return once sent. */
  request(command: number, payload?: Uint8Array, fds: readonly number[] = [], opts: { noReply?: boolean } = {}): Reply {
    return this.#exchange({ command, payload: payload ?? new Uint8Array(0), fds, noReply: opts.noReply ?? false });
  }

  #exchange(ex: Exchange): Reply {
    const { id, bytes } = this.#core.message(ex);
    this.#socket.send(bytes, ex.fds);
    if (ex.noReply) return { payload: new Uint8Array(0), fds: [] };
    const framer = this.#core.framer;
    for (;;) {
      const f = framer.next();
      if (!f) {
        const chunk = this.#socket.receive();
        framer.push(chunk.bytes, chunk.fds);
        continue;
      }
      const r = this.#core.settle(f, f.id === id ? ex.command : undefined);
      if (r instanceof VfioError) throw r;
      return r;
    }
  }

  [RUN]<T, U>(plan: Plan<T>, finish: (value: T) => U): U {
    let step = plan.next();
    while (!step.done) {
      const ex = step.value;
      step = resume(plan, () => this.#exchange(ex));
    }
    return finish(step.value);
  }

  close(): void {
    this.#core.framer.close();
    this.#socket.close();
  }
}
installCalls(SyncVfioUserClient);
