"""JSON from outside: one bounded loader and typed field accessors.

Every JSON document the ledger or the verifier reads from outside (trust roots
files, proof files, dossiers, witness state files, tally documents) goes
through :func:`load_json`, which turns any bytes into either a value or a
:class:`~ledger.errors.FormatError` (docs/format.md, section 1.1 "Limits of
outside input"):

* at most ``max_size`` bytes (the caller's limit for its kind of file);
* strict UTF-8 (RFC 3629): no byte-order mark, no other encoding guessed, and
  no lone surrogate smuggled in through a ``\\uD800`` escape;
* arrays and objects nested at most :data:`MAX_JSON_DEPTH` deep, checked on the
  raw text *before* ``json.loads`` recurses, so no input reaches the
  interpreter's recursion limit;
* no duplicate object keys (RFC 8259 leaves them undefined: two readers could
  disagree) and no ``NaN``/``Infinity`` (not JSON).

The accessors (:func:`field_str` and friends) then take one field of an object
and raise FormatError naming the field and the document when it is missing or
of the wrong type, so parsers never meet a ``TypeError`` or ``KeyError``.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from pathlib import Path
from typing import Any, cast

from ledger.errors import FormatError

__all__ = [
    "MAX_DOCUMENT_SIZE",
    "MAX_DOSSIER_SIZE",
    "MAX_JSON_DEPTH",
    "field_dict",
    "field_int",
    "field_list",
    "field_str",
    "load_json",
    "read_limited",
]

MAX_JSON_DEPTH = 16
"""Most arrays/objects a value may sit inside (the top-level value is at depth 0)."""

MAX_DOCUMENT_SIZE = 1 << 22
"""Largest trust roots file, proof file, witness state, note, receipt or tally (4 MiB)."""

MAX_DOSSIER_SIZE = 1 << 31
"""Largest dossier (2 GiB): a province's contest dossier is read whole into memory."""

_DROP = bytes(b for b in range(256) if b not in b'"[]{}')
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
# Only a \uD800-\uDFFF escape can decode to a surrogate.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class _DuplicateKeyError(ValueError):
    pass


def _depth(data: bytes) -> int:
    """An upper bound of the nesting depth ``json.loads`` could reach on ``data``.

    Escaped backslashes and quotes are dropped first (pairwise from the left, as
    a string's escapes are read), so every remaining quote opens or closes a
    string; the brackets between an opening and a closing quote are text. For
    the valid prefix json.loads reads this is exact; past it the bound may only
    grow, which turns one FormatError into another. Runs at C speed (bytes
    methods), as a dossier may be large.
    """
    if b"\\" in data:  # rare in our documents (base64, hex): skip two slow passes
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b"".join(data.translate(None, _DROP).split(b'"')[0::2])
    return max(accumulate(_STEP[b] for b in outside), default=0)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKeyError(f"duplicate key {key!r}")
            seen.add(key)
    return value


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_text(value: Any) -> None:
    """Raise UnicodeEncodeError for a string (or key) holding a lone surrogate."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            item.encode("utf-8")
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())


def load_json(data: bytes | str, what: str, *, max_size: int = MAX_DOCUMENT_SIZE) -> Any:
    """Parse ``data`` as one JSON value within the limits above; FormatError names ``what``."""
    if isinstance(data, str):
        try:
            data = data.encode("utf-8")
        except UnicodeEncodeError as e:
            raise FormatError(f"{what} is not valid Unicode text") from e
    if len(data) > max_size:
        raise FormatError(f"{what} is {len(data):,} bytes, over the limit of {max_size:,}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FormatError(f"{what} is not UTF-8 (byte {e.start})") from e
    if _depth(data) > MAX_JSON_DEPTH:
        raise FormatError(f"{what} nests arrays or objects deeper than {MAX_JSON_DEPTH} levels")
    try:
        value = json.loads(text, object_pairs_hook=_object, parse_constant=_constant)
        if _SURROGATE_ESCAPE.search(data):
            _check_text(value)
    except UnicodeEncodeError as e:
        raise FormatError(f"{what} escapes a lone surrogate (not Unicode text)") from e
    except ValueError as e:  # JSONDecodeError, _DuplicateKeyError, too many integer digits
        raise FormatError(f"{what} is not valid JSON: {e}") from e
    return value


def read_limited(path: str | Path, what: str, limit: int = MAX_DOCUMENT_SIZE) -> bytes:
    """The bytes of the file at ``path``; FormatError if unreadable or over ``limit``."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise FormatError(f"cannot read {what} {path}: {e.strerror or e}") from e
    if len(data) > limit:
        raise FormatError(f"{what} {path} is over the limit of {limit:,} bytes")
    return data


# --- typed fields ----------------------------------------------------------------------


def _field(doc: Any, name: str, what: str) -> Any:
    if not isinstance(doc, dict):
        raise FormatError(f"{what} must be a JSON object")
    if name not in doc:
        raise FormatError(f'{what} lacks the field "{name}"')
    return doc[name]


def _typed(doc: Any, name: str, what: str, kind: type, noun: str) -> Any:
    value = _field(doc, name, what)
    if not isinstance(value, kind):
        raise FormatError(f'{what}: "{name}" must be {noun}')
    return value


def field_str(doc: Any, name: str, what: str) -> str:
    """``doc[name]``, which must be a string."""
    return cast(str, _typed(doc, name, what, str, "a string"))


def field_int(doc: Any, name: str, what: str) -> int:
    """``doc[name]``, which must be an integer (not ``true``/``false``)."""
    value = _field(doc, name, what)
    if isinstance(value, bool) or not isinstance(value, int):
        raise FormatError(f'{what}: "{name}" must be an integer')
    return value


def field_list(doc: Any, name: str, what: str) -> list[Any]:
    """``doc[name]``, which must be an array."""
    return cast(list[Any], _typed(doc, name, what, list, "an array"))


def field_dict(doc: Any, name: str, what: str) -> dict[str, Any]:
    """``doc[name]``, which must be an object."""
    return cast(dict[str, Any], _typed(doc, name, what, dict, "an object"))
