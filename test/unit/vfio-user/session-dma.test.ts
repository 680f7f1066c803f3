/**
 * DMA_MAP / DMA_UNMAP in Session: the order of refusals (the map limit
 * before anything that searches or makes a syscall), u64 wrap, fd
 * validation through a real fstat-based inspector, and fd charging.
 */
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Session, type SessionOptions } from '../../../src/vfio-user/session.ts';
import * as P from '../../../src/vfio-user/protocol.ts';
import { dmaMapRequest, dmaUnmapRequest } from '../../../src/vfio-user/requests.ts';
import { VFIO_DMA_UNMAP_FLAG_ALL } from '../../../src/vfio-user/wire.ts';
import { closeFd, inspectFd } from '../../../src/sys/fds.ts';
import { createMemfd } from '../../../src/sys/memfd.ts';
import { rawSocketpair } from '../../../src/sys/socket.ts';
import { MdpyDevice } from '../../../devices/mdpy/index.ts';
import { InstanceBudget } from '../../../devices/common/budget.ts';
import { decodeReply, frame, versionPayload } from '../../support/vfio-user-msg.ts';
import type { VfioDevice } from '../../../src/vfio/device.ts';

const SEED = Number(process.env['FUZZ_SEED'] ?? 20261122);
const TOP = 1n << 64n;
const PAGE = 0x1000n;
const ENOENT = 2, EEXIST = 17, EINVAL = 22, EMFILE = 24, ENOSPC = 28;

const devices: (VfioDevice & { destroy(): void })[] = [];
afterEach(() => {
  for (const d of devices.splice(0)) d.destroy();
});
const dir = mkdtempSync(join(tmpdir(), 'mdevsim-session-dma-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A budget that counts what is charged and released, with room for `room` fds. */
class CountingCharger {
  held = 0;
  charges = 0;
  releases = 0;
  constructor(public room = Infinity) {}
  charge(n: number): boolean {
    if (this.held + n > this.room) return false;
    this.held += n;
    this.charges += n;
    return true;
  }
  release(n: number): void {
    this.held -= n;
    this.releases += n;
  }
}

interface Fixture {
  readonly s: Session;
  /** fds the session closed, in order. */
  readonly closed: number[];
}

function fixture(opts: Partial<SessionOptions> = {}, real = false): Fixture {
  const device = new MdpyDevice('mdpy-vga', { budget: new InstanceBudget({ total: 4, errno: 'EUSERS' }) });
  devices.push(device);
  const closed: number[] = [];
  const s = new Session(device, {
    closeFd: (fd) => {
      closed.push(fd);
      if (real) closeFd(fd);
    },
    ...opts,
  });
  s.handle(frame(0, P.VFIO_USER_VERSION, versionPayload(undefined)));
  return { s, closed };
}

let nextId = 1;
/** errno of the reply (0: success). */
function map(s: Session, address: bigint, size: bigint, opts: { fd?: number; offset?: bigint } = {}): number {
  const f = frame(nextId++ & 0xffff, P.VFIO_USER_DMA_MAP, dmaMapRequest(address, size, { offset: opts.offset ?? 0n }), { fds: opts.fd === undefined ? [] : [opts.fd] });
  return decodeReply(s.handle(f)!.bytes).error;
}
function unmap(s: Session, address: bigint, size: bigint, flags = 0): number {
  return decodeReply(s.handle(frame(nextId++ & 0xffff, P.VFIO_USER_DMA_UNMAP, dmaUnmapRequest(address, size, flags)))!.bytes).error;
}

describe('DMA_MAP order of checks', () => {
  it('a full table refuses with ENOSPC before looking at overlap, wrap, offset or the fd, and never calls inspectFd', () => {
    const inspect = vi.fn(() => ({ kind: 'other' as const, size: 0n }));
    const { s, closed } = fixture({ limits: { maxDmaMaps: 2 }, inspectFd: inspect });
    expect(map(s, 0n, PAGE)).toBe(0);
    expect(map(s, PAGE, PAGE)).toBe(0);
    expect(map(s, 0n, PAGE)).toBe(ENOSPC); // overlapping
    expect(map(s, 0x10000n, 0n)).toBe(ENOSPC); // size 0
    expect(map(s, TOP - PAGE, 2n * PAGE)).toBe(ENOSPC); // wraps
    expect(map(s, 0x10000n, PAGE, { offset: 0x1000n })).toBe(ENOSPC); // offset without an fd
    expect(map(s, 0x10000n, PAGE, { fd: 501 })).toBe(ENOSPC); // an fd the inspector would refuse
    expect(inspect).not.toHaveBeenCalled();
    expect(closed).toEqual([501]);
    expect(s.dmaMapCount).toBe(2);
  });

  it('overlap is EEXIST before the fd is inspected or charged', () => {
    const inspect = vi.fn(() => ({ kind: 'other' as const, size: 0n }));
    const fds = new CountingCharger();
    const { s, closed } = fixture({ inspectFd: inspect, fds });
    expect(map(s, 0x10000n, 0x10000n)).toBe(0);
    expect(map(s, 0x1f000n, PAGE, { fd: 502 })).toBe(EEXIST);
    expect(map(s, 0xf000n, 0x2000n, { fd: 503 })).toBe(EEXIST);
    expect(inspect).not.toHaveBeenCalled();
    expect(fds.charges).toBe(0);
    expect(closed).toEqual([502, 503]);
  });

  it('address + size beyond 2^64 and fd offset + size beyond 2^64 are EINVAL; ending exactly at 2^64 is legal', () => {
    const { s } = fixture();
    expect(map(s, TOP - PAGE, 2n * PAGE)).toBe(EINVAL);
    expect(map(s, TOP - 1n, TOP - 1n)).toBe(EINVAL);
    expect(map(s, 0n, PAGE, { fd: 504, offset: TOP - 1n })).toBe(EINVAL);
    expect(map(s, 0n, 0n)).toBe(EINVAL);
    expect(s.dmaMapCount).toBe(0);
    expect(map(s, TOP - PAGE, PAGE)).toBe(0);
    expect(map(s, 0n, PAGE, { fd: 505, offset: TOP - PAGE })).toBe(0);
    expect(s.dmaMapCount).toBe(2);
  });
});

describe('DMA_MAP fd validation (fstat through inspectFd)', () => {
  it('a memfd covering [offset, offset + size) is kept; one too small, a socket or a directory is EINVAL and closed', () => {
    const { s, closed } = fixture({ inspectFd }, true);
    const fits = createMemfd('guest-ram', 0x3000).take();
    expect(map(s, 0n, 0x2000n, { fd: fits, offset: 0x1000n })).toBe(0);
    expect(closed).toEqual([]);

    const short = createMemfd('short', 0x2000).take();
    expect(map(s, 0x10000n, 0x2000n, { fd: short, offset: 0x1000n })).toBe(EINVAL);
    const [a, b] = rawSocketpair();
    const sock = a.take();
    b.close();
    expect(map(s, 0x10000n, PAGE, { fd: sock })).toBe(EINVAL);
    const dirFd = openSync(dir, 'r');
    expect(map(s, 0x10000n, PAGE, { fd: dirFd })).toBe(EINVAL);
    expect(closed).toEqual([short, sock, dirFd]);
    expect(s.dmaMapCount).toBe(1);

    // A map without an fd (RAM QEMU does not share) needs no inspection.
    expect(map(s, 0x10000n, PAGE)).toBe(0);
    s.close();
    expect(closed).toEqual([short, sock, dirFd, fits]);
  });

  it('the inspector sees the fd the message carries', () => {
    const inspect = vi.fn(() => ({ kind: 'file' as const, size: 0x1000n }));
    const { s } = fixture({ inspectFd: inspect });
    expect(map(s, 0n, PAGE, { fd: 506 })).toBe(0);
    expect(inspect).toHaveBeenCalledWith(506);
    expect(map(s, PAGE, PAGE, { fd: 507, offset: 1n })).toBe(EINVAL);
  });
});

describe('DMA_MAP fd charging', () => {
  it('a refused charge is EMFILE: the fd is closed and no window is recorded', () => {
    const fds = new CountingCharger(1);
    const { s, closed } = fixture({ fds });
    expect(map(s, 0n, PAGE, { fd: 601 })).toBe(0);
    expect(map(s, PAGE, PAGE, { fd: 602 })).toBe(EMFILE);
    expect(closed).toEqual([602]);
    expect(s.dmaMapCount).toBe(1);
    expect(fds.held).toBe(1);
    // Nothing was kept: the same window maps once the budget has room again.
    fds.room = 2;
    expect(map(s, PAGE, PAGE, { fd: 603 })).toBe(0);
    // fd-less maps are never charged.
    fds.room = 0;
    expect(map(s, 2n * PAGE, PAGE)).toBe(0);
    expect(fds.charges).toBe(2);
  });

  it('charges are released on unmap, UNMAP_ALL and close, once per fd-backed window', () => {
    const fds = new CountingCharger();
    const { s, closed } = fixture({ fds });
    for (let i = 0; i < 4; i++) expect(map(s, BigInt(i) * PAGE, PAGE, { fd: 700 + i })).toBe(0);
    expect(map(s, 0x10000n, PAGE)).toBe(0);
    expect(fds.held).toBe(4);
    expect(unmap(s, 0n, PAGE)).toBe(0);
    expect(unmap(s, 0x10000n, PAGE)).toBe(0);
    expect(unmap(s, 0x20000n, PAGE)).toBe(ENOENT);
    expect(fds.held).toBe(3);
    expect(unmap(s, 0n, 0n, VFIO_DMA_UNMAP_FLAG_ALL)).toBe(0);
    expect(fds.held).toBe(0);
    expect(map(s, 0n, PAGE, { fd: 710 })).toBe(0);
    expect(map(s, PAGE, PAGE, { fd: 711 })).toBe(0);
    s.close();
    s.close();
    expect(fds).toMatchObject({ held: 0, charges: 6, releases: 6 });
    expect([...closed].sort()).toEqual([700, 701, 702, 703, 710, 711]);
  });
});

type DmaOp =
  | { readonly op: 'map'; readonly address: bigint; readonly size: bigint; readonly fd: boolean; readonly offset: bigint }
  | { readonly op: 'unmap'; readonly address: bigint; readonly size: bigint }
  | { readonly op: 'all' };

const addrArb = fc.oneof({ weight: 6, arbitrary: fc.bigInt({ min: 0n, max: 12n }).map((p) => p * PAGE) }, { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: TOP - 1n }) });
const sizeArb = fc.oneof({ weight: 6, arbitrary: fc.bigInt({ min: 1n, max: 3n }).map((p) => p * PAGE) }, { weight: 1, arbitrary: fc.constantFrom(0n, TOP - 1n) });
const dmaOpArb: fc.Arbitrary<DmaOp> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('map' as const), address: addrArb, size: sizeArb, fd: fc.boolean(), offset: fc.oneof({ weight: 6, arbitrary: fc.constant(0n) }, { weight: 1, arbitrary: fc.constantFrom(PAGE, TOP - PAGE) }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('unmap' as const), address: addrArb, size: sizeArb }) },
  { weight: 1, arbitrary: fc.constant({ op: 'all' as const }) },
);

describe('DMA_MAP / DMA_UNMAP errnos', () => {
  it(`every map and unmap gets the errno a full-scan model predicts (ENOSPC, then EINVAL, then EEXIST, then EMFILE; ENOENT for an inexact unmap); fds are charged exactly while a window holds them (seed ${SEED})`, () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 4 }), fc.array(dmaOpArb, { maxLength: 60 }), (maxDmaMaps, room, ops) => {
      const fds = new CountingCharger(room);
      const { s } = fixture({ limits: { maxDmaMaps }, fds });
      const model: { address: bigint; size: bigint; fd: boolean }[] = [];
      for (const o of ops) {
        if (o.op === 'map') {
          const want = model.length >= maxDmaMaps ? ENOSPC
            : o.size === 0n || o.address + o.size > TOP || (!o.fd && o.offset !== 0n) || o.offset + o.size > TOP ? EINVAL
              : model.some((m) => o.address < m.address + m.size && m.address < o.address + o.size) ? EEXIST
                : o.fd && fds.held >= room ? EMFILE : 0;
          expect(map(s, o.address, o.size, o.fd ? { fd: 900, offset: o.offset } : { offset: o.offset })).toBe(want);
          if (want === 0) model.push({ address: o.address, size: o.size, fd: o.fd });
        } else if (o.op === 'unmap') {
          const i = model.findIndex((m) => m.address === o.address && m.size === o.size);
          expect(unmap(s, o.address, o.size)).toBe(i < 0 ? ENOENT : 0);
          if (i >= 0) model.splice(i, 1);
        } else {
          expect(unmap(s, 0n, 0n, VFIO_DMA_UNMAP_FLAG_ALL)).toBe(0);
          model.length = 0;
        }
        expect(s.dmaMapCount).toBe(model.length);
        expect(fds.held).toBe(model.filter((m) => m.fd).length);
      }
      s.close();
      devices.pop()!.destroy(); // one device per run, not 200 alive until afterEach
      expect(fds.held).toBe(0);
    }), { seed: SEED, numRuns: 200 });
  });
});
