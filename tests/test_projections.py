"""The projections: totals, sheet status, recap checks, trails and findings.

One contract, run on every backend: the history of tests.projection_cases is
appended to a ledger while the live projection catches up after every append;
its views are checked against hand-computed values, and the live projection
against a single catch-up, a rebuild, a recovery after a crash, a rebuild after
its tables are dropped, and replays to every past position (time travel).
The fold on an imported history (which the ledger would refuse) and the CLI's
view commands are checked once, outside the contract.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.cli import main
from ledger.errors import UnknownEventError
from ledger.format import ed25519
from ledger.format.regions import sheet_stream
from ledger.format.statement import ZERO_HASH
from ledger.log.proofs import open_checkpoint
from ledger.log.tlog import TransparencyLog
from ledger.pilkada.scenario import Scenario
from ledger.store.application import Ledger
from ledger.store.home import LedgerHome
from projections import views
from projections.aftercount import AFTERCOUNT_FINDINGS
from projections.fold import Projector
from projections.outcomes import FINDING_KINDS as OUTCOME_FINDINGS
from projections.recorder import Projections, replay
from projections.sql import NAME
from projections.store import MemoryStore
from tests.projection_cases import (
    KABKOTA_CODE,
    TPS3,
    TPS4,
    TPS5,
    TPS_SEMARANG,
    History,
    build_history,
    dump,
    hex_id,
    imported_history,
    outputs,
    table_rows,
)
from tests.world import (
    BUPATI,
    GUBERNUR,
    KECAMATAN,
    TPS,
    TPS2,
    TPS_ELSEWHERE,
    World,
    build_world,
    tally,
)

DESA, KEC, KAB, PROV = views.REGION_LEVELS


def row(
    region: str,
    votes: tuple[int, int],
    valid: int,
    invalid: int,
    voted: int,
    reported: int,
    expected: int,
) -> dict[str, Any]:
    return {
        "region": region,
        "votes": {"1": votes[0], "2": votes[1]},
        "valid": valid,
        "invalid": invalid,
        "voted": voted,
        "sheets_reported": reported,
        "sheets_expected": expected,
    }


# Effective bupati tallies (votes, valid, invalid, voted), summed by hand:
#   TPS   correction (120, 58)  178  7  185     TPS3 count (50, 70)  120  2  122
#   TPS2  correction (100, 94)  194  4  198     TPS4 count (10, 20)   30  0   30
#   TPS_ELSEWHERE count (30, 40), valid stated 75, 1 invalid, 71 voted; TPS5 never counts.
# Gubernur: TPS (150, 100) 250 3 253; Semarang (80, 120) 200 6 206.
EXPECTED_TOTALS = {
    BUPATI: {
        DESA: [
            row("33.16.01.2001", (30, 40), 75, 1, 71, 1, 2),
            row("33.16.09.2001", (220, 152), 372, 11, 383, 2, 2),
            row("33.16.09.2002", (60, 90), 150, 2, 152, 2, 2),
        ],
        KEC: [
            row("33.16.01", (30, 40), 75, 1, 71, 1, 2),
            row("33.16.09", (280, 242), 522, 13, 535, 4, 4),
        ],
        KAB: [row("33.16", (310, 282), 597, 14, 606, 5, 6)],
        PROV: [row("33", (310, 282), 597, 14, 606, 5, 6)],
    },
    GUBERNUR: {
        DESA: [
            row("33.16.01.2001", (0, 0), 0, 0, 0, 0, 2),
            row("33.16.09.2001", (150, 100), 250, 3, 253, 1, 2),
            row("33.16.09.2002", (0, 0), 0, 0, 0, 0, 2),
            row("33.74.01.1001", (80, 120), 200, 6, 206, 1, 1),
        ],
        KEC: [
            row("33.16.01", (0, 0), 0, 0, 0, 0, 2),
            row("33.16.09", (150, 100), 250, 3, 253, 1, 4),
            row("33.74.01", (80, 120), 200, 6, 206, 1, 1),
        ],
        KAB: [
            row("33.16", (150, 100), 250, 3, 253, 1, 6),
            row("33.74", (80, 120), 200, 6, 206, 1, 1),
        ],
        PROV: [row("33", (230, 220), 450, 9, 459, 2, 7)],
    },
}


def sorted_dump(value: Any) -> str:
    return dump(value, sort_keys=True)


def resorted(live_dump: str) -> str:
    return sorted_dump(json.loads(live_dump))


def copy_log(source: Ledger, target: Ledger, stop: int | None = None, start: int = 0) -> None:
    for _, raw in source.log_entries(start, stop):
        target.append(raw)


class ProjectionContract:
    """What the projections must show, on every backend. Subclasses name it."""

    @pytest.fixture
    def url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def other_url(self) -> str:
        """A second, empty database on the same backend."""
        raise NotImplementedError

    @pytest.fixture
    def world(self, url: str) -> Iterator[World]:
        w = build_world(url)
        yield w
        w.ledger.close()

    @pytest.fixture
    def history(self, world: World) -> History:
        return build_history(world)

    @pytest.fixture
    def quiet_history(self, world: World) -> History:
        """The same history, without a live projection."""
        return build_history(world, live=False)

    # --- totals, sheets, recaps --------------------------------------------------------

    def test_totals_are_hand_computed_sums_of_effective_tallies(self, history: History) -> None:
        store = history.live_store
        for contest in (BUPATI, GUBERNUR):
            for level in views.REGION_LEVELS:
                assert views.totals(store, contest, level) == EXPECTED_TOTALS[contest][level], (
                    contest,
                    level,
                )

    def test_totals_within_a_region(self, history: History) -> None:
        store = history.live_store
        assert views.totals(store, BUPATI, DESA, KECAMATAN) == EXPECTED_TOTALS[BUPATI][DESA][1:]
        assert views.totals(store, GUBERNUR, KAB, "33.74") == EXPECTED_TOTALS[GUBERNUR][KAB][1:]
        # A region wider than the contest's is the contest's area.
        assert views.totals(store, BUPATI, KEC, "33") == EXPECTED_TOTALS[BUPATI][KEC]
        with pytest.raises(UnknownEventError, match="level must be one of"):
            views.totals(store, BUPATI, "tps")
        with pytest.raises(UnknownEventError, match=r"walikota-33\.74 is not defined"):
            views.totals(store, "walikota-33.74")

    def test_totals_within_a_region_outside_the_contest_are_empty(self, history: History) -> None:
        store = history.live_store
        assert views.totals(store, BUPATI, KEC, "33.74") == []

    def test_a_correction_replaces_the_count_in_totals(self, history: History) -> None:
        before = json.loads(history.live[history.leaf["A-fix"]])
        after = json.loads(history.live[history.leaf["A-fix"] + 1])
        desa = "33.16.09.2001"
        [was] = [r for r in before["contests"][BUPATI]["totals"][DESA] if r["region"] == desa]
        [now] = [r for r in after["contests"][BUPATI]["totals"][DESA] if r["region"] == desa]
        assert was == row(desa, (120, 60), 180, 5, 185, 1, 2)
        assert now == row(desa, (120, 58), 178, 7, 185, 1, 2)

    def test_sheet_status(self, history: History) -> None:
        h = history
        status = views.sheet_status(h.live_store, BUPATI)

        def sheet(tps: str, effective: str, **fields: Any) -> dict[str, Any]:
            return {
                "stream": sheet_stream(BUPATI, tps),
                "tps": tps,
                "counted": True,
                "effective": h.hash(effective),
                "pairs_attested": [],
                "ptps_attested": False,
                "objections": 0,
                "open_objections": 0,
                "corrected": False,
                "flags": [],
                **fields,
            }

        assert status == [
            sheet(
                TPS_ELSEWHERE,
                "D",
                flags=["sum of votes 70 != valid 75", "valid + invalid 76 != ballots used 71"],
            ),
            # The PTPS agreed with the count, not with the correction that
            # replaced it: agreement counts for the effective tally only.
            sheet(TPS, "A-fix", pairs_attested=[1, 2], objections=1, corrected=True),
            sheet(TPS2, "B-fix", corrected=True),
            sheet(TPS3, "C", objections=1),
            sheet(
                TPS4,
                "E",
                objections=1,
                open_objections=1,
                flags=["disabled voted 4 > registered 3"],
            ),
        ]
        assert views.sheet_status(h.live_store, BUPATI, TPS3) == [status[3]]
        gubernur = views.sheet_status(h.live_store, GUBERNUR)
        assert [(s["tps"], s["effective"]) for s in gubernur] == [
            (TPS, h.hash("G1")),
            (TPS_SEMARANG, h.hash("G2")),
        ]

    def test_recap_checks_show_stated_computed_and_difference(self, history: History) -> None:
        h = history
        checks = views.recap_checks(h.live_store, BUPATI)
        kec_totals = {"votes": {"1": 270, "2": 223}, "valid": 493, "invalid": 13, "voted": 506}
        assert checks == [
            {
                "stream": f"recap:{BUPATI}:{KABKOTA_CODE}",
                "region": KABKOTA_CODE,
                "hash": h.hash("R-kab"),
                "leaf": h.leaf["R-kab"],
                "totals": {
                    "votes": {"1": 280, "2": 223},
                    "valid": 503,
                    "invalid": 13,
                    "voted": 516,
                },
                "computed": kec_totals,
                "difference": {"votes[1]": 10, "valid": 10, "voted": 10},
                "omitted": [],
                "stale": [],
                "unknown": [],
            },
            {
                "stream": f"recap:{BUPATI}:{KECAMATAN}",
                "region": KECAMATAN,
                "hash": h.hash("R-kec"),
                "leaf": h.leaf["R-kec"],
                "totals": kec_totals,
                # TPS at its head (the correction), TPS2 at its second count, TPS3.
                "computed": kec_totals,
                "difference": {},
                "omitted": [sheet_stream(BUPATI, TPS4)],
                "stale": [
                    {
                        "stream": sheet_stream(BUPATI, TPS2),
                        "named": h.hash("B2"),
                        "current": h.hash("B-fix"),
                    }
                ],
                "unknown": [],
            },
        ]
        assert views.recap_checks(h.live_store, BUPATI, KECAMATAN) == checks[1:]
        assert views.recap_checks(h.live_store, GUBERNUR) == []

    # --- trails ------------------------------------------------------------------------

    def test_trail_of_a_sheet_is_every_event_in_order(self, history: History) -> None:
        h, k = history, history.k
        store = h.live_store
        stream = sheet_stream(BUPATI, TPS)
        rows = views.trail(store, stream=stream)
        labels = ["A", "A-saksi1", "A-object", "A-ptps", "A-fix", "A-fix-saksi1", "A-fix-saksi2"]
        who = [
            ("kpps", "kpps", "count"),
            ("saksi1", "saksi", "attest"),
            ("saksi2", "saksi", "attest"),
            ("ptps", "ptps", "attest"),
            ("ppk", "ppk", "correct"),
            ("saksi1", "saksi", "attest"),
            ("saksi2", "saksi", "attest"),
        ]
        prev = ZERO_HASH.hex()
        assert len(rows) == len(labels)
        for seq, (r, label, (key, role, kind)) in enumerate(zip(rows, labels, who, strict=True), 1):
            assert (r["stream"], r["seq"], r["kind"], r["role"]) == (stream, seq, kind, role)
            assert (r["hash"], r["prev"], r["leaf"]) == (h.hash(label), prev, h.leaf[label])
            assert (r["signer"], r["time"]) == (hex_id(k[key]), h.s.time)
            assert (r["contest"], r["place"]) == (BUPATI, TPS)
            leaf = h.world.ledger.log_store.leaf_by_index(r["leaf"])
            assert leaf is not None and leaf.event_hash.hex() == r["hash"]
            prev = r["hash"]
        assert rows[0]["detail"] == {
            "votes": {"1": 120, "2": 60},
            "valid": 180,
            "invalid": 5,
            "voted": 185,
        }
        assert rows[2]["detail"] == {
            "verdict": "object",
            "event": h.hash("A"),
            "reason": "C.Hasil photo shows 58 for pair 2",
            "pair": 2,
        }
        assert rows[4]["detail"] == {
            "corrects": h.hash("A"),
            "reason": "recount at PPK",
            "changes": [
                {"field": "valid", "old": 180, "new": 178},
                {"field": "invalid", "old": 5, "new": 7},
                {"field": "votes[2]", "old": 60, "new": 58},
            ],
        }

    def test_a_corrections_detail_lists_every_changed_field(self, history: History) -> None:
        h = history
        rows = views.trail(h.live_store, stream=sheet_stream(BUPATI, TPS2))
        assert [r["kind"] for r in rows] == ["count", "count", "correct"]
        assert rows[2]["detail"] == {
            "corrects": h.hash("B2"),
            "reason": "C.Hasil plano recount",
            "changes": [
                {"field": "voted_dpt_f", "old": 100, "new": 99},
                {"field": "ballots_unused", "old": 109, "new": 110},
                {"field": "ballots_used", "old": 199, "new": 198},
                {"field": "valid", "old": 195, "new": 194},
                {"field": "votes[2]", "old": 95, "new": 94},
            ],
        }

    def test_trail_of_a_region(self, history: History) -> None:
        h = history
        store = h.live_store
        rows = views.trail(store, within=KECAMATAN)
        assert Counter(r["kind"] for r in rows) == {
            "grant": 9,  # ppk, panwas, kpps x4, ptps, saksi x2
            "count": 6,  # A, G1 (gubernur), B, B2, C, E
            "attest": 7,
            "correct": 2,
            "recap": 1,
        }
        leaves = [r["leaf"] for r in rows]
        assert leaves == sorted(set(leaves))
        assert all(r["place"] == KECAMATAN or r["place"].startswith(KECAMATAN + ".") for r in rows)
        assert rows[-1]["hash"] == h.hash("R-kec")
        elsewhere = views.trail(store, within="33.16.01")
        assert [(r["kind"], r["place"]) for r in elsewhere] == [
            ("grant", TPS_ELSEWHERE),
            ("grant", TPS5),
            ("revoke", TPS5),
            ("count", TPS_ELSEWHERE),
        ]
        assert elsewhere[2]["detail"] == {"subject": hex_id(h.k["kpps5"]), "reason": "device lost"}
        with pytest.raises(UnknownEventError, match=r"no events for 33\.75"):
            views.trail(store, within="33.75")

    def test_trail_of_a_signer(self, history: History) -> None:
        h, k = history, history.k
        store = h.live_store

        def hashes(key: str) -> list[str]:
            return [r["hash"] for r in views.trail(store, signer=hex_id(k[key]))]

        assert hashes("kpps2") == [h.hash("B"), h.hash("B2")]
        assert hashes("ppk") == [h.hash("A-fix"), h.hash("B-fix"), h.hash("R-kec")]
        assert hashes("panwas") == [h.hash("C-object"), h.hash("E-object")]
        kab = views.trail(store, signer=hex_id(k["kab"]))
        assert [r["kind"] for r in kab] == ["grant"] * 7 + ["revoke", "recap"]
        assert {r["role"] for r in kab} == {"kpu-kab"}
        assert [r["hash"] for r in kab[4:]] == [
            h.hash(label)
            for label in ("grant-kpps3", "grant-kpps4", "grant-kpps5", "revoke-kpps5", "R-kab")
        ]
        with pytest.raises(UnknownEventError, match="no events for"):
            views.trail(store, signer=hex_id(h.s.key("stranger")))

    # --- findings ----------------------------------------------------------------------

    def test_findings_name_the_right_streams_and_events(self, history: History) -> None:
        h, k = history, history.k
        found = views.findings(h.live_store)
        grants = {
            tps: h.world.ledger.stream(f"key:{hex_id(k[key])}")[0].hash.hex()
            for key, tps in (
                ("kpps2", TPS2),
                ("kpps_elsewhere", TPS_ELSEWHERE),
                ("kpps3", TPS3),
                ("kpps4", TPS4),
                ("kpps5", TPS5),
            )
        }
        kec_recap, kab_recap = f"recap:{BUPATI}:{KECAMATAN}", f"recap:{BUPATI}:{KABKOTA_CODE}"
        expected = [
            ("arithmetic", sheet_stream(BUPATI, TPS_ELSEWHERE), [h.hash("D")]),
            ("arithmetic", sheet_stream(BUPATI, TPS_ELSEWHERE), [h.hash("D")]),
            ("over-registered", sheet_stream(BUPATI, TPS4), [h.hash("E")]),
            ("unattested-correction", sheet_stream(BUPATI, TPS2), [h.hash("B-fix")]),
            # Only TPS4's objection: TPS's was answered by a correction, TPS3's by a decision.
            (
                "unanswered-objection",
                sheet_stream(BUPATI, TPS4),
                [h.hash("E-object"), h.hash("E")],
            ),
            ("recap-mismatch", kab_recap, [h.hash("R-kab")]),
            ("recap-omission", kec_recap, [h.hash("R-kec")]),
            ("stale-head", kec_recap, [h.hash("R-kec"), h.hash("B2")]),
            ("equivocation", sheet_stream(BUPATI, TPS2), [h.hash("B"), h.hash("B2")]),
            ("missing-sheet", sheet_stream(BUPATI, TPS5), [grants[TPS5]]),
            *[
                ("missing-sheet", sheet_stream(GUBERNUR, tps), [grants[tps]])
                for tps in (TPS_ELSEWHERE, TPS5, TPS2, TPS3, TPS4)
            ],
        ]
        assert [(f["kind"], f["stream"], f["events"]) for f in found] == expected
        by_kind = {f["kind"]: f for f in found}
        assert [f["message"] for f in found if f["kind"] == "arithmetic"] == [
            "sum of votes 70 != valid 75",
            "valid + invalid 76 != ballots used 71",
        ]
        assert by_kind["equivocation"]["signer"] == hex_id(k["kpps2"])
        assert by_kind["recap-mismatch"]["difference"] == {"votes[1]": 10, "valid": 10, "voted": 10}
        assert by_kind["recap-omission"]["input"] == sheet_stream(BUPATI, TPS4)
        assert by_kind["stale-head"]["input"] == sheet_stream(BUPATI, TPS2)
        assert "ballot box seal broken" in by_kind["unanswered-objection"]["message"]
        # Every kind the ledger lets through is here; the other two need an imported history.
        # (The after-count findings have their own cases: tests/test_aftercount.py; this
        # world has no determination or schedule: tests/test_outcomes.py has them.)
        after = set(AFTERCOUNT_FINDINGS)
        assert set(views.FINDING_KINDS) - set(by_kind) - after == {
            "unknown-input",
            "out-of-scope",
            *OUTCOME_FINDINGS,
        }
        # Within a region: only what lies there.
        within = views.findings(h.live_store, within="33.16.01")
        assert [(f["kind"], f["stream"]) for f in within] == [
            ("arithmetic", sheet_stream(BUPATI, TPS_ELSEWHERE)),
            ("arithmetic", sheet_stream(BUPATI, TPS_ELSEWHERE)),
            ("missing-sheet", sheet_stream(BUPATI, TPS5)),
            ("missing-sheet", sheet_stream(GUBERNUR, TPS_ELSEWHERE)),
            ("missing-sheet", sheet_stream(GUBERNUR, TPS5)),
        ]

    def test_a_clean_history_has_no_findings_but_missing_sheets(self, world: World) -> None:
        s, k = world.scenario, world.keys
        heads = {}
        for key, tps, votes in (
            ("kpps", TPS, (120, 60)),
            ("kpps2", TPS2, (90, 80)),
            ("kpps_elsewhere", TPS_ELSEWHERE, (40, 30)),
        ):
            heads[tps] = world.append(s.count(k[key], BUPATI, tps, tally(votes, invalid=5)))
        count = world.ledger.stream(sheet_stream(BUPATI, TPS))[0]
        for key in ("saksi1", "saksi2", "ptps"):
            world.append(s.attest(k[key], BUPATI, TPS, count.hash))
        inputs = [(sheet_stream(BUPATI, t), s.head(sheet_stream(BUPATI, t))) for t in (TPS, TPS2)]
        totals = ({"1": 210, "2": 140}, 350, 10, 360)
        recap = s.recap(k["ppk"], BUPATI, KECAMATAN, inputs, *totals)
        world.append(recap)
        world.append(
            s.recap(k["kab"], BUPATI, KABKOTA_CODE, [(recap.statement.stream, recap.hash)], *totals)
        )
        projections = Projections.create(world.ledger)
        projections.catch_up()
        store = projections.store()
        found = views.findings(store)
        assert [(f["kind"], f["stream"]) for f in found] == [
            ("missing-sheet", sheet_stream(GUBERNUR, tps)) for tps in (TPS_ELSEWHERE, TPS, TPS2)
        ]
        assert all(c["difference"] == {} for c in views.recap_checks(store, BUPATI))
        assert [s["open_objections"] for s in views.sheet_status(store, BUPATI)] == [0, 0, 0]
        assert sorted_dump(outputs(store, [])) == sorted_dump(outputs(replay(world.ledger), []))

    # --- one state, however it is reached ------------------------------------------------

    def test_live_single_catch_up_rebuild_and_replay_agree(
        self, history: History, other_url: str
    ) -> None:
        h = history
        ledger = h.world.ledger
        live = h.live[ledger.log_store.log_size()]
        assert live == dump(outputs(h.live_store, h.signers))
        # One catch-up at the end, on a copy of the log that was never projected.
        other = Ledger.create(other_url, h.s.trust())
        try:
            copy_log(ledger, other)
            assert Projections.create(other).catch_up() == ledger.log_store.log_size()
            assert dump(outputs(Projections.create(other).store(), h.signers)) == live
        finally:
            other.close()
        # Pages of any size, and a rebuild.
        projections = Projections.create(ledger)
        for page in (1, 3, 7):
            projections.recorder.reset()
            projections.catch_up(page=page)
            assert dump(outputs(projections.store(), h.signers)) == live, page
        projections.rebuild()
        assert dump(outputs(projections.store(), h.signers)) == live
        # Replay in memory: the same values.
        assert sorted_dump(outputs(replay(ledger), h.signers)) == resorted(live)

    def test_replay_output_is_byte_identical_to_live(self, history: History) -> None:
        h = history
        live = h.live[h.world.ledger.log_store.log_size()]
        assert dump(outputs(replay(h.world.ledger), h.signers)) == live

    @pytest.mark.parametrize("where", ["commit", "inside the transaction"])
    def test_a_crash_mid_catch_up_loses_one_page_and_nothing_more(
        self, quiet_history: History, where: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        h = quiet_history
        ledger = h.world.ledger
        size = ledger.log_store.log_size()
        crashing = Projections.create(ledger)
        recorder = crashing.recorder
        calls = []
        name = "commit" if where == "commit" else "_insert_tracking"
        original = getattr(recorder, name)

        def crash_on_second_page(*args: Any, **kwargs: Any) -> Any:
            calls.append(1)
            if len(calls) > 1:
                raise RuntimeError("power cut")
            return original(*args, **kwargs)

        monkeypatch.setattr(recorder, name, crash_on_second_page)
        with pytest.raises(RuntimeError, match="power cut"):
            crashing.catch_up(page=3)
        assert len(calls) == 2
        assert Projections.create(ledger).store().position == 3
        assert [r["leaf"] for r in views.trail(Projections.create(ledger).store())] == [0, 1, 2]

        resumed = Projections.create(ledger)
        assert resumed.catch_up(page=3) == size
        recovered = dump(outputs(resumed.store(), h.signers))
        assert [r["leaf"] for r in views.trail(resumed.store())] == list(range(size))
        resumed.rebuild()
        assert dump(outputs(resumed.store(), h.signers)) == recovered
        assert sorted_dump(outputs(replay(ledger), h.signers)) == resorted(recovered)

    def test_dropping_the_tables_rebuilds_the_same_state(self, history: History) -> None:
        h = history
        ledger = h.world.ledger
        live = h.live[ledger.log_store.log_size()]
        recorder = h.recorder
        with recorder.datastore.transaction(commit=True) as c:
            c.execute(recorder._sql("DROP TABLE {s}proj_state"))
            c.execute(recorder._sql("DROP TABLE {s}proj_events"))
            c.execute(
                recorder._sql(
                    f"DELETE FROM {{s}}{recorder.tracking_table} WHERE application_name=?"
                ),
                (NAME,),
            )
        assert recorder.max_tracking_id(NAME) is None
        # Opening makes no table: migrate (at the current version) makes them again.
        Ledger.migrate(ledger.config.url)
        fresh = Projections.create(ledger)
        assert fresh.catch_up() == ledger.log_store.log_size()
        assert dump(outputs(fresh.store(), h.signers)) == live

    # --- time travel -------------------------------------------------------------------

    def test_replay_to_any_position_is_the_live_state_then(self, history: History) -> None:
        h = history
        ledger = h.world.ledger
        recorder = h.recorder
        before = table_rows(recorder)
        assert len(before["proj_events"]) == ledger.log_store.log_size()
        assert len(before["tracking"]) == 1 and before["proj_state"]
        size = ledger.log_store.log_size()
        assert sorted(h.live) == list(range(h.leaf["grant-kpps3"], size + 1))
        for n in [0, 1, 3, h.checkpoint_size, h.leaf["A-fix"], *sorted(h.live)]:
            replayed = replay(ledger, n)
            assert replayed.position == n
            if n in h.live:
                assert sorted_dump(outputs(replayed, h.signers)) == resorted(h.live[n]), n
        # A checkpoint's size: the state it committed to.
        note = TransparencyLog(ledger).checkpoint_at(h.checkpoint_size)
        size_then = open_checkpoint(note, h.s.log_signer.verifier).size
        then = json.loads(h.live[size_then])
        assert [r["hash"] for r in then["trails"]["streams"][sheet_stream(BUPATI, TPS)]] == [
            h.hash(label) for label in ("A", "A-saksi1", "A-object", "A-ptps")
        ]
        assert sorted_dump(outputs(replay(ledger, size_then), h.signers)) == resorted(
            h.live[size_then]
        )
        assert replay(ledger, size + 5).position == size
        assert table_rows(recorder) == before
        assert Projections.create(ledger).store().position == size

    def test_events_within_the_empty_region_agree(self, world: World) -> None:
        projections = Projections.create(world.ledger)
        projections.catch_up()
        live = projections.store().events(within="")
        assert [r["leaf"] for r in live] == [
            r["leaf"] for r in replay(world.ledger).events(within="")
        ]

    def test_an_empty_replay_has_no_contests(self, world: World) -> None:
        store = replay(world.ledger, 0)
        assert store.position == 0
        assert views.contests(store) == []
        assert views.findings(store) == []
        with pytest.raises(UnknownEventError, match="as of leaf 0"):
            views.totals(store, BUPATI)


class TestProjectionsOnSQLite(ProjectionContract):
    @pytest.fixture
    def url(self, sqlite_url: str) -> str:
        return sqlite_url

    @pytest.fixture
    def other_url(self, tmp_path: Path) -> str:
        return f"sqlite:{tmp_path / 'other.db'}"


@pytest.mark.postgres
class TestProjectionsOnPostgres(ProjectionContract):
    @pytest.fixture
    def url(self, postgres_url: str) -> str:
        return postgres_url

    @pytest.fixture
    def other_url(self, other_postgres_url: str) -> str:
        return other_postgres_url


# --- an imported history: what the ledger would refuse ----------------------------------


def fold(envelopes: list[Any], trust: Any) -> MemoryStore:
    store = MemoryStore()
    projector = Projector(trust, store)
    for leaf, envelope in enumerate(envelopes):
        projector.apply(leaf, envelope.raw)
    return store


def test_an_imported_history_shows_out_of_scope_statements_and_unknown_inputs() -> None:
    s = Scenario()
    envelopes = imported_history(s)
    by_label = {e.statement.kind + ":" + e.statement.stream: e for e in envelopes}
    store = fold(envelopes, s.trust())
    found = views.findings(store)
    own = by_label[f"count:{sheet_stream(BUPATI, TPS)}"]
    other = by_label[f"count:{sheet_stream(BUPATI, TPS2)}"]
    stranger = by_label[f"count:{sheet_stream(BUPATI, TPS_ELSEWHERE)}"]
    recap = by_label[f"recap:recap:{BUPATI}:{KECAMATAN}"]
    assert [(f["kind"], f["stream"], f["events"]) for f in found] == [
        ("unknown-input", recap.statement.stream, [recap.hash.hex()]),
        ("out-of-scope", sheet_stream(BUPATI, TPS_ELSEWHERE), [stranger.hash.hex()]),
        ("out-of-scope", sheet_stream(BUPATI, TPS2), [other.hash.hex()]),
    ]
    unknown, never_granted, not_its_tps = found
    assert unknown["input"] == sheet_stream(BUPATI, TPS)
    assert never_granted["signer"] == hex_id(s.key("stranger"))
    assert "was never granted" in never_granted["message"]
    assert not_its_tps["signer"] == hex_id(s.key("kpps"))
    assert "may not count TPS 33.16.09.2001/002" in not_its_tps["message"]
    [check] = views.recap_checks(store, BUPATI)
    assert check["unknown"] == [{"stream": sheet_stream(BUPATI, TPS), "head": "00" * 32}]
    assert check["computed"]["valid"] == 3 and check["difference"] == {}
    # The fold keeps the evidence: the out-of-scope count is in its sheet's trail.
    [row_] = views.trail(store, stream=sheet_stream(BUPATI, TPS2))
    assert (row_["hash"], row_["role"]) == (other.hash.hex(), "kpps")
    [row_] = views.trail(store, stream=sheet_stream(BUPATI, TPS_ELSEWHERE))
    assert (row_["role"], row_["signer_label"]) == ("unknown", "")
    assert own.hash.hex() == views.sheet_status(store, BUPATI)[1]["effective"]


def test_findings_within_a_region_leave_out_violations_elsewhere() -> None:
    s = Scenario()
    store = fold(imported_history(s), s.trust())
    assert [f["kind"] for f in views.findings(store, within="33.16.01")] == ["out-of-scope"]


# --- the CLI: views as JSON and as tables, live and as of a past position ---------------


@pytest.fixture
def cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, History]]:
    """A ledger directory holding the history (with a checkpoint part way), and the history."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", "correct horse")
    monkeypatch.delenv("LEDGER_DATABASE", raising=False)
    world = build_world(f"sqlite:{tmp_path / 'source.db'}")
    h = build_history(world, live=False)
    s = h.s
    home = tmp_path / "home"
    created = LedgerHome(home).create(
        election=s.election,
        origin=s.origin,
        kpu_root=ed25519.public_bytes(s.kpu),
        bawaslu_root=ed25519.public_bytes(s.bawaslu),
        passphrase=b"correct horse",
        log_key=s._seed_key("log"),
    )
    Projections.create(created)  # as `ledger create` does
    created.close()
    ledger = LedgerHome(home).open()
    try:
        assert ledger.trust == s.trust()
        copy_log(world.ledger, ledger, h.checkpoint_size)
        TransparencyLog(ledger).issue_checkpoint(s.log_signer)
        copy_log(world.ledger, ledger, start=h.checkpoint_size)
    finally:
        ledger.close()
        world.ledger.close()
    yield home, h


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    assert main(list(argv)) == 0
    captured = capsys.readouterr()
    return captured.out


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    return json.loads(run(capsys, *argv, "--json"))


def columns(block: list[str]) -> list[tuple[int, int]]:
    """Each column's span in a plain table (a header line, then rows): the stretches of
    text between gaps of two or more spaces that are blank on every line."""
    width = max(len(line) for line in block)
    used = [any(i < len(line) and line[i] != " " for line in block) for i in range(width)]
    spans: list[tuple[int, int]] = []
    start = None
    for i, busy in enumerate([*used, False, False]):
        if busy and start is None:
            start = i
        elif not busy and start is not None and not any(used[i : i + 2]):
            end = i
            while not used[end - 1]:
                end -= 1
            spans.append((start, end))
            start = None
    header = block[0]
    assert len(spans) == len(re.split(r" {2,}", header.strip())), (header, spans)
    return spans


def cells(line: str, spans: list[tuple[int, int]]) -> list[str]:
    return [line[start:end].strip() for start, end in spans]


def test_cli_views_as_json_and_as_of_a_past_position(
    cli_home: tuple[Path, History], capsys: pytest.CaptureFixture[str]
) -> None:
    home, h = cli_home
    d = str(home)
    ledger = LedgerHome(home).open()
    try:
        size = ledger.log_store.log_size()
        out = run_json(capsys, "totals", "-L", d, "--level", DESA)
        assert out["position"] == size and out["level"] == DESA
        assert out["totals"] == {c: EXPECTED_TOTALS[c][DESA] for c in (BUPATI, GUBERNUR)}
        store = Projections.create(ledger).store()  # caught up by the command
        assert store.position == size
        assert run_json(capsys, "totals", "-L", d, "--contest", GUBERNUR, "--level", PROV)[
            "totals"
        ] == {GUBERNUR: views.totals(store, GUBERNUR, PROV)}
        assert run_json(capsys, "sheets", "-L", d, "--contest", BUPATI)["sheets"] == (
            views.sheet_status(store, BUPATI)
        )
        assert run_json(capsys, "recaps", "-L", d, "--contest", BUPATI)["recaps"] == (
            views.recap_checks(store, BUPATI)
        )
        stream = sheet_stream(BUPATI, TPS)
        assert run_json(capsys, "trail", "-L", d, "--stream", stream)["events"] == (
            views.trail(store, stream=stream)
        )
        ppk = hex_id(h.k["ppk"])
        assert run_json(capsys, "trail", "-L", d, "--signer", ppk)["events"] == (
            views.trail(store, signer=ppk)
        )
        findings = run_json(capsys, "findings", "-L", d, "--kind", "stale-head")["findings"]
        assert findings == [f for f in views.findings(store) if f["kind"] == "stale-head"]
        assert run_json(capsys, "findings", "-L", d)["findings"] == views.findings(store)

        # As of a past position: a replay, and the live tables stay as they were.
        n = h.leaf["A-fix"]
        past = replay(ledger, n)
        out = run_json(capsys, "totals", "-L", d, "--as-of", str(n), "--contest", BUPATI)
        assert out["position"] == n
        assert out["totals"] == {BUPATI: views.totals(past, BUPATI)}
        assert run_json(capsys, "trail", "-L", d, "--as-of", str(n), "--region", KECAMATAN)[
            "events"
        ] == views.trail(past, within=KECAMATAN)
        assert run_json(capsys, "findings", "-L", d, "--as-of", str(n))["findings"] == (
            views.findings(past)
        )
        at = run_json(
            capsys, "sheets", "-L", d, "--contest", BUPATI, "--checkpoint", str(h.checkpoint_size)
        )
        assert at["position"] == h.checkpoint_size
        assert at["sheets"] == views.sheet_status(replay(ledger, h.checkpoint_size), BUPATI)
        assert Projections.create(ledger).store().position == size
        assert main(["totals", "-L", d, "--as-of", str(size + 1)]) == 1
        assert f"the log has {size} events" in capsys.readouterr().err
    finally:
        ledger.close()


def test_cli_views_print_aligned_tables(
    cli_home: tuple[Path, History], capsys: pytest.CaptureFixture[str]
) -> None:
    home, h = cli_home
    d = str(home)
    text = run(capsys, "totals", "-L", d, "--level", KEC)
    blocks = [b.splitlines() for b in text.strip("\n").split("\n\n")]
    assert [b[0] for b in blocks] == [
        f"Bupati Blora ({BUPATI}), by {KEC}, as of position {h.leaf['R-kab'] + 1}",
        f"Gubernur Jawa Tengah ({GUBERNUR}), by {KEC}, as of position {h.leaf['R-kab'] + 1}",
    ]
    for block, contest in zip(blocks, (BUPATI, GUBERNUR), strict=True):
        spans = columns(block[1:])
        assert cells(block[1], spans) == [
            "region",
            "name",
            "pair 1",
            "pair 2",
            "valid",
            "invalid",
            "sheets",
        ]
        body = [cells(line, spans) for line in block[2:]]
        expected = EXPECTED_TOTALS[contest][KEC]
        assert [c[0] for c in body] == [r["region"] for r in expected] + ["TOTAL"]
        for c, r in zip(body, expected, strict=False):
            assert c[2:] == [
                f"{r['votes']['1']:,}",
                f"{r['votes']['2']:,}",
                f"{r['valid']:,}",
                f"{r['invalid']:,}",
                f"{r['sheets_reported']}/{r['sheets_expected']}",
            ]
        [total] = EXPECTED_TOTALS[contest][PROV]
        assert body[-1][2:] == [
            f"{total['votes']['1']:,}",
            f"{total['votes']['2']:,}",
            f"{total['valid']:,}",
            f"{total['invalid']:,}",
            f"{total['sheets_reported']}/{total['sheets_expected']}",
        ]
        # Right-aligned numbers: every cell of a numeric column ends at its right edge.
        for line in block[1:]:
            for start, end in spans[2:]:
                assert line[start:end] == line[start:end].rjust(end - start)

    sheets = run(capsys, "sheets", "-L", d, "--contest", BUPATI).splitlines()
    spans = columns(sheets)
    assert [cells(line, spans)[0] for line in sheets[1:]] == [
        TPS_ELSEWHERE,
        TPS,
        TPS2,
        TPS3,
        TPS4,
    ]
    assert cells(sheets[2], spans)[1:6] == ["yes", "1,2", "no", "0/1", "yes"]

    for argv in (
        ("recaps", "--contest", BUPATI),
        ("trail", "--stream", sheet_stream(BUPATI, TPS)),
        ("trail", "--region", KECAMATAN),
        ("trail", "--signer", hex_id(h.k["kab"]), "--as-of", str(h.checkpoint_size)),
    ):
        lines = run(capsys, argv[0], "-L", d, *argv[1:]).splitlines()
        columns(lines)
    trail = run(capsys, "trail", "-L", d, "--stream", sheet_stream(BUPATI, TPS)).splitlines()
    spans = columns(trail)
    assert [cells(line, spans)[:3] for line in trail[1:]][4] == [
        str(h.leaf["A-fix"]),
        "5",
        "correct",
    ]
    assert (
        cells(trail[5], spans)[-1]
        == "recount at PPK: valid 180->178, invalid 5->7, votes[2] 60->58"
    )

    findings = run(capsys, "findings", "-L", d).splitlines()
    assert findings[0].startswith("15 findings as of position")
    spans = columns(findings[1:])
    assert [cells(line, spans)[0] for line in findings[2:]] == [
        f["kind"] for f in json.loads(run(capsys, "findings", "-L", d, "--json"))["findings"]
    ]
