// Ed25519 verification: WebCrypto's, behind the strict rules of docs/format.md
// section 1 (libsodium's crypto_sign_verify_detached), which browsers do not all
// apply: S must be below the group order L; the public key A and R must be
// canonical encodings of curve points, and not of small order (order dividing 8).
// WebCrypto then checks the cofactorless equation [S]B = R + [k]A by comparing
// encodings. The point arithmetic here (BigInt) only decides these rules.

export class InvalidSignature extends Error {
  constructor(message) { super(message); this.name = 'InvalidSignature'; }
}

export const PUBLIC_KEY_SIZE = 32;
export const SIGNATURE_SIZE = 64;
const P = 2n ** 255n - 19n;
export const L = 2n ** 252n + 27742317777372353535851937790883648493n; // the group order
const D = mod(-121665n * inverse(121666n));
const SQRT_M1 = power(2n, (P - 1n) / 4n);

function mod(a) { const r = a % P; return r >= 0n ? r : r + P; }

function power(base, exponent) {
  let result = 1n;
  let b = mod(base);
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % P;
    b = (b * b) % P;
    e >>= 1n;
  }
  return result;
}

function inverse(a) { return power(a, P - 2n); }

function littleEndian(bytes) {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]);
  return n;
}

// The point an encoding names, or null if it is not the canonical encoding of one.
export function decodePoint(bytes) {
  if (bytes.length !== 32) return null;
  const sign = bytes[31] >> 7;
  const copy = Uint8Array.from(bytes);
  copy[31] &= 0x7f;
  const y = littleEndian(copy);
  if (y >= P) return null; // a y at or above p: not canonical
  const y2 = (y * y) % P;
  const u = mod(y2 - 1n);
  const v = mod(D * y2 + 1n);
  let x = mod(u * power(v, 3n) * power(u * power(v, 7n), (P - 5n) / 8n));
  const vx2 = mod(v * x * x);
  if (vx2 === mod(-u)) x = mod(x * SQRT_M1);
  else if (vx2 !== u) return null; // not on the curve
  if (x === 0n && sign === 1) return null; // -0: not canonical
  if (Number(x & 1n) !== sign) x = P - x;
  return { x, y };
}

function add(a, b) {
  const t = mod(D * a.x * b.x * a.y * b.y);
  return {
    x: mod((a.x * b.y + a.y * b.x) * inverse(mod(1n + t))),
    y: mod((a.y * b.y + a.x * b.x) * inverse(mod(1n - t))),
  };
}

export function hasSmallOrder(point) {
  let q = point;
  for (let i = 0; i < 3; i++) q = add(q, q); // [8]P
  return q.x === 0n && q.y === 1n;
}

// Throws InvalidSignature unless `signature` (64 bytes) by `publicKey` (32) signs `message`.
export async function verify(publicKey, signature, message) {
  if (publicKey.length !== PUBLIC_KEY_SIZE) {
    throw new InvalidSignature(`Ed25519 public key must be ${PUBLIC_KEY_SIZE} bytes`);
  }
  if (signature.length !== SIGNATURE_SIZE) {
    throw new InvalidSignature(`Ed25519 signature must be ${SIGNATURE_SIZE} bytes`);
  }
  if (littleEndian(signature.subarray(32)) >= L) throw new InvalidSignature('S is not below L');
  const a = decodePoint(publicKey);
  if (a === null) throw new InvalidSignature('the public key is not a canonical point');
  if (hasSmallOrder(a)) throw new InvalidSignature('the public key has small order');
  const r = decodePoint(signature.subarray(0, 32));
  if (r === null) throw new InvalidSignature('R is not a canonical point');
  if (hasSmallOrder(r)) throw new InvalidSignature('R has small order');
  let ok = false;
  try {
    const key = await crypto.subtle.importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify']);
    ok = await crypto.subtle.verify({ name: 'Ed25519' }, key, signature, message);
  } catch (e) {
    throw new InvalidSignature(`Ed25519 is not available or refused the key: ${e.message}`);
  }
  if (!ok) throw new InvalidSignature('Ed25519 signature does not verify');
}
