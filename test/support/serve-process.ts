/** Runs `mdevsim serve --json` in a child process and waits until it is ready. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

const root = resolve(import.meta.dirname, '../..');

export interface ServeProcess {
  readonly child: ChildProcess;
  readonly dir: string;
  /** Socket path by device name (devices created or removed later through the control socket included). */
  readonly sockets: Map<string, string>;
  /** The control socket, unless serve ran with --no-control. */
  readonly control: string | undefined;
  /** The live view's URL, when serve ran with --view. */
  readonly view: string | undefined;
  /** Each device's console (serve --vnc / --view), by name: its VNC address, TCP display and QMP socket. */
  readonly consoles: Map<string, { vnc: string | null; display: number | null; qmp: string | null }>;
  /** JSON events printed after ready (connections, disconnections). */
  readonly events: Record<string, unknown>[];
  /** Every JSON event printed up to and including ready (devices, definitions skipped or failed). */
  readonly startup: Record<string, unknown>[];
  /** Resolves with the first event (already seen or still to come) that `match` accepts. */
  waitFor(match: (event: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  /** What the child wrote to stderr so far. */
  stderr(): string;
  stop(): Promise<number | null>;
}

export interface StartServeOptions {
  /** Run under `prlimit --nofile=N:N` (Node raises a soft limit to the hard one, so both are set). */
  readonly nofile?: number;
}

export async function startServe(args: string[] = [], opts: StartServeOptions = {}): Promise<ServeProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'mdevsim-test-'));
  // Definitions of their own, so that no test sees (or writes) the user's ~/.config/mdevsim.
  const config = args.includes('--config-dir') ? [] : ['--config-dir', join(dir, 'config')];
  const argv = [process.execPath, '--import', 'tsx', join(root, 'src/cli/main.ts'), 'serve', '--json', '--dir', dir, ...config, ...args];
  if (opts.nofile !== undefined) argv.unshift('prlimit', `--nofile=${opts.nofile}:${opts.nofile}`, '--');
  const child = spawn(argv[0]!, argv.slice(1), { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const waiters: { match: (e: Record<string, unknown>) => boolean; resolve: (e: Record<string, unknown>) => void }[] = [];
  const sockets = new Map<string, string>();
  const consoles = new Map<string, { vnc: string | null; display: number | null; qmp: string | null }>();
  const consoleOf = (e: Record<string, unknown>) => ({ vnc: (e['vnc'] ?? null) as string | null, display: (e['display'] ?? null) as number | null, qmp: (e['qmp'] ?? null) as string | null });
  const events: Record<string, unknown>[] = [];
  const startup: Record<string, unknown>[] = [];
  let control: string | undefined;
  let view: string | undefined;
  let stderr = '';
  let isReady = false;
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const lines = createInterface({ input: child.stdout! });
  await new Promise<void>((ready, fail) => {
    const timer = setTimeout(() => fail(new Error(`serve did not become ready: ${stderr}`)), 20_000);
    child.once('exit', (code) => { clearTimeout(timer); fail(new Error(`serve exited ${code}: ${stderr}`)); });
    lines.on('line', (line) => {
      const e = JSON.parse(line) as Record<string, unknown>;
      if (!isReady) startup.push(e);
      if (e['event'] === 'device') {
        sockets.set(String(e['name']), String(e['socket']));
        if (e['vnc'] !== null || e['qmp'] !== null) consoles.set(String(e['name']), consoleOf(e));
      }
      else if (e['event'] === 'control') control = String(e['socket']);
      else if (e['event'] === 'view') view = String(e['url']);
      else if (e['event'] === 'ready') { isReady = true; clearTimeout(timer); ready(); }
      else {
        if (e['event'] === 'created') sockets.set(String(e['name']), String(e['socket']));
        if (e['event'] === 'removed') { sockets.delete(String(e['name'])); consoles.delete(String(e['name'])); }
        if (e['event'] === 'console') consoles.set(String(e['name']), consoleOf(e));
        events.push(e);
        for (const w of [...waiters]) if (w.match(e)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(e); }
      }
    });
  });
  return {
    child, dir, sockets, consoles, events, startup, control, view,
    waitFor: (match) => {
      const seen = events.find(match);
      return seen !== undefined ? Promise.resolve(seen) : new Promise((resolve) => waiters.push({ match, resolve }));
    },
    stderr: () => stderr,
    stop: () => new Promise((done) => {
      if (child.exitCode !== null) { rmSync(dir, { recursive: true, force: true }); done(child.exitCode); return; }
      child.once('exit', (code) => { rmSync(dir, { recursive: true, force: true }); done(code); });
      child.kill('SIGTERM');
    }),
  };
}
