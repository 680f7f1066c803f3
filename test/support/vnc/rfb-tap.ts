/**
 * A pass-through for one RFB connection: listens on a Unix socket, connects
 * each accepted client to the real server (Unix or TCP), forwards every
 * byte untouched both ways and lets an {@link RfbWireReader} read copies.
 * One client at a time; a second one is closed at once.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { RfbWireReader, type WireState } from './rfb-wire.ts';

/** Where a VNC server listens. */
export type VncTarget = { readonly socketPath: string } | { readonly host: string; readonly port: number };

export interface RfbTap {
  /** The Unix socket clients connect to. */
  readonly path: string;
  /** The wire as read so far (the current connection's, or the last one's). */
  readonly wire: WireState;
  /** Resolves once `test` holds for the wire (checked now and after every change); rejects after `timeoutMs`. */
  waitFor(test: (wire: WireState) => boolean, what: string, timeoutMs: number): Promise<WireState>;
  close(): Promise<void>;
}

export async function startRfbTap(path: string, target: VncTarget): Promise<RfbTap> {
  const waiters = new Set<() => void>();
  const notify = (): void => { for (const w of [...waiters]) w(); };
  let reader = new RfbWireReader(notify);
  const sockets = new Set<Socket>();
  let busy = false;

  const server: Server = createServer((client) => {
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    if (busy) { client.destroy(); return; }
    busy = true;
    reader = new RfbWireReader(notify);
    const current = reader;
    const upstream = 'socketPath' in target ? connect(target.socketPath) : connect(target.port, target.host);
    sockets.add(upstream);
    upstream.once('close', () => sockets.delete(upstream));
    // The reader sees each chunk right after it is handed on; it never
    // throws (it records why it stopped instead).
    client.on('data', (chunk: Buffer) => current.client(chunk));
    upstream.on('data', (chunk: Buffer) => current.server(chunk));
    client.pipe(upstream);
    upstream.pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      busy = false;
    };
    client.once('close', end);
    upstream.once('close', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => { server.off('error', reject); resolve(); });
  });

  return {
    path,
    get wire() { return reader.state; },
    waitFor: (test, what, timeoutMs) => new Promise((resolve, reject) => {
      const check = (): void => {
        if (test(reader.state)) { finish(); resolve(reader.state); }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`RFB wire: ${what} did not happen within ${timeoutMs} ms (${describeWire(reader.state)})`));
      }, timeoutMs);
      const finish = (): void => { clearTimeout(timer); waiters.delete(check); };
      waiters.add(check);
      check();
    }),
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/** A one-line account of the wire for failure messages. */
export function describeWire(w: WireState): string {
  const size = w.width !== undefined ? `${w.width}x${w.height}` : 'no ServerInit yet';
  return `${size}, ${w.updateCount} updates, ${w.updateRequests} requests${w.stopped ? `, reading stopped: ${w.stopped}` : ''}`;
}
