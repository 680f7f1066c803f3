import { defineCommand } from '../command.ts';
import { DEFINITION_FLAGS } from '../definition-flags.ts';

export const define = defineCommand({
  name: 'define',
  positionals: ['[TYPE]'],
  summary: 'store a device definition (mdevctl define); serve starts the --auto ones',
  notes: [
    'Through the running server when its control socket answers, else in --config-dir.',
    'mdevctl\'s form works too: mdevsim define -t mbochs-medium -u UUID --auto',
  ],
  options: DEFINITION_FLAGS,
  async run(values, [type], io) {
    const { defineInput, definitionText, onServerOrStore, viaText } = await import('../definitions.ts');
    const { inputFromMdevctl } = await import('../../mgmt/definitions.ts');
    const input = defineInput(values, type);
    const { result: d, via } = await onServerOrStore(values, (c) => c.define(input), (store) => store.define(
      'mdevctl' in input
        ? { ...inputFromMdevctl(input.mdevctl, values.jsonfile!), ...(input.uuid !== undefined ? { uuid: input.uuid } : {}), ...(input.name !== undefined ? { name: input.name } : {}) }
        : input,
    ));
    if (values.json) io.out(JSON.stringify({ ...d, online: via.online }));
    else io.out(`defined ${d.name} (${d.uuid}, ${d.type}, start ${d.start}) ${viaText(via)}\n  ${definitionText(d)}`);
    return 0;
  },
});
