"""The HTTP ledger service: an ASGI application (FastAPI), served by uvicorn.

Write path (docs/format.md, "HTTP API"): ``POST /v1/envelopes`` takes one
canonical envelope, ``POST /v1/batches`` several (all or nothing, in order);
both go through the process's :class:`~ledger.server.writer.GroupWriter`.
Read path: the transparency log as c2sp.org/tlog-tiles serves it at the root
(``/checkpoint``, ``/tile/...``), and JSON under ``/v1/``: streams, events with
their receipts, inclusion and consistency proofs (the same files ``ledger proof``
writes), and the projections (totals, sheets, recaps, trail, findings).
``/healthz``, ``/metrics`` (Prometheus) and ``/openapi.json`` describe the service.

Checkpoints: every process runs a :class:`~ledger.log.checkpointer.Checkpointer`;
the one holding the ledger's leader lock issues checkpoints and has the trust
policy's witnesses cosign them. ``/checkpoint`` serves the latest one whose
cosignatures meet the policy's quorum, and ``/v1/proofs/tlog-proof`` the
c2sp.org/tlog-proof of an event inside it; ``/v1/checkpointer`` says whether the
latest issued checkpoint met the quorum, and what each witness answered.

Every failure is an RFC 9457 problem document (ledger.server.problems); the
limits below are enforced before anything is read into memory or stored.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.errors import LedgerError, UnknownEventError, UnwitnessedError
from ledger.format.describe import describe
from ledger.format.statement import Envelope, parse_event_hash
from ledger.log import tiles
from ledger.log.checkpointer import (
    DEFAULT_INTERVAL_S,
    DEFAULT_LEAVES,
    LEADER_LOCK,
    Checkpointer,
    CheckpointSchedule,
)
from ledger.log.tlog import TransparencyLog
from ledger.log.witness_client import DEFAULT_TIMEOUT as WITNESS_TIMEOUT_S
from ledger.server import metrics
from ledger.server.pages import register_pages
from ledger.server.policy import server_policy
from ledger.server.problems import PROBLEM_CONTENT_TYPE, Problem, problem_for
from ledger.server.projection import open_projections
from ledger.server.wire import (
    BATCH_TYPE,
    BODY_TIMEOUT_S,
    ENVELOPE_TYPES,
    MAX_BATCH_BYTES,
    MAX_ENVELOPE_BYTES,
    decode_batch,
)
from ledger.server.writer import GroupWriter, Submitted
from ledger.store.home import LedgerHome
from ledger.store.persistence import database_errors
from projections import views
from projections.store import Store

__all__ = ["ServerSettings", "create_app"]

CHECKPOINT_INTERVAL_S = DEFAULT_INTERVAL_S  # a new checkpoint when the log grew, at most this often
CHECKPOINT_MAX_AGE_S = 2  # Cache-Control of /checkpoint
CHECKPOINTER_TICK_S = 0.5  # how often each process asks for the lead and whether a round is due
TLOG_PROOF_TYPE = "text/plain; charset=utf-8"

_log = logging.getLogger("ledger.server")
FULL_TILE_CACHE = "public, max-age=31536000, immutable"  # a full tile never changes
PARTIAL_TILE_CACHE = "public, max-age=60"  # superseded by wider ones as the log grows

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """What one server process needs: the ledger directory and the log key's passphrase."""

    directory: Path
    passphrase: bytes
    body_timeout_s: float = BODY_TIMEOUT_S
    checkpoint_interval_s: float = CHECKPOINT_INTERVAL_S
    checkpoint_leaves: int = DEFAULT_LEAVES
    witness_timeout_s: float = WITNESS_TIMEOUT_S
    #: policy witness name -> submission prefix, beside the URLs the policy gives
    witness_urls: tuple[tuple[str, str], ...] = ()


# --- response models (the OpenAPI document's schemas) ------------------------------------


class SubmittedModel(BaseModel):
    event_hash: str
    stream: str
    seq: int
    leaf_index: int
    duplicate: bool
    receipt: str


class BatchModel(BaseModel):
    results: list[SubmittedModel]


class EventModel(BaseModel):
    event_hash: str
    stream: str
    seq: int
    leaf_index: int
    envelope: str
    statement: dict[str, Any]
    receipt: str


class StreamModel(BaseModel):
    stream: str
    seq: int
    head: str
    events: list[dict[str, Any]]


class HealthModel(BaseModel):
    status: str
    log_size: int


class WitnessStatusModel(BaseModel):
    name: str
    url: str | None
    cosigned_size: int | None
    error: str


class CheckpointerModel(BaseModel):
    leader: bool
    quorum: str
    latest_size: int | None
    published_size: int | None
    quorum_met: bool
    witnesses: list[WitnessStatusModel]


_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string"},
        "detail": {"type": "string"},
    },
}

_STATUS_TEXT = {
    400: "Malformed request or envelope (FormatError, NonCanonicalError, InvalidRequest)",
    403: "The signer may not make this statement (UnknownSignerError, UnauthorizedError, OutOfScopeError, RevokedKeyError)",
    404: "No such event, stream, position or contest (UnknownEventError, NotFound)",
    408: "The request body did not arrive in time (RequestTimeout)",
    409: "The stream moved on: fetch its head and sign again (StaleHeadError, PrevMismatchError)",
    413: "The body exceeds a documented limit (ContentTooLarge, EntryTooLargeError)",
    415: "The body's content type is not the documented one (UnsupportedMediaType)",
    422: "The statement breaks a rule (SchemaError, InvalidSignature, ElectionMismatchError)",
    500: "The server failed (ServerFailure; details are never disclosed)",
    503: "The database does not answer, or the server is busy: retry after Retry-After (StoreUnavailable)",
}


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {
            "description": _STATUS_TEXT[status],
            "content": {PROBLEM_CONTENT_TYPE: {"schema": _PROBLEM_SCHEMA}},
        }
        for status in statuses
    }


_READ_PROBLEMS = _problems(400, 404, 500, 503)
_WRITE_PROBLEMS = _problems(400, 403, 404, 408, 409, 413, 415, 422, 500, 503)


def _binary_body(*types: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in types},
        }
    }


def _json_text(schema_ref: str) -> dict[str, Any]:
    return {
        "content": {"application/json": {"schema": {"type": "object"}}},
        "description": schema_ref,
    }


# --- the service ---------------------------------------------------------------------------


class _Service:
    """One process's ledger handles: a writer (its own Ledger) and a reader."""

    def __init__(self, settings: ServerSettings) -> None:
        home = LedgerHome(settings.directory)
        self.reader = home.open()
        self.signer = home.log_signer(settings.passphrase, self.reader.trust)
        self.log = TransparencyLog(self.reader)
        self.writer = GroupWriter(home.open(), self.signer, on_group=metrics.GROUP_SIZE.observe)
        self.projections = open_projections(self.reader)
        self._projecting = threading.Lock()
        self.policy = server_policy(settings.directory, self.reader.trust.log_vkey)
        self.checkpointer = Checkpointer(
            self.log,
            lambda: self.writer.issue_checkpoint().result(),
            self.policy,
            dict(settings.witness_urls),
            schedule=CheckpointSchedule(
                settings.checkpoint_interval_s,
                settings.checkpoint_leaves,
                settings.witness_timeout_s,
            ),
        )
        self.leader = self.reader.log_store.leader_lock(LEADER_LOCK)
        self._published: tuple[int, bytes] | None = None
        self._publishing = threading.Lock()

    def close(self) -> None:
        self.leader.release()
        self.checkpointer.close()
        self.writer.close()
        self.writer.ledger.close()
        self.projections.close()
        self.reader.close()

    def store(self) -> Store:
        """The live projection, brought up to date: what `ledger serve`'s follower
        process has not projected yet (little, when it keeps up) is projected here,
        so a read sees every write answered before it. A page the follower (or
        another worker) commits first is taken as done (Projections.catch_up)."""
        with self._projecting:
            self.projections.catch_up()
            return self.projections.store()

    def checkpoint(self) -> bytes:
        """What ``/checkpoint`` serves: the latest checkpoint meeting the policy's quorum.

        Without a policy (no witness named) the latest checkpoint, issued now if
        none was yet. With one, UnwitnessedError until a checkpoint met the quorum.
        """
        if self.policy is None and self.log.latest_checkpoint() is None:
            self.writer.issue_checkpoint().result()
        published = self.published()
        if published is None:
            raise UnwitnessedError(
                f"no checkpoint meets the trust policy's {self.policy_text()} yet"
            )
        return published[1]

    def policy_text(self) -> str:
        return "quorum none" if self.policy is None else self.policy.describe()

    def published(self) -> tuple[int, bytes] | None:
        """The latest stored checkpoint that meets the quorum (size, note), or None.

        Only checkpoints from the last one published on are read: one grows into
        the next, and a published one never stops meeting the quorum.
        """
        with self._publishing:
            since = 0 if self._published is None else self._published[0]
            found = self.log.witnessed_checkpoint(self.policy, holding=since)
            if found is not None:
                self._published = found
            return self._published

    def lead(self) -> bool:
        """Whether this process leads the checkpointer now (taking the lead if free)."""
        if self.leader.held():
            return True
        self.leader.release()  # a lost lock (connection) is given up before asking again
        return self.leader.try_acquire()


def _submitted_json(s: Submitted) -> dict[str, Any]:
    a = s.accepted
    return {
        "event_hash": a.event_hash.hex(),
        "stream": a.stream,
        "seq": a.seq,
        "leaf_index": a.leaf_index,
        "duplicate": a.duplicate,
        "receipt": s.receipt.note.decode(),
    }


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _read_body(
    request: Request, accepted: tuple[str, ...], limit: int, timeout: float
) -> bytes:
    """The request body, after its content type and size are checked (415, 413, 408)."""
    if _media_type(request) not in accepted:
        raise Problem(
            "UnsupportedMediaType",
            f"content type {_media_type(request) or '(none)'!r} is not accepted here; "
            f"send {' or '.join(accepted)}",
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Problem("ContentTooLarge", f"the body is {int(declared)} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0

    async def read() -> None:
        nonlocal size
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise Problem("ContentTooLarge", f"the body exceeds the limit of {limit} bytes")
            chunks.append(chunk)

    try:
        await asyncio.wait_for(read(), timeout)
    except TimeoutError as e:
        raise Problem("RequestTimeout", f"the body did not arrive within {timeout:g} s") from e
    return b"".join(chunks)


def _problem_response(error: BaseException) -> JSONResponse:
    status, doc, headers = problem_for(error)
    return JSONResponse(doc, status_code=status, headers=headers, media_type=PROBLEM_CONTENT_TYPE)


def create_app(settings: ServerSettings) -> FastAPI:
    """The ASGI application for one ledger directory (one per worker process)."""
    service: _Service | None = None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal service
        service = await asyncio.to_thread(_Service, settings)
        for w in service.checkpointer.status():
            if w.url is None:
                _log.warning(
                    "witness %s has no URL (in the trust policy, or --witness-url): "
                    "it is not asked to cosign",
                    w.name,
                )
        ticker = asyncio.create_task(_checkpoints(service))
        try:
            yield
        finally:
            ticker.cancel()
            await asyncio.to_thread(service.close)

    app = FastAPI(
        title="pilkada-ledger",
        version="1",
        summary="Signed, hash-chained, transparency-logged election tallies",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )

    def svc() -> _Service:
        if service is None:  # pragma: no cover - requests come after the lifespan started
            raise Problem(
                "StoreUnavailable", "the server is starting", headers={"Retry-After": "1"}
            )
        return service

    async def run(fn: Callable[[], T]) -> T:
        return await asyncio.to_thread(fn)

    @app.exception_handler(LedgerError)
    async def _ledger_error(request: Request, e: LedgerError) -> JSONResponse:
        return _problem_response(e)

    @app.exception_handler(Problem)
    async def _problem(request: Request, e: Problem) -> JSONResponse:
        return _problem_response(e)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        first = e.errors()[0] if e.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _problem_response(
            Problem("InvalidRequest", f"{where}: {first.get('msg', 'invalid')}")
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, e: StarletteHTTPException) -> JSONResponse:
        code = {404: "NotFound", 405: "MethodNotAllowed"}.get(e.status_code, "InvalidRequest")
        detail = "no such resource" if code == "NotFound" else str(e.detail)
        return _problem_response(Problem(code, detail))

    async def _store(request: Request, e: Exception) -> JSONResponse:
        return _problem_response(e)

    # Database failures are answered here (503, or 500 for what is not the store being
    # down); only a bug reaches the catch-all below, which also closes the connection.
    for cls in database_errors():
        app.add_exception_handler(cls, _store)

    @app.exception_handler(Exception)
    async def _any(request: Request, e: Exception) -> JSONResponse:
        return _problem_response(e)

    # --- write path ----------------------------------------------------------------------

    @app.post(
        "/v1/envelopes",
        summary="Submit one signed envelope",
        response_model=SubmittedModel,
        responses={
            200: {"description": "Already in the ledger: its original position and receipt"},
            **_WRITE_PROBLEMS,
        },
        status_code=201,
        openapi_extra=_binary_body(*ENVELOPE_TYPES),
    )
    async def post_envelope(request: Request) -> Response:
        started = time.perf_counter()
        try:
            raw = await _read_body(
                request, ENVELOPE_TYPES, MAX_ENVELOPE_BYTES, settings.body_timeout_s
            )
            submitted: Submitted = await asyncio.wrap_future(svc().writer.submit_one(raw))
        except Exception as e:
            metrics.REFUSED.labels(code=problem_for(e)[1]["code"]).inc()
            raise
        finally:
            metrics.LATENCY.labels(endpoint="envelopes").observe(time.perf_counter() - started)
        metrics.ACCEPTED.labels(duplicate=str(submitted.accepted.duplicate).lower()).inc()
        return JSONResponse(
            _submitted_json(submitted),
            status_code=200 if submitted.accepted.duplicate else 201,
            headers={"Location": f"/v1/events/{submitted.accepted.event_hash.hex()}"},
        )

    @app.post(
        "/v1/batches",
        summary="Submit several envelopes: all or nothing, in order",
        response_model=BatchModel,
        responses=_WRITE_PROBLEMS,
        openapi_extra=_binary_body(BATCH_TYPE),
    )
    async def post_batch(request: Request) -> Response:
        started = time.perf_counter()
        try:
            body = await _read_body(
                request, (BATCH_TYPE,), MAX_BATCH_BYTES, settings.body_timeout_s
            )
            raws = decode_batch(body)
            results: list[Submitted] = await asyncio.wrap_future(svc().writer.submit_batch(raws))
        except Exception as e:
            metrics.REFUSED.labels(code=problem_for(e)[1]["code"]).inc()
            raise
        finally:
            metrics.LATENCY.labels(endpoint="batches").observe(time.perf_counter() - started)
        for s in results:
            metrics.ACCEPTED.labels(duplicate=str(s.accepted.duplicate).lower()).inc()
        return JSONResponse({"results": [_submitted_json(s) for s in results]})

    # --- read path: JSON under /v1/ ------------------------------------------------------

    @app.get(
        "/v1/streams/{stream:path}",
        summary="A stream's events and head",
        response_model=StreamModel,
        responses=_READ_PROBLEMS,
    )
    async def get_stream(stream: str) -> dict[str, Any]:
        envelopes = await run(lambda: svc().reader.stream(stream))
        return {
            "stream": stream,
            "seq": len(envelopes),
            "head": (envelopes[-1].hash if envelopes else bytes(32)).hex(),
            "events": [
                {**describe(e), "envelope": base64.b64encode(e.raw).decode()} for e in envelopes
            ],
        }

    @app.get(
        "/v1/events/{event_hash}",
        summary="An event: its envelope, position and receipt",
        response_model=EventModel,
        responses=_READ_PROBLEMS,
    )
    async def get_event(event_hash: str) -> dict[str, Any]:
        wanted = parse_event_hash(event_hash)

        def read() -> dict[str, Any]:
            s = svc()
            leaf = s.reader.log_store.leaf_by_hash(wanted)
            if leaf is None:
                raise UnknownEventError(f"event {event_hash[:16]} is not in the log")
            envelope = s.reader.stream(leaf.stream)[leaf.seq - 1]
            receipt = s.log.receipt(_accepted(envelope, leaf.leaf_index), s.signer)
            return {
                "event_hash": envelope.hash.hex(),
                "stream": leaf.stream,
                "seq": leaf.seq,
                "leaf_index": leaf.leaf_index,
                "envelope": base64.b64encode(envelope.raw).decode(),
                "statement": describe(envelope),
                "receipt": receipt.note.decode(),
            }

        return await run(read)

    @app.get(
        "/v1/proofs/inclusion",
        summary="An inclusion proof file (docs/format.md 8.7) for an event or leaf",
        responses={200: _json_text("inclusion proof (format.md 8.7)"), **_READ_PROBLEMS},
    )
    async def get_inclusion(
        event: str | None = Query(None, description="event hash (hex)"),
        leaf: int | None = Query(None, ge=0, le=2**62, description="leaf index"),
        size: int | None = Query(
            None, ge=0, le=2**62, description="checkpoint size (default: latest)"
        ),
    ) -> Response:
        if (event is None) == (leaf is None):
            raise Problem("InvalidRequest", "give exactly one of event= and leaf=")

        def read() -> str:
            s = svc()
            index = leaf
            if event is not None:
                found = s.reader.log_store.leaf_by_hash(parse_event_hash(event))
                if found is None:
                    raise UnknownEventError(f"event {event[:16]} is not in the log")
                index = found.leaf_index
            assert index is not None
            if size is None:
                latest = s.log.latest_checkpoint()
                covered = 0 if latest is None else _checkpoint_size(latest)
                if index >= covered and index < s.log.size():
                    s.writer.issue_checkpoint().result()  # a checkpoint that covers the leaf
            return s.log.inclusion_proof(index, size).to_json()

        return Response(await run(read), media_type="application/json")

    @app.get(
        "/v1/proofs/tlog-proof",
        summary="The c2sp.org/tlog-proof (docs/format.md 8.16) of an event inside a "
        "checkpoint that meets the trust policy's quorum",
        response_class=PlainTextResponse,
        responses={
            200: {
                "description": "tlog-proof (format.md 8.16)",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            409: {
                "description": "UnwitnessedError: no checkpoint meeting the quorum holds the "
                "event yet; ask again later",
                "content": {PROBLEM_CONTENT_TYPE: {"schema": _PROBLEM_SCHEMA}},
            },
            **_READ_PROBLEMS,
        },
    )
    async def get_tlog_proof(
        event: str = Query(..., description="event hash (hex)"),
    ) -> Response:
        wanted = parse_event_hash(event)

        def read() -> bytes:
            s = svc()
            found = s.reader.log_store.leaf_by_hash(wanted)
            if found is None:
                raise UnknownEventError(f"event {event[:16]} is not in the log")
            published = s.published()
            if published is None or published[0] <= found.leaf_index:
                raise UnwitnessedError(
                    f"event {event[:16]} (leaf {found.leaf_index}) is not inside a checkpoint "
                    f"meeting the trust policy's {s.policy_text()} yet: ask again later"
                )
            return s.log.tlog_proof(found.leaf_index, s.policy)

        return Response(await run(read), media_type=TLOG_PROOF_TYPE)

    @app.get(
        "/v1/proofs/consistency",
        summary="A consistency proof file (docs/format.md 8.8) between two checkpoints",
        responses={200: _json_text("consistency proof (format.md 8.8)"), **_READ_PROBLEMS},
    )
    async def get_consistency(
        old: int = Query(..., ge=0, le=2**62, description="size of the older checkpoint"),
        new: int | None = Query(
            None, ge=0, le=2**62, description="size of the newer (default: latest)"
        ),
    ) -> Response:
        text = await run(lambda: svc().log.consistency_proof(old, new).to_json())
        return Response(text, media_type="application/json")

    def _view(fn: Callable[[Store], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
        def read() -> dict[str, Any]:
            store = svc().store()
            return {"position": store.position, **fn(store)}

        return read

    @app.get("/v1/totals", summary="Vote totals by region level", responses=_READ_PROBLEMS)
    async def get_totals(
        contest: str | None = None,
        level: str = Query("kecamatan", pattern="^(village|kecamatan|kabkota|province)$"),
        region: str = "",
    ) -> dict[str, Any]:
        def totals(store: Store) -> dict[str, Any]:
            wanted = [contest] if contest else [c["id"] for c in views.contests(store)]
            return {
                "level": level,
                "totals": {c: views.totals(store, c, level, region) for c in wanted},
            }

        return await run(_view(totals))

    @app.get("/v1/sheets", summary="Per-sheet status", responses=_READ_PROBLEMS)
    async def get_sheets(contest: str, region: str = "") -> dict[str, Any]:
        return await run(
            _view(lambda store: {"sheets": views.sheet_status(store, contest, region)})
        )

    @app.get(
        "/v1/recaps", summary="Each recap beside the sums of its inputs", responses=_READ_PROBLEMS
    )
    async def get_recaps(contest: str, region: str = "") -> dict[str, Any]:
        return await run(
            _view(lambda store: {"recaps": views.recap_checks(store, contest, region)})
        )

    @app.get(
        "/v1/trail",
        summary="The audit trail of a stream, region or signer",
        responses=_READ_PROBLEMS,
    )
    async def get_trail(
        stream: str | None = None, region: str | None = None, signer: str | None = None
    ) -> dict[str, Any]:
        if sum(x is not None for x in (stream, region, signer)) != 1:
            raise Problem("InvalidRequest", "give exactly one of stream=, region= and signer=")
        return await run(
            _view(
                lambda store: {
                    "events": views.trail(store, stream=stream, within=region, signer=signer)
                }
            )
        )

    @app.get("/v1/findings", summary="What a reviewer should look at", responses=_READ_PROBLEMS)
    async def get_findings(
        region: str = "", kind: Annotated[list[str] | None, Query()] = None
    ) -> dict[str, Any]:
        def findings(store: Store) -> dict[str, Any]:
            rows = views.findings(store, within=region)
            return {"findings": [r for r in rows if not kind or r["kind"] in kind]}

        return await run(_view(findings))

    # --- read path: the log as tlog-tiles serves it --------------------------------------

    @app.get(
        "/checkpoint",
        summary="The latest checkpoint (c2sp.org/tlog-checkpoint), with any cosignatures",
        response_class=PlainTextResponse,
        responses=_READ_PROBLEMS,
    )
    async def get_checkpoint() -> Response:
        note = await run(lambda: svc().checkpoint())
        return Response(
            note,
            media_type="text/plain; charset=utf-8",
            headers={"Cache-Control": f"public, max-age={CHECKPOINT_MAX_AGE_S}"},
        )

    @app.get(
        "/tile/{path:path}",
        summary="A hash tile or entry bundle (c2sp.org/tlog-tiles)",
        response_class=Response,
        responses={
            200: {
                "description": "tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>]",
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            },
            **_READ_PROBLEMS,
        },
    )
    async def get_tile(path: str) -> Response:
        level, index, width = tiles.parse_tile_path(f"tile/{path}")

        def read() -> bytes:
            log = svc().log
            if level is None:
                return log.read_entry_bundle(index, width)
            return log.read_tile(level, index, width)

        data = await run(read)
        cache = FULL_TILE_CACHE if width == tiles.TILE_WIDTH else PARTIAL_TILE_CACHE
        return Response(
            data, media_type="application/octet-stream", headers={"Cache-Control": cache}
        )

    # --- the public web view (ledger.web): HTML pages, their scripts, dossiers ---------

    register_pages(app, svc, run, settings.directory)

    # --- the service itself --------------------------------------------------------------

    @app.get(
        "/v1/trust",
        summary="The trust roots file (docs/format.md 8.10) of this ledger",
        responses={200: _json_text("trust roots file (format.md 8.10)"), **_READ_PROBLEMS},
    )
    async def get_trust() -> Response:
        text = await run((settings.directory / "trust.json").read_bytes)
        return Response(text, media_type="application/json")

    @app.get(
        "/v1/checkpointer",
        summary="The checkpointer: the latest issued and published checkpoints, the witnesses",
        response_model=CheckpointerModel,
        responses=_problems(500, 503),
    )
    async def get_checkpointer() -> dict[str, Any]:
        def read() -> dict[str, Any]:
            s = svc()
            latest = s.log.latest_checkpoint()
            latest_size = None if latest is None else _checkpoint_size(latest)
            published = s.published()
            published_size = None if published is None else published[0]
            return {
                "leader": s.leader.held(),
                "quorum": s.policy_text(),
                "latest_size": latest_size,
                "published_size": published_size,
                "quorum_met": latest_size is not None and published_size == latest_size,
                "witnesses": [
                    {
                        "name": w.name,
                        "url": w.url,
                        "cosigned_size": w.cosigned_size,
                        "error": w.error,
                    }
                    for w in s.checkpointer.status(since=published_size or 0)
                ],
            }

        return await run(read)

    @app.get(
        "/healthz",
        summary="Whether the database answers",
        response_model=HealthModel,
        responses=_problems(500, 503),
    )
    async def healthz() -> dict[str, Any]:
        size = await run(svc().log.size)
        return {"status": "ok", "log_size": size}

    @app.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
        responses=_problems(500, 503),
    )
    async def get_metrics() -> Response:
        def render() -> bytes:
            s = svc()
            latest = s.log.latest_checkpoint()
            published = s.published()
            return metrics.render(
                s.log.size,
                {
                    "latest": -1 if latest is None else _checkpoint_size(latest),
                    "published": -1 if published is None else published[0],
                },
            )

        text = await run(render)
        return Response(text, media_type=metrics.CONTENT_TYPE_LATEST)

    return app


def _accepted(envelope: Envelope, leaf_index: int) -> Any:
    from ledger.store.application import Accepted

    return Accepted(
        event_hash=envelope.hash,
        stream=envelope.statement.stream,
        seq=envelope.statement.seq,
        leaf_index=leaf_index,
        duplicate=True,
    )


def _checkpoint_size(note: bytes) -> int:
    from ledger.format.note import Checkpoint, parse_note

    return Checkpoint.parse(parse_note(note).text).size


async def _checkpoints(service: _Service) -> None:
    """Every tick: take the lead if it is free; as the leader, run a round when one is due."""
    leading = False
    while True:
        await asyncio.sleep(CHECKPOINTER_TICK_S)
        try:
            now_leading = await asyncio.to_thread(service.lead)
            if now_leading != leading:
                leading = now_leading
                _log.warning(
                    "process %d %s the checkpointer", os.getpid(), "leads" if leading else "left"
                )
            if leading and await asyncio.to_thread(service.checkpointer.due):
                await asyncio.to_thread(service.checkpointer.run_round)
        except Exception as e:  # the store may be down; the next tick tries again
            _log.warning("checkpointer: %s: %s", type(e).__name__, e)
            continue


def settings_from_environment() -> ServerSettings:
    """The settings ``ledger serve`` hands its worker processes through the environment."""
    return ServerSettings(
        directory=Path(os.environ["LEDGER_SERVER_DIR"]),
        passphrase=os.fsencode(
            os.environ.get("LEDGER_LOG_PASSPHRASE", os.environ.get("LEDGER_PASSPHRASE", ""))
        ),
        body_timeout_s=float(os.environ.get("LEDGER_SERVER_BODY_TIMEOUT", BODY_TIMEOUT_S)),
        checkpoint_interval_s=float(
            os.environ.get("LEDGER_SERVER_CHECKPOINT_INTERVAL", CHECKPOINT_INTERVAL_S)
        ),
        checkpoint_leaves=int(os.environ.get("LEDGER_SERVER_CHECKPOINT_LEAVES", DEFAULT_LEAVES)),
        witness_timeout_s=float(os.environ.get("LEDGER_SERVER_WITNESS_TIMEOUT", WITNESS_TIMEOUT_S)),
        witness_urls=tuple(
            (str(n), str(u))
            for n, u in json.loads(os.environ.get("LEDGER_SERVER_WITNESS_URLS", "[]"))
        ),
    )


def app_from_environment() -> FastAPI:
    """uvicorn's application factory in each worker (``ledger serve``)."""
    return create_app(settings_from_environment())
