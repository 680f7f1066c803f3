import { defineCommand } from '../command.ts';

export const replay = defineCommand({
  name: 'replay',
  positionals: ['TRACE'],
  summary: 'replay a recorded trace on a fresh device, checking every reply',
  notes: [
    'Every reply is compared byte for byte with the recorded one; the last line',
    'is the sha256 of the final device state. Exits 1 on any mismatch.',
  ],
  options: {
    json: { type: 'boolean', default: false, help: 'print one JSON document' },
  },
  async run(values, [path], io) {
    // The trace reader and the device models load only for replay.
    const { readTrace } = await import('../../trace/trace.ts');
    const { replayTrace } = await import('../../trace/replay.ts');
    const trace = readTrace(path!);
    const result = replayTrace(trace);
    if (values.json) io.out(JSON.stringify({ device: trace.header.device, ...result }));
    else {
      io.out(`${trace.header.device.type}: ${result.requests} requests, ${result.replies} replies, ${result.mismatches.length} mismatches`);
      for (const m of result.mismatches.slice(0, 20)) io.out(`  reply ${m.reply}: ${m.reason}`);
      io.out(`device state sha256 ${result.stateHash ?? '(device has no snapshot)'}`);
    }
    return result.mismatches.length === 0 ? 0 : 1;
  },
});
