/**
 * The filesystem trust rules against the real filesystem, in a fresh
 * directory per test: private directories, sockets a client may trust, and
 * output files that never follow a link or clobber a file unasked.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chmodSync, chownSync, lchownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../../src/util/errors.ts';
import { configError } from '../../support/errors.ts';
import {
  MAX_SOCKET_PATH,
  checkSocketPathLength,
  checkTrustedSocket,
  createOutputFile,
  ensurePrivateDir,
  readPrivateFile,
  writeOutputFile,
} from '../../../src/sys/trusted-path.ts';

const root = process.geteuid?.() === 0;
const me = process.geteuid?.() ?? 0;
let base: string;
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'mdevsim-trust-'));
});
afterEach(() => {
  rmSync(base, { recursive: true, force: true });
});

const mode = (path: string): number => lstatSync(path).mode & 0o7777;

describe('ensurePrivateDir', () => {
  it('creates a missing directory (and its parents) with mode 0700', () => {
    const dir = join(base, 'a', 'sockets');
    ensurePrivateDir(dir);
    expect(statSync(dir).isDirectory()).toBe(true);
    expect(mode(dir)).toBe(0o700);
    ensurePrivateDir(dir); // an existing private directory is accepted as is
  });

  it('does not create with create: false', () => {
    const dir = join(base, 'missing');
    expect(configError(() => ensurePrivateDir(dir, { create: false, what: 'Socket directory' }))).toBe(`Socket directory ${dir} does not exist; create it or choose another directory.`);
  });

  it('refuses a world-writable directory, naming the mode and the chmod that fixes it', () => {
    const dir = join(base, 'open');
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    expect(configError(() => ensurePrivateDir(dir, { what: 'Socket directory', instead: 'choose another with --dir' })))
      .toBe(`Socket directory ${dir} is writable by group or others (mode 0777); run chmod 700 ${dir} or choose another with --dir.`);
    chmodSync(dir, 0o1733);
    expect(configError(() => ensurePrivateDir(dir))).toMatch(/\(mode 1733\)/);
    chmodSync(dir, 0o755); // readable by others is fine; only write matters
    ensurePrivateDir(dir);
  });

  it('refuses a symbolic link to a private directory, and a file', () => {
    const real = join(base, 'real');
    mkdirSync(real, { mode: 0o700 });
    const link = join(base, 'link');
    symlinkSync(real, link);
    expect(configError(() => ensurePrivateDir(link))).toBe(`Directory ${link} is a symbolic link; remove it or choose another directory.`);
    const file = join(base, 'file');
    writeFileSync(file, '');
    expect(configError(() => ensurePrivateDir(file))).toBe(`Directory ${file} is not a directory; remove it or choose another directory.`);
  });

  it.skipIf(!root)('refuses a directory another uid owns', () => {
    const dir = join(base, 'theirs');
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, 12345, 12345);
    expect(configError(() => ensurePrivateDir(dir, { what: 'Socket directory' })))
      .toBe(`Socket directory ${dir} is owned by uid 12345, not by you (uid ${me}); remove it or choose another directory.`);
  });
});

describe('checkTrustedSocket', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((done) => (server ? server.close(() => done()) : done()));
    server = undefined;
  });
  async function listenAt(path: string): Promise<void> {
    server = createServer();
    await new Promise<void>((ok, fail) => { server!.once('error', fail); server!.listen(path, ok); });
  }

  it('accepts the user\'s own socket in a private directory; a missing one is ENOENT, like connect()', async () => {
    const path = join(base, 'control.sock');
    expect(() => checkTrustedSocket(path)).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'connect' }));
    expect(() => checkTrustedSocket(join(base, 'gone', 'x.sock'))).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    await listenAt(path);
    checkTrustedSocket(path);
  });

  it('refuses a socket in a world-writable directory, a link to a socket, and a file that is not a socket', async () => {
    const real = join(base, 'real.sock');
    await listenAt(real);
    const link = join(base, 'control.sock');
    symlinkSync(real, link);
    expect(configError(() => checkTrustedSocket(link, { what: 'Control socket' }))).toBe(`Control socket ${link} is a symbolic link; remove it or use a socket directory of your own.`);
    const file = join(base, 'plain.sock');
    writeFileSync(file, '');
    expect(configError(() => checkTrustedSocket(file))).toMatch(/is not a socket; remove it/);
    chmodSync(base, 0o777);
    expect(configError(() => checkTrustedSocket(real, { what: 'Control socket' })))
      .toBe(`Control socket directory ${base} is writable by group or others (mode 0777); run chmod 700 ${base} or use a socket directory of your own.`);
  });

  it.skipIf(!root)('refuses a socket, or the directory of a socket, that another uid owns', async () => {
    const path = join(base, 'control.sock');
    await listenAt(path);
    chownSync(path, 12345, 12345);
    expect(configError(() => checkTrustedSocket(path))).toBe(`Socket ${path} is owned by uid 12345, not by you (uid ${me}); remove it or use a socket directory of your own.`);
    chownSync(path, me, me);
    chownSync(base, 12345, 12345);
    expect(configError(() => checkTrustedSocket(path))).toMatch(/^Socket directory .* is owned by uid 12345/);
  });
});

describe('checkSocketPathLength', () => {
  it(`takes ${MAX_SOCKET_PATH} bytes and refuses one more, counting bytes, not characters`, () => {
    checkSocketPathLength(`/${'a'.repeat(MAX_SOCKET_PATH - 1)}`, 'Socket', 'shorten it');
    const long = `/${'a'.repeat(MAX_SOCKET_PATH)}`;
    expect(configError(() => checkSocketPathLength(long, 'Socket', 'shorten it'))).toBe(`Socket ${long} is 108 bytes long, more than the 107 a Unix socket path may have; shorten it.`);
    expect(() => checkSocketPathLength(`/${'é'.repeat(54)}`, 'Socket', 'shorten it')).toThrow(/109 bytes/);
  });
});

describe('createOutputFile / writeOutputFile', () => {
  it('creates a new file with mode 0600; abort removes it', () => {
    const path = join(base, 'out.png');
    writeOutputFile(path, new Uint8Array([1, 2, 3]));
    expect([...readFileSync(path)]).toEqual([1, 2, 3]);
    expect(mode(path)).toBe(0o600);
    const other = join(base, 'other.bin');
    const f = createOutputFile(other);
    f.write(new Uint8Array([9]));
    f.abort();
    f.abort();
    expect(readdirSync(base)).toEqual(['out.png']);
  });

  it('refuses an existing file unless forced, and then replaces it atomically, leaving no temporary file', () => {
    const path = join(base, 'snap');
    writeFileSync(path, 'keep', { mode: 0o644 });
    expect(configError(() => writeOutputFile(path, new Uint8Array([1])))).toBe(`${path} exists; pass --force to replace it.`);
    expect(readFileSync(path, 'utf8')).toBe('keep');
    const f = createOutputFile(path, { force: true });
    f.write(new TextEncoder().encode('new'));
    expect(readFileSync(path, 'utf8')).toBe('keep'); // nothing changes before commit
    f.commit();
    f.commit();
    expect(readFileSync(path, 'utf8')).toBe('new');
    expect(mode(path)).toBe(0o600);
    expect(readdirSync(base)).toEqual(['snap']);
    // A forced write that is aborted leaves the old file and no temporary file.
    const g = createOutputFile(path, { force: true });
    g.write(new Uint8Array([0]));
    g.abort();
    expect(readFileSync(path, 'utf8')).toBe('new');
    expect(readdirSync(base)).toEqual(['snap']);
  });

  it('with force and replaceAtOnce, a stream replaces a planted link at once and is found under its own name while being written', () => {
    const target = join(base, 'victim');
    writeFileSync(target, 'precious');
    const path = join(base, 'run.trace');
    symlinkSync(target, path);
    const f = createOutputFile(path, { force: true, replaceAtOnce: true });
    f.write(new TextEncoder().encode('rec1'));
    expect(lstatSync(path).isSymbolicLink()).toBe(false);
    expect(readFileSync(path, 'utf8')).toBe('rec1'); // before commit: a crash now leaves the trace in place
    f.commit();
    expect(readFileSync(target, 'utf8')).toBe('precious');
    expect(mode(path)).toBe(0o600);
    expect(readdirSync(base).sort()).toEqual(['run.trace', 'victim']);
  });

  it('refuses a planted symbolic link without force; with force replaces the link and leaves its target untouched', () => {
    const target = join(base, 'victim');
    writeFileSync(target, 'precious');
    const path = join(base, 'shot.png');
    symlinkSync(target, path);
    expect(configError(() => writeOutputFile(path, new Uint8Array([1]))))
      .toBe(`${path} is a symbolic link; refusing to write through it (pass --force to replace the link).`);
    const dangling = join(base, 'dangling.png');
    symlinkSync(join(base, 'nowhere'), dangling);
    expect(configError(() => writeOutputFile(dangling, new Uint8Array([1])))).toMatch(/is a symbolic link; refusing to write through it/);
    expect(readdirSync(base)).not.toContain('nowhere');

    writeOutputFile(path, new Uint8Array([7]), { force: true });
    expect(lstatSync(path).isSymbolicLink()).toBe(false);
    expect([...readFileSync(path)]).toEqual([7]);
    expect(readFileSync(target, 'utf8')).toBe('precious');
  });

  it('refuses a directory even with force, and a missing parent directory in one sentence', () => {
    const dir = join(base, 'd');
    mkdirSync(dir);
    expect(configError(() => writeOutputFile(dir, new Uint8Array([1]), { force: true }))).toBe(`${dir} is a directory; choose a file name.`);
    const orphan = join(base, 'no', 'such', 'file');
    expect(configError(() => writeOutputFile(orphan, new Uint8Array([1])))).toBe(`Cannot create ${orphan} (ENOENT).`);
  });

  it.skipIf(!root)('refuses to replace a file or a link another uid owns, even with force', () => {
    const file = join(base, 'theirs');
    writeFileSync(file, 'theirs');
    chownSync(file, 12345, 12345);
    expect(configError(() => writeOutputFile(file, new Uint8Array([1]), { force: true })))
      .toBe(`${file} is a file owned by uid 12345, not by you (uid ${me}); refusing to replace it even with --force.`);
    expect(readFileSync(file, 'utf8')).toBe('theirs');
    const link = join(base, 'their-link');
    symlinkSync(file, link);
    lchownSync(link, 12345, 12345);
    expect(configError(() => writeOutputFile(link, new Uint8Array([1]), { force: true }))).toMatch(/is a symbolic link owned by uid 12345/);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readdirSync(base).sort()).toEqual(['their-link', 'theirs']);
  });
});

describe('readPrivateFile', () => {
  it('returns the bytes of a 0600 file of the user\'s own, up to maxBytes', () => {
    const path = join(base, 'secret');
    writeFileSync(path, 'abc', { mode: 0o600 });
    expect([...readPrivateFile(path, { maxBytes: 3 })]).toEqual([0x61, 0x62, 0x63]);
    expect(configError(() => readPrivateFile(path, { maxBytes: 2 }))).toBe(`File ${path} is 3 bytes long, more than the 2 it may have; shorten it or choose another file.`);
  });

  it('refuses any group or other permission bit, where a directory only refuses write', () => {
    const path = join(base, 'secret');
    writeFileSync(path, 'abc');
    chmodSync(path, 0o644);
    expect(configError(() => readPrivateFile(path, { maxBytes: 16, what: 'Key file', instead: 'use --key-file' })))
      .toBe(`Key file ${path} is accessible to group or others (mode 0644); run chmod 600 ${path} or use --key-file.`);
    // Refusals for links, other owners, sizes and non-files: test/unit/vnc/password-file.test.ts.
  });
});
