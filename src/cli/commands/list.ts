import { defineCommand } from '../command.ts';
import { COMMON, withControl } from '../args.ts';
import type { InstanceInfo } from '../../mgmt/manager.ts';
import type { Definition } from '../../mgmt/definitions.ts';
import { DEFINITION_FLAGS } from '../definition-flags.ts';

export function edidText(i: InstanceInfo): string {
  if (!i.edid) return 'no EDID';
  const mode = i.edid.mode ? `${i.edid.mode.width}x${i.edid.mode.height}` : 'no blob';
  return `EDID ${mode}, link ${i.edid.link}`;
}

/** Where a viewer connects and whether it can type, or '' without a console. */
export function consoleText(i: InstanceInfo): string {
  const c = i.console;
  if (!c) return '';
  const where = c.vnc === null ? 'browser view only' : c.display !== null ? `VNC :${c.display} ${c.vnc}` : `VNC ${c.vnc}`;
  return `${where}, ${c.input ? 'input through QMP' : 'view-only (no QMP peer)'}${c.viewers ? `, ${c.viewers} viewer(s)` : ''}`;
}

export const list = defineCommand({
  name: 'list',
  positionals: [],
  summary: 'the devices of the running serve, or with --defined the definitions (mdevctl list)',
  options: {
    ...COMMON,
    defined: { type: 'boolean', short: 'd', help: 'the definitions: the running server\'s store, else --config-dir\'s' },
    dumpjson: { type: 'boolean', help: 'mdevctl\'s JSON: [{"mdevsim": [{UUID: {mdev_type, start, attrs}}]}]' },
    'config-dir': DEFINITION_FLAGS['config-dir'],
  },
  async run(values, _positionals, io) {
    if (values.defined) {
      const { mdevctlDump } = await import('../../mgmt/definitions.ts');
      const { definitionText, onServerOrStore } = await import('../definitions.ts');
      const { result, via } = await onServerOrStore(values, (c) => c.listDefined(), (store) => ({ ...store.load(), dir: store.dir }));
      for (const p of result.problems) io.err(`mdevsim: warning: ${p.message}\n`);
      if (values.dumpjson) io.out(JSON.stringify(mdevctlDump(result.definitions), null, 2));
      else if (values.json) io.out(JSON.stringify({ ...result, online: via.online }));
      else {
        if (result.definitions.length === 0) io.out(`no definitions in ${result.dir}`);
        for (const d of result.definitions) io.out(definitionText(d));
      }
      return 0;
    }
    const rows = await withControl(values, (c) => c.list());
    if (values.dumpjson) {
      const { mdevctlDump } = await import('../../mgmt/definitions.ts');
      // Running devices in mdevctl's shape: start as defined, else manual (mdevctl list --dumpjson).
      const defined = await withControl(values, (c) => c.listDefined().catch(() => ({ definitions: [] as Definition[] })));
      const byUuid = new Map(defined.definitions.map((d) => [d.uuid, d]));
      io.out(JSON.stringify(mdevctlDump(rows.map((i) => byUuid.get(i.uuid) ?? { uuid: i.uuid, name: i.name, type: i.type, start: 'manual' as const })), null, 2));
    } else if (values.json) io.out(JSON.stringify(rows));
    else {
      if (rows.length === 0) io.out('no devices');
      for (const i of rows) {
        io.out(`${i.name.padEnd(18)} ${i.uuid} ${i.type.padEnd(14)} ${edidText(i)}${i.connected ? ', client connected' : ''}  ${i.socket}${i.console ? `  (${consoleText(i)})` : ''}`);
      }
    }
    return 0;
  },
});
