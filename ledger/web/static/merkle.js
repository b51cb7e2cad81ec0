// RFC 9162 hashing and inclusion proofs (docs/format.md 8.1).

import { concat, equal, sha256 } from './bytes.js';

export class InclusionProofError extends Error {
  constructor(message) { super(message); this.name = 'InclusionProofError'; }
}

export const HASH_SIZE = 32;

export async function leafHash(data) { return sha256(concat(Uint8Array.of(0), data)); }

export async function nodeHash(left, right) { return sha256(concat(Uint8Array.of(1), left, right)); }

// Throws InclusionProofError unless `proof` takes `leaf` (its leaf hash) at `index`
// to `root` of the tree of `size` leaves (RFC 9162 2.1.3.2).
export async function verifyInclusion(index, size, leaf, proof, root) {
  let fn = BigInt(index);
  let sn = BigInt(size) - 1n;
  if (index < 0 || BigInt(index) >= BigInt(size)) throw new InclusionProofError(`leaf ${index} is not in a tree of ${size}`);
  if (leaf.length !== HASH_SIZE || root.length !== HASH_SIZE || proof.some((p) => p.length !== HASH_SIZE)) {
    throw new InclusionProofError('a hash is not 32 bytes');
  }
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) throw new InclusionProofError('the proof is too long');
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new InclusionProofError('the proof is too short');
  if (!equal(r, root)) throw new InclusionProofError('the proof does not reach the checkpoint root');
}
