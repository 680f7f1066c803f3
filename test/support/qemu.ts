/**
 * A real QEMU (Debian's qemu-system-x86_64) whose QMP monitor connects to
 * an mdevsim QMP endpoint with the options mdevsim prints, and which traces
 * the input events it receives (`-trace input_event_*`) on stderr, so a
 * test sees what reached QEMU's input layer.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { qemuInputArgs } from '../../src/vnc/qmp-endpoint.ts';
import { spawnGroup, type GroupChild } from './vnc/processes.ts';

export const QEMU = 'qemu-system-x86_64';

/** QEMU ≥ 9.2 spells the chardev option reconnect-ms; older ones only reconnect (seconds). */
export function legacyReconnect(): boolean {
  const m = /version (\d+)\.(\d+)/.exec(spawnSync(QEMU, ['--version'], { encoding: 'utf8' }).stdout ?? '');
  const [major, minor] = m === null ? [0, 0] : [Number(m[1]), Number(m[2])];
  return major < 9 || (major === 9 && minor < 2);
}

/** Longer than any QEMU start or input round trip here, shorter than vitest's testTimeout: a line that never comes fails with QEMU's output. */
const PRINT_TIMEOUT_MS = 20_000;

/** One QEMU process (spawnGroup: its own process group, output kept up to a bound) and what it printed. */
export class Qemu {
  readonly #proc: GroupChild;

  constructor(socketPath: string, extra: readonly string[] = []) {
    this.#proc = spawnGroup('QEMU', QEMU, [
      '-nodefaults', '-display', 'none', '-machine', 'q35', '-m', '64',
      ...qemuInputArgs(socketPath, { legacyReconnect: legacyReconnect() }),
      '-trace', 'input_event_*',
      ...extra,
    ]);
  }

  get child(): ChildProcess {
    return this.#proc.child;
  }

  /** Resolves once its output (all of it so far) matches `re`; rejects when QEMU exits first. */
  async printed(re: RegExp): Promise<void> {
    await this.#proc.waitForLog(re, PRINT_TIMEOUT_MS);
  }

  get stderr(): string {
    return this.#proc.log();
  }

  /** SIGKILL, as a crash would end it. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGKILL');
    await this.#proc.exited;
  }
}
