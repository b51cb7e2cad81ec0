"""Dispute dossiers: one sheet or one contest, self-contained and checkable offline.

A dossier (docs/format.md, "Dossier") is a JSON document holding everything a
court, a Bawaslu office or a candidate's lawyer needs to check one sheet
(``sheet:<contest>:<TPS>``) or one whole contest (``<office>-<region>``) with
nothing but the trust roots:

* the events of the election stream (the election and every contest definition);
* the events of the sheet, or of every sheet and recap stream of the contest;
* the key streams (grant, and revoke if any) of every signer of those events,
  and recursively of their granters, up to the trust roots;
* for each event: its leaf index and an RFC 9162 inclusion proof to ONE signed
  checkpoint, which the dossier carries (with its witness cosignatures); in
  version 2 as the event's c2sp.org/tlog-proof, which anyone can take out of the
  dossier and check alone (``ledger proof verify``);
* the trust roots the ledger pinned.

Every stream is included whole, from seq 1 up to the checkpoint, so the
verifier replays it exactly as an export verifier would (ledger.checks.verify).

:func:`verify_dossier` is a pure function of the dossier's bytes and a
:class:`~ledger.checks.verify.TrustPolicy`; the builder, which reads a live
ledger, is ledger.log.dossier.build_dossier, and what both agree on is
ledger.format.dossier.

What a dossier cannot prove: that no event is missing from it. An event of an
included stream left out at the end (after its last included seq, before the
checkpoint), or a revocation of a signer left out, is invisible without the rest
of the log; the export verifier (``ledger verify``) is what proves completeness.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from ledger.checks.margin import MarginResult, check_margin, check_petition
from ledger.checks.verify import Replay, TrustPolicy, VerifyReport
from ledger.errors import (
    FormatError,
    InclusionProofError,
    LedgerError,
    ProofError,
    SchemaError,
    UnknownEventError,
    UnwitnessedError,
)
from ledger.format import merkle
from ledger.format.aftercount import AFTERCOUNT_KINDS, summary
from ledger.format.authority import Signer
from ledger.format.dossier import (
    DOC_FIELDS,
    DOSSIER_FORMAT,
    DOSSIER_FORMAT_V1,
    event_fields,
    parse_subject,
)
from ledger.format.jsoninput import MAX_DOSSIER_SIZE, load_json
from ledger.format.note import Checkpoint, parse_note
from ledger.format.regions import parse_stream_id
from ledger.format.schedule import check_schedule, filing_deadline
from ledger.format.schema import Contest, tally_flags, voted_total
from ledger.format.statement import Envelope
from ledger.format.tlog_wire import TlogProofFile
from ledger.format.trust import trust_from_json
from ledger.log.proofs import open_checkpoint

__all__ = ["DOSSIER_FORMAT", "DossierReport", "parse_subject", "verify_dossier"]


def _in_subject(stream: str, subject: str) -> bool:
    """Whether a sheet/recap stream belongs to the dossier's subject."""
    kind, contest = parse_subject(subject)
    if kind == "sheet":
        return stream == subject
    return stream.startswith((f"sheet:{contest}:", f"recap:{contest}:")) or (
        stream == f"result:{contest}" and not subject.startswith("sheet:")
    )


@dataclass
class DossierReport(VerifyReport):
    """What a dossier proves (see :func:`verify_dossier`), and what failed, exactly where."""

    subject: str = ""
    checkpoint_size: int | None = None
    checkpoint_root: str = ""
    cosigned_by: list[str] = field(default_factory=list)
    checkpoint_witnessed: bool = False
    sheets: list[dict[str, Any]] = field(default_factory=list)
    recaps: list[dict[str, Any]] = field(default_factory=list)
    determination: dict[str, Any] | None = None  # the contest's latest, if in the dossier
    margin: MarginResult | None = None
    margin_error: str = ""
    # The replayed state, for callers that check more against it (ledger.checks.report).
    signers: dict[bytes, Signer] = field(default_factory=dict, repr=False, compare=False)
    contests: dict[str, Contest] = field(default_factory=dict, repr=False, compare=False)
    leaf_of: dict[bytes, int] = field(default_factory=dict, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out.update(
            subject=self.subject,
            checkpoint={
                "size": self.checkpoint_size,
                "root": self.checkpoint_root,
                "cosigned_by": self.cosigned_by,
                "witnessed": self.checkpoint_witnessed,
            },
            sheets=self.sheets,
            recaps=self.recaps,
            determination=self.determination,
            margin=None if self.margin is None else self.margin.to_json(),
        )
        if self.margin_error:
            out["margin_error"] = self.margin_error
        return out


@dataclass
class _Item:
    leaf: int
    raw: bytes
    proof: list[bytes]
    envelope: Envelope | None


def _where(envelope: Envelope, leaf: int) -> dict[str, Any]:
    st = envelope.statement
    return {"leaf": leaf, "stream": st.stream, "seq": st.seq, "event_hash": envelope.hash.hex()}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse(data: bytes, policy: TrustPolicy, report: DossierReport) -> tuple[str, list[_Item]]:
    """Step (1). Returns the checkpoint note text and the events (FormatError if unusable)."""
    doc = load_json(data, "dossier", max_size=MAX_DOSSIER_SIZE)
    fields = event_fields(doc.get("format")) if isinstance(doc, dict) else None
    if fields is None:
        raise FormatError(
            f'not a dossier (its "format" must be {DOSSIER_FORMAT!r} or {DOSSIER_FORMAT_V1!r})'
        )
    if sorted(doc) != sorted(DOC_FIELDS):
        raise FormatError(f"a dossier has exactly the fields {', '.join(DOC_FIELDS)}")
    subject, note, events = doc["subject"], doc["checkpoint"], doc["events"]
    if not isinstance(subject, str) or not isinstance(note, str) or not isinstance(events, list):
        raise FormatError("dossier subject and checkpoint must be strings, events a list")
    try:
        parse_subject(subject)
    except SchemaError as e:
        raise FormatError(f"dossier subject: {e}") from e
    report.subject = subject
    try:
        trust = trust_from_json(json.dumps(doc["trust"]))
    except LedgerError as e:
        raise FormatError(f"dossier trust roots: {e}") from e
    if trust != policy.roots:
        report.fail(FormatError("the dossier's trust roots are not the ones given with --trust"))
    items: list[_Item] = []
    previous = -1
    for n, item in enumerate(events):
        if not isinstance(item, dict) or sorted(item) != sorted(fields):
            report.fail(FormatError(f"events[{n}] must have exactly {', '.join(fields)}"))
            continue
        leaf = item["leaf"]
        if not _is_int(leaf) or leaf <= previous:
            report.fail(
                FormatError(f"events[{n}]: leaf {leaf!r} does not follow leaf {previous}"),
                leaf=leaf if _is_int(leaf) else None,
            )
            continue
        previous = leaf
        try:
            if "tlog_proof" in fields:
                raw, proof = _tlog_proof_item(item["tlog_proof"], leaf, note)
            else:
                text = item["envelope"]
                raw = base64.b64decode(text, validate=True)
                if base64.b64encode(raw).decode() != text:
                    raise FormatError("the envelope is not canonical base64")
                if not isinstance(item["proof"], list):
                    raise TypeError("proof must be a list of hex hashes")
                proof = [bytes.fromhex(h) for h in item["proof"]]
        except (TypeError, ValueError, binascii.Error) as e:
            report.fail(FormatError(f"events[{n}]: bad envelope or proof encoding: {e}"), leaf=leaf)
            continue
        except FormatError as e:
            report.fail(e, leaf=leaf)
            continue
        try:
            envelope: Envelope | None = Envelope.parse(raw)
        except LedgerError as e:
            report.fail(e, leaf=leaf)
            envelope = None
        if envelope is not None:
            st = envelope.statement
            copies = (item["stream"], item["seq"], item["event_hash"])
            if copies != (st.stream, st.seq, envelope.hash.hex()):
                report.fail(
                    FormatError(f"stream/seq/event_hash {copies} are not those of the envelope"),
                    **_where(envelope, leaf),
                )
        items.append(_Item(leaf, raw, proof, envelope))
    return note, items


def _tlog_proof_item(text: Any, leaf: int, note: Any) -> tuple[bytes, list[bytes]]:
    """A version 2 event's tlog-proof (format.md 8.16): its envelope and proof lines.

    FormatError unless it parses, carries the envelope as ``extra``, proves ``leaf``
    (its ``index``), and holds exactly the dossier's checkpoint: every event of a
    dossier is proved against its one checkpoint, checked once (step 2).
    """
    if not isinstance(text, str):
        raise TypeError("tlog_proof must be the text of a tlog-proof")
    parsed = TlogProofFile.parse(text.encode("utf-8"))
    if parsed.extra is None:
        raise FormatError("the tlog-proof has no extra line: it must carry the envelope")
    if parsed.index != leaf:
        raise FormatError(f"the tlog-proof is of leaf {parsed.index}, not {leaf}")
    if not isinstance(note, str) or parsed.checkpoint != note.encode("utf-8"):
        raise FormatError("the tlog-proof's checkpoint is not the dossier's checkpoint")
    return parsed.extra, list(parsed.proof)


def _check_checkpoint(
    note_text: str, policy: TrustPolicy, report: DossierReport
) -> Checkpoint | None:
    """Step (2): the log signature, the origin, and the trust policy's quorum."""
    note = note_text.encode("utf-8")
    try:
        unverified = Checkpoint.parse(parse_note(note).text)
    except LedgerError as e:
        report.fail(e, checkpoint=None)
        return None
    size = unverified.size
    report.checkpoint_size = size
    report.checkpoint_root = unverified.root_hash.hex()
    try:
        open_checkpoint(note, policy.log)
        cosigners = policy.tlog.verify_quorum(note, policy.log)
    except UnwitnessedError as e:
        report.fail(e, checkpoint=size)
        cosigners = policy.tlog.cosigners(note, policy.log)
    except LedgerError as e:
        report.fail(e, checkpoint=size)
        cosigners = ()
    else:
        report.checkpoint_witnessed = True
        report.witnessed = size
    report.cosigned_by = [w.name for w in cosigners]
    report.checkpoints.append(
        {"size": size, "cosigned_by": report.cosigned_by, "witnessed": report.checkpoint_witnessed}
    )
    return unverified


class _SheetView:
    """What step (5) reports of one sheet, from its accepted events."""

    def __init__(self, stream: str) -> None:
        _, self.contest, self.tps = parse_stream_id(stream)
        self.stream = stream
        self.events = 0
        self.effective: dict[str, Any] | None = None
        self.corrected = False
        self.attestations: list[dict[str, Any]] = []
        # Orders, recommendations and follow-ups in the sheet (format.md 5.11-5.13).
        self.process: list[dict[str, Any]] = []

    def to_json(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "contest": self.contest,
            "tps": self.tps,
            "events": self.events,
            "effective": self.effective,
            "corrected": self.corrected,
            "attestations": self.attestations,
            "process": self.process,
        }


def _observe(
    envelope: Envelope,
    leaf: int,
    replay: Replay,
    sheets: dict[str, _SheetView],
    recaps: dict[str, dict[str, Any]],
) -> None:
    """Record an accepted event for step (5)."""
    st = envelope.statement
    if st.kind in AFTERCOUNT_KINDS and st.stream.startswith("sheet:"):
        sheet = sheets.setdefault(st.stream, _SheetView(st.stream))
        sheet.events += 1
        sheet.process.append(
            {
                "leaf": leaf,
                "hash": envelope.hash.hex(),
                "signer": replay.signers[st.signer].describe(),
                **summary(st),
            }
        )
    if st.kind == "attest" and st.stream in recaps:  # at a recap plenary (version 2)
        signer = replay.signers[st.signer]
        recaps[st.stream].setdefault("attestations", []).append(
            {
                "leaf": leaf,
                "hash": envelope.hash.hex(),
                "signer": st.signer.hex(),
                "role": signer.role,
                "pair": signer.pair,
                "verdict": st.body["verdict"],
                "event": st.body["event"].hex(),
                "reason": st.body.get("reason", ""),
            }
        )
    elif st.kind in ("count", "correct", "attest"):
        sheet = sheets.setdefault(st.stream, _SheetView(st.stream))
        sheet.events += 1
        if st.kind == "attest":
            signer = replay.signers[st.signer]
            sheet.attestations.append(
                {
                    "leaf": leaf,
                    "hash": envelope.hash.hex(),
                    "signer": st.signer.hex(),
                    "role": signer.role,
                    "pair": signer.pair,
                    "label": signer.label,
                    "verdict": st.body["verdict"],
                    "event": st.body["event"].hex(),
                    "reason": st.body.get("reason", ""),
                }
            )
            return
        tally = st.body["tally"]
        sheet.corrected = sheet.corrected or st.kind == "correct"
        sheet.effective = {
            "leaf": leaf,
            "hash": envelope.hash.hex(),
            "kind": st.kind,
            "signer": replay.signers[st.signer].describe(),
            "votes": dict(sorted(tally["votes"].items(), key=lambda kv: int(kv[0]))),
            "valid": tally["valid"],
            "invalid": tally["invalid"],
            "voted": voted_total(tally),
            "flags": [message for _, message in tally_flags(tally)],
            # The order a count carries out (a re-vote, delayed vote or recount), if any.
            "order": st.body["order"].hex() if "order" in st.body else None,
        }
    elif st.kind == "determination":
        recaps[st.stream] = {
            "stream": st.stream,
            "leaf": leaf,
            "hash": envelope.hash.hex(),
            "decree": st.body["decree"],
            "announced": st.body["announced"],
            "region": parse_stream_id(st.stream)[2],
            "totals": st.body["totals"],
            "outcome": st.body["outcome"],
            "elected": st.body.get("elected"),
        }
    elif st.kind == "recap":
        _, contest, region = parse_stream_id(st.stream)
        recaps[st.stream] = {
            "stream": st.stream,
            "contest": contest,
            "region": region,
            "leaf": leaf,
            "hash": envelope.hash.hex(),
            "signer": replay.signers[st.signer].describe(),
            "totals": st.body["totals"],
            "admin": st.body.get("admin"),  # the D.Hasil's block (version 2)
            # Attestations at the plenary (version 2), kept across the stream's recaps.
            "attestations": recaps.get(st.stream, {}).get("attestations", []),
        }


def verify_dossier(
    data: bytes,
    policy: TrustPolicy,
    *,
    population: int | None = None,
    petitioner: int | None = None,
) -> DossierReport:
    """Verify a dossier against ``policy``, trusting nothing else. Pure.

    Steps (labelled ``# (n)`` below); each failure names its event (leaf, stream,
    seq, hash) or the checkpoint, and verification goes on, so one report lists
    everything. ``ok`` only if every step holds:

    1. parse: UTF-8 JSON of the documented shape; the trust roots in the file
       equal the policy's; leaves strictly ascending; envelopes canonical base64
       of canonical envelopes; each event's stream/seq/event_hash copies match;
       the subject is a sheet stream id or a contest id;
    2. the checkpoint carries a valid signature by the log key, its origin is the
       log's; cosignatures by the policy's witnesses verify and meet its quorum
       (ledger.format.policy; UnwitnessedError), so every event the dossier vouches for
       lies inside a witnessed checkpoint;
    3. every event's leaf hash with its inclusion proof reaches the checkpoint's
       root at the checkpoint's size (RFC 9162), else InclusionProofError;
    4. the events are replayed in leaf order with the export verifier's rules
       (ledger.checks.verify): canonical decoding, election, signer resolved by a grant
       chain from the roots, Ed25519 signature, body schema, authority
       (ledger.format.authority.authorize) with revocations in log order, stream chains
       from seq 1 (seq and prev), references; every sheet/recap stream belongs to
       the subject, and the subject's sheet (or contest definition) is present;
    5. the effective tally of each sheet (its latest count or correction), and for
       a contest the totals and, given ``population``, the Article 158 margin
       (ledger.checks.margin): once the KPU's determination is in the dossier,
       between its winner and ``petitioner`` (default: the strongest other
       column) on the determined totals, as the Court measures it; before, the
       top two of the sheets' sums, said to be only that.
    """
    report = DossierReport(quorum_none=policy.tlog.unwitnessed)
    try:
        note, items = _parse(data, policy, report)  # (1)
    except FormatError as e:
        report.fail(e)
        return report
    checkpoint = _check_checkpoint(note, policy, report)  # (2)
    report.leaves = len(items)
    if checkpoint is not None:
        for item in items:  # (3)
            try:
                merkle.verify_inclusion(
                    merkle.leaf_hash(item.raw),
                    item.leaf,
                    checkpoint.size,
                    item.proof,
                    checkpoint.root_hash,
                )
            except ProofError as e:
                where = _where(item.envelope, item.leaf) if item.envelope else {"leaf": item.leaf}
                report.fail(
                    InclusionProofError(
                        f"leaf {item.leaf} does not reach the checkpoint root of size "
                        f"{checkpoint.size}: {e}"
                    ),
                    **where,
                )

    replay = Replay(policy, report)  # (4)
    sheets: dict[str, _SheetView] = {}
    recaps: dict[str, dict[str, Any]] = {}
    for item in items:
        envelope = item.envelope
        if envelope is None:
            continue  # already reported in (1)
        st = envelope.statement
        if st.stream.startswith(("sheet:", "recap:", "result:")) and not _in_subject(
            st.stream, report.subject
        ):
            report.fail(
                FormatError(f"stream {st.stream} is not part of {report.subject}"),
                **_where(envelope, item.leaf),
            )
        replay.apply(item.leaf, item.raw)
        if replay.heads.get(st.stream) == (st.seq, envelope.hash):  # accepted
            report.leaf_of[envelope.hash] = item.leaf
            _observe(envelope, item.leaf, replay, sheets, recaps)
    report.signers = dict(replay.signers)
    report.contests = dict(replay.contests)
    kind, contest_id = parse_subject(report.subject)
    if contest_id not in replay.contests:
        report.fail(UnknownEventError(f"the dossier does not define contest {contest_id}"))
    if kind == "sheet" and report.subject not in sheets:
        report.fail(UnknownEventError(f"the dossier holds no verified event of {report.subject}"))

    report.sheets = [sheets[s].to_json() for s in sorted(sheets)]  # (5)
    report.totals = replay.totals()
    determination = recaps.pop(f"result:{contest_id}", None)
    if determination is not None:
        _add_filing_deadline(determination, items, report)
    report.determination = determination
    report.recaps = [recaps[s] for s in sorted(recaps)]
    if kind == "contest" and population is not None and determination is not None:
        _petition_margin(report, replay.contests[contest_id], determination, population, petitioner)
    elif kind == "contest" and population is not None:
        contest = replay.contests.get(contest_id)
        total = report.totals.get(contest_id, {}).get("total")
        if contest is None or total is None:
            report.margin_error = f"no verified sheet of {contest_id}: no margin"
        else:
            try:
                report.margin = replace(
                    check_margin(contest.office, total["votes"], population, valid=total["valid"]),
                    basis="no determination in the dossier: the top two of the sums of the "
                    "sheets, which are not the figures the Court measures (the determined ones)",
                    kolom_kosong=contest.kolom_kosong,
                )
            except SchemaError as e:
                report.margin_error = str(e)
    return report


def _petition_margin(
    report: DossierReport,
    contest: Contest,
    determination: dict[str, Any],
    population: int,
    petitioner: int | None,
) -> None:
    """Article 158 on the determined totals, between the winner and the petitioner."""
    totals = determination["totals"]
    votes = {int(n): v for n, v in totals["votes"].items()}
    winner = max(votes, key=lambda n: (votes[n], -n))
    if determination["elected"] is not None:
        winner = determination["elected"]
    if petitioner is None:
        others = [n for n in votes if n != winner]
        petitioner = max(others, key=lambda n: (votes[n], -n))
    basis = (
        f"the totals KPU determined (decree {determination['decree']}, position "
        f"{determination['leaf']}): the Court measures the margin between the winner and "
        f"the petitioner on the determined valid votes"
    )
    try:
        report.margin = check_petition(
            contest.office,
            votes,
            population,
            valid=totals["valid"],
            winner=winner,
            petitioner=petitioner,
            basis=basis,
            kolom_kosong=contest.kolom_kosong,
        )
    except SchemaError as e:
        report.margin_error = str(e)


def _add_filing_deadline(
    determination: dict[str, Any], items: list[Any], report: DossierReport
) -> None:
    """The last moment to petition the Court (format.md 5.14), with the holidays of
    the schedule the dossier's verified election statement carries."""
    holidays: frozenset[date] = frozenset()
    for item in items:
        envelope = item.envelope
        if envelope is None or envelope.statement.kind != "election":
            continue
        if report.leaf_of.get(envelope.hash) is not None and "schedule" in envelope.statement.body:
            holidays = check_schedule(envelope.statement.body["schedule"]).holidays
    day, last = filing_deadline(determination["announced"], determination["region"], holidays)
    determination["filing_deadline"] = last
    determination["filing_deadline_day"] = day.isoformat()
    determination["holidays_known"] = bool(holidays)
