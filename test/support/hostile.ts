/**
 * Attackers for the hostile-client suite and bench: raw vfio-user
 * connections that pipeline requests, never read, pass fds or never finish
 * the handshake, plus readings of a server process's memory and fd table
 * from /proc.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { connect, type UnixSocket } from '../../src/sys/socket.ts';
import * as P from '../../src/vfio-user/protocol.ts';
import { requestMessage, versionProposal } from '../../src/vfio-user/requests.ts';

/** Peak and current resident memory of a process, in bytes (/proc/PID/status VmHWM, VmRSS). */
export function memoryOf(pid: number): { hwm: number; rss: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { hwm: kib('VmHWM'), rss: kib('VmRSS') };
}

/** Open fds of a process. */
export function fdCountOf(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Whole replies arriving on a raw connection (header only: the attacker never looks inside). */
export interface RawReply { readonly id: number; readonly command: number; readonly error: number; readonly flags: number; readonly fds: number }

/**
 * A raw vfio-user connection: sends whatever it is told, counts the replies
 * it reads (when reading), and can stop reading altogether (pause), as an
 * attacker that wants its replies queued would.
 */
export class RawClient {
  readonly socket: UnixSocket;
  readonly closed: Promise<string>;
  replies = 0;
  #nextId = 1;
  #buffered = new Uint8Array(0);
  readonly #waiters: { n: number; resolve: (r: RawReply) => void }[] = [];
  #last: RawReply | undefined;
  readonly #seen: RawReply[] = [];

  private constructor(socket: UnixSocket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => socket.once('close', (info) => resolve(info.reason)));
    socket.on('data', (bytes, anc) => {
      const fds = anc?.fds.length ?? 0;
      anc?.fds.closeAll();
      const all = new Uint8Array(this.#buffered.length + bytes.length);
      all.set(this.#buffered);
      all.set(bytes, this.#buffered.length);
      let at = 0;
      const v = new DataView(all.buffer);
      while (all.length - at >= 16) {
        const size = v.getUint32(at + 4, true);
        if (all.length - at < size) break;
        const reply = { id: v.getUint16(at, true), command: v.getUint16(at + 2, true), flags: v.getUint32(at + 8, true), error: v.getUint32(at + 12, true), fds };
        at += size;
        this.replies++;
        this.#last = reply;
        if (reply.error !== 0 && this.#seen.length < 16) this.#seen.push(reply);
        while (this.#waiters.length > 0 && this.#waiters[0]!.n <= this.replies) this.#waiters.shift()!.resolve(reply);
      }
      this.#buffered = all.slice(at);
    });
  }

  /** Connect; with `version`, also complete the handshake. */
  static async connect(path: string, opts: { version?: boolean; display?: boolean } = {}): Promise<RawClient> {
    const c = new RawClient(await connect(path, { maxFds: 8 }));
    if (opts.version ?? true) {
      c.send(P.VFIO_USER_VERSION, versionProposal({ display: opts.display ?? false }));
      await c.untilReplies(1);
    }
    return c;
  }

  /** Send one request; returns its id. */
  send(command: number, payload: Uint8Array, fds?: readonly number[]): number {
    const id = this.#nextId++ & 0xffff;
    this.socket.send(requestMessage(id, command, payload), fds);
    return id;
  }

  /** Several fd-less requests in one write. */
  sendMany(messages: readonly Uint8Array[]): void {
    this.socket.send(messages);
  }

  message(command: number, payload: Uint8Array): Uint8Array {
    return requestMessage(this.#nextId++ & 0xffff, command, payload);
  }

  /** Resolves with the n-th reply (counted from the connection's start). */
  untilReplies(n: number): Promise<RawReply> {
    if (this.replies >= n) return Promise.resolve(this.#last!);
    return new Promise((resolve) => this.#waiters.push({ n, resolve }));
  }

  /** The first error replies seen (at most 16). */
  get errors(): readonly RawReply[] {
    return this.#seen;
  }

  /** Stop reading: whatever the server sends piles up on its side. */
  stopReading(): void {
    this.socket.pause();
  }

  close(): void {
    this.socket.close();
  }
}
