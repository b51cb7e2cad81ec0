"""Errors as HTTP answers: one status per error class, RFC 9457 problem documents.

Every :class:`~ledger.errors.LedgerError` class maps to exactly one HTTP status
(:data:`STATUS`, looked up along the class's MRO, so a subclass without its own
entry answers as its parent). The body is ``application/problem+json``::

    {"type": "tag:pilkada-ledger,2024:problem:StaleHeadError", "title": "...",
     "status": 409, "detail": "<the CLI's one-line message>", "code": "StaleHeadError"}

``code`` names the error class; ``detail`` is the message ``ledger`` prints after
``ledger: error:``. Failures that are not the request's fault have codes of their
own (:data:`SERVER_CODES`): ``StoreUnavailable`` (503, with ``Retry-After``), and
``ServerFailure`` (500, with no detail at all: no response carries a traceback).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError

from ledger import errors

__all__ = [
    "PROBLEM_TYPE",
    "RETRY_AFTER_S",
    "SERVER_CODES",
    "STATUS",
    "Problem",
    "is_store_unavailable",
    "problem_for",
]

PROBLEM_TYPE = "tag:pilkada-ledger,2024:problem:"
PROBLEM_CONTENT_TYPE = "application/problem+json"
RETRY_AFTER_S = 2

# One status per error class (docs/format.md, "HTTP API").
STATUS: dict[type[errors.LedgerError], int] = {
    errors.LedgerError: 400,
    errors.FormatError: 400,
    errors.NonCanonicalError: 400,
    errors.SchemaError: 422,
    errors.InvalidSignature: 422,
    errors.UnknownSignerError: 403,
    errors.UnauthorizedError: 403,
    errors.OutOfScopeError: 403,
    errors.RevokedKeyError: 403,
    errors.ElectionMismatchError: 422,
    errors.StaleHeadError: 409,
    errors.PrevMismatchError: 409,
    errors.UnknownEventError: 404,
    errors.ProofError: 422,
    errors.InclusionProofError: 422,
    errors.ConsistencyProofError: 422,
    errors.RootMismatchError: 422,
    errors.NoteError: 422,
    errors.UnverifiedNoteError: 422,
    # The log's own checkpoints failing their checks means the stored log is damaged.
    errors.CheckpointError: 500,
    errors.LogShrankError: 500,
    errors.InconsistentCheckpointError: 500,
    errors.KeyFileError: 500,
    errors.ConfigurationError: 500,
    # Raised by clients about a server; a server relaying one answers as a bad gateway.
    errors.ServiceError: 502,
    # The witness protocol's (c2sp.org/tlog-witness) refusals keep their statuses there.
    errors.UnknownLogError: 404,
    errors.WitnessConflictError: 409,
    errors.WitnessUnavailableError: 502,
    # What needs a checkpoint the policy's quorum cosigned, asked before there is one.
    errors.UnwitnessedError: 409,
}

# Codes for what is not a LedgerError: the HTTP layer's own refusals and the server's failures.
SERVER_CODES: dict[str, int] = {
    "InvalidRequest": 400,  # a query or path parameter of the wrong type
    "NotFound": 404,
    "MethodNotAllowed": 405,
    "RequestTimeout": 408,
    "ContentTooLarge": 413,
    "UnsupportedMediaType": 415,
    "ServerFailure": 500,
    "StoreUnavailable": 503,
}


class Problem(Exception):  # noqa: N818 - it is an RFC 9457 problem, raised to answer with it
    """An HTTP answer that is not a LedgerError (see SERVER_CODES)."""

    def __init__(self, code: str, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.status = SERVER_CODES[code]
        self.detail = detail
        self.headers = headers or {}


def status_of(error: errors.LedgerError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return STATUS[
        errors.LedgerError
    ]  # pragma: no cover - every LedgerError has LedgerError in its MRO


def _title(code: str, cls: type[BaseException] | None) -> str:
    if cls is not None and cls.__doc__:
        return cls.__doc__.strip().splitlines()[0]
    return {
        "InvalidRequest": "A request parameter is missing or malformed.",
        "NotFound": "No such resource.",
        "MethodNotAllowed": "This resource does not take this method.",
        "RequestTimeout": "The request body did not arrive in time.",
        "ContentTooLarge": "The request body is larger than the documented limit.",
        "UnsupportedMediaType": "The request body's content type is not the documented one.",
        "ServerFailure": "The server failed; nothing about the failure is disclosed.",
        "StoreUnavailable": "The ledger's database does not answer; retry later.",
    }[code]


def document(
    code: str, status: int, detail: str | None, cls: type[BaseException] | None = None
) -> dict[str, Any]:
    """The RFC 9457 problem document (RFC 9457 section 3)."""
    doc: dict[str, Any] = {
        "type": PROBLEM_TYPE + code,
        "title": _title(code, cls),
        "status": status,
        "code": code,
    }
    if detail is not None:
        doc["detail"] = detail
    return doc


def problem_for(error: BaseException) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, problem document, extra headers) for any exception a request raised."""
    if isinstance(error, errors.LedgerError):
        status = status_of(error)
        return status, document(type(error).__name__, status, str(error), type(error)), {}
    if isinstance(error, Problem):
        return error.status, document(error.code, error.status, error.detail), error.headers
    if is_store_unavailable(error):
        return (
            503,
            document("StoreUnavailable", 503, "the ledger's database does not answer; retry later"),
            {"Retry-After": str(RETRY_AFTER_S)},
        )
    return 500, document("ServerFailure", 500, None), {}


def is_store_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database cannot be reached (as opposed to a bug)."""
    if isinstance(error, OperationalError | InterfaceError | sqlite3.OperationalError):
        return True
    try:
        import psycopg
        import psycopg_pool
    except ImportError:  # a SQLite-only installation
        return False
    if isinstance(
        error, psycopg.OperationalError | psycopg.InterfaceError | psycopg_pool.PoolTimeout
    ):
        return True
    if isinstance(error, psycopg.Error):
        # No SQLSTATE: the connection failed on the client's side; class 08 is a
        # connection exception, 57P the server shutting down (PostgreSQL appendix A).
        state = error.sqlstate or ""
        return not state or state.startswith(("08", "57P"))
    cause = error.__cause__
    return cause is not None and cause is not error and is_store_unavailable(cause)
