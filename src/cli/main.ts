/**
 * mdevsim command line, mdevctl-style: `serve` runs the devices; the other
 * commands talk to a running serve through its control socket (and
 * `screenshot` to the device socket itself). `--json` prints one JSON
 * document for scripts. Errors are one clear sentence on stderr and a
 * non-zero exit: 2 for a command line that cannot work, 1 for a refusal.
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DEFAULT_DEVICES, DEFAULT_SHUTDOWN_TIMEOUT_MS, controlSocketPath, defaultSocketDir } from './paths.ts';
import { SERVER_DEFAULTS } from '../vfio-user/limits.ts';
import { ControlClient, ControlError } from '../mgmt/control-client.ts';
import type { DeviceDescription, InstanceInfo, Resolution, TypeInfo } from '../mgmt/manager.ts';
import type { ScreenshotResult } from '../mgmt/screenshot.ts';
import type { VfioUserClient } from '../vfio-user/client.ts';
import { ConfigError, VfioError } from '../util/errors.ts';
import { isSysError } from '../sys/sys-error.ts';
import { checkTrustedSocket, createOutputFile, type OutputFile } from '../sys/trusted-path.ts';

// Only what a command needs is loaded: serve (device models, servers), the
// screenshot path (vfio-user client, PNG encoder) and the offline type list
// are imported on use, so that control-socket commands start quickly.

const USAGE = `usage: mdevsim <command> [options]

commands:
  serve        serve devices over vfio-user (default: ${DEFAULT_DEVICES.join(', ')})
               --device TYPE[=NAME] (repeatable)   --dir DIR (socket directory)
               --quirks none|upstream   --vbe sample|strict   --json
               --resolution WxH (EDID preferred mode for mbochs)   --no-edid
               --no-control (no control socket)
               --record PREFIX (write each device's first connection to PREFIX-DEVICE.trace)
               --force (with --record: replace existing trace files)
               --view PORT (live view of every screen on http://127.0.0.1:PORT/, 0 = any port)
               --max-clients N (connections per device, default 4)
               --handshake-timeout MS (close a connection without VERSION, default 3000)
               --client-output-limit BYTES (stop reading a client with more replies queued, default 1M)
               --shutdown-timeout MS (on SIGINT/SIGTERM, drop clients after, default 2000)
               --control-max-connections N (default 8)   --control-idle-timeout MS (default 60000)
               --view-max-clients N (live-view event streams at once, default 8)
  types        the device types and how many more instances fit
  create TYPE  [--name NAME] [--uuid UUID] [--quirks none|upstream] [--vbe sample|strict]
               [--resolution WxH] [--no-edid]
  remove DEVICE
  list
  describe DEVICE
  set-resolution DEVICE WxH|off   (the guest sees it at its next connector probe)
  screenshot DEVICE -o FILE.png [--via auto|device|control] [--force]
  snapshot DEVICE -o FILE [--force]
  restore DEVICE FILE
  replay TRACE  replay a recorded trace on a fresh device; checks every reply
               byte for byte and prints the final device-state hash

DEVICE is a device name or UUID. Every command but serve takes --json, and
--control PATH or --dir DIR to find the control socket (default:
${controlSocketPath(defaultSocketDir())}). -o and --record never write through
a symbolic link or over an existing file; --force replaces one of your own.
The socket directory must be yours and writable by you alone.
`;

/** A command line that cannot work: exit 2. */
class UsageError extends Error {}

function sentence(message: string): string {
  const m = message.trim();
  return /[.!?]$/.test(m) ? m : `${m}.`;
}

function parseResolution(text: string, what = '--resolution'): Resolution {
  const m = /^(\d{1,5})x(\d{1,5})$/.exec(text);
  if (!m) throw new UsageError(`${what} must look like 1280x800, not "${text}".`);
  return { width: Number(m[1]), height: Number(m[2]) };
}

const COMMON = {
  json: { type: 'boolean', default: false },
  control: { type: 'string' },
  dir: { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

function parse<O extends NonNullable<ParseArgsConfig['options']>>(command: string, args: string[], options: O, positionals: readonly string[]) {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    // node:util's messages may add hint lines; the first line is the sentence.
    throw new UsageError((err instanceof Error ? err.message : String(err)).split('\n')[0]!);
  }
  if (parsed.positionals.length !== positionals.length) {
    const want = positionals.length === 0 ? 'takes no arguments' : `takes ${positionals.join(' ')}`;
    const got = parsed.positionals.length === 0 ? 'nothing' : `"${parsed.positionals.join(' ')}"`;
    throw new UsageError(`${command} ${want}, not ${got} (see "mdevsim help")`);
  }
  return parsed;
}

interface CommonValues {
  json?: boolean | undefined;
  control?: string | undefined;
  dir?: string | undefined;
}

function controlPathOf(v: CommonValues): string {
  return v.control ?? controlSocketPath(v.dir ?? defaultSocketDir());
}

/** The directory of the device sockets, for finding a device socket without the control socket. */
function socketDirOf(v: CommonValues): string {
  return v.control !== undefined ? dirname(v.control) : v.dir ?? defaultSocketDir();
}

async function openControl(path: string): Promise<ControlClient> {
  try {
    return await ControlClient.connect(path);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = isSysError(err) ? err.code : 'error';
    throw new Error(`No mdevsim server answers on ${path} (${code}); start one with "mdevsim serve", or point at it with --control PATH or --dir DIR.`);
  }
}

async function withControl<T>(v: CommonValues, fn: (c: ControlClient) => Promise<T>): Promise<T> {
  const c = await openControl(controlPathOf(v));
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

type Out = (line: string) => void;

function printTypes(rows: readonly TypeInfo[], out: Out): void {
  for (const r of rows) {
    const caps = [`display: ${r.display}`, r.edid ? 'EDID' : undefined, r.maxResolution ? `max ${r.maxResolution.width}x${r.maxResolution.height}` : undefined, 'snapshot'].filter(Boolean).join(', ');
    out(`${r.name.padEnd(14)} ${String(r.available_instances).padStart(3)} available  ${r.description} (${caps})`);
  }
}

function edidText(i: InstanceInfo): string {
  if (!i.edid) return 'no EDID';
  const mode = i.edid.mode ? `${i.edid.mode.width}x${i.edid.mode.height}` : 'no blob';
  return `EDID ${mode}, link ${i.edid.link}`;
}

function printList(rows: readonly InstanceInfo[], out: Out): void {
  if (rows.length === 0) out('no devices');
  for (const i of rows) {
    out(`${i.name.padEnd(18)} ${i.uuid} ${i.type.padEnd(14)} ${edidText(i)}${i.connected ? ', client connected' : ''}  ${i.socket}`);
  }
}

function printDescription(d: DeviceDescription, out: Out): void {
  out(`${d.name} (${d.uuid})`);
  out(`  type        ${d.type}: ${d.description}`);
  out(`  socket      ${d.socket}${d.connected ? ' (a client is connected)' : ''}`);
  out(`  quirks      ${d.quirks}${d.vbe ? `, vbe ${d.vbe}` : ''}`);
  out(`  device      flags ${d.info.flagNames.join('|') || '0'}, ${d.info.numRegions} regions, ${d.info.numIrqs} irqs`);
  out('  regions');
  for (const r of d.regions) {
    if (r.size === 0) continue;
    const caps = r.caps.map((c) => (c.kind === 'sparse-mmap' ? `sparse-mmap ${c.areas.map((a) => `[${a.offset}, +${a.size})`).join(' ')}` : c.kind === 'type' ? `type ${c.type}/${c.subtype}` : c.kind)).join('; ');
    out(`    ${String(r.index).padStart(2)} ${r.name.padEnd(7)} ${String(r.size).padStart(10)} bytes  ${r.flagNames.join('|')}${caps ? `  (${caps})` : ''}`);
  }
  out(`  irqs        ${d.irqs.map((q) => `${q.index}: ${q.count}`).join(', ')} (index: vectors)`);
  const p = d.plane.current;
  out(`  plane       ${d.plane.kind}${p ? `, now ${p.width}x${p.height} ${p.format} stride ${p.stride}` : ', no mode set'}`);
  out(`  edid        ${edidText(d)}`);
}

/** Find the device socket: a path as given, the control socket's answer, or `<dir>/<name>.sock`. */
async function deviceSocket(target: string, v: CommonValues): Promise<{ name: string; socket: string }> {
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

interface ShotOutcome {
  readonly result: ScreenshotResult;
  readonly via: 'device-socket' | 'control-socket';
  readonly name: string;
  readonly socket: string;
  /** Why the device socket was not used (fallback to the control socket). */
  readonly fallback?: string;
}

async function takeScreenshot(target: string, via: string, v: CommonValues): Promise<ShotOutcome> {
  const { name, socket } = await deviceSocket(target, v);
  let fallback: string | undefined;
  if (via !== 'control') {
    const { VfioUserClient: Client } = await import('../vfio-user/client.ts');
    const { screenshotClient } = await import('../mgmt/screenshot.ts');
    let client: VfioUserClient | undefined;
    try {
      // A planted device socket would be handed the screenshot's trust; refuse, never fall back.
      checkTrustedSocket(socket, { what: 'Device socket' });
      client = await Client.connect(socket, { display: true });
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      // One client per device: a second connection is closed at once (ECONNRESET).
      const code = isSysError(err) || err instanceof VfioError ? err.code : 'error';
      fallback = code === 'ECONNRESET'
        ? `the device socket ${socket} refused the connection (another client holds the device)`
        : `the device socket ${socket} could not be used (${code})`;
      if (via === 'device') throw new Error(`Cannot take a screenshot of ${name}: ${fallback}.`);
    }
    if (client) {
      try {
        return { result: await screenshotClient(client), via: 'device-socket', name, socket };
      } finally {
        client.close();
      }
    }
  }
  const controlPath = controlPathOf(v);
  let c: ControlClient;
  try {
    c = await openControl(controlPath);
  } catch (err) {
    if (fallback === undefined) throw err;
    throw new Error(`Cannot take a screenshot of ${name}: ${fallback}, and no mdevsim server answers on ${controlPath}.`);
  }
  try {
    const r = await c.screenshot(name);
    const { name: shotName, ...result } = r;
    return { result, via: 'control-socket', name: shotName, socket: controlPath, ...(fallback !== undefined ? { fallback } : {}) };
  } finally {
    c.close();
  }
}

/** A whole number flag in [1, max]. */
function countArg<F extends number | undefined>(flag: string, text: string | undefined, fallback: F, max: number): number | F {
  if (text === undefined) return fallback;
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > max) throw new UsageError(`${flag} must be a whole number from 1 to ${max}, not "${text}".`);
  return n;
}

/** A byte count, optionally with a K or M suffix (KiB, MiB), from 64 KiB to 1 GiB. */
function sizeArg(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const m = /^(\d+)([KM]?)$/i.exec(text);
  const n = m === null ? NaN : Number(m[1]) * (m[2]!.toUpperCase() === 'M' ? 1 << 20 : m[2]!.toUpperCase() === 'K' ? 1 << 10 : 1);
  if (!Number.isSafeInteger(n) || n < 64 << 10 || n > 1 << 30) throw new UsageError(`${flag} must be a byte count from 64K to 1024M (K and M mean KiB and MiB), not "${text}".`);
  return n;
}

/**
 * Open `path` (createOutputFile) before the work that fills it, so that a
 * refused output fails before anything is asked of the server; the file is
 * committed only when `fill` says so, else nothing new is left behind.
 */
async function writingTo<T>(path: string, force: boolean, fill: (file: OutputFile) => Promise<{ commit: boolean; value: T }>): Promise<T> {
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

async function main(argv: string[], out: Out): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve': {
      const { values } = parse(command, rest, {
        device: { type: 'string', multiple: true },
        dir: { type: 'string' },
        quirks: { type: 'string', default: 'none' },
        vbe: { type: 'string', default: 'sample' },
        json: { type: 'boolean', default: false },
        resolution: { type: 'string' },
        'no-edid': { type: 'boolean', default: false },
        'no-control': { type: 'boolean', default: false },
        record: { type: 'string' },
        force: { type: 'boolean', default: false },
        view: { type: 'string' },
        'max-clients': { type: 'string' },
        'handshake-timeout': { type: 'string' },
        'client-output-limit': { type: 'string' },
        'shutdown-timeout': { type: 'string' },
        'control-max-connections': { type: 'string' },
        'control-idle-timeout': { type: 'string' },
        'view-max-clients': { type: 'string' },
      }, []);
      const view = values.view === undefined ? undefined : Number(values.view);
      if (view !== undefined && (!Number.isInteger(view) || view < 0 || view > 65535)) throw new UsageError(`--view must be a TCP port (0-65535), not "${values.view}".`);
      const resolution = values.resolution === undefined ? undefined : parseResolution(values.resolution);
      if (values.quirks !== 'none' && values.quirks !== 'upstream') throw new UsageError(`--quirks must be none or upstream, not "${values.quirks}".`);
      if (values.vbe !== 'sample' && values.vbe !== 'strict') throw new UsageError(`--vbe must be sample or strict, not "${values.vbe}".`);
      const { serveUntilSignalled } = await import('./serve.ts');
      await serveUntilSignalled({
        dir: values.dir ?? defaultSocketDir(),
        devices: values.device ?? DEFAULT_DEVICES,
        quirks: values.quirks,
        vbe: values.vbe,
        resolution,
        noEdid: values['no-edid'] ?? false,
        control: !(values['no-control'] ?? false),
        ...(values.record !== undefined ? { record: values.record, force: values.force ?? false } : {}),
        ...(view !== undefined ? { view } : {}),
        server: {
          maxClients: countArg('--max-clients', values['max-clients'], SERVER_DEFAULTS.maxClients, 1024),
          handshakeTimeoutMs: countArg('--handshake-timeout', values['handshake-timeout'], SERVER_DEFAULTS.handshakeTimeoutMs, 3_600_000),
          outputLimit: sizeArg('--client-output-limit', values['client-output-limit'], SERVER_DEFAULTS.outputLimit),
        },
        controlLimits: {
          maxConnections: countArg('--control-max-connections', values['control-max-connections'], undefined, 1024),
          idleTimeoutMs: countArg('--control-idle-timeout', values['control-idle-timeout'], undefined, 86_400_000),
        },
        viewMaxClients: countArg('--view-max-clients', values['view-max-clients'], undefined, 1024),
        shutdownTimeoutMs: countArg('--shutdown-timeout', values['shutdown-timeout'], DEFAULT_SHUTDOWN_TIMEOUT_MS, 600_000),
        json: values.json ?? false,
        out,
      });
      return -1; // keeps running
    }
    case 'replay': {
      const { values, positionals } = parse(command, rest, { json: { type: 'boolean', default: false } }, ['TRACE']);
      const { readTrace } = await import('../trace/trace.ts');
      const { replayTrace } = await import('../trace/replay.ts');
      const trace = readTrace(positionals[0]!);
      const result = replayTrace(trace);
      if (values.json) out(JSON.stringify({ device: trace.header.device, ...result }));
      else {
        out(`${trace.header.device.type}: ${result.requests} requests, ${result.replies} replies, ${result.mismatches.length} mismatches`);
        for (const m of result.mismatches.slice(0, 20)) out(`  reply ${m.reply}: ${m.reason}`);
        out(`device state sha256 ${result.stateHash ?? '(device has no snapshot)'}`);
      }
      return result.mismatches.length === 0 ? 0 : 1;
    }
    case 'types': {
      const { values } = parse(command, rest, COMMON, []);
      // From the server when one answers (available_instances is its budget); else what a fresh serve offers.
      let rows: TypeInfo[];
      try {
        const c = await ControlClient.connect(controlPathOf(values));
        try { rows = await c.types(); } finally { c.close(); }
      } catch (err) {
        if (err instanceof ControlError || err instanceof ConfigError) throw err;
        rows = (await import('../mgmt/manager.ts')).typeInfos();
      }
      if (values.json) out(JSON.stringify(rows));
      else printTypes(rows, out);
      return 0;
    }
    case 'create': {
      const { values, positionals } = parse(command, rest, {
        ...COMMON,
        name: { type: 'string' },
        uuid: { type: 'string' },
        quirks: { type: 'string' },
        vbe: { type: 'string' },
        resolution: { type: 'string' },
        'no-edid': { type: 'boolean', default: false },
      }, ['TYPE']);
      if (values.quirks !== undefined && values.quirks !== 'none' && values.quirks !== 'upstream') throw new UsageError(`--quirks must be none or upstream, not "${values.quirks}".`);
      if (values.vbe !== undefined && values.vbe !== 'sample' && values.vbe !== 'strict') throw new UsageError(`--vbe must be sample or strict, not "${values.vbe}".`);
      const args = {
        type: positionals[0]!,
        ...(values.name !== undefined ? { name: values.name } : {}),
        ...(values.uuid !== undefined ? { uuid: values.uuid } : {}),
        ...(values.quirks !== undefined ? { quirks: values.quirks as 'none' | 'upstream' } : {}),
        ...(values.vbe !== undefined ? { vbe: values.vbe as 'sample' | 'strict' } : {}),
        ...(values.resolution !== undefined ? { resolution: parseResolution(values.resolution) } : {}),
        ...(values['no-edid'] ? { noEdid: true } : {}),
      };
      const created = await withControl(values, (c) => c.create(args));
      if (values.json) out(JSON.stringify(created));
      else {
        out(`${created.name} (${created.uuid}) created on ${created.socket}`);
        if (created.resolution) out(`  EDID preferred mode ${created.resolution.width}x${created.resolution.height}${created.resolution.clamped && values.resolution ? `: ${created.resolution.reason}` : ''}`);
      }
      return 0;
    }
    case 'remove': {
      const { values, positionals } = parse(command, rest, COMMON, ['DEVICE']);
      const removed = await withControl(values, (c) => c.remove(positionals[0]!));
      out(values.json ? JSON.stringify(removed) : `${removed.name} (${removed.uuid}) removed`);
      return 0;
    }
    case 'list': {
      const { values } = parse(command, rest, COMMON, []);
      const rows = await withControl(values, (c) => c.list());
      if (values.json) out(JSON.stringify(rows));
      else printList(rows, out);
      return 0;
    }
    case 'describe': {
      const { values, positionals } = parse(command, rest, COMMON, ['DEVICE']);
      const d = await withControl(values, (c) => c.describe(positionals[0]!));
      if (values.json) out(JSON.stringify(d));
      else printDescription(d, out);
      return 0;
    }
    case 'set-resolution': {
      const { values, positionals } = parse(command, rest, COMMON, ['DEVICE', 'WxH|off']);
      const arg = positionals[1]!;
      const resolution = arg === 'off' ? 'off' : parseResolution(arg, 'The resolution');
      const r = await withControl(values, (c) => c.setResolution(positionals[0]!, resolution));
      if (values.json) out(JSON.stringify(r));
      else if (r.link === 'down') out(`${r.name}: EDID link down; the guest sees no monitor at its next connector probe`);
      else {
        out(`${r.name}: EDID now advertises ${r.width}x${r.height} (link up); the guest sees it at its next connector probe`);
        if (r.clamped) out(`  ${r.reason}`);
      }
      return 0;
    }
    case 'screenshot': {
      const { values, positionals } = parse(command, rest, { ...COMMON, output: { type: 'string', short: 'o' }, via: { type: 'string', default: 'auto' }, force: { type: 'boolean', default: false } }, ['DEVICE']);
      if (values.output === undefined) throw new UsageError('screenshot needs -o FILE.png.');
      if (!['auto', 'device', 'control'].includes(values.via ?? 'auto')) throw new UsageError(`--via must be auto, device or control, not "${values.via}".`);
      const shot = await writingTo(values.output, values.force ?? false, async (file) => {
        const taken = await takeScreenshot(positionals[0]!, values.via ?? 'auto', values);
        if (taken.result.state === 'plane') file.write(taken.result.png);
        return { commit: taken.result.state === 'plane', value: taken };
      });
      const { png, ...result } = shot.result;
      if (values.json) {
        out(JSON.stringify({ device: shot.name, via: shot.via, socket: shot.socket, ...(shot.fallback ? { fallback: shot.fallback } : {}), ...result, ...(result.state === 'plane' ? { file: values.output, bytes: png.length } : {}) }));
      } else if (result.state === 'plane') {
        out(`${shot.name}: ${result.width}x${result.height} ${result.format} written to ${values.output} (via the ${shot.via.replace('-', ' ')}${shot.fallback ? `, because ${shot.fallback}` : ''})`);
      }
      if (result.state !== 'plane') {
        process.stderr.write(`mdevsim: ${shot.name} shows no picture (${result.message ?? result.reason}), so nothing was written.\n`);
        return 1;
      }
      return 0;
    }
    case 'snapshot': {
      const { values, positionals } = parse(command, rest, { ...COMMON, output: { type: 'string', short: 'o' }, force: { type: 'boolean', default: false } }, ['DEVICE']);
      if (values.output === undefined) throw new UsageError('snapshot needs -o FILE.');
      const bytes = await writingTo(values.output, values.force ?? false, async (file) => {
        const snap = await withControl(values, (c) => c.snapshot(positionals[0]!));
        file.write(snap);
        return { commit: true, value: snap };
      });
      out(values.json ? JSON.stringify({ device: positionals[0], file: values.output, bytes: bytes.length }) : `${positionals[0]}: snapshot of ${bytes.length} bytes written to ${values.output}`);
      return 0;
    }
    case 'restore': {
      const { values, positionals } = parse(command, rest, COMMON, ['DEVICE', 'FILE']);
      let bytes: Uint8Array;
      try {
        bytes = readFileSync(positionals[1]!);
      } catch (err) {
        throw new Error(`Cannot read ${positionals[1]} (${(err as NodeJS.ErrnoException).code ?? String(err)}).`);
      }
      const info = await withControl(values, (c) => c.restore(positionals[0]!, bytes));
      out(values.json ? JSON.stringify(info) : `${info.name} restored from ${positionals[1]}`);
      return 0;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return 0;
    default:
      throw new UsageError(`unknown command "${command}"; run "mdevsim help" for the list.`);
  }
}

const out: Out = (line) => void process.stdout.write(line + '\n');
try {
  const code = await main(process.argv.slice(2), out);
  if (code >= 0) process.exit(code);
} catch (err) {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`mdevsim: ${sentence(message)}\n`);
  // serve has always exited 2 for any startup failure.
  process.exit(err instanceof UsageError || err instanceof ConfigError || process.argv[2] === 'serve' ? 2 : 1);
}
