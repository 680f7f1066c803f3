import { defineCommand } from '../command.ts';
import { COMMON, parseResolution, withControl } from '../args.ts';

export const setResolution = defineCommand({
  name: 'set-resolution',
  positionals: ['DEVICE', 'WxH|off'],
  summary: 'change the EDID preferred mode, or take the link down with off',
  notes: ['The guest sees the change at its next connector probe.'],
  options: COMMON,
  async run(values, [device, arg], io) {
    const resolution = arg === 'off' ? 'off' : parseResolution(arg!, 'The resolution');
    const r = await withControl(values, (c) => c.setResolution(device!, resolution));
    if (values.json) io.out(JSON.stringify(r));
    else if (r.link === 'down') io.out(`${r.name}: EDID link down; the guest sees no monitor at its next connector probe`);
    else {
      io.out(`${r.name}: EDID now advertises ${r.width}x${r.height} (link up); the guest sees it at its next connector probe`);
      if (r.clamped) io.out(`  ${r.reason}`);
    }
    return 0;
  },
});
