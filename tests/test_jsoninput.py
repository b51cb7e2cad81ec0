"""The bounded JSON loader every parser of outside JSON uses (ledger/format/jsoninput.py)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import FormatError
from ledger.format.jsoninput import (
    MAX_JSON_DEPTH,
    _depth,
    field_dict,
    field_int,
    field_list,
    field_str,
    load_json,
    read_limited,
)


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_depth_limit_is_exact() -> None:
    assert load_json(nested(MAX_JSON_DEPTH), "doc") is not None
    with pytest.raises(FormatError, match=f"deeper than {MAX_JSON_DEPTH}"):
        load_json(nested(MAX_JSON_DEPTH + 1), "doc")
    objects = b'{"a":' * (MAX_JSON_DEPTH + 1) + b"1" + b"}" * (MAX_JSON_DEPTH + 1)
    with pytest.raises(FormatError, match="deeper"):
        load_json(objects, "doc")


def test_nesting_far_past_the_recursion_limit_is_one_error() -> None:
    """The finding: json.loads itself raised RecursionError on such input."""
    for data in (nested(200_000), b"[" * 200_000, b'{"a":' * 100_000):
        with pytest.raises(FormatError, match="deeper"):
            load_json(data, "doc")


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"a": "[" * 100, "b": '\\["[{' * 50, "c": [["]]]]"]]})
    assert load_json(text, "doc") == json.loads(text)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\xff{}", "not UTF-8"),
        (b'"\xed\xa0\x80"', "not UTF-8"),  # an encoded surrogate
        ('\ufeff{"a": 1}'.encode(), "BOM"),
        (b'{"a": 1, "a": 2}', "duplicate key 'a'"),
        (b'{"a": NaN}', "NaN is not JSON"),
        (b"[Infinity]", "Infinity is not JSON"),
        (b'"\\ud800"', "lone surrogate"),
        (b'{"\\udfff": 1}', "lone surrogate"),
        (b"1" * 5000, "not valid JSON"),
        (b'{"a": 1', "not valid JSON"),
        (b"", "not valid JSON"),
    ],
)
def test_malformed_json_is_a_format_error(data: bytes, match: str) -> None:
    with pytest.raises(FormatError, match=match):
        load_json(data, "doc")


def test_a_surrogate_pair_is_text() -> None:
    assert load_json(b'["\\ud83d\\ude00"]', "doc") == ["\U0001f600"]


def test_size_limit() -> None:
    assert load_json(b"[1]", "doc", max_size=3) == [1]
    with pytest.raises(FormatError, match="over the limit of 2"):
        load_json(b"[1]", "doc", max_size=2)


def test_read_limited(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10)
    assert read_limited(path, "file", 10) == b"x" * 10
    with pytest.raises(FormatError, match="over the limit"):
        read_limited(path, "file", 9)
    with pytest.raises(FormatError, match="cannot read"):
        read_limited(tmp_path / "missing", "file")
    with pytest.raises(FormatError, match="cannot read"):
        read_limited(tmp_path, "file")  # a directory


def test_typed_fields_name_the_field() -> None:
    doc: dict[str, Any] = {"s": "x", "i": 3, "b": True, "l": [], "d": {}}
    assert field_str(doc, "s", "proof") == "x"
    assert field_int(doc, "i", "proof") == 3
    assert field_list(doc, "l", "proof") == []
    assert field_dict(doc, "d", "proof") == {}
    with pytest.raises(FormatError, match='proof lacks the field "z"'):
        field_str(doc, "z", "proof")
    with pytest.raises(FormatError, match='"b" must be an integer'):
        field_int(doc, "b", "proof")
    with pytest.raises(FormatError, match='"l" must be a string'):
        field_str(doc, "l", "proof")
    with pytest.raises(FormatError, match='"s" must be an array'):
        field_list(doc, "s", "proof")
    with pytest.raises(FormatError, match='"s" must be an object'):
        field_dict(doc, "s", "proof")
    with pytest.raises(FormatError, match="must be a JSON object"):
        field_str(["s"], "s", "proof")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet=st.sampled_from('[]{}"\\ab\n')),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=30,
)


def actual_depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(actual_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(actual_depth, value.values()), default=0)
    return 0


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_the_depth_bound_is_exact_on_valid_json(value: Any) -> None:
    """The pre-scan sees through strings and escapes: exact depth for any valid JSON."""
    data = json.dumps(value).encode()
    assert _depth(data) == actual_depth(value)
    if actual_depth(value) <= MAX_JSON_DEPTH:
        assert load_json(data, "doc") == value


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200) | st.text(alphabet=st.sampled_from('[]{}"\\:,1 ad\x00')))
def test_any_input_is_a_value_or_a_format_error(data: bytes | str) -> None:
    with contextlib.suppress(FormatError):
        load_json(data, "doc")


def test_the_limits_are_those_format_md_states() -> None:
    from keys._files import MAX_KEY_FILE_SIZE
    from ledger.format.exportfile import MAX_RECORD
    from ledger.format.jsoninput import MAX_DOCUMENT_SIZE, MAX_DOSSIER_SIZE
    from ledger.format.statement import MAX_ENVELOPE_SIZE

    doc = (Path(__file__).parents[1] / "docs" / "format.md").read_text()
    section = doc[doc.index("### 1.1 Limits") : doc.index("## 2. Canonical msgpack")]
    rows = dict(
        (line.split("|")[1].strip(), line.split("|")[2].strip())
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith("| input")
    )

    def bound(prefix: str) -> str:
        return next(v for k, v in rows.items() if k.startswith(prefix))

    assert bound("envelope").startswith(f"2^{MAX_ENVELOPE_SIZE.bit_length() - 1} bytes")
    assert bound("export record").startswith(f"2^{MAX_RECORD.bit_length() - 1} bytes")
    assert bound("JSON documents").startswith(f"2^{MAX_DOCUMENT_SIZE.bit_length() - 1} bytes")
    assert bound("dossier").startswith(f"2^{MAX_DOSSIER_SIZE.bit_length() - 1} bytes")
    assert bound("key file").startswith(f"2^{MAX_KEY_FILE_SIZE.bit_length() - 1} bytes")
    assert f"nested at most {MAX_JSON_DEPTH} deep" in " ".join(section.split())
