/**
 * The QEMU 10.2 realize sequence (docs/protocol.md "QEMU's client") replayed
 * against a Session driving a real device model, with the reply-size limits
 * QEMU enforces. Heap memory here (no fds): mappable regions must then be
 * reported without MMAP. The socket + memfd version is in test/integration.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Session } from '../../src/vfio-user/session.ts';
import * as P from '../../src/vfio-user/protocol.ts';
import { MdpyDevice } from '../../devices/mdpy/index.ts';
import { InstanceBudget } from '../../devices/common/budget.ts';
import { QEMU_VERSION_JSON, decodeReply, frame, le, u32, u64, versionPayload } from '../support/vfio-user-msg.ts';

const closed: number[] = [];
function newSession(dev = new MdpyDevice('mdpy-xga', { budget: new InstanceBudget({ total: 4, errno: 'EUSERS' }) })) {
  closed.length = 0;
  return { dev, s: new Session(dev, { closeFd: (fd) => closed.push(fd), label: 'test' }) };
}

/** QEMU's largest accepted reply per command (docs/protocol.md "QEMU's client", hw/vfio-user/proxy.c). */
const QEMU_MAX_REPLY: Record<number, (requestSize: number, argsz: number) => number> = {
  [P.VFIO_USER_DMA_MAP]: () => 48,
  [P.VFIO_USER_DMA_UNMAP]: () => 40,
  [P.VFIO_USER_DEVICE_GET_INFO]: () => 32,
  [P.VFIO_USER_DEVICE_GET_REGION_INFO]: (_r, argsz) => 16 + argsz,
  [P.VFIO_USER_DEVICE_GET_IRQ_INFO]: () => 32,
  [P.VFIO_USER_DEVICE_RESET]: () => 16,
};

let id = 0;
function send(s: Session, command: number, payload?: Uint8Array, opts: { flags?: number; fds?: number[]; argsz?: number } = {}) {
  const f = frame(++id & 0xffff, command, payload, opts);
  const out = s.handle(f);
  if (!out) return undefined;
  const r = decodeReply(out.bytes);
  expect(r.id).toBe(f.id);
  expect(r.command).toBe(command);
  expect(r.size).toBe(out.bytes.length);
  expect(r.flags & P.VFIO_USER_F_TYPE_MASK).toBe(P.VFIO_USER_F_TYPE_REPLY);
  const limit = QEMU_MAX_REPLY[command];
  if (limit) expect(out.bytes.length).toBeLessThanOrEqual(limit(f.size, opts.argsz ?? 0));
  return { ...r, fds: out.fds };
}

function configRead(s: Session, offset: number, count: number): Uint8Array {
  const r = send(s, P.VFIO_USER_REGION_READ, le([offset, 8], [7, 4], [count, 4]))!;
  expect(r.flags & P.VFIO_USER_F_ERROR).toBe(0);
  expect(r.payload.length).toBe(16 + count);
  return r.payload.subarray(16);
}

function configWrite(s: Session, offset: number, value: number): void {
  const r = send(s, P.VFIO_USER_REGION_WRITE, le([offset, 8], [7, 4], [4, 4], [value, 4]))!;
  expect(r.flags & P.VFIO_USER_F_ERROR).toBe(0);
  expect(r.payload.length).toBe(16);
}

describe('QEMU 10.2 realize sequence against mdpy-xga (session level)', () => {
  let dev: MdpyDevice | undefined;
  afterEach(() => dev?.destroy());

  it('VERSION, DMA_MAP with and without fd, GET_INFO, region info 0–5 and 7, config read, ROM probe, BAR sizing, reset', () => {
    const t = newSession();
    dev = t.dev;
    const { s } = t;
    // 2. VERSION 0.0 with QEMU's JSON: reply 0.0, NUL-terminated, not longer than the request.
    const vp = versionPayload(QEMU_VERSION_JSON);
    const v = send(s, P.VFIO_USER_VERSION, vp)!;
    expect(v.flags & P.VFIO_USER_F_ERROR).toBe(0);
    expect(v.size).toBeLessThanOrEqual(16 + vp.length);
    expect([...v.payload.subarray(0, 4)]).toEqual([0, 0, 0, 0]);
    expect(v.payload[v.payload.length - 1]).toBe(0);

    // 3. DMA_MAP before GET_INFO: guest RAM with an fd (flags 3) and the BIOS ROM without (flags 1).
    const m1 = send(s, P.VFIO_USER_DMA_MAP, le([32, 4], [3, 4], [0, 8], [0, 8], [0x8000_0000, 8]), { fds: [1000] })!;
    expect(m1.size).toBe(16);
    expect(m1.flags & P.VFIO_USER_F_ERROR).toBe(0);
    expect(closed).toEqual([]); // the session keeps the RAM fd
    const m2 = send(s, P.VFIO_USER_DMA_MAP, le([32, 4], [1, 4], [0, 8], [0xfffc0000, 8], [0x40000, 8]))!;
    expect(m2.flags & P.VFIO_USER_F_ERROR).toBe(0);
    expect(s.dmaMapCount).toBe(2);

    // 4. GET_INFO argsz 16: PCI|RESET, 9 regions, 5 irqs; 16-byte payload exactly.
    const gi = send(s, P.VFIO_USER_DEVICE_GET_INFO, le([16, 4], [0, 4], [0, 4], [0, 4]))!;
    expect(gi.payload.length).toBe(16);
    expect([u32(gi.payload, 0), u32(gi.payload, 4), u32(gi.payload, 8), u32(gi.payload, 12)]).toEqual([16, 0x3, 9, 5]);

    // 5. GET_REGION_INFO 0..5 then 7 with argsz 32 (QEMU's first try).
    const infos = new Map<number, Uint8Array>();
    for (const index of [0, 1, 2, 3, 4, 5, 7]) {
      const r = send(s, P.VFIO_USER_DEVICE_GET_REGION_INFO, le([32, 4], [0, 4], [index, 4], [0, 4], [0, 8], [0, 8]), { argsz: 32 })!;
      expect(r.flags & P.VFIO_USER_F_ERROR).toBe(0);
      expect(r.fds).toEqual([]); // heap memory: nothing to pass
      infos.set(index, r.payload);
    }
    // BAR0: 4 MiB (next power of two of 1024*768*4), R|W without MMAP (no fd to pass), no caps.
    const bar0 = infos.get(0)!;
    expect(u32(bar0, 4)).toBe(0x3);
    expect(u32(bar0, 8)).toBe(0);
    expect(u32(bar0, 12)).toBe(0); // no CAPS → cap_offset 0
    expect(u64(bar0, 16)).toBe(4n << 20n);
    for (const i of [1, 2, 3, 4, 5]) expect(u64(infos.get(i)!, 16)).toBe(0n);
    expect(u64(infos.get(7)!, 16)).toBe(256n);
    expect(u32(infos.get(7)!, 4)).toBe(0x3);

    // 6. GET_IRQ_INFO index 3 (ERR): count 0.
    const irq = send(s, P.VFIO_USER_DEVICE_GET_IRQ_INFO, le([16, 4], [0, 4], [3, 4], [0, 4]))!;
    expect([u32(irq.payload, 0), u32(irq.payload, 4), u32(irq.payload, 8), u32(irq.payload, 12)]).toEqual([16, 0, 3, 0]);

    // 7. Whole config space in one read: ids at 0, class at 0x0A, vendor cap at 0x40.
    const cfg = configRead(s, 0, 256);
    expect([...cfg.subarray(0, 4)]).toEqual([0x36, 0x1b, 0x0f, 0x00]);
    expect([...cfg.subarray(0x0a, 0x0c)]).toEqual([0x80, 0x03]);
    expect(cfg[0x34]).toBe(0x40);
    expect([...cfg.subarray(0x40, 0x43)]).toEqual([0x09, 0x00, 0x10]);
    expect(u32(cfg, 0x48)).toBe(1024);
    expect(u32(cfg, 0x4c)).toBe(768);
    // The 4-byte read at 0xFC that a 255-byte config region refuses (docs/protocol.md "Seen in a real boot").
    expect([...configRead(s, 0xfc, 4)]).toEqual([0, 0, 0, 0]);

    // 8. ROM probe: read, write 0xfffff800, read back 0 (no ROM), restore.
    const rom = u32(configRead(s, 0x30, 4), 0);
    configWrite(s, 0x30, 0xfffff800);
    expect(u32(configRead(s, 0x30, 4), 0)).toBe(0);
    configWrite(s, 0x30, rom);

    // 9. BAR sizing of BAR0: all ones → ~(4 MiB − 1) with the prefetchable mem32 type bits.
    configWrite(s, 0x10, 0xffffffff);
    expect(u32(configRead(s, 0x10, 4), 0)).toBe(0xffc00008);
    configWrite(s, 0x10, 0xfd000000);
    expect(u32(configRead(s, 0x10, 4), 0)).toBe(0xfd000008);

    // System reset: DEVICE_RESET is answered header-only.
    const rst = send(s, P.VFIO_USER_DEVICE_RESET)!;
    expect(rst.size).toBe(16);
    expect(rst.flags & P.VFIO_USER_F_ERROR).toBe(0);

    // Disconnect: DMA fds released, device state kept.
    s.close();
    expect(closed).toEqual([1000]);
    expect(dev.config.read(0x10, 4)).toBe(0xfd000008);
  });

  it('refuses anything before VERSION, and a second VERSION, with EINVAL and keeps the session', () => {
    const t = newSession();
    dev = t.dev;
    const early = send(t.s, P.VFIO_USER_DEVICE_GET_INFO, le([16, 4]))!;
    expect(early.flags & P.VFIO_USER_F_ERROR).toBeTruthy();
    expect(early.error).toBe(22);
    expect(early.size).toBe(16);
    expect(send(t.s, P.VFIO_USER_VERSION, versionPayload(undefined))!.flags & P.VFIO_USER_F_ERROR).toBe(0);
    expect(send(t.s, P.VFIO_USER_VERSION, versionPayload(undefined))!.error).toBe(22);
    expect(send(t.s, P.VFIO_USER_DEVICE_GET_INFO, le([16, 4]))!.flags & P.VFIO_USER_F_ERROR).toBe(0);
  });

  it('answers unknown commands with ENOSYS, the display extension without negotiation with ENOSYS, and closes stray fds', () => {
    const t = newSession();
    dev = t.dev;
    send(t.s, P.VFIO_USER_VERSION, versionPayload('{"capabilities":{}}'));
    expect(send(t.s, 99)!.error).toBe(38);
    expect(send(t.s, P.VFIO_USER_REGION_WRITE_MULTI, le([0, 8]))!.error).toBe(38);
    expect(send(t.s, P.MDEVSIM_USER_QUERY_GFX_PLANE, new Uint8Array(64))!.error).toBe(38);
    expect(send(t.s, P.VFIO_USER_DEVICE_GET_INFO, le([16, 4]), { fds: [77] })!.error).toBe(22);
    expect(closed).toEqual([77]);
    // DMA_UNMAP with a stray fd (SPDK's client) is not an error; the fd is closed.
    send(t.s, P.VFIO_USER_DMA_MAP, le([32, 4], [3, 4], [0, 8], [0x1000, 8], [0x1000, 8]));
    const un = send(t.s, P.VFIO_USER_DMA_UNMAP, le([24, 4], [0, 4], [0x1000, 8], [0x1000, 8]), { fds: [78] })!;
    expect(un.flags & P.VFIO_USER_F_ERROR).toBe(0);
    expect(un.payload.length).toBe(24);
    expect(closed).toEqual([77, 78]);
  });

  it('honours NO_REPLY on posted writes, even when they fail, and refuses it on reads', () => {
    const t = newSession();
    dev = t.dev;
    send(t.s, P.VFIO_USER_VERSION, versionPayload(undefined));
    expect(send(t.s, P.VFIO_USER_REGION_WRITE, le([0, 8], [0, 4], [4, 4], [0x11223344, 4]), { flags: P.VFIO_USER_F_NO_REPLY })).toBeUndefined();
    expect(send(t.s, P.VFIO_USER_REGION_WRITE, le([1n << 60n, 8], [0, 4], [4, 4], [0, 4]), { flags: P.VFIO_USER_F_NO_REPLY })).toBeUndefined();
    const r = send(t.s, P.VFIO_USER_REGION_READ, le([0, 8], [0, 4], [4, 4]), { flags: P.VFIO_USER_F_NO_REPLY })!;
    expect(r.error).toBe(22);
    const back = send(t.s, P.VFIO_USER_REGION_READ, le([0, 8], [0, 4], [4, 4]))!;
    expect(u32(back.payload, 16)).toBe(0x11223344);
  });
});
