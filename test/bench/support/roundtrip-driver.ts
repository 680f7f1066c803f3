/**
 * Client side of native-roundtrip.bench.ts: spawns the Node echo server
 * (roundtrip-echo.ts) on a socketpair and times 16-byte round trips through
 * the addon. The child inherits this process's CPU affinity, so running the
 * driver under `taskset -c 0` pins both.
 *
 *   node --import tsx roundtrip-driver.ts [iterations] [warmup]
 *
 * Prints one JSON line shaped like c/pingpong.c's.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { UnixSocket, rawSocketpair } from '../../../src/sys/socket.ts';
import { percentile } from '../lib.ts';

const MSG = 16;
const iterations = Number(process.argv[2] ?? 100_000);
const warmup = Number(process.argv[3] ?? 10_000);

const [mine, theirs] = rawSocketpair();
const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./roundtrip-echo.ts', import.meta.url))], {
  stdio: ['ignore', 'inherit', 'inherit', theirs.fd],
});
theirs.close();
const socket = UnixSocket.adopt(mine);
const message = new Uint8Array(MSG).fill(0x5a);
const samples = new Float64Array(iterations);

let pending = MSG; // bytes of the current reply still to come
let done = 0; // round trips completed (warm-up included)
let t0 = 0;
let start = 0;
const finished = new Promise<number>((resolve) => {
  socket.on('data', (bytes) => {
    pending -= bytes.byteLength;
    if (pending > 0) return;
    const t1 = performance.now();
    if (done >= warmup) samples[done - warmup] = t1 - t0;
    done++;
    if (done === warmup) start = t1;
    if (done === warmup + iterations) {
      resolve(t1);
      return;
    }
    pending = MSG;
    t0 = performance.now();
    socket.send(message);
  });
});
if (warmup === 0) start = performance.now();
t0 = performance.now();
socket.send(message);
const end = await finished;
const seconds = (end - start) / 1000;
samples.sort();
socket.close();
await once(child, 'exit');
console.log(
  JSON.stringify({
    impl: 'node',
    iterations,
    seconds,
    rate: iterations / seconds,
    p50_ns: Math.round(percentile(samples, 50) * 1e6),
    p99_ns: Math.round(percentile(samples, 99) * 1e6),
  }),
);
