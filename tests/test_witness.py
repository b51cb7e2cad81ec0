"""Tests for ledger.witness: the C2SP tlog-witness and cosigned-checkpoint checks."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from ledger.errors import (
    CheckpointError,
    ConfigurationError,
    ConsistencyProofError,
    InconsistentCheckpointError,
    LedgerError,
    LogShrankError,
    NoteError,
    ProofError,
    UnverifiedNoteError,
)
from ledger.format import merkle
from ledger.format.note import (
    SIG_TYPE_COSIGNATURE_V1,
    Checkpoint,
    Note,
    NoteSigner,
    Signature,
    Verifier,
    cosignature_timestamp,
    open_note,
    parse_note,
    sign_note,
)
from ledger.log.witness import (
    STATE_FORMAT,
    CosignedCheckpoint,
    Witness,
    WitnessState,
    open_cosigned,
    state_file_name,
    verify_cosigned,
)

ORIGIN = "pilkada.example/log"
OTHER_ORIGIN = "other.example/log"
T0 = 1_700_000_000


# --- fixtures --------------------------------------------------------------------------


class Log:
    """A test log: a Merkle tree in memory and its checkpoint signer."""

    def __init__(self, origin: str = ORIGIN, name: str | None = None) -> None:
        self.origin = origin
        self.signer = NoteSigner.from_seed(bytes(range(32)), name or origin)
        self.store = merkle.MemoryNodeStore()

    def grow_to(self, size: int) -> None:
        start = self.store.size
        self.store.append_leaf_hashes(
            merkle.leaf_hash(f"{self.origin} entry {i}".encode()) for i in range(start, size)
        )

    def checkpoint(self, size: int | None = None) -> Checkpoint:
        size = self.store.size if size is None else size
        return Checkpoint(self.origin, size, merkle.root(size, self.store))

    def signed(self, size: int | None = None, signer: NoteSigner | None = None) -> bytes:
        return sign_note(self.checkpoint(size).to_text(), [signer or self.signer])

    def proof(self, old: int, new: int | None = None) -> list[bytes]:
        new = self.store.size if new is None else new
        if old == 0:
            return []
        return merkle.consistency_proof(old, new, self.store)


def _witness_signer(name: str = "bawaslu.example/witness", seed: int = 7) -> NoteSigner:
    return NoteSigner.from_seed(bytes([seed]) * 32, name, SIG_TYPE_COSIGNATURE_V1)


@pytest.fixture
def log() -> Log:
    return Log()


@pytest.fixture
def wsigner() -> NoteSigner:
    return _witness_signer()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    d = tmp_path / "witness"
    d.mkdir()
    return d


def _witness(signer: NoteSigner, state_dir: Path, *logs: Log) -> Witness:
    return Witness(signer, state_dir, {lg.origin: lg.signer.verifier for lg in logs})


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.name != "lock"}


def _cosig(line: bytes) -> Signature:
    return Signature.parse_line(line.decode("utf-8"))


# --- happy path ------------------------------------------------------------------------


def test_happy_path_0_5_8_8_and_restart(log: Log, wsigner: NoteSigner, state_dir: Path) -> None:
    w = _witness(wsigner, state_dir, log)
    assert w.state(ORIGIN) is None

    log.grow_to(5)
    line = w.cosign(log.signed(), [], now=T0)
    assert line.startswith("\u2014 bawaslu.example/witness ".encode())
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    st = w.state(ORIGIN)
    assert st is not None
    assert (st.size, st.root_hash, st.timestamp) == (5, log.checkpoint().root_hash, T0)

    log.grow_to(8)
    w.cosign(log.signed(), log.proof(5), now=T0 + 10)
    st = w.state(ORIGIN)
    assert st is not None and st.size == 8

    # Restart: a new Witness object on the same directory keeps the state.
    w2 = _witness(wsigner, state_dir, log)
    st2 = w2.state(ORIGIN)
    assert st2 == st
    # Same size, same root: cosigned again (a fresh timestamp), proof empty.
    line = w2.cosign(log.signed(), [], now=T0 + 20)
    assert cosignature_timestamp(_cosig(line)) == T0 + 20
    st3 = w2.state(ORIGIN)
    assert st3 is not None and (st3.size, st3.timestamp) == (8, T0 + 20)
    # After the restart, smaller sizes are still refused.
    with pytest.raises(LogShrankError):
        _witness(wsigner, state_dir, log).cosign(log.signed(5), [], now=T0 + 30)


def test_cosignature_verifies_over_reencoded_text(
    log: Log, wsigner: NoteSigner, state_dir: Path
) -> None:
    w = _witness(wsigner, state_dir, log)
    log.grow_to(3)
    line = w.cosign(log.signed(), [], now=T0)
    sig = _cosig(line)
    text = log.checkpoint().to_text()
    w.verifier.verify(text.encode(), sig.signature)
    assert sig.key_id == w.verifier.key_id
    assert w.verifier.sig_type == SIG_TYPE_COSIGNATURE_V1
    assert cosignature_timestamp(sig) == T0
    # Appending the line to the log's note gives a note both keys verify.
    received = parse_note(log.signed())
    full = Note(received.text, (*received.signatures, sig)).to_bytes()
    _, verified = open_note(full, [log.signer.verifier, w.verifier])
    assert verified == [log.signer.verifier, w.verifier]
    # The stored note is that full note.
    st = w.state(ORIGIN)
    assert st is not None and st.note == full
    assert st.checkpoint == log.checkpoint()


def test_cosigns_text_it_parsed_not_received_bytes(
    log: Log, wsigner: NoteSigner, state_dir: Path
) -> None:
    # Extension lines are part of the checkpoint and survive re-encoding; foreign
    # signature lines on the received note are not carried into the stored note.
    w = _witness(wsigner, state_dir, log)
    log.grow_to(2)
    cp = Checkpoint(ORIGIN, 2, log.checkpoint().root_hash, ("ext line",))
    stranger = NoteSigner.generate("stranger")
    received = sign_note(cp.to_text(), [stranger, log.signer])
    line = w.cosign(received, [], now=T0)
    w.verifier.verify(cp.to_text().encode(), _cosig(line).signature)
    st = w.state(ORIGIN)
    assert st is not None
    names = [s.name for s in parse_note(st.note).signatures]
    assert names == [ORIGIN, "bawaslu.example/witness"]


def test_first_checkpoint_of_size_zero(log: Log, wsigner: NoteSigner, state_dir: Path) -> None:
    w = _witness(wsigner, state_dir, log)
    w.cosign(log.signed(0), [], now=T0)
    st = w.state(ORIGIN)
    assert st is not None and (st.size, st.root_hash) == (0, merkle.EMPTY_ROOT)
    log.grow_to(4)
    w.cosign(log.signed(), [], now=T0)  # from size 0 no proof is needed
    st = w.state(ORIGIN)
    assert st is not None and st.size == 4


def test_size_zero_with_wrong_root_refused(log: Log, wsigner: NoteSigner, state_dir: Path) -> None:
    w = _witness(wsigner, state_dir, log)
    bad = sign_note(Checkpoint(ORIGIN, 0, b"\x01" * 32).to_text(), [log.signer])
    with pytest.raises(CheckpointError, match="empty-tree root"):
        w.cosign(bad, [], now=T0)
    assert _snapshot(state_dir) == {}


def test_several_logs_have_separate_state(wsigner: NoteSigner, state_dir: Path) -> None:
    a, b = Log(ORIGIN), Log(OTHER_ORIGIN, name="other-key")
    w = _witness(wsigner, state_dir, a, b)
    a.grow_to(6)
    b.grow_to(2)
    w.cosign(a.signed(), [], now=T0)
    w.cosign(b.signed(), [], now=T0)
    sa, sb = w.state(ORIGIN), w.state(OTHER_ORIGIN)
    assert sa is not None and sa.size == 6
    assert sb is not None and sb.size == 2
    assert set(_snapshot(state_dir)) == {state_file_name(ORIGIN), state_file_name(OTHER_ORIGIN)}
    assert w.origins == frozenset({ORIGIN, OTHER_ORIGIN})


def test_state_file_format(log: Log, wsigner: NoteSigner, state_dir: Path) -> None:
    w = _witness(wsigner, state_dir, log)
    log.grow_to(5)
    w.cosign(log.signed(), [], now=T0)
    path = state_dir / state_file_name(ORIGIN)
    assert path.name == __import__("hashlib").sha256(ORIGIN.encode()).hexdigest() + ".json"
    record = json.loads(path.read_text("utf-8"))
    assert record["format"] == STATE_FORMAT
    assert record["origin"] == ORIGIN
    assert record["size"] == 5
    assert base64.b64decode(record["root"]) == log.checkpoint().root_hash
    assert record["timestamp"] == T0
    assert parse_note(record["note"]).text == log.checkpoint().to_text()
    # No temporary files are left behind.
    assert [p.name for p in state_dir.iterdir() if p.name.startswith(".tmp")] == []


# --- refusals --------------------------------------------------------------------------


@pytest.fixture
def at_five(log: Log, wsigner: NoteSigner, state_dir: Path) -> Witness:
    """A witness that has cosigned size 5; the log has grown to 8."""
    w = _witness(wsigner, state_dir, log)
    log.grow_to(5)
    w.cosign(log.signed(), [], now=T0)
    log.grow_to(8)
    return w


def _refused(
    w: Witness,
    state_dir: Path,
    note: bytes,
    proof: list[bytes],
    *,
    error: type[LedgerError],
    match: str | None = None,
) -> pytest.ExceptionInfo[LedgerError]:
    before = _snapshot(state_dir)
    with pytest.raises(error, match=match) as info:
        w.cosign(note, proof, now=T0 + 100)
    assert _snapshot(state_dir) == before, "state changed after a refusal"
    return info


def test_refuses_smaller_size(at_five: Witness, log: Log, state_dir: Path) -> None:
    _refused(
        at_five,
        state_dir,
        log.signed(4),
        [],
        error=LogShrankError,
        match="checkpoint size 4 is smaller than the last witnessed size 5",
    )


def test_refuses_same_size_different_root(at_five: Witness, log: Log, state_dir: Path) -> None:
    fork = Log()
    fork.store.append_leaf_hashes([merkle.leaf_hash(b"forged")] * 5)
    _refused(
        at_five,
        state_dir,
        fork.signed(5),
        [],
        error=InconsistentCheckpointError,
        match="different root",
    )


def test_refuses_same_size_with_proof(at_five: Witness, log: Log, state_dir: Path) -> None:
    _refused(at_five, state_dir, log.signed(5), [b"\x00" * 32], error=InconsistentCheckpointError)


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda p: [p[0][:-1] + bytes([p[0][-1] ^ 1]), *p[1:]], id="flipped-first"),
        pytest.param(lambda p: [*p[:-1], bytes([p[-1][0] ^ 0x80]) + p[-1][1:]], id="flipped-last"),
        pytest.param(lambda p: p[:-1], id="truncated"),
        pytest.param(lambda p: [*p, p[-1]], id="extended"),
        pytest.param(lambda p: [h[:31] for h in p], id="short-hashes"),
        pytest.param(lambda p: [], id="empty"),
        pytest.param(lambda p: list(reversed(p)), id="reordered"),
    ],
)
def test_refuses_bad_consistency_proof(
    at_five: Witness, log: Log, state_dir: Path, mangle: object
) -> None:
    good = log.proof(5, 8)
    assert len(good) >= 2
    bad = mangle(good)  # type: ignore[operator]
    assert bad != good
    info = _refused(at_five, state_dir, log.signed(8), bad, error=InconsistentCheckpointError)
    assert isinstance(info.value.__cause__, ProofError)
    assert "5" in str(info.value) and "8" in str(info.value)
    # The good proof is still accepted afterwards.
    at_five.cosign(log.signed(8), good, now=T0 + 200)


@pytest.mark.parametrize(("old", "new"), [(4, 8), (6, 8), (5, 7), (3, 6)])
def test_refuses_proof_for_wrong_sizes(
    at_five: Witness, log: Log, state_dir: Path, old: int, new: int
) -> None:
    wrong = log.proof(old, new)
    info = _refused(at_five, state_dir, log.signed(8), wrong, error=InconsistentCheckpointError)
    assert isinstance(info.value.__cause__, ProofError)


def test_refuses_non_empty_proof_from_size_zero(
    log: Log, wsigner: NoteSigner, state_dir: Path
) -> None:
    w = _witness(wsigner, state_dir, log)
    log.grow_to(4)
    _refused(
        w, state_dir, log.signed(), log.proof(2), error=InconsistentCheckpointError, match="size 0"
    )
    assert w.state(ORIGIN) is None


def test_refuses_unknown_origin(at_five: Witness, state_dir: Path) -> None:
    stranger = Log(OTHER_ORIGIN)
    stranger.grow_to(3)
    info = _refused(
        at_five, state_dir, stranger.signed(), [], error=CheckpointError, match="unknown"
    )
    assert OTHER_ORIGIN in str(info.value)
    with pytest.raises(CheckpointError):
        at_five.state(OTHER_ORIGIN)


def test_refuses_wrong_key(at_five: Witness, log: Log, state_dir: Path) -> None:
    impostor = NoteSigner.from_seed(b"\x99" * 32, ORIGIN)  # same name, other key
    _refused(at_five, state_dir, log.signed(8, impostor), log.proof(5), error=UnverifiedNoteError)
    other_name = NoteSigner.from_seed(bytes(range(32)), "not-the-log")
    _refused(at_five, state_dir, log.signed(8, other_name), log.proof(5), error=UnverifiedNoteError)


def test_refuses_bad_log_signature(at_five: Witness, log: Log, state_dir: Path) -> None:
    good = parse_note(log.signed(8))
    sig = good.signatures[0]
    blob = sig.blob[:-1] + bytes([sig.blob[-1] ^ 1])
    bad = Note(good.text, (Signature(sig.name, sig.key_id, blob),)).to_bytes()
    info = _refused(at_five, state_dir, bad, log.proof(5), error=NoteError)
    assert not isinstance(info.value, UnverifiedNoteError)
    # A valid signature over other text does not verify either.
    forged = Note(log.checkpoint(7).to_text(), good.signatures).to_bytes()
    _refused(at_five, state_dir, forged, log.proof(5, 7), error=NoteError)


def test_refuses_cosignature_in_place_of_log_signature(
    at_five: Witness, log: Log, state_dir: Path, wsigner: NoteSigner
) -> None:
    # The witness's own cosignature is not a log signature.
    only_cosigned = sign_note(log.checkpoint(8).to_text(), [wsigner], timestamp=T0)
    _refused(at_five, state_dir, only_cosigned, log.proof(5), error=UnverifiedNoteError)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"pilkada.example/log\n8\n", id="no-signatures"),
        pytest.param(b"pilkada.example/log\n8\nAAAA\n\n", id="blank-then-nothing"),
        pytest.param(b"\xff\xfe\n\n\xe2\x80\x94 x AAAAAAA=\n", id="not-utf8"),
        pytest.param(b"pilkada.example/log\n8\n\n\xe2\x80\x94 x !!!\n", id="bad-base64"),
    ],
)
def test_refuses_unsigned_or_malformed_note(at_five: Witness, state_dir: Path, data: bytes) -> None:
    _refused(at_five, state_dir, data, [], error=NoteError)


def test_refuses_log_signed_text_that_is_not_a_checkpoint(
    at_five: Witness, log: Log, state_dir: Path
) -> None:
    for text in (f"{ORIGIN}\n", f"{ORIGIN}\n08\nAAAA\n", f"{ORIGIN}\n8\nnot base64\n"):
        _refused(at_five, state_dir, sign_note(text, [log.signer]), [], error=CheckpointError)


def test_refuses_invalid_timestamp(log: Log, wsigner: NoteSigner, state_dir: Path) -> None:
    w = _witness(wsigner, state_dir, log)
    log.grow_to(2)
    for now in (-1, 2**63):
        with pytest.raises(NoteError):
            w.cosign(log.signed(), [], now=now)
    assert _snapshot(state_dir) == {}


# --- state corruption and configuration -----------------------------------------------


def _corruptions(valid: bytes) -> list[bytes]:
    record = json.loads(valid)

    def edit(**changes: object) -> bytes:
        return json.dumps({**record, **changes}).encode()

    other_note = record["note"].replace(record["root"], base64.b64encode(b"\x05" * 32).decode())
    return [
        b"",
        b"{",
        valid[: len(valid) // 2],
        b"\xff" + valid,
        b"[]",
        b"null",
        edit(format="v0"),
        edit(origin=OTHER_ORIGIN),
        edit(size=-1),
        edit(size="5"),
        edit(size=True),
        edit(size=4),
        edit(root="!!"),
        edit(root=base64.b64encode(b"\x05" * 32).decode()),
        edit(timestamp=None),
        edit(note="not a note"),
        edit(note=other_note),
        json.dumps({k: v for k, v in record.items() if k != "note"}).encode(),
        edit(extra=1),
    ]


def test_corrupt_state_file_is_an_error(log: Log, wsigner: NoteSigner, state_dir: Path) -> None:
    w = _witness(wsigner, state_dir, log)
    log.grow_to(5)
    w.cosign(log.signed(), [], now=T0)
    path = state_dir / state_file_name(ORIGIN)
    valid = path.read_bytes()
    WitnessState.from_json(valid, ORIGIN)  # sanity: the valid file loads
    for bad in _corruptions(valid):
        path.write_bytes(bad)
        with pytest.raises(ConfigurationError):
            w.state(ORIGIN)
        # Never silently reset to size 0: a size-2 checkpoint (cosignable from
        # an empty state) is refused, and the file is left as it was.
        with pytest.raises(ConfigurationError):
            w.cosign(log.signed(2), [], now=T0)
        assert path.read_bytes() == bad


def test_rollback_is_not_detected(log: Log, wsigner: NoteSigner, state_dir: Path) -> None:
    # Documented limitation: an older valid state file is indistinguishable.
    w = _witness(wsigner, state_dir, log)
    log.grow_to(3)
    w.cosign(log.signed(), [], now=T0)
    old = (state_dir / state_file_name(ORIGIN)).read_bytes()
    log.grow_to(6)
    w.cosign(log.signed(), log.proof(3), now=T0)
    (state_dir / state_file_name(ORIGIN)).write_bytes(old)
    st = w.state(ORIGIN)
    assert st is not None and st.size == 3


def test_configuration_errors(log: Log, wsigner: NoteSigner, tmp_path: Path) -> None:
    logs = {ORIGIN: log.signer.verifier}
    with pytest.raises(ConfigurationError, match="does not exist"):
        Witness(wsigner, tmp_path / "missing", logs)
    with pytest.raises(ConfigurationError, match="cosignature"):
        Witness(log.signer, tmp_path, logs)
    with pytest.raises(ConfigurationError, match="Ed25519"):
        Witness(wsigner, tmp_path, {ORIGIN: wsigner.verifier})
    for origin in ("", "two\nlines"):
        with pytest.raises(ConfigurationError, match="origin"):
            Witness(wsigner, tmp_path, {origin: log.signer.verifier})


def test_unreadable_state_file(log: Log, wsigner: NoteSigner, state_dir: Path) -> None:
    w = _witness(wsigner, state_dir, log)
    (state_dir / state_file_name(ORIGIN)).mkdir()  # reading it fails, even as root
    log.grow_to(2)
    with pytest.raises(ConfigurationError, match="cannot read"):
        w.state(ORIGIN)
    with pytest.raises(ConfigurationError):
        w.cosign(log.signed(), [], now=T0)


def test_persist_failure_returns_nothing(
    log: Log, wsigner: NoteSigner, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = _witness(wsigner, state_dir, log)
    log.grow_to(2)

    def fail(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(ConfigurationError, match="disk full"):
        w.cosign(log.signed(), [], now=T0)
    monkeypatch.undo()
    assert _snapshot(state_dir) == {}


# --- verify_cosigned -------------------------------------------------------------------


@pytest.fixture
def witnesses() -> list[NoteSigner]:
    return [_witness_signer(f"witness-{i}.example", seed=10 + i) for i in range(3)]


def _cosigned_by(log: Log, signers: list[NoteSigner], tmp_path: Path, now: int = T0) -> bytes:
    """The log's checkpoint with cosignatures from ``signers`` via real Witness objects."""
    note = log.signed()
    for i, signer in enumerate(signers):
        d = tmp_path / f"w-{signer.name}-{i}"
        d.mkdir(parents=True, exist_ok=True)
        line = _witness(signer, d, log).cosign(log.signed(), [], now=now + i)
        parsed = parse_note(note)
        note = Note(parsed.text, (*parsed.signatures, _cosig(line))).to_bytes()
    return note


def test_verify_cosigned_quorum(log: Log, witnesses: list[NoteSigner], tmp_path: Path) -> None:
    log.grow_to(5)
    verifiers = [s.verifier for s in witnesses]
    note = _cosigned_by(log, witnesses[:2], tmp_path)
    assert verify_cosigned(note, log.signer.verifier, verifiers) == log.checkpoint()
    assert verify_cosigned(note, log.signer.verifier, verifiers, quorum=2) == log.checkpoint()
    with pytest.raises(UnverifiedNoteError, match="2 valid witness cosignatures, need 3"):
        verify_cosigned(note, log.signer.verifier, verifiers, quorum=3)
    # Only trusted witnesses count.
    with pytest.raises(UnverifiedNoteError):
        verify_cosigned(note, log.signer.verifier, verifiers[1:], quorum=2)
    assert verify_cosigned(note, log.signer.verifier, verifiers[1:]) == log.checkpoint()
    with pytest.raises(UnverifiedNoteError):
        verify_cosigned(note, log.signer.verifier, verifiers[2:])


def test_open_cosigned_exposes_timestamps(
    log: Log, witnesses: list[NoteSigner], tmp_path: Path
) -> None:
    log.grow_to(5)
    note = _cosigned_by(log, witnesses, tmp_path, now=T0)
    result = open_cosigned(note, log.signer.verifier, [s.verifier for s in witnesses], quorum=3)
    assert isinstance(result, CosignedCheckpoint)
    assert result.checkpoint == log.checkpoint()
    assert [(c.verifier, c.timestamp) for c in result.cosignatures] == [
        (s.verifier, T0 + i) for i, s in enumerate(witnesses)
    ]


def test_verify_cosigned_counts_distinct_witnesses(
    log: Log, witnesses: list[NoteSigner], tmp_path: Path
) -> None:
    log.grow_to(5)
    w = witnesses[0]
    # The same witness key under two names counts once.
    alias = NoteSigner.from_seed(bytes([10]) * 32, "alias.example", SIG_TYPE_COSIGNATURE_V1)
    note = _cosigned_by(log, [w, alias], tmp_path)
    trusted = [w.verifier, alias.verifier, witnesses[1].verifier]
    assert verify_cosigned(note, log.signer.verifier, trusted) == log.checkpoint()
    with pytest.raises(UnverifiedNoteError):
        verify_cosigned(note, log.signer.verifier, trusted, quorum=2)
    # Duplicate cosignature lines by one key count once.
    parsed = parse_note(_cosigned_by(log, [w], tmp_path / "dup"))
    dup = Note(parsed.text, (*parsed.signatures, parsed.signatures[-1])).to_bytes()
    trusted2 = [w.verifier, witnesses[1].verifier]
    with pytest.raises(UnverifiedNoteError):
        verify_cosigned(dup, log.signer.verifier, trusted2, quorum=2)


def test_verify_cosigned_requires_log_signature(
    log: Log, witnesses: list[NoteSigner], tmp_path: Path
) -> None:
    log.grow_to(5)
    note = parse_note(_cosigned_by(log, witnesses[:1], tmp_path))
    without_log = Note(note.text, note.signatures[1:]).to_bytes()
    with pytest.raises(UnverifiedNoteError, match="log key"):
        verify_cosigned(without_log, log.signer.verifier, [witnesses[0].verifier])
    other_log = NoteSigner.from_seed(b"\x42" * 32, ORIGIN)
    with pytest.raises(UnverifiedNoteError):
        verify_cosigned(note.to_bytes(), other_log.verifier, [witnesses[0].verifier])


def test_verify_cosigned_rejects_bad_signatures(
    log: Log, witnesses: list[NoteSigner], tmp_path: Path
) -> None:
    log.grow_to(5)
    note = parse_note(_cosigned_by(log, witnesses[:2], tmp_path))
    verifiers = [s.verifier for s in witnesses]
    sig = note.signatures[1]
    bad_blob = sig.blob[:-1] + bytes([sig.blob[-1] ^ 1])
    bad = Note(
        note.text,
        (note.signatures[0], Signature(sig.name, sig.key_id, bad_blob), note.signatures[2]),
    ).to_bytes()
    with pytest.raises(NoteError) as info:
        verify_cosigned(bad, log.signer.verifier, verifiers)
    assert not isinstance(info.value, UnverifiedNoteError)
    # A cosignature over another checkpoint does not transfer.
    moved = Note(log.checkpoint(4).to_text(), note.signatures).to_bytes()
    with pytest.raises(NoteError):
        verify_cosigned(moved, log.signer.verifier, verifiers)
    with pytest.raises(NoteError):
        verify_cosigned(b"garbage", log.signer.verifier, verifiers)


def test_verify_cosigned_configuration(
    log: Log, witnesses: list[NoteSigner], tmp_path: Path
) -> None:
    log.grow_to(5)
    note = _cosigned_by(log, witnesses[:1], tmp_path)
    v = [witnesses[0].verifier]
    for quorum in (0, -1):
        with pytest.raises(ConfigurationError):
            verify_cosigned(note, log.signer.verifier, v, quorum=quorum)
    with pytest.raises(ConfigurationError):
        verify_cosigned(note, log.signer.verifier, [*v, *v], quorum=2)  # one distinct key
    with pytest.raises(ConfigurationError):
        verify_cosigned(note, witnesses[0].verifier, v)
    with pytest.raises(ConfigurationError):
        verify_cosigned(note, log.signer.verifier, [log.signer.verifier])


def test_verifier_from_vkey_round_trip(wsigner: NoteSigner) -> None:
    # The published witness key string parses back to the verifier the tests use.
    assert Verifier.parse(wsigner.verifier.vkey) == wsigner.verifier


def test_consistency_proof_error_cause_is_preserved(
    at_five: Witness, log: Log, state_dir: Path
) -> None:
    info = _refused(at_five, state_dir, log.signed(8), [], error=InconsistentCheckpointError)
    assert isinstance(info.value.__cause__, ConsistencyProofError)
