/**
 * Session.handleInto (the server's zero-allocation path for REGION_READ and
 * REGION_WRITE) must be indistinguishable from Session.handle: for any
 * region access frame, on twin devices, the reply bytes (or their absence),
 * the device state and the session counters are equal. When handleInto
 * declines (-1), handle() is what the server calls, so that case compares
 * handle with itself and only checks handleInto wrote nothing.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Session } from '../../../src/vfio-user/session.ts';
import * as P from '../../../src/vfio-user/protocol.ts';
import { MbochsDevice } from '../../../devices/mbochs/index.ts';
import { MdpyDevice } from '../../../devices/mdpy/index.ts';
import { InstanceBudget } from '../../../devices/common/budget.ts';
import { frame, le, versionPayload } from '../../support/vfio-user-msg.ts';
import type { VfioDevice } from '../../../src/vfio/device.ts';

const SEED = Number(process.env['FUZZ_SEED'] ?? 20261122);
const budget = new InstanceBudget({ total: 1 << 20 });

function twin(kind: 'mbochs' | 'mdpy', quirks: 'none' | 'upstream'): VfioDevice {
  return kind === 'mbochs'
    ? new MbochsDevice('mbochs-small', { quirks, budget })
    : new MdpyDevice('mdpy-vga', { quirks, budget: new InstanceBudget({ total: 4, errno: 'EUSERS' }) });
}

function session(dev: VfioDevice, maxDataXfer: number): Session {
  const s = new Session(dev, { closeFd: () => {}, limits: { maxDataXfer } });
  s.handle(frame(0, P.VFIO_USER_VERSION, versionPayload(undefined)));
  return s;
}

const offsetArb = fc.oneof(
  fc.integer({ min: 0, max: 0x1100 }),
  fc.constantFrom(0xfc, 0xfe, 0xff, 0x3ff, 0x500, 0x515, 0x600, 0x7ff, 0x800, 0xbff, 0xfff),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  fc.constantFrom(2n ** 53n - 1n, 2n ** 53n, 2n ** 64n - 4n),
);

const accessArb = fc.record({
  write: fc.boolean(),
  region: fc.oneof(fc.integer({ min: 0, max: 10 }), fc.constant(0xffffffff)),
  offset: offsetArb,
  count: fc.oneof(fc.integer({ min: 0, max: 16 }), fc.constantFrom(4096, 70000)),
  flags: fc.constantFrom(0, P.VFIO_USER_F_NO_REPLY, P.VFIO_USER_F_TYPE_REPLY),
  lie: fc.integer({ min: -2, max: 2 }), // write data length minus count
  fill: fc.integer({ min: 0, max: 255 }),
});

describe('Session.handleInto ≡ Session.handle', () => {
  for (const kind of ['mbochs', 'mdpy'] as const) {
    for (const quirks of ['none', 'upstream'] as const) {
      it(`${kind}/${quirks}: every region access frame gets the same reply bytes, device state and counters (seed ${SEED})`, () => {
        const a = twin(kind, quirks);
        const b = twin(kind, quirks);
        try {
          const sa = session(a, 1 << 16);
          const sb = session(b, 1 << 16);
          fc.assert(fc.property(fc.array(accessArb, { minLength: 1, maxLength: 20 }), fc.integer({ min: 0, max: 64 }), (accesses, at) => {
            for (const [i, x] of accesses.entries()) {
              const dataLen = x.write ? Math.max(0, Math.min(x.count, 4096) + x.lie) : 0;
              const payload = new Uint8Array(16 + dataLen).fill(x.fill);
              payload.set(le([x.offset, 8], [x.region, 4], [x.write ? Math.min(x.count, 4096) : x.count, 4]));
              const cmd = x.write ? P.VFIO_USER_REGION_WRITE : P.VFIO_USER_REGION_READ;
              const out = new Uint8Array(at + 16 + 16 + Math.min(x.count, 100_000) + 64);
              const end = sa.handleInto(frame(i, cmd, payload.slice(), { flags: x.flags }), out, at);
              const ref = sb.handle(frame(i, cmd, payload.slice(), { flags: x.flags }));
              if (end === -1) {
                expect(out.every((v) => v === 0)).toBe(true);
                const again = sa.handle(frame(i, cmd, payload.slice(), { flags: x.flags }));
                expect(again?.bytes).toEqual(ref?.bytes);
              } else if (ref === undefined) {
                expect(end).toBe(at);
              } else {
                expect(out.subarray(at, end)).toEqual(ref.bytes);
              }
            }
            expect(sa.stats).toEqual(sb.stats);
            const ra = new Uint8Array(255);
            const rb = new Uint8Array(255);
            for (const region of [0, 2, 7]) {
              if (kind === 'mdpy' && region === 2) continue;
              a.regionRead(region, 0, ra);
              b.regionRead(region, 0, rb);
              expect(ra).toEqual(rb);
            }
          }), { seed: SEED, numRuns: 150 });
        } finally {
          a.destroy();
          b.destroy();
        }
      });
    }
  }
});
