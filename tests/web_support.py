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
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.format import canonical, ed25519
from ledger.format.statement import key_id, statement_context
from ledger.format.tlog_wire import TlogProofFile

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
                status = upstream.status_code
                if proxy.rewrite is not None and status == 200:
                    try:
                        body = proxy.rewrite(self.path, body)
                    except Exception as e:  # a test's rewrite that does not fit the answer
                        # Said in the answer, so the page's verdict names it (not a
                        # dropped connection, which the browser reports as "Failed to fetch").
                        status, body = 502, f"the proxy's rewrite failed: {e!r}".encode()
                self.send_response(status)
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


def _proof_of(item: dict[str, Any]) -> TlogProofFile:
    return TlogProofFile.parse(item["tlog_proof"].encode())


def _set_proof(item: dict[str, Any], proof: TlogProofFile) -> None:
    item["tlog_proof"] = proof.to_bytes().decode()


def _reencode(item: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> None:
    """Change an event's statement and keep its signature; the copies follow the bytes
    (the envelope in its tlog-proof's ``extra`` line, its event hash)."""
    proof = _proof_of(item)
    assert proof.extra is not None
    envelope = canonical.decode(proof.extra)
    statement = canonical.decode(envelope["statement"])
    change(statement)
    envelope["statement"] = canonical.encode(statement)
    raw = canonical.encode(envelope)
    _set_proof(item, replace(proof, extra=raw))
    item["event_hash"] = hashlib.sha256(raw).hexdigest()


def _resign(
    item: dict[str, Any], change: Callable[[dict[str, Any]], None], key: Ed25519PrivateKey
) -> None:
    """Change an event's statement and sign it anew with ``key`` as its signer, as a
    holder of that key would: the signature verifies, what it signs is another matter."""
    proof = _proof_of(item)
    assert proof.extra is not None
    statement = canonical.decode(canonical.decode(proof.extra)["statement"])
    change(statement)
    statement["signer"] = key_id(ed25519.public_bytes(key))
    statement_bytes = canonical.encode(statement)
    signature = ed25519.sign(key, statement_context(statement["version"]) + statement_bytes)
    raw = canonical.encode({"signature": signature, "statement": statement_bytes})
    _set_proof(item, replace(proof, extra=raw))
    item["event_hash"] = hashlib.sha256(raw).hexdigest()


def _statement(item: dict[str, Any]) -> dict[str, Any]:
    proof = _proof_of(item)
    assert proof.extra is not None
    statement: dict[str, Any] = canonical.decode(canonical.decode(proof.extra)["statement"])
    return statement


def tamper_order(what: str, key: Ed25519PrivateKey) -> Rewrite:
    """A rewrite of ``/v1/dossier`` answers of a sheet that carries an ``order``
    (format.md 5.11): ``bytes`` (the order's reason, its signature kept), ``signer``
    (the order signed anew by ``key``, a role that may not order), or ``reference``
    (the count carrying out the order names the sheet's recommendation instead,
    signed anew by ``key``, the sheet's KPPS)."""

    def rewrite(path: str, body: bytes) -> bytes:
        if not path.startswith("/v1/dossier"):
            return body
        doc = json.loads(body)
        sheet = [e for e in doc["events"] if e["stream"] == doc["subject"]]
        order = next(e for e in sheet if _statement(e)["kind"] == "order")
        if what == "bytes":

            def reason(st: dict[str, Any]) -> None:
                st["body"]["reason"] += " (forged)"

            _reencode(order, reason)
        elif what == "signer":
            _resign(order, lambda st: None, key)
        elif what == "reference":
            recommend = next(e for e in sheet if _statement(e)["kind"] == "recommend")
            count = next(e for e in sheet if "order" in _statement(e)["body"])

            def elsewhere(st: dict[str, Any]) -> None:
                st["body"]["order"] = bytes.fromhex(recommend["event_hash"])

            _resign(count, elsewhere, key)
        else:  # pragma: no cover - a test's typo
            raise AssertionError(what)
        return json.dumps(doc).encode()

    return rewrite


def _without_cosignatures(note: str) -> str:
    text, _, signatures = note.rpartition("\n\n")
    return f"{text}\n\n{signatures.splitlines()[0]}\n"


def dossier_v1(doc: dict[str, Any]) -> dict[str, Any]:
    """The same dossier in version 1 (docs/format.md 10.2): envelope and proof apart."""
    events = []
    for item in doc["events"]:
        proof = _proof_of(item)
        assert proof.extra is not None
        events.append(
            {
                **{k: item[k] for k in ("leaf", "stream", "seq", "event_hash")},
                "envelope": base64.b64encode(proof.extra).decode(),
                "proof": [h.hex() for h in proof.proof],
            }
        )
    return {**doc, "format": "pilkada-ledger-dossier/v1", "events": events}


def tamper_dossier(what: str) -> Rewrite:
    """A rewrite of ``/v1/dossier`` answers (version 2): ``count`` (a figure of the
    sheet's count), ``grant`` (the KPPS's grant), ``proof`` (a hash of an inclusion
    proof), ``cosignatures`` (every signature line but the log's, in the dossier's
    checkpoint and in every tlog-proof's), ``proof-checkpoint`` (one tlog-proof's
    checkpoint is not the dossier's), ``index`` (one tlog-proof names another leaf),
    or ``v1`` (no tampering: the same dossier in version 1)."""

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
            item = next(e for e in events if _proof_of(e).proof)
            proof = _proof_of(item)
            first = bytes([proof.proof[0][0] ^ 0xFF]) + proof.proof[0][1:]
            _set_proof(item, replace(proof, proof=(first, *proof.proof[1:])))
        elif what == "cosignatures":
            doc["checkpoint"] = _without_cosignatures(doc["checkpoint"])
            for item in events:
                proof = _proof_of(item)
                _set_proof(item, replace(proof, checkpoint=doc["checkpoint"].encode()))
        elif what == "proof-checkpoint":
            proof = _proof_of(events[0])
            note = _without_cosignatures(proof.checkpoint.decode())
            _set_proof(events[0], replace(proof, checkpoint=note.encode()))
        elif what == "index":
            proof = _proof_of(events[-1])
            _set_proof(events[-1], replace(proof, index=proof.index + 1))
        elif what == "v1":
            doc = dossier_v1(doc)
        else:  # pragma: no cover - a test's typo
            raise AssertionError(what)
        return json.dumps(doc).encode()

    return rewrite
