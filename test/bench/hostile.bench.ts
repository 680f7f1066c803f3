/**
 * `npm run bench -- hostile`: what each attack of the hostile-client suite
 * costs a real `serve` process and its other clients. For each attack on
 * mdpy-xga-0, a victim on mbochs-medium-0 runs config-space round trips for
 * as long as the attack lasts; the table gives the victim's worst and p99
 * round trip, the server's peak resident growth (VmHWM) and the attack's own
 * figure (time to fill the DMA table, time until a squatted slot is usable).
 * Figures, never assertions: test/conformance/hostile.test.ts asserts the
 * behaviour.
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startServe, type ServeProcess } from '../support/serve-process.ts';
import { RawClient, memoryOf } from '../support/hostile.ts';
import { VfioUserClient } from '../../src/vfio-user/client.ts';
import { ControlClient } from '../../src/mgmt/control-client.ts';
import { connect } from '../../src/sys/socket.ts';
import * as P from '../../src/vfio-user/protocol.ts';
import { dmaMapRequest, regionAccessRequest } from '../../src/vfio-user/requests.ts';
import { printTable, summarize, writeResult, type Row } from './lib.ts';

const MIB = 1 << 20;
const VICTIM = fileURLToPath(new URL('./support/victim.ts', import.meta.url));

/** Round trips of a victim process until `done` settles; latencies in µs. */
async function victim(serve: ServeProcess, started: () => void, done: () => Promise<unknown>): Promise<{ n: number; worst: number; p99: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', VICTIM, serve.sockets.get('mbochs-medium-0')!], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const it = lines[Symbol.asyncIterator]();
  await it.next(); // ready
  started();
  await done();
  child.stdin!.end();
  const samples = JSON.parse(String((await it.next()).value)) as number[];
  const s = summarize(samples);
  return { n: samples.length, worst: s.max, p99: s.p99 };
}

/** An attack's own figure (perMapUs: the DMA fill's cost per map). */
interface Figure { readonly figure: string; readonly value: number; readonly perMapUs?: number }

interface Attack {
  readonly name: string;
  readonly args?: string[];
  readonly nofile?: number;
  /** Runs the attack; resolves with its own figure. */
  run(serve: ServeProcess): Promise<Figure>;
}

const attacks: Attack[] = [
  {
    name: 'unread 1 MiB REGION_READ flood (3000 requests)',
    async run(serve) {
      const a = await RawClient.connect(serve.sockets.get('mdpy-xga-0')!);
      a.stopReading();
      const flood = Array.from({ length: 3000 }, () => a.message(P.VFIO_USER_REGION_READ, regionAccessRequest(0, 0, MIB)));
      for (let i = 0; i < flood.length; i += 100) a.sendMany(flood.slice(i, i + 100));
      // Let the victim measure through the flood's first second of service, then leave.
      await new Promise((r) => setTimeout(r, 1000));
      a.close();
      return { figure: 'replies taken by attacker', value: a.replies - 1 };
    },
  },
  {
    name: 'fill 65535 fd-less DMA maps (+1 refused)',
    async run(serve) {
      const a = await RawClient.connect(serve.sockets.get('mdpy-xga-0')!);
      const maps = Array.from({ length: 65536 }, (_, i) => a.message(P.VFIO_USER_DMA_MAP, dmaMapRequest(BigInt(i) << 12n, 1n << 12n)));
      const t = performance.now();
      for (let i = 0; i < maps.length; i += 512) a.sendMany(maps.slice(i, i + 512));
      await a.untilReplies(65537);
      const ms = performance.now() - t;
      a.close();
      return { figure: 'fill time ms (µs per map)', value: Math.round(ms * 10) / 10, perMapUs: (ms * 1000) / 65536 };
    },
  },
  {
    name: 'fd-carrying replies never read (nofile 256)',
    nofile: 256,
    async run(serve) {
      const a = await RawClient.connect(serve.sockets.get('mdpy-xga-0')!);
      a.stopReading();
      const info = new Uint8Array(1024);
      new DataView(info.buffer).setUint32(0, info.length, true);
      const t = performance.now();
      for (let i = 0; i < 2000; i++) a.send(P.VFIO_USER_DEVICE_GET_REGION_INFO, info);
      await serve.waitFor((e) => e['event'] === 'disconnected' && e['device'] === 'mdpy-xga-0');
      const ms = performance.now() - t;
      a.close();
      return { figure: 'ms until attacker dropped', value: Math.round(ms * 10) / 10 };
    },
  },
  {
    name: '4 squatters without VERSION, then a VMM',
    async run(serve) {
      const path = serve.sockets.get('mdpy-xga-0')!;
      const squatters = await Promise.all([0, 1, 2, 3].map(() => RawClient.connect(path, { version: false })));
      const t = performance.now();
      const vmm = await VfioUserClient.connect(path);
      await vmm.deviceInfo();
      const ms = performance.now() - t;
      vmm.close();
      for (const s of squatters) s.close();
      return { figure: 'ms until the VMM is served', value: Math.round(ms * 100) / 100 };
    },
  },
  {
    name: '4 squatters without VERSION (default timeout)',
    async run(serve) {
      const path = serve.sockets.get('mdpy-xga-0')!;
      const t = performance.now();
      const squatters = await Promise.all([0, 1, 2, 3].map(() => RawClient.connect(path, { version: false })));
      await Promise.all(squatters.map((s) => s.closed));
      return { figure: 'ms until all slots freed', value: Math.round(performance.now() - t) };
    },
  },
  {
    name: '8 control connections announcing 60 MiB frames',
    async run(serve) {
      const socks = [];
      for (let i = 0; i < 8; i++) {
        const s = await connect(serve.control!);
        const header = new Uint8Array(4);
        new DataView(header.buffer).setUint32(0, 60 * MIB, true); // u32 LE length (control-wire.ts)
        s.send(header);
        s.send(new Uint8Array(MIB)); // part of the body, never finished
        socks.push(s);
      }
      const c = await ControlClient.connect(serve.control!).catch(() => undefined);
      const t = performance.now();
      const ok = c !== undefined ? (await c.list().then(() => 1, () => 0)) : 0;
      const ms = performance.now() - t;
      c?.close();
      for (const s of socks) s.close();
      return { figure: ok ? 'ms for a list() meanwhile' : 'list() refused (connection cap)', value: Math.round(ms * 100) / 100 };
    },
  },
];

export default async function main(): Promise<void> {
  const rows: Row[] = [];
  const results: Record<string, unknown>[] = [];
  for (const attack of attacks) {
    const serve = await startServe(attack.args ?? [], attack.nofile !== undefined ? { nofile: attack.nofile } : {});
    try {
      const pid = serve.child.pid!;
      const before = memoryOf(pid).hwm;
      let running: Promise<Figure> = Promise.resolve({ figure: '', value: 0 });
      const v = await victim(serve, () => { running = attack.run(serve); }, () => running);
      const r = await running;
      const growth = (memoryOf(pid).hwm - before) / MIB;
      rows.push({
        attack: attack.name, 'peak RSS growth MiB': Math.round(growth * 10) / 10,
        'victim RTTs': v.n, 'victim worst µs': Math.round(v.worst), 'victim p99 µs': Math.round(v.p99),
        figure: r.perMapUs !== undefined ? `${r.figure}: ${r.value} (${r.perMapUs.toFixed(2)})` : `${r.figure}: ${r.value}`,
      });
      results.push({ attack: attack.name, peakRssGrowthMiB: growth, victim: v, figure: r });
    } finally {
      await serve.stop();
    }
  }
  printTable('hostile clients: one attacker on mdpy-xga-0, a victim on mbochs-medium-0 (serve, attacker and victim in three processes, unpinned)', rows);
  console.log(`\n  JSON: ${writeResult('hostile', results)}`);
}
