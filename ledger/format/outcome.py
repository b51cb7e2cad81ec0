"""Who won: the outcome rules of the law, and the KPU's determination that states it.

A contest's result is *determined* by the KPU of its region (KPU kabupaten/kota
for bupati and walikota, KPU provinsi for gubernur) in a plenary that closes the
recap: a decree (*keputusan*) with its number, announced at a stated time. The
ledger holds it as a ``determination`` in the stream ``result:<contest>``
(docs/format.md 5.14), referencing the top recap it rests on. Its outcome is not
a free choice: the law fixes it from the determined valid votes, and a
determination whose outcome contradicts its own figures is refused.

* Two or more pairs (UU 10/2016 Art. 107(1), 109(1)): the pair with the most
  valid votes is elected. On equal most votes (Art. 107(2), 109(2)) the pair whose
  votes are "more evenly spread" over the kecamatan (bupati, walikota) or the
  regencies and cities (gubernur) is elected. The ledger reads "more evenly
  spread" as *leading in more of those regions among the tied pairs*
  (:func:`tie_break`); the determination must name one of the tied pairs, and a
  determination naming another than :func:`tie_break` gives is a finding.
* One pair against the empty column (*kolom kosong*, Art. 54C): the pair is
  elected only with more than 50% of the valid votes (Art. 54D(1)); otherwise
  the outcome is a new election (Art. 54D(2)-(3)). The kolom kosong is a column
  on the ballot, never a pair: it is never elected, and nothing user-facing calls
  it "pair N" (:func:`column_name`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ledger.errors import SchemaError
from ledger.format.regions import parse_stream_id, recap_stream
from ledger.format.statement import Statement

__all__ = [
    "ELECTED",
    "KOLOM_KOSONG",
    "NEW_ELECTION",
    "OUTCOMES",
    "Outcome",
    "check_outcome",
    "column_name",
    "decide",
    "describe_outcome",
    "determined_recap_stream",
    "tie_break",
]

ELECTED = "elected"
NEW_ELECTION = "new-election"
OUTCOMES = (ELECTED, NEW_ELECTION)
KOLOM_KOSONG = "kolom kosong"
# Art. 54D(1): more than 50% of valid votes, i.e. votes * 2 > valid, in integers.
_MAJORITY_NUM, _MAJORITY_DEN = 1, 2


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the law makes of a contest's valid votes.

    ``result`` is ELECTED or NEW_ELECTION; ``elected`` the ballot number of the
    elected pair (None for a new election, or for a tie the votes alone cannot
    break); ``tied`` the ballot numbers sharing the most votes when there is a
    tie (empty otherwise); ``rule`` the article applied, for people.
    """

    result: str
    elected: int | None
    tied: tuple[int, ...]
    rule: str


def determined_recap_stream(statement: Statement) -> str:
    """The stream of the recap a determination rests on: the top recap of its
    contest, ``recap:<contest>:<contest region>`` (format.md 5.14)."""
    _, contest, region = parse_stream_id(statement.stream)
    return recap_stream(contest, region)


def column_name(number: int | str, kolom_kosong: int | None) -> str:
    """How a ballot column is named to people: ``pair 2``, or ``kolom kosong``."""
    if kolom_kosong is not None and int(number) == kolom_kosong:
        return KOLOM_KOSONG
    return f"pair {number}"


def decide(votes: Mapping[str, int], valid: int, kolom_kosong: int | None, office: str) -> Outcome:
    """The outcome the law gives for ``votes`` (ballot number as str -> valid votes).

    ``valid`` is the contest's valid votes (the denominator of Art. 54D);
    ``kolom_kosong`` the empty column's ballot number, if the contest has one.
    """
    if kolom_kosong is not None:
        pair = next(int(n) for n in votes if int(n) != kolom_kosong)
        if valid > 0 and votes[str(pair)] * _MAJORITY_DEN > _MAJORITY_NUM * valid:
            return Outcome(
                ELECTED, pair, (), "UU 10/2016 Art. 54D(1): more than 50% of valid votes"
            )
        return Outcome(
            NEW_ELECTION,
            None,
            (),
            "UU 10/2016 Art. 54D(2)-(3): the single pair did not win more than 50% of "
            "valid votes, the election is held again",
        )
    most = max(votes.values())
    leaders = tuple(sorted(int(n) for n, v in votes.items() if v == most))
    article = "109" if office == "gubernur" else "107"
    if len(leaders) == 1:
        return Outcome(ELECTED, leaders[0], (), f"UU 10/2016 Art. {article}(1): most valid votes")
    return Outcome(
        ELECTED,
        None,
        leaders,
        f"UU 10/2016 Art. {article}(2): equal votes, the more evenly spread pair is elected",
    )


def tie_break(tied: Sequence[int], regions: Mapping[str, Mapping[str, int]]) -> tuple[int, ...]:
    """Of the ``tied`` pairs, those whose votes are most evenly spread.

    ``regions`` maps each kecamatan (or regency/city, for gubernur) to its votes.
    A pair's spread is the number of regions where it has more votes than every
    other tied pair; the pairs with the largest spread are returned (more than one
    when that ties too: the law then gives no further rule).
    """
    spread = dict.fromkeys(tied, 0)
    for votes in regions.values():
        best = max(votes.get(str(n), 0) for n in tied)
        leading = [n for n in tied if votes.get(str(n), 0) == best]
        if len(leading) == 1:
            spread[leading[0]] += 1
    top = max(spread.values())
    return tuple(n for n in tied if spread[n] == top)


def check_outcome(body: Mapping[str, Any], outcome: Outcome, kolom_kosong: int | None) -> None:
    """Raise SchemaError unless a determination's stated outcome is the law's.

    ``body`` holds ``outcome`` and (for ELECTED) ``elected``; ``outcome`` is
    :func:`decide` on the determination's own totals.
    """
    stated, elected = body["outcome"], body.get("elected")
    if stated != outcome.result:
        raise SchemaError(
            f"determination states {stated!r} but its totals give {outcome.result!r} "
            f"({outcome.rule})"
        )
    if stated == NEW_ELECTION:
        return
    if kolom_kosong is not None and elected == kolom_kosong:
        raise SchemaError("the kolom kosong is a column, not a pair: it cannot be elected")
    if outcome.elected is not None and elected != outcome.elected:
        raise SchemaError(
            f"determination elects pair {elected} but pair {outcome.elected} has the most "
            f"valid votes ({outcome.rule})"
        )
    if outcome.tied and elected not in outcome.tied:
        raise SchemaError(
            f"determination elects pair {elected}, not one of the pairs tied on the most "
            f"votes ({', '.join(map(str, outcome.tied))})"
        )


def describe_outcome(result: str, elected: int | None, names: Mapping[int, str]) -> str:
    """One line for people: ``pair 1 (NAME) elected`` or ``new election``."""
    if result == NEW_ELECTION:
        return "new election (the single pair did not win more than 50% of valid votes)"
    if elected is None:
        return "undetermined"
    name = names.get(elected, "")
    return f"pair {elected}{f' ({name})' if name else ''} elected"
