"""Issue 16: determinations and their outcome by law, Article 158 on the determined
totals, local time, the schedule and its findings, and `ledger results`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from ledger import pilkada
from ledger.checks.dossier import verify_dossier
from ledger.checks.margin import check_margin, check_petition
from ledger.checks.verify import verify_export
from ledger.errors import (
    OutOfScopeError,
    SchemaError,
    UnauthorizedError,
    UnknownEventError,
)
from ledger.format.outcome import ELECTED, NEW_ELECTION, column_name, decide, tie_break
from ledger.format.regions import result_stream
from ledger.format.schedule import (
    PILKADA_2024,
    check_schedule,
    filing_deadline,
    polls_close,
    revote_deadline,
)
from ledger.format.schema import check_body, contest_from_body
from ledger.format.signing import contest_body, determination_body
from ledger.format.timezones import local_time_text, zone_for_region
from ledger.log.dossier import build_dossier
from ledger.log.export import export_ledger
from ledger.log.tlog import TransparencyLog
from ledger.pilkada.scenario import Scenario
from ledger.store.application import Ledger
from projections import views
from projections.fold import Projector
from projections.outcomes import record_late_revote, results
from projections.recorder import Projections
from projections.store import MemoryStore
from tests.world import KECAMATAN, TPS, TPS2, tally, unwitnessed_policy

BUPATI = "bupati-33.16"
CLOSE_WIB = 1_732_687_200  # 2024-11-27 13:00 WIB (06:00 UTC): polls close in Blora
HOUR, DAY = 3600, 86400
SCHEDULE = check_schedule(PILKADA_2024)


# --- the outcome rules ---------------------------------------------------------------


def test_plurality_elects_the_pair_with_most_valid_votes() -> None:
    outcome = decide({"1": 100, "2": 300, "3": 200}, 600, None, "bupati")
    assert (outcome.result, outcome.elected, outcome.tied) == (ELECTED, 2, ())
    assert "Art. 107(1)" in outcome.rule
    assert "Art. 109(1)" in decide({"1": 1, "2": 2}, 3, None, "gubernur").rule


def test_a_tie_goes_to_the_more_evenly_spread_pair() -> None:
    outcome = decide({"1": 300, "2": 300, "3": 10}, 610, None, "bupati")
    assert (outcome.elected, outcome.tied) == (None, (1, 2))
    # pair 2 leads in two kecamatan, pair 1 in one: pair 2's votes are more evenly spread
    regions = {
        "33.16.01": {"1": 200, "2": 100, "3": 5},
        "33.16.02": {"1": 50, "2": 100, "3": 5},
        "33.16.03": {"1": 50, "2": 100, "3": 0},
    }
    assert tie_break((1, 2), regions) == (2,)
    assert tie_break((1, 2), {"a": {"1": 5, "2": 5}}) == (1, 2)  # the law says no more


@pytest.mark.parametrize(
    ("pair_votes", "column_votes", "result"),
    [
        (501, 499, ELECTED),  # more than 50%
        (500, 500, NEW_ELECTION),  # exactly 50% is not more than 50%
        (4275, 5725, NEW_ELECTION),  # Kabupaten Bangka: the kolom kosong won 57.25%
    ],
)
def test_single_pair_against_the_kolom_kosong(
    pair_votes: int, column_votes: int, result: str
) -> None:
    outcome = decide({"1": pair_votes, "2": column_votes}, pair_votes + column_votes, 2, "bupati")
    assert outcome.result == result
    assert outcome.elected == (1 if result == ELECTED else None)
    assert "54D" in outcome.rule


def test_the_kolom_kosong_is_named_a_column_never_a_pair() -> None:
    assert column_name(2, 2) == "kolom kosong"
    assert column_name("1", 2) == "pair 1"
    contest = contest_from_body(contest_body("walikota", "19.71", "Pangkalpinang", ["KK", "X"], 1))
    body = {
        "recap": bytes(32),
        "decree": "1/2024",
        "announced": 0,
        "totals": {"votes": {"1": 60, "2": 40}, "valid": 100, "invalid": 0, "voted": 100},
        "outcome": ELECTED,
        "elected": 1,
    }
    with pytest.raises(SchemaError):  # the column won: the outcome is a new election
        check_body("determination", body, lambda: contest, version=2)
    body["totals"]["votes"] = {"1": 40, "2": 60}
    with pytest.raises(SchemaError, match="kolom kosong is a column"):
        check_body("determination", body, lambda: contest, version=2)


# --- time zones and the schedule ---------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "zone", "hours"),
    [
        ("62", "WIB", 7),  # Kalimantan Tengah ...
        ("63.01", "WITA", 8),  # ... borders Kalimantan Selatan
        ("61.01.01.2001/001", "WIB", 7),
        ("65", "WITA", 8),  # Kalimantan Utara
        ("76.01", "WITA", 8),  # Sulawesi Barat ...
        ("82", "WIT", 9),  # ... and, across the sea, Maluku Utara
        ("52", "WITA", 8),  # Nusa Tenggara Barat, east of Bali's neighbour Java
        ("36", "WIB", 7),
        ("96.01", "WIT", 9),  # Papua Barat Daya
        ("19.71", "WIB", 7),
    ],
)
def test_zone_for_region(code: str, zone: str, hours: int) -> None:
    assert zone_for_region(code) == (zone, timedelta(hours=hours))


@pytest.mark.parametrize("code", ["99", "20.01", "1", "", "333"])
def test_no_zone_outside_the_provinces(code: str) -> None:
    with pytest.raises(SchemaError):
        zone_for_region(code)


def test_polls_close_at_13_local_in_each_zone() -> None:
    wib, wita = "62.01.01.2001/001", "63.01.01.2001/001"
    assert polls_close(SCHEDULE, wib) == CLOSE_WIB
    assert polls_close(SCHEDULE, wita) == CLOSE_WIB - HOUR
    assert polls_close(SCHEDULE, "91.01.01.2001/001") == CLOSE_WIB - 2 * HOUR
    at = CLOSE_WIB - 30 * 60  # closed in Kalimantan Selatan, still open in Kalimantan Tengah
    assert local_time_text(at, wib) == "2024-11-27 12:30:00 WIB"
    assert local_time_text(at, wita) == "2024-11-27 13:30:00 WITA"


def test_filing_deadline_skips_weekends_and_the_periods_holidays() -> None:
    # Announced Monday 23 December 2024, 20:00 WIB: Tuesday 24 counts, Christmas (25)
    # and the joint leave day (26) do not, Friday 27 does, the weekend does not.
    announced = CLOSE_WIB + 26 * DAY + 7 * HOUR
    day, last = filing_deadline(announced, "33.16", SCHEDULE.holidays)
    assert day == date(2024, 12, 30)
    assert local_time_text(last, "33.16") == "2024-12-30 23:59:59 WIB"
    assert filing_deadline(announced, "33.16", frozenset())[0] == date(2024, 12, 26)
    # 23:00 WIB is already Tuesday in Papua (WIT): its deadline moves a day
    assert filing_deadline(announced + 3 * HOUR, "33.16", SCHEDULE.holidays)[0] == date(
        2024, 12, 30
    )
    assert filing_deadline(announced + 3 * HOUR, "91.01", SCHEDULE.holidays)[0] == date(
        2024, 12, 31
    )


def test_schedule_refusals() -> None:
    for key, bad in (
        ("voting_day", "27-11-2024"),
        ("polls_close", "1pm"),
        ("revote_days", True),
        ("holidays", ["2024-12-26", "2024-12-25"]),
        ("recap", {"kecamatan": ["2024-12-03", "2024-11-28"]}),
    ):
        with pytest.raises(SchemaError):
            check_schedule({**PILKADA_2024, key: bad})
    with pytest.raises(SchemaError, match="unknown field"):  # version 1 has no schedule
        check_body("election", {"name": "x", "schedule": PILKADA_2024}, lambda: None, version=1)  # type: ignore[arg-type,return-value]


# --- Article 158 on the determined totals -------------------------------------------------


def test_margin_between_the_winner_and_a_petitioner_who_is_not_second() -> None:
    votes = {"1": 10_000, "2": 9_900, "3": 5_000}
    top_two = check_margin("bupati", votes, 200_000, valid=24_900)
    assert top_two.within_threshold  # 100 votes apart: within 2%
    petition = check_petition(
        "bupati",
        votes,
        200_000,
        valid=24_900,
        winner="1",
        petitioner="3",
        basis="the totals KPU determined",
    )
    assert petition.margin_votes == 5_000 and not petition.within_threshold
    assert petition.to_json()["basis"] == "the totals KPU determined"
    assert "pair 1 (10,000) leads pair 3 (5,000)" in petition.describe()
    kolom = check_petition(
        "walikota",
        {"1": 48_528, "2": 35_177},
        220_000,
        valid=83_705,
        winner="1",
        petitioner="2",
        basis="determined",
        kolom_kosong="1",
    )
    assert kolom.describe().startswith("walikota, population 220,000: kolom kosong (48,528)")
    with pytest.raises(SchemaError):
        check_petition("bupati", votes, 1000, valid=24_900, winner="1", petitioner="1", basis="")


# --- determinations in a ledger -------------------------------------------------------------


def _election(s: Scenario) -> list[Any]:
    s.time = CLOSE_WIB - 60 * DAY
    out = [s.sign(s.kpu, "election", "election", {"name": "Pilkada", "schedule": PILKADA_2024})]
    out.append(s.define_contest("bupati", "33.16", "Bupati Blora", ["A - B", "C - D", "E - F"]))
    out.append(s.define_contest("gubernur", "33", "Gubernur Jawa Tengah", ["G - H", "I - J"]))
    return out


def _world(url: str, *, early_count: bool = False, late_recap: bool = False) -> dict[str, Any]:
    """A Blora ledger up to its kabkota recap: two TPS, one kecamatan."""
    s = Scenario()
    ledger = Ledger.create(url, s.trust())
    Projections.create(ledger)
    envelopes = _election(s)
    kab, g1 = s.grant(s.kpu, "kab", "kpu-kab", "33.16")
    other, g2 = s.grant(s.kpu, "kab-other", "kpu-kab", "33.17")
    prov, g3 = s.grant(s.kpu, "prov", "kpu-prov", "33")
    ppk, g4 = s.grant(kab, "ppk", "ppk", KECAMATAN)
    kpps, g5 = s.grant(kab, "kpps", "kpps", TPS)
    kpps2, g6 = s.grant(kab, "kpps2", "kpps", TPS2)
    envelopes += [g1, g2, g3, g4, g5, g6]
    s.time = CLOSE_WIB - 60 if early_count else CLOSE_WIB + HOUR
    c1 = s.count(kpps, BUPATI, TPS, tally((120, 60, 20)))
    s.time = CLOSE_WIB + 2 * HOUR
    c2 = s.count(kpps2, BUPATI, TPS2, tally((100, 90, 10)))
    s.time = CLOSE_WIB + (8 if late_recap else 2) * DAY
    votes, valid, invalid, voted = {"1": 220, "2": 150, "3": 30}, 400, 10, 410
    kec = s.recap(ppk, BUPATI, KECAMATAN, [(c1.statement.stream, c1.hash), (c2.statement.stream, c2.hash)], votes, valid, invalid, voted)  # fmt: skip
    s.time = CLOSE_WIB + 7 * DAY
    top = s.recap(
        kab, BUPATI, "33.16", [(kec.statement.stream, kec.hash)], votes, valid, invalid, voted
    )
    envelopes += [c1, c2, kec, top]
    for envelope in envelopes:
        ledger.append(envelope.raw)
    totals = {"votes": votes, "valid": valid, "invalid": invalid, "voted": voted}
    return {"s": s, "ledger": ledger, "kab": kab, "other": other, "prov": prov, "ppk": ppk,
            "kec": kec, "top": top, "totals": totals, "count": c1}  # fmt: skip


def _determine(w: dict[str, Any], key: Any = None, **change: Any) -> Any:
    s = w["s"]
    s.time = CLOSE_WIB + 7 * DAY + 2 * HOUR
    body = determination_body(
        w["top"].hash, "Keputusan KPU Kabupaten Blora Nomor 1/2024", s.time, w["totals"],
        kolom_kosong=None, office="bupati",
    )  # fmt: skip
    body.update(change)
    seq, head = w["ledger"].head(result_stream(BUPATI))  # refused ones took no position
    s.chain.heads.pop(result_stream(BUPATI), None)
    if seq:
        s.chain.follow(result_stream(BUPATI), seq, head)
    return s.sign(key or w["kab"], result_stream(BUPATI), "determination", body)


def _findings(store: Any) -> list[dict[str, Any]]:
    """Findings but the gubernur sheets nobody counted in this small world."""
    return [f for f in views.findings(store) if f["kind"] != "missing-sheet"]


def _store(ledger: Ledger) -> Any:
    projections = Projections(ledger)
    projections.catch_up()
    return projections.store()


def test_determination_accepted_projected_and_shown(database_url: str) -> None:
    w = _world(database_url)
    ledger = w["ledger"]
    ledger.append(_determine(w).raw)
    store = _store(ledger)
    (row,) = results(store, BUPATI)
    d = row["determination"]
    assert row["state"] == "determined" and row["zone"] == "WIB"
    assert (d["outcome"], d["elected"], d["differs_from_recap"]) == (ELECTED, 1, {})
    assert d["announced_local"] == "2024-12-04 15:00:00 WIB"
    assert d["filing_deadline_local"] == "2024-12-09 23:59:59 WIB"  # Thu, Fri, Mon
    assert _findings(store) == []
    # a second determination that differs from its recap is accepted, and a finding
    changed = dict(w["totals"], votes={"1": 230, "2": 140, "3": 30})
    ledger.append(_determine(w, totals=changed).raw)
    store = _store(ledger)
    (finding,) = _findings(store)
    assert finding["kind"] == "determination-mismatch"
    assert finding["difference"] == {"votes[1]": 10, "votes[2]": -10}
    ledger.close()


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"elected": 2}, SchemaError),  # pair 1 has the most votes
        ({"outcome": NEW_ELECTION}, SchemaError),  # no new election where pairs compete
        (
            {"totals": {"votes": {"1": 1, "2": 1}, "valid": 2, "invalid": 0, "voted": 2}},
            SchemaError,
        ),  # a ballot number missing
        ({"elected": 4}, SchemaError),
        ({"decree": " "}, SchemaError),
        ({"recap": bytes(32)}, UnknownEventError),
    ],
)
def test_determination_refusals(sqlite_url: str, change: dict[str, Any], error: type) -> None:
    w = _world(sqlite_url)
    with pytest.raises(error):
        w["ledger"].append(_determine(w, **change).raw)
    assert w["ledger"].stream(result_stream(BUPATI)) == []
    w["ledger"].close()


def test_determination_refused_from_the_wrong_body(sqlite_url: str) -> None:
    w = _world(sqlite_url)
    ledger = w["ledger"]
    with pytest.raises(UnauthorizedError):
        ledger.append(_determine(w, key=w["ppk"]).raw)
    with pytest.raises(UnauthorizedError):  # the KPU province determines only gubernur
        ledger.append(_determine(w, key=w["prov"]).raw)
    with pytest.raises(OutOfScopeError):
        ledger.append(_determine(w, key=w["other"]).raw)
    with pytest.raises(UnknownEventError):  # a kecamatan recap is not the top recap
        ledger.append(_determine(w, recap=w["kec"].hash).raw)
    ledger.close()


def test_schedule_findings(database_url: str) -> None:
    w = _world(database_url, early_count=True, late_recap=True)
    store = _store(w["ledger"])
    kinds = {f["kind"]: f for f in views.findings(store)}
    assert "count-before-close" in kinds and "recap-outside-window" in kinds
    assert (
        "12:59:00 WIB, before polls closed at 2024-11-27 13:00:00 WIB"
        in (kinds["count-before-close"]["message"])
    )
    assert (
        "2024-12-05 13:00:00 WIB, outside its window 2024-11-28 to 2024-12-03"
        in (kinds["recap-outside-window"]["message"])
    )
    w["ledger"].close()


def test_a_revote_past_the_schedules_limit_is_late_unless_a_ruling_set_its_deadline() -> None:
    s = Scenario()
    store = MemoryStore()
    store.put("election", "election", {"name": "x", "hash": "h", "schedule": PILKADA_2024})
    limit = revote_deadline(SCHEDULE, TPS)
    assert local_time_text(limit, TPS) == "2024-12-07 23:59:59 WIB"
    order = {"hash": "ab" * 32, "action": "revote", "deadline": limit + 86_400, "ruling": None}
    kpps = s.key("kpps")
    s.time = limit
    record_late_revote(store, s.count(kpps, BUPATI, TPS, tally((1, 1, 1))), 0, order)
    assert store.scan("timing") == []
    s.time = limit + 1  # within the order's own deadline, past the schedule's limit
    record_late_revote(store, s.count(kpps, BUPATI, TPS2, tally((1, 1, 1))), 1, order)
    ruled = {**order, "ruling": "135/PHPU.BUP-XXIII/2025"}  # the Court set the deadline
    record_late_revote(store, s.count(kpps, BUPATI, TPS, tally((1, 1, 2))), 2, ruled)
    (late,) = views.findings(store)
    assert late["kind"] == "late-revote" and "2024-12-07 23:59:59 WIB" in late["message"]


# --- the simulation of Kepulauan Bangka Belitung -----------------------------------------


def test_results_on_simulated_bangka_belitung(tmp_path: Path) -> None:
    directory = tmp_path / "babel"
    run = [str(Path(sys.executable).parent / "ledger")]
    built = subprocess.run(
        [*run, "simulate", str(directory), "--region", "19"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    assert "provisional" in built.stdout and "= real" not in built.stdout
    shown = subprocess.run(
        [*run, "results", "-L", str(directory), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    rows = {r["contest"]: r for r in json.loads(shown.stdout)["results"]}
    assert len(rows) == 8 and all(r["state"] == "determined" for r in rows.values())
    for contest in ("bupati-19.01", "walikota-19.71"):  # held again on 27 August 2025
        assert rows[contest]["determination"]["outcome"] == NEW_ELECTION
    assert rows["bupati-19.03"]["determination"]["elected"] == 2  # the pair beat the column
    text = subprocess.run(
        [*run, "results", "-L", str(directory), "--contest", "bupati-19.01"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    assert "outcome: NEW ELECTION" in text and "times in WIB" in text
    assert "kolom kosong" in text and "pair 2" not in text
    assert "57.25%" in text
    # The KPU kab/kota signs a new determination by hand; the KPU root may not.
    env = {**os.environ, "LEDGER_PASSPHRASE": "demo-not-secret"}
    determine = [*run, "determine", "-L", str(directory), "--contest", "bupati-19.01"]
    args = ["--decree", "Nomor 1646 Tahun 2024", "--announced", str(CLOSE_WIB + 9 * DAY + 4 * HOUR)]
    keys = directory / "keys"
    refused = subprocess.run(
        [*determine, "-k", str(keys / "kpu-root.key"), *args],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip
    assert refused.returncode == 1
    assert refused.stderr.strip().endswith("may not determine the result of bupati-19.01")
    done = subprocess.run(
        [*determine, "-k", str(keys / "kpu-kab_19.01.key"), *args],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "accepted: result:bupati-19.01 seq 2" in done.stdout
    text = subprocess.run(
        [*run, "results", "-L", str(directory), "--contest", "bupati-19.01"],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    assert "decree Nomor 1646 Tahun 2024, announced 2024-12-06 17:00:00 WIB" in text
    assert "until 2024-12-11 23:59:59 WIB" in text  # Monday 9, Tuesday 10, Wednesday 11


def test_determination_verified_offline_and_in_the_dossier(
    database_url: str, tmp_path: Path
) -> None:
    """The export verifier and the dossier replay it; Art. 158 uses its figures."""
    w = _world(database_url)
    ledger = w["ledger"]
    ledger.append(_determine(w).raw)
    TransparencyLog(ledger).issue_checkpoint(w["s"].log_signer)
    export = tmp_path / "ledger.export"
    with export.open("wb") as f:
        export_ledger(ledger, f)
    policy = unwitnessed_policy(ledger.trust)
    with export.open("rb") as f:
        report = verify_export(f, policy)
    assert report.ok, report.failures
    assert report.events["determination"] == 1
    dossier = build_dossier(ledger, BUPATI, policy=policy.tlog)
    assert any(e["stream"] == result_stream(BUPATI) for e in json.loads(dossier)["events"])
    # votes 220 / 150 / 30 of 400 valid: pair 3 petitions, not the runner-up
    checked = verify_dossier(dossier, policy, population=200_000, petitioner=3)
    assert checked.ok, checked.failures
    assert checked.determination is not None and checked.determination["elected"] == 1
    assert checked.determination["filing_deadline_day"] == "2024-12-09"
    margin = checked.margin
    assert margin is not None
    assert (margin.first, margin.second, margin.margin_votes) == ((1, 220), (3, 30), 190)
    assert "the totals KPU determined" in margin.basis
    ledger.close()


def test_dossier_without_determination_says_its_margin_is_the_sheets(sqlite_url: str) -> None:
    w = _world(sqlite_url)
    ledger = w["ledger"]
    TransparencyLog(ledger).issue_checkpoint(w["s"].log_signer)
    policy = unwitnessed_policy(ledger.trust)
    checked = verify_dossier(
        build_dossier(ledger, BUPATI, policy=policy.tlog), policy, population=200_000
    )
    assert checked.ok and checked.determination is None and checked.margin is not None
    assert checked.margin.basis.startswith("no determination in the dossier")
    ledger.close()


def test_the_law_on_the_data_gives_the_real_single_candidate_outcomes() -> None:
    """Of the 37 single-candidate contests, the kolom kosong won exactly in Kabupaten
    Bangka and Kota Pangkalpinang (both held again on 27 August 2025): the law
    applied to the provisional figures the simulation determines gives just those."""
    data = pilkada.load()
    new_elections, single = set(), 0
    for contest in data.contests_in(""):
        column = next((p.number for p in contest.pairs if p.kolom_kosong), None)
        if column is None:
            continue
        single += 1
        votes = {str(p.number): 0 for p in contest.pairs}
        for result in data.results[contest.id].values():
            for number, n in (result.votes or {}).items():
                votes[str(number)] += n
        outcome = decide(votes, sum(votes.values()), column, contest.office)
        if outcome.result == NEW_ELECTION:
            new_elections.add(contest.id)
    assert single == 37
    assert new_elections == {"bupati-19.01", "walikota-19.71"}


def test_a_version_1_statement_cannot_determine() -> None:
    contest = contest_from_body(contest_body("bupati", "33.16", "Blora", ["A", "B"]))
    body = {
        "recap": bytes(32),
        "decree": "1/2024",
        "announced": 0,
        "totals": {"votes": {"1": 60, "2": 40}, "valid": 100, "invalid": 0, "voted": 100},
        "outcome": ELECTED,
        "elected": 1,
    }
    check_body("determination", body, lambda: contest, version=2)
    with pytest.raises(SchemaError, match="from format version 2"):
        check_body("determination", body, lambda: contest, version=1)


@pytest.mark.parametrize(("elected", "finding"), [(2, False), (1, True)])
def test_the_fold_applies_the_tie_rule_over_the_kecamatan_recaps(
    elected: int, finding: bool
) -> None:
    """Pairs tied at 210: pair 2 leads in two kecamatan of three, so it is elected."""
    s = Scenario()
    store = MemoryStore()
    projector = Projector(s.trust(), store)
    s.time = CLOSE_WIB - 60 * DAY
    envelopes = [
        s.sign(s.kpu, "election", "election", {"name": "Pilkada", "schedule": PILKADA_2024}),
        s.define_contest("bupati", "33.16", "Bupati Blora", ["A - B", "C - D"]),
    ]
    kab, grant = s.grant(s.kpu, "kab", "kpu-kab", "33.16")
    envelopes.append(grant)
    s.time = CLOSE_WIB + 2 * DAY
    kecamatan = {"33.16.01": (150, 50), "33.16.02": (30, 60), "33.16.03": (30, 100)}
    recaps = []
    for i, (kec, (one, two)) in enumerate(sorted(kecamatan.items())):
        ppk, grant = s.grant(kab, f"ppk{i}", "ppk", kec)
        sheet = f"sheet:{BUPATI}:{kec}.2001/001"
        recap = s.recap(ppk, BUPATI, kec, [(sheet, bytes(32))], {"1": one, "2": two}, one + two, 0, one + two)  # fmt: skip
        envelopes += [grant, recap]
        recaps.append((recap.statement.stream, recap.hash))
    totals = {"votes": {"1": 210, "2": 210}, "valid": 420, "invalid": 0, "voted": 420}
    s.time = CLOSE_WIB + 7 * DAY
    top = s.recap(kab, BUPATI, "33.16", recaps, totals["votes"], 420, 0, 420)
    body = determination_body(
        top.hash, "1/2024", s.time, totals, kolom_kosong=None, office="bupati", elected=elected
    )
    envelopes += [top, s.sign(kab, result_stream(BUPATI), "determination", body)]
    for leaf, envelope in enumerate(envelopes):
        projector.apply(leaf, envelope.raw)
    ties = [f for f in views.findings(store) if f["kind"] == "tie-rule"]
    assert bool(ties) == finding
    if finding:
        assert (
            "pair 1 elected, but the votes of pair 2 are more evenly spread" in ties[0]["message"]
        )
