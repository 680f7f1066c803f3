/**
 * `mdevsim serve`: create devices through a Manager (each served on its own
 * vfio-user socket), start the control socket, print how to attach QEMU, log
 * connections, and shut down cleanly on SIGINT/SIGTERM (sockets removed,
 * devices destroyed).
 */
import type { ServerEvent } from '../vfio-user/server.ts';
import type { VfioDevice } from '../vfio/device.ts';
import { deviceType, type DeviceType } from '../../devices/catalog.ts';
import { startWebView, type WebView } from '../vnc/web-view.ts';
import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import { Manager, checkDeviceName, type ManagerEvent, type ManagerOptions, type ModeResult } from '../mgmt/manager.ts';
import { checkSocketPathLength } from '../sys/trusted-path.ts';
import { ConfigError } from '../util/errors.ts';
import { ControlServer } from '../mgmt/control.ts';
import type { DeviceServer } from '../vfio-user/server.ts';
import type { Quirks } from '../../devices/common/options.ts';
import { DEFAULT_DEVICES, DEFAULT_SHUTDOWN_TIMEOUT_MS, controlSocketPath, defaultConfigDir } from './paths.ts';
import { DefinitionStore } from '../mgmt/definitions.ts';
import { DefinedDevices } from '../mgmt/defined-devices.ts';
import type { RfbAuth } from '../vnc/rfb-connection.ts';
import type { ConsoleInfo } from '../vnc/console.ts';
import { qemuInputArgs } from '../vnc/qmp-endpoint.ts';
import { notifyReady, notifyReloading, notifyStopping } from '../sys/sd-notify.ts';
import { printEvent, type EventOutput } from './event-out.ts';
import { logger } from '../util/log.ts';

export { DEFAULT_DEVICES, controlSocketPath, defaultSocketDir } from './paths.ts';

export interface ServeOptions {
  readonly dir: string;
  /** Type names; "type" or "type=name". Undefined: every auto definition (the built-in defaults when there are none). */
  readonly devices?: readonly string[] | undefined;
  /** The definition store. @defaultValue defaultConfigDir() */
  readonly configDir?: string;
  /** Name sockets by device name (default) or UUID. */
  readonly socketName?: 'name' | 'uuid';
  /** Group and mode of device, VNC and QMP sockets (the control socket stays 0600). */
  readonly socketGroup?: string;
  readonly socketMode?: number;
  readonly quirks: Quirks;
  /** mbochs devices only. */
  readonly vbe: 'sample' | 'strict';
  /** Preferred mode put in the EDID of devices that have one; undefined = the type's default. */
  readonly resolution?: { readonly width: number; readonly height: number };
  /** Keep the sample's initial EDID state (link down, no blob). */
  readonly noEdid?: boolean;
  /** The edidVram of every device without its own (ManagerOptions.edidVram). @defaultValue 'half' */
  readonly edidVram?: ManagerOptions['edidVram'];
  /** Start the control socket (`<dir>/control.sock`). @defaultValue true */
  readonly control?: boolean;
  /** Record each device's first connection to `${record}-<device>.trace`. */
  readonly record?: string;
  /** Replace existing trace files of the user's own (otherwise that connection is served unrecorded). */
  readonly force?: boolean;
  /** Serve the live view on 127.0.0.1:PORT (0 = any free port); off when undefined. */
  readonly view?: number;
  /** Per-connection bounds of every device server. */
  readonly server?: ManagerOptions['server'];
  /** Control socket bounds (src/mgmt/control.ts defaults). */
  readonly controlLimits?: { readonly maxConnections?: number | undefined; readonly idleTimeoutMs?: number | undefined };
  /** Most live-view event streams at once (src/display/live-view.ts default). */
  readonly viewMaxClients?: number | undefined;
  /**
   * A VNC server per device: 'unix' on `<dir>/<name>.vnc`, or TCP displays
   * from `firstDisplay` on (port 5900 + display). Undefined: none (unless
   * the web view needs consoles, which then have no listener).
   */
  readonly vnc?: 'unix' | { readonly host: string; readonly firstDisplay: number };
  /** How TCP viewers authenticate; undefined refuses TCP (serve --vnc-password-file / --vnc-auth none). */
  readonly vncAuth?: RfbAuth;
  /** Most VNC viewers per device (src/vnc/rfb-server.ts default). */
  readonly vncMaxViewers?: number | undefined;
  /** On SIGINT/SIGTERM, clients get this long to take their queued replies. @defaultValue DEFAULT_SHUTDOWN_TIMEOUT_MS */
  readonly shutdownTimeoutMs?: number;
  readonly json: boolean;
  /** 'json': events carry `time` and `level` (src/cli/event-out.ts). @defaultValue 'human' */
  readonly logFormat?: EventOutput['logFormat'];
  readonly out: (line: string) => void;
}

export interface ServedDevice {
  readonly name: string;
  readonly type: DeviceType;
  /** The mode the EDID advertises, when one was loaded. */
  readonly edidMode: { readonly width: number; readonly height: number } | undefined;
  readonly device: VfioDevice;
  readonly server: DeviceServer;
}

/** The QEMU 10.x command line that attaches one device (QEMU docs/system/devices/vfio-user.rst; README "Attaching QEMU"). */
export function qemuCommandLine(socketPath: string, opts: { memory?: string; qmp?: string | null } = {}): string {
  const dev = JSON.stringify({ driver: 'vfio-user-pci', socket: { type: 'unix', path: socketPath } });
  const lines = [
    'qemu-system-x86_64 -machine q35,accel=kvm:tcg,memory-backend=mem -m 2G',
    `-object memory-backend-memfd,id=mem,size=${opts.memory ?? '2G'},share=on`,
    '-nodefaults -serial mon:stdio',
    `-device '${dev}'`,
  ];
  if (opts.qmp) {
    // Our QMP endpoint for viewers' keyboard and mouse, and the absolute pointer they need (docs/vnc.md).
    const a = qemuInputArgs(opts.qmp);
    for (let i = 0; i < a.length; i += 2) lines.push(`${a[i]} ${a[i + 1]}`);
  }
  return lines.join(' \\\n    ');
}

export interface Serving {
  readonly manager: Manager;
  readonly devices: ServedDevice[];
  /** The control server, unless disabled. */
  readonly control: ControlServer | undefined;
  stop(): void;
  /** Graceful stop: no new connections, clients get `deadlineMs` to take queued replies, then everything is removed. */
  shutdown(deadlineMs: number): Promise<void>;
  /** The definitions: start, stop, reload. */
  readonly defined: DefinedDevices;
}

/** Start serving; returns the devices, the manager, the control server and a stop() that undoes everything. */
export function startServing(opts: ServeOptions): Serving {
  checkServeOptions(opts);
  let ready = false;
  const atStartup = new Set<string>();
  const store = DefinitionStore.open(opts.configDir ?? defaultConfigDir());
  const manager = new Manager({
    dir: opts.dir,
    ...(opts.socketName !== undefined ? { socketName: opts.socketName } : {}),
    ...(opts.socketGroup !== undefined ? { socketGroup: opts.socketGroup } : {}),
    ...(opts.socketMode !== undefined ? { socketMode: opts.socketMode } : {}),
    ...(opts.record !== undefined ? { record: opts.record, replaceRecords: opts.force ?? false } : {}),
    ...(opts.server !== undefined ? { server: opts.server } : {}),
    ...(opts.edidVram !== undefined ? { edidVram: opts.edidVram } : {}),
    onServerEvent: (e) => logEvent(opts, e),
    // The devices made here print their console with their own line; later ones get a 'console' event.
    onEvent: (e) => { if (ready && !(e.kind === 'console' && atStartup.delete(e.name))) logManagerEvent(opts, e); },
    consoles: {
      vnc: opts.vnc ?? (opts.view !== undefined ? 'none' : 'off'),
      ...(opts.vncAuth !== undefined ? { tcpAuth: opts.vncAuth } : {}),
      ...(opts.vncMaxViewers !== undefined ? { maxViewers: opts.vncMaxViewers } : {}),
    },
  });
  let control: ControlServer | undefined;
  const stop = (): void => {
    ready = false; // shutdown removes every device: no 'removed' lines for that
    control?.close();
    manager.close();
  };
  const served: ServedDevice[] = [];
  const defined = new DefinedDevices(store, manager);
  const serveDevice = (name: string, type: DeviceType, mode: ModeResult | null): void => {
    served.push({
      name, type,
      edidMode: mode ? { width: mode.width, height: mode.height } : undefined,
      device: manager.device(name), server: manager.server(name),
    });
  };
  try {
    let specs = opts.devices;
    if (specs === undefined) {
      const { actions, problems } = defined.startAuto();
      for (const p of problems) warn(opts, 'definition-skipped', p.message, { file: p.file });
      for (const a of actions) {
        if (a.action === 'failed') warn(opts, 'definition-failed', a.message, { name: a.name, uuid: a.uuid });
        else {
          atStartup.add(a.name);
          const info = manager.list().find((i) => i.uuid === a.uuid)!;
          serveDevice(info.name, deviceType(info.type), null);
        }
      }
      // A fresh machine: no definitions at all, so the built-in defaults (a corrupt file counts as one).
      specs = store.load().definitions.length === 0 && problems.length === 0 ? DEFAULT_DEVICES : [];
    }
    for (const spec of specs) {
      const { typeName, given } = parseDeviceSpec(spec);
      const type = deviceType(typeName);
      const created = manager.create({
        type: type.name,
        ...(given !== undefined ? { name: given } : {}),
        quirks: opts.quirks,
        ...(type.vbe ? { vbe: opts.vbe } : {}),
        ...(type.edid && opts.resolution ? { resolution: opts.resolution } : {}),
        ...(type.edid && opts.noEdid ? { noEdid: true } : {}),
      });
      atStartup.add(created.name);
      const mode = created.resolution;
      if (mode?.clamped && opts.resolution) {
        const text = `${created.name}: resolution ${opts.resolution.width}x${opts.resolution.height} clamped to ${mode.width}x${mode.height}: ${mode.reason ?? ''}`;
        printEvent(opts, { event: 'clamped', name: created.name, device: created.name, width: mode.width, height: mode.height, reason: mode.reason }, text);
      }
      serveDevice(created.name, type, mode);
    }
    if (opts.control ?? true) control = ControlServer.listen({
      path: controlSocketPath(opts.dir), manager, definitions: defined,
      ...(opts.controlLimits?.maxConnections !== undefined ? { maxConnections: opts.controlLimits.maxConnections } : {}),
      ...(opts.controlLimits?.idleTimeoutMs !== undefined ? { idleTimeoutMs: opts.controlLimits.idleTimeoutMs } : {}),
    });
  } catch (err) {
    stop();
    throw err;
  }
  ready = true;
  const shutdown = async (deadlineMs: number): Promise<void> => {
    ready = false;
    control?.close();
    await manager.shutdown(deadlineMs);
  };
  return { manager, devices: served, control, stop, shutdown, defined };
}

/** A warning serve says about its configuration: a line on stderr, or a JSON event on stdout. */
function warn(opts: ServeOptions, event: string, message: string, fields: Record<string, unknown>): void {
  if (opts.json || opts.logFormat === 'json') printEvent(opts, { event, ...fields, message }, message, 'warn');
  else process.stderr.write(`mdevsim: warning: ${message}\n`);
}

/** "type" or "type=name"; everything after the first '=' is the name (checked whole, never cut short). */
function parseDeviceSpec(spec: string): { typeName: string; given: string | undefined } {
  const eq = spec.indexOf('=');
  return eq < 0 ? { typeName: spec, given: undefined } : { typeName: spec.slice(0, eq), given: spec.slice(eq + 1) };
}

/** What can be refused before any socket exists, so that a bad name or path leaves nothing behind. */
function checkServeOptions(opts: ServeOptions): void {
  for (const spec of opts.devices ?? []) {
    const { given } = parseDeviceSpec(spec);
    if (given !== undefined) checkDeviceName(given, opts.dir);
  }
  if (opts.control ?? true) checkSocketPathLength(controlSocketPath(opts.dir), 'Control socket', 'choose a shorter --dir');
  if (opts.record !== undefined) {
    // The trace files are only created at each device's first connection: a typo should fail now.
    const dir = dirname(opts.record);
    let isDir = false;
    try { isDir = statSync(dir).isDirectory(); } catch { /* missing: refused below */ }
    if (!isDir) throw new ConfigError(`The --record directory ${dir} does not exist; create it or choose another PREFIX.`);
  }
}

/** A device server's connections; `device` is the older spelling of `name`, kept for existing consumers. */
function logEvent(opts: ServeOptions, e: ServerEvent): void {
  const fields = { event: e.kind, name: e.label, device: e.label };
  if (e.kind === 'connected') printEvent(opts, fields, `${e.label}: client connected`);
  else if (e.kind === 'refused') printEvent(opts, { ...fields, reason: e.reason }, `${e.label}: refused a client (${e.reason})`);
  else printEvent(opts, { ...fields, reason: e.reason, requests: e.requests }, `${e.label}: client disconnected (${e.reason}; ${e.requests} requests)`);
}

/** Devices created or removed through the control socket after startup. */
function logManagerEvent(opts: ServeOptions, e: ManagerEvent): void {
  if (e.kind === 'created') {
    const i = e.instance;
    const edid = i.resolution ? { width: i.resolution.width, height: i.resolution.height } : null;
    printEvent(opts, { event: 'created', name: i.name, uuid: i.uuid, type: i.type, socket: i.socket, edid }, `${i.name} (${i.type}, ${i.uuid}) created on ${i.socket}`);
  } else if (e.kind === 'input') {
    printEvent(opts, { event: 'input', name: e.name, connected: e.connected },
      e.connected ? `${e.name}: QEMU connected to its QMP socket: viewers' keyboard and mouse reach the guest` : `${e.name}: QEMU left its QMP socket: view-only until it reconnects`);
  } else if (e.kind === 'console') {
    const c = e.console;
    printEvent(opts, { event: 'console', name: e.name, vnc: c.vnc, display: c.display, qmp: c.qmp },
      `${e.name}: ${c.vnc ? `VNC ${c.display !== null ? `display :${c.display} ` : ''}on ${c.vnc}` : 'browser view'}${c.qmp ? `; QMP for QEMU on ${c.qmp}` : ''}`);
  } else {
    printEvent(opts, { event: 'removed', name: e.name, uuid: e.uuid }, `${e.name} removed`);
  }
}

/**
 * Run until SIGINT/SIGTERM, then stop accepting, give clients the shutdown
 * timeout to take what is queued for them, remove the sockets and exit. The
 * per-turn budget of the device servers is what lets the signal in during a
 * flood; the exit timer is the backstop should anything still hold the loop.
 */
export async function serveUntilSignalled(opts: ServeOptions): Promise<void> {
  const { devices, control, stop, shutdown, manager, defined } = startServing(opts);
  let view: WebView | undefined;
  const consoles = new Map<string, ConsoleInfo | null>();
  try {
    // A console that cannot start (a VNC port in use) fails serve as a whole, before it says it is ready.
    for (const d of devices) consoles.set(d.name, await manager.consoleReady(d.name));
    if (opts.view !== undefined) {
      view = await startWebView({
        port: opts.view,
        ...(opts.viewMaxClients !== undefined ? { maxClients: opts.viewMaxClients } : {}),
        devices: () => manager.list().map((i) => ({ name: i.name, input: i.console?.input ?? false })),
        attach: (name, stream, peer) => {
          let c;
          try { c = manager.console(name); } catch { return false; }
          return c?.vnc.attach(stream, peer) ?? false;
        },
      });
    }
  } catch (err) {
    stop();
    throw err;
  }
  // The handlers come before readiness is announced: a supervisor may signal as soon as it reads it,
  // and a SIGTERM before them would kill serve without removing its sockets.
  const deadline = opts.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    notifyStopping();
    setTimeout(() => {
      logger('cli').event('error', 'shutdown-timeout', `shutdown did not finish within ${deadline + 1000} ms; exiting anyway`);
      stop();
      process.exit(0);
    }, deadline + 1000).unref();
    void (async () => {
      await view?.close();
      await shutdown(deadline);
      printEvent(opts, { event: 'stopped', signal: sig }, `stopped (${sig}); sockets removed`);
      process.exitCode = 0;
    })().catch((err: unknown) => {
      logger('cli').event('error', 'shutdown-failed', `shutdown failed: ${err instanceof Error ? err.message : String(err)}`);
      stop();
      process.exitCode = 1;
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // `serve | head -1`: a reader that went away gets the same clean stop as a signal (sockets removed), not a crash.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'EPIPE') onSignal('SIGPIPE'); });
  // SIGHUP: read the definitions again (docs/service.md).
  process.on('SIGHUP', () => {
    if (stopping) return;
    notifyReloading();
    let status = '';
    try {
      const { actions, problems } = defined.startAuto();
      for (const p of problems) warn(opts, 'definition-skipped', p.message, { file: p.file });
      for (const a of actions) {
        if (a.action === 'failed') warn(opts, 'definition-failed', a.message, { name: a.name, uuid: a.uuid });
        else printEvent(opts, { event: 'reload', action: a.action, name: a.name, uuid: a.uuid }, `reload: ${a.message}`);
      }
      const count = defined.list().definitions.length;
      printEvent(opts, { event: 'reloaded', definitions: count }, `reloaded the definitions in ${defined.store.dir}`);
      status = `serving ${manager.list().length} device(s); reloaded ${count} definition(s)`;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      warn(opts, 'reload-failed', `reloading the definitions failed: ${message}`, {});
      status = `reload failed: ${message}`;
    } finally {
      // sd_notify(3): RELOADING=1 must be followed by READY=1, whatever the reload did.
      notifyReady(status);
    }
  });
  for (const d of devices) {
    const con = consoles.get(d.name) ?? null;
    const edid = d.edidMode ? `; EDID preferred mode ${d.edidMode.width}x${d.edidMode.height}` : '';
    const human = [`${d.name} (${d.type.description}${edid}) on ${d.server.path}`];
    if (con?.vnc) human.push(`  VNC ${con.display !== null ? `display :${con.display} on ${con.vnc}${con.auth === 'none' ? ' (no password)' : ' (password)'}` : `on ${con.vnc}`}`);
    if (con?.qmp) human.push(`  keyboard and mouse through QMP on ${con.qmp} once QEMU connects; view-only until then`);
    human.push(`  attach with:\n    ${qemuCommandLine(d.server.path, { qmp: con?.qmp ?? null })}\n`);
    printEvent(opts, {
      event: 'device', name: d.name, uuid: manager.list().find((i) => i.name === d.name)?.uuid ?? null, type: d.type.name, socket: d.server.path, edid: d.edidMode ?? null,
      vnc: con?.vnc ?? null, display: con?.display ?? null, qmp: con?.qmp ?? null,
    }, human.join('\n'));
  }
  if (control) printEvent(opts, { event: 'control', socket: control.path }, `control socket ${control.path} (mdevsim list|create|screenshot|... --control ${control.path})`);
  if (view) printEvent(opts, { event: 'view', url: view.url }, `browser view: ${view.url}`);
  printEvent(opts, { event: 'ready' }, `serving ${devices.length} device(s); Ctrl-C stops`);
  notifyReady(`serving ${manager.list().length} device(s)`);
}
