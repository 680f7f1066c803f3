/**
 * Hostile clients against a real `serve` child over real sockets: each test
 * mounts one attack on one device and checks that the process survives, that
 * its peak memory growth stays under the named bound, that a client of the
 * other device (and the control socket) is answered while the attack is
 * still going on, and that the fds come back once the attacker leaves.
 * "While the attack is going on" is shown by order, never by time: the
 * victim's answers arrive before the attacker has been answered in full or
 * has disconnected.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startServe, type ServeProcess } from '../support/serve-process.ts';
import { RawClient, fdCountOf, memoryOf } from '../support/hostile.ts';
import { VfioUserClient } from '../../src/vfio-user/client.ts';
import { ControlClient } from '../../src/mgmt/control-client.ts';
import { createMemfd } from '../../src/sys/memfd.ts';
import * as P from '../../src/vfio-user/protocol.ts';
import { dmaMapRequest, regionAccessRequest } from '../../src/vfio-user/requests.ts';
import { raw, header } from '../support/control-raw.ts';

/** Peak resident growth one attacker may cause (docs/security.md names ~4 MiB per connection; the rest is Node's own slack). */
const MEMORY_BOUND = 64 << 20;
const MIB = 1 << 20;

let serve: ServeProcess | undefined;
afterEach(async () => {
  await serve?.stop();
  serve = undefined;
});

/** The victim: a normal client of the other device, answered request after request. */
async function victimAnswers(path: string, rounds: number): Promise<number> {
  const c = await VfioUserClient.connect(path);
  try {
    let answered = 0;
    for (let i = 0; i < rounds; i++) {
      expect((await c.regionRead(7, 0, 4)).length).toBe(4); // config space: vendor + device id
      answered++;
    }
    return answered;
  } finally {
    c.close();
  }
}

function disconnectedFrom(device: string) {
  return (e: Record<string, unknown>): boolean => e['event'] === 'disconnected' && e['device'] === device;
}

describe('hostile clients against a serve process', () => {
  it('a client that pipelines 1 MiB REGION_READs and never reads costs bounded memory; the other device and the control socket keep answering', async () => {
    serve = await startServe();
    const pid = serve.child.pid!;
    const before = memoryOf(pid);
    const fdsBefore = fdCountOf(pid);
    const attacker = await RawClient.connect(serve.sockets.get('mdpy-xga-0')!);
    attacker.stopReading();
    const flood = Array.from({ length: 3000 }, () => attacker.message(P.VFIO_USER_REGION_READ, regionAccessRequest(0, 0, MIB)));
    for (let i = 0; i < flood.length; i += 100) attacker.sendMany(flood.slice(i, i + 100)); // 3 GiB of replies asked for

    expect(await victimAnswers(serve.sockets.get('mbochs-medium-0')!, 50)).toBe(50);
    const control = await ControlClient.connect(serve.control!);
    expect((await control.list()).length).toBe(2);
    control.close();
    expect(attacker.replies).toBe(1); // only VERSION: the flood is still pending while the others were served

    const during = memoryOf(pid);
    expect(during.hwm - before.hwm).toBeLessThan(MEMORY_BOUND);
    attacker.close();
    await serve.waitFor(disconnectedFrom('mdpy-xga-0'));
    expect(fdCountOf(pid)).toBe(fdsBefore);
    expect(serve.child.exitCode).toBeNull();
  });

  it('connections that never send VERSION are closed after the handshake timeout, freeing their slots', async () => {
    serve = await startServe(['--handshake-timeout', '300']);
    const path = serve.sockets.get('mdpy-xga-0')!;
    const squatters = await Promise.all([0, 1, 2, 3].map(() => RawClient.connect(path, { version: false })));
    for (const s of squatters) expect(await s.closed).toBe('eof');
    const timedOut = (e: Record<string, unknown>): boolean => e['event'] === 'disconnected' && String(e['reason']).startsWith('no VERSION within 300 ms');
    await serve.waitFor(() => serve!.events.filter(timedOut).length === 4);
    const vmm = await VfioUserClient.connect(path);
    expect((await vmm.deviceInfo()).numRegions).toBe(9);
    vmm.close();
  });

  it('four squatters that never send VERSION cannot keep a VMM out: it displaces one at once', async () => {
    serve = await startServe(['--handshake-timeout', '600000']);
    const path = serve.sockets.get('mdpy-xga-0')!;
    const squatters = await Promise.all([0, 1, 2, 3].map(() => RawClient.connect(path, { version: false })));
    const vmm = await VfioUserClient.connect(path);
    expect((await vmm.deviceInfo()).numRegions).toBe(9);
    expect(await squatters[0]!.closed).toBe('eof'); // the longest idle
    const displaced = await serve.waitFor((e) => e['event'] === 'disconnected' && String(e['reason']).startsWith('displaced'));
    expect(displaced['device']).toBe('mdpy-xga-0');
    vmm.close();
    for (const s of squatters) s.close();
  });

  it('SIGTERM in the middle of an unread-reply flood stops the server within the shutdown timeout and removes its sockets', async () => {
    serve = await startServe(['--shutdown-timeout', '500']);
    const attacker = await RawClient.connect(serve.sockets.get('mdpy-xga-0')!);
    attacker.stopReading();
    const flood = Array.from({ length: 2000 }, () => attacker.message(P.VFIO_USER_REGION_READ, regionAccessRequest(0, 0, MIB)));
    for (let i = 0; i < flood.length; i += 100) attacker.sendMany(flood.slice(i, i + 100));
    expect(await victimAnswers(serve.sockets.get('mbochs-medium-0')!, 5)).toBe(5); // the flood is being served
    const exited = new Promise<number | null>((resolve) => serve!.child.once('exit', (code) => resolve(code)));
    serve.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const { existsSync } = await import('node:fs');
    for (const path of serve.sockets.values()) expect(existsSync(path)).toBe(false);
    expect(existsSync(serve.control!)).toBe(false);
    attacker.close();
  });

  it('a client sending fd-carrying DMA_MAPs gets EMFILE at its fd share; another device\'s client still maps with an fd and create still works', async () => {
    serve = await startServe([], { nofile: 256 });
    const pid = serve.child.pid!;
    const fdsBefore = fdCountOf(pid);
    const memfd = createMemfd('guest-ram', 1 << 16);
    const attacker = await RawClient.connect(serve.sockets.get('mdpy-xga-0')!);
    let sent = 0;
    for (; sent < 300; sent++) {
      attacker.send(P.VFIO_USER_DMA_MAP, dmaMapRequest(BigInt(sent) << 16n, 1n << 16n), [memfd.fd]);
      await attacker.untilReplies(sent + 2);
      if (attacker.errors.length > 0) break;
    }
    expect(attacker.errors[0]?.error).toBe(24); // EMFILE: its share is spent, nothing else is
    expect(sent).toBeLessThan(256);

    const victim = await VfioUserClient.connect(serve.sockets.get('mbochs-medium-0')!);
    await victim.dmaMap(0n, 1n << 16n, { fd: memfd.fd });
    victim.close();
    const control = await ControlClient.connect(serve.control!);
    const created = await control.create({ type: 'mdpy-vga' });
    expect(created.name).toBe('mdpy-vga-0');
    await control.remove(created.name);
    control.close();

    attacker.close();
    memfd.close();
    await serve.waitFor(disconnectedFrom('mdpy-xga-0'));
    await serve.waitFor(disconnectedFrom('mbochs-medium-0'));
    expect(fdCountOf(pid)).toBe(fdsBefore);
  });

  it('a client that asks for fd-carrying replies and never reads is dropped when its queued fds reach its share; the process survives', async () => {
    serve = await startServe([], { nofile: 256 });
    const pid = serve.child.pid!;
    const fdsBefore = fdCountOf(pid);
    const attacker = await RawClient.connect(serve.sockets.get('mdpy-xga-0')!);
    attacker.stopReading();
    // REGION_INFO of BAR0 answers with the framebuffer's memfd (mmap-able region).
    const info = new Uint8Array(1024); // argsz large enough for the caps: the reply carries the fd
    new DataView(info.buffer).setUint32(0, info.length, true);
    for (let i = 0; i < 2000; i++) attacker.send(P.VFIO_USER_DEVICE_GET_REGION_INFO, info);
    const dropped = await serve.waitFor(disconnectedFrom('mdpy-xga-0'));
    expect(String(dropped['reason'])).toMatch(/fd budget|EMFILE/);
    expect(await victimAnswers(serve.sockets.get('mbochs-medium-0')!, 5)).toBe(5);
    await serve.waitFor((e) => e['event'] === 'disconnected' && e['device'] === 'mbochs-medium-0');
    expect(fdCountOf(pid)).toBe(fdsBefore);
    expect(serve.child.exitCode).toBeNull();
    attacker.close();
  });

  it('65535 fd-less DMA_MAPs fill the table, the next gets ENOSPC, and the other device is answered in between', async () => {
    serve = await startServe();
    const attacker = await RawClient.connect(serve.sockets.get('mdpy-xga-0')!);
    const maps = Array.from({ length: 65536 }, (_, i) => attacker.message(P.VFIO_USER_DMA_MAP, dmaMapRequest(BigInt(i) << 12n, 1n << 12n)));
    for (let i = 0; i < maps.length; i += 512) attacker.sendMany(maps.slice(i, i + 512));
    expect(await victimAnswers(serve.sockets.get('mbochs-medium-0')!, 20)).toBe(20);
    const last = await attacker.untilReplies(65537);
    expect(last.error).toBe(28); // ENOSPC
    expect(attacker.errors.length).toBe(1);
    attacker.close();
  });

  it('control connections announcing 60 MiB frames: one may hold the large-frame allowance, the rest are refused (an EBUSY reply, or the reset that overtook it); memory stays bounded and list() answers', async () => {
    serve = await startServe();
    const pid = serve.child.pid!;
    const before = memoryOf(pid);
    const attackers = await Promise.all(Array.from({ length: 8 }, () => raw(serve!.control!)));
    for (const a of attackers) {
      a.send(header(60 * MIB));
      a.send(new Uint8Array(MIB)); // part of the body, never finished
    }
    // Whichever header the server read first holds the allowance; the other seven are refused: an EBUSY
    // reply, or only the close when the reset (we were still writing) overtook the reply.
    const refused = await new Promise<unknown[]>((resolve) => {
      const outcomes: unknown[] = [];
      for (const a of attackers) {
        void Promise.race([a.next(), a.closed.then(() => 'closed')]).then((r) => { outcomes.push(r); if (outcomes.length === 7) resolve(outcomes); });
      }
    });
    for (const r of refused) if (r !== 'closed') expect(r).toMatchObject({ error: { code: 'EBUSY' } });
    const control = await ControlClient.connect(serve.control!);
    expect((await control.list()).length).toBe(2);
    control.close();
    expect(memoryOf(pid).hwm - before.hwm).toBeLessThan(MEMORY_BOUND);
    for (const a of attackers) a.sock.destroy();
  });

  it('200 web-view WebSockets at once: 8 are served, the rest refused; the other device keeps answering, and the view serves again afterwards', async () => {
    serve = await startServe(['--view', '0']);
    const url = new URL(serve.view!);
    const { WebSocket } = await import('ws');
    const sockets: import('ws').WebSocket[] = [];
    const outcomes = Array.from({ length: 200 }, () => new Promise<string>((resolve) => {
      const ws = new WebSocket(`ws://${url.host}/ws/mbochs-medium-0?token=${url.searchParams.get('token')}`, ['binary'], { origin: url.origin });
      sockets.push(ws);
      // Opened and spoken to: the RFB server's version string arrives.
      ws.once('message', () => resolve('served'));
      ws.once('unexpected-response', (_req, res) => { resolve(String(res.statusCode)); res.resume(); });
      ws.once('error', () => resolve('reset'));
    }));
    const results = await Promise.all(outcomes);
    expect(results.filter((r) => r === 'served').length).toBe(8);
    expect(results.filter((r) => r !== 'served' && r !== '503' && r !== 'reset')).toEqual([]);
    expect(await victimAnswers(serve.sockets.get('mdpy-xga-0')!, 20)).toBe(20);
    await Promise.all(sockets.map((ws) => new Promise<void>((done) => {
      if (ws.readyState === ws.CLOSED) { done(); return; }
      ws.once('close', () => done());
      ws.terminate();
    })));
    // Once the attackers are gone the view serves again: a new WebSocket is spoken to (a refusal would come as 503).
    const again = await new Promise<string>((resolve) => {
      const retry = (): void => {
        const ws = new WebSocket(`ws://${url.host}/ws/mbochs-medium-0?token=${url.searchParams.get('token')}`, ['binary'], { origin: url.origin });
        ws.once('message', () => { ws.terminate(); resolve('served'); });
        // The server may not have seen every close yet: its 503 says so, and we ask again.
        ws.once('unexpected-response', (_req, res) => { res.resume(); if (res.statusCode === 503) setImmediate(retry); else resolve(String(res.statusCode)); });
      };
      retry();
    });
    expect(again).toBe('served');
  });
});
