/**
 * What the definition commands share: their flags (ours and mdevctl's
 * spelling), and doing a change through the running server when one
 * answers, else on the store directly — and saying which.
 */
import { ConfigError } from '../util/errors.ts';
import type { ControlClient } from '../mgmt/control-client.ts';
import type { Definition, DefinitionChange, DefinitionInput } from '../mgmt/definitions.ts';
import { DefinitionStore, fromMdevctl, MAX_DEFINITION_BYTES } from '../mgmt/definitions.ts';
import { readPrivateFile } from '../sys/trusted-path.ts';
import { parseSocketMode } from '../sys/socket-access.ts';
import { controlPathOf, edidVramArg, parseResolution, quirksArg, vbeArg } from './args.ts';
import type { DefinitionValues } from './definition-flags.ts';
import { UsageError } from './command.ts';
import { defaultConfigDir } from './paths.ts';

/** The change the flags ask for (modify), or the fields of a new definition (define). */
export function changeFromFlags(v: DefinitionValues): DefinitionChange {
  if (v.parent !== undefined && v.parent !== 'mdevsim') throw new UsageError(`mdevsim devices have one parent, "mdevsim", not "${v.parent}".`);
  if (v.auto && v.manual) throw new UsageError('--auto and --manual contradict each other; choose one.');
  const c: Record<string, unknown> = {};
  if (v.type !== undefined) c['type'] = v.type;
  if (v.name !== undefined) c['name'] = v.name;
  if (v.auto) c['start'] = 'auto';
  if (v.manual) c['start'] = 'manual';
  if (v.resolution !== undefined) c['resolution'] = v.resolution === 'default' ? null : parseResolution(v.resolution);
  if (v['no-edid']) c['noEdid'] = true;
  if (v['edid-vram'] !== undefined) c['edidVram'] = v['edid-vram'] === 'default' ? null : edidVramArg(v['edid-vram']);
  if (v.quirks !== undefined) c['quirks'] = quirksArg(v.quirks);
  if (v.vbe !== undefined) c['vbe'] = vbeArg(v.vbe);
  if (v.restore !== undefined) c['restore'] = v.restore === 'none' ? null : absolute(v.restore);
  if (v['socket-group'] !== undefined) c['socketGroup'] = v['socket-group'];
  if (v['socket-mode'] !== undefined) {
    try { c['socketMode'] = parseSocketMode(v['socket-mode']); } catch (err) { throw new UsageError((err as Error).message); }
  }
  return c as DefinitionChange;
}

function absolute(path: string): string {
  // The server may run elsewhere: a definition keeps an absolute path.
  return path.startsWith('/') ? path : `${process.cwd()}/${path}`;
}

/** An mdevctl-shaped document from --jsonfile (a file of ours: it decides what a VM gets). */
export function readJsonfile(path: string): unknown {
  const bytes = readPrivateFile(path, { what: 'JSON file', instead: 'choose another with --jsonfile', maxBytes: MAX_DEFINITION_BYTES, secret: false });
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new ConfigError(`${path} is not valid UTF-8 JSON.`);
  }
}

/** The input of define from the flags and the optional type positional. */
export function defineInput(v: DefinitionValues, positional: string | undefined): DefinitionInput | { mdevctl: unknown; uuid?: string; name?: string } {
  if (v.jsonfile !== undefined) {
    if (positional !== undefined || v.type !== undefined || v.auto) throw new UsageError('--jsonfile gives the type and start itself; leave out TYPE, -t and --auto.');
    return { mdevctl: readJsonfile(v.jsonfile), ...(v.uuid !== undefined ? { uuid: v.uuid } : {}), ...(v.name !== undefined ? { name: v.name } : {}) };
  }
  if (positional !== undefined && v.type !== undefined && positional !== v.type) throw new UsageError(`The type is given twice: ${positional} and -t ${v.type}.`);
  const type = positional ?? v.type;
  if (type === undefined) throw new UsageError('define needs a type: mdevsim define TYPE (or -t TYPE); "mdevsim types" lists them.');
  const c = changeFromFlags(v) as Record<string, unknown>;
  for (const k of Object.keys(c)) if (c[k] === null) delete c[k];
  return { ...c, type, ...(v.uuid !== undefined ? { uuid: v.uuid } : {}) } as DefinitionInput;
}

/** Where a change was made. */
export type Via = { readonly online: true; readonly control: string } | { readonly online: false; readonly dir: string };

/**
 * Run `online` against the running server when its control socket answers,
 * else `offline` on the store in --config-dir. A control socket someone else
 * planted is an error, not "no server".
 */
export async function onServerOrStore<T>(
  v: DefinitionValues,
  online: (c: ControlClient) => Promise<T>,
  offline: (store: DefinitionStore) => T,
): Promise<{ result: T; via: Via }> {
  const { ControlClient } = await import('../mgmt/control-client.ts');
  const path = controlPathOf(v);
  let client: ControlClient | undefined;
  try {
    client = await ControlClient.connect(path);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
  }
  if (client !== undefined) {
    try {
      return { result: await online(client), via: { online: true, control: path } };
    } finally {
      client.close();
    }
  }
  const store = DefinitionStore.open(v['config-dir'] ?? defaultConfigDir());
  return { result: offline(store), via: { online: false, dir: store.dir } };
}

export function viaText(via: Via): string {
  return via.online ? `through the running server (${via.control})` : `offline in ${via.dir} (no server answers; "mdevsim serve" starts the auto ones)`;
}

export function definitionText(d: Definition): string {
  const extras = [
    d.resolution ? `resolution ${d.resolution.width}x${d.resolution.height}` : '',
    d.noEdid ? 'no EDID' : '',
    d.edidVram ? `edid-vram ${d.edidVram}` : '',
    d.quirks && d.quirks !== 'none' ? `quirks ${d.quirks}` : '',
    d.vbe ? `vbe ${d.vbe}` : '',
    d.restore ? `restore ${d.restore}` : '',
    d.socketGroup ? `group ${d.socketGroup}` : '',
    d.socketMode !== undefined ? `mode 0${d.socketMode.toString(8)}` : '',
  ].filter(Boolean).join(', ');
  return `${d.name.padEnd(18)} ${d.uuid} ${d.type.padEnd(14)} ${d.start.padEnd(6)}${extras ? ` ${extras}` : ''}`;
}
