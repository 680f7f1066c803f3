/**
 * The QMP endpoint over a real Unix socket, against a scripted peer: the
 * cases a well-behaved QEMU never produces (a second connection, an endless
 * line, no greeting, a QEMU that stops answering) and the exact lines we
 * send. qmp-qemu.test.ts runs the same endpoint against a real QEMU.
 */
import { lstatSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connect, type CloseInfo, type UnixSocket } from '../../../src/sys/socket.ts';
import { FdLedger } from '../../../src/sys/fd-ledger.ts';
import { ensurePrivateDir } from '../../../src/sys/trusted-path.ts';
import { QmpEndpoint, QmpError, MAX_EVENTS_PER_COMMAND, type QmpEndpointOptions } from '../../../src/vnc/qmp-endpoint.ts';
import { LineSplitter } from '../../../src/vnc/qmp-lines.ts';
import type { QmpInputEvent } from '../../../src/vnc/input.ts';

const GREETING = { QMP: { version: { qemu: { micro: 0, minor: 2, major: 7 }, package: '' }, capabilities: ['oob'] } };
const KEY_A_DOWN: QmpInputEvent = { type: 'key', data: { down: true, key: { type: 'qcode', data: 'a' } } };
const KEY_A_UP: QmpInputEvent = { type: 'key', data: { down: false, key: { type: 'qcode', data: 'a' } } };
const MOVE: QmpInputEvent = { type: 'abs', data: { axis: 'x', value: 100 } };

/** A QMP peer we script: what it receives, parsed; what it sends, as lines. */
class Peer {
  readonly #lines: unknown[] = [];
  readonly #waiting: ((v: unknown) => void)[] = [];
  readonly closed: Promise<CloseInfo>;

  private constructor(readonly socket: UnixSocket) {
    const split = new LineSplitter(1 << 20);
    socket.on('data', (bytes) => split.push(bytes, (line) => {
      const msg: unknown = JSON.parse(line);
      const w = this.#waiting.shift();
      if (w !== undefined) w(msg);
      else this.#lines.push(msg);
    }));
    this.closed = new Promise((resolve) => socket.once('close', resolve));
  }

  static async connect(path: string): Promise<Peer> {
    return new Peer(await connect(path));
  }

  /** The next line the endpoint sends, parsed. */
  next(): Promise<any> {
    if (this.#lines.length > 0) return Promise.resolve(this.#lines.shift());
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  send(msg: unknown): void {
    this.socket.send(new TextEncoder().encode(typeof msg === 'string' ? msg : `${JSON.stringify(msg)}\r\n`));
  }

  /** Greet, take qmp_capabilities, accept it; resolves once the endpoint says ready. */
  async handshake(endpoint: QmpEndpoint): Promise<void> {
    const ready = once(endpoint, 'ready');
    this.send(GREETING);
    expect(await this.next()).toEqual({ execute: 'qmp_capabilities', id: 0 });
    expect(endpoint.ready).toBe(false);
    this.send({ return: {}, id: 0 });
    await ready;
  }

  close(): void {
    this.socket.close();
  }
}

let dir: string;
const endpoints: QmpEndpoint[] = [];
const peers: Peer[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mdevsim-qmp-'));
  ensurePrivateDir(dir);
});

afterEach(async () => {
  for (const p of peers.splice(0)) p.close();
  for (const e of endpoints.splice(0)) await e.close();
  rmSync(dir, { recursive: true, force: true });
});

async function start(opts: QmpEndpointOptions = {}): Promise<QmpEndpoint> {
  const e = await QmpEndpoint.listen(join(dir, 'mdpy-0.qmp'), { fdLedger: new FdLedger({ limit: 1024, baseline: 0 }), ...opts });
  endpoints.push(e);
  return e;
}

async function peer(e: QmpEndpoint): Promise<Peer> {
  const p = await Peer.connect(e.path);
  peers.push(p);
  return p;
}

describe('QmpEndpoint (scripted peer over a real Unix socket)', () => {
  it('listens on a 0600 socket and removes it on close', async () => {
    const e = await start();
    const st = lstatSync(e.path);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    await e.close();
    expect(existsSync(e.path)).toBe(false);
  });

  it('answers the greeting with qmp_capabilities, is ready on its return, and sends one input-send-event per call', async () => {
    const e = await start();
    const p = await peer(e);
    await p.handshake(e);
    expect(e.stats()).toMatchObject({ connected: true, ready: true, peers: 1 });

    const done = e.sendInputChecked([KEY_A_DOWN, KEY_A_UP]);
    expect(await p.next()).toEqual({ execute: 'input-send-event', arguments: { events: [KEY_A_DOWN, KEY_A_UP] }, id: 1 });
    p.send({ return: {}, id: 1 });
    await done;

    e.sendInput([MOVE]);
    expect(await p.next()).toEqual({ execute: 'input-send-event', arguments: { events: [MOVE] }, id: 2 });
    expect(e.stats()).toMatchObject({ sent: 2, errors: 0, dropped: 0 });
  });

  it('counts and reports QEMU\'s error replies without throwing, and ignores asynchronous events', async () => {
    const e = await start();
    const p = await peer(e);
    await p.handshake(e);
    const checked = e.sendInputChecked([KEY_A_DOWN]);
    e.sendInput([KEY_A_UP]);
    await p.next();
    await p.next();
    p.send({ event: 'RESUME', timestamp: { seconds: 1, microseconds: 2 } });
    p.send({ error: { class: 'GenericError', desc: 'VM not running' }, id: 1 });
    p.send({ error: { class: 'GenericError', desc: 'VM not running' }, id: 2 });
    const err = await checked.catch((x: unknown) => x);
    expect(err).toBeInstanceOf(QmpError);
    expect(err).toMatchObject({ code: 'EQMP', qmpClass: 'GenericError' });
    expect((err as Error).message).toBe('QEMU refused the input events: VM not running (GenericError).');
    // The fire-and-forget reply is counted once it arrives: wait for the next command's answer.
    const probe = e.sendInputChecked([MOVE]);
    await p.next();
    p.send({ return: {}, id: 3 });
    await probe;
    expect(e.stats()).toMatchObject({ errors: 2, events: 1, lastError: 'GenericError: VM not running', ready: true });
  });

  it('closes a second connection at once, and takes the next one after the first leaves', async () => {
    const e = await start();
    const first = await peer(e);
    await first.handshake(e);
    const second = await peer(e);
    expect((await second.closed).reason).toBe('eof');
    expect(e.stats()).toMatchObject({ refused: 1, ready: true });

    const lost = once(e, 'lost');
    first.close();
    await lost;
    expect(e.stats()).toMatchObject({ connected: false, ready: false });

    const third = await peer(e);
    await third.handshake(e);
    expect(e.stats()).toMatchObject({ peers: 2, ready: true });
  });

  it('charges the peer to the fd ledger and registers one slot', async () => {
    const ledger = new FdLedger({ limit: 1024, baseline: 0 });
    const before = ledger.capacity;
    const e = await start({ fdLedger: ledger });
    expect(ledger.capacity).toBe(before - 1); // the listener
    const p = await peer(e);
    await p.handshake(e);
    expect(ledger.accounts).toBe(1);
    const lost = once(e, 'lost');
    p.close();
    await lost;
    expect(ledger.accounts).toBe(0);
    await e.close();
    expect(ledger.capacity).toBe(before);
  });

  it('drops a peer whose line exceeds maxLineBytes, before keeping it', async () => {
    const e = await start({ maxLineBytes: 1024 });
    const p = await peer(e);
    p.send('x'.repeat(1025));
    expect((await p.closed).reason).toBe('eof');
    expect(e.stats().connected).toBe(false);
  });

  it('drops a peer that sends something other than the QMP greeting, or no JSON', async () => {
    const e = await start();
    const a = await peer(e);
    a.send({ return: {} });
    expect((await a.closed).reason).toBe('eof');
    const b = await peer(e);
    b.send('not json\n');
    expect((await b.closed).reason).toBe('eof');
    const c = await peer(e);
    c.send(GREETING);
    await c.next();
    c.send({ error: { class: 'CommandNotFound', desc: 'no' }, id: 0 });
    expect((await c.closed).reason).toBe('eof');
    expect(e.stats()).toMatchObject({ peers: 3, connected: false });
  });

  it('drops a peer that does not greet within greetingTimeoutMs, so QEMU can get in', async () => {
    const e = await start({ greetingTimeoutMs: 50 });
    const silent = await peer(e);
    expect((await silent.closed).reason).toBe('eof');
    const p = await peer(e);
    await p.handshake(e);
  });

  it('without a ready peer, input is dropped and counted as offline (view-only)', async () => {
    const e = await start();
    e.sendInput([KEY_A_DOWN]);
    await expect(e.sendInputChecked([KEY_A_UP])).rejects.toMatchObject({ code: 'ENOTCONN' });
    const p = await peer(e);
    p.send(GREETING); // connected, not ready yet
    await p.next();
    e.sendInput([MOVE]);
    expect(e.stats()).toMatchObject({ offline: 3, sent: 0, connected: true, ready: false });
  });

  it('refuses a batch of more than MAX_EVENTS_PER_COMMAND events', async () => {
    const e = await start();
    const p = await peer(e);
    await p.handshake(e);
    const big = Array.from({ length: MAX_EVENTS_PER_COMMAND + 1 }, () => MOVE);
    await expect(e.sendInputChecked(big)).rejects.toMatchObject({ code: 'E2BIG' });
    expect(e.stats()).toMatchObject({ dropped: 1, sent: 0 });
  });

  it('bounds commands in flight: motion stops at 3/4 of maxPending, keys at maxPending; dropped releases go out once a reply frees room', async () => {
    const e = await start({ maxPending: 8 });
    const p = await peer(e);
    await p.handshake(e);
    for (let i = 0; i < 6; i++) e.sendInput([MOVE]);
    e.sendInput([MOVE]); // 7th motion: dropped, 6 = 8 - 8/4 in flight
    expect(e.stats()).toMatchObject({ sent: 6, dropped: 1 });
    e.sendInput([KEY_A_DOWN]); // keys still fit: 7, 8 in flight
    const lastFit = e.sendInputChecked([{ type: 'btn', data: { down: true, button: 'left' } }]);
    await expect(e.sendInputChecked([KEY_A_UP, { type: 'btn', data: { down: false, button: 'left' } }])).rejects.toMatchObject({ code: 'EBUSY' });
    expect(e.stats()).toMatchObject({ sent: 8, dropped: 2 });

    for (let id = 1; id <= 8; id++) expect((await p.next()).id).toBe(id);
    p.send({ return: {}, id: 1 }); // room for one: the owed releases go out first
    expect(await p.next()).toEqual({ execute: 'input-send-event', arguments: { events: [KEY_A_UP, { type: 'btn', data: { down: false, button: 'left' } }] }, id: 9 });
    for (let id = 2; id <= 9; id++) p.send({ return: {}, id });
    await lastFit;
    expect(e.stats()).toMatchObject({ sent: 9, dropped: 2, errors: 0 });
  });

  it('a newer press that went out cancels the owed release of that key', async () => {
    const e = await start({ maxPending: 1 });
    const p = await peer(e);
    await p.handshake(e);
    const first = e.sendInputChecked([KEY_A_DOWN]); // in flight
    e.sendInput([KEY_A_UP]); // dropped: owed
    e.sendInput([KEY_A_DOWN]); // dropped too: the guest still has A down, as the viewer thinks
    expect((await p.next()).id).toBe(1);
    p.send({ return: {}, id: 1 });
    await first;
    const probe = e.sendInputChecked([MOVE]); // nothing owed went out before it
    expect((await p.next()).arguments.events).toEqual([MOVE]);
    p.send({ return: {}, id: 2 });
    await probe;
  });

  it('rejects checked commands in flight when the peer goes away, and says lost', async () => {
    const e = await start();
    const p = await peer(e);
    await p.handshake(e);
    const pending = e.sendInputChecked([KEY_A_DOWN]);
    await p.next();
    const lost = once(e, 'lost');
    p.close();
    await expect(pending).rejects.toMatchObject({ code: 'ECONNRESET' });
    await lost;
    expect(e.ready).toBe(false);
  });

  it('drops a peer that answers out of order', async () => {
    const e = await start();
    const p = await peer(e);
    await p.handshake(e);
    const pending = e.sendInputChecked([KEY_A_DOWN]);
    await p.next();
    p.send({ return: {}, id: 7 });
    await expect(pending).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect((await p.closed).reason).toBe('eof');
  });

  it('a throwing ready listener is logged, not thrown into the socket layer', async () => {
    const e = await start();
    e.on('ready', () => { throw new Error('listener bug'); });
    const p = await peer(e);
    await p.handshake(e);
    expect(e.ready).toBe(true);
  });
});
