"""The fold: each event of the log, in log order, applied to projection state.

One function of (state, leaf index, envelope bytes) serves the live projection,
a rebuild from zero, time travel and the offline verifier's totals, so they
cannot disagree. It trusts nothing about authority: it re-checks every
statement's signer against the grants seen so far (ledger.format.authority) and
records a *violation* instead of failing, because an imported history is
evidence even where it breaks the rules. Signatures are not checked here:
that is the verifier's job (and the ledger's, on append).

Hashes and key ids are kept as lowercase hex so every view is JSON as it stands.
"""

from __future__ import annotations

from typing import Any

from ledger.errors import LedgerError, UnknownEventError
from ledger.format.aftercount import OBJECTING
from ledger.format.authority import BAWASLU_ROOT, KPU_ROOT, Signer, authorize
from ledger.format.recap import recap_inputs
from ledger.format.regions import KABKOTA, KECAMATAN, PROVINCE, level_of, parse_stream_id
from ledger.format.schema import TALLY_INT_FIELDS, Contest, contest_from_body, voted_total
from ledger.format.statement import Envelope, Statement, key_id
from ledger.format.trust import TrustRoots
from projections.aftercount import (
    answer_plenary,
    apply_aftercount,
    apply_plenary_attest,
    attestation_entry,
    input_admin,
    recap_at,
)
from projections.outcomes import apply_determination, check_timing, record_late_revote
from projections.store import Entity, EventRow, Store

__all__ = ["Projector", "diff_tallies", "zero_totals"]

# Which recaps (or sheets) a recap at each level sums.
INPUT_LEVEL = {KECAMATAN: "sheet", KABKOTA: KECAMATAN, PROVINCE: KABKOTA}


def zero_totals(contest: Entity) -> dict[str, Any]:
    return {"votes": {str(n): 0 for n in contest["pairs"]}, "valid": 0, "invalid": 0, "voted": 0}


def add_totals(into: dict[str, Any], totals: dict[str, Any]) -> None:
    for number, votes in totals["votes"].items():
        into["votes"][number] = into["votes"].get(number, 0) + votes
    for name in ("valid", "invalid", "voted"):
        into[name] += totals[name]


def tally_totals(tally: dict[str, Any]) -> dict[str, Any]:
    return {
        "votes": dict(tally["votes"]),
        "valid": tally["valid"],
        "invalid": tally["invalid"],
        "voted": voted_total(tally),
    }


def diff_tallies(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Field-by-field changes from ``old`` to ``new`` (votes as votes[N])."""
    changes = []
    for name in TALLY_INT_FIELDS:
        if old.get(name) != new.get(name):
            changes.append({"field": name, "old": old.get(name), "new": new.get(name)})
    for number in sorted(set(old["votes"]) | set(new["votes"]), key=int):
        if old["votes"].get(number) != new["votes"].get(number):
            changes.append(
                {
                    "field": f"votes[{number}]",
                    "old": old["votes"].get(number),
                    "new": new["votes"].get(number),
                }
            )
    return changes


def _place_of(st: Statement) -> str:
    """Where a statement happens: its TPS or region, a grant's scope, else ''."""
    try:
        parts = parse_stream_id(st.stream)
    except LedgerError:
        return ""
    if parts[0] in ("sheet", "recap", "result"):
        return parts[2]
    scope = st.body.get("scope") if st.kind == "grant" else None
    return scope if isinstance(scope, str) else ""


class Projector:
    """Applies log entries to a Store (see the module docstring)."""

    def __init__(self, trust: TrustRoots, store: Store) -> None:
        self.store = store
        self.roots = {
            key_id(trust.kpu_root).hex(): (trust.kpu_root, KPU_ROOT),
            key_id(trust.bawaslu_root).hex(): (trust.bawaslu_root, BAWASLU_ROOT),
        }

    # --- signers and contests as the fold has seen them -------------------------------

    def signer(self, signer_hex: str) -> Entity | None:
        if signer_hex in self.roots:
            public, role = self.roots[signer_hex]
            return {
                "key": public.hex(),
                "role": role,
                "scope": "",
                "root": signer_hex,
                "granter": None,
                "contest": None,
                "pair": None,
                "label": role,
                "revoked": None,
            }
        return self.store.get("signer", signer_hex)

    def _authority_signer(self, entity: Entity, signer_hex: str) -> Signer:
        return Signer(
            key_id=bytes.fromhex(signer_hex),
            public_key=bytes.fromhex(entity["key"]),
            role=entity["role"],
            scope=entity["scope"],
            root=bytes.fromhex(entity["root"]),
            granter=bytes.fromhex(entity["granter"]) if entity["granter"] else None,
            contest=entity["contest"],
            pair=entity["pair"],
            revoked=entity["revoked"] is not None,
            label=entity["label"],
        )

    def contest(self, contest_id: str) -> Contest:
        entity = self.store.get("contest", contest_id)
        if entity is None:
            raise UnknownEventError(f"contest {contest_id} is not defined")
        return contest_from_body(entity["body"])

    # --- the fold ----------------------------------------------------------------------

    def apply(self, leaf: int, raw: bytes) -> None:
        envelope = Envelope.parse(raw)
        st = envelope.statement
        signer_hex = st.signer.hex()
        signer = self.signer(signer_hex)
        row: EventRow = {
            "leaf": leaf,
            "stream": st.stream,
            "seq": st.seq,
            "kind": st.kind,
            "hash": envelope.hash.hex(),
            "prev": st.prev.hex(),
            "signer": signer_hex,
            "role": signer["role"] if signer else "unknown",
            "signer_label": signer["label"] if signer else "",
            "time": st.time,
            "contest": "",
            "place": "",
            "detail": {},
        }
        self._check_authority(st, envelope, signer, leaf)
        handler = getattr(self, f"_apply_{st.kind}", None)
        if handler is not None:
            handler(st, envelope, leaf, row)
        check_timing(self.store, envelope, leaf)  # the schedule's findings (format.md 5.1)
        self.store.add_event(row)

    def _check_authority(
        self, st: Statement, envelope: Envelope, signer: Entity | None, leaf: int
    ) -> None:
        try:
            if signer is None:
                raise LedgerError(f"key {st.signer.hex()[:16]} was never granted")
            subject = None
            if st.kind == "revoke":
                entity = self.store.get("signer", st.body["key"].hex())
                subject = (
                    None if entity is None else self._authority_signer(entity, st.body["key"].hex())
                )
            authorize(
                st,
                self._authority_signer(signer, st.signer.hex()),
                contest=self.contest,
                subject=subject,
            )
        except LedgerError as e:
            self.store.put(
                "violation",
                envelope.hash.hex(),
                {
                    "leaf": leaf,
                    "hash": envelope.hash.hex(),
                    "stream": st.stream,
                    "signer": st.signer.hex(),
                    "message": str(e),
                },
                place=_place_of(st),
            )

    def _apply_election(self, st: Statement, envelope: Envelope, leaf: int, row: EventRow) -> None:
        self.store.put(
            "election",
            "election",
            {
                "name": st.body["name"],
                "hash": envelope.hash.hex(),
                "schedule": st.body.get("schedule"),
            },
        )
        row["detail"] = {"name": st.body["name"]}

    def _apply_contest(self, st: Statement, envelope: Envelope, leaf: int, row: EventRow) -> None:
        body = st.body
        pairs = [p["number"] for p in body["pairs"]]
        entity = {
            "id": body["contest"],
            "name": body["name"],
            "region": body["region"],
            "office": body["office"],
            "pairs": pairs,
            "body": body,
            "hash": envelope.hash.hex(),
        }
        self.store.put(
            "contest", body["contest"], entity, contest=body["contest"], place=body["region"]
        )
        row.update(contest=body["contest"], place=body["region"], detail={"name": body["name"]})

    def _apply_grant(self, st: Statement, envelope: Envelope, leaf: int, row: EventRow) -> None:
        body = st.body
        granter = self.signer(st.signer.hex())
        subject_hex = key_id(body["key"]).hex()
        entity = {
            "key": body["key"].hex(),
            "role": body["role"],
            "scope": body["scope"],
            "root": granter["root"] if granter else st.signer.hex(),
            "granter": st.signer.hex(),
            "contest": body.get("contest"),
            "pair": body.get("pair"),
            "label": body["label"],
            "revoked": None,
            "grant": envelope.hash.hex(),
            "leaf": leaf,
        }
        self.store.put("signer", subject_hex, entity, place=body["scope"])
        if body["role"] == "kpps":
            self.store.put(
                "tps",
                body["scope"],
                {
                    "tps": body["scope"],
                    "khusus": body.get("khusus", False),
                    "kpps": subject_hex,
                    "grant": envelope.hash.hex(),
                    "leaf": leaf,
                },
                place=body["scope"],
            )
        row.update(
            place=body["scope"],
            contest=body.get("contest") or "",
            detail={
                "subject": subject_hex,
                "role": body["role"],
                "scope": body["scope"],
                "label": body["label"],
            },
        )

    def _apply_revoke(self, st: Statement, envelope: Envelope, leaf: int, row: EventRow) -> None:
        subject_hex = st.body["key"].hex()
        entity = self.store.get("signer", subject_hex)
        if entity is not None and entity["revoked"] is None:
            entity["revoked"] = {
                "leaf": leaf,
                "hash": envelope.hash.hex(),
                "reason": st.body["reason"],
            }
            self.store.put("signer", subject_hex, entity, place=entity["scope"])
        row.update(
            place=entity["scope"] if entity else "",
            detail={"subject": subject_hex, "reason": st.body["reason"]},
        )

    def _sheet(self, st: Statement) -> Entity:
        _, contest, tps = parse_stream_id(st.stream)
        sheet = self.store.get("sheet", st.stream)
        if sheet is None:
            sheet = {
                "stream": st.stream,
                "contest": contest,
                "tps": tps,
                "events": [],
                "tallies": [],
                "attestations": [],
                "answered": {},
            }
        return sheet

    def _put_sheet(self, sheet: Entity) -> None:
        self.store.put(
            "sheet", sheet["stream"], sheet, contest=sheet["contest"], place=sheet["tps"]
        )

    def _sheet_event(
        self, sheet: Entity, st: Statement, envelope: Envelope, leaf: int, row: EventRow
    ) -> None:
        sheet["events"].append(
            {"leaf": leaf, "hash": envelope.hash.hex(), "kind": st.kind, "seq": st.seq}
        )
        row.update(contest=sheet["contest"], place=sheet["tps"])

    def _apply_count(self, st: Statement, envelope: Envelope, leaf: int, row: EventRow) -> None:
        sheet = self._sheet(st)
        self._sheet_event(sheet, st, envelope, leaf, row)
        sheet["tallies"].append(
            {
                "leaf": leaf,
                "hash": envelope.hash.hex(),
                "kind": "count",
                "signer": st.signer.hex(),
                "tally": st.body["tally"],
                # The order this count carries out (a re-vote, delayed vote or recount).
                "order": st.body["order"].hex() if "order" in st.body else None,
            }
        )
        self._put_sheet(sheet)
        row["detail"] = tally_totals(st.body["tally"])
        if "order" in st.body:
            order = self.store.get("order", st.body["order"].hex())
            if order is not None:
                record_late_revote(self.store, envelope, leaf, order)

    def _apply_correct(self, st: Statement, envelope: Envelope, leaf: int, row: EventRow) -> None:
        sheet = self._sheet(st)
        self._sheet_event(sheet, st, envelope, leaf, row)
        corrects = st.body["corrects"].hex()
        old = next((t["tally"] for t in sheet["tallies"] if t["hash"] == corrects), None)
        changes = diff_tallies(old, st.body["tally"]) if old is not None else []
        sheet["tallies"].append(
            {
                "leaf": leaf,
                "hash": envelope.hash.hex(),
                "kind": "correct",
                "signer": st.signer.hex(),
                "tally": st.body["tally"],
                "corrects": corrects,
                "reason": st.body["reason"],
                # The objections it answers: version 2 names them; None is version 1,
                # where any later correction answers (format.md 5.7).
                "answers": (
                    [h.hex() for h in st.body.get("answers", [])] if st.version >= 2 else None
                ),
            }
        )
        self._put_sheet(sheet)
        row["detail"] = {"corrects": corrects, "reason": st.body["reason"], "changes": changes}

    def _apply_attest(self, st: Statement, envelope: Envelope, leaf: int, row: EventRow) -> None:
        if st.stream.startswith("recap:"):  # at a recap plenary (format.md 5.6, version 2)
            signer = self.signer(st.signer.hex()) or {}
            apply_plenary_attest(self.store, st, envelope, leaf, row, signer)
            return
        sheet = self._sheet(st)
        self._sheet_event(sheet, st, envelope, leaf, row)
        signer = self.signer(st.signer.hex()) or {}
        attestation = attestation_entry(st, envelope, leaf, signer)
        sheet["attestations"].append(attestation)
        self._put_sheet(sheet)
        if st.body["verdict"] in OBJECTING:  # a refusal to sign objects too
            self.store.put(
                "objection",
                envelope.hash.hex(),
                {"stream": st.stream, "leaf": leaf},
                contest=sheet["contest"],
                place=sheet["tps"],
            )
        row["detail"] = {k: attestation[k] for k in ("verdict", "event", "reason", "pair")}

    def _apply_order(self, st: Statement, envelope: Envelope, leaf: int, row: EventRow) -> None:
        """An order, recommendation or follow-up (format.md 5.11-5.13; projections.aftercount)."""
        try:
            parts = parse_stream_id(st.stream)
        except LedgerError:
            return  # recorded as a violation; nowhere to place it
        if parts[0] not in ("sheet", "recap"):
            return
        stream_type, contest_id, place = parts
        if stream_type == "sheet":
            sheet = self._sheet(st)
            self._sheet_event(sheet, st, envelope, leaf, row)  # a head a recap may name
            self._put_sheet(sheet)
        row.update(contest=contest_id, place=place)
        apply_aftercount(self.store, st, envelope, leaf, row, (contest_id, place))

    _apply_recommend = _apply_order
    _apply_followup = _apply_order

    def _apply_recap(self, st: Statement, envelope: Envelope, leaf: int, row: EventRow) -> None:
        _, contest_id, region = parse_stream_id(st.stream)
        contest = self.store.get("contest", contest_id) or {"pairs": []}
        level = level_of(region)
        computed = zero_totals(contest)
        stale, unknown = [], []
        named = set()
        inputs = recap_inputs(st)
        for stream, head_bytes in inputs:
            head = head_bytes.hex()
            named.add(stream)
            totals, current = self._input_totals(stream, head)
            if totals is None:
                unknown.append({"stream": stream, "head": head})
                continue
            add_totals(computed, totals)
            if current != head:
                stale.append({"stream": stream, "named": head, "current": current})
        kind = INPUT_LEVEL.get(level)
        expected = [
            e["stream"]
            for e in self.store.scan(
                "sheet" if kind == "sheet" else "recap", contest=contest_id, within=region
            )
            if (e["tallies"] if kind == "sheet" else level_of(e["region"]) == kind)
        ]
        omitted = sorted(set(expected) - named)
        decisions = []
        for decision in st.body.get("decisions", []):
            objection_hex = decision["objection"].hex()
            decisions.append(
                {
                    "objection": objection_hex,
                    "ruling": decision["ruling"],
                    "reason": decision["reason"],
                }
            )
            objection = self.store.get("objection", objection_hex)
            if objection is not None:
                sheet = self.store.get("sheet", objection["stream"])
                if sheet is not None:
                    sheet["answered"][objection_hex] = envelope.hash.hex()
                    self._put_sheet(sheet)
        recap = self.store.get("recap", st.stream) or {
            "stream": st.stream,
            "contest": contest_id,
            "region": region,
            "recaps": [],
        }
        answer_plenary(recap, decisions, envelope.hash.hex())
        recap["head"] = envelope.hash.hex()
        recap["recaps"].append(
            {
                "leaf": leaf,
                "hash": envelope.hash.hex(),
                "signer": st.signer.hex(),
                "totals": st.body["totals"],
                "computed": computed,
                "inputs": len(inputs),
                "omitted": omitted,
                "stale": stale,
                "unknown": unknown,
                "decisions": decisions,
                # The D.Hasil's administrative block (version 2), and the sum of the level
                # below's (None where an input has none).
                "admin": st.body.get("admin"),
                "admin_computed": input_admin(self._input_entry, inputs)
                if "admin" in st.body
                else None,
            }
        )
        self.store.put("recap", st.stream, recap, contest=contest_id, place=region)
        row.update(contest=contest_id, place=region, detail={"totals": st.body["totals"]})

    def _apply_determination(
        self, st: Statement, envelope: Envelope, leaf: int, row: EventRow
    ) -> None:
        apply_determination(self.store, st, envelope, leaf, row)

    def _input_totals(self, stream: str, head: str) -> tuple[dict[str, Any] | None, str | None]:
        """The totals an input stream had at ``head``, and its current head."""
        found, current = self._input_entry(stream, head)
        if found is None:
            return None, current
        totals = tally_totals(found) if stream.startswith("sheet:") else found["totals"]
        return totals, current

    def _input_entry(self, stream: str, head: str) -> tuple[dict[str, Any] | None, str | None]:
        """What an input stream stated at ``head`` (a sheet's effective tally, a recap
        stream's recap entry), and its current head."""
        if stream.startswith("sheet:"):
            sheet = self.store.get("sheet", stream)
            if sheet is None:
                return None, None
            at = next((e["leaf"] for e in sheet["events"] if e["hash"] == head), None)
            if at is None:
                return None, sheet["events"][-1]["hash"]
            effective = [t for t in sheet["tallies"] if t["leaf"] <= at]
            current = sheet["events"][-1]["hash"]
            if not effective:
                return None, current
            return effective[-1]["tally"], current
        recap = self.store.get("recap", stream)
        if recap is None:
            return None, None
        entry = next((r for r in recap["recaps"] if r["hash"] == head), None)
        if entry is None:  # another event of the stream: the recap it stood on
            entry = recap_at(recap, head)
        current = recap.get("head", recap["recaps"][-1]["hash"])
        return entry, current
