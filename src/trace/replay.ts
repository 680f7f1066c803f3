/**
 * Replay a trace: build a fresh device as the header describes, feed the
 * client's messages through the same framer and session the server uses, and
 * check every reply byte for byte against the recorded one. Device models are
 * deterministic (no clock, no randomness), so a faithful replay reproduces
 * every reply and ends in the same device state; the state hash (sha256 of the
 * device's msgpack snapshot) makes that comparable across runs.
 */
import { createHash } from 'node:crypto';
import { encode } from '@msgpack/msgpack';
import { closeFd, dupFd } from '../sys/fds.ts';
import { createMemfd, memfdMemoryFactory } from '../sys/memfd.ts';
import { EventFd } from '../sys/eventfd.ts';
import type { VfioDevice } from '../vfio/device.ts';
import { Framer } from '../vfio-user/framer.ts';
import { Session, maxMessageSize, DEFAULT_SESSION_LIMITS } from '../vfio-user/session.ts';
import { deviceType } from '../../devices/catalog.ts';
import { generateEdid } from '../display/edid.ts';
import { findEdidRegion, loadEdid } from '../display/edid-link.ts';
import type { FdPlaceholder, Trace, TraceDevice } from './trace.ts';

export interface ReplayMismatch {
  /** Index of the reply in the recorded s2c sequence. */
  readonly reply: number;
  readonly reason: string;
}

export interface ReplayResult {
  readonly requests: number;
  readonly replies: number;
  readonly mismatches: readonly ReplayMismatch[];
  /** sha256 (hex) of the device's snapshot after the last message, when the device can snapshot. */
  readonly stateHash: string | undefined;
}

/** Build the device a trace header describes, in its initial state (EDID loaded as serve does). */
export function deviceForTrace(d: TraceDevice, name = 'replay'): VfioDevice {
  const device = deviceType(d.type).create({ name, quirks: d.quirks, vbe: d.vbe, memory: memfdMemoryFactory });
  if (d.edid) {
    const index = findEdidRegion(device);
    if (index !== undefined) loadEdid(device, index, generateEdid({ width: d.edid.width, height: d.edid.height }));
  }
  return device;
}

/** sha256 of the device's snapshot record, or undefined for a device without snapshot(). */
export function deviceStateHash(device: VfioDevice): string | undefined {
  const snap = (device as Partial<{ snapshot(): unknown }>).snapshot;
  if (typeof snap !== 'function') return undefined;
  return createHash('sha256').update(encode(snap.call(device))).digest('hex');
}

/** An fd equivalent to the recorded one, for the session to own (it closes what it does not keep). */
function materialize(p: FdPlaceholder): number {
  if (p.kind === 'eventfd') {
    const e = EventFd.create();
    try {
      return dupFd(e.fd).take();
    } finally {
      e.close();
    }
  }
  return createMemfd('replay-fd', p.kind === 'memfd' ? (p.size ?? 0) : 0).take();
}

export function replayTrace(trace: Trace, opts: { device?: VfioDevice } = {}): ReplayResult {
  const device = opts.device ?? deviceForTrace(trace.header.device);
  const limits = DEFAULT_SESSION_LIMITS;
  const session = new Session(device, { closeFd, label: 'replay', display: trace.header.device.display, limits });
  const framer = new Framer({ maxMessageSize: maxMessageSize(limits), maxFdsPerMessage: limits.maxMsgFds }, closeFd);
  const expected = trace.messages.filter((m) => m.dir === 's2c');
  const mismatches: ReplayMismatch[] = [];
  let produced = 0;
  let requests = 0;
  try {
    for (const m of trace.messages) {
      if (m.dir !== 'c2s') continue;
      requests++;
      framer.push(m.bytes, m.fds.map(materialize));
      for (let f = framer.next(); f; f = framer.next()) {
        const out = session.handle(f);
        if (!out) continue;
        const want = expected[produced];
        if (!want) {
          mismatches.push({ reply: produced, reason: 'a reply the trace does not have' });
        } else if (!equalBytes(want.bytes, out.bytes)) {
          mismatches.push({ reply: produced, reason: `reply bytes differ (${out.bytes.length} vs recorded ${want.bytes.length})` });
        } else if (want.fds.length !== out.fds.length) {
          mismatches.push({ reply: produced, reason: `reply carries ${out.fds.length} fds, recorded ${want.fds.length}` });
        }
        produced++;
      }
    }
    if (produced < expected.length) mismatches.push({ reply: produced, reason: `${expected.length - produced} recorded replies were not produced` });
    session.close();
    return { requests, replies: produced, mismatches, stateHash: deviceStateHash(device) };
  } finally {
    framer.close();
    if (!opts.device) device.destroy();
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
