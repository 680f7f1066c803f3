/**
 * The codec stage between the framer and the command handlers: it reads a
 * command's row (commands.ts) and admits or refuses a frame from it, once,
 * before any handler runs or allocates. Handlers then see requests that
 * already have the row's shape.
 *
 * Two entry points, because the serving loop's hot path may not allocate:
 * `payloadFits` answers "would this payload pass?" without building an
 * error, and `admit` / `checkPayload` throw the VfioError the client gets.
 * Fields the hot path reads are views through the struct descriptors'
 * offsets (`u32Field`), not decoded objects.
 *
 * Refusal order (errnos are observable, so it is fixed): message type,
 * NO_REPLY rule, negotiation gate, fd count, display gate, payload shape
 * (length, argsz, data count), then the handler's own rules.
 */
import { VfioError } from '../util/errors.ts';
import type { Struct } from '../util/struct.ts';
import type { Frame } from './framer.ts';
import { VfioUserArgsz, VfioUserRegionAccess } from './wire.ts';
import * as P from './protocol.ts';

/** How a payload's length must relate to the row's minimum. */
export type PayloadRule =
  /** At least `minPayload` bytes; the rest belongs to the request (caps, JSON, output space). */
  | 'at-least'
  /** Exactly `minPayload` bytes. */
  | 'exact'
  /** minPayload bytes of region access, then exactly `count` data bytes. */
  | 'access+data';

/** Which state of the connection a command needs. */
export type Gate =
  /** Only before negotiation (VERSION). */
  | 'unnegotiated'
  /** After VERSION. */
  | 'negotiated'
  /** After VERSION, and only when the display extension was negotiated; else ENOSYS. */
  | 'display';

/** How many fds a command may bring (docs/protocol.md "fds"). */
export type FdRule =
  | { readonly max: number }
  /** Up to what the framer admitted (the negotiated max_msg_fds). */
  | 'any'
  /** Accepted and closed unread (SPDK's client sends one with DMA_UNMAP). */
  | 'ignored';

/** What a handler returns: a reply payload (empty when absent) and fds to attach (borrowed). */
export interface Reply {
  readonly payload?: Uint8Array;
  readonly fds?: readonly number[];
}

/**
 * A command the server answers in place (REGION_READ / REGION_WRITE): the
 * reply is written into the caller's buffer instead of a new one.
 */
export interface InPlace<S> {
  /** Bytes the reply takes, for an admitted request. */
  replySize(p: Uint8Array): number;
  /** Handle an admitted request, writing its reply at out[at…]; returns the end (at itself when NO_REPLY). */
  write(state: S, frame: Frame, p: Uint8Array, noReply: boolean, out: Uint8Array, at: number): number;
}

/** One row of the command table: everything the codec and dispatcher know about a command. */
export interface CommandRow<S, Req = unknown> {
  readonly command: number;
  /** Spec name without the VFIO_USER_ prefix, for messages. */
  readonly name: string;
  readonly gate: Gate;
  /** Whether NO_REPLY is honoured (posted writes, fire-and-forget setup). */
  readonly noReply: boolean;
  readonly fds: FdRule;
  /** The request's fixed part, when it has one; its size is minPayload unless a row says otherwise. */
  readonly request?: Struct<unknown>;
  readonly minPayload: number;
  readonly payload: PayloadRule;
  /**
   * The request's argsz (its first u32): a minimum, or 'payload' for "equals
   * the payload length". Absent: not checked (DMA_UNMAP, RELEASE_GFX_DMABUF).
   */
  readonly argsz?: number | 'payload';
  /** Bound the region access count by max_data_xfer_size. */
  readonly dataCount?: boolean;
  /** The admitted payload as the handler's request. */
  readonly decode?: (p: Uint8Array) => Req;
  /** Absent: the command is known but not served (ENOSYS). */
  readonly handle?: (state: S, req: Req, frame: Frame) => Reply;
  readonly inPlace?: InPlace<S>;
}

/** An unknown command may carry no fds. */
const NO_FDS: FdRule = { max: 0 };

/** What the codec needs from the session to admit a frame (session state has this shape). */
export interface Admission {
  readonly negotiated: { readonly display: boolean } | undefined;
  readonly limits: { readonly maxDataXfer: number };
}

/**
 * A reader of one u32 field of a descriptor: the field's offset comes from
 * the declaration, so no offset is written twice, and reading allocates
 * nothing (decode() would build an object and a bigint per u64).
 */
export function u32Field<N extends string>(s: Struct<unknown, N>, name: N): (b: Uint8Array) => number {
  const o = fieldOffset(s, name, 'u32');
  return (b) => u32le(b, o);
}

function fieldOffset(s: Struct<unknown>, name: string, type: 'u32' | 'u64'): number {
  const f = s.fields.find((x) => x.name === name);
  if (f === undefined || f.type !== type) throw new Error(`${s.name}.${name} is not a ${type} field`);
  return f.offset;
}

function u32le(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16)) + b[o + 3]! * 0x1000000;
}

/** Every argsz-checked request leads with argsz, so one reader serves them all. */
const readArgsz = u32Field(VfioUserArgsz, 'argsz');

export const accessRegion = u32Field(VfioUserRegionAccess, 'region');
export const accessCount = u32Field(VfioUserRegionAccess, 'count');
const OFFSET = fieldOffset(VfioUserRegionAccess, 'offset', 'u64');

/** A u64 whose high u32 is at least 2^21 is at least 2^53: not a safe integer. */
const TWO_POW_21 = 0x200000;

/**
 * The region access offset as a safe integer; EFAULT when it lies beyond any
 * region (offset + count would pass 2^53 - 1). The same rule as
 * wireRange(offset, count, Number.MAX_SAFE_INTEGER), on two u32 halves so
 * the hot path makes no bigint.
 */
export function accessOffset(p: Uint8Array, count: number): number {
  const hi = u32le(p, OFFSET + 4);
  if (hi < TWO_POW_21) {
    const off = hi * 0x100000000 + u32le(p, OFFSET);
    if (count <= Number.MAX_SAFE_INTEGER - off) return off;
  }
  const offset = new DataView(p.buffer, p.byteOffset + OFFSET, 8).getBigUint64(0, true);
  throw new VfioError('EFAULT', `offset 0x${offset.toString(16)} + count ${count} is outside any region`);
}

export function isCommand(flags: number): boolean {
  return (flags & P.VFIO_USER_F_TYPE_MASK) === P.VFIO_USER_F_TYPE_COMMAND;
}

export function wantsNoReply(flags: number): boolean {
  return (flags & P.VFIO_USER_F_NO_REPLY) !== 0;
}

/** Whether a refusal of this frame goes unanswered (vfio-user.rst "Header": NO_REPLY holds even on error, where honoured). */
export function silentOnError<S, R>(row: CommandRow<S, R> | undefined, flags: number): boolean {
  return wantsNoReply(flags) && row !== undefined && row.noReply;
}

/**
 * The gates before the payload: type, NO_REPLY, negotiation, fds, display.
 * `row` is undefined for a command the table does not know.
 * @throws VfioError EINVAL, or ENOSYS for an unknown or unnegotiated command.
 */
export function admit<S, R>(row: CommandRow<S, R> | undefined, frame: Frame, a: Admission): asserts row is CommandRow<S, R> {
  const cmd = frame.command;
  if (!isCommand(frame.flags)) {
    throw new VfioError('EINVAL', `message type ${frame.flags & P.VFIO_USER_F_TYPE_MASK} is not a command (the server sends no requests)`);
  }
  if (wantsNoReply(frame.flags) && (row === undefined || !row.noReply)) {
    throw new VfioError('EINVAL', `command ${cmd} needs a reply; NO_REPLY refused`);
  }
  if (a.negotiated === undefined) {
    if (row === undefined || row.gate !== 'unnegotiated') throw new VfioError('EINVAL', `command ${cmd} before VERSION`);
  }
  const n = frame.fds.length;
  if (n > 0) {
    const rule = row?.fds ?? NO_FDS;
    if (rule !== 'any' && rule !== 'ignored' && n > rule.max) {
      throw new VfioError('EINVAL', `command ${cmd} carries ${n} fds; ${rule.max === 0 ? 'none' : `at most ${rule.max}`} allowed`);
    }
  }
  if (row === undefined) throw new VfioError('ENOSYS', `unknown or unsupported command ${cmd}`);
  if (a.negotiated !== undefined && row.gate === 'unnegotiated') throw new VfioError('EINVAL', `${row.name} already negotiated`);
  if (row.gate === 'display' && a.negotiated?.display !== true) throw new VfioError('ENOSYS', `command ${cmd} is not negotiated`);
  if (row.handle === undefined && row.inPlace === undefined) throw new VfioError('ENOSYS', `unsupported command ${cmd} (${row.name})`);
}

/** Whether the payload has the row's shape (length rule only); allocates nothing. */
export function payloadFits<S, R>(row: CommandRow<S, R>, p: Uint8Array): boolean {
  const n = p.length;
  switch (row.payload) {
    case 'exact': return n === row.minPayload;
    case 'at-least': return n >= row.minPayload;
    case 'access+data': return n >= row.minPayload && n === row.minPayload + accessCount(p);
  }
}

/**
 * The payload rules of the row: length, argsz, data count.
 * @throws VfioError EINVAL naming the rule.
 */
export function checkPayload<S, R>(row: CommandRow<S, R>, p: Uint8Array, a: Admission): void {
  const n = p.length;
  const min = row.minPayload;
  if (row.payload === 'exact' ? n !== min : n < min) {
    throw new VfioError('EINVAL', `${row.name} payload is ${n} bytes, ${row.payload === 'exact' ? 'expected' : 'shorter than'} ${min}`);
  }
  const argsz = row.argsz;
  if (argsz !== undefined) {
    const v = readArgsz(p);
    if (argsz === 'payload' ? v !== n : v < argsz) {
      throw new VfioError('EINVAL', `${row.name} argsz ${v} ${argsz === 'payload' ? `differs from the payload size ${n}` : `< ${argsz}`}`);
    }
  }
  if (row.dataCount === true) {
    const count = accessCount(p);
    if (count > a.limits.maxDataXfer) throw new VfioError('EINVAL', `${row.name} count ${count} exceeds max_data_xfer_size ${a.limits.maxDataXfer}`);
    if (row.payload === 'access+data' && n !== min + count) {
      throw new VfioError('EINVAL', `${row.name} carries ${n - min} data bytes, count says ${count}`);
    }
  }
}
