/**
 * A libvirt domain's view of an mdevsim device: the `<qemu:commandline>`
 * that attaches it (libvirt has no vfio-user device element), with the
 * memory backing vfio-user needs (shared memfd, so the server can map guest
 * RAM) and, when the device has a console, its QMP chardev and tablet.
 * Passthrough arguments need the qemu namespace on <domain>
 * (https://libvirt.org/kbase/qemu-passthrough-security.html).
 */
import { qemuInputArgs } from '../vnc/qmp-endpoint.ts';

function attr(v: string): string {
  return v.replace(/&/g, '&amp;').replace(/'/g, '&apos;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The XML to paste into a domain, as lines. */
export function libvirtSnippet(socket: string, qmp: string | null): string[] {
  const args = ['-device', JSON.stringify({ driver: 'vfio-user-pci', socket: { type: 'unix', path: socket } })];
  if (qmp !== null) args.push(...qemuInputArgs(qmp));
  return [
    `<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>`,
    `  <!-- vfio-user maps guest RAM from a shared memfd; no emulated VGA takes the bochs driver from mbochs -->`,
    `  <memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>`,
    `  <devices><video><model type='none'/></video></devices>`,
    `  <qemu:commandline>`,
    ...args.map((a) => `    <qemu:arg value='${attr(a)}'/>`),
    `  </qemu:commandline>`,
    `</domain>`,
  ];
}
