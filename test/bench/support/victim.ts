/**
 * The hostile bench's victim, in a process of its own so that the attacker's
 * client-side work does not show up in its latencies: config-space round
 * trips on the given device socket until stdin closes, then one JSON line
 * with the latencies in µs.
 */
import { performance } from 'node:perf_hooks';
import { VfioUserClient } from '../../../src/vfio-user/client.ts';

const c = await VfioUserClient.connect(process.argv[2]!);
let stop = false;
process.stdin.on('end', () => { stop = true; }).resume();
process.stdout.write('ready\n');
const samples: number[] = [];
while (!stop || samples.length < 20) {
  const t = performance.now();
  await c.regionRead(7, 0, 4);
  samples.push((performance.now() - t) * 1000);
  if (samples.length % 64 === 0) await new Promise((r) => setImmediate(r)); // let 'end' in
}
c.close();
process.stdout.write(JSON.stringify(samples) + '\n');
