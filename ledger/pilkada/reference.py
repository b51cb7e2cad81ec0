"""Real Pilkada 2024 reference data, TPS layouts and per-TPS C.Hasil tallies.

The data (region codes, candidate pairs and per-kecamatan Sirekap results of the
27 November 2024 regional elections, as published on 28 November 2024: provisional
figures, not the certified results) ships gzip-compressed in ``ledger/data``;
see ``ledger/data/README.md`` for provenance. :func:`load` parses it once.

Per-TPS figures are not in the data, so simulations build them:

* :func:`tps_layout` gives a kecamatan's polling stations as TPS ids
  (``VILLAGE/NNN``), spread over its villages;
* :func:`split_tallies` splits a kecamatan's votes over those TPS into full
  C.Hasil tallies whose per-kecamatan sums are exactly the data's figures and
  which all pass :func:`ledger.format.schema.arithmetic_flags`.

Both are deterministic: the layout depends only on the data, the tallies on the
data and a seed (derived with BLAKE2b, never Python's salted ``hash()``).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import math
import random
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from itertools import accumulate
from typing import Any

from ledger.format.regions import contest_id, covers

__all__ = [
    "BLORA",
    "DATA_FILES",
    "MAX_REGISTERED",
    "RUTAN_BLORA_TPS",
    "ContestInfo",
    "KecamatanResult",
    "PairInfo",
    "Pilkada",
    "contest_tallies",
    "contests_in",
    "data_file",
    "kecamatan_of_region",
    "load",
    "split_tallies",
    "tps_layout",
    "villages_of",
]

DATA_FILES = ("regions.csv.gz", "candidates.csv.gz", "kecamatan_results.csv.gz")

BLORA = "33.16"
# Rutan Kelas IIB Blora (the regency's remand prison) lies on Jl. Pemuda in the
# town centre of kecamatan Blora (33.16.09); public map listings place it in
# kelurahan Tempelan, the best-fitting village of regions.csv (not verified against
# a KPU TPS list). Its TPS Lokasi Khusus is, by convention here, the LAST TPS of the
# layout for Tempelan: tps_layout("33.16.09") gives Tempelan TPS 001..007 and
# 33.16.09.1016/007 is the Rutan's (tests check this against the layout).
RUTAN_BLORA_VILLAGE = "33.16.09.1016"
RUTAN_BLORA_TPS = "33.16.09.1016/007"

MAX_REGISTERED = 600  # registered voters per TPS (PKPU: at most 600 per TPS)
_SYNTH_TPS_PER_VILLAGE = 3  # for kecamatan with no villages in regions.csv
_OFFICE_ORDER = {"gubernur": 0, "bupati": 1, "walikota": 1}


@dataclass(frozen=True, slots=True)
class PairInfo:
    """One column of a contest's ballot."""

    number: int  # ballot number, 1..n
    name: str
    sirekap_id: int
    kolom_kosong: bool  # the empty box of a single-candidate contest


@dataclass(frozen=True, slots=True)
class ContestInfo:
    id: str  # "bupati-33.16"
    office: str  # gubernur, bupati, walikota
    region: str  # province or regency/city code
    name: str  # "Bupati Blora", "Gubernur Jawa Tengah", "Wali Kota Semarang"
    pairs: tuple[PairInfo, ...]

    def body(self) -> dict[str, Any]:
        """The ``contest`` statement body defining this contest (schema.contest_from_body)."""
        pairs: list[dict[str, Any]] = []
        for pair in self.pairs:
            item: dict[str, Any] = {"number": pair.number, "name": pair.name}
            if pair.kolom_kosong:
                item["kolom_kosong"] = True
            pairs.append(item)
        return {
            "contest": self.id,
            "office": self.office,
            "region": self.region,
            "name": self.name,
            "pairs": pairs,
        }


@dataclass(frozen=True, slots=True)
class KecamatanResult:
    """One contest's provisional Sirekap result in one kecamatan."""

    contest: str
    kecamatan: str
    tps_total: int
    tps_reported: int
    votes: dict[int, int] | None  # ballot number -> votes; None if not reported


def data_file(name: str) -> Traversable:
    """The packaged data file ``name`` (one of DATA_FILES), inside the ledger package."""
    return resources.files("ledger.pilkada").joinpath("data", name)


def _rows(name: str) -> Iterator[list[str]]:
    text = gzip.decompress(data_file(name).read_bytes()).decode("utf-8")
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader)  # header
    return reader


def _contest_name(office: str, region_name: str) -> str:
    if office == "gubernur":
        return f"Gubernur {region_name}"
    if office == "walikota":
        return f"Wali Kota {region_name.removeprefix('Kota ')}"
    return f"Bupati {region_name.removeprefix('Kabupaten ')}"


class Pilkada:
    """The parsed reference data; get the shared instance with :func:`load`."""

    def __init__(self) -> None:
        self.regions: dict[str, str] = {}
        villages: dict[str, list[str]] = defaultdict(list)
        kecamatan: set[str] = set()
        for code, name in _rows("regions.csv.gz"):
            self.regions[code] = name
            dots = code.count(".")
            if dots == 2:
                kecamatan.add(code)
            elif dots == 3:
                villages[code[:8]].append(code)

        pairs: dict[tuple[str, str], list[PairInfo]] = defaultdict(list)
        ballot_of: dict[int, tuple[str, int]] = {}
        for office, region, number, sirekap, name in _rows("candidates.csv.gz"):
            empty = name.startswith("KOLOM KOSONG")
            pair = PairInfo(
                number=int(number),
                name="KOLOM KOSONG" if empty else name,
                sirekap_id=int(sirekap),
                kolom_kosong=empty,
            )
            pairs[(office, region)].append(pair)
            ballot_of[pair.sirekap_id] = (contest_id(office, region), pair.number)
        contests = [
            ContestInfo(
                id=contest_id(office, region),
                office=office,
                region=region,
                name=_contest_name(office, self.regions[region]),
                pairs=tuple(sorted(found, key=lambda p: p.number)),
            )
            for (office, region), found in pairs.items()
        ]
        contests.sort(key=lambda c: (c.region, _OFFICE_ORDER[c.office]))
        self.contests: list[ContestInfo] = contests
        self._contest = {c.id: c for c in contests}

        raw: dict[tuple[str, str], tuple[int, int, dict[int, int] | None]] = {}
        for row in _rows("kecamatan_results.csv.gz"):
            kec, total, reported, sirekap, votes = row[2:]
            cid, ballot = ballot_of[int(sirekap)]
            key = (cid, kec)
            if key not in raw:
                raw[key] = (int(total), int(reported), None if votes == "" else {})
            counted = raw[key][2]
            if counted is not None:
                counted[ballot] = int(votes)
            kecamatan.add(kec)
        self.results: dict[str, dict[str, KecamatanResult]] = {c.id: {} for c in contests}
        self._at: dict[str, list[KecamatanResult]] = defaultdict(list)
        for (cid, kec), (n_total, n_reported, counted) in sorted(raw.items()):
            ordered = None if counted is None else dict(sorted(counted.items()))
            result = KecamatanResult(cid, kec, n_total, n_reported, ordered)
            self.results[cid][kec] = result
            self._at[kec].append(result)

        self._kecamatan: dict[str, list[str]] = defaultdict(list)
        for kec in sorted(kecamatan):
            for prefix in (kec[:2], kec[:5], kec):
                self._kecamatan[prefix].append(kec)
        self._tps_max = {kec: max(r.tps_total for r in rs) for kec, rs in self._at.items()}
        self._villages: dict[str, list[str]] = {}
        for kec in sorted(kecamatan):
            found = sorted(villages.get(kec, ()))
            if not found:
                # 24 Papua Barat Daya kecamatan (96.01.39 and up) are in the results
                # but not in regions.csv (2025 code list): synthesize desa codes
                # KEC.2001, KEC.2002, ... at about 3 TPS per village.
                n = max(1, math.ceil(self._tps_max.get(kec, 1) / _SYNTH_TPS_PER_VILLAGE))
                found = [f"{kec}.{2001 + i}" for i in range(n)]
            self._villages[kec] = found

    def contest(self, contest: str) -> ContestInfo:
        """The contest with id ``contest`` (KeyError if there is none)."""
        return self._contest[contest]

    def contests_in(self, code: str) -> list[ContestInfo]:
        """The contests with TPS in region ``code``: those covering it or lying inside it."""
        return [c for c in self.contests if covers(c.region, code) or covers(code, c.region)]

    def kecamatan_of_region(self, code: str) -> list[str]:
        """The kecamatan codes in (or, for a village or TPS, containing) region ``code``."""
        if code == "":
            return sorted({k for ks in self._kecamatan.values() for k in ks})
        return list(self._kecamatan.get(code[:8], ()))

    def villages_of(self, kecamatan: str) -> list[str]:
        """The village codes of a kecamatan (synthesized for the 24 missing from regions.csv)."""
        return list(self._villages.get(kecamatan, ()))

    def results_at(self, kecamatan: str) -> list[KecamatanResult]:
        """Every contest's result in one kecamatan (gubernur first)."""
        return list(self._at.get(kecamatan, ()))

    def tps_total(self, kecamatan: str) -> int:
        """The number of physical TPS of a kecamatan: the max over its contests."""
        return self._tps_max.get(kecamatan, 0)


@cache
def load() -> Pilkada:
    """The packaged reference data, parsed once."""
    return Pilkada()


def contests_in(code: str) -> list[ContestInfo]:
    return load().contests_in(code)


def kecamatan_of_region(code: str) -> list[str]:
    return load().kecamatan_of_region(code)


def villages_of(kecamatan: str) -> list[str]:
    return load().villages_of(kecamatan)


# --- TPS layout ----------------------------------------------------------------------


@lru_cache(maxsize=16384)
def _full_layout(kecamatan: str, n: int) -> tuple[str, ...]:
    """All ``n`` TPS of a kecamatan in round-robin order (village 1 TPS 1, village 2 TPS 1...)."""
    villages = load().villages_of(kecamatan)
    if not villages:
        raise KeyError(f"unknown kecamatan {kecamatan!r}")
    v = len(villages)
    if n <= v:
        counts = [0] * v
        for i in range(n):  # evenly spaced villages get one TPS each
            counts[i * v // n] = 1
    else:
        # One TPS each, the rest by largest remainder with kelurahan (1xxx, urban,
        # denser) weighted 2 and desa (2xxx) weighted 1.
        weights = [2 if code.rsplit(".", 1)[1].startswith("1") else 1 for code in villages]
        extra = n - v
        total = sum(weights)
        quotas = [extra * w / total for w in weights]
        counts = [1 + int(q) for q in quotas]
        left = n - sum(counts)
        order = sorted(range(v), key=lambda i: (-(quotas[i] - int(quotas[i])), i))
        for i in order[:left]:
            counts[i] += 1
    out: list[str] = []
    for number in range(1, max(counts) + 1):
        out.extend(
            f"{code}/{number:03d}" for code, c in zip(villages, counts, strict=True) if c >= number
        )
    return tuple(out)


@lru_cache(maxsize=16384)
def _layout(kecamatan: str, tps_total: int) -> tuple[str, ...]:
    n = max(tps_total, load().tps_total(kecamatan))
    return tuple(sorted(_full_layout(kecamatan, n)[:tps_total]))


def tps_layout(kecamatan: str, tps_total: int | None = None) -> list[str]:
    """The TPS ids ``VILLAGE/NNN`` of a kecamatan, sorted, numbered 001.. per village.

    The kecamatan's physical TPS are laid out once, for the largest ``tps_total`` of
    its contests (gubernur and bupati/walikota share the same TPS), so the layout is
    the same whichever contest asks. Each village gets at least one TPS (if there are
    enough), the rest go by largest remainder with kelurahan weighted twice a desa.
    A contest with fewer TPS (``tps_total`` below the max) gets the first
    ``tps_total`` of them in round-robin order (every village's TPS 001, then every
    village's 002, ...), so its TPS are a subset spread over the villages. Without
    ``tps_total``, all the kecamatan's TPS.
    """
    total = load().tps_total(kecamatan) if tps_total is None else tps_total
    if total < 0:
        raise ValueError("tps_total must not be negative")
    return list(_layout(kecamatan, total))


# --- splitting votes into C.Hasil tallies ----------------------------------------------


def _seed(*parts: object) -> int:
    text = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def _apportion(total: int, weights: Sequence[float], offset: float) -> list[int]:
    """Split ``total`` into len(weights) non-negative ints summing to it exactly.

    Systematic rounding of the cumulative weights (``offset`` in [0, 1)).
    """
    cums = list(accumulate(weights))
    scale = total / cums[-1]
    cuts = [min(total, int(c * scale + offset)) for c in cums]
    cuts[-1] = total
    return [b - a for a, b in zip([0, *cuts[:-1]], cuts, strict=True)]


def _split2(voted: int, reg_m: int, reg_f: int, share_f: float) -> tuple[int, int]:
    """Voters (m, f) out of ``voted`` <= reg_m + reg_f, within each registered figure."""
    vf = min(reg_f, max(voted - reg_m, round(voted * min(1.0, max(0.0, share_f)))))
    return voted - vf, vf


@dataclass(frozen=True, slots=True)
class _Voters:
    """The contest-independent voter side of a kecamatan's TPS."""

    size: list[float]
    dpt_m: list[int]
    dpt_f: list[int]
    dptb_m: list[int]
    dptb_f: list[int]
    dpk_m: list[int]
    dpk_f: list[int]
    disabled: list[int]
    spread: float  # relative spread of TPS size


def _voters(kecamatan: str, n: int, valid_ref: int, seed: int | str) -> _Voters:
    """DPT/DPTb/DPK and disabled voters per TPS, the same for every contest of the TPS."""
    rng = random.Random(_seed("pilkada-voters", seed, kecamatan, n, valid_ref))
    rnd = rng.random
    used_ref = valid_ref * 1.02 / n  # expected ballots used per TPS
    # TPS sizes vary +-spread, less where TPS are already near the 600 cap.
    spread = max(0.0, min(0.3, MAX_REGISTERED * 0.96 / used_ref - 1)) if used_ref else 0.3
    size = [1 + spread * (2 * rnd() - 1) for _ in range(n)]
    total_size = sum(size)
    turnout = 0.6 + 0.18 * rnd()  # kecamatan turnout of the DPT
    f_share = 0.49 + 0.03 * rnd()
    dpt_m: list[int] = []
    dpt_f: list[int] = []
    dptb_m: list[int] = []
    dptb_f: list[int] = []
    dpk_m: list[int] = []
    dpk_f: list[int] = []
    disabled: list[int] = []
    per_size = valid_ref * 1.02 / total_size / turnout
    for s in size:
        r = rnd()
        extra_b = 0 if r < 0.55 else (1 if r < 0.85 else 2)
        extra_k = 0 if r < 0.35 or r > 0.9 else (1 if r < 0.7 else 3)
        b_f = extra_b // 2
        k_f = (extra_k + (r > 0.5)) // 2
        dptb_f.append(b_f)
        dptb_m.append(extra_b - b_f)
        dpk_f.append(k_f)
        dpk_m.append(extra_k - k_f)
        dpt = min(MAX_REGISTERED - extra_b - extra_k, round(s * per_size * (0.95 + 0.1 * r)))
        f = round(dpt * (f_share + 0.02 * (rnd() - 0.5)))
        dpt_f.append(f)
        dpt_m.append(dpt - f)
        disabled.append(int(r * 7) % 4)
    return _Voters(size, dpt_m, dpt_f, dptb_m, dptb_f, dpk_m, dpk_f, disabled, spread)


def _cap_rows(columns: list[list[int]], valid: list[int], cap: int) -> None:
    """Move votes from TPS above ``cap`` valid votes to the emptiest TPS, in place."""
    n = len(valid)
    if sum(valid) > cap * n:
        return  # infeasible: the kecamatan needs more than the cap per TPS
    for i in range(n):
        while valid[i] > cap:
            k = min(range(n), key=valid.__getitem__)
            j = max(range(len(columns)), key=lambda j: columns[j][i])
            move = min(valid[i] - cap, cap - valid[k], columns[j][i])
            columns[j][i] -= move
            columns[j][k] += move
            valid[i] -= move
            valid[k] += move


def split_tallies(
    result: KecamatanResult, tps_ids: Sequence[str], seed: int | str = 0
) -> dict[str, dict[str, Any]]:
    """Split a kecamatan's votes (the data's) over ``tps_ids`` into full C.Hasil tallies.

    Every tally has all of schema.TALLY_INT_FIELDS and ``votes`` (str ballot number ->
    votes) and passes schema.arithmetic_flags; summed over the TPS, each ballot
    number's votes are exactly ``result.votes``. Registered voters stay at most
    MAX_REGISTERED per TPS unless the kecamatan's votes need more (then registered =
    voters); invalid votes are ~0.5-3.5% of valid, DPTb/DPK 0-3 per TPS. The voter
    side (DPT, DPTb, DPK, disabled) is derived from the kecamatan, not the contest,
    so the gubernur and bupati/walikota sheets of one TPS list the same voters
    unless a contest's voters exceed them there. ``result.votes`` must not be None
    (an unreported kecamatan has nothing to split). The votes are spread over all
    ``tps_ids`` (pass ``tps_layout(kec, tps_total)``), even where the snapshot had
    only ``tps_reported`` of them in.
    """
    if result.votes is None:
        raise ValueError(f"{result.contest} has no reported votes in {result.kecamatan}")
    n = len(tps_ids)
    if n == 0:
        raise ValueError("split_tallies needs at least one TPS")
    kec = result.kecamatan
    numbers = list(result.votes)
    valid_total = sum(result.votes.values())
    valid_ref = max(
        [valid_total]
        + [sum(r.votes.values()) for r in load().results_at(kec) if r.votes is not None]
    )
    voters = _voters(kec, n, valid_ref, seed)
    rng = random.Random(_seed("pilkada-tally", seed, result.contest, kec, n))
    rnd = rng.random

    # Votes: each pair's total apportioned over the TPS by size times a per-TPS
    # preference, so the columns sum exactly; rows then give the valid votes.
    pref = min(0.35, max(0.05, 2 * voters.spread))
    size = voters.size
    columns = [
        _apportion(result.votes[num], [s * (1 + pref * (2 * rnd() - 1)) for s in size], rnd())
        for num in numbers
    ]
    valid = [sum(row) for row in zip(*columns, strict=True)] if numbers else [0] * n
    _cap_rows(columns, valid, MAX_REGISTERED - 10)

    keys = [str(num) for num in numbers]
    invalid_rate = 0.005 + 0.025 * rnd()
    tallies: dict[str, dict[str, Any]] = {}
    for i, tps in enumerate(tps_ids):
        r = rnd()
        ok = valid[i]
        bad = round(ok * (invalid_rate * (0.6 + 0.8 * r)))
        if ok <= MAX_REGISTERED:
            bad = min(bad, MAX_REGISTERED - ok)
        used = ok + bad
        reg_k = voters.dpk_m[i] + voters.dpk_f[i]
        reg_b = voters.dptb_m[i] + voters.dptb_f[i]
        v_k = min(reg_k, used)
        v_b = min(reg_b, used - v_k)
        v_dpt = used - v_k - v_b
        dpt_m, dpt_f = voters.dpt_m[i], voters.dpt_f[i]
        if v_dpt > dpt_m + dpt_f:  # more voters than this TPS's DPT: grow the DPT
            short = v_dpt - dpt_m - dpt_f
            dpt_f += short // 2
            dpt_m += short - short // 2
        dpt = dpt_m + dpt_f
        vm, vf = _split2(v_dpt, dpt_m, dpt_f, (dpt_f / dpt if dpt else 0.5) + 0.02 * (r - 0.3))
        bm, bf = _split2(v_b, voters.dptb_m[i], voters.dptb_f[i], 0.5)
        km, kf = _split2(v_k, voters.dpk_m[i], voters.dpk_f[i], 0.5)
        disabled = voters.disabled[i]
        damaged = 1 if r > 0.85 else 0
        received = max(dpt + math.ceil(dpt * 0.025), used + damaged)
        tallies[tps] = {
            "dpt_m": dpt_m,
            "dpt_f": dpt_f,
            "dptb_m": voters.dptb_m[i],
            "dptb_f": voters.dptb_f[i],
            "dpk_m": voters.dpk_m[i],
            "dpk_f": voters.dpk_f[i],
            "voted_dpt_m": vm,
            "voted_dpt_f": vf,
            "voted_dptb_m": bm,
            "voted_dptb_f": bf,
            "voted_dpk_m": km,
            "voted_dpk_f": kf,
            "disabled_registered": disabled,
            "disabled_voted": min(disabled - (r < 0.3 and disabled > 0), used),
            "ballots_received": received,
            "ballots_damaged": damaged,
            "ballots_unused": received - used - damaged,
            "ballots_used": used,
            "valid": ok,
            "invalid": bad,
            "votes": dict(zip(keys, [col[i] for col in columns], strict=True)),
        }
    return tallies


def contest_tallies(
    contest: str, seed: int | str = 0, region: str = ""
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(TPS id, tally) for every TPS of a contest's reported kecamatan (within ``region``)."""
    data = load()
    for kec, result in data.results[contest].items():
        if result.votes is None or not covers(region, kec):
            continue
        yield from split_tallies(result, tps_layout(kec, result.tps_total), seed).items()
