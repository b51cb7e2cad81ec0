"""The fold's part for outcomes and the schedule (docs/format.md 5.1 and 5.14).

Kept apart from projections.fold so the fold only dispatches: a determination
becomes the ``determination`` entity of its contest (every determination of the
stream, the latest effective), beside the figures of the recap it names; an event
signed outside the election's schedule becomes a ``timing`` entity naming it.
Pure: reads and writes a Store only.
"""

from __future__ import annotations

from typing import Any

from ledger.errors import UnknownEventError
from ledger.format.outcome import column_name, decide, determined_recap_stream, tie_break
from ledger.format.regions import (
    KABKOTA,
    KECAMATAN,
    PROVINCE,
    level_of,
    parse_stream_id,
    recap_stream,
    result_stream,
)
from ledger.format.schedule import (
    Schedule,
    check_schedule,
    filing_deadline,
    in_recap_window,
    polls_close,
    revote_deadline,
)
from ledger.format.statement import Envelope, Statement
from ledger.format.timezones import local_time_text, zone_for_region
from projections.store import Entity, EventRow, Store

__all__ = [
    "COUNT_BEFORE_CLOSE",
    "DETERMINATION_MISMATCH",
    "FINDING_KINDS",
    "LATE_REVOTE",
    "RECAP_OUTSIDE_WINDOW",
    "TIE_RULE",
    "apply_determination",
    "check_timing",
    "election_schedule",
    "kolom_kosong_of",
    "outcome_findings",
    "record_late_revote",
    "results",
]

DETERMINATION_MISMATCH = "determination-mismatch"
TIE_RULE = "tie-rule"
COUNT_BEFORE_CLOSE = "count-before-close"
RECAP_OUTSIDE_WINDOW = "recap-outside-window"
LATE_REVOTE = "late-revote"
FINDING_KINDS = (
    DETERMINATION_MISMATCH,
    TIE_RULE,
    COUNT_BEFORE_CLOSE,
    RECAP_OUTSIDE_WINDOW,
    LATE_REVOTE,
)
_RECAP_LEVELS = {KABKOTA: (KECAMATAN, KABKOTA), PROVINCE: (KECAMATAN, KABKOTA, PROVINCE)}
# The regions one level below a contest's region: where the tie rule measures spread.
_BELOW = {PROVINCE: KABKOTA, KABKOTA: KECAMATAN}


_PARSED: dict[str, Schedule] = {}  # by the election statement's hash: its bytes fix it


def election_schedule(store: Store) -> Schedule | None:
    """The schedule the election statement carries, if any."""
    election = store.get("election", "election")
    if election is None or election.get("schedule") is None:
        return None
    parsed = _PARSED.get(election["hash"])
    if parsed is None:
        parsed = _PARSED[election["hash"]] = check_schedule(election["schedule"])
    return parsed


def _timing(
    store: Store, kind: str, envelope: Envelope, leaf: int, place: str, message: str
) -> None:
    st = envelope.statement
    store.put(
        "timing",
        envelope.hash.hex(),
        {
            "kind": kind,
            "leaf": leaf,
            "hash": envelope.hash.hex(),
            "stream": st.stream,
            "time": st.time,
            "message": message,
        },
        contest=parse_stream_id(st.stream)[1],
        place=place,
    )


def check_timing(store: Store, envelope: Envelope, leaf: int) -> None:
    """Record a count signed before its TPS's polls closed, or a recap signed outside
    its level's window, by the time its signer claims (format.md 5.1)."""
    st = envelope.statement
    if st.kind not in ("count", "recap"):
        return
    schedule = election_schedule(store)
    if schedule is None:
        return
    _, _, place = parse_stream_id(st.stream)
    if st.kind == "count":
        closes = polls_close(schedule, place)
        if st.time < closes:
            _timing(
                store,
                COUNT_BEFORE_CLOSE,
                envelope,
                leaf,
                place,
                f"count signed at {local_time_text(st.time, place)}, before polls closed "
                f"at {local_time_text(closes, place)}",
            )
        return
    level = level_of(place)
    if not in_recap_window(schedule, level, place, st.time):
        first, last = schedule.recap[level]
        _timing(
            store,
            RECAP_OUTSIDE_WINDOW,
            envelope,
            leaf,
            place,
            f"{level} recap signed at {local_time_text(st.time, place)}, outside its "
            f"window {first.isoformat()} to {last.isoformat()}",
        )


def record_late_revote(store: Store, envelope: Envelope, leaf: int, order: dict[str, Any]) -> None:
    """Record a count that carries out ``order`` (a re-vote, delayed or continued vote,
    or recount; format.md 5.11) signed after the order's deadline. The order's
    deadline is already within the law's limit (at most 10 days after voting day
    unless a Court ruling sets another: refused otherwise, format.md 5.11); where the
    election's schedule sets a shorter re-vote limit (5.1), a re-vote without a
    ruling is late after that."""
    st = envelope.statement
    _, _, place = parse_stream_id(st.stream)
    deadline = order["deadline"]
    schedule = election_schedule(store)
    if schedule is not None and order["action"] == "revote" and not order.get("ruling"):
        deadline = min(deadline, revote_deadline(schedule, place))
    if st.time <= deadline:
        return
    _timing(
        store,
        LATE_REVOTE,
        envelope,
        leaf,
        place,
        f"{order['action']} count signed at {local_time_text(st.time, place)}, after the "
        f"deadline of its order {order['hash'][:12]}, {local_time_text(deadline, place)}",
    )


def _spread(store: Store, contest_id: str, region: str) -> dict[str, dict[str, int]]:
    """The latest votes of each recap one level below ``region`` (for the tie rule)."""
    below = _BELOW[level_of(region)]
    return {
        recap["region"]: recap["recaps"][-1]["totals"]["votes"]
        for recap in store.scan("recap", contest=contest_id, within=region)
        if level_of(recap["region"]) == below
    }


def apply_determination(
    store: Store, st: Statement, envelope: Envelope, leaf: int, row: EventRow
) -> None:
    """Fold a determination into its contest's ``determination`` entity."""
    _, contest_id, region = parse_stream_id(st.stream)
    body = st.body
    recap_hex = body["recap"].hex()
    top = store.get("recap", determined_recap_stream(st))
    named = None
    if top is not None:
        named = next((r for r in top["recaps"] if r["hash"] == recap_hex), None)
    contest = store.get("contest", contest_id)
    tie: list[int] = []
    if contest is not None:
        kolom_kosong = kolom_kosong_of(contest)
        totals = body["totals"]
        outcome = decide(totals["votes"], totals["valid"], kolom_kosong, contest["office"])
        if outcome.tied:
            tie = list(tie_break(outcome.tied, _spread(store, contest_id, region)))
    entity: Entity = store.get("determination", contest_id) or {
        "contest": contest_id,
        "region": region,
        "determinations": [],
    }
    entry: dict[str, Any] = {
        "leaf": leaf,
        "hash": envelope.hash.hex(),
        "signer": st.signer.hex(),
        "time": st.time,
        "recap": recap_hex,
        "recap_totals": None if named is None else named["totals"],
        "recap_latest": None if top is None else top["recaps"][-1]["hash"],
        "decree": body["decree"],
        "announced": body["announced"],
        "totals": body["totals"],
        "outcome": body["outcome"],
        "elected": body.get("elected"),
        "tie_break": tie,
    }
    entity["determinations"].append(entry)
    store.put("determination", contest_id, entity, contest=contest_id, place=region)
    row.update(
        contest=contest_id,
        place=region,
        detail={
            "decree": body["decree"],
            "outcome": body["outcome"],
            "elected": body.get("elected"),
            "totals": body["totals"],
        },
    )


# --- the read side -------------------------------------------------------------------


def _columns(contest: Entity) -> list[dict[str, Any]]:
    kolom_kosong = kolom_kosong_of(contest)
    return [
        {
            "number": p["number"],
            "name": p["name"],
            "label": column_name(p["number"], kolom_kosong),
            "kolom_kosong": p["number"] == kolom_kosong,
        }
        for p in contest["body"]["pairs"]
    ]


def kolom_kosong_of(contest: Entity) -> int | None:
    """The ballot number of a contest entity's kolom kosong column, if it has one."""
    return next((p["number"] for p in contest["body"]["pairs"] if p.get("kolom_kosong")), None)


def _recap_state(store: Store, contest: Entity) -> dict[str, int]:
    """How far the recaps of a contest have come: recaps signed, per level."""
    region = contest["region"]
    done = dict.fromkeys(_RECAP_LEVELS[level_of(region)], 0)
    for recap in store.scan("recap", contest=contest["id"], within=region):
        done[level_of(recap["region"])] += 1
    return done


def results(store: Store, contest_id: str | None = None) -> list[dict[str, Any]]:
    """Each contest's determined totals and outcome, or, before its determination,
    the state of its recaps and what its latest top recap shows (format.md 5.14)."""
    contests = store.scan("contest")
    if contest_id is not None:
        contests = [c for c in contests if c["id"] == contest_id]
        if not contests:
            raise UnknownEventError(
                f"contest {contest_id} is not defined (as of leaf {store.position})"
            )
    schedule = election_schedule(store)
    holidays = schedule.holidays if schedule is not None else frozenset()
    out = []
    for contest in contests:
        region = contest["region"]
        zone, _ = zone_for_region(region)
        top = store.get("recap", recap_stream(contest["id"], region))
        latest_recap = None if top is None else top["recaps"][-1]
        found = store.get("determination", contest["id"])
        determination = None
        if found is not None:
            entry = found["determinations"][-1]
            totals = entry["totals"]
            outcome = decide(
                totals["votes"], totals["valid"], kolom_kosong_of(contest), contest["office"]
            )
            deadline_day, deadline = filing_deadline(entry["announced"], region, holidays)
            determination = {
                "hash": entry["hash"],
                "leaf": entry["leaf"],
                "decree": entry["decree"],
                "announced": entry["announced"],
                "announced_local": local_time_text(entry["announced"], region),
                "recap": entry["recap"],
                "totals": totals,
                "outcome": entry["outcome"],
                "elected": entry["elected"],
                "rule": outcome.rule,
                "differs_from_recap": _differs(entry),
                "filing_deadline": deadline,
                "filing_deadline_local": local_time_text(deadline, region),
                "filing_deadline_day": deadline_day.isoformat(),
                "holidays_known": schedule is not None,
            }
        out.append(
            {
                "contest": contest["id"],
                "name": contest["name"],
                "office": contest["office"],
                "region": region,
                "zone": zone,
                "columns": _columns(contest),
                "state": "determined"
                if determination
                else ("recapped" if latest_recap else "counting"),
                "recaps": _recap_state(store, contest),
                "top_recap": None
                if latest_recap is None
                else {
                    "hash": latest_recap["hash"],
                    "leaf": latest_recap["leaf"],
                    "totals": latest_recap["totals"],
                },
                "determination": determination,
            }
        )
    return out


def _differs(entry: dict[str, Any]) -> dict[str, int] | None:
    """Determined minus recap figures, field by field; None if the recap is unknown."""
    recap = entry["recap_totals"]
    if recap is None:
        return None
    return totals_difference(entry["totals"], recap)


def totals_difference(stated: dict[str, Any], computed: dict[str, Any]) -> dict[str, int]:
    """``stated`` minus ``computed`` totals, field by field (``votes[N]``, ``valid``,
    ``invalid``, ``voted``), only the fields that differ."""
    diff = {}
    for number in sorted(set(stated["votes"]) | set(computed["votes"]), key=int):
        delta = stated["votes"].get(number, 0) - computed["votes"].get(number, 0)
        if delta:
            diff[f"votes[{number}]"] = delta
    for name in ("valid", "invalid", "voted"):
        if stated[name] != computed[name]:
            diff[name] = stated[name] - computed[name]
    return diff


def outcome_findings(store: Store, within: str = "") -> list[dict[str, Any]]:
    """Findings of determinations and of the schedule, in views.findings' shape."""
    out: list[dict[str, Any]] = []
    for found in store.scan("determination", within=within):
        entry = found["determinations"][-1]
        stream = result_stream(found["contest"])
        diff = _differs(entry)
        if diff is None or diff:
            message = (
                f"determination's totals differ from the recap it names: {diff}"
                if diff
                else "determination names a recap that is not in the top recap stream"
            )
            out.append(
                {
                    "kind": DETERMINATION_MISMATCH,
                    "stream": stream,
                    "events": [entry["hash"], entry["recap"]],
                    "message": message,
                    "difference": diff or {},
                }
            )
        if entry["tie_break"] and entry["elected"] not in entry["tie_break"]:
            out.append(
                {
                    "kind": TIE_RULE,
                    "stream": stream,
                    "events": [entry["hash"]],
                    "message": f"tie: pair {entry['elected']} elected, but the votes of "
                    f"{', '.join(f'pair {n}' for n in entry['tie_break'])} are more evenly spread",
                }
            )
    for timing in store.scan("timing", within=within):
        out.append(
            {
                "kind": timing["kind"],
                "stream": timing["stream"],
                "events": [timing["hash"]],
                "message": timing["message"],
            }
        )
    return out
