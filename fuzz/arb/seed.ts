/**
 * The seed property tests run with: fixed by default so CI is reproducible,
 * overridable with FUZZ_SEED=<int32> to explore. Tests print it in their
 * describe title.
 */
export const DEFAULT_TEST_SEED = 20251122;

/** FUZZ_SEED from the environment, or {@link DEFAULT_TEST_SEED}. Throws on a malformed value. */
export function testSeed(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env['FUZZ_SEED'];
  if (raw === undefined || raw === '') return DEFAULT_TEST_SEED;
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) throw new Error(`FUZZ_SEED must be an integer, got '${raw}'`);
  return n | 0;
}
