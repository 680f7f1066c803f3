/**
 * The one error shape for syscall failures, shared by the native addon (which
 * throws it) and the TS facade (which builds it for errors the addon reports
 * as values, e.g. recvmsg's status array): an `Error` with
 * `code` ('EBADF'), positive `errno` (9) and `syscall` ('sendmsg'), plus
 * `path` for path-based calls.
 */
import { getSystemErrorMap } from 'node:util';

export interface SysError extends Error {
  readonly code: string;
  /** Positive errno (Node's own fs errors use negative numbers; these do not). */
  readonly errno: number;
  readonly syscall: string;
  readonly path?: string;
}

const systemErrors = getSystemErrorMap();

/** Build a SysError; `detail` replaces the strerror text in the message. */
export function sysError(errno: number, syscall: string, options: { path?: string; detail?: string } = {}): SysError {
  const known = systemErrors.get(-errno);
  const code = known?.[0] ?? `E${errno}`;
  const text = options.detail ?? known?.[1] ?? 'unknown error';
  const where = options.path === undefined ? syscall : `${syscall} '${options.path}'`;
  const error = new Error(`${code}: ${text}, ${where}`) as Error & {
    code: string;
    errno: number;
    syscall: string;
    path?: string;
  };
  error.code = code;
  error.errno = errno;
  error.syscall = syscall;
  if (options.path !== undefined) error.path = options.path;
  return error;
}

/** True for a SysError, optionally with one of the given codes. */
export function isSysError(error: unknown, ...codes: string[]): error is SysError {
  if (!(error instanceof Error)) return false;
  const e = error as Partial<SysError>;
  if (typeof e.code !== 'string' || typeof e.errno !== 'number' || typeof e.syscall !== 'string') return false;
  return codes.length === 0 || codes.includes(e.code);
}
