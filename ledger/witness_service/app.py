"""The witness over HTTP: c2sp.org/tlog-witness, and the project's read extension.

Routes (one prefix serves as both the spec's submission and monitoring prefix):

``POST /add-checkpoint``
    The spec's request body (:class:`~ledger.format.tlog_wire.AddCheckpointRequest`);
    200 with the cosignature line (``text/plain; charset=utf-8``), or a refusal
    with the spec's status: 404 origin not followed, 403 no trusted log signature
    verifies, 400 malformed body or ``old`` above the checkpoint's size, 409 with
    the witness's size as ``text/x.tlog.size`` when ``old`` is not that size,
    422 the consistency proof does not hold, 409 (a problem, no size) for a
    second root at the witness's size. 413 for a body over
    :data:`MAX_BODY_BYTES`.
``GET /checkpoints/<origin>``
    The project's extension for monitors (docs/format.md 8.15): the latest
    checkpoint this witness cosigned for the origin (percent-encoded in the
    path), as the full note: checkpoint text, the log's signature(s), this
    witness's cosignature. 404 if the origin is not followed or nothing was
    cosigned yet.

Every other refusal is an RFC 9457 problem (``application/problem+json``).
Cosigning runs in a worker thread; the witness's lock serialises requests
(across processes too), and its state is on disk before any answer leaves.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from http import HTTPStatus

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ledger.errors import (
    ConfigurationError,
    InconsistentCheckpointError,
    LedgerError,
    ProofError,
    UnknownLogError,
    UnverifiedNoteError,
    WitnessConflictError,
)
from ledger.format.tlog_wire import (
    ADD_CHECKPOINT_PATH,
    SIZE_CONTENT_TYPE,
    AddCheckpointRequest,
    encode_size,
)
from ledger.log.witness import Witness

__all__ = ["CHECKPOINTS_PATH", "MAX_BODY_BYTES", "create_app", "serve"]

#: The read extension's path prefix; the origin follows, percent-encoded.
CHECKPOINTS_PATH = "/checkpoints/"
#: The largest add-checkpoint body accepted (63 proof lines and a note are far less).
MAX_BODY_BYTES = 64 * 1024

_NOTE_TYPE = "text/plain; charset=utf-8"
_PROBLEM_TYPE = "application/problem+json"
_log = logging.getLogger(__name__)


class _BodyTooLargeError(Exception):
    pass


def _problem(status: int, detail: str) -> JSONResponse:
    """An RFC 9457 problem with the ``about:blank`` type (title = the status phrase)."""
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    return JSONResponse(body, status_code=status, media_type=_PROBLEM_TYPE)


def _status_of(error: LedgerError) -> int:
    """The tlog-witness status of a refusal by :meth:`Witness.add_checkpoint`."""
    if isinstance(error, UnknownLogError):
        return HTTPStatus.NOT_FOUND
    if isinstance(error, UnverifiedNoteError):
        return HTTPStatus.FORBIDDEN
    if isinstance(error, WitnessConflictError):
        return HTTPStatus.CONFLICT
    if isinstance(error, InconsistentCheckpointError | ProofError):
        return HTTPStatus.UNPROCESSABLE_ENTITY
    if isinstance(error, ConfigurationError):
        return HTTPStatus.INTERNAL_SERVER_ERROR
    return HTTPStatus.BAD_REQUEST


def _refusal(error: LedgerError) -> Response:
    status = _status_of(error)
    if isinstance(error, WitnessConflictError) and error.witness_size is not None:
        # The spec fixes this body and type exactly: no charset parameter.
        return Response(
            encode_size(error.witness_size),
            status_code=status,
            headers={"Content-Type": SIZE_CONTENT_TYPE},
        )
    if status == HTTPStatus.INTERNAL_SERVER_ERROR:
        _log.error("witness state unavailable: %s", error)
        return _problem(status, "the witness cannot read or write its state")
    return _problem(status, str(error))


async def _read_body(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _BodyTooLargeError
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(witness: Witness, clock: Callable[[], int]) -> Starlette:
    """The ASGI application of ``witness``; ``clock`` gives cosignature times (Unix seconds)."""

    async def add_checkpoint(request: Request) -> Response:
        try:
            body = await _read_body(request)
        except _BodyTooLargeError:
            return _problem(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body over {MAX_BODY_BYTES} bytes"
            )
        try:
            parsed = AddCheckpointRequest.parse(body)
            line = await run_in_threadpool(
                witness.add_checkpoint,
                parsed.old_size,
                parsed.proof,
                parsed.checkpoint,
                now=clock(),
            )
        except LedgerError as e:
            return _refusal(e)
        return Response(line, media_type=_NOTE_TYPE)

    async def latest_checkpoint(request: Request) -> Response:
        origin = request.path_params["origin"]
        try:
            state = await run_in_threadpool(witness.state, origin)
        except LedgerError as e:
            return _refusal(e)
        if state is None:
            return _problem(HTTPStatus.NOT_FOUND, f"no checkpoint of {origin!r} cosigned yet")
        return Response(state.note, media_type=_NOTE_TYPE)

    async def http_error(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, HTTPException):
            _log.exception("witness service failure", exc_info=exc)
            return _problem(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")
        response = _problem(exc.status_code, HTTPStatus(exc.status_code).description)
        response.headers.update(exc.headers or {})
        return response

    return Starlette(
        routes=[
            Route(ADD_CHECKPOINT_PATH, add_checkpoint, methods=["POST"]),
            Route(CHECKPOINTS_PATH + "{origin:path}", latest_checkpoint, methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error, Exception: http_error},
    )


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as e:
        sock.close()
        raise ConfigurationError(f"cannot listen on {host}:{port}: {e}") from e
    return sock


def serve(
    witness: Witness,
    host: str,
    port: int,
    clock: Callable[[], int],
    ready: Callable[[str], None],
) -> None:
    """Serve ``witness`` on ``host:port`` (0: any free port) until SIGINT or SIGTERM.

    ``ready`` is called with the base URL once the socket listens.
    """
    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    config = uvicorn.Config(create_app(witness, clock), log_level="warning", access_log=False)
    ready(f"http://{shown}:{bound}")
    uvicorn.Server(config).run(sockets=[sock])
