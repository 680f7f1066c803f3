import { defineCommand } from '../command.ts';
import { COMMON, withControl } from '../args.ts';

export const remove = defineCommand({
  name: 'remove',
  positionals: ['DEVICE'],
  summary: 'remove a device: its socket goes, its client is disconnected',
  options: COMMON,
  async run(values, [device], io) {
    const removed = await withControl(values, (c) => c.remove(device!));
    io.out(values.json ? JSON.stringify(removed) : `${removed.name} (${removed.uuid}) removed`);
    return 0;
  },
});
