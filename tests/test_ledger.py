"""The ledger's acceptance rules: one contract, run on every backend.

Each rejection asserts the specific exception type, a message naming the
problem, and that nothing was written (no new stored event, no new leaf).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import pytest

from ledger import errors
from ledger.format import canonical
from ledger.format.regions import sheet_stream
from ledger.format.schema import arithmetic_flags
from ledger.format.statement import Envelope, Statement, sign_statement
from ledger.store.application import Ledger
from tests.world import (
    BUPATI,
    GUBERNUR,
    KECAMATAN,
    TPS,
    TPS2,
    TPS_ELSEWHERE,
    World,
    build_world,
    form,
    tally,
)


@contextmanager
def nothing_written(ledger: Ledger) -> Iterator[None]:
    before = (ledger.recorder.max_notification_id(), ledger.log_store.log_size())
    yield
    after = (ledger.recorder.max_notification_id(), ledger.log_store.log_size())
    assert after == before, f"something was written: {before} -> {after}"


def rejects(world: World, raw: bytes, error: type[Exception], match: str) -> None:
    with nothing_written(world.ledger), pytest.raises(error, match=match):
        world.ledger.append(raw)


def resign(envelope: Envelope, key: Any, **changes: Any) -> bytes:
    """The same statement with some fields changed, signed again by ``key``."""
    fields = {f: getattr(envelope.statement, f) for f in Statement.__slots__}
    fields.update(changes)
    return sign_statement(Statement(**fields), key).raw


class LedgerContract:
    """The rules every storage backend must uphold. Subclasses name the backend."""

    @pytest.fixture
    def url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def world(self, url: str) -> Iterator[World]:
        w = build_world(url)
        yield w
        w.ledger.close()

    # --- acceptance ------------------------------------------------------------------

    def test_a_sheet_lives_through_count_attest_correct_and_recap(self, world: World) -> None:
        s, k = world.scenario, world.keys
        count = s.count(k["kpps"], BUPATI, TPS, tally())
        first = world.append(count)
        world.append(
            s.attest(k["saksi1"], BUPATI, TPS, count.hash),
            s.attest(
                k["saksi2"], BUPATI, TPS, count.hash, "object", "C.Hasil photo shows 58 for pair 2"
            ),
            s.attest(k["ptps"], BUPATI, TPS, count.hash),
        )
        fix = s.correct(
            k["ppk"], BUPATI, TPS, count.hash, "recount at PPK", tally((120, 58), invalid=7)
        )
        accepted = world.append(fix)
        assert (accepted.seq, accepted.leaf_index) == (5, first.leaf_index + 4)
        stream = sheet_stream(BUPATI, TPS)
        assert [e.statement.kind for e in world.ledger.stream(stream)] == [
            "count",
            "attest",
            "attest",
            "attest",
            "correct",
        ]
        assert world.ledger.head(stream) == (5, fix.hash)
        recap = s.recap(
            k["ppk"], BUPATI, KECAMATAN, [(stream, fix.hash)], {"1": 120, "2": 58}, 178, 7, 185
        )
        assert world.append(recap).leaf_index == accepted.leaf_index + 1

    def test_leaf_indexes_are_contiguous_in_acceptance_order(self, world: World) -> None:
        size = world.ledger.log_store.log_size()
        leaves = world.ledger.log_store.leaves(0, size)
        assert [leaf.leaf_index for leaf in leaves] == list(range(size))
        notification_ids = [leaf.notification_id for leaf in leaves]
        assert notification_ids == sorted(notification_ids)

    def test_resubmitting_an_accepted_envelope_is_idempotent(self, world: World) -> None:
        count = world.scenario.count(world.keys["kpps"], BUPATI, TPS, tally())
        first = world.append(count)
        with nothing_written(world.ledger):
            again = world.ledger.append(count.raw)
        assert again.duplicate and not first.duplicate
        assert (again.leaf_index, again.event_hash) == (first.leaf_index, first.event_hash)

    def test_a_sheet_that_breaks_arithmetic_is_accepted_as_evidence(self, world: World) -> None:
        bad = tally(valid=999)
        assert arithmetic_flags(bad), "precondition: the tally breaks a rule"
        accepted = world.append(world.scenario.count(world.keys["kpps"], BUPATI, TPS, bad))
        assert accepted.seq == 1

    def test_a_ledger_reopens_with_its_trust_roots_and_heads(self, world: World, url: str) -> None:
        count = world.scenario.count(world.keys["kpps"], BUPATI, TPS, tally())
        world.append(count)
        reopened = Ledger(url)
        try:
            assert reopened.trust == world.scenario.trust()
            assert reopened.head(sheet_stream(BUPATI, TPS)) == (1, count.hash)
        finally:
            reopened.close()

    def test_a_database_holds_one_ledger(self, world: World, url: str) -> None:
        with pytest.raises(errors.ConfigurationError, match="already holds a ledger"):
            Ledger.create(url, world.scenario.trust())

    # --- rejections: bytes -----------------------------------------------------------

    def test_truncated_bytes_are_rejected(self, world: World) -> None:
        raw = world.scenario.count(world.keys["kpps"], BUPATI, TPS, tally()).raw
        rejects(world, raw[:-3], errors.FormatError, "msgpack")

    def test_non_canonical_bytes_are_rejected(self, world: World) -> None:
        envelope = world.scenario.count(world.keys["kpps"], BUPATI, TPS, tally())
        # Same value, but the 64-byte signature's bin8 header widened to bin16.
        raw = envelope.raw.replace(b"\xc4\x40", b"\xc5\x00\x40", 1)
        assert canonical.encode(canonical.decode(envelope.raw)) == envelope.raw
        rejects(world, raw, errors.NonCanonicalError, "canonical")

    def test_another_election_is_rejected(self, world: World) -> None:
        envelope = world.scenario.count(world.keys["kpps"], BUPATI, TPS, tally())
        raw = resign(envelope, world.keys["kpps"], election="pemilu2029")
        rejects(world, raw, errors.ElectionMismatchError, "pemilu2029")

    # --- rejections: signatures and authority ------------------------------------------

    def test_a_forged_signature_is_rejected(self, world: World) -> None:
        envelope = world.scenario.count(world.keys["kpps"], BUPATI, TPS, tally())
        forged = Envelope.build(envelope.statement_bytes, bytes(64)).raw
        rejects(world, forged, errors.InvalidSignature, "does not verify")

    def test_a_statement_signed_by_another_key_than_its_signer_is_rejected(
        self, world: World
    ) -> None:
        envelope = world.scenario.count(world.keys["kpps"], BUPATI, TPS, tally())
        other = sign_statement(envelope.statement, world.keys["kpps2"]).raw
        rejects(world, other, errors.InvalidSignature, "does not verify")

    def test_an_unknown_signer_is_rejected(self, world: World) -> None:
        stranger = world.scenario.key("stranger")
        envelope = world.scenario.count(stranger, BUPATI, TPS, tally())
        rejects(world, envelope.raw, errors.UnknownSignerError, "never granted")

    def test_a_role_may_not_make_another_roles_statement(self, world: World) -> None:
        s, k = world.scenario, world.keys
        count = s.count(k["kpps"], BUPATI, TPS, tally())
        world.append(count)
        fix = s.correct(k["kpps"], BUPATI, TPS, count.hash, "I miscounted", tally((121, 60)))
        rejects(world, fix.raw, errors.UnauthorizedError, "may not correct a sheet")

    def test_a_kpps_may_not_count_another_tps(self, world: World) -> None:
        envelope = world.scenario.count(world.keys["kpps"], BUPATI, TPS2, tally())
        rejects(world, envelope.raw, errors.OutOfScopeError, "may not count TPS 33.16.09.2001/002")

    def test_a_ppk_may_not_correct_outside_its_kecamatan(self, world: World) -> None:
        s, k = world.scenario, world.keys
        count = s.count(k["kpps_elsewhere"], BUPATI, TPS_ELSEWHERE, tally())
        world.append(count)
        fix = s.correct(k["ppk"], BUPATI, TPS_ELSEWHERE, count.hash, "x", tally())
        rejects(world, fix.raw, errors.OutOfScopeError, "may not correct")

    def test_a_saksi_attests_only_its_contest(self, world: World) -> None:
        s, k = world.scenario, world.keys
        count = s.count(k["kpps"], GUBERNUR, TPS, tally())
        world.append(count)
        attest = s.attest(k["saksi1"], GUBERNUR, TPS, count.hash)
        rejects(world, attest.raw, errors.OutOfScopeError, "is not a saksi in gubernur-33")

    def test_a_granter_may_not_grant_outside_its_scope(self, world: World) -> None:
        _, grant = world.scenario.grant(
            world.keys["kab"], "kpps-semarang", "kpps", "33.74.01.1001/001"
        )
        rejects(world, grant.raw, errors.OutOfScopeError, "outside its scope")

    def test_a_paslon_may_grant_saksi_only_for_its_pair(self, world: World) -> None:
        _, grant = world.scenario.grant(
            world.keys["paslon1"], "saksi-x", "saksi", TPS, contest=BUPATI, pair=2
        )
        rejects(world, grant.raw, errors.OutOfScopeError, "only for its own pair")

    def test_a_revoked_key_can_sign_nothing_more(self, world: World) -> None:
        s, k = world.scenario, world.keys
        world.append(s.revoke(k["kab"], k["kpps"], "device lost"))
        envelope = s.count(k["kpps"], BUPATI, TPS, tally())
        rejects(world, envelope.raw, errors.RevokedKeyError, "was revoked")

    def test_only_the_granter_or_root_may_revoke(self, world: World) -> None:
        s, k = world.scenario, world.keys
        revoke = s.revoke(k["ppk"], k["kpps"], "not mine to revoke")
        rejects(world, revoke.raw, errors.UnauthorizedError, "only its granter or root")
        stream = revoke.statement.stream
        s.chain.follow(stream, *world.ledger.head(stream))
        assert world.append(s.revoke(s.kpu, k["kpps"], "root may")).seq == 2

    # --- rejections: chains ----------------------------------------------------------

    def test_a_seq_that_does_not_follow_the_head_is_rejected(self, world: World) -> None:
        s, k = world.scenario, world.keys
        count = s.count(k["kpps"], BUPATI, TPS, tally())
        world.append(count)
        skipped = resign(count, k["kpps"], seq=3, prev=count.hash)
        rejects(world, skipped, errors.StaleHeadError, "is at seq 1, statement is for seq 3")

    def test_a_second_statement_for_a_taken_seq_is_rejected(self, world: World) -> None:
        s, k = world.scenario, world.keys
        count = s.count(k["kpps"], BUPATI, TPS, tally())
        world.append(count)
        rival = resign(count, k["kpps"], body={"tally": form(tally((1, 2)))})
        rejects(world, rival, errors.StaleHeadError, "is at seq 1, statement is for seq 1")

    def test_a_prev_that_is_not_the_head_is_rejected(self, world: World) -> None:
        s, k = world.scenario, world.keys
        count = s.count(k["kpps"], BUPATI, TPS, tally())
        world.append(count)
        attest = s.attest(k["ptps"], BUPATI, TPS, count.hash)
        raw = resign(attest, k["ptps"], prev=bytes(31) + b"\x01")
        rejects(world, raw, errors.PrevMismatchError, "is not the hash of seq 1")

    # --- rejections: schema ----------------------------------------------------------

    @pytest.mark.parametrize(
        ("change", "match"),
        [
            ({"invalid": -1}, "count.tally.invalid must be a non-negative integer"),
            ({"valid": "180"}, "count.tally.valid must be a non-negative integer"),
            ({"votes": {"1": 120, "2": 60, "3": 1}}, "unknown ballot number"),
            ({"votes": {"1": 120}}, "lacks ballot number"),
            ({"ballots_spoiled": 1}, "unknown field"),
        ],
    )
    def test_structural_violations_are_rejected(
        self, world: World, change: dict[str, Any], match: str
    ) -> None:
        envelope = world.scenario.count(world.keys["kpps"], BUPATI, TPS, tally(**change))
        rejects(world, envelope.raw, errors.SchemaError, match)

    def test_a_missing_field_is_rejected(self, world: World) -> None:
        bad = tally()
        del bad["voted_dpk_f"]
        envelope = world.scenario.count(world.keys["kpps"], BUPATI, TPS, bad)
        rejects(world, envelope.raw, errors.SchemaError, "lacks field.*voted_dpk_f")

    def test_an_attestation_must_name_an_event_of_its_sheet(self, world: World) -> None:
        attest = world.scenario.attest(world.keys["ptps"], BUPATI, TPS, bytes(32))
        rejects(world, attest.raw, errors.UnknownEventError, "not a count or correction")

    def test_a_recap_must_name_existing_heads(self, world: World) -> None:
        s, k = world.scenario, world.keys
        recap = s.recap(
            k["ppk"],
            BUPATI,
            KECAMATAN,
            [(sheet_stream(BUPATI, TPS), bytes(32))],
            {"1": 0, "2": 0},
            0,
            0,
            0,
        )
        rejects(world, recap.raw, errors.UnknownEventError, "has no event")

    # --- batches and concurrency -----------------------------------------------------

    def test_a_batch_is_stored_in_order_and_whole(self, world: World) -> None:
        s, k = world.scenario, world.keys
        kpps3, grant = s.grant(k["kab"], "kpps3", "kpps", "33.16.09.2001/003")
        count = s.count(kpps3, BUPATI, "33.16.09.2001/003", tally())
        attest = s.attest(k["panwas"], BUPATI, "33.16.09.2001/003", count.hash)
        results = world.ledger.append_batch([grant.raw, count.raw, attest.raw])
        assert [r.leaf_index for r in results] == [results[0].leaf_index + i for i in range(3)]

    def test_a_batch_with_one_bad_envelope_stores_nothing(self, world: World) -> None:
        s, k = world.scenario, world.keys
        good = s.count(k["kpps"], BUPATI, TPS, tally())
        bad = s.count(k["kpps2"], BUPATI, TPS2, tally(invalid=-5))
        with (
            nothing_written(world.ledger),
            pytest.raises(errors.SchemaError, match="envelope 2 of 2"),
        ):
            world.ledger.append_batch([good.raw, bad.raw])
        assert world.ledger.head(sheet_stream(BUPATI, TPS)) == (0, bytes(32))

    def test_in_a_batch_the_first_failing_envelope_is_reported(self, world: World) -> None:
        """Signatures are checked on a second thread; errors still come in batch order."""
        s, k = world.scenario, world.keys
        good = s.count(k["kpps"], BUPATI, TPS, tally())
        forged = Envelope.build(
            s.count(k["kpps2"], BUPATI, TPS2, tally()).statement_bytes, bytes(64)
        )
        bad_schema = s.attest(k["ptps"], BUPATI, TPS, bytes(32))
        with (
            nothing_written(world.ledger),
            pytest.raises(errors.InvalidSignature, match="envelope 2 of 3"),
        ):
            world.ledger.append_batch([good.raw, forged.raw, bad_schema.raw])
        with (
            nothing_written(world.ledger),
            pytest.raises(errors.StaleHeadError, match="envelope 1 of 2"),
        ):
            world.ledger.append_batch([bad_schema.raw, forged.raw])

    def test_concurrent_appends_to_one_stream_one_wins(self, world: World, url: str) -> None:
        s, k = world.scenario, world.keys
        count = s.count(k["kpps"], BUPATI, TPS, tally())
        world.append(count)
        first = s.attest(k["saksi1"], BUPATI, TPS, count.hash)
        s.chain.follow(sheet_stream(BUPATI, TPS), 1, count.hash)
        second = s.attest(k["saksi2"], BUPATI, TPS, count.hash)
        ledgers = [Ledger(url), Ledger(url)]
        barrier = threading.Barrier(2)
        outcomes: list[Any] = [None, None]

        def run(i: int, raw: bytes) -> None:
            barrier.wait()
            try:
                outcomes[i] = ledgers[i].append(raw)
            except errors.LedgerError as e:
                outcomes[i] = e

        threads = [
            threading.Thread(target=run, args=(i, e.raw)) for i, e in enumerate((first, second))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for ledger in ledgers:
            ledger.close()
        winners = [o for o in outcomes if not isinstance(o, Exception)]
        losers = [o for o in outcomes if isinstance(o, errors.StaleHeadError)]
        assert len(winners) == 1 and len(losers) == 1, outcomes
        assert "is at seq 2, statement is for seq 2" in str(losers[0])

    def test_the_store_itself_refuses_two_events_for_one_seq(self, world: World, url: str) -> None:
        """Without the append lock, eventsourcing's (stream, version) uniqueness still holds."""
        s, k = world.scenario, world.keys
        count = s.count(k["kpps"], BUPATI, TPS, tally())
        world.append(count)
        stream = sheet_stream(BUPATI, TPS)
        stale = world.ledger._load(stream)  # read before the rival's append
        world.append(s.attest(k["saksi1"], BUPATI, TPS, count.hash))
        s.chain.follow(stream, 1, count.hash)
        rival = s.attest(k["saksi2"], BUPATI, TPS, count.hash)
        world.ledger._load = lambda stream_id: (
            stale if stream_id == stream else Ledger._load(world.ledger, stream_id)
        )  # type: ignore[method-assign]
        world.ledger.log_store.append_lock = nullcontext  # type: ignore[method-assign]
        with (
            nothing_written(world.ledger),
            pytest.raises(errors.StaleHeadError, match="stored for one of these streams first"),
        ):
            world.ledger.append(rival.raw)


class TestLedgerOnSQLite(LedgerContract):
    @pytest.fixture
    def url(self, sqlite_url: str) -> str:
        return sqlite_url


@pytest.mark.postgres
class TestLedgerOnPostgres(LedgerContract):
    @pytest.fixture
    def url(self, postgres_url: str) -> str:
        return postgres_url


def test_a_trust_root_cannot_be_granted_a_role(sqlite_url: str) -> None:
    from tests.world import build_world

    world = build_world(sqlite_url)
    try:
        s = world.scenario
        from ledger.format import ed25519
        from ledger.format.regions import key_stream
        from ledger.format.signing import grant_body
        from ledger.format.statement import key_id

        bawaslu = ed25519.public_bytes(s.bawaslu)
        envelope = s.sign(
            s.kpu,
            key_stream(key_id(bawaslu)),
            "grant",
            grant_body(bawaslu, "kpu-kab", "33.16", "not a root any more"),
        )
        rejects(world, envelope.raw, errors.SchemaError, "trust root cannot be granted")
    finally:
        world.ledger.close()
