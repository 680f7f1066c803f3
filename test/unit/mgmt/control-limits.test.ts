/**
 * What a hostile control client can make the server hold (issue 11): the
 * connection cap, the idle timeout, the fd ledger, and frames over the
 * normal limit (one at a time, process-wide; memory follows the bytes that
 * arrived, not the header). Real sockets, an in-process server.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode } from '@msgpack/msgpack';
import { Manager } from '../../../src/mgmt/manager.ts';
import { ControlClient, ControlServer, DEFAULT_CONTROL_MAX_FRAME } from '../../../src/mgmt/control.ts';
import { FrameBusyError, FrameReader, type LargeFrameAllowance } from '../../../src/mgmt/control-wire.ts';
import { FdLedger } from '../../../src/sys/fd-ledger.ts';
import { memfdMemoryFactory } from '../../../src/sys/memfd.ts';
import { frame, header, raw } from '../../support/control-raw.ts';

describe('FrameReader memory', () => {
  const allowance = (): LargeFrameAllowance & { taken: boolean } => {
    const a = { limit: 64 << 20, taken: false, take: () => !a.taken && (a.taken = true), give: () => { a.taken = false; } };
    return a;
  };

  it('allocates as bytes arrive, not what the header announces, and keeps nothing once a frame is out', () => {
    const large = allowance();
    const r = new FrameReader(1024, large);
    r.push(header(60 << 20), () => {});
    expect(large.taken).toBe(true);
    expect(r.capacity).toBe(0);
    r.push(new Uint8Array(100_000), () => {});
    expect(r.capacity).toBeGreaterThanOrEqual(100_000);
    expect(r.capacity).toBeLessThanOrEqual(200_000);
    let got: Uint8Array | undefined;
    r.push(new Uint8Array((60 << 20) - 100_000).fill(7), (b) => { got = b; });
    expect(got!.length).toBe(60 << 20);
    expect(got![0]).toBe(0);
    expect(got![(60 << 20) - 1]).toBe(7);
    expect(r.capacity).toBe(0);
    expect(large.taken).toBe(false);
  });

  it('one large frame at a time; dispose() gives the allowance back', () => {
    const large = allowance();
    const a = new FrameReader(1024, large);
    const b = new FrameReader(1024, large);
    a.push(header(2048), () => {});
    expect(() => b.push(header(2048), () => {})).toThrow(FrameBusyError);
    a.dispose();
    const c = new FrameReader(1024, large);
    c.push(header(2048), () => {});
    expect(large.taken).toBe(true);
  });
});

let dir: string;
let manager: Manager;
let server: ControlServer | undefined;
const path = (): string => join(dir, 'control.sock');
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mdevsim-ctl-limits-'));
  manager = new Manager({ dir, memory: memfdMemoryFactory });
});
afterEach(() => {
  server?.close();
  server = undefined;
  manager.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('control socket limits', () => {
  it('the 9th connection gets one EBUSY reply and is closed; the first 8 keep working', async () => {
    server = ControlServer.listen({ path: path(), manager });
    const clients: ControlClient[] = [];
    try {
      for (let i = 0; i < 8; i++) {
        const c = await ControlClient.connect(path());
        clients.push(c);
        expect(await c.list()).toEqual([]);
      }
      const ninth = await raw(path());
      expect(await ninth.next()).toEqual({
        id: null, ok: false, error: { code: 'EBUSY', message: 'The control socket already has 8 connections; close one and retry.' },
      });
      await ninth.closed;
      expect(server.stats.refused).toBe(1);
      for (const c of clients) expect(await c.list()).toEqual([]);
    } finally {
      for (const c of clients) c.close();
    }
  });

  it('a connection with no fds to spare on the ledger is refused with EMFILE', async () => {
    // Room for exactly one account: limit − the listener's fixed fd.
    const ledger = new FdLedger({ limit: 2, baseline: 0, reserve: 0 });
    server = ControlServer.listen({ path: path(), manager, fdLedger: ledger });
    const first = await ControlClient.connect(path());
    try {
      expect(await first.list()).toEqual([]);
      expect(ledger.accounts).toBe(1);
      const second = await raw(path());
      expect(await second.next()).toMatchObject({ id: null, ok: false, error: { code: 'EMFILE' } });
      await second.closed;
      expect(await first.list()).toEqual([]);
    } finally {
      first.close();
    }
  });

  it('a silent connection is closed after idleTimeoutMs', async () => {
    server = ControlServer.listen({ path: path(), manager, idleTimeoutMs: 100 });
    const r = await raw(path());
    await r.closed;
    expect(server.stats.idle).toBe(1);
    expect(r.replies).toEqual([]);
  });

  it('a 60 MiB header costs nothing until bytes arrive; a second large announcer gets EBUSY; large requests still work', async () => {
    server = ControlServer.listen({ path: path(), manager });
    const big = 60 << 20;
    const first = await raw(path());
    const second = await raw(path());
    const client = await ControlClient.connect(path());
    try {
      // The header rides behind a request, so by its reply the server has read the header too.
      first.send(Buffer.concat([frame(encode({ id: 1, call: 'list' })), header(big)]));
      expect(await first.next()).toEqual({ id: 1, ok: true, result: [] });
      expect(server.buffered).toBe(0);

      second.send(header(big));
      expect(await second.next()).toMatchObject({
        id: null, ok: false, error: { code: 'EBUSY', message: expect.stringMatching(/another large request is in progress\. The connection is closed\.$/) },
      });
      await second.closed;

      // The first completes its 60 MiB request (padding a list call): the allowance is free again.
      const request = (padding: number): Uint8Array => encode({ id: 2, call: 'list', args: { pad: new Uint8Array(padding) } });
      const overhead = request(1 << 16).length - (1 << 16); // bin32 from 64 KiB up
      const pad = request(big - overhead);
      expect(pad.length).toBe(big);
      first.send(pad);
      expect(await first.next()).toEqual({ id: 2, ok: true, result: [] });
      expect(server.buffered).toBe(0);

      // A snapshot is far over the normal limit: restore takes the allowance.
      const { name } = await client.create({ type: 'mbochs-small' });
      const snap = await client.snapshot(name);
      expect(snap.length).toBeGreaterThan(DEFAULT_CONTROL_MAX_FRAME);
      expect(await client.restore(name, snap)).toMatchObject({ name });
    } finally {
      client.close();
      first.sock.destroy();
    }
  });
});
