"""The offline verifier: replay an export from zero, trusting nothing but the roots.

It reads an export file (ledger.format.exportfile) and a trust roots file, and shares
no state or code path with the ledger application: only the format primitives
of docs/format.md (canonical decoding, statements, body schemas, the authority
rules, RFC 9162 hashing, C2SP notes). Its rules for chains and references are
written again here, on purpose, so that a bug in the ledger's acceptance code
cannot hide itself from the verifier.

:func:`verify_export` runs these steps; each failure is recorded with the exact
event (leaf, stream, seq, hash) or checkpoint it concerns, and verification
goes on, so one report lists everything:

1. the header's trust roots equal the ones given (nothing else is trusted);
2. for each event, in log order: leaf indexes run 0, 1, 2, ...; the envelope and
   statement decode canonically; the election is this one;
3. the signer is a root or a key granted by a chain of grants from one, and the
   Ed25519 signature verifies;
4. the body passes its kind's schema, and the signer's role, scope and standing
   (not revoked) allow the statement (docs/format.md, "Authority");
5. the stream chain holds: seq is the stream's next, prev is its head's hash;
   attested and corrected events are counts or corrections of the same sheet;
   recap inputs name events of their streams;
6. the leaf is added to the Merkle tree (every event, valid or not: the log
   committed to it);
7. at each checkpoint record: its size is the number of events so far, the log
   signature verifies, its root equals the recomputed root, its size does not
   shrink, and every cosignature by a witness of the trust policy verifies; the
   roots of successive checkpoints are consistent because both are recomputed
   from one sequence of leaves. A checkpoint that passes all this and whose
   cosignatures meet the policy's quorum (ledger.format.policy) is *witnessed*;
8. the end record's counts match; then the totals are recomputed from the
   effective tallies (latest count or correction of each sheet) as they stood
   at the last witnessed checkpoint.

The witnessed-verdict rule: the export is OK only if every event lies inside a
witnessed checkpoint. Events after the last one are an *unwitnessed tail*: an
UnwitnessedError, unless the caller accepts the tail, and then the report
keeps the tail's effect on the totals apart from the witnessed totals.

Memory is flat in the number of events: per stream it keeps only its head and
the hashes it may be referred to by, per key its grant, per sheet its effective
totals, each as a packed record (ledger.checks._state: about 0.36 GiB at national
size, 1.8 million streams and 0.9 million keys).
"""

from __future__ import annotations

import os
import struct
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any

from ledger.checks._state import (
    NONE,
    RECAP_EVENT,
    SHEET_EVENT,
    TALLY,
    EventFacts,
    SheetTotals,
    SignerTable,
    StreamHeads,
)
from ledger.checks._workers import Checked, Prepared, prepare
from ledger.checks._workers import WorkersAhead as _WorkersAhead
from ledger.errors import (
    CheckpointError,
    ConfigurationError,
    ElectionMismatchError,
    FormatError,
    InvalidSignature,
    LedgerError,
    LogShrankError,
    PrevMismatchError,
    RootMismatchError,
    SchemaError,
    StaleHeadError,
    UnknownEventError,
    UnknownSignerError,
    UnwitnessedError,
)
from ledger.format import ed25519, merkle
from ledger.format.aftercount import AFTERCOUNT_KINDS, check_references, tag_of
from ledger.format.authority import BAWASLU_ROOT, KPU_ROOT, Signer, authorize, root_signer
from ledger.format.exportfile import read_records, trust_record
from ledger.format.jsoninput import read_limited
from ledger.format.note import Checkpoint, Verifier, open_note
from ledger.format.outcome import determined_recap_stream
from ledger.format.policy import TlogPolicy, parse_policy
from ledger.format.recap import recap_inputs
from ledger.format.regions import kecamatan_of, parse_stream_id, stream_contest
from ledger.format.schema import Contest, check_body, contest_from_body, voted_total
from ledger.format.statement import Envelope, key_id
from ledger.format.trust import TrustRoots, policy_from_json, trust_from_json

__all__ = [
    "Failure",
    "Replay",
    "TrustPolicy",
    "VerifyReport",
    "load_policy",
    "tlog_policy",
    "verify_export",
]

MAX_LISTED = 200  # failures kept per class; the count is always exact


@dataclass(frozen=True, slots=True)
class TrustPolicy:
    """What the verifier trusts: the roots, and the tlog-policy checkpoints must meet.

    The policy's log line must be the roots' log key (ConfigurationError).
    """

    roots: TrustRoots
    tlog: TlogPolicy

    def __post_init__(self) -> None:
        self.tlog.require_log(self.roots.log_vkey)

    @property
    def log(self) -> Verifier:
        return Verifier.parse(self.roots.log_vkey)


def load_policy(trust_path: str, policy_path: str | None = None) -> TrustPolicy:
    """The trust roots of ``trust_path`` with the tlog-policy of ``policy_path``, if
    given, else the one the trust roots file embeds (docs/format.md 8.10);
    ConfigurationError if neither gives one."""
    text = read_limited(trust_path, "trust roots file")
    policy = tlog_policy(policy_path, policy_from_json(text))
    if policy is None:
        raise ConfigurationError(
            f"{trust_path} embeds no trust policy: give --policy FILE (c2sp.org/tlog-policy)"
        )
    return TrustPolicy(trust_from_json(text), policy)


def tlog_policy(policy_path: str | None, embedded: str | None) -> TlogPolicy | None:
    """The policy file ``policy_path`` if given (it overrides), else ``embedded``."""
    if policy_path is not None:
        return parse_policy(read_limited(policy_path, "trust policy"))
    return None if embedded is None else parse_policy(embedded)


@dataclass(frozen=True, slots=True)
class Failure:
    """One thing that does not hold, and exactly where."""

    error: str  # the LedgerError subclass name
    message: str
    leaf: int | None = None
    stream: str = ""
    seq: int | None = None
    event_hash: str = ""
    checkpoint: int | None = None

    def where(self, whole: str = "export") -> str:
        """Where the failure is: a checkpoint, a leaf, or the ``whole`` file."""
        if self.checkpoint is not None:
            return f"checkpoint {self.checkpoint}"
        if self.leaf is None:
            return whole
        return f"leaf {self.leaf} ({self.stream} seq {self.seq}, {self.event_hash[:16]})"


@dataclass
class VerifyReport:
    """What was verified, what failed, and the totals that result."""

    events: Counter[str] = field(default_factory=Counter)
    failures: dict[str, list[Failure]] = field(default_factory=dict)
    failure_counts: Counter[str] = field(default_factory=Counter)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, dict[str, Any]] = field(default_factory=dict)
    as_of: int | None = None
    leaves: int = 0
    # The witnessed-verdict rule (module docstring): the size of the last
    # witnessed checkpoint, whether the policy needs no witness at all, and, for
    # an unwitnessed tail, whether it was accepted and its effect on the totals.
    witnessed: int = 0
    quorum: str = ""  # the policy's quorum, in words
    quorum_none: bool = False
    tail_accepted: bool = False
    tail_effect: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failure_counts

    @property
    def tail(self) -> int:
        """How many events lie after the last witnessed checkpoint."""
        return max(0, self.leaves - self.witnessed)

    def fail(self, error: LedgerError | str, message: str = "", **where: Any) -> None:
        name = error if isinstance(error, str) else type(error).__name__
        self.failure_counts[name] += 1
        listed = self.failures.setdefault(name, [])
        if len(listed) < MAX_LISTED:
            listed.append(Failure(name, message or str(error), **where))

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "leaves": self.leaves,
            "events": dict(sorted(self.events.items())),
            "failures": {
                name: {
                    "count": self.failure_counts[name],
                    "listed": [
                        f.__dict__ if not hasattr(f, "__slots__") else _failure_json(f)
                        for f in items
                    ],
                }
                for name, items in sorted(self.failures.items())
            },
            "checkpoints": self.checkpoints,
            "witnessed": self.witnessed,
            "quorum": self.quorum,
            "quorum_none": self.quorum_none,
            "unwitnessed_tail": (
                {
                    "events": self.tail,
                    "accepted": self.tail_accepted,
                    "effect": self.tail_effect,
                }
                if self.tail
                else None
            ),
            "as_of": self.as_of,
            "totals": self.totals,
        }


def _failure_json(f: Failure) -> dict[str, Any]:
    return {
        name: getattr(f, name) for name in Failure.__slots__ if getattr(f, name) not in (None, "")
    }


class Replay:
    """The verifier's state while it replays a log (steps 2-7), fed one entry at a time.

    :func:`verify_export` feeds it an export; a monitor (ledger.monitor) feeds it
    entries fetched as tiles, and keeps it between runs through :meth:`snapshot`
    and :meth:`restore` (docs/format.md 8.17), so no entry is checked twice.
    What it remembers is packed (ledger.checks._state): ``heads`` (stream id to
    ``(seq, head hash)``) and ``signers`` (key id to Signer) read as mappings.
    """

    def __init__(self, policy: TrustPolicy, report: VerifyReport) -> None:
        roots = policy.roots
        self.policy = policy
        self.election = roots.election
        self.report = report
        self.last_size = 0  # the size of the last checkpoint checked (step 7)
        self.signers = SignerTable()
        for public_key, role in ((roots.kpu_root, KPU_ROOT), (roots.bawaslu_root, BAWASLU_ROOT)):
            self.signers.add(root_signer(public_key, role))
        self.roots = frozenset(self.signers)
        self.heads = StreamHeads(self.signers)
        self.sheets = SheetTotals()
        self.events = EventFacts()
        self.contests: dict[str, Contest] = {}
        self.tree = merkle.CompactRange()

    def public_key(self, key_id: bytes) -> bytes | None:
        """The public key of a signer known so far, by its key id."""
        return self.signers.public_key(key_id)

    def contest(self, contest_id: str) -> Contest:
        try:
            return self.contests[contest_id]
        except KeyError:
            raise UnknownEventError(f"contest {contest_id} is not defined") from None

    def apply(
        self,
        leaf: int,
        raw: bytes,
        verdict: bool | None = None,
        prepared: Prepared | None = None,
    ) -> None:
        """Replay one event; ``verdict`` is its signature check if already run ahead,
        ``prepared`` its leaf hash and decoding if already done by a worker."""
        if prepared is None:
            prepared = prepare(raw)
        self.tree.append(prepared.leaf_hash)  # (6) the log committed to it, valid or not
        envelope = prepared.envelope  # (2)
        if envelope is None:
            error, message = prepared.error
            self.report.fail(error, message, leaf=leaf)
            return
        st = envelope.statement
        try:
            at = self._check(envelope, verdict)
        except LedgerError as e:
            self.report.fail(
                e, leaf=leaf, stream=st.stream, seq=st.seq, event_hash=envelope.hash.hex()
            )
            return
        self.report.events[st.kind] += 1
        self._record(envelope, at)

    def checkpoint(self, note: bytes) -> bool:
        """Step (7) for a checkpoint standing after the entries fed so far; whether it
        is witnessed (valid, reproduced by the entries, its quorum met)."""
        self.last_size, witnessed = _check_checkpoint(
            note, self, self.policy, self.report, self.last_size
        )
        if witnessed:
            self.report.witnessed = self.last_size
        return witnessed

    def snapshot(self) -> dict[str, Any]:
        """The replay's whole state (its report included) as a JSON value (format.md 8.17)."""
        return _snapshot(self)

    @classmethod
    def restore(cls, policy: TrustPolicy, snapshot: Any) -> Replay:
        """The replay :meth:`snapshot` saved, under ``policy`` (its roots must be the
        snapshot's: ConfigurationError); FormatError for a malformed snapshot."""
        return _restore(cls(policy, VerifyReport()), snapshot)

    def _check(self, envelope: Envelope, verdict: bool | None = None) -> int:
        """Raise unless the event may be recorded; return its stream's offset
        (StreamHeads.locate), which _record takes."""
        st = envelope.statement
        if st.election != self.election:  # (2)
            raise ElectionMismatchError(f"statement is for election {st.election!r}")
        signer = self.signers.get(st.signer)  # (3)
        if signer is None:
            raise UnknownSignerError(
                f"key {st.signer.hex()[:16]} is not a root and was never granted"
            )
        if verdict is None:
            envelope.verify_signature(signer.public_key)
        elif not verdict:
            raise InvalidSignature("Ed25519 signature does not verify")
        check_body(
            st.kind, st.body, lambda: self.contest(stream_contest(st.stream)), version=st.version
        )  # (4)
        if st.kind == "grant" and key_id(st.body["key"]) in self.roots:
            raise SchemaError("a trust root cannot be granted a role: roots are pinned")
        subject = None
        if st.kind == "revoke":
            subject = self.signers.get(st.body["key"])
            if subject is None:
                raise UnknownSignerError(
                    f"revoke names key {st.body['key'].hex()[:16]}, never granted"
                )
        authorize(st, signer, contest=self.contest, subject=subject)
        at, seq, head = self.heads.locate(st.stream)  # (5)
        if st.seq != seq + 1:
            raise StaleHeadError(
                f"stream {st.stream} is at seq {seq}, statement is for seq {st.seq}"
            )
        if st.prev != head:
            raise PrevMismatchError(f"prev {st.prev.hex()[:16]} is not the head {head.hex()[:16]}")
        events = self.events
        if st.kind in ("attest", "correct") and st.stream.startswith("sheet:"):
            target = st.body["event"] if st.kind == "attest" else st.body["corrects"]
            if not events.flags(at, target) & TALLY:
                raise UnknownEventError(
                    f"{st.kind} names {target.hex()[:16]}, not a count or correction here"
                )
        elif st.kind == "recap":
            for stream, named in recap_inputs(st):
                named_at = self.heads.find(stream)
                # A sheet's recap may name any event of it; other streams' recaps only theirs.
                wanted = SHEET_EVENT if self.heads.sheet_at(named_at) != NONE else RECAP_EVENT
                if not events.flags(named_at, named) & wanted:
                    raise UnknownEventError(f"recap input {stream} has no event {named.hex()[:16]}")
        elif st.kind == "determination":
            top = determined_recap_stream(st)
            if not events.flags(self.heads.find(top), st.body["recap"]) & RECAP_EVENT:
                raise UnknownEventError(
                    f"determination names {st.body['recap'].hex()[:16]}, not a recap of {top}"
                )
        check_references(st, self._tag)
        return at

    def _tag(self, stream: str, event: bytes) -> str | None:
        """What ``event`` of ``stream`` is, for the after-count references (5.11-5.13)."""
        tag, flags = self.events.tag(self.heads.find(stream), event)
        if tag is not None:
            return tag
        if flags & TALLY:
            return "count"
        return "recap" if flags & RECAP_EVENT else None

    def _record(self, envelope: Envelope, at: int) -> None:
        st = envelope.statement
        kind = st.kind
        if kind == "grant":  # first: its stream's head is kept in its record
            granter = self.signers[st.signer]
            self.signers.add(
                Signer(
                    key_id=key_id(st.body["key"]),
                    public_key=st.body["key"],
                    role=st.body["role"],
                    scope=st.body["scope"],
                    root=granter.root,
                    granter=granter.key_id,
                    contest=st.body.get("contest"),
                    pair=st.body.get("pair"),
                    label=st.body["label"],
                )
            )
        at = self.heads.advance(st.stream, st.seq, envelope.hash, at)
        on_sheet = st.stream.startswith("sheet:")
        flags = 0
        tally = NONE
        if kind == "contest":
            contest = contest_from_body(st.body)
            self.contests[contest.id] = contest
        elif kind == "revoke":
            self.signers.revoke(st.body["key"])
        elif kind in ("count", "attest", "correct") and on_sheet:
            sheet = self.sheets.ensure(self.heads, at)
            flags |= SHEET_EVENT
            if kind != "attest":
                tally = self.sheets.add_tally(_tally_totals(st.body["tally"]))
                self.sheets.effective[sheet] = tally
                flags |= TALLY
        elif kind == "recap":
            flags |= RECAP_EVENT
        # Version 2: what a count, decision or correction may name (format.md 5.5-5.13).
        tag = None
        objects = kind == "attest" and st.body["verdict"] != "agree"
        if kind in AFTERCOUNT_KINDS or objects or st.stream.startswith("recap:"):
            tag = tag_of(st)
        # Any event of a stream may be the head a recap names (format.md 5.8).
        if kind in AFTERCOUNT_KINDS and on_sheet:
            self.sheets.ensure(self.heads, at)
            flags |= SHEET_EVENT
        elif kind != "recap" and st.stream.startswith("recap:"):
            flags |= RECAP_EVENT
        if flags or tag is not None:
            self.events.note(envelope.hash, at, flags, tag, tally)

    def totals(self) -> dict[str, dict[str, Any]]:
        """Per contest: per kecamatan and overall, the sums of the effective tallies.

        Contests and kecamatan come in the order of their sheets' stream ids
        (``sheet:<contest>:<tps>``); the sheets are summed one by one into a row
        per kecamatan (votes per pair, valid, invalid, voted, sheets), with no list
        of them (a national replay holds 0.9 million).
        """
        rows: dict[str, dict[str, list[int]]] = {}
        sheets = self.sheets
        for number, at in enumerate(sheets.effective):
            if at == NONE:
                continue
            effective = sheets.tally(at)
            _, contest_id, tps = parse_stream_id(self.heads.stream_at(sheets.streams[number]))
            pairs = len(self.contests[contest_id].pairs)
            by_place = rows.setdefault(contest_id, {})
            place = kecamatan_of(tps)
            row = by_place.get(place)
            if row is None:
                row = by_place[place] = [0] * (pairs + 4)
            for i in range(min(pairs, len(effective))):
                row[i] += effective[i]
            row[pairs] += effective[-3]
            row[pairs + 1] += effective[-2]
            row[pairs + 2] += effective[-1]
            row[pairs + 3] += 1
        out: dict[str, dict[str, Any]] = {}
        for contest_id in sorted(rows, key=lambda c: c + ":"):  # as their streams sort
            contest = self.contests[contest_id]
            total = _zero(contest.pairs)
            kecamatan: dict[str, Any] = {}
            for place in sorted(rows[contest_id], key=lambda k: k + "."):
                kecamatan[place] = summed = _summed(contest.pairs, rows[contest_id][place])
                for number in contest.pairs:
                    total["votes"][str(number)] += summed["votes"][str(number)]
                for name in ("valid", "invalid", "voted", "sheets"):
                    total[name] += summed[name]
            out[contest_id] = {
                "kecamatan": kecamatan,
                "total": total,
                # the empty column's number: people read it as a column, not a pair
                "kolom_kosong": contest.kolom_kosong,
            }
        return out


def _tally_totals(tally: dict[str, Any]) -> tuple[int, ...]:
    """A tally as the replay keeps it: votes per pair in pair order, valid, invalid, voted."""
    return (
        *(tally["votes"][n] for n in sorted(tally["votes"], key=int)),
        tally["valid"],
        tally["invalid"],
        voted_total(tally),
    )


def _zero(pairs: tuple[int, ...]) -> dict[str, Any]:
    return {"votes": {str(n): 0 for n in pairs}, "valid": 0, "invalid": 0, "voted": 0, "sheets": 0}


def _summed(pairs: tuple[int, ...], row: list[int]) -> dict[str, Any]:
    """A row of Replay.totals (votes per pair, valid, invalid, voted, sheets) as a total."""
    n = len(pairs)
    return {
        "votes": {str(number): row[i] for i, number in enumerate(pairs)},
        "valid": row[n],
        "invalid": row[n + 1],
        "voted": row[n + 2],
        "sheets": row[n + 3],
    }


SNAPSHOT_FORMAT = "ledger-replay/v2"
"""The ``format`` of a :meth:`Replay.snapshot` (docs/format.md 8.17); version 2 adds
``tags``. A ``ledger-replay/v1`` state still restores (without the tags it lacked)."""
_SNAPSHOT_FORMATS = ("ledger-replay/v1", SNAPSHOT_FORMAT)


def _hexes(values: Iterable[bytes]) -> list[str]:
    return [v.hex() for v in values]


def _trust_json(roots: TrustRoots) -> dict[str, Any]:
    return {k: v.hex() if isinstance(v, bytes) else v for k, v in trust_record(roots).items()}


def _snapshot(replay: Replay) -> dict[str, Any]:
    report = replay.report
    heads = replay.heads
    sheets: dict[str, dict[str, Any]] = {}
    for number, at in enumerate(replay.sheets.streams):
        effective = replay.sheets.effective[number]
        sheets[heads.stream_at(at)] = {
            "hashes": [],
            "tallies": {},
            "effective": None if effective == NONE else list(replay.sheets.tally(effective)),
        }
    recap_hashes: dict[str, list[str]] = {}
    tags: dict[str, dict[str, str]] = {}
    for event, fact in replay.events.facts():
        stream = heads.stream_at(fact.stream)
        if fact.flags & SHEET_EVENT:
            sheets[stream]["hashes"].append(event.hex())
        if fact.flags & TALLY:
            sheets[stream]["tallies"][event.hex()] = list(replay.sheets.tally(fact.tally))
        if fact.flags & RECAP_EVENT:
            recap_hashes.setdefault(stream, []).append(event.hex())
        if fact.tag is not None:
            tags.setdefault(stream, {})[event.hex()] = fact.tag
    return {
        "format": SNAPSHOT_FORMAT,
        "trust": _trust_json(replay.policy.roots),
        "leaves": replay.tree.size,
        "tree": _hexes(replay.tree.hashes),
        "last_size": replay.last_size,
        "signers": [
            {
                "key_id": s.key_id.hex(),
                "public_key": s.public_key.hex(),
                "role": s.role,
                "scope": s.scope,
                "root": s.root.hex(),
                "granter": None if s.granter is None else s.granter.hex(),
                "contest": s.contest,
                "pair": s.pair,
                "revoked": s.revoked,
                "label": s.label,
            }
            for s in replay.signers.values()
        ],
        "heads": {stream: [seq, head.hex()] for stream, (seq, head) in heads.items()},
        "sheets": sheets,
        "recap_hashes": {stream: sorted(h) for stream, h in recap_hashes.items()},
        "tags": tags,
        "contests": {cid: _contest_json(c) for cid, c in replay.contests.items()},
        "events": dict(report.events),
        "failure_counts": dict(report.failure_counts),
        "failures": {
            name: [_failure_json(f) for f in items] for name, items in report.failures.items()
        },
        "checkpoints": report.checkpoints,
        "witnessed": report.witnessed,
    }


def _contest_json(c: Contest) -> dict[str, Any]:
    return {
        "id": c.id,
        "office": c.office,
        "region": c.region,
        "name": c.name,
        "pairs": list(c.pairs),
        "kolom_kosong": c.kolom_kosong,
    }


def _restore(replay: Replay, snapshot: Any) -> Replay:
    """Load ``snapshot`` into a fresh ``replay`` (see :meth:`Replay.restore`)."""
    if not isinstance(snapshot, dict) or snapshot.get("format") not in _SNAPSHOT_FORMATS:
        raise FormatError(f"the replay state is not a {SNAPSHOT_FORMAT} snapshot")
    if snapshot.get("trust") != _trust_json(replay.policy.roots):
        raise ConfigurationError("the replay state was saved under other trust roots")
    try:
        size = snapshot["leaves"]
        replay.tree = merkle.CompactRange.from_hashes(
            size, [bytes.fromhex(h) for h in snapshot["tree"]]
        )
        replay.last_size = int(snapshot["last_size"])
        for s in snapshot["signers"]:
            granter = s["granter"]
            signer = Signer(
                key_id=bytes.fromhex(s["key_id"]),
                public_key=bytes.fromhex(s["public_key"]),
                role=s["role"],
                scope=s["scope"],
                root=bytes.fromhex(s["root"]),
                granter=None if granter is None else bytes.fromhex(granter),
                contest=s["contest"],
                pair=s["pair"],
                revoked=bool(s["revoked"]),
                label=s["label"],
            )
            if signer.key_id in replay.roots:
                continue  # pinned by the trust roots, which the snapshot's must equal
            if key_id(signer.public_key) != signer.key_id:
                raise ValueError(f"key id {s['key_id']} is not its key's")
            replay.signers.add(signer)
        heads = replay.heads
        for stream, (seq, head) in snapshot["heads"].items():
            heads.advance(stream, int(seq), _hash(head))
        events = replay.events
        for stream, saved in snapshot["sheets"].items():
            at = _stream_at(heads, stream)
            number = replay.sheets.ensure(heads, at)
            for h in saved["hashes"]:
                events.note(_hash(h), at, SHEET_EVENT)
            for h, totals in saved["tallies"].items():
                tally = replay.sheets.add_tally([int(t) for t in totals])
                events.note(_hash(h), at, SHEET_EVENT | TALLY, tally=tally)
            effective = saved["effective"]
            if effective is not None:
                replay.sheets.effective[number] = replay.sheets.add_tally(
                    [int(t) for t in effective]
                )
        for stream, hashes in snapshot["recap_hashes"].items():
            at = _stream_at(heads, stream)
            for h in hashes:
                events.note(_hash(h), at, RECAP_EVENT)
        for stream, tagged in snapshot.get("tags", {}).items():
            at = _stream_at(heads, stream)
            for h, tag in tagged.items():
                events.note(_hash(h), at, tag=str(tag))
        replay.contests = {
            cid: Contest(
                id=c["id"],
                office=c["office"],
                region=c["region"],
                name=c["name"],
                pairs=tuple(c["pairs"]),
                kolom_kosong=c["kolom_kosong"],
            )
            for cid, c in snapshot["contests"].items()
        }
        report = replay.report
        report.events = Counter(snapshot["events"])
        report.failure_counts = Counter(snapshot["failure_counts"])
        report.failures = {
            name: [Failure(**f) for f in items] for name, items in snapshot["failures"].items()
        }
        report.checkpoints = list(snapshot["checkpoints"])
        report.witnessed = int(snapshot["witnessed"])
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError, struct.error) as e:
        raise FormatError(f"the replay state is malformed: {e!r}") from None
    return replay


def _hash(text: Any) -> bytes:
    value = bytes.fromhex(text)
    if len(value) != 32:
        raise ValueError(f"{text!r} is not a 32-byte hash")
    return value


def _stream_at(heads: StreamHeads, stream: str) -> int:
    at = heads.find(stream)
    if at < 0:
        raise ValueError(f"stream {stream!r} has no head")
    return at


# Worker processes of the verifier (None: one per core, up to MAX_WORKERS; 0: none,
# a thread checks signatures ahead instead). Tests set it to run every case
# through both paths.
WORKERS: int | None = None
# More workers than this only wait on the ordered replay, which runs in one
# process: each worker's share of an event (decoding, signature, leaf hash) costs
# about what the replay's does.
MAX_WORKERS = 4


def _workers() -> int:
    if WORKERS is not None:
        return WORKERS
    cores = os.cpu_count() or 1
    return min(cores, MAX_WORKERS) if cores > 1 else 0


class _SignaturesAhead:
    """Checks signatures a chunk ahead, on a thread, while the replay runs.

    libsodium releases the GIL, so one thread verifying chunk k+1 runs on the
    second core while the main thread replays chunk k. The verdict only says
    "this signature is valid under the key whose SHA-256 is the signer's key
    id", which no later state can change; whether that signer may sign is
    decided by the replay, in order. A public key is looked up among the
    signers replayed so far, or the grants read ahead (bounded).
    """

    CHUNK = 1024

    def __init__(self, replay: Replay) -> None:
        self.replay = replay
        self.recent: OrderedDict[bytes, bytes] = OrderedDict()
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="verify-signatures")

    def records(
        self, records: Iterator[dict[str, Any]]
    ) -> Iterator[tuple[dict[str, Any], bool | None]]:
        in_flight: deque[tuple[list[dict[str, Any]], Future[list[bool | None]]]] = deque()
        chunk: list[dict[str, Any]] = []
        unreadable: FormatError | None = None
        try:
            try:
                for record in records:
                    chunk.append(record)
                    if len(chunk) >= self.CHUNK:
                        in_flight.append(
                            (chunk, self.executor.submit(ed25519.verify_many, self._tasks(chunk)))
                        )
                        chunk = []
                        if len(in_flight) > 1:
                            done, future = in_flight.popleft()
                            yield from zip(done, future.result(), strict=True)
            except FormatError as e:
                # The reader stopped; what it read before is replayed first, so
                # its error never hides events or the end record already read.
                unreadable = e
            if chunk:
                in_flight.append(
                    (chunk, self.executor.submit(ed25519.verify_many, self._tasks(chunk)))
                )
            while in_flight:
                done, future = in_flight.popleft()
                yield from zip(done, future.result(), strict=True)
            if unreadable is not None:
                raise unreadable
        finally:
            self.executor.shutdown(wait=True, cancel_futures=True)

    def _tasks(self, chunk: list[dict[str, Any]]) -> list[tuple[bytes, bytes, bytes] | None]:
        tasks: list[tuple[bytes, bytes, bytes] | None] = []
        for record in chunk:
            raw = record.get("envelope") if record.get("type") == "event" else None
            try:
                envelope = Envelope.parse(raw) if isinstance(raw, bytes) else None
            except LedgerError:
                envelope = None
            if envelope is None:
                tasks.append(None)
                continue
            st = envelope.statement
            public = self.replay.public_key(st.signer) or self.recent.get(st.signer)
            tasks.append(
                None if public is None else (public, envelope.signature, envelope.signed_message)
            )
            key = st.body.get("key") if st.kind == "grant" else None
            if isinstance(key, bytes) and len(key) == 32:
                self.recent[key_id(key)] = key
                if len(self.recent) > 4 * self.CHUNK:
                    self.recent.popitem(last=False)
        return tasks


def _check_checkpoint(
    note: bytes, replay: Replay, policy: TrustPolicy, report: VerifyReport, previous: int
) -> tuple[int, bool]:
    """Step (7); returns the checkpoint's size (or ``previous`` if unreadable) and
    whether it is witnessed: valid, reproduced by the events, its quorum met."""
    log = policy.log
    try:
        opened, _ = open_note(note, [log])
        checkpoint = Checkpoint.parse(opened.text)
    except LedgerError as e:
        report.fail(e, checkpoint=replay.tree.size)
        return previous, False
    size = checkpoint.size
    failures = sum(report.failure_counts.values())
    if report.checkpoints and size == previous:
        report.fail(FormatError(f"a second checkpoint record of size {size}"), checkpoint=size)
    if checkpoint.origin != policy.roots.origin:
        report.fail(
            CheckpointError(f"origin {checkpoint.origin!r} is not {policy.roots.origin!r}"),
            checkpoint=size,
        )
    if size < previous:
        report.fail(LogShrankError(f"log shrank from {previous} to {size} leaves"), checkpoint=size)
    if size != replay.tree.size:
        report.fail(
            CheckpointError(f"checkpoint of size {size} stands after {replay.tree.size} events"),
            checkpoint=size,
        )
    elif checkpoint.root_hash != replay.tree.root():
        report.fail(
            RootMismatchError(
                f"signed root {checkpoint.root_hash.hex()[:16]} is not the root of the exported events "
                f"{replay.tree.root().hex()[:16]}"
            ),
            checkpoint=size,
        )
    cosigners: tuple[Verifier, ...] = ()
    try:
        cosigners = policy.tlog.cosigners(note, log)
    except LedgerError as e:
        report.fail(e, checkpoint=size)
    valid = sum(report.failure_counts.values()) == failures
    witnessed = valid and policy.tlog.meets(cosigners)
    report.checkpoints.append(
        {"size": size, "cosigned_by": [w.name for w in cosigners], "witnessed": witnessed}
    )
    return size, witnessed


def _tail_effect(
    full: dict[str, dict[str, Any]], witnessed: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Per contest, what the unwitnessed tail changes in the totals (non-zero entries)."""
    effect: dict[str, dict[str, Any]] = {}
    for contest_id, contest in sorted(full.items()):
        after = contest["total"]
        before = witnessed.get(contest_id, {}).get("total") or {
            "votes": {},
            "valid": 0,
            "invalid": 0,
            "voted": 0,
            "sheets": 0,
        }
        votes = {
            n: after["votes"][n] - before["votes"].get(n, 0)
            for n in after["votes"]
            if after["votes"][n] != before["votes"].get(n, 0)
        }
        change = {
            name: after[name] - before[name]
            for name in ("valid", "invalid", "voted", "sheets")
            if after[name] != before[name]
        }
        if votes or change:
            effect[contest_id] = {"votes": votes, **change}
    return effect


def verify_export(
    stream: IO[bytes],
    policy: TrustPolicy,
    *,
    as_of: int | None = None,
    accept_unwitnessed_tail: bool = False,
    progress: Callable[[int], None] | None = None,
    parallel: bool = True,
) -> VerifyReport:
    """Verify an export against ``policy`` (steps and the witnessed-verdict rule
    in the module docstring).

    The report's totals are those that stood at the last witnessed checkpoint,
    or at ``as_of``, which must be the size of a witnessed checkpoint
    (CheckpointError otherwise, FormatError if negative); verification still
    covers everything. Events after the last witnessed checkpoint are an
    UnwitnessedError unless ``accept_unwitnessed_tail``; either way their effect
    on the totals is reported apart (``tail_effect``). ``parallel`` runs each
    event's decoding, canonical check, signature and leaf hash in worker
    processes (``WORKERS``, one per core; _WorkersAhead), or with no workers
    checks signatures a chunk ahead on a second thread (_SignaturesAhead); the
    verdicts and messages are the same either way, and without it.
    """
    if as_of is not None and as_of < 0:
        raise FormatError(f"--as-of {as_of}: a checkpoint size is not negative")
    report = VerifyReport(
        as_of=as_of,
        quorum=policy.tlog.describe(),
        quorum_none=policy.tlog.unwitnessed,
        tail_accepted=accept_unwitnessed_tail,
    )
    witnessed_totals: dict[str, dict[str, Any]] = {}
    as_of_totals: dict[str, dict[str, Any]] | None = None
    replay = Replay(policy, report)
    expected_leaf = 0
    checkpoint_records = 0
    ended = False
    seen_header = False
    records = read_records(stream)
    checked: Iterator[Checked]
    workers = _workers() if parallel else 0
    if workers:
        checked = _WorkersAhead(workers, replay.public_key).records(records)
    elif parallel:
        checked = ((r, v, None) for r, v in _SignaturesAhead(replay).records(records))
    else:
        checked = ((r, None, None) for r in records)
    try:
        for record, verdict, prepared in checked:
            kind = record["type"]
            if ended:
                report.fail(FormatError("records after the end record"))
                break
            if not seen_header and kind != "header":
                report.fail(FormatError("the export does not start with its header record"))
                seen_header = True
            if kind == "header":
                if seen_header or expected_leaf or checkpoint_records:
                    report.fail(FormatError("a second header record"))
                elif record.get("trust") != trust_record(policy.roots):  # (1)
                    report.fail(
                        FormatError("the export's trust roots are not the ones given with --trust")
                    )
                seen_header = True
            elif kind == "event":
                leaf = record.get("leaf")
                raw = record.get("envelope")
                if leaf != expected_leaf or not isinstance(raw, bytes):
                    report.fail(
                        FormatError(f"event record {leaf!r} where leaf {expected_leaf} was due"),
                        leaf=expected_leaf,
                    )
                replay.apply(
                    expected_leaf, raw if isinstance(raw, bytes) else b"", verdict, prepared
                )
                expected_leaf += 1
                if progress is not None:
                    progress(1)
            elif kind == "checkpoint":
                checkpoint_records += 1
                note = record.get("note")
                if replay.checkpoint(note if isinstance(note, bytes) else b""):
                    witnessed_totals = replay.totals()
                    if replay.last_size == as_of:
                        as_of_totals = witnessed_totals
            else:
                ended = True
                counted = (record.get("events"), record.get("checkpoints"))
                if counted != (expected_leaf, checkpoint_records):
                    report.fail(
                        FormatError(
                            f"end record counts {counted[0]} events and {counted[1]} checkpoints; "
                            f"the export holds {expected_leaf} and {checkpoint_records}"
                        )
                    )
    except FormatError as e:
        report.fail(e)
    if not ended:
        report.fail(FormatError("the export has no end record: it was cut short"))
    report.leaves = expected_leaf
    if as_of is not None and as_of_totals is None:
        sizes = ", ".join(str(c["size"]) for c in report.checkpoints if c["witnessed"])
        raise CheckpointError(
            f"--as-of {as_of}: the export has no witnessed checkpoint of that size "
            f"(witnessed: {sizes or 'none'})"
        )
    if report.tail:
        report.tail_effect = _tail_effect(replay.totals(), witnessed_totals)
        if not accept_unwitnessed_tail:
            report.fail(
                UnwitnessedError(
                    f"{report.tail:,} events (leaves {report.witnessed} to {report.leaves - 1}) "
                    "lie after the last checkpoint that meets the trust policy"
                )
            )
    report.totals = witnessed_totals if as_of_totals is None else as_of_totals
    return report
