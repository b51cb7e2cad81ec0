"""A whole election's signed statements, generated from the real Pilkada 2024 data.

Projections, benchmarks and demos need a ledger that looks like a real election
(hundreds of thousands of sheets, real vote totals, the real grant hierarchy),
with known faults planted in it, so that a finding can be checked against what
was planted. :class:`Simulation` produces exactly that, as envelopes: it never
touches a ledger, and it yields them in an order a ledger accepts one by one or
in batches of any size.

What it generates, region by region (``region`` is a province, regency/city or
kecamatan code, or ``""`` for the whole country):

* the ``election`` and the contests in or over the region;
* grants from the roots: ``kpu-prov`` per province with a gubernur contest,
  ``kpu-kab`` per regency/city, ``paslon`` per real candidate pair (the kolom
  kosong has none);
* then kecamatan by kecamatan (sorted, so each regency and province is
  contiguous): the ``ppk`` and ``panwas`` grants, a ``saksi`` per real pair of
  every contest (scope: the kecamatan), a ``kpps`` and a ``ptps`` per TPS (the TPS
  Khusus of Rutan Blora gets ``khusus``); per TPS and contest the KPPS count (the
  kecamatan's real votes split by :func:`ledger.pilkada.reference.split_tallies`; one KPPS
  key signs every contest's sheet at its TPS), a PTPS ``agree`` and the ``agree``
  of a random subset of the pairs' saksi; then the kecamatan's injected faults;
  then one PPK recap per contest naming the current head of every sheet;
* after a regency's last kecamatan, its ``kpu-kab`` recaps (over the kecamatan
  recaps), and after a province's last regency the ``kpu-prov`` recap of its
  gubernur contest, each only where the simulated region covers that level;
  after the top recap of a contest, the KPU's ``determination`` of its result
  (the recap's figures and the outcome the law gives them: in Kabupaten Bangka
  and Kota Pangkalpinang the kolom kosong leads, so the outcome is a new
  election, as it really was). The election carries its schedule
  (ledger.format.schedule.PILKADA_2024).

The order is by region rather than "all grants, then all counts, then all
recaps" so that memory stays flat for the whole country (~435,000 TPS, ~837,000
sheets): keys, tallies and stream heads are held for one kecamatan at a time,
and only the recap heads of the current regency and province beyond that.
Every statement still follows the statements it depends on.

Times are claims anchored on ``scenario.time`` (by default 12:00 WIB on polling
day, 27 November 2024): grants in the weeks before, counts from 13:00 into the
evening, corrections and kecamatan recaps from 28 November, regency recaps from
5 December, province recaps on 7 December, each determination announced two hours
after its top recap (all inside the windows of ``PILKADA_2024``). Within every stream, time never
goes backwards.

Everything is deterministic: the same region, seed, faults and scenario give
byte-identical envelopes. Randomness comes from :class:`random.Random` seeded by
SHA-256 of the seed and a label, never from Python's salted ``hash()``.

Faults and what they do to totals (the *effective* tally of a sheet is its latest
count or correction):

* ``arithmetic``: a count whose ``valid`` and ``invalid`` are shifted by the same
  amount, so exactly one rule breaks (sum of votes != valid); votes unchanged.
* ``over_registered``: a count whose registered voters (DPT, DPTb, DPK) are set to
  the voters who voted, minus one in one field: exactly one "voted_X > registered
  X" flag, and the TPS's voters exceed its registered voters. Votes unchanged.
* ``objections_answered``: the count moves some votes of one real pair to another
  ballot number; that pair's saksi objects; the PPK corrects it with the real
  tally; the saksi (and the PTPS, with ``attest_by_ptps``) attests the
  correction, and the kecamatan recap records the objection as upheld.
* ``objections_unanswered``: a saksi objects to a count that is in fact right;
  nothing answers. Votes unchanged.
* ``unattested_corrections``: a count with moved votes, corrected by the PPK to
  the real tally; nobody attests the correction.
* ``equivocations``: the KPPS key signs a count with moved votes (attested as
  usual), then a second, different count with the real tally in the same sheet.
  The effective tally is the second count, so totals stay real.
* ``missing_sheets``: a TPS whose KPPS is granted but signs no count for one
  contest. The kecamatan's votes are split over its other TPS, so totals stay
  real.
* ``recap_mismatches``: a kecamatan recap whose totals move some votes between
  two ballot numbers (valid unchanged) relative to the sum of its inputs.
* ``recap_omissions``: a kecamatan recap that leaves out one counted sheet; its
  totals are the sum of the inputs it names, so they lack that sheet's votes.
* ``stale_heads``: a sheet whose count is corrected (the disabled voters are
  fixed, no total changes) and attested, but whose kecamatan recap names the
  count's hash, not the correction's.

So the effective sheet tallies always sum to the data's figures (the provisional
Sirekap figures of 28 November 2024, not the certified results)
(:meth:`Simulation.expected_totals`). Only ``recap_mismatches`` and
``recap_omissions`` change recap totals: the bad kecamatan recap's, and (because
a higher recap sums the totals of the recaps it names) the regency and province
recaps above it. ``arithmetic`` also changes the valid/invalid split of the
recaps above its sheet, not their votes or voters.
"""

from __future__ import annotations

import hashlib
import random
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, fields
from itertools import accumulate
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import pilkada
from ledger.format import canonical, ed25519
from ledger.format.aftercount import REFUSE, followup_body, order_body, recommend_body
from ledger.format.dhasil import add_admin, admin_of_tally
from ledger.format.recap import MAX_DECISIONS
from ledger.format.regions import (
    KABKOTA,
    KECAMATAN,
    PROVINCE,
    covers,
    key_stream,
    level_of,
    recap_stream,
    result_stream,
    sheet_stream,
)
from ledger.format.schedule import PILKADA_2024
from ledger.format.schema import REGISTERED_FIELDS, V1_ONLY_FIELDS, VOTED_FIELDS, tally_form
from ledger.format.signing import (
    attest_body,
    correct_body,
    count_body,
    determination_body,
    grant_body,
    recap_body,
)
from ledger.format.statement import (
    ZERO_HASH,
    Envelope,
    Statement,
    check_entry_size,
    key_id,
    statement_context,
)
from ledger.format.trust import TrustRoots
from ledger.pilkada.aftercount import AfterCount, after_plan, first_count, rng
from ledger.pilkada.reference import ContestInfo, KecamatanResult
from ledger.pilkada.scenario import Scenario

__all__ = [
    "FAULT_KINDS",
    "AfterCount",
    "ContestTotals",
    "Faults",
    "Injected",
    "Simulation",
]

MINUTE = 60
HOUR = 3600
DAY = 86400
# A delayed (susulan) or continued (lanjutan) vote: the order's reason and legal
# basis, and how long after polling day the vote is then held.
POSTPONED = {
    "delayed": (
        "logistics did not reach the TPS on polling day",
        "UU 1/2015 Pasal 120; PKPU 17/2024",
        2 * DAY,
    ),
    "continued": ("voting interrupted by flooding", "UU 1/2015 Pasal 121; PKPU 17/2024", DAY),
}

Tally = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Faults:
    """How many faults of each kind to plant (see the module docstring for each)."""

    arithmetic: int = 0
    over_registered: int = 0
    objections_answered: int = 0
    objections_unanswered: int = 0
    unattested_corrections: int = 0
    equivocations: int = 0
    missing_sheets: int = 0
    recap_mismatches: int = 0
    recap_omissions: int = 0
    stale_heads: int = 0
    unfollowed_recommendations: int = 0
    contradicted_followups: int = 0
    unanswered_plenary_objections: int = 0
    admin_mismatches: int = 0

    @classmethod
    def each(cls, n: int = 1) -> Faults:
        """``n`` faults of every kind: the usual fixture for projection tests."""
        return cls(**{kind: n for kind in FAULT_KINDS})

    def items(self) -> list[tuple[str, int]]:
        return [(kind, getattr(self, kind)) for kind in FAULT_KINDS]

    @property
    def total(self) -> int:
        return sum(n for _, n in self.items())

    def plan_key(self) -> str:
        """What seeds the plan: the faults as named before the after-count kinds (unless
        asked for), so that a plan without them places every fault where it did."""
        named = (f"{k}={n}" for k, n in self.items() if n or k not in _AFTERCOUNT_FAULTS)
        return f"Faults({', '.join(named)})"


FAULT_KINDS: tuple[str, ...] = tuple(f.name for f in fields(Faults))
_SHEET_KINDS = (
    "arithmetic",
    "over_registered",
    "objections_answered",
    "objections_unanswered",
    "unattested_corrections",
    "equivocations",
    "stale_heads",
    "unfollowed_recommendations",
    "contradicted_followups",
)
# Faults that need the kinds of the process after the count (format version 2).
_AFTERCOUNT_FAULTS = (
    "unfollowed_recommendations",
    "contradicted_followups",
    "unanswered_plenary_objections",
    "admin_mismatches",
)
_MOVED = frozenset({"objections_answered", "unattested_corrections", "equivocations"})


@dataclass(frozen=True, slots=True)
class Injected:
    """One planted fault: what a projection should find, and where.

    ``stream`` is the sheet stream for sheet faults (for ``missing_sheets`` the
    stream that never appears) and the kecamatan recap stream for recap faults.
    ``events`` are the hashes of the statements involved, in stream order:

    * arithmetic, over_registered: [count]
    * objections_answered: [count, objection, correction, its attestations...]
    * objections_unanswered: [count, objection]
    * unattested_corrections: [count, correction]
    * equivocations: [first count, second count]
    * missing_sheets: [the KPPS grant] (the registration with no count)
    * recap_mismatches: [recap]
    * recap_omissions: [recap, head of the omitted sheet]
    * stale_heads: [recap, the stale head it names (the count), the sheet's head
      (the attestation of the correction that superseded the count)]
    """

    kind: str
    stream: str
    events: list[bytes]
    note: str


@dataclass(frozen=True, slots=True)
class ContestTotals:
    """Votes per ballot number (str) a contest should show within the simulated region.

    These are the effective sheet totals: the real data, which every fault keeps
    (see the module docstring). ``unreported`` lists kecamatan whose results are
    not in the data: their TPS are registered (KPPS granted) but have no sheet for
    this contest, by nature rather than by an injected fault.
    """

    contest: str
    region: dict[str, int]
    kabkota: dict[str, dict[str, int]]
    kecamatan: dict[str, dict[str, int]]
    unreported: dict[str, tuple[str, ...]]


@dataclass(slots=True)
class _Key:
    key: Ed25519PrivateKey
    id: bytes
    public: bytes


@dataclass(slots=True)
class _Unit:
    """One contest in one kecamatan: its registered TPS and its real result."""

    contest: ContestInfo
    kecamatan: str
    result: KecamatanResult | None
    tps: tuple[str, ...]

    @property
    def reported(self) -> bool:
        return self.result is not None and self.result.votes is not None


@dataclass(slots=True)
class _Sheet:
    """What the faults phase needs of one sheet it touches."""

    kind: str
    tps: str
    stream: str
    real: Tally
    count: bytes = ZERO_HASH
    count_time: int = 0
    shown: Tally | None = None
    moved: tuple[int, int, int] = (0, 0, 0)  # (from, to, votes) for moved-vote counts
    objector: int = 0  # the saksi's pair for objections


@dataclass
class _Recap:
    stream: str
    head: bytes
    votes: dict[str, int]
    valid: int
    invalid: int
    voted: int
    admin: dict[str, int] | None = None  # the D.Hasil's administrative block (version 2)


def _sum_admin(blocks: list[dict[str, int] | None]) -> dict[str, int] | None:
    """The sum of admin blocks, or None if any is missing (format.md 5.8.3)."""
    total: dict[str, int] = {}
    for block in blocks:
        if block is None:
            return None
        add_admin(total, block)
    return total


def _derive(*parts: object) -> int:
    text = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big")


def _totals(tallies: list[Tally], numbers: list[str]) -> tuple[dict[str, int], int, int, int]:
    votes = dict.fromkeys(numbers, 0)
    valid = invalid = voted = 0
    for tally in tallies:
        for number, n in tally["votes"].items():
            votes[number] += n
        valid += tally["valid"]
        invalid += tally["invalid"]
        voted += sum(tally[name] for name in VOTED_FIELDS)
    return votes, valid, invalid, voted


class Simulation:
    """The signed statements of one region's Pilkada 2024, with planted faults.

    ``envelopes()`` runs the generation once (lazily); ``injected`` fills up as it
    runs and is complete when the generator is exhausted.

    Keys are ``scenario.key(label)`` (derived, not cached, for flat memory), with
    labels ``kpu-prov:33``, ``kpu-kab:33.16``, ``paslon:<contest>:<n>``,
    ``ppk:<kecamatan>``, ``panwas:<kecamatan>``, ``saksi:<contest>:<n>:<kecamatan>``,
    ``kpps:<tps>`` and ``ptps:<tps>``; each grant's label is its key's label. The
    scenario's chain signs every statement (``scenario.time`` follows the last
    one), but forgets a stream's head once the simulation is done with it, so
    after a run it holds only the election stream's head; to continue a stream,
    ``scenario.chain.follow`` it from the ledger.

    ``seed`` drives the tallies, times, saksi choices and fault placement; the
    keys come from the scenario's own seed, so two seeds share one cast.
    ``attest_by_ptps=False`` leaves counts to the saksi alone (corrections that
    need a witness then get a saksi's); ``recaps=False`` stops at the sheets.
    """

    def __init__(
        self,
        region: str = pilkada.BLORA,
        *,
        seed: int = 0,
        faults: Faults | None = None,
        scenario: Scenario | None = None,
        saksi_rate: float = 0.3,
        attest_by_ptps: bool = True,
        recaps: bool = True,
        determinations: bool = True,
        after: AfterCount | None = None,
    ) -> None:
        if region and level_of(region) not in (PROVINCE, KABKOTA, KECAMATAN):
            raise ValueError(f"region must be '', a province, regency/city or kecamatan: {region}")
        if not 0.0 <= saksi_rate <= 1.0:
            raise ValueError("saksi_rate must be within [0, 1]")
        self.region = region
        self.seed = seed
        self.faults = faults if faults is not None else Faults()
        if any(n < 0 for _, n in self.faults.items()):
            raise ValueError("fault counts must not be negative")
        if not recaps and (
            self.faults.recap_mismatches
            or self.faults.recap_omissions
            or self.faults.stale_heads
            or self.faults.unanswered_plenary_objections
            or self.faults.admin_mismatches
        ):
            raise ValueError("recap faults (and stale heads) need recaps=True")
        self.scenario = scenario if scenario is not None else Scenario()
        # Re-votes, delayed and continued votes need format version 2 (format.md 5.11).
        self.v2 = self.scenario.chain.version >= 2
        self.after = after if after is not None else AfterCount()
        if not self.v2 and any(getattr(self.faults, k) for k in _AFTERCOUNT_FAULTS):
            raise ValueError("recommendation faults need statement format version 2")
        self.orders: list[Injected] = []  # each order and what carried it out
        # The registered voters the version's C.Hasil has (version 2: the DPT only).
        self._registered = tuple(
            f for f in REGISTERED_FIELDS if not self.v2 or f not in V1_ONLY_FIELDS
        )
        self.saksi_rate = saksi_rate
        self.attest_by_ptps = attest_by_ptps
        self.recaps = recaps
        # Determinations need the top recap, and version 2 (format.md 9).
        self.determinations = determinations and recaps and self.scenario.chain.version >= 2
        self.injected: list[Injected] = []
        self.kinds: Counter[str] = Counter()  # envelopes emitted, by statement kind
        self._started = False
        self._noon = self.scenario.time  # polling day, 12:00 WIB by default
        self._bawaslu = self._known_key(self.scenario.bawaslu)
        self._paslon: dict[tuple[str, int], _Key] = {}
        self._prov: dict[str, _Key] = {}
        self._kab: dict[str, _Key] = {}

        data = pilkada.load()
        if region and not data.kecamatan_of_region(region):
            raise ValueError(f"no kecamatan in region {region!r}")
        self.contests: list[ContestInfo] = data.contests_in(region)
        self._units: dict[str, list[_Unit]] = {}
        for kec in data.kecamatan_of_region(region):
            if data.tps_total(kec) == 0:
                continue  # no TPS in the data: nothing is held there
            units = []
            for contest in self.contests:
                if not covers(contest.region, kec):
                    continue
                result = data.results[contest.id].get(kec)
                tps = pilkada.tps_layout(kec, None if result is None else result.tps_total)
                units.append(_Unit(contest, kec, result, tuple(tps)))
            self._units[kec] = units
        self._plan_faults()

    # --- public ------------------------------------------------------------------------

    def trust(self) -> TrustRoots:
        """The trust roots a ledger for these envelopes must be created with."""
        return self.scenario.trust()

    def envelopes(self) -> Iterator[Envelope]:
        """Every envelope of the election, in an order a ledger accepts (once per instance)."""
        if self._started:
            raise RuntimeError("a Simulation generates once; make a new one to generate again")
        self._started = True
        return self._generate()

    def expected_totals(self) -> dict[str, ContestTotals]:
        """Per contest: the effective votes per kecamatan, regency/city and the whole region."""
        out: dict[str, ContestTotals] = {}
        for contest in self.contests:
            numbers = [str(p.number) for p in contest.pairs]
            out[contest.id] = ContestTotals(contest.id, dict.fromkeys(numbers, 0), {}, {}, {})
        for units in self._units.values():
            for unit in units:
                totals = out[unit.contest.id]
                if unit.result is None or unit.result.votes is None:
                    totals.unreported[unit.kecamatan] = unit.tps
                    continue
                votes = {str(n): v for n, v in unit.result.votes.items()}
                totals.kecamatan[unit.kecamatan] = votes
                kab = totals.kabkota.setdefault(unit.kecamatan[:5], dict.fromkeys(votes, 0))
                for number, n in votes.items():
                    kab[number] += n
                    totals.region[number] += n
        return out

    # --- planning ----------------------------------------------------------------------

    def _plan_faults(self) -> None:
        """Choose, from the seed and the data alone, which units get which faults."""
        self._sheet_plan: dict[tuple[str, str], list[tuple[str, int]]] = {}
        self._recap_plan: dict[tuple[str, str], list[str]] = {}
        if self.faults.total == 0:
            return
        rng = random.Random(
            _derive("simulate-plan", self.seed, self.region, self.faults.plan_key())
        )
        units = [u for us in self._units.values() for u in us if u.reported]
        sizes = [len(u.tps) for u in units]
        ends = list(accumulate(sizes))
        n_sheets = ends[-1] if ends else 0
        wanted = [(k, getattr(self.faults, k)) for k in ("missing_sheets", *_SHEET_KINDS)]
        if sum(n for _, n in wanted) > n_sheets:
            raise ValueError(f"region {self.region!r} has too few sheets for {self.faults}")
        taken: set[int] = set()
        missing: Counter[int] = Counter()
        for kind, count in wanted:
            for _ in range(count):
                for _attempt in range(10_000):
                    g = rng.randrange(n_sheets)
                    ui = bisect_right(ends, g)
                    if g in taken:
                        continue
                    if kind == "missing_sheets" and sizes[ui] - missing[ui] < 2:
                        continue  # keep at least one counted sheet for the real votes
                    break
                else:
                    raise ValueError(f"region {self.region!r} is too small for {self.faults}")
                taken.add(g)
                missing[ui] += kind == "missing_sheets"
                unit = units[ui]
                index = g - (ends[ui - 1] if ui else 0)
                self._sheet_plan.setdefault((unit.contest.id, unit.kecamatan), []).append(
                    (kind, index)
                )
        order = list(range(len(units)))
        rng.shuffle(order)
        at = 0
        for kind in (
            "recap_mismatches",
            "recap_omissions",
            "unanswered_plenary_objections",
            "admin_mismatches",
        ):
            for _ in range(getattr(self.faults, kind)):
                for step in range(len(order) + 1):
                    if step == len(order):
                        raise ValueError(f"no kecamatan recap can take a {kind} fault")
                    ui = order[(at + step) % len(order)]
                    if kind == "recap_omissions" and sizes[ui] - missing[ui] < 2:
                        continue
                    break
                at += step + 1
                unit = units[ui]
                self._recap_plan.setdefault((unit.contest.id, unit.kecamatan), []).append(kind)

    # --- signing -----------------------------------------------------------------------

    def _derive_key(self, label: str) -> _Key:
        """The key ``scenario.key(label)`` would give, without the scenario's cache.

        Scenario caches every key it derives; for the whole country that is close
        to a million keys, so the simulation derives the same keys uncached.
        """
        digest = hashlib.sha256(f"{self.scenario.seed}\nkey:{label}".encode()).digest()
        key = Ed25519PrivateKey.from_private_bytes(digest)
        public = ed25519.public_bytes(key)
        return _Key(key, key_id(public), public)

    def _known_key(self, key: Ed25519PrivateKey) -> _Key:
        public = ed25519.public_bytes(key)
        return _Key(key, key_id(public), public)

    def _sign(
        self, signer: _Key, stream: str, kind: str, body: dict[str, Any], time: int
    ) -> Envelope:
        """Sign into ``stream`` through the scenario's chain heads.

        The bytes are exactly :meth:`Scenario.sign`'s; the envelope is built from
        the parts it was made of instead of being parsed back (about half the cost).
        """
        heads = self.scenario.chain.heads
        seq, prev = heads.get(stream, (0, ZERO_HASH))
        if kind in ("count", "correct"):  # the C.Hasil as the version's form has it
            body = {**body, "tally": tally_form(body["tally"], self.scenario.chain.version)}
        statement = Statement(
            election=self.scenario.election,
            stream=stream,
            seq=seq + 1,
            prev=prev,
            kind=kind,
            body=body,
            signer=signer.id,
            time=time,
            version=self.scenario.chain.version,
        )
        statement_bytes = statement.to_bytes()
        signature = ed25519.sign(signer.key, statement_context(statement.version) + statement_bytes)
        raw = canonical.encode({"signature": signature, "statement": statement_bytes})
        digest = hashlib.sha256(raw).digest()
        envelope = Envelope(raw, statement_bytes, signature, statement, digest)
        check_entry_size(envelope)  # what no ledger would accept is never produced
        heads[stream] = (seq + 1, digest)
        self.scenario.time = time
        self.kinds[kind] += 1
        return envelope

    def _grant(
        self,
        granter: _Key,
        subject: _Key,
        role: str,
        scope: str,
        label: str,
        time: int,
        **extra: Any,
    ) -> Envelope:
        body = grant_body(subject.public, role, scope, label, **extra)
        stream = key_stream(subject.id)
        envelope = self._sign(granter, stream, "grant", body, time)
        del self.scenario.chain.heads[stream]  # nothing more is signed there
        return envelope

    # --- generation --------------------------------------------------------------------

    def _generate(self) -> Iterator[Envelope]:
        s = self.scenario
        noon = self._noon
        kpu = self._known_key(s.kpu)
        t = noon - 65 * DAY  # 23 September: ballot numbers drawn
        election: dict[str, Any] = {"name": "Pilkada Serentak 2024"}
        if s.chain.version >= 2:
            election["schedule"] = PILKADA_2024  # the schedule is version 2 (format.md 5.1)
        yield self._sign(kpu, "election", "election", election, t)
        for contest in self.contests:
            yield self._sign(kpu, "election", "contest", contest.body(), t)

        t = noon - 64 * DAY
        for contest in self.contests:
            for pair in contest.pairs:
                if pair.kolom_kosong:
                    continue
                label = f"paslon:{contest.id}:{pair.number}"
                key = self._known_key(s.key(label))
                self._paslon[(contest.id, pair.number)] = key
                yield self._grant(
                    kpu, key, "paslon", contest.region, label, t,
                    contest=contest.id, pair=pair.number,
                )  # fmt: skip
        t = noon - 57 * DAY
        for contest in self.contests:
            if contest.office == "gubernur":
                label = f"kpu-prov:{contest.region}"
                self._prov[contest.region] = key = self._known_key(s.key(label))
                yield self._grant(kpu, key, "kpu-prov", contest.region, label, t)
        for kab in sorted({kec[:5] for kec in self._units}):
            label = f"kpu-kab:{kab}"
            self._kab[kab] = key = self._known_key(s.key(label))
            yield self._grant(kpu, key, "kpu-kab", kab, label, t)

        kab_recaps: dict[str, list[_Recap]] = {}
        prov_recaps: dict[str, list[_Recap]] = {}
        kecamatan = list(self._units)
        for i, kec in enumerate(kecamatan):
            kec_recaps: dict[str, _Recap] = {}
            yield from self._kecamatan(kec, kec_recaps)
            for cid, recap in kec_recaps.items():
                kab_recaps.setdefault(cid, []).append(recap)
            following = kecamatan[i + 1] if i + 1 < len(kecamatan) else ""
            if following[:5] != kec[:5]:
                kab = kec[:5]
                if covers(self.region, kab):
                    for cid, recaps in kab_recaps.items():
                        envelope, made = self._higher_recap(
                            self._kab[kab], cid, kab, recaps, 8 * DAY
                        )
                        yield envelope
                        prov_recaps.setdefault(cid, []).append(made)
                        if cid.endswith(f"-{kab}") and self.determinations:
                            yield self._determination(self._kab[kab], cid, kab, made, envelope)
                kab_recaps = {}
            if following[:2] != kec[:2]:
                prov = kec[:2]
                if covers(self.region, prov):
                    signer = self._prov.get(prov)
                    for cid, recaps in prov_recaps.items():
                        if signer is not None and cid.startswith("gubernur-"):
                            envelope, top = self._higher_recap(signer, cid, prov, recaps, 10 * DAY)
                            yield envelope
                            if self.determinations:
                                yield self._determination(signer, cid, prov, top, envelope)
                prov_recaps = {}

    def _determination(
        self, signer: _Key, contest_id: str, region: str, top: _Recap, recap: Envelope
    ) -> Envelope:
        """The KPU's determination of a contest at the plenary that closes its top recap:
        the recap's figures, and the outcome the law gives them (format.md 5.14)."""
        contest = next(c for c in self.contests if c.id == contest_id)
        kolom_kosong = next((p.number for p in contest.pairs if p.kolom_kosong), None)
        # The plenary announces two hours after the recap is signed.
        announced = recap.statement.time + 2 * HOUR
        level = "Provinsi" if contest.office == "gubernur" else "Kabupaten/Kota"
        body = determination_body(
            top.head,
            f"Keputusan KPU {level} {region} Nomor 1/PL.02.6-Kpt/{region}/2024",
            announced,
            {"votes": top.votes, "valid": top.valid, "invalid": top.invalid, "voted": top.voted},
            kolom_kosong=kolom_kosong,
            office=contest.office,
        )
        envelope = self._sign(signer, result_stream(contest_id), "determination", body, announced)
        del self.scenario.chain.heads[result_stream(contest_id)]
        return envelope

    def _higher_recap(
        self, signer: _Key, contest: str, region: str, inputs: list[_Recap], day: int
    ) -> tuple[Envelope, _Recap]:
        """A kpu-kab or kpu-prov recap summing the totals of the recaps it names."""
        rng = random.Random(_derive("simulate-recap", self.seed, contest, region))
        numbers = list(inputs[0].votes)
        votes = dict.fromkeys(numbers, 0)
        for recap in inputs:
            for number, n in recap.votes.items():
                votes[number] += n
        valid = sum(r.valid for r in inputs)
        invalid = sum(r.invalid for r in inputs)
        voted = sum(r.voted for r in inputs)
        version = self.scenario.chain.version
        named = [(r.stream, r.head) for r in inputs]
        body = recap_body(named, votes, valid, invalid, voted, version=version)
        admin = _sum_admin([r.admin for r in inputs])
        if admin is not None:
            body["admin"] = admin
        stream = recap_stream(contest, region)
        time = self._noon + day - 2 * HOUR + rng.randrange(8 * HOUR)
        envelope = self._sign(signer, stream, "recap", body, time)
        del self.scenario.chain.heads[stream]
        for recap in inputs:
            self.scenario.chain.heads.pop(recap.stream, None)
        return envelope, _Recap(stream, envelope.hash, votes, valid, invalid, voted, admin)

    def _kecamatan(self, kec: str, recaps: dict[str, _Recap]) -> Iterator[Envelope]:
        """One kecamatan's grants, sheets, faults and recaps."""
        rng = random.Random(_derive("simulate-kecamatan", self.seed, kec))
        fault_rng = random.Random(_derive("simulate-faults", self.seed, kec))
        heads = self.scenario.chain.heads
        noon = self._noon
        units = self._units[kec]
        kab = self._kab[kec[:5]]

        # Grants: PPK, Panwas, saksi in the week before; KPPS and PTPS two days before.
        t = noon - 7 * DAY - 3 * HOUR + rng.randrange(6 * HOUR)
        ppk = self._derive_key(f"ppk:{kec}")
        yield self._grant(kab, ppk, "ppk", kec, f"ppk:{kec}", t)
        panwas = self._derive_key(f"panwas:{kec}")
        role = "panwaslu-kec" if self.v2 else "panwas"  # version 1's flat role
        yield self._grant(self._bawaslu, panwas, role, kec, f"panwas:{kec}", t + MINUTE)
        saksi: dict[tuple[str, int], _Key] = {}
        t += 2 * HOUR
        for unit in units:
            cid = unit.contest.id
            for pair in unit.contest.pairs:
                if pair.kolom_kosong:
                    continue
                label = f"saksi:{cid}:{pair.number}:{kec}"
                saksi[(cid, pair.number)] = key = self._derive_key(label)
                yield self._grant(
                    self._paslon[(cid, pair.number)], key, "saksi", kec, label, t,
                    contest=cid, pair=pair.number,
                )  # fmt: skip
        all_tps = pilkada.tps_layout(kec)
        kpps: dict[str, _Key] = {}
        ptps: dict[str, _Key] = {}
        grants: dict[str, bytes] = {}
        t = noon - 2 * DAY - 3 * HOUR + rng.randrange(4 * HOUR)
        for tps in all_tps:
            kpps[tps] = key = self._derive_key(f"kpps:{tps}")
            khusus = tps == pilkada.RUTAN_BLORA_TPS
            grant = self._grant(kab, key, "kpps", tps, f"kpps:{tps}", t, khusus=khusus)
            grants[tps] = grant.hash
            yield grant
            ptps[tps] = key = self._derive_key(f"ptps:{tps}")
            yield self._grant(self._bawaslu, key, "ptps", tps, f"ptps:{tps}", t)

        # Tallies, and which sheets the planted faults touch.
        tallies: dict[str, dict[str, Tally]] = {}
        touched: dict[str, dict[str, _Sheet]] = {}
        for unit in units:
            cid = unit.contest.id
            if not unit.reported:
                continue
            assert unit.result is not None
            plan = self._sheet_plan.get((cid, kec), [])
            missing = {unit.tps[i] for kind, i in plan if kind == "missing_sheets"}
            counted = [tps for tps in unit.tps if tps not in missing]
            tallies[cid] = split = pilkada.split_tallies(unit.result, counted, self.seed)
            for tps in sorted(missing):
                stream = sheet_stream(cid, tps)
                self._inject(
                    "missing_sheets", stream, [grants[tps]],
                    f"KPPS of {tps} is granted but signs no count for {cid}",
                )  # fmt: skip
            sheets: dict[str, _Sheet] = {}
            for kind, index in plan:
                if kind != "missing_sheets":
                    tps = self._place(kind, index, unit, split, sheets)
                    sheets[tps] = self._prepare(kind, tps, cid, split[tps], unit, fault_rng)
            touched[cid] = sheets

        # Re-votes, delayed and continued votes (never on a sheet a fault touches).
        after = after_plan(self.after, self.seed, all_tps, tallies, touched) if self.v2 else {}

        # Counts on polling day from 13:00 WIB, gubernur first; attestations after each.
        for tps in all_tps:
            t = noon + HOUR + 30 * MINUTE + rng.randrange(4 * HOUR)
            action = after.get(tps)
            if action in POSTPONED:
                t += POSTPONED[action][2]  # the vote is held later, as ordered
            for unit in units:
                cid = unit.contest.id
                tally = tallies.get(cid, {}).get(tps)
                if tally is None:
                    continue
                stream = sheet_stream(cid, tps)
                sheet = touched[cid].get(tps)
                shown = tally if sheet is None or sheet.shown is None else sheet.shown
                body = count_body(shown)
                ordered: list[bytes] = []
                if action in ("delayed", "continued"):
                    order = self._postponed(kab, stream, action)
                    yield order
                    body["order"] = order.hash
                    ordered.append(order.hash)
                elif action == "revote":
                    body = count_body(first_count(shown))  # the count the re-vote replaces
                count = self._sign(kpps[tps], stream, "count", body, t)
                yield count
                if ordered:
                    self.orders.append(Injected(str(action), stream, [*ordered, count.hash], ""))
                if sheet is not None:
                    sheet.count, sheet.count_time = count.hash, t
                    if sheet.kind in ("arithmetic", "over_registered"):
                        self._inject(sheet.kind, stream, [count.hash], self._flag_note(sheet))
                t += 5 * MINUTE + rng.randrange(10 * MINUTE)
                body = attest_body(count.hash)
                if self.attest_by_ptps:
                    yield self._sign(ptps[tps], stream, "attest", body, t)
                for pair in unit.contest.pairs:
                    if rng.random() < self.saksi_rate and not pair.kolom_kosong:
                        if sheet is not None and sheet.objector == pair.number:
                            continue  # the objecting saksi does not also agree
                        t += MINUTE
                        yield self._sign(saksi[(cid, pair.number)], stream, "attest", body, t)
                if action == "revote":
                    t += HOUR
                    yield from self._revote(kab, panwas, kpps[tps], ptps[tps], stream, tally, t)
                    t += 4 * HOUR
                t += 20 * MINUTE + rng.randrange(40 * MINUTE)

        # Faults, then the kecamatan recaps (PPK plenary on one of 28 Nov - 1 Dec).
        plenary = noon + DAY - 3 * HOUR + rng.randrange(4) * DAY + rng.randrange(2 * HOUR)
        decisions: dict[str, list[dict[str, Any]]] = {}
        for unit in units:
            cid = unit.contest.id
            for sheet in touched.get(cid, {}).values():
                yield from self._fault_events(
                    sheet, unit, ppk, kpps, ptps, saksi, plenary, decisions
                )
        if not self.recaps:
            for unit in units:
                for tps in tallies.get(unit.contest.id, {}):
                    del heads[sheet_stream(unit.contest.id, tps)]
            return
        t = plenary + 3 * HOUR
        for unit in units:
            cid = unit.contest.id
            if cid not in tallies:
                continue
            envelopes, recap = self._kecamatan_recap(
                unit, ppk, tallies[cid], touched[cid], decisions.get(cid, []), t, fault_rng
            )
            if self.v2:
                more = list(self._plenary(unit, ppk, saksi, envelopes, t))
                envelopes += more
                if more:
                    recap = _Recap(
                        recap.stream, envelopes[-1].hash, recap.votes, recap.valid,
                        recap.invalid, recap.voted, recap.admin,
                    )  # fmt: skip
            recaps[cid] = recap
            yield from envelopes
            t += 30 * MINUTE + rng.randrange(HOUR)

    # --- after the count (format.md 5.11-5.13) ---------------------------------------------

    def _order_times(self) -> tuple[int, int]:
        """Voting day (00:00 WIB on polling day) and a re-vote's latest day after it."""
        voting_day = self._noon - 12 * HOUR
        return voting_day, voting_day + 10 * DAY

    def _postponed(self, kab: _Key, stream: str, action: str) -> Envelope:
        """The KPU kab/kota's order of a delayed or continued vote, on polling day."""
        voting_day, deadline = self._order_times()
        reason, basis, _ = POSTPONED[action]
        at = self._noon - 4 * HOUR if action == "delayed" else self._noon + HOUR
        body = order_body(action, basis, reason, voting_day, deadline)
        return self._sign(kab, stream, "order", body, at)

    def _revote(
        self,
        kab: _Key,
        panwas: _Key,
        kpps: _Key,
        ptps: _Key,
        stream: str,
        tally: Tally,
        t: int,
    ) -> Iterator[Envelope]:
        """Panwaslu Kecamatan recommends a re-vote, KPU kab/kota accepts and orders it,
        the KPPS counts it (the real tally) and the PTPS agrees."""
        reason = "voters not on the DPT voted with another voter's invitation (Pasal 112)"
        rec = self._sign(panwas, stream, "recommend", recommend_body("revote", reason), t)
        yield rec
        followup = followup_body(rec.hash, "accepted", "the conditions of Pasal 112(2) are met")
        accept = self._sign(kab, stream, "followup", followup, t + HOUR)
        yield accept
        voting_day, deadline = self._order_times()
        body = order_body(
            "revote",
            "UU 1/2015 Pasal 112; PKPU 17/2024",
            reason,
            voting_day,
            deadline,
            recommendation=rec.hash,
        )
        order = self._sign(kab, stream, "order", body, t + 2 * HOUR)
        yield order
        count = self._sign(
            kpps, stream, "count", {**count_body(tally), "order": order.hash}, t + 3 * HOUR
        )
        yield count
        if self.attest_by_ptps:
            yield self._sign(ptps, stream, "attest", attest_body(count.hash), t + 3 * HOUR + MINUTE)
        self.orders.append(
            Injected("revote", stream, [rec.hash, accept.hash, order.hash, count.hash], reason)
        )

    def _plenary(
        self,
        unit: _Unit,
        ppk: _Key,
        saksi: dict[tuple[str, int], _Key],
        envelopes: list[Envelope],
        t: int,
    ) -> Iterator[Envelope]:
        """At the PPK plenary: a saksi objects to the recap and the PPK answers it in a
        further recap (at the rate of ``after.plenary_objection``), or, as a planted
        fault, a saksi refuses to sign and nothing answers (format.md 5.6, 5.8)."""
        kec = unit.kecamatan
        recap = envelopes[-1]
        stream = recap.statement.stream
        heads = self.scenario.chain.heads
        heads[stream] = (recap.statement.seq, recap.hash)  # the recap's may be forgotten
        yield from self._plenary_events(unit, ppk, saksi, recap, t)
        if not covers(self.region, kec[:5]):
            del heads[stream]  # no regency recap follows here

    def _plenary_events(
        self,
        unit: _Unit,
        ppk: _Key,
        saksi: dict[tuple[str, int], _Key],
        recap: Envelope,
        t: int,
    ) -> Iterator[Envelope]:
        cid, kec = unit.contest.id, unit.kecamatan
        pairs = [p.number for p in unit.contest.pairs if not p.kolom_kosong]
        stream = recap.statement.stream
        if "unanswered_plenary_objections" in self._recap_plan.get((cid, kec), []):
            reason = "the D.Hasil leaves out the objections the saksi raised at the TPS"
            body = attest_body(recap.hash, REFUSE, reason)
            refusal = self._sign(saksi[(cid, pairs[-1])], stream, "attest", body, t + 10 * MINUTE)
            yield refusal
            self._inject(
                "unanswered_plenary_objections", stream, [refusal.hash, recap.hash], reason
            )
            return
        draw = rng("simulate-plenary", self.seed, cid, kec).random()
        if not pairs or draw >= self.after.plenary_objection:
            return
        reason = "the D.Hasil's totals were read out before every C.Hasil was checked"
        body = attest_body(recap.hash, "object", reason)
        objection = self._sign(saksi[(cid, pairs[0])], stream, "attest", body, t + 10 * MINUTE)
        yield objection
        decision = {"objection": objection.hash, "ruling": "dismissed", "reason": "checked"}
        answer = dict(recap.statement.body, decisions=[decision])
        yield self._sign(ppk, stream, "recap", answer, t + 20 * MINUTE)

    def _place(
        self, kind: str, index: int, unit: _Unit, split: dict[str, Tally], taken: dict[str, _Sheet]
    ) -> str:
        """The TPS a planned sheet fault lands on: the planned one, or the next that fits."""
        order = list(unit.tps[index:] + unit.tps[:index])
        for tps in order:
            tally = split.get(tps)
            if tally is None or tps in taken:
                continue
            if kind in _MOVED and not any(
                v for n, v in tally["votes"].items() if not self._is_kolom_kosong(unit, n)
            ):
                continue  # no real pair has votes here to move
            if kind == "arithmetic" and tally["valid"] + tally["invalid"] == 0:
                continue
            if kind == "over_registered" and not any(tally[f"voted_{f}"] for f in self._registered):
                continue
            return tps
        raise ValueError(f"no sheet of {unit.contest.id} in {unit.kecamatan} can take {kind}")

    @staticmethod
    def _is_kolom_kosong(unit: _Unit, number: str) -> bool:
        return unit.contest.pairs[int(number) - 1].kolom_kosong

    def _prepare(
        self, kind: str, tps: str, cid: str, real: Tally, unit: _Unit, rng: random.Random
    ) -> _Sheet:
        """The tally a faulty sheet's count shows, and who objects to it."""
        sheet = _Sheet(kind, tps, sheet_stream(cid, tps), real)
        real_pairs = [str(p.number) for p in unit.contest.pairs if not p.kolom_kosong]
        if kind in _MOVED:
            votes = real["votes"]
            source = max(real_pairs, key=lambda n: (votes[n], -int(n)))
            target = rng.choice([n for n in votes if n != source])
            moved = max(1, min(votes[source] // 5, 25))
            shown = dict(real, votes=dict(votes))
            shown["votes"][source] -= moved
            shown["votes"][target] += moved
            sheet.shown = shown
            sheet.moved = (int(source), int(target), moved)
            if kind == "objections_answered":
                sheet.objector = int(source)
        elif kind == "objections_unanswered":
            sheet.objector = int(rng.choice(real_pairs))
        elif kind == "arithmetic":
            shown = dict(real)
            shift = min(real["invalid"], 1 + rng.randrange(5))
            if shift:
                shown["valid"] += shift
                shown["invalid"] -= shift
            else:
                shift = min(real["valid"], 1 + rng.randrange(5))
                shown["valid"] -= shift
                shown["invalid"] += shift
            sheet.shown = shown
        elif kind == "over_registered":
            shown = dict(real)
            for name in self._registered:
                shown[name] = real[f"voted_{name}"]
            over = max(self._registered, key=lambda name: real[f"voted_{name}"])
            shown[over] -= 1
            sheet.shown = shown
        return sheet

    @staticmethod
    def _flag_note(sheet: _Sheet) -> str:
        assert sheet.shown is not None
        if sheet.kind == "arithmetic":
            votes = sum(sheet.shown["votes"].values())
            return f"{sheet.tps}: sum of votes {votes} != valid {sheet.shown['valid']}"
        registered = sum(sheet.shown.get(name, 0) for name in REGISTERED_FIELDS)
        voted = sum(sheet.shown[name] for name in VOTED_FIELDS)
        return f"{sheet.tps}: {voted} voters voted, {registered} registered"

    def _inject(self, kind: str, stream: str, events: list[bytes], note: str) -> None:
        self.injected.append(Injected(kind, stream, events, note))

    def _fault_events(
        self,
        sheet: _Sheet,
        unit: _Unit,
        ppk: _Key,
        kpps: dict[str, _Key],
        ptps: dict[str, _Key],
        saksi: dict[tuple[str, int], _Key],
        plenary: int,
        decisions: dict[str, list[dict[str, Any]]],
    ) -> Iterator[Envelope]:
        """The statements after the counts that make up one sheet fault."""
        kind, stream, tps, cid = sheet.kind, sheet.stream, sheet.tps, unit.contest.id
        t = sheet.count_time + HOUR  # after the count's attestations
        source, target, moved = sheet.moved
        if kind in ("objections_answered", "objections_unanswered"):
            pair = sheet.objector
            if kind == "objections_answered":
                reason = (
                    f"salinan C.Hasil shows {sheet.real['votes'][str(pair)]} votes for pair "
                    f"{pair}; the count gives {moved} of them to ballot {target}"
                )
            else:
                reason = f"pair {pair} disputes the count at {tps}"
            objection = self._sign(
                saksi[(cid, pair)], stream, "attest", attest_body(sheet.count, "object", reason), t
            )
            yield objection
            if kind == "objections_unanswered":
                self._inject(kind, stream, [sheet.count, objection.hash], reason)
                return
            body = correct_body(
                sheet.count, f"objection upheld at the PPK plenary: {reason}", sheet.real
            )
            if self.v2:  # a correction names the objections it answers (format.md 5.7)
                body["answers"] = [objection.hash]
            fix = self._sign(ppk, stream, "correct", body, plenary)
            yield fix
            events = [sheet.count, objection.hash, fix.hash]
            agree = attest_body(fix.hash)
            witness = self._sign(saksi[(cid, pair)], stream, "attest", agree, plenary + MINUTE)
            yield witness
            events.append(witness.hash)
            if self.attest_by_ptps:
                witness = self._sign(ptps[tps], stream, "attest", agree, plenary + 2 * MINUTE)
                yield witness
                events.append(witness.hash)
            decisions.setdefault(cid, []).append(
                {"objection": objection.hash, "ruling": "upheld", "reason": "corrected at plenary"}
            )
            self._inject(kind, stream, events, reason)
        elif kind == "unattested_corrections":
            reason = f"PPK recount: {moved} votes of pair {source} had gone to ballot {target}"
            fix = self._sign(
                ppk, stream, "correct", correct_body(sheet.count, reason, sheet.real), plenary
            )
            yield fix
            self._inject(kind, stream, [sheet.count, fix.hash], reason)
        elif kind == "equivocations":
            second = self._sign(kpps[tps], stream, "count", count_body(sheet.real), t + HOUR)
            yield second
            note = (
                f"the KPPS of {tps} signed a second count; the first gave {moved} votes of "
                f"pair {source} to ballot {target}, the second (effective) is the real tally"
            )
            self._inject(kind, stream, [sheet.count, second.hash], note)
        elif kind == "unfollowed_recommendations":
            reason = f"PTPS saw ballots counted out of view of the saksi at {tps}"
            body = recommend_body("recount", reason, sheet.count)
            rec = self._sign(ptps[tps], stream, "recommend", body, t)
            yield rec
            self._inject(kind, stream, [rec.hash], "a recommendation nobody follows up")
        elif kind == "contradicted_followups":
            reason = f"the KPPS of {tps} let voters without the C.Pemberitahuan vote"
            rec = self._sign(ptps[tps], stream, "recommend", recommend_body("revote", reason), t)
            yield rec
            body = followup_body(rec.hash, "accepted", "the PPK will propose the re-vote")
            accept = self._sign(ppk, stream, "followup", body, t + HOUR)
            yield accept
            self._inject(kind, stream, [accept.hash, rec.hash], "accepted, never ordered")
        elif kind == "stale_heads":
            fixed = dict(sheet.real)
            if fixed["disabled_voted"] < fixed["disabled_registered"]:
                fixed["disabled_voted"] += 1
            elif fixed["disabled_voted"]:
                fixed["disabled_voted"] -= 1
            else:
                fixed["disabled_registered"] += 1
                fixed["disabled_voted"] += 1
            reason = "disabled voters recounted at the PPK plenary"
            fix = self._sign(
                ppk, stream, "correct", correct_body(sheet.count, reason, fixed), plenary
            )
            yield fix
            sheet.shown = fixed  # effective tally; same recap totals as the count
            if self.attest_by_ptps:
                attester = ptps[tps]
            else:
                first = next(p for p in unit.contest.pairs if not p.kolom_kosong)
                attester = saksi[(cid, first.number)]
            yield self._sign(attester, stream, "attest", attest_body(fix.hash), plenary + MINUTE)

    def _kecamatan_recap(
        self,
        unit: _Unit,
        ppk: _Key,
        tallies: dict[str, Tally],
        touched: dict[str, _Sheet],
        decisions: list[dict[str, Any]],
        time: int,
        rng: random.Random,
    ) -> tuple[list[Envelope], _Recap]:
        cid, kec = unit.contest.id, unit.kecamatan
        heads = self.scenario.chain.heads
        kinds = self._recap_plan.get((cid, kec), [])
        streams = [(tps, sheet_stream(cid, tps)) for tps in tallies]
        omitted: tuple[str, bytes] | None = None
        if "recap_omissions" in kinds:
            clean = [tps for tps, _ in streams if tps not in touched]
            pool = clean or [tps for tps, _ in streams if touched[tps].kind != "stale_heads"]
            tps = rng.choice(pool)
            stream = sheet_stream(cid, tps)
            omitted = (stream, heads[stream][1])
        inputs: list[tuple[str, bytes]] = []
        effective: list[Tally] = []
        stale: tuple[str, bytes, bytes] | None = None
        for tps, stream in streams:
            head = heads.pop(stream)[1]
            if omitted is not None and stream == omitted[0]:
                continue
            sheet = touched.get(tps)
            tally = tallies[tps]
            if sheet is not None and sheet.kind in ("arithmetic", "over_registered"):
                assert sheet.shown is not None
                tally = sheet.shown  # what the sheet says (its registered voters too)
            if sheet is not None and sheet.kind == "stale_heads":
                stale = (stream, sheet.count, head)
                head = sheet.count
            inputs.append((stream, head))
            effective.append(tally)
        numbers = [str(p.number) for p in unit.contest.pairs]
        votes, valid, invalid, voted = _totals(effective, numbers)
        note = ""
        if "recap_mismatches" in kinds:
            source = max(numbers, key=lambda n: (votes[n], -int(n)))
            target = rng.choice([n for n in numbers if n != source])
            moved = min(votes[source], max(1, min(votes[source] // 100, 50)))
            if moved:
                votes[source] -= moved
                votes[target] += moved
                note = f"totals move {moved} votes of ballot {source} to ballot {target}"
            else:  # nobody voted here: claim one vote that no sheet has
                votes[source] += 1
                note = f"totals give ballot {source} one vote no sheet has"
        stream = recap_stream(cid, kec)
        admin = _sum_admin([admin_of_tally(t) for t in effective]) if self.v2 else None
        admin_note = ""
        if admin is not None and "admin_mismatches" in kinds:
            # One voter moved between the DPT's men and women: only the sum differs.
            down = "voted_dpt_f" if admin["voted_dpt_f"] else "voted_dpt_m"
            up = "voted_dpt_m" if down == "voted_dpt_f" else "voted_dpt_f"
            if admin[down]:
                admin[down] -= 1
                admin[up] += 1
            else:
                admin["disabled_voted"] += 1
            admin_note = f"the D.Hasil moves a voter from {down} to {up}"
        # A recap carries at most MAX_DECISIONS decisions; the rest go into consecutive
        # recaps of the stream repeating its inputs and totals (format.md 5.8).
        chunks = [
            decisions[i : i + MAX_DECISIONS] for i in range(0, len(decisions), MAX_DECISIONS)
        ] or [[]]
        envelopes = [
            self._sign(
                ppk,
                stream,
                "recap",
                {
                    **recap_body(
                        inputs,
                        votes,
                        valid,
                        invalid,
                        voted,
                        chunk,
                        version=self.scenario.chain.version,
                    ),
                    **({} if admin is None else {"admin": admin}),
                },
                time + i * MINUTE,
            )
            for i, chunk in enumerate(chunks)
        ]
        envelope = envelopes[0]
        if note:
            self._inject("recap_mismatches", stream, [envelope.hash], note)
        if omitted is not None:
            self._inject(
                "recap_omissions", stream, [envelope.hash, omitted[1]],
                f"the recap leaves out the counted sheet {omitted[0]}",
            )  # fmt: skip
        if stale is not None:
            self._inject(
                "stale_heads", stream, [envelope.hash, stale[1], stale[2]],
                f"the recap names the count of {stale[0]}, whose head is a correction",
            )  # fmt: skip
        if not covers(self.region, kec[:5]):
            del heads[stream]
        if admin_note:
            self._inject("admin_mismatches", stream, [envelopes[0].hash], admin_note)
        return envelopes, _Recap(stream, envelopes[-1].hash, votes, valid, invalid, voted, admin)
