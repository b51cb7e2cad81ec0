// C2SP signed notes, note keys, checkpoints and cosignatures (docs/format.md 8.2-8.5).

import { FormatError, concat, equal, fromBase64, sha256, utf8 } from './bytes.js';
import { InvalidSignature, verify } from './ed25519.js';

export class NoteError extends Error {
  constructor(message) { super(message); this.name = 'NoteError'; }
}

export const SIG_TYPE_ED25519 = 0x01;
export const SIG_TYPE_COSIGNATURE_V1 = 0x04;
export const MAX_SIGNATURES = 100;
const EM_DASH_PREFIX = '\u2014 ';
const WHITE_SPACE = /[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u;
const CONTROL = /[\u0000-\u001f]/u;

export function isValidKeyName(name) {
  return name.length > 0 && !name.includes('+') && !WHITE_SPACE.test(name) && !CONTROL.test(name);
}

export async function keyId(name, sigType, publicKey) {
  const h = await sha256(concat(utf8(name), Uint8Array.of(0x0a, sigType), publicKey));
  return h.subarray(0, 4);
}

// A verifier key string: <name>+<8 hex key ID>+<base64(type || key)>.
export async function parseVkey(vkey) {
  const parts = vkey.split('+');
  if (parts.length !== 3 || !isValidKeyName(parts[0]) || !/^[0-9a-f]{8}$/.test(parts[1])) {
    throw new FormatError(`not a verifier key: ${vkey.slice(0, 80)}`);
  }
  const raw = fromBase64(parts[2], 'verifier key');
  if (raw.length !== 33 || (raw[0] !== SIG_TYPE_ED25519 && raw[0] !== SIG_TYPE_COSIGNATURE_V1)) {
    throw new FormatError(`verifier key ${parts[0]} is not an Ed25519 or cosignature/v1 key`);
  }
  const key = { name: parts[0], type: raw[0], publicKey: raw.subarray(1), vkey };
  key.id = await keyId(key.name, key.type, key.publicKey);
  const hex = Array.from(key.id, (b) => b.toString(16).padStart(2, '0')).join('');
  if (hex !== parts[1]) throw new FormatError(`verifier key ${parts[0]}: key ID does not match`);
  return key;
}

// A signed note's text and signature lines (8.2), not yet verified.
export function parseNote(note) {
  if (/[\u0000-\u0009\u000b-\u001f]/u.test(note)) throw new NoteError('the note holds a control character');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new NoteError('the note has no signature block');
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (text.length === 0 || !block.endsWith('\n')) throw new NoteError('malformed note');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length < 1 || lines.length > MAX_SIGNATURES) throw new NoteError('1 to 100 signatures expected');
  const signatures = lines.map((line) => {
    if (!line.startsWith(EM_DASH_PREFIX)) throw new NoteError('malformed signature line');
    const rest = line.slice(EM_DASH_PREFIX.length);
    const space = rest.indexOf(' ');
    const name = rest.slice(0, space);
    if (space < 0 || !isValidKeyName(name)) throw new NoteError('malformed signature line');
    let raw;
    try { raw = fromBase64(rest.slice(space + 1), 'signature'); } catch { throw new NoteError('signature is not canonical base64'); }
    if (raw.length < 5) throw new NoteError('signature too short');
    return { name, keyId: raw.subarray(0, 4), signature: raw.subarray(4) };
  });
  return { text, signatures };
}

export function parseCheckpoint(text) {
  const lines = text.split('\n');
  if (lines.length < 4 || lines[lines.length - 1] !== '') throw new NoteError('not a checkpoint');
  const [origin, sizeText, rootText] = lines;
  if (!origin || CONTROL.test(origin)) throw new NoteError('checkpoint origin');
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText) || BigInt(sizeText) > 2n ** 64n - 1n) {
    throw new NoteError('checkpoint size');
  }
  let root;
  try { root = fromBase64(rootText, 'root'); } catch { throw new NoteError('checkpoint root is not canonical base64'); }
  if (root.length !== 32) throw new NoteError('checkpoint root is not 32 bytes');
  if (lines.slice(3, -1).some((l) => l === '')) throw new NoteError('empty checkpoint extension line');
  return { origin, size: Number(sizeText), root };
}

function cosignatureMessage(text, timestamp) {
  return utf8(`cosignature/v1\ntime ${timestamp}\n${text}`);
}

// Open a note with trusted keys (as sumdb/note Open): a line matching a key by name
// and key ID must verify; lines matching none are ignored. Returns the keys that
// verified, each with `timestamp` for a cosignature. Throws NoteError if a matching
// line fails or none verified.
export async function openNote(note, keys) {
  const parsed = typeof note === 'string' ? parseNote(note) : note;
  const verified = [];
  for (const sig of parsed.signatures) {
    const key = keys.find((k) => k.name === sig.name && equal(k.id, sig.keyId));
    if (!key) continue;
    try {
      if (key.type === SIG_TYPE_ED25519) {
        await verify(key.publicKey, sig.signature, utf8(parsed.text));
        verified.push({ key, timestamp: null });
      } else {
        if (sig.signature.length !== 72) throw new InvalidSignature('a cosignature is 72 bytes');
        const view = new DataView(sig.signature.buffer, sig.signature.byteOffset, 8);
        const timestamp = view.getBigUint64(0);
        if (timestamp >= 2n ** 63n) throw new InvalidSignature('cosignature timestamp out of range');
        parseCheckpoint(parsed.text); // a cosignature signs only a checkpoint
        await verify(key.publicKey, sig.signature.subarray(8), cosignatureMessage(parsed.text, timestamp));
        verified.push({ key, timestamp: Number(timestamp) });
      }
    } catch (e) {
      throw new NoteError(`signature by ${sig.name} does not verify (${e.message})`);
    }
  }
  if (verified.length === 0) throw new NoteError('no signature by a trusted key');
  return { text: parsed.text, verified };
}

// A c2sp.org/tlog-proof@v1 file (docs/format.md 8.16), parsed, not verified:
// { extra (bytes or null), index, proof (hashes, the leaf's sibling first), checkpoint
// (the note text, verbatim) }. FormatError if malformed, as TlogProofFile.parse.
export const TLOG_PROOF_HEADER = 'c2sp.org/tlog-proof@v1';
export const MAX_INCLUSION_PROOF_LINES = 64;
const EXTRA_PREFIX = 'extra ';
const INDEX_PREFIX = 'index ';
const HASH_SIZE = 32;

export function parseTlogProof(text) {
  if (typeof text !== 'string') throw new FormatError('a tlog-proof is text');
  const end = text.indexOf('\n\n');
  if (end < 0) throw new FormatError('tlog-proof: no empty line before the checkpoint');
  const head = text.slice(0, end);
  if (/[^\u0000-\u007f]/u.test(head)) throw new FormatError('tlog-proof: the lines before the checkpoint are not ASCII');
  const checkpoint = text.slice(end + 2);
  if (!checkpoint) throw new FormatError('tlog-proof: no checkpoint after the empty line');
  const lines = head.split('\n');
  if (lines[0] !== TLOG_PROOF_HEADER) throw new FormatError(`tlog-proof: the first line is not ${TLOG_PROOF_HEADER}`);
  let rest = lines.slice(1);
  let extra = null;
  if (rest.length && rest[0].startsWith(EXTRA_PREFIX)) {
    extra = fromBase64(rest[0].slice(EXTRA_PREFIX.length), 'tlog-proof extra data');
    rest = rest.slice(1);
  }
  if (!rest.length || !rest[0].startsWith(INDEX_PREFIX)) throw new FormatError('tlog-proof: no `index <n>` line');
  const indexText = rest[0].slice(INDEX_PREFIX.length);
  // Leaf indexes of this log stay far below 2^53; a larger one is refused, not rounded.
  if (!/^(0|[1-9][0-9]*)$/.test(indexText) || !Number.isSafeInteger(Number(indexText))) {
    throw new FormatError(`tlog-proof index ${indexText.slice(0, 24)} is not a decimal leaf index`);
  }
  if (rest.length - 1 > MAX_INCLUSION_PROOF_LINES) {
    throw new FormatError(`tlog-proof: ${rest.length - 1} inclusion proof lines, over ${MAX_INCLUSION_PROOF_LINES}`);
  }
  const proof = rest.slice(1).map((line, n) => {
    const hash = fromBase64(line, `inclusion proof line ${n + 1}`);
    if (hash.length !== HASH_SIZE) throw new FormatError(`inclusion proof line ${n + 1} is not a 32-byte hash`);
    return hash;
  });
  return { extra, index: Number(indexText), proof, checkpoint };
}
