/**
 * Who may use the web view.
 *
 * The token: loopback is reachable by every local user, so the URL `serve`
 * prints carries a random token (as Jupyter's does) and the page,
 * /state.json and every WebSocket require it. A local user who cannot read
 * that URL cannot watch or type into a guest.
 *
 * The origin: a WebSocket is not bound by the same-origin policy, so any
 * page the user's browser runs could open one to loopback. A browser
 * always names the page that opens it in the Origin header (RFC 6455
 * section 4.1, item 8; WHATWG Fetch), so an upgrade is admitted only from
 * the web view's own page: Origin must be `http://` + the request's Host,
 * which names a loopback host and this port. A missing Origin is refused
 * too: no browser omits it, and other clients need not pose as one.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { ConfigError } from '../util/errors.ts';
import { isLoopback, parseHostHeader } from '../sys/loopback-http.ts';

/** Random bytes in a generated token (256 bits). */
const TOKEN_BYTES = 32;
/** An injected token: URL-safe without escaping, long enough not to be guessed, short enough for a URL. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{22,256}$/;

/** A fresh token: 32 random bytes, base64url. */
export function newToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

/** @throws ConfigError unless `token` is 22–256 characters of the base64url alphabet. */
export function checkToken(token: string): void {
  if (!TOKEN_SHAPE.test(token)) throw new ConfigError('Web view: the token must be 22–256 characters of A–Z, a–z, 0–9, "-" and "_".');
}

/**
 * Whether `given` is the token, in time independent of where they differ:
 * both are hashed first, so the comparison also leaks nothing through the
 * lengths (timingSafeEqual needs equal lengths).
 */
export function tokenMatches(token: string, given: string | null | undefined): boolean {
  if (given === null || given === undefined) return false;
  return timingSafeEqual(digest(token), digest(given));
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * The origin of a page loaded through this Host header (`http://127.0.0.1:8080`,
 * `http://[::1]:8080`, `http://localhost:8080`): undefined unless it names a
 * loopback host and exactly `port`. Built from the parsed
 * parts, so it is safe to put into a header.
 */
export function pageOrigin(hostHeader: string | undefined, port: number): string | undefined {
  if (hostHeader === undefined) return undefined;
  const { name, port: given } = parseHostHeader(hostHeader);
  if (given !== String(port) || !isLoopback(name)) return undefined;
  return `http://${isIP(name) === 6 ? `[${name}]` : name}:${port}`;
}

/** Whether an upgrade's Origin header is the page's own origin (module doc). */
export function originAllowed(origin: string | undefined, hostHeader: string | undefined, port: number): boolean {
  const own = pageOrigin(hostHeader, port);
  return own !== undefined && origin !== undefined && origin.toLowerCase() === own;
}
