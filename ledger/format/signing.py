"""The signer's side: build statement bodies, chain them, sign them.

A :class:`Chainer` keeps the head (seq, hash) of every stream it signed into, so
a signer (or a simulation producing millions of statements) can sign a whole
stream offline; :meth:`Chainer.follow` starts it from a head read from a ledger.
Time is always passed in: a statement's time is the signer's claim, and tests and
simulations need it reproducible. Signers produce format version 2
(``FORMAT_VERSION``); ``Chainer(election, version=1)`` and ``recap_body(...,
version=1)`` keep the version 1 path, to build version 1 ledgers in tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.format import ed25519
from ledger.format.outcome import ELECTED, decide
from ledger.format.recap import encode_inputs
from ledger.format.statement import (
    FORMAT_VERSION,
    ZERO_HASH,
    Envelope,
    Statement,
    key_id,
    sign_statement,
)

__all__ = [
    "Chainer",
    "attest_body",
    "contest_body",
    "correct_body",
    "count_body",
    "determination_body",
    "grant_body",
    "recap_body",
    "revoke_body",
]


class Chainer:
    """Signs statements into streams, tracking each stream's head."""

    def __init__(self, election: str, *, version: int = FORMAT_VERSION) -> None:
        self.election = election
        self.version = version
        self.heads: dict[str, tuple[int, bytes]] = {}

    def follow(self, stream: str, seq: int, head: bytes) -> None:
        """Continue ``stream`` from a head read elsewhere (for example from the ledger)."""
        self.heads[stream] = (seq, head)

    def sign(
        self,
        key: Ed25519PrivateKey,
        stream: str,
        kind: str,
        body: Mapping[str, Any],
        *,
        time: int,
    ) -> Envelope:
        seq, prev = self.heads.get(stream, (0, ZERO_HASH))
        statement = Statement(
            election=self.election,
            stream=stream,
            seq=seq + 1,
            prev=prev,
            kind=kind,
            body=dict(body),
            signer=key_id(ed25519.public_bytes(key)),
            time=time,
            version=self.version,
        )
        envelope = sign_statement(statement, key)
        self.heads[stream] = (seq + 1, envelope.hash)
        return envelope


def contest_body(
    office: str, region: str, name: str, pairs: list[str], kolom_kosong: int | None = None
) -> dict[str, Any]:
    entries: list[dict[str, Any]] = []
    for number, pair_name in enumerate(pairs, start=1):
        entry: dict[str, Any] = {"number": number, "name": pair_name}
        if number == kolom_kosong:
            entry["kolom_kosong"] = True
        entries.append(entry)
    return {
        "contest": f"{office}-{region}",
        "office": office,
        "region": region,
        "name": name,
        "pairs": entries,
    }


def grant_body(
    public_key: bytes,
    role: str,
    scope: str,
    label: str,
    *,
    contest: str | None = None,
    pair: int | None = None,
    khusus: bool = False,
) -> dict[str, Any]:
    body: dict[str, Any] = {"key": public_key, "role": role, "scope": scope, "label": label}
    if contest is not None:
        body["contest"] = contest
    if pair is not None:
        body["pair"] = pair
    if khusus:
        body["khusus"] = True
    return body


def revoke_body(subject_key_id: bytes, reason: str) -> dict[str, Any]:
    return {"key": subject_key_id, "reason": reason}


def count_body(tally: Mapping[str, Any]) -> dict[str, Any]:
    return {"tally": dict(tally)}


def attest_body(event: bytes, verdict: str = "agree", reason: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"event": event, "verdict": verdict}
    if reason is not None:
        body["reason"] = reason
    return body


def correct_body(corrects: bytes, reason: str, tally: Mapping[str, Any]) -> dict[str, Any]:
    return {"corrects": corrects, "reason": reason, "tally": dict(tally)}


def recap_body(
    inputs: list[tuple[str, bytes]],
    votes: Mapping[str, int],
    valid: int,
    invalid: int,
    voted: int,
    decisions: list[dict[str, Any]] | None = None,
    *,
    version: int = FORMAT_VERSION,
) -> dict[str, Any]:
    """A recap body of format ``version`` naming ``inputs`` as ``(stream, head)`` pairs.

    Whether it fits an entry is known only once signed: signing raises
    EntryTooLargeError for one that does not (format.md 5.8 says how to split it).
    """
    body: dict[str, Any] = {
        "inputs": encode_inputs(inputs, version),
        "totals": {"votes": dict(votes), "valid": valid, "invalid": invalid, "voted": voted},
    }
    if decisions:
        body["decisions"] = decisions
    return body


def determination_body(
    recap: bytes,
    decree: str,
    announced: int,
    totals: Mapping[str, Any],
    *,
    kolom_kosong: int | None,
    office: str,
    elected: int | None = None,
) -> dict[str, Any]:
    """A determination body (format.md 5.14) with the outcome the law gives ``totals``.

    ``elected`` is needed only to name one of pairs tied on the most votes (the tie
    rule, ledger.format.outcome); otherwise the outcome is computed, never chosen.
    """
    outcome = decide(totals["votes"], totals["valid"], kolom_kosong, office)
    body: dict[str, Any] = {
        "recap": recap,
        "decree": decree,
        "announced": announced,
        "totals": {
            "votes": dict(totals["votes"]),
            "valid": totals["valid"],
            "invalid": totals["invalid"],
            "voted": totals["voted"],
        },
        "outcome": outcome.result,
    }
    if outcome.result == ELECTED:
        body["elected"] = outcome.elected if elected is None else elected
    return body
