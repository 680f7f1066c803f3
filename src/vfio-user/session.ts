/**
 * One client connection's protocol state: negotiated capabilities, the DMA
 * map table, dmabuf export handles, and fd ownership. Frames in, replies out,
 * through the command table (commands.ts) and its codec (codec.ts); no
 * sockets here (server.ts does I/O), and no device knowledge beyond the
 * VfioDevice contract.
 *
 * Error rule (docs/protocol.md, "error replies"): a well-framed request that cannot be
 * honoured gets an error reply and the connection stays — QEMU aborts later if
 * its connection is dropped. Only a corrupt stream (the framer's business) is
 * a reason to disconnect.
 *
 * fd rule: every fd a frame brings is closed here unless a handler takes it
 * (DMA_MAP keeps its fd until unmap or disconnect). Commands that may not
 * carry fds are refused with EINVAL; DMA_UNMAP's stray fds (SPDK's client
 * sends one) are closed silently.
 */
import { logger } from '../util/log.ts';
import { VfioError } from '../util/errors.ts';
import { ERRNO } from '../util/errno.ts';
import type { DmabufExport, VfioDevice } from '../vfio/device.ts';
import type { FdCharger } from '../sys/socket.ts';
import type { Frame } from './framer.ts';
import { DmaTable } from './dma-table.ts';
import { accessCount, admit, checkPayload, isCommand, payloadFits, silentOnError, wantsNoReply } from './codec.ts';
import { REGION_READ_ROW, REGION_WRITE_ROW, commandRow, type AnyRow, type DmaMap, type SessionState } from './commands.ts';
import * as P from './protocol.ts';
import type { NegotiatedSession } from './version.ts';
import { errorReply, replyMessage } from './wire.ts';
import { DEFAULT_SESSION_LIMITS, type FdInspector, type SessionLimits } from './limits.ts';

const log = logger('vfio-user');

export { DEFAULT_SESSION_LIMITS, maxMessageSize, type SessionLimits, type FdInspector } from './limits.ts';

/** What the session wants sent: bytes plus fds to attach (borrowed: the sender must not close them). */
export interface Outgoing {
  readonly bytes: Uint8Array;
  readonly fds: readonly number[];
}


export interface SessionOptions {
  readonly limits?: Partial<SessionLimits>;
  /** Closes an fd the session owns. */
  readonly closeFd: (fd: number) => void;
  /** Label for logs (device name). */
  readonly label?: string;
  /** Whether the device offers the display extension. */
  readonly display?: boolean;
  /**
   * Checks the fd of a DMA_MAP: it must be a regular file covering
   * [offset, offset + size). Without one (tests, fuzzers with fake fd
   * numbers) any fd is accepted.
   */
  readonly inspectFd?: FdInspector;
  /**
   * Pays for the fds DMA maps keep (src/sys/fd-ledger.ts FdAccount has this
   * shape): one per map, charged before the map is recorded, released when
   * it goes. Without one, maps keep fds unaccounted.
   */
  readonly fds?: FdCharger;
}

const NO_FDS: readonly number[] = [];

export class Session {
  readonly limits: SessionLimits;
  readonly #state: SessionState;
  #closed = false;
  /** Counters by outcome, for logs, fuzzers and the soak benchmark. */
  readonly stats = { requests: 0, errors: 0, noReply: 0 };

  constructor(private readonly device: VfioDevice, private readonly opts: SessionOptions) {
    this.limits = { ...DEFAULT_SESSION_LIMITS, ...opts.limits };
    this.#state = {
      device,
      limits: this.limits,
      display: opts.display ?? false,
      inspectFd: opts.inspectFd,
      fdCharger: opts.fds,
      negotiated: undefined,
      dmaMaps: new DmaTable<DmaMap>(),
      exports: new Map<number, DmabufExport>(),
      nextExportHandle: 1,
      stats: this.stats,
      release: (maps) => this.#release(maps),
    };
  }

  get negotiated(): NegotiatedSession | undefined {
    return this.#state.negotiated;
  }

  get dmaMapCount(): number {
    return this.#state.dmaMaps.count;
  }

  get exportCount(): number {
    return this.#state.exports.size;
  }

  /**
   * Handle one frame. Returns the reply, or undefined for NO_REPLY requests.
   * Never throws for any frame content.
   */
  handle(frame: Frame): Outgoing | undefined {
    this.stats.requests++;
    const fds = frame.fds;
    if (fds.length === 0) return this.#handle(frame);
    try {
      return this.#handle(frame);
    } finally {
      // fd rule: whatever a handler did not take (it writes -1 over what it keeps) is closed here.
      for (let i = 0; i < fds.length; i++) {
        const fd = fds[i]!;
        if (fd >= 0) this.opts.closeFd(fd);
      }
    }
  }

  /**
   * The hot path of a serving loop: a REGION_READ, or a REGION_WRITE (NO_REPLY
   * allowed), that carries no fds and arrives after VERSION, with its reply
   * (success or error) written straight into `out` at `at` instead of a new
   * buffer. Returns the end of what was written (`at` itself when no reply is
   * due), or -1 when the frame is anything else or its reply might not fit
   * in `out`: then call handle(), which does the same thing the slow way.
   * Replies, errors, counters and logs are exactly handle()'s. Never throws
   * for any frame content.
   */
  handleInto(frame: Frame, out: Uint8Array, at: number): number {
    const cmd = frame.command;
    const row = cmd === P.VFIO_USER_REGION_READ ? REGION_READ_ROW : cmd === P.VFIO_USER_REGION_WRITE ? REGION_WRITE_ROW : undefined;
    const st = this.#state;
    if (row === undefined || frame.fds.length !== 0 || st.negotiated === undefined || !isCommand(frame.flags)) return -1;
    const p = frame.payload;
    const noReply = wantsNoReply(frame.flags);
    // Only the length rule decides fast or slow; an over-long count is refused in place below, like handle() would.
    if ((noReply && !row.noReply) || !payloadFits(row, p)) return -1;
    const inPlace = row.inPlace!;
    if (at + inPlace.replySize(p) > out.length) return -1;
    this.stats.requests++;
    try {
      checkPayload(row, p, st);
      return inPlace.write(st, frame, p, noReply, out, at);
    } catch (err) {
      const reply = this.#failure(row, frame, err);
      if (reply === undefined) return at;
      out.set(reply.bytes, at); // a header: fits, replySize is at least header + access struct
      return at + reply.bytes.length;
    }
  }

  #handle(frame: Frame): Outgoing | undefined {
    const row = commandRow(frame.command);
    try {
      const out = this.#dispatch(row, frame);
      if (wantsNoReply(frame.flags)) {
        this.stats.noReply++;
        return undefined;
      }
      return out;
    } catch (err) {
      return this.#failure(row, frame, err);
    }
  }

  /** A request was refused: count it, log it, and answer it (an error reply, docs/protocol.md) unless NO_REPLY applies. */
  #failure(row: AnyRow | undefined, frame: Frame, err: unknown): Outgoing | undefined {
    const errno = err instanceof VfioError ? err.errno : ERRNO.EINVAL;
    this.stats.errors++;
    if (!(err instanceof VfioError)) log.error(`${this.opts.label ?? 'device'}: internal error on command ${frame.command}: ${String(err)}`);
    else log.debug(`${this.opts.label ?? 'device'}: msg ${frame.id} cmd ${frame.command}: ${err.message}`);
    if (silentOnError(row, frame.flags)) return undefined;
    return { bytes: errorReply(frame.id, frame.command, errno), fds: NO_FDS };
  }

  /**
   * The connection is gone: release DMA maps, fds and export handles. Device
   * state is kept. `lastUser` (default true) also tells the device its last
   * user closed it (close_device); a server with other clients still
   * connected passes false. Idempotent.
   */
  close(lastUser = true): void {
    if (this.#closed) return;
    this.#closed = true;
    const st = this.#state;
    this.#release(st.dmaMaps.clear());
    for (const e of st.exports.values()) e.release();
    st.exports.clear();
    if (lastUser) this.device.closeDevice();
  }

  #dispatch(row: AnyRow | undefined, frame: Frame): Outgoing {
    const st = this.#state;
    admit(row, frame, st);
    if (row.fds === 'ignored' && frame.fds.length > 0) log.debug(`closing ${frame.fds.length} unexpected fd(s) on ${row.name}`);
    const p = frame.payload;
    checkPayload(row, p, st);
    if (row.inPlace !== undefined) {
      const out = new Uint8Array(row.inPlace.replySize(p));
      row.inPlace.write(st, frame, p, false, out, 0);
      return { bytes: out, fds: NO_FDS };
    }
    const reply = row.handle!(st, row.decode === undefined ? (undefined as never) : row.decode(p), frame);
    return { bytes: replyMessage(frame.id, frame.command, reply.payload), fds: reply.fds ?? NO_FDS };
  }

  /** Windows left the table: close the fds they kept and give back their charges. */
  #release(maps: readonly DmaMap[]): void {
    let fds = 0;
    for (const m of maps) if (m.fd !== undefined) fds++;
    // Charges first: a close that throws must not leave the budget short for the rest of the connection.
    if (fds > 0) this.opts.fds?.release(fds);
    for (const m of maps) if (m.fd !== undefined) this.opts.closeFd(m.fd);
  }
}
