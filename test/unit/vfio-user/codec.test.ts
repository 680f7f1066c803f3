/**
 * The codec's refusal order, which decides the errno when a frame breaks
 * several rules at once: type, NO_REPLY, negotiation, fds, display gate,
 * payload shape, then the handler's rules.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Session } from '../../../src/vfio-user/session.ts';
import * as P from '../../../src/vfio-user/protocol.ts';
import { ERRNO } from '../../../src/util/errno.ts';
import { MbochsDevice } from '../../../devices/mbochs/index.ts';
import { InstanceBudget } from '../../../devices/common/budget.ts';
import { decodeReply, frame, le, versionPayload } from '../../support/vfio-user-msg.ts';

const devices: MbochsDevice[] = [];
afterEach(() => {
  for (const d of devices.splice(0)) d.destroy();
});

function session(negotiate: boolean): { s: Session; closed: number[] } {
  const dev = new MbochsDevice('mbochs-small', { budget: new InstanceBudget({ total: 1 << 24 }) });
  devices.push(dev);
  const closed: number[] = [];
  const s = new Session(dev, { closeFd: (fd) => closed.push(fd), display: true });
  if (negotiate) s.handle(frame(0, P.VFIO_USER_VERSION, versionPayload(undefined)));
  return { s, closed };
}

function errnoOf(s: Session, ...args: Parameters<typeof frame>): number | undefined {
  const out = s.handle(frame(...args));
  return out === undefined ? undefined : decodeReply(out.bytes).error;
}

describe('codec: which rule answers first', () => {
  it('a reply-type message is EINVAL even for an unknown command', () => {
    const { s } = session(true);
    expect(errnoOf(s, 1, 0x7777, new Uint8Array(0), { flags: P.VFIO_USER_F_TYPE_REPLY })).toBe(ERRNO.EINVAL);
  });

  it('before VERSION every other command is EINVAL, unknown ones included', () => {
    const { s } = session(false);
    expect(errnoOf(s, 1, P.VFIO_USER_DEVICE_GET_INFO, le([16, 4]))).toBe(ERRNO.EINVAL);
    expect(errnoOf(s, 2, 0x7777)).toBe(ERRNO.EINVAL);
  });

  it('fds on a command that takes none are EINVAL before the unknown-command and display gates', () => {
    const { s, closed } = session(true);
    expect(errnoOf(s, 1, 0x7777, new Uint8Array(0), { fds: [40] })).toBe(ERRNO.EINVAL);
    expect(errnoOf(s, 2, 0x7777)).toBe(ERRNO.ENOSYS);
    // the display extension was not proposed: ENOSYS, but fds still win
    expect(errnoOf(s, 3, P.MDEVSIM_USER_QUERY_GFX_PLANE, new Uint8Array(64))).toBe(ERRNO.ENOSYS);
    expect(errnoOf(s, 4, P.MDEVSIM_USER_QUERY_GFX_PLANE, new Uint8Array(64), { fds: [41] })).toBe(ERRNO.EINVAL);
    expect(closed).toEqual([40, 41]);
  });

  it('DMA_UNMAP ignores stray fds (closed), DMA_MAP takes at most one', () => {
    const { s, closed } = session(true);
    expect(errnoOf(s, 1, P.VFIO_USER_DMA_UNMAP, le([24, 4], [0, 4], [0x1000, 8], [0x1000, 8]), { fds: [50] })).toBe(ERRNO.ENOENT);
    expect(errnoOf(s, 2, P.VFIO_USER_DMA_MAP, le([32, 4], [3, 4], [0, 8], [0, 8], [0x1000, 8]), { fds: [51, 52] })).toBe(ERRNO.EINVAL);
    expect(closed).toEqual([50, 51, 52]);
  });

  it('NO_REPLY on a command that needs a reply is answered EINVAL; where honoured, errors stay silent', () => {
    const { s } = session(true);
    expect(errnoOf(s, 1, P.VFIO_USER_DEVICE_GET_INFO, le([16, 4]), { flags: P.VFIO_USER_F_NO_REPLY })).toBe(ERRNO.EINVAL);
    expect(errnoOf(s, 2, P.VFIO_USER_DEVICE_RESET, new Uint8Array(1), { flags: P.VFIO_USER_F_NO_REPLY })).toBeUndefined();
    expect(errnoOf(s, 3, P.VFIO_USER_REGION_WRITE_MULTI, new Uint8Array(0), { flags: P.VFIO_USER_F_NO_REPLY })).toBeUndefined();
    expect(errnoOf(s, 4, P.VFIO_USER_REGION_WRITE_MULTI)).toBe(ERRNO.ENOSYS);
  });

  it('payload shape before the handler: short, argsz, count over max_data_xfer_size', () => {
    const { s } = session(true);
    expect(errnoOf(s, 1, P.VFIO_USER_DEVICE_GET_REGION_INFO, le([32, 4], [0, 4], [0xffff_ffff, 4]))).toBe(ERRNO.EINVAL);
    expect(errnoOf(s, 2, P.VFIO_USER_DEVICE_GET_REGION_INFO, le([31, 4], [0, 4], [0, 4], [0, 4], [0, 8], [0, 8]))).toBe(ERRNO.EINVAL);
    // a huge offset would be EFAULT, but the count is refused first
    expect(errnoOf(s, 3, P.VFIO_USER_REGION_READ, le([2n ** 63n, 8], [0, 4], [(1 << 20) + 1, 4]))).toBe(ERRNO.EINVAL);
    expect(errnoOf(s, 4, P.VFIO_USER_REGION_READ, le([2n ** 63n, 8], [0, 4], [4, 4]))).toBe(ERRNO.EFAULT);
    expect(errnoOf(s, 5, P.VFIO_USER_DMA_READ)).toBe(ERRNO.EINVAL);
  });
});
