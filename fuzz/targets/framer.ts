/**
 * Fuzz target `framer`: vfio-user stream reassembly (src/vfio-user/framer.ts)
 * under arbitrary byte streams, arbitrary recvmsg chunking and fd counts
 * (msg_size lying in both directions; QEMU docs/interop/vfio-user.rst "Header"; docs/protocol.md
 * "corrupt stream" and "fds in a reply").
 *
 * A case is a stream built from well-formed messages, headers whose msg_size
 * lies (below 16, at/above the limit, or different from the bytes that
 * follow) and raw garbage; a list of chunk lengths (0 = an empty push) used
 * in turn; and a list of fd counts attached to the chunks in turn. fds are
 * fake: unique integers counted by a fake closeFd, never real descriptors.
 * The target pushes each chunk and drains next() after every push, as the
 * server does.
 *
 * Invariants:
 * 1. push() and next() throw nothing but ProtocolViolation; once broken, the
 *    framer stays broken (next() throws again) and every later push closes
 *    its fds at once.
 * 2. fd ownership: no fd is closed twice, no fd is both closed and handed
 *    out, and after close() every pushed fd was either handed out in exactly
 *    one frame or closed exactly once. Nothing that was never pushed is
 *    closed.
 * 3. The frames (header fields, payload, fds) and the point and presence of
 *    a violation equal an independent reference that parses the whole stream
 *    and attributes a chunk's fds to the message holding the chunk's last
 *    byte (docs/protocol.md "fds in a reply"), with the stream-level rules: msg_size < 16 or
 *    > maxMessageSize, fds on an empty chunk, and more than maxFds fds on one
 *    message are violations.
 * 4. Chunking independence: the frames (without fds) equal those of the
 *    same stream pushed in one piece, up to a violation caused by fds.
 * 5. Memory bound: with next() drained after every push, the buffered bytes
 *    never exceed maxMessageSize − 1 + the chunk just pushed, and are below
 *    maxMessageSize once drained. (The buffer's capacity itself is private;
 *    `buffered` is what the framer exposes.)
 */
import { Framer, ProtocolViolation, type Frame } from '../../src/vfio-user/framer.ts';
import { RELATIVE_SIZE_BASE, arbFramerCase, countFramerMessages, framerStream, isRelativeSize, type FramerCase } from '../arb/vfio-user.ts';
import { defineTarget } from '../target.ts';

class Violation extends Error {
  constructor(invariant: string, detail: string) {
    super(`invariant violated: ${invariant}: ${detail}`);
    this.name = 'InvariantViolation';
  }
}

/** A frame with its payload copied (a Frame's payload is only valid until the next push). */
interface SeenFrame {
  readonly id: number;
  readonly command: number;
  readonly flags: number;
  readonly error: number;
  readonly size: number;
  readonly payload: string;
  readonly fds: readonly number[];
}

interface Outcome {
  readonly frames: SeenFrame[];
  /** Index of the push during which the violation surfaced, or -1. */
  readonly violationAt: number;
  /** Why (reference only): 'size', 'fds-empty', 'fd-count'. */
  readonly reason: string;
}

const hexOf = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

interface Chunk {
  readonly bytes: Uint8Array;
  readonly fds: number[];
}

/** After this many chunks the rest of the stream goes in one piece (keeps 1-byte cuts of 64 KiB messages cheap). */
const MAX_CHUNKS = 512;

/** Cut the stream into chunks with fake fd numbers (from 1000, unique). */
function chunksOf(c: FramerCase, stream: Uint8Array): Chunk[] {
  const out: Chunk[] = [];
  let pos = 0;
  let nextFd = 1000;
  let k = 0;
  // Every empty cut still advances k, so a cut list of only zeros terminates after one round.
  let emptyRun = 0;
  while (pos < stream.length || (k < c.cuts.length && stream.length === 0)) {
    const len = out.length >= MAX_CHUNKS ? stream.length - pos : c.cuts[k % c.cuts.length] ?? 1;
    const nfds = c.fdCounts[k % c.fdCounts.length] ?? 0;
    k++;
    if (len === 0) {
      emptyRun++;
      if (emptyRun > c.cuts.length) { // all cuts zero: take the rest in one piece
        out.push({ bytes: stream.subarray(pos), fds: Array.from({ length: nfds }, () => nextFd++) });
        pos = stream.length;
        break;
      }
    } else {
      emptyRun = 0;
    }
    out.push({ bytes: stream.subarray(pos, pos + len), fds: Array.from({ length: nfds }, () => nextFd++) });
    pos += len;
  }
  return out;
}

/**
 * The reference: the whole stream is known up front; chunk k brings bytes
 * [B_k, B_k + len) and its fds, which belong to the message holding byte
 * B_k + len − 1. After each push, whole messages are handed out in order.
 */
function reference(c: FramerCase, stream: Uint8Array, chunks: readonly Chunk[]): Outcome & { closed: Set<number> } {
  const frames: SeenFrame[] = [];
  const closed = new Set<number>();
  const pending: { at: number; fds: number[] }[] = [];
  const view = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  let received = 0;
  let pos = 0;
  let violationAt = -1;
  let reason = '';
  const breakAt = (k: number, why: string): void => {
    violationAt = k;
    reason = why;
    for (const p of pending) for (const fd of p.fds) closed.add(fd);
    pending.length = 0;
  };
  chunks.forEach((ch, k) => {
    if (violationAt >= 0) {
      for (const fd of ch.fds) closed.add(fd);
      return;
    }
    if (ch.bytes.length === 0) {
      if (ch.fds.length > 0) {
        for (const fd of ch.fds) closed.add(fd);
        breakAt(k, 'fds-empty');
      }
      return;
    }
    if (ch.fds.length > 0) pending.push({ at: received + ch.bytes.length - 1, fds: ch.fds });
    received += ch.bytes.length;
    for (;;) {
      if (received - pos < 16) return;
      const size = view.getUint32(pos + 4, true);
      if (size < 16 || size > c.maxMessageSize) { breakAt(k, 'size'); return; }
      if (received - pos < size) return;
      const fds: number[] = [];
      while (pending.length > 0 && pending[0]!.at < pos + size) fds.push(...pending.shift()!.fds);
      if (fds.length > c.maxFds) {
        for (const fd of fds) closed.add(fd);
        breakAt(k, 'fd-count');
        return;
      }
      frames.push({
        id: view.getUint16(pos, true),
        command: view.getUint16(pos + 2, true),
        size,
        flags: view.getUint32(pos + 8, true),
        error: view.getUint32(pos + 12, true),
        payload: hexOf(stream.subarray(pos + 16, pos + size)),
        fds,
      });
      pos += size;
    }
  });
  // close(): whatever is still queued.
  for (const p of pending) for (const fd of p.fds) closed.add(fd);
  return { frames, violationAt, reason, closed };
}

const seen = (f: Frame): SeenFrame => ({
  id: f.id, command: f.command, flags: f.flags, error: f.error, size: f.size, payload: hexOf(f.payload), fds: [...f.fds],
});

function expectViolation<T>(what: string, fn: () => T): { value?: T; violation?: ProtocolViolation } {
  try {
    return { value: fn() };
  } catch (e) {
    if (e instanceof ProtocolViolation) return { violation: e };
    if (e instanceof Violation) throw e;
    throw new Violation('push/next throw nothing but ProtocolViolation', `${what} threw ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  }
}

/** Drive a real Framer over the chunks, checking invariants 1, 2 and 5 along the way. */
function drive(c: FramerCase, chunks: readonly Chunk[], closeCounts: Map<number, number>): Outcome {
  const limits = { maxMessageSize: c.maxMessageSize, maxFdsPerMessage: c.maxFds };
  const pushed = new Set<number>();
  const handed = new Set<number>();
  const f = new Framer(limits, (fd) => {
    closeCounts.set(fd, (closeCounts.get(fd) ?? 0) + 1);
    if (!pushed.has(fd)) throw new Violation('only pushed fds are closed', `closeFd(${fd}) for an fd never pushed`);
    if (closeCounts.get(fd)! > 1) throw new Violation('no fd is closed twice', `fd ${fd} closed ${closeCounts.get(fd)} times`);
    if (handed.has(fd)) throw new Violation('an fd handed out in a frame is never closed by the framer', `fd ${fd}`);
  });
  const frames: SeenFrame[] = [];
  let broken: ProtocolViolation | undefined;
  let violationAt = -1;
  chunks.forEach((ch, k) => {
    for (const fd of ch.fds) pushed.add(fd);
    const before = f.buffered;
    const p = expectViolation(`push #${k} (${ch.bytes.length} bytes, ${ch.fds.length} fds)`, () => f.push(ch.bytes, ch.fds));
    if (p.violation !== undefined) {
      if (broken === undefined) { broken = p.violation; violationAt = k; }
    }
    if (broken !== undefined) {
      for (const fd of ch.fds) {
        if ((closeCounts.get(fd) ?? 0) !== 1) throw new Violation('a broken framer closes the fds of every later push at once', `push #${k}: fd ${fd} closed ${closeCounts.get(fd) ?? 0} times`);
      }
      const again = expectViolation(`next() after the violation (push #${k})`, () => f.next());
      if (again.violation === undefined) throw new Violation('a broken framer stays broken', `next() after push #${k} returned ${again.value === undefined ? 'undefined' : 'a frame'}`);
      return;
    }
    if (f.buffered > before + ch.bytes.length || f.buffered > c.maxMessageSize - 1 + ch.bytes.length) {
      throw new Violation('buffered bytes stay below maxMessageSize + one chunk', `after push #${k}: ${f.buffered} buffered (was ${before}, chunk ${ch.bytes.length}, limit ${c.maxMessageSize})`);
    }
    for (;;) {
      const r = expectViolation(`next() after push #${k}`, () => f.next());
      if (r.violation !== undefined) { broken = r.violation; violationAt = k; break; }
      if (r.value === undefined) break;
      for (const fd of r.value.fds) {
        if (handed.has(fd)) throw new Violation('each fd is handed out in exactly one frame', `fd ${fd} handed out twice`);
        if ((closeCounts.get(fd) ?? 0) > 0) throw new Violation('an fd is handed out or closed, never both', `fd ${fd} was closed, then handed out`);
        handed.add(fd);
      }
      frames.push(seen(r.value));
    }
    if (broken === undefined && f.buffered >= Math.max(c.maxMessageSize, 16)) {
      throw new Violation('once drained, less than one maximal message is buffered', `after push #${k}: ${f.buffered} buffered, limit ${c.maxMessageSize}`);
    }
  });
  f.close();
  f.close(); // idempotent
  for (const fd of pushed) {
    const closes = closeCounts.get(fd) ?? 0;
    if (handed.has(fd) ? closes !== 0 : closes !== 1) {
      throw new Violation('after close(), every pushed fd was handed out in one frame or closed exactly once', `fd ${fd}: handed out ${handed.has(fd)}, closed ${closes} times`);
    }
  }
  return { frames, violationAt, reason: '' };
}

const frameText = (f: SeenFrame | undefined): string =>
  f === undefined ? 'none' : `{id ${f.id}, cmd ${f.command}, size ${f.size}, flags 0x${f.flags.toString(16)}, error ${f.error}, fds [${f.fds.join(',')}], payload ${f.payload.slice(0, 32)}${f.payload.length > 32 ? '…' : ''}}`;

function compareFrames(invariant: string, got: readonly SeenFrame[], want: readonly SeenFrame[], withFds: boolean): void {
  const n = Math.max(got.length, want.length);
  for (let i = 0; i < n; i++) {
    const a = got[i];
    const b = want[i];
    const same = a !== undefined && b !== undefined && a.id === b.id && a.command === b.command && a.size === b.size &&
      a.flags === b.flags && a.error === b.error && a.payload === b.payload &&
      (!withFds || (a.fds.length === b.fds.length && a.fds.every((fd, j) => fd === b.fds[j])));
    if (!same) throw new Violation(invariant, `frame ${i}: got ${frameText(a)}, expected ${frameText(b)} (${got.length} vs ${want.length} frames)`);
  }
}

/** Outcome counts across every case run in this process (tests assert the campaign reaches each). */
export const framerCoverage: Record<string, number> = {};
const cover = (event: string, n = 1): void => { framerCoverage[event] = (framerCoverage[event] ?? 0) + n; };

export function checkFramerCase(c: FramerCase): void {
  const stream = framerStream(c);
  const chunks = chunksOf(c, stream);
  const closeCounts = new Map<number, number>();
  const got = drive(c, chunks, closeCounts);
  const want = reference(c, stream, chunks);

  compareFrames('frames (header, payload, fds) equal the reference parse of the whole stream', got.frames, want.frames, true);
  if (got.violationAt !== want.violationAt) {
    throw new Violation('a violation surfaces exactly where the reference finds one', `framer broke at push ${got.violationAt}, reference at ${want.violationAt} (${want.reason || 'none'})`);
  }
  for (const fd of want.closed) {
    if (closeCounts.get(fd) !== 1) throw new Violation('fds the reference closes are closed', `fd ${fd}`);
  }
  cover(want.reason === '' ? 'clean' : `violation: ${want.reason}`);
  cover('frames', got.frames.length);
  cover('fds handed out', got.frames.reduce((n, f) => n + f.fds.length, 0));
  cover('fds closed', want.closed.size);

  // Chunking independence: the whole stream in one push, no fds.
  const one = drive({ ...c, fdCounts: [0] }, [{ bytes: stream, fds: [] }], new Map());
  if (want.reason === 'fds-empty' || want.reason === 'fd-count') {
    compareFrames('chunked frames are a prefix of the one-piece frames', got.frames, one.frames.slice(0, got.frames.length), false);
  } else {
    compareFrames('frames do not depend on how the stream is chunked', got.frames, one.frames, false);
    if ((got.violationAt >= 0) !== (one.violationAt >= 0)) {
      throw new Violation('a size violation does not depend on chunking', `chunked broke: ${got.violationAt >= 0}, one piece broke: ${one.violationAt >= 0}`);
    }
  }
}

export function describeFramerCase(c: FramerCase): string {
  const parts = c.parts.map((p, i) => {
    switch (p.k) {
      case 'msg': return `  ${i}: msg id ${p.id} cmd ${p.command} flags 0x${p.flags.toString(16)} error ${p.error} payload[${p.payload.length}]`;
      case 'edge': return `  ${i}: msg id ${p.id} cmd ${p.command} of maxMessageSize${p.d >= 0 ? '+' : ''}${p.d} bytes`;
      case 'lie': return `  ${i}: header id ${p.id} cmd ${p.command} msg_size ${isRelativeSize(p.size) ? `max${p.size - RELATIVE_SIZE_BASE >= 0 ? '+' : ''}${p.size - RELATIVE_SIZE_BASE}` : p.size} body[${p.body.length}]`;
      case 'raw': return `  ${i}: raw ${hexOf(p.bytes)}`;
    }
  });
  return [`limits: maxMessageSize ${c.maxMessageSize}, maxFds ${c.maxFds}`, `cuts [${c.cuts.join(',')}] fdCounts [${c.fdCounts.join(',')}]`, ...parts].join('\n');
}

export default defineTarget<FramerCase>({
  name: 'framer',
  description: 'vfio-user framer: arbitrary streams, chunking and fds; fd ownership, reassembly, violations, memory bound',
  arbitrary: arbFramerCase,
  check: checkFramerCase,
  describe: describeFramerCase,
  unit: { name: 'messages', count: countFramerMessages },
  coverage: {
    labels: (c: FramerCase) => c.parts.map((p) => `part:${p.k}`).concat(c.fdCounts.some((n) => n > c.maxFds) ? ['fds:over-limit'] : []),
  },
});
