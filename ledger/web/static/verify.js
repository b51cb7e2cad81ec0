// Checking a sheet's dossier (docs/format.md 10.2, version 2 or 1) in the browser: a
// pure function of the dossier's bytes, the pinned trust roots and the trust policy.
//
// Steps, in order; the first that fails is named (StepError.step):
//   trust-roots  the dossier's roots are the pinned ones
//   policy       the trust policy parses and names the pinned log key
//   checkpoint   the checkpoint is signed by the log key, with the log's origin
//   witnesses    every cosignature by a policy witness verifies; the quorum is met
//   envelopes    every event has the fields of its version; in version 2 its
//                tlog_proof (8.16) parses, carries the envelope as `extra`, its
//                `index` is the leaf and its checkpoint the dossier's; every envelope
//                is canonical, its copies (hash, stream, seq) agree, its election is
//                the roots'
//   then every event in log order (replay, sections 6-7):
//   grant-chain  a grant or revoke: its signature by its granter, the granter's
//                right to grant the role and scope (6.2), up to a trust root
//   signature    any other event: its signer resolves and its signature verifies
//   authority    the signer may sign this kind here (6.3), is not revoked; version 2's
//                kinds after the count (order, recommend, followup: 5.11-5.13) and
//                the count's `order` only in version 2
//   chain        seq and prev link each stream from seq 1; references resolve
//                (7 check 9): attest.event and correct.corrects name a count or
//                correction of the stream; count.order an order, order.recommendation
//                and followup.recommendation a recommend, recommend.event a count or
//                correction, correct.answers objections (attest object or refuse)
//   inclusion    every event's leaf reaches the checkpoint's root (8.1), with the
//                proof of its tlog_proof (v2) or its `proof` (v1)
//
// What it returns is decoded from the verified bytes only.

import { FormatError, equal, fromBase64, fromHex, sha256, toHex, utf8, concat } from './bytes.js';
import { verify } from './ed25519.js';
import { leafHash, verifyInclusion } from './merkle.js';
import { decode } from './msgpack.js';
import { openNote, parseCheckpoint, parseNote, parseTlogProof, parseVkey } from './note.js';
import { describe, meets, parsePolicy } from './policy.js';

export class StepError extends Error {
  constructor(step, message) { super(message); this.name = 'StepError'; this.step = step; }
}

export const ROOT_FIELDS = ['election', 'origin', 'kpu_root', 'bawaslu_root', 'log_vkey'];
const STATEMENT_KEYS = ['body', 'election', 'kind', 'prev', 'seq', 'signer', 'stream', 'time', 'version'];
const CONTEXT = { 1: 'pilkada-ledger/v1/statement', 2: 'pilkada-ledger/v2/statement' };
const ZERO_HASH = new Uint8Array(32);
const DOC_FIELDS = ['checkpoint', 'events', 'format', 'subject', 'trust'];
// The fields of a dossier's events, by its format (10.2; ledger/format/dossier.py).
const EVENT_FIELDS = {
  'pilkada-ledger-dossier/v2': ['leaf', 'stream', 'seq', 'event_hash', 'tlog_proof'],
  'pilkada-ledger-dossier/v1': ['leaf', 'stream', 'seq', 'event_hash', 'envelope', 'proof'],
};
// Version 2's Bawaslu roles as the law names them, by scope level (ledger/format/aftercount.py).
const BAWASLU_ROLES = { 'bawaslu-prov': 'provinsi', 'bawaslu-kab': 'kabkota', 'panwaslu-kec': 'kecamatan', ptps: 'tps' };
// The kinds of the process after the count, version 2 only (5.11-5.13; aftercount.py).
const AFTERCOUNT_KINDS = ['order', 'recommend', 'followup'];
// Attest verdicts that object: what a correction's `answers` must name (aftercount.OBJECTING).
const OBJECTING = ['object', 'refuse'];
const LEVEL_OF_ROLE = {
  'kpu-prov': ['provinsi'], 'kpu-kab': ['kabkota'], ppk: ['kecamatan'], kpps: ['tps'],
  panwas: ['provinsi', 'kabkota', 'kecamatan'], ptps: ['tps'], paslon: ['provinsi', 'kabkota'],
  saksi: ['provinsi', 'kabkota', 'kecamatan', 'tps'],
  'bawaslu-prov': ['provinsi'], 'bawaslu-kab': ['kabkota'], 'panwaslu-kec': ['kecamatan'],
};
// Who may grant what (6.2; ledger/format/authority.py GRANTS).
const GRANTS = {
  'kpu-root': ['kpu-prov', 'kpu-kab', 'paslon'],
  'kpu-prov': ['ppk', 'kpps'],
  'kpu-kab': ['ppk', 'kpps'],
  'bawaslu-root': ['panwas', 'ptps', 'bawaslu-prov', 'bawaslu-kab', 'panwaslu-kec'],
  'bawaslu-prov': ['bawaslu-kab', 'panwaslu-kec', 'ptps'],
  'bawaslu-kab': ['panwaslu-kec', 'ptps'],
  'panwaslu-kec': ['ptps'],
  paslon: ['saksi'],
};

export function levelOf(place) {
  if (/^[0-9]{2}\.[0-9]{2}\.[0-9]{2}\.[0-9]{4}\/[0-9]{3}$/.test(place)) return 'tps';
  const levels = { 1: 'provinsi', 2: 'kabkota', 3: 'kecamatan', 4: 'desa' };
  if (/^[0-9]{2}(\.[0-9]{2}(\.[0-9]{2}(\.[0-9]{4})?)?)?$/.test(place)) return levels[place.split('.').length];
  return null;
}

export function covers(scope, place) {
  return scope === '' || scope === place || place.startsWith(`${scope}.`) || place.startsWith(`${scope}/`);
}

async function step(name, fn) {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof StepError) throw e;
    throw new StepError(name, e.message);
  }
}

function need(condition, message) { if (!condition) throw new FormatError(message); }

function parseEnvelope(raw, election) {
  const envelope = decode(raw);
  need(envelope && typeof envelope === 'object' && !Array.isArray(envelope), 'envelope is not a map');
  const keys = Object.keys(envelope).sort();
  need(keys.join() === 'signature,statement', 'envelope keys');
  need(envelope.signature instanceof Uint8Array && envelope.signature.length === 64, 'envelope signature');
  need(envelope.statement instanceof Uint8Array, 'envelope statement');
  const st = decode(envelope.statement);
  need(st && typeof st === 'object' && !Array.isArray(st), 'statement is not a map');
  need(Object.keys(st).sort().join() === STATEMENT_KEYS.join(), 'statement keys');
  need(st.version === 1 || st.version === 2, `statement version ${st.version}`);
  need(st.election === election, `election ${st.election} is not the pinned ${election}`);
  need(typeof st.stream === 'string' && st.stream !== '', 'stream');
  need(Number.isInteger(st.seq) && st.seq >= 1, 'seq');
  need(st.prev instanceof Uint8Array && st.prev.length === 32, 'prev');
  need(st.signer instanceof Uint8Array && st.signer.length === 32, 'signer');
  need(typeof st.kind === 'string' && st.body && typeof st.body === 'object', 'kind and body');
  return { raw, signature: envelope.signature, statementBytes: envelope.statement, st };
}

// An event's envelope bytes and inclusion proof: in version 2 from its tlog-proof,
// which must prove this leaf against the dossier's one checkpoint (checked once, in
// the checkpoint and witnesses steps) and carry the envelope; in version 1 from its
// `envelope` and `proof` fields.
function eventBytes(item, checkpointNote) {
  if (!('tlog_proof' in item)) {
    need(Array.isArray(item.proof), `leaf ${item.leaf}: proof is not a list`);
    return {
      raw: fromBase64(item.envelope, 'envelope'),
      proof: item.proof.map((p) => fromHex(p, 'proof hash')),
    };
  }
  const parsed = parseTlogProof(item.tlog_proof);
  need(parsed.extra !== null, `leaf ${item.leaf}: the tlog-proof has no extra line: it must carry the envelope`);
  need(parsed.index === item.leaf, `leaf ${item.leaf}: the tlog-proof is of leaf ${parsed.index}`);
  need(parsed.checkpoint === checkpointNote, `leaf ${item.leaf}: the tlog-proof's checkpoint is not the dossier's checkpoint`);
  return { raw: parsed.extra, proof: parsed.proof };
}

function message(e) {
  return concat(utf8(CONTEXT[e.st.version]), Uint8Array.of(0), e.statementBytes);
}

// Verify one sheet's dossier; returns what the verified bytes say.
export async function verifyDossier(dossier, pinned) {
  const trust = await step('trust-roots', async () => {
    need(dossier && Object.hasOwn(EVENT_FIELDS, dossier.format), 'not a dossier');
    need(Object.keys(dossier).sort().join() === DOC_FIELDS.join(), `a dossier has exactly the fields ${DOC_FIELDS.join(', ')}`);
    need(Array.isArray(dossier.events) && typeof dossier.checkpoint === 'string', 'not a dossier');
    for (const field of ROOT_FIELDS) {
      if (dossier.trust[field] !== pinned[field]) {
        throw new Error(`the dossier's ${field} is not the pinned one`);
      }
    }
    return {
      kpu: fromBase64(pinned.kpu_root, 'kpu_root'),
      bawaslu: fromBase64(pinned.bawaslu_root, 'bawaslu_root'),
    };
  });
  const { log, policy } = await step('policy', async () => {
    const logKey = await parseVkey(pinned.log_vkey);
    need(logKey.name === pinned.origin, 'the log key is not named by the origin');
    need(typeof pinned.policy === 'string', 'the trust roots carry no trust policy');
    const parsed = await parsePolicy(pinned.policy);
    need(parsed.logs.length === 1 && parsed.logs[0].vkey === logKey.vkey, 'the policy names another log');
    return { log: logKey, policy: parsed };
  });
  const checkpoint = await step('checkpoint', async () => {
    const note = parseNote(dossier.checkpoint);
    const opened = await openNote(note, [log]);
    const cp = parseCheckpoint(opened.text);
    need(cp.origin === pinned.origin, 'the checkpoint is not of the pinned origin');
    return { ...cp, note };
  });
  const witnesses = await step('witnesses', async () => {
    const keys = [...policy.witnesses.values()];
    const cosigned = keys.length ? await openNote(checkpoint.note, [log, ...keys]) : { verified: [] };
    const names = new Set();
    const seen = [];
    for (const [name, key] of policy.witnesses) {
      const found = cosigned.verified.find((v) => v.key === key);
      if (found) { names.add(name); seen.push({ name: key.name, timestamp: found.timestamp }); }
    }
    if (!meets(policy, names)) {
      throw new Error(`cosigned by ${seen.map((s) => s.name).join(', ') || 'no witness'}; the policy needs ${describe(policy)}`);
    }
    return seen;
  });
  const events = await step('envelopes', async () => {
    const fields = EVENT_FIELDS[dossier.format];
    let last = -1;
    const out = [];
    for (const item of dossier.events) {
      need(item && typeof item === 'object' && Object.keys(item).sort().join() === [...fields].sort().join(),
        `an event must have exactly ${fields.join(', ')}`);
      need(Number.isInteger(item.leaf) && item.leaf > last, 'leaves out of order');
      last = item.leaf;
      need(item.leaf < checkpoint.size, `leaf ${item.leaf} is beyond the checkpoint`);
      const { raw, proof } = eventBytes(item, dossier.checkpoint);
      const e = parseEnvelope(raw, pinned.election);
      e.hash = await sha256(e.raw);
      need(toHex(e.hash) === item.event_hash, `event hash of leaf ${item.leaf}`);
      need(e.st.stream === item.stream && e.st.seq === item.seq, `stream and seq of leaf ${item.leaf}`);
      e.leaf = item.leaf;
      e.proof = proof;
      out.push(e);
    }
    return out;
  });
  const replay = await replayEvents(events, trust, dossier.subject);
  await step('inclusion', async () => {
    for (const e of events) {
      try {
        await verifyInclusion(e.leaf, checkpoint.size, await leafHash(e.raw), e.proof, checkpoint.root);
      } catch (err) {
        throw new Error(`leaf ${e.leaf} (${e.st.stream} seq ${e.st.seq}): ${err.message}`);
      }
    }
  });
  return { checkpoint: { size: checkpoint.size, root: toHex(checkpoint.root) }, witnesses, ...replay };
}

async function replayEvents(events, trust, subject) {
  const kpuId = toHex(await sha256(trust.kpu));
  const bawasluId = toHex(await sha256(trust.bawaslu));
  const keys = new Map([
    [kpuId, { role: 'kpu-root', scope: '', key: trust.kpu, label: 'KPU', root: true }],
    [bawasluId, { role: 'bawaslu-root', scope: '', key: trust.bawaslu, label: 'Bawaslu', root: true }],
  ]);
  const heads = new Map(); // stream -> {seq, hash}
  // What each accepted event is, by stream and hash, for the references
  // (ledger/checks/verify.py Replay._tag): "count" for a count or correction, an
  // after-count kind, "attest:<verdict>" for an objection.
  const tags = new Map();
  const contests = new Map();
  const sheet = { events: [], tallies: [], attestations: [] };
  for (const e of events) {
    const { st } = e;
    const where = `${st.stream} seq ${st.seq}`;
    const isKey = st.stream.startsWith('key:');
    const signerHex = toHex(st.signer);
    const signer = keys.get(signerHex);
    if (isKey) {
      await step('grant-chain', async () => {
        if (!signer) throw new Error(`${where}: granter ${signerHex.slice(0, 16)} is not known`);
        await verify(signer.key, e.signature, message(e)).catch((err) => {
          throw new Error(`${where}: ${err.message}`);
        });
        await grantRules(st, signer, keys, contests, where);
      });
    } else {
      await step('signature', async () => {
        if (!signer) throw new Error(`${where}: signer ${signerHex.slice(0, 16)} is not known`);
        await verify(signer.key, e.signature, message(e)).catch((err) => {
          throw new Error(`${where}: ${err.message}`);
        });
      });
      await step('authority', async () => authorityRules(st, signer, contests, subject, where));
    }
    await step('chain', async () => {
      const head = heads.get(st.stream) || { seq: 0, hash: ZERO_HASH };
      if (st.seq !== head.seq + 1) throw new Error(`${where}: seq follows ${head.seq}`);
      if (!equal(st.prev, head.hash)) throw new Error(`${where}: prev is not the previous event`);
      heads.set(st.stream, { seq: st.seq, hash: e.hash });
      checkReferences(st, tags, where);
      tags.set(`${st.stream} ${toHex(e.hash)}`, tagOf(st));
    });
    if (st.stream === subject) {
      const entry = { hash: toHex(e.hash), kind: st.kind, seq: st.seq, time: st.time, signer: signerHex, role: signer.role, label: signer.label, body: st.body, leaf: e.leaf };
      sheet.events.push(entry);
      // The latest count or correction is the effective tally: a count carrying out an
      // order (count.order) supersedes the earlier counts as any later one does (5.5).
      if (st.kind === 'count' || st.kind === 'correct') sheet.tallies.push(entry);
      if (st.kind === 'attest') sheet.attestations.push({ ...entry, pair: signer.pair ?? null });
    }
  }
  const [, contestId] = subject.split(':');
  return {
    contest: contests.get(contestId) || null,
    sheet,
    effective: sheet.tallies.length ? sheet.tallies[sheet.tallies.length - 1] : null,
    signers: Object.fromEntries([...keys].map(([id, k]) => [id, { role: k.role, scope: k.scope, label: k.label, revoked: !!k.revoked }])),
  };
}

function grantRules(st, granter, keys, contests, where) {
  const id = st.stream.slice(4);
  if (st.kind === 'revoke') {
    const subject = keys.get(id);
    if (st.seq !== 2 || !subject) throw new Error(`${where}: revoke of an unknown key`);
    if (granter !== subject.granter && !(granter.root && granter === subject.rootKey)) {
      throw new Error(`${where}: only the granter or the root may revoke`);
    }
    subject.revoked = true;
    return;
  }
  if (st.kind !== 'grant' || st.seq !== 1) throw new Error(`${where}: a key stream holds a grant at seq 1`);
  if (granter.revoked) throw new Error(`${where}: the granter is revoked`);
  const b = st.body;
  need(b.key instanceof Uint8Array && b.key.length === 32, `${where}: grant key`);
  return sha256(b.key).then((h) => {
    if (toHex(h) !== id) throw new Error(`${where}: the key does not hash to the stream's key id`);
    if (!(GRANTS[granter.role] || []).includes(b.role)) {
      throw new Error(`${where}: ${granter.role} may not grant ${b.role}`);
    }
    if (!(LEVEL_OF_ROLE[b.role] || []).includes(levelOf(b.scope))) {
      throw new Error(`${where}: scope ${b.scope} does not fit ${b.role}`);
    }
    if (b.role === 'paslon') {
      const c = contests.get(b.contest);
      if (!c || b.scope !== c.region || !c.pairs.some((p) => p.number === b.pair && !p.kolom_kosong)) {
        throw new Error(`${where}: paslon grant does not fit its contest`);
      }
    } else if (b.role === 'saksi') {
      const c = contests.get(b.contest);
      if (b.contest !== granter.contest || b.pair !== granter.pair || !c || !covers(c.region, b.scope)) {
        throw new Error(`${where}: saksi grant outside its paslon's contest`);
      }
    } else if (!granter.root && !covers(granter.scope, b.scope)) {
      throw new Error(`${where}: scope ${b.scope} is outside the granter's ${granter.scope}`);
    }
    keys.set(id, {
      role: b.role, scope: b.scope, key: b.key, label: b.label, contest: b.contest ?? null,
      pair: b.pair ?? null, granter, rootKey: granter.root ? granter : granter.rootKey, revoked: false,
    });
  });
}

function authorityRules(st, signer, contests, subject, where) {
  if (signer.revoked) throw new Error(`${where}: the signer's key is revoked`);
  if (st.stream === 'election') {
    if (signer.role !== 'kpu-root') throw new Error(`${where}: only the KPU root defines the election`);
    if (st.kind === 'contest') {
      const b = st.body;
      contests.set(b.contest, { id: b.contest, name: b.name, region: b.region, office: b.office, pairs: b.pairs });
    }
    return;
  }
  if (st.stream !== subject) throw new Error(`${where}: not a stream of the dossier's subject`);
  const [, contest, tps] = st.stream.split(':').length === 3 ? st.stream.split(':') : [];
  if (!contests.has(contest)) throw new Error(`${where}: contest ${contest} is not defined`);
  const kecamatan = tps.split('.').slice(0, 3).join('.');
  if (st.version < 2 && (AFTERCOUNT_KINDS.includes(st.kind) || (st.kind === 'count' && 'order' in st.body))) {
    throw new Error(`${where}: ${st.kind === 'count' ? "a count's order" : st.kind} exists in version 2 only`);
  }
  if (AFTERCOUNT_KINDS.includes(st.kind)) {
    if (!aftercountRule(st, signer, tps, kecamatan)) {
      throw new Error(`${where}: a ${signer.role} (${signer.scope}) may not sign ${st.kind} here`);
    }
    return;
  }
  const ok = {
    count: signer.role === 'kpps' && signer.scope === tps,
    // A refusal to sign (version 2) is a saksi's alone.
    attest: (signer.role === 'saksi' && signer.contest === contest && covers(signer.scope, tps))
      || (st.body.verdict !== 'refuse'
        && (signer.role === 'panwas' || Object.hasOwn(BAWASLU_ROLES, signer.role))
        && covers(signer.scope, tps)),
    correct: (signer.role === 'ppk' && signer.scope === kecamatan)
      || (signer.role === 'kpu-kab' && covers(signer.scope, tps)),
  }[st.kind];
  if (!ok) throw new Error(`${where}: a ${signer.role} (${signer.scope}) may not sign ${st.kind} here`);
}

// What a reference to an event may rely on (aftercount.tag_of, as Replay._tag sees it
// in a sheet stream: a count or correction is a tally, an attest counts only when it
// objects).
function tagOf(st) {
  if (st.kind === 'count' || st.kind === 'correct') return 'count';
  if (AFTERCOUNT_KINDS.includes(st.kind)) return st.kind;
  if (st.kind === 'attest' && st.body.verdict !== 'agree') return `attest:${st.body.verdict}`;
  return null;
}

function hashHex(value, name, where) {
  if (!(value instanceof Uint8Array) || value.length !== 32) throw new Error(`${where}: ${name} must be a 32-byte hash`);
  return toHex(value);
}

// The references of a sheet event to earlier events of its stream (7 check 9;
// ledger/checks/verify.py and aftercount.check_references).
function checkReferences(st, tags, where) {
  const b = st.body;
  const wanted = [];
  if (st.kind === 'attest') wanted.push(['attest.event', b.event, ['count'], 'a count or correction']);
  if (st.kind === 'correct') {
    wanted.push(['correct.corrects', b.corrects, ['count'], 'a count or correction']);
    if ('answers' in b) {
      if (!Array.isArray(b.answers)) throw new Error(`${where}: correct.answers must be a list`);
      b.answers.forEach((named, i) => wanted.push([`correct.answers[${i}]`, named, OBJECTING.map((v) => `attest:${v}`), 'an objection']));
    }
  }
  if (st.kind === 'count' && 'order' in b) wanted.push(['count.order', b.order, ['order'], 'an order of a re-vote or recount']);
  if (st.kind === 'order' && 'recommendation' in b) wanted.push(['order.recommendation', b.recommendation, ['recommend'], 'a recommendation']);
  if (st.kind === 'recommend' && 'event' in b) wanted.push(['recommend.event', b.event, ['count'], 'a count or correction']);
  if (st.kind === 'followup') wanted.push(['followup.recommendation', b.recommendation, ['recommend'], 'a recommendation']);
  for (const [name, target, allowed, what] of wanted) {
    const named = hashHex(target, name, where);
    if (!allowed.includes(tags.get(`${st.stream} ${named}`))) throw new Error(`${where}: ${name} names ${named.slice(0, 16)}, which is not ${what} in this stream`);
  }
}

// Who may sign an order, a recommendation or a follow-up at a TPS's sheet (6.3;
// ledger/format/aftercount.py authorize_aftercount, a sheet stream).
function aftercountRule(st, signer, tps, kecamatan) {
  const { role, scope } = signer;
  if (st.kind === 'order') {
    // KPU kab/kota decides on what a TPS did; an order carrying out a Court ruling
    // may be the executing KPU province's.
    const ruling = 'ruling' in st.body;
    return (role === 'kpu-kab' || (role === 'kpu-prov' && ruling))
      && covers(scope, tps) && !(scope === tps && !ruling);
  }
  if (st.kind === 'recommend') {
    return (role === 'ptps' && scope === tps) || (role === 'panwaslu-kec' && scope === kecamatan);
  }
  // followup: the KPU side that holds the sheet.
  return (role === 'ppk' && scope === kecamatan)
    || ((role === 'kpu-kab' || role === 'kpu-prov') && covers(scope, tps));
}
