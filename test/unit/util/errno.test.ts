import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ERRNO, errnoName } from '../../../src/util/errno.ts';
import { VfioError } from '../../../src/util/errors.ts';

describe('errno table', () => {
  // Node's os.constants.errno omits a few Linux names; those are checked
  // against asm-generic/errno.h by hand here, and the list must stay exact.
  const NOT_IN_NODE: Record<string, number> = { EUSERS: 87 };

  it('every entry equals the host errno of the same name (os.constants.errno)', () => {
    const host = constants.errno as Record<string, number>;
    for (const [name, value] of Object.entries(ERRNO)) {
      if (name in NOT_IN_NODE) {
        expect(host[name], `${name} appeared in Node; drop it from NOT_IN_NODE`).toBeUndefined();
        expect(value, name).toBe(NOT_IN_NODE[name]);
      } else {
        expect(host[name], name).toBe(value);
      }
    }
  });

  it('VfioError carries the numeric errno and its name', () => {
    const e = new VfioError('EFAULT', 'region 0 offset 0x10 count 4');
    expect(e.errno).toBe(14);
    expect(e.code).toBe('EFAULT');
    expect(e.message).toBe('EFAULT: region 0 offset 0x10 count 4');
    expect(new VfioError(22, 'x').code).toBe('EINVAL');
  });

  it('unknown errno values get a synthetic name instead of undefined', () => {
    expect(errnoName(4242)).toBe('E4242');
  });
});
