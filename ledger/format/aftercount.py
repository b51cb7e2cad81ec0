"""The process after the count, in statement format version 2 (docs/format.md 5.11-5.13).

What happens at a TPS or a recap plenary after voting day, as signed statements:

* ``order`` (5.11): a KPU decision ordering a re-vote (pemungutan suara ulang), a
  delayed or continued vote (susulan, lanjutan) or a recount, with its legal basis,
  reason and deadline; a re-vote at most :data:`MAX_REVOTE_DAYS` after voting day
  unless the Constitutional Court set the deadline (``ruling``). The KPPS count that
  carries it out names it (``count.order``) and supersedes the earlier count; a count
  naming no such order in its stream is refused (reference check, format.md 7 check 9).
* ``recommend`` (5.12): a Bawaslu recommendation at the recommender's level (PTPS,
  Panwaslu Kecamatan, Bawaslu Kabupaten/Kota, Bawaslu Provinsi) of a remedy for the
  sheet or recap of its stream, and ``followup`` (5.13): the KPU side accepting or
  rejecting it, naming it.

These kinds, the count's ``order`` key and the Bawaslu roles exist in version 2
only; version 1 keeps its flat ``panwas`` role. This module holds their body
schemas, who may sign them, and their references within a stream, as pure code
used alike by the ledger (acceptance), the verifier and the projections.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from ledger.errors import OutOfScopeError, SchemaError, UnauthorizedError, UnknownEventError
from ledger.format.fields import event_hash as _hash
from ledger.format.fields import require as _require
from ledger.format.fields import text as _text
from ledger.format.recap import recap_inputs
from ledger.format.regions import (
    KABKOTA,
    KECAMATAN,
    PROVINCE,
    TPS,
    covers,
    kecamatan_of,
    level_of,
    parse_stream_id,
)
from ledger.format.statement import Statement


class Signer(Protocol):
    """What these rules read of a signer (ledger.format.authority.Signer; no import
    of it here, as authority dispatches to this module)."""

    @property
    def role(self) -> str: ...

    @property
    def scope(self) -> str: ...

    def describe(self) -> str: ...


__all__ = [
    "ACTIONS",
    "AFTERCOUNT_KINDS",
    "BAWASLU_ROLES",
    "FOLLOWUP_VERDICTS",
    "MAX_REVOTE_DAYS",
    "REMEDIES",
    "authorize_aftercount",
    "authorize_attest",
    "check_aftercount_body",
    "check_answers",
    "check_references",
    "followup_body",
    "order_body",
    "recommend_body",
    "summary",
    "tag_of",
]

# What an order may order. "delayed" is pemungutan suara susulan (the vote did not
# start), "continued" is lanjutan (it started and was interrupted).
REVOTE, DELAYED, CONTINUED, RECOUNT = "revote", "delayed", "continued", "recount"
ACTIONS = (REVOTE, DELAYED, CONTINUED, RECOUNT)
# A recap plenary's figures can be recounted, not re-voted.
RECAP_ACTIONS = (RECOUNT,)
# UU 1/2015 Art. 112(3) as amended: a re-vote is held at most 10 days after voting day.
MAX_REVOTE_DAYS = 10
DAY = 86_400
REMEDIES = (REVOTE, RECOUNT, "correct", "other")
FOLLOWUP_VERDICTS = ("accepted", "rejected")
AFTERCOUNT_KINDS = ("order", "recommend", "followup")
# A saksi's refusal to sign the C.Hasil or D.Hasil, with its reasons (an attest verdict).
REFUSE = "refuse"
# Verdicts that object: what a correction's `answers` or a recap's decision must name.
OBJECTING = ("object", REFUSE)
# The tags (tag_of) of what check_references accepts: made once, not per statement
# (it runs on every event of ingest, verify and the projection).
_OBJECTION_TAGS = tuple(f"attest:{v}" for v in OBJECTING)
_ORDER_TAGS = tuple(f"order:{a}" for a in ACTIONS)
MAX_ANSWERS = 16  # objections one correction names (as a recap's decisions, format.md 5.8.2)

# The supervisory roles as the law names them (Perbawaslu 15/2024), by scope level.
BAWASLU_PROV, BAWASLU_KAB, PANWASLU_KEC, PTPS = (
    "bawaslu-prov",
    "bawaslu-kab",
    "panwaslu-kec",
    "ptps",
)
BAWASLU_ROLES = {BAWASLU_PROV: PROVINCE, BAWASLU_KAB: KABKOTA, PANWASLU_KEC: KECAMATAN, PTPS: TPS}
# Which Bawaslu role recommends on the recap of a region at each level.
RECOMMENDER_AT = {level: role for role, level in BAWASLU_ROLES.items()}


def _time(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SchemaError(f"{name} must be a non-negative integer (Unix seconds)")
    return value


def _one_of(value: Any, allowed: tuple[str, ...], name: str) -> str:
    if value not in allowed:
        raise SchemaError(f"{name} must be one of {', '.join(allowed)}")
    return str(value)


def check_aftercount_body(kind: str, body: Mapping[str, Any]) -> None:
    """Check the body of an ``order``, ``recommend`` or ``followup`` (format.md 5.11-5.13).

    Which action fits which stream is authority (:func:`authorize_aftercount`).
    """
    if kind == "order":
        _require(
            body,
            {"action", "basis", "reason", "voting_day", "deadline"},
            {"ruling", "recommendation"},
            "order body",
        )
        action = _one_of(body["action"], ACTIONS, "order.action")
        _text(body["basis"], "order.basis")
        _text(body["reason"], "order.reason")
        voting_day = _time(body["voting_day"], "order.voting_day")
        deadline = _time(body["deadline"], "order.deadline")
        if deadline < voting_day:
            raise SchemaError("order.deadline is before order.voting_day")
        if "ruling" in body:
            _text(body["ruling"], "order.ruling")
        elif action == REVOTE and deadline > voting_day + MAX_REVOTE_DAYS * DAY:
            raise SchemaError(
                f"a re-vote is held at most {MAX_REVOTE_DAYS} days after voting day "
                "unless the Constitutional Court set the deadline (order.ruling)"
            )
        if "recommendation" in body:
            _hash(body["recommendation"], "order.recommendation")
    elif kind == "recommend":
        _require(body, {"remedy", "reason"}, {"event"}, "recommend body")
        _one_of(body["remedy"], REMEDIES, "recommend.remedy")
        _text(body["reason"], "recommend.reason")
        if "event" in body:
            _hash(body["event"], "recommend.event")
    elif kind == "followup":
        _require(body, {"recommendation", "verdict", "reason"}, set(), "followup body")
        _hash(body["recommendation"], "followup.recommendation")
        _one_of(body["verdict"], FOLLOWUP_VERDICTS, "followup.verdict")
        _text(body["reason"], "followup.reason")
    else:
        raise SchemaError(f"{kind!r} is not a kind of the process after the count")


def _deny(signer: Signer, what: str) -> UnauthorizedError:
    return UnauthorizedError(f"{signer.describe()} may not {what}")


def authorize_aftercount(
    statement: Statement, signer: Signer, stream_type: str, place: str
) -> None:
    """Raise unless ``signer`` may sign this order, recommendation or follow-up (6.3).

    Precondition: the body passed :func:`check_aftercount_body`; ``stream_type`` and
    ``place`` are those of the statement's ``sheet:`` or ``recap:`` stream.
    """
    kind, body, role = statement.kind, statement.body, signer.role
    at_tps = stream_type == "sheet"
    if kind == "order":
        if not at_tps and body["action"] not in RECAP_ACTIONS:
            raise SchemaError(f"a recap stream takes an order of {', '.join(RECAP_ACTIONS)} only")
        # KPU kab/kota decides on what a TPS or a PPK plenary did; above, the body one
        # level up; an order carrying out a Court ruling is the executing KPU's.
        ruling = "ruling" in body
        if role == "kpu-kab" or (role == "kpu-prov" and (ruling or not at_tps)):
            if not covers(signer.scope, place) or (signer.scope == place and not ruling):
                raise OutOfScopeError(f"{signer.describe()} may not order at {place}")
            return
        raise _deny(signer, "order a re-vote, delayed vote or recount")
    if kind == "recommend":
        if at_tps:
            allowed = (role == PTPS and signer.scope == place) or (
                role == PANWASLU_KEC and signer.scope == kecamatan_of(place)
            )
            if role not in (PTPS, PANWASLU_KEC):
                raise _deny(signer, "recommend on a sheet")
        else:
            if role not in BAWASLU_ROLES:
                raise _deny(signer, "recommend on a recap")
            allowed = role == RECOMMENDER_AT.get(level_of(place)) and signer.scope == place
        if not allowed:
            raise OutOfScopeError(f"{signer.describe()} may not recommend at {place}")
        return
    # followup: the KPU side that holds the sheet or the plenary.
    if role == "ppk":
        if signer.scope != (kecamatan_of(place) if at_tps else place):
            raise OutOfScopeError(f"{signer.describe()} may not follow up at {place}")
        return
    if role in ("kpu-kab", "kpu-prov"):
        if not covers(signer.scope, place):
            raise OutOfScopeError(f"{signer.describe()} may not follow up at {place}")
        return
    raise _deny(signer, "follow up a recommendation")


def check_answers(value: Any, what: str) -> None:
    """A version 2 correction's ``answers``: 1..MAX_ANSWERS distinct hashes (format.md 5.7)."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_ANSWERS:
        raise SchemaError(f"{what} must be a list of 1..{MAX_ANSWERS} objection hashes")
    for i, item in enumerate(value):
        _hash(item, f"{what}[{i}]")
    if len(set(value)) != len(value):
        raise SchemaError(f"{what} names an objection twice")


def authorize_attest(statement: Statement, signer: Signer, stream_type: str, place: str) -> bool:
    """The version 2 rules of ``attest`` (format.md 6.3); True when they decide alone.

    A refusal to sign is a saksi's (on a sheet or a recap). In a ``recap:`` stream
    (version 2 only) the saksi of the contest whose scope is the region, or the
    Bawaslu role of the region's level whose scope is the region, attest the
    plenary's recap: True is returned once allowed. For a sheet, False: the sheet
    rules of ledger.format.authority apply too. ``signer.contest`` is checked there
    for sheets and by the caller's ``contest`` for recaps.
    """
    role = signer.role
    if statement.body["verdict"] == REFUSE and role != "saksi":
        raise _deny(signer, "refuse to sign (a saksi's refusal)")
    if stream_type != "recap":
        return False
    if statement.version < 2:
        raise SchemaError("a recap stream holds only recaps in version 1")
    if role == "saksi" or role == RECOMMENDER_AT.get(level_of(place)):
        if signer.scope != place:
            raise OutOfScopeError(f"{signer.describe()} is not at the plenary of {place}")
        return True
    raise _deny(signer, "attest a recap")


def tag_of(statement: Statement) -> str:
    """What a reference to this event may rely on: its kind, and an order's action."""
    if statement.kind == "order":
        return f"order:{statement.body['action']}"
    if statement.kind == "attest":
        return f"attest:{statement.body['verdict']}"
    return statement.kind


def check_references(statement: Statement, tag: Callable[[str, bytes], str | None]) -> None:
    """Raise UnknownEventError unless what a version 2 key names is where it must be.

    ``tag(stream, hash)`` gives :func:`tag_of` of the event with that hash in that
    stream, or None. Covers ``count.order``, ``order.recommendation``,
    ``recommend.event``, ``followup.recommendation``, ``correct.answers``, an attest
    of a recap, and a version 2 recap's decisions (format.md 7 check 9).
    """
    kind, body = statement.kind, statement.body
    objections = _OBJECTION_TAGS
    if kind == "recap" and statement.version >= 2:
        streams = [statement.stream, *(stream for stream, _ in recap_inputs(statement))]
        for i, decision in enumerate(body.get("decisions", [])):
            named = decision["objection"]
            if not any(tag(stream, named) in objections for stream in streams):
                raise UnknownEventError(
                    f"recap.decisions[{i}] names {named.hex()[:16]}, which is not an "
                    "objection in this recap stream or a stream it sums"
                )
        return
    wanted: list[tuple[str, bytes, tuple[str, ...], str]] = []
    if kind == "attest" and statement.stream.startswith("recap:"):
        wanted.append(("attest.event", body["event"], ("recap",), "a recap"))
    if kind == "correct" and "answers" in body:
        for i, named in enumerate(body["answers"]):
            wanted.append((f"correct.answers[{i}]", named, objections, "an objection"))
    if kind == "count" and "order" in body:
        wanted.append(
            ("count.order", body["order"], _ORDER_TAGS, "an order of a re-vote or recount")
        )
    elif kind == "order" and "recommendation" in body:
        wanted.append(
            ("order.recommendation", body["recommendation"], ("recommend",), "a recommendation")
        )
    elif kind == "recommend" and "event" in body:
        wanted.append(
            (
                "recommend.event",
                body["event"],
                ("count", "correct", "recap"),
                "a count, correction or recap",
            )
        )
    elif kind == "followup":
        wanted.append(
            ("followup.recommendation", body["recommendation"], ("recommend",), "a recommendation")
        )
    for name, target, tags, what in wanted:
        if tag(statement.stream, target) not in tags:
            raise UnknownEventError(
                f"{name} names {target.hex()[:16]}, which is not {what} in this stream"
            )


def stream_place(statement: Statement) -> tuple[str, str]:
    """The stream type and place of an after-count statement (SchemaError elsewhere)."""
    parts = parse_stream_id(statement.stream)
    if parts[0] not in ("sheet", "recap"):
        raise SchemaError(f"{statement.kind!r} belongs in a sheet: or recap: stream")
    return parts[0], parts[2]


def summary(statement: Statement) -> dict[str, Any]:
    """An order, recommendation or follow-up as plain JSON values (hashes as hex)."""
    body = statement.body
    out: dict[str, Any] = {"kind": statement.kind}
    for name, value in sorted(body.items()):
        out[name] = value.hex() if isinstance(value, bytes) else value
    return out


# --- bodies, for signers -----------------------------------------------------------------


def order_body(
    action: str,
    basis: str,
    reason: str,
    voting_day: int,
    deadline: int,
    *,
    ruling: str | None = None,
    recommendation: bytes | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "action": action,
        "basis": basis,
        "reason": reason,
        "voting_day": voting_day,
        "deadline": deadline,
    }
    if ruling is not None:
        body["ruling"] = ruling
    if recommendation is not None:
        body["recommendation"] = recommendation
    return body


def recommend_body(remedy: str, reason: str, event: bytes | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"remedy": remedy, "reason": reason}
    if event is not None:
        body["event"] = event
    return body


def followup_body(recommendation: bytes, verdict: str, reason: str) -> dict[str, Any]:
    return {"recommendation": recommendation, "verdict": verdict, "reason": reason}
