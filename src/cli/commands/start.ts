import { defineCommand } from '../command.ts';
import { COMMON, withControl } from '../args.ts';

export const start = defineCommand({
  name: 'start',
  positionals: ['DEVICE'],
  summary: 'start a defined device on the running serve (mdevctl start -u)',
  options: COMMON,
  async run(values, [device], io) {
    const i = await withControl(values, (c) => c.start(device!));
    if (values.json) io.out(JSON.stringify(i));
    else io.out(`started ${i.name} (${i.uuid}, ${i.type}) on ${i.socket}`);
    return 0;
  },
});
