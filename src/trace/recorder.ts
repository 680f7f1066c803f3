/**
 * Turns server-side traffic into trace records: each whole request (header
 * rebuilt from the frame, payload, placeholders for its fds) and each reply.
 */
import { describeFd } from '../sys/fds.ts';
import type { Frame } from '../vfio-user/framer.ts';
import type { Outgoing } from '../vfio-user/session.ts';
import type { ConnectionObserver } from '../vfio-user/server.ts';
import type { FdPlaceholder, TraceWriter } from './trace.ts';

export type TrafficObserver = ConnectionObserver;

export function frameBytes(frame: Frame): Uint8Array {
  const out = new Uint8Array(16 + frame.payload.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, frame.id, true);
  v.setUint16(2, frame.command, true);
  v.setUint32(4, frame.size, true);
  v.setUint32(8, frame.flags, true);
  v.setUint32(12, frame.error, true);
  out.set(frame.payload, 16);
  return out;
}

function placeholder(fd: number): FdPlaceholder {
  const d = describeFd(fd);
  return d.kind === 'memfd' ? { kind: 'memfd', size: d.size ?? 0 } : { kind: 'eventfd' };
}

export function traceRecorder(writer: TraceWriter): TrafficObserver {
  return {
    request: (frame: Frame) => writer.message('c2s', frameBytes(frame), frame.fds.map(placeholder)),
    reply: (out: Outgoing) => writer.message('s2c', out.bytes, out.fds.map(placeholder)),
    close: () => writer.close(),
  };
}
