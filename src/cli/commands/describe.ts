import { defineCommand } from '../command.ts';
import { COMMON, bytesText, withControl } from '../args.ts';
import { edidText, consoleText } from './list.ts';
import type { DeviceDescription } from '../../mgmt/manager.ts';
import { libvirtSnippet } from '../libvirt.ts';

/** What the device's edidVram means for its guests, and whether the EDID's mode is one some refuse. */
function edidVramText(vram: 'half' | 'full', fb: { half: number; full: number }, mode: { width: number; height: number } | null): string {
  const over = mode !== null && mode.width * mode.height * 4 > fb.half;
  if (vram === 'full') {
    return `full: modes mdevsim picks may take all ${bytesText(fb.full)}; Linux bochs-drm up to 6.12 refuses those over ${bytesText(fb.half)}${over ? `, as the EDID's ${mode.width}x${mode.height} is` : ''}`;
  }
  const text = `half: modes mdevsim picks fit ${bytesText(fb.half)}, all that Linux bochs-drm up to 6.12 accepts (full, for 6.13+, allows ${bytesText(fb.full)})`;
  return over ? `${text}; the EDID's ${mode.width}x${mode.height}, as asked, is larger: 6.12 and older refuse it` : text;
}

function printDescription(d: DeviceDescription, out: (line: string) => void): void {
  out(`${d.name} (${d.uuid})`);
  out(`  type        ${d.type}: ${d.description}`);
  out(`  socket      ${d.socket}${d.connected ? ' (a client is connected)' : ''}`);
  if (d.console) {
    out(`  console     ${consoleText(d)}`);
    if (d.console.qmp) out(`  qmp         ${d.console.qmp} (QEMU connects: -chardev socket,path=...,reconnect-ms=1000 -mon mode=control)`);
  }
  out(`  quirks      ${d.quirks}${d.vbe ? `, vbe ${d.vbe}` : ''}`);
  out(`  device      flags ${d.info.flagNames.join('|') || '0'}, ${d.info.numRegions} regions, ${d.info.numIrqs} irqs`);
  out('  regions');
  for (const r of d.regions) {
    if (r.size === 0) continue;
    const caps = r.caps.map((c) => (c.kind === 'sparse-mmap' ? `sparse-mmap ${c.areas.map((a) => `[${a.offset}, +${a.size})`).join(' ')}` : c.kind === 'type' ? `type ${c.type}/${c.subtype}` : c.kind)).join('; ');
    out(`    ${String(r.index).padStart(2)} ${r.name.padEnd(7)} ${String(r.size).padStart(10)} bytes  ${r.flagNames.join('|')}${caps ? `  (${caps})` : ''}`);
  }
  out(`  irqs        ${d.irqs.map((q) => `${q.index}: ${q.count}`).join(', ')} (index: vectors)`);
  const p = d.plane.current;
  out(`  plane       ${d.plane.kind}${p ? `, now ${p.width}x${p.height} ${p.format} stride ${p.stride}` : ', no mode set'}`);
  out(`  edid        ${edidText(d)}`);
  if (d.edidVram !== null && d.edidFramebuffer !== null) out(`  edid vram   ${edidVramText(d.edidVram, d.edidFramebuffer, d.edid?.mode ?? null)}`);
  out('  libvirt     to attach it to a domain, merge into its XML:');
  for (const line of libvirtSnippet(d.socket, d.console?.qmp ?? null)) out(`    ${line}`);
}

export const describe = defineCommand({
  name: 'describe',
  positionals: ['DEVICE'],
  summary: 'a device\'s regions, irqs, current plane and EDID state',
  options: COMMON,
  async run(values, [device], io) {
    const d = await withControl(values, (c) => c.describe(device!));
    if (values.json) io.out(JSON.stringify({ ...d, libvirt: libvirtSnippet(d.socket, d.console?.qmp ?? null).join('\n') }));
    else printDescription(d, io.out);
    return 0;
  },
});
