/**
 * The definition store on a real temporary directory: define / modify /
 * undefine as the files on disk show them, the mdevctl per-device shape
 * checked field by field, and corrupt or hostile files — each reported once,
 * by name, and otherwise left alone (not loaded, not replaced, not touched).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DefinitionStore, MAX_DEFINITION_BYTES, fromMdevctl, inputFromMdevctl, mdevctlDump, toMdevctl, type Definition,
} from '../../../src/mgmt/definitions.ts';
import { ManagerError } from '../../../src/mgmt/manager.ts';
import { createArgs } from '../../../src/mgmt/defined-devices.ts';
import { ConfigError } from '../../../src/util/errors.ts';
import { MDEVCTL_LIST_LIKE, parseMdevctlList } from '../../support/mdevctl-shape.ts';

let base: string;
let dir: string;
let store: DefinitionStore;
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'mdevsim-defs-'));
  dir = join(base, 'config');
  store = DefinitionStore.open(dir);
});
afterEach(() => {
  rmSync(base, { recursive: true, force: true });
});

const UUID_A = '0b1c2d3e-4f50-4617-8283-94a5b6c7d8e9';
const UUID_B = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';

const fileOf = (uuid: string): string => join(dir, `${uuid}.json`);
const text = (uuid: string): string => readFileSync(fileOf(uuid), 'utf8');
/** What the store must write: two-space JSON and a trailing newline. */
const pretty = (doc: unknown): string => `${JSON.stringify(doc, null, 2)}\n`;

function errorOf(f: () => unknown): Error {
  try {
    f();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('define, modify and undefine through a real store', () => {
  it('define writes <uuid>.json in mdevctl\'s per-device shape, pretty with a trailing newline, mode 0600, no temporary file left', () => {
    const d = store.define({ type: 'mbochs-medium', uuid: UUID_A, start: 'auto', resolution: { width: 1024, height: 768 } });
    expect(d).toEqual({ uuid: UUID_A, type: 'mbochs-medium', name: 'mbochs-medium-0', start: 'auto', resolution: { width: 1024, height: 768 } });
    expect(readdirSync(dir)).toEqual([`${UUID_A}.json`]);
    expect(text(UUID_A)).toBe(
      '{\n  "mdev_type": "mbochs-medium",\n  "start": "auto",\n  "attrs": [\n    {\n      "name": "mbochs-medium-0"\n    },\n' +
      '    {\n      "resolution": "1024x768"\n    }\n  ]\n}\n',
    );
    expect(statSync(fileOf(UUID_A)).mode & 0o7777).toBe(0o600);
    expect(store.load()).toEqual({ definitions: [d], problems: [] });
  });

  it('every attribute survives the file: define, then load in a new store, gives the same definition', () => {
    const snap = join(base, 'state.snap');
    const d = store.define({
      type: 'mbochs-small', uuid: UUID_A, name: 'vm1-gpu', start: 'manual', resolution: { width: 800, height: 600 }, noEdid: true,
      quirks: 'upstream', vbe: 'strict', restore: snap, socketGroup: 'kvm', socketMode: 0o660,
    });
    expect(JSON.parse(text(UUID_A))).toEqual({
      mdev_type: 'mbochs-small', start: 'manual',
      attrs: [{ name: 'vm1-gpu' }, { resolution: '800x600' }, { edid: 'off' }, { quirks: 'upstream' }, { vbe: 'strict' }, { restore: snap }, { socket_group: 'kvm' }, { socket_mode: '0660' }],
    });
    expect(DefinitionStore.open(dir).load().definitions).toEqual([d]);
  });

  it('a random v4 UUID and free TYPE-N names when none are given; a given UUID is stored in lower case', () => {
    const a = store.define({ type: 'mdpy-vga' });
    const b = store.define({ type: 'mdpy-vga', uuid: UUID_B.toUpperCase() });
    expect(a.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect([a.name, a.start, b.name, b.uuid]).toEqual(['mdpy-vga-0', 'manual', 'mdpy-vga-1', UUID_B]);
    expect(readdirSync(dir).sort()).toEqual([`${a.uuid}.json`, `${UUID_B}.json`].sort());
  });

  it('define with a UUID or a name already taken is EEXIST and leaves the store as it was', () => {
    store.define({ type: 'mdpy-vga', uuid: UUID_A, name: 'one' });
    const before = text(UUID_A);
    for (const input of [{ type: 'mbochs-small', uuid: UUID_A }, { type: 'mbochs-small', uuid: UUID_A.toUpperCase() }, { type: 'mbochs-small', name: 'one' }]) {
      const err = errorOf(() => store.define(input));
      expect(err).toBeInstanceOf(ManagerError);
      expect((err as ManagerError).code).toBe('EEXIST');
    }
    expect(readdirSync(dir)).toEqual([`${UUID_A}.json`]);
    expect(text(UUID_A)).toBe(before);
  });

  it('define refuses a malformed UUID, an unknown type and a bad name with a ConfigError, writing nothing', () => {
    expect(errorOf(() => store.define({ type: 'mdpy-vga', uuid: 'not-a-uuid' })).message).toBe('UUID "not-a-uuid" is not of the form 8-4-4-4-12 hex digits.');
    expect(errorOf(() => store.define({ type: 'nvidia-222' }))).toBeInstanceOf(ConfigError);
    const bad = errorOf(() => store.define({ type: 'mdpy-vga', name: '../x' }));
    expect(bad).toBeInstanceOf(ConfigError);
    expect(bad.message).toContain('attrs[0].name');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('modify replaces the file in place (by name or UUID), null clears an attribute, no temporary file left', () => {
    store.define({ type: 'mbochs-medium', uuid: UUID_A, name: 'gpu', resolution: { width: 1024, height: 768 }, vbe: 'strict' });
    const m1 = store.modify('gpu', { start: 'auto', quirks: 'upstream', resolution: { width: 1920, height: 1080 } });
    expect(m1).toEqual({ uuid: UUID_A, type: 'mbochs-medium', name: 'gpu', start: 'auto', resolution: { width: 1920, height: 1080 }, vbe: 'strict', quirks: 'upstream' });
    expect(text(UUID_A)).toBe(pretty({ mdev_type: 'mbochs-medium', start: 'auto', attrs: [{ name: 'gpu' }, { resolution: '1920x1080' }, { quirks: 'upstream' }, { vbe: 'strict' }] }));
    const m2 = store.modify(UUID_A.toUpperCase(), { resolution: null, vbe: null, name: 'renamed' });
    expect(m2).toEqual({ uuid: UUID_A, type: 'mbochs-medium', name: 'renamed', start: 'auto', quirks: 'upstream' });
    expect(text(UUID_A)).toBe(pretty({ mdev_type: 'mbochs-medium', start: 'auto', attrs: [{ name: 'renamed' }, { quirks: 'upstream' }] }));
    expect(statSync(fileOf(UUID_A)).mode & 0o7777).toBe(0o600);
    expect(readdirSync(dir)).toEqual([`${UUID_A}.json`]);
    expect(store.load().definitions).toEqual([m2]);
  });

  it('modify to a taken name is EEXIST, of nothing is ENOENT, to an invalid definition a ConfigError; the file stays', () => {
    store.define({ type: 'mdpy-vga', uuid: UUID_A, name: 'a' });
    store.define({ type: 'mbochs-small', uuid: UUID_B, name: 'b' });
    const before = text(UUID_A);
    expect((errorOf(() => store.modify('a', { name: 'b' })) as ManagerError).code).toBe('EEXIST');
    expect((errorOf(() => store.modify('nothing', { start: 'auto' })) as ManagerError).code).toBe('ENOENT');
    // mdpy has no EDID: a resolution is refused, not stored.
    expect(errorOf(() => store.modify('a', { resolution: { width: 800, height: 600 } }))).toBeInstanceOf(ConfigError);
    expect(errorOf(() => store.modify('a', { vbe: 'strict' })).message).toContain('attrs.vbe');
    expect(text(UUID_A)).toBe(before);
  });

  it('undefine removes the file (by name or UUID) and nothing else; an unknown one is ENOENT', () => {
    const a = store.define({ type: 'mdpy-vga', uuid: UUID_A, name: 'a' });
    const b = store.define({ type: 'mdpy-vga', uuid: UUID_B, name: 'b' });
    expect(store.undefine('a')).toEqual(a);
    expect(readdirSync(dir)).toEqual([`${UUID_B}.json`]);
    expect(store.undefine(UUID_B)).toEqual(b);
    expect(readdirSync(dir)).toEqual([]);
    expect((errorOf(() => store.undefine('a')) as ManagerError).code).toBe('ENOENT');
    expect(store.load()).toEqual({ definitions: [], problems: [] });
  });
});

describe('fromMdevctl names the field that is wrong', () => {
  const ok = { mdev_type: 'mbochs-medium', start: 'manual', attrs: [{ name: 'gpu' }] };
  const cases: Array<[string, unknown, string]> = [
    ['not an object', [ok], 'f.json: the document must be a JSON object'],
    ['an unknown top-level key', { ...ok, parent: 'x' }, 'f.json: "parent" is not a field of a definition'],
    ['mdev_type missing', { start: 'auto', attrs: [] }, 'f.json: mdev_type must be a string'],
    ['mdev_type a number', { ...ok, mdev_type: 7 }, 'f.json: mdev_type must be a string'],
    ['mdev_type unknown', { ...ok, mdev_type: 'i915-GVTg_V5_4' }, 'f.json: mdev_type '],
    ['start a number', { ...ok, start: 1 }, 'f.json: start must be "auto" or "manual"'],
    ['start a word of its own', { ...ok, start: 'boot' }, 'f.json: start must be "auto" or "manual"'],
    ['attrs an object', { ...ok, attrs: {} }, 'f.json: attrs must be a list of one-key objects'],
    ['an attr with two keys', { ...ok, attrs: [{ name: 'gpu', vbe: 'strict' }] }, 'f.json: attrs[0] must be an object with exactly one key'],
    ['an attr that is a string', { ...ok, attrs: ['name=gpu'] }, 'f.json: attrs[0] must be an object with exactly one key'],
    ['an unknown attribute', { ...ok, attrs: [{ name: 'gpu' }, { a: 1 }] }, 'f.json: attrs[1] names "a", which is not an attribute'],
    ['a value that is not a string', { ...ok, attrs: [{ name: 1 }] }, 'f.json: attrs[0].name must be a string'],
    ['an attribute given twice', { ...ok, attrs: [{ name: 'gpu' }, { name: 'gpu2' }] }, 'f.json: attrs[1].name is given twice'],
    ['a bad name', { ...ok, attrs: [{ name: 'a/b' }] }, 'f.json: attrs[0].name must be a device name'],
    ['the name "control"', { ...ok, attrs: [{ name: 'control' }] }, 'f.json: attrs[0].name must be a device name'],
    ['a bad resolution', { ...ok, attrs: [{ name: 'gpu' }, { resolution: '1024*768' }] }, 'f.json: attrs[1].resolution must be WIDTHxHEIGHT'],
    ['edid other than off', { ...ok, attrs: [{ name: 'gpu' }, { edid: 'on' }] }, 'f.json: attrs[1].edid must be "off"'],
    ['unknown quirks', { ...ok, attrs: [{ name: 'gpu' }, { quirks: 'some' }] }, 'f.json: attrs[1].quirks must be none or upstream'],
    ['unknown vbe', { ...ok, attrs: [{ name: 'gpu' }, { vbe: 'loose' }] }, 'f.json: attrs[1].vbe must be sample or strict'],
    ['a relative restore path', { ...ok, attrs: [{ name: 'gpu' }, { restore: 'state.snap' }] }, 'f.json: attrs[1].restore must be an absolute path'],
    ['a bad socket group', { ...ok, attrs: [{ name: 'gpu' }, { socket_group: 'a b' }] }, 'f.json: attrs[1].socket_group must be a group name or number'],
    ['a socket mode that is not octal', { ...ok, attrs: [{ name: 'gpu' }, { socket_mode: 'rw' }] }, 'f.json: attrs[1].socket_mode must be an octal mode such as 0600 or 0660, not "rw".'],
    ['a socket mode for others', { ...ok, attrs: [{ name: 'gpu' }, { socket_mode: '0666' }] }, 'f.json: attrs[1].socket_mode 0666 may grant read and write to the owner and the group only'],
    ['a resolution for a type without EDID', { mdev_type: 'mdpy-vga', start: 'auto', attrs: [{ name: 'x' }, { resolution: '800x600' }] }, 'f.json: attrs give resolution, edid or edid_vram'],
    ['edid_vram for a type without EDID', { mdev_type: 'mdpy-vga', start: 'auto', attrs: [{ name: 'x' }, { edid_vram: 'full' }] }, 'f.json: attrs give resolution, edid or edid_vram, which mdpy-vga has no EDID for'],
    ['an unknown edid_vram', { ...ok, attrs: [{ name: 'gpu' }, { edid_vram: 'all' }] }, 'f.json: attrs[1].edid_vram must be half or full, not "all"'],
    ['vbe for an mdpy type', { mdev_type: 'mdpy-vga', start: 'auto', attrs: [{ name: 'x' }, { vbe: 'strict' }] }, 'f.json: attrs.vbe applies to mbochs types only'],
    ['no name', { mdev_type: 'mdpy-vga', start: 'auto', attrs: [] }, 'f.json: attrs must name the device'],
  ];
  for (const [what, doc, message] of cases) {
    it(`${what}: a ConfigError starting "${message}"`, () => {
      const err = errorOf(() => fromMdevctl(doc, UUID_A, 'f.json'));
      expect(err).toBeInstanceOf(ConfigError);
      expect(err.message.startsWith(message), err.message).toBe(true);
    });
  }

  it('inputFromMdevctl takes mdevctl\'s own document, which has no name, and no attrs at all', () => {
    expect(inputFromMdevctl({ mdev_type: 'mdpy-vga', start: 'auto', attrs: [] }, 'f.json')).toEqual({ type: 'mdpy-vga', start: 'auto' });
    expect(inputFromMdevctl({ mdev_type: 'mdpy-vga', start: 'manual' }, 'f.json')).toEqual({ type: 'mdpy-vga', start: 'manual' });
  });

  it('toMdevctl and fromMdevctl are inverse for a full definition', () => {
    const d: Definition = { uuid: UUID_A, type: 'mbochs-large', name: 'big', start: 'auto', resolution: { width: 2560, height: 1600 }, edidVram: 'full', quirks: 'none', vbe: 'sample', socketMode: 0o620, socketGroup: '4242' };
    expect(toMdevctl(d).attrs).toContainEqual({ edid_vram: 'full' });
    expect(createArgs(d)).toMatchObject({ type: 'mbochs-large', resolution: { width: 2560, height: 1600 }, edidVram: 'full' });
    expect(fromMdevctl(JSON.parse(JSON.stringify(toMdevctl(d))), UUID_A.toUpperCase(), 'x')).toEqual(d);
  });
});

describe('corrupt and hostile files: one problem each, naming the file; nothing else changes', () => {
  let good: Definition;
  beforeEach(() => {
    good = store.define({ type: 'mdpy-vga', uuid: UUID_A, name: 'good', start: 'auto' });
  });

  const valid = pretty({ mdev_type: 'mbochs-small', start: 'auto', attrs: [{ name: 'planted' }] });

  /** The store holds `good` and the one hostile entry `name`: load reports it once and loads `good`. */
  function expectOneProblem(name: string, contains: string): void {
    const file = join(dir, name);
    const { definitions, problems } = store.load();
    expect(definitions).toEqual([good]);
    expect(problems).toHaveLength(1);
    expect(problems[0]!.file).toBe(file);
    expect(problems[0]!.message).toContain(file);
    expect(problems[0]!.message).toContain(contains);
    expect(problems[0]!.message).toMatch(/; skipped\.$/);
  }

  /** The hostile file is still exactly as planted after load and after a define of its UUID, which is refused. */
  function expectUntouched(name: string, bytes: Buffer, uuid = UUID_B): void {
    const file = join(dir, name);
    const st = lstatSync(file);
    const err = errorOf(() => store.define({ type: 'mdpy-vga', uuid, name: 'replacement' }));
    expect((err as ManagerError).code).toBe('EEXIST');
    expect(readFileSync(file).equals(bytes)).toBe(true);
    const after = lstatSync(file);
    expect([after.ino, after.mtimeMs, after.mode, after.uid]).toEqual([st.ino, st.mtimeMs, st.mode, st.uid]);
    expect(readdirSync(dir).sort()).toEqual([`${UUID_A}.json`, name].sort());
  }

  function plant(content: string | Buffer, mode = 0o600): { name: string; bytes: Buffer } {
    const name = `${UUID_B}.json`;
    const bytes = Buffer.from(content);
    writeFileSync(join(dir, name), bytes, { mode });
    chmodSync(join(dir, name), mode);
    return { name, bytes };
  }

  const contentCases: Array<[string, string, string]> = [
    ['bad JSON', '{"mdev_type": "mdpy-vga", ', 'is not valid UTF-8 JSON'],
    ['an empty file', '', 'is not valid UTF-8 JSON'],
    ['invalid UTF-8', '\xff\xfe', 'is not valid UTF-8 JSON'],
    ['start: 1', pretty({ mdev_type: 'mdpy-vga', start: 1, attrs: [{ name: 'x' }] }), ': start must be'],
    ['attrs: {}', pretty({ mdev_type: 'mdpy-vga', start: 'auto', attrs: {} }), ': attrs must be a list'],
    ['attrs: [{"a": 1}]', pretty({ mdev_type: 'mdpy-vga', start: 'auto', attrs: [{ a: 1 }] }), ': attrs[0] names "a"'],
    ['a two-key attr', pretty({ mdev_type: 'mdpy-vga', start: 'auto', attrs: [{ name: 'x', quirks: 'none' }] }), ': attrs[0] must be an object with exactly one key'],
    ['an unknown type', pretty({ mdev_type: 'nvidia-63', start: 'auto', attrs: [{ name: 'x' }] }), ': mdev_type '],
    ['an unknown attribute', pretty({ mdev_type: 'mdpy-vga', start: 'auto', attrs: [{ name: 'x' }, { assign_adapter: '5' }] }), ': attrs[1] names "assign_adapter"'],
    ['the name of another definition', pretty({ mdev_type: 'mdpy-vga', start: 'auto', attrs: [{ name: 'good' }] }), ': attrs.name good is already the name of'],
  ];
  for (const [what, content, contains] of contentCases) {
    it(what, () => {
      const { name, bytes } = plant(Buffer.from(content, 'latin1'));
      expectOneProblem(name, contains);
      expectUntouched(name, bytes);
    });
  }

  it('a symbolic link to a valid definition elsewhere', () => {
    const elsewhere = join(base, 'elsewhere.json');
    writeFileSync(elsewhere, valid, { mode: 0o600 });
    const name = `${UUID_B}.json`;
    symlinkSync(elsewhere, join(dir, name));
    expectOneProblem(name, 'is a symbolic link');
    expect(store.load().problems[0]!.message).toBe(`Definition ${join(dir, name)} is a symbolic link; remove it or replace it with a file of your own; skipped.`);
    expect(errorOf(() => store.define({ type: 'mdpy-vga', uuid: UUID_B })).message).toContain('already exists');
    expect(lstatSync(join(dir, name)).isSymbolicLink()).toBe(true);
    expect(readFileSync(elsewhere, 'utf8')).toBe(valid);
  });

  it('a file of 100 KiB (valid JSON padded with spaces)', () => {
    const content = valid.replace('\n}', `${' '.repeat(100 * 1024 - valid.length)}\n}`);
    expect(content.length).toBe(100 * 1024);
    const { name, bytes } = plant(content);
    expectOneProblem(name, `is ${100 * 1024} bytes long, more than the ${MAX_DEFINITION_BYTES}`);
    expectUntouched(name, bytes);
  });

  it('a group-writable file (valid content)', () => {
    const { name, bytes } = plant(valid, 0o620);
    expectOneProblem(name, 'is writable by group or others (mode 0620)');
    expectUntouched(name, bytes);
  });

  it('a directory where a file should be', () => {
    const name = `${UUID_B}.json`;
    mkdirSync(join(dir, name), { mode: 0o700 });
    expectOneProblem(name, 'is not a file; remove it or replace it with a file of your own');
  });

  const root = process.geteuid?.() === 0;
  if (!root) console.warn('definitions: the file-of-another-uid case skipped: it needs root to chown (CI runs as root).');
  it.skipIf(!root)('a file owned by another uid (65534, valid content)', () => {
    const { name, bytes } = plant(valid);
    chownSync(join(dir, name), 65534, 65534);
    expectOneProblem(name, 'is owned by uid 65534');
    expectUntouched(name, bytes);
  });

  it('a file whose name is not a UUID', () => {
    const name = 'my-gpu.json';
    writeFileSync(join(dir, name), valid, { mode: 0o600 });
    expectOneProblem(name, 'is not a definition (their names are <uuid>.json, lower case)');
    expect(readFileSync(join(dir, name), 'utf8')).toBe(valid);
  });

  it('a file named by an upper-case UUID: skipped, and a define of that UUID writes its own lower-case file beside it', () => {
    const name = `${UUID_B.toUpperCase()}.json`;
    writeFileSync(join(dir, name), valid, { mode: 0o600 });
    expectOneProblem(name, 'is not a definition (their names are <uuid>.json, lower case)');
    const d = store.define({ type: 'mdpy-vga', uuid: UUID_B.toUpperCase(), name: 'lower' });
    expect(d.uuid).toBe(UUID_B);
    expect(readFileSync(join(dir, name), 'utf8')).toBe(valid);
    expect(readdirSync(dir).sort()).toEqual([`${UUID_A}.json`, `${UUID_B}.json`, name].sort());
  });

  it('files starting with a dot (editor and temporary files) are not definitions and not problems', () => {
    writeFileSync(join(dir, `.${UUID_B}.json.swp`), 'junk', { mode: 0o600 });
    expect(store.load()).toEqual({ definitions: [good], problems: [] });
  });
});

describe('the store directory must be ours and not writable by others', () => {
  it('a group-writable directory refuses to open', () => {
    const d = join(base, 'gw');
    mkdirSync(d, { mode: 0o700 });
    chmodSync(d, 0o770);
    const err = errorOf(() => DefinitionStore.open(d));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe(`Definition directory ${d} is writable by group or others (mode 0770); run chmod 700 ${d} or choose another with --config-dir.`);
  });

  it('a symbolic link to a good directory refuses to open', () => {
    const link = join(base, 'link');
    symlinkSync(dir, link);
    const err = errorOf(() => DefinitionStore.open(link));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe(`Definition directory ${link} is a symbolic link; remove it or choose another with --config-dir.`);
  });

  it('a missing directory is created 0700', () => {
    const d = join(base, 'new', 'mdevsim');
    DefinitionStore.open(d);
    expect(statSync(d).mode & 0o7777).toBe(0o700);
  });
});

describe('mdevctlDump: the shape of mdevctl list --defined --dumpjson', () => {
  it('is [] when there are no definitions (mdevctl prints [] rather than an empty object)', () => {
    expect(mdevctlDump([])).toEqual([]);
    expect(parseMdevctlList(JSON.stringify(mdevctlDump([])))).toEqual([]);
  });

  it('is [{"mdevsim": [{UUID: {mdev_type, start, attrs}}, …]}] sorted by UUID', () => {
    const b = store.define({ type: 'mbochs-medium', uuid: UUID_B, name: 'b', start: 'auto', resolution: { width: 800, height: 600 } });
    const a = store.define({ type: 'mdpy-vga', uuid: UUID_A, name: 'a' });
    expect(mdevctlDump([b, a])).toEqual([{
      mdevsim: [
        { [UUID_A]: { mdev_type: 'mdpy-vga', start: 'manual', attrs: [{ name: 'a' }] } },
        { [UUID_B]: { mdev_type: 'mbochs-medium', start: 'auto', attrs: [{ name: 'b' }, { resolution: '800x600' }] } },
      ],
    }]);
  });

  it('the reader of mdevctl\'s structure accepts a document shaped like its fixture, and rejects other shapes', () => {
    expect(parseMdevctlList(MDEVCTL_LIST_LIKE).map((d) => [d.parent, d.attrs.length])).toEqual([['0000:00:02.0', 0], ['0000:00:02.0', 3], ['0000:00:03.0', 1]]);
    expect(() => parseMdevctlList('{}')).toThrow();
    expect(() => parseMdevctlList('[{}]')).toThrow();
    expect(() => parseMdevctlList(JSON.stringify([{ p: [{ [UUID_A]: { mdev_type: 't', start: 'auto', attrs: {} } }] }]))).toThrow();
    expect(() => parseMdevctlList(JSON.stringify([{ p: [{ [UUID_A]: { mdev_type: 't', start: 'auto', attrs: [{ a: '1', b: '2' }] } }] }]))).toThrow();
  });

  it('our dump, as text, parses with mdevctl\'s structure, and each device reads back as the same definition', () => {
    const defs = [
      store.define({ type: 'mbochs-large', uuid: UUID_B, name: 'vm-gpu', start: 'auto', noEdid: true, socketGroup: 'kvm', socketMode: 0o660 }),
      store.define({ type: 'mdpy-xga', uuid: UUID_A, name: 'vm-fb', quirks: 'upstream' }),
    ];
    const listed = parseMdevctlList(JSON.stringify(mdevctlDump(defs), null, 2));
    expect(listed.map((d) => [d.parent, d.uuid, d.mdev_type, d.start])).toEqual([
      ['mdevsim', UUID_A, 'mdpy-xga', 'manual'],
      ['mdevsim', UUID_B, 'mbochs-large', 'auto'],
    ]);
    const back = listed.map((d) => fromMdevctl({ mdev_type: d.mdev_type, start: d.start, attrs: d.attrs.map(([k, v]) => ({ [k]: v })) }, d.uuid, 'dump'));
    expect(back).toEqual([defs[1], defs[0]]);
  });
});
