"""The field device's side of the service: sign locally, submit over HTTP, keep a receipt.

Keys never leave the device: a statement is signed here, written to the
:class:`Outbox` *before* it is sent, and submitted with ``POST /v1/envelopes``
until the server answers with a receipt. Transport errors, 408, 429 and 503 are
retried with exponential backoff (honouring ``Retry-After``); any other refusal
is final, and raised as the ledger's own error class with the server's one-line
message (so ``ledger count --server`` fails exactly as ``ledger count`` would).
Resubmission is idempotent: the server answers an envelope it already holds
with its original position and receipt.

A receipt is checked before it is kept: it must be signed by the log key pinned
in the outbox (``trust.json``, taken from the server on first use, as ``ssh``
pins a host key) and name this envelope's event hash.

Outbox layout (a directory): ``trust.json``; per envelope ``<event hash>.envelope``
(the signed bytes), then ``<event hash>.receipt`` (the log's receipt note) once
receipted, or ``<event hash>.refused`` (the problem document) once finally refused;
then ``<event hash>.tlog-proof`` (c2sp.org/tlog-proof, docs/format.md 8.16) once
the server has one: the envelope inside a checkpoint the trust policy's witnesses
cosigned, checked against the pinned log key and policy before it is kept.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from ledger import errors
from ledger.errors import FormatError, LedgerError, ServiceError, UnwitnessedError
from ledger.format.note import Verifier
from ledger.format.policy import QUORUM_NONE, TlogPolicy, parse_policy
from ledger.format.statement import Envelope
from ledger.format.trust import TrustRoots, policy_from_json, trust_from_json
from ledger.log.proofs import Receipt
from ledger.log.tlog_proof import verify_tlog_proof
from ledger.server.wire import ENVELOPE_TYPE

__all__ = ["RETRIED_STATUSES", "LedgerClient", "Outbox", "OutboxEntry", "Receipted"]

RETRIED_STATUSES = frozenset({408, 429, 503})
FIRST_BACKOFF_S = 0.2
MAX_BACKOFF_S = 10.0
REQUEST_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class Receipted:
    """What the server answered for an accepted envelope (its receipt checked)."""

    event_hash: bytes
    stream: str
    seq: int
    leaf_index: int
    duplicate: bool
    receipt: bytes


def _error_from_problem(status: int, body: bytes) -> LedgerError:
    """The ledger error a problem document names, with its message."""
    try:
        doc = json.loads(body)
        code, detail = str(doc["code"]), str(doc.get("detail", doc.get("title", "")))
    except (ValueError, KeyError, TypeError):
        return ServiceError(f"the server answered HTTP {status} without a problem document")
    cls = getattr(errors, code, None)
    if isinstance(cls, type) and issubclass(cls, LedgerError):
        return cls(detail)
    return ServiceError(f"{code}: {detail}" if detail else f"{code} (HTTP {status})")


class LedgerClient:
    """HTTP client of one ledger server (``base_url``, e.g. http://127.0.0.1:8080)."""

    def __init__(
        self,
        base_url: str,
        *,
        retry_for_s: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ServiceError(f"--server {base_url!r} is not an http:// or https:// URL")
        self.base_url = base_url.rstrip("/")
        self.retry_for_s = retry_for_s
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url, timeout=REQUEST_TIMEOUT_S, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LedgerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- requests, with retries ---------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request, retried on transport errors, 408, 429 and 503 until ``retry_for_s``."""
        deadline = time.monotonic() + self.retry_for_s
        backoff = FIRST_BACKOFF_S
        while True:
            wait = backoff
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as e:
                reason = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            else:
                if response.status_code not in RETRIED_STATUSES:
                    return response
                reason = f"HTTP {response.status_code}"
                after = response.headers.get("retry-after", "")
                if after.isdigit():
                    wait = max(wait, float(after))
            if time.monotonic() + wait > deadline:
                raise ServiceError(
                    f"{self.base_url}{path}: no answer after {self.retry_for_s:g} s ({reason})"
                )
            self._sleep(
                wait * random.uniform(0.5, 1.0)
            )  # jitter spreads the retries of many devices
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    def _json(self, path: str, **params: Any) -> Any:
        response = self._request(
            "GET", path, params={k: v for k, v in params.items() if v is not None}
        )
        if response.status_code != 200:
            raise _error_from_problem(response.status_code, response.content)
        try:
            return response.json()
        except ValueError as e:
            raise ServiceError(f"{path}: the server's answer is not JSON") from e

    # --- the API --------------------------------------------------------------------------

    def trust_text(self) -> str:
        response = self._request("GET", "/v1/trust")
        if response.status_code != 200:
            raise _error_from_problem(response.status_code, response.content)
        return response.text

    def stream(self, stream: str) -> dict[str, Any]:
        """The stream's events and head (``GET /v1/streams/<stream>``)."""
        doc: dict[str, Any] = self._json(f"/v1/streams/{quote(stream, safe=':/')}")
        return doc

    def head(self, stream: str) -> tuple[int, bytes]:
        doc = self.stream(stream)
        return int(doc["seq"]), bytes.fromhex(doc["head"])

    def tlog_proof(self, event_hash: bytes) -> bytes | None:
        """The event's tlog-proof (``GET /v1/proofs/tlog-proof``), or None while no
        checkpoint meeting the quorum holds it yet (the server's 409). Not checked here."""
        response = self._request("GET", "/v1/proofs/tlog-proof", params={"event": event_hash.hex()})
        if response.status_code == 200:
            return response.content
        error = _error_from_problem(response.status_code, response.content)
        if isinstance(error, UnwitnessedError):
            return None
        raise error

    def submit(self, envelope: bytes, log: Verifier) -> Receipted:
        """Submit one envelope until it is receipted or finally refused."""
        response = self._request(
            "POST", "/v1/envelopes", content=envelope, headers={"Content-Type": ENVELOPE_TYPE}
        )
        if response.status_code not in (200, 201):
            raise _error_from_problem(response.status_code, response.content)
        return _receipted(response, Envelope.parse(envelope).hash, log)


def _receipted(response: httpx.Response, event_hash: bytes, log: Verifier) -> Receipted:
    try:
        doc = response.json()
        note = str(doc["receipt"]).encode()
        answer = Receipted(
            bytes.fromhex(doc["event_hash"]),
            str(doc["stream"]),
            int(doc["seq"]),
            int(doc["leaf_index"]),
            bool(doc["duplicate"]),
            note,
        )
    except (ValueError, KeyError, TypeError) as e:
        raise ServiceError(f"the server's answer is not a submission result: {e}") from e
    receipt = Receipt.open(note, log)
    if receipt.event_hash != event_hash or answer.event_hash != event_hash:
        raise ServiceError("the server's receipt is for another event than the one submitted")
    if receipt.leaf_index != answer.leaf_index:
        raise ServiceError("the server's receipt and answer give different leaf indexes")
    return answer


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    event_hash: bytes
    envelope: Envelope
    state: str  # "pending", "receipted" or "refused"
    detail: str  # the leaf index when receipted, the refusal when refused
    tlog_proof: bool = False  # whether its tlog-proof is kept


class Outbox:
    """What a device signed, kept until the log has receipted it (module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _file(self, event_hash: bytes, suffix: str) -> Path:
        return self.path / f"{event_hash.hex()}.{suffix}"

    def trust(self, client: LedgerClient) -> TrustRoots:
        """The trust roots pinned here; pinned from the server on first use.

        Once pinned they are not fetched again: every receipt is checked with the
        pinned log key, so a server with other roots cannot give one that verifies.
        """
        pinned = self.path / "trust.json"
        if not pinned.exists():
            served = client.trust_text()
            trust_from_json(served)  # parse before pinning
            self.path.mkdir(parents=True, exist_ok=True)
            pinned.write_text(served)
        return trust_from_json(pinned.read_text())

    def policy(self, trust: TrustRoots) -> TlogPolicy:
        """The trust policy pinned with the roots (``trust.json``'s ``policy``); without
        one, ``quorum none``: a tlog-proof is then the log's own word."""
        text = policy_from_json((self.path / "trust.json").read_text())
        if text is None:
            text = f"log {trust.log_vkey}\nquorum {QUORUM_NONE}\n"
        policy = parse_policy(text)
        policy.require_log(trust.log_vkey)
        return policy

    def fetch_tlog_proofs(self, client: LedgerClient, trust: TrustRoots) -> int:
        """Fetch and keep the tlog-proof of every receipted envelope without one; return
        how many were kept. Each is checked (verify_tlog_proof against the pinned log
        key and policy, and its envelope must be this one) before it is written."""
        log = Verifier.parse(trust.log_vkey)
        policy = self.policy(trust)
        kept = 0
        for entry in self.entries():
            if entry.state != "receipted" or entry.tlog_proof:
                continue
            data = client.tlog_proof(entry.event_hash)
            if data is None:
                continue
            try:
                shown = verify_tlog_proof(data, log, policy)
            except LedgerError as e:
                raise ServiceError(
                    f"the server's tlog-proof of {entry.event_hash.hex()[:16]} fails: {e}"
                ) from e
            if shown.envelope.raw != entry.envelope.raw:
                raise ServiceError(
                    f"the server's tlog-proof of {entry.event_hash.hex()[:16]} is of another envelope"
                )
            target = self._file(entry.event_hash, "tlog-proof")
            partial = target.with_suffix(".partial")
            partial.write_bytes(data)
            partial.replace(target)
            kept += 1
        return kept

    def keep(self, envelope: Envelope) -> None:
        """Write the signed envelope before it is sent (so a crash cannot lose it)."""
        self.path.mkdir(parents=True, exist_ok=True)
        target = self._file(envelope.hash, "envelope")
        if not target.exists():
            partial = target.with_suffix(".partial")
            partial.write_bytes(envelope.raw)
            partial.replace(target)

    def send(self, client: LedgerClient, envelope: Envelope, log: Verifier) -> Receipted:
        """Submit a kept envelope; keep its receipt, or its final refusal."""
        try:
            answer = client.submit(envelope.raw, log)
        except ServiceError:
            raise  # not a refusal: it stays pending
        except LedgerError as e:
            self._file(envelope.hash, "refused").write_text(f"{type(e).__name__}: {e}\n")
            raise
        self._file(envelope.hash, "receipt").write_bytes(answer.receipt)
        return answer

    def entries(self) -> list[OutboxEntry]:
        found = []
        for path in sorted(self.path.glob("*.envelope")) if self.path.exists() else []:
            try:
                envelope = Envelope.parse(path.read_bytes())
            except LedgerError as e:
                raise FormatError(f"{path}: {e}") from e
            receipt = self._file(envelope.hash, "receipt")
            refused = self._file(envelope.hash, "refused")
            if receipt.exists():
                text = receipt.read_text().split("\n")
                proven = self._file(envelope.hash, "tlog-proof").exists()
                found.append(OutboxEntry(envelope.hash, envelope, "receipted", text[2], proven))
            elif refused.exists():
                found.append(
                    OutboxEntry(envelope.hash, envelope, "refused", refused.read_text().strip())
                )
            else:
                found.append(OutboxEntry(envelope.hash, envelope, "pending", ""))
        return sorted(found, key=lambda e: (e.envelope.statement.stream, e.envelope.statement.seq))

    def pending(self) -> list[OutboxEntry]:
        return [e for e in self.entries() if e.state == "pending"]
