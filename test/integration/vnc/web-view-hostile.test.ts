/**
 * Many WebSockets against a web view in a process of its own
 * (test/support/web-view-child.ts, each viewer attached to QEMU's VNC
 * server), measured from /proc: 200 connects with the token at once get
 * `maxClients` WebSockets and refusals (503, or a reset once the socket
 * cap is reached) for the rest; the view keeps answering the page's
 * /state.json while they hold every slot; memory and fds stay bounded and
 * the fds come back once they leave.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { get } from 'node:http';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { fdCountOf, memoryOf } from '../../support/hostile.ts';
import { QEMU, startQemuVga, type QemuVga } from '../../support/qemu-vga.ts';
import { systemTool } from '../../support/system-deps.ts';

const haveQemu = systemTool(QEMU, ['--version'], 'the web view hostile test');
const root = resolve(import.meta.dirname, '../../..');
/** Peak resident growth the attack may cause (as test/conformance/hostile.test.ts allows one attacker). */
const MEMORY_BOUND = 64 << 20;
const MAX_CLIENTS = 8;
/** HTTP sockets the view takes besides its WebSockets (src/vnc/web-view.ts). */
const PLAIN_HTTP_SOCKETS = 8;

let cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

interface Child { readonly child: ChildProcess; readonly url: URL; readonly pid: number; closed(n: number): Promise<void> }

async function startChild(vncPath: string): Promise<Child> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/web-view-child.ts', vncPath, String(MAX_CLIENTS)], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  cleanup.push(() => new Promise((done) => { if (child.exitCode !== null) done(undefined); else { child.once('exit', done); child.kill('SIGTERM'); } }));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  let closed = 0;
  const waiters: { n: number; done: () => void }[] = [];
  const ready = await new Promise<{ url: string; pid: number }>((ok, fail) => {
    child.once('exit', (code) => fail(new Error(`web-view-child exited ${code}: ${stderr}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const e = JSON.parse(line) as { event: string; url: string; pid: number };
      if (e.event === 'ready') ok(e);
      if (e.event === 'closed') {
        closed++;
        for (const w of waiters.filter((w) => w.n <= closed)) { waiters.splice(waiters.indexOf(w), 1); w.done(); }
      }
    });
  });
  return {
    child,
    url: new URL(ready.url),
    pid: ready.pid,
    closed: (n) => (closed >= n ? Promise.resolve() : new Promise((done) => waiters.push({ n, done }))),
  };
}

describe.skipIf(!haveQemu)('web view against many WebSockets', () => {
  it('200 WebSocket connects with the token: 8 are served, the rest refused; /state.json keeps answering; memory and fds bounded and returned', async () => {
    const qemu: QemuVga = await startQemuVga();
    cleanup.push(() => qemu.close());
    const view = await startChild(qemu.unix.socketPath);
    const token = view.url.searchParams.get('token')!;
    const before = memoryOf(view.pid);
    const fdsBefore = fdCountOf(view.pid);

    const attackers: WebSocket[] = [];
    const greetings = new Map<WebSocket, Promise<string>>();
    const outcomes = await Promise.all(Array.from({ length: 200 }, () => new Promise<string>((settle) => {
      const ws = new WebSocket(`ws://${view.url.host}/ws/vga-0?token=${token}`, { origin: view.url.origin });
      attackers.push(ws);
      greetings.set(ws, new Promise((greeted) => ws.once('message', (m: Buffer) => greeted(m.toString()))));
      ws.once('open', () => settle('open'));
      ws.once('unexpected-response', (_req, res) => { settle(String(res.statusCode)); res.resume(); ws.terminate(); });
      ws.once('error', () => settle('reset'));
    })));
    cleanup.push(() => { for (const ws of attackers) ws.terminate(); });
    expect(outcomes.filter((o) => o === 'open').length).toBe(MAX_CLIENTS);
    expect(outcomes.filter((o) => o !== 'open' && o !== '503' && o !== 'reset')).toEqual([]);

    // Every open one is a live RFB session with QEMU: its greeting arrives.
    const served = attackers.filter((ws) => ws.readyState === WebSocket.OPEN);
    expect(await Promise.all(served.map((ws) => greetings.get(ws)))).toEqual(served.map(() => 'RFB 003.008\n'));

    // The page's own requests still get through while every WebSocket slot is held.
    const state = await new Promise<string>((ok, fail) => {
      get(new URL(`/state.json?token=${token}`, view.url), { agent: false }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => { body += d.toString(); });
        res.on('end', () => ok(body));
      }).on('error', fail);
    });
    expect(JSON.parse(state)).toEqual({ devices: [{ name: 'vga-0', input: true }] });

    const during = memoryOf(view.pid);
    expect(during.hwm - before.hwm).toBeLessThan(MEMORY_BOUND);
    // Sockets: at most maxClients + 8 HTTP ones, plus one connection to QEMU per WebSocket.
    expect(fdCountOf(view.pid) - fdsBefore).toBeLessThanOrEqual(MAX_CLIENTS + PLAIN_HTTP_SOCKETS + MAX_CLIENTS);

    for (const ws of served) ws.close();
    await view.closed(MAX_CLIENTS);
    await expect.poll(() => fdCountOf(view.pid), { timeout: 5_000 }).toBe(fdsBefore);
    expect(view.child.exitCode).toBeNull();
  });
});
