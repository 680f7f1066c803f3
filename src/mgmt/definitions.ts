/**
 * Persistent device definitions, as mdevctl keeps them: one JSON file per
 * device, named by its UUID, in mdevctl's per-device shape —
 * `{"mdev_type": TYPE, "start": "auto"|"manual", "attrs": [{NAME: VALUE}, …]}`
 * (mdevctl 1.x src/mdev.rs to_json; mdevctl.rst "attrs") — with mdevsim's
 * own attributes (ATTRS below) and one pseudo-parent, `mdevsim`.
 *
 * The store is a directory of ours ($XDG_CONFIG_HOME/mdevsim, --config-dir,
 * /etc/mdevsim for the system unit), checked like the socket directory: a
 * definition decides what a VM is given, so a file anyone else could write
 * must not count. Files are written atomically (a temporary file, fsync,
 * rename, fsync of the directory). A file that does not validate is
 * reported with its name and field and skipped, and never overwritten: a
 * definition with its UUID cannot be made until the user mends or removes it.
 */
import { randomUUID } from 'node:crypto';
import { lstatSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../util/errors.ts';
import { ensurePrivateDir, readPrivateFile, writeOutputFile } from '../sys/trusted-path.ts';
import { parseSocketMode } from '../sys/socket-access.ts';
import { deviceType } from '../../devices/catalog.ts';
import type { Quirks } from '../../devices/common/options.ts';
import { ManagerError, MAX_NAME_LENGTH, type Resolution } from './manager.ts';

/** mdevctl's parent for mdevsim's devices: they have no parent device. */
export const MDEVCTL_PARENT = 'mdevsim';
/** A definition file is small; anything larger is not one. */
export const MAX_DEFINITION_BYTES = 64 * 1024;
/** Definitions a store may hold, checked before any is read. */
export const MAX_DEFINITIONS = 1024;

export interface Definition {
  readonly uuid: string;
  readonly type: string;
  /** Started by `serve` (auto) or only by `mdevsim start` (manual). */
  readonly start: 'auto' | 'manual';
  readonly name: string;
  readonly resolution?: Resolution | undefined;
  readonly noEdid?: boolean | undefined;
  /** CreateArgs.edidVram: the VRAM share of modes mdevsim picks. */
  readonly edidVram?: 'half' | 'full' | undefined;
  readonly quirks?: Quirks | undefined;
  readonly vbe?: 'sample' | 'strict' | undefined;
  /** A snapshot file the device is restored from when it starts. */
  readonly restore?: string | undefined;
  readonly socketGroup?: string | undefined;
  readonly socketMode?: number | undefined;
}

/** What define and modify take: everything but the UUID and name may be left out. */
export type DefinitionInput = Partial<Omit<Definition, 'type'>> & { readonly type: string };

/** A definition change; `null` clears an optional attribute. */
export type DefinitionChange = {
  readonly [K in Exclude<keyof Definition, 'uuid'>]?: Definition[K] | null;
};

/** A file the store skipped, and why (one sentence naming the file and the field). */
export interface DefinitionProblem {
  readonly file: string;
  readonly message: string;
}

export interface StoreContents {
  readonly definitions: readonly Definition[];
  readonly problems: readonly DefinitionProblem[];
}

/** mdevctl's per-device object. */
export interface MdevctlDevice {
  readonly mdev_type: string;
  readonly start: 'auto' | 'manual';
  readonly attrs: ReadonlyArray<Record<string, string>>;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** One mdevsim attribute: its name in `attrs`, how it reads from a string and writes back. */
interface Attr {
  readonly key: keyof Definition;
  readonly parse: (value: string) => unknown;
  readonly format: (value: never) => string;
}

const ATTRS: Readonly<Record<string, Attr>> = {
  name: { key: 'name', parse: checkName, format: (v: string) => v },
  resolution: { key: 'resolution', parse: parseResolutionText, format: (v: Resolution) => `${v.width}x${v.height}` },
  edid: { key: 'noEdid', parse: (v) => { if (v !== 'off') throw new Error('must be "off" (keep the sample\'s initial EDID state)'); return true; }, format: () => 'off' },
  edid_vram: { key: 'edidVram', parse: (v) => oneOf(v, ['half', 'full']), format: (v: string) => v },
  quirks: { key: 'quirks', parse: (v) => oneOf(v, ['none', 'upstream']), format: (v: string) => v },
  vbe: { key: 'vbe', parse: (v) => oneOf(v, ['sample', 'strict']), format: (v: string) => v },
  restore: { key: 'restore', parse: (v) => { if (!v.startsWith('/')) throw new Error('must be an absolute path to a snapshot file'); return v; }, format: (v: string) => v },
  socket_group: { key: 'socketGroup', parse: (v) => { if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$/.test(v)) throw new Error('must be a group name or number'); return v; }, format: (v: string) => v },
  socket_mode: { key: 'socketMode', parse: socketModeText, format: (v: number) => `0${v.toString(8)}` },
};

function oneOf(v: string, allowed: readonly string[]): string {
  if (!allowed.includes(v)) throw new Error(`must be ${allowed.join(' or ')}, not ${JSON.stringify(v)}`);
  return v;
}

function checkName(v: string): string {
  if (!NAME_RE.test(v) || v.length > MAX_NAME_LENGTH || v === 'control') {
    throw new Error(`must be a device name (letters, digits, '.', '_', '-', starting with a letter or digit, at most ${MAX_NAME_LENGTH} characters, not "control"), not ${JSON.stringify(v)}`);
  }
  return v;
}

/** The mode for attrs[i].socket_mode's message, which names the field itself. */
function socketModeText(v: string): number {
  try {
    return parseSocketMode(v, 'mode');
  } catch (err) {
    throw new Error((err as Error).message.replace(/^mode /, ''));
  }
}

function parseResolutionText(v: string): Resolution {
  const m = /^(\d{1,5})x(\d{1,5})$/.exec(v);
  if (!m) throw new Error(`must be WIDTHxHEIGHT such as 1280x800, not ${JSON.stringify(v)}`);
  return { width: Number(m[1]), height: Number(m[2]) };
}

/** A definition in mdevctl's per-device shape. */
export function toMdevctl(d: Definition): MdevctlDevice {
  const attrs: Array<Record<string, string>> = [];
  for (const [name, attr] of Object.entries(ATTRS)) {
    const value = d[attr.key];
    if (value !== undefined && value !== null && value !== false) attrs.push({ [name]: (attr.format as (v: unknown) => string)(value) });
  }
  return { mdev_type: d.type, start: d.start, attrs };
}

/**
 * A definition from mdevctl's per-device shape (a stored file, or
 * `define --jsonfile`). Unlike mdevctl, which reads any start other than
 * "auto" as manual and ignores unknown keys, every field is checked: a typo
 * in a file that decides what a VM gets should be an error, not a default.
 * @throws ConfigError naming `source` and the field.
 */
export function fromMdevctl(json: unknown, uuid: string, source: string): Definition {
  const d = inputFromMdevctl(json, source);
  if (d.name === undefined) throw new ConfigError(`${source}: attrs must name the device ({"name": NAME}).`);
  return { ...d, uuid: uuid.toLowerCase() } as Definition;
}

/**
 * define --jsonfile's document: mdevctl's per-device shape, where the name
 * may be left out (define picks a free one), as mdevctl's own files have none.
 * @throws ConfigError naming `source` and the field.
 */
export function inputFromMdevctl(json: unknown, source: string): DefinitionInput {
  const fail = (field: string, problem: string): never => { throw new ConfigError(`${source}: ${field} ${problem}.`); };
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail('the document', 'must be a JSON object with mdev_type, start and attrs');
  const o = json as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!['mdev_type', 'start', 'attrs'].includes(k)) fail(JSON.stringify(k), 'is not a field of a definition (mdev_type, start, attrs)');
  if (typeof o['mdev_type'] !== 'string') fail('mdev_type', 'must be a string naming an mdevsim type');
  let type: string;
  try {
    type = deviceType(o['mdev_type'] as string).name;
  } catch (err) {
    return fail('mdev_type', (err as Error).message.replace(/\.$/, '').replace(/^./, (c) => c.toLowerCase()));
  }
  const start = o['start'];
  if (start !== 'auto' && start !== 'manual') fail('start', 'must be "auto" or "manual"');
  const attrs = o['attrs'] ?? [];
  if (!Array.isArray(attrs)) fail('attrs', 'must be a list of one-key objects');
  const d: Record<string, unknown> = { type, start };
  (attrs as unknown[]).forEach((a, i) => {
    if (a === null || typeof a !== 'object' || Array.isArray(a) || Object.keys(a).length !== 1) fail(`attrs[${i}]`, 'must be an object with exactly one key');
    const [name, value] = Object.entries(a as Record<string, unknown>)[0]!;
    const attr = ATTRS[name];
    if (attr === undefined) fail(`attrs[${i}]`, `names ${JSON.stringify(name)}, which is not an attribute (${Object.keys(ATTRS).join(', ')})`);
    if (typeof value !== 'string') fail(`attrs[${i}].${name}`, 'must be a string');
    if (d[attr!.key] !== undefined) fail(`attrs[${i}].${name}`, 'is given twice');
    try {
      d[attr!.key] = attr!.parse(value as string);
    } catch (err) {
      fail(`attrs[${i}].${name}`, (err as Error).message.replace(/\.$/, ''));
    }
  });
  const t = deviceType(type);
  if ((d['resolution'] !== undefined || d['noEdid'] !== undefined || d['edidVram'] !== undefined) && !t.edid) fail('attrs', `give resolution, edid or edid_vram, which ${type} has no EDID for`);
  if (d['vbe'] !== undefined && !t.vbe) fail('attrs.vbe', `applies to mbochs types only, not to ${type}`);
  return d as unknown as DefinitionInput;
}

/** `mdevctl list --defined --dumpjson`'s shape: [{ "mdevsim": [{ UUID: device }, …] }], sorted by UUID; [] when empty. */
export function mdevctlDump(defs: readonly Definition[]): unknown[] {
  if (defs.length === 0) return [];
  const sorted = [...defs].sort((a, b) => (a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0));
  return [{ [MDEVCTL_PARENT]: sorted.map((d) => ({ [d.uuid]: toMdevctl(d) })) }];
}

export class DefinitionStore {
  readonly dir: string;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /**
   * Open (and create, 0700) the store directory.
   * @throws ConfigError when it is not ours or others may write to it.
   */
  static open(dir: string): DefinitionStore {
    ensurePrivateDir(dir, { what: 'Definition directory', instead: 'choose another with --config-dir' });
    return new DefinitionStore(dir);
  }

  /** Every definition that validates, and one problem per file that does not. */
  load(): StoreContents {
    let names: string[];
    try {
      names = readdirSync(this.dir).filter((n) => !n.startsWith('.')).sort();
    } catch (err) {
      throw new ConfigError(`Cannot read the definition directory ${this.dir} (${(err as NodeJS.ErrnoException).code ?? 'error'}).`);
    }
    const definitions: Definition[] = [];
    const problems: DefinitionProblem[] = [];
    if (names.length > MAX_DEFINITIONS) {
      problems.push({ file: this.dir, message: `${this.dir} holds ${names.length} entries, more than the ${MAX_DEFINITIONS} definitions a store may have; only the first ${MAX_DEFINITIONS} are read.` });
      names = names.slice(0, MAX_DEFINITIONS);
    }
    const names_ = new Map<string, string>();
    for (const n of names) {
      const file = join(this.dir, n);
      const m = /^(.+)\.json$/.exec(n);
      if (!m || !UUID_RE.test(m[1]!) || m[1] !== m[1]!.toLowerCase()) {
        problems.push({ file, message: `${file} is not a definition (their names are <uuid>.json, lower case); skipped.` });
        continue;
      }
      try {
        const d = fromMdevctl(parseJson(this.#read(file), file), m[1]!, file);
        const taken = names_.get(d.name);
        if (taken !== undefined) throw new ConfigError(`${file}: attrs.name ${d.name} is already the name of ${taken}.`);
        names_.set(d.name, d.uuid);
        definitions.push(d);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        problems.push({ file, message: `${err.message.replace(/\.$/, '')}; skipped.` });
      }
    }
    return { definitions, problems };
  }

  /** The definition named by UUID or name. @throws ManagerError ENOENT. */
  find(ref: string): Definition {
    const { definitions } = this.load();
    const d = definitions.find((x) => x.uuid === ref.toLowerCase() || x.name === ref);
    if (d === undefined) throw new ManagerError('ENOENT', `No definition is named ${ref} in ${this.dir}${definitions.length ? ` (definitions: ${definitions.map((x) => x.name).join(', ')})` : ''}.`);
    return d;
  }

  /**
   * Store a new definition: a random UUID and a free `<type>-<n>` name when
   * none is given, start manual unless said.
   * @throws ConfigError for a bad field; ManagerError EEXIST for a UUID or
   *   name in use (a file that does not validate counts: it is not replaced).
   */
  define(input: DefinitionInput): Definition {
    if (input === null || typeof input !== 'object' || typeof input.type !== 'string') throw new ConfigError('define needs the type name, e.g. "mbochs-medium".');
    if (input.uuid !== undefined && typeof input.uuid !== 'string') throw new ConfigError('The UUID must be a string of the form 8-4-4-4-12 hex digits.');
    const { definitions } = this.load();
    const uuid = (input.uuid ?? randomUUID()).toLowerCase();
    if (!UUID_RE.test(uuid)) throw new ConfigError(`UUID ${JSON.stringify(input.uuid)} is not of the form 8-4-4-4-12 hex digits.`);
    if (existsEntry(join(this.dir, `${uuid}.json`))) throw new ManagerError('EEXIST', `A definition with UUID ${uuid} already exists (${join(this.dir, `${uuid}.json`)}).`);
    const type = deviceType(input.type).name;
    const name = input.name ?? freeName(type, definitions);
    if (definitions.some((d) => d.name === name)) throw new ManagerError('EEXIST', `A definition named ${name} already exists.`);
    const d = this.#validate({ ...input, uuid, type, name, start: input.start ?? 'manual' });
    this.#write(d, false);
    return d;
  }

  /** Change a definition; `null` clears an attribute. @throws ManagerError ENOENT/EEXIST, ConfigError. */
  modify(ref: string, change: DefinitionChange): Definition {
    const old = this.find(ref);
    const merged: Record<string, unknown> = { ...old };
    for (const [k, v] of Object.entries(change)) {
      if (v === null) delete merged[k];
      else if (v !== undefined) merged[k] = v;
    }
    const d = this.#validate(merged as unknown as Definition);
    if (d.name !== old.name && this.load().definitions.some((x) => x.name === d.name)) throw new ManagerError('EEXIST', `A definition named ${d.name} already exists.`);
    this.#write(d, true);
    return d;
  }

  /** Remove a definition's file. @throws ManagerError ENOENT. */
  undefine(ref: string): Definition {
    const d = this.find(ref);
    try {
      unlinkSync(join(this.dir, `${d.uuid}.json`));
    } catch (err) {
      throw new ConfigError(`Cannot remove ${join(this.dir, `${d.uuid}.json`)} (${(err as NodeJS.ErrnoException).code ?? 'error'}).`);
    }
    return d;
  }

  /** Round-trip through the file format: what is written is exactly what load() accepts. */
  #validate(d: Definition): Definition {
    // Fields from a control call can be anything: say what is wrong before formatting them.
    const r = d.resolution as unknown;
    if (r !== undefined && (r === null || typeof r !== 'object' || !Number.isSafeInteger((r as Resolution).width) || !Number.isSafeInteger((r as Resolution).height))) {
      throw new ConfigError(`The resolution of ${String(d.name)} must be a width and height in pixels, like 1280x800.`);
    }
    if (d.socketMode !== undefined && !Number.isInteger(d.socketMode)) throw new ConfigError(`The socket mode of ${String(d.name)} must be a number such as 0o660.`);
    return fromMdevctl(JSON.parse(JSON.stringify(toMdevctl(d))), d.uuid, `the definition of ${d.name}`);
  }

  #write(d: Definition, replace: boolean): void {
    const bytes = new TextEncoder().encode(`${JSON.stringify(toMdevctl(d), null, 2)}\n`);
    writeOutputFile(join(this.dir, `${d.uuid}.json`), bytes, { durable: true, force: replace });
  }

  #read(file: string): Uint8Array {
    return readPrivateFile(file, { what: 'Definition', instead: 'replace it with a file of your own', maxBytes: MAX_DEFINITION_BYTES, secret: false });
  }
}

function parseJson(bytes: Uint8Array, file: string): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new ConfigError(`${file}: is not valid UTF-8 JSON`);
  }
}

function existsEntry(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function freeName(type: string, defs: readonly Definition[]): string {
  const taken = new Set(defs.map((d) => d.name));
  for (let n = 0; ; n++) if (!taken.has(`${type}-${n}`)) return `${type}-${n}`;
}
