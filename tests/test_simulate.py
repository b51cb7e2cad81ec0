"""The election simulator: accepted whole by a ledger, reproducible, faults as planted.

The checks here read the envelopes directly (a small projection of their own):
effective tallies (latest count or correction per sheet) must sum to the real
data, and the anomalies found must be exactly the faults the simulation says it
planted, no more and no less.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from copy import deepcopy
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import pytest

from ledger import pilkada
from ledger.checks.verify import Replay, VerifyReport
from ledger.format import ed25519
from ledger.format.dhasil import ADMIN_FIELDS
from ledger.format.recap import recap_inputs
from ledger.format.regions import covers, kecamatan_of, parse_stream_id
from ledger.format.schema import REGISTERED_FIELDS, VOTED_FIELDS, arithmetic_flags
from ledger.format.statement import Envelope, key_id
from ledger.pilkada.simulate import FAULT_KINDS, Faults, Injected, Simulation
from ledger.store.application import Accepted, Ledger
from tests.world import unwitnessed_policy

KECAMATAN = "33.16.09"  # kecamatan Blora: 147 TPS, with the Rutan's TPS Lokasi Khusus
SMALL = "33.16.15"  # 43 TPS
BUPATI = "bupati-33.16"
GUBERNUR = "gubernur-33"
CHUNK = 2000
POLLING_NOON = 1_732_683_600  # 27 Nov 2024 12:00 WIB, Scenario's default time


def append_all(ledger: Ledger, envelopes: list[Envelope]) -> list[Accepted]:
    accepted: list[Accepted] = []
    for i in range(0, len(envelopes), CHUNK):
        accepted.extend(ledger.append_batch([e.raw for e in envelopes[i : i + CHUNK]]))
    return accepted


def assert_all_accepted(ledger: Ledger, envelopes: list[Envelope]) -> None:
    accepted = append_all(ledger, envelopes)
    assert not any(a.duplicate for a in accepted)
    assert [a.leaf_index for a in accepted] == list(range(len(envelopes)))
    assert [a.event_hash for a in accepted] == [e.hash for e in envelopes]
    assert ledger.log_store.log_size() == len(envelopes)


@dataclass
class Generated:
    sim: Simulation
    envelopes: list[Envelope]


def generate(region: str, **options: Any) -> Generated:
    sim = Simulation(region, **options)
    return Generated(sim, list(sim.envelopes()))


@pytest.fixture(scope="module")
def blora() -> Generated:
    return generate(pilkada.BLORA)


@pytest.fixture(scope="module")
def faulty() -> Generated:
    return generate(KECAMATAN, seed=7, faults=Faults.each())


# --- a small projection over the envelopes ---------------------------------------------


def effective(envelopes: Iterable[Envelope]) -> dict[str, dict[str, Any]]:
    """The latest count or correction tally of every sheet stream."""
    out: dict[str, dict[str, Any]] = {}
    for e in envelopes:
        if e.statement.kind in ("count", "correct"):
            out[e.statement.stream] = e.statement.body["tally"]
    return out


def sum_votes(tallies: Iterable[dict[str, Any]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for tally in tallies:
        total.update(tally["votes"])
    return dict(total)


@dataclass
class Findings:
    found: set[tuple[str, str]] = field(default_factory=set)

    def add(self, kind: str, stream: str) -> None:
        self.found.add((kind, stream))


def find(sim: Simulation, envelopes: list[Envelope]) -> set[tuple[str, str]]:
    """Every anomaly of the kinds the simulator plants, found from the envelopes alone."""
    f = Findings()
    streams: dict[str, list[Envelope]] = defaultdict(list)
    heads: dict[str, bytes] = {}
    tally_at: dict[bytes, dict[str, Any]] = {}  # event -> effective tally as of that event
    recap_totals: dict[bytes, dict[str, Any]] = {}
    admin_at: dict[bytes, dict[str, Any]] = {}
    kpps_at: set[str] = set()
    for e in envelopes:
        st = e.statement
        parts = parse_stream_id(st.stream)
        body = st.body
        if st.kind == "grant" and body["role"] == "kpps":
            kpps_at.add(body["scope"])
        if "tally" in body:
            tally_at[e.hash] = body["tally"]
        elif parts[0] == "sheet" and st.stream in heads and heads[st.stream] in tally_at:
            tally_at[e.hash] = tally_at[heads[st.stream]]
        if parts[0] == "recap" and st.kind != "recap":  # a plenary's attestation
            recap_totals[e.hash] = recap_totals[heads[st.stream]]
            if heads[st.stream] in admin_at:
                admin_at[e.hash] = admin_at[heads[st.stream]]
        if st.kind == "recap":
            recap_totals[e.hash] = body["totals"]
            contest, place = parts[1], parts[2]
            named = dict(recap_inputs(st))
            inputs: list[dict[str, Any]] = []
            for name, head in named.items():
                if heads.get(name) != head:
                    f.add("stale_heads", st.stream)
                inputs.append(tally_at[head] if name.startswith("sheet:") else recap_totals[head])
            if place.count(".") == 2:  # a kecamatan: every counted sheet must be named
                prefix = f"sheet:{contest}:{place}."
                if any(s.startswith(prefix) and s not in named for s in heads):
                    f.add("recap_omissions", st.stream)
            votes = sum_votes(inputs)
            wanted = {n: votes.get(n, 0) for n in body["totals"]["votes"]}
            if body["totals"]["votes"] != wanted:
                f.add("recap_mismatches", st.stream)
            if "admin" in body:  # the D.Hasil block against the level below's figures
                admin_at[e.hash] = body["admin"]
                below = [
                    {"tps": 1, **tally_at[head]} if name.startswith("sheet:") else admin_at[head]
                    for name, head in named.items()
                ]
                summed = {n: sum(b[n] for b in below) for n in ADMIN_FIELDS}
                if summed != body["admin"]:
                    f.add("admin_mismatches", st.stream)
        streams[st.stream].append(e)
        heads[st.stream] = e.hash

    for name, events in streams.items():
        if name.startswith("recap:"):  # objections at the plenary, answered by decisions
            decided = {
                d["objection"]
                for e in events
                if e.statement.kind == "recap"
                for d in e.statement.body.get("decisions", [])
            }
            for e in events:
                body = e.statement.body
                objects = e.statement.kind == "attest" and body["verdict"] != "agree"
                if objects and e.hash not in decided:
                    f.add("unanswered_plenary_objections", name)
        if not name.startswith("sheet:"):
            continue
        # A count that names an order (a re-vote) supersedes: it equivocates with nothing.
        counts = [
            e for e in events if e.statement.kind == "count" and "order" not in e.statement.body
        ]
        if len({e.statement.signer for e in counts}) < len(counts) and len(
            {e.hash for e in counts}
        ) == len(counts):
            f.add("equivocations", name)
        for e in events:
            st = e.statement
            if st.kind in ("count", "correct"):
                flags = arithmetic_flags(st.body["tally"])
                over = [x for x in flags if x.startswith("voted_")]
                if over:
                    f.add("over_registered", name)
                if len(over) < len(flags):
                    f.add("arithmetic", name)
            if st.kind == "correct" and not any(
                x.statement.kind == "attest" and x.statement.body["event"] == e.hash for x in events
            ):
                f.add("unattested_corrections", name)
            if st.kind == "attest" and st.body["verdict"] == "object":
                target = st.body["event"]
                fixes = [
                    x.hash
                    for x in events
                    if x.statement.kind == "correct" and x.statement.body["corrects"] == target
                ]
                attested = any(
                    x.statement.kind == "attest"
                    and x.statement.body["verdict"] == "agree"
                    and x.statement.body["event"] in fixes
                    for x in events
                )
                f.add("objections_answered" if attested else "objections_unanswered", name)
            if st.kind == "recommend":
                answers = [
                    x.statement
                    for x in events
                    if x.statement.kind == "followup"
                    and x.statement.body["recommendation"] == e.hash
                ]
                done = any(
                    x.statement.kind == "order" and x.statement.body.get("recommendation") == e.hash
                    for x in events
                )
                if not answers:
                    f.add("unfollowed_recommendations", name)
                elif answers[-1].body["verdict"] == "accepted" and not done:
                    f.add("contradicted_followups", name)

    totals = sim.expected_totals()
    for info in sim.contests:
        unreported = totals[info.id].unreported
        for tps in kpps_at:
            if not covers(info.region, tps) or kecamatan_of(tps) in unreported:
                continue
            name = f"sheet:{info.id}:{tps}"
            if name not in streams:
                f.add("missing_sheets", name)
    return f.found


def planted(injected: list[Injected]) -> set[tuple[str, str]]:
    return {(i.kind, i.stream) for i in injected}


# --- acceptance --------------------------------------------------------------------------


def test_blora_is_accepted_whole_on_sqlite(blora: Generated, sqlite_url: str) -> None:
    ledger = Ledger.create(sqlite_url, blora.sim.trust())
    try:
        assert_all_accepted(ledger, blora.envelopes)
        recap = f"recap:{BUPATI}:{pilkada.BLORA}"
        assert ledger.head(recap)[0] == 1
    finally:
        ledger.close()


@pytest.mark.postgres
def test_a_kecamatan_is_accepted_whole_on_postgres(postgres_url: str) -> None:
    run = generate(KECAMATAN)
    ledger = Ledger.create(postgres_url, run.sim.trust())
    try:
        assert_all_accepted(ledger, run.envelopes)
    finally:
        ledger.close()


def test_blora_has_the_whole_cast(blora: Generated) -> None:
    kinds = Counter(e.statement.kind for e in blora.envelopes)
    n_tps = sum(len(pilkada.tps_layout(k)) for k in pilkada.kecamatan_of_region(pilkada.BLORA))
    assert n_tps == 1453
    assert kinds["count"] == 2 * n_tps  # every TPS counts both contests, once
    plenary = [e for e in blora.envelopes if e.statement.stream.startswith("recap:")]
    objections = sum(1 for e in plenary if e.statement.kind == "attest")
    # Kecamatan recaps, the regency's two, and one more answering each plenary objection.
    assert kinds["recap"] == 16 * 2 + 2 + objections
    assert kinds == blora.sim.kinds
    grants = [e.statement.body for e in blora.envelopes if e.statement.kind == "grant"]
    roles = Counter(g["role"] for g in grants)
    assert roles["kpps"] == roles["ptps"] == n_tps
    assert roles["ppk"] == roles["panwaslu-kec"] == 16
    assert roles["kpu-kab"] == roles["kpu-prov"] == 1
    khusus = [g["scope"] for g in grants if g.get("khusus")]
    assert khusus == [pilkada.RUTAN_BLORA_TPS]
    paslon = {(g["contest"], g["pair"]) for g in grants if g["role"] == "paslon"}
    assert paslon == {(c.id, p.number) for c in blora.sim.contests for p in c.pairs}
    saksi = [g for g in grants if g["role"] == "saksi"]
    assert len(saksi) == 16 * len(paslon)
    assert all(g["scope"].count(".") == 2 for g in saksi)
    # Saksi attest about saksi_rate of the (sheet, pair) chances; PTPS attest every count.
    attesters = Counter(e.statement.signer for e in blora.envelopes if e.statement.kind == "attest")
    assert sum(attesters.values()) - kinds["count"] == pytest.approx(0.3 * 4 * n_tps, rel=0.1)


@pytest.mark.parametrize("name", ["blora", "faulty"])
def test_times_are_realistic_and_never_go_backwards_in_a_stream(
    name: str, request: pytest.FixtureRequest
) -> None:
    run: Generated = request.getfixturevalue(name)
    last: dict[str, int] = {}
    polling_day = POLLING_NOON
    for e in run.envelopes:
        st = e.statement
        assert st.time >= last.get(st.stream, 0), st.stream
        last[st.stream] = st.time
        if st.kind == "count":
            assert polling_day + 3600 <= st.time <= polling_day + 12 * 3600
        if st.kind == "recap":
            assert st.time >= polling_day + 18 * 3600


# --- determinism -----------------------------------------------------------------------


def test_the_same_inputs_give_the_same_bytes() -> None:
    first = generate(SMALL, faults=Faults.each())
    again = generate(SMALL, faults=Faults.each())
    assert [e.raw for e in first.envelopes] == [e.raw for e in again.envelopes]
    assert first.sim.injected == again.sim.injected


def test_another_seed_gives_other_tallies_and_faults() -> None:
    zero = generate(SMALL, faults=Faults.each())
    one = generate(SMALL, seed=1, faults=Faults.each())
    counts0 = {e.statement.stream: e.raw for e in zero.envelopes if e.statement.kind == "count"}
    counts1 = {e.statement.stream: e.raw for e in one.envelopes if e.statement.kind == "count"}
    assert len(set(counts0.values()) & set(counts1.values())) == 0
    assert planted(zero.sim.injected) != planted(one.sim.injected)
    # The cast is the same: keys come from the scenario, not the simulation seed.
    grants0 = [e.statement.body for e in zero.envelopes if e.statement.kind == "grant"]
    grants1 = [e.statement.body for e in one.envelopes if e.statement.kind == "grant"]
    assert grants0 == grants1


def test_envelopes_are_exactly_what_parsing_their_bytes_gives(faulty: Generated) -> None:
    for e in faulty.envelopes:
        assert Envelope.parse(e.raw) == e


def test_keys_are_the_scenarios_keys(faulty: Generated) -> None:
    scenario = faulty.sim.scenario
    grant = next(
        e.statement.body
        for e in faulty.envelopes
        if e.statement.kind == "grant" and e.statement.body["role"] == "kpps"
    )
    assert grant["label"] == f"kpps:{grant['scope']}"
    assert ed25519.public_bytes(scenario.key(grant["label"])) == grant["key"]


def test_generation_is_lazy_and_runs_once() -> None:
    sim = Simulation("", faults=Faults(arithmetic=2))
    stream = sim.envelopes()
    assert isinstance(stream, Iterator)
    head = list(islice(stream, 546))
    assert [e.statement.kind for e in head] == ["election"] + ["contest"] * 545
    assert sim.injected == []
    with pytest.raises(RuntimeError, match="generates once"):
        sim.envelopes()


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="too few sheets"):
        Simulation(SMALL, faults=Faults(arithmetic=1000))
    with pytest.raises(ValueError, match="need recaps"):
        Simulation(SMALL, faults=Faults(stale_heads=1), recaps=False)
    with pytest.raises(ValueError, match="region must be"):
        Simulation("33.16.09.1016")
    with pytest.raises(ValueError, match="saksi_rate"):
        Simulation(SMALL, saksi_rate=1.5)


# --- faults ------------------------------------------------------------------------------


def test_every_fault_is_accepted_as_evidence(faulty: Generated, sqlite_url: str) -> None:
    ledger = Ledger.create(sqlite_url, faulty.sim.trust())
    try:
        assert_all_accepted(ledger, faulty.envelopes)
    finally:
        ledger.close()


def test_each_planted_fault_is_recorded_once_with_its_events(faulty: Generated) -> None:
    injected = faulty.sim.injected
    assert sorted(i.kind for i in injected) == sorted(FAULT_KINDS)
    by_hash = {e.hash: e for e in faulty.envelopes}
    streams = {e.statement.stream for e in faulty.envelopes}
    for item in injected:
        assert item.note
        if item.kind == "missing_sheets":
            assert item.stream not in streams
            (grant,) = (by_hash[h].statement for h in item.events)
            assert grant.body["role"] == "kpps"
            assert item.stream.endswith(":" + grant.body["scope"])
            continue
        assert item.events
        first = by_hash[item.events[0]].statement
        assert first.stream == item.stream
        kinds = [by_hash[h].statement.kind for h in item.events]
        expected = {
            "arithmetic": ["count"],
            "over_registered": ["count"],
            "objections_answered": ["count", "attest", "correct", "attest", "attest"],
            "objections_unanswered": ["count", "attest"],
            "unattested_corrections": ["count", "correct"],
            "equivocations": ["count", "count"],
            "recap_mismatches": ["recap"],
            "recap_omissions": ["recap", "attest"],  # the omitted sheet's head
            "stale_heads": ["recap", "count", "attest"],  # named, and the actual head
            "unfollowed_recommendations": ["recommend"],
            "contradicted_followups": ["followup", "recommend"],
            "unanswered_plenary_objections": ["attest", "recap"],
            "admin_mismatches": ["recap"],
        }[item.kind]
        assert kinds == expected, item.kind
        sheets = {by_hash[h].statement.stream for h in item.events[1:]}
        if item.kind in ("recap_omissions", "stale_heads"):
            (sheet,) = sheets
            named = dict(recap_inputs(first))
            if item.kind == "recap_omissions":
                assert sheet not in named
            elif item.kind == "stale_heads":
                assert named[sheet] == item.events[1] != item.events[2]
        elif item.kind != "recap_mismatches":
            assert sheets <= {item.stream}


def test_the_anomalies_found_are_exactly_the_planted_faults(faulty: Generated) -> None:
    assert find(faulty.sim, faulty.envelopes) == planted(faulty.sim.injected)


def test_more_faults_of_each_kind_are_found_exactly() -> None:
    run = generate(pilkada.BLORA, seed=3, faults=Faults.each(3), saksi_rate=0.1)
    assert Counter(i.kind for i in run.sim.injected) == {k: 3 for k in FAULT_KINDS}
    assert find(run.sim, run.envelopes) == planted(run.sim.injected)
    assert_sums_are_real(run)


def test_fault_specifics(faulty: Generated) -> None:
    by_hash = {e.hash: e.statement for e in faulty.envelopes}
    item = {i.kind: i for i in faulty.sim.injected}
    tally = by_hash[item["arithmetic"].events[0]].body["tally"]
    assert [f[:12] for f in arithmetic_flags(tally)] == ["sum of votes"]
    tally = by_hash[item["over_registered"].events[0]].body["tally"]
    (flag,) = arithmetic_flags(tally)
    assert flag.startswith("voted_")
    assert sum(tally[n] for n in VOTED_FIELDS) > sum(tally.get(n, 0) for n in REGISTERED_FIELDS)
    first, second = (by_hash[h] for h in item["equivocations"].events)
    assert first.signer == second.signer and first.body != second.body
    assert first.seq < second.seq
    count, objection, fix, *witnesses = (by_hash[h] for h in item["objections_answered"].events)
    assert objection.body == {
        "event": item["objections_answered"].events[0],
        "verdict": "object",
        "reason": item["objections_answered"].note,
    }
    assert fix.body["corrects"] == item["objections_answered"].events[0]
    assert count.body["tally"]["votes"] != fix.body["tally"]["votes"]
    assert {w.body["event"] for w in witnesses} == {item["objections_answered"].events[2]}
    decisions = [
        d for s in by_hash.values() if s.kind == "recap" for d in s.body.get("decisions", [])
    ]
    assert [d["objection"] for d in decisions] == [item["objections_answered"].events[1]]
    assert all(
        not arithmetic_flags(s.body["tally"])
        for h, s in by_hash.items()
        if s.kind in ("count", "correct")
        and h not in (item["arithmetic"].events[0], item["over_registered"].events[0])
    )


def test_without_ptps_or_recaps_everything_is_still_accepted(sqlite_url: str) -> None:
    faults = Faults(objections_answered=1, unattested_corrections=1, equivocations=1)
    run = generate(SMALL, faults=faults, attest_by_ptps=False, recaps=False, saksi_rate=1.0)
    kinds = Counter(e.statement.kind for e in run.envelopes)
    assert kinds["recap"] == 0
    signers = {e.statement.signer for e in run.envelopes if e.statement.kind == "attest"}
    granted = {
        e.statement.body["role"]
        for e in run.envelopes
        if e.statement.kind == "grant" and key_id(e.statement.body["key"]) in signers
    }
    assert granted == {"saksi"}
    assert find(run.sim, run.envelopes) == planted(run.sim.injected)
    ledger = Ledger.create(sqlite_url, run.sim.trust())
    try:
        assert_all_accepted(ledger, run.envelopes)
    finally:
        ledger.close()


def test_an_unreported_kecamatan_is_registered_but_has_no_sheets(sqlite_url: str) -> None:
    kec = "12.14.30"  # no bupati-12.14 result in the data; gubernur-12 reported
    run = generate(kec)
    totals = run.sim.expected_totals()
    assert set(totals["bupati-12.14"].unreported) == {kec}
    assert totals["bupati-12.14"].kecamatan == {}
    assert kec in totals["gubernur-12"].kecamatan
    sheets = {
        e.statement.stream.split(":")[1] for e in run.envelopes if e.statement.kind == "count"
    }
    assert sheets == {"gubernur-12"}
    assert find(run.sim, run.envelopes) == set()
    ledger = Ledger.create(sqlite_url, run.sim.trust())
    try:
        assert_all_accepted(ledger, run.envelopes)
    finally:
        ledger.close()


# --- sums ------------------------------------------------------------------------------


def assert_sums_are_real(run: Generated) -> None:
    data = pilkada.load()
    tallies = effective(run.envelopes)
    per: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for name, tally in tallies.items():
        _, contest, tps = parse_stream_id(name)
        per[(contest, kecamatan_of(tps))].append(tally)
    expected = run.sim.expected_totals()
    assert {c for c, _ in per} == set(expected)
    for (contest, kec), sheet_tallies in per.items():
        real = data.results[contest][kec].votes
        assert real is not None
        want = {str(n): v for n, v in real.items()}
        got = sum_votes(sheet_tallies)
        assert {n: got.get(n, 0) for n in want} == want, (contest, kec)
        assert expected[contest].kecamatan[kec] == want
    for contest, totals in expected.items():
        got = sum_votes(t for (c, _), ts in per.items() if c == contest for t in ts)
        assert {n: got.get(n, 0) for n in totals.region} == totals.region


def test_blora_effective_tallies_sum_to_the_provisional_data(blora: Generated) -> None:
    assert_sums_are_real(blora)
    totals = blora.sim.expected_totals()
    data = pilkada.load()
    for contest in (BUPATI, GUBERNUR):
        real = Counter[str]()
        for kec, result in data.results[contest].items():
            if kec.startswith("33.16.") and result.votes is not None:
                real.update({str(n): v for n, v in result.votes.items()})
        assert totals[contest].region == dict(real)
        assert totals[contest].kabkota == {pilkada.BLORA: dict(real)}
    regency = [
        e.statement.body["totals"]["votes"]
        for e in blora.envelopes
        if e.statement.kind == "recap" and e.statement.stream.endswith(":" + pilkada.BLORA)
    ]
    assert regency == [totals[GUBERNUR].region, totals[BUPATI].region]


def test_blora_without_faults_has_no_anomalies(blora: Generated) -> None:
    assert blora.sim.injected == []
    assert find(blora.sim, blora.envelopes) == set()


def test_faulty_effective_tallies_still_sum_to_the_provisional_data(faulty: Generated) -> None:
    assert_sums_are_real(faulty)


def test_the_replays_totals_are_the_sums_of_its_sheets_in_stream_order(blora: Generated) -> None:
    """Replay.totals sums sheet by sheet into rows; the reference sums the effective
    tallies of the sheets sorted by stream id, as the replay once did, and the two
    agree to the order of every key (two contests, every kecamatan of Blora)."""
    replay = Replay(unwitnessed_policy(blora.sim.scenario.trust()), VerifyReport())
    for leaf, envelope in enumerate(blora.envelopes):
        replay.apply(leaf, envelope.raw)
    assert replay.report.ok, replay.report.failures
    reference: dict[str, dict[str, Any]] = {}
    sheets = replay.snapshot()["sheets"]
    for stream in sorted(sheets):
        effective = sheets[stream]["effective"]
        if effective is None:
            continue
        _, contest_id, tps = parse_stream_id(stream)
        contest = replay.contests[contest_id]
        zero = {
            "votes": {str(n): 0 for n in contest.pairs},
            "valid": 0,
            "invalid": 0,
            "voted": 0,
            "sheets": 0,
        }
        entry = reference.setdefault(
            contest_id,
            {"kecamatan": {}, "total": deepcopy(zero), "kolom_kosong": contest.kolom_kosong},
        )
        place = entry["kecamatan"].setdefault(kecamatan_of(tps), deepcopy(zero))
        for target in (place, entry["total"]):
            for number, votes in zip(contest.pairs, effective, strict=False):
                target["votes"][str(number)] += votes
            target["valid"] += effective[-3]
            target["invalid"] += effective[-2]
            target["voted"] += effective[-1]
            target["sheets"] += 1
    assert len(reference) == 2 and len(reference[f"bupati-{pilkada.BLORA}"]["kecamatan"]) > 10
    assert json.dumps(replay.totals()) == json.dumps(reference)
