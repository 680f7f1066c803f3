import { describe, expect, it } from 'vitest';
import { negotiateVersion, parseVersionPayload, type ServerVersionLimits } from '../../../src/vfio-user/version.ts';

const enc = new TextEncoder();
const limits: ServerVersionLimits = { maxMsgFds: 8, maxDataXferSize: 1 << 20, maxDmaMaps: 65535, display: true };

/** The proposal QEMU 10.2 sends (docs/protocol.md "QEMU's client"): 0.0 + six keys. */
const QEMU_JSON =
  '{"capabilities":{"max_msg_fds":16,"max_data_xfer_size":1048576,"pgsizes":4096,"max_dma_maps":65535,' +
  '"write_multiple":true,"migration":{"pgsize":4096,"max_bitmap_size":268435456}}}';

function proposal(major: number, minor: number, json?: string): Uint8Array {
  const body = json === undefined ? new Uint8Array(0) : enc.encode(json + '\0');
  const out = new Uint8Array(4 + body.length);
  out.set([major & 0xff, major >> 8, minor & 0xff, minor >> 8]);
  out.set(body, 4);
  return out;
}

function replyJson(payload: Uint8Array): unknown {
  expect(payload[payload.length - 1]).toBe(0);
  return JSON.parse(new TextDecoder().decode(payload.subarray(4, payload.length - 1)));
}

describe('VERSION negotiation', () => {
  it("answers QEMU's proposal with 0.0, only proposed keys, NUL-terminated, and no longer than QEMU's request", () => {
    const p = proposal(0, 0, QEMU_JSON);
    const requestSize = 16 + p.length;
    const s = negotiateVersion(parseVersionPayload(p), limits, requestSize);
    expect([...s.replyPayload.subarray(0, 4)]).toEqual([0, 0, 0, 0]);
    expect(16 + s.replyPayload.length).toBeLessThanOrEqual(requestSize);
    expect(replyJson(s.replyPayload)).toEqual({ capabilities: { max_msg_fds: 8, max_data_xfer_size: 1048576, max_dma_maps: 65535 } });
    expect(s.clientMaxMsgFds).toBe(16);
    expect(s.display).toBe(false); // QEMU never proposes the extension, so it sees nothing new
  });

  it('accepts a proposal without JSON (SPDK client) and replies with the 4-byte version only', () => {
    const s = negotiateVersion(parseVersionPayload(proposal(0, 1)), limits, 20);
    expect([...s.replyPayload]).toEqual([0, 0, 0, 0]);
    expect(s.clientMaxMsgFds).toBe(1);
    expect(s.clientMaxDataXfer).toBe(1 << 20);
    expect(s.serverMaxMsgFds).toBe(1);
  });

  it('answers minor ≤ proposal', () => {
    const s = negotiateVersion(parseVersionPayload(proposal(0, 5, '{"capabilities":{}}')), limits, 200);
    expect(s.replyPayload[2]! | (s.replyPayload[3]! << 8)).toBe(0);
  });

  it('refuses a different major with ENOTSUP', () => {
    expect(() => negotiateVersion(parseVersionPayload(proposal(1, 0)), limits, 20)).toThrow(expect.objectContaining({ code: 'ENOTSUP' }));
  });

  it('rejects malformed JSON, non-object JSON and short payloads with EINVAL', () => {
    for (const bad of [proposal(0, 0, '{'), proposal(0, 0, '[1]'), proposal(0, 0, '{"capabilities":3}'), new Uint8Array(3)]) {
      expect(() => parseVersionPayload(bad)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    }
    expect(() => negotiateVersion(parseVersionPayload(proposal(0, 0, '{"capabilities":{"max_msg_fds":-1}}')), limits, 200))
      .toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  it('advertises the display extension only when the client proposed it and the device has one', () => {
    const p = proposal(0, 0, '{"capabilities":{"max_msg_fds":4,"mdevsim_display":true}}');
    const on = negotiateVersion(parseVersionPayload(p), limits, 16 + p.length);
    expect(on.display).toBe(true);
    expect(replyJson(on.replyPayload)).toEqual({ capabilities: { max_msg_fds: 8, mdevsim_display: true } });
    const off = negotiateVersion(parseVersionPayload(p), { ...limits, display: false }, 200);
    expect(off.display).toBe(false);
    expect(replyJson(off.replyPayload)).toEqual({ capabilities: { max_msg_fds: 8, mdevsim_display: false } });
  });

  it('drops keys rather than exceed the request size, and then reports the spec defaults for them', () => {
    const p = proposal(0, 0, '{"capabilities":{"max_msg_fds":4,"max_data_xfer_size":1048576}}');
    const tight = 16 + 4 + '{"capabilities":{"max_msg_fds":8}}'.length + 1;
    const s = negotiateVersion(parseVersionPayload(p), limits, tight);
    expect(16 + s.replyPayload.length).toBeLessThanOrEqual(tight);
    expect(replyJson(s.replyPayload)).toEqual({ capabilities: { max_msg_fds: 8 } });
    expect(s.serverMaxDataXfer).toBe(1 << 20);
    expect(s.serverMaxMsgFds).toBe(8);
  });
});
