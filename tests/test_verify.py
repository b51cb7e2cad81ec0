"""The offline verifier, dossiers and Bawaslu's reports, and the tamper suite.

One world (tests/world.py) with counts, attestations, an objection answered by a
correction and one left standing, a revoked key, recaps, three checkpoints (the
first two cosigned by a witness) is exported once. The export verifies; then
every tamper case must make verification fail while naming the exact event
(leaf, stream, seq, hash) or checkpoint it concerns.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import sqlite3
import struct
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.checks.dossier import verify_dossier
from ledger.checks.report import RegionStore, bawaslu_report, verify_statement
from ledger.checks.verify import Failure, TrustPolicy, VerifyReport, verify_export
from ledger.cli import main
from ledger.errors import (
    LedgerError,
    SchemaError,
    UnknownEventError,
    UnwitnessedError,
)
from ledger.format import canonical, merkle
from ledger.format.dossier import DOSSIER_FORMAT, DOSSIER_FORMAT_V1
from ledger.format.exportfile import MAGIC, read_records
from ledger.format.note import (
    Checkpoint,
    Note,
    NoteSigner,
    Signature,
    Verifier,
    cosign,
    parse_note,
    sign_note,
)
from ledger.format.policy import parse_policy, policy_text
from ledger.format.regions import KECAMATAN as KECAMATAN_LEVEL
from ledger.format.regions import sheet_stream
from ledger.format.statement import Envelope, key_id
from ledger.format.tlog_wire import TlogProofFile
from ledger.format.trust import TrustRoots, trust_to_json
from ledger.log.dossier import build_dossier
from ledger.log.export import export_ledger
from ledger.log.proofs import Receipt
from ledger.log.tlog import TransparencyLog
from ledger.log.tlog_proof import verify_tlog_proof
from ledger.log.witness import Witness
from ledger.pilkada.scenario import Scenario
from ledger.store.application import Ledger
from ledger.store.domain import stream_uuid
from projections import views
from projections.fold import Projector
from projections.recorder import replay
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
    unwitnessed_policy,
    witnessed_policy,
)

TPS3 = "33.16.09.2001/003"
NOW = 1_732_700_000
SHEET = sheet_stream(BUPATI, TPS)


# --- the world -------------------------------------------------------------------------


@dataclass
class Scene:
    world: World
    url: str
    export: bytes
    policy: TrustPolicy
    witness: Verifier
    sizes: list[int]  # checkpoint sizes, in order (the last one not cosigned)
    marks: dict[str, Envelope]  # named events
    receipt: Receipt

    @property
    def s(self) -> Scenario:
        return self.world.scenario

    @property
    def ledger(self) -> Ledger:
        return self.world.ledger

    def leaf(self, name: str) -> int:
        row = self.ledger.log_store.leaf_by_hash(self.marks[name].hash)
        assert row is not None
        return row.leaf_index


def _populate(w: World, witness_dir: Path) -> tuple[list[int], dict[str, Envelope], Receipt]:
    s, k = w.scenario, w.keys
    log = TransparencyLog(w.ledger)
    vkey = log.log_verifier
    witness = Witness(s.witness_signer, witness_dir, {s.origin: vkey})
    wkey = s.witness_signer.verifier
    marks: dict[str, Envelope] = {}

    def add(name: str, envelope: Envelope) -> Envelope:
        marks[name] = envelope
        w.append(envelope)
        return envelope

    def checkpoint(cosign: bool) -> int:
        previous = log.latest_checkpoint()
        note = log.issue_checkpoint(s.log_signer)
        size = Checkpoint.parse(parse_note(note).text).size
        if cosign:
            old = 0 if previous is None else Checkpoint.parse(parse_note(previous).text).size
            proof = log.consistency_proof(old, size).hashes if old else []
            witness.cosign(note, proof, now=NOW + size)
            state = witness.state(s.origin)
            assert state is not None
            log.add_cosignatures(state.note, [wkey])
        return size

    sizes = []
    a = add("A", s.count(k["kpps"], BUPATI, TPS, tally((120, 60), invalid=5)))
    add("A-saksi1", s.attest(k["saksi1"], BUPATI, TPS, a.hash))
    objection = s.attest(k["saksi2"], BUPATI, TPS, a.hash, "object", "C.Hasil photo: 58 for 2")
    add("A-object", objection)
    add("A-ptps", s.attest(k["ptps"], BUPATI, TPS, a.hash))
    sizes.append(checkpoint(cosign=True))
    fix = add(
        "A-fix",
        s.correct(
            k["ppk"], BUPATI, TPS, a.hash, "recount at PPK", tally((120, 58), 7), [objection.hash]
        ),
    )
    add("A-fix-saksi1", s.attest(k["saksi1"], BUPATI, TPS, fix.hash))
    add("A-fix-saksi2", s.attest(k["saksi2"], BUPATI, TPS, fix.hash))
    b = add("B", s.count(k["kpps2"], BUPATI, TPS2, tally((100, 90), invalid=4)))
    add("B-object", s.attest(k["panwas"], BUPATI, TPS2, b.hash, "object", "seal broken"))
    add("D", s.count(k["kpps_elsewhere"], BUPATI, TPS_ELSEWHERE, tally((30, 40), invalid=1)))
    add("G", s.count(k["kpps"], GUBERNUR, TPS, tally((150, 100), invalid=3)))
    k["kpps3"], grant = s.grant(k["kab"], "kpps3", "kpps", TPS3)
    add("grant-kpps3", grant)
    c = add("C", s.count(k["kpps3"], BUPATI, TPS3, tally((50, 70), invalid=2)))
    add("revoke-kpps3", s.revoke(k["kab"], k["kpps3"], "device lost"))
    streams = [sheet_stream(BUPATI, t) for t in (TPS, TPS2, TPS3)]
    add(
        "R-kec",
        s.recap(
            k["ppk"],
            BUPATI,
            KECAMATAN,
            [(st, s.head(st)) for st in streams],
            {"1": 270, "2": 218},
            488,
            13,
            501,
        ),
    )
    rkec = "recap:bupati-33.16:33.16.09"
    add(
        "R-kab",
        s.recap(
            k["kab"], BUPATI, "33.16", [(rkec, s.head(rkec))], {"1": 270, "2": 218}, 488, 13, 501
        ),
    )
    sizes.append(checkpoint(cosign=True))
    last = add("A-ptps-again", s.attest(k["ptps"], BUPATI, TPS, fix.hash))
    sizes.append(checkpoint(cosign=False))
    accepted = w.ledger.append(c.raw)  # a duplicate: returns its leaf
    receipt = log.receipt(accepted, s.log_signer)
    assert last.hash
    return sizes, marks, receipt


def _export(ledger: Ledger) -> bytes:
    out = io.BytesIO()
    export_ledger(ledger, out)
    return out.getvalue()


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    base = tmp_path_factory.mktemp("verify")
    url = f"sqlite:{base / 'ledger.db'}"
    world = build_world(url)
    (base / "witness").mkdir()
    sizes, marks, receipt = _populate(world, base / "witness")
    wkey = world.scenario.witness_signer.verifier
    policy = witnessed_policy(world.ledger.trust, wkey)
    yield Scene(world, url, _export(world.ledger), policy, wkey, sizes, marks, receipt)
    world.ledger.close()


# --- export surgery ----------------------------------------------------------------------


def records(data: bytes) -> list[dict[str, Any]]:
    return list(read_records(io.BytesIO(data)))


def encode(recs: list[dict[str, Any]]) -> bytes:
    out = bytearray(MAGIC)
    for record in recs:
        data = canonical.encode(record)
        out += struct.pack(">I", len(data)) + data
    return bytes(out)


def _size(note: bytes) -> int:
    return Checkpoint.parse(parse_note(note).text).size


def rebuild(recs: list[dict[str, Any]], *, resign: NoteSigner | None = None) -> bytes:
    """A self-consistent export of ``recs``' events: leaves renumbered, counts fixed.

    Without ``resign`` the original checkpoint notes are kept and placed where
    their size says (after the event completing it; any larger ones at the end).
    With it, each checkpoint keeps its place among the records and is signed
    afresh over the events before it.
    """
    header = recs[0]
    body = [r for r in recs[1:] if r["type"] != "end"]
    out: list[dict[str, Any]] = [header]
    tree = merkle.CompactRange()
    events = 0
    if resign is not None:
        for record in body:
            if record["type"] == "event":
                out.append({"type": "event", "leaf": events, "envelope": record["envelope"]})
                tree.append(merkle.leaf_hash(record["envelope"]))
                events += 1
            else:
                text = Checkpoint(resign.name, tree.size, tree.root()).to_text()
                out.append({"type": "checkpoint", "note": sign_note(text, [resign])})
    else:
        envelopes = [r["envelope"] for r in body if r["type"] == "event"]
        notes = sorted((r["note"] for r in body if r["type"] == "checkpoint"), key=_size)
        pending = list(notes)
        while pending and _size(pending[0]) == 0:
            out.append({"type": "checkpoint", "note": pending.pop(0)})
        for raw in envelopes:
            out.append({"type": "event", "leaf": events, "envelope": raw})
            events += 1
            while pending and _size(pending[0]) == events:
                out.append({"type": "checkpoint", "note": pending.pop(0)})
        out.extend({"type": "checkpoint", "note": note} for note in pending)
    checkpoints = sum(1 for r in out if r["type"] == "checkpoint")
    out.append({"type": "end", "events": events, "checkpoints": checkpoints})
    return encode(out)


def event_index(recs: list[dict[str, Any]], leaf: int) -> int:
    return next(i for i, r in enumerate(recs) if r["type"] == "event" and r["leaf"] == leaf)


def change_vote(raw: bytes) -> bytes:
    """The envelope with pair 1's 120 votes made 121 (still canonical; signature now wrong)."""
    assert raw.count(b"\xa11\x78") == 1
    return raw.replace(b"\xa11\x78", b"\xa11\x79")


@pytest.fixture(autouse=True, params=["workers", "thread"])
def verifier_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every verdict in this file reached both ways: with the per-event work in
    worker processes (_WorkersAhead), and in this process with signatures checked
    on a thread (_SignaturesAhead; ``parallel=False`` runs everything in line)."""
    from ledger.checks import verify as verifier

    monkeypatch.setattr(verifier, "WORKERS", 2 if request.param == "workers" else 0)
    return str(request.param)


def verify(data: bytes, policy: TrustPolicy, *, tail: bool = True) -> VerifyReport:
    """The verdict on ``data``; the scene's last event is an unwitnessed tail,
    accepted unless ``tail`` is false (tests of the rule itself)."""
    return verify_export(io.BytesIO(data), policy, accept_unwitnessed_tail=tail)


def failure(report: VerifyReport, error: str, **where: Any) -> Failure:
    """The one listed failure of class ``error`` at ``where`` (asserts it exists)."""
    assert not report.ok
    listed = report.failures.get(error, [])
    found = [f for f in listed if all(getattr(f, k) == v for k, v in where.items())]
    assert found, f"no {error} at {where}; failures: {_summary(report)}"
    return found[0]


def _summary(report: VerifyReport) -> list[str]:
    return [
        f"{f.error} {f.where()}: {f.message}" for items in report.failures.values() for f in items
    ]


def at(scene: Scene, name: str, raw: bytes | None = None) -> dict[str, Any]:
    """The exact location of a named event (with ``raw``'s hash if it was changed)."""
    envelope = scene.marks[name]
    return {
        "leaf": scene.leaf(name),
        "stream": envelope.statement.stream,
        "seq": envelope.statement.seq,
        "event_hash": hashlib.sha256(raw or envelope.raw).hexdigest(),
    }


def head_before(recs: list[dict[str, Any]], stream: str, index: int) -> tuple[int, bytes]:
    """The (seq, hash) of ``stream``'s last event among ``recs[:index]``."""
    head = (0, bytes(32))
    for record in recs[:index]:
        if record["type"] == "event":
            envelope = Envelope.parse(record["envelope"])
            if envelope.statement.stream == stream:
                head = (envelope.statement.seq, envelope.hash)
    return head


def forged(recs: list[dict[str, Any]], index: int, key: Ed25519PrivateKey, tps: str) -> Envelope:
    """A bupati count at ``tps`` signed by ``key``, chained onto its sheet as it stands
    before ``recs[index]`` (a fresh Scenario: the same keys, its own chain heads)."""
    s = Scenario()
    stream = sheet_stream(BUPATI, tps)
    s.chain.follow(stream, *head_before(recs, stream, index))
    return s.count(key, BUPATI, tps, tally((1, 2)))


# --- the verdict on an honest export -----------------------------------------------------


def test_an_honest_export_verifies_and_its_totals_are_the_projections(scene: Scene) -> None:
    report = verify(scene.export, scene.policy)
    assert report.ok, _summary(report)
    assert report.leaves == scene.ledger.log_store.log_size()
    assert [c["size"] for c in report.checkpoints] == scene.sizes
    witness = scene.witness.name
    assert [c["cosigned_by"] for c in report.checkpoints] == [[witness], [witness], []]
    store = replay(scene.ledger)
    for contest in (BUPATI, GUBERNUR):
        rows = views.totals(store, contest, KECAMATAN_LEVEL)
        verified = report.totals[contest]
        for row in rows:
            if not row["sheets_reported"]:
                continue
            ours = verified["kecamatan"][row["region"]]
            assert ours["votes"] == row["votes"]
            assert (ours["valid"], ours["invalid"], ours["voted"], ours["sheets"]) == (
                row["valid"],
                row["invalid"],
                row["voted"],
                row["sheets_reported"],
            )
        total = verified["total"]
        assert total["sheets"] == sum(r["sheets_reported"] for r in rows)
        for number in total["votes"]:
            assert total["votes"][number] == sum(r["votes"][number] for r in rows)
    # The effective tally of the corrected sheet is the correction's.
    assert report.totals[BUPATI]["kecamatan"][KECAMATAN]["votes"] == {"1": 270, "2": 218}


def test_an_export_verifies_only_against_its_own_trust_roots(scene: Scene) -> None:
    other = Scenario(seed="another election")
    report = verify(scene.export, unwitnessed_policy(other.trust()))
    failure(report, "FormatError", leaf=None)
    failure(report, "UnknownSignerError", leaf=0, stream="election", seq=1)


# --- the tamper suite --------------------------------------------------------------------


def test_1_a_changed_byte_in_an_exported_event_is_named(scene: Scene) -> None:
    recs = records(scene.export)
    i = event_index(recs, scene.leaf("A"))
    changed = change_vote(recs[i]["envelope"])
    recs[i]["envelope"] = changed
    report = verify(encode(recs), scene.policy)
    f = failure(report, "InvalidSignature", **at(scene, "A", changed))
    assert f.where().startswith(f"leaf {scene.leaf('A')} ({SHEET} seq 1,")
    # The rest of that sheet no longer chains; the signed root is not the exported one.
    failure(report, "StaleHeadError", **at(scene, "A-saksi1"))
    failure(report, "RootMismatchError", checkpoint=scene.sizes[0])


def _copy_sqlite(url: str, target: Path) -> str:
    source = sqlite3.connect(url.removeprefix("sqlite:"))
    copy = sqlite3.connect(target)
    with copy:
        source.backup(copy)
    source.close()
    copy.close()
    return f"sqlite:{target}"


def test_2_a_changed_byte_in_a_stored_event_is_named(scene: Scene, tmp_path: Path) -> None:
    ledger = Ledger(_copy_sqlite(scene.url, tmp_path / "copy.db"))
    try:
        store: Any = ledger.log_store
        a = scene.marks["A"]
        key = (stream_uuid(a.statement.election, SHEET).hex, a.statement.seq)
        with store.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                "SELECT state FROM stored_events WHERE originator_id=? AND originator_version=?",
                key,
            )
            (state,) = cursor.fetchone()
            assert bytes(state).count(b"\xa11\x78") == 1
            cursor.execute(
                "UPDATE stored_events SET state=? WHERE originator_id=? AND originator_version=?",
                (bytes(state).replace(b"\xa11\x78", b"\xa11\x79"), *key),
            )
        data = _export(ledger)
    finally:
        ledger.close()
    report = verify(data, scene.policy)
    failure(report, "InvalidSignature", **at(scene, "A", change_vote(a.raw)))
    failure(report, "RootMismatchError", checkpoint=scene.sizes[0])
    failure(report, "RootMismatchError", checkpoint=scene.sizes[-1])


def test_3_a_deleted_event_breaks_its_stream_and_the_signed_root(scene: Scene) -> None:
    recs = records(scene.export)
    del recs[event_index(recs, scene.leaf("A-saksi1"))]
    report = verify(rebuild(recs), scene.policy)
    # The next event of the sheet now sits one leaf earlier and does not chain.
    next_event = {**at(scene, "A-object"), "leaf": scene.leaf("A-object") - 1}
    f = failure(report, "StaleHeadError", **next_event)
    assert "is at seq 1, statement is for seq 3" in f.message
    failure(report, "RootMismatchError", checkpoint=scene.sizes[0])


def test_4_two_swapped_events_are_named(scene: Scene) -> None:
    recs = records(scene.export)
    i, j = (event_index(recs, scene.leaf(n)) for n in ("A-saksi1", "A-object"))
    assert j == i + 1
    recs[i]["envelope"], recs[j]["envelope"] = recs[j]["envelope"], recs[i]["envelope"]
    report = verify(encode(recs), scene.policy)
    failure(report, "StaleHeadError", **{**at(scene, "A-object"), "leaf": scene.leaf("A-saksi1")})
    failure(report, "RootMismatchError", checkpoint=scene.sizes[0])


def test_5_a_log_cut_short_is_named(scene: Scene) -> None:
    recs = records(scene.export)
    # The last events (after the second checkpoint) dropped, the file made consistent.
    cut = [r for r in recs if not (r["type"] == "event" and r["leaf"] >= scene.sizes[1])]
    report = verify(rebuild(cut), scene.policy)
    f = failure(report, "CheckpointError", checkpoint=scene.sizes[2])
    assert f"stands after {scene.sizes[1]} events" in f.message
    assert set(report.failure_counts) == {"CheckpointError"}
    # The file itself cut short: no end record.
    data = scene.export
    last = event_index(recs, scene.sizes[1])
    short = encode(recs[:last])
    assert data.startswith(short)
    report = verify(short, scene.policy)
    assert "cut short" in failure(report, "FormatError", leaf=None).message


def test_6_revoked_and_out_of_scope_signers_are_caught_by_authority_alone(scene: Scene) -> None:
    k = scene.world.keys
    for key, tps, after, error in (
        (k["kpps3"], TPS3, "revoke-kpps3", "RevokedKeyError"),
        (k["kpps_elsewhere"], TPS2, "B-object", "OutOfScopeError"),
    ):
        recs = records(scene.export)
        index = event_index(recs, scene.leaf(after)) + 1
        bad = forged(recs, index, key, tps)
        recs.insert(index, {"type": "event", "leaf": -1, "envelope": bad.raw})
        report = verify(rebuild(recs, resign=scene.s.log_signer), scene.policy)
        assert dict(report.failure_counts) == {error: 1}, _summary(report)
        failure(
            report,
            error,
            leaf=scene.leaf(after) + 1,
            stream=sheet_stream(BUPATI, tps),
            seq=bad.statement.seq,
            event_hash=bad.hash.hex(),
        )


def _checkpoint_index(recs: list[dict[str, Any]], size: int) -> int:
    return next(
        i for i, r in enumerate(recs) if r["type"] == "checkpoint" and _size(r["note"]) == size
    )


def test_7_forged_and_resigned_checkpoints_are_named(scene: Scene) -> None:
    size = scene.sizes[0]
    recs = records(scene.export)
    i = _checkpoint_index(recs, size)
    note = parse_note(recs[i]["note"])
    log_sig = note.signatures[0]
    blob = bytearray(log_sig.blob)
    blob[10] ^= 1
    bad = Signature(log_sig.name, log_sig.key_id, bytes(blob))
    recs[i]["note"] = Note(note.text, (bad, *note.signatures[1:])).to_bytes()
    report = verify(encode(recs), scene.policy)
    failure(report, "NoteError", checkpoint=size)

    recs = records(scene.export)
    impostor = NoteSigner(Ed25519PrivateKey.generate(), scene.s.origin)
    recs[i]["note"] = sign_note(note.text, [impostor])
    report = verify(encode(recs), scene.policy)
    failure(report, "UnverifiedNoteError", checkpoint=size)


def test_8_a_log_that_shrank_between_checkpoints_is_named(scene: Scene) -> None:
    recs = records(scene.export)
    smaller = scene.sizes[0] - 2
    leaves = [r["envelope"] for r in recs if r["type"] == "event"][:smaller]
    tree = merkle.CompactRange()
    tree.extend(merkle.leaf_hash(raw) for raw in leaves)
    text = Checkpoint(scene.s.origin, smaller, tree.root()).to_text()
    recs.insert(
        len(recs) - 1, {"type": "checkpoint", "note": sign_note(text, [scene.s.log_signer])}
    )
    recs[-1]["checkpoints"] += 1
    report = verify(encode(recs), scene.policy)
    f = failure(report, "LogShrankError", checkpoint=smaller)
    assert f"from {scene.sizes[-1]} to {smaller}" in f.message


# --- dossiers ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sheet_dossier(scene: Scene) -> bytes:
    return build_dossier(scene.ledger, SHEET, policy=scene.policy.tlog)


@pytest.fixture(scope="module")
def sheet_dossier_v1(scene: Scene) -> bytes:
    """The same dossier in version 1 (envelope and proof apart), which still verifies."""
    return build_dossier(
        scene.ledger, SHEET, policy=scene.policy.tlog, dossier_format=DOSSIER_FORMAT_V1
    )


def test_a_version_2_dossier_carries_each_event_as_a_tlog_proof(
    scene: Scene, sheet_dossier: bytes, sheet_dossier_v1: bytes
) -> None:
    doc, old = json.loads(sheet_dossier), json.loads(sheet_dossier_v1)
    assert (doc["format"], old["format"]) == (DOSSIER_FORMAT, DOSSIER_FORMAT_V1)
    assert doc["checkpoint"] == old["checkpoint"]
    assert [e["leaf"] for e in doc["events"]] == [e["leaf"] for e in old["events"]]
    v1 = verify_dossier(sheet_dossier_v1, scene.policy)
    v2 = verify_dossier(sheet_dossier, scene.policy)
    assert v1.ok and v2.ok, (_summary(v1), _summary(v2))
    assert v2.sheets == v1.sheets and v2.cosigned_by == v1.cosigned_by
    # Each event's tlog-proof, taken out of the dossier, verifies on its own.
    item = _dossier_event(doc, scene.marks["A-fix"])
    shown = verify_tlog_proof(
        item["tlog_proof"].encode(), scene.s.log_signer.verifier, scene.policy.tlog
    )
    assert shown.envelope == scene.marks["A-fix"] and shown.leaf_index == item["leaf"]

    def edit_proof(change: Callable[[TlogProofFile], TlogProofFile]) -> bytes:
        def edit(d: dict[str, Any]) -> None:
            target = _dossier_event(d, scene.marks["A-fix"])
            parsed = TlogProofFile.parse(target["tlog_proof"].encode())
            target["tlog_proof"] = change(parsed).to_bytes().decode()

        return _edit(sheet_dossier, edit)

    leaf = scene.leaf("A-fix")
    flipped = edit_proof(lambda t: dataclasses.replace(t, proof=(bytes(32), *t.proof[1:])))
    failure(verify_dossier(flipped, scene.policy), "InclusionProofError", leaf=leaf)
    moved = edit_proof(lambda t: dataclasses.replace(t, index=t.index + 1))
    assert "not " in failure(verify_dossier(moved, scene.policy), "FormatError", leaf=leaf).message
    note = parse_note(doc["checkpoint"].encode())
    other = Note(note.text, note.signatures[:1]).to_bytes()  # the log's signature alone
    swapped = edit_proof(lambda t: dataclasses.replace(t, checkpoint=other))
    failure(verify_dossier(swapped, scene.policy), "FormatError", leaf=leaf)
    bare = edit_proof(lambda t: dataclasses.replace(t, extra=None))
    failure(verify_dossier(bare, scene.policy), "FormatError", leaf=leaf)


def test_a_sheet_dossier_is_proved_against_the_latest_cosigned_checkpoint(
    scene: Scene, sheet_dossier: bytes
) -> None:
    doc = json.loads(sheet_dossier)
    assert doc["subject"] == SHEET
    assert _size(doc["checkpoint"].encode()) == scene.sizes[1]  # not the uncosigned latest
    streams = {e["stream"] for e in doc["events"]}
    k = scene.world.keys
    signers = ("kpps", "saksi1", "saksi2", "paslon1", "paslon2", "ptps", "ppk", "kab")
    assert streams == {"election", SHEET} | {
        f"key:{hashlib.sha256(k[n].public_key().public_bytes_raw()).hexdigest()}" for n in signers
    }
    report = verify_dossier(sheet_dossier, scene.policy)
    assert report.ok, _summary(report)
    assert report.cosigned_by == [scene.witness.name]
    (sheet,) = report.sheets
    assert sheet["effective"]["votes"] == {"1": 120, "2": 58}
    assert sheet["effective"]["hash"] == scene.marks["A-fix"].hash.hex()
    assert sheet["corrected"]
    assert [a["verdict"] for a in sheet["attestations"]] == ["agree", "object"] + ["agree"] * 3
    # The latest checkpoint when no witness is asked for.
    plain = build_dossier(scene.ledger, SHEET, policy=None)
    assert _size(json.loads(plain)["checkpoint"].encode()) == scene.sizes[2]
    report = verify_dossier(plain, unwitnessed_policy(scene.policy.roots))
    assert report.ok and report.quorum_none
    # ... which a policy naming the witness does not accept.
    report = verify_dossier(plain, scene.policy)
    failure(report, "UnwitnessedError", checkpoint=scene.sizes[2])


def test_a_contest_dossier_gives_totals_and_the_article_158_margin(scene: Scene) -> None:
    data = build_dossier(scene.ledger, BUPATI, policy=scene.policy.tlog)
    report = verify_dossier(data, scene.policy, population=800_000)
    assert report.ok, _summary(report)
    exported = verify(scene.export, scene.policy)
    # The export's last event (after the cosigned checkpoint) only adds an attestation.
    assert report.totals[BUPATI] == exported.totals[BUPATI]
    assert {s["tps"] for s in report.sheets} == {TPS, TPS2, TPS3, TPS_ELSEWHERE}
    assert [r["region"] for r in report.recaps] == ["33.16", KECAMATAN]
    assert report.margin is not None
    total = report.totals[BUPATI]["total"]
    assert report.margin.first == ("1", total["votes"]["1"])
    assert report.margin.valid == total["valid"]
    assert not report.margin.within_threshold  # 1% of ~560 votes is ~5
    assert "158(2)" in report.margin.describe()


def test_no_dossier_without_a_cosigned_checkpoint_or_for_an_unknown_subject(scene: Scene) -> None:
    stranger = NoteSigner.generate("stranger.example/w", 0x04).verifier
    with pytest.raises(UnwitnessedError, match="meets the trust policy"):
        build_dossier(scene.ledger, SHEET, policy=witnessed_policy(scene.s.trust(), stranger).tlog)
    with pytest.raises(UnknownEventError):
        build_dossier(scene.ledger, sheet_stream(BUPATI, "33.16.09.2001/099"))
    with pytest.raises(SchemaError):
        build_dossier(scene.ledger, "recap:bupati-33.16:33.16.09")


def _edit(data: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    doc = json.loads(data)
    change(doc)
    return json.dumps(doc).encode()


def _dossier_event(doc: dict[str, Any], envelope: Envelope) -> dict[str, Any]:
    return next(e for e in doc["events"] if e["event_hash"] == envelope.hash.hex())


def test_9_a_dossier_proof_that_misses_its_checkpoint_is_named(
    scene: Scene, sheet_dossier_v1: bytes
) -> None:
    sheet_dossier = sheet_dossier_v1  # the version 1 fields: envelope and proof apart

    def flip(doc: dict[str, Any]) -> None:
        proof = _dossier_event(doc, scene.marks["A-ptps"])["proof"]
        proof[1] = ("0" if proof[1][0] != "0" else "1") + proof[1][1:]

    report = verify_dossier(_edit(sheet_dossier, flip), scene.policy)
    assert set(report.failure_counts) == {"InclusionProofError"}
    failure(report, "InclusionProofError", **at(scene, "A-ptps"))

    def swap(doc: dict[str, Any]) -> None:  # the saksi's agreement replaced by the correction
        item = _dossier_event(doc, scene.marks["A-saksi1"])
        other = scene.marks["A-fix"]
        item.update(
            envelope=base64.b64encode(other.raw).decode(),
            event_hash=other.hash.hex(),
            seq=other.statement.seq,
        )

    report = verify_dossier(_edit(sheet_dossier, swap), scene.policy)
    failure(
        report,
        "InclusionProofError",
        leaf=scene.leaf("A-saksi1"),
        stream=SHEET,
        event_hash=scene.marks["A-fix"].hash.hex(),
    )
    assert "StaleHeadError" in report.failure_counts


def test_a_dossier_with_a_foreign_stream_or_other_roots_fails(
    scene: Scene, sheet_dossier: bytes
) -> None:
    contest = json.loads(build_dossier(scene.ledger, BUPATI, policy=scene.policy.tlog))
    foreign = _dossier_event(contest, scene.marks["B"])  # proved against the same checkpoint

    def smuggle(doc: dict[str, Any]) -> None:
        doc["events"] = sorted([*doc["events"], foreign], key=lambda e: e["leaf"])

    report = verify_dossier(_edit(sheet_dossier, smuggle), scene.policy)
    f = failure(report, "FormatError", **at(scene, "B"))
    assert f"is not part of {SHEET}" in f.message
    assert "InclusionProofError" not in report.failure_counts

    roots = scene.policy.roots
    swapped = TrustRoots(
        roots.election, roots.bawaslu_root, roots.kpu_root, roots.log_vkey, roots.origin
    )
    report = verify_dossier(sheet_dossier, witnessed_policy(swapped, scene.witness))
    assert "trust roots" in failure(report, "FormatError", leaf=None).message
    report = verify_dossier(b"{}", scene.policy)
    assert not report.ok and report.failures["FormatError"][0].leaf is None


# --- Bawaslu's report, statements, receipts ------------------------------------------------


def test_the_bawaslu_report_of_a_kecamatan(scene: Scene) -> None:
    report = bawaslu_report(
        io.BytesIO(scene.export), scene.policy, KECAMATAN, accept_unwitnessed_tail=True
    )
    assert report["verification"]["ok"]
    assert report["verification"]["unwitnessed_tail"] == 1
    assert report["verification"]["checkpoint"]["size"] == scene.sizes[-1]
    bupati = [sheet_stream(BUPATI, t) for t in (TPS, TPS2, TPS3)]
    gubernur = sheet_stream(GUBERNUR, TPS)
    assert report["sheets"] == {"total": 4, "counted": 4}
    assert [r["stream"] for r in report["without_ptps"]] == sorted([*bupati[1:], gubernur])
    assert {r["stream"]: r["missing_pairs"] for r in report["without_saksi"]} == {
        bupati[1]: [1, 2],  # only the panwas looked at it
        bupati[2]: [1, 2],
        gubernur: [1, 2],  # no paslon has saksi in the gubernur contest
    }
    assert {r["stream"]: r["missing_pairs"] for r in report["missing_pairs"]} == {
        bupati[1]: [1, 2],
        bupati[2]: [1, 2],
        gubernur: [1, 2],
    }
    (objection,) = report["standing_objections"]  # the one at TPS was answered
    assert objection["stream"] == bupati[1]
    assert objection["objection"] == scene.marks["B-object"].hash.hex()
    assert (objection["role"], objection["reason"]) == ("panwaslu-kec", "seal broken")
    by_label = {s["label"]: s for s in report["signers"]}
    assert by_label["kpps"]["statements"] == {"count": 2}
    assert by_label["kpps3"]["revoked"] and by_label["kpps3"]["statements"] == {"count": 1}
    assert by_label["saksi2"]["statements"] == {"attest": 2}
    assert "kpps_elsewhere" not in by_label  # its TPS is in another kecamatan
    assert by_label["kpu-kab-blora"]["statements"] == {"grant": 4, "revoke": 1}
    assert report["findings"] == {"missing-sheet": 2, "unanswered-objection": 1}


def test_the_region_store_keeps_only_the_regions_rows(scene: Scene) -> None:
    store = RegionStore(KECAMATAN)
    projector = Projector(scene.policy.roots, store)
    for leaf, raw in scene.ledger.log_entries():
        projector.apply(leaf.leaf_index, raw)
    assert store.position == scene.ledger.log_store.log_size()
    rows = store.events()
    assert rows and all(r["place"].startswith(KECAMATAN) for r in rows)
    assert store.get("sheet", sheet_stream(BUPATI, TPS_ELSEWHERE)) is None
    assert store.get("sheet", SHEET) is not None
    keys = {s["label"] for s in store.scan("signer")}
    assert "kpps_elsewhere" not in keys  # its scope lies outside the kecamatan
    assert {"kpps", "ppk-blora", "kpu-kab-blora", "paslon1", "saksi1"} <= keys


def test_verify_statement_raw_base64_and_with_a_chain(scene: Scene, sheet_dossier: bytes) -> None:
    policy = scene.policy
    a = scene.marks["A"]
    # A root's statement needs no chain.
    election = scene.ledger.stream("election")[0]
    assert verify_statement(election.raw, policy).ok
    # A kpps's needs its grant chain.
    result = verify_statement(a.raw, policy)
    assert not result.ok and result.failures[0][0] == "UnknownSignerError"
    for data in (a.raw, base64.b64encode(a.raw), base64.urlsafe_b64encode(a.raw).rstrip(b"=")):
        result = verify_statement(data, policy, chain=sheet_dossier)
        assert result.ok, result.failures
        assert result.leaf == scene.leaf("A") and result.chain == "dossier"
    # A statement the ledger never saw: signature, schema, authority from the export's chain.
    recs = records(scene.export)
    fresh = forged(recs, len(recs), scene.world.keys["kpps2"], TPS2)
    result = verify_statement(fresh.raw, policy, chain=scene.export)
    assert result.ok and result.leaf is None and result.chain == "export"
    assert result.unchecked
    revoked = forged(recs, len(recs), scene.world.keys["kpps3"], TPS3)
    result = verify_statement(revoked.raw, policy, chain=scene.export)
    assert [name for name, _ in result.failures] == ["RevokedKeyError"]
    result = verify_statement(change_vote(a.raw), policy, chain=scene.export)
    assert [name for name, _ in result.failures] == ["InvalidSignature"]
    result = verify_statement(b"not an envelope!", policy)
    assert [name for name, _ in result.failures] == ["FormatError"]


def test_a_receipt_opens_with_the_trusted_log_key_only(scene: Scene) -> None:
    log = Verifier.parse(scene.policy.roots.log_vkey)
    receipt = Receipt.open(scene.receipt.note, log)
    assert receipt.event_hash == scene.marks["C"].hash
    impostor = NoteSigner(Ed25519PrivateKey.generate(), scene.s.origin)
    with pytest.raises(LedgerError):
        Receipt.open(sign_note(parse_note(scene.receipt.note).text, [impostor]), log)


# --- the command line --------------------------------------------------------------------


@pytest.fixture(scope="module")
def home(scene: Scene, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("home")
    db = scene.url.removeprefix("sqlite:")
    (path / "ledger.toml").write_text(
        f'database = "sqlite:{db}"\nelection = "{scene.s.election}"\n'
    )
    policy = policy_text(scene.policy.roots.log_vkey, [scene.witness.vkey])
    (path / "trust.json").write_text(trust_to_json(scene.policy.roots, policy=policy))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_export_and_verify(
    scene: Scene, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "ledger.export"
    trust = str(home / "trust.json")
    code, _, err = run(capsys, "export", "-L", str(home), str(export))
    assert code == 0 and "exported" in err
    code, out, _ = run(capsys, "verify", str(export), "--trust", trust)
    assert code == 1, out  # the scene's last event lies after the last witnessed checkpoint
    assert "latest cosigned by no witness of the policy" in out
    assert out.splitlines()[-1].startswith("VERDICT: FAILED - unwitnessed tail: 1 events")
    code, out, _ = run(capsys, "verify", str(export), "--trust", trust, "--accept-unwitnessed-tail")
    assert code == 0, out
    assert f"witnessed: {scene.sizes[1]} of {scene.sizes[2]} events" in out
    assert f"unwitnessed tail: 1 events after checkpoint {scene.sizes[1]}" in out
    assert out.splitlines()[-1].startswith(f"VERDICT: OK up to checkpoint {scene.sizes[1]} - ")
    recs = records(export.read_bytes())
    i = event_index(recs, scene.leaf("A"))
    recs[i]["envelope"] = change_vote(recs[i]["envelope"])
    export.write_bytes(encode(recs))
    code, out, _ = run(capsys, "verify", str(export), "--trust", trust)
    assert code == 1
    assert "VERDICT: FAILED" in out
    assert f"leaf {scene.leaf('A')} ({SHEET} seq 1" in out and "InvalidSignature" in out
    assert f"checkpoint {scene.sizes[0]}: signed root" in out


def test_cli_dossier_and_verify_dossier(
    scene: Scene, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trust = str(home / "trust.json")
    sheet, contest = tmp_path / "sheet.json", tmp_path / "contest.json"
    assert run(capsys, "dossier", SHEET, "-o", str(sheet), "-L", str(home))[0] == 0
    code, out, _ = run(capsys, "verify-dossier", str(sheet), "--trust", trust)
    assert code == 0, out
    assert f"checkpoint: size {scene.sizes[1]}" in out
    assert "pair 1 120, pair 2 58; valid 178" in out and "VERDICT: OK" in out
    assert run(capsys, "dossier", BUPATI, "-o", str(contest), "-L", str(home))[0] == 0
    code, out, _ = run(
        capsys, "verify-dossier", str(contest), "--trust", trust, "--population", "300000"
    )
    assert code == 0, out
    assert "margin: bupati, population 300,000: pair 1" in out
    code, out, _ = run(capsys, "verify-dossier", str(contest), "--trust", trust, "--json")
    assert code == 0 and json.loads(out)["ok"]
    assert json.loads(out)["checkpoint"]["size"] == scene.sizes[1]  # the latest witnessed

    def zero_first_proof_line(d: dict[str, Any]) -> None:
        item = d["events"][-1]
        parsed = TlogProofFile.parse(item["tlog_proof"].encode())
        changed = dataclasses.replace(parsed, proof=(bytes(32), *parsed.proof[1:]))
        item["tlog_proof"] = changed.to_bytes().decode()

    sheet.write_bytes(_edit(sheet.read_bytes(), zero_first_proof_line))
    code, out, _ = run(capsys, "verify-dossier", str(sheet), "--trust", trust)
    assert code == 1 and "InclusionProofError" in out and "VERDICT: FAILED" in out
    code, _, err = run(capsys, "dossier", "nonsense", "-o", str(sheet), "-L", str(home))
    assert code == 1 and err.startswith("ledger: error: ")


def _as_json(value: Any) -> Any:
    """``value`` as the CLI's JSON carries it (tuples become lists, keys strings)."""
    return json.loads(json.dumps(value, ensure_ascii=False))


def test_cli_json_of_verify_report_and_verify_dossier_is_the_librarys(
    scene: Scene,
    home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    sheet_dossier: bytes,
) -> None:
    trust = str(home / "trust.json")
    export = tmp_path / "ledger.export"
    export.write_bytes(scene.export)
    for tail in ((), ("--accept-unwitnessed-tail",)):
        code, out, _ = run(capsys, "verify", str(export), "--trust", trust, "--json", *tail)
        expected = verify(scene.export, scene.policy, tail=bool(tail))
        assert json.loads(out) == _as_json(expected.to_json())
        assert code == (0 if expected.ok else 1) and expected.ok == bool(tail)

    for region in (KECAMATAN, "33.16.01"):
        code, out, _ = run(
            capsys, "report", str(export), "--trust", trust, "--region", region, "--json",
            "--accept-unwitnessed-tail",
        )  # fmt: skip
        expected_report = bawaslu_report(
            io.BytesIO(scene.export), scene.policy, region, accept_unwitnessed_tail=True
        )
        assert code == 0 and json.loads(out) == _as_json(expected_report)
        assert json.loads(out)["region"] == region

    dossier = tmp_path / "sheet.json"
    dossier.write_bytes(sheet_dossier)
    code, out, _ = run(capsys, "verify-dossier", str(dossier), "--trust", trust, "--json")
    expected_dossier = verify_dossier(sheet_dossier, scene.policy)
    assert code == 0 and json.loads(out) == _as_json(expected_dossier.to_json())
    assert json.loads(out)["subject"] == SHEET and json.loads(out)["sheets"]


def test_cli_report_statement_and_receipt(
    scene: Scene,
    home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    sheet_dossier: bytes,
) -> None:
    trust = str(home / "trust.json")
    export = tmp_path / "ledger.export"
    export.write_bytes(scene.export)
    code, out, _ = run(capsys, "report", str(export), "--trust", trust, "--region", KECAMATAN)
    assert code == 1 and "unwitnessed tail: 1 events" in out, out
    code, out, _ = run(
        capsys, "report", str(export), "--trust", trust, "--region", KECAMATAN,
        "--accept-unwitnessed-tail",
    )  # fmt: skip
    assert code == 0, out
    assert "the 1 events after it are NOT witnessed and NOT in this report" in out
    assert "sheets without a PTPS attestation: 3" in out
    assert "standing objections (unanswered): 1" in out and "seal broken" in out
    code, out, _ = run(
        capsys, "report", str(export), "--trust", trust, "--region", "33.16.01", "--json",
        "--accept-unwitnessed-tail",
    )  # fmt: skip
    assert code == 0 and json.loads(out)["sheets"]["total"] == 1

    envelope = tmp_path / "count.bin"
    envelope.write_bytes(scene.marks["A"].raw)
    dossier = tmp_path / "sheet.json"
    dossier.write_bytes(sheet_dossier)
    code, out, _ = run(
        capsys, "verify-statement", str(envelope), "--trust", trust, "--chain", str(dossier)
    )
    assert code == 0 and "VERDICT: OK" in out, out
    qr = base64.b64encode(scene.marks["A"].raw) + b"\n"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(qr)))
    code, out, _ = run(capsys, "verify-statement", "-", "--trust", trust, "--chain", str(export))
    assert code == 0 and f"at leaf {scene.leaf('A')}" in out
    code, out, _ = run(capsys, "verify-statement", str(envelope), "--trust", trust)
    assert code == 1 and "UnknownSignerError" in out

    receipt = tmp_path / "receipt.txt"
    receipt.write_bytes(scene.receipt.note)
    code, out, _ = run(capsys, "receipt", "verify", str(receipt), "--log", trust)
    assert code == 0 and scene.marks["C"].hash.hex() in out
    receipt.write_bytes(scene.receipt.note.replace(b"receipt v1", b"receipt v2"))
    code, _, err = run(capsys, "receipt", "verify", str(receipt), "--log", trust)
    assert code == 1 and err.startswith("ledger: error: ")


# --- PostgreSQL ----------------------------------------------------------------------------


@pytest.mark.postgres
def test_a_postgresql_ledger_exports_and_verifies(postgres_url: str, tmp_path: Path) -> None:
    world = build_world(postgres_url)
    try:
        s, k = world.scenario, world.keys
        a = s.count(k["kpps"], BUPATI, TPS, tally((120, 60)))
        world.append(a, s.attest(k["saksi1"], BUPATI, TPS, a.hash))
        TransparencyLog(world.ledger).issue_checkpoint(s.log_signer)
        world.append(s.count(k["kpps2"], BUPATI, TPS2, tally((10, 20))))
        TransparencyLog(world.ledger).issue_checkpoint(s.log_signer)
        data = _export(world.ledger)
        report = verify(data, unwitnessed_policy(world.ledger.trust), tail=False)
        assert report.ok, _summary(report)
        assert report.leaves == world.ledger.log_store.log_size()
        store = replay(world.ledger)
        (row,) = [r for r in views.totals(store, BUPATI, KECAMATAN_LEVEL) if r["sheets_reported"]]
        total = report.totals[BUPATI]["total"]
        assert total["votes"] == row["votes"] == {"1": 130, "2": 80}
        assert total["sheets"] == row["sheets_reported"] == 2
        dossier = build_dossier(world.ledger, BUPATI)
        assert verify_dossier(dossier, unwitnessed_policy(world.ledger.trust)).ok
    finally:
        world.ledger.close()


def test_an_export_without_its_header_is_named(scene: Scene) -> None:
    recs = records(scene.export)
    report = verify(encode(recs[1:]), scene.policy)
    assert not report.ok
    assert any(
        "does not start with its header" in f.message for f in report.failures["FormatError"]
    )


def test_a_repeated_header_is_named(scene: Scene) -> None:
    recs = records(scene.export)
    report = verify(encode([recs[0], *recs]), scene.policy)
    assert any("second header" in f.message for f in report.failures["FormatError"])


def test_a_repeated_checkpoint_record_is_named(scene: Scene) -> None:
    recs = records(scene.export)
    index = next(i for i, r in enumerate(recs) if r["type"] == "checkpoint")
    report = verify(encode([*recs[: index + 1], recs[index], *recs[index + 1 :]]), scene.policy)
    assert any("second checkpoint record" in f.message for f in report.failures["FormatError"])


def test_a_forged_checkpoint_is_one_failure_not_also_a_miscounted_end(scene: Scene) -> None:
    recs = records(scene.export)
    index = next(i for i, r in enumerate(recs) if r["type"] == "checkpoint")
    note = bytearray(recs[index]["note"])
    note[-10] ^= 1  # inside the log's signature line
    recs[index] = {**recs[index], "note": bytes(note)}
    report = verify(encode(recs), scene.policy)
    assert not report.ok
    assert all("end record" not in f.message for f in report.failures.get("FormatError", []))


@pytest.mark.parametrize("chunk", [1, 3, 1024])
def test_checking_signatures_ahead_gives_the_same_report(
    scene: Scene, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The thread that checks signatures a chunk ahead changes speed, not verdicts."""
    from ledger.checks import verify as verifier

    monkeypatch.setattr(verifier._SignaturesAhead, "CHUNK", chunk)
    recs = records(scene.export)
    index = event_index(recs, 3)
    raw = bytearray(recs[index]["envelope"])
    raw[20] ^= 1  # inside the signature: the grant at leaf 3 no longer verifies
    tampered = [*recs[:index], {**recs[index], "envelope": bytes(raw)}, *recs[index + 1 :]]
    for data in (scene.export, encode(tampered)):
        reports = [
            verify_export(
                io.BytesIO(data), scene.policy, parallel=parallel, accept_unwitnessed_tail=True
            ).to_json()
            for parallel in (False, True)
        ]
        assert reports[0] == reports[1]
    assert not verify_export(io.BytesIO(encode(tampered)), scene.policy).ok


@pytest.mark.parametrize("chunk", [1, 3])
def test_the_workers_give_the_same_report_whatever_their_chunks(
    scene: Scene, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks of one and three events: grants and their first use in different
    chunks and workers, so some signatures are left to the replay in line."""
    from ledger.checks import verify as verifier

    monkeypatch.setattr(verifier._WorkersAhead, "CHUNK", chunk)
    monkeypatch.setattr(verifier, "WORKERS", 2)
    recs = records(scene.export)
    index = event_index(recs, 3)
    raw = bytearray(recs[index]["envelope"])
    raw[20] ^= 1  # inside the signature: the grant at leaf 3 no longer verifies
    broken = bytearray(recs[index + 1]["envelope"])
    broken[0] ^= 0xFF  # not an envelope at all: a FormatError from the worker
    tampered = [
        *recs[:index],
        {**recs[index], "envelope": bytes(raw)},
        {**recs[index + 1], "envelope": bytes(broken)},
        *recs[index + 2 :],
    ]
    for data in (scene.export, encode(tampered)):
        reports = [
            verify_export(
                io.BytesIO(data), scene.policy, parallel=parallel, accept_unwitnessed_tail=True
            ).to_json()
            for parallel in (False, True)
        ]
        assert reports[0] == reports[1]
    failures = verify_export(io.BytesIO(encode(tampered)), scene.policy).failures
    assert "InvalidSignature" in failures and "FormatError" in failures


def test_a_worker_checks_a_signature_only_under_the_key_its_signer_id_names(
    scene: Scene,
) -> None:
    """The key sent with an event is a guess from its bytes (signer_hint): a worker
    uses it only if its SHA-256 is the signer id decoded, else leaves the check to
    the replay (None), never calling a good signature bad."""
    from ledger.checks._workers import _prepare_chunk, signer_hint

    raws = [r["envelope"] for r in records(scene.export) if r["type"] == "event"]
    envelopes = [Envelope.parse(raw) for raw in raws]
    assert [signer_hint(raw) for raw in raws] == [e.statement.signer for e in envelopes]
    assert signer_hint(b"no signer here") is None
    trust = scene.s.trust()
    known = {key_id(k): k for k in (trust.kpu_root, trust.bawaslu_root)} | {
        key_id(e.statement.body["key"]): e.statement.body["key"]
        for e in envelopes
        if e.statement.kind == "grant"
    }
    granted_before = [
        {key_id(e.statement.body["key"]) for e in envelopes[:i] if e.statement.kind == "grant"}
        for i in range(len(envelopes))
    ]
    keys = [known.get(e.statement.signer) for e in envelopes]
    keys[1] = None  # not known when sent, nor granted before it: left to the replay
    assert envelopes[1].statement.signer not in granted_before[1]
    verdicts = [c[3] for c in _prepare_chunk(list(raws), keys) if c is not None]
    assert verdicts == [None if k is None else True for k in keys] and verdicts.count(None) == 1
    # Keys that are not the signers': only those the worker learnt from the chunk's own
    # grants are used, the rest left to the replay.
    wrong = [bytes(range(32))] * len(raws)
    learned: OrderedDict[bytes, bytes] = OrderedDict()
    verdicts = [c[3] for c in _prepare_chunk(list(raws), wrong, learned) if c is not None]
    assert verdicts == [
        True if e.statement.signer in granted_before[i] else None for i, e in enumerate(envelopes)
    ]
    assert True in verdicts and None in verdicts
    assert set(learned) == {
        key_id(e.statement.body["key"]) for e in envelopes if e.statement.kind == "grant"
    }


def test_as_of_a_checkpoint_before_any_sheet_is_not_missing(scene: Scene) -> None:
    recs = records(scene.export)
    first_count = next(
        i
        for i, r in enumerate(recs)
        if r["type"] == "event" and Envelope.parse(r["envelope"]).statement.kind == "count"
    )
    first_checkpoint = next(r for r in recs if r["type"] == "checkpoint")
    # An export whose only checkpoint stands before any sheet: its totals are empty.
    head = [r for r in recs[:first_count] if r["type"] != "checkpoint"]
    cut = rebuild([*head, first_checkpoint, {"type": "end"}], resign=scene.s.log_signer)
    size = sum(1 for r in head if r["type"] == "event")
    report = verify_export(io.BytesIO(cut), unwitnessed_policy(scene.policy.roots), as_of=size)
    assert report.ok, report.failures
    assert report.totals == {}


def test_a_grant_of_a_root_key_is_refused_by_the_verifier_too(scene: Scene) -> None:
    from ledger.format import ed25519
    from ledger.format.regions import key_stream
    from ledger.format.signing import Chainer, grant_body
    from ledger.format.statement import key_id

    s = scene.s
    bawaslu = ed25519.public_bytes(s.bawaslu)
    grant = Chainer(s.election).sign(
        s.kpu, key_stream(key_id(bawaslu)), "grant",
        grant_body(bawaslu, "kpu-kab", "33.16", "a root re-granted"), time=NOW,
    )  # fmt: skip
    recs = records(scene.export)
    body = [r for r in recs if r["type"] != "end"]
    report = verify(rebuild([*body, {"type": "event", "envelope": grant.raw}]), scene.policy)
    (failure,) = report.failures["SchemaError"]
    assert "trust root cannot be granted" in failure.message
    assert failure.event_hash == grant.hash.hex()


# --- the witnessed verdict (issue 10, finding 1): OK only for what the witness saw ---------


def _rewritten(scene: Scene) -> list[dict[str, Any]]:
    """The export without the PPK correction, its attestations and the recaps naming
    that sheet: a different history, every remaining event validly signed."""
    dropped = {
        scene.marks[n].hash
        for n in ("A-fix", "A-fix-saksi1", "A-fix-saksi2", "R-kec", "R-kab", "A-ptps-again")
    }
    return [
        r
        for r in records(scene.export)
        if not (r["type"] == "event" and Envelope.parse(r["envelope"]).hash in dropped)
    ]


def _resigned(recs: list[dict[str, Any]], log: NoteSigner) -> bytes:
    """``recs`` renumbered with fresh checkpoints signed by the log key alone (the
    last two checkpoints now stand at one size: the first of them is kept)."""
    last = max(i for i, r in enumerate(recs) if r["type"] == "checkpoint")
    return rebuild(recs[:last] + recs[last + 1 :], resign=log)


def _strip_witness(note: bytes, witness: Verifier) -> bytes:
    parsed = parse_note(note)
    kept = tuple(s for s in parsed.signatures if s.name != witness.name)
    return Note(parsed.text, kept).to_bytes()


def test_a_rewritten_history_never_verifies_under_a_policy_naming_the_witness(
    scene: Scene,
) -> None:
    recs = _rewritten(scene)
    no_checkpoint = rebuild([r for r in recs if r["type"] != "checkpoint"])  # (a)
    log_signed_only = _resigned(recs, scene.s.log_signer)  # (b)
    first = [r for r in records(scene.export) if r["type"] != "end"]  # (c) tail and checkpoint
    cut = rebuild([r for r in first if r["type"] == "header" or r.get("leaf", 0) < 5])
    stripped = records(scene.export)  # (d) every cosignature line removed
    for r in stripped:
        if r["type"] == "checkpoint":
            r["note"] = _strip_witness(r["note"], scene.witness)
    for data in (no_checkpoint, log_signed_only, cut, encode(stripped)):
        report = verify(data, scene.policy, tail=False)
        assert not report.ok
        assert report.witnessed == 0 and report.tail == report.leaves > 0
        assert "UnwitnessedError" in report.failure_counts, _summary(report)
        assert report.totals == {}  # nothing witnessed: no totals to vouch for
    # Under `quorum none`, written so, the same bytes verify, and say they are unwitnessed.
    unwitnessed = verify(log_signed_only, unwitnessed_policy(scene.policy.roots), tail=False)
    assert unwitnessed.ok and unwitnessed.quorum_none, _summary(unwitnessed)
    assert unwitnessed.tail == 0
    honest = verify(scene.export, scene.policy).totals[BUPATI]["total"]["votes"]
    rewritten = unwitnessed.totals[BUPATI]["total"]["votes"]
    assert rewritten != honest  # what the rewrite was for
    # Accepted as a tail, its totals are only shown apart, as the tail's effect.
    report = verify(log_signed_only, scene.policy, tail=True)
    assert report.ok and report.totals == {}
    assert report.tail_effect[BUPATI]["votes"] == rewritten


def test_a_rewritten_history_fails_on_the_command_line(
    scene: Scene, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "rewritten.export"
    export.write_bytes(_resigned(_rewritten(scene), scene.s.log_signer))
    trust = str(home / "trust.json")
    code, out, _ = run(capsys, "verify", str(export), "--trust", trust)
    assert code == 1 and out.splitlines()[-1].startswith("VERDICT: FAILED - unwitnessed tail")
    code, out, _ = run(capsys, "report", str(export), "--trust", trust, "--region", KECAMATAN)
    assert code == 1 and "export: FAILED verification (1 UnwitnessedError)" in out
    assert "verified OK" not in out
    # `quorum none`, written so: OK, and every verdict says it is not witnessed.
    policy = tmp_path / "none.policy"
    policy.write_text(f"log {scene.policy.roots.log_vkey}\nquorum none\n")
    code, out, _ = run(capsys, "verify", str(export), "--trust", trust, "--policy", str(policy))
    assert code == 0, out
    assert out.splitlines()[-1].endswith("NOT independently witnessed (quorum none)")
    code, out, _ = run(
        capsys, "report", str(export), "--trust", trust, "--policy", str(policy),
        "--region", KECAMATAN,
    )  # fmt: skip
    assert code == 0 and "NOT independently witnessed" in out.splitlines()[0]


def test_a_group_of_two_of_three_witnesses_needs_two_cosignatures(scene: Scene) -> None:
    others = [NoteSigner.generate(f"w{n}.example/witness", 0x04) for n in (2, 3)]
    roots = scene.policy.roots
    text = (
        f"log {roots.log_vkey}\nwitness w1 {scene.witness.vkey}\n"
        + "".join(f"witness w{n} {o.verifier.vkey}\n" for n, o in zip((2, 3), others, strict=True))
        + "group g 2 w1 w2 w3\nquorum g\n"
    )
    policy = TrustPolicy(roots, parse_policy(text))
    report = verify(scene.export, policy, tail=False)  # only w1 ever cosigned
    assert report.witnessed == 0 and "UnwitnessedError" in report.failure_counts
    assert [c["cosigned_by"] for c in report.checkpoints][:2] == [[scene.witness.name]] * 2
    # A second witness of the group cosigns the first checkpoint: it is witnessed now.
    recs = records(scene.export)
    i = _checkpoint_index(recs, scene.sizes[0])
    note = parse_note(recs[i]["note"])
    second = cosign(note.text, NOW, others[0])
    recs[i]["note"] = Note(note.text, (*note.signatures, second)).to_bytes()
    report = verify(encode(recs), policy, tail=True)
    assert report.ok and report.witnessed == scene.sizes[0]
    assert report.checkpoints[0]["cosigned_by"] == [scene.witness.name, others[0].name]
    with pytest.raises(UnwitnessedError, match=r"needs 2 of \("):
        policy.tlog.verify_quorum(records(scene.export)[i]["note"], policy.log)


def test_as_of_must_name_a_witnessed_checkpoint(
    scene: Scene, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "ledger.export"
    export.write_bytes(scene.export)
    trust = str(home / "trust.json")
    base = ("verify", str(export), "--trust", trust, "--accept-unwitnessed-tail")
    for size, message in (
        ("5", "no witnessed checkpoint of that size"),
        (str(scene.sizes[2]), "no witnessed checkpoint of that size"),  # not cosigned
        ("-1", "is not negative"),
    ):
        code, out, err = run(capsys, *base, "--as-of", size)
        assert code == 1 and out == "" and err.count("\n") == 1, err
        assert err.startswith("ledger: error: ") and message in err, err
    code, out, _ = run(capsys, *base, "--as-of", str(scene.sizes[0]))
    assert code == 0 and f"bupati-33.16 as of checkpoint {scene.sizes[0]}: 1 sheets" in out


def test_junk_after_the_end_record_does_not_hide_what_was_read(
    scene: Scene, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finding 5a: the verdict fails, but the report still counts every event read."""
    data = scene.export + b"\x00\x00\x00\x03junk"
    report = verify(data, scene.policy)
    assert set(report.failure_counts) == {"FormatError"}, _summary(report)
    assert report.leaves == scene.ledger.log_store.log_size()
    assert all("end record" not in f.message for f in report.failures["FormatError"])
    assert sum(report.events.values()) == report.leaves
    export = tmp_path / "junk.export"
    export.write_bytes(data)
    trust = str(home / "trust.json")
    args = ("--trust", trust, "--accept-unwitnessed-tail")
    code, out, _ = run(capsys, "verify", str(export), *args)
    assert code == 1 and f"events: {report.leaves} in the log" in out and "cut short" not in out
    code, out, _ = run(capsys, "report", str(export), *args, "--region", KECAMATAN)
    assert code == 1 and "export: FAILED verification (1 FormatError)" in out
    assert "sheets without a PTPS attestation: 3" in out  # the region's data was still read
