/**
 * Paths a hostile local user may have prepared: the socket directory (in
 * /tmp when XDG_RUNTIME_DIR is unset), the sockets in it, the files `-o`
 * and `--record` write, and files read for a secret (a VNC password).
 * Nothing here follows a symbolic link or trusts a file or directory that
 * another uid owns or may write (or, for a secret, read); every refusal is
 * a ConfigError with one sentence saying what is wrong and what to do, a
 * TrustError (logged as a security event) when it is the path's trust.
 *
 * Only the final component is checked (as tmux does for its socket
 * directory): the parents of a private directory are the user's business.
 */
import { chmodSync, chownSync, closeSync, constants, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, readSync, renameSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { constants as osConstants } from 'node:os';
import { ConfigError, TrustError } from '../util/errors.ts';
import { sysError } from './sys-error.ts';

/** How a refusal names the path and what the user can do instead. */
export interface TrustWording {
  /** "Socket directory", "Control socket". */
  readonly what?: string;
  /** The way out besides fixing the path, e.g. "choose another with --dir". */
  readonly instead?: string;
}

export interface PrivateDirOptions extends TrustWording {
  /** Created for this group: mode 0750 and this gid, so its members can reach sockets inside (socket-access.ts). */
  readonly group?: number;
  /** Create the directory (0700, parents as needed; with a group 0750 and that group, parents too) when it is missing. @defaultValue true */
  readonly create?: boolean;
}

export interface PrivateFileOptions extends TrustWording {
  /**
   * A secret (a password file): group and others may not even read it.
   * Otherwise only writing is refused to them, as for the socket directory
   * (a definition, a snapshot to restore). @defaultValue true
   */
  readonly secret?: boolean;
  /** Refuse a file longer than this, before reading any of it. */
  readonly maxBytes: number;
}

export interface OutputFileOptions {
  /** Replace an existing file (or symbolic link) of the user's own, atomically on commit(). */
  readonly force?: boolean;
  /** @defaultValue 0o600 */
  readonly mode?: number;
  /**
   * With force, rename the temporary file over `path` as soon as it exists
   * rather than on commit(): for streams such as traces, which must be found
   * under their own name if the process dies while writing them.
   */
  readonly replaceAtOnce?: boolean;
  /**
   * Write a temporary file and rename it into place even when `path` is
   * new, fsync the file before and the directory after: a crash leaves the
   * old file or the new one, never a part (definitions).
   */
  readonly durable?: boolean;
}

/** A file being written; nothing is visible at `path` under its final content until commit(). */
export interface OutputFile {
  readonly fd: number;
  readonly path: string;
  /** Write all of `bytes` (short writes are retried). */
  write(bytes: Uint8Array): void;
  /** Close, and with force move the temporary file over `path`. Idempotent. */
  commit(): void;
  /** Close and remove what this file created (the temporary file, or the new file). Idempotent. */
  abort(): void;
}

/** The longest path bind() and connect() take: sun_path is 108 bytes including the terminating NUL. */
export const MAX_SOCKET_PATH = 107;

// Node adds O_CLOEXEC to every open (libuv), so it is not spelled out here.
const EXCLUSIVE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

function errnoCode(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' ? code : 'error';
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw new ConfigError(`Cannot inspect ${path} (${errnoCode(err)}).`);
  }
}

function euid(): number {
  return process.geteuid?.() ?? 0;
}

function modeText(st: Stats): string {
  return (st.mode & 0o7777).toString(8).padStart(4, '0');
}

type TrustedKind = 'directory' | 'socket' | 'private file' | 'file';

const IS_KIND: Record<TrustedKind, (st: Stats) => boolean> = {
  directory: (st) => st.isDirectory(),
  socket: (st) => st.isSocket(),
  'private file': (st) => st.isFile(),
  file: (st) => st.isFile(),
};

/** Why `st` is not a trustworthy `kind` (the rest of a sentence about it) and whether chmod fixes it; undefined when it is. */
function untrusted(st: Stats, kind: TrustedKind): { problem: string; chmod: boolean } | undefined {
  if (st.isSymbolicLink()) return { problem: 'is a symbolic link', chmod: false };
  if (!IS_KIND[kind](st)) return { problem: kind === 'private file' ? 'is not a regular file' : `is not a ${kind}`, chmod: false };
  if (st.uid !== euid()) return { problem: `is owned by uid ${st.uid}, not by you (uid ${euid()})`, chmod: false };
  if ((kind === 'directory' || kind === 'file') && (st.mode & 0o022) !== 0) return { problem: `is writable by group or others (mode ${modeText(st)})`, chmod: true };
  // A secret: others must not even read it.
  if (kind === 'private file' && (st.mode & 0o077) !== 0) return { problem: `is accessible to group or others (mode ${modeText(st)})`, chmod: true };
  return undefined;
}

function check(st: Stats, kind: TrustedKind, what: string, path: string, instead: string): void {
  const found = untrusted(st, kind);
  if (found === undefined) return;
  const fix = found.chmod ? `run chmod ${kind === 'directory' ? 700 : kind === 'file' ? 'go-w' : 600} ${path} or ${instead}` : `remove it or ${instead}`;
  throw new TrustError(`${what} ${path} ${found.problem}; ${fix}.`);
}

/**
 * Make sure `dir` is a directory only this user can change: created 0700 when
 * missing (unless create is false), then required to be a real directory
 * (not a symbolic link) owned by the effective uid with no group or other
 * write permission.
 * @throws ConfigError naming the problem and the fix.
 */
export function ensurePrivateDir(dir: string, opts: PrivateDirOptions = {}): void {
  const what = opts.what ?? 'Directory';
  const instead = opts.instead ?? 'choose another directory';
  let st = lstatOrUndefined(dir);
  if (st === undefined) {
    if (opts.create === false) throw new ConfigError(`${what} ${dir} does not exist; create it or ${instead}.`);
    try {
      if (opts.group === undefined) {
        mkdirSync(dirname(dir), { recursive: true, mode: 0o700 });
        mkdirSync(dir, { mode: 0o700 });
      } else {
        // Parents made 0700 would lock the group out of the sockets: they are made like the directory.
        for (const d of [...missingParents(dir), dir]) makeGroupDir(d, opts.group, d !== dir);
      }
    } catch (err) {
      // Someone else may have made it in between: the check below judges whatever is there now.
      if (errnoCode(err) !== 'EEXIST') throw new ConfigError(`Cannot create ${what.toLowerCase()} ${dir} (${errnoCode(err)}); ${instead}.`);
    }
    st = lstatOrUndefined(dir);
    if (st === undefined) throw new ConfigError(`${what} ${dir} disappeared while it was being created; ${instead}.`);
  }
  check(st, 'directory', what, dir, instead);
}

/** The missing directories above `dir`, outermost first. */
function missingParents(dir: string): string[] {
  const missing: string[] = [];
  for (let d = dirname(dir); d !== dirname(d) && lstatOrUndefined(d) === undefined; d = dirname(d)) missing.unshift(d);
  return missing;
}

/** mkdir 0750 with group `gid`; a parent someone made meanwhile is judged later, by the group check. */
function makeGroupDir(dir: string, gid: number, parent: boolean): void {
  try {
    mkdirSync(dir, { mode: 0o750 });
  } catch (err) {
    if (parent && errnoCode(err) === 'EEXIST') return;
    throw err;
  }
  // mkdir's mode is masked by the umask: set it explicitly.
  chownSync(dir, -1, gid);
  chmodSync(dir, 0o750);
}

/**
 * Before connecting to a Unix socket: its directory must pass the
 * ensurePrivateDir rule (nothing is created) and the socket itself must be a
 * socket, not a symbolic link, owned by the effective uid.
 * @throws ConfigError for a path another user could have planted; a SysError
 *   ENOENT (as connect() would give) when the directory or socket is missing.
 */
export function checkTrustedSocket(path: string, wording: TrustWording = {}): void {
  const what = wording.what ?? 'Socket';
  const instead = wording.instead ?? 'use a socket directory of your own';
  const dir = dirname(path);
  const dirStat = lstatOrUndefined(dir);
  if (dirStat === undefined) throw sysError(osConstants.errno.ENOENT, 'connect', { path });
  check(dirStat, 'directory', `${what} directory`, dir, instead);
  const st = lstatOrUndefined(path);
  if (st === undefined) throw sysError(osConstants.errno.ENOENT, 'connect', { path });
  check(st, 'socket', what, path, instead);
}

/**
 * Refuse a socket path bind() would reject, before anything is created.
 * @param fix what to shorten, e.g. "choose a shorter --dir or device name"
 */
export function checkSocketPathLength(path: string, what: string, fix: string): void {
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_SOCKET_PATH) {
    throw new ConfigError(`${what} ${path} is ${bytes} bytes long, more than the ${MAX_SOCKET_PATH} a Unix socket path may have; ${fix}.`);
  }
}

/**
 * Read a file that holds a secret (a password): it must be a regular file,
 * not a symbolic link, owned by the effective uid, with no permission for
 * group or others at all, and at most maxBytes long. It is opened with
 * O_NOFOLLOW and the checks are made on the open file (fstat), so nothing
 * can be swapped in between check and read; O_NONBLOCK keeps a FIFO planted
 * at `path` from blocking the open until it is refused.
 * @throws ConfigError naming the problem and the fix.
 */
export function readPrivateFile(path: string, opts: PrivateFileOptions): Uint8Array {
  const what = opts.what ?? 'File';
  const instead = opts.instead ?? 'choose another file';
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ELOOP') throw new TrustError(`${what} ${path} is a symbolic link; remove it or ${instead}.`);
    if (code === 'ENOENT') throw new ConfigError(`${what} ${path} does not exist; create it (mode 0600) or ${instead}.`);
    throw new ConfigError(`Cannot read ${path} (${code}); ${instead}.`);
  }
  try {
    const st = fstatSync(fd);
    check(st, opts.secret === false ? 'file' : 'private file', what, path, instead);
    const max = opts.maxBytes;
    if (st.size > max) throw new ConfigError(`${what} ${path} is ${st.size} bytes long, more than the ${max} it may have; shorten it or ${instead}.`);
    // One byte more than allowed tells a file that grew since fstat from one of exactly maxBytes.
    const buf = new Uint8Array(max + 1);
    let length = 0;
    while (length < buf.length) {
      const got = readSync(fd, buf, length, buf.length - length, null);
      if (got === 0) break;
      length += got;
    }
    if (length > max) throw new ConfigError(`${what} ${path} grew past ${max} bytes while it was read; shorten it or ${instead}.`);
    return buf.slice(0, length);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`Cannot read ${path} (${errnoCode(err)}); ${instead}.`);
  } finally {
    closeSync(fd);
  }
}

function openExclusive(path: string, mode: number): number {
  return openSync(path, EXCLUSIVE, mode);
}

/** With force: what is at `path` may be replaced only if it is the user's own file or link. */
function checkReplaceable(path: string): void {
  const st = lstatOrUndefined(path);
  if (st === undefined) return;
  if (st.isDirectory()) throw new ConfigError(`${path} is a directory; choose a file name.`);
  if (st.uid !== euid()) {
    const kind = st.isSymbolicLink() ? 'a symbolic link' : 'a file';
    throw new TrustError(`${path} is ${kind} owned by uid ${st.uid}, not by you (uid ${euid()}); refusing to replace it even with --force.`);
  }
}

/**
 * Create `path` for writing without following a symbolic link or touching an
 * existing file: O_CREAT|O_EXCL|O_NOFOLLOW (and O_CLOEXEC), mode 0600. With
 * force an existing file or link of the user's own is replaced on commit()
 * by renaming a temporary file from the same directory over it (the rename
 * replaces a link itself, never its target).
 * @throws ConfigError for an existing file without force, a symbolic link
 *   without force, a directory, a foreign-owned file, or a failed create.
 */
export function createOutputFile(path: string, opts: OutputFileOptions = {}): OutputFile {
  const mode = opts.mode ?? 0o600;
  if (opts.durable === true) {
    // Always through a temporary file; without force the target must not exist yet.
    const existing = lstatOrUndefined(path);
    if (!opts.force && existing?.isSymbolicLink()) throw new TrustError(`${path} is a symbolic link; refusing to write through it.`);
    if (!opts.force && existing !== undefined) throw new ConfigError(`${path} exists.`);
  } else {
    try {
      return outputFile(openExclusive(path, mode), path, undefined);
    } catch (err) {
      const code = errnoCode(err);
      if (code !== 'EEXIST' && code !== 'ELOOP') throw new ConfigError(`Cannot create ${path} (${code}).`);
      if (!opts.force) {
        // O_EXCL reports a symbolic link as EEXIST; say which it is, because the fix differs.
        if (code === 'ELOOP' || lstatOrUndefined(path)?.isSymbolicLink()) {
          throw new TrustError(`${path} is a symbolic link; refusing to write through it (pass --force to replace the link).`);
        }
        throw new ConfigError(`${path} exists; pass --force to replace it.`);
      }
    }
  }
  checkReplaceable(path);
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number;
  try {
    fd = openExclusive(temp, mode);
  } catch (err) {
    throw new ConfigError(`Cannot create a temporary file next to ${path} (${errnoCode(err)}).`);
  }
  if (opts.replaceAtOnce === true) {
    // The open fd follows the inode across the rename: writes land under `path`.
    try {
      renameSync(temp, path);
    } catch (err) {
      closeSync(fd);
      try { unlinkSync(temp); } catch { /* the rename error is the one to report */ }
      throw new ConfigError(`Cannot replace ${path} (${errnoCode(err)}).`);
    }
    return outputFile(fd, path, undefined);
  }
  return outputFile(fd, path, temp, opts.durable === true);
}

function outputFile(fd: number, path: string, temp: string | undefined, durable = false): OutputFile {
  let open = true;
  const close = (): boolean => {
    if (!open) return false;
    open = false;
    closeSync(fd);
    return true;
  };
  const file: OutputFile = {
    fd,
    path,
    write(bytes) {
      for (let done = 0; done < bytes.length;) {
        try {
          done += writeSync(fd, bytes, done, bytes.length - done);
        } catch (err) {
          throw new Error(`Cannot write ${path} (${errnoCode(err)}).`);
        }
      }
    },
    commit() {
      if (durable && open) {
        try { fsyncSync(fd); } catch (err) { throw new Error(`Cannot write ${path} (${errnoCode(err)}).`); }
      }
      if (!close() || temp === undefined) return;
      try {
        renameSync(temp, path);
        if (durable) syncDir(dirname(path));
      } catch (err) {
        try { unlinkSync(temp); } catch { /* the rename error is the one to report */ }
        throw new ConfigError(`Cannot replace ${path} (${errnoCode(err)}).`);
      }
    },
    abort() {
      if (!close()) return;
      try {
        unlinkSync(temp ?? path);
      } catch {
        // Already gone: nothing of ours is left behind.
      }
    },
  };
  return file;
}

/** fsync a directory, so a rename in it survives a crash. */
function syncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

/** createOutputFile, write all of `bytes`, commit; on any failure nothing new is left behind. */
export function writeOutputFile(path: string, bytes: Uint8Array, opts: OutputFileOptions = {}): void {
  const file = createOutputFile(path, opts);
  try {
    file.write(bytes);
    file.commit();
  } catch (err) {
    file.abort();
    throw err;
  }
}
