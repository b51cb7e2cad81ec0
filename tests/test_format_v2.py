"""Statement format version 2 (docs/format.md 5.8.2, 9): entries that fit a tile.

The largest real kecamatan, 31.73.01 (759 TPS), recapped with the largest
decisions version 2 allows, fits a tlog-tiles entry and is accepted on both
backends; the fold and the offline verifier agree on it. What does not fit is
refused with EntryTooLargeError and nothing is written. Version 1 ledgers,
built through the version 1 signing path kept for that, still verify everywhere.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.checks.dossier import verify_dossier
from ledger.checks.report import bawaslu_report
from ledger.checks.verify import verify_export
from ledger.errors import EntryTooLargeError, SchemaError
from ledger.format import canonical, ed25519
from ledger.format.recap import MAX_DECISION_TEXT, MAX_DECISIONS, check_inputs_v2, recap_inputs
from ledger.format.regions import sheet_stream
from ledger.format.signing import recap_body
from ledger.format.statement import (
    MAX_ENTRY_SIZE,
    Envelope,
    Statement,
    key_id,
    sign_statement,
)
from ledger.log.dossier import build_dossier
from ledger.log.export import export_ledger
from ledger.log.tlog import TransparencyLog
from ledger.pilkada.reference import tps_layout
from ledger.pilkada.scenario import Scenario
from ledger.store.application import Ledger
from projections import views
from projections.recorder import Projections
from tests.world import tally, unwitnessed_policy

CONTEST = "gubernur-31"
KECAMATAN = "31.73.01"  # Cengkareng, Jakarta Barat: the most TPS of any kecamatan
REAL_TPS = 759
# A reason of the largest length, in code points of the largest UTF-8 size (4 bytes).
LARGEST_REASON = "\U0001f5f3" * MAX_DECISION_TEXT
OBJECTED = MAX_DECISIONS + 4  # sheets with an objection, for the decisions to name


@dataclass
class Kecamatan:
    scenario: Scenario
    ledger: Ledger
    ppk: Ed25519PrivateKey
    inputs: list[tuple[str, bytes]]
    votes: dict[str, int]
    valid: int
    invalid: int
    voted: int
    # Objections on the first sheets, for decisions to name (version 2 refuses others).
    objections: list[bytes] = field(default_factory=list)

    def recap(self, decisions: list[dict[str, Any]] | None) -> Envelope:
        return self.scenario.recap(
            self.ppk,
            CONTEST,
            KECAMATAN,
            self.inputs,
            self.votes,
            self.valid,
            self.invalid,
            self.voted,
            decisions,
        )


def largest_decisions(
    count: int = MAX_DECISIONS, objections: list[bytes] | None = None
) -> list[dict[str, Any]]:
    """``count`` decisions of the longest reasons, naming ``objections`` (else made-up
    hashes, for recaps that are refused before their references are looked at)."""
    named = objections or [bytes([i]) * 32 for i in range(count)]
    assert len(named) >= count
    return [
        {"objection": named[i], "ruling": "dismissed", "reason": LARGEST_REASON}
        for i in range(count)
    ]


def build_kecamatan(url: str, *, version: int = 2) -> Kecamatan:
    """A ledger with every TPS of 31.73.01 counted, signed in statement ``version``."""
    s = Scenario(version=version)
    ledger = Ledger.create(url, s.trust())
    Projections.create(ledger)
    tps_ids = tps_layout(KECAMATAN)
    assert len(tps_ids) == REAL_TPS
    batch = [
        s.define_election("Pilkada Serentak 2024"),
        s.define_contest("gubernur", "31", "Gubernur DKI Jakarta", ["A - B", "C - D", "E - F"]),
    ]
    kab, grant = s.grant(s.kpu, "kpu-jakbar", "kpu-kab", "31.73")
    batch.append(grant)
    ppk, grant = s.grant(kab, "ppk-cengkareng", "ppk", KECAMATAN)
    batch.append(grant)
    role = "panwas" if version == 1 else "panwaslu-kec"
    panwas, grant = s.grant(s.bawaslu, "panwaslu-cengkareng", role, KECAMATAN)
    batch.append(grant)
    objections = []
    inputs = []
    votes = {"1": 0, "2": 0, "3": 0}
    valid = invalid = voted = 0
    for i, tps in enumerate(tps_ids):
        kpps, grant = s.grant(kab, f"kpps {tps}", "kpps", tps)
        pair_votes = (100 + i % 7, 80 + i % 11, 20 + i % 3)
        sheet = tally(pair_votes, invalid=i % 4)
        count = s.count(kpps, CONTEST, tps, sheet)
        batch += [grant, count]
        head = count.hash
        if i < OBJECTED:
            objection = s.attest(panwas, CONTEST, tps, count.hash, "object", "seal broken")
            batch.append(objection)
            objections.append(head := objection.hash)
        inputs.append((sheet_stream(CONTEST, tps), head))
        for number, n in sheet["votes"].items():
            votes[number] += n
        valid += sheet["valid"]
        invalid += sheet["invalid"]
        voted += sheet["voted_dpt_m"] + sheet["voted_dpt_f"]
    ledger.append_batch([e.raw for e in batch])
    return Kecamatan(s, ledger, ppk, inputs, votes, valid, invalid, voted, objections)


def export_report(k: Kecamatan, tmp_path: Path) -> Any:
    TransparencyLog(k.ledger).issue_checkpoint(k.scenario.log_signer)
    export = tmp_path / "ledger.export"
    with export.open("wb") as f:
        export_ledger(k.ledger, f)
    return export, unwitnessed_policy(k.ledger.trust)


class Contract:
    @pytest.fixture
    def url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def kecamatan(self, url: str) -> Iterator[Kecamatan]:
        k = build_kecamatan(url)
        yield k
        k.ledger.close()

    def test_the_largest_kecamatan_with_the_largest_decisions_fits_and_is_accepted(
        self, kecamatan: Kecamatan, tmp_path: Path
    ) -> None:
        k = kecamatan
        recap = k.recap(largest_decisions(objections=k.objections))
        assert recap.statement.version == 2
        # Close to the bound, yet inside it: the decisions take about 33 KB.
        assert 55_000 < len(recap.raw) <= MAX_ENTRY_SIZE
        assert recap_inputs(recap.statement) == sorted(k.inputs)
        size = k.ledger.sequence()
        accepted = k.ledger.append(recap.raw)
        assert not accepted.duplicate and accepted.leaf_index == size

        # The fold sees every input, none omitted or stale, and totals that add up.
        projections = Projections.create(k.ledger)
        projections.catch_up()
        store = projections.store()
        (entry,) = store.get("recap", f"recap:{CONTEST}:{KECAMATAN}")["recaps"]
        assert entry["inputs"] == REAL_TPS
        assert entry["omitted"] == entry["stale"] == entry["unknown"] == []
        assert entry["computed"]["votes"] == entry["totals"]["votes"] == k.votes
        assert len(entry["decisions"]) == MAX_DECISIONS
        assert entry["decisions"][0]["reason"] == LARGEST_REASON
        (row,) = views.totals(store, CONTEST, "kecamatan")
        assert row["votes"] == k.votes and row["sheets_reported"] == REAL_TPS

        # The offline verifier accepts the recap and its totals equal the projection's.
        export, policy = export_report(k, tmp_path)
        with export.open("rb") as f:
            report = verify_export(f, policy)
        assert report.ok, report.failures
        verified = report.totals[CONTEST]["kecamatan"][KECAMATAN]
        assert verified["votes"] == row["votes"]
        assert verified["valid"] == k.valid and verified["invalid"] == k.invalid
        assert verified["sheets"] == REAL_TPS

    def test_a_recap_that_does_not_fit_is_refused_and_nothing_is_written(
        self, kecamatan: Kecamatan
    ) -> None:
        k = kecamatan
        size = k.ledger.sequence()
        # More decisions than version 2 allows: refused by the schema, with the rule.
        too_many = k.recap(largest_decisions(MAX_DECISIONS + 1))
        with pytest.raises(SchemaError, match="at most 16: put the rest in the next recap"):
            k.ledger.append(too_many.raw)
        # Twice the kecamatan's inputs: no version 2 signer produces it ...
        doubled = [
            (stream.replace(f"{KECAMATAN}.1", f"{KECAMATAN}.9", 1), head)
            for stream, head in k.inputs
        ] + k.inputs
        body = recap_body(doubled, k.votes, k.valid, k.invalid, k.voted, largest_decisions())
        statement = Statement(
            election=k.ledger.trust.election,
            stream=f"recap:{CONTEST}:{KECAMATAN}",
            seq=1,
            prev=bytes(32),
            kind="recap",
            body=body,
            signer=bytes(32),
            time=0,
        )
        with pytest.raises(EntryTooLargeError, match="split the recap") as caught:
            sign_statement(statement, k.ppk)
        assert "\n" not in str(caught.value)
        # ... and the ledger refuses the bytes, of either version, before anything else.
        statement_bytes = statement.to_bytes()
        raw = canonical.encode({"statement": statement_bytes, "signature": bytes(64)})
        assert len(raw) > MAX_ENTRY_SIZE
        with pytest.raises(EntryTooLargeError, match="exceeds the 65,535-byte tlog-tiles entry"):
            k.ledger.append(raw)
        v1 = Scenario(version=1)
        v1.chain.heads = dict(k.scenario.chain.heads)
        big_v1 = v1.recap(
            k.ppk,
            CONTEST,
            KECAMATAN,
            k.inputs,
            k.votes,
            k.valid,
            k.invalid,
            k.voted,
            largest_decisions(),
        )
        assert big_v1.statement.version == 1 and len(big_v1.raw) > MAX_ENTRY_SIZE
        with pytest.raises(
            EntryTooLargeError, match=r"envelope 2 of 2: .* sign the recap in version 2"
        ):
            k.ledger.append_batch([too_many.raw, big_v1.raw])
        assert k.ledger.sequence() == size
        assert k.ledger.head(f"recap:{CONTEST}:{KECAMATAN}") == (0, bytes(32))

    def test_decisions_split_over_consecutive_recaps_answer_every_objection(
        self, kecamatan: Kecamatan
    ) -> None:
        k = kecamatan
        decisions = largest_decisions(MAX_DECISIONS + 4, k.objections)
        first = k.recap(decisions[:MAX_DECISIONS])
        second = k.recap(decisions[MAX_DECISIONS:])
        k.ledger.append_batch([first.raw, second.raw])
        projections = Projections.create(k.ledger)
        projections.catch_up()
        recaps = projections.store().get("recap", f"recap:{CONTEST}:{KECAMATAN}")["recaps"]
        assert [len(r["decisions"]) for r in recaps] == [MAX_DECISIONS, 4]
        assert recaps[0]["totals"] == recaps[1]["totals"]


class TestSQLite(Contract):
    @pytest.fixture
    def url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestPostgres(Contract):
    @pytest.fixture
    def url(self, postgres_url: str) -> str:
        return postgres_url


# --- version 1 stays readable and verifiable ----------------------------------------------


def test_a_version_1_ledger_still_verifies_everywhere(sqlite_url: str, tmp_path: Path) -> None:
    """Built through the version 1 signing path: accepted, folded, verified, in dossiers."""
    s = Scenario(version=1)
    ledger = Ledger.create(sqlite_url, s.trust())
    Projections.create(ledger)
    batch = [
        s.define_election("Pilkada Serentak 2024"),
        s.define_contest("bupati", "33.16", "Bupati Blora", ["Arief - Sri", "Abu - Andika"]),
    ]
    kab, grant = s.grant(s.kpu, "kpu-kab-blora", "kpu-kab", "33.16")
    ppk, grant2 = s.grant(kab, "ppk", "ppk", "33.16.09")
    batch += [grant, grant2]
    inputs = []
    for i, tps in enumerate(("33.16.09.2001/001", "33.16.09.2001/002", "33.16.09.2002/001")):
        kpps, grant = s.grant(kab, f"kpps{i}", "kpps", tps)
        count = s.count(kpps, "bupati-33.16", tps, tally((100 + i, 50)))
        batch += [grant, count]
        inputs.append((sheet_stream("bupati-33.16", tps), count.hash))
    recap = s.recap(ppk, "bupati-33.16", "33.16.09", inputs, {"1": 303, "2": 150}, 453, 15, 468)
    batch.append(recap)
    assert {e.statement.version for e in batch} == {1}
    assert "stream" in recap.statement.body["inputs"][0]  # the version 1 form
    ledger.append_batch([e.raw for e in batch])

    projections = Projections.create(ledger)
    projections.catch_up()
    store = projections.store()
    (row,) = views.totals(store, "bupati-33.16", "kecamatan")
    assert row["votes"] == {"1": 303, "2": 150}
    (entry,) = store.get("recap", "recap:bupati-33.16:33.16.09")["recaps"]
    assert entry["inputs"] == 3 and entry["omitted"] == entry["unknown"] == []

    k = Kecamatan(s, ledger, ppk, inputs, {}, 0, 0, 0)
    export, policy = export_report(k, tmp_path)
    with export.open("rb") as f:
        report = verify_export(f, policy)
    assert report.ok, report.failures
    assert report.totals["bupati-33.16"]["total"]["votes"] == row["votes"]
    dossier = build_dossier(ledger, "bupati-33.16", policy=policy.tlog)
    checked = verify_dossier(dossier, policy)
    assert checked.ok, checked.failures
    assert len(checked.recaps) == 1 and len(json.loads(dossier)["events"]) == len(batch)
    with export.open("rb") as f:
        signatures = bawaslu_report(io.BytesIO(f.read()), policy, "33.16")
    assert signatures["verification"]["ok"]
    # A version 2 statement can follow in the same ledger (section 9: both accepted).
    v2 = Scenario()
    v2.chain.heads = dict(s.chain.heads)
    later = v2.recap(ppk, "bupati-33.16", "33.16.09", inputs, {"1": 303, "2": 150}, 453, 15, 468)
    assert later.statement.version == 2
    ledger.append(later.raw)
    ledger.close()


def test_v2_recap_input_forms_are_checked() -> None:
    head = bytes(range(32))
    good = recap_body(
        [(sheet_stream(CONTEST, "31.73.01.1002/001"), head)], {"1": 1}, 1, 0, 1, version=2
    )
    assert good["inputs"] == [{"village": "31.73.01.1002", "tps": [[1, head]]}]
    bad: list[Any] = [
        [],
        [{"village": "31.73.01.1002", "tps": [[2, head], [1, head]]}],  # not ascending
        [{"village": "31.73.01.1002", "tps": [[1, head], [1, head]]}],  # a TPS twice
        [
            {"village": "31.73.01.1003", "tps": [[1, head]]},
            {"village": "31.73.01.1002", "tps": [[1, head]]},
        ],
        [{"village": "31.73.01", "tps": [[1, head]]}],  # not a village
        [{"village": "31.73.01.1002", "tps": [[1000, head]]}],  # not 3 digits
        [{"village": "31.73.01.1002", "tps": [[True, head]]}],
        [{"village": "31.73.01.1002", "tps": [[1, head[:31]]]}],  # a truncated head
        [{"village": "31.73.01.1002", "tps": []}],
        [{"village": "31.73.01.1002", "tps": [[1, head]], "x": 1}],
        [["31.73.01", head], ["31.73.01", head]],  # a region twice
        [["31.73.01", head], {"village": "31.73.01.1002", "tps": [[1, head]]}],  # mixed
        [["31.73.01", head, head]],
    ]
    for inputs in bad:
        with pytest.raises(SchemaError):
            check_inputs_v2(inputs)


def test_a_v2_input_form_that_does_not_fit_the_level_is_refused(sqlite_url: str) -> None:
    k = build_small(sqlite_url)
    # Region pairs in a kecamatan recap name recap streams: not what a kecamatan sums.
    statement = Statement(
        election=k.scenario.election,
        stream=f"recap:{CONTEST}:{KECAMATAN}",
        seq=1,
        prev=bytes(32),
        kind="recap",
        body={
            "inputs": [["31.73.01", k.inputs[0][1]]],
            "totals": {"votes": k.votes, "valid": 0, "invalid": 0, "voted": 0},
        },
        signer=sign_key_id(k.ppk),
        time=0,
    )
    with pytest.raises(SchemaError, match="sums sheet streams"):
        k.ledger.append(sign_statement(statement, k.ppk).raw)
    k.ledger.close()


def sign_key_id(key: Ed25519PrivateKey) -> bytes:
    return key_id(ed25519.public_bytes(key))


def build_small(url: str) -> Kecamatan:
    s = Scenario()
    ledger = Ledger.create(url, s.trust())
    batch = [
        s.define_election("Pilkada Serentak 2024"),
        s.define_contest("gubernur", "31", "Gubernur DKI Jakarta", ["A - B", "C - D"]),
    ]
    kab, grant = s.grant(s.kpu, "kpu-jakbar", "kpu-kab", "31.73")
    ppk, grant2 = s.grant(kab, "ppk", "ppk", KECAMATAN)
    kpps, grant3 = s.grant(kab, "kpps", "kpps", "31.73.01.1001/001")
    count = s.count(kpps, CONTEST, "31.73.01.1001/001", tally((10, 5)))
    batch += [grant, grant2, grant3, count]
    ledger.append_batch([e.raw for e in batch])
    inputs = [(sheet_stream(CONTEST, "31.73.01.1001/001"), count.hash)]
    return Kecamatan(s, ledger, ppk, inputs, {"1": 10, "2": 5}, 15, 5, 20)
