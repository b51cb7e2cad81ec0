"""ledger.pilkada.phases: every statement of an election is sent, once, in process order.

The load test (tests/test_server_load.py) and bench/http.py submit an election
phase by phase; a kind no phase sends would be silently missing from the log
(as the determination was: the load test then found one leaf fewer).
"""

from __future__ import annotations

from collections import Counter

import pytest

from ledger import pilkada
from ledger.errors import SchemaError
from ledger.format.schema import KINDS, KINDS_V2
from ledger.format.statement import Envelope
from ledger.pilkada import phases as phases_module
from ledger.pilkada.phases import PHASES, phases, shares
from ledger.pilkada.simulate import Simulation

SENDERS = 16


@pytest.fixture(scope="module")
def blora() -> list[Envelope]:
    """A whole regency: every kind, the determination of its bupati contest included."""
    return list(Simulation(pilkada.BLORA, seed=1).envelopes())


def test_every_kind_is_sent_in_exactly_one_phase() -> None:
    sent = Counter(kind for _, kinds in PHASES for kind in kinds)
    assert sent == Counter({kind: 1 for kind in (*KINDS, *KINDS_V2)})


def test_the_phases_hold_every_envelope_once(blora: list[Envelope]) -> None:
    assert "determination" in {e.statement.kind for e in blora}
    dealt = [
        e
        for _, waves in phases(blora)
        for wave in waves
        for share in shares(wave, SENDERS)
        for e in share
    ]
    assert Counter(e.hash for e in dealt) == Counter(e.hash for e in blora)


def test_determinations_come_after_every_recap(blora: list[Envelope]) -> None:
    order = [e.statement.kind for _, waves in phases(blora) for wave in waves for e in wave]
    assert order.index("determination") > max(i for i, k in enumerate(order) if k == "recap")


def test_a_kind_no_phase_sends_is_refused(
    blora: list[Envelope], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        phases_module, "PHASES", tuple(p for p in PHASES if "determination" not in p[1])
    )
    with pytest.raises(SchemaError, match="no election phase sends statements of kind"):
        phases_module.phases(blora)
