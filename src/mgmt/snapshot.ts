/**
 * Instance snapshots as one named msgpack record (never positional):
 *
 * ```ts
 * { format: 'mdevsim-snapshot', version: 1,
 *   compatibility: 'mbochs; mdevsim-mbochs v1; mdevsim 0.1.0',
 *   type: 'mbochs-medium', quirks: 'none',
 *   device: <the device model's own snapshot record> }
 * ```
 *
 * `compatibility` names the snapshot layout: the device family, the device
 * model's snapshot format and version, and the mdevsim version
 * (package.json). A snapshot restores only into an instance of the same type
 * and quirks profile, on a build whose compatibility string for that family
 * is exactly the same; anything else is refused with one sentence
 * (ConfigError) before the device is touched. Uint8Array fields (VRAM,
 * config-space image, EDID blob) travel as msgpack bin and decode as
 * Uint8Array again; the device snapshots hold no bigint.
 */
import { packageVersion } from '../util/package-root.ts';
import { decode, encode } from '@msgpack/msgpack';
import { ConfigError } from '../util/errors.ts';
import { showSent } from '../pci/format.ts';
import { msgpackProblem } from './control-wire.ts';
import type { DeviceType } from '../../devices/catalog.ts';

export const SNAPSHOT_FORMAT = 'mdevsim-snapshot';
export const SNAPSHOT_VERSION = 1;

export interface SnapshotRecord {
  readonly format: typeof SNAPSHOT_FORMAT;
  readonly version: typeof SNAPSHOT_VERSION;
  /** See {@link snapshotCompatibility}. */
  readonly compatibility: string;
  /** mdev type name, e.g. "mbochs-medium". */
  readonly type: string;
  readonly quirks: string;
  /** The device model's snapshot record (MbochsSnapshot, MdpySnapshot). */
  readonly device: object;
}

/** mdevsim's version, from the package's package.json (see src/util/package-root.ts). */
export function mdevsimVersion(): string {
  return packageVersion();
}

/** The snapshot layout this build writes (and the only one it reads) for a type's family. */
export function snapshotCompatibility(type: DeviceType): string {
  return `${type.family}; ${type.snapshotFormat} v${type.snapshotVersion}; mdevsim ${mdevsimVersion()}`;
}

/** Wrap a device snapshot record and encode it. */
export function encodeSnapshot(type: DeviceType, quirks: string, device: object): Uint8Array {
  const record: SnapshotRecord = {
    format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, compatibility: snapshotCompatibility(type), type: type.name, quirks, device,
  };
  return encode(record, { ignoreUndefined: true });
}

/**
 * Decode snapshot bytes and check that they may be restored into an
 * instance named `target` of `type` with `quirks`. Returns the device record.
 * @throws ConfigError (one sentence) when the bytes are not a snapshot, or
 *   the snapshot belongs to another type, profile or build.
 */
export function openSnapshot(bytes: Uint8Array, target: { name: string; type: DeviceType; quirks: string }): object {
  let raw: unknown;
  try {
    raw = decode(bytes);
  } catch (err) {
    throw new ConfigError(`The data is not an mdevsim snapshot: ${msgpackProblem(err)}.`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || (raw as { format?: unknown }).format !== SNAPSHOT_FORMAT) {
    throw new ConfigError(`The data is not an mdevsim snapshot (no "format": "${SNAPSHOT_FORMAT}" record).`);
  }
  const r = raw as Partial<Record<keyof SnapshotRecord, unknown>>;
  if (r.version !== SNAPSHOT_VERSION) {
    throw new ConfigError(`The snapshot record has version ${showSent(r.version)}; this build reads version ${SNAPSHOT_VERSION} only.`);
  }
  if (r.type !== target.type.name) {
    throw new ConfigError(`The snapshot was taken from a device of type ${showSent(r.type)} and cannot be restored into ${target.name}, whose type is ${target.type.name}.`);
  }
  const expected = snapshotCompatibility(target.type);
  if (r.compatibility !== expected) {
    throw new ConfigError(`The snapshot's layout "${showSent(r.compatibility)}" is not the one this build reads ("${expected}"), so it cannot be restored.`);
  }
  if (r.quirks !== target.quirks) {
    throw new ConfigError(`The snapshot was taken with quirks '${showSent(r.quirks)}' and ${target.name} runs with quirks '${target.quirks}'.`);
  }
  if (r.device === null || typeof r.device !== 'object' || Array.isArray(r.device)) {
    throw new ConfigError('The snapshot has no device record.');
  }
  return r.device;
}
