"""Tests for ledger.canonical: canonical msgpack, one byte string per value.

Known answers are worked out by hand from the msgpack spec
(https://github.com/msgpack/msgpack/blob/master/spec.md); property tests use
hypothesis. Every rejection asserts the *exact* error class: NonCanonicalError
for bytes that are msgpack but not the canonical encoding of their value,
FormatError for bytes that are not one complete, valid msgpack value.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ledger.errors import FormatError, NonCanonicalError
from ledger.format import canonical
from ledger.format.canonical import MAX_DEPTH, decode, encode

INT_MIN = -(2**63)
INT_MAX = 2**64 - 1


# --- helpers -------------------------------------------------------------------------


def depth(value: object) -> int:
    """Nesting depth as canonical counts it: a scalar or empty container at top is 0."""
    if isinstance(value, list):
        return 1 + max((depth(item) for item in value), default=-1)
    if isinstance(value, dict):
        return 1 + max((depth(item) for item in value.values()), default=-1)
    return 0


def strictly_equal(a: object, b: object) -> bool:
    """``a == b`` that also tells ``True`` from ``1`` and ``b"x"`` from ``"x"``."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        assert isinstance(b, list)
        return len(a) == len(b) and all(strictly_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        assert isinstance(b, dict)
        return a.keys() == b.keys() and all(strictly_equal(a[k], b[k]) for k in a)
    return a == b


def nested_lists(levels: int, innermost: object) -> object:
    value = innermost
    for _ in range(levels):
        value = [value]
    return value


def raises_exactly(cls: type[Exception], data: bytes) -> Exception:
    with pytest.raises(FormatError) as excinfo:
        decode(data)
    assert type(excinfo.value) is cls, f"{data!r}: got {type(excinfo.value).__name__}"
    return excinfo.value


# --- strategies ----------------------------------------------------------------------

boundary_ints = st.sampled_from(
    [
        0,
        1,
        127,
        128,
        255,
        256,
        2**16 - 1,
        2**16,
        2**32 - 1,
        2**32,
        2**63 - 1,
        2**63,
        INT_MAX,
        -1,
        -32,
        -33,
        -128,
        -129,
        -(2**15),
        -(2**15) - 1,
        -(2**31),
        -(2**31) - 1,
        INT_MIN,
    ]
)
ints = st.integers(min_value=INT_MIN, max_value=INT_MAX) | boundary_ints
scalars = st.none() | st.booleans() | ints | st.text() | st.binary()
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=30,
).filter(lambda v: depth(v) <= MAX_DEPTH)


# --- round trip ----------------------------------------------------------------------


@given(values)
def test_round_trip_value(value: Any) -> None:
    data = encode(value)
    decoded = decode(data)
    assert strictly_equal(decoded, value)
    assert encode(decoded) == data


@given(values)
def test_round_trip_bytes(value: Any) -> None:
    data = encode(value)
    assert encode(decode(data)) == data


@given(st.dictionaries(st.text(), ints, max_size=10))
def test_encoding_does_not_depend_on_insertion_order(value: dict[str, int]) -> None:
    reversed_value = dict(reversed(list(value.items())))
    assert encode(reversed_value) == encode(value)


@given(st.lists(values, max_size=5))
def test_tuple_encodes_as_array(items: list[Any]) -> None:
    assume(depth(items) <= MAX_DEPTH)
    assert encode(tuple(items)) == encode(items)


# --- known answers -------------------------------------------------------------------

KNOWN_ANSWERS: list[tuple[object, bytes]] = [
    # nil, bool
    (None, b"\xc0"),
    (False, b"\xc2"),
    (True, b"\xc3"),
    # positive fixint / uint8 / uint16 / uint32 / uint64
    (0, b"\x00"),
    (1, b"\x01"),
    (127, b"\x7f"),
    (128, b"\xcc\x80"),
    (255, b"\xcc\xff"),
    (256, b"\xcd\x01\x00"),
    (2**16 - 1, b"\xcd\xff\xff"),
    (2**16, b"\xce\x00\x01\x00\x00"),
    (2**32 - 1, b"\xce\xff\xff\xff\xff"),
    (2**32, b"\xcf\x00\x00\x00\x01\x00\x00\x00\x00"),
    (2**63, b"\xcf\x80\x00\x00\x00\x00\x00\x00\x00"),
    (INT_MAX, b"\xcf\xff\xff\xff\xff\xff\xff\xff\xff"),
    # negative fixint / int8 / int16 / int32 / int64
    (-1, b"\xff"),
    (-32, b"\xe0"),
    (-33, b"\xd0\xdf"),
    (-128, b"\xd0\x80"),
    (-129, b"\xd1\xff\x7f"),
    (-(2**15), b"\xd1\x80\x00"),
    (-(2**15) - 1, b"\xd2\xff\xff\x7f\xff"),
    (-(2**31), b"\xd2\x80\x00\x00\x00"),
    (-(2**31) - 1, b"\xd3\xff\xff\xff\xff\x7f\xff\xff\xff"),
    (INT_MIN, b"\xd3\x80\x00\x00\x00\x00\x00\x00\x00"),
    # str: fixstr / str8 / str16 / str32 (length counts UTF-8 bytes, not characters)
    ("", b"\xa0"),
    ("a", b"\xa1a"),
    ("\u00e9", b"\xa2\xc3\xa9"),
    ("\U0001f5f3", b"\xa4\xf0\x9f\x97\xb3"),
    ("x" * 31, b"\xbf" + b"x" * 31),
    ("x" * 32, b"\xd9\x20" + b"x" * 32),
    ("\u00e9" * 16, b"\xd9\x20" + "\u00e9".encode() * 16),
    ("x" * 255, b"\xd9\xff" + b"x" * 255),
    ("x" * 256, b"\xda\x01\x00" + b"x" * 256),
    ("x" * 65535, b"\xda\xff\xff" + b"x" * 65535),
    ("x" * 65536, b"\xdb\x00\x01\x00\x00" + b"x" * 65536),
    # bin: always bin8 / bin16 / bin32, never str
    (b"", b"\xc4\x00"),
    (b"\x00", b"\xc4\x01\x00"),
    (b"a", b"\xc4\x01a"),
    (b"\xff" * 255, b"\xc4\xff" + b"\xff" * 255),
    (b"\xff" * 256, b"\xc5\x01\x00" + b"\xff" * 256),
    (b"\xff" * 65535, b"\xc5\xff\xff" + b"\xff" * 65535),
    (b"\xff" * 65536, b"\xc6\x00\x01\x00\x00" + b"\xff" * 65536),
    # array: fixarray / array16 / array32
    ([], b"\x90"),
    ([1], b"\x91\x01"),
    ([None] * 15, b"\x9f" + b"\xc0" * 15),
    ([None] * 16, b"\xdc\x00\x10" + b"\xc0" * 16),
    ([None] * 65535, b"\xdc\xff\xff" + b"\xc0" * 65535),
    ([None] * 65536, b"\xdd\x00\x01\x00\x00" + b"\xc0" * 65536),
    ((1, 2), b"\x92\x01\x02"),
    # map: fixmap / map16
    ({}, b"\x80"),
    ({"a": None}, b"\x81\xa1a\xc0"),
    (
        {chr(ord("a") + i): i for i in range(15)},
        b"\x8f" + b"".join(b"\xa1" + bytes([ord("a") + i, i]) for i in range(15)),
    ),
    (
        {chr(ord("a") + i): i for i in range(16)},
        b"\xde\x00\x10" + b"".join(b"\xa1" + bytes([ord("a") + i, i]) for i in range(16)),
    ),
    # nesting
    ({"a": [1, {"b": None}]}, b"\x81\xa1a\x92\x01\x81\xa1b\xc0"),
    ([[], {}, b"", ""], b"\x94\x90\x80\xc4\x00\xa0"),
]


@pytest.mark.parametrize(("value", "expected"), KNOWN_ANSWERS, ids=range(len(KNOWN_ANSWERS)))
def test_known_answer(value: object, expected: bytes) -> None:
    assert encode(value) == expected
    decoded = decode(expected)
    if isinstance(value, tuple):
        value = list(value)
    assert strictly_equal(decoded, value)


def test_map32_header() -> None:
    value = {f"{i:05d}": None for i in range(65536)}
    expected = b"\xdf\x00\x01\x00\x00" + b"".join(
        b"\xa5" + f"{i:05d}".encode() + b"\xc0" for i in range(65536)
    )
    assert encode(value) == expected
    assert decode(expected) == value


# Map keys are ordered by their UTF-8 bytes: bytewise, a shorter key first on a
# common prefix. NOT by the msgpack-encoded key (header first, so length first),
# and NOT length-first as in RFC 7049 canonical CBOR.
KEY_ORDER: list[tuple[dict[str, int], bytes]] = [
    # "a" < "aa" < "b"; length-first or header-first ordering would put "b" before "aa".
    ({"b": 1, "a": 2, "aa": 3}, b"\x83\xa1a\x02\xa2aa\x03\xa1b\x01"),
    ({"b": 1, "aa": 2}, b"\x82\xa2aa\x02\xa1b\x01"),
    # shorter first on a common prefix
    ({"ab": 1, "a": 2}, b"\x82\xa1a\x02\xa2ab\x01"),
    ({"a\x00": 1, "a": 2}, b"\x82\xa1a\x02\xa2a\x00\x01"),
    # bytewise, so case matters: "Z" (0x5a) < "a" (0x61) < "é" (0xc3 0xa9)
    ({"\u00e9": 1, "a": 2, "Z": 3}, b"\x83\xa1Z\x03\xa1a\x02\xa2\xc3\xa9\x01"),
    # "" sorts first
    ({"x": 1, "": 2}, b"\x82\xa0\x02\xa1x\x01"),
    # UTF-8 byte order equals code point order (so Python's str sort would agree),
    # but UTF-16 code unit order does not: U+FF61 (UTF-16 ff61) sorts *after* U+10000
    # (UTF-16 d800 dc00) in UTF-16, *before* it in UTF-8 (ef bd a1 < f0 90 80 80).
    # A Java/JavaScript verifier sorting native strings would disagree here.
    (
        {"\U00010000": 1, "\uff61": 2},
        b"\x82\xa3\xef\xbd\xa1\x02\xa4\xf0\x90\x80\x80\x01",
    ),
]


@pytest.mark.parametrize(("value", "expected"), KEY_ORDER, ids=range(len(KEY_ORDER)))
def test_map_key_order(value: dict[str, int], expected: bytes) -> None:
    assert encode(value) == expected
    assert decode(expected) == value


@given(st.dictionaries(st.text(), st.none(), min_size=2, max_size=12))
def test_map_keys_sorted_by_utf8_bytes(value: dict[str, None]) -> None:
    decoded = decode(encode(value))
    keys = [key.encode("utf-8") for key in decoded]  # dict preserves decoded order
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)


# --- rejection of non-canonical and malformed bytes ----------------------------------

NON_CANONICAL: list[tuple[str, bytes]] = [
    # integers in a longer encoding than needed
    ("uint8 for fixint 5", b"\xcc\x05"),
    ("uint8 for 0", b"\xcc\x00"),
    ("uint8 for 127", b"\xcc\x7f"),
    ("uint16 for 128", b"\xcd\x00\x80"),
    ("uint16 for 5", b"\xcd\x00\x05"),
    ("uint32 for 65535", b"\xce\x00\x00\xff\xff"),
    ("uint64 for 2**32-1", b"\xcf\x00\x00\x00\x00\xff\xff\xff\xff"),
    ("int8 for positive 5", b"\xd0\x05"),
    ("int8 for -1", b"\xd0\xff"),
    ("int8 for -32", b"\xd0\xe0"),
    ("int16 for -33", b"\xd1\xff\xdf"),
    ("int16 for positive 128", b"\xd1\x00\x80"),
    ("int32 for -129", b"\xd2\xff\xff\xff\x7f"),
    ("int32 for -32768", b"\xd2\xff\xff\x80\x00"),
    ("int64 for positive 5", b"\xd3\x00\x00\x00\x00\x00\x00\x00\x05"),
    ("int64 for 2**32-1", b"\xd3\x00\x00\x00\x00\xff\xff\xff\xff"),
    ("int64 for -2**31", b"\xd3\xff\xff\xff\xff\x80\x00\x00\x00"),
    # str / bin / array / map headers longer than needed
    ("str8 for 1-byte str", b"\xd9\x01a"),
    ("str8 for empty str", b"\xd9\x00"),
    ("str8 for 31-byte str", b"\xd9\x1f" + b"x" * 31),
    ("str16 for 1-byte str", b"\xda\x00\x01a"),
    ("str16 for 32-byte str", b"\xda\x00\x20" + b"x" * 32),
    ("str32 for 1-byte str", b"\xdb\x00\x00\x00\x01a"),
    ("bin16 for short bin", b"\xc5\x00\x01a"),
    ("bin16 for empty bin", b"\xc5\x00\x00"),
    ("bin32 for short bin", b"\xc6\x00\x00\x00\x01a"),
    ("array16 for 1 element", b"\xdc\x00\x01\x01"),
    ("array16 for empty array", b"\xdc\x00\x00"),
    ("array32 for 1 element", b"\xdd\x00\x00\x00\x01\x01"),
    ("map16 for 1 entry", b"\xde\x00\x01\xa1a\x01"),
    ("map16 for empty map", b"\xde\x00\x00"),
    ("map32 for 1 entry", b"\xdf\x00\x00\x00\x01\xa1a\x01"),
    ("non-minimal int nested in map", b"\x81\xa1a\xcc\x01"),
    ("non-minimal header nested in array", b"\x91\xd9\x01a"),
    # map keys
    ("unsorted keys", b"\x82\xa1b\x01\xa1a\x02"),
    ("unsorted keys, prefix", b"\x82\xa2ab\x01\xa1a\x02"),
    ("keys sorted length-first", b"\x82\xa1b\x01\xa2aa\x02"),
    ("keys sorted by UTF-16", b"\x82\xa4\xf0\x90\x80\x80\x01\xa3\xef\xbd\xa1\x02"),
    ("unsorted keys in nested map", b"\x91\x82\xa1b\x01\xa1a\x02"),
    ("duplicate keys, same value", b"\x82\xa1a\x01\xa1a\x01"),
    ("duplicate keys, different values", b"\x82\xa1a\x01\xa1a\x02"),
    ("duplicate keys, last wins", b"\x83\xa1a\x01\xa1b\x02\xa1b\x03"),
    ("int key", b"\x81\x01\x02"),
    ("negative int key", b"\x81\xff\x02"),
    ("bin key", b"\x81\xc4\x01a\x01"),
    ("nil key", b"\x81\xc0\x01"),
    ("bool key", b"\x81\xc3\x01"),
    ("float key", b"\x81\xca\x00\x00\x00\x00\x01"),
    ("str and bin key with the same bytes", b"\x82\xa1a\x01\xc4\x01a\x02"),
    ("int key colliding with bool key", b"\x82\x01\x01\xc3\x02"),
    # floats
    ("float32 0.0", b"\xca\x00\x00\x00\x00"),
    ("float32 1.0", b"\xca" + struct.pack(">f", 1.0)),
    ("float64 0.0", b"\xcb" + bytes(8)),
    ("float64 1.0", b"\xcb" + struct.pack(">d", 1.0)),
    ("float64 NaN", b"\xcb" + struct.pack(">d", float("nan"))),
    ("float in array", b"\x91\xcb" + struct.pack(">d", 1.5)),
    ("float in map value", b"\x81\xa1a\xca" + struct.pack(">f", 1.5)),
    # extension types
    ("fixext1", b"\xd4\x01\x00"),
    ("fixext2", b"\xd5\x01\x00\x00"),
    ("fixext4", b"\xd6\x01" + bytes(4)),
    ("fixext8", b"\xd7\x01" + bytes(8)),
    ("fixext16", b"\xd8\x01" + bytes(16)),
    ("ext8", b"\xc7\x03\x05abc"),
    ("ext8 empty", b"\xc7\x00\x05"),
    ("ext16", b"\xc8\x00\x03\x05abc"),
    ("ext32", b"\xc9\x00\x00\x00\x03\x05abc"),
    ("timestamp32 ext -1", b"\xd6\xff" + bytes(4)),
    ("timestamp64 ext -1", b"\xd7\xff" + bytes(8)),
    ("timestamp96 ext -1", b"\xc7\x0c\xff" + bytes(12)),
    ("ext in map", b"\x81\xa1a\xd6\xff" + bytes(4)),
    # nesting
    ("nesting one level too deep", b"\x91" * (MAX_DEPTH + 1) + b"\x00"),
    ("empty list one level too deep", b"\x91" * (MAX_DEPTH + 1) + b"\x90"),
    ("maps one level too deep", b"\x81\xa0" * (MAX_DEPTH + 1) + b"\xc0"),
    ("nesting 100 levels", b"\x91" * 100 + b"\xc0"),
]


@pytest.mark.parametrize(("data"), [d for _, d in NON_CANONICAL], ids=[n for n, _ in NON_CANONICAL])
def test_rejects_non_canonical(data: bytes) -> None:
    raises_exactly(NonCanonicalError, data)


MALFORMED: list[tuple[str, bytes]] = [
    ("empty input", b""),
    # trailing bytes after one complete value
    ("trailing byte after int", b"\x00\x00"),
    ("trailing nil", b"\xc0\xc0"),
    ("trailing byte after array", b"\x90\x00"),
    ("trailing byte after map", b"\x81\xa1a\x01\x00"),
    ("two values", b"\xa1a\xa1b"),
    # truncated input
    ("truncated uint8", b"\xcc"),
    ("truncated uint16", b"\xcd\x01"),
    ("truncated uint64", b"\xcf\x00\x00\x00"),
    ("truncated int32", b"\xd2\xff\xff"),
    ("truncated fixstr", b"\xa2a"),
    ("truncated str8 header", b"\xd9"),
    ("truncated str8 body", b"\xd9\x20" + b"x" * 31),
    ("truncated bin8", b"\xc4\x02a"),
    ("truncated bin32 header", b"\xc6\x00\x00"),
    ("truncated array", b"\x92\x01"),
    ("truncated map value", b"\x81\xa1a"),
    ("truncated map key", b"\x82\xa1a\x01"),
    ("huge array count", b"\xdd\xff\xff\xff\xff"),
    ("huge map count", b"\xdf\xff\xff\xff\xff"),
    ("huge str length", b"\xdb\xff\xff\xff\xff"),
    ("huge bin length", b"\xc6\xff\xff\xff\xff"),
    # invalid UTF-8 in str
    ("invalid start byte", b"\xa1\xff"),
    ("lone continuation byte", b"\xa1\x80"),
    ("bad continuation", b"\xa2\xc3\x28"),
    ("overlong NUL", b"\xa2\xc0\x80"),
    ("overlong slash", b"\xa3\xe0\x80\xaf"),
    ("encoded surrogate", b"\xa3\xed\xa0\x80"),
    ("above U+10FFFF", b"\xa4\xf4\x90\x80\x80"),
    ("truncated sequence", b"\xa1\xc3"),
    ("invalid UTF-8 in map key", b"\x81\xa1\xff\x00"),
    ("invalid UTF-8 in str8", b"\xd9\x20" + b"\xff" * 32),
    # never-used byte
    ("reserved 0xc1", b"\xc1"),
    ("reserved 0xc1 in array", b"\x91\xc1"),
    # timestamp ext with a length msgpack itself rejects
    ("timestamp ext of length 1", b"\xd4\xff\x00"),
    # reserved (negative, other than -1) extension types
    ("ext type -128", b"\xd4\x80\x00"),
    ("ext type -2", b"\xd6\xfe" + bytes(4)),
    # unhashable map keys
    ("array map key", b"\x81\x90\x01"),
    ("map map key", b"\x81\x80\x01"),
    # deeper than msgpack's own stack: not msgpack this unpacker can read
    ("nesting 5000 levels", b"\x91" * 5000 + b"\xc0"),
]


@pytest.mark.parametrize(("data"), [d for _, d in MALFORMED], ids=[n for n, _ in MALFORMED])
def test_rejects_malformed(data: bytes) -> None:
    raises_exactly(FormatError, data)


@pytest.mark.parametrize(
    "data",
    [bytearray(b"\x00"), memoryview(b"\x00"), "\x00", 0, None, [0]],
    ids=["bytearray", "memoryview", "str", "int", "None", "list"],
)
def test_decode_rejects_non_bytes(data: object) -> None:
    with pytest.raises(FormatError) as excinfo:
        decode(data)  # type: ignore[arg-type]
    assert type(excinfo.value) is FormatError


def test_depth_limit_boundary() -> None:
    # A scalar at depth MAX_DEPTH is allowed, one level deeper is not; encode and
    # decode draw the line in the same place.
    deepest = nested_lists(MAX_DEPTH, 0)
    data = b"\x91" * MAX_DEPTH + b"\x00"
    assert encode(deepest) == data
    assert decode(data) == deepest
    deepest_empty = nested_lists(MAX_DEPTH, [])
    assert decode(encode(deepest_empty)) == deepest_empty
    with pytest.raises(NonCanonicalError):
        encode(nested_lists(MAX_DEPTH + 1, 0))
    with pytest.raises(NonCanonicalError):
        encode(nested_lists(MAX_DEPTH + 1, []))
    with pytest.raises(NonCanonicalError):
        encode(nested_lists(MAX_DEPTH + 1, {}))


def test_decode_result_is_fresh_value() -> None:
    decoded = decode(b"\x92\x90\x80")
    assert type(decoded) is list
    assert type(decoded[0]) is list
    assert type(decoded[1]) is dict


def _mutations(value: Any, data: st.DataObject) -> bytes:
    encoded = bytearray(encode(value))
    action = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate", "append"]))
    if action == "flip" and encoded:
        i = data.draw(st.integers(0, len(encoded) - 1))
        encoded[i] ^= data.draw(st.integers(1, 255))
    elif action == "insert":
        i = data.draw(st.integers(0, len(encoded)))
        encoded[i:i] = data.draw(st.binary(min_size=1, max_size=3))
    elif action == "delete" and encoded:
        i = data.draw(st.integers(0, len(encoded) - 1))
        del encoded[i]
    elif action == "truncate":
        del encoded[data.draw(st.integers(0, len(encoded))) :]
    else:
        encoded += data.draw(st.binary(max_size=3))
    return bytes(encoded)


def _check_decode_contract(data: bytes) -> None:
    try:
        value = decode(data)
    except FormatError:  # NonCanonicalError is a FormatError
        return
    assert encode(value) == data


@settings(max_examples=1000)
@given(st.binary(max_size=64))
def test_random_bytes_only_raise_format_errors(data: bytes) -> None:
    _check_decode_contract(data)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(values, st.data())
def test_mutated_encodings_only_raise_format_errors(value: Any, data: st.DataObject) -> None:
    _check_decode_contract(_mutations(value, data))


@given(st.lists(st.sampled_from([*range(0xC0, 0x100), 0x00, 0x01, 0x61]), max_size=40))
def test_header_soup_only_raises_format_errors(header_bytes: list[int]) -> None:
    _check_decode_contract(bytes(header_bytes))


# --- encode rejects values outside the format ----------------------------------------


class _Opaque:
    pass


ENCODE_REJECTS: list[tuple[str, object]] = [
    ("float", 1.0),
    ("float zero", 0.0),
    ("nan", float("nan")),
    ("float in list", [1, 2.5]),
    ("float in map", {"a": 0.5}),
    ("int key", {1: "a"}),
    ("bytes key", {b"a": 1}),
    ("None key", {None: 1}),
    ("bool key", {True: 1}),
    ("tuple key", {("a",): 1}),
    ("nested int key", {"a": [{2: 3}]}),
    ("int above uint64", INT_MAX + 1),
    ("int below int64", INT_MIN - 1),
    ("huge int", 10**40),
    ("out-of-range int nested", {"a": [INT_MAX + 1]}),
    ("set", {"a"}),
    ("frozenset", frozenset({1})),
    ("object", _Opaque()),
    ("object in map", {"a": _Opaque()}),
    ("complex", 1j),
    ("type", int),
    ("str with lone surrogate", "\ud800"),
    ("str with lone surrogate in list", ["a\udfff"]),
]


@pytest.mark.parametrize(
    "value", [v for _, v in ENCODE_REJECTS], ids=[n for n, _ in ENCODE_REJECTS]
)
def test_encode_rejects(value: object) -> None:
    with pytest.raises(NonCanonicalError):
        encode(value)


def test_encode_rejects_self_referencing_list() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(NonCanonicalError):
        encode(loop)


@pytest.mark.parametrize("value", [{"\ud800": 1}, "\ud800", ["\udfff"]])
def test_encode_rejects_lone_surrogates(value: object) -> None:
    with pytest.raises(NonCanonicalError, match="surrogate"):
        encode(value)


@pytest.mark.parametrize(
    "value", [bytearray(b"ab"), memoryview(b"ab")], ids=["bytearray", "memoryview"]
)
def test_encode_rejects_bytearray_and_memoryview(value: object) -> None:
    with pytest.raises(NonCanonicalError):
        encode(value)


def test_bool_is_not_int() -> None:
    assert encode(True) != encode(1)
    assert encode(False) != encode(0)
    assert type(decode(encode(True))) is bool
    assert type(decode(encode(1))) is int


def test_bytes_and_str_stay_distinct() -> None:
    assert encode(b"a") == b"\xc4\x01a"
    assert encode("a") == b"\xa1a"
    assert type(decode(b"\xc4\x01a")) is bytes
    assert type(decode(b"\xa1a")) is str


def test_public_names() -> None:
    assert set(canonical.__all__) == {"Value", "decode", "encode"}
