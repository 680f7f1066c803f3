/**
 * Record a session in-process, write the trace, read it back and replay it on
 * a fresh device: every reply must match byte for byte and the final device
 * state hash must equal the recorded device's. A tampered trace must be
 * caught.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode } from '@msgpack/msgpack';
import { closeFd } from '../../../src/sys/fds.ts';
import { createMemfd } from '../../../src/sys/memfd.ts';
import { Session } from '../../../src/vfio-user/session.ts';
import * as P from '../../../src/vfio-user/protocol.ts';
import { TraceWriter, readTrace, type TraceDevice } from '../../../src/trace/trace.ts';
import { traceRecorder } from '../../../src/trace/recorder.ts';
import { deviceForTrace, deviceStateHash, replayTrace } from '../../../src/trace/replay.ts';
import { frame, le, versionPayload } from '../../support/vfio-user-msg.ts';
import type { VfioDevice } from '../../../src/vfio/device.ts';

const dir = mkdtempSync(join(tmpdir(), 'mdevsim-trace-'));
const devices: VfioDevice[] = [];
afterEach(() => { for (const d of devices.splice(0)) d.destroy(); });

const DEVICE: TraceDevice = { type: 'mbochs-small', quirks: 'none', vbe: 'sample', edid: { width: 800, height: 600 }, display: true };

/** A short realistic session: negotiate, DMA map with an fd, region info (fd reply), a mode set, a plane query, a dmabuf export. */
function record(path: string): string | undefined {
  const device = deviceForTrace(DEVICE, 'recorded');
  devices.push(device);
  let t = 0;
  const writer = new TraceWriter(path, DEVICE, () => (t += 0.5));
  const rec = traceRecorder(writer);
  const session = new Session(device, { closeFd, display: true });
  let id = 0;
  const send = (command: number, payload?: Uint8Array, fds: number[] = []) => {
    const f = frame(++id, command, payload, { fds });
    rec.request(f);
    const out = session.handle(f);
    if (out) rec.reply(out);
  };
  send(P.VFIO_USER_VERSION, versionPayload('{"capabilities":{"max_msg_fds":8,"mdevsim_display":true}}'));
  send(P.VFIO_USER_DMA_MAP, le([32, 4], [3, 4], [0, 8], [0, 8], [1 << 20, 8]), [createMemfd('ram', 1 << 20).take()]);
  send(P.VFIO_USER_DEVICE_GET_INFO, le([16, 4]));
  send(P.VFIO_USER_DEVICE_GET_REGION_INFO, le([32, 4], [0, 4], [0, 4], [0, 4], [0, 8], [0, 8]));
  for (const [i, v] of [[4, 0], [3, 32], [1, 640], [2, 480], [6, 640], [8, 0], [9, 0], [4, 0x41]] as const) {
    send(P.VFIO_USER_REGION_WRITE, le([0x500 + 2 * i, 8], [2, 4], [2, 4], [v, 2]));
  }
  send(P.VFIO_USER_REGION_WRITE, le([0x100, 8], [0, 4], [4, 4], [0x00ff00ff, 4]));
  send(P.MDEVSIM_USER_QUERY_GFX_PLANE, le([64, 4], [2, 4], [1, 4], ...new Array(13).fill([0, 4]) as [number, 4][]));
  send(P.MDEVSIM_USER_GET_GFX_DMABUF, le([56, 4], [1, 4]));
  send(P.VFIO_USER_REGION_READ, le([0, 8], [7, 4], [64, 4]));
  send(0x7777); // an error reply is part of the trace too
  session.close();
  writer.close();
  return deviceStateHash(device);
}

describe('trace record and replay', () => {
  it('a replay on a fresh device reproduces every reply byte for byte and the same final state hash', () => {
    const path = join(dir, 'session.trace');
    const recordedHash = record(path);
    const trace = readTrace(path);
    expect(trace.header.device).toEqual(DEVICE);
    const requests = trace.messages.filter((m) => m.dir === 'c2s');
    expect(requests).toHaveLength(17);
    expect(requests[1]!.fds).toEqual([{ kind: 'memfd', size: 1 << 20 }]); // the DMA_MAP's guest RAM
    expect(trace.messages.find((m) => m.dir === 's2c' && m.fds.length === 1)).toBeDefined(); // region info with the VRAM fd
    const result = replayTrace(trace);
    expect(result.mismatches).toEqual([]);
    expect(result.replies).toBe(trace.messages.filter((m) => m.dir === 's2c').length);
    expect(recordedHash).toMatch(/^[0-9a-f]{64}$/);
    expect(result.stateHash).toBe(recordedHash);
  });

  it('a tampered reply is reported as a mismatch at its index', () => {
    const path = join(dir, 'tampered.trace');
    record(path);
    const trace = readTrace(path);
    const replies = trace.messages.filter((m) => m.dir === 's2c');
    const victim = replies[2]!;
    const bytes = victim.bytes.slice();
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;
    const tampered = { ...trace, messages: trace.messages.map((m) => (m === victim ? { ...m, bytes } : m)) };
    const result = replayTrace(tampered);
    expect(result.mismatches).toEqual([{ reply: 2, reason: expect.stringMatching(/bytes differ/) }]);
  });

  it('refuses a file that is not a trace, and a trace of another format version, with one sentence', () => {
    const junk = join(dir, 'junk.trace');
    writeFileSync(junk, encode({ hello: 1 }));
    expect(() => readTrace(junk)).toThrow(/does not start with an mdevsim trace header/);
    const future = join(dir, 'future.trace');
    writeFileSync(future, encode({ kind: 'header', format: 'mdevsim-trace', version: 99, device: DEVICE }));
    expect(() => readTrace(future)).toThrow(/version 99; this build reads version 1/);
    expect(readFileSync(future).length).toBeGreaterThan(0);
  });
});

process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
