/**
 * The shipped trace (recorded by test/support/record-fixture.ts from the QEMU
 * 10.2 realize sequence plus the bochs-drm guest model's probe, mode set and
 * drawing, through `mdevsim serve --record`) replays on a fresh device with
 * every reply byte-identical, and two replays end in the same device state.
 * Pixels the guest wrote through the mapped BAR0 never crossed the socket, so
 * they are not in the trace (that is the point of zero-copy).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { encode } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { readTrace } from '../../src/trace/trace.ts';
import { replayTrace } from '../../src/trace/replay.ts';
import * as P from '../../src/vfio-user/protocol.ts';

const root = resolve(import.meta.dirname, '../..');
const FIXTURE = join(root, 'test/fixtures/traces/mbochs-qemu-realize-bochs-drm.trace');
const run = promisify(execFile);

function commandsOf(trace: ReturnType<typeof readTrace>): Set<number> {
  return new Set(trace.messages.filter((m) => m.dir === 'c2s').map((m) => m.bytes[2]! | (m.bytes[3]! << 8)));
}

describe('shipped trace: QEMU realize + bochs-drm on mbochs-medium', () => {
  const trace = readTrace(FIXTURE);

  it('covers the realize commands, BAR2 dispi writes and the display extension', () => {
    expect(trace.header.device).toMatchObject({ type: 'mbochs-medium', quirks: 'none', edid: { width: 1280, height: 800 } });
    const cmds = commandsOf(trace);
    for (const c of [P.VFIO_USER_VERSION, P.VFIO_USER_DMA_MAP, P.VFIO_USER_DEVICE_GET_INFO, P.VFIO_USER_DEVICE_GET_REGION_INFO,
      P.VFIO_USER_DEVICE_GET_IRQ_INFO, P.VFIO_USER_REGION_READ, P.VFIO_USER_REGION_WRITE, P.VFIO_USER_DEVICE_RESET,
      P.MDEVSIM_USER_QUERY_GFX_PLANE, P.MDEVSIM_USER_GET_GFX_DMABUF, P.MDEVSIM_USER_RELEASE_GFX_DMABUF]) {
      expect(cmds.has(c), `command ${c}`).toBe(true);
    }
  });

  it('replays with every reply byte-identical, and two replays end in the same state hash', () => {
    const a = replayTrace(trace);
    const b = replayTrace(trace);
    expect(a.mismatches).toEqual([]);
    expect(a.replies).toBe(trace.messages.filter((m) => m.dir === 's2c').length);
    expect(a.stateHash).toMatch(/^[0-9a-f]{64}$/);
    expect(b.stateHash).toBe(a.stateHash);
  });

  it('`mdevsim replay` exits 0 on the trace and 1 on a tampered copy, naming the reply', async () => {
    const ok = await run(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'replay', FIXTURE, '--json'], { cwd: root });
    expect(JSON.parse(ok.stdout.trim().split('\n').pop()!)).toMatchObject({ mismatches: [] });
    const replies = trace.messages.filter((m) => m.dir === 's2c');
    const victim = replies[5]!;
    const bytes = victim.bytes.slice();
    bytes[bytes.length - 1] = (bytes[bytes.length - 1]! + 1) & 0xff;
    const bad = join(mkdtempSync(join(tmpdir(), 'mdevsim-trace-')), 'bad.trace');
    writeFileSync(bad, Buffer.concat([trace.header, ...trace.messages.map((m) => (m === victim ? { ...m, bytes } : m))].map((r) => Buffer.from(encode(r)))));
    const failed = await run(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'replay', bad], { cwd: root }).then(() => undefined, (e: { code: number; stdout: string }) => e);
    expect(failed?.code).toBe(1);
    expect(failed?.stdout).toMatch(/reply 5: reply bytes differ/);
  });
});
