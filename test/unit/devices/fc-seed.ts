/**
 * Explicit fast-check seed for the device-model property tests (Conventions
 * 10–11): MDEVSIM_SEED from the environment, else a fixed default, printed in
 * each describe title so a failure replays with the same seed.
 */
const fromEnv = process.env['MDEVSIM_SEED'];
export const FC_SEED: number = fromEnv !== undefined && /^-?\d+$/.test(fromEnv) ? Number(fromEnv) | 0 : 0x6d6263;

/** fast-check parameters: the seed plus a run count. */
export function fcParams(numRuns = 200): { seed: number; numRuns: number } {
  return { seed: FC_SEED, numRuns };
}
