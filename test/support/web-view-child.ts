/**
 * A web view in a process of its own, for tests that measure the server's
 * memory and fds (/proc/PID) apart from their clients': every WebSocket is
 * attached to QEMU's VNC server at argv[2]. Prints JSON lines on stdout:
 * `{"event":"ready","url":…,"pid":…}` once listening, `{"event":"closed"}`
 * each time an attached viewer's QEMU connection has closed; SIGTERM closes
 * the view and exits.
 *
 * Run: node --import tsx test/support/web-view-child.ts <vnc socket> [maxClients]
 */
import { startWebView } from '../../src/vnc/web-view.ts';
import { attachToVnc } from './qemu-vga.ts';

const [vncPath, maxClients] = process.argv.slice(2);
if (vncPath === undefined) throw new Error('usage: web-view-child.ts <vnc socket> [maxClients]');
const print = (event: Record<string, unknown>): void => { process.stdout.write(`${JSON.stringify(event)}\n`); };

const view = await startWebView({
  port: 0,
  maxClients: maxClients === undefined ? undefined : Number(maxClients),
  devices: () => [{ name: 'vga-0', input: true }],
  attach: (_device, stream) => attachToVnc(vncPath, stream, () => print({ event: 'closed' })),
});
process.once('SIGTERM', () => { void view.close().then(() => process.exit(0)); });
print({ event: 'ready', url: view.url, pid: process.pid });
