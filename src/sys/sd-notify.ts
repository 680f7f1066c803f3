/**
 * The service manager's readiness protocol (systemd sd_notify(3)): one
 * datagram per state change to the AF_UNIX socket named by $NOTIFY_SOCKET, a
 * path or, with a leading '@', a Linux abstract name. The state is
 * newline-separated assignments; the manager ignores ones it does not know.
 *
 *   notifyReady(`serving ${n} device(s)`);   // READY=1 + STATUS=
 *   notifyReloading();                       // RELOADING=1 + MONOTONIC_USEC=
 *   notifyStopping();                        // STOPPING=1
 *
 * Without $NOTIFY_SOCKET (not started by systemd with Type=notify) every call
 * does nothing and returns false. A notification that cannot be sent is
 * never an error: sd_notify(3) recommends ignoring the result, and a service
 * that works must not stop because its status line did not arrive. The first
 * failure per address is a warning, later ones are debug lines.
 */
import { logger } from '../util/log.ts';
import { native } from './addon.ts';
import { MAX_SOCKET_PATH } from './trusted-path.ts';

const log = logger('mgmt');

/**
 * The longest message systemd accepts: NOTIFY_BUFFER_MAX is PIPE_BUF, and
 * src/core/manager.c (manager_dispatch_notify_fd) ignores a longer one
 * ("Received notify message exceeded maximum size").
 */
export const NOTIFY_MESSAGE_MAX = 4096;

/**
 * How long a send waits while the manager's queue is full. libsystemd waits
 * without a bound; a lost READY=1 gets the service killed at its start
 * timeout, so we wait too, but a manager that stopped reading must not hold
 * serve's event loop for longer than this.
 */
export const NOTIFY_SEND_TIMEOUT_MS = 1000;

/** STATUS= texts are cut to this many bytes: a status line, with room left in the message for the other fields. */
export const STATUS_MAX_BYTES = 1024;

/** Addresses that have had their warning; bounded although $NOTIFY_SOCKET does not change while we run. */
const warned = new Set<string>();
const MAX_WARNED = 16;

function fail(address: string, why: string): false {
  const line = `cannot notify the service manager at ${address}: ${why}`;
  if (!warned.has(address) && warned.size < MAX_WARNED) {
    warned.add(address);
    log.event('warn', 'notify-failed', `${line}; carrying on (further failures are debug lines)`, { socket: address, reason: why });
  } else {
    log.debug(line);
  }
  return false;
}

/** Why `address` cannot be a notify socket we send to, or undefined when it can. */
function badAddress(address: string): string | undefined {
  // systemd also knows vsock:CID:PORT (a VM's manager); a process on this host is never given one.
  if (!address.startsWith('/') && !address.startsWith('@')) return 'not an absolute path or an @abstract name';
  if (address === '@') return 'an empty abstract name';
  const bytes = Buffer.byteLength(address);
  if (bytes > MAX_SOCKET_PATH) return `${bytes} bytes long, more than the ${MAX_SOCKET_PATH} a socket address may have`;
  if (address.includes('\0')) return 'contains a NUL character';
  return undefined;
}

/**
 * Send `state` (e.g. "READY=1\nSTATUS=serving") to the service manager.
 * @returns true when the datagram was sent; false when $NOTIFY_SOCKET is
 *   unset or empty, or the notification could not be sent (logged). Never
 *   throws.
 */
export function sdNotify(state: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const address = env['NOTIFY_SOCKET'];
  if (address === undefined || address === '') return false;
  const bad = badAddress(address);
  if (bad !== undefined) return fail(address, `NOTIFY_SOCKET is ${bad}`);
  const bytes = Buffer.from(state, 'utf8');
  if (bytes.length === 0) return fail(address, 'the message is empty');
  // systemd drops a message with an embedded NUL as a whole.
  if (bytes.includes(0)) return fail(address, 'the message contains a NUL byte');
  if (bytes.length > NOTIFY_MESSAGE_MAX) return fail(address, `the message is ${bytes.length} bytes, more than the ${NOTIFY_MESSAGE_MAX} systemd accepts`);
  try {
    if (native.sendDatagram(address, bytes, NOTIFY_SEND_TIMEOUT_MS) < 0) return fail(address, `its queue stayed full for ${NOTIFY_SEND_TIMEOUT_MS} ms`);
    return true;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return fail(address, typeof code === 'string' ? code : err instanceof Error ? err.message : String(err));
  }
}

/**
 * Text for a STATUS= field: one line (systemd splits the message at both
 * '\n' and '\r', so either would start a new assignment), no NUL, at most
 * STATUS_MAX_BYTES bytes of UTF-8, cut between characters.
 */
export function statusLine(text: string): string {
  const flat = text.replace(/[\r\n\0]+/g, ' ');
  if (Buffer.byteLength(flat) <= STATUS_MAX_BYTES) return flat;
  let out = '';
  let size = 0;
  for (const ch of flat) {
    const n = Buffer.byteLength(ch);
    if (size + n > STATUS_MAX_BYTES) break;
    out += ch;
    size += n;
  }
  return out;
}

/**
 * CLOCK_MONOTONIC in microseconds, as MONOTONIC_USEC= wants it.
 * process.hrtime.bigint() is libuv's uv_hrtime() (Node src/node_process_methods.cc),
 * which on Linux is clock_gettime(CLOCK_MONOTONIC) (libuv 1.46 src/unix/core.c
 * uv_hrtime -> src/unix/linux.c uv__hrtime with UV_CLOCK_PRECISE).
 */
export function monotonicUsec(): bigint {
  return process.hrtime.bigint() / 1000n;
}

/** READY=1: startup (or a reload) finished; with a STATUS= line when given. */
export function notifyReady(status?: string, env: NodeJS.ProcessEnv = process.env): boolean {
  return sdNotify(status === undefined ? 'READY=1' : `READY=1\nSTATUS=${statusLine(status)}`, env);
}

/**
 * RELOADING=1 with MONOTONIC_USEC= (systemd 253+ matches it against the time
 * it asked for the reload; older ones ignore the field). Send READY=1
 * (notifyReady) when the reload is done, whether or not it succeeded.
 */
export function notifyReloading(env: NodeJS.ProcessEnv = process.env): boolean {
  return sdNotify(`RELOADING=1\nMONOTONIC_USEC=${monotonicUsec()}`, env);
}

/** STATUS=: the one-line text `systemctl status` shows. */
export function notifyStatus(text: string, env: NodeJS.ProcessEnv = process.env): boolean {
  return sdNotify(`STATUS=${statusLine(text)}`, env);
}

/** STOPPING=1: shutdown has begun. */
export function notifyStopping(env: NodeJS.ProcessEnv = process.env): boolean {
  return sdNotify('STOPPING=1', env);
}
