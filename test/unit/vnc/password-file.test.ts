/**
 * The --vnc-password-file reader against real files in a fresh directory per
 * test: what it takes from the first line, and each file it refuses to trust.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/util/errors.ts';
import { VNC_PASSWORD_FILE_MAX_BYTES, readVncPasswordFile } from '../../../src/vnc/password-file.ts';
import { configError } from '../../support/errors.ts';

const root = process.geteuid?.() === 0;
const me = process.geteuid?.() ?? 0;
const INSTEAD = 'pass another --vnc-password-file';
let base: string;
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'mdevsim-vncpw-'));
});
afterEach(() => {
  rmSync(base, { recursive: true, force: true });
});

/** A password file with `content`, mode 0600 unless told otherwise (chmod, so the umask plays no part). */
function file(content: string | Uint8Array, mode = 0o600): string {
  const path = join(base, 'vnc-password');
  writeFileSync(path, content);
  chmodSync(path, mode);
  return path;
}

const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

describe('readVncPasswordFile: what it reads', () => {
  it('takes the first line without its \\n and ignores the rest', () => {
    const got = readVncPasswordFile(file('s3cret\nsecond line\n'));
    expect(text(got.password)).toBe('s3cret');
    expect(got).toMatchObject({ truncated: false, nonAscii: false });
  });

  it('strips a CRLF line ending, and takes a last line without a line ending whole', () => {
    expect(text(readVncPasswordFile(file('s3cret\r\n')).password)).toBe('s3cret');
    expect(text(readVncPasswordFile(file('s3cret')).password)).toBe('s3cret');
    expect(text(readVncPasswordFile(file('a\rb\n')).password)).toBe('a\rb'); // a CR not before LF is part of it
  });

  it('accepts a password longer than 8 bytes whole and flags it as truncated', () => {
    const got = readVncPasswordFile(file('correct horse\n'));
    expect(text(got.password)).toBe('correct horse');
    expect(got.truncated).toBe(true);
    expect(readVncPasswordFile(file('exactly8\n')).truncated).toBe(false);
  });

  it('takes the bytes as they are and flags a non-ASCII password', () => {
    const got = readVncPasswordFile(file('pässwort\n'));
    expect(Buffer.from(got.password).toString('hex')).toBe(Buffer.from('pässwort').toString('hex'));
    expect(got.nonAscii).toBe(true);
  });

  it('accepts a file stricter than 0600 and one of exactly 4 KiB', () => {
    expect(text(readVncPasswordFile(file('s3cret\n', 0o400)).password)).toBe('s3cret');
    const full = `s3cret\n${'#'.repeat(VNC_PASSWORD_FILE_MAX_BYTES - 7)}`;
    expect(text(readVncPasswordFile(file(full)).password)).toBe('s3cret');
  });
});

describe('readVncPasswordFile: what it refuses', () => {
  it('refuses a symbolic link, even to a good file', () => {
    const target = file('s3cret\n');
    const link = join(base, 'link');
    symlinkSync(target, link);
    expect(configError(() => readVncPasswordFile(link))).toBe(`VNC password file ${link} is a symbolic link; remove it or ${INSTEAD}.`);
  });

  it('refuses a file group or others may read, naming the mode and the chmod that fixes it', () => {
    const path = file('s3cret\n', 0o640);
    expect(configError(() => readVncPasswordFile(path))).toBe(`VNC password file ${path} is accessible to group or others (mode 0640); run chmod 600 ${path} or ${INSTEAD}.`);
    chmodSync(path, 0o604);
    expect(configError(() => readVncPasswordFile(path))).toMatch(/\(mode 0604\); run chmod 600/);
    chmodSync(path, 0o601);
    expect(configError(() => readVncPasswordFile(path))).toMatch(/\(mode 0601\)/);
  });

  it.skipIf(!root)('refuses a file another uid owns (as root: chown to 65534)', () => {
    const path = file('s3cret\n');
    chownSync(path, 65534, 65534);
    expect(configError(() => readVncPasswordFile(path))).toBe(`VNC password file ${path} is owned by uid 65534, not by you (uid ${me}); remove it or ${INSTEAD}.`);
  });

  it('refuses an empty file and an empty first line', () => {
    for (const content of ['', '\n', '\r\n', '\nsecond line\n']) {
      const path = file(content);
      expect(configError(() => readVncPasswordFile(path))).toBe(`VNC password file ${path} has no password on its first line; write the password there.`);
    }
  });

  it('refuses a NUL byte in the password', () => {
    const path = file(Uint8Array.of(0x61, 0x00, 0x62, 0x0a));
    expect(configError(() => readVncPasswordFile(path))).toBe(`VNC password file ${path} has a NUL byte in its password, where VNC clients would cut it short; remove it.`);
  });

  it('refuses a file over 4 KiB before reading it', () => {
    const path = file(`s3cret\n${'#'.repeat(VNC_PASSWORD_FILE_MAX_BYTES)}`);
    expect(configError(() => readVncPasswordFile(path))).toBe(`VNC password file ${path} is 4103 bytes long, more than the 4096 it may have; shorten it or ${INSTEAD}.`);
  });

  it('refuses a missing file, a directory and a FIFO (without blocking on the FIFO)', () => {
    const missing = join(base, 'missing');
    expect(configError(() => readVncPasswordFile(missing))).toBe(`VNC password file ${missing} does not exist; create it (mode 0600) or ${INSTEAD}.`);
    const dir = join(base, 'dir');
    mkdirSync(dir, { mode: 0o700 });
    expect(configError(() => readVncPasswordFile(dir))).toBe(`VNC password file ${dir} is not a regular file; remove it or ${INSTEAD}.`);
    const fifo = join(base, 'fifo');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    expect(configError(() => readVncPasswordFile(fifo))).toBe(`VNC password file ${fifo} is not a regular file; remove it or ${INSTEAD}.`);
  });
});
