/**
 * A shared instance budget for mdev types (docs/devices/mbochs.md, mdpy.md "Instances").
 *
 * - mbochs: one budget of megabytes shared by every mbochs type (256 MB by
 *   default, module parameter `count`); an instance reserves its type's MB at
 *   init with a compare-exchange loop and fails -ENOSPC when short; release
 *   returns them. available_instances(type) = ⌊avail / type MB⌋.
 * - mdpy: at most `count` (4) instances across all three types, counted by the
 *   mdev core; creation fails -EUSERS at 0. That is the same budget with
 *   units = instances, reserve(1) and errno EUSERS.
 *
 * Reservation is all-or-nothing: a refused reserve() changes nothing. The
 * returned reservation is the only way to give units back, and giving back is
 * idempotent, so a double release can never inflate the budget.
 */
import { ERRNO, type ErrnoName } from '../../src/util/errno.ts';
import { ConfigError, VfioError } from '../../src/util/errors.ts';

/** Options of {@link InstanceBudget}. */
export interface InstanceBudgetOptions {
  /** Total units (a non-negative safe integer): megabytes for mbochs, instances for mdpy. */
  readonly total: number;
  /**
   * errno of a refused reservation.
   * @defaultValue `'ENOSPC'` (mbochs init); mdpy uses `'EUSERS'`.
   */
  readonly errno?: ErrnoName;
  /**
   * Name used in messages, e.g. `'mbochs memory'`.
   * @defaultValue `'instance budget'`
   */
  readonly name?: string;
  /**
   * Unit used in messages, e.g. `'MB'`.
   * @defaultValue `'units'`
   */
  readonly unit?: string;
}

/** A refused reservation. A VfioError, so it carries the errno the kernel create path returns. */
export class BudgetExhaustedError extends VfioError {
  /** Units asked for. */
  readonly requested: number;
  /** Units that were left (unchanged by the refusal). */
  readonly remaining: number;
  constructor(errno: ErrnoName, message: string, requested: number, remaining: number) {
    super(errno, message);
    this.name = 'BudgetExhaustedError';
    this.requested = requested;
    this.remaining = remaining;
  }
}

/** Units held by one instance. release() returns them exactly once. */
export interface BudgetReservation {
  readonly units: number;
  /** True until release() has been called. */
  readonly held: boolean;
  /** Give the units back. Idempotent. */
  release(): void;
}

/** A pool of units that instances reserve atomically (JS is single-threaded: check-and-take is one step). */
export class InstanceBudget {
  readonly total: number;
  readonly name: string;
  readonly unit: string;
  readonly errno: number;
  readonly #errnoName: ErrnoName;
  #used = 0;

  constructor(options: InstanceBudgetOptions) {
    const { total } = options;
    if (!Number.isSafeInteger(total) || total < 0) {
      throw new ConfigError(`${options.name ?? 'instance budget'}: total must be a non-negative integer, got ${String(total)}.`);
    }
    this.total = total;
    this.name = options.name ?? 'instance budget';
    this.unit = options.unit ?? 'units';
    this.#errnoName = options.errno ?? 'ENOSPC';
    this.errno = ERRNO[this.#errnoName];
  }

  /** Units not reserved. Never negative, never above total. */
  get remaining(): number {
    return this.total - this.#used;
  }

  /** Units reserved by live reservations. */
  get used(): number {
    return this.#used;
  }

  /**
   * How many more instances of a type needing `typeUnits` fit:
   * ⌊remaining / typeUnits⌋ (the mdev `available_instances` attribute).
   * @throws ConfigError when typeUnits is not a positive safe integer.
   */
  available(typeUnits: number): number {
    checkUnits(this.name, typeUnits);
    return Math.floor(this.remaining / typeUnits);
  }

  /**
   * Reserve `units` all at once, or nothing.
   * @throws BudgetExhaustedError (errno from the options) when fewer than `units` remain; nothing is reserved.
   * @throws ConfigError when units is not a positive safe integer (a type definition bug, not a guest input).
   */
  reserve(units: number): BudgetReservation {
    checkUnits(this.name, units);
    const remaining = this.remaining;
    if (units > remaining) {
      throw new BudgetExhaustedError(
        this.#errnoName,
        `${this.name}: ${units} ${this.unit} requested, ${remaining} of ${this.total} left`,
        units,
        remaining,
      );
    }
    this.#used += units;
    let held = true;
    const release = (): void => {
      if (!held) return;
      held = false;
      this.#used -= units;
    };
    return {
      units,
      get held() {
        return held;
      },
      release,
    };
  }

  /** Same as `reservation.release()`. Idempotent. */
  release(reservation: BudgetReservation): void {
    reservation.release();
  }
}

function checkUnits(name: string, units: number): void {
  if (!Number.isSafeInteger(units) || units <= 0) {
    throw new ConfigError(`${name}: a type must need a positive whole number of units, got ${String(units)}.`);
  }
}
