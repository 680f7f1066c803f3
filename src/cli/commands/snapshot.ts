import { defineCommand, UsageError } from '../command.ts';
import { COMMON, withControl, writingTo } from '../args.ts';

export const snapshot = defineCommand({
  name: 'snapshot',
  positionals: ['DEVICE'],
  summary: 'write the device state to a file (for restore)',
  options: {
    ...COMMON,
    output: { type: 'string', short: 'o', value: 'FILE', help: 'the file to write (required)' },
    force: { type: 'boolean', default: false, help: 'replace an existing file of your own' },
  },
  async run(values, [device], io) {
    if (values.output === undefined) throw new UsageError('snapshot needs -o FILE.');
    const output = values.output;
    const bytes = await writingTo(output, values.force ?? false, async (file) => {
      const snap = await withControl(values, (c) => c.snapshot(device!));
      file.write(snap);
      return { commit: true, value: snap };
    });
    io.out(values.json ? JSON.stringify({ device, file: output, bytes: bytes.length }) : `${device}: snapshot of ${bytes.length} bytes written to ${output}`);
    return 0;
  },
});
