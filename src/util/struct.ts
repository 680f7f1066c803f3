/**
 * Wire-struct descriptors (one declaration per struct, no hand-written offsets): a struct is
 * declared once as an ordered field list; its size, field offsets, decode()
 * and encode() are derived from that list. Little-endian only (bytes.ts
 * refuses big-endian hosts at load).
 *
 *   const VfioIrqInfo = struct('vfio_irq_info', [
 *     ['argsz', 'u32'], ['flags', 'u32'], ['index', 'u32'], ['count', 'u32'],
 *   ]);
 *   VfioIrqInfo.size            // 16
 *   VfioIrqInfo.offsets.count   // 12
 *
 * Layout rules, checked once at declaration (a violation is a bug in the
 * declaration, so it throws an assertion error):
 * - every field sits at its natural alignment (u16 → 2, u32 → 4, u64 → 8)
 *   with no implicit padding; padding must be declared (`pad`, `reserved`);
 * - the struct size is a multiple of its largest field alignment, as the C
 *   compiler would make it;
 * - field names are unique.
 *
 * A struct may declare a variable `tail` (data[], capability chains, JSON):
 * decode() returns every byte after the fixed part as that field, encode()
 * writes it after the fixed part. The caller bounds the input (for example
 * to one message payload) before decoding.
 *
 * decode/encode are generated once per declaration from the field table, so
 * a call allocates nothing but its result (no DataView, no closures). Sizes
 * are never asserted next to a declaration; tests compare them with the
 * spec's numbers.
 */
import './bytes.ts'; // little-endian host check
import { assert } from './errors.ts';

/** A fixed-length byte array field (`__u8 name[n]`). */
export interface BytesType {
  readonly kind: 'bytes';
  readonly length: number;
}

export type FieldType = 'u8' | 'u16' | 'u32' | 'u64' | BytesType;

/** `[name, type]`, in wire order. */
export type FieldSpec = readonly [name: string, type: FieldType];

/** bytes(n): a fixed `__u8[n]` field, decoded as a copied Uint8Array. */
export function bytes(length: number): BytesType {
  assert(Number.isSafeInteger(length) && length > 0, `bytes(${length}): length must be a positive integer`);
  return { kind: 'bytes', length };
}

/** The decoded type of one field type: u64 → bigint, bytes(n) → Uint8Array, else number. */
export type FieldValue<T extends FieldType> = T extends 'u64' ? bigint : T extends BytesType ? Uint8Array : number;

/** The decoded value of a field list (plus the tail field, when declared). */
export type StructValue<F extends readonly FieldSpec[], Tail extends string = never> = {
  -readonly [E in F[number] as E[0]]: FieldValue<E[1]>;
} & { -readonly [K in Tail]: Uint8Array };

/** One field of a declared struct, as derived at declaration. */
export interface FieldInfo {
  readonly name: string;
  readonly type: FieldType;
  readonly offset: number;
  readonly size: number;
}

export interface Struct<V, Names extends string = string> {
  /** The C name (e.g. `vfio_region_info`), for messages and docs. */
  readonly name: string;
  /** Size of the fixed part in bytes (tail excluded). */
  readonly size: number;
  /** Largest natural alignment of a field. */
  readonly align: number;
  /** Byte offset of each fixed field. */
  readonly offsets: { readonly [K in Names]: number };
  readonly fields: readonly FieldInfo[];
  /** Name of the variable tail, if declared. */
  readonly tail: string | undefined;
  /**
   * Decode the struct at bytes[offset]. The tail (if any) is
   * bytes[offset+size, bytes.length) as a view that aliases the input; copy it
   * to keep it. bytes(n) fields are copies.
   * @throws RangeError when fewer than `size` bytes are available (callers check lengths first).
   */
  decode(bytes: Uint8Array, offset?: number): V;
  /**
   * Encode into bytes[offset…]: the fixed part, then the tail (if any).
   * @throws RangeError when a value does not fit its field (fields before it
   * may already be written) or the buffer is too short (nothing written).
   */
  encode(value: V, bytes: Uint8Array, offset?: number): void;
  /** Encoded length of a value: size + tail length. */
  encodedLength(value: V): number;
  /** Encode into a new buffer of exactly encodedLength(value) bytes. */
  toBytes(value: V): Uint8Array;
}

const U32_LIMIT = 0x1_0000_0000;
const U64_LIMIT = 1n << 64n;
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function sizeOf(type: FieldType): number {
  if (typeof type === 'object') return type.length;
  return type === 'u8' ? 1 : type === 'u16' ? 2 : type === 'u32' ? 4 : 8;
}

function alignOf(type: FieldType): number {
  return typeof type === 'object' ? 1 : sizeOf(type);
}

function typeName(type: FieldType): string {
  return typeof type === 'object' ? `bytes(${type.length})` : type;
}

function r32(b: Uint8Array, o: number): number {
  return ((b[o] as number) | ((b[o + 1] as number) << 8) | ((b[o + 2] as number) << 16) | ((b[o + 3] as number) << 24)) >>> 0;
}

function r64(b: Uint8Array, o: number): bigint {
  const lo = r32(b, o);
  const hi = r32(b, o + 4);
  return hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
}

function w32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = v >>> 24;
}

/** Write a u64; false when v is not a bigint in [0, 2^64). */
function w64(b: Uint8Array, o: number, v: unknown): boolean {
  if (typeof v !== 'bigint') return false;
  const n = Number(v);
  if (n >= 0 && n <= Number.MAX_SAFE_INTEGER) {
    // exact in doubles (v < 2^53): no intermediate bigints, no bigint compares
    const lo = n >>> 0;
    w32(b, o, lo);
    w32(b, o + 4, (n - lo) / 0x1_0000_0000);
    return true;
  }
  if (v < 0n || v >= U64_LIMIT) return false;
  w32(b, o, Number(v & 0xffff_ffffn));
  w32(b, o + 4, Number(v >> 32n));
  return true;
}

/**
 * Declare a wire struct. `fields` is the ordered field list; `opts.tail`
 * names a variable-length byte tail following the fixed part.
 *
 * decode/encode are generated once per declaration (straight-line code over
 * the field table, like protobuf.js): a decoded value is one object literal
 * with a fixed shape, and nothing but the result is allocated per call. Only
 * field names (checked to be identifiers) and numbers enter the generated
 * source.
 */
export function struct<const F extends readonly FieldSpec[], const Tail extends string = never>(
  name: string,
  fields: F,
  opts?: { readonly tail?: Tail },
): Struct<StructValue<F, Tail>, F[number][0]> {
  const infos: FieldInfo[] = [];
  const offsets: Record<string, number> = {};
  let pos = 0;
  let align = 1;
  for (const [fname, type] of fields as readonly FieldSpec[]) {
    const size = sizeOf(type);
    const a = alignOf(type);
    assert(IDENTIFIER.test(fname) && fname !== '__proto__', `struct ${name}: field name ${JSON.stringify(fname)} is not a plain identifier`);
    assert(!(fname in offsets), `struct ${name}: duplicate field ${fname}`);
    assert(pos % a === 0, `struct ${name}: field ${fname} at offset ${pos} is not ${a}-byte aligned; declare the padding`);
    infos.push(Object.freeze({ name: fname, type, offset: pos, size }));
    offsets[fname] = pos;
    pos += size;
    if (a > align) align = a;
  }
  const size = pos;
  assert(size > 0, `struct ${name}: no fields`);
  assert(size % align === 0, `struct ${name}: size ${size} is not a multiple of its alignment ${align}; declare the trailing padding`);
  const tail = opts?.tail;
  assert(tail === undefined || (IDENTIFIER.test(tail) && tail !== '__proto__' && !(tail in offsets)), `struct ${name}: tail ${String(tail)} clashes with a field or is not an identifier`);

  // decode(b, o): one object literal in field order.
  const dec: string[] = [];
  for (const f of infos) {
    const at = `o + ${f.offset}`;
    const t = f.type;
    const expr =
      t === 'u8' ? `b[${at}]`
      : t === 'u16' ? `(b[${at}] | (b[${at} + 1] << 8))`
      : t === 'u32' ? `r32(b, ${at})`
      : t === 'u64' ? `r64(b, ${at})`
      : `b.slice(${at}, ${at} + ${f.size})`;
    dec.push(`${f.name}: ${expr}`);
  }
  if (tail !== undefined) dec.push(`${tail}: b.subarray(o + ${size})`);
  const decodeSrc = `
    if (!((o >>> 0) === o && o + ${size} <= b.length)) short(o, ${size}, b.length);
    return { ${dec.join(', ')} };`;

  // encode(v, b, o): check every field, then write it.
  const enc: string[] = [];
  infos.forEach((f, i) => {
    const at = `o + ${f.offset}`;
    const t = f.type;
    const x = `x${i}`;
    enc.push(`const ${x} = v.${f.name};`);
    if (t === 'u64') {
      enc.push(`if (!w64(b, ${at}, ${x})) bad(${i}, ${x});`);
    } else if (typeof t === 'object') {
      enc.push(`if (!(${x} instanceof Uint8Array) || ${x}.length !== ${f.size}) bad(${i}, ${x});`, `b.set(${x}, ${at});`);
    } else {
      const max = t === 'u8' ? 0x100 : t === 'u16' ? 0x10000 : U32_LIMIT;
      enc.push(`if (typeof ${x} !== 'number' || !(${x} >= 0 && ${x} < ${max}) || ${x} !== Math.floor(${x})) bad(${i}, ${x});`);
      enc.push(
        t === 'u8' ? `b[${at}] = ${x};`
        : t === 'u16' ? `b[${at}] = ${x} & 0xff; b[${at} + 1] = ${x} >>> 8;`
        : `w32(b, ${at}, ${x});`,
      );
    }
  });
  const tailLen = tail === undefined ? '0' : `tailOf(v).length`;
  const encodeSrc = `
    const total = ${size} + ${tailLen};
    if (!((o >>> 0) === o && o + total <= b.length)) short(o, total, b.length);
    ${enc.join('\n    ')}
    ${tail === undefined ? '' : `b.set(v.${tail}, o + ${size});`}`;

  const short = (o: number, need: number, have: number): never => {
    throw new RangeError(`${name}: need ${need} bytes at offset ${o}, have ${have - o}`);
  };
  const bad = (i: number, x: unknown): never => {
    const f = infos[i] as FieldInfo;
    throw new RangeError(`${name}.${f.name}: ${String(x)} does not fit ${typeName(f.type)}`);
  };
  const tailOf = (v: Record<string, unknown>): Uint8Array => {
    const t = v[tail as string];
    if (!(t instanceof Uint8Array)) throw new RangeError(`${name}.${String(tail)}: expected a Uint8Array`);
    return t;
  };

  type V = StructValue<F, Tail>;
  // Generated from the validated field table only (identifiers and numbers).
  const make = new Function('r32', 'r64', 'w32', 'w64', 'short', 'bad', 'tailOf', `
    return [
      function decode(b, o = 0) {${decodeSrc}
      },
      function encode(v, b, o = 0) {${encodeSrc}
      },
    ];`) as (...deps: unknown[]) => [(b: Uint8Array, o?: number) => V, (v: V, b: Uint8Array, o?: number) => void];
  const [decode, encode] = make(r32, r64, w32, w64, short, bad, tailOf);

  function encodedLength(value: V): number {
    return tail === undefined ? size : size + tailOf(value as Record<string, unknown>).length;
  }

  function toBytes(value: V): Uint8Array {
    const out = new Uint8Array(encodedLength(value));
    encode(value, out, 0);
    return out;
  }

  return Object.freeze({
    name,
    size,
    align,
    offsets: Object.freeze(offsets) as { readonly [K in F[number][0]]: number },
    fields: Object.freeze(infos),
    tail,
    decode,
    encode,
    encodedLength,
    toBytes,
  });
}

/** The decoded value type of a declared struct. */
export type ValueOf<S> = S extends Struct<infer V, string> ? V : never;
