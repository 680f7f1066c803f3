import { defineCommand } from '../command.ts';
import { COMMON, controlPathOf } from '../args.ts';
import { ControlClient, ControlError } from '../../mgmt/control-client.ts';
import type { TypeInfo } from '../../mgmt/manager.ts';
import { ConfigError } from '../../util/errors.ts';
import { bytesText } from '../args.ts';

/** Why an EDID type's modes stop at half of VRAM (drm_gem_vram_helper.c drm_vram_helper_mode_valid(); bochs.c from Linux 6.13). */
export const EDID_VRAM_NOTE = 'EDID modes mdevsim picks have framebuffers (width·height·4 bytes) within half of VRAM: Linux bochs-drm up to 6.12 keeps two there and refuses larger modes. --edid-vram full (serve, create, define) lets them use all of it, for guests with 6.13 or later; a --resolution over half is honoured, with a warning.';

function printTypes(rows: readonly TypeInfo[], out: (line: string) => void): void {
  for (const r of rows) {
    const fb = r.edidFramebuffer;
    const caps = [
      `display: ${r.display}`, r.edid ? 'EDID' : undefined, r.maxResolution ? `max ${r.maxResolution.width}x${r.maxResolution.height}` : undefined,
      fb ? `framebuffers up to ${bytesText(fb.half)} (${bytesText(fb.full)} with --edid-vram full)` : undefined, 'snapshot',
    ].filter(Boolean).join(', ');
    out(`${r.name.padEnd(14)} ${String(r.available_instances).padStart(3)} available  ${r.description} (${caps})`);
  }
  if (rows.some((r) => r.edidFramebuffer)) out(EDID_VRAM_NOTE);
}

export const types = defineCommand({
  name: 'types',
  positionals: [],
  summary: 'the device types and how many more instances fit',
  notes: ['Without a running serve, lists what a fresh serve offers.', EDID_VRAM_NOTE],
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
