import { defineCommand, UsageError } from '../command.ts';
import { COMMON, withControl } from '../args.ts';

export const vnc = defineCommand({
  name: 'vnc',
  positionals: ['DEVICE'],
  summary: 'start a VNC server for a device of the running serve',
  notes: [
    'Without --listen the server is the Unix socket DIR/DEVICE.vnc (TigerVNC: vncviewer DIR/DEVICE.vnc).',
    'TCP needs serve to have been started with --vnc-password-file FILE or --vnc-auth none.',
  ],
  options: {
    ...COMMON,
    listen: { type: 'string', value: 'HOST:DISPLAY', help: 'serve TCP port 5900+DISPLAY instead (HOST: alone takes the next free display)' },
  },
  async run(values, [device], io) {
    let listen: 'unix' | { host: string; display?: number } = 'unix';
    if (values.listen !== undefined) {
      const m = /^(.+):(\d{0,5})$/.exec(values.listen);
      if (!m || (m[2] !== '' && Number(m[2]) > 65535 - 5900)) throw new UsageError(`--listen takes HOST:DISPLAY (DISPLAY 0-${65535 - 5900}), not "${values.listen}".`);
      const host = m[1]!.replace(/^\[(.*)\]$/, '$1');
      listen = m[2] === '' ? { host } : { host, display: Number(m[2]) };
    }
    const c = await withControl(values, (client) => client.vnc(device!, listen));
    if (values.json) io.out(JSON.stringify(c));
    else io.out(`${device}: VNC ${c.display !== null ? `display :${c.display} on ${c.vnc}` : `on ${c.vnc}`}; ${c.input ? 'keyboard and mouse reach the guest through QMP' : `view-only until QEMU connects to ${c.qmp ?? 'a QMP endpoint'}`}`);
    return 0;
  },
});
