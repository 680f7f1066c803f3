/**
 * Sockets for another user's VMM (serve --socket-group/--socket-mode): the
 * directory and socket modes on disk, and a QEMU-like client
 * (test/support/vfio-user-version.py) running as a real second uid, nobody
 * (65534), switched with setpriv (util-linux): in the group it gets its
 * VERSION reply, without the group connect() is refused. A numeric gid
 * (4242) needs no /etc/group entry. Needs root to switch uid; CI runs as root.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startServe, type ServeProcess } from '../../support/serve-process.ts';
import { systemTool } from '../../support/system-deps.ts';

const root = resolve(import.meta.dirname, '../../..');
const CLIENT = join(root, 'test/support/vfio-user-version.py');
const GID = 4242;
const NOBODY = 65534;

const isRoot = process.geteuid?.() === 0;
if (!isRoot) console.warn('socket-group: skipped: connecting as another uid needs root to switch to it (CI runs as root).');
const haveSetpriv = isRoot && systemTool('setpriv', ['--version'], 'socket-group (setpriv, util-linux)');
// An interpreter nobody can run: root's PATH may lead into /root (pyenv), which nobody cannot enter.
const python = ['/usr/bin/python3', '/usr/local/bin/python3'].find((p) => existsSync(p));
if (isRoot && python === undefined) systemTool('/usr/bin/python3', ['--version'], 'socket-group (python3)');

interface Run { code: number; stdout: string; stderr: string }

function exec(file: string, args: string[]): Promise<Run> {
  return new Promise((done) => {
    execFile(file, args, { cwd: root }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** The client as uid/gid nobody, with `groups` as its supplementary groups (none: --clear-groups). */
function clientAsNobody(socket: string, groups: number[]): Promise<Run> {
  const g = groups.length > 0 ? [`--groups=${groups.join(',')}`] : ['--clear-groups'];
  return exec('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, ...g, python!, CLIENT, socket]);
}

const freshPath = (label: string): string => join(tmpdir(), `mdevsim-${label}-${process.pid}-${randomBytes(4).toString('hex')}`);
const mode = (p: string): number => statSync(p).mode & 0o7777;

describe.skipIf(!isRoot || !haveSetpriv || python === undefined)('serve --socket-group 4242 --socket-mode 0660', () => {
  let dir: string;
  let s: ServeProcess;
  beforeAll(async () => {
    dir = freshPath('group');
    expect(existsSync(dir)).toBe(false);
    s = await startServe(['--device', 'mdpy-vga', '--device', 'mbochs-small', '--vnc', '--dir', dir, '--socket-group', String(GID), '--socket-mode', '0660']);
  });
  afterAll(async () => {
    expect(await s.stop()).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  });

  it('makes the directory 0750 with the group; device, VNC and QMP sockets 0660 with the group; control.sock stays 0600', () => {
    const st = statSync(dir);
    expect([mode(dir), st.gid, st.uid]).toEqual([0o750, GID, 0]);
    const names = readdirSync(dir).sort();
    expect(names).toEqual(['control.sock', 'mbochs-small-0.qmp', 'mbochs-small-0.sock', 'mbochs-small-0.vnc', 'mdpy-vga-0.qmp', 'mdpy-vga-0.sock', 'mdpy-vga-0.vnc']);
    for (const n of names.filter((x) => x !== 'control.sock')) {
      const sst = statSync(join(dir, n));
      expect([n, sst.isSocket(), mode(join(dir, n)), sst.gid]).toEqual([n, true, 0o660, GID]);
    }
    expect([mode(join(dir, 'control.sock')), statSync(join(dir, 'control.sock')).gid]).toEqual([0o600, process.getegid!()]);
  });

  it('a client as uid 65534 in group 4242 connects and gets the VERSION reply', async () => {
    const r = await clientAsNobody(s.sockets.get('mbochs-small-0')!, [GID]);
    expect(r.stderr).toBe('');
    expect(r.code, r.stdout).toBe(0);
    const reply = JSON.parse(r.stdout.replace(/^ok /, '')) as { major: number; minor: number; json: string };
    expect([reply.major, reply.minor]).toEqual([0, 0]);
    expect(Object.keys((JSON.parse(reply.json) as { capabilities: object }).capabilities)).toContain('max_msg_fds');
    await s.waitFor((e) => e['event'] === 'connected' && e['device'] === 'mbochs-small-0');
    await s.waitFor((e) => e['event'] === 'disconnected' && e['device'] === 'mbochs-small-0');
  });

  it('the same uid outside the group gets EACCES on connect', async () => {
    const r = await clientAsNobody(s.sockets.get('mdpy-vga-0')!, []);
    expect([r.code, r.stdout.trim()]).toEqual([3, 'EACCES Permission denied']);
  });

  it('a group member still cannot connect to control.sock (owner only)', async () => {
    const r = await clientAsNobody(join(dir, 'control.sock'), [GID]);
    expect([r.code, r.stdout.trim()]).toEqual([3, 'EACCES Permission denied']);
  });
});

describe.skipIf(!isRoot || !haveSetpriv || python === undefined)('where the group cannot reach --dir', () => {
  const cli = (args: string[]): Promise<Run> => exec(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), ...args]);
  let base: string;
  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), 'mdevsim-group-'));
    // mkdtemp makes it 0700: open it, so that the directory in the way is the one the test locks.
    chmodSync(base, 0o755);
  });
  afterAll(() => {
    rmSync(base, { recursive: true, force: true });
  });

  it('a --dir inside a 0700 directory: serve exits 2 naming that directory and /run/mdevsim, and creates nothing', async () => {
    const locked = join(base, 'locked');
    mkdirSync(locked, { mode: 0o700 });
    const dir = join(locked, 'sock');
    const r = await cli(['serve', '--device', 'mdpy-vga', '--dir', dir, '--config-dir', join(base, 'config'), '--socket-group', String(GID)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `mdevsim: Group ${GID} cannot reach sockets in ${dir}: ${locked} (mode 0700, group ${process.getegid!()}) does not let it through; ` +
      `serve from a directory such as /run/mdevsim (the system unit's RuntimeDirectory=mdevsim, mode 0750, group ${GID}), or pass another --dir.\n`,
    );
    expect(readdirSync(locked)).toEqual([]);
  });

  it('missing parents of --dir are made 0750 with the group, and a member reaches the socket through them', async () => {
    const top = freshPath('group-parents');
    const dir = join(top, 'a', 'sock');
    const s = await startServe(['--device', 'mdpy-vga', '--dir', dir, '--socket-group', String(GID)]);
    try {
      for (const d of [top, join(top, 'a'), dir]) expect([d, mode(d), statSync(d).gid]).toEqual([d, 0o750, GID]);
      const r = await clientAsNobody(s.sockets.get('mdpy-vga-0')!, [GID]);
      expect([r.code, r.stdout.slice(0, 3)]).toEqual([0, 'ok ']);
    } finally {
      expect(await s.stop()).toBe(0);
      rmSync(top, { recursive: true, force: true });
    }
  });
});
