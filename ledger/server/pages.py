"""The public web view over HTTP (issue 17): HTML pages at ``/``, their scripts, the dossier.

The pages are rendered by ledger.web.pages from the live projection and the
stored checkpoints; this module only fetches those, picks the reader's language
(``?lang=``, remembered in a cookie) and answers. ``GET /v1/dossier`` is the
evidence the TPS page's script checks in the browser: a sheet's dossier
(docs/format.md 10.2) against the latest stored checkpoint that meets the
ledger's trust policy. The HTML routes stay out of the OpenAPI document: they
are for people, the document is for programs.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from ledger.errors import LedgerError
from ledger.format.note import Verifier
from ledger.format.policy import TlogPolicy, parse_policy
from ledger.format.trust import policy_from_json
from ledger.log.dossier import build_dossier
from ledger.server.problems import Problem, problem_for
from ledger.store.application import Ledger
from ledger.web import STATIC_DIR
from ledger.web import pages as web
from ledger.web.cache import ViewCache
from ledger.web.i18n import LANG_COOKIE, choose_lang
from projections.store import Store

__all__ = ["PageSource", "register_pages"]

T = TypeVar("T")
LANG_COOKIE_MAX_AGE_S = 365 * 24 * 3600
PAGE_CACHE = "no-cache"  # pages follow the live log; revalidate every time
STATIC_CACHE = "public, max-age=300"


class Runner(Protocol):
    """Runs a blocking read off the event loop (the app's worker threads)."""

    def __call__(self, fn: Callable[[], T]) -> Awaitable[T]: ...


class PageSource(Protocol):
    """What the pages read from a server process."""

    reader: Ledger

    def store(self) -> Store: ...

    def checkpoint(self) -> bytes: ...


def _policy(directory: Path) -> TlogPolicy | None:
    text = policy_from_json((directory / "trust.json").read_bytes())
    return None if text is None else parse_policy(text)


def _checkpoints(
    source: PageSource, policy: TlogPolicy | None
) -> tuple[web.CheckpointInfo | None, web.CheckpointInfo | None]:
    """The latest stored checkpoint, and the latest that meets the policy."""
    log = Verifier.parse(source.reader.trust.log_vkey)
    latest: web.CheckpointInfo | None = None
    for _, note in reversed(source.reader.log_store.checkpoints()):
        try:
            info = web.checkpoint_info(note, log, policy)
        except LedgerError:
            continue  # not the log's, or a failing cosignature: not shown as the log's word
        latest = latest or info
        if info.meets_policy:
            return latest, info
    return latest, None


def register_pages(
    app: FastAPI,
    service: Callable[[], PageSource],
    run: Runner,
    directory: Path,
) -> None:
    """Add the pages, their static files and ``/v1/dossier`` to ``app``."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    cache = ViewCache()  # the pages' sums, for the projection's current position

    def lang_of(request: Request, lang: str | None) -> str:
        return choose_lang(lang, request.cookies.get(LANG_COOKIE))

    async def html(request: Request, lang: str | None, render: Callable[[str], str]) -> Response:
        chosen = lang_of(request, lang)
        started = time.perf_counter()
        try:
            text = await run(lambda: render(chosen))
            status = 200
        except LedgerError as e:
            status = problem_for(e)[0]
            text = web.not_found_page(chosen, str(e))
        # How long the page took to read and render (W3C Server Timing): python -m bench reads it.
        took_ms = (time.perf_counter() - started) * 1000
        headers = {"Cache-Control": PAGE_CACHE, "Server-Timing": f"render;dur={took_ms:.2f}"}
        response = HTMLResponse(text, status_code=status, headers=headers)
        if lang is not None and lang == chosen:
            response.set_cookie(LANG_COOKIE, chosen, max_age=LANG_COOKIE_MAX_AGE_S, samesite="lax")
        return response

    @app.get("/", include_in_schema=False)
    async def election(request: Request, lang: str | None = None) -> Response:
        def render(chosen: str) -> str:
            s = service()
            latest, witnessed = _checkpoints(s, _policy(directory))
            return web.election_page(chosen, s.store(), latest, witnessed, cache)

        return await html(request, lang, render)

    @app.get("/contest/{contest_id}", include_in_schema=False)
    @app.get("/contest/{contest_id}/{place}", include_in_schema=False)
    async def contest(
        request: Request, contest_id: str, place: str = "", lang: str | None = None
    ) -> Response:
        return await html(
            request,
            lang,
            lambda c: web.contest_page(c, service().store(), contest_id, place, cache),
        )

    @app.get("/tps/{tps:path}", include_in_schema=False)
    async def tps(request: Request, tps: str, lang: str | None = None) -> Response:
        return await html(request, lang, lambda c: web.tps_page(c, service().store(), tps))

    @app.get("/findings", include_in_schema=False)
    async def findings(
        request: Request, kind: str = "", region: str = "", lang: str | None = None
    ) -> Response:
        return await html(
            request, lang, lambda c: web.findings_page(c, service().store(), kind, region)
        )

    @app.get("/search", include_in_schema=False)
    async def search(request: Request, q: str = "", lang: str | None = None) -> Response:
        return await html(request, lang, lambda c: web.search_page(c, service().store(), q))

    @app.get(
        "/v1/dossier",
        summary="A sheet's dossier (docs/format.md 10.2), against the latest "
        "checkpoint that meets the trust policy",
        responses={
            200: {
                "description": "dossier (format.md 10.2)",
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            **_dossier_problems(),
        },
    )
    async def dossier(
        subject: str = Query(..., max_length=200, description="sheet stream id or contest id"),
    ) -> Response:
        if not subject.startswith("sheet:"):
            # A contest's dossier holds every sheet of it (megabytes): built offline by
            # `ledger dossier`, not on request.
            raise Problem("InvalidRequest", "subject must be a sheet stream id (sheet:...)")

        def read() -> bytes:
            s = service()
            s.checkpoint()  # the log has a checkpoint (one is issued for a new log)
            return build_dossier(s.reader, subject, policy=_policy(directory))

        return Response(
            await run(read), media_type="application/json", headers={"Cache-Control": "no-cache"}
        )


def _dossier_problems() -> dict[int | str, dict[str, Any]]:
    schema = {"type": "object", "required": ["type", "title", "status", "code"]}
    described = {
        400: "Not a sheet stream id (InvalidRequest, FormatError)",
        404: "No such contest or sheet under the checkpoint (UnknownEventError)",
        409: "No stored checkpoint meets the trust policy yet (UnwitnessedError)",
        422: "The subject is neither a sheet stream id nor a contest id (SchemaError)",
        500: "The server failed (ServerFailure)",
        503: "The database does not answer (StoreUnavailable)",
    }
    return {
        status: {"description": text, "content": {"application/problem+json": {"schema": schema}}}
        for status, text in described.items()
    }
