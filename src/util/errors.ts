import { ERRNO, errnoName, type ErrnoName } from './errno.ts';

/**
 * A request that is well formed but cannot be honoured. Carries the errno the
 * kernel (or a vfio-user error reply) would return. Never a crash: every layer
 * that can be reached from guest or client input reports refusals this way.
 */
export class VfioError extends Error {
  readonly errno: number;
  readonly code: string;
  constructor(errno: number | ErrnoName, message: string) {
    const value = typeof errno === 'number' ? errno : ERRNO[errno];
    super(`${errnoName(value)}: ${message}`);
    this.name = 'VfioError';
    this.errno = value;
    this.code = errnoName(value);
  }
}

/** A configuration the user gave that cannot work; the message is one sentence they can act on. */
export class ConfigError extends Error {
  readonly code = 'ECONFIG';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * A ConfigError about a path we refuse to trust (a symbolic link, another
 * user's file, a directory others may write): logged as a security event
 * (src/util/log.ts) where serve reports it. Same code and exit as ConfigError.
 */
export class TrustError extends ConfigError {
  constructor(message: string) {
    super(message);
    this.name = 'TrustError';
  }
}

/** An access outside a PCI config space or register file: a defined, catchable refusal. */
export class AccessError extends VfioError {
  constructor(message: string) {
    super('EFAULT', message);
    this.name = 'AccessError';
  }
}

/** Broken internal invariant: a bug in mdevsim, never caused by guest or client input. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}
