import { defineCommand } from '../command.ts';
import { COMMON, parseResolution, withControl } from '../args.ts';

/** When each guest reads the EDID (drivers/gpu/drm/tiny/bochs.c; docs/management.md "set-resolution: when the guest sees it"). */
const WHEN_UP = 'Linux 6.13+ guests offer it at their next connector probe (e.g. echo detect > /sys/class/drm/card0-Virtual-1/status); 6.12 and older only after bochs-drm reloads or the guest reboots';
const WHEN_DOWN = 'Linux 6.13+ guests find no EDID at their next connector probe and offer bochs-drm\'s built-in modes (1024x768 preferred); 6.12 and older keep the EDID they read at load';

export const setResolution = defineCommand({
  name: 'set-resolution',
  positionals: ['DEVICE', 'WxH|off'],
  summary: 'change the mode list the EDID offers the guest, or take the link down with off',
  notes: [
    'This changes the modes the guest is offered, not the mode it shows: its userspace (a desktop, xrandr) picks one, and fbcon does not switch on a probe.',
    'Linux 6.13+ bochs-drm reads the EDID at every connector probe, which nothing starts by itself (there is no hot-plug interrupt): echo detect > /sys/class/drm/card0-Virtual-1/status, or a desktop\'s re-probe.',
    'Linux 6.12 and older read it once at driver load: reload bochs-drm or reboot the guest.',
  ],
  options: COMMON,
  async run(values, [device, arg], io) {
    const resolution = arg === 'off' ? 'off' : parseResolution(arg!, 'The resolution');
    const r = await withControl(values, (c) => c.setResolution(device!, resolution));
    if (values.json) io.out(JSON.stringify(r));
    else if (r.link === 'down') {
      io.out(`${r.name}: EDID link down`);
      io.out(`  ${WHEN_DOWN}`);
    } else {
      io.out(`${r.name}: the EDID now prefers ${r.width}x${r.height} (link up): a new mode list for the guest, not a mode change`);
      if (r.clamped) io.out(`  ${r.reason}`);
      io.out(`  ${WHEN_UP}`);
    }
    if (r.link === 'up' && r.warning !== undefined) io.err(`mdevsim: warning: ${r.name}: ${r.warning}\n`);
    return 0;
  },
});
