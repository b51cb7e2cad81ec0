"""The dossier document: what its builder and its verifier agree on (docs/format.md, "Dossier").

A dossier is a JSON document of exactly the fields :data:`DOC_FIELDS`; its
``events`` are objects of exactly the fields :data:`EVENT_FIELDS` (version 2,
:data:`DOSSIER_FORMAT`: each event as a c2sp.org/tlog-proof, docs/format.md 8.16)
or :data:`EVENT_FIELDS_V1` (version 1, :data:`DOSSIER_FORMAT_V1`: envelope and
proof apart), which verifiers still read. The builder (ledger.log.dossier) reads a
live ledger; the verifier (ledger.checks.dossier) reads only the bytes.
"""

from __future__ import annotations

from ledger.errors import SchemaError
from ledger.format.regions import parse_contest_id, parse_stream_id

__all__ = [
    "DOC_FIELDS",
    "DOSSIER_FORMAT",
    "DOSSIER_FORMAT_V1",
    "EVENT_FIELDS",
    "EVENT_FIELDS_V1",
    "event_fields",
    "parse_subject",
]

DOSSIER_FORMAT = "pilkada-ledger-dossier/v2"
DOSSIER_FORMAT_V1 = "pilkada-ledger-dossier/v1"
DOC_FIELDS = ("format", "subject", "trust", "checkpoint", "events")
#: Version 2: each event's ``tlog_proof`` is its c2sp.org/tlog-proof (the envelope as
#: ``extra``, ``index`` the leaf, the inclusion proof, the dossier's checkpoint).
EVENT_FIELDS = ("leaf", "stream", "seq", "event_hash", "tlog_proof")
EVENT_FIELDS_V1 = ("leaf", "stream", "seq", "event_hash", "envelope", "proof")


def event_fields(dossier_format: object) -> tuple[str, ...] | None:
    """The fields of an event of a dossier of this ``format``; None for another format."""
    if dossier_format == DOSSIER_FORMAT:
        return EVENT_FIELDS
    if dossier_format == DOSSIER_FORMAT_V1:
        return EVENT_FIELDS_V1
    return None


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
