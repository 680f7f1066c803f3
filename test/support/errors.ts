/** Assertions about the errors a call throws. */
import { expect } from 'vitest';
import { ConfigError } from '../../src/util/errors.ts';

/** Run `fn`, which must throw a ConfigError; its message. */
export function configError(fn: () => void): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}
