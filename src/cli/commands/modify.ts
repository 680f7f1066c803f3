import { defineCommand, UsageError } from '../command.ts';
import { DEFINITION_FLAGS } from '../definition-flags.ts';

const { jsonfile: _jsonfile, uuid: _uuid, ...flags } = DEFINITION_FLAGS;

export const modify = defineCommand({
  name: 'modify',
  positionals: ['DEVICE'],
  summary: 'change a device definition (mdevctl modify); a running device takes it at its next start',
  notes: ['"--resolution default", "--edid-vram default" and "--restore none" clear those attributes.'],
  options: flags,
  async run(values, [device], io) {
    const { changeFromFlags, definitionText, onServerOrStore, viaText } = await import('../definitions.ts');
    const change = changeFromFlags(values);
    if (Object.keys(change).length === 0) throw new UsageError('modify needs at least one change (--auto, --manual, -t, --name, --resolution, ...).');
    const { result: d, via } = await onServerOrStore(values, (c) => c.modify(device!, change), (store) => store.modify(device!, change));
    if (values.json) io.out(JSON.stringify({ ...d, online: via.online }));
    else io.out(`modified ${d.name} (${d.uuid}) ${viaText(via)}\n  ${definitionText(d)}`);
    return 0;
  },
});
