/**
 * A control-socket client by hand (node:net), for tests that send what the
 * typed client never would: broken frames, lying headers, silence.
 */
import { createConnection, type Socket } from 'node:net';
import { decode } from '@msgpack/msgpack';
import { FrameReader } from '../../src/mgmt/control-wire.ts';

export interface RawControl {
  readonly sock: Socket;
  readonly replies: Record<string, unknown>[];
  /** Settles when the server has closed the connection (or it was destroyed). */
  readonly closed: Promise<void>;
  /** The next reply not yet taken. */
  next(): Promise<Record<string, unknown>>;
  send(b: Uint8Array): void;
}

/** A raw connection that collects replies. */
export async function raw(path: string): Promise<RawControl> {
  const sock = createConnection(path);
  await new Promise<void>((ok, fail) => { sock.once('connect', ok); sock.once('error', fail); });
  // The server may close with our bytes unread (ECONNRESET); 'closed' reports it either way.
  sock.on('error', () => {});
  const replies: Record<string, unknown>[] = [];
  const reader = new FrameReader();
  let waiter: (() => void) | undefined;
  sock.on('data', (d) => reader.push(d, (f) => { replies.push(decode(f) as Record<string, unknown>); waiter?.(); }));
  const closed = new Promise<void>((ok) => sock.once('close', () => ok()));
  let taken = 0;
  return {
    sock, replies, closed,
    send: (b) => void sock.write(b),
    next: async () => {
      while (replies.length <= taken) await new Promise<void>((ok) => { waiter = ok; });
      return replies[taken++]!;
    },
  };
}

/** u32 LE length + body, by hand. */
export function frame(body: Uint8Array): Uint8Array {
  return Buffer.concat([header(body.length), body]);
}

/** A frame header announcing `length` bytes. */
export function header(length: number): Uint8Array {
  const h = Buffer.alloc(4);
  h.writeUInt32LE(length);
  return h;
}
