"""The field checks every statement body shares (docs/format.md 5): one definition of
a body's required and optional keys, a count, a text and a hash, for the schema
(ledger.format.schema) and the kinds after the count (ledger.format.aftercount)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledger.errors import SchemaError

__all__ = ["HASH_SIZE", "MAX_TEXT", "count", "event_hash", "require", "text"]

MAX_TEXT = 2000  # characters of a *text* field (format.md 5)
HASH_SIZE = 32  # bytes of an event hash (SHA-256)


def require(body: Mapping[str, Any], required: set[str], optional: set[str], what: str) -> None:
    """``body`` has every key of ``required``, and no key outside it and ``optional``."""
    keys = set(body)
    missing = required - keys
    if missing:
        raise SchemaError(f"{what} lacks field(s) {', '.join(sorted(missing))}")
    unknown = keys - required - optional
    if unknown:
        raise SchemaError(f"{what} has unknown field(s) {', '.join(sorted(unknown))}")


def count(value: Any, name: str) -> int:
    """A non-negative integer (a *count* of format.md 5; booleans are not one)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise SchemaError(f"{name} must be a non-negative integer, got {type(value).__name__}")
    if value < 0:
        raise SchemaError(f"{name} must be a non-negative integer, got {value}")
    return value


def text(value: Any, name: str, *, empty: bool = False, limit: int = MAX_TEXT) -> str:
    """A string of at most ``limit`` characters, not blank unless ``empty``."""
    if not isinstance(value, str):
        raise SchemaError(f"{name} must be a string")
    if not empty and not value.strip():
        raise SchemaError(f"{name} must not be empty")
    if len(value) > limit:
        raise SchemaError(f"{name} is longer than {limit} characters")
    return value


def event_hash(value: Any, name: str) -> bytes:
    """A 32-byte hash."""
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise SchemaError(f"{name} must be a 32-byte hash")
    return value
