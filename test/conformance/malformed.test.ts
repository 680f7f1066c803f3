/**
 * Malformed input over real sockets. The server runs in this process, so
 * /proc/self/fd covers the fds on both sides. Each case asserts the exact
 * errno of the error reply (the connection stays up) or the clean drop of
 * that one connection, and that nothing leaked and the other device kept
 * serving.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type UnixSocket } from '../../src/sys/socket.ts';
import { closeFd } from '../../src/sys/fds.ts';
import { EventFd } from '../../src/sys/eventfd.ts';
import { createMemfd } from '../../src/sys/memfd.ts';
import { memfdMemoryFactory } from '../../src/sys/memfd.ts';
import { DeviceServer, type ServerEvent } from '../../src/vfio-user/server.ts';
import { Framer, type Frame } from '../../src/vfio-user/framer.ts';
import * as P from '../../src/vfio-user/protocol.ts';
import { MbochsDevice } from '../../devices/mbochs/index.ts';
import { MdpyDevice } from '../../devices/mdpy/index.ts';
import { InstanceBudget } from '../../devices/common/budget.ts';
import { VfioUserClient } from '../../src/vfio-user/client.ts';
import { le, versionPayload } from '../support/vfio-user-msg.ts';
import { fdCount } from '../support/leak.ts';

const dir = mkdtempSync(join(tmpdir(), 'mdevsim-malformed-'));
const mbochs = new MbochsDevice('mbochs-small', { memory: memfdMemoryFactory, budget: new InstanceBudget({ total: 1024 }) });
const mdpy = new MdpyDevice('mdpy-vga', { memory: memfdMemoryFactory, budget: new InstanceBudget({ total: 4, errno: 'EUSERS' }) });
let target: DeviceServer;
let other: DeviceServer;

/**
 * Connections the servers hold: a server closes a connection's fds (socket,
 * DMA, exports) before it reports the disconnection, so once every accepted
 * connection is reported gone the fd count is final.
 */
let held = 0;
let onIdle: (() => void)[] = [];
function count(e: ServerEvent): void {
  if (e.kind === 'connected') held++;
  else if (e.kind === 'disconnected' && --held === 0) for (const w of onIdle.splice(0)) w();
}
function serversIdle(): Promise<void> {
  return held === 0 ? Promise.resolve() : new Promise((r) => onIdle.push(r));
}

beforeAll(() => {
  target = DeviceServer.listen({ path: join(dir, 'mbochs.sock'), device: mbochs, label: 'mbochs', limits: { maxMsgFds: 4, maxDataXfer: 1 << 16 }, onEvent: count });
  other = DeviceServer.listen({ path: join(dir, 'mdpy.sock'), device: mdpy, label: 'mdpy', onEvent: count });
});
afterAll(() => {
  target.close();
  other.close();
  mbochs.destroy();
  mdpy.destroy();
  rmSync(dir, { recursive: true, force: true });
});

/** A raw connection: send arbitrary bytes/fds, read replies as frames, see the drop. */
class Raw {
  readonly frames: Frame[] = [];
  closed = false;
  #waiters: (() => void)[] = [];
  readonly #framer = new Framer({ maxMessageSize: 1 << 20, maxFdsPerMessage: 4 }, closeFd);
  private constructor(readonly socket: UnixSocket) {
    socket.on('data', (bytes, anc) => {
      const fds: number[] = [];
      if (anc) for (let i = 0; i < anc.fds.length; i++) fds.push(anc.fds.take(i));
      this.#framer.push(bytes, fds);
      for (let f = this.#framer.next(); f; f = this.#framer.next()) this.frames.push({ ...f, payload: f.payload.slice() });
      this.#wake();
    });
    socket.on('close', () => { this.closed = true; this.#wake(); });
  }
  static async open(path: string): Promise<Raw> {
    const r = new Raw(await connect(path));
    r.send(msg(1, P.VFIO_USER_VERSION, versionPayload('{"capabilities":{"max_msg_fds":4}}')));
    expect((await r.reply()).flags & P.VFIO_USER_F_ERROR).toBe(0);
    return r;
  }
  #wake(): void { for (const w of this.#waiters.splice(0)) w(); }
  send(bytes: Uint8Array, fds: number[] = []): void { this.socket.send(bytes, fds); }
  async reply(): Promise<Frame> {
    while (this.frames.length === 0) {
      if (this.closed) throw new Error('connection closed while waiting for a reply');
      await new Promise<void>((r) => this.#waiters.push(r));
    }
    return this.frames.shift()!;
  }
  async dropped(): Promise<boolean> {
    const deadline = Date.now() + 2000;
    while (!this.closed && Date.now() < deadline) await new Promise<void>((r) => { this.#waiters.push(r); setTimeout(r, 50); });
    return this.closed;
  }
  close(): void { this.socket.close(); }
}

function msg(id: number, command: number, payload: Uint8Array = new Uint8Array(0), opts: { flags?: number; size?: number } = {}): Uint8Array {
  const out = new Uint8Array(16 + payload.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, id, true);
  v.setUint16(2, command, true);
  v.setUint32(4, opts.size ?? out.length, true);
  v.setUint32(8, opts.flags ?? 0, true);
  out.set(payload, 16);
  return out;
}

/** Yield to the event loop (one poll phase each) until `cond` holds: for what the servers do on their next read. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 10_000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  expect(cond(), what).toBe(true);
}

async function otherDeviceServes(): Promise<void> {
  const c = await VfioUserClient.connect(other.path);
  expect((await c.deviceInfo()).numRegions).toBe(9);
  c.close();
}

let fdsBefore = 0;
let raw: Raw | undefined;
afterEach(async () => {
  raw?.close();
  raw = undefined;
  await serversIdle();
  await otherDeviceServes();
  await serversIdle();
  expect(fdCount(), 'fd count back to where the case started').toBe(fdsBefore);
});

async function start(): Promise<Raw> {
  await serversIdle();
  fdsBefore = fdCount();
  raw = await Raw.open(target.path);
  return raw;
}

async function expectErrno(r: Raw, id: number, command: number, errno: number): Promise<void> {
  const f = await r.reply();
  expect({ id: f.id, command: f.command, type: f.flags & 0xf, error: (f.flags & P.VFIO_USER_F_ERROR) !== 0, errno: f.error, size: f.size })
    .toEqual({ id, command, type: 1, error: true, errno, size: 16 });
}

describe('well-framed but invalid requests: error reply, the connection stays', () => {
  const EINVAL = 22, EFAULT = 14, ENOSYS = 38, EEXIST = 17, ENOENT = 2;
  const cases: [string, number, Uint8Array, number, { flags?: number }?][] = [
    ['GET_INFO payload shorter than argsz', P.VFIO_USER_DEVICE_GET_INFO, new Uint8Array(2), EINVAL],
    ['GET_INFO argsz 15', P.VFIO_USER_DEVICE_GET_INFO, le([15, 4], [0, 4], [0, 4], [0, 4]), EINVAL],
    ['GET_REGION_INFO argsz 31', P.VFIO_USER_DEVICE_GET_REGION_INFO, le([31, 4], [0, 4], [0, 4], [0, 4], [0, 8], [0, 8]), EINVAL],
    ['GET_REGION_INFO payload of 31 bytes', P.VFIO_USER_DEVICE_GET_REGION_INFO, new Uint8Array(31), EINVAL],
    ['GET_REGION_INFO index 10 (≥ num_regions)', P.VFIO_USER_DEVICE_GET_REGION_INFO, le([32, 4], [0, 4], [10, 4], [0, 4], [0, 8], [0, 8]), EINVAL],
    ['GET_REGION_INFO index 2^32−1', P.VFIO_USER_DEVICE_GET_REGION_INFO, le([32, 4], [0, 4], [0xffffffff, 4], [0, 4], [0, 8], [0, 8]), EINVAL],
    ['GET_IRQ_INFO index 5', P.VFIO_USER_DEVICE_GET_IRQ_INFO, le([16, 4], [0, 4], [5, 4], [0, 4]), EINVAL],
    ['SET_IRQS on an index with no vectors', P.VFIO_USER_DEVICE_SET_IRQS, le([20, 4], [0x21, 4], [0, 4], [0, 4], [1, 4]), EINVAL],
    ['REGION_READ count above max_data_xfer_size', P.VFIO_USER_REGION_READ, le([0, 8], [0, 4], [(1 << 16) + 1, 4]), EINVAL],
    ['REGION_READ offset+count overflowing u64', P.VFIO_USER_REGION_READ, le([0xfffffffffffffffen, 8], [7, 4], [4, 4]), EFAULT],
    ['REGION_READ past the end of config space', P.VFIO_USER_REGION_READ, le([0xfe, 8], [7, 4], [4, 4]), EFAULT],
    ['REGION_READ of an unknown region', P.VFIO_USER_REGION_READ, le([0, 8], [11, 4], [4, 4]), EINVAL],
    ['REGION_READ payload of 17 bytes', P.VFIO_USER_REGION_READ, new Uint8Array(17), EINVAL],
    ['REGION_WRITE with fewer data bytes than count', P.VFIO_USER_REGION_WRITE, le([0, 8], [0, 4], [8, 4], [0, 4]), EINVAL],
    ['REGION_WRITE with more data bytes than count', P.VFIO_USER_REGION_WRITE, le([0, 8], [0, 4], [2, 4], [0, 4]), EINVAL],
    ['DEVICE_RESET with a payload', P.VFIO_USER_DEVICE_RESET, new Uint8Array(4), EINVAL],
    ['DMA_MAP payload of 31 bytes', P.VFIO_USER_DMA_MAP, new Uint8Array(31), EINVAL],
    ['DMA_MAP size 0', P.VFIO_USER_DMA_MAP, le([32, 4], [3, 4], [0, 8], [0x1000, 8], [0, 8]), EINVAL],
    ['DMA_MAP address+size overflowing u64', P.VFIO_USER_DMA_MAP, le([32, 4], [3, 4], [0, 8], [0xfffffffffffff000n, 8], [0x2000, 8]), EINVAL],
    ['DMA_UNMAP of a window never mapped', P.VFIO_USER_DMA_UNMAP, le([24, 4], [0, 4], [0x1000, 8], [0x1000, 8]), ENOENT],
    ['DMA_UNMAP dirty bitmap (unsupported)', P.VFIO_USER_DMA_UNMAP, le([24, 4], [1, 4], [0x1000, 8], [0x1000, 8]), EINVAL],
    ['a second VERSION', P.VFIO_USER_VERSION, versionPayload(undefined), EINVAL],
    ['DMA_READ sent to the server', P.VFIO_USER_DMA_READ, le([0, 8], [4, 8]), EINVAL],
    ['an unknown command', 0x7777, new Uint8Array(8), ENOSYS],
    ['REGION_WRITE_MULTI, not advertised', P.VFIO_USER_REGION_WRITE_MULTI, le([0, 8]), ENOSYS],
    ['display extension without negotiation', P.MDEVSIM_USER_QUERY_GFX_PLANE, new Uint8Array(64), ENOSYS],
    ['NO_REPLY on a REGION_READ', P.VFIO_USER_REGION_READ, le([0, 8], [7, 4], [4, 4]), EINVAL, { flags: P.VFIO_USER_F_NO_REPLY }],
    ['a reply sent to the server', P.VFIO_USER_DEVICE_GET_INFO, le([16, 4]), EINVAL, { flags: P.VFIO_USER_F_TYPE_REPLY }],
  ];
  for (const [name, command, payload, errno, opts] of cases) {
    it(`${name} → errno ${errno}, and the next request is answered`, async () => {
      const r = await start();
      r.send(msg(7, command, payload, opts));
      await expectErrno(r, 7, command, errno);
      r.send(msg(8, P.VFIO_USER_DEVICE_GET_INFO, le([16, 4])));
      const ok = await r.reply();
      expect(ok.flags & P.VFIO_USER_F_ERROR).toBe(0);
      expect(ok.id).toBe(8);
    });
  }

  it('fds on a command that allows none → EINVAL, and the server closes them', async () => {
    const r = await start();
    const efd = EventFd.create();
    r.send(msg(9, P.VFIO_USER_DEVICE_GET_INFO, le([16, 4])), [efd.fd, efd.fd]);
    efd.close();
    await expectErrno(r, 9, P.VFIO_USER_DEVICE_GET_INFO, 22);
  });

  it('SET_IRQS with eventfds on an index with no vectors → EINVAL, eventfds closed', async () => {
    const r = await start();
    const a = EventFd.create();
    const b = EventFd.create();
    r.send(msg(9, P.VFIO_USER_DEVICE_SET_IRQS, le([20, 4], [0x24, 4], [1, 4], [0, 4], [2, 4])), [a.fd, b.fd]);
    a.close();
    b.close();
    await expectErrno(r, 9, P.VFIO_USER_DEVICE_SET_IRQS, 22);
  });

  it('an overlapping DMA_MAP → EEXIST; the first window keeps its fd until the client disconnects', async () => {
    const r = await start();
    const mem = createMemfd('guest-ram', 1 << 16);
    r.send(msg(10, P.VFIO_USER_DMA_MAP, le([32, 4], [3, 4], [0, 8], [0x10000, 8], [0x10000, 8])), [mem.fd]);
    expect((await r.reply()).flags & P.VFIO_USER_F_ERROR).toBe(0);
    r.send(msg(11, P.VFIO_USER_DMA_MAP, le([32, 4], [3, 4], [0, 8], [0x18000, 8], [0x10000, 8])));
    await expectErrno(r, 11, P.VFIO_USER_DMA_MAP, 17);
    mem.close();
    expect(target.session?.dmaMapCount).toBe(1);
  });

  it('a DMA_MAP fd that is not a regular file, or a memfd shorter than offset + size → EINVAL; the fds are closed', async () => {
    const r = await start();
    const efd = EventFd.create();
    r.send(msg(12, P.VFIO_USER_DMA_MAP, le([32, 4], [3, 4], [0, 8], [0x10000, 8], [0x1000, 8])), [efd.fd]);
    efd.close();
    await expectErrno(r, 12, P.VFIO_USER_DMA_MAP, 22);
    const mem = createMemfd('guest-ram', 0x1000);
    r.send(msg(13, P.VFIO_USER_DMA_MAP, le([32, 4], [3, 4], [0x800, 8], [0x10000, 8], [0x1000, 8])), [mem.fd]);
    mem.close();
    await expectErrno(r, 13, P.VFIO_USER_DMA_MAP, 22);
    expect(target.session?.dmaMapCount).toBe(0);
  });
});

describe('corrupt streams: that connection is dropped, device state kept, nothing leaks', () => {
  it('msg_size below the header', async () => {
    const r = await start();
    r.send(msg(1, P.VFIO_USER_DEVICE_GET_INFO, new Uint8Array(0), { size: 15 }));
    expect(await r.dropped()).toBe(true);
  });

  it('msg_size above the server limit', async () => {
    const r = await start();
    r.send(msg(1, P.VFIO_USER_REGION_WRITE, new Uint8Array(0), { size: 16 + 16 + (1 << 16) + 1 }));
    expect(await r.dropped()).toBe(true);
  });

  it('more fds than max_msg_fds (ancillary data truncated)', async () => {
    const r = await start();
    const efds = Array.from({ length: 6 }, () => EventFd.create());
    r.send(msg(1, P.VFIO_USER_DMA_MAP, le([32, 4], [3, 4], [0, 8], [0, 8], [0x1000, 8])), efds.map((e) => e.fd));
    for (const e of efds) e.close();
    expect(await r.dropped()).toBe(true);
  });

  it('a client vanishing mid-message with a DMA fd held and an fd in flight', async () => {
    const r = await start();
    const mem = createMemfd('guest-ram', 1 << 16);
    r.send(msg(2, P.VFIO_USER_DMA_MAP, le([32, 4], [3, 4], [0, 8], [0x10000, 8], [0x10000, 8])), [mem.fd]);
    expect((await r.reply()).flags & P.VFIO_USER_F_ERROR).toBe(0);
    const half = msg(3, P.VFIO_USER_DMA_MAP, le([32, 4], [3, 4], [0, 8], [0x40000, 8], [0x10000, 8]));
    const fds = fdCount();
    r.send(half.subarray(0, 20), [mem.fd]);
    // The server has read the fd in flight (it shows in this process) before the client vanishes.
    await until(() => fdCount() > fds, 'the server received the fd of the partial message');
    mem.close();
    r.close();
    raw = undefined;
  });

  it('after a drop, a new client connects and finds the device state as it was', async () => {
    await serversIdle();
    fdsBefore = fdCount();
    const c = await VfioUserClient.connect(target.path);
    await c.regionWrite(2, 0x500 + 2 * 1, new Uint8Array([0x20, 0x03])); // XRES = 800
    c.close();
    raw = await Raw.open(target.path);
    raw.send(msg(1, 0, new Uint8Array(0), { size: 3 }));
    expect(await raw.dropped()).toBe(true);
    const d = await VfioUserClient.connect(target.path);
    expect([...(await d.regionRead(2, 0x502, 2))]).toEqual([0x20, 0x03]);
    d.close();
  });
});
