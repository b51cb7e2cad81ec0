"""A simulation with injected faults produces exactly the findings it injected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ledger.pilkada.demo import build
from ledger.pilkada.simulate import Faults, Simulation

# The finding each injected fault must produce (an answered objection produces none).
FINDING_OF = {
    "arithmetic": "arithmetic",
    "over_registered": "over-registered",
    "objections_unanswered": "unanswered-objection",
    "unattested_corrections": "unattested-correction",
    "equivocations": "equivocation",
    "missing_sheets": "missing-sheet",
    "recap_mismatches": "recap-mismatch",
    "recap_omissions": "recap-omission",
    "stale_heads": "stale-head",
    "objections_answered": None,
    "unfollowed_recommendations": "unfollowed-recommendation",
    "contradicted_followups": "contradicted-followup",
    "unanswered_plenary_objections": "unanswered-objection",
    "admin_mismatches": "recap-admin-mismatch",
}


@pytest.mark.parametrize(("region", "each"), [("33.16.09", 1), ("33.16", 2)])
def test_injected_faults_are_exactly_the_findings(tmp_path: Path, region: str, each: int) -> None:
    simulation = Simulation(region, seed=5, faults=Faults.each(each))
    result = build(simulation, tmp_path / "ledger", passphrase=b"test", now=1_733_000_000)
    assert result.report.ok, result.report.failures

    expected = sorted(
        (FINDING_OF[i.kind], i.stream)
        for i in simulation.injected
        if FINDING_OF[i.kind] is not None
    )
    # A sheet's false DPT (over_registered) is summed into the D.Hasil above it, whose
    # ballots received may then exceed DPT + 2.5%: a knock-on, not a fault of its own.
    false_dpt = [i.stream.split(":")[2] for i in simulation.injected if i.kind == "over_registered"]

    def knock_on(f: dict[str, Any]) -> bool:
        region = f["stream"].split(":")[2]
        supply = f["kind"] == "recap-admin" and f["message"].startswith("ballots received")
        return supply and any(tps.startswith(region + ".") for tps in false_dpt)

    found = sorted((f["kind"], f["stream"]) for f in result.findings if not knock_on(f))
    assert found == expected
    assert len(simulation.injected) == each * len(FINDING_OF)
    # Each finding names the events the fault planted.
    by_stream = {
        (FINDING_OF[i.kind], i.stream): {e.hex() for e in i.events} for i in simulation.injected
    }
    for finding in (f for f in result.findings if not knock_on(f)):
        assert set(finding["events"]) <= by_stream[(finding["kind"], finding["stream"])], finding


def test_a_clean_simulation_has_no_findings(tmp_path: Path) -> None:
    simulation = Simulation("33.16.09", seed=6)
    result = build(simulation, tmp_path / "ledger", passphrase=b"test", now=1_733_000_000)
    assert result.report.ok
    assert result.findings == []
