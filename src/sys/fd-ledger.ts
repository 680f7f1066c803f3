/**
 * File-descriptor accounting for everything a client can make us hold.
 *
 * The process has one fd table (RLIMIT_NOFILE). Without accounting, one
 * client that sends fd-carrying DMA_MAPs until the table is full makes every
 * other client's next recvmsg lose its fds (MSG_CTRUNC), makes accept fail,
 * and makes the next dup of a queued reply fd throw. So every fd a client
 * causes us to hold is charged to that client's account:
 *
 * - the connection's own socket (1) plus room for one message's fds in
 *   flight (the kernel installs them before we see the message: at most
 *   `maxMsgFds`, because the socket layer reads no further while a batch
 *   of fds is unhandled) — both charged when the connection is admitted;
 * - every fd kept afterwards: DMA map fds, duplicates of reply fds queued
 *   behind a receiver that is not reading.
 *
 * An account may hold at most `perAccount` fds, the fair share of the
 * table: what is left of the limit after the fds the process had when the
 * ledger was made (Node's own), a fixed reserve (accept/close/error paths,
 * trace files, HTTP sockets) and what each registered service holds itself
 * (its listener, device memory), divided by every connection slot the
 * services registered. Besides the per-account cap, the sum of all charges
 * never exceeds the capacity, so the table itself never fills, whatever the
 * slot count. Budgets follow registrations as devices come and go; an
 * account above a shrunken budget keeps what it holds but gets no more.
 *
 * Node raises the soft RLIMIT_NOFILE to the hard limit at start, so the
 * limit read here is the hard one in practice; tests lower both
 * (`prlimit --nofile=N:N`).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** fds kept free for everything not charged to a client. */
export const DEFAULT_FD_RESERVE = 64;
/** No account gets less than this, however many slots are registered (a VMM needs a few DMA fds). */
export const MIN_FDS_PER_ACCOUNT = 16;

export interface FdLedgerOptions {
  /** The fd limit. @defaultValue the soft RLIMIT_NOFILE of this process */
  readonly limit?: number;
  /** fds already open that no account pays for. @defaultValue those open now */
  readonly baseline?: number;
  /** @defaultValue DEFAULT_FD_RESERVE */
  readonly reserve?: number;
}

/** What a service (a device server, the control socket, the live view) registered. */
export interface FdRegistration {
  /** Change the registration (a server whose slot count changed). */
  update(slots: number, fixed: number): void;
  release(): void;
}

/** One connection's charges. */
export interface FdAccount {
  readonly label: string;
  /** fds charged now. */
  readonly held: number;
  /** Charge `n` more; false (nothing charged) when the account or the table has no room. */
  charge(n: number): boolean;
  /** Give back `n` (never below zero). */
  release(n: number): void;
  /** Give everything back; the account is unusable afterwards. Idempotent. */
  close(): void;
}

/** The soft "Max open files" of this process, from /proc/self/limits; undefined when unreadable. */
export function nofileLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m === null) return undefined;
    return m[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(m[1]);
  } catch {
    return undefined;
  }
}

/** Open fds of this process now (/proc/self/fd); undefined when unreadable. */
export function openFdCount(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length - 1; // the directory handle readdir used
  } catch {
    return undefined;
  }
}

export class FdLedger {
  readonly limit: number;
  readonly baseline: number;
  readonly reserve: number;
  #slots = 0;
  #fixed = 0;
  #used = 0;
  #accounts = 0;

  constructor(opts: FdLedgerOptions = {}) {
    this.limit = opts.limit ?? nofileLimit() ?? 1024;
    this.baseline = opts.baseline ?? openFdCount() ?? 32;
    this.reserve = opts.reserve ?? DEFAULT_FD_RESERVE;
  }

  /** fds the accounts may hold together. */
  get capacity(): number {
    return Math.max(0, this.limit - this.baseline - this.reserve - this.#fixed);
  }

  /** fds charged to accounts now. */
  get used(): number {
    return this.#used;
  }

  /** Open accounts. */
  get accounts(): number {
    return this.#accounts;
  }

  /** The most one account may hold: the fair share of the capacity, at least MIN_FDS_PER_ACCOUNT. */
  get perAccount(): number {
    return Math.max(MIN_FDS_PER_ACCOUNT, Math.floor(this.capacity / Math.max(1, this.#slots)));
  }

  /** A service announces `slots` connections it may accept and `fixed` fds it holds itself. */
  register(slots: number, fixed: number): FdRegistration {
    let cur = { slots: 0, fixed: 0 };
    let released = false;
    const update = (s: number, f: number): void => {
      if (released) return;
      this.#slots += s - cur.slots;
      this.#fixed += f - cur.fixed;
      cur = { slots: s, fixed: f };
    };
    update(slots, fixed);
    return {
      update,
      release: () => {
        update(0, 0);
        released = true;
      },
    };
  }

  /** Open an account holding `initial` fds; undefined when the table or the fair share has no room for them. */
  open(label: string, initial: number): FdAccount | undefined {
    if (initial > this.perAccount || this.#used + initial > this.capacity) return undefined;
    this.#used += initial;
    this.#accounts++;
    let held = initial;
    let closed = false;
    const ledger = this;
    return {
      label,
      get held() {
        return held;
      },
      charge(n: number): boolean {
        if (closed || held + n > ledger.perAccount || ledger.#used + n > ledger.capacity) return false;
        held += n;
        ledger.#used += n;
        return true;
      },
      release(n: number): void {
        const give = Math.min(n, held);
        held -= give;
        ledger.#used -= give;
      },
      close(): void {
        if (closed) return;
        closed = true;
        ledger.#used -= held;
        held = 0;
        ledger.#accounts--;
      },
    };
  }
}

let shared: FdLedger | undefined;

/** The process's ledger (one fd table, one ledger), made at first use. */
export function processFdLedger(): FdLedger {
  shared ??= new FdLedger();
  return shared;
}
