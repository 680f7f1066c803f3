/**
 * startServing on top of the Manager: the devices serve's flags ask for,
 * the control socket by default (0600, next to the device sockets) and not
 * with control: false, and stop() removing everything.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServing } from '../../../src/cli/serve.ts';
import { ControlClient } from '../../../src/mgmt/control.ts';

let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'mdevsim-serve-')); });
afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

const base = { quirks: 'none', vbe: 'sample', json: true } as const;

describe('startServing', () => {
  it('creates the devices through the manager and starts the control socket', async () => {
    const lines: string[] = [];
    const s = startServing({ ...base, dir, devices: ['mbochs-small', 'mdpy-vga=screen'], resolution: { width: 1024, height: 768 }, out: (l) => lines.push(l) });
    try {
      expect(s.devices.map((d) => [d.name, d.edidMode])).toEqual([['mbochs-small-0', { width: 800, height: 600 }], ['screen', undefined]]);
      expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual([expect.objectContaining({ event: 'clamped', device: 'mbochs-small-0', width: 800, height: 600 })]);
      expect(s.control?.path).toBe(join(dir, 'control.sock'));
      expect(statSync(s.control!.path).mode & 0o777).toBe(0o600);
      const c = await ControlClient.connect(s.control!.path);
      expect((await c.list()).map((i) => i.socket)).toEqual([join(dir, 'mbochs-small-0.sock'), join(dir, 'screen.sock')]);
      c.close();
    } finally {
      s.stop();
    }
    for (const f of ['control.sock', 'mbochs-small-0.sock', 'screen.sock']) expect(existsSync(join(dir, f))).toBe(false);
  });

  it('control: false (--no-control) starts no control socket; a bad device spec undoes everything', () => {
    const s = startServing({ ...base, dir, devices: ['mdpy-vga'], control: false, out: () => {} });
    expect(s.control).toBeUndefined();
    expect(existsSync(join(dir, 'control.sock'))).toBe(false);
    s.stop();
    expect(() => startServing({ ...base, dir, devices: ['mdpy-vga', 'mdpy-vga=control'], out: () => {} })).toThrow(/reserved/);
    expect(existsSync(join(dir, 'mdpy-vga-0.sock'))).toBe(false);
  });

  it('refuses a bad name, a control socket path that cannot bind and a missing --record directory before creating anything', () => {
    const serve = (extra: Partial<Parameters<typeof startServing>[0]>): void => void startServing({ ...base, dir, devices: ['mdpy-vga'], out: () => {}, ...extra });
    expect(() => serve({ devices: ['mdpy-vga', 'mdpy-vga=a=b'] })).toThrow(/^Device name "a=b" must start with a letter or digit/);
    const deep = join(dir, 'd'.repeat(108 - Buffer.byteLength(dir) - '/control.sock'.length - 1));
    expect(() => serve({ dir: deep })).toThrow(`Control socket ${join(deep, 'control.sock')} is 108 bytes long, more than the 107 a Unix socket path may have; choose a shorter --dir.`);
    expect(() => serve({ record: join(dir, 'nowhere', 'run') })).toThrow(`The --record directory ${join(dir, 'nowhere')} does not exist; create it or choose another PREFIX.`);
    expect(readdirSync(dir)).toEqual([]);
  });
});
