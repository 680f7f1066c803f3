/**
 * Management end to end: `mdevsim serve` as a child process, the CLI as
 * child processes talking to its control socket, a guest-driver model on a
 * device socket, and raw malformed frames on the control socket.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { decode, encode } from '@msgpack/msgpack';
import { PNG } from 'pngjs';
import { VfioUserClient } from '../../../src/vfio-user/client.ts';
import { SyncVfioUserClient } from '../../../src/vfio-user/sync-client.ts';
import { ControlClient } from '../../../src/mgmt/control.ts';
import { FrameReader } from '../../../src/mgmt/control-wire.ts';
import { DEVICE_TYPES } from '../../../devices/catalog.ts';
import { MBOCHS_SHARED_BUDGET, MBOCHS_TYPE_DESCRIPTORS } from '../../../devices/mbochs/index.ts';
import { MDPY_SHARED_BUDGET } from '../../../devices/mdpy/index.ts';
import { BochsDrm } from '../../support/guest/bochs-drm.ts';
import { assignBar, socketBus } from '../../support/guest/bus.ts';
import { startServe, type ServeProcess } from '../../support/serve-process.ts';

const root = resolve(import.meta.dirname, '../../..');
let serve: ServeProcess;
let out: string;
beforeAll(async () => {
  serve = await startServe(['--device', 'mdpy-vga']);
  out = mkdtempSync(join(tmpdir(), 'mdevsim-cli-'));
});
afterAll(async () => {
  expect(await serve.stop()).toBe(0);
  rmSync(out, { recursive: true, force: true });
});

interface Run { code: number; stdout: string; stderr: string }

/** `mdevsim ...args` as a child process. */
function run(args: string[]): Promise<Run> {
  return new Promise((done) => {
    execFile(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), ...args], { cwd: root }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** `mdevsim ...args --dir <serve's dir>` as a child process. */
function cli(...args: string[]): Promise<Run> {
  return run([...args, '--dir', serve.dir]);
}

/** Wait until serve has logged as many disconnections of `device` as connections (a closed client is gone server-side). */
async function idle(device: string): Promise<void> {
  const count = (kind: string): number => serve.events.filter((e) => e['event'] === kind && e['device'] === device).length;
  for (let i = 0; i < 200 && count('disconnected') < count('connected'); i++) await new Promise((r) => setTimeout(r, 10));
  expect(count('disconnected')).toBe(count('connected'));
}

function json<T>(r: Run): T {
  expect(r.stderr, r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as T;
}

/** Four coloured quadrants and a white 10×10 square: what the guest draws and the screenshot must show. */
const W = 640;
const H = 480;
function patternColor(x: number, y: number): number {
  if (x >= 300 && x < 310 && y >= 200 && y < 210) return 0xffffff;
  return [0x102030, 0xff0000, 0x00ff00, 0x0000ff][(x >= W / 2 ? 1 : 0) + (y >= H / 2 ? 2 : 0)]!;
}
function expectPattern(file: string): void {
  const png = PNG.sync.read(readFileSync(file));
  expect([png.width, png.height]).toEqual([W, H]);
  const want = Buffer.alloc(W * H * 4);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const c = patternColor(x, y);
      want.set([(c >> 16) & 0xff, (c >> 8) & 0xff, c & 0xff, 0xff], (y * W + x) * 4);
    }
  }
  expect(Buffer.from(png.data).equals(want)).toBe(true);
}

describe('mdevsim CLI against a running serve', () => {
  it('types --json reports the types and budgets; a refused call exits non-zero with one sentence', async () => {
    const [types, missing, noEdid] = await Promise.all([
      cli('types', '--json'), cli('describe', 'nope'), cli('set-resolution', 'mdpy-vga-0', '800x600'),
    ]);
    const rows = json<{ name: string; available_instances: number; device_api: string }[]>(types);
    expect(rows.map((r) => r.name)).toEqual(DEVICE_TYPES.map((t) => t.name));
    for (const d of MBOCHS_TYPE_DESCRIPTORS) {
      expect(rows.find((r) => r.name === d.name)!.available_instances).toBe(MBOCHS_SHARED_BUDGET.available(d.mbytes));
    }
    // serve runs one mdpy-vga: one fewer mdpy instance than a fresh budget.
    expect(rows.find((r) => r.name === 'mdpy-hd')!.available_instances).toBe(MDPY_SHARED_BUDGET.available(1) - 1);
    expect(rows.every((r) => r.device_api === 'vfio-pci')).toBe(true);

    for (const [r, re] of [[missing, /^mdevsim: No device is named nope \(devices: mdpy-vga-0\)\.\n$/], [noEdid, /^mdevsim: mdpy-vga-0 is a mdpy-vga, which has no EDID region.*\.\n$/]] as const) {
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(re);
    }
  });

  it('create, list, describe, set-resolution, screenshot (both paths), remove', async () => {
    const created = json<{ name: string; uuid: string; socket: string; resolution: { width: number } }>(await cli('create', 'mbochs-small', '--json'));
    expect(created).toMatchObject({ name: 'mbochs-small-0', socket: join(serve.dir, 'mbochs-small-0.sock'), resolution: { width: 800, height: 600 } });
    // The new socket is a device a client can use.
    const probe = await VfioUserClient.connect(created.socket);
    expect(await probe.deviceInfo()).toMatchObject({ numRegions: 10 });
    probe.close();
    await idle('mbochs-small-0');

    const [list, desc] = await Promise.all([cli('list', '--json'), cli('describe', created.uuid, '--json')]);
    expect(json<{ name: string }[]>(list).map((i) => i.name)).toEqual(['mdpy-vga-0', 'mbochs-small-0']);
    expect(json<object>(desc)).toMatchObject({
      name: 'mbochs-small-0', type: 'mbochs-small', info: { numRegions: 10, numIrqs: 5 },
      plane: { kind: 'dmabuf', current: null }, edid: { link: 'up', mode: { width: 800, height: 600 } },
    });

    expect(json<object>(await cli('set-resolution', 'mbochs-small-0', `${W}x${H}`, '--json'))).toEqual({
      name: 'mbochs-small-0', link: 'up', requested: { width: W, height: H }, width: W, height: H, clamped: false,
    });

    // The guest boots on the device socket, takes the EDID's preferred mode and draws.
    const guest = SyncVfioUserClient.connect(created.socket, { display: true });
    const bus = socketBus(guest);
    try {
      assignBar(bus, 0, 0xe0000000);
      const drm = new BochsDrm(bus);
      const p = drm.probe();
      expect(p.preferred).toEqual({ hdisplay: W, vdisplay: H });
      drm.setMode(p.preferred);
      drm.fill(0x102030, { x: 0, y: 0, w: W / 2, h: H / 2 });
      drm.fill(0xff0000, { x: W / 2, y: 0, w: W / 2, h: H / 2 });
      drm.fill(0x00ff00, { x: 0, y: H / 2, w: W / 2, h: H / 2 });
      drm.fill(0x0000ff, { x: W / 2, y: H / 2, w: W / 2, h: H / 2 });
      drm.fill(0xffffff, { x: 300, y: 200, w: 10, h: 10 });

      // The guest holds the device socket. A server that takes one client at a time refuses the CLI, which
      // then says so and uses the control socket; a server that takes several serves it directly.
      const a = json<Record<string, unknown>>(await cli('screenshot', 'mbochs-small-0', '-o', join(out, 'a.png'), '--json'));
      expect(a).toMatchObject({ device: 'mbochs-small-0', state: 'plane', width: W, height: H, format: 'XRGB8888', file: join(out, 'a.png') });
      if (a['via'] === 'control-socket') expect(a['fallback']).toMatch(/refused the connection \(another client holds the device\)/);
      else {
        expect(a['via']).toBe('device-socket');
        expect(a['fallback']).toBeUndefined();
      }
      expectPattern(join(out, 'a.png'));
      // The control socket's own screenshot, asked for explicitly, shows the same picture.
      const c = json<Record<string, unknown>>(await cli('screenshot', 'mbochs-small-0', '-o', join(out, 'c.png'), '--via', 'control', '--json'));
      expect(c).toMatchObject({ via: 'control-socket', state: 'plane' });
      expect(c['fallback']).toBeUndefined();
      expectPattern(join(out, 'c.png'));
    } finally {
      bus.unmapAll();
      guest.close();
    }
    await idle('mbochs-small-0');

    // With the guest gone, the CLI reads the plane itself through the vfio-user client library.
    const b = json<Record<string, unknown>>(await cli('screenshot', 'mbochs-small-0', '-o', join(out, 'b.png'), '--json'));
    expect(b).toMatchObject({ via: 'device-socket', state: 'plane', width: W, height: H });
    expect(b['fallback']).toBeUndefined();
    expectPattern(join(out, 'b.png'));

    expect(json<object>(await cli('remove', 'mbochs-small-0', '--json'))).toEqual({ name: 'mbochs-small-0', uuid: created.uuid });
    expect(existsSync(created.socket)).toBe(false);
    const ctl = await ControlClient.connect(serve.control!);
    expect((await ctl.list()).map((i) => i.name)).toEqual(['mdpy-vga-0']);
    ctl.close();
    expect(serve.events.filter((e) => e['event'] === 'created' || e['event'] === 'removed').map((e) => e['event'])).toEqual(['created', 'removed']);
  });

  it('set-resolution prints that it changes the mode list, and which guests see it when (Linux bochs-drm 6.13+ at its next connector probe, 6.12 and older after a reload); a mode over half of VRAM is set with a warning naming Linux up to 6.12 (drm_vram_helper_mode_valid); types and describe explain edid-vram', async () => {
    const created = await cli('create', 'mbochs-medium', '--name', 'fb', '--resolution', '1920x1440');
    expect(created.code).toBe(0);
    expect(created.stdout).toContain('  EDID preferred mode 1920x1440\n');
    expect(created.stderr).toBe('mdevsim: warning: fb: 1920×1440 takes more than half of the 16 MiB of VRAM: Linux bochs-drm up to 6.12 (drm_vram_helper_mode_valid) refuses it and picks another mode; 6.13 and later show it.\n');
    try {
      const [described, types] = await Promise.all([cli('describe', 'fb'), cli('types')]);
      const up = await cli('set-resolution', 'fb', '1920x1080');
      expect(up).toEqual({
        code: 0, stderr: '',
        stdout: 'fb: the EDID now prefers 1920x1080 (link up): a new mode list for the guest, not a mode change\n'
          + '  Linux 6.13+ guests offer it at their next connector probe (e.g. echo detect > /sys/class/drm/card0-Virtual-1/status); 6.12 and older only after bochs-drm reloads or the guest reboots\n',
      });
      expect(described.stdout).toContain('\n  edid vram   half: modes mdevsim picks fit 8 MiB, all that Linux bochs-drm up to 6.12 accepts (full, for 6.13+, allows 16 MiB); the EDID\'s 1920x1440, as asked, is larger: 6.12 and older refuse it\n');
      expect(types.stdout).toMatch(/^mbochs-medium .*max 1920x1440, framebuffers up to 8 MiB \(16 MiB with --edid-vram full\), snapshot\)$/m);
      expect(types.stdout).toMatch(/^EDID modes mdevsim picks have framebuffers \(width·height·4 bytes\) within half of VRAM: Linux bochs-drm up to 6.12 keeps two there and refuses larger modes\. --edid-vram full/m);
      const [down, full] = await Promise.all([cli('set-resolution', 'fb', 'off'), cli('create', 'mbochs-large', '--name', 'fb-full', '--edid-vram', 'full', '--resolution', '8192x8192', '--json')]);
      expect(down.stdout).toBe("fb: EDID link down\n  Linux 6.13+ guests find no EDID at their next connector probe and offer bochs-drm's built-in modes (1024x768 preferred); 6.12 and older keep the EDID they read at load\n");
      expect(json<object>(full)).toMatchObject({ name: 'fb-full', edidVram: 'full', resolution: { width: 4095, height: 4095, clamped: true } });
      expect((await cli('describe', 'fb-full')).stdout).toContain('\n  edid vram   full: modes mdevsim picks may take all 64 MiB; Linux bochs-drm up to 6.12 refuses those over 32 MiB, as the EDID\'s 4095x4095 is\n');
    } finally {
      await Promise.all([cli('remove', 'fb'), cli('remove', 'fb-full')]);
    }
  });

  it('snapshot to a file and restore from it; a wrong file is refused in one sentence', async () => {
    const file = join(out, 'vga.snap');
    expect(json<object>(await cli('snapshot', 'mdpy-vga-0', '-o', file, '--json'))).toMatchObject({ device: 'mdpy-vga-0', file });
    expect((decode(readFileSync(file)) as { type: string }).type).toBe('mdpy-vga');
    const [ok, bad] = await Promise.all([cli('restore', 'mdpy-vga-0', file, '--json'), cli('restore', 'mdpy-vga-0', join(out, 'missing.snap'))]);
    expect(json<object>(ok)).toMatchObject({ name: 'mdpy-vga-0' });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/^mdevsim: Cannot read .*missing\.snap \(ENOENT\)\.\n$/);
  });
});

describe('control socket robustness (raw frames)', () => {
  function frame(body: Uint8Array): Buffer {
    const h = Buffer.alloc(4);
    h.writeUInt32LE(body.length);
    return Buffer.concat([h, body]);
  }

  it('malformed msgpack gets an error reply and the connection keeps working; an oversized frame drops only that connection', async () => {
    const other = await ControlClient.connect(serve.control!);
    const sock = createConnection(serve.control!);
    await new Promise<void>((ok, fail) => { sock.once('connect', ok); sock.once('error', fail); });
    const replies: Record<string, unknown>[] = [];
    const reader = new FrameReader();
    let wake: (() => void) | undefined;
    sock.on('data', (d) => reader.push(d, (f) => { replies.push(decode(f) as Record<string, unknown>); wake?.(); }));
    const closed = new Promise<void>((ok) => sock.once('close', () => ok()));
    const reply = async (n: number): Promise<Record<string, unknown>> => {
      while (replies.length < n) await new Promise<void>((ok) => { wake = ok; });
      return replies[n - 1]!;
    };
    try {
      sock.write(frame(Buffer.from([0xc1, 0xc1])));
      expect(await reply(1)).toMatchObject({ id: null, ok: false, error: { code: 'EMSGPACK' } });
      sock.write(frame(encode({ id: 1, call: 'list' })));
      expect(await reply(2)).toMatchObject({ id: 1, ok: true, result: [{ name: 'mdpy-vga-0' }] });
      sock.write(frame(encode({ id: 2, call: 'format-disk' })));
      expect(await reply(3)).toMatchObject({ id: 2, ok: false, error: { code: 'ECALL' } });
      sock.write(Buffer.from([0x00, 0x00, 0x00, 0x40])); // a 1 GiB frame
      expect(await reply(4)).toMatchObject({ id: null, ok: false, error: { code: 'EFRAME' } });
      await closed;
      expect((await other.list()).map((i) => i.name)).toEqual(['mdpy-vga-0']);
    } finally {
      other.close();
      sock.destroy();
    }
  });
});

describe('filesystem trust', () => {
  const root0 = process.geteuid?.() === 0;
  const me = process.geteuid?.() ?? 0;
  /** A fresh directory under the test's output directory. */
  const fresh = (name: string, mode = 0o700): string => {
    const d = join(out, name);
    mkdirSync(d, { mode });
    chmodSync(d, mode); // mkdir's mode passes through the umask
    return d;
  };
  /** serve that must refuse to start: exit 2, one sentence on stderr (a JSON line, as --json asks), nothing on stdout; returns the plain-text form. */
  async function refusedServe(args: string[]): Promise<string> {
    const r = await run(['serve', '--json', '--config-dir', join(out, 'config-refused'), ...args]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^\{[^\n]+\}\n$/);
    const { error } = JSON.parse(r.stderr) as { error: { message: string; exit: number } };
    expect(error.exit).toBe(2);
    expect(error.message).toMatch(/^[^\n]+\.$/);
    return `mdevsim: ${error.message}\n`; // the sentence as it reads without --json

  }

  it('serve refuses a world-writable or foreign-owned socket directory and creates no socket in it', async () => {
    const open = fresh('open', 0o777);
    const theirs = fresh('theirs');
    if (root0) chownSync(theirs, 12345, 12345);
    const [a, b] = await Promise.all([
      refusedServe(['--dir', open, '--device', 'mdpy-vga']),
      root0 ? refusedServe(['--dir', theirs, '--device', 'mdpy-vga']) : Promise.resolve(undefined),
    ]);
    expect(a).toBe(`mdevsim: Socket directory ${open} is writable by group or others (mode 0777); run chmod 700 ${open} or choose another with --dir.\n`);
    expect(readdirSync(open)).toEqual([]);
    if (root0) {
      expect(b).toBe(`mdevsim: Socket directory ${theirs} is owned by uid 12345, not by you (uid ${me}); remove it or choose another with --dir.\n`);
      expect(readdirSync(theirs)).toEqual([]);
    }
  });

  it.skipIf(!root0)('the CLI never connects to a control socket another user owns, or one in a directory others may write', async () => {
    const planted = fresh('planted');
    const fake = createServer();
    let connections = 0;
    fake.on('connection', (c) => { connections++; c.destroy(); });
    const sock = join(planted, 'control.sock');
    await new Promise<void>((ok, fail) => { fake.once('error', fail); fake.listen(sock, ok); });
    try {
      chownSync(sock, 12345, 12345);
      const open = fresh('open-ctl', 0o777);
      const [owned, writable] = await Promise.all([run(['list', '--dir', planted]), run(['list', '--dir', open])]);
      expect(owned.code).toBe(2);
      expect(owned.stderr).toBe(`mdevsim: Control socket ${sock} is owned by uid 12345, not by you (uid ${me}); remove it or use a socket directory of your own.\n`);
      expect(writable.code).toBe(2);
      expect(writable.stderr).toMatch(/^mdevsim: Control socket directory .*open-ctl is writable by group or others \(mode 0777\); run chmod 700 /);
      expect(connections).toBe(0);
    } finally {
      await new Promise<void>((done) => fake.close(() => done()));
    }
  });

  it('screenshot and snapshot refuse an existing file or a planted link without --force; --force replaces the link, not its target', async () => {
    const taken = join(out, 'taken.png');
    const snap = join(out, 'taken.snap');
    writeFileSync(taken, 'keep');
    writeFileSync(snap, 'keep');
    const victim = join(out, 'victim');
    writeFileSync(victim, 'precious');
    const link = join(out, 'link.snap');
    symlinkSync(victim, link);
    const [shot, snapped, linked] = await Promise.all([
      cli('screenshot', 'mdpy-vga-0', '-o', taken), cli('snapshot', 'mdpy-vga-0', '-o', snap), cli('snapshot', 'mdpy-vga-0', '-o', link),
    ]);
    expect([shot.code, shot.stderr]).toEqual([2, `mdevsim: ${taken} exists; pass --force to replace it.\n`]);
    expect([snapped.code, snapped.stderr]).toEqual([2, `mdevsim: ${snap} exists; pass --force to replace it.\n`]);
    expect([linked.code, linked.stderr]).toEqual([2, `mdevsim: ${link} is a symbolic link; refusing to write through it (pass --force to replace the link).\n`]);
    expect(readFileSync(taken, 'utf8')).toBe('keep');
    expect(readFileSync(snap, 'utf8')).toBe('keep');

    const [forced, forcedLink] = await Promise.all([
      cli('snapshot', 'mdpy-vga-0', '-o', snap, '--force', '--json'), cli('snapshot', 'mdpy-vga-0', '-o', link, '--force', '--json'),
    ]);
    expect(json<object>(forced)).toMatchObject({ file: snap });
    expect(json<object>(forcedLink)).toMatchObject({ file: link });
    expect((decode(readFileSync(snap)) as { type: string }).type).toBe('mdpy-vga');
    expect(lstatSync(link).isSymbolicLink()).toBe(false);
    expect((decode(readFileSync(link)) as { type: string }).type).toBe('mdpy-vga');
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    expect(readdirSync(out).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('device names: ".", "..", "-rf", "a/b", 65 characters and a 108-byte socket path are refused before any socket is bound', async () => {
    const long = 'n'.repeat(40);
    const deep = join(out, 'd'.repeat(108 - Buffer.byteLength(out) - 1 - 1 - long.length - '.sock'.length));
    const names = ['.', '..', '-rf', 'a/b', 'x'.repeat(65)];
    const dirs = names.map((_, i) => fresh(`names-${i}`));
    const served = await Promise.all([
      ...names.map((n, i) => refusedServe(['--dir', dirs[i]!, '--device', `mdpy-vga=${n}`])),
      refusedServe(['--dir', deep, '--device', `mdpy-vga=${long}`]),
    ]);
    const rule = (n: string): string => `mdevsim: Device name "${n}" must start with a letter or digit and may only use letters, digits, '.', '_' and '-'.\n`;
    expect(served).toEqual([
      rule('.'), rule('..'), rule('-rf'), rule('a/b'),
      `mdevsim: Device name "${'x'.repeat(65)}" is 65 characters long; at most 64 are allowed.\n`,
      `mdevsim: Device socket ${join(deep, `${long}.sock`)} is 108 bytes long, more than the 107 a Unix socket path may have; choose a shorter --dir or device name.\n`,
    ]);
    for (const d of dirs) expect(readdirSync(d)).toEqual([]);
    expect(existsSync(deep)).toBe(false);

    // create through the control socket applies the same rule.
    const created = await Promise.all(names.map((n) => cli('create', 'mdpy-vga', `--name=${n}`)));
    expect(created.map((r) => r.stderr)).toEqual([...names.slice(0, 4).map(rule), served[4]]);
    expect(created.every((r) => r.code !== 0)).toBe(true);
    expect(json<{ name: string }[]>(await cli('list', '--json')).map((i) => i.name)).toEqual(['mdpy-vga-0']);
  });
});
