"""Bawaslu's checks of an export, and of single statements and receipts handed over.

:func:`bawaslu_report`
    The signature report of one region, from an export: the export's verdict
    (ledger.checks.verify.verify_export, unchanged), then a second pass through
    projections.fold with a store that keeps only the region's rows, giving the
    sheets without a PTPS attestation, without saksi attestations (and which
    pairs are missing), the objections nobody answered, and which keys signed
    what in the region.

:func:`verify_statement`
    One envelope handed over outside the ledger (a file, or the base64 text of a
    QR code): canonical form, election, signature, schema and authority, with
    the signer's grant chain taken from a dossier or an export (verified whole).

:func:`verify_receipt_text`
    A receipt the log signed (ledger.log.proofs.Receipt), with the trust roots' log key.

All three are pure functions of bytes and a TrustPolicy.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections import Counter
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import IO, Any

from ledger.checks.dossier import verify_dossier
from ledger.checks.verify import Replay, TrustPolicy, VerifyReport, verify_export
from ledger.errors import (
    ElectionMismatchError,
    FormatError,
    LedgerError,
    RevokedKeyError,
    UnknownEventError,
    UnknownSignerError,
)
from ledger.format.authority import BAWASLU_ROOT, KPU_ROOT, Signer, authorize, root_signer
from ledger.format.exportfile import MAGIC, read_records
from ledger.format.regions import covers, level_of, parse_stream_id, stream_contest
from ledger.format.schema import Contest, check_body, contest_from_body
from ledger.format.statement import Envelope, key_id
from projections import views
from projections.fold import Projector
from projections.store import Entity, EventRow, MemoryStore

__all__ = [
    "RegionStore",
    "StatementReport",
    "bawaslu_report",
    "verify_statement",
]

# Entity kinds whose place says whether they lie in the region; the election and
# the contests every region needs.
_PLACED = ("sheet", "recap", "objection", "tps")


class RegionStore(MemoryStore):
    """A MemoryStore that keeps only what a region's report needs.

    Event rows, sheets, recaps, objections, TPS and violations are kept only for
    places within ``region``; signers only when their scope overlaps the region
    (a key can act only within its scope, so one whose scope is disjoint from the
    region never signs there in a verified export, nor grants a key that does).
    Memory grows with the region, plus the keys above it, not with the country.
    """

    def __init__(self, region: str) -> None:
        super().__init__()
        self.region = region

    def _within(self, place: str) -> bool:
        return place != "" and covers(self.region, place)

    def _overlaps(self, scope: str) -> bool:
        return covers(scope, self.region) or covers(self.region, scope)

    def put(
        self, kind: str, key: str, value: Entity, *, contest: str = "", place: str = ""
    ) -> None:
        if kind in _PLACED and not self._within(place):
            return
        if kind == "signer" and not self._overlaps(place):
            return
        if kind == "violation" and not self._within(_stream_place(value.get("stream", ""))):
            return
        super().put(kind, key, value, contest=contest, place=place)

    def add_event(self, row: EventRow) -> None:
        if self._within(row["place"]):
            super().add_event(row)
        else:
            self._position = row["leaf"] + 1


def _stream_place(stream: str) -> str:
    try:
        parts = parse_stream_id(stream)
    except LedgerError:
        return ""
    return parts[2] if len(parts) == 3 else ""


# --- the signature report ----------------------------------------------------------------


def _sheet_row(sheet: Entity) -> dict[str, Any]:
    return {"stream": sheet["stream"], "contest": sheet["contest"], "tps": sheet["tps"]}


def _signer_entity(projector: Projector, signer_hex: str) -> Entity:
    return projector.signer(signer_hex) or {
        "role": "unknown",
        "scope": "",
        "label": "",
        "contest": None,
        "pair": None,
        "revoked": None,
    }


def bawaslu_report(
    stream: IO[bytes], policy: TrustPolicy, region: str, *, accept_unwitnessed_tail: bool = False
) -> dict[str, Any]:
    """The signature report of ``region`` from an export (a seekable binary stream).

    ``verification`` is verify_export's verdict on the whole export (an
    unwitnessed tail fails it unless ``accept_unwitnessed_tail``); the rest is
    computed from a second pass over the events of the witnessed prefix (those
    inside the last checkpoint that meets the trust policy), for sheets whose
    TPS lies within ``region``:

    * ``without_ptps``: sheets with no attestation (agree or object) by a PTPS;
    * ``without_saksi``: sheets with no saksi attestation at all;
    * ``missing_pairs``: sheets where a candidate pair's saksi did not attest
      (agree or object), with the pairs that did and did not (the kolom kosong
      has no saksi and is never missing);
    * ``standing_objections``: objections answered neither by a later correction
      nor by a recap decision (projections.views finding ``unanswered-objection``);
    * ``signers``: per key id that signed an event at a place within the region:
      role, scope, label, standing, and its statements there counted by kind;
    * ``findings``: every finding kind of projections.views within the region, counted.

    If ``verification.ok`` is false the rest comes from an export that does not
    verify: evidence to look at, not results to rely on.
    """
    if region:
        level_of(region)  # SchemaError unless a region code or TPS id
    if not stream.seekable():
        raise FormatError("the signature report reads the export twice: give a file, not a pipe")
    start = stream.tell()
    verdict = verify_export(stream, policy, accept_unwitnessed_tail=accept_unwitnessed_tail)
    stream.seek(start)
    failed_leaves = {
        f.leaf for items in verdict.failures.values() for f in items if f.leaf is not None
    }
    store = RegionStore(region)
    projector = Projector(policy.roots, store)
    leaf = 0
    with suppress(FormatError):  # an unreadable rest is reported by the verdict
        for record in read_records(stream):
            if record["type"] == "end" or leaf >= verdict.witnessed:
                break
            if record["type"] != "event":
                continue
            raw = record.get("envelope")
            if isinstance(raw, bytes) and leaf not in failed_leaves:
                with suppress(LedgerError):  # reported by the verdict
                    projector.apply(leaf, raw)
            leaf += 1

    sheets = store.scan("sheet", within=region)
    without_ptps, without_saksi, missing_pairs = [], [], []
    for sheet in sheets:
        attestations = sheet["attestations"]
        if not any(a["role"] == "ptps" for a in attestations):
            without_ptps.append(_sheet_row(sheet))
        contest = store.get("contest", sheet["contest"])
        kolom_kosong = contest_from_body(contest["body"]).kolom_kosong if contest else None
        pairs = [n for n in (contest["pairs"] if contest else []) if n != kolom_kosong]
        attested = sorted({a["pair"] for a in attestations if a["role"] == "saksi"})
        missing = [n for n in pairs if n not in attested]
        if not attested:
            without_saksi.append({**_sheet_row(sheet), "missing_pairs": missing})
        if missing:
            missing_pairs.append(
                {**_sheet_row(sheet), "attested_pairs": attested, "missing_pairs": missing}
            )

    found = views.findings(store, within=region)
    standing = []
    for finding in found:
        if finding["kind"] != "unanswered-objection":
            continue
        objection_hash, objected = finding["events"]
        # A sheet's objection, or one at a recap plenary (format.md 5.6, version 2).
        where = store.get("sheet", finding["stream"]) or store.get("recap", finding["stream"])
        attestation: dict[str, Any] = next(
            (a for a in (where or {}).get("attestations", []) if a["hash"] == objection_hash), {}
        )
        signer = _signer_entity(projector, attestation.get("signer", ""))
        standing.append(
            {
                "stream": finding["stream"],
                "objection": objection_hash,
                "event": objected,
                "leaf": attestation.get("leaf"),
                "signer": attestation.get("signer"),
                "role": attestation.get("role"),
                "pair": attestation.get("pair"),
                "label": signer["label"],
                "reason": attestation.get("reason", ""),
            }
        )

    by_signer: dict[str, Counter[str]] = {}
    for row in store.events():  # the store keeps only the region's rows
        by_signer.setdefault(row["signer"], Counter())[row["kind"]] += 1
    signers = []
    for signer_hex, kinds in sorted(by_signer.items()):
        entity = _signer_entity(projector, signer_hex)
        signers.append(
            {
                "key_id": signer_hex,
                "role": entity["role"],
                "scope": entity["scope"],
                "label": entity["label"],
                "contest": entity["contest"],
                "pair": entity["pair"],
                "revoked": entity["revoked"] is not None,
                "statements": dict(sorted(kinds.items())),
                "total": sum(kinds.values()),
            }
        )

    latest = verdict.checkpoints[-1] if verdict.checkpoints else None
    return {
        "region": region,
        "verification": {
            "ok": verdict.ok,
            "leaves": verdict.leaves,
            "failures": dict(sorted(verdict.failure_counts.items())),
            "checkpoint": latest,
            "witnessed": verdict.witnessed,
            "quorum_none": verdict.quorum_none,
            "unwitnessed_tail": verdict.tail,
        },
        "sheets": {
            "total": len(sheets),
            "counted": sum(1 for s in sheets if s["tallies"]),
        },
        "without_ptps": without_ptps,
        "without_saksi": without_saksi,
        "missing_pairs": missing_pairs,
        "standing_objections": standing,
        "signers": signers,
        "findings": dict(sorted(Counter(f["kind"] for f in found).items())),
    }


# --- one statement ------------------------------------------------------------------------


@dataclass
class StatementReport:
    """What :func:`verify_statement` found about one envelope."""

    event_hash: str = ""
    stream: str = ""
    seq: int | None = None
    kind: str = ""
    signer: str = ""  # Signer.describe() once resolved, else the key id
    checked: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (error class, message)
    leaf: int | None = None  # where the chain source's log holds this very envelope
    chain: str = ""  # "", "dossier" or "export"

    @property
    def ok(self) -> bool:
        return not self.failures and bool(self.checked)

    def fail(self, error: LedgerError, prefix: str = "") -> None:
        self.failures.append((type(error).__name__, f"{prefix}{error}"))

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "event_hash": self.event_hash,
            "stream": self.stream,
            "seq": self.seq,
            "kind": self.kind,
            "signer": self.signer,
            "chain": self.chain or None,
            "leaf": self.leaf,
            "checked": self.checked,
            "unchecked": self.unchecked,
            "failures": [{"error": name, "message": message} for name, message in self.failures],
        }


def _decode_envelope(data: bytes) -> Envelope:
    """Raw envelope bytes, or their base64 text (standard or URL-safe, as from a QR code)."""
    try:
        return Envelope.parse(data)
    except FormatError as raw_error:
        text = b"".join(data.split())  # QR readers may add line breaks
        if not text or not all(c < 0x80 for c in text):
            raise raw_error from None
        for alphabet in (None, b"-_"):
            padded = text + b"=" * (-len(text) % 4)
            try:
                decoded = base64.b64decode(padded, altchars=alphabet, validate=True)
            except (binascii.Error, ValueError):
                continue
            return Envelope.parse(decoded)
        raise FormatError("neither an envelope nor the base64 text of one") from raw_error


@dataclass
class _ChainState:
    signers: Mapping[bytes, Signer]
    contests: dict[str, Contest]
    leaf_of: dict[bytes, int]
    failures: list[tuple[str, str]]


def _failures(report: VerifyReport) -> list[tuple[str, str]]:
    return [
        (name, f"{f.where()}: {f.message}")
        for name, items in report.failures.items()
        for f in items
    ]


def _chain_from_export(chain: bytes, policy: TrustPolicy) -> _ChainState:
    # The chain source, verified whole; its state, for this statement, is that of
    # its witnessed prefix only (an unwitnessed tail vouches for nothing).
    verdict = verify_export(io.BytesIO(chain), policy, accept_unwitnessed_tail=True)
    replay = Replay(policy, VerifyReport())
    leaf_of: dict[bytes, int] = {}
    leaf = 0
    for record in read_records(io.BytesIO(chain)):
        if leaf >= verdict.witnessed:
            break
        if record["type"] == "event":
            raw = record.get("envelope")
            if isinstance(raw, bytes):
                replay.apply(leaf, raw)
                try:
                    envelope = Envelope.parse(raw)
                except LedgerError:
                    envelope = None
                if envelope is not None and replay.heads.get(envelope.statement.stream) == (
                    envelope.statement.seq,
                    envelope.hash,
                ):
                    leaf_of[envelope.hash] = leaf
            leaf += 1
    return _ChainState(replay.signers, replay.contests, leaf_of, _failures(verdict))


def _chain_from_dossier(chain: bytes, policy: TrustPolicy) -> _ChainState:
    report = verify_dossier(chain, policy)
    return _ChainState(report.signers, report.contests, report.leaf_of, _failures(report))


def verify_statement(
    data: bytes, policy: TrustPolicy, *, chain: bytes | None = None
) -> StatementReport:
    """Verify ONE signed envelope handed over outside the ledger. Pure.

    ``data`` is the envelope's bytes or its base64 text. Checks, in order:
    (1) canonical envelope and statement (docs/format.md sections 2-4);
    (2) the election is the trust roots'; (3) the signer: a trust root, or a key
    granted in ``chain`` (a dossier or an export, verified whole: any failure of
    it is a failure here); (4) the Ed25519 signature; (5) if ``chain`` holds
    this very envelope, it was replayed there in log order (chain, references
    and authority at its place in the log) and that verdict stands; otherwise
    the body schema and the signer's authority (role, scope, standing now) are
    checked against the chain's state; its stream position (seq/prev) cannot be
    checked outside the log, and ``checked`` says so.
    """
    report = StatementReport()
    try:
        envelope = _decode_envelope(data)  # (1)
    except LedgerError as e:
        report.fail(e)
        return report
    st = envelope.statement
    report.event_hash, report.stream, report.seq, report.kind = (
        envelope.hash.hex(),
        st.stream,
        st.seq,
        st.kind,
    )
    report.signer = st.signer.hex()
    report.checked.append("canonical envelope and statement")
    if st.election != policy.roots.election:  # (2)
        report.fail(
            ElectionMismatchError(
                f"statement is for election {st.election!r}, not {policy.roots.election!r}"
            )
        )
        return report
    roots = policy.roots
    signers = {
        key_id(roots.kpu_root): root_signer(roots.kpu_root, KPU_ROOT),
        key_id(roots.bawaslu_root): root_signer(roots.bawaslu_root, BAWASLU_ROOT),
    }
    state = _ChainState(signers, {}, {}, [])
    if chain is not None:
        try:
            if chain.startswith(MAGIC):
                report.chain = "export"
                state = _chain_from_export(chain, policy)
            else:
                report.chain = "dossier"
                state = _chain_from_dossier(chain, policy)
        except LedgerError as e:
            report.fail(e, "chain: ")
            return report
        for name, message in state.failures:
            report.failures.append((name, f"chain: {message}"))
    signer = state.signers.get(st.signer)  # (3)
    if signer is None:
        where = "is not a trust root" + (
            f" and the {report.chain} does not grant it" if chain else " (give --chain)"
        )
        report.fail(UnknownSignerError(f"key {st.signer.hex()[:16]} {where}"))
        return report
    report.signer = signer.describe()
    report.checked.append(f"signer resolved: {signer.describe()}")
    try:
        envelope.verify_signature(signer.public_key)  # (4)
    except LedgerError as e:
        report.fail(e)
        return report
    report.checked.append("Ed25519 signature")

    report.leaf = state.leaf_of.get(envelope.hash)  # (5)
    if report.leaf is not None:
        report.checked.append(
            f"in the {report.chain}'s log at leaf {report.leaf}: chain, references and "
            "authority replayed in log order"
        )
        return report

    def contest(contest_id: str) -> Contest:
        try:
            return state.contests[contest_id]
        except KeyError:
            raise UnknownEventError(
                f"contest {contest_id} is not defined"
                + ("" if chain else " (give --chain to look it up)")
            ) from None

    try:
        check_body(st.kind, st.body, lambda: contest(stream_contest(st.stream)), version=st.version)
        report.checked.append(f"{st.kind} body schema")
        subject = state.signers.get(st.body["key"]) if st.kind == "revoke" else None
        authorize(st, signer, contest=contest, subject=subject)
        report.checked.append(f"authority of {signer.role} for {st.kind} in {st.stream}")
    except RevokedKeyError as e:
        report.fail(
            RevokedKeyError(
                f"{e} (a statement it signed before its revocation stands only if the log holds it)"
            )
        )
    except LedgerError as e:
        report.fail(e)
    report.unchecked.append("its stream position (seq and prev): only the log can tell")
    return report
