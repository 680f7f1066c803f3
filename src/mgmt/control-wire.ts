/**
 * The control protocol's wire format (docs/management.md), shared by the
 * server and the client in control.ts:
 *
 * - a frame is a u32 little-endian length followed by that many bytes of
 *   msgpack; at most {@link MAX_CONTROL_FRAME} bytes, and the server takes
 *   frames over 1 MiB from one connection at a time (a frame it refuses
 *   cannot be skipped safely, so the connection is dropped after an error
 *   reply);
 * - a request is the record `{ id, call, args }`; a reply is
 *   `{ id, ok: true, result }` or `{ id, ok: false, error: { code, message } }`.
 *   A reply to a request whose id could not be read carries `id: null`.
 *
 * Binary values (PNG, snapshot bytes) travel as msgpack bin, i.e. Uint8Array.
 */
import { Decoder, encode } from '@msgpack/msgpack';

/** The calls the control socket answers. */
export const CONTROL_CALLS = ['types', 'create', 'remove', 'list', 'describe', 'set-resolution', 'screenshot', 'snapshot', 'restore', 'vnc', 'define', 'undefine', 'modify', 'start', 'stop', 'list-defined'] as const;
export type ControlCall = (typeof CONTROL_CALLS)[number];

/**
 * Largest frame either side accepts, 65 MiB: the largest snapshot
 * (mbochs-large's 64 MiB of VRAM) plus 1 MiB for the rest of the record,
 * which also holds the largest screenshot PNG (at most the VRAM's pixels,
 * deflate-expanded by well under 1 MiB). A constant rather than computed
 * from the device types, so that a client does not load the device models;
 * test/unit/mgmt/control.test.ts checks it against them.
 */
export const MAX_CONTROL_FRAME = 65 << 20;

/** Request ids: a non-negative integer or a short string, echoed in the reply. */
export type RequestId = number | string;

export interface ControlRequest {
  readonly id: RequestId;
  readonly call: string;
  readonly args?: unknown;
}

export interface ControlErrorBody {
  /** Stable code: see docs/management.md ("Errors"). */
  readonly code: string;
  /** One sentence for the user. */
  readonly message: string;
}

export type ControlReply =
  | { readonly id: RequestId; readonly ok: true; readonly result: unknown }
  | { readonly id: RequestId | null; readonly ok: false; readonly error: ControlErrorBody };

/** An error reply, or a failure of the control connection, on the client side. */
export class ControlError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'ControlError';
    this.code = code;
  }
}

/** A frame header announced more than the limit. The stream cannot be resynchronised. */
export class FrameSizeError extends Error {
  readonly length: number;
  readonly limit: number;
  constructor(length: number, limit: number) {
    super(`A control frame of ${length} bytes exceeds the ${limit}-byte limit.`);
    this.name = 'FrameSizeError';
    this.length = length;
    this.limit = limit;
  }
}

/** Encode a message as one frame: [header, body] (send both as one sendmsg; no copy of the body). */
export function encodeFrame(message: unknown): [Uint8Array, Uint8Array] {
  const body = encode(message, { ignoreUndefined: true });
  const header = new Uint8Array(4);
  new DataView(header.buffer).setUint32(0, body.length, true);
  return [header, body];
}

/**
 * Decode one frame's body. Every msgpack length is bounded by the frame
 * itself (each element takes at least one byte), so a lying header inside a
 * frame cannot make the decoder allocate more than the frame.
 * @throws Error (DecodeError/RangeError) for malformed msgpack.
 */
export function decodeBody(body: Uint8Array): unknown {
  const n = body.length;
  return new Decoder({ maxStrLength: n, maxBinLength: n, maxArrayLength: n, maxMapLength: n, maxExtLength: n }).decode(body);
}

/**
 * Permission to receive one frame above a reader's normal limit. The server
 * shares one among all its connections (control.ts), so that hostile
 * clients together can make it hold at most one large partial frame.
 */
export interface LargeFrameAllowance {
  /** The most a large frame may announce. */
  readonly limit: number;
  /** false: another reader holds it. */
  take(): boolean;
  give(): void;
}

/** A frame header announced more than the normal limit while another connection holds the large-frame allowance. */
export class FrameBusyError extends Error {
  readonly length: number;
  constructor(length: number) {
    super(`A control frame of ${length} bytes needs the large-request allowance, and another large request is in progress.`);
    this.name = 'FrameBusyError';
    this.length = length;
  }
}

/** The first allocation for a frame body; it grows by doubling as bytes arrive. */
const FIRST_BODY_CHUNK = 64 * 1024;
const EMPTY = new Uint8Array(0);

/**
 * What is wrong with bytes msgpack refused, as a clause for a sentence
 * (the decoder's own messages name its internals: buffer offsets, option names).
 */
export function msgpackProblem(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  const extra = /^Extra (\d+) of \d+ byte/.exec(m);
  if (extra) return `${extra[1]} stray bytes follow the value`;
  if (/Insufficient data|outside the bounds/.test(m)) return 'the data ends in the middle of a value';
  if (/^Max length exceeded/.test(m)) return 'a length inside it is larger than the data';
  const type = /^Unrecognized (?:array )?type byte: (0x[0-9a-f]+)/i.exec(m);
  if (type) return `it holds the unknown type byte ${type[1]}`;
  if (/__proto__/.test(m)) return 'a map uses the key __proto__';
  if (/type of key/.test(m)) return 'a map key is neither a string nor a number';
  return 'it is not valid msgpack';
}

/**
 * Reassembles frames from stream chunks. Memory follows the bytes that
 * arrived, not the header: the body buffer starts small and doubles (up to
 * the announced length), so a header announcing 64 MiB followed by nothing
 * allocates nothing; once a frame is handed out the reader holds no buffer.
 */
export class FrameReader {
  readonly maxFrame: number;
  readonly #large: LargeFrameAllowance | undefined;
  readonly #header = new Uint8Array(4);
  #headerFill = 0;
  #length = -1;
  #body: Uint8Array | undefined;
  #filled = 0;
  #holdsLarge = false;
  #failed: FrameSizeError | FrameBusyError | undefined;

  /**
   * @param large lets one frame at a time exceed maxFrame, up to large.limit
   *   (taken at its header, given back when it completes or on dispose()).
   */
  constructor(maxFrame: number = MAX_CONTROL_FRAME, large?: LargeFrameAllowance) {
    this.maxFrame = maxFrame;
    this.#large = large;
  }

  /**
   * Feed bytes (copied: the caller may reuse `bytes`); onFrame is called for
   * every completed frame body, in order, and owns it.
   * @throws FrameSizeError when a header announces more than the limit, or
   *   FrameBusyError when it needs the large-frame allowance and cannot have
   *   it; the reader then refuses everything (the stream cannot be resynchronised).
   */
  push(bytes: Uint8Array, onFrame: (body: Uint8Array) => void): void {
    if (this.#failed) throw this.#failed;
    let at = 0;
    while (at < bytes.length) {
      if (this.#length < 0) {
        const take = Math.min(4 - this.#headerFill, bytes.length - at);
        this.#header.set(bytes.subarray(at, at + take), this.#headerFill);
        this.#headerFill += take;
        at += take;
        if (this.#headerFill < 4) return;
        const length = new DataView(this.#header.buffer).getUint32(0, true);
        if (length > this.maxFrame) this.#takeLarge(length);
        this.#length = length;
        this.#headerFill = 0;
      }
      const take = Math.min(this.#length - this.#filled, bytes.length - at);
      if (take > 0) {
        this.#reserve(this.#filled + take);
        this.#body!.set(bytes.subarray(at, at + take), this.#filled);
      }
      this.#filled += take;
      at += take;
      if (this.#filled === this.#length) {
        // #reserve never grows past the announced length, so the buffer is exactly the body.
        const body = this.#body ?? EMPTY;
        this.#length = -1;
        this.#body = undefined;
        this.#filled = 0;
        this.#giveLarge();
        onFrame(body);
      }
    }
  }

  /** Bytes of an incomplete frame held now. */
  get pending(): number {
    return this.#filled + this.#headerFill;
  }

  /** Bytes allocated for the incomplete frame (at most twice what arrived, and never more than it announced). */
  get capacity(): number {
    return this.#body?.length ?? 0;
  }

  /** Drop the partial frame and give back the large-frame allowance (the connection closed). Idempotent. */
  dispose(): void {
    this.#body = undefined;
    this.#filled = 0;
    this.#giveLarge();
  }

  #takeLarge(length: number): void {
    const large = this.#large;
    if (large === undefined || length > large.limit) {
      this.#failed = new FrameSizeError(length, large === undefined ? this.maxFrame : large.limit);
    } else if (!large.take()) {
      this.#failed = new FrameBusyError(length);
    } else {
      this.#holdsLarge = true;
      return;
    }
    throw this.#failed;
  }

  #giveLarge(): void {
    if (!this.#holdsLarge) return;
    this.#holdsLarge = false;
    this.#large!.give();
  }

  #reserve(needed: number): void {
    const have = this.#body?.length ?? 0;
    if (have >= needed) return;
    const grown = new Uint8Array(Math.min(this.#length, Math.max(needed, have * 2, FIRST_BODY_CHUNK)));
    if (this.#body !== undefined) grown.set(this.#body.subarray(0, this.#filled));
    this.#body = grown;
  }
}

/** Validate a decoded request; a string saying what is wrong, or the request. */
export function parseRequest(raw: unknown): ControlRequest | { readonly id: RequestId | null; readonly problem: string } {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || raw instanceof Uint8Array) {
    return { id: null, problem: 'A request must be a msgpack map { id, call, args }.' };
  }
  const r = raw as Record<string, unknown>;
  const id = r['id'];
  const idOk = (typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) || (typeof id === 'string' && id.length <= 128);
  if (!idOk) return { id: null, problem: 'A request needs an "id": a non-negative integer or a string of at most 128 characters.' };
  if (typeof r['call'] !== 'string') return { id: id as RequestId, problem: 'A request needs a "call" naming what to do.' };
  return { id: id as RequestId, call: r['call'], args: r['args'] };
}
