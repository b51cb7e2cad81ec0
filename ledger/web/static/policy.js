// c2sp.org/tlog-policy (docs/format.md 8.12): which checkpoints the reader accepts.

import { FormatError } from './bytes.js';
import { SIG_TYPE_COSIGNATURE_V1, SIG_TYPE_ED25519, parseVkey } from './note.js';

export const QUORUM_NONE = 'none';

export async function parsePolicy(text) {
  if (!text.endsWith('\n') || /[^\t\n\x20-\x7e\u0080-\uffff]/u.test(text)) {
    throw new FormatError('the trust policy is not policy text');
  }
  const policy = { logs: [], witnesses: new Map(), groups: new Map(), quorum: null };
  const lines = text.slice(0, -1).split('\n');
  for (const [i, line] of lines.entries()) {
    const items = line.split(/[ \t]+/).filter((x) => x !== '');
    if (items.length === 0 || items[0].startsWith('#')) continue;
    const where = `policy line ${i + 1}`;
    const defined = (name) => policy.witnesses.has(name) || policy.groups.has(name);
    switch (items[0]) {
      case 'log': {
        if (items.length < 2 || items.length > 3) throw new FormatError(where);
        const key = await parseVkey(items[1]);
        if (key.type !== SIG_TYPE_ED25519) throw new FormatError(`${where}: not a log key`);
        policy.logs.push(key);
        break;
      }
      case 'witness': {
        if (items.length < 3 || items.length > 4) throw new FormatError(where);
        const key = await parseVkey(items[2]);
        if (key.type !== SIG_TYPE_COSIGNATURE_V1) throw new FormatError(`${where}: not a witness key`);
        if (defined(items[1]) || items[1] === QUORUM_NONE) throw new FormatError(`${where}: name defined twice`);
        policy.witnesses.set(items[1], key);
        break;
      }
      case 'group': {
        if (items.length < 4) throw new FormatError(where);
        const [, name, threshold, ...members] = items;
        if (defined(name) || name === QUORUM_NONE) throw new FormatError(`${where}: name defined twice`);
        if (new Set(members).size !== members.length || !members.every(defined)) {
          throw new FormatError(`${where}: group members`);
        }
        let k;
        if (threshold === 'all') k = members.length;
        else if (threshold === 'any') k = 1;
        else if (/^[1-9][0-9]*$/.test(threshold) && Number(threshold) <= members.length) k = Number(threshold);
        else throw new FormatError(`${where}: threshold`);
        policy.groups.set(name, { k, members });
        break;
      }
      case 'quorum': {
        if (items.length !== 2 || policy.quorum !== null) throw new FormatError(`${where}: quorum`);
        if (items[1] !== QUORUM_NONE && !defined(items[1])) throw new FormatError(`${where}: quorum`);
        policy.quorum = items[1];
        break;
      }
      default:
        throw new FormatError(`${where}: unknown keyword`);
    }
  }
  if (policy.quorum === null) throw new FormatError('the trust policy has no quorum line');
  return policy;
}

// Whether the witnesses (policy names) that cosigned satisfy the quorum; groups nest.
export function meets(policy, cosignedNames) {
  const met = (name) => {
    if (policy.witnesses.has(name)) return cosignedNames.has(name);
    const group = policy.groups.get(name);
    return group.members.filter(met).length >= group.k;
  };
  return policy.quorum === QUORUM_NONE || met(policy.quorum);
}

export function describe(policy) {
  if (policy.quorum === QUORUM_NONE) return 'quorum none';
  const words = (name) => {
    if (policy.witnesses.has(name)) return policy.witnesses.get(name).name;
    const g = policy.groups.get(name);
    return `${g.k} of (${g.members.map(words).join(', ')})`;
  };
  return words(policy.quorum);
}
