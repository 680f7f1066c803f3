import { defineCommand } from '../command.ts';
import { COMMON, withControl } from '../args.ts';

export const stop = defineCommand({
  name: 'stop',
  positionals: ['DEVICE'],
  summary: 'stop a running defined device (mdevctl stop -u); its definition stays',
  options: COMMON,
  async run(values, [device], io) {
    const r = await withControl(values, (c) => c.stop(device!));
    if (values.json) io.out(JSON.stringify(r));
    else io.out(`stopped ${r.name} (${r.uuid}); its socket is removed`);
    return 0;
  },
});
