"""Canonical msgpack: exactly one byte string for every value.

The rules (docs/format.md, section "Canonical msgpack"):

* allowed types: nil, bool, int in [-2**63, 2**64 - 1], str (UTF-8), bin, array, map;
  no float, no extension types (so no msgpack timestamps);
* every integer, string, bin, array and map header uses its smallest encoding;
* strings are always str, bytes always bin (never raw str for bytes);
* map keys are str, unique, sorted by their UTF-8 bytes (bytewise, shorter first
  on a common prefix).

:func:`decode` accepts only bytes that :func:`encode` would produce: it decodes,
checks the types, re-encodes and compares. Anything else raises
:class:`~ledger.errors.NonCanonicalError` (or :class:`~ledger.errors.FormatError`
for bytes that are not msgpack at all), so two parties who accept the same bytes
always agree on the value, and one value can never be signed in two encodings.
"""

from __future__ import annotations

from typing import Any

import msgpack

from ledger.errors import FormatError, NonCanonicalError

__all__ = ["Value", "decode", "encode"]

Value = None | bool | int | str | bytes | list["Value"] | dict[str, "Value"]

_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1
# Deep nesting is never legitimate in this format; a bound keeps the recursion
# (and a hostile input's cost) small.
MAX_DEPTH = 16


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise NonCanonicalError("string is not valid Unicode (a lone surrogate)") from e


def _normalise(value: object, depth: int) -> Any:
    """Return ``value`` with every map's keys in canonical order, or raise."""
    if depth > MAX_DEPTH:
        raise NonCanonicalError(f"value nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bytes | bool):
        return value
    if isinstance(value, str):
        _utf8(value)
        return value
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise NonCanonicalError(f"integer {value} is outside the msgpack range")
        return value
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise NonCanonicalError(f"map key {key!r} is not a string")
            items.append((_utf8(key), key, _normalise(item, depth + 1)))
        items.sort(key=lambda entry: entry[0])
        return {key: item for _, key, item in items}
    # Only list and tuple: bytearray and memoryview are Sequences too, and must
    # not silently become arrays of integers.
    if isinstance(value, list | tuple):
        return [_normalise(item, depth + 1) for item in value]
    raise NonCanonicalError(f"type {type(value).__name__} has no canonical encoding")


def encode(value: object) -> bytes:
    """Encode ``value`` canonically.

    Tuples encode as arrays; ``bytearray``/``memoryview`` are not accepted (pass
    ``bytes``). Raises :class:`NonCanonicalError` for a value outside the format
    (a float, a non-string map key, an out-of-range integer).
    """
    normalised = _normalise(value, 0)
    try:
        packed: bytes = msgpack.packb(normalised, use_bin_type=True, strict_types=False)
    except (TypeError, ValueError, OverflowError) as e:  # pragma: no cover - _normalise guards
        raise NonCanonicalError(f"cannot encode value: {e}") from e
    return packed


_SCALARS = frozenset({type(None), bool, int, str, bytes})


def _check_types(value: object, depth: int) -> None:
    """Reject floats, extension types, non-string or unsorted map keys, deep nesting.

    Hot on every decode, so scalars are dispatched by exact type before any
    recursion (a C.Hasil tally is ~30 scalars in one map).
    """
    kind = type(value)
    if kind in _SCALARS:
        return
    if depth >= MAX_DEPTH and value:  # its items would sit deeper than MAX_DEPTH
        raise NonCanonicalError(f"value nested deeper than {MAX_DEPTH} levels")
    if kind is dict:
        previous = b""
        first = True
        for key, item in value.items():  # type: ignore[attr-defined]
            if type(key) is not str:
                raise NonCanonicalError(f"map key {key!r} is not a string")
            encoded = key.encode("utf-8")
            if not first and encoded <= previous:
                raise NonCanonicalError(f"map key {key!r} is out of canonical order")
            first = False
            previous = encoded
            if type(item) not in _SCALARS:
                _check_types(item, depth + 1)
        return
    if kind is list:
        for item in value:  # type: ignore[attr-defined]
            if type(item) not in _SCALARS:
                _check_types(item, depth + 1)
        return
    if kind is float:
        raise NonCanonicalError("floats are not allowed")
    if isinstance(value, msgpack.ExtType | msgpack.Timestamp):
        raise NonCanonicalError("msgpack extension types are not allowed")
    raise NonCanonicalError(f"unexpected decoded type {kind.__name__}")


def decode(data: bytes) -> Any:
    """Decode canonical msgpack bytes, rejecting every other encoding.

    Raises :class:`FormatError` if ``data`` is not one complete msgpack value and
    :class:`NonCanonicalError` if it is, but not in its canonical encoding
    (unsorted or duplicate keys, a longer-than-needed header, a float, an
    extension type, a non-string key).
    """
    if not isinstance(data, bytes):
        raise FormatError(f"expected bytes, got {type(data).__name__}")
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=False,
            use_list=True,
            timestamp=0,
        )
    except msgpack.ExtraData as e:
        raise FormatError(f"{len(e.extra)} trailing bytes after the msgpack value") from e
    except (ValueError, TypeError, msgpack.UnpackException) as e:
        # UnicodeDecodeError is a ValueError: invalid UTF-8 in a str lands here.
        raise FormatError(f"not valid msgpack: {e}") from e
    _check_types(value, 0)  # also: map keys in the input's order are sorted
    # Maps keep the input's key order, now known to be canonical, so a plain
    # re-encode reproduces the input exactly when every header was minimal and
    # no key was repeated (a repeat collapses and shortens the re-encoding).
    if msgpack.packb(value, use_bin_type=True) != data:
        raise NonCanonicalError(
            "bytes are not the canonical encoding of their value "
            "(unsorted or duplicate map keys, or a header longer than needed)"
        )
    return value
