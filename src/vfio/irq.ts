/**
 * VFIO_DEVICE_SET_IRQS: decoding and validation.
 *
 * validateIrqSet() applies the kernel's vfio_set_irqs_validate_and_prepare
 * (drivers/vfio/vfio_main.c) plus the extra rules of libvfio-user's
 * dev_set_irqs_validate / handle_device_set_irqs (libvfio-user lib/irq.c;
 * vfio-user.rst "VFIO_USER_DEVICE_SET_IRQS"). Every refusal is VfioError EINVAL
 * with a message naming the rule.
 * Where the two disagree the stricter rule wins, except that start+count is
 * computed exactly (libvfio-user adds in u32 and can wrap).
 */
import type { IrqSet } from './device.ts';
import {
  VFIO_IRQ_SET_ACTION_TRIGGER,
  VFIO_IRQ_SET_ACTION_TYPE_MASK,
  VFIO_IRQ_SET_DATA_BOOL,
  VFIO_IRQ_SET_DATA_EVENTFD,
  VFIO_IRQ_SET_DATA_NONE,
  VFIO_IRQ_SET_DATA_TYPE_MASK,
  VFIO_PCI_ERR_IRQ_INDEX,
  VFIO_PCI_NUM_IRQS,
  VFIO_PCI_REQ_IRQ_INDEX,
} from './uapi.ts';
import { VfioIrqSet } from './structs.ts';
import { VfioError } from '../util/errors.ts';

/** Names of the validation rules, as they appear in error messages (and tests). */
export const IRQ_SET_RULES = {
  flags: 'unknown flag bits',
  data: 'exactly one DATA_* bit',
  action: 'exactly one ACTION_* bit',
  index: 'index < num_irqs',
  start: 'start < count of the index',
  range: 'start + count <= count of the index',
  errReq: 'ERR/REQ accept only ACTION_TRIGGER',
  countZero: 'count 0 only with DATA_NONE|ACTION_TRIGGER and start 0 (disable)',
  payload: 'data payload only with DATA_BOOL',
  bools: 'DATA_BOOL payload length == count',
  fdsOnly: 'fds only with DATA_EVENTFD',
  fdCount: 'DATA_EVENTFD fd count == count, or 0 to de-assign',
  fdValue: 'eventfds are fd numbers or -1',
} as const;

export type IrqSetRule = keyof typeof IRQ_SET_RULES;

/** The refusal of a SET_IRQS request: EINVAL, with the rule that failed. */
export class IrqSetError extends VfioError {
  readonly rule: IrqSetRule;
  constructor(rule: IrqSetRule, detail: string) {
    super('EINVAL', `SET_IRQS: ${IRQ_SET_RULES[rule]} (${detail})`);
    this.name = 'IrqSetError';
    this.rule = rule;
  }
}

export interface ValidateIrqSetOptions {
  /**
   * Number of irq indexes (vfio_device_info.num_irqs); index must be below it.
   * @defaultValue VFIO_PCI_NUM_IRQS (5)
   */
  readonly numIrqs?: number;
  /**
   * Accept the whole-index disable (count 0, start 0, DATA_NONE|TRIGGER) on
   * an index with 0 vectors. The kernel and libvfio-user both refuse it
   * (start ≥ count of the index); mdpy/mbochs answer every SET_IRQS with EINVAL.
   * @defaultValue false
   */
  readonly allowDisableEmptyIndex?: boolean;
}

/**
 * A validated request, normalised: `bools` present iff DATA_BOOL (length
 * count); `eventfds` present iff DATA_EVENTFD, length count, -1 for each
 * sub-index to de-assign (a request without fds de-assigns them all).
 */
export interface ValidIrqSet extends IrqSet {
  /** flags & VFIO_IRQ_SET_DATA_TYPE_MASK (one bit). */
  readonly dataType: number;
  /** flags & VFIO_IRQ_SET_ACTION_TYPE_MASK (one bit). */
  readonly action: number;
  /** count 0 with DATA_NONE|TRIGGER: disable the whole index. */
  readonly disable: boolean;
}

const KNOWN_FLAGS = VFIO_IRQ_SET_DATA_TYPE_MASK | VFIO_IRQ_SET_ACTION_TYPE_MASK;

function oneBit(v: number): boolean {
  return v !== 0 && (v & (v - 1)) === 0;
}

function isU32(v: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff;
}

/**
 * Validate a SET_IRQS request against the device's vector counts.
 * `irqCount(index)` is only called with index < numIrqs.
 * @throws IrqSetError (VfioError EINVAL) naming the first rule that fails.
 */
export function validateIrqSet(
  set: IrqSet,
  irqCount: (index: number) => number,
  opts: ValidateIrqSetOptions = {},
): ValidIrqSet {
  const numIrqs = opts.numIrqs ?? VFIO_PCI_NUM_IRQS;
  const { flags, index, start, count } = set;
  if (!isU32(flags) || (flags & ~KNOWN_FLAGS) !== 0) {
    throw new IrqSetError('flags', `flags 0x${flags.toString(16)}`);
  }
  const dataType = flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
  const action = flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
  if (!oneBit(dataType)) throw new IrqSetError('data', `flags 0x${flags.toString(16)}`);
  if (!oneBit(action)) throw new IrqSetError('action', `flags 0x${flags.toString(16)}`);
  if (!isU32(index) || index >= numIrqs) throw new IrqSetError('index', `index ${index}, num_irqs ${numIrqs}`);
  if (!isU32(start) || !isU32(count)) throw new IrqSetError('range', `start ${start}, count ${count} are not u32`);
  const vectors = irqCount(index);
  const disable = count === 0 && dataType === VFIO_IRQ_SET_DATA_NONE && action === VFIO_IRQ_SET_ACTION_TRIGGER && start === 0;
  if (start >= vectors && !(disable && vectors === 0 && opts.allowDisableEmptyIndex === true)) {
    throw new IrqSetError('start', `start ${start}, index ${index} has ${vectors}`);
  }
  // Exact: both are u32 numbers, so the sum cannot lose precision.
  if (start + count > vectors) throw new IrqSetError('range', `start ${start} + count ${count} > ${vectors}`);
  if ((index === VFIO_PCI_ERR_IRQ_INDEX || index === VFIO_PCI_REQ_IRQ_INDEX) && action !== VFIO_IRQ_SET_ACTION_TRIGGER) {
    throw new IrqSetError('errReq', `index ${index}, action 0x${action.toString(16)}`);
  }
  if (count === 0 && !disable) throw new IrqSetError('countZero', `flags 0x${flags.toString(16)}, start ${start}`);

  const nBools = set.bools?.length ?? 0;
  if (dataType === VFIO_IRQ_SET_DATA_BOOL) {
    if (nBools !== count) throw new IrqSetError('bools', `${nBools} bytes for count ${count}`);
  } else if (nBools !== 0) {
    throw new IrqSetError('payload', `${nBools} data bytes with flags 0x${flags.toString(16)}`);
  }

  const nFds = set.eventfds?.length ?? 0;
  let eventfds: readonly number[] | undefined;
  if (dataType === VFIO_IRQ_SET_DATA_EVENTFD) {
    if (nFds !== 0 && nFds !== count) throw new IrqSetError('fdCount', `${nFds} fds for count ${count}`);
    if (nFds === 0) {
      eventfds = new Array<number>(count).fill(-1);
    } else {
      for (const fd of set.eventfds as readonly number[]) {
        if (!Number.isInteger(fd) || fd < -1) throw new IrqSetError('fdValue', `fd ${fd}`);
      }
      eventfds = set.eventfds;
    }
  } else if (nFds !== 0) {
    throw new IrqSetError('fdsOnly', `${nFds} fds with flags 0x${flags.toString(16)}`);
  }

  return {
    flags,
    index,
    start,
    count,
    ...(dataType === VFIO_IRQ_SET_DATA_BOOL ? { bools: set.bools as Uint8Array } : {}),
    ...(eventfds !== undefined ? { eventfds } : {}),
    dataType,
    action,
    disable,
  };
}

export type IrqSetStyle = 'vfio-user' | 'kernel';

/**
 * Decode a SET_IRQS request payload into an IrqSet (structure only; run
 * validateIrqSet for the semantics). `fds` are the fd numbers that came with
 * the message (vfio-user: SCM_RIGHTS); ownership stays with the caller.
 *
 * - 'vfio-user' (default): argsz must equal the payload length (libvfio-user
 *   handle_device_set_irqs); data after the 20-byte header becomes `bools`
 *   (QEMU sends DATA_EVENTFD with argsz 20 and the fds out of band; a run of
 *   -1 fds travels as a message with count n and no fds).
 * - 'kernel': argsz ≥ 20 and ≤ the bytes given; DATA_BOOL takes count bytes
 *   and DATA_EVENTFD count s32 fds from data (argsz − 20 ≥ count × size, as
 *   vfio_set_irqs_validate_and_prepare); `fds` must be empty.
 *
 * `bools` is a copy; `eventfds` is set when fds were given or DATA_EVENTFD is set.
 * @throws VfioError EINVAL for a short payload or an argsz mismatch.
 */
export function decodeIrqSet(bytes: Uint8Array, fds: readonly number[] = [], opts: { readonly style?: IrqSetStyle } = {}): IrqSet {
  if (bytes.length < VfioIrqSet.size) {
    throw new VfioError('EINVAL', `SET_IRQS: ${bytes.length} bytes, need ${VfioIrqSet.size}`);
  }
  const raw = VfioIrqSet.decode(bytes, 0);
  const head = { flags: raw.flags, index: raw.index, start: raw.start, count: raw.count };
  const dataType = raw.flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
  if ((opts.style ?? 'vfio-user') === 'vfio-user') {
    if (raw.argsz !== bytes.length) {
      throw new VfioError('EINVAL', `SET_IRQS: argsz ${raw.argsz} differs from the payload size ${bytes.length}`);
    }
    const data = raw.data;
    return {
      ...head,
      ...(data.length > 0 || dataType === VFIO_IRQ_SET_DATA_BOOL ? { bools: data.slice() } : {}),
      ...(fds.length > 0 || dataType === VFIO_IRQ_SET_DATA_EVENTFD ? { eventfds: [...fds] } : {}),
    };
  }
  if (raw.argsz < VfioIrqSet.size || raw.argsz > bytes.length) {
    throw new VfioError('EINVAL', `SET_IRQS: argsz ${raw.argsz} outside [${VfioIrqSet.size}, ${bytes.length}]`);
  }
  if (fds.length > 0) throw new VfioError('EINVAL', 'SET_IRQS: the kernel ioctl carries no out-of-band fds');
  const room = raw.argsz - VfioIrqSet.size;
  const data = raw.data;
  if (dataType === VFIO_IRQ_SET_DATA_BOOL) {
    if (room < raw.count) throw new VfioError('EINVAL', `SET_IRQS: ${room} data bytes for ${raw.count} bools`);
    return { ...head, bools: data.slice(0, raw.count) };
  }
  if (dataType === VFIO_IRQ_SET_DATA_EVENTFD) {
    if (room / 4 < raw.count) throw new VfioError('EINVAL', `SET_IRQS: ${room} data bytes for ${raw.count} fds`);
    const eventfds: number[] = [];
    for (let i = 0; i < raw.count; i++) {
      const o = i * 4;
      eventfds.push(((data[o] as number) | ((data[o + 1] as number) << 8) | ((data[o + 2] as number) << 16) | ((data[o + 3] as number) << 24)));
    }
    return { ...head, eventfds };
  }
  return head;
}

/**
 * Encode a SET_IRQS request (for clients and tests), vfio-user style:
 * 20 bytes + bools, argsz = total length; eventfds are not encoded (send them
 * as SCM_RIGHTS).
 */
export function encodeIrqSet(set: IrqSet): Uint8Array {
  const data = set.bools ?? new Uint8Array(0);
  return VfioIrqSet.toBytes({
    argsz: VfioIrqSet.size + data.length,
    flags: set.flags,
    index: set.index,
    start: set.start,
    count: set.count,
    data,
  });
}

