/**
 * What several commands share: argument checks, finding and opening the
 * control socket, finding a device socket, writing an output file.
 */
import { basename, dirname, join } from 'node:path';
import { controlSocketPath, defaultSocketDir } from './paths.ts';
import { UsageError, type OptionSpecs } from './command.ts';
import { ControlClient } from '../mgmt/control-client.ts';
import type { Resolution } from '../mgmt/manager.ts';
import { ConfigError } from '../util/errors.ts';
import { isSysError } from '../sys/sys-error.ts';
import { createOutputFile, type OutputFile } from '../sys/trusted-path.ts';

/** The options of every command that talks to a running serve. */
export const COMMON = {
  json: { type: 'boolean', default: false, help: 'print one JSON document' },
  control: { type: 'string', value: 'PATH', help: `the control socket of the serve to talk to (default: ${controlSocketPath(defaultSocketDir())})` },
  dir: { type: 'string', value: 'DIR', help: 'the socket directory of that serve: its control socket is DIR/control.sock' },
} as const satisfies OptionSpecs;

export interface CommonValues {
  json?: boolean | undefined;
  control?: string | undefined;
  dir?: string | undefined;
}

export function parseResolution(text: string, what = '--resolution'): Resolution {
  const m = /^(\d{1,5})x(\d{1,5})$/.exec(text);
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) throw new UsageError(`${what} must look like 1280x800, with a width and height of at least 1, not "${text}".`);
  return { width: Number(m[1]), height: Number(m[2]) };
}

/** --quirks, when given. */
export function quirksArg(text: string | undefined): 'none' | 'upstream' | undefined {
  if (text !== undefined && text !== 'none' && text !== 'upstream') throw new UsageError(`--quirks must be none or upstream, not "${text}".`);
  return text;
}

/** --vbe, when given. */
export function vbeArg(text: string | undefined): 'sample' | 'strict' | undefined {
  if (text !== undefined && text !== 'sample' && text !== 'strict') throw new UsageError(`--vbe must be sample or strict, not "${text}".`);
  return text;
}

/** --edid-vram, when given (src/display/edid-policy.ts EdidVram). */
export function edidVramArg(text: string | undefined): 'half' | 'full' | undefined {
  if (text !== undefined && text !== 'half' && text !== 'full') throw new UsageError(`--edid-vram must be half or full, not "${text}".`);
  return text;
}

/** The help of --edid-vram, one wording for every command that takes it. */
export const EDID_VRAM_HELP = 'VRAM share of modes mdevsim picks: half fits every guest (Linux bochs-drm up to 6.12 accepts no more), full needs 6.13+';

/** A byte count as people read VRAM sizes: "8 MiB", "512 KiB", else bytes. */
export function bytesText(n: number): string {
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n / (1 << 20)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}

/** A whole number flag in [1, max]. */
export function countArg<F extends number | undefined>(flag: string, text: string | undefined, fallback: F, max: number): number | F {
  if (text === undefined) return fallback;
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > max) throw new UsageError(`${flag} must be a whole number from 1 to ${max}, not "${text}".`);
  return n;
}

/** A byte count, optionally with a K or M suffix (KiB, MiB), from 64 KiB to 1 GiB. */
export function sizeArg(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const m = /^(\d+)([KM]?)$/i.exec(text);
  const n = m === null ? NaN : Number(m[1]) * (m[2]!.toUpperCase() === 'M' ? 1 << 20 : m[2]!.toUpperCase() === 'K' ? 1 << 10 : 1);
  if (!Number.isSafeInteger(n) || n < 64 << 10 || n > 1 << 30) throw new UsageError(`${flag} must be a byte count from 64K to 1024M (K and M mean KiB and MiB), not "${text}".`);
  return n;
}

export function controlPathOf(v: CommonValues): string {
  return v.control ?? controlSocketPath(v.dir ?? defaultSocketDir());
}

/** The directory of the device sockets, for finding a device socket without the control socket. */
function socketDirOf(v: CommonValues): string {
  return v.control !== undefined ? dirname(v.control) : v.dir ?? defaultSocketDir();
}

export async function openControl(path: string): Promise<ControlClient> {
  try {
    return await ControlClient.connect(path);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = isSysError(err) ? err.code : 'error';
    throw Object.assign(new Error(`No mdevsim server answers on ${path} (${code}); start one with "mdevsim serve", or point at it with --control PATH or --dir DIR.`), { code: 'ENOSERVER' });
  }
}

export async function withControl<T>(v: CommonValues, fn: (c: ControlClient) => Promise<T>): Promise<T> {
  const c = await openControl(controlPathOf(v));
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

/** Find the device socket: a path as given, the control socket's answer, or `<dir>/<name>.sock`. */
export async function deviceSocket(target: string, v: CommonValues): Promise<{ name: string; socket: string }> {
  if (target.includes('/')) return { name: basename(target).replace(/\.sock$/, ''), socket: target };
  let control: ControlClient | undefined;
  try {
    control = await ControlClient.connect(controlPathOf(v));
  } catch (err) {
    if (err instanceof ConfigError) throw err; // a planted control socket is not "no server"
    return { name: target, socket: join(socketDirOf(v), `${target}.sock`) };
  }
  try {
    const found = (await control.list()).find((i) => i.name === target || i.uuid === target.toLowerCase());
    return found ? { name: found.name, socket: found.socket } : { name: target, socket: join(socketDirOf(v), `${target}.sock`) };
  } finally {
    control.close();
  }
}

/**
 * Open `path` (createOutputFile) before the work that fills it, so that a
 * refused output fails before anything is asked of the server; the file is
 * committed only when `fill` says so, else nothing new is left behind.
 */
export async function writingTo<T>(path: string, force: boolean, fill: (file: OutputFile) => Promise<{ commit: boolean; value: T }>): Promise<T> {
  const file = createOutputFile(path, { force });
  try {
    const { commit, value } = await fill(file);
    if (commit) file.commit();
    else file.abort();
    return value;
  } catch (err) {
    file.abort();
    throw err;
  }
}
