/**
 * One algorithm, two kinds of device access: a device model in this process
 * answers at once, a vfio-user connection answers with a promise. The
 * display readers (plane probing, EDID link state, the plane read) are
 * written once as generators that yield each device call's result-to-be;
 * {@link runSync} drives them against an immediate port, {@link runAsync}
 * against a connection. Either way a failing call throws at the point of
 * the call inside the algorithm, so its try/catch means the same thing.
 */

/** What a port call returns: the value, or (over a connection) a promise of it. */
export type Step<T> = T | Promise<T>;

/** A port call's result, per kind of port: `false` immediate, `true` promised, `boolean` either. */
export type Out<T, Async extends boolean> = Async extends true ? Promise<T> : Async extends false ? T : Step<T>;

/** An algorithm over port calls, returning T. */
export type Steps<T> = Generator<unknown, T, unknown>;

/** Wait for one port call inside an algorithm: `const n = yield* step(port.numRegions())`. */
export function* step<T>(value: Step<T>): Steps<T> {
  return (yield value) as T;
}

/** Run an algorithm whose port answers at once. */
export function runSync<T>(steps: Steps<T>): T {
  let r = steps.next();
  while (r.done !== true) {
    if (r.value instanceof Promise) throw new TypeError('runSync: the port returned a promise; use runAsync');
    r = steps.next(r.value);
  }
  return r.value;
}

/** Run an algorithm whose port may answer later; a rejected call throws into the algorithm. */
export async function runAsync<T>(steps: Steps<T>): Promise<T> {
  let r = steps.next();
  while (r.done !== true) {
    let value: unknown;
    try {
      value = await r.value;
    } catch (err) {
      r = steps.throw(err);
      continue;
    }
    r = steps.next(value);
  }
  return r.value;
}
