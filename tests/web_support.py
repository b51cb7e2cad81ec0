"""Browser tests' parts: Chromium through Playwright, and a proxy that tampers answers.

The browser is Debian's Chromium (``/usr/bin/chromium``, or $LEDGER_CHROMIUM) driven
by the Playwright Python package; Playwright's own browser downloads are never used.
Without it the browser tests skip with the reason, unless $LEDGER_REQUIRE_BROWSER is
set (CI sets it), in which case they fail.

:class:`TamperingProxy` is an HTTP proxy on 127.0.0.1 in front of a real server: it
forwards every request and lets a test rewrite the answers of chosen paths (the
envelope in a dossier, a grant, a proof hash, the checkpoint's cosignatures, the
trust roots, the JSON of a stream), as a dishonest server or network would.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from ledger.format import canonical

CHROMIUM = os.environ.get("LEDGER_CHROMIUM", "/usr/bin/chromium")
Rewrite = Callable[[str, bytes], bytes]


def browser_missing() -> str | None:
    """None when Playwright and Chromium are here, else why not."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


def require_browser() -> None:
    reason = browser_missing()
    if reason is not None:
        if os.environ.get("LEDGER_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


class TamperingProxy:
    """Forwards to ``target``; ``rewrite(path, body)`` may change an answer's body."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.rewrite: Rewrite | None = None
        self.client = httpx.Client(base_url=target, timeout=30)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                upstream = proxy.client.get(self.path)
                body = upstream.content
                if proxy.rewrite is not None and upstream.status_code == 200:
                    body = proxy.rewrite(self.path, body)
                self.send_response(upstream.status_code)
                for name in ("content-type", "cache-control", "set-cookie"):
                    if name in upstream.headers:
                        self.send_header(name, upstream.headers[name])
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.client.close()


# --- tampering a dossier, as a dishonest server would -------------------------------------


def _reencode(item: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> None:
    """Change an event's statement and keep its signature; the copies follow the bytes."""
    envelope = canonical.decode(base64.b64decode(item["envelope"]))
    statement = canonical.decode(envelope["statement"])
    change(statement)
    envelope["statement"] = canonical.encode(statement)
    raw = canonical.encode(envelope)
    item["envelope"] = base64.b64encode(raw).decode()
    item["event_hash"] = hashlib.sha256(raw).hexdigest()


def tamper_dossier(what: str) -> Rewrite:
    """A rewrite of ``/v1/dossier`` answers: ``count`` (a figure of the sheet's count),
    ``grant`` (the KPPS's grant), ``proof`` (a hash of an inclusion proof) or
    ``cosignatures`` (every signature line but the log's)."""

    def rewrite(path: str, body: bytes) -> bytes:
        if not path.startswith("/v1/dossier"):
            return body
        doc = json.loads(body)
        events = doc["events"]
        if what == "count":
            item = next(e for e in events if e["stream"] == doc["subject"])

            def more_votes(st: dict[str, Any]) -> None:
                st["body"]["tally"]["votes"]["1"] += 10

            _reencode(item, more_votes)
        elif what == "grant":
            item = next(e for e in events if e["stream"].startswith("key:"))

            def relabel(st: dict[str, Any]) -> None:
                st["body"]["label"] += " (forged)"

            _reencode(item, relabel)
        elif what == "proof":
            item = next(e for e in events if e["proof"])
            item["proof"][0] = ("00" if item["proof"][0][:2] != "00" else "11") + item["proof"][0][
                2:
            ]
        elif what == "cosignatures":
            text, _, signatures = doc["checkpoint"].rpartition("\n\n")
            doc["checkpoint"] = f"{text}\n\n{signatures.splitlines()[0]}\n"
        else:  # pragma: no cover - a test's typo
            raise AssertionError(what)
        return json.dumps(doc).encode()

    return rewrite
