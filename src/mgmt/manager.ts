/**
 * The Manager owns live mdev instances: for each, the device model, the
 * DeviceServer serving it on `<dir>/<name>.sock`, and its names. `mdevsim
 * serve` creates its devices through it, and the control socket
 * (control.ts) exposes every method to other processes.
 *
 * Everything a manager reports is read from the device models in this
 * process (never through a connection), so it works while a VMM holds a
 * device socket. Every result is plain data (msgpack-able: no bigint, no
 * Memory, no class instances).
 *
 * Naming is deterministic: the default name of the n-th instance of a type
 * is `<type>-<n>` (n counts successful creates of that type, as serve has
 * always named its devices). The default UUID is a random version-4 UUID,
 * so two servers never hand out the same one (a counter did); tests that
 * need fixed UUIDs inject `ManagerOptions.uuid`.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { ConfigError, TrustError, VfioError } from '../util/errors.ts';
import { logger } from '../util/log.ts';
import { checkSocketPathLength, ensurePrivateDir, readPrivateFile } from '../sys/trusted-path.ts';
import { showSent } from '../pci/format.ts';
import { memfdMemoryFactory } from '../sys/memfd.ts';
import type { MemoryFactory } from '../vfio/memory.ts';
import type { VfioDevice } from '../vfio/device.ts';
import { TraceWriter, type TraceDevice } from '../trace/trace.ts';
import { traceRecorder } from '../trace/recorder.ts';
import { DeviceServer, type DeviceServerOptions, type ServerEvent } from '../vfio-user/server.ts';
import { generateEdid } from '../display/edid.ts';
import { EDID_VRAM_DEFAULT, edidFramebufferLimit, edidModeFor, type EdidVram } from '../display/edid-policy.ts';
import { findEdidRegion, loadEdid, setLink } from '../display/edid-link.ts';
import { BudgetExhaustedError } from '../../devices/common/budget.ts';
import type { Quirks } from '../../devices/common/options.ts';
import { DEVICE_TYPES, availableInstances, deviceType, type DeviceType } from '../../devices/catalog.ts';
import { describeDeviceModel, edidState, type DeviceModelDescription, type EdidState } from './inspect.ts';
import { encodeSnapshot, openSnapshot } from './snapshot.ts';
import { screenshotDevice, type ScreenshotResult } from './screenshot.ts';
import { DeviceConsole, VNC_BASE_PORT, type ConsoleInfo } from '../vnc/console.ts';
import { checkGroupCanReach, OWNER_ONLY, resolveGroup, type SocketAccess } from '../sys/socket-access.ts';
import type { RfbAuth } from '../vnc/rfb-connection.ts';
import type { VncTarget } from '../vnc/rfb-server.ts';

/** A refusal of the manager itself (unknown instance, name taken, budget exhausted); `code` is stable. */
export class ManagerError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'ManagerError';
    this.code = code;
  }
}

const log = logger('mgmt');

/** Device names that are not allowed: `control.sock` is the control socket's file. */
const RESERVED_NAMES = new Set(['control']);
/** A leading letter or digit keeps names from reading as options (`-rf`), hidden files or `.`/`..`. */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
export const MAX_NAME_LENGTH = 64;
/** A snapshot holds at most the largest type's VRAM (64 MiB) and a little state. */
export const MAX_SNAPSHOT_BYTES = 65 << 20;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Prefix of the deterministic default UUIDs. */

export interface Resolution {
  readonly width: number;
  readonly height: number;
}

/** What a type offers, mdev-style. Fields named after mdev sysfs attributes keep their sysfs spelling. */
export interface TypeInfo {
  readonly name: string;
  readonly description: string;
  /** sysfs device_api. */
  readonly device_api: 'vfio-pci';
  /** sysfs available_instances: what the type's budget holds now. */
  readonly available_instances: number;
  readonly family: 'mbochs' | 'mdpy';
  /** How clients get the picture: QUERY_GFX_PLANE DMABUF planes, or a REGION plane to map. */
  readonly display: 'dmabuf' | 'region';
  /** The device has a GFX EDID region (set-resolution works). */
  readonly edid: boolean;
  /** Video memory (mbochs) or framebuffer (mdpy) bytes. */
  readonly memorySize: number;
  /** Largest mode: the EDID max_xres×max_yres (mbochs), the fixed mode (mdpy); null = no limit but VRAM. */
  readonly maxResolution: Resolution | null;
  /** The fixed mode of a region display (mdpy), else null. */
  readonly resolution: Resolution | null;
  /**
   * Largest framebuffer, in bytes, of a mode the EDID may prefer, by
   * edidVram: `half` (the default: what Linux bochs-drm up to 6.12 accepts,
   * drm_vram_helper_mode_valid) and `full` (6.13 and later); null without EDID.
   */
  readonly edidFramebuffer: { readonly half: number; readonly full: number } | null;
  /** Live migration (VFIO migration regions): not offered. */
  readonly migration: false;
  /** snapshot/restore through the manager. */
  readonly snapshot: true;
}

export interface CreateArgs {
  /** mdev type name ("mbochs-small"). */
  readonly type: string;
  /** RFC 4122 form; default: deterministic, counter-based. */
  readonly uuid?: string;
  /** A letter or digit, then letters, digits, '.', '_', '-' (checkDeviceName); default `<type>-<n>`. */
  readonly name?: string;
  /** @defaultValue 'none' */
  readonly quirks?: Quirks;
  /** mbochs only. @defaultValue 'sample' */
  readonly vbe?: 'sample' | 'strict';
  /** EDID preferred mode (types with EDID); default QEMU's 1280×800, clamped to the type. */
  readonly resolution?: Resolution;
  /** Keep the sample's initial EDID state (link unset, no blob) instead of loading one (types with EDID). */
  readonly noEdid?: boolean;
  /**
   * How much of VRAM a mode mdevsim picks may take (types with EDID;
   * src/display/edid-policy.ts): 'half' for every guest, 'full' for guests
   * with Linux 6.13 or later. Default: the manager's edidVram.
   */
  readonly edidVram?: EdidVram;
  /** Who may connect to the device's sockets; default the manager's socketAccess. */
  readonly socketGroup?: string;
  readonly socketMode?: number;
  /** A snapshot file the new device is restored from (trusted like the socket directory). */
  readonly restore?: string;
}

export interface InstanceInfo {
  readonly name: string;
  readonly uuid: string;
  readonly type: string;
  readonly family: 'mbochs' | 'mdpy';
  /** The vfio-user socket. */
  readonly socket: string;
  readonly quirks: Quirks;
  /** mbochs: 'sample' | 'strict'; null for mdpy. */
  readonly vbe: 'sample' | 'strict' | null;
  readonly display: 'dmabuf' | 'region';
  /** A vfio-user client is connected to the device socket now. */
  readonly connected: boolean;
  readonly edid: EdidState | null;
  /** The device's edidVram (CreateArgs.edidVram); null for types without EDID. */
  readonly edidVram: EdidVram | null;
  /** The device's console (VNC, QMP input), when it has one. */
  readonly console: ConsoleInfo | null;
}

/** The mode an EDID update advertises, with why it differs from the request. */
export interface ModeResult extends Resolution {
  readonly clamped: boolean;
  readonly reason?: string;
  /** The guests that refuse the mode (an honoured request above half of VRAM with edidVram 'half'); also logged as event `edid-vram`. */
  readonly warning?: string;
}

export interface CreatedInstance extends InstanceInfo {
  /** The EDID mode loaded at create (types with EDID, unless noEdid), else null. */
  readonly resolution: ModeResult | null;
}

export interface DeviceDescription extends InstanceInfo, Omit<DeviceModelDescription, 'edid'> {
  readonly description: string;
  /** The type's TypeInfo.edidFramebuffer: the largest framebuffer of an EDID mode by edidVram. */
  readonly edidFramebuffer: TypeInfo['edidFramebuffer'];
}

export type SetResolutionResult =
  | ({ readonly name: string; readonly link: 'up'; readonly requested: Resolution } & ModeResult)
  | { readonly name: string; readonly link: 'down' };

export type ManagerEvent =
  | { readonly kind: 'created'; readonly instance: CreatedInstance }
  | { readonly kind: 'removed'; readonly name: string; readonly uuid: string }
  | { readonly kind: 'console'; readonly name: string; readonly console: ConsoleInfo }
  /** QEMU connected to the device's QMP endpoint (input reaches the guest) or left it. */
  | { readonly kind: 'input'; readonly name: string; readonly connected: boolean };

export interface ManagerOptions {
  /**
   * Directory of the device sockets: created 0700 if missing, and refused
   * (ConfigError) unless it is a real directory of this user that nobody
   * else may write.
   */
  readonly dir: string;
  /** @defaultValue memfdMemoryFactory (clients map VRAM through the fd) */
  readonly memory?: MemoryFactory;
  /** Connection events of every device server (serve logs them). */
  readonly onServerEvent?: (event: ServerEvent) => void;
  /** created / removed (serve logs them). */
  readonly onEvent?: (event: ManagerEvent) => void;
  /**
   * Record traffic: the first connection to each device is written to
   * `${record}-${name}.trace` (src/trace). Only the first, because a trace
   * replays against a fresh device. An existing file is not replaced
   * (that connection is served unrecorded) unless replaceRecords.
   */
  readonly record?: string;
  /** Where default UUIDs come from. @defaultValue crypto.randomUUID (version 4) */
  readonly uuid?: () => string;
  /** Connection bounds of every device server (src/vfio-user/server.ts SERVER_DEFAULTS). */
  readonly server?: Pick<DeviceServerOptions, 'maxClients' | 'handshakeTimeoutMs' | 'outputLimit' | 'limits'>;
  /** Replace existing trace files of the user's own (`serve --force`). */
  readonly replaceRecords?: boolean;
  /** Give every device a console (src/vnc/console.ts) as it is created. */
  readonly consoles?: ConsolePolicy;
  /** Sockets named `<name>.sock` (default) or `<uuid>.sock`, a path a libvirt domain can keep. */
  readonly socketName?: 'name' | 'uuid';
  /** Who may connect to device, VNC and QMP sockets by default (serve --socket-group/--socket-mode); the control socket stays 0600. */
  readonly socketGroup?: string;
  readonly socketMode?: number;
  /** The edidVram of devices created without one (serve --edid-vram). @defaultValue 'half' */
  readonly edidVram?: EdidVram;
}

/** Where consoles listen and how viewers authenticate. */
export interface ConsolePolicy {
  /**
   * What each new device gets. 'unix': `<dir>/<name>.vnc`; tcp: display
   * `firstDisplay` for the first device and the next free ones after it
   * (port 5900 + display); 'none': a console without a VNC listener (the
   * web view's streams only); 'off': no console until startVnc().
   */
  readonly vnc: 'unix' | 'none' | 'off' | { readonly host: string; readonly firstDisplay: number };
  /**
   * How TCP viewers authenticate (a Unix socket in the private directory
   * needs none); undefined refuses TCP: the user has not chosen.
   */
  readonly tcpAuth?: RfbAuth;
  /** Listen on `<dir>/<name>.qmp` for the guest's QEMU (input). @defaultValue true */
  readonly qmp?: boolean;
  readonly maxViewers?: number;
}

interface Instance {
  readonly name: string;
  readonly uuid: string;
  readonly type: DeviceType;
  readonly quirks: Quirks;
  readonly vbe: 'sample' | 'strict' | null;
  readonly edidVram: EdidVram | null;
  readonly device: VfioDevice;
  readonly server: DeviceServer;
  /** `<dir>/<base>.sock`, `.vnc`, `.qmp`: the name, or the UUID with socketName 'uuid'. */
  readonly base: string;
  readonly access: SocketAccess;
  console: DeviceConsole | null;
  /** A console being started (serve waits for it; remove closes what it brings). */
  starting: Promise<DeviceConsole | null> | null;
  /** The TCP display reserved for a console still starting. */
  pendingDisplay?: number | undefined;
  /** Why the console policy's console did not start. */
  consoleError?: unknown;
  /** consoleReady() was asked: it reports consoleError. */
  awaited?: boolean;
}

/** The type's TypeInfo (available_instances from its budget now). */
export function typeInfo(t: DeviceType): TypeInfo {
  const max = t.resolution ?? (t.maxXres !== 0 || t.maxYres !== 0 ? { width: t.maxXres, height: t.maxYres } : null);
  return {
    name: t.name, description: t.description, device_api: 'vfio-pci', available_instances: availableInstances(t),
    family: t.family, display: t.display, edid: t.edid, memorySize: t.memorySize,
    maxResolution: max === null ? null : { width: max.width, height: max.height },
    resolution: t.resolution ? { width: t.resolution.width, height: t.resolution.height } : null,
    edidFramebuffer: t.edid ? { half: edidFramebufferLimit(t.memorySize, 'half'), full: edidFramebufferLimit(t.memorySize, 'full') } : null,
    migration: false, snapshot: true,
  };
}

/** Every type, in DEVICE_TYPES order. */
export function typeInfos(): TypeInfo[] {
  return DEVICE_TYPES.map(typeInfo);
}

/** The socket a device named `name` is served on. */
export function deviceSocketPath(dir: string, name: string): string {
  return join(dir, `${name}.sock`);
}

/**
 * The one rule for device names, wherever one is given (serve --device
 * TYPE=NAME, create): a letter or digit, then letters, digits, '.', '_' or
 * '-', at most MAX_NAME_LENGTH, not "control", and short enough that
 * `<dir>/<name>.sock` fits a Unix socket address.
 * @throws ConfigError saying which part of the rule the name breaks.
 */
export function checkDeviceName(name: unknown, dir: string): asserts name is string {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw new ConfigError(`Device name ${typeof name === 'string' ? `"${name}"` : showSent(name)} must start with a letter or digit and may only use letters, digits, '.', '_' and '-'.`);
  }
  if (name.length > MAX_NAME_LENGTH) throw new ConfigError(`Device name "${name}" is ${name.length} characters long; at most ${MAX_NAME_LENGTH} are allowed.`);
  if (RESERVED_NAMES.has(name)) throw new ConfigError(`Device name "${name}" is reserved (its socket would be the control socket).`);
  checkSocketPathLength(deviceSocketPath(dir, name), 'Device socket', 'choose a shorter --dir or device name');
}

function checkResolution(r: unknown, what: string): Resolution {
  const v = r as Partial<Resolution> | null;
  if (v === null || typeof v !== 'object' || !Number.isSafeInteger(v.width) || !Number.isSafeInteger(v.height) || v.width! < 1 || v.height! < 1) {
    throw new ConfigError(`${what} must be a width and height of at least 1, like 1280x800.`);
  }
  return { width: v.width!, height: v.height! };
}

export class Manager {
  readonly dir: string;
  readonly #memory: MemoryFactory;
  readonly #opts: ManagerOptions;
  readonly #instances = new Map<string, Instance>();
  readonly #typeCounters = new Map<string, number>();
  /** Groups whose path to the socket directory has been checked. */
  readonly #reachable = new Set<number>();
  /** Group names resolved so far. */
  readonly #groups = new Map<string, number>();
  #closed = false;

  constructor(opts: ManagerOptions) {
    this.dir = opts.dir;
    this.#memory = opts.memory ?? memfdMemoryFactory;
    this.#opts = opts;
    // In /tmp another user could have made the directory first and planted sockets in it.
    const gid = opts.socketGroup === undefined ? undefined : resolveGroup(opts.socketGroup);
    // Checked before anything is created too, so that a refusal leaves no directory behind.
    if (gid !== undefined) checkGroupCanReach(opts.dir, gid, opts.socketGroup!);
    ensurePrivateDir(opts.dir, { what: 'Socket directory', instead: 'choose another with --dir', ...(gid !== undefined ? { group: gid } : {}) });
    if (gid !== undefined) {
      checkGroupCanReach(opts.dir, gid, opts.socketGroup!);
      this.#reachable.add(gid);
    }
  }

  /** Every type with its available_instances now. */
  types(): TypeInfo[] {
    return typeInfos();
  }

  /**
   * Create an instance: the device model, its EDID (types with one, unless
   * noEdid), and a DeviceServer on `<dir>/<name>.sock`. All or nothing.
   * @throws ConfigError for bad arguments; ManagerError EEXIST (name or uuid
   *   taken), ENOSPC/EUSERS (the type's budget is exhausted).
   */
  create(args: CreateArgs): CreatedInstance {
    this.#open();
    if (args === null || typeof args !== 'object') throw new ConfigError('create needs a record with at least a "type".');
    if (typeof args.type !== 'string') throw new ConfigError('create needs the type name, e.g. "mbochs-small".');
    const type = deviceType(args.type);
    const quirks = args.quirks ?? 'none';
    if (quirks !== 'none' && quirks !== 'upstream') throw new ConfigError(`quirks must be none or upstream, not ${showSent(quirks)}.`);
    if (args.vbe !== undefined && !type.vbe) throw new ConfigError(`The vbe option applies to mbochs types only, not to ${type.name}.`);
    const vbe = type.vbe ? args.vbe ?? 'sample' : null;
    if (vbe !== null && vbe !== 'sample' && vbe !== 'strict') throw new ConfigError(`vbe must be sample or strict, not ${showSent(vbe)}.`);
    if ((args.resolution !== undefined || args.noEdid === true || args.edidVram !== undefined) && !type.edid) {
      throw new ConfigError(`${type.name} has no EDID region, so resolution, noEdid and edidVram do not apply (its mode is fixed).`);
    }
    const edidVram = type.edid ? args.edidVram ?? this.#opts.edidVram ?? EDID_VRAM_DEFAULT : null;
    if (edidVram !== null && edidVram !== 'half' && edidVram !== 'full') throw new ConfigError(`edidVram must be half or full, not ${showSent(edidVram)}.`);
    const requested = args.resolution === undefined ? undefined : checkResolution(args.resolution, 'The resolution');
    const name = args.name ?? this.#defaultName(type);
    checkDeviceName(name, this.dir);
    if (this.#instances.has(name)) throw new ManagerError('EEXIST', `A device named ${name} already exists.`);
    let uuid: string;
    if (args.uuid !== undefined) {
      if (typeof args.uuid !== 'string' || !UUID_RE.test(args.uuid)) {
        throw new ConfigError(`UUID ${typeof args.uuid === 'string' ? `"${args.uuid}"` : showSent(args.uuid)} is not of the form 8-4-4-4-12 hex digits.`);
      }
      uuid = args.uuid.toLowerCase();
      if (this.#byUuid(uuid)) throw new ManagerError('EEXIST', `A device with UUID ${uuid} already exists.`);
    } else {
      uuid = this.#defaultUuid();
    }
    const base = this.#opts.socketName === 'uuid' ? uuid : name;
    const access = this.#access(args.socketGroup ?? this.#opts.socketGroup, args.socketMode ?? this.#opts.socketMode);
    // Read before anything exists, so a snapshot that cannot be had leaves nothing behind.
    const snapshot = args.restore === undefined ? undefined
      : readPrivateFile(args.restore, { what: 'Snapshot', instead: 'choose another with restore', maxBytes: MAX_SNAPSHOT_BYTES, secret: false });

    let device: VfioDevice;
    try {
      device = type.create({ name, quirks, ...(vbe !== null ? { vbe } : {}), memory: this.#memory });
    } catch (err) {
      if (err instanceof BudgetExhaustedError) {
        throw new ManagerError(err.code, `No room for another ${type.name}: ${err.message.replace(/^E[A-Z]+: /, '')}.`);
      }
      throw err;
    }
    let server: DeviceServer;
    let mode: ModeResult | null = null;
    try {
      if (edidVram !== null && args.noEdid !== true) mode = this.#loadEdid(device, type, name, requested, edidVram);
      const onServerEvent = this.#opts.onServerEvent;
      const record = this.#opts.record;
      let recorded = false;
      const traceDevice: TraceDevice = {
        type: type.name, quirks, vbe: vbe ?? 'sample', display: true,
        edid: mode ? { width: mode.width, height: mode.height } : null,
      };
      server = DeviceServer.listen({
        ...this.#opts.server,
        path: join(this.dir, `${base}.sock`), access, device, label: name, display: true,
        ...(onServerEvent ? { onEvent: onServerEvent } : {}),
        ...(record !== undefined ? {
          observe: () => {
            if (recorded) return undefined;
            recorded = true;
            try {
              return traceRecorder(new TraceWriter(`${record}-${name}.trace`, traceDevice, undefined, { force: this.#opts.replaceRecords ?? false }));
            } catch (err) {
              if (!(err instanceof ConfigError)) throw err;
              log.event('error', err instanceof TrustError ? 'untrusted-path' : 'record-failed', `${name}: serving this connection unrecorded: ${err.message}`, { name, ...(err instanceof TrustError ? { security: true } : {}) });
              return undefined;
            }
          },
        } : {}),
      });
    } catch (err) {
      device.destroy();
      throw err;
    }
    const inst: Instance = { name, uuid, type, quirks, vbe, edidVram, device, server, base, access, console: null, starting: null };
    this.#instances.set(name, inst);
    const policy = this.#opts.consoles;
    if (policy && policy.vnc !== 'off') {
      const target = policy.vnc === 'none' ? null : policy.vnc === 'unix' ? 'unix' as const : { host: policy.vnc.host, display: this.#freeDisplay(policy.vnc.firstDisplay) };
      if (target !== null && target !== 'unix') inst.pendingDisplay = target.display;
      inst.starting = this.#startConsole(inst, target).catch((err: unknown) => {
        inst.consoleError = err;
        inst.pendingDisplay = undefined;
        // Whoever waits for it (serve at startup) reports it; a device created later has only the log.
        if (!inst.awaited) log.error(`${name}: no console: ${err instanceof Error ? err.message : String(err)}`);
        return null;
      });
    }
    this.#typeCounters.set(type.name, (this.#typeCounters.get(type.name) ?? 0) + 1);
    if (snapshot !== undefined) {
      try {
        this.restore(name, snapshot);
      } catch (err) {
        this.remove(name);
        throw err;
      }
    }
    const created: CreatedInstance = { ...this.#info(inst), resolution: mode };
    this.#opts.onEvent?.({ kind: 'created', instance: created });
    return created;
  }

  /**
   * A socket access from a group and mode: the group must reach the socket
   * directory (checked once per group), and a mode without a group is
   * refused as pointless.
   */
  #access(group: string | undefined, mode: number | undefined): SocketAccess {
    if (group === undefined) {
      if (mode !== undefined && mode !== 0o600) throw new ConfigError(`Socket mode 0${mode.toString(8)} needs a socket group: only its members get more than the owner.`);
      return OWNER_ONLY;
    }
    // A name is looked up once (getent may ask the network): every later device of the group reuses it.
    let gid = this.#groups.get(group);
    if (gid === undefined) {
      gid = resolveGroup(group);
      this.#groups.set(group, gid);
    }
    if (!this.#reachable.has(gid)) {
      checkGroupCanReach(this.dir, gid, group);
      this.#reachable.add(gid);
    }
    return { mode: mode ?? 0o660, gid };
  }

  /** Close the device's server (its client is dropped, the socket removed) and destroy the device. */
  remove(nameOrUuid: string): { name: string; uuid: string } {
    const inst = this.#get(nameOrUuid);
    this.#instances.delete(inst.name);
    this.#closeConsole(inst);
    try {
      inst.server.close();
    } finally {
      inst.device.destroy();
    }
    this.#opts.onEvent?.({ kind: 'removed', name: inst.name, uuid: inst.uuid });
    return { name: inst.name, uuid: inst.uuid };
  }

  /** Every instance, in creation order. */
  list(): InstanceInfo[] {
    return [...this.#instances.values()].map((i) => this.#info(i));
  }

  /** One instance, from its device model: device info, regions, irqs, plane kind and mode, EDID state. */
  describe(nameOrUuid: string): DeviceDescription {
    const inst = this.#get(nameOrUuid);
    const { edid: _edid, ...model } = describeDeviceModel(inst.device);
    return { ...this.#info(inst), description: inst.type.description, ...model, edidFramebuffer: typeInfo(inst.type).edidFramebuffer };
  }

  /**
   * Change the mode the EDID advertises: link down, the new blob, link up
   * (QEMU's sequence, src/display/edid-link.ts); 'off' only takes the link
   * down. This changes the guest's mode list, not its mode, and only when
   * the guest reads the EDID: Linux bochs-drm 6.13 and later read it at
   * every connector probe (drivers/gpu/drm/tiny/bochs.c
   * bochs_connector_helper_get_modes(), commit 759ef92532f3), which happens
   * when userspace asks (`echo detect > /sys/class/drm/card0-Virtual-1/status`,
   * a desktop's re-probe) — never by itself, since bochs has no hot-plug
   * interrupt — and then userspace picks the mode (fbcon does not switch on
   * a probe). Up to 6.12 bochs-drm read the EDID once at driver load
   * (bochs_connector_init()), so the change shows after the driver is
   * reloaded or the guest reboots.
   * @throws ConfigError for a type without EDID or a bad size.
   */
  setResolution(nameOrUuid: string, resolution: Resolution | 'off'): SetResolutionResult {
    const inst = this.#get(nameOrUuid);
    const index = findEdidRegion(inst.device);
    if (!inst.type.edid || index === undefined) {
      const fixed = inst.type.resolution ? ` (its mode is fixed at ${inst.type.resolution.width}x${inst.type.resolution.height})` : '';
      throw new ConfigError(`${inst.name} is a ${inst.type.name}, which has no EDID region${fixed}.`);
    }
    if (resolution === 'off') {
      setLink(inst.device, index, false);
      return { name: inst.name, link: 'down' };
    }
    const requested = checkResolution(resolution, 'The resolution');
    const mode = this.#loadEdid(inst.device, inst.type, inst.name, requested, inst.edidVram ?? EDID_VRAM_DEFAULT);
    return { name: inst.name, link: 'up', requested, ...mode };
  }

  /** The device's current primary plane as a PNG, taken in this process from the device model. */
  screenshot(nameOrUuid: string): ScreenshotResult & { name: string } {
    const inst = this.#get(nameOrUuid);
    return { name: inst.name, ...screenshotDevice(inst.device, inst.name) };
  }

  /** The instance's state as msgpack bytes (snapshot.ts). */
  snapshot(nameOrUuid: string): Uint8Array {
    const inst = this.#get(nameOrUuid);
    return encodeSnapshot(inst.type, inst.quirks, inst.type.snapshot(inst.device));
  }

  /**
   * Replace the instance's state with a snapshot's. Refused (ConfigError,
   * state unchanged) for another type, quirks profile, device options or
   * build. A connected client should re-query the plane afterwards.
   */
  restore(nameOrUuid: string, bytes: Uint8Array): InstanceInfo {
    const inst = this.#get(nameOrUuid);
    if (!(bytes instanceof Uint8Array)) throw new ConfigError('restore needs the snapshot bytes.');
    const record = openSnapshot(bytes, { name: inst.name, type: inst.type, quirks: inst.quirks });
    try {
      inst.type.restore(inst.device, record);
    } catch (err) {
      if (err instanceof ConfigError || err instanceof VfioError) {
        throw new ConfigError(`The snapshot cannot be restored into ${inst.name}: ${err.message.replace(/\.$/, '')}.`);
      }
      throw err;
    }
    return this.#info(inst);
  }

  /**
   * The device's console once it has started (serve waits for every
   * device's before it says it is ready), or null without one.
   * @throws ConfigError (rejects) when it could not start (a port in use).
   */
  async consoleReady(nameOrUuid: string): Promise<ConsoleInfo | null> {
    const inst = this.#get(nameOrUuid);
    inst.awaited = true;
    if (inst.starting) await inst.starting;
    if (inst.consoleError !== undefined) throw inst.consoleError;
    return inst.console?.info() ?? null;
  }

  /**
   * Start a VNC listener for a device at runtime (`mdevsim vnc`): a Unix
   * socket `<dir>/<name>.vnc`, or a TCP display. A device without a
   * console gets one (with its QMP endpoint, unless the policy has none).
   * @throws ManagerError EEXIST when the device already has a VNC listener;
   *   ConfigError (rejects) for TCP without authentication configured, or a port in use.
   */
  async startVnc(nameOrUuid: string, target: 'unix' | { host: string; display: number }): Promise<ConsoleInfo> {
    const inst = this.#get(nameOrUuid);
    if (inst.starting) await inst.starting;
    if (inst.console?.vnc.address) throw new ManagerError('EEXIST', `${inst.name} already has VNC on ${inst.console.vnc.address}.`);
    if (inst.console) {
      // A console serving only the web view: give it a listener by starting it again around the same device.
      await this.#closeConsoleNow(inst);
    }
    inst.starting = this.#startConsole(inst, target);
    const c = await inst.starting;
    return c!.info();
  }

  /** The TCP display a new listener should take: the policy's first, or the next one free. */
  freeDisplay(): number {
    const v = this.#opts.consoles?.vnc;
    return this.#freeDisplay(typeof v === 'object' ? v.firstDisplay : 0);
  }

  /** The console of a device, if it has one (the web view attaches viewers to it). */
  console(nameOrUuid: string): DeviceConsole | null {
    return this.#get(nameOrUuid).console;
  }

  /** The device model of an instance (in-process users and tests). */
  device(nameOrUuid: string): VfioDevice {
    return this.#get(nameOrUuid).device;
  }

  /** The DeviceServer of an instance. */
  server(nameOrUuid: string): DeviceServer {
    return this.#get(nameOrUuid).server;
  }

  /** Remove every instance (in creation order). Idempotent; the manager refuses create afterwards. */
  close(): void {
    this.#closed = true;
    for (const name of [...this.#instances.keys()]) this.remove(name);
  }

  /**
   * Stop every server (no new connections, no more reading), give clients
   * `deadlineMs` to take the replies already queued, then drop them, remove
   * the sockets and destroy the devices. The manager refuses create afterwards.
   */
  async shutdown(deadlineMs: number): Promise<void> {
    this.#closed = true;
    const instances = [...this.#instances.values()];
    await Promise.all(instances.map((i) => this.#closeConsoleNow(i)));
    await Promise.all(instances.map((i) => i.server.shutdown(deadlineMs)));
    for (const i of instances) if (this.#instances.has(i.name)) this.remove(i.name);
  }

  #open(): void {
    if (this.#closed) throw new ManagerError('ESHUTDOWN', 'The manager is shutting down.');
  }

  #info(i: Instance): InstanceInfo {
    return {
      name: i.name, uuid: i.uuid, type: i.type.name, family: i.type.family, socket: i.server.path,
      quirks: i.quirks, vbe: i.vbe, display: i.type.display, connected: i.server.connected, edid: edidState(i.device),
      edidVram: i.edidVram, console: i.console?.info() ?? null,
    };
  }

  async #startConsole(inst: Instance, target: 'unix' | { host: string; display: number } | null): Promise<DeviceConsole> {
    const policy = this.#opts.consoles;
    let vnc: VncTarget | null = null;
    let auth: RfbAuth = { kind: 'none' };
    if (target === 'unix') vnc = { kind: 'unix', path: join(this.dir, `${inst.base}.vnc`) };
    else if (target !== null) {
      // Every local user reaches a TCP port: serving one needs the user's decision about authentication.
      if (policy?.tcpAuth === undefined) throw new ConfigError(`${inst.name}: VNC over TCP needs serve --vnc-password-file FILE (or --vnc-auth none).`);
      vnc = { kind: 'tcp', host: target.host, port: VNC_BASE_PORT + target.display };
      auth = policy.tcpAuth;
    }
    const console = await DeviceConsole.start({
      name: inst.name, desktopName: `${inst.name} (${inst.type.name}, mdevsim)`, device: inst.device, vnc, auth,
      qmpPath: policy?.qmp === false ? null : join(this.dir, `${inst.base}.qmp`),
      access: inst.access,
      ...(policy?.maxViewers !== undefined ? { maxViewers: policy.maxViewers } : {}),
      onInput: (connected) => this.#opts.onEvent?.({ kind: 'input', name: inst.name, connected }),
    });
    if (this.#instances.get(inst.name) !== inst) {
      // Removed while starting.
      await console.close();
      throw new ManagerError('ENOENT', `${inst.name} was removed while its console started.`);
    }
    inst.console = console;
    inst.starting = null;
    inst.pendingDisplay = undefined;
    this.#opts.onEvent?.({ kind: 'console', name: inst.name, console: console.info() });
    return console;
  }

  /** Lowest TCP display ≥ first that no device's console uses. */
  #freeDisplay(first: number): number {
    const used = new Set<number>();
    for (const i of this.#instances.values()) {
      const d = i.console?.info().display;
      if (d !== null && d !== undefined) used.add(d);
      if (i.pendingDisplay !== undefined) used.add(i.pendingDisplay);
    }
    let d = first;
    while (used.has(d)) d++;
    return d;
  }

  #closeConsole(inst: Instance): void {
    void this.#closeConsoleNow(inst).catch((err: unknown) => log.warn(`${inst.name}: closing its console: ${err instanceof Error ? err.message : String(err)}`));
  }

  async #closeConsoleNow(inst: Instance): Promise<void> {
    const pending = inst.starting;
    inst.starting = null;
    const c = inst.console;
    inst.console = null;
    await c?.close();
    if (pending) { try { await pending; } catch { /* it closes itself when it finds the device gone */ } }
  }

  #get(nameOrUuid: string): Instance {
    if (typeof nameOrUuid !== 'string') throw new ConfigError('Name the device by its name or UUID.');
    const inst = this.#instances.get(nameOrUuid) ?? this.#byUuid(nameOrUuid.toLowerCase());
    if (!inst) {
      const known = [...this.#instances.keys()];
      throw new ManagerError('ENOENT', `No device is named ${nameOrUuid}${known.length ? ` (devices: ${known.join(', ')})` : ' (there are no devices)'}.`);
    }
    return inst;
  }

  #byUuid(uuid: string): Instance | undefined {
    for (const i of this.#instances.values()) if (i.uuid === uuid) return i;
    return undefined;
  }

  #defaultName(type: DeviceType): string {
    for (let n = this.#typeCounters.get(type.name) ?? 0; ; n++) {
      const name = `${type.name}-${n}`;
      if (!this.#instances.has(name)) return name;
    }
  }

  #defaultUuid(): string {
    for (;;) {
      const uuid = (this.#opts.uuid ?? randomUUID)().toLowerCase();
      if (!this.#byUuid(uuid)) return uuid;
    }
  }


  /**
   * Load an EDID for the requested (or default) mode and raise the link, as
   * QEMU's display code does for kernel mdevs: over vfio-user nobody else
   * writes the EDID region, and without it bochs-drm falls back to 1024×768.
   * A mode some guests refuse is logged (event `edid-vram`) wherever the
   * request came from: serve's devices, definitions, the control socket.
   */
  #loadEdid(device: VfioDevice, type: DeviceType, name: string, requested: Resolution | undefined, vram: EdidVram): ModeResult {
    const index = findEdidRegion(device);
    if (index === undefined) throw new ConfigError(`${name} has no EDID region.`);
    const mode = edidModeFor({ maxXres: type.maxXres, maxYres: type.maxYres, memsize: type.memorySize }, requested, { vram });
    loadEdid(device, index, generateEdid({ width: mode.width, height: mode.height }));
    const warning = mode.warning !== undefined ? { warning: mode.warning } : {};
    if (mode.warning !== undefined) log.event('warn', 'edid-vram', `${name}: ${mode.warning}`, { name, width: mode.width, height: mode.height });
    return mode.clamped
      ? { width: mode.width, height: mode.height, clamped: true, reason: mode.reason ?? '', ...warning }
      : { width: mode.width, height: mode.height, clamped: false, ...warning };
  }
}
