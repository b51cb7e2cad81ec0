"""Tests for ledger.margin: the Article 158 (Law 10/2016) Constitutional Court threshold."""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.checks.margin import OFFICES, MarginResult, check_margin, threshold
from ledger.errors import SchemaError
from ledger.format.regions import OFFICES as REGION_OFFICES
from ledger.pilkada.reference import BLORA, kecamatan_of_region, load

P2, P15, P1, P05 = Fraction(2, 100), Fraction(15, 1000), Fraction(1, 100), Fraction(5, 1000)

# Article 158(1): province bands; 158(2): regency/city bands. Each edge value and one above it.
PROVINCE_EDGES = [
    (1, P2),
    (2_000_000, P2),
    (2_000_001, P15),
    (6_000_000, P15),
    (6_000_001, P1),
    (12_000_000, P1),
    (12_000_001, P05),
    (300_000_000, P05),
]
KABKOTA_EDGES = [
    (1, P2),
    (250_000, P2),
    (250_001, P15),
    (500_000, P15),
    (500_001, P1),
    (1_000_000, P1),
    (1_000_001, P05),
    (50_000_000, P05),
]
ALL_EDGES = [("gubernur", p, t) for p, t in PROVINCE_EDGES] + [
    (office, p, t) for office in ("bupati", "walikota") for p, t in KABKOTA_EDGES
]


def _reference_threshold(office: str, population: int) -> Fraction:
    """An independent restatement of Article 158, for the property test."""
    province = (2_000_000, 6_000_000, 12_000_000)
    kabkota = (250_000, 500_000, 1_000_000)
    edges = province if office == "gubernur" else kabkota
    shares = (P2, P15, P1, P05)
    band = sum(1 for edge in edges if population > edge)
    return shares[band]


# --- thresholds -------------------------------------------------------------------------


def test_offices_match_regions() -> None:
    assert set(OFFICES) == set(REGION_OFFICES)


@pytest.mark.parametrize(("office", "population", "expected"), ALL_EDGES)
def test_threshold_band_edges(office: str, population: int, expected: Fraction) -> None:
    assert threshold(office, population) == expected
    assert isinstance(threshold(office, population), Fraction)


@pytest.mark.parametrize(("office", "population", "expected"), ALL_EDGES)
def test_margin_exactly_at_threshold_is_within(
    office: str, population: int, expected: Fraction
) -> None:
    valid = 20_000  # threshold * valid is a whole number of votes for every band
    at = int(expected * valid)
    assert Fraction(at, valid) == expected
    second = 8_000
    votes = {1: second + at, 2: second, 3: valid - 2 * second - at}
    result = check_margin(office, votes, population)
    assert result.valid == valid
    assert result.margin_votes == at
    assert result.margin == expected
    assert result.within_threshold

    above = {1: second + at + 1, 2: second, 3: valid - 2 * second - at - 1}
    result = check_margin(office, above, population)
    assert result.valid == valid
    assert result.margin_votes == at + 1
    assert result.margin > expected
    assert not result.within_threshold


def test_threshold_not_a_whole_number_of_votes() -> None:
    # 2% of 10,001 is 200.02 votes: 200 is within, 201 is not.
    assert check_margin("bupati", {1: 5100, 2: 4900, 3: 1}, 100_000).within_threshold
    result = check_margin("bupati", {1: 5101, 2: 4900}, 100_000)
    assert result.valid == 10_001
    assert result.margin_votes == 201
    assert not result.within_threshold


def test_explicit_valid_total() -> None:
    # The votes of minor pairs can be left out when the valid total is given.
    result = check_margin("walikota", {1: 5_100, 2: 4_900}, 600_000, valid=20_000)
    assert result.valid == 20_000
    assert result.margin == Fraction(1, 100)
    assert result.within_threshold
    assert not check_margin(
        "walikota", {1: 5_100, 2: 4_900}, 600_000, valid=19_999
    ).within_threshold


# --- ranking ----------------------------------------------------------------------------


def test_tie_has_zero_margin() -> None:
    result = check_margin("gubernur", {1: 500, 2: 500, 3: 10}, 5_000_000)
    assert result.margin_votes == 0
    assert result.margin == 0
    assert result.within_threshold
    assert (result.first, result.second) == ((1, 500), (2, 500))
    swapped = check_margin("gubernur", {2: 500, 1: 500}, 5_000_000)
    assert (swapped.first, swapped.second) == ((2, 500), (1, 500))
    assert "ties" in swapped.describe()


def test_order_of_votes_does_not_matter() -> None:
    result = check_margin("bupati", {3: 10, 1: 40, 2: 50}, 300_000)
    assert result.first == (2, 50)
    assert result.second == (1, 40)
    assert result.margin_votes == 10
    assert result.margin == Fraction(10, 100)


def test_string_ballot_numbers() -> None:
    result = check_margin("bupati", {"1": 40, "2": 60}, 300_000)
    assert result.first == ("2", 60)
    assert result.to_json()["first"] == {"number": "2", "votes": 60}


def test_kolom_kosong_can_win() -> None:
    votes: dict[str | int, int] = {1: 9_900, "kolom kosong": 10_100}
    result = check_margin("bupati", votes, 100_000)
    assert result.first == ("kolom kosong", 10_100)
    assert result.second == (1, 9_900)
    assert result.margin == Fraction(200, 20_000)
    assert result.within_threshold


def _contest_totals(contest: str, kecamatan: list[str] | None = None) -> dict[int, int]:
    data = load()
    results = data.results[contest]
    codes = kecamatan if kecamatan is not None else sorted(results)
    totals: dict[int, int] = {pair.number: 0 for pair in data.contest(contest).pairs}
    for kec in codes:
        votes = results[kec].votes
        assert votes is not None, f"{contest} not reported in {kec}"
        for number, count in votes.items():
            totals[number] += count
    return totals


def test_kolom_kosong_won_pangkal_pinang() -> None:
    # Wali Kota Pangkal Pinang 2024: a single pair against the empty box, which won.
    contest = "walikota-19.71"
    info = load().contest(contest)
    empty = next(pair.number for pair in info.pairs if pair.kolom_kosong)
    totals = _contest_totals(contest)
    result = check_margin("walikota", totals, 200_000)
    ranked = sorted(totals.values(), reverse=True)
    assert result.first == (empty, totals[empty])
    assert result.margin_votes == ranked[0] - ranked[1]
    assert result.valid == sum(totals.values())


# --- the provisional Sirekap figures: Blora ------------------------------------------------------------------


@pytest.mark.parametrize(
    "population",
    [1, 250_000, 250_001, 500_000, 500_001, 1_000_000, 1_000_001, 10_000_000],
)
def test_blora_2024_not_within_threshold_for_any_band(population: int) -> None:
    contest = f"bupati-{BLORA}"
    kecamatan = kecamatan_of_region(BLORA)
    assert kecamatan, "no kecamatan for Blora"
    totals = _contest_totals(contest, kecamatan)
    valid = sum(totals.values())
    (first_no, first_votes), (_, second_votes) = sorted(
        totals.items(), key=lambda item: item[1], reverse=True
    )[:2]

    result = check_margin("bupati", totals, population)
    assert result.valid == valid
    assert result.first == (first_no, first_votes)
    assert result.margin_votes == first_votes - second_votes
    assert result.margin == Fraction(first_votes - second_votes, valid)
    assert result.margin > max(t for _, t in KABKOTA_EDGES)  # beyond even the 2% band
    assert not result.within_threshold
    assert "NOT within" in result.describe()


# --- output -----------------------------------------------------------------------------


def test_to_json() -> None:
    result = check_margin("gubernur", {1: 5_075, 2: 4_925}, 3_000_000)
    out = result.to_json()
    assert json.loads(json.dumps(out)) == out
    assert out == {
        "office": "gubernur",
        "article": "158(1)",
        "population": 3_000_000,
        "valid": 10_000,
        "first": {"number": 1, "votes": 5_075},
        "second": {"number": 2, "votes": 4_925},
        "margin_votes": 150,
        "margin": "3/200",
        "margin_percent": "1.5000",
        "threshold": "3/200",
        "threshold_percent": "1.5000",
        "within_threshold": True,
    }
    assert Fraction(out["margin"]) == result.margin
    assert Fraction(out["threshold"]) == result.threshold


def test_to_json_rounds_percent_exactly() -> None:
    # 1/3 of the votes: 33.3333...%; 2/3: 66.6666...% -> 66.6667.
    assert check_margin("bupati", {1: 2, 2: 1}, 10).to_json()["margin_percent"] == "33.3333"
    assert (
        check_margin("bupati", {1: 2, 2: 0}, 10, valid=3).to_json()["margin_percent"] == "66.6667"
    )
    assert check_margin("bupati", {1: 1, 2: 1}, 10).to_json()["margin_percent"] == "0.0000"
    assert check_margin("bupati", {1: 1, 2: 1}, 10).to_json()["margin"] == "0/1"
    assert (
        check_margin("bupati", {1: 1, 2: 0}, 2_000_000).to_json()["threshold_percent"] == "0.5000"
    )


def test_describe_one_line() -> None:
    result = check_margin("walikota", {1: 60_000, 2: 40_000}, 900_000)
    line = result.describe()
    assert "\n" not in line
    assert "20,000" in line and "100,000" in line
    assert "20.0000%" in line and "1.0000%" in line
    assert "158(2)" in line
    assert "NOT within" in line
    assert "158(1)" in check_margin("gubernur", {1: 1, 2: 1}, 9).describe()


def test_result_is_frozen() -> None:
    result = check_margin("bupati", {1: 2, 2: 1}, 10)
    with pytest.raises(AttributeError):
        result.valid = 5  # type: ignore[misc]
    assert isinstance(result, MarginResult)


# --- errors -----------------------------------------------------------------------------


def _one_line_error(call: Any, match: str) -> None:
    with pytest.raises(SchemaError, match=match) as info:
        call()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("office", ["Gubernur", "wali kota", "presiden", "", 1])
def test_bad_office(office: Any) -> None:
    _one_line_error(lambda: threshold(office, 100), "office")
    _one_line_error(lambda: check_margin(office, {1: 2, 2: 1}, 100), "office")


@pytest.mark.parametrize("population", [0, -1, -2_000_000])
def test_non_positive_population(population: int) -> None:
    _one_line_error(lambda: threshold("bupati", population), "positive")
    _one_line_error(lambda: check_margin("gubernur", {1: 2, 2: 1}, population), "positive")


@pytest.mark.parametrize("population", [1.5, "1000", True, None])
def test_population_not_an_integer(population: Any) -> None:
    _one_line_error(lambda: threshold("bupati", population), "integer")


def test_negative_votes() -> None:
    _one_line_error(lambda: check_margin("bupati", {1: 10, 2: -1}, 100), "negative")


@pytest.mark.parametrize("count", [1.0, "5", True, None])
def test_votes_not_integers(count: Any) -> None:
    _one_line_error(lambda: check_margin("bupati", {1: 10, 2: count}, 100), "integer")


def test_no_valid_votes() -> None:
    _one_line_error(lambda: check_margin("bupati", {1: 0, 2: 0}, 100), "no valid votes")
    _one_line_error(lambda: check_margin("bupati", {1: 0, 2: 0}, 100, valid=0), "no valid votes")


@pytest.mark.parametrize("votes", [{}, {1: 100}, {"kolom kosong": 5}])
def test_fewer_than_two_pairs(votes: dict[Any, int]) -> None:
    _one_line_error(lambda: check_margin("bupati", votes, 100), "at least two")


def test_valid_less_than_votes() -> None:
    _one_line_error(lambda: check_margin("bupati", {1: 10, 2: 5}, 100, valid=14), "less than")
    _one_line_error(lambda: check_margin("bupati", {1: 10, 2: 5}, 100, valid=-1), "less than")
    _one_line_error(lambda: check_margin("bupati", {1: 10, 2: 5}, 100, valid=15.0), "integer")  # type: ignore[arg-type]


# --- property ---------------------------------------------------------------------------

vote_vectors = st.lists(st.integers(0, 10_000_000), min_size=2, max_size=8).filter(
    lambda counts: sum(counts) > 0
)


@given(
    office=st.sampled_from(OFFICES),
    population=st.integers(1, 400_000_000),
    counts=vote_vectors,
    extra=st.one_of(st.none(), st.integers(0, 1_000_000)),
)
def test_property(office: str, population: int, counts: list[int], extra: int | None) -> None:
    votes = {number: count for number, count in enumerate(counts, start=1)}
    valid = None if extra is None else sum(counts) + extra
    result = check_margin(office, votes, population, valid=valid)
    top = sorted(counts, reverse=True)
    expected_valid = sum(counts) if valid is None else valid
    assert result.valid == expected_valid
    assert result.first[1] == top[0]
    assert result.second[1] == top[1]
    assert result.first[0] != result.second[0]
    assert result.margin_votes == top[0] - top[1]
    assert result.margin == Fraction(result.margin_votes, expected_valid)
    assert (
        result.threshold
        == threshold(office, population)
        == _reference_threshold(office, population)
    )
    assert result.within_threshold == (
        Fraction(result.margin_votes, result.valid) <= result.threshold
    )
    out = result.to_json()
    assert Fraction(out["margin"]) == result.margin
    assert out["within_threshold"] is result.within_threshold
