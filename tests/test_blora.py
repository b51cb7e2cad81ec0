"""The whole of Blora (33.16), ingested and projected, reproduces the data's figures
(the provisional Sirekap figures of 28 November 2024).

Every one of Blora's 1,453 TPS gets a KPPS count for both contests (Bupati Blora
and Gubernur Jawa Tengah), each kecamatan's provisional votes split across its TPS; the
totals projection must give back the provisional figures of every kecamatan and of the
regency, on SQLite and on PostgreSQL. The expected figures are read from the
package's copy of the data, never written here.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

import pytest

from ledger import pilkada
from ledger.pilkada.simulate import Simulation
from ledger.store.application import Ledger
from projections import views
from projections.recorder import Projections, replay


def provisional_votes(contest: str) -> dict[str, dict[str, int]]:
    data = pilkada.load()
    out = {}
    for kec in data.kecamatan_of_region(pilkada.BLORA):
        result = data.results[contest][kec]
        assert result.votes is not None, f"precondition: {kec} reported"
        out[kec] = {str(n): v for n, v in result.votes.items()}
    return out


class BloraContract:
    @pytest.fixture
    def url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def ledger(self, url: str) -> Iterator[Ledger]:
        simulation = Simulation(pilkada.BLORA, seed=11)
        ledger = Ledger.create(url, simulation.trust())
        envelopes = (e.raw for e in simulation.envelopes())
        while chunk := list(islice(envelopes, 2000)):
            ledger.append_batch(chunk)
        yield ledger
        ledger.close()

    def test_totals_reproduce_the_provisional_figures(self, ledger: Ledger) -> None:
        projections = Projections.create(ledger)
        projections.catch_up()
        live = projections.store()
        data = pilkada.load()
        tps_total = sum(data.tps_total(k) for k in data.kecamatan_of_region(pilkada.BLORA))
        for contest in ("bupati-33.16", "gubernur-33"):
            want = provisional_votes(contest)
            rows = {
                r["region"]: r
                for r in views.totals(live, contest, "kecamatan", within=pilkada.BLORA)
            }
            assert set(rows) == set(want)
            for kec, votes in want.items():
                assert rows[kec]["votes"] == votes, f"{contest} {kec}"
                assert (
                    rows[kec]["sheets_reported"]
                    == rows[kec]["sheets_expected"]
                    == data.tps_total(kec)
                )
            (regency,) = views.totals(live, contest, "kabkota", within=pilkada.BLORA)
            assert regency["region"] == pilkada.BLORA
            assert regency["sheets_reported"] == tps_total == 1453
            for number in want[next(iter(want))]:
                assert regency["votes"][number] == sum(v[number] for v in want.values())
        # A replay from zero gives the same answer as the live projection.
        replayed = replay(ledger)
        assert views.totals(replayed, "bupati-33.16", "kecamatan") == views.totals(
            live, "bupati-33.16", "kecamatan"
        )


class TestBloraOnSQLite(BloraContract):
    @pytest.fixture
    def url(self, sqlite_url: str) -> str:
        return sqlite_url


@pytest.mark.postgres
class TestBloraOnPostgres(BloraContract):
    @pytest.fixture
    def url(self, postgres_url: str) -> str:
        return postgres_url
