import { defineCommand } from '../command.ts';
import { COMMON, withControl } from '../args.ts';
import type { InstanceInfo } from '../../mgmt/manager.ts';

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
  summary: 'the devices of the running serve, their sockets and EDID state',
  options: COMMON,
  async run(values, _positionals, io) {
    const rows = await withControl(values, (c) => c.list());
    if (values.json) io.out(JSON.stringify(rows));
    else {
      if (rows.length === 0) io.out('no devices');
      for (const i of rows) {
        io.out(`${i.name.padEnd(18)} ${i.uuid} ${i.type.padEnd(14)} ${edidText(i)}${i.connected ? ', client connected' : ''}  ${i.socket}${i.console ? `  (${consoleText(i)})` : ''}`);
      }
    }
    return 0;
  },
});
