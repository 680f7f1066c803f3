/**
 * Message formatting that never throws, whatever a caller passes (a
 * null-prototype object or a symbol would make `String(v)` or a template
 * literal throw a TypeError from inside an error path).
 */

/** `0x…` for non-negative integers. */
export function hex(n: number | bigint): string {
  return `0x${n.toString(16)}`;
}

/**
 * A value a client sent, for a one-sentence message: strings and numbers as
 * they are, anything else by its kind ("a map", not "[object Object]").
 */
export function showSent(v: unknown): string {
  if (typeof v === 'string') return v.length > 40 ? `${v.slice(0, 40)}…` : v;
  if (typeof v === 'number') return String(v);
  if (v instanceof Uint8Array) return 'binary data';
  if (Array.isArray(v)) return 'a list';
  if (v !== null && typeof v === 'object') return 'a map';
  return show(v);
}

/** A short, safe rendering of any value for an error message. */
export function show(v: unknown): string {
  switch (typeof v) {
    case 'number': return Number.isInteger(v) && v >= 0 ? hex(v) : String(v);
    case 'bigint': return `${v.toString()}n`;
    case 'string': return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
    case 'boolean': case 'undefined': return String(v);
    case 'symbol': return v.toString();
    case 'function': return 'a function';
    default: return v === null ? 'null' : Object.prototype.toString.call(v);
  }
}
