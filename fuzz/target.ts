/**
 * The contract between the fuzz campaign runner (fuzz/run.ts) and a target
 * (fuzz/targets/<name>.ts). A target generates plain-data inputs (they must
 * round-trip through msgpack so failures can be saved to fuzz/corpus) and
 * checks its invariants on one input, throwing on a violation.
 */
import type fc from 'fast-check';

export interface FuzzTarget<T> {
  /** Registry key and corpus directory name: fuzz/corpus/<name>/. */
  readonly name: string;
  /** One line for `npm run fuzz -- --list`. */
  readonly description: string;
  /** Generates one case (one "execution"). */
  readonly arbitrary: fc.Arbitrary<T>;
  /** Check every invariant on one case; throw an Error naming the violated invariant. */
  check(input: T): void;
  /** Human-readable rendering of a case (for failure reports). @defaultValue JSON-ish fast-check stringify */
  describe?(input: T): string;
  /**
   * A finer unit of work than the case, counted for the rate display
   * (e.g. config accesses per second).
   */
  readonly unit?: { readonly name: string; count(input: T): number };
  /**
   * What a case exercises, as labels ("cmd:REGION_READ", "region:7",
   * "op:churn"); the runner shows how many distinct labels the campaign hit
   * so far (out of `space` when given).
   */
  readonly coverage?: { readonly space?: number; labels(input: T): Iterable<string> };
}

/** A target with its input type erased, as held by the registry. */
export type AnyFuzzTarget = FuzzTarget<unknown>;

/** Declare a target with a typed input and erase the type for the registry. */
export function defineTarget<T>(target: FuzzTarget<T>): AnyFuzzTarget {
  return target as unknown as AnyFuzzTarget;
}
