/**
 * vfio-user traces: every message in both directions, as a msgpack stream of
 * named records (never positional). The first record describes the device
 * so a replay can build a fresh one; each following record is one whole
 * message with placeholders for the fds it carried.
 *
 *   { kind: 'header', format: 'mdevsim-trace', version: 1, device: {...} }
 *   { kind: 'msg', dir: 'c2s' | 's2c', t: <ms since start>, bytes, fds: [{ kind, size? }] }
 *
 * fds cannot be stored; a placeholder says what the fd was (a memfd and its
 * size, an eventfd, something else) so a replay can pass an equivalent one.
 * Timing is recorded for humans and benchmarks; replay ignores it (device
 * models are deterministic, so only order matters).
 */
import { readFileSync } from 'node:fs';
import { decodeMulti, encode } from '@msgpack/msgpack';
import { ConfigError } from '../util/errors.ts';
import { createOutputFile, type OutputFile, type OutputFileOptions } from '../sys/trusted-path.ts';

export const TRACE_FORMAT = 'mdevsim-trace';
export const TRACE_VERSION = 1;

/** Enough to build the same device again. */
export interface TraceDevice {
  readonly type: string;
  readonly quirks: 'none' | 'upstream';
  readonly vbe: 'sample' | 'strict';
  /** EDID preferred mode loaded before the first client, or null for none. */
  readonly edid: { readonly width: number; readonly height: number } | null;
  /** Session options that change replies (the display extension). */
  readonly display: boolean;
}

export interface TraceHeader {
  readonly kind: 'header';
  readonly format: typeof TRACE_FORMAT;
  readonly version: number;
  readonly device: TraceDevice;
}

export interface FdPlaceholder {
  readonly kind: 'memfd' | 'eventfd' | 'other';
  /** memfd size in bytes. */
  readonly size?: number;
}

export interface TraceMessage {
  readonly kind: 'msg';
  readonly dir: 'c2s' | 's2c';
  /** Milliseconds since the trace started (informational). */
  readonly t: number;
  readonly bytes: Uint8Array;
  readonly fds: readonly FdPlaceholder[];
}

export interface Trace {
  readonly header: TraceHeader;
  readonly messages: readonly TraceMessage[];
}

/**
 * Appends records to a trace file as they happen (one write per record, so a
 * crash loses at most one). The file is created exclusively (createOutputFile):
 * an existing file or a symbolic link is refused unless `output.force`, and
 * then a new file replaces it at once (replaceAtOnce), so a crash still leaves
 * the trace under its own name.
 */
export class TraceWriter {
  #file: OutputFile | undefined;
  readonly #start: number;
  readonly #now: () => number;

  /**
   * `now` is injected for deterministic tests; the default is a monotonic clock.
   * @throws ConfigError when the file cannot be created (createOutputFile).
   */
  constructor(path: string, device: TraceDevice, now: () => number = () => performance.now(), output: OutputFileOptions = {}) {
    this.#now = now;
    this.#start = now();
    this.#file = createOutputFile(path, { ...output, replaceAtOnce: true });
    try {
      this.#write({ kind: 'header', format: TRACE_FORMAT, version: TRACE_VERSION, device } satisfies TraceHeader);
    } catch (err) {
      this.#file.abort();
      throw err;
    }
  }

  message(dir: 'c2s' | 's2c', bytes: Uint8Array, fds: readonly FdPlaceholder[] = []): void {
    this.#write({ kind: 'msg', dir, t: Math.round((this.#now() - this.#start) * 1000) / 1000, bytes, fds } satisfies TraceMessage);
  }

  close(): void {
    this.#file?.commit();
    this.#file = undefined;
  }

  #write(record: TraceHeader | TraceMessage): void {
    this.#file?.write(encode(record));
  }
}

/** Read a whole trace, checking its format and version; one clear sentence on any problem. */
export function readTrace(path: string): Trace {
  let records: unknown[];
  try {
    records = [...decodeMulti(readFileSync(path))];
  } catch (err) {
    throw new ConfigError(`${path} is not a readable mdevsim trace (${err instanceof Error ? err.message : String(err)}).`);
  }
  const header = records[0] as Partial<TraceHeader> | undefined;
  if (!header || header.kind !== 'header' || header.format !== TRACE_FORMAT) {
    throw new ConfigError(`${path} does not start with an mdevsim trace header.`);
  }
  if (header.version !== TRACE_VERSION) {
    throw new ConfigError(`${path} is trace format version ${String(header.version)}; this build reads version ${TRACE_VERSION}.`);
  }
  const messages: TraceMessage[] = [];
  for (const [i, r] of records.slice(1).entries()) {
    const m = r as Partial<TraceMessage>;
    if (m.kind !== 'msg' || (m.dir !== 'c2s' && m.dir !== 's2c') || !(m.bytes instanceof Uint8Array) || !Array.isArray(m.fds)) {
      throw new ConfigError(`${path}: record ${i + 1} is not a trace message.`);
    }
    messages.push(m as TraceMessage);
  }
  return { header: header as TraceHeader, messages };
}
