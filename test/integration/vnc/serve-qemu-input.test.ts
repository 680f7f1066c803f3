/**
 * The whole input path with real peers: `serve --vnc` prints a QMP socket
 * per device; a real QEMU (Debian's 7.2: QMP, though no vfio-user) started
 * with the chardev options serve prints connects to it; a VNC viewer on the
 * device's socket types a key and clicks; QEMU's own input layer must
 * report those events (its `-trace input_event_*` lines), as QEMU's
 * qmp_input_send_event (ui/input.c) hands them to the guest's devices.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startServe, type ServeProcess } from '../../support/serve-process.ts';
import { RfbTestClient } from '../../support/rfb-client.ts';
import { systemTool } from '../../support/system-deps.ts';
import { QEMU, Qemu } from '../../support/qemu.ts';
import { ENCODING } from '../../../src/vnc/rfb-wire.ts';

const haveQemu = systemTool(QEMU, ['--version'], 'the VNC-to-QEMU input test');

let serve: ServeProcess | undefined;
let qemu: Qemu | undefined;
let viewer: RfbTestClient | undefined;
afterEach(async () => {
  viewer?.close();
  await qemu?.kill();
  await serve?.stop();
  viewer = qemu = serve = undefined;
});

describe.skipIf(!haveQemu)('serve --vnc with a real QEMU on the QMP socket', () => {
  it("a viewer's key and click reach QEMU's input layer; the console reports input while QEMU is there", async () => {
    serve = await startServe(['--vnc', '--device', 'mbochs-medium=m']);
    const con = serve.consoles.get('m')!;
    expect(con.qmp).toMatch(/\/m\.qmp$/);
    qemu = new Qemu(con.qmp!, ['-machine', 'q35,accel=tcg']);
    await serve.waitFor((e) => e['event'] === 'input' && e['name'] === 'm' && e['connected'] === true);

    viewer = await RfbTestClient.unix(con.vnc!);
    await viewer.handshake();
    viewer.setEncodings([ENCODING.Raw]);
    viewer.key(true, 0x61); // 'a'
    viewer.key(false, 0x61);
    viewer.pointer(320, 240, 1); // the middle of the 640×480 placeholder, left button down
    viewer.pointer(320, 240, 0);
    await qemu.printed(/input_event_key_qcode .*key qcode a, down 1/);
    await qemu.printed(/input_event_key_qcode .*key qcode a, down 0/);
    // 320 of 0..639 scaled onto 0..0x7fff as qemu_input_scale_axis does: 320·32767/639 = 16409.
    await qemu.printed(/input_event_abs .*axis x, value 0x4019/);
    await qemu.printed(/input_event_btn .*button left, down 1/);
    await qemu.printed(/input_event_btn .*button left, down 0/);

    await qemu.kill();
    await serve.waitFor((e) => e['event'] === 'input' && e['name'] === 'm' && e['connected'] === false);
  });
});
