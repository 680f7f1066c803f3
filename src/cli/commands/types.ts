import { defineCommand } from '../command.ts';
import { COMMON, controlPathOf } from '../args.ts';
import { ControlClient, ControlError } from '../../mgmt/control-client.ts';
import type { TypeInfo } from '../../mgmt/manager.ts';
import { ConfigError } from '../../util/errors.ts';

function printTypes(rows: readonly TypeInfo[], out: (line: string) => void): void {
  for (const r of rows) {
    const caps = [`display: ${r.display}`, r.edid ? 'EDID' : undefined, r.maxResolution ? `max ${r.maxResolution.width}x${r.maxResolution.height}` : undefined, 'snapshot'].filter(Boolean).join(', ');
    out(`${r.name.padEnd(14)} ${String(r.available_instances).padStart(3)} available  ${r.description} (${caps})`);
  }
}

export const types = defineCommand({
  name: 'types',
  positionals: [],
  summary: 'the device types and how many more instances fit',
  notes: ['Without a running serve, lists what a fresh serve offers.'],
  options: COMMON,
  async run(values, _positionals, io) {
    // From the server when one answers (available_instances is its budget); else what a fresh serve offers.
    let rows: TypeInfo[];
    try {
      const c = await ControlClient.connect(controlPathOf(values));
      try { rows = await c.types(); } finally { c.close(); }
    } catch (err) {
      if (err instanceof ControlError || err instanceof ConfigError) throw err;
      rows = (await import('../../mgmt/manager.ts')).typeInfos();
    }
    if (values.json) io.out(JSON.stringify(rows));
    else printTypes(rows, io.out);
    return 0;
  },
});
