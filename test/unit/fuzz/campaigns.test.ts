/**
 * Short fixed-seed campaigns of the `dispi`, `region`, `framer` and `session`
 * fuzz targets through the same runner the CLI uses (fuzz/campaign.ts), so CI
 * exercises each target end to end, plus: every generated case survives the
 * msgpack round trip a corpus file needs, a replay by (seed, path)
 * regenerates the exact case, each campaign reaches the outcomes its
 * invariants are about (not only the easy refusals), and the session model
 * also runs under fast-check's own `fc.commands` shrinking.
 * Seed printed in the titles; FUZZ_SEED overrides.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { replayCase, roundTripsThroughMsgpack, runCampaign } from '../../../fuzz/campaign.ts';
import { testSeed } from '../../../fuzz/arb/seed.ts';
import { getTarget } from '../../../fuzz/targets/index.ts';
import { dispiCoverage } from '../../../fuzz/targets/dispi.ts';
import { regionCoverage } from '../../../fuzz/targets/region.ts';
import { framerCoverage } from '../../../fuzz/targets/framer.ts';
import { SessionCommand, sessionCommandsArbitrary, sessionCoverage, sessionFinish, sessionSetup } from '../../../fuzz/targets/session.ts';
import { CMD } from '../../../fuzz/arb/vfio-user/header.ts';

const SEED = testSeed();

const RUNS = { dispi: 300, region: 250, framer: 1500, session: 600 } as const;
const UNITS = { dispi: 'accesses', region: 'accesses', framer: 'messages', session: 'messages' } as const;

type Name = keyof typeof RUNS;
type Campaign = Awaited<ReturnType<typeof runCampaign>>;

/**
 * The coverage counters are filled by running a campaign, so each target's
 * describe runs its own campaign in beforeAll: a coverage test picked alone
 * (`-t "reaches"`) still sees the campaign it asserts on.
 */
function withCampaign(name: Name, tests: () => void): void {
  describe(name, () => {
    let campaign: Campaign | undefined;
    beforeAll(async () => {
      campaign = await runCampaign({ target: name, runs: RUNS[name], seed: SEED, chunk: 100, save: false });
    });
    it(`${name}: ${RUNS[name]} executions without a failure, counting ${UNITS[name]}`, () => {
      const r = campaign!;
      expect(r.failure?.error).toBeUndefined();
      expect(r.executions).toBe(RUNS[name]);
      expect(r.unitName).toBe(UNITS[name]);
      expect(r.units).toBeGreaterThan(RUNS[name]);
    });
    tests();
  });
}

describe(`new fuzz targets, fixed-seed campaigns (seed ${SEED}; FUZZ_SEED overrides)`, () => {
  withCampaign('dispi', () => {
    it('dispi reaches new ids, repeated ids, exports, evictions, a full table, upstream ENOMEM, strict fixups, and strict planes both blanked and shown', () => {
      for (const event of ['query-new-id', 'query-same-id', 'query-empty', 'query-einval', 'query-probe', 'query-nonprimary', 'query-enomem-upstream', 'export-ok', 'export-enoent', 'export-einval', 'release', 'release-again', 'evict', 'strict-enabled', 'query-blanked', 'query-strict-shown']) {
        expect(dispiCoverage[event] ?? 0, event).toBeGreaterThan(0);
      }
    });
  });

  withCampaign('region', () => {
    it('region reaches successes, EFAULT and EINVAL on the real regions, and transport refusals of u64 offsets', () => {
      for (const event of ['read 0: ok', 'write 0: ok', 'read 0: EFAULT', 'read 2: ok', 'read 2: EFAULT', 'read 7: ok', 'write 7: EFAULT', 'read 9: ok', 'write 9: ok', 'write 16: EINVAL', 'read bad-index: EINVAL', 'transport-efault']) {
        expect(regionCoverage[event] ?? 0, event).toBeGreaterThan(0);
      }
    });
  });

  withCampaign('framer', () => {
    it('framer reaches clean streams, each kind of violation, and fds both handed out and closed', () => {
      for (const event of ['clean', 'violation: size', 'violation: fd-count', 'violation: fds-empty', 'frames', 'fds handed out', 'fds closed']) {
        expect(framerCoverage[event] ?? 0, event).toBeGreaterThan(0);
      }
    });
  });

  withCampaign('session', () => {
    it('session reaches success and refusal of every implemented command', () => {
      const both = [CMD.VERSION, CMD.DMA_MAP, CMD.DMA_UNMAP, CMD.GET_INFO, CMD.GET_REGION_INFO, CMD.GET_IRQ_INFO, CMD.REGION_READ, CMD.REGION_WRITE, CMD.RESET, CMD.QUERY_GFX_PLANE, CMD.GET_GFX_DMABUF];
      for (const cmd of both) {
        const c = sessionCoverage.get(cmd);
        expect(c?.ok ?? 0, `command ${cmd} ok`).toBeGreaterThan(0);
        expect(c?.error ?? 0, `command ${cmd} error`).toBeGreaterThan(0);
      }
      expect(sessionCoverage.get(CMD.SET_IRQS)?.error ?? 0).toBeGreaterThan(0);
      expect(sessionCoverage.get(CMD.REGION_WRITE)?.silent ?? 0).toBeGreaterThan(0);
      expect(sessionCoverage.get(CMD.DMA_MAP)?.errnos[17] ?? 0, 'EEXIST').toBeGreaterThan(0);
      expect(sessionCoverage.get(CMD.DMA_MAP)?.errnos[28] ?? 0, 'ENOSPC').toBeGreaterThan(0);
      expect(sessionCoverage.get(CMD.REGION_READ)?.errnos[14] ?? 0, 'EFAULT').toBeGreaterThan(0);
    });
  });
});

describe('corpus compatibility of the new targets', () => {
  for (const name of ['dispi', 'region', 'framer', 'session']) {
    it(`${name}: generated cases round-trip through msgpack and replay exactly by seed and path`, () => {
      const target = getTarget(name)!;
      for (const input of fc.sample(target.arbitrary, { seed: SEED, numRuns: 60 })) {
        expect(roundTripsThroughMsgpack(input)).toBe(true);
      }
      const [expected] = fc.sample(target.arbitrary, { seed: SEED, path: '7', numRuns: 1 });
      const r = replayCase({ target: name, seed: SEED, path: '7' });
      expect(r.input).toEqual(expected);
      expect(r.error).toBeUndefined();
    });
  }
});

describe(`session model under fc.commands (seed ${SEED})`, () => {
  for (const device of ['mdpy', 'mbochs'] as const) {
    it(`${device}: the reference model holds for command sequences shrunk by fast-check`, () => {
      fc.assert(
        fc.property(fc.constantFrom<'none' | 'upstream'>('none', 'upstream'), sessionCommandsArbitrary(device === 'mbochs', 30), (quirks, cmds) => {
          const c = { device, quirks, memory: 'fd' as const, maxDmaMaps: 3, maxDataXfer: 8192, maxExports: 2, cmds: [] };
          const s = sessionSetup(c);
          const version = { c: 'version' as const, h: { id: 1, noReply: false, type: 0, fds: 0 }, variant: device === 'mbochs' ? 'display' as const : 'qemu' as const };
          try {
            fc.modelRun(() => s, [new SessionCommand(version), ...cmds]);
            sessionFinish(s.model, s.real);
          } finally {
            s.real.device.destroy();
          }
        }),
        { seed: SEED, numRuns: 60 },
      );
    });
  }
});
