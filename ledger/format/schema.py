"""Body schemas of every statement kind, and the C.Hasil arithmetic rules.

Structural violations (a missing or unknown field, a negative or non-integer
number, an unknown ballot number) are rejected with :class:`SchemaError`. The
arithmetic rules of form C.Hasil are *checked but not enforced*: a signed sheet
that breaks them is evidence, so :func:`arithmetic_flags` reports them for the
projections instead of rejecting the statement.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ledger.errors import SchemaError
from ledger.format.aftercount import (
    AFTERCOUNT_KINDS,
    BAWASLU_ROLES,
    REFUSE,
    check_aftercount_body,
    check_answers,
)
from ledger.format.dhasil import check_admin
from ledger.format.fields import MAX_TEXT
from ledger.format.fields import count as _count
from ledger.format.fields import event_hash as _hash
from ledger.format.fields import require as _require
from ledger.format.fields import text as _text
from ledger.format.outcome import ELECTED, OUTCOMES, check_outcome, decide
from ledger.format.recap import MAX_DECISION_TEXT, MAX_DECISIONS, check_inputs_v2
from ledger.format.regions import (
    KABKOTA,
    KECAMATAN,
    OFFICES,
    PROVINCE,
    TPS,
    contest_id,
    covers,
    level_of,
)
from ledger.format.schedule import check_schedule

__all__ = [
    "KINDS",
    "KINDS_V2",
    "ROLES",
    "TALLY_FIELDS",
    "Contest",
    "arithmetic_flags",
    "check_body",
    "contest_from_body",
    "tally_flags",
    "voted_total",
]

# Registered voters (DPT, DPTb, DPK by sex), voters who used their right (same
# split), disabled voters, ballots, and the totals of the vote.
VOTER_LISTS = ("dpt", "dptb", "dpk")
SEXES = ("m", "f")
REGISTERED_FIELDS = tuple(f"{lst}_{sex}" for lst in VOTER_LISTS for sex in SEXES)
VOTED_FIELDS = tuple(f"voted_{name}" for name in REGISTERED_FIELDS)
TALLY_INT_FIELDS = (
    *REGISTERED_FIELDS,
    *VOTED_FIELDS,
    "disabled_registered",
    "disabled_voted",
    "ballots_received",
    "ballots_damaged",
    "ballots_unused",
    "ballots_used",
    "valid",
    "invalid",
)
TALLY_FIELDS = (*TALLY_INT_FIELDS, "votes", "photo_sha256")
_OPTIONAL_TALLY_FIELDS = frozenset({"photo_sha256"})
# Version 2 follows the C.Hasil form, on which only the DPT has registered voters: the
# registered DPTb and DPK fields, and their over-registered checks, are version 1's.
V1_ONLY_FIELDS = ("dptb_m", "dptb_f", "dpk_m", "dpk_f")

ROLES = ("kpu-prov", "kpu-kab", "ppk", "kpps", "panwas", "ptps", "paslon", "saksi")
KINDS = ("election", "contest", "grant", "revoke", "count", "attest", "correct", "recap")
# Version 2 adds the process after the count (format.md 5.11-5.13, ledger.format.aftercount)
# and the KPU's determination (5.14): their kinds, and the Bawaslu roles as the law names
# them in place of version 1's `panwas`. A version 1 statement of a version 2 kind is refused.
ROLES_V2 = (*(r for r in ROLES if r not in ("panwas", "ptps")), *BAWASLU_ROLES)
KINDS_V2 = (*KINDS, *AFTERCOUNT_KINDS, "determination")
VERDICTS = ("agree", "object")
RULINGS = ("upheld", "dismissed")
MAX_PAIRS = 20


@dataclass(frozen=True, slots=True)
class Contest:
    """A contest as defined by the KPU root in the election stream."""

    id: str
    office: str
    region: str
    name: str
    pairs: tuple[int, ...]
    kolom_kosong: int | None

    def covers(self, place: str) -> bool:
        return covers(self.region, place)


def tally_fields(version: int) -> tuple[str, ...]:
    """The integer fields of a C.Hasil tally in format ``version`` (format.md 5.9)."""
    if version == 1:
        return TALLY_INT_FIELDS
    return tuple(name for name in TALLY_INT_FIELDS if name not in V1_ONLY_FIELDS)


def tally_form(tally: Mapping[str, Any], version: int) -> dict[str, Any]:
    """``tally`` with the fields of ``version`` only (a signer's copy of the form)."""
    return {k: v for k, v in tally.items() if version == 1 or k not in V1_ONLY_FIELDS}


def check_tally(tally: Any, contest: Contest, what: str = "tally", *, version: int = 1) -> None:
    """Check the structure of a C.Hasil tally of format ``version`` against its contest."""
    if not isinstance(tally, dict):
        raise SchemaError(f"{what} must be a map")
    fields = tally_fields(version)
    _require(tally, {*fields, "votes"}, set(_OPTIONAL_TALLY_FIELDS), what)
    for name in fields:
        _count(tally[name], f"{what}.{name}")
    votes = tally["votes"]
    if not isinstance(votes, dict):
        raise SchemaError(f"{what}.votes must be a map of ballot number to votes")
    expected = {str(n) for n in contest.pairs}
    unknown = set(votes) - expected
    if unknown:
        raise SchemaError(
            f"{what}.votes: unknown ballot number(s) {', '.join(sorted(unknown))} "
            f"in contest {contest.id} (pairs {', '.join(sorted(expected))})"
        )
    missing = expected - set(votes)
    if missing:
        raise SchemaError(f"{what}.votes lacks ballot number(s) {', '.join(sorted(missing))}")
    for number, value in votes.items():
        _count(value, f"{what}.votes[{number}]")
    if "photo_sha256" in tally:
        _hash(tally["photo_sha256"], f"{what}.photo_sha256")


ARITHMETIC = "arithmetic"
OVER_REGISTERED = "over-registered"


def tally_flags(tally: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The C.Hasil rules a (structurally valid) tally breaks, as (rule, message).

    ``rule`` is ARITHMETIC for the sums (votes = valid; valid + invalid = ballots
    used = voters who voted; received = used + unused + damaged) and
    OVER_REGISTERED for more voters than registered (per list and sex, and for
    disabled voters).
    """
    flags = []
    votes_sum = sum(tally["votes"].values())
    if votes_sum != tally["valid"]:
        flags.append((ARITHMETIC, f"sum of votes {votes_sum} != valid {tally['valid']}"))
    valid_invalid = tally["valid"] + tally["invalid"]
    if valid_invalid != tally["ballots_used"]:
        flags.append(
            (ARITHMETIC, f"valid + invalid {valid_invalid} != ballots used {tally['ballots_used']}")
        )
    voted = sum(tally[name] for name in VOTED_FIELDS)
    if voted != tally["ballots_used"]:
        flags.append(
            (ARITHMETIC, f"ballots used {tally['ballots_used']} != voters who voted {voted}")
        )
    accounted = tally["ballots_used"] + tally["ballots_unused"] + tally["ballots_damaged"]
    if accounted != tally["ballots_received"]:
        flags.append(
            (
                ARITHMETIC,
                f"ballots received {tally['ballots_received']} != used + unused + damaged "
                f"{accounted}",
            )
        )
    for name in REGISTERED_FIELDS:
        if name in tally and tally[f"voted_{name}"] > tally[name]:  # version 2: DPT only
            flags.append(
                (
                    OVER_REGISTERED,
                    f"voted_{name} {tally[f'voted_{name}']} > registered {name} {tally[name]}",
                )
            )
    if tally["disabled_voted"] > tally["disabled_registered"]:
        flags.append(
            (
                OVER_REGISTERED,
                f"disabled voted {tally['disabled_voted']} > registered "
                f"{tally['disabled_registered']}",
            )
        )
    return flags


def arithmetic_flags(tally: Mapping[str, Any]) -> list[str]:
    """The messages of every rule the tally breaks (see :func:`tally_flags`)."""
    return [message for _, message in tally_flags(tally)]


def voted_total(tally: Mapping[str, Any]) -> int:
    """Voters who used their right: the sum of the voted_* fields."""
    return sum(tally[name] for name in VOTED_FIELDS)


def contest_from_body(body: Mapping[str, Any]) -> Contest:
    """Check a ``contest`` body and return the contest it defines."""
    _require(body, {"contest", "office", "region", "name", "pairs"}, set(), "contest body")
    office = _text(body["office"], "contest.office")
    if office not in OFFICES:
        raise SchemaError(f"contest.office {office!r} is not one of {', '.join(OFFICES)}")
    region = _text(body["region"], "contest.region")
    if level_of(region) != OFFICES[office]:
        raise SchemaError(f"contest for {office} needs a {OFFICES[office]} code, got {region}")
    if body["contest"] != contest_id(office, region):
        raise SchemaError(f"contest id must be {contest_id(office, region)!r}")
    pairs = body["pairs"]
    if not isinstance(pairs, list) or not 1 <= len(pairs) <= MAX_PAIRS:
        raise SchemaError(f"contest.pairs must be a list of 1..{MAX_PAIRS} pairs")
    numbers: list[int] = []
    kolom_kosong = None
    for i, pair in enumerate(pairs):
        if not isinstance(pair, dict):
            raise SchemaError(f"contest.pairs[{i}] must be a map")
        _require(pair, {"number", "name"}, {"kolom_kosong"}, f"contest.pairs[{i}]")
        number = _count(pair["number"], f"contest.pairs[{i}].number")
        if number != i + 1:
            raise SchemaError(f"contest.pairs[{i}].number must be {i + 1}, got {number}")
        _text(pair["name"], f"contest.pairs[{i}].name")
        if "kolom_kosong" in pair:
            if pair["kolom_kosong"] is not True or kolom_kosong is not None:
                raise SchemaError("contest.pairs: kolom_kosong must be true on at most one pair")
            kolom_kosong = number
        numbers.append(number)
    if kolom_kosong is not None and len(pairs) != 2:
        raise SchemaError("a kolom kosong contest has exactly one pair and the empty box")
    return Contest(
        id=body["contest"],
        office=office,
        region=region,
        name=_text(body["name"], "contest.name"),
        pairs=tuple(numbers),
        kolom_kosong=kolom_kosong,
    )


def _check_grant(body: Mapping[str, Any], version: int) -> None:
    _require(body, {"key", "role", "scope", "label"}, {"contest", "pair", "khusus"}, "grant body")
    if not isinstance(body["key"], bytes) or len(body["key"]) != 32:
        raise SchemaError("grant.key must be a raw 32-byte Ed25519 public key")
    role = body["role"]
    roles = ROLES if version == 1 else ROLES_V2
    if role not in roles:
        raise SchemaError(
            f"grant.role {role!r} is not one of {', '.join(roles)} in version {version}"
        )
    _text(body["label"], "grant.label")
    scope = _text(body["scope"], "grant.scope")
    level = level_of(scope)
    wanted = {
        "kpu-prov": (PROVINCE,),
        "kpu-kab": (KABKOTA,),
        "ppk": (KECAMATAN,),
        "kpps": (TPS,),
        "panwas": (PROVINCE, KABKOTA, KECAMATAN),
        "ptps": (TPS,),
        "paslon": (PROVINCE, KABKOTA),
        "saksi": (PROVINCE, KABKOTA, KECAMATAN, TPS),
        **{name: (level,) for name, level in BAWASLU_ROLES.items()},
    }[role]
    if level not in wanted:
        raise SchemaError(
            f"a {role} grant needs a scope at level {' or '.join(wanted)}, got {scope}"
        )
    needs_pair = role in ("paslon", "saksi")
    if needs_pair != ("contest" in body) or needs_pair != ("pair" in body):
        raise SchemaError(
            f"a {role} grant {'needs' if needs_pair else 'must not have'} contest and pair"
        )
    if needs_pair:
        _text(body["contest"], "grant.contest")
        _count(body["pair"], "grant.pair")
    if "khusus" in body and (role != "kpps" or body["khusus"] is not True):
        raise SchemaError("grant.khusus is only for kpps grants, and only as true")


def _check_attest(body: Mapping[str, Any], version: int) -> None:
    _require(body, {"event", "verdict"}, {"reason"}, "attest body")
    _hash(body["event"], "attest.event")
    # Version 2: a saksi may refuse to sign, with reasons (format.md 5.6).
    verdicts = VERDICTS if version == 1 else (*VERDICTS, REFUSE)
    if body["verdict"] not in verdicts:
        raise SchemaError(f"attest.verdict must be one of {', '.join(verdicts)}")
    if body["verdict"] != "agree":
        _text(body.get("reason"), "attest.reason (required for an objection)")
    elif "reason" in body:
        _text(body["reason"], "attest.reason", empty=True)


def _check_inputs_v1(inputs: Any) -> None:
    if not isinstance(inputs, list) or not inputs:
        raise SchemaError("recap.inputs must be a non-empty list")
    seen = set()
    for i, item in enumerate(inputs):
        if not isinstance(item, dict):
            raise SchemaError(f"recap.inputs[{i}] must be a map")
        _require(item, {"stream", "head"}, set(), f"recap.inputs[{i}]")
        _text(item["stream"], f"recap.inputs[{i}].stream")
        _hash(item["head"], f"recap.inputs[{i}].head")
        if item["stream"] in seen:
            raise SchemaError(f"recap.inputs names stream {item['stream']} twice")
        seen.add(item["stream"])


def _check_recap(body: Mapping[str, Any], contest: Contest, version: int) -> None:
    # Version 2: the D.Hasil's administrative block, optional (format.md 5.8.3).
    optional = {"decisions"} if version == 1 else {"decisions", "admin"}
    _require(body, {"inputs", "totals"}, optional, "recap body")
    if "admin" in body:
        check_admin(body["admin"])
    if version == 1:
        _check_inputs_v1(body["inputs"])
    else:
        check_inputs_v2(body["inputs"])
    _check_totals(body["totals"], contest, "recap.totals")
    decisions = body.get("decisions", [])
    if not isinstance(decisions, list):
        raise SchemaError("recap.decisions must be a list")
    # Version 2 bounds decisions so the largest kecamatan's recap fits an entry (5.8).
    reason_limit = MAX_TEXT if version == 1 else MAX_DECISION_TEXT
    if version >= 2 and len(decisions) > MAX_DECISIONS:
        raise SchemaError(
            f"recap.decisions holds {len(decisions)} decisions, at most {MAX_DECISIONS}: "
            "put the rest in the next recap of the stream"
        )
    for i, decision in enumerate(decisions):
        if not isinstance(decision, dict):
            raise SchemaError(f"recap.decisions[{i}] must be a map")
        _require(decision, {"objection", "ruling", "reason"}, set(), f"recap.decisions[{i}]")
        _hash(decision["objection"], f"recap.decisions[{i}].objection")
        if decision["ruling"] not in RULINGS:
            raise SchemaError(f"recap.decisions[{i}].ruling must be one of {', '.join(RULINGS)}")
        _text(decision["reason"], f"recap.decisions[{i}].reason", limit=reason_limit)


def _check_totals(totals: Any, contest: Contest, what: str) -> None:
    if not isinstance(totals, dict):
        raise SchemaError(f"{what} must be a map")
    _require(totals, {"votes", "valid", "invalid", "voted"}, set(), what)
    for name in ("valid", "invalid", "voted"):
        _count(totals[name], f"{what}.{name}")
    votes = totals["votes"]
    expected = {str(n) for n in contest.pairs}
    if not isinstance(votes, dict) or set(votes) != expected:
        raise SchemaError(f"{what}.votes must have exactly ballot numbers {sorted(expected)}")
    for number, value in votes.items():
        _count(value, f"{what}.votes[{number}]")


def _check_determination(body: Mapping[str, Any], contest: Contest) -> None:
    """A determination (format.md 5.14): its fields, and the law's outcome of its totals."""
    _require(
        body, {"recap", "decree", "announced", "totals", "outcome"}, {"elected"}, "determination"
    )
    _hash(body["recap"], "determination.recap")
    _text(body["decree"], "determination.decree", limit=MAX_DECISION_TEXT)
    _count(body["announced"], "determination.announced")
    _check_totals(body["totals"], contest, "determination.totals")
    totals = body["totals"]
    if body["outcome"] not in OUTCOMES:
        raise SchemaError(f"determination.outcome must be one of {', '.join(OUTCOMES)}")
    if (body["outcome"] == ELECTED) != ("elected" in body):
        raise SchemaError("determination.elected is required for 'elected', and only then")
    if "elected" in body and _count(body["elected"], "determination.elected") not in contest.pairs:
        raise SchemaError(
            f"determination.elected: contest {contest.id} has no pair {body['elected']}"
        )
    outcome = decide(totals["votes"], totals["valid"], contest.kolom_kosong, contest.office)
    check_outcome(body, outcome, contest.kolom_kosong)


def check_body(
    kind: str, body: Mapping[str, Any], contest: Callable[[], Contest], *, version: int
) -> None:
    """Check ``body`` against the schema of ``kind`` in format ``version``.

    ``contest()`` gives the stream's contest. The versions differ in the recap body
    (format.md 5.8), the election's schedule (5.1) and the determination (5.14);
    kinds a later version adds are refused in earlier ones.
    """
    if kind not in KINDS and kind in KINDS_V2 and version < 2:
        raise SchemaError(
            f"statement kind {kind!r} exists from format version 2 (this statement is version 1)"
        )
    if kind == "election":
        # Version 2 elections may carry their schedule (format.md 5.1).
        _require(body, {"name"}, {"schedule"} if version >= 2 else set(), "election body")
        _text(body["name"], "election.name")
        if "schedule" in body:
            check_schedule(body["schedule"])
    elif kind == "contest":
        contest_from_body(body)
    elif kind == "grant":
        _check_grant(body, version)
    elif kind == "revoke":
        _require(body, {"key", "reason"}, set(), "revoke body")
        _hash(body["key"], "revoke.key (a key id)")
        _text(body["reason"], "revoke.reason")
    elif kind == "count":
        # Version 2: a count carrying out a re-vote, delayed vote or recount names its order.
        _require(body, {"tally"}, set() if version == 1 else {"order"}, "count body")
        check_tally(body["tally"], contest(), "count.tally", version=version)
        if "order" in body:
            _hash(body["order"], "count.order")
    elif kind == "attest":
        _check_attest(body, version)
    elif kind == "correct":
        # Version 2: the objections a correction answers are named (format.md 5.7).
        optional = set() if version == 1 else {"answers"}
        _require(body, {"corrects", "reason", "tally"}, optional, "correct body")
        if "answers" in body:
            check_answers(body["answers"], "correct.answers")
        _hash(body["corrects"], "correct.corrects")
        _text(body["reason"], "correct.reason")
        check_tally(body["tally"], contest(), "correct.tally", version=version)
    elif kind == "recap":
        _check_recap(body, contest(), version)
    elif kind == "determination":
        _check_determination(body, contest())
    elif kind in AFTERCOUNT_KINDS:
        check_aftercount_body(kind, body)
    else:
        known = KINDS if version == 1 else KINDS_V2
        raise SchemaError(
            f"unknown statement kind {kind!r} in version {version} (known: {', '.join(known)})"
        )
