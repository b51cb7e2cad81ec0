"""Statements as plain JSON values, for ``ledger show --json`` and the HTTP API."""

from __future__ import annotations

from typing import Any

from ledger.format.statement import Envelope

__all__ = ["describe", "jsonable"]


def describe(envelope: Envelope) -> dict[str, Any]:
    """One event: seq, kind, hashes, signer, time and body (bytes as hex)."""
    s = envelope.statement
    return {
        "seq": s.seq,
        "kind": s.kind,
        "hash": envelope.hash.hex(),
        "prev": s.prev.hex(),
        "signer": s.signer.hex(),
        "time": s.time,
        "body": jsonable(s.body),
    }


def jsonable(value: Any) -> Any:
    """``value`` with every bytes value as hex, so json.dumps takes it."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value
