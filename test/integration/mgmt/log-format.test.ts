/**
 * `mdevsim serve --log-format json` as a child process: every stdout line is
 * a timestamped JSON event, a refused control connection is a JSON security
 * event on stderr, and a refusal that ends serve (an untrusted socket
 * directory) is one JSON log line carrying the --json error object. Plain
 * `--json` keeps its untimestamped events.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { startServe } from '../../support/serve-process.ts';

const root = resolve(import.meta.dirname, '../../..');
const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

type Line = Record<string, unknown>;

/** A child's lines on one stream, parsed as they come; `next` waits for the first (seen or to come) that `match` accepts. */
class Lines {
  readonly raw: string[] = [];
  readonly #waiters: { match: (l: Line) => boolean; resolve: (l: Line) => void }[] = [];

  constructor(stream: NodeJS.ReadableStream) {
    createInterface({ input: stream }).on('line', (text) => {
      this.raw.push(text);
      let line: Line;
      try { line = JSON.parse(text) as Line; } catch { return; } // raw keeps it for the every-line-parses check
      for (const w of [...this.#waiters]) if (w.match(line)) { this.#waiters.splice(this.#waiters.indexOf(w), 1); w.resolve(line); }
    });
  }

  next(match: (l: Line) => boolean): Promise<Line> {
    const seen = this.parsed().find(match);
    return seen !== undefined ? Promise.resolve(seen) : new Promise((resolve) => this.#waiters.push({ match, resolve }));
  }

  parsed(): Line[] {
    return this.raw.flatMap((t) => { try { return [JSON.parse(t) as Line]; } catch { return []; } });
  }
}

function serve(dir: string, args: string[]): { child: ChildProcess; out: Lines; err: Lines; exit: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'serve', '--dir', dir, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const exit = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  return { child, out: new Lines(child.stdout!), err: new Lines(child.stderr!), exit };
}

function connect(path: string): Promise<Socket> {
  return new Promise((done, fail) => {
    const s = createConnection(path, () => done(s));
    s.once('error', fail);
  });
}

describe('serve --log-format json', () => {
  let dir: string;
  let s: ReturnType<typeof serve>;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mdevsim-logs-'));
    s = serve(dir, ['--log-format', 'json', '--device', 'mdpy-vga=a', '--control-max-connections', '1']);
    await s.out.next((l) => l['event'] === 'ready');
  });
  afterAll(async () => {
    if (s.child.exitCode === null) s.child.kill('SIGTERM');
    expect(await s.exit).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints JSON events on stdout, each with time and level, without --json', async () => {
    const device = await s.out.next((l) => l['event'] === 'device');
    expect(device).toMatchObject({ level: 'info', name: 'a', socket: join(dir, 'a.sock') });
    const client = await connect(join(dir, 'a.sock'));
    const connected = await s.out.next((l) => l['event'] === 'connected');
    expect(connected).toMatchObject({ level: 'info', name: 'a', device: 'a' });
    client.destroy();
    const gone = await s.out.next((l) => l['event'] === 'disconnected');
    expect(gone).toMatchObject({ name: 'a', device: 'a', requests: 0 });
    expect(s.out.raw.length).toBeGreaterThanOrEqual(5); // device, control, ready, connected, disconnected
    for (const text of s.out.raw) {
      const l = JSON.parse(text) as Line;
      expect(Object.keys(l).slice(0, 3)).toEqual(['time', 'level', 'event']);
      expect(l['time']).toMatch(ISO_MS);
    }
  });

  it('a control connection over --control-max-connections is a JSON security event on stderr', async () => {
    const first = await connect(join(dir, 'control.sock'));
    const second = await connect(join(dir, 'control.sock'));
    const refused = await s.err.next((l) => l['event'] === 'control-refused');
    expect(refused).toMatchObject({ level: 'warn', category: 'mgmt', security: true, code: 'EBUSY' });
    expect(refused['time']).toMatch(ISO_MS);
    expect(String(refused['msg'])).toMatch(/^control: refusing a connection: The control socket already has 1 connections/);
    first.destroy();
    second.destroy();
    for (const text of s.err.raw) expect(() => JSON.parse(text) as unknown).not.toThrow();
  });
});

describe('serve --log-format json refusing an untrusted socket directory', () => {
  it('exits 2 with one JSON log line: the untrusted-path security event and the --json error object', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdevsim-logs-'));
    try {
      chmodSync(dir, 0o777);
      const s = serve(dir, ['--log-format', 'json']);
      expect(await s.exit).toBe(2);
      expect(s.out.raw).toEqual([]);
      expect(s.err.raw).toHaveLength(1);
      const line = JSON.parse(s.err.raw[0]!) as Line;
      expect(line).toMatchObject({ level: 'error', category: 'cli', event: 'untrusted-path', security: true });
      expect(line['error']).toEqual({ code: 'ECONFIG', message: line['msg'], exit: 2 });
      expect(String(line['msg'])).toContain(`${dir} is writable by group or others (mode 0777)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('serve --json without --log-format', () => {
  it('keeps its events as they were (no time, no level), with name beside device', async () => {
    const p = await startServe(['--device', 'mdpy-vga=b']);
    try {
      const client = await connect(p.sockets.get('b')!);
      const connected = await p.waitFor((e) => e['event'] === 'connected');
      expect(connected).toEqual({ event: 'connected', name: 'b', device: 'b' });
      client.destroy();
      const gone = await p.waitFor((e) => e['event'] === 'disconnected');
      expect(gone).toEqual({ event: 'disconnected', name: 'b', device: 'b', reason: expect.any(String) as unknown, requests: 0 });
    } finally {
      expect(await p.stop()).toBe(0);
    }
  });
});
