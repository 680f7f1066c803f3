/**
 * The QMP endpoint with a real QEMU (Debian bookworm's 7.2 here): QEMU
 * connects to our socket with the options qemuInputArgs prints, greets, and
 * must accept the key, click and absolute-move events our translators make.
 * QEMU's input trace events (-trace input_event_*, on stderr) show what
 * reached its input layer: a key number arrives as the QKeyCode QEMU's qnum
 * table gives it.
 *
 * The guest is a q35 machine with -nodefaults, no disk and no -S: it sits in
 * SeaBIOS, running, which input-send-event requires (with -S it answers
 * "VM not running", asserted below). q35 keeps its i8042 PS/2 keyboard and
 * mouse under -nodefaults; the PS/2 mouse is relative only, hence
 * virtio-tablet-pci for abs events.
 *
 * Skips (saying why) when qemu-system-x86_64 is missing, and fails under
 * CI=true; `npm run setup:test` installs qemu-system-x86.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemTool } from '../../support/system-deps.ts';
import { FdLedger } from '../../../src/sys/fd-ledger.ts';
import { ensurePrivateDir } from '../../../src/sys/trusted-path.ts';
import { QmpEndpoint } from '../../../src/vnc/qmp-endpoint.ts';
import { QEMU, Qemu } from '../../support/qemu.ts';
import { ViewerInput, keysymToQcode, scaleAxis, type QKeyCode, type QmpInputEvent } from '../../../src/vnc/input.ts';
import { keysymTable } from '../../../src/vnc/keysym-qcode.ts';

const haveQemu = systemTool(QEMU, ['--version'], 'the QMP input test with a real QEMU');

/** A qcode key event; the cast lets a test send a name QEMU does not have. */
const key = (down: boolean, name: string): QmpInputEvent => ({ type: 'key', data: { down, key: { type: 'qcode', data: name as QKeyCode } } });

describe.skipIf(!haveQemu)('QmpEndpoint with a real QEMU', () => {
  let dir: string;
  let endpoint: QmpEndpoint | undefined;
  const qemus: Qemu[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mdevsim-qmpq-'));
    ensurePrivateDir(dir);
  });

  afterEach(async () => {
    for (const q of qemus.splice(0)) await q.kill();
    await endpoint?.close();
    endpoint = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  async function listen(): Promise<QmpEndpoint> {
    endpoint = await QmpEndpoint.listen(join(dir, 'mdpy-0.qmp'), { fdLedger: new FdLedger() });
    return endpoint;
  }

  function startQemu(path: string, extra: readonly string[] = []): Qemu {
    const q = new Qemu(path, extra);
    qemus.push(q);
    return q;
  }

  it('QEMU connects and greets; it accepts key presses, an extended key, a click and an absolute move', async () => {
    const e = await listen();
    const ready = once(e, 'ready');
    const q = startQemu(e.path);
    await ready;

    const viewer = new ViewerInput();
    await e.sendInputChecked([viewer.keyboard.keysym(true, 0x61)!]);
    await q.printed(/key qcode a, down 1/);
    await e.sendInputChecked([viewer.keyboard.keysym(false, 0x41)!]);
    await q.printed(/key qcode a, down 0/);

    // Right arrow as the QEMU Extended Key Event gives it: XT 0xE0 0x4D → keycode 0xCD → qnum → 'right'.
    await e.sendInputChecked([viewer.keyboard.extended(true, 0xff53, 0xcd)!]);
    await q.printed(/key qcode right, down 1/);
    await e.sendInputChecked(viewer.releaseAll());
    await q.printed(/key qcode right, down 0/);

    const press = viewer.pointer.event(320, 240, 1, 640, 480);
    expect(press.map((ev) => ev.type)).toEqual(['abs', 'abs', 'btn']);
    await e.sendInputChecked(press);
    const x = scaleAxis(320, 0, 639).toString(16);
    const y = scaleAxis(240, 0, 479).toString(16);
    await q.printed(new RegExp(`axis x, value 0x${x}\\b[\\s\\S]*axis y, value 0x${y}\\b[\\s\\S]*button left, down 1`));
    await e.sendInputChecked(viewer.pointer.event(320, 240, 0, 640, 480));
    await q.printed(/button left, down 0/);
    await e.sendInputChecked(viewer.pointer.event(639, 479, 1 << 3, 640, 480));
    await q.printed(/axis x, value 0x7fff[\s\S]*axis y, value 0x7fff[\s\S]*button wheel-up, down 1/);
    await e.sendInputChecked(viewer.releaseAll());
    expect(e.stats()).toMatchObject({ ready: true, errors: 0, dropped: 0 });
  });

  it('QEMU accepts every key name in the keysym table, and refuses one it does not have with a GenericError', async () => {
    const e = await listen();
    const ready = once(e, 'ready');
    startQemu(e.path);
    await ready;
    const names = [...new Set(keysymTable().map(([, qcode]) => qcode))];
    expect(names.length).toBeLessThanOrEqual(128);
    await e.sendInputChecked([...names.map((n) => key(true, n)), ...names.map((n) => key(false, n))]);
    expect(keysymToQcode(0xfe03)).toBe('alt_r');
    await expect(e.sendInputChecked([key(true, 'altgr')])).rejects.toMatchObject({ code: 'EQMP', qmpClass: 'GenericError' });
    expect(e.stats()).toMatchObject({ errors: 1, lastError: "GenericError: Parameter 'data' does not accept value 'altgr'" });
  });

  it('a paused QEMU (-S) answers "VM not running", so mdevsim\'s guests must run', async () => {
    const e = await listen();
    const ready = once(e, 'ready');
    startQemu(e.path, ['-S']);
    await ready;
    await expect(e.sendInputChecked([key(true, 'a')])).rejects.toThrow('VM not running');
  });

  it('a QEMU that dies is lost and input is dropped; the next QEMU is ready again', async () => {
    const e = await listen();
    let ready = once(e, 'ready');
    const first = startQemu(e.path);
    await ready;
    const lost = once(e, 'lost');
    await first.kill();
    await lost;
    expect(e.ready).toBe(false);
    await expect(e.sendInputChecked([key(true, 'a')])).rejects.toMatchObject({ code: 'ENOTCONN' });

    ready = once(e, 'ready');
    const second = startQemu(e.path);
    await ready;
    await e.sendInputChecked([key(true, 'b'), key(false, 'b')]);
    await second.printed(/key qcode b, down 0/);
    expect(e.stats()).toMatchObject({ peers: 2, offline: 1, errors: 0 });
  });

  it('a QEMU started before mdevsim listens keeps retrying and connects once the socket is there', async () => {
    const path = join(dir, 'mdpy-0.qmp');
    const q = startQemu(path);
    await q.printed(/Unable to connect character device mdevsim-qmp/);
    endpoint = await QmpEndpoint.listen(path, { fdLedger: new FdLedger() });
    await once(endpoint, 'ready');
    await endpoint.sendInputChecked([key(true, 'c'), key(false, 'c')]);
  });
});
