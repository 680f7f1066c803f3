/**
 * Loopback-only HTTP listeners (the live view, the noVNC web view): the
 * addresses they may bind, the Host headers they answer, and what every
 * accepted socket costs.
 *
 * Loopback is not private: every local user (and every page a local
 * browser runs) can reach it. The listeners therefore answer only requests
 * whose Host header names a loopback host — a DNS-rebinding page, whose
 * requests name the attacker's domain, gets 403 — and cap their sockets:
 * at most `maxSockets` at once (the kernel's accept queue holds the rest
 * until Node drops them), each charged to the process fd ledger, refused
 * when the ledger has no room.
 */
import type { Server } from 'node:http';
import { isIP, type Socket } from 'node:net';
import { ConfigError } from '../util/errors.ts';
import type { Logger } from '../util/log.ts';
import type { FdLedger } from './fd-ledger.ts';

/** 127.0.0.0/8, ::1 (also as ::ffff:127.x), or 'localhost'. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1' || (h.startsWith('::ffff:127.') && isIP(h.slice(7)) === 4);
  return false;
}

/** A Host header split into its name (brackets of an IPv6 literal removed, lowercase) and port ('' when absent). */
export function parseHostHeader(header: string): { readonly name: string; readonly port: string } {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    if (end < 0) return { name: h.slice(1), port: '' };
    return { name: h.slice(1, end), port: h.startsWith(':', end + 1) ? h.slice(end + 2) : '' };
  }
  const colon = h.lastIndexOf(':');
  return colon < 0 ? { name: h, port: '' } : { name: h.slice(0, colon), port: h.slice(colon + 1) };
}

/**
 * The request's Host header names a loopback host or the bound one (or is
 * missing: only browsers matter for DNS rebinding, and they always send one).
 */
export function hostHeaderAllowed(header: string | undefined, bound: string): boolean {
  if (header === undefined) return true;
  const { name } = parseHostHeader(header);
  return name === bound.toLowerCase() || isLoopback(name);
}

/** Headers on every response: nothing is cached, sniffed or sent on as a Referer. */
export const PRIVATE_RESPONSE_HEADERS = Object.freeze({
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
});

export interface LoopbackListenOptions {
  /** Names the listener in messages: "Live view", "Web view". */
  readonly what: string;
  readonly host: string;
  readonly port: number;
  /** Sockets open at once (Node drops the ones beyond); also the slots registered with the fd ledger. */
  readonly maxSockets: number;
  readonly fdLedger: FdLedger;
  readonly log: Logger;
}

/** A listening server's address and the accounting of its sockets. */
export interface LoopbackListener {
  readonly port: number;
  /** http://host:port/ (an IPv6 host in brackets). */
  readonly url: string;
  /** Sockets open now (HTTP and upgraded ones alike). */
  readonly sockets: ReadonlySet<Socket>;
  /** Sockets closed at accept for want of fds; sockets Node dropped past `maxSockets`. */
  readonly counts: { readonly noFds: number; readonly overCap: number };
  /** Give back the fd-ledger registration (the server itself is the caller's to close). */
  release(): void;
}

/**
 * Listen on `host:port` and account for every socket the server accepts.
 * @throws ConfigError (rejects) for a port in use or an address it may not bind.
 */
export async function listenLoopback(server: Server, opts: LoopbackListenOptions): Promise<LoopbackListener> {
  const { what, host, log } = opts;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      if (err.code === 'EADDRINUSE') reject(new ConfigError(`${what}: port ${opts.port} on ${host} is already in use; pick another port or 0 for a free one.`));
      else if (err.code === 'EACCES') reject(new ConfigError(`${what}: not allowed to listen on port ${opts.port} of ${host}; pick a port above 1023 or 0.`));
      else if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') reject(new ConfigError(`${what}: cannot listen on ${host} (${err.code}).`));
      else reject(err);
    };
    server.once('error', onError);
    server.listen(opts.port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => log.warn(`${what}: ${err.message}`));

  const counts = { noFds: 0, overCap: 0 };
  const sockets = new Set<Socket>();
  // The listener is this service's own fd; every socket it accepts is charged to the process's fd table.
  const registration = opts.fdLedger.register(opts.maxSockets, 1);
  server.maxConnections = opts.maxSockets;
  server.on('drop', () => {
    counts.overCap++;
  });
  server.on('connection', (socket: Socket) => {
    const account = opts.fdLedger.open(`${what} socket`, 1);
    if (account === undefined) {
      counts.noFds++;
      log.warn(`${what}: closing a new connection: the process has no file descriptors to spare.`);
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      account.close();
    });
  });

  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : opts.port;
  const urlHost = isIP(host) === 6 ? `[${host}]` : host;
  return { port, url: `http://${urlHost}:${port}/`, sockets, counts, release: () => registration.release() };
}
