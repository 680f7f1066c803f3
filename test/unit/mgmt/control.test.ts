/**
 * The control socket in-process: frame reassembly, every call through the
 * typed client, and malformed input (bad msgpack, non-requests, unknown
 * calls, oversized frames) answered with error replies or a dropped
 * connection, without disturbing other connections.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode, encode } from '@msgpack/msgpack';
import { PNG } from 'pngjs';
import { Manager } from '../../../src/mgmt/manager.ts';
import { ControlClient, ControlError, ControlServer } from '../../../src/mgmt/control.ts';
import { FrameReader, FrameSizeError, MAX_CONTROL_FRAME, encodeFrame } from '../../../src/mgmt/control-wire.ts';
import { frame, raw } from '../../support/control-raw.ts';
import { DEVICE_TYPES } from '../../../devices/catalog.ts';
import { memfdMemoryFactory } from '../../../src/sys/memfd.ts';

describe('FrameReader', () => {
  it('reassembles frames split anywhere and glued together, including an empty one', () => {
    const messages = [{ a: 1 }, 'x'.repeat(1000), [1, 2, 3]];
    const stream = Buffer.concat([
      ...encodeFrame(messages[0]), new Uint8Array(4) /* a 0-byte frame */, ...encodeFrame(messages[1]), ...encodeFrame(messages[2]),
    ]);
    for (const step of [1, 3, 7, stream.length]) {
      const r = new FrameReader();
      const got: Uint8Array[] = [];
      for (let i = 0; i < stream.length; i += step) r.push(stream.subarray(i, i + step), (f) => got.push(f));
      expect(got.map((g) => g.length)).toEqual([encode(messages[0]).length, 0, 1003, 4]);
      expect([got[0], got[2], got[3]].map((g) => decode(g!))).toEqual(messages);
      expect(r.pending).toBe(0);
    }
  });

  it('refuses a header over the limit, and everything after it', () => {
    const r = new FrameReader(100);
    const h = new Uint8Array([101, 0, 0, 0]);
    expect(() => r.push(h, () => {})).toThrow(FrameSizeError);
    expect(() => r.push(new Uint8Array([0]), () => {})).toThrow(FrameSizeError);
  });

  it('the limit holds the largest snapshot (the largest VRAM) with room to spare', () => {
    expect(MAX_CONTROL_FRAME).toBeGreaterThanOrEqual(Math.max(...DEVICE_TYPES.map((t) => t.memorySize)) + (1 << 20));
  });
});

let dir: string;
let manager: Manager;
let server: ControlServer;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mdevsim-ctl-'));
  manager = new Manager({ dir, memory: memfdMemoryFactory });
  server = ControlServer.listen({ path: join(dir, 'control.sock'), manager });
});
afterEach(() => {
  server.close();
  manager.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('ControlClient', () => {
  it('every call, through one connection', async () => {
    expect(statSync(server.path).mode & 0o777).toBe(0o600);
    const c = await ControlClient.connect(server.path);
    try {
      expect((await c.types()).map((t) => t.name)).toEqual(DEVICE_TYPES.map((t) => t.name));
      const a = await c.create({ type: 'mbochs-small', name: 'a' });
      expect(a).toMatchObject({ name: 'a', type: 'mbochs-small', socket: join(dir, 'a.sock'), resolution: { width: 800, height: 600 } });
      expect((await c.list()).map((i) => i.name)).toEqual(['a']);
      expect((await c.describe('a')).regions.length).toBeGreaterThan(0);
      expect(await c.setResolution('a', { width: 640, height: 480 })).toMatchObject({ link: 'up', width: 640, height: 480 });
      expect(await c.screenshot('a')).toMatchObject({ name: 'a', state: 'none', reason: 'no-mode' });
      const snap = await c.snapshot('a');
      expect(snap).toBeInstanceOf(Uint8Array);
      expect(snap.length).toBeGreaterThan(4 << 20);
      const b = await c.create({ type: 'mbochs-small', noEdid: true });
      expect(b.edid).toMatchObject({ link: 'unset' });
      expect(await c.restore(b.uuid, snap)).toMatchObject({ name: b.name, edid: { link: 'up', mode: { width: 640, height: 480 } } });
      expect(await c.remove('a')).toEqual({ name: 'a', uuid: a.uuid });
      await expect(c.describe('a')).rejects.toMatchObject({ code: 'ENOENT', message: expect.stringMatching(/^No device is named a/) });
      await expect(c.create({ type: 'mdpy-vga', vbe: 'strict' })).rejects.toMatchObject({ code: 'ECONFIG' });
      await expect(c.call('reboot')).rejects.toMatchObject({ code: 'ECALL' });
      await expect(c.call('describe', [1])).rejects.toMatchObject({ code: 'ECONFIG', message: 'The args of describe must be a map.' });
      await expect(c.call('restore', { name: b.name, snapshot: 'nope' })).rejects.toBeInstanceOf(ControlError);
    } finally {
      c.close();
    }
  });

  it('a screenshot travels as PNG bytes', async () => {
    const c = await ControlClient.connect(server.path);
    try {
      const { name } = await c.create({ type: 'mdpy-vga' });
      const shot = await c.screenshot(name);
      expect(shot).toMatchObject({ state: 'plane', width: 640, height: 480, format: 'XRGB8888' });
      expect(PNG.sync.read(Buffer.from(shot.png)).width).toBe(640);
    } finally {
      c.close();
    }
  });
});

describe('malformed input', () => {
  it('bad args to every call: one sentence naming what is wrong, never a JS internal', async () => {
    const c = await ControlClient.connect(server.path);
    try {
      await c.create({ type: 'mbochs-small', name: 'a' });
      const snap = decode(await c.snapshot('a')) as { device: Record<string, unknown> };
      const garbage: unknown[] = [null, 7, 'x', [1], {}, new Uint8Array(2), { kind: null }];
      const attempts: [string, unknown][] = [];
      for (const call of ['create', 'remove', 'describe', 'set-resolution', 'screenshot', 'snapshot', 'restore']) {
        for (const g of garbage) attempts.push([call, g], [call, { name: g }]);
      }
      for (const g of garbage) {
        attempts.push(['create', { type: 'mbochs-small', uuid: g }], ['create', { type: 'mbochs-small', name: g }], ['create', { type: g }]);
        attempts.push(['set-resolution', { name: 'a', resolution: g }], ['restore', { name: 'a', snapshot: g }]);
        for (const part of ['config', 'dispi', 'edid', 'mmio', 'format', 'vram']) {
          attempts.push(['restore', { name: 'a', snapshot: encode({ ...snap, device: { ...snap.device, [part]: g } }) }]);
        }
      }
      attempts.push(['restore', { name: 'a', snapshot: new Uint8Array(0) }]);
      for (const [call, args] of attempts) {
        const err = await c.call(call, args).then(() => undefined, (e: unknown) => e as ControlError);
        if (err === undefined) continue; // e.g. create with a garbage uuid of null is just "no uuid"
        expect(err.code, `${call} ${String(args)}`).not.toBe('EINTERNAL');
        expect(err.message).not.toMatch(/Cannot read|\[object|undefined|buffer\[|DataView|TypeError|is not a function/);
        expect(err.message).toMatch(/\.$/);
        expect(err.message, 'one sentence').not.toMatch(/\. [A-Z]/);
      }
    } finally {
      c.close();
    }
  });

  it('bad msgpack, a non-request, a bad id: error replies, and the connection keeps working', async () => {
    const r = await raw(server.path);
    try {
      r.send(frame(new Uint8Array([0xc1])));
      expect(await r.next()).toMatchObject({ id: null, ok: false, error: { code: 'EMSGPACK' } });
      r.send(frame(encode([1, 'types'])));
      expect(await r.next()).toMatchObject({ id: null, ok: false, error: { code: 'EREQUEST' } });
      r.send(frame(encode({ id: -1, call: 'types' })));
      expect(await r.next()).toMatchObject({ id: null, ok: false, error: { code: 'EREQUEST' } });
      r.send(frame(encode({ id: 'q', call: 7 })));
      expect(await r.next()).toMatchObject({ id: 'q', ok: false, error: { code: 'EREQUEST' } });
      r.send(frame(new Uint8Array(0)));
      expect(await r.next()).toMatchObject({ id: null, ok: false, error: { code: 'EMSGPACK' } });
      // A map claiming 2^32-1 entries inside a 6-byte frame: refused, nothing allocated.
      r.send(frame(new Uint8Array([0xdf, 0xff, 0xff, 0xff, 0xff, 0x00])));
      expect(await r.next()).toMatchObject({ id: null, ok: false, error: { code: 'EMSGPACK' } });
      r.send(frame(encode({ id: 9, call: 'list' })));
      expect(await r.next()).toEqual({ id: 9, ok: true, result: [] });
    } finally {
      r.sock.destroy();
    }
  });

  it('a frame over the limit: error reply, that connection is closed, others are not affected', async () => {
    const other = await ControlClient.connect(server.path);
    const r = await raw(server.path);
    try {
      r.send(new Uint8Array([0xff, 0xff, 0xff, 0x7f, 1, 2, 3]));
      expect(await r.next()).toMatchObject({ id: null, ok: false, error: { code: 'EFRAME', message: expect.stringMatching(/exceeds the \d+-byte limit\. The connection is closed\.$/) } });
      await r.closed;
      expect(server.stats.dropped).toBe(1);
      expect(await other.list()).toEqual([]);
    } finally {
      other.close();
      r.sock.destroy();
    }
  });
});
