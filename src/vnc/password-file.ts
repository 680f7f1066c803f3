/**
 * The password file `serve --vnc-password-file FILE` names: the password in
 * plain text on its first line. It is a secret, so it is read only if it is
 * private to the user (src/sys/trusted-path.ts readPrivateFile: a regular
 * file, no symbolic link, owned by the effective uid, mode 0600 or
 * stricter) and small.
 */
import { readPrivateFile } from '../sys/trusted-path.ts';
import { ConfigError } from '../util/errors.ts';
import { VNC_PASSWORD_MAX_BYTES } from './vnc-auth.ts';

/** Longest password file read; a password takes at most 8 bytes, so anything near this is a mistake. */
export const VNC_PASSWORD_FILE_MAX_BYTES = 4096;

export interface VncPasswordFile {
  /** The first line's bytes without its line ending (\n or \r\n): never empty, no NUL byte. */
  readonly password: Uint8Array;
  /** Longer than 8 bytes: only the first 8 take part in VNC authentication, which the user should be told. */
  readonly truncated: boolean;
  /**
   * Has a byte above 0x7f. Clients encode non-ASCII characters differently
   * (noVNC sends the low byte of each UTF-16 unit, C viewers the bytes they
   * were typed as, UTF-8 in a UTF-8 locale), so some of them will fail to
   * log in: worth a warning.
   */
  readonly nonAscii: boolean;
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * Read the VNC password from `path`: the first line, without \n or \r\n; the
 * rest of the file is ignored.
 * @throws ConfigError when the file is not private to the user, is larger
 *   than 4 KiB, has nothing on its first line, or has a NUL byte there
 *   (C clients would stop the password at it).
 */
export function readVncPasswordFile(path: string): VncPasswordFile {
  const what = 'VNC password file';
  const bytes = readPrivateFile(path, { what, instead: 'pass another --vnc-password-file', maxBytes: VNC_PASSWORD_FILE_MAX_BYTES });
  const newline = bytes.indexOf(LF);
  let end = newline < 0 ? bytes.length : newline;
  if (newline > 0 && bytes[newline - 1] === CR) end--;
  const password = bytes.slice(0, end);
  if (password.length === 0) throw new ConfigError(`${what} ${path} has no password on its first line; write the password there.`);
  if (password.includes(0)) throw new ConfigError(`${what} ${path} has a NUL byte in its password, where VNC clients would cut it short; remove it.`);
  return {
    password,
    truncated: password.length > VNC_PASSWORD_MAX_BYTES,
    nonAscii: password.some((b) => b > 0x7f),
  };
}
