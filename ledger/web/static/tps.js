// The TPS page's check in the reader's browser (issue 17).
//
// For each sheet of the page: fetch its dossier (/v1/dossier: the envelopes, the
// grant envelopes of its signers up to the roots, inclusion proofs, the cosigned
// checkpoint) and verify it (verify.js) against the trust roots and policy pinned
// in this browser (localStorage; pinned on the first visit, compared on every
// later one). Then show the figures decoded from the verified bytes, compare them
// with what the server said (its JSON and this page), and mark the result on
// #verification: data-verification="ok" or "failed" with data-step.

import { fromBase64, sha256, toHex } from './bytes.js';
import { ROOT_FIELDS, StepError, verifyDossier } from './verify.js';

const lang = document.documentElement.lang === 'en' ? 'en' : 'id';
const numbers = new Intl.NumberFormat(lang === 'en' ? 'en' : 'id-ID');
const PIN_KEY = `pilkada-ledger:pinned-trust:${location.host}`;
const PINNED_FIELDS = [...ROOT_FIELDS, 'policy'];
const TEXT = {
  id: {
    ok: 'Terverifikasi di peramban Anda: tanda tangan, rantai kewenangan sampai akar KPU, bukti inklusi ke checkpoint yang disaksikan ({witnesses}), ukuran log {size}.',
    failed: 'GAGAL pada langkah {step}: {message}',
    pinnedNow: 'Akar kepercayaan disematkan di peramban ini sekarang (kunjungan pertama). Bandingkan sidik jarinya dengan sumber lain.',
    pinnedSame: 'Akar kepercayaan sama dengan yang disematkan pada {when}.',
    pinnedChanged: 'PERINGATAN: akar kepercayaan dari server BERBEDA dengan yang disematkan di peramban ini pada {when} ({fields}). Server yang tidak jujur dapat menyajikan akar lain.',
    repin: 'Sematkan akar baru',
    disagree: 'Angka dari server (JSON atau halaman) berbeda dengan angka yang ditandatangani pada: {fields}. Yang ditampilkan adalah angka yang ditandatangani.',
    agree: 'Angka di halaman ini sama dengan angka yang ditandatangani.',
    roots: 'Sidik jari (SHA-256) akar kepercayaan',
    policy: 'Kebijakan kepercayaan',
    signedBy: 'ditandatangani oleh {label} ({role})',
    tail: '{n} peristiwa lembar ini setelah checkpoint yang disaksikan (ukuran {size}) belum disaksikan: angka yang ditampilkan adalah yang berlaku pada checkpoint itu.',
  },
  en: {
    ok: 'Verified in your browser: signatures, the grant chain up to the KPU root, inclusion proofs to a witnessed checkpoint ({witnesses}), log size {size}.',
    failed: 'FAILED at step {step}: {message}',
    pinnedNow: 'Trust roots pinned in this browser now (first visit). Compare their fingerprints with another source.',
    pinnedSame: 'The trust roots are those pinned on {when}.',
    pinnedChanged: 'WARNING: the server\'s trust roots DIFFER from those pinned in this browser on {when} ({fields}). A dishonest server could serve other roots.',
    repin: 'Pin the new roots',
    disagree: 'The server\'s figures (JSON or page) differ from the signed figures in: {fields}. The signed figures are shown.',
    agree: 'The figures on this page equal the signed figures.',
    roots: 'Fingerprints (SHA-256) of the trust roots',
    policy: 'Trust policy',
    signedBy: 'signed by {label} ({role})',
    tail: '{n} events of this sheet after the witnessed checkpoint (size {size}) are not witnessed yet: the figures shown are those as of that checkpoint.',
  },
}[lang];

function say(template, values = {}) {
  return template.replace(/\{(\w+)\}/g, (_, k) => String(values[k] ?? ''));
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

// A refusal the server explains (RFC 9457) is named by what it means for the check:
// no checkpoint the policy's quorum cosigned is a failure of the witnesses step.
const PROBLEM_STEP = { UnwitnessedError: 'witnesses' };

async function fetchJson(url) {
  const response = await fetch(url, { cache: 'no-store' });
  if (!response.ok) {
    let problem = {};
    try { problem = await response.json(); } catch { problem = {}; }
    const detail = `${url}: HTTP ${response.status} ${problem.code || ''} ${problem.detail || ''}`.trim();
    throw new StepError(PROBLEM_STEP[problem.code] || 'fetch', detail);
  }
  return response.json();
}

function when(ms) {
  return new Date(ms).toLocaleString(lang === 'en' ? 'en' : 'id-ID');
}

// Compare the server's trust file with the roots pinned in this browser.
function checkPinned(trust, notes) {
  const current = Object.fromEntries(PINNED_FIELDS.map((f) => [f, trust[f] ?? null]));
  let stored = null;
  try { stored = JSON.parse(localStorage.getItem(PIN_KEY) || 'null'); } catch { stored = null; }
  if (!stored) {
    localStorage.setItem(PIN_KEY, JSON.stringify({ ...current, pinned_at: Date.now() }));
    notes.append(el('p', { 'data-pinned': 'new' }, TEXT.pinnedNow));
    return;
  }
  const changed = PINNED_FIELDS.filter((f) => (stored[f] ?? null) !== current[f]);
  if (changed.length === 0) {
    notes.append(el('p', { 'data-pinned': 'same' }, say(TEXT.pinnedSame, { when: when(stored.pinned_at) })));
    return;
  }
  const warning = el('p', { class: 'warning', 'data-pinned': 'changed' },
    say(TEXT.pinnedChanged, { when: when(stored.pinned_at), fields: changed.join(', ') }));
  const button = el('button', { type: 'button' }, TEXT.repin);
  button.addEventListener('click', () => {
    localStorage.setItem(PIN_KEY, JSON.stringify({ ...current, pinned_at: Date.now() }));
    location.reload();
  });
  notes.append(warning, button);
  throw new StepError('pinned-roots', `the trust roots changed since they were pinned (${changed.join(', ')})`);
}

async function showRoots(trust, box) {
  const list = el('ul');
  for (const field of ['kpu_root', 'bawaslu_root']) {
    const digest = toHex(await sha256(fromBase64(trust[field], field)));
    list.append(el('li', {}, `${field}: `, el('code', { class: 'hash' }, digest)));
  }
  list.append(el('li', {}, 'log_vkey: ', el('code', { class: 'hash' }, trust.log_vkey)));
  box.append(el('h3', {}, TEXT.roots), list);
  if (trust.policy) box.append(el('h3', {}, TEXT.policy), el('pre', { class: 'hash' }, trust.policy));
}

// The figures of a tally, flat: votes.N, every count field the tally's form has
// (version 2 has no registered DPTb/DPK: format.md 5.9), and the photo's hash as hex.
function flat(tally) {
  const out = {};
  if (!tally) return out;
  for (const [k, v] of Object.entries(tally)) {
    if (k === 'votes') for (const [n, c] of Object.entries(v)) out[`votes.${n}`] = Number(c);
    else if (typeof v === 'number' || typeof v === 'bigint') out[k] = Number(v);
    else if (v instanceof Uint8Array) out[k] = toHex(v);
    else if (typeof v === 'string') out[k] = v;
  }
  return out;
}

function parseShown(text) {
  const digits = text.replace(/[^0-9-]/g, '');
  return digits === '' ? null : Number(digits);
}

function shown(value) {
  return typeof value === 'number' ? numbers.format(value) : String(value);
}

// Put the signed figures on the page; say where the server's JSON or HTML differ.
// The table becomes the signed tally's form: a field the page shows that the signed
// tally lacks is marked unsigned, a signed field the page left out is added.
function showSigned(section, result, claimed) {
  const signed = flat(result.effective?.body.tally);
  const serverEvents = claimed.events || [];
  const latest = [...serverEvents].reverse().find((e) => e.kind === 'count' || e.kind === 'correct');
  const json = flat(latest?.body?.tally);
  const differs = new Set();
  for (const field of new Set([...Object.keys(signed), ...Object.keys(json)])) {
    if (json[field] !== signed[field]) differs.add(field);
  }
  const onPage = new Set();
  if (result.effective) {
    for (const cell of section.querySelectorAll('[data-field]')) {
      const field = cell.dataset.field;
      onPage.add(field);
      if (!(field in signed)) {
        differs.add(field);
        cell.textContent = '—';
        cell.dataset.signed = '';
        cell.classList.add('unsigned');
        continue;
      }
      const value = signed[field];
      const pageValue = typeof value === 'number' ? parseShown(cell.textContent) : cell.textContent.trim();
      if (pageValue !== value) differs.add(field);
      cell.textContent = shown(value);
      cell.dataset.signed = String(value);
      cell.classList.add('signed');
    }
    const body = section.querySelector('table.tally tbody');
    for (const [field, value] of Object.entries(signed)) {
      if (onPage.has(field) || !body) continue;
      differs.add(field);
      body.append(el('tr', {}, el('th', { scope: 'row' }, field),
        el('td', { 'data-field': field, 'data-signed': String(value), class: 'signed' }, shown(value))));
    }
  }
  // Events the server holds beyond the witnessed checkpoint are not in the dossier:
  // the figures shown are those the witnesses saw.
  const tail = serverEvents.length - result.sheet.events.length;
  if (tail > 0) {
    section.append(el('p', { class: 'warning', 'data-unwitnessed-tail': String(tail) },
      say(TEXT.tail, { n: tail, size: numbers.format(result.checkpoint.size) })));
  }
  const note = differs.size
    ? el('p', { class: 'warning', 'data-json-disagrees': 'true' }, say(TEXT.disagree, { fields: [...differs].join(', ') }))
    : el('p', { 'data-json-disagrees': 'false' }, TEXT.agree);
  section.append(note);
  if (result.effective) {
    section.dataset.signedBy = result.effective.label;
  }
}

async function main() {
  const root = document.getElementById('tps');
  const out = document.getElementById('verification');
  const rootsBox = document.getElementById('trust-roots');
  if (!root || !out) return;
  const streams = (root.dataset.streams || '').split(' ').filter(Boolean);
  try {
    const trust = await fetchJson('/v1/trust');
    await showRoots(trust, rootsBox);
    checkPinned(trust, rootsBox);
    let summary = null;
    for (const stream of streams) {
      const section = document.querySelector(`section.sheet[data-stream="${CSS.escape(stream)}"]`);
      const dossier = await fetchJson(`/v1/dossier?subject=${encodeURIComponent(stream)}`);
      const result = await verifyDossier(dossier, trust);
      const claimed = await fetchJson(`/v1/streams/${encodeURI(stream)}`);
      if (section) {
        section.dataset.verification = 'ok';
        showSigned(section, result, claimed);
      }
      summary = result;
    }
    out.dataset.verification = 'ok';
    out.dataset.step = '';
    const witnesses = summary ? summary.witnesses.map((w) => w.name).join(', ') : '';
    out.replaceChildren(el('p', {}, say(TEXT.ok, {
      witnesses, size: summary ? numbers.format(summary.checkpoint.size) : '-',
    })));
  } catch (e) {
    const stepName = e instanceof StepError ? e.step : 'fetch';
    out.dataset.verification = 'failed';
    out.dataset.step = stepName;
    out.replaceChildren(el('p', {}, say(TEXT.failed, { step: stepName, message: e.message })));
  }
}

main();
