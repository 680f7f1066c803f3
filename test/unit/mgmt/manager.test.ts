/**
 * The Manager in-process, with memfd memory: types against the device
 * models and their budgets, create/remove accounting, describe against the
 * VfioDevice methods, snapshot/restore into a new instance, refused
 * restores, set-resolution as bochs-drm guests of Linux 6.12 and 6.13 see it
 * (test/support/guest/bochs-drm.ts), screenshots.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode, encode } from '@msgpack/msgpack';
import { PNG } from 'pngjs';
import { MAX_NAME_LENGTH, Manager, ManagerError, checkDeviceName, deviceSocketPath } from '../../../src/mgmt/manager.ts';
import { DEVICE_TYPES } from '../../../devices/catalog.ts';
import { snapshotCompatibility } from '../../../src/mgmt/snapshot.ts';
import { memfdMemoryFactory } from '../../../src/sys/memfd.ts';
import { readTrace } from '../../../src/trace/trace.ts';
import { VfioUserClient } from '../../../src/vfio-user/client.ts';
import { ConfigError } from '../../../src/util/errors.ts';
import { setLogFormat } from '../../../src/util/log.ts';
import type { VfioDevice } from '../../../src/vfio/device.ts';
import { DRM_PLANE_TYPE_PRIMARY, VFIO_GFX_PLANE_TYPE_DMABUF, VFIO_GFX_PLANE_TYPE_REGION } from '../../../src/vfio/uapi.ts';
import { generateEdid } from '../../../src/display/edid.ts';
import { loadEdid, readEdidRegisters } from '../../../src/display/edid-link.ts';
import { MBOCHS_SHARED_BUDGET, MBOCHS_TYPE_DESCRIPTORS } from '../../../devices/mbochs/index.ts';
import { MDPY_SHARED_BUDGET, MDPY_TYPE_DESCRIPTORS, MDPY_TYPES } from '../../../devices/mdpy/index.ts';
import { BochsDrm, type LinuxRelease } from '../../support/guest/bochs-drm.ts';
import type { EdidVram } from '../../../src/display/edid-policy.ts';
import { assignBar, deviceBus } from '../../support/guest/bus.ts';

let dir: string;
let m: Manager;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mdevsim-mgr-'));
  m = new Manager({ dir, memory: memfdMemoryFactory });
});
afterEach(() => {
  m.close();
  rmSync(dir, { recursive: true, force: true });
});

const le16 = (v: number): Uint8Array => new Uint8Array([v & 0xff, (v >> 8) & 0xff]);
const read = (dev: VfioDevice, region: number, offset: number, n: number): Uint8Array => {
  const b = new Uint8Array(n);
  dev.regionRead(region, offset, b);
  return b;
};

/** bochs-drm's mode set, as 16-bit dispi writes at BAR2 0x500 + 2·index. */
function setMode(dev: VfioDevice, w: number, h: number, vramSize: number): void {
  const seq = [[4, 0], [3, 32], [1, w], [2, h], [5, 0], [6, w], [7, Math.floor(vramSize / (w * 4))], [8, 0], [9, 0], [4, 0x41]];
  for (const [i, v] of seq) dev.regionWrite(2, 0x500 + 2 * i!, le16(v!));
}

/** A pattern only a byte-exact copy reproduces. */
function draw(dev: VfioDevice, w: number, h: number): void {
  const px = new Uint8Array(w * h * 4);
  const v = new DataView(px.buffer);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) v.setUint32((y * w + x) * 4, ((x * 7) ^ (y * 13)) * 0x010203 & 0xffffff, true);
  dev.regionWrite(0, 0, px);
}

describe('types()', () => {
  it('lists every device type with the descriptors\' facts and the budgets\' available_instances', () => {
    const types = m.types();
    expect(types.map((t) => t.name)).toEqual(DEVICE_TYPES.map((t) => t.name));
    for (const d of MBOCHS_TYPE_DESCRIPTORS) {
      const t = types.find((x) => x.name === d.name)!;
      expect(t).toMatchObject({
        description: d.description, device_api: 'vfio-pci', family: 'mbochs', display: d.display, edid: d.edid,
        memorySize: d.memorySize, maxResolution: d.maxResolution, resolution: null, migration: false, snapshot: true,
        available_instances: MBOCHS_SHARED_BUDGET.available(d.mbytes),
        // What Linux ≤ 6.12 bochs-drm's drm_vram_helper_mode_valid admits (half, in whole pages), and all of VRAM.
        edidFramebuffer: { half: d.memorySize / 2, full: d.memorySize },
      });
    }
    for (const d of MDPY_TYPE_DESCRIPTORS) {
      const t = types.find((x) => x.name === d.name)!;
      const [w, h] = d.resolution.split('x').map(Number);
      expect(t).toMatchObject({
        description: d.description, device_api: 'vfio-pci', family: 'mdpy', display: d.display, edid: d.edid,
        resolution: { width: w, height: h }, maxResolution: { width: w, height: h }, migration: false, snapshot: true,
        available_instances: MDPY_SHARED_BUDGET.available(1), edidFramebuffer: null,
      });
    }
  });

  it('available_instances drops on create and comes back on remove (shared budgets)', () => {
    const avail = (): Record<string, number> => Object.fromEntries(m.types().map((t) => [t.name, t.available_instances]));
    const before = avail();
    const medium = MBOCHS_TYPE_DESCRIPTORS.find((d) => d.name === 'mbochs-medium')!;
    const a = m.create({ type: 'mbochs-medium' });
    const b = m.create({ type: 'mdpy-xga' });
    const during = avail();
    for (const d of MBOCHS_TYPE_DESCRIPTORS) {
      expect(during[d.name]).toBe(Math.floor((MBOCHS_SHARED_BUDGET.total - medium.mbytes) / d.mbytes));
      expect(during[d.name]).toBe(MBOCHS_SHARED_BUDGET.available(d.mbytes));
    }
    for (const d of MDPY_TYPE_DESCRIPTORS) expect(during[d.name]).toBe(before[d.name]! - 1);
    m.remove(a.name);
    m.remove(b.uuid);
    expect(avail()).toEqual(before);
  });

  it('an exhausted budget refuses create with the errno and one sentence', () => {
    const large = MBOCHS_TYPE_DESCRIPTORS.find((d) => d.name === 'mbochs-large')!;
    const n = MBOCHS_SHARED_BUDGET.available(large.mbytes);
    for (let i = 0; i < n; i++) m.create({ type: 'mbochs-large' });
    expect(m.types().find((t) => t.name === 'mbochs-small')!.available_instances).toBe(0);
    let err: unknown;
    try { m.create({ type: 'mbochs-small' }); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(ManagerError);
    expect(err).toMatchObject({ code: 'ENOSPC' });
    expect((err as Error).message).toMatch(/^No room for another mbochs-small: .*\.$/);
    expect(m.list()).toHaveLength(n);
  });
});

describe('create / list / remove', () => {
  it('names are deterministic, default UUIDs are distinct random v4 ones; the socket is <dir>/<name>.sock', () => {
    const a = m.create({ type: 'mbochs-small' });
    const b = m.create({ type: 'mbochs-small', name: 'mine' });
    const c = m.create({ type: 'mbochs-small' });
    expect([a.name, b.name, c.name]).toEqual(['mbochs-small-0', 'mine', 'mbochs-small-2']);
    for (const u of [a.uuid, b.uuid, c.uuid]) expect(u).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set([a.uuid, b.uuid, c.uuid]).size).toBe(3);
    expect(a.socket).toBe(join(dir, 'mbochs-small-0.sock'));
    expect(m.list().map((i) => i.name)).toEqual(['mbochs-small-0', 'mine', 'mbochs-small-2']);
    expect(m.remove('mine')).toEqual({ name: 'mine', uuid: b.uuid });
    expect(m.list().map((i) => i.name)).toEqual(['mbochs-small-0', 'mbochs-small-2']);
  });

  it('two managers hand out different default UUIDs; an injected source gives fixed ones', () => {
    const other = new Manager({ dir: mkdtempSync(join(tmpdir(), 'mdevsim-uuid-')) });
    try {
      expect(other.create({ type: 'mbochs-small' }).uuid).not.toBe(m.create({ type: 'mbochs-small' }).uuid);
    } finally {
      other.close();
    }
    let n = 0;
    const fixed = new Manager({ dir: mkdtempSync(join(tmpdir(), 'mdevsim-uuid-')), uuid: () => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}` });
    try {
      expect(fixed.create({ type: 'mbochs-small' }).uuid).toBe('00000000-0000-4000-8000-000000000001');
    } finally {
      fixed.close();
    }
  });

  it('refuses bad arguments with one sentence each, creating nothing', () => {
    const uuid = '0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0';
    m.create({ type: 'mdpy-vga', name: 'x', uuid: uuid.toUpperCase() });
    expect(m.list()[0]!.uuid).toBe(uuid);
    const cases: [Parameters<Manager['create']>[0], RegExp][] = [
      [{ type: 'vga9000' }, /^Unknown device type "vga9000"/],
      [{ type: 'mdpy-vga', uuid: 'not-a-uuid' }, /is not of the form 8-4-4-4-12 hex digits\.$/],
      [{ type: 'mdpy-vga', uuid }, /already exists\.$/],
      [{ type: 'mdpy-vga', name: 'x' }, /A device named x already exists\./],
      [{ type: 'mdpy-vga', name: 'a/b' }, /may only use letters/],
      [{ type: 'mdpy-vga', name: 'control' }, /reserved/],
      [{ type: 'mdpy-vga', vbe: 'strict' }, /vbe option applies to mbochs types only/],
      [{ type: 'mdpy-vga', resolution: { width: 800, height: 600 } }, /has no EDID region/],
      [{ type: 'mbochs-small', resolution: { width: 0, height: 600 } }, /resolution must be a width and height/],
    ];
    for (const [args, re] of cases) expect(() => m.create(args)).toThrow(re);
    expect(m.list()).toHaveLength(1);
  });

  it('one name rule: a leading letter or digit, at most 64 characters, and a socket path that fits 107 bytes', () => {
    for (const bad of ['.', '..', '-rf', '.hidden', 'a/b', '', 'é']) {
      expect(() => checkDeviceName(bad, dir), bad).toThrow(`Device name "${bad}" must start with a letter or digit and may only use letters, digits, '.', '_' and '-'.`);
    }
    expect(() => checkDeviceName(42, dir)).toThrow(ConfigError);
    checkDeviceName('a'.repeat(MAX_NAME_LENGTH), '/r');
    expect(() => checkDeviceName('a'.repeat(65), '/r')).toThrow('Device name "' + 'a'.repeat(65) + '" is 65 characters long; at most 64 are allowed.');
    checkDeviceName('0.x_y-z', dir);
    // <dir>/<name>.sock at 107 bytes binds; at 108 it is refused before anything is created.
    const name = 'n'.repeat(40);
    const long = join(dir, 'd'.repeat(107 - Buffer.byteLength(dir) - 1 - 1 - name.length - '.sock'.length));
    expect(Buffer.byteLength(deviceSocketPath(long, name))).toBe(107);
    const near = new Manager({ dir: long, memory: memfdMemoryFactory });
    try {
      expect(near.create({ type: 'mdpy-vga', name }).socket).toBe(deviceSocketPath(long, name));
      const path = deviceSocketPath(long, `${name}x`);
      expect(() => near.create({ type: 'mdpy-vga', name: `${name}x` }))
        .toThrow(`Device socket ${path} is 108 bytes long, more than the 107 a Unix socket path may have; choose a shorter --dir or device name.`);
      expect(near.list()).toHaveLength(1);
    } finally {
      near.close();
    }
    expect(() => m.create({ type: 'mdpy-vga', name: '..' })).toThrow(ConfigError);
    expect(m.list()).toHaveLength(0);
  });

  it('remove closes the socket and destroys the device; unknown names are ENOENT', async () => {
    const a = m.create({ type: 'mdpy-vga' });
    const dev = m.device(a.name);
    const { existsSync } = await import('node:fs');
    expect(existsSync(a.socket)).toBe(true);
    m.remove(a.name);
    expect(existsSync(a.socket)).toBe(false);
    expect(() => dev.info()).toThrow(/destroyed/);
    expect(() => m.remove(a.name)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });
});

describe('describe()', () => {
  for (const type of ['mbochs-medium', 'mdpy-xga']) {
    it(`${type}: equals what info/regionInfo/irqInfo of the device model report`, () => {
      const { name } = m.create({ type });
      const dev = m.device(name);
      const d = m.describe(name);
      const info = dev.info();
      expect(d.info).toMatchObject({ flags: info.flags, numRegions: info.numRegions, numIrqs: info.numIrqs });
      const expected = [];
      for (let i = 0; i < info.numRegions; i++) {
        const r = dev.regionInfo(i);
        expected.push({ index: i, size: r.size, offset: r.offset, flags: r.flags, caps: r.caps });
      }
      expect(d.regions.map((r) => ({ index: r.index, size: r.size, offset: r.offset, flags: r.flags, caps: r.caps }))).toEqual(expected);
      const irqs = [];
      for (let i = 0; i < info.numIrqs; i++) irqs.push({ ...dev.irqInfo(i) });
      expect(d.irqs).toEqual(irqs);
      expect(d.plane.kind).toBe(type.startsWith('mbochs') ? 'dmabuf' : 'region');
      expect(d.type).toBe(type);
      if (type.startsWith('mbochs')) {
        expect(d.plane.current).toBeNull();
        expect(d.edid).toMatchObject({ region: 9, link: 'up', mode: { width: 1280, height: 800 } });
        expect(d.edid!.edidSize).toBe(readEdidRegisters(dev, 9).edidSize);
      } else {
        expect(d.plane.current).toMatchObject({ width: MDPY_TYPES.xga.width, height: MDPY_TYPES.xga.height, format: 'XRGB8888' });
        expect(d.edid).toBeNull();
      }
      // Plain data: it survives msgpack unchanged.
      expect(decode(encode(d))).toEqual(JSON.parse(JSON.stringify(d)));
    });
  }

  it('shows the mode the guest set, without a plane query (no dmabuf record is made)', () => {
    const { name } = m.create({ type: 'mbochs-small' });
    setMode(m.device(name), 640, 480, 4 << 20);
    expect(m.describe(name).plane.current).toEqual({ drmFormat: 0x34325258, format: 'XRGB8888', width: 640, height: 480, stride: 2560, size: 640 * 480 * 4 });
  });
});

describe('snapshot / restore', () => {
  it('mbochs: a new instance gets registers, EDID, VRAM, config and plane byte for byte', () => {
    const a = m.create({ type: 'mbochs-medium' });
    const da = m.device(a.name);
    setMode(da, 800, 600, 16 << 20);
    draw(da, 800, 600);
    loadEdid(da, 9, generateEdid({ width: 1600, height: 900 }));
    da.regionWrite(7, 0x10, new Uint8Array([0, 0, 0, 0xe0])); // BAR0 address
    const bytes = m.snapshot(a.name);

    const raw = decode(bytes) as { format: string; device: { vram: unknown; config: { bytes: unknown } } };
    expect(raw.format).toBe('mdevsim-snapshot');
    expect(raw.device.vram).toBeInstanceOf(Uint8Array);
    expect((raw.device.vram as Uint8Array).length).toBe(16 << 20);
    expect(raw.device.config.bytes).toBeInstanceOf(Uint8Array);

    const b = m.create({ type: 'mbochs-medium', noEdid: true });
    const db = m.device(b.name);
    expect(m.restore(b.name, bytes)).toMatchObject({ name: b.name, edid: { link: 'up', mode: { width: 1600, height: 900 } } });

    const dispi = (d: VfioDevice): number[] => Array.from({ length: 11 }, (_, i) => { const r = read(d, 2, 0x500 + 2 * i, 2); return r[0]! | (r[1]! << 8); });
    expect(dispi(db)).toEqual(dispi(da));
    expect(Buffer.from(read(db, 0, 0, 16 << 20)).equals(Buffer.from(read(da, 0, 0, 16 << 20)))).toBe(true);
    expect(read(db, 7, 0, 256)).toEqual(read(da, 7, 0, 256));
    expect(readEdidRegisters(db, 9)).toEqual(readEdidRegisters(da, 9));
    expect(read(db, 9, 0x800, 0x400)).toEqual(read(da, 9, 0x800, 0x400));
    const q = { argsz: 64, flags: VFIO_GFX_PLANE_TYPE_DMABUF, drmPlaneType: DRM_PLANE_TYPE_PRIMARY };
    const pa = da.queryGfxPlane(q);
    expect(pa).toMatchObject({ width: 800, height: 600 });
    expect(db.queryGfxPlane(q)).toEqual(pa);
    // And the pictures are the same.
    expect(Buffer.from(m.screenshot(b.name).png).equals(Buffer.from(m.screenshot(a.name).png))).toBe(true);
  });

  it('mdpy: framebuffer and config survive into a new instance', () => {
    const a = m.create({ type: 'mdpy-vga' });
    const da = m.device(a.name);
    draw(da, 640, 480);
    const b = m.create({ type: 'mdpy-vga' });
    const db = m.device(b.name);
    m.restore(b.name, m.snapshot(a.name));
    expect(Buffer.from(read(db, 0, 0, 640 * 480 * 4)).equals(Buffer.from(read(da, 0, 0, 640 * 480 * 4)))).toBe(true);
    expect(read(db, 7, 0, 256)).toEqual(read(da, 7, 0, 256));
    const q = { argsz: 64, flags: VFIO_GFX_PLANE_TYPE_REGION, drmPlaneType: DRM_PLANE_TYPE_PRIMARY };
    expect(db.queryGfxPlane(q)).toEqual(da.queryGfxPlane(q));
  });

  it('refuses another type, profile, device option, build or non-snapshot with one sentence, changing nothing', () => {
    const medium = m.create({ type: 'mbochs-medium' });
    const small = m.create({ type: 'mbochs-small' });
    const upstream = m.create({ type: 'mbochs-medium', quirks: 'upstream' });
    const strict = m.create({ type: 'mbochs-medium', vbe: 'strict' });
    const mdpy = m.create({ type: 'mdpy-vga' });
    const snap = m.snapshot(medium.name);
    const before = m.snapshot(small.name);
    const tampered = (patch: Record<string, unknown>): Uint8Array => encode({ ...(decode(snap) as object), ...patch });
    const cases: [string, Uint8Array, RegExp][] = [
      [small.name, snap, /^The snapshot was taken from a device of type mbochs-medium and cannot be restored into mbochs-small-0, whose type is mbochs-small\.$/],
      [mdpy.name, snap, /type mbochs-medium .* whose type is mdpy-vga\.$/],
      [upstream.name, snap, /^The snapshot was taken with quirks 'none' and mbochs-medium-1 runs with quirks 'upstream'\.$/],
      [strict.name, snap, /^The snapshot cannot be restored into mbochs-medium-2: .*vbe sample differs.*\.$/],
      [medium.name, tampered({ compatibility: 'mbochs; mdevsim-mbochs v1; mdevsim 0.0.1' }), /^The snapshot's layout "mbochs; mdevsim-mbochs v1; mdevsim 0\.0\.1" is not the one this build reads \(".*"\), so it cannot be restored\.$/],
      [medium.name, tampered({ version: 2 }), /version 2; this build reads version 1 only\.$/],
      [medium.name, new Uint8Array([0xc1, 1, 2]), /^The data is not an mdevsim snapshot: [^.]*\.$/],
      [medium.name, encode({ hello: 1 }), /^The data is not an mdevsim snapshot/],
    ];
    for (const [target, bytes, re] of cases) {
      let err: unknown;
      try { m.restore(target, bytes); } catch (e) { err = e; }
      expect(err, target).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(re);
    }
    expect(Buffer.from(m.snapshot(small.name)).equals(Buffer.from(before))).toBe(true);
    expect(snapshotCompatibility(DEVICE_TYPES.find((t) => t.name === 'mbochs-medium')!)).toMatch(/^mbochs; mdevsim-mbochs v1; mdevsim \d+\.\d+\.\d+/);
  });
});

describe('setResolution()', () => {
  /** A guest of a Linux release booted on the device (driver load and its first connector probe). */
  function guest(name: string, kernel: LinuxRelease): BochsDrm {
    const bus = deviceBus(m.device(name));
    assignBar(bus, 0, 0xe0000000);
    const drm = new BochsDrm(bus, { kernel });
    drm.probe();
    return drm;
  }

  it('Linux 6.13 bochs-drm (bochs.c bochs_connector_helper_get_modes() re-reads the EDID, commit 759ef92532f3) offers the new mode at its next connector probe; Linux 6.12 (bochs_connector_init() reads it once) only after a driver reload', () => {
    const { name } = m.create({ type: 'mbochs-medium' });
    const now = guest(name, '6.13');
    const old = guest(name, '6.12');
    expect(now.probeResult!.preferred).toEqual({ hdisplay: 1280, vdisplay: 800 });

    expect(m.setResolution(name, { width: 1920, height: 1080 })).toEqual({ name, link: 'up', requested: { width: 1920, height: 1080 }, width: 1920, height: 1080, clamped: false });
    expect(now.probeConnector().preferred).toEqual({ hdisplay: 1920, vdisplay: 1080 });
    expect(old.probeConnector().preferred).toEqual({ hdisplay: 1280, vdisplay: 800 });
    expect(old.probe().preferred).toEqual({ hdisplay: 1920, vdisplay: 1080 }); // rmmod/modprobe bochs, or a reboot
    expect(m.describe(name).edid).toMatchObject({ link: 'up', mode: { width: 1920, height: 1080 } });

    expect(m.setResolution(name, 'off')).toEqual({ name, link: 'down' });
    expect(now.probeConnector()).toMatchObject({ edid: undefined, preferred: { hdisplay: 1024, vdisplay: 768 } });
    expect(old.probeConnector().preferred).toEqual({ hdisplay: 1920, vdisplay: 1080 });
    expect(m.list()[0]!.edid).toMatchObject({ link: 'down' });
  });

  it("a request the policy must shrink fits half of VRAM, which Linux 6.12 bochs-drm (drm_vram_helper_mode_valid) accepts; an exact 1920×1440 on mbochs-medium is honoured with a warning, and the 6.12 guest refuses it while 6.13 shows it", () => {
    const { name } = m.create({ type: 'mbochs-medium' });
    const clamped = m.setResolution(name, { width: 2560, height: 1600 });
    expect(clamped).toMatchObject({ link: 'up', width: 1672, height: 1254, clamped: true });
    expect(clamped.link === 'up' && clamped.reason).toMatch(/max_xres×max_yres is 1920×1440, and a 32 bpp framebuffer must fit half of the 16 MiB of VRAM/);
    expect(guest(name, '6.12').probeResult).toMatchObject({ refused: [], preferred: { hdisplay: 1672, vdisplay: 1254 } });

    const lines: string[] = [];
    setLogFormat('json', { sink: (l) => lines.push(l) });
    let exact;
    try { exact = m.setResolution(name, { width: 1920, height: 1440 }); } finally { setLogFormat('human'); }
    expect(exact).toMatchObject({ link: 'up', width: 1920, height: 1440, clamped: false });
    expect(lines.map((l) => JSON.parse(l))).toEqual([expect.objectContaining({ level: 'warn', category: 'mgmt', event: 'edid-vram', name, width: 1920, height: 1440, msg: `${name}: ${exact.link === 'up' ? exact.warning : ''}` })]);
    expect(exact.link === 'up' && exact.warning).toBe('1920×1440 takes more than half of the 16 MiB of VRAM: Linux bochs-drm up to 6.12 (drm_vram_helper_mode_valid) refuses it and picks another mode; 6.13 and later show it.');
    expect(guest(name, '6.12').probeResult!.refused).toEqual([{ hdisplay: 1920, vdisplay: 1440 }]);
    expect(guest(name, '6.13').probeResult).toMatchObject({ refused: [], preferred: { hdisplay: 1920, vdisplay: 1440 } });
  });

  it("edidVram 'full' (per device, or the manager's default) lets the policy's own picks use all of VRAM, for 6.13+ guests, without a warning", () => {
    const full = m.create({ type: 'mbochs-medium', edidVram: 'full' });
    expect(full.edidVram).toBe('full');
    expect(m.setResolution(full.name, { width: 2560, height: 1600 })).toMatchObject({ width: 1920, height: 1440, clamped: true });
    const exact = m.setResolution(full.name, { width: 1920, height: 1440 });
    expect(exact.link === 'up' && exact.warning).toBeUndefined();
    expect(m.create({ type: 'mbochs-small' }).edidVram).toBe('half');
    expect(m.create({ type: 'mdpy-vga' }).edidVram).toBeNull();
    expect(() => m.create({ type: 'mdpy-vga', edidVram: 'full' })).toThrow(/^mdpy-vga has no EDID region, so resolution, noEdid and edidVram do not apply \(its mode is fixed\)\.$/);
    expect(() => m.create({ type: 'mbochs-small', edidVram: 'all' as EdidVram })).toThrow(/^edidVram must be half or full, not all\.$/);

    const dir2 = mkdtempSync(join(tmpdir(), 'mdevsim-mgr-'));
    const m2 = new Manager({ dir: dir2, memory: memfdMemoryFactory, edidVram: 'full' });
    try {
      expect(m2.create({ type: 'mbochs-large', resolution: { width: 8192, height: 8192 } })).toMatchObject({ edidVram: 'full', resolution: { width: 4095, height: 4095 } });
      expect(m2.create({ type: 'mbochs-large', resolution: { width: 8192, height: 8192 }, edidVram: 'half' })).toMatchObject({ edidVram: 'half', resolution: { width: 2896, height: 2896 } });
    } finally {
      m2.close();
      rmSync(dir2, { recursive: true, force: true });
    }
  });

  it('refuses a device without EDID', () => {
    const { name } = m.create({ type: 'mdpy-xga' });
    expect(() => m.setResolution(name, { width: 800, height: 600 })).toThrow(/^mdpy-xga-0 is a mdpy-xga, which has no EDID region \(its mode is fixed at 1024x768\)\.$/);
  });
});

describe('screenshot()', () => {
  it('mbochs: the plane the guest set, as a PNG of the VRAM pixels', () => {
    const { name } = m.create({ type: 'mbochs-small' });
    const dev = m.device(name);
    expect(m.screenshot(name)).toMatchObject({ state: 'none', reason: 'no-mode', width: 0, png: new Uint8Array(0) });
    setMode(dev, 320, 200, 4 << 20);
    draw(dev, 320, 200);
    const shot = m.screenshot(name);
    expect(shot).toMatchObject({ name, state: 'plane', width: 320, height: 200, format: 'XRGB8888' });
    const png = PNG.sync.read(Buffer.from(shot.png));
    const vram = read(dev, 0, 0, 320 * 200 * 4);
    for (const i of [0, 1, 321, 320 * 200 - 1]) {
      expect([...png.data.subarray(i * 4, i * 4 + 4)]).toEqual([vram[i * 4 + 2], vram[i * 4 + 1], vram[i * 4], 255]);
    }
    m.setResolution(name, 'off');
    expect(m.screenshot(name)).toMatchObject({ state: 'none', reason: 'link-down' });
  });

  it("'upstream' quirks: the first query of a new mode fails ENOMEM (mbochs) and is asked again; mdpy's plane names region 16", () => {
    const mb = m.create({ type: 'mbochs-small', quirks: 'upstream' });
    setMode(m.device(mb.name), 128, 64, 4 << 20);
    expect(m.screenshot(mb.name)).toMatchObject({ state: 'plane', width: 128, height: 64 });
    const md = m.create({ type: 'mdpy-vga', quirks: 'upstream' });
    expect(m.describe(md.name).plane.current).toMatchObject({ width: 640, height: 480 });
    expect(m.screenshot(md.name)).toMatchObject({ state: 'plane', width: 640, height: 480 });
  });

  it('mdpy: the reset gradient', () => {
    const { name } = m.create({ type: 'mdpy-vga' });
    const png = PNG.sync.read(Buffer.from(m.screenshot(name).png));
    expect([png.width, png.height]).toEqual([640, 480]);
    expect(png.data[(240 * 640 + 5) * 4]).toBe(Math.floor((240 * 255) / 480));
  });
});

describe('record', () => {
  /** A manager recording to `<dir>/rec-*.trace`, and a way to wait for its server events. */
  function recording(replaceRecords: boolean): { manager: Manager; next: (kind: string) => Promise<void> } {
    const waiters: { kind: string; done: () => void }[] = [];
    const manager = new Manager({
      dir: join(dir, 'sockets'), memory: memfdMemoryFactory, record: join(dir, 'rec'), replaceRecords,
      onServerEvent: (e) => {
        const i = waiters.findIndex((w) => w.kind === e.kind);
        if (i >= 0) waiters.splice(i, 1)[0]!.done();
      },
    });
    return { manager, next: (kind) => new Promise<void>((done) => { waiters.push({ kind, done }); }) };
  }

  it('an existing trace file is left alone and the connection served unrecorded; with replaceRecords it is replaced', async () => {
    const trace = join(dir, 'rec-mdpy-vga-0.trace');
    writeFileSync(trace, 'keep');
    for (const replace of [false, true]) {
      const { manager, next } = recording(replace);
      try {
        const { socket } = manager.create({ type: 'mdpy-vga' });
        const connected = next('connected');
        const client = await VfioUserClient.connect(socket);
        await connected;
        expect(await client.deviceInfo()).toMatchObject({ numIrqs: expect.any(Number) });
        const gone = next('disconnected');
        client.close();
        await gone;
      } finally {
        manager.close();
      }
      if (!replace) expect(readFileSync(trace, 'utf8')).toBe('keep');
      else expect(readTrace(trace).header.device.type).toBe('mdpy-vga');
    }
  });
});
