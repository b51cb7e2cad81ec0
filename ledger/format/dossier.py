"""The dossier document: what its builder and its verifier agree on (docs/format.md, "Dossier").

A dossier is a JSON document of exactly the fields :data:`DOC_FIELDS`; its
``events`` are objects of exactly the fields :data:`EVENT_FIELDS`. The builder
(ledger.log.dossier) reads a live ledger; the verifier (ledger.checks.dossier)
reads only the bytes.
"""

from __future__ import annotations

from ledger.errors import SchemaError
from ledger.format.regions import parse_contest_id, parse_stream_id

__all__ = ["DOC_FIELDS", "DOSSIER_FORMAT", "EVENT_FIELDS", "parse_subject"]

DOSSIER_FORMAT = "pilkada-ledger-dossier/v1"
DOC_FIELDS = ("format", "subject", "trust", "checkpoint", "events")
EVENT_FIELDS = ("leaf", "stream", "seq", "event_hash", "envelope", "proof")


def parse_subject(subject: str) -> tuple[str, str]:
    """``("sheet", contest)`` for a sheet stream id, ``("contest", contest)`` for a contest id.

    Raises SchemaError for anything else.
    """
    if subject.startswith("sheet:"):
        parts = parse_stream_id(subject)
        return "sheet", parts[1]
    try:
        parse_contest_id(subject)
    except SchemaError as e:
        raise SchemaError(
            f"{subject!r} is neither a sheet stream id (sheet:<contest>:<TPS>) nor a contest id"
        ) from e
    return "contest", subject
