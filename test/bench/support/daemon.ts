/**
 * Long-running server processes for benchmarks: spawned (optionally under
 * `taskset -c CPU`, which every thread and child inherits), ready once a
 * line of their stdout satisfies `ready`, stopped with SIGTERM. stdout is
 * consumed for the process's whole life so that a chatty server (mdevsim
 * serve --json prints an event per connection) never blocks on a full pipe.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface Daemon {
  readonly child: ChildProcess;
  /** The stdout line that made it ready (parsed as JSON when it is JSON). */
  readonly lines: string[];
  stop(): Promise<void>;
}

export interface DaemonOptions {
  readonly cpu?: number;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Called for each stdout line until it returns true. */
  readonly ready: (line: string) => boolean;
  readonly timeoutMs?: number;
}

export async function startDaemon(command: string, args: readonly string[], opts: DaemonOptions): Promise<Daemon> {
  const [cmd, argv] = opts.cpu === undefined ? [command, [...args]] : ['taskset', ['-c', String(opts.cpu), command, ...args]];
  const child = spawn(cmd, argv, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  const rl = createInterface({ input: child.stdout! });
  await new Promise<void>((resolve, reject) => {
    let ready = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${argv.join(' ')}: not ready after ${opts.timeoutMs ?? 20_000} ms`));
    }, opts.timeoutMs ?? 20_000);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (!ready) reject(new Error(`${cmd} ${argv.join(' ')} exited (${code ?? signal}) before it was ready`));
    });
    rl.on('line', (line) => {
      lines.push(line);
      if (lines.length > 1000) lines.splice(0, lines.length - 1000);
      if (!ready && opts.ready(line)) {
        ready = true;
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return {
    child,
    lines,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          resolve();
          return;
        }
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}
