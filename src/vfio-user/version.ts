/**
 * VERSION negotiation (vfio-user.rst "VFIO_USER_VERSION"; docs/protocol.md "QEMU's client").
 *
 * The reply answers major 0, minor ≤ the proposal, and carries only keys the
 * client proposed: QEMU warns on unknown keys and, worse, fails the whole
 * device when the reply is longer than its own request. So the reply is
 * built small and its length is checked against the request before sending.
 */
import { VfioError } from '../util/errors.ts';
import { DEFAULT_MAX_DATA_XFER_SIZE, DEFAULT_MAX_MSG_FDS, MDEVSIM_DISPLAY_CAPABILITY, VFIO_USER_MAJOR, VFIO_USER_MINOR } from './protocol.ts';

/** What the server can offer; each value is capped by what the client proposed. */
export interface ServerVersionLimits {
  /** Most fds we accept in one message (a SET_IRQS chunk, a DMA_MAP). */
  readonly maxMsgFds: number;
  /** Largest REGION_READ/WRITE count we accept. */
  readonly maxDataXferSize: number;
  /** Most simultaneous DMA windows we keep. */
  readonly maxDmaMaps: number;
  /** Whether the device offers the display extension. */
  readonly display: boolean;
}

/** What the client proposed (absent keys take the spec defaults, vfio-user.rst "VFIO_USER_VERSION"). */
export interface ClientProposal {
  readonly major: number;
  readonly minor: number;
  /** Parsed capabilities object, or undefined when the proposal had no JSON. */
  readonly capabilities: Readonly<Record<string, unknown>> | undefined;
}

/** The outcome both sides act on. */
export interface NegotiatedSession {
  readonly minor: number;
  /** Most fds the *client* accepts per message (what we may send). */
  readonly clientMaxMsgFds: number;
  /** Largest data transfer the client accepts (bounds our REGION_READ replies). */
  readonly clientMaxDataXfer: number;
  /** Our own limits, as announced (or implied) in the reply. */
  readonly serverMaxMsgFds: number;
  readonly serverMaxDataXfer: number;
  readonly serverMaxDmaMaps: number;
  readonly display: boolean;
  /** The reply payload (4 bytes + NUL-terminated JSON, or just 4 bytes). */
  readonly replyPayload: Uint8Array;
}

const decoder = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

/** Parse a VERSION request payload (major u16, minor u16, optional NUL-terminated JSON). */
export function parseVersionPayload(payload: Uint8Array): ClientProposal {
  if (payload.length < 4) throw new VfioError('EINVAL', `VERSION payload of ${payload.length} bytes is shorter than 4`);
  const major = payload[0]! | (payload[1]! << 8);
  const minor = payload[2]! | (payload[3]! << 8);
  if (payload.length === 4) return { major, minor, capabilities: undefined };
  let end = payload.length;
  while (end > 4 && payload[end - 1] === 0) end--;
  if (end === 4) return { major, minor, capabilities: undefined };
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(payload.subarray(4, end)));
  } catch {
    throw new VfioError('EINVAL', 'VERSION capabilities are not valid UTF-8 JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new VfioError('EINVAL', 'VERSION JSON is not an object');
  }
  const caps = (json as Record<string, unknown>)['capabilities'];
  if (caps === undefined) return { major, minor, capabilities: {} };
  if (typeof caps !== 'object' || caps === null || Array.isArray(caps)) {
    throw new VfioError('EINVAL', 'VERSION "capabilities" is not an object');
  }
  return { major, minor, capabilities: caps as Record<string, unknown> };
}

function positiveInt(caps: Readonly<Record<string, unknown>> | undefined, key: string, fallback: number): number {
  const v = caps?.[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new VfioError('EINVAL', `VERSION capability ${key} must be a non-negative integer`);
  }
  return v;
}

/**
 * Negotiate. `requestSize` is the whole VERSION request message size: the
 * reply message may not exceed it (QEMU's receive buffer, hw/vfio-user/proxy.c). When the
 * JSON would not fit, keys are dropped (least important last kept) rather than
 * sending a reply QEMU cannot read.
 */
export function negotiateVersion(proposal: ClientProposal, limits: ServerVersionLimits, requestSize: number): NegotiatedSession {
  if (proposal.major !== VFIO_USER_MAJOR) {
    throw new VfioError('ENOTSUP', `protocol major ${proposal.major} is not supported (server speaks ${VFIO_USER_MAJOR})`);
  }
  const minor = Math.min(proposal.minor, VFIO_USER_MINOR);
  const caps = proposal.capabilities;
  const clientMaxMsgFds = positiveInt(caps, 'max_msg_fds', DEFAULT_MAX_MSG_FDS);
  const clientMaxDataXfer = positiveInt(caps, 'max_data_xfer_size', DEFAULT_MAX_DATA_XFER_SIZE);
  const proposedDisplay = caps?.[MDEVSIM_DISPLAY_CAPABILITY] === true;
  const display = limits.display && proposedDisplay;

  // Keys in priority order; only keys the client proposed are answered.
  const answer: [string, unknown][] = [];
  if (caps && 'max_msg_fds' in caps) answer.push(['max_msg_fds', limits.maxMsgFds]);
  if (caps && 'max_data_xfer_size' in caps) answer.push(['max_data_xfer_size', limits.maxDataXferSize]);
  if (caps && 'max_dma_maps' in caps) answer.push(['max_dma_maps', Math.min(limits.maxDmaMaps, positiveInt(caps, 'max_dma_maps', limits.maxDmaMaps))]);
  if (proposedDisplay) answer.push([MDEVSIM_DISPLAY_CAPABILITY, display]);

  // Drop keys from the end until the reply fits QEMU's receive buffer. A
  // dropped key means the client assumes the spec default for it.
  const budget = requestSize - 16;
  for (let n = caps ? answer.length : -1; n >= 0; n--) {
    const kept = new Map(answer.slice(0, n));
    const json = encoder.encode(JSON.stringify({ capabilities: Object.fromEntries(kept) }));
    if (4 + json.length + 1 > budget) continue;
    const payload = new Uint8Array(4 + json.length + 1);
    payload.set(json, 4);
    return session(payload, kept);
  }
  return session(new Uint8Array(4), new Map());

  function session(payload: Uint8Array, kept: Map<string, unknown>): NegotiatedSession {
    payload[0] = VFIO_USER_MAJOR & 0xff;
    payload[1] = VFIO_USER_MAJOR >> 8;
    payload[2] = minor & 0xff;
    payload[3] = minor >> 8;
    return {
      minor,
      clientMaxMsgFds,
      clientMaxDataXfer,
      serverMaxMsgFds: kept.has('max_msg_fds') ? limits.maxMsgFds : DEFAULT_MAX_MSG_FDS,
      serverMaxDataXfer: kept.has('max_data_xfer_size') ? limits.maxDataXferSize : DEFAULT_MAX_DATA_XFER_SIZE,
      serverMaxDmaMaps: limits.maxDmaMaps,
      display: display && kept.get(MDEVSIM_DISPLAY_CAPABILITY) === true,
      replyPayload: payload,
    };
  }
}
