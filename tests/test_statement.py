"""Tests for ledger.statement: statements, envelopes, signatures and hashes.

Keys are generated per run with pyca/cryptography; property tests use hypothesis.
Every rejection of bad bytes asserts the exact error class.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import msgpack
import pytest
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.errors import EntryTooLargeError, FormatError, InvalidSignature, NonCanonicalError
from ledger.format import canonical
from ledger.format.canonical import MAX_DEPTH
from ledger.format.statement import (
    FORMAT_VERSION,
    HASH_SIZE,
    MAX_ENTRY_SIZE,
    MAX_ENVELOPE_SIZE,
    STATEMENT_CONTEXT,
    STATEMENT_CONTEXT_V2,
    VERSIONS,
    ZERO_HASH,
    Envelope,
    Statement,
    event_hash,
    key_id,
    sign_statement,
)

KEY = Ed25519PrivateKey.generate()
OTHER_KEY = Ed25519PrivateKey.generate()


def raw_public(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


PUBLIC = raw_public(KEY)
OTHER_PUBLIC = raw_public(OTHER_KEY)

STATEMENT_FIELDS = (
    "version",
    "election",
    "stream",
    "seq",
    "prev",
    "kind",
    "body",
    "signer",
    "time",
)


def make_statement(**changes: Any) -> Statement:
    fields: dict[str, Any] = {
        "election": "pilkada-2024-jabar",
        "stream": "tps/32.01.01.2001/001",
        "seq": 1,
        "prev": ZERO_HASH,
        "kind": "c_hasil",
        "body": {"votes": [120, 87], "invalid": 3},
        "signer": key_id(PUBLIC),
        "time": 1_732_700_000,
    }
    fields.update(changes)
    return Statement(**fields)


def statement_map(**changes: Any) -> dict[str, Any]:
    value = canonical.decode(make_statement().to_bytes())
    assert isinstance(value, dict)
    value.update(changes)
    return value


def expect_exactly(cls: type[Exception], func: Any, *args: Any) -> None:
    with pytest.raises(Exception) as excinfo:
        func(*args)
    assert type(excinfo.value) is cls, f"got {type(excinfo.value).__name__}: {excinfo.value}"


# --- strategies ----------------------------------------------------------------------


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(item) for item in value), default=-1)
    if isinstance(value, dict):
        return 1 + max((_depth(item) for item in value.values()), default=-1)
    return 0


body_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.text(max_size=20)
    | st.binary(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=15,
)
# The body sits one level inside the statement map.
bodies = st.dictionaries(st.text(max_size=10), body_values, max_size=6).filter(
    lambda b: _depth(b) <= MAX_DEPTH - 1
)


@st.composite
def statements(draw: st.DrawFn) -> Statement:
    seq = draw(st.integers(min_value=1, max_value=2**64 - 1) | st.sampled_from([1, 2]))
    prev = ZERO_HASH if seq == 1 else draw(st.binary(min_size=HASH_SIZE, max_size=HASH_SIZE))
    return Statement(
        election=draw(st.text(min_size=1, max_size=30)),
        stream=draw(st.text(min_size=1, max_size=30)),
        seq=seq,
        prev=prev,
        kind=draw(st.text(min_size=1, max_size=20)),
        body=draw(bodies),
        signer=draw(st.binary(min_size=HASH_SIZE, max_size=HASH_SIZE)),
        time=draw(st.integers(min_value=0, max_value=2**64 - 1)),
    )


# --- statement bytes -----------------------------------------------------------------


@given(statements())
def test_statement_round_trip(statement: Statement) -> None:
    data = statement.to_bytes()
    parsed = Statement.from_bytes(data)
    assert parsed == statement
    assert parsed.to_bytes() == data
    assert canonical.encode(canonical.decode(data)) == data


def test_statement_known_bytes() -> None:
    signer = bytes(range(32))
    statement = Statement(
        election="e",
        stream="s",
        seq=2,
        prev=b"\x11" * 32,
        kind="k",
        body={"n": 300},
        signer=signer,
        time=0,
        version=1,
    )
    # Keys in UTF-8 byte order: body election kind prev seq signer stream time version.
    expected = (
        b"\x89"
        + b"\xa4body\x81\xa1n\xcd\x01\x2c"
        + b"\xa8election\xa1e"
        + b"\xa4kind\xa1k"
        + b"\xa4prev\xc4\x20"
        + b"\x11" * 32
        + b"\xa3seq\x02"
        + b"\xa6signer\xc4\x20"
        + signer
        + b"\xa6stream\xa1s"
        + b"\xa4time\x00"
        + b"\xa7version\x01"
    )
    assert statement.to_bytes() == expected
    assert Statement.from_bytes(expected) == statement
    # Version 2 changes only the version's value (and the context signed under).
    v2 = dataclasses.replace(statement, version=2)
    assert v2.to_bytes() == expected[:-1] + b"\x02"
    assert Statement.from_bytes(v2.to_bytes()) == v2


def test_statement_defaults_to_format_version() -> None:
    assert make_statement().version == FORMAT_VERSION == 2
    assert VERSIONS == (1, 2)


@pytest.mark.parametrize("field", STATEMENT_FIELDS)
def test_statement_missing_field(field: str) -> None:
    value = statement_map()
    del value[field]
    expect_exactly(FormatError, Statement.from_bytes, canonical.encode(value))


@pytest.mark.parametrize("extra", ["extra", "", "Version", "sig", "signature"])
def test_statement_extra_field(extra: str) -> None:
    value = statement_map(**{extra: 1})
    expect_exactly(FormatError, Statement.from_bytes, canonical.encode(value))


BAD_FIELDS: list[tuple[str, dict[str, Any]]] = [
    ("seq as str", {"seq": "1"}),
    ("seq as bool", {"seq": True}),
    ("seq 0", {"seq": 0}),
    ("seq negative", {"seq": -1}),
    ("seq as bin", {"seq": b"\x01"}),
    ("seq None", {"seq": None}),
    ("version 3", {"version": 3}),
    ("version 0", {"version": 0}),
    ("version as bool", {"version": True}),
    ("version as str", {"version": "1"}),
    ("time as bool", {"time": True}),
    ("time negative", {"time": -1}),
    ("time as str", {"time": "0"}),
    ("prev 31 bytes", {"seq": 2, "prev": bytes(31)}),
    ("prev 33 bytes", {"seq": 2, "prev": bytes(33)}),
    ("prev empty", {"seq": 2, "prev": b""}),
    ("prev as str", {"seq": 2, "prev": "\x00" * 32}),
    ("prev as array", {"seq": 2, "prev": [0] * 32}),
    ("prev None", {"seq": 2, "prev": None}),
    ("prev 31 bytes, seq 1", {"seq": 1, "prev": bytes(31)}),
    ("signer 31 bytes", {"signer": bytes(31)}),
    ("signer 33 bytes", {"signer": bytes(33)}),
    ("signer as str", {"signer": "a" * 32}),
    ("seq 1 with nonzero prev", {"seq": 1, "prev": b"\x00" * 31 + b"\x01"}),
    ("seq 1 with all-ones prev", {"seq": 1, "prev": b"\xff" * 32}),
    ("empty election", {"election": ""}),
    ("empty stream", {"stream": ""}),
    ("empty kind", {"kind": ""}),
    ("election as bin", {"election": b"e"}),
    ("stream as int", {"stream": 1}),
    ("kind None", {"kind": None}),
    ("body as array", {"body": []}),
    ("body None", {"body": None}),
    ("body as str", {"body": "{}"}),
    ("body as bin", {"body": b""}),
]


@pytest.mark.parametrize("changes", [c for _, c in BAD_FIELDS], ids=[n for n, _ in BAD_FIELDS])
def test_statement_bad_field(changes: dict[str, Any]) -> None:
    expect_exactly(FormatError, Statement.from_bytes, canonical.encode(statement_map(**changes)))


def test_statement_seq_2_may_have_any_prev() -> None:
    for prev in (ZERO_HASH, b"\xff" * 32):
        value = statement_map(seq=2, prev=prev)
        assert Statement.from_bytes(canonical.encode(value)).prev == prev


@pytest.mark.parametrize("value", [[], [1], "statement", b"statement", 1, None, True])
def test_statement_not_a_map(value: object) -> None:
    expect_exactly(FormatError, Statement.from_bytes, canonical.encode(value))


def test_statement_non_canonical_bytes() -> None:
    value = statement_map()
    unsorted = msgpack.packb(dict(reversed(list(value.items()))), use_bin_type=True)
    assert canonical.decode(canonical.encode(value)) == value
    expect_exactly(NonCanonicalError, Statement.from_bytes, unsorted)
    long_seq = canonical.encode(statement_map(seq=7)).replace(b"\xa3seq\x07", b"\xa3seq\xcc\x07")
    expect_exactly(NonCanonicalError, Statement.from_bytes, long_seq)


@pytest.mark.parametrize("data", [b"", b"\x89", b"\xc1", canonical.encode({}) + b"\x00"])
def test_statement_malformed_bytes(data: bytes) -> None:
    expect_exactly(FormatError, Statement.from_bytes, data)


# --- signing, envelopes and verification ---------------------------------------------


@settings(max_examples=50, suppress_health_check=[HealthCheck.too_slow])
@given(statements())
def test_sign_parse_verify(statement: Statement) -> None:
    envelope = sign_statement(statement, KEY)
    parsed = Envelope.parse(envelope.raw)
    assert parsed == envelope
    assert parsed.statement == statement
    assert parsed.statement_bytes == statement.to_bytes()
    assert parsed.hash == hashlib.sha256(envelope.raw).digest()
    parsed.verify_signature(PUBLIC)
    with pytest.raises(InvalidSignature):
        parsed.verify_signature(OTHER_PUBLIC)


def test_envelope_fields_and_layout() -> None:
    statement = make_statement()
    envelope = sign_statement(statement, KEY)
    statement_bytes = statement.to_bytes()
    assert envelope.statement == statement
    assert envelope.statement_bytes == statement_bytes
    assert len(envelope.signature) == 64
    # {"signature": bin, "statement": bin}, "signature" < "statement" bytewise.
    assert len(statement_bytes) < 256
    assert envelope.raw == (
        b"\x82\xa9signature\xc4\x40"
        + envelope.signature
        + b"\xa9statement\xc4"
        + bytes([len(statement_bytes)])
        + statement_bytes
    )
    assert canonical.decode(envelope.raw) == {
        "signature": envelope.signature,
        "statement": statement_bytes,
    }


def test_signing_is_deterministic() -> None:
    statement = make_statement()
    assert sign_statement(statement, KEY).raw == sign_statement(statement, KEY).raw
    assert sign_statement(statement, KEY).raw != sign_statement(statement, OTHER_KEY).raw


@pytest.mark.parametrize("version", [1, 2])
def test_signed_message_is_context_plus_statement_bytes(version: int) -> None:
    statement = make_statement(version=version)
    context = {1: STATEMENT_CONTEXT, 2: STATEMENT_CONTEXT_V2}[version]
    envelope = sign_statement(statement, KEY)
    assert envelope.signed_message == context + statement.to_bytes()
    public = KEY.public_key()
    public.verify(envelope.signature, context + statement.to_bytes())
    with pytest.raises(CryptoInvalidSignature):
        public.verify(envelope.signature, statement.to_bytes())
    with pytest.raises(CryptoInvalidSignature):
        public.verify(envelope.signature, envelope.raw)
    assert envelope.signature == KEY.sign(context + statement.to_bytes())


def test_statement_context() -> None:
    assert STATEMENT_CONTEXT == b"pilkada-ledger/v1/statement\x00"
    assert STATEMENT_CONTEXT_V2 == b"pilkada-ledger/v2/statement\x00"
    for context in (STATEMENT_CONTEXT, STATEMENT_CONTEXT_V2):
        assert context.endswith(b"\x00")
        assert context.count(b"\x00") == 1
        context.decode("ascii")


def test_a_signature_under_the_other_versions_context_is_rejected() -> None:
    # A version 2 statement signed as if version 1 (and the reverse) does not verify.
    for version, wrong in ((2, STATEMENT_CONTEXT), (1, STATEMENT_CONTEXT_V2)):
        statement_bytes = make_statement(version=version).to_bytes()
        raw = canonical.encode(
            {"statement": statement_bytes, "signature": KEY.sign(wrong + statement_bytes)}
        )
        with pytest.raises(InvalidSignature):
            Envelope.parse(raw).verify_signature(PUBLIC)


def test_signature_without_context_is_rejected() -> None:
    statement_bytes = make_statement().to_bytes()
    bare = Envelope.build(statement_bytes, KEY.sign(statement_bytes))
    with pytest.raises(InvalidSignature):
        bare.verify_signature(PUBLIC)
    other_context = Envelope.build(
        statement_bytes, KEY.sign(b"pilkada-ledger/v1/receipt\x00" + statement_bytes)
    )
    with pytest.raises(InvalidSignature):
        other_context.verify_signature(PUBLIC)


def test_signature_by_other_key_fails() -> None:
    envelope = sign_statement(make_statement(), OTHER_KEY)
    envelope.verify_signature(OTHER_PUBLIC)
    expect_exactly(InvalidSignature, envelope.verify_signature, PUBLIC)


def test_signature_swapped_between_statements_fails() -> None:
    first = sign_statement(make_statement(time=1), KEY)
    second = sign_statement(make_statement(time=2), KEY)
    swapped = Envelope.build(first.statement_bytes, second.signature)
    expect_exactly(InvalidSignature, swapped.verify_signature, PUBLIC)


@pytest.mark.parametrize("public_key", [b"", bytes(31), bytes(33), PUBLIC + b"\x00"])
def test_verify_with_malformed_public_key(public_key: bytes) -> None:
    envelope = sign_statement(make_statement(), KEY)
    expect_exactly(FormatError, envelope.verify_signature, public_key)


def _flip_outcome(raw: bytes) -> str:
    try:
        envelope = Envelope.parse(raw)
    except FormatError:  # NonCanonicalError included
        return "rejected"
    try:
        envelope.verify_signature(PUBLIC)
    except InvalidSignature:
        return "bad signature"
    return "accepted"


def test_flipping_any_byte_is_detected() -> None:
    original = sign_statement(make_statement(seq=5, prev=b"\x42" * 32), KEY)
    seen = set()
    for i in range(len(original.raw)):
        for mask in (0x01, 0x80, 0xFF):
            tampered = bytearray(original.raw)
            tampered[i] ^= mask
            outcome = _flip_outcome(bytes(tampered))
            assert outcome != "accepted", f"byte {i} ^ {mask:#x} accepted"
            assert event_hash(bytes(tampered)) != original.hash
            seen.add(outcome)
    # Both ways of failing are exercised: headers break parsing, payload breaks the signature.
    assert seen == {"rejected", "bad signature"}


@settings(max_examples=300)
@given(st.data())
def test_random_tampering_is_detected(data: st.DataObject) -> None:
    raw = bytearray(sign_statement(make_statement(seq=3, prev=b"\x07" * 32), KEY).raw)
    original = bytes(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    tampered = bytes(raw)
    if tampered == original:
        assert _flip_outcome(tampered) == "accepted"
    else:
        assert _flip_outcome(tampered) != "accepted"


def test_truncated_or_extended_envelope_rejected() -> None:
    raw = sign_statement(make_statement(), KEY).raw
    for end in range(len(raw)):
        expect_exactly(FormatError, Envelope.parse, raw[:end])
    for suffix in (b"\x00", b"\xc0", raw):
        expect_exactly(FormatError, Envelope.parse, raw + suffix)


def _envelope_bytes(**changes: Any) -> bytes:
    envelope = sign_statement(make_statement(), KEY)
    value: dict[str, Any] = {"statement": envelope.statement_bytes, "signature": envelope.signature}
    value.update(changes)
    for key in [k for k, v in value.items() if v is _DELETE]:
        del value[key]
    return canonical.encode(value)


_DELETE = object()

BAD_ENVELOPES: list[tuple[str, dict[str, Any]]] = [
    ("extra key", {"extra": b""}),
    ("extra key sorting first", {"a": 1}),
    ("missing signature", {"signature": _DELETE}),
    ("missing statement", {"statement": _DELETE}),
    ("missing both", {"signature": _DELETE, "statement": _DELETE}),
    ("signature 63 bytes", {"signature": bytes(63)}),
    ("signature 65 bytes", {"signature": bytes(65)}),
    ("signature empty", {"signature": b""}),
    ("signature as str", {"signature": "x" * 64}),
    ("signature as array", {"signature": [0] * 64}),
    ("signature None", {"signature": None}),
    ("statement as str", {"statement": "statement"}),
    ("statement as map", {"statement": {}}),
    ("statement None", {"statement": None}),
    ("statement empty bin", {"statement": b""}),
    ("statement not a map", {"statement": canonical.encode([1, 2])}),
    ("statement with seq 0", {"statement": canonical.encode(statement_map(seq=0))}),
    ("statement with version 3", {"statement": canonical.encode(statement_map(version=3))}),
]


@pytest.mark.parametrize(
    "changes", [c for _, c in BAD_ENVELOPES], ids=[n for n, _ in BAD_ENVELOPES]
)
def test_bad_envelope(changes: dict[str, Any]) -> None:
    expect_exactly(FormatError, Envelope.parse, _envelope_bytes(**changes))


@pytest.mark.parametrize("value", [[], {}, b"", "", 0, None, [b"", bytes(64)]])
def test_envelope_not_a_two_field_map(value: object) -> None:
    expect_exactly(FormatError, Envelope.parse, canonical.encode(value))


def test_envelope_with_non_canonical_statement_bytes() -> None:
    unsorted = msgpack.packb(dict(reversed(list(statement_map().items()))), use_bin_type=True)
    raw = canonical.encode({"statement": unsorted, "signature": KEY.sign(unsorted)})
    expect_exactly(NonCanonicalError, Envelope.parse, raw)


def test_non_canonical_envelope() -> None:
    envelope = sign_statement(make_statement(), KEY)
    unsorted = msgpack.packb(
        {"statement": envelope.statement_bytes, "signature": envelope.signature},
        use_bin_type=True,
    )
    assert unsorted != envelope.raw
    expect_exactly(NonCanonicalError, Envelope.parse, unsorted)
    # bin16 header for the 64-byte signature
    long_header = envelope.raw.replace(b"\xc4\x40", b"\xc5\x00\x40", 1)
    expect_exactly(NonCanonicalError, Envelope.parse, long_header)


def _envelope_with_blob(size: int, version: int = 1) -> bytes:
    statement_bytes = make_statement(body={"blob": bytes(size)}, version=version).to_bytes()
    context = STATEMENT_CONTEXT if version == 1 else STATEMENT_CONTEXT_V2
    signature = KEY.sign(context + statement_bytes)
    return canonical.encode({"statement": statement_bytes, "signature": signature})


def test_version_1_envelope_size_limit() -> None:
    # Above 65535 bytes every header is 32-bit, so the size grows one for one.
    overhead = len(_envelope_with_blob(100_000)) - 100_000
    largest = MAX_ENVELOPE_SIZE - overhead
    at_limit = _envelope_with_blob(largest)
    assert len(at_limit) == MAX_ENVELOPE_SIZE
    Envelope.parse(at_limit).verify_signature(PUBLIC)  # readable: older ledgers hold them
    over_limit = _envelope_with_blob(largest + 1)
    assert len(over_limit) == MAX_ENVELOPE_SIZE + 1
    expect_exactly(FormatError, Envelope.parse, over_limit)
    big = make_statement(body={"blob": bytes(largest + 1)}, version=1)
    expect_exactly(FormatError, sign_statement, big, KEY)


def test_version_2_envelope_fits_a_tile_entry() -> None:
    # Between 256 and 65535 bytes the blob's header is 3 bytes, the envelope's
    # statement bin header 3: the size grows one for one.
    overhead = len(_envelope_with_blob(30_000, 2)) - 30_000
    largest = MAX_ENTRY_SIZE - overhead
    at_limit = _envelope_with_blob(largest, 2)
    assert len(at_limit) == MAX_ENTRY_SIZE == 65_535
    Envelope.parse(at_limit).verify_signature(PUBLIC)
    over_limit = _envelope_with_blob(largest + 1, 2)
    assert len(over_limit) == MAX_ENTRY_SIZE + 1
    with pytest.raises(EntryTooLargeError, match=r"65,536 bytes .* exceeds the 65,535-byte"):
        Envelope.parse(over_limit)
    big = make_statement(body={"blob": bytes(largest + 1)}, version=2)
    expect_exactly(EntryTooLargeError, sign_statement, big, KEY)
    # The same content as version 1 is readable (it is not a new envelope to accept).
    assert len(Envelope.parse(_envelope_with_blob(largest + 1)).raw) > MAX_ENTRY_SIZE


@pytest.mark.parametrize(
    "changes",
    [{"seq": 0}, {"seq": 1, "prev": b"\x01" * 32}, {"version": 3}, {"seq": 2, "prev": bytes(31)}],
    ids=["seq 0", "seq 1 nonzero prev", "version 3", "prev 31 bytes"],
)
def test_sign_statement_refuses_invalid_statement(changes: dict[str, Any]) -> None:
    expect_exactly(FormatError, sign_statement, make_statement(**changes), KEY)


# --- hashes and ids ------------------------------------------------------------------


@given(st.binary(max_size=200))
def test_event_hash_is_sha256(data: bytes) -> None:
    assert event_hash(data) == hashlib.sha256(data).digest()


def test_event_hash_known_answer() -> None:
    assert event_hash(b"") == bytes.fromhex(
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_envelope_hash_is_sha256_of_raw() -> None:
    envelope = sign_statement(make_statement(), KEY)
    assert envelope.hash == hashlib.sha256(envelope.raw).digest()
    assert Envelope.parse(envelope.raw).hash == envelope.hash
    assert len(envelope.hash) == HASH_SIZE


def test_key_id_is_sha256_of_raw_public_key() -> None:
    assert key_id(PUBLIC) == hashlib.sha256(PUBLIC).digest()
    assert len(key_id(PUBLIC)) == HASH_SIZE
    assert key_id(PUBLIC) != key_id(OTHER_PUBLIC)
    assert key_id(b"") == bytes.fromhex(
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_chain_links_by_event_hash() -> None:
    first = sign_statement(make_statement(seq=1, prev=ZERO_HASH), KEY)
    second = sign_statement(make_statement(seq=2, prev=first.hash), KEY)
    assert Envelope.parse(second.raw).statement.prev == first.hash
    assert second.hash != first.hash


def test_zero_hash() -> None:
    assert ZERO_HASH == b"\x00" * 32
    assert HASH_SIZE == 32
