/**
 * `mdevsim serve | head -1`: once the reader of serve's stdout is gone, the
 * next line it prints fails with EPIPE; serve must then stop as it does on
 * a signal — exit 0 with its sockets removed — not die of an unhandled
 * 'error' event with its sockets left behind.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../../..');

it('serve whose stdout reader went away stops cleanly and removes its sockets', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mdevsim-epipe-'));
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'serve', '--dir', join(dir, 's'), '--config-dir', join(dir, 'c'), '--device', 'mdpy-vga', '--no-control'], {
      cwd: root, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    // Read until ready, then close our end, as `head` does.
    let out = '';
    while (!out.includes('Ctrl-C stops')) out += String((await once(child.stdout!, 'data'))[0]);
    child.stdout!.destroy();
    // Something to say: a client connects, and serve's line about it meets the closed pipe.
    const c = connect(join(dir, 's', 'mdpy-vga-0.sock'));
    c.on('error', () => {});
    const [code] = (await once(child, 'exit')) as [number | null];
    c.destroy();
    expect(code, stderr).toBe(0);
    expect(readdirSync(join(dir, 's')).filter((f) => f.endsWith('.sock'))).toEqual([]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
