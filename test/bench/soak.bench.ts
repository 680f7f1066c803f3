/**
 * Soak: several clients connect to several devices, hammer them with a mix of
 * valid and invalid requests, and disconnect — cleanly, mid-message, or by
 * corrupting the stream — for a configurable time. Servers and clients share
 * this process so one fd count and one RSS cover both sides.
 *
 *   SOAK_SECONDS=60 SOAK_CLIENTS=6 npm run bench -- soak
 *
 * Reports messages handled, errors by class, connections and drops, and fd
 * count and RSS at start and end. Asserts nothing (benchmarks never do); the
 * table makes a leak visible.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type UnixSocket } from '../../src/sys/socket.ts';
import { closeFd } from '../../src/sys/fds.ts';
import { memfdMemoryFactory } from '../../src/sys/memfd.ts';
import { DeviceServer } from '../../src/vfio-user/server.ts';
import { VfioUserClient } from '../../src/vfio-user/client.ts';
import { VfioError } from '../../src/util/errors.ts';
import { deviceType } from '../../devices/catalog.ts';
import { fdCount } from '../support/leak.ts';
import { printTable, writeResult, type Row } from './lib.ts';

/** Deterministic PRNG (mulberry32) so a soak run is repeatable from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function header(id: number, command: number, size: number): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setUint16(0, id, true);
  v.setUint16(2, command, true);
  v.setUint32(4, size, true);
  return b;
}

export default async function soak(): Promise<void> {
  const seconds = Number(process.env['SOAK_SECONDS'] ?? 10);
  const clients = Number(process.env['SOAK_CLIENTS'] ?? 4);
  const seed = Number(process.env['SOAK_SEED'] ?? 1);
  const dir = mkdtempSync(join(tmpdir(), 'mdevsim-soak-'));
  const types = ['mbochs-small', 'mbochs-medium', 'mdpy-vga', 'mdpy-xga'];
  const served = types.map((t, i) => {
    const device = deviceType(t).create({ name: `soak-${i}`, memory: memfdMemoryFactory });
    const server = DeviceServer.listen({ path: join(dir, `${t}.sock`), device, label: t, display: true });
    return { device, server };
  });
  const errors = new Map<string, number>();
  const count = (k: string) => errors.set(k, (errors.get(k) ?? 0) + 1);
  let ok = 0;
  let connects = 0;
  const fdStart = fdCount();
  const rssStart = process.memoryUsage().rss;
  const deadline = Date.now() + seconds * 1000;

  async function worker(w: number): Promise<void> {
    const r = rng(seed * 1000 + w);
    while (Date.now() < deadline) {
      const target = served[Math.floor(r() * served.length)]!;
      let c: VfioUserClient;
      try {
        c = await VfioUserClient.connect(target.server.path, { display: true });
        connects++;
      } catch (e) {
        count(`connect ${e instanceof VfioError || (e as { code?: string }).code ? (e as { code: string }).code : 'other'}`);
        await new Promise((res) => setTimeout(res, 2));
        continue;
      }
      const burst = 50 + Math.floor(r() * 400);
      for (let i = 0; i < burst; i++) {
        const pick = r();
        try {
          if (pick < 0.5) await c.regionRead(7, Math.floor(r() * 64) * 4, 4);
          else if (pick < 0.7) await c.regionWrite(2, 0x500 + 2 * Math.floor(r() * 11), new Uint8Array([r() * 256, r() * 256]));
          else if (pick < 0.8) await c.regionRead(Math.floor(r() * 12), BigInt(Math.floor(r() * 2 ** 40)), 8);
          else if (pick < 0.9) await c.queryGfxPlane(2, 1);
          else {
            const { fd } = await c.regionInfo(Math.floor(r() * 11));
            if (fd !== undefined) closeFd(fd); // the client owns region fds
          }
          ok++;
        } catch (e) {
          count(e instanceof VfioError ? `reply ${e.code}` : `client ${(e as Error).message.slice(0, 40)}`);
        }
      }
      const end = r();
      if (end < 0.6) {
        c.close();
      } else {
        // Disconnect mid-message, or corrupt the stream: the server must drop only this client.
        c.close();
        await new Promise((res) => setTimeout(res, 1));
        const raw: UnixSocket | undefined = await connect(target.server.path).catch(() => undefined);
        if (raw) {
          raw.send(end < 0.8 ? header(1, 9, 32).subarray(0, 10) : header(1, 9, 3));
          await new Promise((res) => setTimeout(res, 1));
          raw.close();
        }
      }
    }
  }

  await Promise.all(Array.from({ length: clients }, (_, w) => worker(w)));
  await new Promise((res) => setTimeout(res, 200));
  const stats = served.map((s) => ({ label: s.server.label, ...s.server.stats }));
  const fdEnd = fdCount();
  const rssEnd = process.memoryUsage().rss;
  for (const s of served) {
    s.server.close();
    s.device.destroy();
  }
  rmSync(dir, { recursive: true, force: true });

  const rows: Row[] = stats.map((s) => ({ device: s.label, connections: s.connections, refused: s.refused, dropped: s.dropped, requests: s.requests, 'error replies': s.errors }));
  printTable(`soak: ${clients} clients, ${seconds} s, seed ${seed}`, rows);
  printTable('client-side outcomes', [{ ok, connects, ...Object.fromEntries(errors) }]);
  printTable('resources', [
    { what: 'fds', start: fdStart, end: fdEnd },
    { what: 'RSS MiB', start: (rssStart / 2 ** 20).toFixed(1), end: (rssEnd / 2 ** 20).toFixed(1) },
  ]);
  writeResult('soak', { seconds, clients, seed, stats, ok, connects, errors: Object.fromEntries(errors), fdStart, fdEnd, rssStart, rssEnd });
}
