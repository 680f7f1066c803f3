/**
 * `mdevsim serve`: create devices, serve each on its own vfio-user socket,
 * print how to attach QEMU, log connections, and shut down cleanly on
 * SIGINT/SIGTERM (sockets removed, devices destroyed).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../util/errors.ts';
import { memfdMemoryFactory } from '../sys/memfd.ts';
import { DeviceServer, type ServerEvent } from '../vfio-user/server.ts';
import type { VfioDevice } from '../vfio/device.ts';
import { deviceType, type DeviceType } from '../mgmt/device-types.ts';
import { generateEdid } from '../display/edid.ts';
import { edidModeFor } from '../display/edid-policy.ts';
import { findEdidRegion, loadEdid } from '../display/edid-link.ts';
import type { Quirks } from '../../devices/common/options.ts';

export const DEFAULT_DEVICES = ['mbochs-medium', 'mdpy-xga'];

export interface ServeOptions {
  readonly dir: string;
  /** Type names; "type" or "type=name". */
  readonly devices: readonly string[];
  readonly quirks: Quirks;
  readonly vbe: 'sample' | 'strict';
  /** Preferred mode put in the EDID of devices that have one; undefined = the type's default. */
  readonly resolution?: { readonly width: number; readonly height: number };
  /** Keep the sample's initial EDID state (link down, no blob). */
  readonly noEdid?: boolean;
  readonly json: boolean;
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

/** The QEMU 10.x command line that attaches one device (vfio-user.md §2.1, §7). */
export function qemuCommandLine(socketPath: string, opts: { memory?: string } = {}): string {
  const dev = JSON.stringify({ driver: 'vfio-user-pci', socket: { type: 'unix', path: socketPath } });
  return [
    'qemu-system-x86_64 -machine q35,accel=kvm:tcg,memory-backend=mem -m 2G',
    `-object memory-backend-memfd,id=mem,size=${opts.memory ?? '2G'},share=on`,
    '-nodefaults -serial mon:stdio',
    `-device '${dev}'`,
  ].join(' \\\n    ');
}

export function defaultSocketDir(): string {
  const runtime = process.env['XDG_RUNTIME_DIR'];
  return runtime ? join(runtime, 'mdevsim') : join('/tmp', `mdevsim-${process.getuid?.() ?? 'user'}`);
}

/** Start serving; returns the devices and a stop() that undoes everything. */
export function startServing(opts: ServeOptions): { devices: ServedDevice[]; stop(): void } {
  mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  const served: ServedDevice[] = [];
  const counters = new Map<string, number>();
  const stop = (): void => {
    for (const s of served.splice(0)) {
      s.server.close();
      s.device.destroy();
    }
  };
  try {
    for (const spec of opts.devices) {
      const [typeName, given] = spec.split('=', 2) as [string, string | undefined];
      const type = deviceType(typeName);
      const n = counters.get(type.name) ?? 0;
      counters.set(type.name, n + 1);
      const name = given ?? `${type.name}-${n}`;
      if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new ConfigError(`Device name "${name}" may only use letters, digits, '.', '_' and '-'.`);
      const device = type.create({ name, quirks: opts.quirks, vbe: opts.vbe, memory: memfdMemoryFactory });
      let server: DeviceServer;
      let edidMode: { width: number; height: number } | undefined;
      try {
        if (type.edid && !opts.noEdid) edidMode = applyResolution(device, type, name, opts);
        server = DeviceServer.listen({
          path: join(opts.dir, `${name}.sock`), device, label: name, display: true,
          onEvent: (e) => logEvent(opts, e),
        });
      } catch (err) {
        device.destroy();
        throw err;
      }
      served.push({ name, type, edidMode, device, server });
    }
  } catch (err) {
    stop();
    throw err;
  }
  return { devices: served, stop };
}

/**
 * Load an EDID for the requested (or default) mode and raise the link, as
 * QEMU's display code does for kernel mdevs: over vfio-user nobody else
 * writes the EDID region, and without it bochs-drm falls back to 1024×768
 * (vfio-user.md §7.1). The guest reads it when its driver probes.
 */
export function applyResolution(
  device: VfioDevice, type: DeviceType, name: string,
  opts: { resolution?: { width: number; height: number }; out: (line: string) => void; json: boolean },
): { width: number; height: number } {
  const index = findEdidRegion(device);
  if (index === undefined) throw new ConfigError(`${name} has no EDID region.`);
  const mode = edidModeFor({ maxXres: type.maxXres, maxYres: type.maxYres, memsize: type.memorySize }, opts.resolution);
  if (mode.clamped && opts.resolution) {
    const text = `${name}: resolution ${opts.resolution.width}x${opts.resolution.height} clamped to ${mode.width}x${mode.height}: ${mode.reason ?? ''}`;
    opts.out(opts.json ? JSON.stringify({ event: 'clamped', device: name, width: mode.width, height: mode.height, reason: mode.reason }) : text);
  }
  loadEdid(device, index, generateEdid({ width: mode.width, height: mode.height }));
  return { width: mode.width, height: mode.height };
}

function logEvent(opts: ServeOptions, e: ServerEvent): void {
  if (opts.json) opts.out(JSON.stringify({ event: e.kind, device: e.label, ...('reason' in e ? { reason: e.reason } : {}) }));
  else if (e.kind === 'connected') opts.out(`${e.label}: client connected`);
  else if (e.kind === 'refused') opts.out(`${e.label}: refused a second client (${e.reason})`);
  else opts.out(`${e.label}: client disconnected (${e.reason}; ${e.requests} requests)`);
}

/** Run until SIGINT/SIGTERM. */
export function serveUntilSignalled(opts: ServeOptions): void {
  const { devices, stop } = startServing(opts);
  for (const d of devices) {
    if (opts.json) {
      opts.out(JSON.stringify({ event: 'device', name: d.name, type: d.type.name, socket: d.server.path, edid: d.edidMode ?? null }));
    } else {
      const edid = d.edidMode ? `; EDID preferred mode ${d.edidMode.width}x${d.edidMode.height}` : '';
      opts.out(`${d.name} (${d.type.description}${edid}) on ${d.server.path}`);
      opts.out(`  attach with:\n    ${qemuCommandLine(d.server.path)}\n`);
    }
  }
  opts.out(opts.json ? JSON.stringify({ event: 'ready' }) : `serving ${devices.length} device(s); Ctrl-C stops`);
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    stop();
    opts.out(opts.json ? JSON.stringify({ event: 'stopped', signal: sig }) : `stopped (${sig}); sockets removed`);
    process.exitCode = 0;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}
