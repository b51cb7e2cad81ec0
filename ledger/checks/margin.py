"""The Constitutional Court threshold of Article 158 of Law 10/2016 (Pilkada).

Article 158 of Undang-Undang Nomor 10 Tahun 2016 lets a pair petition the
Mahkamah Konstitusi against the final count only if the difference in votes is
"paling banyak" (at most) a share of the total valid votes (*total suara sah*)
fixed by the population (*jumlah penduduk*) of the region:

* paragraph (1), governor (``gubernur``, a province):

  ========================================  =========
  population                                threshold
  ========================================  =========
  up to 2,000,000                           2%
  more than 2,000,000 up to 6,000,000       1.5%
  more than 6,000,000 up to 12,000,000      1%
  more than 12,000,000                      0.5%
  ========================================  =========

* paragraph (2), regent or mayor (``bupati`` / ``walikota``, a regency or city):

  ========================================  =========
  population                                threshold
  ========================================  =========
  up to 250,000                             2%
  more than 250,000 up to 500,000           1.5%
  more than 500,000 up to 1,000,000         1%
  more than 1,000,000                       0.5%
  ========================================  =========

Boundaries, following the Law's wording: "sampai dengan" (up to *and including*)
puts a population exactly on a band edge in the lower band with the larger
threshold (2,000,000 -> 2%, 2,000,001 -> 1.5%), and "paling banyak" (at most)
makes a margin exactly equal to the threshold *within* it (``margin <= threshold``).
Everything is exact: the margin is a :class:`fractions.Fraction` and the test is
the integer comparison ``margin_votes * den <= num * valid``; no floats anywhere.

What is computed is the statutory arithmetic only, for the top two: the margin
is the votes of the first-placed pair minus those of the second-placed pair, as
a share of the valid votes. In a single-candidate contest the empty box (*kolom
kosong*) is one of the two columns and is ranked like a pair (it can win). The
population is an input: the ledger does not hold census figures.

The Court measures the margin otherwise: between the *winner* and the
*petitioner* (any pair; in a single-candidate contest also an accredited monitor
for the kolom kosong), on the valid votes the KPU *determined*
(:func:`check_petition`, used by dossiers once the determination is in them). Whether the
Court admits a petition is the Court's decision, which this does not predict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, TypeVar

from ledger.errors import SchemaError

__all__ = [
    "OFFICES",
    "MarginResult",
    "check_margin",
    "check_petition",
    "threshold",
]

Ballot = str | int
# A type variable so that dict[int, int] and dict[str, int] are both accepted
# (Mapping is invariant in its key type).
_B = TypeVar("_B", bound=str | int)

# (inclusive upper population bound or None for "no bound", threshold), lowest band first.
_Bands = tuple[tuple[int | None, Fraction], ...]

_PROVINCE_BANDS: _Bands = (  # Article 158(1)
    (2_000_000, Fraction(2, 100)),
    (6_000_000, Fraction(15, 1000)),
    (12_000_000, Fraction(1, 100)),
    (None, Fraction(5, 1000)),
)
_KABKOTA_BANDS: _Bands = (  # Article 158(2)
    (250_000, Fraction(2, 100)),
    (500_000, Fraction(15, 1000)),
    (1_000_000, Fraction(1, 100)),
    (None, Fraction(5, 1000)),
)
_BANDS: dict[str, _Bands] = {
    "gubernur": _PROVINCE_BANDS,
    "bupati": _KABKOTA_BANDS,
    "walikota": _KABKOTA_BANDS,
}
_PARAGRAPH = {"gubernur": 1, "bupati": 2, "walikota": 2}

OFFICES: tuple[str, ...] = tuple(_BANDS)
"""The offices :func:`threshold` and :func:`check_margin` accept."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_office(office: object) -> str:
    if not isinstance(office, str) or office not in _BANDS:
        raise SchemaError(f"office {office!r} is not one of {', '.join(OFFICES)}")
    return office


def _check_population(population: object) -> int:
    if isinstance(population, bool) or not isinstance(population, int):
        raise SchemaError(f"population must be an integer, got {population!r}")
    if population <= 0:
        raise SchemaError(f"population must be positive, got {population}")
    return population


def threshold(office: str, population: int) -> Fraction:
    """The Article 158 threshold, as an exact share of valid votes.

    ``office`` is ``"gubernur"`` (paragraph (1), province bands) or ``"bupati"`` /
    ``"walikota"`` (paragraph (2), regency/city bands); a population exactly on a
    band edge belongs to the lower band ("sampai dengan" is inclusive).
    Raises :class:`~ledger.errors.SchemaError` for an unknown office or a
    population that is not a positive integer.
    """
    bands = _BANDS[_check_office(office)]
    people = _check_population(population)
    for upper, share in bands:
        if upper is None or people <= upper:
            return share
    raise AssertionError("unreachable: the last band has no upper bound")  # pragma: no cover


def _percent(share: Fraction) -> str:
    """``share`` as a percentage with 4 decimals, rounded half to even (exact)."""
    scaled = round(share * 100 * 10_000)
    sign = "-" if scaled < 0 else ""
    scaled = abs(scaled)
    return f"{sign}{scaled // 10_000}.{scaled % 10_000:04d}"


def _fraction(share: Fraction) -> str:
    return f"{share.numerator}/{share.denominator}"


@dataclass(frozen=True)
class MarginResult:
    """The Article 158 check of one contest (see :func:`check_margin`)."""

    office: str
    population: int
    valid: int
    first: tuple[Ballot, int]  # (ballot number, votes) of the first-placed pair
    second: tuple[Ballot, int]  # (ballot number, votes) of the second-placed pair
    margin_votes: int  # first votes - second votes, >= 0
    margin: Fraction  # margin_votes / valid
    threshold: Fraction  # Article 158 share for office and population
    within_threshold: bool  # margin <= threshold
    # Which figures were used and why (check_petition); empty for check_margin's top two.
    basis: str = ""
    kolom_kosong: Ballot | None = None  # the empty column's number, named as such

    @property
    def article(self) -> str:
        """The paragraph applied: ``"158(1)"`` for gubernur, ``"158(2)"`` otherwise."""
        return f"158({_PARAGRAPH[self.office]})"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: percentages as 4-decimal strings, shares as exact ``"num/den"``."""
        return {
            "office": self.office,
            "article": self.article,
            "population": self.population,
            "valid": self.valid,
            "first": {"number": self.first[0], "votes": self.first[1]},
            "second": {"number": self.second[0], "votes": self.second[1]},
            "margin_votes": self.margin_votes,
            "margin": _fraction(self.margin),
            "margin_percent": _percent(self.margin),
            "threshold": _fraction(self.threshold),
            "threshold_percent": _percent(self.threshold),
            "within_threshold": self.within_threshold,
            **({"basis": self.basis} if self.basis else {}),
        }

    def describe(self) -> str:
        """One line in English, e.g. for the CLI or a log."""
        lead = "ties" if self.margin_votes == 0 else "leads"
        verdict = "within" if self.within_threshold else "NOT within"
        first, second = self._name(self.first[0]), self._name(self.second[0])
        basis = f"; {self.basis}" if self.basis else ""
        return (
            f"{self.office}, population {self.population:,}: {first} "
            f"({self.first[1]:,}) {lead} {second} ({self.second[1]:,}) "
            f"by {self.margin_votes:,} of {self.valid:,} valid votes "
            f"({_percent(self.margin)}%); threshold {_percent(self.threshold)}% "
            f"(Art. {self.article} Law 10/2016): {verdict} threshold{basis}"
        )

    def _name(self, number: Ballot) -> str:
        if self.kolom_kosong is not None and str(number) == str(self.kolom_kosong):
            return "kolom kosong"
        return f"pair {number}"


def check_margin(
    office: str,
    votes: Mapping[_B, int],
    population: int,
    valid: int | None = None,
) -> MarginResult:
    """Check a contest's top-two margin against the Article 158 threshold.

    ``votes`` maps each ballot number (the kolom kosong column included, if the
    contest has one) to its votes. ``valid`` is the total of valid votes; it
    defaults to the sum of ``votes`` and, if given, may not be less than it.

    Pairs are ranked by votes, highest first; equal votes keep the order of
    ``votes`` (the margin of a tie is 0 whichever is named first). The result is
    within the threshold when ``margin_votes / valid <= threshold(office,
    population)`` (Article 158(1) for gubernur, 158(2) for bupati/walikota),
    decided with integers only.

    Raises :class:`~ledger.errors.SchemaError` for an unknown office, a
    population that is not a positive integer, a vote count that is not a
    non-negative integer, fewer than two pairs, or no valid votes.
    """
    share = threshold(office, population)
    total = _valid_total(votes, valid)
    ranked = sorted(votes.items(), key=lambda item: -item[1])  # stable: ties keep input order
    first, second = ranked[0], ranked[1]
    margin_votes = first[1] - second[1]
    within = margin_votes * share.denominator <= share.numerator * total
    return MarginResult(
        office=office,
        population=population,
        valid=total,
        first=(first[0], first[1]),
        second=(second[0], second[1]),
        margin_votes=margin_votes,
        margin=Fraction(margin_votes, total),
        threshold=share,
        within_threshold=within,
    )


def _valid_total(votes: Mapping[_B, int], valid: int | None) -> int:
    """The valid votes the margin is a share of, after checking ``votes`` and ``valid``."""
    if not isinstance(votes, Mapping):
        raise SchemaError(f"votes must be a mapping of ballot number to votes, got {votes!r}")
    for number, count in votes.items():
        if not _is_int(count):
            raise SchemaError(f"votes for pair {number!r} must be an integer, got {count!r}")
        if count < 0:
            raise SchemaError(f"votes for pair {number!r} are negative ({count})")
    if len(votes) < 2:
        raise SchemaError(
            f"a margin needs at least two pairs (or pair and kolom kosong), got {len(votes)}"
        )
    counted = sum(votes.values())
    if valid is None:
        total = counted
    else:
        if not _is_int(valid):
            raise SchemaError(f"valid must be an integer, got {valid!r}")
        if valid < counted:
            raise SchemaError(f"valid ({valid}) is less than the sum of the votes ({counted})")
        total = valid
    if total <= 0:
        raise SchemaError("no valid votes: the margin is undefined")
    return total


def check_petition(
    office: str,
    votes: Mapping[_B, int],
    population: int,
    *,
    valid: int,
    winner: _B,
    petitioner: _B,
    basis: str,
    kolom_kosong: _B | None = None,
) -> MarginResult:
    """Article 158 as the Court applies it: the margin between the ``winner`` and the
    ``petitioner`` on the totals the KPU *determined* (not the top two, not the sheets).

    ``votes`` and ``valid`` are the determination's figures; ``winner`` the column
    with the most votes (the elected pair, or the kolom kosong where it won);
    ``petitioner`` any other pair, or in a single-candidate contest the kolom
    kosong (for which an accredited election monitor may petition); ``basis`` says
    which figures these are and why, and is reported with the result.
    Raises SchemaError for an unknown column, a petitioner that is the winner, or
    what :func:`check_margin` refuses.
    """
    share = threshold(office, population)
    total = _valid_total(votes, valid)
    for name, number in (("winner", winner), ("petitioner", petitioner)):
        if number not in votes:
            raise SchemaError(f"{name} {number!r} is not a column of the contest")
    if winner == petitioner:
        raise SchemaError("the petitioner is the winner: there is no margin to check")
    margin_votes = votes[winner] - votes[petitioner]
    within = margin_votes * share.denominator <= share.numerator * total
    return MarginResult(
        office=office,
        population=population,
        valid=total,
        first=(winner, votes[winner]),
        second=(petitioner, votes[petitioner]),
        margin_votes=margin_votes,
        margin=Fraction(margin_votes, total),
        threshold=share,
        within_threshold=within,
        basis=basis,
        kolom_kosong=kolom_kosong,
    )
