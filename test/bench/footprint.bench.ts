/**
 * Footprint targets: an idle mbochs-large costs ≤ 2 MiB RSS (its 64 MiB VRAM
 * is a sparse memfd: untouched pages are not resident), and 64 devices serve
 * from one process. Measures RSS deltas (VmRSS), fds and socket files.
 *
 *   npm run bench -- footprint
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memfdMemoryFactory } from '../../src/sys/memfd.ts';
import { DeviceServer } from '../../src/vfio-user/server.ts';
import { VfioUserClient } from '../../src/vfio-user/client.ts';
import { MdpyDevice } from '../../devices/mdpy/index.ts';
import { InstanceBudget } from '../../devices/common/budget.ts';
import { createMbochsBudget } from '../../devices/mbochs/index.ts';
import { MbochsDevice } from '../../devices/mbochs/index.ts';
import { fdCount } from '../support/leak.ts';
import { printTable, writeResult } from './lib.ts';

function rssKiB(): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(m?.[1] ?? 0);
}

async function settle(): Promise<void> {
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((r) => setTimeout(r, 100));
}

export default async function footprint(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mdevsim-footprint-'));
  // One idle mbochs-large behind its server (as serve runs it).
  await settle();
  const before = rssKiB();
  const large = new MbochsDevice('mbochs-large', { memory: memfdMemoryFactory, budget: createMbochsBudget(1024) });
  const largeServer = DeviceServer.listen({ path: join(dir, 'large.sock'), device: large, display: true });
  await settle();
  const idleLarge = rssKiB() - before;
  // A client connects, negotiates and maps BAR0 without touching it: still sparse.
  const c = await VfioUserClient.connect(largeServer.path);
  const vram = await c.mapRegion(0);
  await settle();
  const mappedLarge = rssKiB() - before;
  vram.unmap();
  c.close();

  // 64 devices in one process: a mix of every type, each on its own socket.
  const fds0 = fdCount();
  const rss0 = rssKiB();
  const types = ['mbochs-small', 'mbochs-medium', 'mbochs-large', 'mdpy-vga', 'mdpy-xga', 'mdpy-hd'];
  const bigBudget = createMbochsBudget(64 * 64);
  // The kernel caps mdpy at 4 instances (module param count); raise it as that parameter would.
  const mdpyBudget = new InstanceBudget({ total: 64, errno: 'EUSERS' });
  const served: { device: { destroy(): void }; server: DeviceServer }[] = [];
  for (let i = 0; i < 64; i++) {
    const t = types[i % types.length]!;
    const device = t.startsWith('mbochs')
      ? new MbochsDevice(t, { memory: memfdMemoryFactory, budget: bigBudget, name: `d${i}` })
      : new MdpyDevice(t, { memory: memfdMemoryFactory, budget: mdpyBudget, name: `d${i}` });
    served.push({ device, server: DeviceServer.listen({ path: join(dir, `d${i}.sock`), device, label: `d${i}` }) });
  }
  await settle();
  const sixtyFour = { rssKiB: rssKiB() - rss0, fds: fdCount() - fds0, sockets: readdirSync(dir).filter((f) => /^d\d+\.sock$/.test(f)).length };
  // Every one answers.
  let answered = 0;
  for (const s of served) {
    const cl = await VfioUserClient.connect(s.server.path);
    if ((await cl.deviceInfo()).numIrqs === 5) answered++;
    cl.close();
  }
  for (const s of served) { s.server.close(); s.device.destroy(); }
  largeServer.close();
  large.destroy();
  rmSync(dir, { recursive: true, force: true });

  printTable('footprint', [
    { what: 'idle mbochs-large + server (RSS delta)', value: `${(idleLarge / 1024).toFixed(2)} MiB`, target: '≤ 2 MiB' },
    { what: '… after a client maps BAR0 untouched', value: `${(mappedLarge / 1024).toFixed(2)} MiB`, target: '' },
    { what: '64 devices: RSS delta', value: `${(sixtyFour.rssKiB / 1024).toFixed(1)} MiB`, target: '' },
    { what: '64 devices: fds / sockets / answering', value: `${sixtyFour.fds} / ${sixtyFour.sockets} / ${answered}`, target: '64 devices' },
  ]);
  writeResult('footprint', { idleLargeKiB: idleLarge, mappedLargeKiB: mappedLarge, sixtyFour, answered });
}
