/**
 * Definitions end to end: `mdevsim serve` as a child process on a definition
 * store of the test's own, the CLI as child processes changing that store
 * offline (no server answers) or through the running server, SIGHUP
 * reloads, and serve restarted on the same store and socket directory.
 * Definitions a test only needs as its setting are written in-process
 * (DefinitionStore, the same files): each CLI child costs a Node start.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { startServe, type ServeProcess } from '../../support/serve-process.ts';
import { parseMdevctlList } from '../../support/mdevctl-shape.ts';
import { DefinitionStore, type DefinitionInput } from '../../../src/mgmt/definitions.ts';

const root = resolve(import.meta.dirname, '../../..');
let base: string;
beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'mdevsim-defs-'));
});
afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

interface Run { code: number; stdout: string; stderr: string }

/** `mdevsim ...args` as a child process, with a config home of the test's own (never the user's). */
function run(args: string[]): Promise<Run> {
  return new Promise((done) => {
    const env = { ...process.env, XDG_CONFIG_HOME: join(base, 'xdg') };
    execFile(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), ...args], { cwd: root, env }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** A fresh store and socket directory under base (the socket directory not created: serve makes it). */
function fresh(label: string): { config: string; sock: string } {
  const d = join(base, label);
  mkdirSync(d, { mode: 0o700 });
  return { config: join(d, 'config'), sock: join(d, 'sock') };
}

/** A definition written straight into the store at `config`, as setup. */
const stored = (config: string, input: DefinitionInput) => DefinitionStore.open(config).define(input);

const UUID_LINE = /\(([0-9a-f-]{36}), /;
const uuidOf = (r: Run): string => UUID_LINE.exec(r.stdout)?.[1] ?? '';
const device = (s: ServeProcess, name: string) => s.startup.find((e) => e['event'] === 'device' && e['name'] === name);
const devices = (s: ServeProcess) => s.startup.filter((e) => e['event'] === 'device').map((e) => e['name']);

function ok(r: Run): Run {
  expect(r.stderr, r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r;
}

describe('a definition made offline, started by serve, kept across restarts', () => {
  it('define mbochs-medium --auto offline; serve starts it with that UUID, name and socket; a restart gives the same', async () => {
    const { config, sock } = fresh('restart');
    const r = ok(await run(['define', 'mbochs-medium', '--auto', '--config-dir', config, '--dir', sock]));
    expect(r.stdout).toContain(`offline in ${config}`);
    const uuid = uuidOf(r);
    expect(r.stdout).toMatch(/^defined mbochs-medium-0 \([0-9a-f-]{36}, mbochs-medium, start auto\)/);
    expect(readdirSync(config)).toEqual([`${uuid}.json`]);

    const seen: unknown[] = [];
    for (let i = 0; i < 2; i++) {
      const s = await startServe(['--config-dir', config, '--dir', sock]);
      try {
        // Only the definition: the built-in defaults are for a store with no files.
        expect(devices(s)).toEqual(['mbochs-medium-0']);
        const e = device(s, 'mbochs-medium-0')!;
        seen.push({ uuid: e['uuid'], name: e['name'], socket: e['socket'], type: e['type'] });
      } finally {
        expect(await s.stop()).toBe(0);
      }
    }
    expect(seen[0]).toEqual({ uuid, name: 'mbochs-medium-0', socket: join(sock, 'mbochs-medium-0.sock'), type: 'mbochs-medium' });
    expect(seen[1]).toEqual(seen[0]);
  });
});

describe('definitions against a running server', () => {
  let s: ServeProcess;
  let paths: { config: string; sock: string };
  const cli = (...args: string[]): Promise<Run> => run([...args, '--dir', paths.sock]);
  /** The CLI with no server to answer (another --dir), editing serve's store directly. */
  const offline = (...args: string[]): Promise<Run> => run([...args, '--config-dir', paths.config, '--dir', join(base, 'nothing-here')]);

  beforeAll(async () => {
    paths = fresh('online');
    // One auto definition so that serve starts no built-in defaults.
    stored(paths.config, { type: 'mdpy-vga', start: 'auto', name: 'first' });
    s = await startServe(['--config-dir', paths.config, '--dir', paths.sock]);
  });
  afterAll(async () => {
    expect(await s.stop()).toBe(0);
  });

  it('define, modify and undefine say "through the running server" and change its store', async () => {
    const d = ok(await cli('define', 'mbochs-small', '--name', 'online1', '--resolution', '800x600'));
    expect(d.stdout).toContain(`through the running server (${join(paths.sock, 'control.sock')})`);
    const uuid = uuidOf(d);
    expect(JSON.parse(readFileSync(join(paths.config, `${uuid}.json`), 'utf8'))).toEqual({ mdev_type: 'mbochs-small', start: 'manual', attrs: [{ name: 'online1' }, { resolution: '800x600' }] });
    const m = ok(await cli('modify', 'online1', '--auto', '--resolution', 'default'));
    expect(m.stdout).toMatch(/^modified online1 \([0-9a-f-]{36}\) through the running server/);
    expect(JSON.parse(readFileSync(join(paths.config, `${uuid}.json`), 'utf8'))).toEqual({ mdev_type: 'mbochs-small', start: 'auto', attrs: [{ name: 'online1' }] });
    const u = ok(await cli('undefine', uuid));
    expect(u.stdout).toBe(`undefined online1 (${uuid}) through the running server (${join(paths.sock, 'control.sock')})\n`);
    expect(existsSync(join(paths.config, `${uuid}.json`))).toBe(false);
  });

  it('start and stop a manual definition: it runs on its socket, then stops and stays defined', async () => {
    const { uuid } = stored(paths.config, { type: 'mdpy-xga', name: 'manual1' });
    const started = ok(await cli('start', 'manual1'));
    expect(started.stdout).toBe(`started manual1 (${uuid}, mdpy-xga) on ${join(paths.sock, 'manual1.sock')}\n`);
    await s.waitFor((e) => e['event'] === 'created' && e['uuid'] === uuid && e['name'] === 'manual1');
    expect(existsSync(join(paths.sock, 'manual1.sock'))).toBe(true);
    const again = await cli('start', 'manual1');
    expect([again.code, again.stderr]).toEqual([1, `mdevsim: manual1 (${uuid}) is running already.\n`]);
    ok(await cli('stop', uuid));
    await s.waitFor((e) => e['event'] === 'removed' && e['uuid'] === uuid);
    expect(existsSync(join(paths.sock, 'manual1.sock'))).toBe(false);
    expect(JSON.parse(readFileSync(join(paths.config, `${uuid}.json`), 'utf8'))).toEqual({ mdev_type: 'mdpy-xga', start: 'manual', attrs: [{ name: 'manual1' }] });
  });

  it('list --defined --dumpjson parses with the structure of mdevctl list --dumpjson', async () => {
    const listed = parseMdevctlList(ok(await cli('list', '--defined', '--dumpjson')).stdout);
    expect(listed.length).toBeGreaterThanOrEqual(1);
    expect(new Set(listed.map((d) => d.parent))).toEqual(new Set(['mdevsim']));
    expect(listed.map((d) => d.uuid)).toEqual(listed.map((d) => d.uuid).sort());
    expect(listed).toContainEqual(expect.objectContaining({ mdev_type: 'mdpy-vga', start: 'auto', attrs: [['name', 'first']] }));
  });

  it('SIGHUP after an offline define of an auto device starts it: a reload event "started", and list shows it', async () => {
    const d = ok(await offline('define', 'mbochs-small', '--auto', '--name', 'hup1'));
    expect(d.stdout).toContain(`offline in ${paths.config}`);
    const uuid = uuidOf(d);
    s.child.kill('SIGHUP');
    expect(await s.waitFor((e) => e['event'] === 'reload' && e['uuid'] === uuid)).toEqual({ event: 'reload', action: 'started', name: 'hup1', uuid });
    await s.waitFor((e) => e['event'] === 'reloaded');
    expect(ok(await cli('list')).stdout).toMatch(new RegExp(`^hup1 +${uuid} mbochs-small .* ${join(paths.sock, 'hup1.sock')}$`, 'm'));
  });

  it('an undefined running device: the reload says "undefined" and it keeps running', async () => {
    const { uuid } = stored(paths.config, { type: 'mdpy-vga', start: 'auto', name: 'gone' });
    s.child.kill('SIGHUP');
    await s.waitFor((e) => e['event'] === 'reload' && e['uuid'] === uuid && e['action'] === 'started');
    ok(await cli('undefine', 'gone'));
    s.child.kill('SIGHUP');
    await s.waitFor((e) => e['event'] === 'reload' && e['uuid'] === uuid && e['action'] === 'undefined');
    expect(s.events.some((e) => e['event'] === 'removed' && e['uuid'] === uuid)).toBe(false);
    expect(ok(await cli('list')).stdout).toMatch(new RegExp(`^gone +${uuid} `, 'm'));
    ok(await cli('stop', 'gone'));
    await s.waitFor((e) => e['event'] === 'removed' && e['uuid'] === uuid);
  });
});

describe('a corrupt file in the store', () => {
  const CORRUPT = '00000000-1111-4222-8333-444444444444';

  function corruptStore(label: string): Promise<{ config: string; sock: string; file: string }> {
    const p = fresh(label);
    stored(p.config, { type: 'mdpy-vga', start: 'auto', name: 'healthy' });
    const file = join(p.config, `${CORRUPT}.json`);
    writeFileSync(file, '{"mdev_type": "mdpy-vga", "start": ', { mode: 0o600 });
    return Promise.resolve({ ...p, file });
  }

  it('serve --json starts the others and emits one definition-skipped event naming the file', async () => {
    const { config, sock, file } = await corruptStore('corrupt-json');
    const s = await startServe(['--config-dir', config, '--dir', sock]);
    try {
      const skipped = s.startup.filter((e) => e['event'] === 'definition-skipped');
      expect(skipped).toHaveLength(1);
      expect(skipped[0]!['file']).toBe(file);
      expect(String(skipped[0]!['message'])).toMatch(new RegExp(`^${file.replace(/[.]/g, '\\.')}: is not valid UTF-8 JSON; skipped\\.$`));
      expect(devices(s)).toEqual(['healthy']);
    } finally {
      expect(await s.stop()).toBe(0);
    }
    expect(readFileSync(file, 'utf8')).toBe('{"mdev_type": "mdpy-vga", "start": ');
  });

  it('serve without --json prints one warning line naming the file on stderr', async () => {
    const { config, sock, file } = await corruptStore('corrupt-text');
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'serve', '--config-dir', config, '--dir', sock], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | string | null>((r) => child.once('exit', (code, signal) => r(code ?? signal)));
    const stdout: string[] = [];
    const ready = new Promise<void>((r) => {
      createInterface({ input: child.stdout }).on('line', (line) => { stdout.push(line); if (line.startsWith('serving ')) r(); });
    });
    await Promise.race([ready, exited.then((code) => { throw new Error(`serve exited ${code}: ${stderr}`); })]);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const warnings = stderr.split('\n').filter((l) => l.startsWith('mdevsim: warning:'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.startsWith(`mdevsim: warning: ${file}: is not valid UTF-8 JSON; skipped.`), warnings[0]).toBe(true);
    expect(warnings[0]).toMatch(/; skipped\.$/);
    expect(stdout).toContain(`serving 1 device(s); Ctrl-C stops`);
    expect(stdout.some((l) => l.startsWith(`healthy (`) && l.endsWith(join(sock, 'healthy.sock')))).toBe(true);
  });
});

describe('UUIDs where they are observable', () => {
  it('--socket-name uuid serves <uuid>.sock; describe --json has the UUID and a libvirt snippet with that socket and memfd', async () => {
    const { config, sock } = fresh('uuid-socket');
    const { uuid } = stored(config, { type: 'mbochs-small', start: 'auto' });
    const s = await startServe(['--config-dir', config, '--dir', sock, '--socket-name', 'uuid']);
    try {
      const path = join(sock, `${uuid}.sock`);
      expect(device(s, 'mbochs-small-0')!['socket']).toBe(path);
      expect(existsSync(path)).toBe(true);
      const d = JSON.parse(ok(await run(['describe', uuid, '--json', '--dir', sock])).stdout) as Record<string, unknown>;
      expect([d['uuid'], d['name'], d['socket']]).toEqual([uuid, 'mbochs-small-0', path]);
      const libvirt = String(d['libvirt']);
      expect(libvirt).toContain(`"path":"${path}"`);
      expect(libvirt).toContain("<source type='memfd'/>");
      expect(libvirt).toContain("<qemu:arg value='-device'/>");
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });
});

describe('mdevctl\'s own forms', () => {
  it('define -t mdpy-vga -u UUID -p mdevsim --auto stores that UUID; another parent is refused', async () => {
    const { config, sock } = fresh('flags');
    const uuid = '12345678-9abc-4def-8123-456789abcdef';
    const [r, other] = await Promise.all([
      run(['define', '-t', 'mdpy-vga', '-u', uuid, '-p', 'mdevsim', '--auto', '--config-dir', config, '--dir', sock]),
      run(['define', '-t', 'mdpy-vga', '-p', '0000:00:02.0', '--config-dir', join(base, 'flags', 'other'), '--dir', sock]),
    ]);
    ok(r);
    expect(r.stdout).toMatch(new RegExp(`^defined mdpy-vga-0 \\(${uuid}, mdpy-vga, start auto\\) offline in ${config}`));
    expect(JSON.parse(readFileSync(join(config, `${uuid}.json`), 'utf8'))).toEqual({ mdev_type: 'mdpy-vga', start: 'auto', attrs: [{ name: 'mdpy-vga-0' }] });
    expect(other.code).not.toBe(0);
    expect(other.stderr).toContain('mdevsim devices have one parent, "mdevsim", not "0000:00:02.0".');
  });

  it('--jsonfile with mdevctl\'s own document (no name attribute) defines with a free name', async () => {
    const { config, sock } = fresh('jsonfile');
    stored(config, { type: 'mdpy-vga' });
    const doc = join(base, 'jsonfile', 'mdevctl.json');
    // What mdevctl keeps in /etc/mdevctl.d/PARENT/UUID (mdevctl.rst; src/mdev.rs to_json without the UUID).
    writeFileSync(doc, JSON.stringify({ mdev_type: 'mdpy-vga', start: 'auto', attrs: [] }, null, 2), { mode: 0o600 });
    const r = ok(await run(['define', '--jsonfile', doc, '--config-dir', config, '--dir', sock]));
    expect(r.stdout).toMatch(/^defined mdpy-vga-1 \([0-9a-f-]{36}, mdpy-vga, start auto\) offline in /);
    expect(JSON.parse(readFileSync(join(config, `${uuidOf(r)}.json`), 'utf8'))).toEqual({ mdev_type: 'mdpy-vga', start: 'auto', attrs: [{ name: 'mdpy-vga-1' }] });
  });
});
