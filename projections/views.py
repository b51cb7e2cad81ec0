"""The read side: totals, sheet status, recap checks, audit trails and findings.

Every function here is a pure function of a Store (live, rebuilt or replayed to
a past position), and returns plain JSON-able values in a deterministic order,
so two stores holding the same history give byte-identical output.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ledger.errors import UnknownEventError
from ledger.format import canonical
from ledger.format.aftercount import OBJECTING
from ledger.format.regions import KABKOTA, KECAMATAN, PROVINCE, VILLAGE, covers, tps_region
from ledger.format.schema import ARITHMETIC, OVER_REGISTERED, tally_flags
from projections.aftercount import (
    AFTERCOUNT_FINDINGS,
    admin_findings,
    plenary_findings,
    recommendation_findings,
    round_of,
)
from projections.fold import add_totals, tally_totals, zero_totals
from projections.outcomes import FINDING_KINDS as OUTCOME_FINDINGS
from projections.outcomes import outcome_findings, totals_difference
from projections.store import Entity, Store

__all__ = [
    "FINDING_KINDS",
    "contests",
    "findings",
    "objection_answer",
    "recap_checks",
    "sheet_status",
    "totals",
    "trail",
]

REGION_LEVELS = (VILLAGE, KECAMATAN, KABKOTA, PROVINCE)
_PREFIX_PARTS = {PROVINCE: 1, KABKOTA: 2, KECAMATAN: 3, VILLAGE: 4}

FINDING_KINDS = (
    ARITHMETIC,
    OVER_REGISTERED,
    "unattested-correction",
    "unanswered-objection",
    "recap-mismatch",
    "recap-omission",
    "stale-head",
    "unknown-input",
    "equivocation",
    "out-of-scope",
    "missing-sheet",
    *AFTERCOUNT_FINDINGS,
    *OUTCOME_FINDINGS,
)


def contests(store: Store) -> list[Entity]:
    return store.scan("contest")


def _contest(store: Store, contest_id: str) -> Entity:
    contest = store.get("contest", contest_id)
    if contest is None:
        raise UnknownEventError(
            f"contest {contest_id} is not defined (as of leaf {store.position})"
        )
    return contest


def region_at(place: str, level: str) -> str:
    """The code of the region at ``level`` containing a TPS or region ``place``."""
    code = tps_region(place) if "/" in place else place
    return ".".join(code.split(".")[: _PREFIX_PARTS[level]])


def effective(sheet: Entity) -> dict[str, Any] | None:
    """A sheet's effective tally entry: its latest count or correction."""
    return sheet["tallies"][-1] if sheet["tallies"] else None


def totals(
    store: Store, contest_id: str, level: str = KECAMATAN, within: str = ""
) -> list[dict[str, Any]]:
    """Per region at ``level``: summed effective tallies and progress.

    A row per region holding at least one registered TPS or one sheet of the
    contest; ``sheets_expected`` counts the TPS registered (kpps grants) in the
    region and the contest's area, ``sheets_reported`` the sheets with a count.
    """
    if level not in REGION_LEVELS:
        raise UnknownEventError(f"level must be one of {', '.join(REGION_LEVELS)}")
    contest = _contest(store, contest_id)
    if within and not (covers(contest["region"], within) or covers(within, contest["region"])):
        return []
    scope = within if within and covers(contest["region"], within) else contest["region"]
    rows: dict[str, dict[str, Any]] = {}

    def row(region: str) -> dict[str, Any]:
        if region not in rows:
            rows[region] = {
                "region": region,
                **zero_totals(contest),
                "sheets_reported": 0,
                "sheets_expected": 0,
            }
        return rows[region]

    for tps in store.scan("tps", within=scope):
        row(region_at(tps["tps"], level))["sheets_expected"] += 1
    for sheet in store.scan("sheet", contest=contest_id, within=scope):
        entry = effective(sheet)
        if entry is None:
            continue
        target = row(region_at(sheet["tps"], level))
        add_totals(target, tally_totals(entry["tally"]))
        target["sheets_reported"] += 1
    return [rows[k] for k in sorted(rows)]


def sheet_status(store: Store, contest_id: str, within: str = "") -> list[dict[str, Any]]:
    """Per sheet: counted, attested by which pairs and the PTPS, objected, corrected."""
    _contest(store, contest_id)
    out = []
    for sheet in store.scan("sheet", contest=contest_id, within=within):
        entry = effective(sheet)
        objections = [a for a in sheet["attestations"] if a["verdict"] in OBJECTING]
        # Agreement counts for the sheet as it stands: with its effective tally.
        agreed = [
            a
            for a in sheet["attestations"]
            if a["verdict"] == "agree" and entry is not None and a["event"] == entry["hash"]
        ]
        out.append(
            {
                "stream": sheet["stream"],
                "tps": sheet["tps"],
                "counted": entry is not None,
                "effective": entry["hash"] if entry else None,
                "pairs_attested": sorted({a["pair"] for a in agreed if a["role"] == "saksi"}),
                "ptps_attested": any(a["role"] == "ptps" for a in agreed),
                "objections": len(objections),
                "open_objections": len([o for o in objections if not _answered(sheet, o)]),
                "corrected": any(t["kind"] == "correct" for t in sheet["tallies"]),
                "flags": [message for _, message in tally_flags(entry["tally"])] if entry else [],
            }
        )
    return out


def recap_checks(store: Store, contest_id: str, within: str = "") -> list[dict[str, Any]]:
    """Each recap stream's latest recap beside the sums of the heads it names."""
    _contest(store, contest_id)
    out = []
    for recap in store.scan("recap", contest=contest_id, within=within):
        latest = recap["recaps"][-1]
        difference = totals_difference(latest["totals"], latest["computed"])
        out.append(
            {
                "stream": recap["stream"],
                "region": recap["region"],
                "hash": latest["hash"],
                "leaf": latest["leaf"],
                "totals": latest["totals"],
                "computed": latest["computed"],
                "difference": difference,
                "omitted": latest["omitted"],
                "stale": latest["stale"],
                "unknown": latest["unknown"],
            }
        )
    return out


def trail(
    store: Store, *, stream: str | None = None, within: str | None = None, signer: str | None = None
) -> list[dict[str, Any]]:
    """Every event of a stream, a region, or a signer, in log order."""
    rows = store.events(stream=stream, within=within, signer=signer)
    if not rows:
        what = stream or within or signer
        raise UnknownEventError(f"no events for {what} (as of leaf {store.position})")
    return rows


def objection_answer(sheet: Entity, objection: dict[str, Any]) -> str | None:
    """The event hash of what answered a sheet's objection (format.md 5.6): a correction
    or a recap whose decision names it; None while it is unanswered."""
    return _answered(sheet, objection)


def _answered(sheet: Entity, objection: dict[str, Any]) -> str | None:
    """What answered an objection: a later correction in its sheet that names it (in
    version 1, that names nothing: any later correction), or a recap decision."""
    for entry in sheet["tallies"]:
        if entry["kind"] == "correct" and entry["leaf"] > objection["leaf"]:
            names = entry.get("answers")
            if names is None or objection["hash"] in names:
                return str(entry["hash"])
    answer = sheet["answered"].get(objection["hash"])
    return None if answer is None else str(answer)


def _finding(
    kind: str, message: str, events: Iterable[str], stream: str = "", **extra: Any
) -> dict[str, Any]:
    return {"kind": kind, "stream": stream, "events": list(events), "message": message, **extra}


def findings(store: Store, *, within: str = "", now: int | None = None) -> list[dict[str, Any]]:
    """Everything a reviewer should look at, each naming the events that prove it.

    ``now`` (Unix seconds) is the reviewer's clock: a TPS whose vote an order
    postponed (format.md 5.11) is a missing sheet only once ``now`` is past the
    order's deadline; without a clock no deadline has passed.
    """
    out: list[dict[str, Any]] = []
    for sheet in store.scan("sheet", within=within):
        out.extend(_sheet_findings(sheet))
    for recap in store.scan("recap", within=within):
        out.extend(plenary_findings(recap))
        out.extend(admin_findings(recap))
        latest = recap["recaps"][-1]
        stream = recap["stream"]
        difference = totals_difference(latest["totals"], latest["computed"])
        if difference:
            out.append(
                _finding(
                    "recap-mismatch",
                    f"recap differs from the sum of its inputs: {difference}",
                    [latest["hash"]],
                    stream,
                    difference=difference,
                )
            )
        for omitted in latest["omitted"]:
            out.append(
                _finding(
                    "recap-omission",
                    f"recap leaves out {omitted}",
                    [latest["hash"]],
                    stream,
                    input=omitted,
                )
            )
        for item in latest["stale"]:
            out.append(
                _finding(
                    "stale-head",
                    f"recap names {item['stream']} at {item['named'][:16]}, "
                    f"not its head {str(item['current'])[:16]}",
                    [latest["hash"], item["named"]],
                    stream,
                    input=item["stream"],
                )
            )
        for item in latest["unknown"]:
            out.append(
                _finding(
                    "unknown-input",
                    f"recap names {item['stream']} at {item['head'][:16]}, "
                    "which has no count there",
                    [latest["hash"]],
                    stream,
                    input=item["stream"],
                )
            )
    for violation in store.scan("violation", within=within):
        out.append(
            _finding(
                "out-of-scope",
                violation["message"],
                [violation["hash"]],
                violation["stream"],
                signer=violation["signer"],
            )
        )
    out.extend(_missing_sheets(store, within, now))
    out.extend(recommendation_findings(store, within))
    out.extend(outcome_findings(store, within))
    return sorted(out, key=lambda f: (FINDING_KINDS.index(f["kind"]), f["stream"], f["events"]))


def _sheet_findings(sheet: Entity) -> list[dict[str, Any]]:
    out = []
    stream = sheet["stream"]
    entry = effective(sheet)
    if entry is not None:
        for rule, message in tally_flags(entry["tally"]):
            out.append(_finding(rule, message, [entry["hash"]], stream))
    for correction in (t for t in sheet["tallies"] if t["kind"] == "correct"):
        if not any(a["event"] == correction["hash"] for a in sheet["attestations"]):
            out.append(
                _finding(
                    "unattested-correction",
                    "no attestation names this correction",
                    [correction["hash"]],
                    stream,
                )
            )
    for objection in (a for a in sheet["attestations"] if a["verdict"] in OBJECTING):
        if _answered(sheet, objection) is None:
            out.append(
                _finding(
                    "unanswered-objection",
                    f"objection not answered: {objection['reason']}",
                    [objection["hash"], objection["event"]],
                    stream,
                )
            )
    # A count that carries out an order (a re-vote, format.md 5.11) supersedes the
    # earlier ones: only different counts of one signer in one round equivocate.
    by_signer: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for count in (t for t in sheet["tallies"] if t["kind"] == "count"):
        by_signer.setdefault((count["signer"], round_of(count)), []).append(count)
    for (signer, _), counts in sorted(by_signer.items()):
        if len({_canonical(c["tally"]) for c in counts}) > 1:
            out.append(
                _finding(
                    "equivocation",
                    f"{len(counts)} different counts by one signer",
                    [c["hash"] for c in counts],
                    stream,
                    signer=signer,
                )
            )
    return out


def _canonical(value: Any) -> bytes:
    return canonical.encode(value)


def _missing_sheets(store: Store, within: str, now: int | None) -> list[dict[str, Any]]:
    out = []
    sheets = {sheet["stream"]: sheet for sheet in store.scan("sheet", within=within)}
    counted = {stream for stream, sheet in sheets.items() if sheet["tallies"]}
    # Orders of a vote or recount no count has carried out yet (format.md 5.11).
    owed: dict[str, list[Entity]] = {}
    for order in store.scan("order", within=within):
        sheet = sheets.get(order["stream"])
        done = {round_of(t) for t in sheet["tallies"]} if sheet else set()
        if order["stream"].startswith("sheet:") and order["hash"] not in done:
            owed.setdefault(order["stream"], []).append(order)
    for stream, orders in sorted(owed.items()):
        overdue = [o for o in orders if now is not None and now > o["deadline"]]
        if overdue:
            out.append(
                _finding(
                    "missing-sheet",
                    f"no count of the {overdue[0]['action']} ordered for {stream.split(':')[-1]} "
                    f"by its deadline {overdue[0]['deadline']}",
                    [o["hash"] for o in overdue],
                    stream,
                )
            )
        counted.add(stream)  # postponed: not missing before the deadline, the order after
    for contest in store.scan("contest"):
        scope = within if within and covers(contest["region"], within) else contest["region"]
        if within and not (covers(contest["region"], within) or covers(within, contest["region"])):
            continue
        for tps in store.scan("tps", within=scope):
            stream = f"sheet:{contest['id']}:{tps['tps']}"
            if stream not in counted:
                out.append(
                    _finding(
                        "missing-sheet",
                        f"no count for {contest['id']} at TPS {tps['tps']}",
                        [tps["grant"]],
                        stream,
                    )
                )
    return out
