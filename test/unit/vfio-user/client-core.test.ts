/**
 * The client core without a socket: the reply checks, the errno fallback,
 * the framer limit (the server's rule, so a reply the server may send is never
 * refused and nothing larger is buffered) and plans driven by hand, the way
 * either transport drives them.
 */
import { describe, expect, it } from 'vitest';
import { ClientCore, CALLS, handshake, resume, type Plan, type Reply } from '../../../src/vfio-user/client-core.ts';
import { DEFAULT_SESSION_LIMITS, maxMessageSize } from '../../../src/vfio-user/session.ts';
import { VfioError } from '../../../src/util/errors.ts';
import { VfioRegionInfo } from '../../../src/vfio/structs.ts';
import { ProtocolViolation } from '../../../src/vfio-user/framer.ts';
import * as P from '../../../src/vfio-user/protocol.ts';
import { VfioUserHeader, replyMessage } from '../../../src/vfio-user/wire.ts';
import { frame, versionPayload } from '../../support/vfio-user-msg.ts';

const REPLY = P.VFIO_USER_F_TYPE_REPLY;

function header(size: number): Uint8Array {
  const h = new Uint8Array(VfioUserHeader.size);
  VfioUserHeader.encode({ msg_id: 1, command: P.VFIO_USER_REGION_READ, msg_size: size, flags: REPLY, error_no: 0 }, h);
  return h;
}

describe('ClientCore', () => {
  it('accepts the reply to the awaited command and copies its payload', () => {
    const core = new ClientCore({});
    const f = frame(1, P.VFIO_USER_DEVICE_RESET, new Uint8Array([1, 2]), { flags: REPLY });
    const r = core.settle(f, P.VFIO_USER_DEVICE_RESET) as Reply;
    f.payload[0] = 9;
    expect([...r.payload]).toEqual([1, 2]);
  });

  it('refuses a frame that answers nothing awaited, another command, or is not a reply: EPROTO', () => {
    const core = new ClientCore({});
    const reply = (flags: number) => frame(1, P.VFIO_USER_DEVICE_RESET, undefined, { flags });
    expect(() => core.settle(reply(REPLY), undefined)).toThrow(expect.objectContaining({ code: 'EPROTO' }));
    expect(() => core.settle(reply(REPLY), P.VFIO_USER_REGION_READ)).toThrow(expect.objectContaining({ code: 'EPROTO' }));
    expect(() => core.settle(reply(P.VFIO_USER_F_TYPE_COMMAND), P.VFIO_USER_DEVICE_RESET)).toThrow(expect.objectContaining({ code: 'EPROTO' }));
  });

  it('turns an error reply into a VfioError with the errno by name; errno 0 means EINVAL', () => {
    const core = new ClientCore({});
    const err = (errno: number) => ({ ...frame(1, P.VFIO_USER_DEVICE_RESET, undefined, { flags: REPLY | P.VFIO_USER_F_ERROR }), error: errno });
    expect(core.settle(err(2), P.VFIO_USER_DEVICE_RESET)).toMatchObject({ name: 'VfioError', code: 'ENOENT' });
    expect(core.settle(err(0), P.VFIO_USER_DEVICE_RESET)).toMatchObject({ name: 'VfioError', code: 'EINVAL' });
  });

  it("frames up to the server's largest message for the proposed maxDataXfer, and no further", () => {
    const maxDataXfer = 4096;
    const limit = maxMessageSize({ ...DEFAULT_SESSION_LIMITS, maxDataXfer });
    const fits = new ClientCore({ maxDataXfer });
    fits.framer.push(header(limit));
    expect(fits.framer.next()).toBeUndefined(); // accepted, waiting for the rest
    const over = new ClientCore({ maxDataXfer });
    over.framer.push(header(limit + 1));
    expect(() => over.framer.next()).toThrow(ProtocolViolation);
  });

  it('numbers messages from 1, wrapping at 16 bits', () => {
    const core = new ClientCore({});
    const ex = { command: P.VFIO_USER_DEVICE_RESET, payload: new Uint8Array(0), fds: [], noReply: false };
    expect(core.message(ex).id).toBe(1);
    for (let i = 2; i <= 0xffff; i++) core.message(ex);
    expect(core.message(ex).id).toBe(0);
  });
});

/** Drive a plan with canned replies; returns the result and the exchanges it asked for. */
function drive<T>(plan: Plan<T>, replies: (Reply | Error)[]): { value: T; sent: number[] } {
  const sent: number[] = [];
  let step = plan.next();
  while (!step.done) {
    sent.push(step.value.command);
    const next = replies.shift()!;
    step = resume(plan, () => { if (next instanceof Error) throw next; return next; });
  }
  return { value: step.value, sent };
}

describe('plans', () => {
  it('regionInfo asks again with the argsz the server announced, once', () => {
    const short = VfioRegionInfo.toBytes({ argsz: 80, flags: 0, index: 0, cap_offset: 0, size: 0n, offset: 0n });
    const { sent } = drive(CALLS.regionInfo(0), [{ payload: short, fds: [] }, { payload: short, fds: [] }]);
    expect(sent).toEqual([P.VFIO_USER_DEVICE_GET_REGION_INFO, P.VFIO_USER_DEVICE_GET_REGION_INFO]);
  });

  it('a posted write asks for no reply; an error thrown into a plan comes out of it', () => {
    const plan = CALLS.regionWrite(2, 0, new Uint8Array([1]), { posted: true });
    expect(plan.next().value).toMatchObject({ command: P.VFIO_USER_REGION_WRITE, noReply: true });
    expect(() => drive(CALLS.reset(), [new VfioError('EIO', 'gone')])).toThrow(expect.objectContaining({ code: 'EIO' }));
  });

  it('handshake reads the server capabilities from the VERSION reply', () => {
    const reply = replyMessage(1, P.VFIO_USER_VERSION, versionPayload('{"capabilities":{"max_msg_fds":4,"mdevsim_display":true}}'));
    const { value } = drive(handshake({ display: true }), [{ payload: reply.subarray(VfioUserHeader.size), fds: [] }]);
    expect(value).toMatchObject({ maxMsgFds: 4, display: true });
  });
});
