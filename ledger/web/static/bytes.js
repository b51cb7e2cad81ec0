// Bytes, hex, canonical base64 and SHA-256 (WebCrypto): the helpers of the checks.
// docs/format.md section 1: hex is lowercase, base64 the standard alphabet with
// padding, and inside signed notes it must be the canonical encoding.

export class FormatError extends Error {
  constructor(message) { super(message); this.name = 'FormatError'; }
}

const encoder = new TextEncoder();

export function utf8(text) { return encoder.encode(text); }

export function concat(...parts) {
  const size = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

export function equal(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function fromHex(text, what = 'hex') {
  if (typeof text !== 'string' || !/^(?:[0-9a-fA-F]{2})*$/.test(text)) {
    throw new FormatError(`${what} is not hex`);
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(2 * i, 2), 16);
  return out;
}

export function toBase64(bytes) {
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text);
}

// Canonical base64: decodes, and re-encodes to the same text (padding, zero pad bits).
export function fromBase64(text, what = 'base64') {
  if (typeof text !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4) {
    throw new FormatError(`${what} is not base64`);
  }
  let raw;
  try { raw = atob(text); } catch { throw new FormatError(`${what} is not base64`); }
  const out = Uint8Array.from(raw, (c) => c.charCodeAt(0));
  if (toBase64(out) !== text) throw new FormatError(`${what} is not canonical base64`);
  return out;
}

export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}
