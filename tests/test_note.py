"""Tests for ledger.note: C2SP signed notes, checkpoints and cosignature/v1.

Known-answer tests load ``shared/vectors/signed_note.json`` (directory overridable
with LEDGER_VECTORS_DIR); property tests use hypothesis.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.errors import (
    CheckpointError,
    FormatError,
    InvalidSignature,
    LedgerError,
    NoteError,
    UnverifiedNoteError,
)
from ledger.format.note import (
    COSIGNATURE_V1_HEADER,
    MAX_SIGNATURES,
    SIG_TYPE_COSIGNATURE_V1,
    SIG_TYPE_ED25519,
    Checkpoint,
    Note,
    NoteSigner,
    Signature,
    Verifier,
    add_signatures,
    cosign,
    cosignature_message,
    cosignature_timestamp,
    key_id,
    open_note,
    parse_note,
    sign_note,
)

# --- vectors ---------------------------------------------------------------------------


def _vectors_path() -> Path:
    override = os.environ.get("LEDGER_VECTORS_DIR")
    base = (
        Path(override) if override else Path(__file__).resolve().parents[2] / "shared" / "vectors"
    )
    return base / "signed_note.json"


_PATH = _vectors_path()
_DATA: dict[str, Any] = json.loads(_PATH.read_text("utf-8")) if _PATH.is_file() else {}

needs_vectors = pytest.mark.skipif(
    not _DATA, reason=f"signed-note vectors not found at {_PATH} (set LEDGER_VECTORS_DIR)"
)

_VECTORS: list[dict[str, Any]] = _DATA.get("vectors", [])
_NEGATIVE: list[dict[str, Any]] = _DATA.get("negative", [])
_PRIVATE: list[dict[str, Any]] = _DATA.get("private_test_keys", [])


def _ids(items: list[dict[str, Any]]) -> list[str]:
    return [str(item["id"]) for item in items]


def _signer_for(entry: dict[str, Any]) -> NoteSigner:
    if "skey" in entry:
        return NoteSigner.parse_skey(entry["skey"])
    return NoteSigner.from_seed(bytes.fromhex(entry["seed_hex"]), entry["name"])


def _lines_by(signed_note: str, name: str) -> list[str]:
    block = signed_note[signed_note.rindex("\n\n") + 2 :]
    return [line + "\n" for line in block.splitlines() if line.split(" ")[1] == name]


def test_vectors_file_has_all_sections() -> None:
    if not _DATA:
        pytest.skip(f"signed-note vectors not found at {_PATH} (set LEDGER_VECTORS_DIR)")
    assert _VECTORS and _NEGATIVE and _PRIVATE


@needs_vectors
@pytest.mark.parametrize("vec", _VECTORS, ids=_ids(_VECTORS))
def test_vector_verifier_key_round_trips(vec: dict[str, Any]) -> None:
    v = Verifier.parse(vec["vkey"])
    assert v.name == vec["key_name"]
    assert v.key_id == bytes.fromhex(vec["key_id_hex"])
    assert v.sig_type == vec["sig_type"]
    assert v.public_key == bytes.fromhex(vec["public_key_hex"])
    assert v.vkey == vec["vkey"]
    assert key_id(v.name, v.sig_type, v.public_key) == v.key_id
    assert Verifier.from_public_key(v.name, v.public_key, v.sig_type) == v


@needs_vectors
@pytest.mark.parametrize("vec", _VECTORS, ids=_ids(_VECTORS))
def test_vector_opens(vec: dict[str, Any]) -> None:
    assert vec["expect"]["verifies"] is True
    v = Verifier.parse(vec["vkey"])
    for data in (vec["signed_note"], vec["signed_note"].encode("utf-8")):
        note, verified = open_note(data, [v])
        assert note.text == vec["expect"]["text"]
        assert verified == [v]
        assert note.to_bytes() == vec["signed_note"].encode("utf-8")
        assert parse_note(data) == note


@needs_vectors
def test_vectors_multi_signature_notes_open_with_each_key_alone_and_together() -> None:
    verifiers = {vec["key_name"]: Verifier.parse(vec["vkey"]) for vec in _VECTORS}
    multi = [vec for vec in _VECTORS if len(parse_note(vec["signed_note"]).signatures) > 1]
    assert multi
    for vec in multi:
        names = [s.name for s in parse_note(vec["signed_note"]).signatures]
        known = [verifiers[n] for n in names if n in verifiers]
        assert len(known) > 1
        for v in known:
            _, verified = open_note(vec["signed_note"], [v])
            assert verified == [v]
        _, verified = open_note(vec["signed_note"], list(reversed(known)))
        assert verified == known  # in signature order, each once


@needs_vectors
@pytest.mark.parametrize("neg", _NEGATIVE, ids=_ids(_NEGATIVE))
def test_negative_vector_is_rejected(neg: dict[str, Any]) -> None:
    assert neg["expect"]["verifies"] is False
    v = Verifier.parse(neg["vkey"])
    with pytest.raises(LedgerError) as info:
        open_note(neg["signed_note"], [v])
    assert isinstance(info.value, NoteError)
    if neg["expect"].get("error") == "malformed note":
        with pytest.raises(NoteError, match=r"malformed note|note text"):
            parse_note(neg["signed_note"])
    if neg.get("python_error") == "InvalidSignature":
        assert isinstance(info.value.__cause__, InvalidSignature)
        assert not isinstance(info.value, UnverifiedNoteError)
    if neg.get("python_error") == "ValueError":
        assert isinstance(info.value, UnverifiedNoteError)


@needs_vectors
@pytest.mark.parametrize("entry", _PRIVATE, ids=[str(e["name"]) for e in _PRIVATE])
def test_private_test_key_reproduces_published_signatures(entry: dict[str, Any]) -> None:
    signer = _signer_for(entry)
    assert signer.name == entry["name"]
    if "skey" in entry:
        assert signer.skey == entry["skey"]
        assert signer.skey.split("+", 4)[4] == base64.b64encode(
            bytes([SIG_TYPE_ED25519]) + bytes.fromhex(entry["seed_hex"])
        ).decode("ascii")
        seeded = NoteSigner.from_seed(bytes.fromhex(entry["seed_hex"]), entry["name"])
        assert seeded.verifier == signer.verifier
    mine = [vec for vec in _VECTORS if vec["key_name"] == entry["name"]]
    assert mine, f"no vector for test key {entry['name']}"
    checked = 0
    for vec in mine:
        assert signer.verifier.vkey == vec["vkey"]
        for line in _lines_by(vec["signed_note"], entry["name"]):
            assert signer.sign_note(vec["expect"]["text"]) == line.encode("utf-8")
            checked += 1
    assert checked


@needs_vectors
def test_add_signatures_reproduces_published_multi_signature_notes() -> None:
    signers = {e["name"]: _signer_for(e) for e in _PRIVATE}
    done = 0
    for vec in _VECTORS:
        sigs = parse_note(vec["signed_note"]).signatures
        if len(sigs) < 2 or not all(s.name in signers for s in sigs):
            continue
        first = sign_note(vec["expect"]["text"], [signers[sigs[0].name]])
        rest = [signers[s.name] for s in sigs[1:]]
        assert add_signatures(first, rest) == vec["signed_note"].encode("utf-8")
        assert sign_note(vec["expect"]["text"], [signers[s.name] for s in sigs]) == vec[
            "signed_note"
        ].encode("utf-8")
        done += 1
    assert done


# --- hand-built negative cases ---------------------------------------------------------


@pytest.fixture(scope="module")
def log_signer() -> NoteSigner:
    return NoteSigner.from_seed(bytes(range(32)), "example.com/log")


@pytest.fixture(scope="module")
def witness() -> NoteSigner:
    return NoteSigner.from_seed(bytes(range(1, 33)), "example.com/witness", SIG_TYPE_COSIGNATURE_V1)


TEXT = "hello\nworld\n"
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _good(signer: NoteSigner) -> str:
    return sign_note(TEXT, [signer]).decode("utf-8")


def test_parse_rejects_malformed_notes(log_signer: NoteSigner) -> None:
    good = _good(log_signer)
    line = good[len(TEXT) + 1 :]
    b64 = line.split(" ")[2].rstrip("\n")
    blob = base64.b64decode(b64)
    bad = [
        TEXT,  # no blank line
        TEXT + "\n",  # empty signature block
        good[:-1],  # no final newline
        TEXT + line,  # no blank line before signatures
        good + "junk\n",  # non-signature line
        good.replace("\u2014 ", "- "),  # not an em dash
        good.replace("\u2014 ", "\u2014"),  # no space after dash
        good.replace(b64, b64 + "!"),  # bad base64
        good.replace(b64, b64.rstrip("=")),  # missing padding
        good.replace(b64, ""),  # empty signature
        good.replace(" " + b64, ""),  # no signature at all
        good.replace(b64, base64.b64encode(blob[:4]).decode()),  # too short
        good.replace(b64, b64[:-2] + _ALPHABET[_ALPHABET.index(b64[-2]) | 1] + "="),  # padding bits
        good.replace("example.com/log", "a+b"),  # plus in name
        good.replace("example.com/log", "a\u00a0b"),  # Unicode space in name
        "\x01" + good,  # control character
        good.replace("hello", "hel\rlo"),  # carriage return
        good.replace("hello", "hel\tlo"),  # tab
        TEXT + "\n" + line * (MAX_SIGNATURES + 1),  # too many signatures
    ]
    for data in bad:
        with pytest.raises(NoteError):
            parse_note(data)
        with pytest.raises(NoteError):
            open_note(data, [log_signer.verifier])
    for raw in (good.encode()[:-3] + b"\xff\n", b"\xc3\x28" + good.encode(), b"\xed\xa0\x80\n\n"):
        with pytest.raises(NoteError):
            parse_note(raw)
    with pytest.raises(NoteError):
        parse_note("\ud800" + good)
    # exactly the limit is fine
    note = parse_note(TEXT + "\n" + line * MAX_SIGNATURES)
    assert len(note.signatures) == MAX_SIGNATURES


def test_open_semantics(log_signer: NoteSigner, witness: NoteSigner) -> None:
    good = _good(log_signer)
    v = log_signer.verifier
    other = NoteSigner.from_seed(bytes(32), "example.com/other")
    # unknown keys ignored, known key verified
    two = add_signatures(good, [other])
    assert open_note(two, [v])[1] == [v]
    assert open_note(two, [other.verifier, v])[1] == [v, other.verifier]
    # no known key => unverified
    with pytest.raises(UnverifiedNoteError):
        open_note(good, [other.verifier])
    with pytest.raises(UnverifiedNoteError):
        open_note(good, [])
    # same name, other key ID => ignored; same key ID, other name => ignored
    blob = parse_note(good).signatures[0].blob
    renamed = good.replace("example.com/log", "example.com/log2")
    with pytest.raises(UnverifiedNoteError):
        open_note(renamed, [v])
    wrong_id = Signature(v.name, other.key_id, other.key_id + blob[4:])
    with pytest.raises(UnverifiedNoteError):
        open_note(Note(TEXT, (wrong_id,)).to_bytes(), [v])
    # known key, bad signature => whole note rejected even if another key verifies
    forged = Signature(other.name, other.key_id, other.key_id + blob[4:])
    mixed = Note(TEXT, (parse_note(good).signatures[0], forged)).to_bytes()
    with pytest.raises(NoteError, match="invalid signature") as info:
        open_note(mixed, [v, other.verifier])
    assert not isinstance(info.value, UnverifiedNoteError)
    assert isinstance(info.value.__cause__, InvalidSignature)
    assert open_note(mixed, [v])[1] == [v]
    # duplicate signatures by one key: each verified, key reported once
    dup = Note(TEXT, parse_note(good).signatures * 2).to_bytes()
    assert open_note(dup, [v])[1] == [v]
    dup_bad = Note(
        TEXT, (parse_note(good).signatures[0], Signature(v.name, v.key_id, v.key_id + bytes(64)))
    ).to_bytes()
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(dup_bad, [v])
    # the same verifier listed twice is not ambiguous
    assert open_note(good, [v, Verifier.parse(v.vkey)])[1] == [v]


def test_add_signatures_replaces_same_key_and_keeps_order(log_signer: NoteSigner) -> None:
    other = NoteSigner.from_seed(bytes(32), "example.com/other")
    one = sign_note(TEXT, [log_signer, other])
    again = add_signatures(one, [log_signer])
    names = [s.name for s in parse_note(again).signatures]
    assert names == [other.name, log_signer.name]
    with pytest.raises(NoteError):
        sign_note(TEXT, [log_signer, log_signer])
    with pytest.raises(NoteError):
        sign_note(TEXT, [])
    with pytest.raises(NoteError):
        sign_note("no newline", [log_signer])
    with pytest.raises(NoteError):
        sign_note("bad\x00\n", [log_signer])


def test_bad_key_strings_are_rejected(log_signer: NoteSigner) -> None:
    vkey = log_signer.verifier.vkey
    name, hex_id, b64 = vkey.split("+", 2)
    raw = base64.b64decode(b64)
    bad_vkeys = [
        "",
        name,
        f"{name}+{hex_id}",
        f"{name}+{hex_id}+",
        f"{name}+{hex_id.upper()}+{b64}",
        f"{name}+{hex_id[:-1]}+{b64}",
        f"{name}+{'0' * 8}+{b64}",
        f"other+{hex_id}+{b64}",
        f"+{hex_id}+{b64}",
        f"a b+{hex_id}+{b64}",
        f"{name}+{hex_id}+{b64}x",
        f"{name}+{hex_id}+{base64.b64encode(raw[:-1]).decode()}",
        f"{name}+{hex_id}+{base64.b64encode(bytes([2]) + raw[1:]).decode()}",
    ]
    for bad in bad_vkeys:
        with pytest.raises(FormatError):
            Verifier.parse(bad)
    skey = log_signer.skey
    assert NoteSigner.parse_skey(skey).verifier == log_signer.verifier
    for bad in [
        skey.replace("PRIVATE", "PUBLIC"),
        skey.replace(hex_id, "00000000"),
        skey[:-2],
        skey.replace("example.com/log", "example.com/lug"),
        vkey,
    ]:
        with pytest.raises(FormatError):
            NoteSigner.parse_skey(bad)
    with pytest.raises(LedgerError):
        NoteSigner.from_seed(b"short", "x")
    with pytest.raises(LedgerError):
        NoteSigner.from_seed(bytes(32), "bad name")
    with pytest.raises(LedgerError):
        NoteSigner.from_seed(bytes(32), "x", 0x02)
    assert "PRIVATE" not in repr(log_signer)


def test_checkpoint_parse_rejects() -> None:
    root = base64.b64encode(bytes(32)).decode()
    good = f"example.com/log\n5\n{root}\n"
    assert Checkpoint.parse(good) == Checkpoint("example.com/log", 5, bytes(32))
    assert Checkpoint.parse(f"o\n0\n{root}\next\n").extensions == ("ext",)
    bad = [
        "",
        good[:-1],
        "example.com/log\n5\n",
        f"\n5\n{root}\n",
        f"o\n05\n{root}\n",
        f"o\n-1\n{root}\n",
        f"o\n+1\n{root}\n",
        f"o\n1_0\n{root}\n",
        f"o\n\u0661\n{root}\n",
        f"o\n\n{root}\n",
        f"o\n{2**64}\n{root}\n",
        f"o\n5\n{base64.b64encode(bytes(31)).decode()}\n",
        f"o\n5\n{root[:-1]}\n",
        f"o\n5\n{root}\n\n",
        f"o\n5\n{root}\nx\n\n",
        f"o\x01\n5\n{root}\n",
    ]
    for text in bad:
        with pytest.raises(CheckpointError) as info:
            Checkpoint.parse(text)
        assert "\n" not in str(info.value)
    for args in [
        ("", 1, bytes(32)),
        ("o", -1, bytes(32)),
        ("o", 1, bytes(31)),
        ("o\n", 1, bytes(32)),
    ]:
        with pytest.raises(CheckpointError):
            Checkpoint(*args)
    with pytest.raises(CheckpointError):
        Checkpoint("o", 1, bytes(32), ("",))


def test_cosignature_message_layout(witness: NoteSigner) -> None:
    text = Checkpoint("example.com/log", 7, bytes(range(32))).to_text()
    assert cosignature_message(text, 1679315147) == (
        COSIGNATURE_V1_HEADER + b"time 1679315147\n" + text.encode()
    )
    sig = cosign(text, 1679315147, witness)
    assert len(sig.blob) == 4 + 8 + 64
    assert sig.blob[4:12] == (1679315147).to_bytes(8, "big")
    assert cosignature_timestamp(sig) == 1679315147
    with pytest.raises(NoteError):
        cosign(text, -1, witness)
    with pytest.raises(NoteError):
        cosign(text, 2**63, witness)
    with pytest.raises(CheckpointError):
        cosign("not a checkpoint\n", 1, witness)
    with pytest.raises(NoteError):
        cosign(text, 1, NoteSigner.from_seed(bytes(32), "log"))
    with pytest.raises(NoteError):
        cosignature_timestamp(
            parse_note(sign_note(text, [NoteSigner.from_seed(bytes(32), "log")])).signatures[0]
        )
    # a cosignature over a non-checkpoint note never verifies
    not_cp = "hello\n"
    forged = Signature(witness.name, witness.key_id, witness.key_id + sig.blob[4:])
    with pytest.raises(NoteError):
        open_note(Note(not_cp, (forged,)).to_bytes(), [witness.verifier])
    # a timestamp above 2^63-1 in the blob is rejected
    big = Signature(witness.name, witness.key_id, witness.key_id + b"\xff" * 8 + sig.blob[12:])
    with pytest.raises(NoteError):
        open_note(Note(text, (big,)).to_bytes(), [witness.verifier])
    with pytest.raises(NoteError):
        cosignature_timestamp(big)


# --- property tests --------------------------------------------------------------------

_text_chars = st.characters(
    codec="utf-8", exclude_characters=[chr(c) for c in range(0x20) if c != 0x0A]
)
note_texts = st.text(_text_chars, max_size=200).map(lambda s: s + "\n")
_name_chars = st.characters(
    exclude_categories=("Cs", "Zs", "Zl", "Zp", "Cc"), exclude_characters="+\x85"
)
key_names = st.text(_name_chars, min_size=1, max_size=30)
seeds = st.binary(min_size=32, max_size=32)
_line_chars = st.characters(codec="utf-8", exclude_characters=[chr(c) for c in range(0x20)])
checkpoints = st.builds(
    Checkpoint,
    origin=st.text(_line_chars, min_size=1, max_size=40),
    size=st.integers(0, 2**64 - 1),
    root_hash=st.binary(min_size=32, max_size=32),
    extensions=st.lists(st.text(_line_chars, min_size=1, max_size=20), max_size=3).map(tuple),
)
timestamps = st.integers(0, 2**63 - 1)


@st.composite
def signatures(draw: st.DrawFn) -> Signature:
    kid = draw(st.binary(min_size=4, max_size=4))
    return Signature(draw(key_names), kid, kid + draw(st.binary(min_size=1, max_size=100)))


@given(note_texts, st.lists(signatures(), min_size=1, max_size=5))
def test_note_round_trip(text: str, sigs: list[Signature]) -> None:
    note = Note(text, tuple(sigs))
    data = note.to_bytes()
    assert parse_note(data) == note
    assert parse_note(data).to_bytes() == data


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(note_texts, key_names, seeds, st.data())
def test_single_byte_flip_never_verifies(
    text: str, name: str, seed: bytes, data: st.DataObject
) -> None:
    signer = NoteSigner.from_seed(seed, name)
    signed = bytearray(sign_note(text, [signer]))
    index = data.draw(st.integers(0, len(signed) - 1))
    signed[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(LedgerError):
        open_note(bytes(signed), [signer.verifier])


@given(checkpoints)
def test_checkpoint_text_round_trip(cp: Checkpoint) -> None:
    text = cp.to_text()
    assert Checkpoint.parse(text) == cp
    assert Checkpoint.parse(text).to_text() == text


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(checkpoints, timestamps, seeds, seeds)
def test_cosignature_verifies_and_timestamp_reads_back(
    cp: Checkpoint, ts: int, log_seed: bytes, witness_seed: bytes
) -> None:
    log = NoteSigner.from_seed(log_seed, "example.com/log")
    wit = NoteSigner.from_seed(witness_seed, "example.com/witness", SIG_TYPE_COSIGNATURE_V1)
    text = cp.to_text()
    signed = sign_note(text, [log])
    cosig = cosign(text, ts, wit)
    full = signed + cosig.to_line().encode()
    assert add_signatures(signed, [wit], timestamp=ts) == full
    note, verified = open_note(full, [log.verifier, wit.verifier])
    assert verified == [log.verifier, wit.verifier]
    assert Checkpoint.parse(note.text) == cp
    assert cosignature_timestamp(note.signatures[1]) == ts
    assert open_note(full, [wit.verifier])[1] == [wit.verifier]
    Verifier.parse(wit.verifier.vkey).verify(text.encode(), cosig.signature)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(checkpoints, timestamps, seeds, key_names)
def test_signature_types_are_not_interchangeable(
    cp: Checkpoint, ts: int, seed: bytes, name: str
) -> None:
    plain = NoteSigner.from_seed(seed, name, SIG_TYPE_ED25519)
    cos = NoteSigner.from_seed(seed, name, SIG_TYPE_COSIGNATURE_V1)
    assert plain.key_id != cos.key_id
    text = cp.to_text()
    sig01 = plain.signature(text)
    sig04 = cosign(text, ts, cos)
    # each verifier refuses the other type's signature bytes
    with pytest.raises(InvalidSignature):
        plain.verifier.verify(text.encode(), sig04.signature)
    with pytest.raises(InvalidSignature):
        cos.verifier.verify(text.encode(), sig01.signature)
    # the note of one type does not verify under the other type's key
    with pytest.raises(UnverifiedNoteError):
        open_note(Note(text, (sig04,)).to_bytes(), [plain.verifier])
    with pytest.raises(UnverifiedNoteError):
        open_note(Note(text, (sig01,)).to_bytes(), [cos.verifier])
    # relabelled with the other key ID, the signature is rejected
    as01 = Signature(name, plain.key_id, plain.key_id + sig04.signature)
    as04 = Signature(name, cos.key_id, cos.key_id + sig01.signature)
    with pytest.raises(NoteError):
        open_note(Note(text, (as01,)).to_bytes(), [plain.verifier])
    with pytest.raises(NoteError):
        open_note(Note(text, (as04,)).to_bytes(), [cos.verifier])
    # the Ed25519 part of a cosignature is not a note signature over the text either
    bare = Signature(name, plain.key_id, plain.key_id + sig04.signature[8:])
    with pytest.raises(NoteError):
        open_note(Note(text, (bare,)).to_bytes(), [plain.verifier])
