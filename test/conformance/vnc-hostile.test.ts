/**
 * Hostile VNC viewers against a real `serve --vnc` child over real Unix
 * sockets: garbage handshakes, an endless ClientCutText, a flood of update
 * requests from a viewer that never reads, one viewer past the cap. Each
 * checks that the process survives with bounded peak memory, and that a
 * well-behaved viewer of the same device keeps getting its updates while
 * the attack is still going on (shown by order: the attacker is still
 * connected and unanswered).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startServe, type ServeProcess } from '../support/serve-process.ts';
import { fdCountOf, memoryOf } from '../support/hostile.ts';
import { RfbTestClient } from '../support/rfb-client.ts';
import { ENCODING } from '../../src/vnc/rfb-wire.ts';

const MEMORY_BOUND = 64 << 20;
const MIB = 1 << 20;

let serve: ServeProcess | undefined;
const clients: RfbTestClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await serve?.stop();
  serve = undefined;
});

async function viewer(path: string): Promise<RfbTestClient> {
  const c = await RfbTestClient.unix(path);
  clients.push(c);
  await c.handshake();
  c.setEncodings([ENCODING.ZRLE]);
  return c;
}

/** A full update arrives: the viewer is served. */
async function served(c: RfbTestClient): Promise<void> {
  c.requestUpdate(false);
  const u = await c.update();
  expect(u.rects.length).toBeGreaterThan(0);
}

describe('hostile VNC viewers against serve --vnc', () => {
  it.each([
    ['not RFB at all', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
    ['RFB 4.0', Buffer.from('RFB 004.000\n')],
    ['an unoffered security type', Buffer.concat([Buffer.from('RFB 003.008\n'), Buffer.from([2])])],
    ['an unknown message type after init', Buffer.concat([Buffer.from('RFB 003.008\n'), Buffer.from([1, 1, 99])])],
  ])('a viewer that sends %s is dropped; the others are served', async (_what, bytes) => {
    serve = await startServe(['--vnc', '--device', 'mbochs-medium=m']);
    const path = serve.consoles.get('m')!.vnc!;
    const good = await viewer(path);
    const bad = await RfbTestClient.unix(path);
    clients.push(bad);
    bad.send(bytes);
    await bad.closedByServer();
    await served(good);
    expect(serve.child.exitCode).toBeNull();
  });

  it('an endless ClientCutText is discarded as it arrives: bounded memory, the pasting viewer stays connected and another is served', async () => {
    serve = await startServe(['--vnc', '--device', 'mbochs-medium=m']);
    const pid = serve.child.pid!;
    const before = memoryOf(pid);
    const path = serve.consoles.get('m')!.vnc!;
    const good = await viewer(path);
    const paster = await viewer(path);
    // Announce 2 GiB of clipboard text, send 256 MiB of it.
    const head = Buffer.alloc(8);
    head[0] = 6;
    head.writeInt32BE(0x7fffffff, 4);
    paster.send(head);
    const chunk = Buffer.alloc(MIB, 0x41);
    for (let i = 0; i < 256; i++) {
      if (!paster.stream.write(chunk)) await new Promise((r) => paster.stream.once('drain', r));
    }
    await served(good);
    expect(paster.closed).toBe(false);
    expect(memoryOf(pid).hwm - before.hwm).toBeLessThan(MEMORY_BOUND);
  });

  it('a viewer that floods full-update requests and never reads costs bounded memory; another viewer is still served', async () => {
    serve = await startServe(['--vnc', '--device', 'mbochs-medium=m']);
    const pid = serve.child.pid!;
    const before = memoryOf(pid);
    const path = serve.consoles.get('m')!.vnc!;
    const flooder = await RfbTestClient.unix(path);
    clients.push(flooder);
    await flooder.handshake();
    flooder.setEncodings([ENCODING.Raw]); // 1.2 MB per 640×480 placeholder frame
    flooder.stream.pause();
    const request = Buffer.from([3, 0, 0, 0, 0, 0, 0x02, 0x80, 0x01, 0xe0]);
    for (let i = 0; i < 20_000; i++) flooder.stream.write(request); // 24 GB of updates asked for
    const good = await viewer(path);
    await served(good);
    await served(good);
    expect(flooder.closed).toBe(false);
    expect(memoryOf(pid).hwm - before.hwm).toBeLessThan(MEMORY_BOUND);
  });

  it('one viewer past --vnc-max-viewers is closed at once; the fds come back when they leave', async () => {
    serve = await startServe(['--vnc', '--vnc-max-viewers', '2', '--device', 'mbochs-medium=m']);
    const pid = serve.child.pid!;
    const fds = fdCountOf(pid);
    const path = serve.consoles.get('m')!.vnc!;
    const a = await viewer(path);
    const b = await viewer(path);
    const third = await RfbTestClient.unix(path);
    clients.push(third);
    await third.closedByServer();
    await served(a);
    await served(b);
    for (const c of clients.splice(0)) c.close();
    // The server has no event for a viewer leaving: watch its fd table return to what it was.
    await expect.poll(() => fdCountOf(pid)).toBe(fds);
    const again = await viewer(path); // and the slots are free again
    await served(again);
  });
});
