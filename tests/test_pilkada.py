"""Tests for ledger.pilkada: packaged Pilkada 2024 data, TPS layouts, tally splitting.

The comparison with the source data reads ``shared/data/pilkada2024`` (directory
overridable with LEDGER_PILKADA_DIR) and is skipped when it is absent.
"""

from __future__ import annotations

import gzip
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import pilkada
from ledger.format.regions import kecamatan_of, level_of, tps_region
from ledger.format.schema import (
    REGISTERED_FIELDS,
    TALLY_INT_FIELDS,
    VOTED_FIELDS,
    arithmetic_flags,
    check_tally,
    contest_from_body,
)
from ledger.pilkada.reference import (
    BLORA,
    MAX_REGISTERED,
    RUTAN_BLORA_TPS,
    KecamatanResult,
    contests_in,
    kecamatan_of_region,
    load,
    split_tallies,
    tps_layout,
    villages_of,
)

_override = os.environ.get("LEDGER_PILKADA_DIR")
_SHARED = (
    Path(_override)
    if _override
    else Path(__file__).resolve().parents[2] / "shared" / "data" / "pilkada2024"
)


def _check_split(result: KecamatanResult, tallies: dict[str, dict[str, Any]]) -> None:
    assert result.votes is not None
    contest = contest_from_body(load().contest(result.contest).body())
    sums: Counter[int] = Counter()
    for tps, tally in tallies.items():
        assert kecamatan_of(tps) == result.kecamatan
        assert set(tally) == {*TALLY_INT_FIELDS, "votes"}
        check_tally(tally, contest)  # structure: every field, non-negative ints
        assert arithmetic_flags(tally) == [], (tps, tally)
        for number, votes in tally["votes"].items():
            sums[int(number)] += votes
    assert {n: sums[n] for n in result.votes} == result.votes


def _registered(tally: dict[str, Any]) -> int:
    return sum(tally[name] for name in REGISTERED_FIELDS)


# --- the data --------------------------------------------------------------------------


def test_data_is_packaged() -> None:
    package = Path(pilkada.__file__).resolve().parent
    for name in pilkada.DATA_FILES:
        path = Path(str(pilkada.data_file(name)))
        assert path.resolve().parent == package / "data", path
        assert path.is_file()
    assert (package / "data" / "README.md").is_file()
    data = load()
    assert load() is data  # cached
    assert len(data.contests) == 545
    assert len(data.regions) == 91_599
    assert sum(len(r) for r in data.results.values()) == 14_432


def test_package_data_equals_shared_data() -> None:
    if not _SHARED.is_dir():
        pytest.skip(f"shared data not found at {_SHARED} (set LEDGER_PILKADA_DIR)")
    for name in pilkada.DATA_FILES:
        packaged = gzip.decompress(pilkada.data_file(name).read_bytes())
        assert packaged == (_SHARED / name.removesuffix(".gz")).read_bytes(), name


def test_packaged_gzip_is_reproducible() -> None:
    for name in pilkada.DATA_FILES:
        raw = pilkada.data_file(name).read_bytes()
        assert raw[4:8] == b"\0\0\0\0", f"{name}: gzip mtime is not 0"
        assert raw[3] & 0x08 == 0, f"{name}: gzip header stores a file name"


def test_contests() -> None:
    data = load()
    assert [c.id for c in contests_in(BLORA)] == ["gubernur-33", "bupati-33.16"]
    assert [c.name for c in contests_in(BLORA)] == ["Gubernur Jawa Tengah", "Bupati Blora"]
    assert data.contest("walikota-33.74").name == "Wali Kota Semarang"
    assert [c.id for c in contests_in("33.16.09.1016")] == ["gubernur-33", "bupati-33.16"]
    assert len(contests_in("33")) == 36  # the governor and 35 regencies/cities
    blora = data.contest("bupati-33.16")
    assert [p.number for p in blora.pairs] == [1, 2]
    assert [p.sirekap_id for p in blora.pairs] == [1000663, 1000664]
    kosong = [c for c in data.contests if any(p.kolom_kosong for p in c.pairs)]
    assert len(kosong) == 37
    for contest in data.contests:
        parsed = contest_from_body(contest.body())  # every contest is a valid contest body
        assert parsed.pairs == tuple(range(1, len(contest.pairs) + 1))
        assert contest.id in data.results


def test_regions() -> None:
    blora = kecamatan_of_region(BLORA)
    assert len(blora) == 16
    assert blora[0] == "33.16.01" and "33.16.09" in blora
    assert kecamatan_of_region("33.16.09.1016/007") == ["33.16.09"]
    assert len(kecamatan_of_region("")) == 7_285 + 24
    assert len(villages_of("33.16.09")) == 28
    # the 24 Papua Barat Daya kecamatan missing from regions.csv get synthesized villages
    missing = [k for k in kecamatan_of_region("96") if k not in load().regions]
    assert len(missing) == 24
    for kec in missing:
        villages = villages_of(kec)
        assert villages[0] == f"{kec}.2001"
        assert all(level_of(v) == "desa" for v in villages)


# --- TPS layout ----------------------------------------------------------------------------


def test_blora_tps_counts() -> None:
    data = load()
    for contest in ("bupati-33.16", "gubernur-33"):
        total = sum(data.results[contest][k].tps_total for k in kecamatan_of_region(BLORA))
        assert total == 1_453, contest
    assert sum(len(tps_layout(k)) for k in kecamatan_of_region(BLORA)) == 1_453


def test_layout_shape() -> None:
    for kec in [*kecamatan_of_region(BLORA), "96.01.39", "31.71.01"]:
        layout = tps_layout(kec)
        assert len(layout) == load().tps_total(kec) > 0
        assert layout == sorted(set(layout))
        villages = set(villages_of(kec))
        per_village = Counter(tps_region(t) for t in layout)
        assert set(per_village) <= villages
        if len(layout) >= len(villages):
            assert set(per_village) == villages
        for village, count in per_village.items():
            expected = [f"{village}/{i:03d}" for i in range(1, count + 1)]
            assert [t for t in layout if t.startswith(village + "/")] == expected


def test_layout_prefix_is_the_same_physical_tps() -> None:
    kec = "33.16.09"
    full = tps_layout(kec)
    assert tps_layout(kec, len(full)) == full
    assert tps_layout(kec, len(full)) is not tps_layout(kec, len(full))  # copies
    fewer = tps_layout(kec, 100)
    assert len(fewer) == 100 and set(fewer) <= set(full)
    assert len({tps_region(t) for t in fewer}) == len(villages_of(kec))
    bigger = tps_layout(kec, 200)  # beyond the data: a larger layout
    assert len(bigger) == 200


def test_rutan_blora_tps() -> None:
    layout = tps_layout("33.16.09")
    village = tps_region(RUTAN_BLORA_TPS)
    assert load().regions[village] == "Tempelan"
    assert [t for t in layout if tps_region(t) == village][-1] == RUTAN_BLORA_TPS


# --- splitting -------------------------------------------------------------------------


@pytest.mark.parametrize("contest", ["bupati-33.16", "gubernur-33"])
def test_blora_split_exact_and_clean(contest: str) -> None:
    data = load()
    for kec in kecamatan_of_region(BLORA):
        result = data.results[contest][kec]
        layout = tps_layout(kec, result.tps_total)
        tallies = split_tallies(result, layout, seed=2024)
        assert list(tallies) == layout
        _check_split(result, tallies)
        assert max(_registered(t) for t in tallies.values()) <= MAX_REGISTERED
        invalid = sum(t["invalid"] for t in tallies.values())
        valid = sum(t["valid"] for t in tallies.values())
        assert 0.005 * valid <= invalid <= 0.035 * valid


def test_split_deterministic_and_seeded() -> None:
    result = load().results["bupati-33.16"]["33.16.09"]
    layout = tps_layout("33.16.09")
    first = split_tallies(result, layout, seed=1)
    assert split_tallies(result, layout, seed=1) == first
    assert split_tallies(result, layout, seed="1") == first  # seeds are derived from str()
    assert split_tallies(result, layout, seed=2) != first
    other = split_tallies(result, layout, seed=2)
    assert sum(first[t]["votes"] != other[t]["votes"] for t in layout) > len(layout) // 2


def test_split_same_voters_for_both_contests() -> None:
    data = load()
    kec = "33.16.09"
    layout = tps_layout(kec)
    gub = split_tallies(data.results["gubernur-33"][kec], layout, seed=5)
    bup = split_tallies(data.results["bupati-33.16"][kec], layout, seed=5)
    same = sum(all(gub[t][f] == bup[t][f] for f in REGISTERED_FIELDS) for t in layout)
    assert same >= 0.95 * len(layout)


def test_split_edge_cases() -> None:
    with pytest.raises(ValueError):
        split_tallies(KecamatanResult("bupati-33.16", "33.16.09", 3, 0, None), ["a"], 0)
    with pytest.raises(ValueError):
        split_tallies(KecamatanResult("bupati-33.16", "33.16.09", 0, 0, {1: 1, 2: 2}), [], 0)
    # more votes than 600-voter TPS can hold: registered grows, still consistent
    crowded = KecamatanResult("bupati-33.16", "33.16.09", 3, 3, {1: 1500, 2: 700})
    tallies = split_tallies(crowded, tps_layout("33.16.09", 3), seed=0)
    _check_split(crowded, tallies)
    # zero and tiny votes
    for votes in ({1: 0, 2: 0}, {1: 1, 2: 0}):
        small = KecamatanResult("bupati-33.16", "33.16.09", 5, 5, votes)
        _check_split(small, split_tallies(small, tps_layout("33.16.09", 5), seed=0))


def test_voted_never_exceeds_registered_by_list() -> None:
    result = load().results["gubernur-33"]["33.16.09"]
    for tally in split_tallies(result, tps_layout("33.16.09"), seed=9).values():
        for name in REGISTERED_FIELDS:
            assert tally[f"voted_{name}"] <= tally[name]
        assert sum(tally[name] for name in VOTED_FIELDS) == tally["ballots_used"]


_REPORTED = sorted(
    (contest, kec)
    for contest, results in load().results.items()
    for kec, result in results.items()
    if result.votes is not None
)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_REPORTED), st.integers(min_value=0, max_value=2**32))
def test_split_national_property(where: tuple[str, str], seed: int) -> None:
    contest, kec = where
    result = load().results[contest][kec]
    layout = tps_layout(kec, result.tps_total)
    assert len(layout) == result.tps_total
    tallies = split_tallies(result, layout, seed)
    _check_split(result, tallies)
    assert result.votes is not None
    if sum(result.votes.values()) * 1.05 <= (MAX_REGISTERED - 10) * len(layout):
        assert max(_registered(t) for t in tallies.values()) <= MAX_REGISTERED
