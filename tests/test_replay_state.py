"""The verifier's packed state (ledger.checks._packed, ledger.checks._state) against
plain dicts as the oracle: whatever is added is found exactly, nothing else is."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.checks._packed import PackedTable, PublicKeyTable, pack_counts, unpack_counts
from ledger.checks._state import (
    NONE,
    RECAP_EVENT,
    SHEET_EVENT,
    TALLY,
    EventFacts,
    SheetTotals,
    SignerTable,
    StreamHeads,
)
from ledger.format.authority import KPU_ROOT, Signer, root_signer

KEYS = st.binary(min_size=1, max_size=300)  # over 255: the uint16 length


@settings(max_examples=60)
@given(st.lists(st.tuples(KEYS, st.binary(min_size=3, max_size=3)), max_size=200), KEYS)
def test_a_packed_table_finds_what_was_added_and_nothing_else(
    items: list[tuple[bytes, bytes]], absent: bytes
) -> None:
    table = PackedTable(3)
    oracle: dict[bytes, bytes] = {}
    for key, value in items:
        if key in oracle:
            continue
        at = table.add(key, value)
        oracle[key] = value
        assert table.records[at : at + 3] == value
    for key, value in oracle.items():
        at = table.find(key)
        assert at >= 0 and table.key_at(at) == key and table.records[at : at + 3] == value
    assert list(table) == list(oracle)  # the order added
    assert len(table) == len(oracle)
    if absent not in oracle:
        assert table.find(absent) == -1
    assert table.find(b"") == -1 and table.find(bytes(70_000)) == -1
    with pytest.raises(ValueError):
        table.add(b"", b"abc")
    with pytest.raises(ValueError):
        table.add(b"k", b"ab")


@settings(max_examples=30)
@given(st.lists(st.binary(min_size=32, max_size=32), unique=True, max_size=100))
def test_a_public_key_table_finds_a_key_by_its_sha256_only(keys: list[bytes]) -> None:
    table = PublicKeyTable(2)
    for n, key in enumerate(keys):
        assert table.add(key, n.to_bytes(2, "little")) == n
    for n, key in enumerate(keys):
        number = table.find(hashlib.sha256(key).digest())
        assert number == n and table.public_key(n) == key
        at = table.value_at(n)
        assert table.records[at : at + 2] == n.to_bytes(2, "little")


@given(st.lists(st.integers(min_value=0, max_value=2**70), max_size=25))
def test_counts_pack_and_unpack_exactly(values: list[int]) -> None:
    packed = pack_counts(values)
    assert unpack_counts(b"xy" + packed, 2) == (tuple(values), 2 + len(packed))


def test_stream_heads_keep_every_stream_apart_and_key_streams_in_their_keys() -> None:
    signers = SignerTable()
    root = root_signer(_key(0), KPU_ROOT)
    signers.add(root)
    heads = StreamHeads(signers)
    kid = root.key_id.hex()
    streams = [
        f"key:{kid}",  # kept in the key's record
        f"key:{kid.upper()}",  # not a key stream's spelling: kept as text, apart
        f"key:{kid[:-1]}",
        "sheet:bupati-33.16:33.16.01.2001/001",
        "\N{DEVANAGARI LETTER A}" * 100,  # 300 bytes of UTF-8
    ]
    for n, stream in enumerate(streams):
        assert heads.locate(stream) == (-1, 0, bytes(32)) and heads.get(stream) is None
        heads.advance(stream, n + 1, bytes([n]) * 32)
    for n, stream in enumerate(streams):
        assert heads[stream] == (n + 1, bytes([n]) * 32)
    assert list(heads) == [*streams[1:], streams[0]] and len(heads) == len(streams)
    assert heads.find(streams[0]) == -1 and signers.stream_head(root.key_id) == (1, bytes(32))
    at = heads.find(streams[3])
    assert heads.advance(streams[3], 5, bytes(32)) == at and heads[streams[3]] == (5, bytes(32))
    assert heads.locate(streams[3]) == (at, 5, bytes(32))
    assert heads.sheet_at(at) == NONE and heads.sheet_at(-1) == NONE
    with pytest.raises(KeyError):
        heads["sheet:nowhere"]
    with pytest.raises(ValueError):  # the stream of a key never granted
        heads.advance(f"key:{'ab' * 32}", 1, bytes(32))
    assert len(heads) == len(streams)


def test_event_facts_are_found_only_in_their_own_stream_and_accumulate() -> None:
    heads, sheets, facts = StreamHeads(SignerTable()), SheetTotals(), EventFacts()
    a = heads.advance("sheet:a", 1, bytes(32))
    b = heads.advance("recap:b", 1, bytes(32))
    number = sheets.ensure(heads, a)
    assert sheets.ensure(heads, a) == number == heads.sheet_at(a) == 0
    tally = sheets.add_tally((10, 20, 30, 5, 35))
    sheets.effective[number] = tally
    count, recap = b"c" * 32, b"r" * 32
    facts.note(count, a, SHEET_EVENT | TALLY, tally=tally)
    facts.note(recap, b, RECAP_EVENT, tag="recap")
    facts.note(count, a, tag="attest:object")  # adds to what is known
    assert facts.flags(a, count) == SHEET_EVENT | TALLY and facts.flags(b, count) == 0
    assert facts.tag(a, count) == ("attest:object", SHEET_EVENT | TALLY)
    assert facts.tag(b, recap) == ("recap", RECAP_EVENT) and facts.tag(-1, recap) == (None, 0)
    assert facts.flags(a, b"x" * 32) == 0
    with pytest.raises(ValueError):
        facts.note(count, b, RECAP_EVENT)
    ((first, fact), (second, _)) = list(facts.facts())
    assert (first, second) == (count, recap)
    assert sheets.tally(fact.tally) == (10, 20, 30, 5, 35)


def _key(n: int) -> bytes:
    return hashlib.sha256(b"public key %d" % n).digest()


def test_the_signer_table_gives_back_each_signer_as_granted_and_revoked() -> None:
    table = SignerTable()
    root = root_signer(_key(0), KPU_ROOT)
    table.add(root)
    granted = [
        Signer(
            key_id=hashlib.sha256(_key(n)).digest(),
            public_key=_key(n),
            role=role,
            scope=scope,
            root=root.key_id,
            granter=root.key_id,
            contest=contest,
            pair=pair,
            label=label,
        )
        for n, (role, scope, contest, pair, label) in enumerate(
            [
                ("kpu-prov", "33", None, None, "kpu-prov:33"),
                ("paslon", "33.16", "bupati-33.16", 2, "paslon 2"),
                ("saksi", "33.16.01", "bupati-33.16", 2, ""),
                ("kpps", "33.16.01.2001/001", None, None, "x" * 70_000),
            ],
            start=1,
        )
    ]
    for signer in granted:
        table.add(signer)
    assert table[root.key_id] == root
    for signer in granted:
        assert table[signer.key_id] == signer
        assert table.public_key(signer.key_id) == signer.public_key
    assert list(table.values()) == [root, *granted] and len(table) == 5
    assert table.get(b"\0" * 32) is None and b"\0" * 32 not in table
    saksi = granted[2]
    assert not table[saksi.key_id].revoked  # cached, then revoked: not stale
    table.revoke(saksi.key_id)
    assert table[saksi.key_id].revoked and not table[granted[1].key_id].revoked
    orphan = Signer(
        key_id=hashlib.sha256(_key(9)).digest(),
        public_key=_key(9),
        role="kpps",
        scope="33",
        root=b"\1" * 32,
    )
    with pytest.raises(ValueError):
        table.add(orphan)
    assert orphan.key_id not in table and len(table) == 5
    with pytest.raises(ValueError):  # a key is granted once
        table.add(granted[0])
    with pytest.raises(ValueError):  # True is no pair number, though an int
        table.add(replace(orphan, root=root.key_id, granter=root.key_id, pair=True))
    assert len(table) == 5
