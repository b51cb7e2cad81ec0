"""The process after the count in the projections: orders, recommendations, follow-ups.

The fold (projections.fold) hands each ``order``, ``recommend`` and ``followup``
(docs/format.md 5.11-5.13) to :func:`apply_aftercount`, which keeps them as
entities of their own, keyed by event hash and placed at the sheet's TPS or the
recap's region:

* ``order``: the decision (action, basis, reason, voting day, deadline, ruling,
  the recommendation it follows);
* ``recommendation``: the recommendation and the follow-ups that name it.

The read side (projections.views) asks :func:`recommendation_findings` and
:func:`round_of` for what concerns them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ledger.format.aftercount import OBJECTING, RECOUNT, REFUSE, REVOTE
from ledger.format.dhasil import ADMIN_FIELDS, add_admin, admin_flags, admin_of_tally
from ledger.format.regions import parse_stream_id
from ledger.format.statement import Envelope, Statement
from projections.store import Entity, EventRow, Store

__all__ = [
    "AFTERCOUNT_FINDINGS",
    "admin_findings",
    "answer_plenary",
    "apply_aftercount",
    "apply_plenary_attest",
    "attestation_entry",
    "input_admin",
    "plenary_findings",
    "recap_at",
    "recommendation_findings",
    "round_of",
]

UNFOLLOWED = "unfollowed-recommendation"
CONTRADICTED = "contradicted-followup"
ADMIN_ARITHMETIC = "recap-admin"
ADMIN_MISMATCH = "recap-admin-mismatch"
AFTERCOUNT_FINDINGS = (UNFOLLOWED, CONTRADICTED, ADMIN_ARITHMETIC, ADMIN_MISMATCH)


def apply_aftercount(
    store: Store,
    st: Statement,
    envelope: Envelope,
    leaf: int,
    row: EventRow,
    place: tuple[str, str],
) -> None:
    """Record an order, recommendation or follow-up; ``place`` is (contest, TPS or region)."""
    contest, where = place
    body = st.body
    event = envelope.hash.hex()
    base = {"stream": st.stream, "leaf": leaf, "hash": event, "signer": st.signer.hex()}
    if st.kind == "order":
        entity = {
            **base,
            "action": body["action"],
            "basis": body["basis"],
            "reason": body["reason"],
            "voting_day": body["voting_day"],
            "deadline": body["deadline"],
            "ruling": body.get("ruling"),
            "recommendation": body["recommendation"].hex() if "recommendation" in body else None,
        }
        store.put("order", event, entity, contest=contest, place=where)
        _note_in_recap(store, st.stream, event, leaf)
        row["detail"] = {k: entity[k] for k in ("action", "reason", "deadline", "ruling")}
    elif st.kind == "recommend":
        entity = {
            **base,
            "remedy": body["remedy"],
            "reason": body["reason"],
            "event": body["event"].hex() if "event" in body else None,
            "followups": [],
        }
        store.put("recommendation", event, entity, contest=contest, place=where)
        _note_in_recap(store, st.stream, event, leaf)
        row["detail"] = {"remedy": body["remedy"], "reason": body["reason"]}
    else:
        named = body["recommendation"].hex()
        recommendation = store.get("recommendation", named)
        if recommendation is not None:
            recommendation["followups"].append(
                {**base, "verdict": body["verdict"], "reason": body["reason"]}
            )
            store.put("recommendation", named, recommendation, contest=contest, place=where)
        _note_in_recap(store, st.stream, event, leaf)
        row["detail"] = {
            "recommendation": named,
            "verdict": body["verdict"],
            "reason": body["reason"],
        }


# --- recap plenaries: attestations, objections, refusals (format.md 5.6, 5.8) -------------


def _note(recap: Entity, event: str, leaf: int) -> None:
    """A recap stream's event other than a recap: its leaf, and the stream's head."""
    recap.setdefault("others", {})[event] = leaf
    recap["head"] = event


def _note_in_recap(store: Store, stream: str, event: str, leaf: int) -> None:
    recap = store.get("recap", stream) if stream.startswith("recap:") else None
    if recap is not None:
        _note(recap, event, leaf)
        store.put("recap", stream, recap, contest=recap["contest"], place=recap["region"])


def recap_at(recap: Entity, event: str) -> dict[str, Any] | None:
    """The recap of the stream in effect at ``event`` (an event other than a recap)."""
    leaf = recap.get("others", {}).get(event)
    if leaf is None:
        return None
    entries = [r for r in recap["recaps"] if r["leaf"] <= leaf]
    return entries[-1] if entries else None


def attestation_entry(
    st: Statement, envelope: Envelope, leaf: int, signer: Entity
) -> dict[str, Any]:
    """An attestation as the projection keeps it, on a sheet or at a recap plenary."""
    return {
        "leaf": leaf,
        "hash": envelope.hash.hex(),
        "signer": st.signer.hex(),
        "role": signer.get("role", "unknown"),
        "pair": signer.get("pair"),
        "verdict": st.body["verdict"],
        "event": st.body["event"].hex(),
        "reason": st.body.get("reason", ""),
    }


def apply_plenary_attest(
    store: Store, st: Statement, envelope: Envelope, leaf: int, row: EventRow, signer: Entity
) -> None:
    """A saksi's or Bawaslu's agreement, objection or refusal to sign at a recap plenary."""
    recap = store.get("recap", st.stream)
    if recap is None:
        return  # names no recap: a violation of an imported history, recorded as such
    event = envelope.hash.hex()
    attestation = attestation_entry(st, envelope, leaf, signer)
    recap.setdefault("attestations", []).append(attestation)
    _note(recap, event, leaf)
    contest, region = recap["contest"], recap["region"]
    store.put("recap", st.stream, recap, contest=contest, place=region)
    if attestation["verdict"] in OBJECTING:
        store.put(
            "objection", event, {"stream": st.stream, "leaf": leaf}, contest=contest, place=region
        )
    row.update(
        contest=contest,
        place=region,
        detail={k: attestation[k] for k in ("verdict", "event", "reason", "pair")},
    )


def answer_plenary(recap: Entity, decisions: list[dict[str, Any]], event: str) -> None:
    """Record which objections at this plenary a recap's decisions answer (by name)."""
    objections = {a["hash"] for a in recap.get("attestations", []) if a["verdict"] in OBJECTING}
    for decision in decisions:
        if decision["objection"] in objections:
            recap.setdefault("answered", {})[decision["objection"]] = event


def plenary_findings(recap: Entity) -> Iterable[dict[str, Any]]:
    """An objection or refusal at a plenary that no decision of its recap stream names."""
    answered = recap.get("answered", {})
    for a in recap.get("attestations", []):
        if a["verdict"] in OBJECTING and a["hash"] not in answered:
            what = "refusal to sign" if a["verdict"] == REFUSE else "objection"
            yield {
                "kind": "unanswered-objection",
                "stream": recap["stream"],
                "events": [a["hash"], a["event"]],
                "message": f"{what} not answered: {a['reason']}",
            }


# --- the D.Hasil's administrative block (format.md 5.8.3) ----------------------------------


def input_admin(
    entry_at: Callable[[str, str], tuple[dict[str, Any] | None, str | None]],
    inputs: list[tuple[str, bytes]],
) -> dict[str, int] | None:
    """The sum of the admin blocks of a recap's inputs (a sheet's C.Hasil figures, a
    lower recap's block), or None if an input has none; ``entry_at`` is the fold's
    resolution of an input at its head."""
    total: dict[str, int] = {}
    for stream, head in inputs:
        found, _ = entry_at(stream, head.hex())
        if found is None:
            return None
        admin = admin_of_tally(found) if stream.startswith("sheet:") else found.get("admin")
        if admin is None:
            return None
        add_admin(total, admin)
    return total


def admin_findings(recap: Entity) -> Iterable[dict[str, Any]]:
    """A latest recap whose admin block breaks the D.Hasil's rules, or differs from the
    sum of the level below."""
    latest = recap["recaps"][-1]
    admin = latest.get("admin")
    if admin is None:
        return
    for message in admin_flags(admin, latest["totals"]):
        yield {
            "kind": ADMIN_ARITHMETIC,
            "stream": recap["stream"],
            "events": [latest["hash"]],
            "message": message,
        }
    computed = latest.get("admin_computed")
    if computed is None:
        return
    difference = {n: admin[n] - computed[n] for n in ADMIN_FIELDS if admin[n] != computed[n]}
    if difference:
        yield {
            "kind": ADMIN_MISMATCH,
            "stream": recap["stream"],
            "events": [latest["hash"]],
            "message": f"D.Hasil figures differ from the sum of the level below: {difference}",
            "difference": difference,
        }


def _place(stream: str) -> str:
    """The TPS or region of a sheet or recap stream: where its orders are placed."""
    return parse_stream_id(stream)[2]


def round_of(entry: dict[str, Any]) -> str:
    """The round of voting a count belongs to: '' for voting day, else its order."""
    return str(entry.get("order") or "")


def _done(store: Store, recommendation: Entity) -> tuple[bool, str]:
    """Whether what a recommendation asks was then done in its stream, and what."""
    remedy, stream, leaf = (
        recommendation["remedy"],
        recommendation["stream"],
        recommendation["leaf"],
    )
    if remedy in (REVOTE, RECOUNT):
        orders = [
            o
            for o in store.scan("order", within=_place(stream))
            if o["stream"] == stream and o["leaf"] > leaf and o["action"] == remedy
        ]
        return bool(orders), f"an order of a {remedy}"
    if remedy == "correct":
        if stream.startswith("sheet:"):
            sheet = store.get("sheet", stream)
            tallies = sheet["tallies"] if sheet else []
            return any(t["kind"] == "correct" and t["leaf"] > leaf for t in tallies), "a correction"
        recap = store.get("recap", stream)
        recaps = recap["recaps"] if recap else []
        return any(r["leaf"] > leaf for r in recaps), "a new recap"
    return True, "another remedy"


def recommendation_findings(store: Store, within: str) -> Iterable[dict[str, Any]]:
    """A recommendation no follow-up names; a follow-up that contradicts what was done.

    Accepting a re-vote, recount or correction is contradicted when no such order
    (or correction, or new recap) follows the recommendation in its stream;
    rejecting one, when an order names the recommendation all the same.
    """
    for rec in store.scan("recommendation", within=within):
        stream = rec["stream"]
        if not rec["followups"]:
            yield {
                "kind": UNFOLLOWED,
                "stream": stream,
                "events": [rec["hash"]],
                "message": f"recommendation of {rec['remedy']} has no follow-up: {rec['reason']}",
            }
            continue
        latest = rec["followups"][-1]
        if latest["verdict"] == "accepted":
            done, what = _done(store, rec)
            if not done:
                yield {
                    "kind": CONTRADICTED,
                    "stream": stream,
                    "events": [latest["hash"], rec["hash"]],
                    "message": f"follow-up accepts a {rec['remedy']}, but no {what} followed",
                }
            continue
        ordered = [
            o["hash"]
            for o in store.scan("order", within=_place(stream))
            if o["stream"] == stream and o["recommendation"] == rec["hash"]
        ]
        if ordered:
            yield {
                "kind": CONTRADICTED,
                "stream": stream,
                "events": [latest["hash"], rec["hash"], *ordered],
                "message": f"follow-up rejects the {rec['remedy']}, but an order carries it out",
            }
