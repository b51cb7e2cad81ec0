"""Histories for the projection tests, and the outputs the projections are compared on.

:func:`build_history` extends tests.world's Blora world with a history that
triggers every finding the ledger lets through (all but out-of-scope, which the
ledger's authority check refuses), catching the live projection up after every
append and remembering its outputs at each log size. The expected totals in
tests/test_projections.py are summed by hand from the tallies written here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.errors import UnknownEventError
from ledger.format import ed25519
from ledger.format.regions import sheet_stream
from ledger.format.statement import Envelope, key_id
from ledger.log.proofs import open_checkpoint
from ledger.log.tlog import TransparencyLog
from ledger.pilkada.scenario import Scenario
from projections import views
from projections.recorder import Projections
from projections.sql import NAME
from projections.store import Store
from tests.world import BUPATI, GUBERNUR, KECAMATAN, TPS, TPS2, TPS_ELSEWHERE, World, tally

KABKOTA_CODE = "33.16"
TPS3 = "33.16.09.2002/001"  # another desa of the same kecamatan
TPS4 = "33.16.09.2002/002"
TPS5 = "33.16.01.2001/002"  # registered (then its key revoked), never counts
TPS_SEMARANG = "33.74.01.1001/001"  # in the province, outside Blora: gubernur only

# The trails every snapshot includes (missing ones are recorded as None).
SHEETS = [sheet_stream(BUPATI, t) for t in (TPS, TPS2, TPS3, TPS4, TPS_ELSEWHERE, TPS5)]
REGIONS = ["33", KABKOTA_CODE, KECAMATAN, "33.16.09.2001", "33.16.01"]
SIGNER_LABELS = ["kpps2", "ppk", "kab", "panwas"]


def hex_id(key: Ed25519PrivateKey) -> str:
    return key_id(ed25519.public_bytes(key)).hex()


def _trail(store: Store, **which: str) -> list[dict[str, Any]] | None:
    try:
        return views.trail(store, **which)  # type: ignore[arg-type]
    except UnknownEventError:
        return None


def outputs(store: Store, signers: list[str]) -> dict[str, Any]:
    """Every view of ``store`` (each contest at every level), as one JSON-able value."""
    per_contest = {}
    for contest in views.contests(store):
        cid = contest["id"]
        per_contest[cid] = {
            "totals": {level: views.totals(store, cid, level) for level in views.REGION_LEVELS},
            "sheets": views.sheet_status(store, cid),
            "recaps": views.recap_checks(store, cid),
        }
    return {
        "position": store.position,
        "contests": per_contest,
        "findings": views.findings(store),
        "trails": {
            "all": _trail(store),
            "streams": {s: _trail(store, stream=s) for s in SHEETS},
            "regions": {r: _trail(store, within=r) for r in REGIONS},
            "signers": {s: _trail(store, signer=s) for s in signers},
        },
    }


def table_rows(recorder: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the projection's tables and its tracking row, as stored."""
    out = {}
    queries = {
        "proj_state": "SELECT kind, key, contest, place, value FROM {s}proj_state ORDER BY kind, key",
        "proj_events": "SELECT leaf_index, stream, signer, place, value FROM {s}proj_events"
        " ORDER BY leaf_index",
        "tracking": f"SELECT application_name, notification_id FROM {{s}}{recorder.tracking_table}"
        f" WHERE application_name='{NAME}'",
    }
    with recorder.datastore.transaction(commit=False) as c:
        for name, query in queries.items():
            c.execute(recorder._sql(query))
            out[name] = [
                tuple(bytes(v) if isinstance(v, memoryview) else v for v in r)
                for r in (r.values() if isinstance(r, dict) else r for r in c.fetchall())
            ]
    return out


def dump(value: Any, *, sort_keys: bool = False) -> str:
    return json.dumps(value, sort_keys=sort_keys, ensure_ascii=False)


@dataclass
class History:
    world: World
    projections: Projections | None  # the live projection, caught up after every append
    env: dict[str, Envelope] = field(default_factory=dict)  # by label
    leaf: dict[str, int] = field(default_factory=dict)  # label -> leaf index
    live: dict[int, str] = field(default_factory=dict)  # log size -> dump(outputs)
    checkpoint_size: int = 0
    signers: list[str] = field(default_factory=list)  # key ids (hex) whose trails we keep

    @property
    def live_store(self) -> Store:
        """The live projection's state, as of its last catch-up."""
        assert self.projections is not None, "built without a live projection"
        return self.projections.store()

    @property
    def recorder(self) -> Any:
        assert self.projections is not None, "built without a live projection"
        return self.projections.recorder

    @property
    def s(self) -> Scenario:
        return self.world.scenario

    @property
    def k(self) -> dict[str, Ed25519PrivateKey]:
        return self.world.keys

    def snapshot(self) -> None:
        assert self.projections is not None
        position = self.projections.catch_up()
        store = self.projections.store()
        assert position == store.position == self.world.ledger.log_store.log_size()
        self.live[position] = dump(outputs(store, self.signers))

    def add(self, label: str, envelope: Envelope) -> Envelope:
        accepted = self.world.ledger.append(envelope.raw)
        assert not accepted.duplicate
        self.env[label] = envelope
        self.leaf[label] = accepted.leaf_index
        if self.projections is not None:
            self.snapshot()
        return envelope

    def hash(self, label: str) -> str:
        return self.env[label].hash.hex()


def build_history(
    world: World, *, live: bool = True, after: Callable[[History], None] | None = None
) -> History:
    """The rich history (see the module docstring and the comments below)."""
    h = History(world, Projections.create(world.ledger) if live else None)
    s, k = h.s, h.k
    h.signers = [hex_id(k[label]) for label in ("kpps2", "ppk", "kab", "panwas")]
    if live:
        h.snapshot()  # the world as build_world left it
    # More TPS in Blora, and a kpu-prov with a TPS in Semarang for the gubernur contest.
    for label, tps in (("kpps3", TPS3), ("kpps4", TPS4), ("kpps5", TPS5)):
        k[label], grant = s.grant(k["kab"], label, "kpps", tps)
        h.add(f"grant-{label}", grant)
    k["prov"], grant = s.grant(s.kpu, "kpu-jateng", "kpu-prov", "33")
    h.add("grant-prov", grant)
    k["kpps_smg"], grant = s.grant(k["prov"], "kpps_smg", "kpps", TPS_SEMARANG)
    h.add("grant-kpps_smg", grant)
    h.add("revoke-kpps5", s.revoke(k["kab"], k["kpps5"], "device lost"))

    # TPS: counted, attested by both saksi and the PTPS, one objection (saksi 2),
    # answered by the PPK's correction, which both saksi then attest.
    a = h.add("A", s.count(k["kpps"], BUPATI, TPS, tally((120, 60), invalid=5)))
    h.add("A-saksi1", s.attest(k["saksi1"], BUPATI, TPS, a.hash))
    h.add(
        "A-object",
        s.attest(k["saksi2"], BUPATI, TPS, a.hash, "object", "C.Hasil photo shows 58 for pair 2"),
    )
    h.add("A-ptps", s.attest(k["ptps"], BUPATI, TPS, a.hash))
    h.checkpoint_size = world.ledger.log_store.log_size()
    note = TransparencyLog(world.ledger).issue_checkpoint(s.log_signer)
    assert open_checkpoint(note, s.log_signer.verifier).size == h.checkpoint_size
    fix = h.add(
        "A-fix",
        s.correct(
            k["ppk"],
            BUPATI,
            TPS,
            a.hash,
            "recount at PPK",
            tally((120, 58), invalid=7),
            answers=[h.env["A-object"].hash],  # version 2: a correction names what it answers
        ),
    )
    h.add("A-fix-saksi1", s.attest(k["saksi1"], BUPATI, TPS, fix.hash))
    h.add("A-fix-saksi2", s.attest(k["saksi2"], BUPATI, TPS, fix.hash))
    # The same kpps at the same TPS for the gubernur contest.
    h.add("G1", s.count(k["kpps"], GUBERNUR, TPS, tally((150, 100), invalid=3)))

    # TPS2: the kpps counts twice, differently (equivocation); the PPK corrects
    # the second count and nobody attests the correction.
    h.add("B", s.count(k["kpps2"], BUPATI, TPS2, tally((100, 90), invalid=4)))
    b2 = h.add("B2", s.count(k["kpps2"], BUPATI, TPS2, tally((100, 95), invalid=4)))
    h.add(
        "B-fix",
        s.correct(k["ppk"], BUPATI, TPS2, b2.hash, "C.Hasil plano recount", tally((100, 94), 4)),
    )

    # TPS3: the panwas objects; a recap decision answers it.
    c = h.add("C", s.count(k["kpps3"], BUPATI, TPS3, tally((50, 70), invalid=2)))
    h.add(
        "C-object",
        s.attest(k["panwas"], BUPATI, TPS3, c.hash, "object", "KPPS signatures missing"),
    )
    # TPS4: more disabled voters than registered; the panwas objects, nobody answers.
    e = h.add("E", s.count(k["kpps4"], BUPATI, TPS4, tally((10, 20), invalid=0, disabled_voted=4)))
    h.add(
        "E-object",
        s.attest(k["panwas"], BUPATI, TPS4, e.hash, "object", "ballot box seal broken"),
    )
    # TPS_ELSEWHERE: valid does not match the votes (arithmetic).
    h.add("D", s.count(k["kpps_elsewhere"], BUPATI, TPS_ELSEWHERE, tally((30, 40), 1, valid=75)))
    # Semarang, gubernur only.
    h.add("G2", s.count(k["kpps_smg"], GUBERNUR, TPS_SEMARANG, tally((80, 120), invalid=6)))

    # The kecamatan recap: TPS at its head, TPS2 at its second count (stale: the
    # correction is its head), TPS3 at its head; TPS4 left out. It dismisses the
    # objection at TPS3. Its stated totals are the sums of what it names.
    tps_stream, tps2_stream, tps3_stream = (sheet_stream(BUPATI, t) for t in (TPS, TPS2, TPS3))
    h.add(
        "R-kec",
        s.recap(
            k["ppk"],
            BUPATI,
            KECAMATAN,
            [
                (tps_stream, s.head(tps_stream)),
                (tps2_stream, b2.hash),
                (tps3_stream, s.head(tps3_stream)),
            ],
            {"1": 270, "2": 223},
            493,
            13,
            506,
            decisions=[
                {
                    "objection": h.env["C-object"].hash,
                    "ruling": "dismissed",
                    "reason": "signatures present on the C.Hasil plano",
                }
            ],
        ),
    )
    # The kabkota recap sums the kecamatan recap, but states 10 more votes for
    # pair 1 (recap-mismatch).
    h.add(
        "R-kab",
        s.recap(
            k["kab"],
            BUPATI,
            KABKOTA_CODE,
            [(f"recap:{BUPATI}:{KECAMATAN}", h.env["R-kec"].hash)],
            {"1": 280, "2": 223},
            503,
            13,
            516,
        ),
    )
    if after is not None:
        after(h)
    return h


def imported_history(s: Scenario) -> list[Envelope]:
    """An imported history the ledger would refuse: a kpps counts another TPS.

    Signed directly with the Scenario (bypassing Ledger.append), so the fold
    sees statements the ledger's authority check never let through.
    """
    envelopes = [
        s.define_election("Pilkada Serentak 2024"),
        s.define_contest("bupati", "33.16", "Bupati Blora", ["Arief - Sri", "Abu - Andika"]),
    ]
    kab, grant = s.grant(s.kpu, "kpu-kab-blora", "kpu-kab", "33.16")
    envelopes.append(grant)
    kpps, grant = s.grant(kab, "kpps", "kpps", TPS)
    envelopes.append(grant)
    _, grant = s.grant(kab, "kpps2", "kpps", TPS2)
    envelopes.append(grant)
    ppk, grant = s.grant(kab, "ppk-blora", "ppk", KECAMATAN)
    envelopes.append(grant)
    envelopes.append(s.count(kpps, BUPATI, TPS, tally((120, 60), invalid=5)))
    envelopes.append(s.count(kpps, BUPATI, TPS2, tally((1, 2), invalid=0)))  # not its TPS
    stranger = s.key("stranger")  # never granted
    envelopes.append(s.count(stranger, BUPATI, TPS_ELSEWHERE, tally((7, 8), invalid=0)))
    # A recap naming TPS at a hash that is no event of it (unknown-input), and TPS2
    # (the out-of-scope count) at its head; its totals are exactly TPS2's.
    tps2 = sheet_stream(BUPATI, TPS2)
    envelopes.append(
        s.recap(
            ppk,
            BUPATI,
            KECAMATAN,
            [(sheet_stream(BUPATI, TPS), bytes(32)), (tps2, s.head(tps2))],
            {"1": 1, "2": 2},
            3,
            0,
            3,
        )
    )
    return envelopes
