/**
 * VNC from the command line: `mdevsim vnc DEVICE` starts a console on a
 * running serve (Unix socket, or TCP when serve has decided about
 * authentication), `list` and `describe` show it, and the serve flags
 * refuse what cannot work with one sentence and exit 2.
 */
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startServe, type ServeProcess } from '../../support/serve-process.ts';
import { RfbTestClient } from '../../support/rfb-client.ts';

const root = resolve(import.meta.dirname, '../../..');
interface Run { code: number; stdout: string; stderr: string }
function run(args: string[]): Promise<Run> {
  return new Promise((done) => {
    execFile(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), ...args], { cwd: root }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

let serve: ServeProcess | undefined;
afterEach(async () => {
  await serve?.stop();
  serve = undefined;
});

/** A TCP port nobody listens on now (bound and released). */
async function freeDisplay(): Promise<number> {
  for (;;) {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    const port = (s.address() as { port: number }).port;
    await new Promise<void>((r) => s.close(() => r()));
    if (port > 5900 && port - 5900 <= 65535 - 5900) return port - 5900;
  }
}

describe('mdevsim vnc', () => {
  it('starts a Unix-socket console for a device of a serve without --vnc; list and describe show it', async () => {
    serve = await startServe(['--device', 'mdpy-vga=d']);
    const r = await run(['vnc', 'd', '--dir', serve.dir]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`d: VNC on ${join(serve.dir, 'd.vnc')}; view-only until QEMU connects to ${join(serve.dir, 'd.qmp')}\n`);
    const c = await RfbTestClient.unix(join(serve.dir, 'd.vnc'));
    await c.handshake();
    expect([c.width, c.height]).toEqual([640, 480]);
    c.close();
    const list = await run(['list', '--dir', serve.dir]);
    expect(list.stdout).toContain(`(VNC ${join(serve.dir, 'd.vnc')}, view-only (no QMP peer)`);
    const described = await run(['describe', 'd', '--dir', serve.dir]);
    expect(described.stdout).toMatch(/^ {2}console {5}VNC .*d\.vnc, view-only/m);
    const again = await run(['vnc', 'd', '--dir', serve.dir]);
    expect([again.code, again.stderr]).toEqual([1, `mdevsim: d already has VNC on ${join(serve.dir, 'd.vnc')}.\n`]);
  });

  it('refuses TCP when serve was given neither a password file nor --vnc-auth none', async () => {
    serve = await startServe(['--device', 'mdpy-vga=d']);
    const r = await run(['vnc', 'd', '--listen', '127.0.0.1:', '--dir', serve.dir]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toBe('mdevsim: d: VNC over TCP needs serve --vnc-password-file FILE (or --vnc-auth none).\n');
  });

  it('with serve --vnc-auth none, --listen HOST:DISPLAY serves TCP port 5900+DISPLAY', async () => {
    serve = await startServe(['--device', 'mdpy-vga=d', '--vnc-auth', 'none']);
    const display = await freeDisplay();
    const r = await run(['vnc', 'd', '--listen', `127.0.0.1:${display}`, '--json', '--dir', serve.dir]);
    const info = JSON.parse(r.stdout) as { vnc: string; display: number; auth: string };
    expect(info).toMatchObject({ vnc: `127.0.0.1:${5900 + display}`, display, auth: 'none' });
    const c = await RfbTestClient.tcp('127.0.0.1', 5900 + display);
    expect(await c.handshake()).toBe(1);
    c.close();
  });
});

/** Two consecutive TCP displays nobody listens on now. */
async function twoFreeDisplays(): Promise<number> {
  for (let d = 100 + Math.floor(Math.random() * 20_000); ; d += 2) {
    const held = [];
    try {
      for (const port of [5900 + d, 5901 + d]) {
        const s = createServer();
        await new Promise<void>((ok, fail) => { s.once('error', fail); s.listen(port, '127.0.0.1', () => ok()); });
        held.push(s);
      }
      return d;
    } catch {
      // taken: try the next pair
    } finally {
      for (const s of held) await new Promise<void>((r) => s.close(() => r()));
    }
  }
}

describe('serve --vnc HOST:DISPLAY', () => {
  it('gives the first device DISPLAY and the next one DISPLAY+1, in the JSON device events, and list shows them', async () => {
    const d = await twoFreeDisplays();
    serve = await startServe(['--vnc', `127.0.0.1:${d}`, '--vnc-auth', 'none', '--device', 'mdpy-vga=a', '--device', 'mdpy-vga=b']);
    expect(serve.consoles.get('a')).toMatchObject({ vnc: `127.0.0.1:${5900 + d}`, display: d });
    expect(serve.consoles.get('b')).toMatchObject({ vnc: `127.0.0.1:${5901 + d}`, display: d + 1 });
    const c = await RfbTestClient.tcp('127.0.0.1', 5901 + d);
    expect(await c.handshake()).toBe(1);
    c.close();
    const list = await run(['list', '--dir', serve.dir]);
    expect(list.stdout).toContain(`VNC :${d + 1} 127.0.0.1:${5901 + d}`);
  });
});

describe('serve --vnc flags', () => {
  it.each([
    [['--vnc', '127.0.0.1:0'], 'mdevsim: --vnc HOST:DISPLAY serves TCP, which every local user can reach: give --vnc-password-file FILE, or --vnc-auth none to go without.\n'],
    [['--vnc', 'nonsense'], 'mdevsim: --vnc takes no value (a Unix socket per device) or HOST:DISPLAY with DISPLAY 0-59635 (TCP port 5900+DISPLAY), not "nonsense".\n'],
    [['--vnc-auth', 'maybe'], 'mdevsim: --vnc-auth must be vnc or none, not "maybe".\n'],
  ])('serve %j exits 2 with one sentence', async (args, message) => {
    const r = await run(['serve', ...args, '--dir', '/nonexistent-never-created']);
    expect([r.code, r.stderr]).toEqual([2, message]);
  });

  it('a TCP display already in use fails serve with exit 2 before it says it is ready', async () => {
    const display = await freeDisplay();
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(5900 + display, '127.0.0.1', () => r()));
    try {
      const tmp = mkdtempSync(join(tmpdir(), 'mdevsim-vnc-busy-'));
      const r = await run(['serve', '--vnc', `127.0.0.1:${display}`, '--vnc-auth', 'none', '--device', 'mdpy-vga=d', '--dir', join(tmp, 's'), '--config-dir', join(tmp, 'c')]);
      rmSync(tmp, { recursive: true, force: true });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`mdevsim: VNC for d: 127.0.0.1:${5900 + display} is in use; choose another display with --vnc HOST:DISPLAY.`);
      expect(r.stdout).not.toContain('serving');
    } finally {
      squatter.close();
    }
  });
});
