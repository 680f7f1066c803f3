import { defineCommand } from '../command.ts';
import { COMMON, EDID_VRAM_HELP, edidVramArg, parseResolution, quirksArg, vbeArg, withControl } from '../args.ts';

export const create = defineCommand({
  name: 'create',
  positionals: ['TYPE'],
  summary: 'create a device of TYPE on the running serve, on a socket of its own',
  options: {
    ...COMMON,
    name: { type: 'string', value: 'NAME', help: 'the device name (default: TYPE-N)' },
    uuid: { type: 'string', value: 'UUID', help: 'the device UUID (default: a random one)' },
    quirks: { type: 'string', value: 'none|upstream', help: 'reproduce the upstream samples\' bugs, or not (default: serve\'s)' },
    vbe: { type: 'string', value: 'sample|strict', help: 'mbochs VBE register checks (default: serve\'s)' },
    resolution: { type: 'string', value: 'WxH', help: 'EDID preferred mode (mbochs)' },
    'no-edid': { type: 'boolean', default: false, help: 'keep the sample\'s initial EDID state (link down, no blob)' },
    'edid-vram': { type: 'string', value: 'half|full', help: `${EDID_VRAM_HELP} (default: serve's)` },
  },
  async run(values, [type], io) {
    const quirks = quirksArg(values.quirks);
    const vbe = vbeArg(values.vbe);
    const edidVram = edidVramArg(values['edid-vram']);
    const args = {
      type: type!,
      ...(values.name !== undefined ? { name: values.name } : {}),
      ...(values.uuid !== undefined ? { uuid: values.uuid } : {}),
      ...(quirks !== undefined ? { quirks } : {}),
      ...(vbe !== undefined ? { vbe } : {}),
      ...(values.resolution !== undefined ? { resolution: parseResolution(values.resolution) } : {}),
      ...(values['no-edid'] ? { noEdid: true } : {}),
      ...(edidVram !== undefined ? { edidVram } : {}),
    };
    const created = await withControl(values, (c) => c.create(args));
    if (values.json) io.out(JSON.stringify(created));
    else {
      io.out(`${created.name} (${created.uuid}) created on ${created.socket}`);
      if (created.resolution) io.out(`  EDID preferred mode ${created.resolution.width}x${created.resolution.height}${created.resolution.clamped && values.resolution ? `: ${created.resolution.reason}` : ''}`);
    }
    if (created.resolution?.warning !== undefined) io.err(`mdevsim: warning: ${created.name}: ${created.resolution.warning}\n`);
    return 0;
  },
});
