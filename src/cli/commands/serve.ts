import { defineCommand, UsageError, type Io } from '../command.ts';
import type { RfbAuth } from '../../vnc/rfb-connection.ts';
import { EDID_VRAM_HELP, countArg, edidVramArg, parseResolution, quirksArg, sizeArg, vbeArg } from '../args.ts';
import { DEFAULT_DEVICES, DEFAULT_SHUTDOWN_TIMEOUT_MS, defaultConfigDir, defaultSocketDir } from '../paths.ts';
import { SERVER_DEFAULTS } from '../../vfio-user/limits.ts';
import { logger, setLogFormat, type LogFormat } from '../../util/log.ts';

export const serve = defineCommand({
  name: 'serve',
  positionals: [],
  summary: `serve devices over vfio-user (default: ${DEFAULT_DEVICES.join(', ')})`,
  failureExit: 2,
  options: {
    device: { type: 'string', multiple: true, value: 'TYPE[=NAME]', help: `a transient device to serve (default: every auto definition, or ${DEFAULT_DEVICES.join(', ')} when there are none)` },
    'config-dir': { type: 'string', value: 'DIR', help: `the definitions (default: ${defaultConfigDir()})` },
    'socket-name': { type: 'string', value: 'name|uuid', help: 'name device sockets DEVICE.sock (default) or UUID.sock' },
    'socket-group': { type: 'string', value: 'GROUP', help: 'group of device, VNC and QMP sockets, for the VMM\'s user (mode 0660)' },
    'socket-mode': { type: 'string', value: 'MODE', help: 'mode of those sockets (default 0600, or 0660 with --socket-group)' },
    dir: { type: 'string', value: 'DIR', help: `the socket directory (default: ${defaultSocketDir()})` },
    quirks: { type: 'string', default: 'none', value: 'none|upstream', help: 'reproduce the upstream samples\' bugs, or not' },
    vbe: { type: 'string', default: 'sample', value: 'sample|strict', help: 'mbochs VBE register checks' },
    json: { type: 'boolean', default: false, help: 'print one JSON event a line' },
    'log-format': { type: 'string', default: 'human', value: 'human|json', help: 'json: timestamped JSON lines on stdout (events) and stderr (logs, security events)' },
    resolution: { type: 'string', value: 'WxH', help: 'EDID preferred mode for mbochs' },
    'no-edid': { type: 'boolean', default: false, help: 'keep the sample\'s initial EDID state (link down, no blob)' },
    'edid-vram': { type: 'string', value: 'half|full', help: `${EDID_VRAM_HELP} (default half)` },
    'no-control': { type: 'boolean', default: false, help: 'no control socket' },
    record: { type: 'string', value: 'PREFIX', help: 'write each device\'s first connection to PREFIX-DEVICE.trace' },
    force: { type: 'boolean', default: false, help: 'with --record: replace existing trace files' },
    view: { type: 'string', value: 'PORT', help: 'browser view (noVNC) of every screen on http://127.0.0.1:PORT/?token=..., 0 = any port' },
    'max-clients': { type: 'string', value: 'N', help: `connections per device (default ${SERVER_DEFAULTS.maxClients})` },
    'handshake-timeout': { type: 'string', value: 'MS', help: `close a connection without VERSION (default ${SERVER_DEFAULTS.handshakeTimeoutMs})` },
    'client-output-limit': { type: 'string', value: 'BYTES', help: 'stop reading a client with more replies queued (default 1M)' },
    'shutdown-timeout': { type: 'string', value: 'MS', help: `on SIGINT/SIGTERM, drop clients after (default ${DEFAULT_SHUTDOWN_TIMEOUT_MS})` },
    'control-max-connections': { type: 'string', value: 'N', help: 'control socket connections at once (default 8)' },
    'control-idle-timeout': { type: 'string', value: 'MS', help: 'close an idle control connection after (default 60000)' },
    'view-max-clients': { type: 'string', value: 'N', help: 'browser view connections at once (default 8)' },
    vnc: { type: 'string', value: '[HOST:DISPLAY]', ifBare: 'unix', help: 'a VNC server per device: DIR/DEVICE.vnc, or TCP port 5900+DISPLAY on, one display per device' },
    'vnc-password-file': { type: 'string', value: 'FILE', help: 'VNC authentication for TCP with the first line of FILE (ours, mode 0600)' },
    'vnc-auth': { type: 'string', value: 'vnc|none', help: 'none: TCP VNC without a password (every local user can then see and type)' },
    'vnc-max-viewers': { type: 'string', value: 'N', help: 'VNC viewers per device, browser ones included (default 8)' },
  },
  async run(values, _positionals, io) {
    // First, so that every line after it, warnings about the options included, has the chosen shape.
    const logFormat = logFormatArg(values['log-format']);
    setLogFormat(logFormat);
    const view = values.view === undefined ? undefined : Number(values.view);
    if (view !== undefined && (!Number.isInteger(view) || view < 0 || view > 65535)) throw new UsageError(`--view must be a TCP port (0-65535), not "${values.view}".`);
    const resolution = values.resolution === undefined ? undefined : parseResolution(values.resolution);
    const quirks = quirksArg(values.quirks) ?? 'none';
    const vbe = vbeArg(values.vbe) ?? 'sample';
    const edidVram = edidVramArg(values['edid-vram']);
    const vnc = values.vnc === undefined ? undefined : vncTarget(values.vnc);
    const vncAuth = await vncAuthArg(values['vnc-auth'], values['vnc-password-file'], vnc, optionWarning(io, logFormat));
    // The device models and servers load only here, so that the other commands start quickly.
    const { serveUntilSignalled } = await import('../serve.ts');
    await serveUntilSignalled({
      dir: values.dir ?? defaultSocketDir(),
      devices: values.device,
      configDir: values['config-dir'] ?? defaultConfigDir(),
      ...(values['socket-name'] !== undefined ? { socketName: socketNameArg(values['socket-name']) } : {}),
      ...(values['socket-group'] !== undefined ? { socketGroup: values['socket-group'] } : {}),
      ...(values['socket-mode'] !== undefined ? { socketMode: await socketModeArg(values['socket-mode']) } : {}),
      quirks,
      vbe,
      resolution,
      noEdid: values['no-edid'] ?? false,
      ...(edidVram !== undefined ? { edidVram } : {}),
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
      ...(vnc !== undefined ? { vnc } : {}),
      ...(vncAuth !== undefined ? { vncAuth } : {}),
      vncMaxViewers: countArg('--vnc-max-viewers', values['vnc-max-viewers'], undefined, 1000),
      shutdownTimeoutMs: countArg('--shutdown-timeout', values['shutdown-timeout'], DEFAULT_SHUTDOWN_TIMEOUT_MS, 600_000),
      json: values.json ?? false,
      logFormat,
      out: io.out,
    });
    return -1;
  },
});

/** A warning about the options given: `event` names it in json mode; security ones are flagged so. */
type OptionWarning = (event: string, message: string, security?: boolean) => void;

function optionWarning(io: Io, format: LogFormat): OptionWarning {
  if (format === 'human') return (_event, message) => io.err(`mdevsim: warning: ${message}\n`);
  const log = logger('cli');
  return (event, message, security = false) => (security ? log.security(event, message) : log.event('warn', event, message));
}

function logFormatArg(text: string | undefined): LogFormat {
  if (text !== undefined && text !== 'human' && text !== 'json') throw new UsageError(`--log-format must be human or json, not "${text}".`);
  return text ?? 'human';
}

/** `unix`, or HOST:DISPLAY as QEMU's -vnc takes it (display N is TCP port 5900 + N). */
function vncTarget(text: string): 'unix' | { host: string; firstDisplay: number } {
  if (text === 'unix') return 'unix';
  const m = /^(.*):(\d{1,5})$/.exec(text);
  const display = m ? Number(m[2]) : NaN;
  if (!m || m[1] === '' || display > 65535 - 5900) {
    throw new UsageError(`--vnc takes no value (a Unix socket per device) or HOST:DISPLAY with DISPLAY 0-${65535 - 5900} (TCP port 5900+DISPLAY), not "${text}".`);
  }
  const host = m[1]!.replace(/^\[(.*)\]$/, '$1');
  return { host, firstDisplay: display };
}

/**
 * How TCP viewers authenticate. TCP without a password file is refused
 * unless the user says `--vnc-auth none`, which we warn about: any local
 * user reaches a TCP port, loopback included.
 */
async function vncAuthArg(auth: string | undefined, passwordFile: string | undefined, target: ReturnType<typeof vncTarget> | undefined, warn: OptionWarning): Promise<RfbAuth | undefined> {
  if (auth !== undefined && auth !== 'vnc' && auth !== 'none') throw new UsageError(`--vnc-auth must be vnc or none, not "${auth}".`);
  if (auth === 'none' && passwordFile !== undefined) throw new UsageError('--vnc-auth none and --vnc-password-file contradict each other; choose one.');
  const tcp = typeof target === 'object';
  if (auth === 'none') {
    if (tcp) warn('vnc-auth-none', '--vnc-auth none: every local user can see the guests\' screens on the VNC port and type into them.', true);
    return { kind: 'none' };
  }
  if (passwordFile === undefined) {
    if (tcp) throw new UsageError('--vnc HOST:DISPLAY serves TCP, which every local user can reach: give --vnc-password-file FILE, or --vnc-auth none to go without.');
    return undefined;
  }
  const { readVncPasswordFile } = await import('../../vnc/password-file.ts');
  const { vncAuthenticator } = await import('../../vnc/vnc-auth.ts');
  const { password, truncated, nonAscii } = readVncPasswordFile(passwordFile);
  if (truncated) warn('vnc-password-truncated', 'VNC authentication uses only the first 8 characters of the password.');
  if (nonAscii) warn('vnc-password-non-ascii', 'the VNC password has non-ASCII characters, which some viewers send differently; an ASCII password works everywhere.');
  return vncAuthenticator(password);
}

function socketNameArg(v: string): 'name' | 'uuid' {
  if (v !== 'name' && v !== 'uuid') throw new UsageError(`--socket-name must be name or uuid, not "${v}".`);
  return v;
}

async function socketModeArg(v: string): Promise<number> {
  const { parseSocketMode } = await import('../../sys/socket-access.ts');
  try {
    return parseSocketMode(v);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}
