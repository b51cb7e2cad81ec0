// Canonical msgpack decoder (docs/format.md section 2): one value, one encoding.
//
// Errors as the reference decoder classes them: bytes that are not one complete
// value, trailing bytes, invalid UTF-8, c1, or a map key that is an array or map:
// FormatError; a forbidden type (float, ext), a non-str key, keys out of order or
// repeated, excess depth, or any encoding longer than the smallest:
// NonCanonicalError. Like the reference, structure is judged first (the whole
// input), then canonical form (the first violation in input order).
//
// Values: nil -> null, bool, int -> Number (BigInt beyond 2^53), str -> string,
// bin -> Uint8Array, array -> Array, map -> object with no prototype.

import { FormatError } from './bytes.js';

export { FormatError };
export class NonCanonicalError extends FormatError {
  constructor(message) { super(message); this.name = 'NonCanonicalError'; }
}

export const MAX_DEPTH = 16;
const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

class Reader {
  constructor(bytes) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.at = 0;
    this.noncanonical = null;
  }
  take(n) {
    if (this.at + n > this.bytes.length) throw new FormatError('truncated msgpack value');
    const start = this.at;
    this.at += n;
    return start;
  }
  u8() { return this.bytes[this.take(1)]; }
  u16() { return this.view.getUint16(this.take(2)); }
  u32() { return this.view.getUint32(this.take(4)); }
  u64() { return this.view.getBigUint64(this.take(8)); }
  flag(message) { if (this.noncanonical === null) this.noncanonical = message; }
}

function integer(big) {
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(big) : big;
}

function minimal(r, ok, what) { if (!ok) r.flag(`${what} in a longer form than needed`); }

function str(r, n) {
  const start = r.take(n);
  try {
    return text.decode(r.bytes.subarray(start, start + n));
  } catch {
    throw new FormatError('str is not valid UTF-8');
  }
}

function bin(r, n) {
  const start = r.take(n);
  return r.bytes.slice(start, start + n);
}

function array(r, n, depth) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(value(r, depth + 1));
  return out;
}

function map(r, n, depth) {
  const out = Object.create(null);
  let previous = null;
  for (let i = 0; i < n; i++) {
    const keyStart = r.at;
    const first = r.bytes[r.at];
    const key = value(r, depth + 1);
    if (Array.isArray(key) || (key !== null && typeof key === 'object' && !(key instanceof Uint8Array))) {
      throw new FormatError('a map key is an array or map');
    }
    if (typeof key !== 'string') {
      r.flag('a map key is not a str');
    } else {
      const raw = r.bytes.subarray(keyStart, r.at);
      if (previous !== null && compare(previous, raw) >= 0) r.flag('map keys out of order or repeated');
      previous = raw;
      void first;
    }
    out[String(key)] = value(r, depth + 1);
  }
  return out;
}

// Bytewise comparison of two encoded str keys, by their UTF-8 payloads.
function compare(a, b) {
  const pa = payload(a), pb = payload(b);
  const n = Math.min(pa.length, pb.length);
  for (let i = 0; i < n; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  return pa.length - pb.length;
}

function payload(encoded) {
  const b = encoded[0];
  if (b >= 0xa0 && b <= 0xbf) return encoded.subarray(1);
  if (b === 0xd9) return encoded.subarray(2);
  if (b === 0xda) return encoded.subarray(3);
  return encoded.subarray(5);
}

function value(r, depth) {
  if (depth > MAX_DEPTH) r.flag(`nesting deeper than ${MAX_DEPTH}`);
  const b = r.u8();
  if (b <= 0x7f) return b;
  if (b >= 0xe0) return b - 256;
  if (b >= 0xa0 && b <= 0xbf) return str(r, b - 0xa0);
  if (b >= 0x90 && b <= 0x9f) return array(r, b - 0x90, depth);
  if (b >= 0x80 && b <= 0x8f) return map(r, b - 0x80, depth);
  switch (b) {
    case 0xc0: return null;
    case 0xc2: return false;
    case 0xc3: return true;
    case 0xcc: { const n = r.u8(); minimal(r, n >= 0x80, 'uint 8'); return n; }
    case 0xcd: { const n = r.u16(); minimal(r, n > 0xff, 'uint 16'); return n; }
    case 0xce: { const n = r.u32(); minimal(r, n > 0xffff, 'uint 32'); return n; }
    case 0xcf: { const n = r.u64(); minimal(r, n > 0xffffffffn, 'uint 64'); return integer(n); }
    case 0xd0: { const n = r.view.getInt8(r.take(1)); minimal(r, n < -32, 'int 8'); return n; }
    case 0xd1: { const n = r.view.getInt16(r.take(2)); minimal(r, n < -128, 'int 16'); return n; }
    case 0xd2: { const n = r.view.getInt32(r.take(4)); minimal(r, n < -32768, 'int 32'); return n; }
    case 0xd3: {
      const n = r.view.getBigInt64(r.take(8));
      minimal(r, n < -2147483648n, 'int 64');
      return integer(n);
    }
    case 0xd9: { const n = r.u8(); minimal(r, n > 31, 'str 8'); return str(r, n); }
    case 0xda: { const n = r.u16(); minimal(r, n > 0xff, 'str 16'); return str(r, n); }
    case 0xdb: { const n = r.u32(); minimal(r, n > 0xffff, 'str 32'); return str(r, n); }
    case 0xc4: return bin(r, r.u8());
    case 0xc5: { const n = r.u16(); minimal(r, n > 0xff, 'bin 16'); return bin(r, n); }
    case 0xc6: { const n = r.u32(); minimal(r, n > 0xffff, 'bin 32'); return bin(r, n); }
    case 0xdc: { const n = r.u16(); minimal(r, n > 15, 'array 16'); return array(r, n, depth); }
    case 0xdd: { const n = r.u32(); minimal(r, n > 0xffff, 'array 32'); return array(r, n, depth); }
    case 0xde: { const n = r.u16(); minimal(r, n > 15, 'map 16'); return map(r, n, depth); }
    case 0xdf: { const n = r.u32(); minimal(r, n > 0xffff, 'map 32'); return map(r, n, depth); }
    case 0xca: r.take(4); r.flag('float 32 is not allowed'); return 0;
    case 0xcb: r.take(8); r.flag('float 64 is not allowed'); return 0;
    case 0xd4: r.take(2); r.flag('ext is not allowed'); return null;
    case 0xd5: r.take(3); r.flag('ext is not allowed'); return null;
    case 0xd6: r.take(5); r.flag('ext is not allowed'); return null;
    case 0xd7: r.take(9); r.flag('ext is not allowed'); return null;
    case 0xd8: r.take(17); r.flag('ext is not allowed'); return null;
    case 0xc7: { const n = r.u8(); r.take(1 + n); r.flag('ext is not allowed'); return null; }
    case 0xc8: { const n = r.u16(); r.take(1 + n); r.flag('ext is not allowed'); return null; }
    case 0xc9: { const n = r.u32(); r.take(1 + n); r.flag('ext is not allowed'); return null; }
    default: throw new FormatError(`never-used format byte ${b.toString(16)}`);
  }
}

// Decode one canonical msgpack value; throws FormatError or NonCanonicalError.
export function decode(bytes) {
  const r = new Reader(bytes);
  const out = value(r, 0);
  if (r.at !== bytes.length) throw new FormatError('trailing bytes after the msgpack value');
  if (r.noncanonical !== null) throw new NonCanonicalError(r.noncanonical);
  return out;
}
