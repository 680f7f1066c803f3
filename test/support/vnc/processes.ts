/**
 * Child processes of the VNC test harness: each in its own process group
 * (detached), so stopping one also stops whatever it started; output kept
 * up to a limit; waiters on output fail at once when the process exits.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/** What a harness process may print before the rest is dropped (TigerVNC at log level 100 prints a few KiB). */
export const MAX_LOG_BYTES = 4 * 1024 * 1024;
/** How long stop() waits after SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 3000;

export interface GroupChild {
  readonly name: string;
  readonly child: ChildProcess;
  /** stdout and stderr as text, in arrival order, up to MAX_LOG_BYTES. */
  log(): string;
  /** Resolves with the first match of `re` in the log (already there or still to come); rejects when the process exits first or after `timeoutMs`. */
  waitForLog(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** Resolves with what `test` returns once it returns something for the log (checked now and as output arrives); rejects like waitForLog. */
  waitForOutput<T>(test: (log: string) => T | undefined, what: string, timeoutMs: number): Promise<T>;
  /** Resolves when the process has exited and its output is drained. */
  readonly exited: Promise<void>;
  /** SIGTERM to the process group, SIGKILL after a grace period; resolves once the leader has exited. */
  stop(): Promise<void>;
}

export interface GroupChildOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Extra pipes after stdin/stdout/stderr (Xvfb's -displayfd). */
  readonly extraFds?: number;
  /** Keep stdout out of the log (a tool whose stdout is data, e.g. xwd). */
  readonly stdoutIsData?: boolean;
}

/** Process groups still running, killed if this process exits first (a failed test that never reached close()). */
const liveGroups = new Set<number>();
process.once('exit', () => {
  for (const pgid of liveGroups) {
    try { process.kill(-pgid, 'SIGKILL'); } catch { /* gone already */ }
  }
});

/** Start `command` in a new process group with stdin closed. */
export function spawnGroup(name: string, command: string, args: readonly string[], opts: GroupChildOptions = {}): GroupChild {
  const stdio: SpawnOptions['stdio'] = ['ignore', 'pipe', 'pipe', ...Array.from({ length: opts.extraFds ?? 0 }, () => 'pipe' as const)];
  const child = spawn(command, args, { stdio, detached: true, env: opts.env ?? process.env });
  const pgid = child.pid;
  if (pgid !== undefined) liveGroups.add(pgid);
  let log = '';
  let dropped = false;
  const waiters = new Set<() => void>();
  const append = (chunk: Buffer): void => {
    if (log.length + chunk.length > MAX_LOG_BYTES) {
      if (!dropped) log += `\n[${name}: output past ${MAX_LOG_BYTES} bytes dropped]\n`;
      dropped = true;
      return;
    }
    log += chunk.toString();
    for (const w of [...waiters]) w();
  };
  if (!opts.stdoutIsData) child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  let hasExited = false;
  const exited = new Promise<void>((resolve) => {
    const done = (): void => {
      if (hasExited) return;
      hasExited = true;
      if (pgid !== undefined) liveGroups.delete(pgid);
      resolve();
      for (const w of [...waiters]) w();
    };
    // 'close', not 'exit': by then stdout and stderr are drained.
    child.once('close', done);
    // A command that cannot be started emits 'error' and never 'exit'.
    child.once('error', (err) => { append(Buffer.from(`[${name}: ${err.message}]\n`)); done(); });
  });
  function waitForOutput<T>(test: (text: string) => T | undefined, what: string, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = test(log);
        if (found !== undefined) { finish(); resolve(found); return; }
        if (hasExited) { finish(); reject(new Error(`${name} exited (code ${child.exitCode}, signal ${child.signalCode}) before printing ${what}; it printed:\n${log}`)); }
      };
      const timer = setTimeout(() => { finish(); reject(new Error(`${name} did not print ${what} within ${timeoutMs} ms; it printed:\n${log}`)); }, timeoutMs);
      const finish = (): void => { clearTimeout(timer); waiters.delete(check); };
      waiters.add(check);
      check();
    });
  }
  const signalGroup = (signal: NodeJS.Signals): void => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // ESRCH: the whole group is gone already.
    }
  };
  return {
    name,
    child,
    log: () => log,
    exited,
    waitForLog: (re, timeoutMs) => waitForOutput((text) => text.match(re) ?? undefined, String(re), timeoutMs),
    waitForOutput,
    stop: async () => {
      if (hasExited) { signalGroup('SIGKILL'); return; }
      signalGroup('SIGTERM');
      const timer = setTimeout(() => signalGroup('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
      // Whatever the leader left behind in its group goes too.
      signalGroup('SIGKILL');
    },
  };
}

export interface RunToolOptions {
  readonly timeoutMs: number;
  readonly env?: NodeJS.ProcessEnv;
  /** Largest stdout accepted; more is an error. */
  readonly maxStdoutBytes: number;
}

/** Run a tool to completion; resolves with its stdout, rejects with its stderr when it fails, overflows or times out. */
export function runTool(command: string, args: readonly string[], opts: RunToolOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const proc = spawnGroup(command, command, args, { stdoutIsData: true, ...(opts.env ? { env: opts.env } : {}) });
    const chunks: Buffer[] = [];
    let size = 0;
    let failure: string | undefined;
    proc.child.stdout!.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > opts.maxStdoutBytes) {
        failure ??= `printed more than ${opts.maxStdoutBytes} bytes`;
        void proc.stop();
        return;
      }
      chunks.push(chunk);
    });
    const timer = setTimeout(() => { failure ??= `did not finish within ${opts.timeoutMs} ms`; void proc.stop(); }, opts.timeoutMs);
    void proc.exited.then(() => {
      clearTimeout(timer);
      const { exitCode, signalCode } = proc.child;
      if (failure === undefined && exitCode !== 0) failure = `exited with ${exitCode ?? signalCode}`;
      if (failure !== undefined) reject(new Error(`${command} ${args.join(' ')} ${failure}: ${proc.log().trim()}`));
      else resolve(Buffer.concat(chunks));
    });
  });
}
