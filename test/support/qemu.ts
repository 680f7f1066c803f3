/**
 * A real QEMU (Debian's qemu-system-x86_64) whose QMP monitor connects to
 * an mdevsim QMP endpoint with the options mdevsim prints, and which traces
 * the input events it receives (`-trace input_event_*`) on stderr, so a
 * test sees what reached QEMU's input layer.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { qemuInputArgs } from '../../src/vnc/qmp-endpoint.ts';

export const QEMU = 'qemu-system-x86_64';

/** QEMU ≥ 9.2 spells the chardev option reconnect-ms; older ones only reconnect (seconds). */
export function legacyReconnect(): boolean {
  const m = /version (\d+)\.(\d+)/.exec(spawnSync(QEMU, ['--version'], { encoding: 'utf8' }).stdout ?? '');
  const [major, minor] = m === null ? [0, 0] : [Number(m[1]), Number(m[2])];
  return major < 9 || (major === 9 && minor < 2);
}

/** One QEMU process and what it printed on stderr. */
export class Qemu {
  readonly child: ChildProcess;
  #stderr = '';
  readonly #watchers: { re: RegExp; resolve: () => void }[] = [];

  constructor(socketPath: string, extra: readonly string[] = []) {
    this.child = spawn(QEMU, [
      '-nodefaults', '-display', 'none', '-machine', 'q35', '-m', '64',
      ...qemuInputArgs(socketPath, { legacyReconnect: legacyReconnect() }),
      '-trace', 'input_event_*',
      ...extra,
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (text: string) => {
      this.#stderr += text;
      for (const w of [...this.#watchers]) {
        if (w.re.test(this.#stderr)) {
          this.#watchers.splice(this.#watchers.indexOf(w), 1);
          w.resolve();
        }
      }
    });
  }

  /** Resolves once stderr (all of it so far) matches `re`. */
  printed(re: RegExp): Promise<void> {
    if (re.test(this.#stderr)) return Promise.resolve();
    return new Promise((resolve) => this.#watchers.push({ re, resolve }));
  }

  get stderr(): string {
    return this.#stderr;
  }

  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGKILL');
    await exited;
  }
}

