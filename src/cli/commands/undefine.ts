import { defineCommand } from '../command.ts';
import { DEFINITION_FLAGS } from '../definition-flags.ts';

const { ['config-dir']: configDir, json, control, dir } = DEFINITION_FLAGS;

export const undefine = defineCommand({
  name: 'undefine',
  positionals: ['DEVICE'],
  summary: 'remove a device definition (mdevctl undefine); a running device keeps running until stopped',
  options: { 'config-dir': configDir, json, control, dir },
  async run(values, [device], io) {
    const { onServerOrStore, viaText } = await import('../definitions.ts');
    const { result: d, via } = await onServerOrStore(values, (c) => c.undefine(device!), (store) => store.undefine(device!));
    if (values.json) io.out(JSON.stringify({ ...d, online: via.online }));
    else io.out(`undefined ${d.name} (${d.uuid}) ${viaText(via)}`);
    return 0;
  },
});
