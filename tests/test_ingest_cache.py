"""The writer's warm aggregates (Ledger._warm) never decide on stale state.

A Ledger keeps the stream aggregates of earlier batches between appends, and
knows the notification id they are current as of. These tests make them stale in
the two ways possible, another writer's append and a batch of its own that failed
after changing them, and check that every verdict is the one a cold ledger gives.
Each runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger import errors
from ledger.format.regions import sheet_stream
from ledger.format.statement import Envelope
from ledger.store.application import Ledger
from tests.world import BUPATI, TPS, TPS2, World, build_world, tally


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    w = build_world(database_url)
    yield w
    w.ledger.close()


@pytest.fixture
def rival(world: World, database_url: str) -> Iterator[Ledger]:
    """A second writer on the same database (another process, as far as the
    first one can tell: it shares no state)."""
    ledger = Ledger(database_url)
    yield ledger
    ledger.close()


def test_another_writers_append_is_seen(world: World, rival: Ledger) -> None:
    s, k = world.scenario, world.keys
    count = s.count(k["kpps"], BUPATI, TPS, tally())
    world.append(count)  # the sheet's aggregate is now warm in world.ledger
    rival.append(s.attest(k["saksi1"], BUPATI, TPS, count.hash).raw)  # seq 2, elsewhere
    third = s.attest(k["saksi2"], BUPATI, TPS, count.hash)  # seq 3, after the rival's
    accepted = world.ledger.append(third.raw)
    assert (accepted.seq, accepted.duplicate) == (3, False)
    # And the other way round: the rival's warm copy is stale now.
    fourth = s.attest(k["ptps"], BUPATI, TPS, count.hash)
    assert rival.append(fourth.raw).seq == 4
    assert world.ledger.head(sheet_stream(BUPATI, TPS)) == (4, fourth.hash)


def test_another_writers_revoke_is_seen(world: World, rival: Ledger) -> None:
    s, k = world.scenario, world.keys
    world.append(s.count(k["kpps"], BUPATI, TPS, tally()))  # kpps's key stream is warm
    rival.append(s.revoke(k["kab"], k["kpps"], "device lost").raw)
    envelope = s.count(k["kpps"], BUPATI, TPS2, tally())
    with pytest.raises(errors.RevokedKeyError, match="was revoked"):
        world.ledger.append(envelope.raw)


def test_a_failed_batch_leaves_no_trace_in_the_warm_state(world: World) -> None:
    s, k = world.scenario, world.keys
    count = s.count(k["kpps"], BUPATI, TPS, tally())
    world.append(count)
    attest = s.attest(k["saksi1"], BUPATI, TPS, count.hash)
    forged_count = s.count(k["kpps2"], BUPATI, TPS2, tally())
    forged = Envelope.build(forged_count.statement_bytes, bytes(64)).raw
    # The attestation is checked and staged (its aggregate changed), then the
    # batch fails on the forged signature: nothing stored.
    with pytest.raises(errors.InvalidSignature, match="envelope 2 of 2"):
        world.ledger.append_batch([attest.raw, forged])
    assert world.ledger.head(sheet_stream(BUPATI, TPS)) == (1, count.hash)
    # Had the staged attestation stayed in the warm aggregate, this would be
    # answered as a duplicate, and stored never.
    accepted = world.ledger.append(attest.raw)
    assert (accepted.seq, accepted.duplicate) == (2, False)
    assert world.ledger.append(forged_count.raw).seq == 1  # its new stream, too
    assert [e.hash for e in world.ledger.stream(sheet_stream(BUPATI, TPS))] == [
        count.hash,
        attest.hash,
    ]


def test_a_batch_reads_the_streams_it_needs_in_one_query(world: World) -> None:
    """Batch loading: however many streams a batch touches, one query loads the cold
    ones (here: every stream, after the warm state was dropped)."""
    s, k = world.scenario, world.keys
    counts = [s.count(k["kpps"], BUPATI, TPS, tally()), s.count(k["kpps2"], BUPATI, TPS2, tally())]
    attests = [
        s.attest(k["panwas"], BUPATI, tps, c.hash)
        for tps, c in zip((TPS, TPS2), counts, strict=True)
    ]
    world.ledger.append_batch([c.raw for c in counts])
    world.ledger._warm.clear()
    queries: list[int] = []
    select = world.ledger.log_store.select_events_of

    def counting(table: str, ids: list[object]) -> object:
        queries.append(len(ids))
        return select(table, ids)  # type: ignore[arg-type]

    world.ledger.log_store.select_events_of = counting  # type: ignore[method-assign,assignment]
    world.ledger.append_batch([a.raw for a in attests])
    # The two sheets and the panwas key stream, then (second round) its granter's.
    assert len(queries) <= 2 and queries[0] >= 3, queries
    world.ledger.append_batch([s.attest(k["saksi2"], BUPATI, TPS, counts[0].hash).raw])
    assert len(queries) <= 3  # only the saksi2 key stream was cold
