/**
 * Registry of fuzz targets: `npm run fuzz -- <name>` looks the name up here,
 * and test/regress/corpus.test.ts replays fuzz/corpus/<name>/ for each entry.
 * Add a campaign by writing fuzz/targets/<name>.ts (default-exporting a
 * defineTarget(...)) and listing it below.
 */
import type { AnyFuzzTarget } from '../target.ts';
import config from './config.ts';
import dispi from './dispi.ts';
import framer from './framer.ts';
import region from './region.ts';
import session from './session.ts';

export const TARGETS: Readonly<Record<string, AnyFuzzTarget>> = Object.freeze({
  [config.name]: config,
  [dispi.name]: dispi,
  [framer.name]: framer,
  [region.name]: region,
  [session.name]: session,
});

/** The target registered under `name`, or undefined. */
export function getTarget(name: string): AnyFuzzTarget | undefined {
  return Object.prototype.hasOwnProperty.call(TARGETS, name) ? TARGETS[name] : undefined;
}
