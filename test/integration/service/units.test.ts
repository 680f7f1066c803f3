/**
 * The systemd units in contrib/: systemd's own parser accepts them without a
 * single warning (systemd-analyze verify, which loads a unit in a private
 * test manager and needs no running systemd), and they keep the decisions
 * docs/service.md explains.
 *
 * --recursive-errors=no turns every warning about the given unit into a
 * failing exit status; --man=no skips the Documentation= man page lookup.
 * verify also insists that ExecStart= and ExecReload= name executables that
 * exist (/usr/bin/env, /bin/kill), so the test host needs procps.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { systemTool } from '../../support/system-deps.ts';

const haveTools = systemTool('systemd-analyze', ['--version'], 'the systemd unit verification test')
  && systemTool('/bin/kill', ['-l'], 'the systemd unit verification test (ExecReload= names /bin/kill)');

const root = join(import.meta.dirname, '..', '..', '..');
const SYSTEM_UNIT = 'mdevsim.service';
const USER_UNIT = 'mdevsim-user.service';

const work = mkdtempSync(join(tmpdir(), 'mdevsim-units-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A copy of a contrib unit in a directory of its own (verify adds the unit's directory to its search path). */
function copyOf(name: string, edit?: (text: string) => string): string {
  const dir = mkdtempSync(join(work, 'u-'));
  const path = join(dir, name);
  if (edit === undefined) copyFileSync(join(root, 'contrib', name), path);
  else writeFileSync(path, edit(readFileSync(join(root, 'contrib', name), 'utf8')));
  return path;
}

function verify(path: string, mode: 'system' | 'user'): { status: number | null; ours: string[] } {
  const env = { ...process.env };
  if (mode === 'user') {
    // A user manager needs a runtime directory; a private one stands in for /run/user/UID.
    const runtime = mkdtempSync(join(work, 'xdg-'));
    chmodSync(runtime, 0o700);
    env['XDG_RUNTIME_DIR'] = runtime;
  }
  const args = ['verify', '--man=no', '--recursive-errors=no', ...(mode === 'user' ? ['--user'] : []), path];
  const r = spawnSync('systemd-analyze', args, { env, encoding: 'utf8' });
  const name = path.slice(path.lastIndexOf('/') + 1);
  // Lines about other units (the default dependencies a test manager loads) are not ours to fix.
  const ours = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes(name) || l.includes(path));
  return { status: r.status, ours };
}

/** Assignments of a unit file: section -> key -> values in order (comments and blank lines dropped). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const head = /^\[(.+)\]$/.exec(line);
    if (head) {
      section = head[1]!;
      if (!out.has(section)) out.set(section, new Map());
      continue;
    }
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    const keys = out.get(section)!;
    keys.set(key, [...(keys.get(key) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

const unit = (name: string): Map<string, Map<string, string[]>> => parseUnit(readFileSync(join(root, 'contrib', name), 'utf8'));
const value = (u: Map<string, Map<string, string[]>>, section: string, key: string): string | undefined => u.get(section)?.get(key)?.at(-1);

describe.skipIf(!haveTools)('systemd-analyze verify', () => {
  it(`accepts contrib/${SYSTEM_UNIT} as a system unit without a warning`, () => {
    const r = verify(copyOf(SYSTEM_UNIT), 'system');
    expect(r.ours).toEqual([]);
    expect(r.status).toBe(0);
  });

  it(`accepts contrib/${USER_UNIT} as a user unit without a warning`, () => {
    const r = verify(copyOf(USER_UNIT), 'user');
    expect(r.ours).toEqual([]);
    expect(r.status).toBe(0);
  });

  it('would catch a warning: systemd 252 does not know Type=notify-reload, and an unknown key', () => {
    const r = verify(copyOf(SYSTEM_UNIT, (t) => t.replace('Type=notify\n', 'Type=notify-reload\nNoSuchKey=1\n')), 'system');
    expect(r.status).not.toBe(0);
    expect(r.ours.join('\n')).toMatch(/NoSuchKey/);
  });
});

describe('the units keep their decisions', () => {
  it('system unit: notify readiness from serve itself, SIGHUP reload, /run/mdevsim for group kvm', () => {
    const u = unit(SYSTEM_UNIT);
    const s = (key: string): string | undefined => value(u, 'Service', key);
    expect(s('Type')).toBe('notify');
    expect(s('NotifyAccess')).toBe('main');
    expect(s('ExecStart')).toBe('/usr/bin/env mdevsim serve --dir /run/mdevsim --config-dir /etc/mdevsim --socket-group kvm --socket-mode 0660 --log-format json');
    expect(s('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect([s('User'), s('Group'), s('RuntimeDirectory'), s('RuntimeDirectoryMode')]).toEqual(['mdevsim', 'kvm', 'mdevsim', '0750']);
    expect(s('DynamicUser')).toBeUndefined();
    // Definitions are written at runtime: the one writable path besides the runtime directory.
    expect([s('ProtectSystem'), s('ReadWritePaths')]).toEqual(['strict', '/etc/mdevsim']);
    expect(s('MemoryDenyWriteExecute')).toBe('no');
    expect(s('RestrictAddressFamilies')).toBe('AF_UNIX AF_INET AF_INET6');
    expect([s('KillSignal'), s('TimeoutStopSec'), s('LimitNOFILE')]).toEqual(['SIGTERM', '10', '65536']);
    expect(value(u, 'Install', 'WantedBy')).toBe('multi-user.target');
  });

  it("user unit: serve's defaults ($XDG_RUNTIME_DIR/mdevsim, $XDG_CONFIG_HOME/mdevsim), started with the user's manager", () => {
    const u = unit(USER_UNIT);
    const s = (key: string): string | undefined => value(u, 'Service', key);
    expect([s('Type'), s('NotifyAccess')]).toEqual(['notify', 'main']);
    expect(s('ExecStart')).toBe('/usr/bin/env mdevsim serve');
    expect(s('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(s('User')).toBeUndefined();
    expect(value(u, 'Install', 'WantedBy')).toBe('default.target');
  });
});
