"""After the count (docs/format.md 5.11-5.13): re-votes and recounts, Bawaslu
recommendations and follow-ups, on both backends.

A re-vote ordered by the KPU kab/kota on a Panwaslu Kecamatan recommendation is
counted into the same sheet and supersedes the first count without being an
equivocation; a count that claims an order that is not there is refused by the
ledger and named by the offline verifier; a postponed TPS is not a missing sheet
before its deadline; a recommendation nobody follows up, and a follow-up that
contradicts what was then done, are findings. Version 1 keeps its flat panwas.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.checks.dossier import verify_dossier
from ledger.checks.verify import Replay, VerifyReport, verify_export
from ledger.errors import (
    LedgerError,
    OutOfScopeError,
    SchemaError,
    UnauthorizedError,
    UnknownEventError,
)
from ledger.format import canonical
from ledger.format.aftercount import check_aftercount_body, order_body
from ledger.format.dhasil import ADMIN_FIELDS
from ledger.format.exportfile import MAGIC, read_records
from ledger.format.fields import MAX_TEXT
from ledger.format.regions import recap_stream, sheet_stream
from ledger.format.statement import Envelope
from ledger.log.dossier import build_dossier
from ledger.log.export import export_ledger
from ledger.log.tlog import TransparencyLog
from ledger.pilkada.demo import build
from ledger.pilkada.phases import phases
from ledger.pilkada.scenario import Scenario
from ledger.pilkada.simulate import AfterCount, Simulation
from ledger.store.application import Ledger
from projections import views
from projections.recorder import Projections
from projections.store import Store
from tests.world import (
    BUPATI,
    KECAMATAN,
    TPS,
    TPS2,
    TPS_ELSEWHERE,
    World,
    build_world,
    tally,
    unwitnessed_policy,
)

SHEET = sheet_stream(BUPATI, TPS)
SHEET2 = sheet_stream(BUPATI, TPS2)
DAY = 86_400
# C.Hasil figures with the ballots a TPS of 300 on the DPT receives: 300 + 2.5% rounded up.
FIRST = tally((120, 60), ballots_received=308, ballots_unused=121)
REVOTED = tally((100, 85), ballots_received=308, ballots_unused=116)


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    w = build_world(database_url)
    yield w
    w.ledger.close()


def store_of(w: World) -> Store:
    projections = Projections(w.ledger)
    projections.catch_up()
    return projections.store()


def export_of(w: World, *extra: Envelope) -> bytes:
    """The ledger's export, checkpointed, with ``extra`` events appended as an unwitnessed
    tail (events the ledger itself would refuse, for the verifier to name)."""
    TransparencyLog(w.ledger).issue_checkpoint(w.scenario.log_signer)
    out = io.BytesIO()
    export_ledger(w.ledger, out)
    if not extra:
        return out.getvalue()
    records = list(read_records(io.BytesIO(out.getvalue())))
    end = records.pop()
    leaf = end["events"]
    for envelope in extra:
        records.append({"type": "event", "leaf": leaf, "envelope": envelope.raw})
        leaf += 1
    records.append({**end, "events": leaf})
    data = bytearray(MAGIC)
    for record in records:
        encoded = canonical.encode(record)
        data += struct.pack(">I", len(encoded)) + encoded
    return bytes(data)


def verified(w: World, *extra: Envelope) -> VerifyReport:
    policy = unwitnessed_policy(w.ledger.trust)
    return verify_export(io.BytesIO(export_of(w, *extra)), policy, accept_unwitnessed_tail=True)


def refused(w: World, envelope: Envelope, error: type[LedgerError], text: str = "") -> None:
    """``envelope`` is refused with ``error`` (message containing ``text``), nothing written."""
    before = w.ledger.head(envelope.statement.stream)
    with pytest.raises(error) as caught:
        w.ledger.append(envelope.raw)
    assert text in str(caught.value)
    assert w.ledger.head(envelope.statement.stream) == before
    forget(w.scenario, envelope)


def forget(s: Scenario, envelope: Envelope) -> None:
    """Undo the scenario's chaining of a refused envelope (its stream head goes back)."""
    st = envelope.statement
    if st.seq == 1:
        s.chain.heads.pop(st.stream, None)
    else:
        s.chain.heads[st.stream] = (st.seq - 1, st.prev)


def kinds(found: list[dict[str, Any]], stream: str) -> list[str]:
    return sorted(f["kind"] for f in found if f["stream"] == stream)


def test_a_replay_saved_between_a_recommendation_and_its_followup_resumes_cleanly(
    world: World,
) -> None:
    """The replay state keeps what after-count events are (format.md 8.17, version 2):
    a followup replayed after a restart still finds the recommendation it answers."""
    e = revote(world)
    policy = unwitnessed_policy(world.ledger.trust)
    entries = [
        r["envelope"] for r in read_records(io.BytesIO(export_of(world))) if r["type"] == "event"
    ]
    split = entries.index(e["rec"].raw) + 1
    whole = Replay(policy, VerifyReport())
    for leaf, entry in enumerate(entries):
        whole.apply(leaf, entry)
    first = Replay(policy, VerifyReport())
    for leaf, entry in enumerate(entries[:split]):
        first.apply(leaf, entry)
    saved = json.loads(json.dumps(first.snapshot()))
    assert saved["tags"][SHEET] == {e["rec"].hash.hex(): "recommend"}
    resumed = Replay.restore(policy, saved)
    for leaf, entry in enumerate(entries[split:], start=split):
        resumed.apply(leaf, entry)
    assert whole.report.ok and resumed.report.ok, resumed.report.failures
    assert resumed.snapshot() == whole.snapshot()
    assert resumed.totals() == whole.totals()

    # A version 1 state (which had no tags) still restores; lacking the tag, the
    # followup is not found: what version 2 fixed.
    old = Replay.restore(policy, {**saved, "format": "ledger-replay/v1", "tags": {}})
    for leaf, entry in enumerate(entries[split:], start=split):
        old.apply(leaf, entry)
    assert old.report.failure_counts["UnknownEventError"] >= 1


# --- 1. re-votes, delayed votes, recounts ----------------------------------------------


def revote(w: World) -> dict[str, Envelope]:
    """TPS's count, the Panwaslu Kecamatan's recommendation, the KPU kab's acceptance and
    order, the re-vote's count and the PTPS's agreement."""
    s, k = w.scenario, w.keys
    e: dict[str, Envelope] = {}
    e["count"] = s.count(k["kpps"], BUPATI, TPS, FIRST)
    reason = "ballots opened before the count (Pasal 112(2))"
    e["rec"] = s.recommend(k["panwas"], SHEET, "revote", reason, e["count"].hash)
    e["followup"] = s.followup(k["kab"], SHEET, e["rec"].hash, "accepted", "conditions met")
    e["order"] = s.order(k["kab"], SHEET, "revote", reason, recommendation=e["rec"].hash)
    e["recount"] = s.recount_count(k["kpps"], BUPATI, TPS, REVOTED, e["order"].hash)
    e["agree"] = s.attest(k["ptps"], BUPATI, TPS, e["recount"].hash)
    w.append(*e.values())
    return e


def test_a_revote_supersedes_the_first_count_and_is_no_equivocation(
    world: World, tmp_path: Path
) -> None:
    e = revote(world)
    store = store_of(world)
    found = views.findings(store)
    assert kinds(found, SHEET) == []  # no equivocation, the recommendation was followed
    (status,) = [r for r in views.sheet_status(store, BUPATI) if r["stream"] == SHEET]
    assert status["effective"] == e["recount"].hash.hex() and status["ptps_attested"]
    (row,) = views.totals(store, BUPATI, "kecamatan", within=KECAMATAN)
    assert row["votes"] == {"1": 100, "2": 85}
    trail = [r["kind"] for r in views.trail(store, stream=SHEET)]
    assert trail == ["count", "recommend", "followup", "order", "count", "attest"]
    (order,) = store.scan("order", within=TPS)
    assert (order["action"], order["recommendation"]) == ("revote", e["rec"].hash.hex())
    # Without its order the second count would be an equivocation.
    assert store.get("sheet", SHEET)["tallies"][-1]["order"] == e["order"].hash.hex()

    report = verified(world)
    assert report.ok, report.failures
    assert report.totals[BUPATI]["total"]["votes"] == {"1": 100, "2": 85}
    assert report.events["order"] == report.events["recommend"] == report.events["followup"] == 1

    policy = unwitnessed_policy(world.ledger.trust)
    dossier = build_dossier(world.ledger, SHEET, policy=policy.tlog)
    checked = verify_dossier(dossier, policy)
    assert checked.ok, checked.failures
    (sheet,) = checked.sheets
    assert sheet["effective"]["order"] == e["order"].hash.hex()
    assert [p["kind"] for p in sheet["process"]] == ["recommend", "followup", "order"]
    assert sheet["process"][2]["recommendation"] == e["rec"].hash.hex()
    assert len(json.loads(dossier)["events"]) > 6


def test_a_revote_counted_after_its_orders_deadline_is_a_finding(world: World) -> None:
    s, k = world.scenario, world.keys
    first = s.count(k["kpps"], BUPATI, TPS, FIRST)
    reason = "ballots opened before the count (Pasal 112(2))"
    order = s.order(k["kab"], SHEET, "revote", reason, deadline=s.time + 86_400)
    world.append(first, order)
    s.time = order.statement.body["deadline"]  # on the deadline: in time
    in_time = s.recount_count(k["kpps"], BUPATI, TPS, REVOTED, order.hash)
    world.append(in_time)
    assert [f for f in views.findings(store_of(world)) if f["kind"] == "late-revote"] == []
    s.time += 1  # a second re-vote count, a second after it: late
    late = s.recount_count(k["kpps"], BUPATI, TPS, FIRST, order.hash)
    world.append(late)
    (finding,) = [f for f in views.findings(store_of(world)) if f["kind"] == "late-revote"]
    assert finding["events"] == [late.hash.hex()]
    assert f"after the deadline of its order {order.hash.hex()[:12]}" in finding["message"]


def test_a_count_claiming_a_revote_without_its_order_is_refused_and_named(world: World) -> None:
    s, k = world.scenario, world.keys
    count = s.count(k["kpps"], BUPATI, TPS, FIRST)
    world.append(count)
    for named in (bytes(32), count.hash):  # nothing, or a count that is not an order
        claim = s.recount_count(k["kpps"], BUPATI, TPS, REVOTED, named)
        refused(world, claim, UnknownEventError, "count.order names")
    # The verifier names the same count, should a ledger have let it through.
    claim = s.recount_count(k["kpps"], BUPATI, TPS, REVOTED, count.hash)
    report = verified(world, claim)
    (failure,) = report.failures["UnknownEventError"]
    assert (failure.stream, failure.event_hash) == (SHEET, claim.hash.hex())
    assert "count.order" in failure.message


def test_orders_are_refused_unless_signed_by_the_deciding_kpu_with_a_lawful_deadline(
    world: World,
) -> None:
    s, k = world.scenario, world.keys
    world.append(s.count(k["kpps"], BUPATI, TPS, FIRST))
    reason = "the KPPS opened the box early"
    for key, error in ((k["ppk"], UnauthorizedError), (k["kpps"], UnauthorizedError)):
        refused(world, s.order(key, SHEET, "revote", reason), error, "may not order")
    late = s.time + 11 * DAY
    refused(
        world, s.order(k["kab"], SHEET, "revote", reason, deadline=late), SchemaError, "10 days"
    )
    refused(world, s.order(k["kab"], SHEET, "recall", reason), SchemaError, "order.action")
    refused(world, s.order(k["kab"], SHEET, "revote", " "), SchemaError, "order.reason")
    before = s.time - DAY
    refused(world, s.order(k["kab"], SHEET, "revote", reason, deadline=before), SchemaError)
    # A recap plenary is recounted, not re-voted, and by the body above it.
    kec = recap_stream(BUPATI, KECAMATAN)
    refused(world, s.order(k["kab"], kec, "revote", reason), SchemaError, "recount")
    regency = recap_stream(BUPATI, "33.16")
    refused(world, s.order(k["kab"], regency, "recount", reason), OutOfScopeError)
    # The Court sets its own deadline; the KPU that carries it out cites the ruling.
    ruled = s.order(
        k["kab"], SHEET, "revote", reason, deadline=late, ruling="135/PHPU.BUP-XXIII/2025"
    )
    world.append(ruled, s.order(k["kab"], kec, "recount", "the PPK's sums disputed"))
    # Order kinds and the count's order exist in version 2 only.
    v1 = Scenario(version=1)
    v1.chain.heads = dict(s.chain.heads)
    refused(world, v1.order(k["kab"], SHEET, "recount", reason), SchemaError, "version 1")
    body = {"tally": REVOTED, "order": ruled.hash}
    refused(world, v1.sign(k["kpps"], SHEET, "count", body), SchemaError, "unknown field")


def test_a_postponed_tps_is_missing_only_after_its_deadline(world: World) -> None:
    s, k = world.scenario, world.keys
    order = s.order(k["kab"], SHEET2, "delayed", "logistics did not arrive")
    world.append(order)
    deadline = order.statement.body["deadline"]
    store = store_of(world)
    assert "missing-sheet" not in kinds(views.findings(store), SHEET2)
    assert "missing-sheet" not in kinds(views.findings(store, now=deadline), SHEET2)
    (late,) = [f for f in views.findings(store, now=deadline + 1) if f["stream"] == SHEET2]
    assert (late["kind"], late["events"]) == ("missing-sheet", [order.hash.hex()])
    # Without an order, the same TPS's other contest is missing whatever the clock says.
    gubernur = sheet_stream("gubernur-33", TPS2)
    assert kinds(views.findings(store), gubernur) == ["missing-sheet"]
    world.append(s.recount_count(k["kpps2"], BUPATI, TPS2, FIRST, order.hash))
    assert kinds(views.findings(store_of(world), now=deadline + 1), SHEET2) == []
    assert verified(world).ok


# --- 2. Bawaslu roles, recommendations and follow-ups --------------------------------------


def test_the_bawaslu_roles_are_granted_down_their_hierarchy(world: World) -> None:
    s, k = world.scenario, world.keys
    prov, g1 = s.grant(s.bawaslu, "bawaslu-jateng", "bawaslu-prov", "33")
    kab, g2 = s.grant(prov, "bawaslu-blora", "bawaslu-kab", "33.16")
    kec, g3 = s.grant(kab, "panwaslu-blora", "panwaslu-kec", KECAMATAN)
    ptps, g4 = s.grant(kec, "ptps-2", "ptps", TPS2)
    world.append(g1, g2, g3, g4)
    refused(world, s.grant(s.bawaslu, "panwas-x", "panwas", KECAMATAN)[1], SchemaError, "panwas")
    refused(world, s.grant(s.kpu, "bawaslu-y", "bawaslu-kab", "33.16")[1], UnauthorizedError)
    refused(world, s.grant(kec, "ptps-z", "ptps", "33.16.01.2001/001")[1], OutOfScopeError)
    refused(world, s.grant(kab, "kab-z", "bawaslu-kab", "33.16")[1], UnauthorizedError)
    refused(world, s.grant(s.bawaslu, "prov-z", "bawaslu-prov", "33.16")[1], SchemaError)
    # Version 1 keeps its flat role, and has none of the new ones.
    v1 = Scenario(version=1)
    refused(world, v1.grant(s.bawaslu, "prov-v1", "bawaslu-prov", "33")[1], SchemaError)
    panwas_v1 = v1.grant(s.bawaslu, "panwas-v1", "panwas", KECAMATAN)[1]
    world.append(panwas_v1)
    # The new roles supervise: attest, and recommend at their own level.
    count = s.count(k["kpps2"], BUPATI, TPS2, FIRST)
    world.append(count, s.attest(ptps, BUPATI, TPS2, count.hash))
    world.append(s.recommend(kab, recap_stream(BUPATI, "33.16"), "recount", "sums disputed"))
    refused(world, s.recommend(kab, SHEET2, "recount", "too low for a regency"), UnauthorizedError)
    refused(world, s.recommend(kec, recap_stream(BUPATI, "33.16"), "other", "x"), OutOfScopeError)
    refused(world, s.recommend(k["ptps"], SHEET2, "recount", "not my TPS"), OutOfScopeError)
    refused(world, s.recommend(k["saksi1"], SHEET2, "recount", "saksi"), UnauthorizedError)
    refused(world, s.recommend(ptps, SHEET2, "annul", "no such remedy"), SchemaError, "remedy")
    assert verified(world).ok


def test_recommendations_without_follow_up_or_contradicted_are_findings(world: World) -> None:
    s, k = world.scenario, world.keys
    c1 = s.count(k["kpps"], BUPATI, TPS, FIRST)
    c2 = s.count(k["kpps2"], BUPATI, TPS2, FIRST)
    c3 = s.count(k["kpps_elsewhere"], BUPATI, TPS_ELSEWHERE, FIRST)
    ptps_elsewhere, grant = s.grant(s.bawaslu, "ptps-elsewhere", "ptps", TPS_ELSEWHERE)
    world.append(c1, c2, c3, grant)
    # TPS: the PTPS recommends a recount; nobody answers.
    unfollowed = s.recommend(k["ptps"], SHEET, "recount", "count out of the saksi's view", c1.hash)
    # TPS2: accepted re-vote, never ordered.
    accepted = s.recommend(k["panwas"], SHEET2, "revote", "voters without invitations")
    yes = s.followup(k["ppk"], SHEET2, accepted.hash, "accepted", "the PPK proposes it")
    # Elsewhere: a rejected recount that is ordered all the same.
    elsewhere = sheet_stream(BUPATI, TPS_ELSEWHERE)
    rejected = s.recommend(ptps_elsewhere, elsewhere, "recount", "damaged forms")
    no = s.followup(k["kab"], elsewhere, rejected.hash, "rejected", "forms are legible")
    ordered = s.order(
        k["kab"], elsewhere, "recount", "recounted anyway", recommendation=rejected.hash
    )
    recount = s.recount_count(k["kpps_elsewhere"], BUPATI, TPS_ELSEWHERE, FIRST, ordered.hash)
    world.append(unfollowed, accepted, yes, rejected, no, ordered, recount)
    # A follow-up names a recommendation of its own stream, and is the KPU side's.
    refused(world, s.followup(k["ppk"], SHEET, c1.hash, "accepted", "x"), UnknownEventError)
    refused(world, s.followup(k["ppk"], SHEET, accepted.hash, "accepted", "x"), UnknownEventError)
    refused(
        world, s.followup(k["ptps"], SHEET, unfollowed.hash, "rejected", "x"), UnauthorizedError
    )
    refused(world, s.followup(k["ppk"], SHEET, unfollowed.hash, "maybe", "x"), SchemaError)

    found = views.findings(store_of(world))
    by_stream = {
        f["stream"]: f
        for f in found
        if f["kind"] in ("unfollowed-recommendation", "contradicted-followup")
    }
    assert by_stream[SHEET]["kind"] == "unfollowed-recommendation"
    assert by_stream[SHEET]["events"] == [unfollowed.hash.hex()]
    assert by_stream[SHEET2]["kind"] == "contradicted-followup"
    assert by_stream[SHEET2]["events"] == [yes.hash.hex(), accepted.hash.hex()]
    assert by_stream[elsewhere]["kind"] == "contradicted-followup"
    assert ordered.hash.hex() in by_stream[elsewhere]["events"]
    assert len(by_stream) == 3
    # Once answered (and done), the findings go.
    world.append(s.followup(k["ppk"], SHEET, unfollowed.hash, "rejected", "recount not needed"))
    world.append(
        s.order(k["kab"], SHEET2, "revote", "as recommended", recommendation=accepted.hash)
    )
    found = views.findings(store_of(world))
    left = {f["stream"] for f in found if f["kind"].endswith(("recommendation", "followup"))}
    assert left == {elsewhere}
    assert verified(world).ok


def test_the_after_count_kinds_have_the_format_text_bound() -> None:
    body = order_body("recount", "b" * (MAX_TEXT + 1), "r", 0, 1)
    with pytest.raises(SchemaError, match=r"order\.basis"):
        check_aftercount_body("order", body)


# --- the simulator ----------------------------------------------------------------------


def test_the_simulator_plants_revotes_delayed_and_continued_votes(tmp_path: Path) -> None:
    after = AfterCount(revote=0.04, delayed=0.04, continued=0.02)
    simulation = Simulation("33.16.09", seed=3, after=after)
    result = build(simulation, tmp_path / "ledger", passphrase=b"test", now=1_733_000_000)
    assert result.report.ok, result.report.failures
    actions = {o.kind for o in simulation.orders}
    assert actions == {"revote", "delayed", "continued"}
    assert simulation.kinds["order"] == len(simulation.orders)
    assert simulation.kinds["recommend"] == simulation.kinds["followup"] > 0
    # Superseding counts and postponed TPS are no findings; the totals stay the real ones.
    assert result.findings == []
    expected = simulation.expected_totals()
    for contest_id, rows in result.totals.items():
        votes = {n: sum(r["votes"][n] for r in rows) for n in expected[contest_id].region}
        assert votes == expected[contest_id].region
    # Rates are per TPS, so a region gets its share: none at all gives none.
    none = Simulation("33.16.09", seed=3, after=AfterCount.none())
    assert not any(e.statement.kind == "order" for e in none.envelopes())
    with pytest.raises(ValueError):
        AfterCount(revote=0.7, delayed=0.5)


# --- 3. objections at the recap plenaries ----------------------------------------------------


def plenary(w: World) -> dict[str, Envelope]:
    """TPS and TPS2 counted, the PPK's recap of the kecamatan, a saksi at the plenary."""
    s, k = w.scenario, w.keys
    e: dict[str, Envelope] = {}
    e["count"] = s.count(k["kpps"], BUPATI, TPS, FIRST)
    e["count2"] = s.count(k["kpps2"], BUPATI, TPS2, REVOTED)
    # The saksi of pair 2 at the plenary (a kecamatan-scope saksi).
    k["saksi2-kec"], e["grant"] = s.grant(
        k["paslon2"], "saksi2-kec", "saksi", KECAMATAN, contest=BUPATI, pair=2
    )
    inputs = [(SHEET, e["count"].hash), (SHEET2, e["count2"].hash)]
    e["recap"] = s.recap(k["ppk"], BUPATI, KECAMATAN, inputs, {"1": 220, "2": 145}, 365, 10, 375)
    w.append(*e.values())
    return e


def test_objections_and_refusals_at_a_plenary_are_answered_only_by_a_decision_naming_them(
    world: World,
) -> None:
    s, k = world.scenario, world.keys
    e = plenary(world)
    kec = recap_stream(BUPATI, KECAMATAN)
    saksi = k["saksi2-kec"]
    refusal = s.attest_recap(saksi, BUPATI, KECAMATAN, e["recap"].hash, "refuse", "D.Hasil unread")
    objection = s.attest_recap(k["panwas"], BUPATI, KECAMATAN, e["recap"].hash, "object", "sums")
    agree = s.attest_recap(saksi, BUPATI, KECAMATAN, e["recap"].hash, "agree")
    world.append(refusal, objection, agree)
    # Who may attest a plenary, and what.
    recap_hash = e["recap"].hash
    for key, error in (
        (k["saksi1"], OutOfScopeError),  # a TPS saksi, not at the plenary
        (k["ptps"], UnauthorizedError),
        (k["kab"], UnauthorizedError),
    ):
        refused(world, s.attest_recap(key, BUPATI, KECAMATAN, recap_hash, "object", "x"), error)
    refused(
        world,
        s.attest_recap(k["panwas"], BUPATI, KECAMATAN, recap_hash, "refuse", "not a saksi"),
        UnauthorizedError,
        "refuse",
    )
    refused(world, s.attest_recap(saksi, BUPATI, KECAMATAN, e["count"].hash), UnknownEventError)
    refused(world, s.attest_recap(saksi, BUPATI, KECAMATAN, recap_hash, "refuse"), SchemaError)
    refused(
        world, s.attest(k["ptps"], BUPATI, TPS, e["count"].hash, "refuse", "x"), UnauthorizedError
    )
    v1 = Scenario(version=1)
    v1.chain.heads = dict(s.chain.heads)
    refused(world, v1.attest_recap(saksi, BUPATI, KECAMATAN, recap_hash), SchemaError, "version 1")

    found = [f for f in views.findings(store_of(world)) if f["stream"] == kec]
    assert sorted((f["kind"], f["events"][0]) for f in found) == sorted(
        [
            ("unanswered-objection", refusal.hash.hex()),
            ("unanswered-objection", objection.hash.hex()),
        ]
    )
    # A decision must name an objection that exists, here or in a sheet the recap sums.
    inputs = [(SHEET, e["count"].hash), (SHEET2, e["count2"].hash)]
    totals: tuple[Any, ...] = ({"1": 220, "2": 145}, 365, 10, 375)
    made_up = [{"objection": bytes(32), "ruling": "dismissed", "reason": "x"}]
    refused(
        world,
        s.recap(k["ppk"], BUPATI, KECAMATAN, inputs, *totals, decisions=made_up),
        UnknownEventError,
        "recap.decisions[0]",
    )
    agreed = [{"objection": agree.hash, "ruling": "dismissed", "reason": "an agreement"}]
    refused(
        world,
        s.recap(k["ppk"], BUPATI, KECAMATAN, inputs, *totals, decisions=agreed),
        UnknownEventError,
    )
    # The PPK answers the refusal in a further recap; the objection stands.
    answer = [{"objection": refusal.hash, "ruling": "dismissed", "reason": "read out in full"}]
    world.append(s.recap(k["ppk"], BUPATI, KECAMATAN, inputs, *totals, decisions=answer))
    store = store_of(world)
    found = [f for f in views.findings(store) if f["stream"] == kec]
    assert [(f["kind"], f["events"][0]) for f in found] == [
        ("unanswered-objection", objection.hash.hex())
    ]
    report = verified(world)
    assert report.ok, report.failures
    # The verifier refuses a decision naming nothing, should a ledger have taken it.
    bad = s.recap(k["ppk"], BUPATI, KECAMATAN, inputs, *totals, decisions=made_up)
    (failure,) = verified(world, bad).failures["UnknownEventError"]
    assert failure.event_hash == bad.hash.hex()
    forget(s, bad)
    # The contest dossier shows the plenary's attestations.
    policy = unwitnessed_policy(world.ledger.trust)
    checked = verify_dossier(build_dossier(world.ledger, BUPATI, policy=policy.tlog), policy)
    assert checked.ok, checked.failures
    (recap,) = [r for r in checked.recaps if r["stream"] == kec]
    assert [a["verdict"] for a in recap["attestations"]] == ["refuse", "object", "agree"]


def test_a_sheet_objection_is_answered_only_by_a_correction_that_names_it(world: World) -> None:
    s, k = world.scenario, world.keys
    count = s.count(k["kpps"], BUPATI, TPS, FIRST)
    first = s.attest(k["saksi2"], BUPATI, TPS, count.hash, "object", "58 votes for pair 2")
    second = s.attest(k["saksi1"], BUPATI, TPS, count.hash, "refuse", "signed under pressure")
    world.append(count, first, second)
    fixed = tally((120, 58))
    # Answers name objections of this stream only, each once.
    refused(
        world,
        s.correct(k["ppk"], BUPATI, TPS, count.hash, "x", fixed, [count.hash]),
        UnknownEventError,
    )
    refused(
        world,
        s.correct(k["ppk"], BUPATI, TPS, count.hash, "x", fixed, [first.hash] * 2),
        SchemaError,
    )
    refused(world, s.correct(k["ppk"], BUPATI, TPS, count.hash, "x", fixed, []), SchemaError)
    fix = s.correct(k["ppk"], BUPATI, TPS, count.hash, "recounted", fixed, [first.hash])
    world.append(fix, s.attest(k["saksi2"], BUPATI, TPS, fix.hash))
    found = [f for f in views.findings(store_of(world)) if f["kind"] == "unanswered-objection"]
    assert [f["events"][0] for f in found] == [second.hash.hex()]  # the refusal stands
    (status,) = [r for r in views.sheet_status(store_of(world), BUPATI) if r["stream"] == SHEET]
    assert (status["objections"], status["open_objections"]) == (2, 1)
    assert verified(world).ok


# --- 4. the D.Hasil's administrative block ---------------------------------------------


def admin_of(*tallies: dict[str, Any]) -> dict[str, int]:
    return {n: sum(({"tps": 1, **t})[n] for t in tallies) for n in ADMIN_FIELDS}


def test_a_recaps_administrative_block_is_checked_against_its_rules_and_the_level_below(
    world: World,
) -> None:
    s, k = world.scenario, world.keys
    e = plenary(world)
    inputs = [(SHEET, e["count"].hash), (SHEET2, e["count2"].hash)]
    totals: tuple[Any, ...] = ({"1": 220, "2": 145}, 365, 10, 375)
    admin = admin_of(FIRST, REVOTED)

    def recap(block: Any) -> Envelope:
        envelope = s.recap(k["ppk"], BUPATI, KECAMATAN, inputs, *totals)
        forget(s, envelope)
        body = {**envelope.statement.body, "admin": block}
        return s.sign(k["ppk"], envelope.statement.stream, "recap", body)

    # Structure is refused: a field missing or unknown (the registered DPTb is not on the
    # form), a negative figure; and version 1 has no such block.
    for bad, text in (
        ({n: v for n, v in admin.items() if n != "dpt_m"}, "lacks"),
        ({**admin, "dptb_m": 0}, "unknown"),
        ({**admin, "ballots_used": -1}, "non-negative"),
        ([admin], "map"),
    ):
        refused(world, recap(bad), SchemaError, text)
    v1 = Scenario(version=1)
    v1.chain.heads = dict(s.chain.heads)
    plain = v1.recap(k["ppk"], BUPATI, KECAMATAN, inputs, *totals)
    forget(v1, plain)
    with_admin = v1.sign(
        k["ppk"], plain.statement.stream, "recap", {**plain.statement.body, "admin": admin}
    )
    refused(world, with_admin, SchemaError, "unknown field")

    kec = recap_stream(BUPATI, KECAMATAN)
    good = recap(admin)
    world.append(good)
    assert not [
        f for f in views.findings(store_of(world)) if f["stream"] == kec and "admin" in f["kind"]
    ]
    # Breaking its arithmetic, its ballot supply, and the sum of the sheets below.
    wrong = {
        **admin,
        "ballots_received": admin["ballots_received"] + 40,
        "ballots_unused": admin["ballots_unused"] + 40,
    }
    wrong["voted_dpt_m"] += 1
    wrong["voted_dpt_f"] -= 1
    world.append(recap(wrong))
    store = store_of(world)
    found = [f for f in views.findings(store) if f["stream"] == kec]
    flags = [f["message"] for f in found if f["kind"] == "recap-admin"]
    assert len(flags) == 1 and flags[0].startswith("ballots received 656 > DPT 600 + 2.5%")
    (mismatch,) = [f for f in found if f["kind"] == "recap-admin-mismatch"]
    assert mismatch["difference"] == {
        "voted_dpt_m": 1,
        "voted_dpt_f": -1,
        "ballots_received": 40,
        "ballots_unused": 40,
    }
    assert verified(world).ok
    policy = unwitnessed_policy(world.ledger.trust)
    checked = verify_dossier(build_dossier(world.ledger, BUPATI, policy=policy.tlog), policy)
    (row,) = [r for r in checked.recaps if r["stream"] == kec]
    assert row["admin"] == wrong


def test_phases_keep_the_streams_after_the_count_whole_and_in_order(tmp_path: Path) -> None:
    simulation = Simulation("33.16.09", seed=3, after=AfterCount(0.05, 0.05, 0.02, 0.3))
    envelopes = list(simulation.envelopes())
    sent = [e for _, waves in phases(envelopes) for wave in waves for e in wave]
    assert sorted(e.hash for e in sent) == sorted(e.hash for e in envelopes)
    seen: dict[str, int] = {}
    for e in sent:
        assert e.statement.seq == seen.get(e.statement.stream, 0) + 1
        seen[e.statement.stream] = e.statement.seq
    # Sent phase by phase, wave by wave, the ledger accepts them all.
    ledger = Ledger.create(f"sqlite:{tmp_path / 'l.db'}", simulation.trust())
    try:
        for _, waves in phases(envelopes):
            for wave in waves:
                ledger.append_batch([e.raw for e in wave])
        assert ledger.sequence() == len(envelopes)
    finally:
        ledger.close()
