"""A reproducible cast of signers and the statements they make.

Tests, the demo and the simulator all need the same thing: trust roots, keys
for every role, and correctly chained, signed statements. :class:`Scenario`
derives every key from a seed and a label (so a run can be repeated byte for
byte) and signs through one :class:`~ledger.format.signing.Chainer`. It never touches a
ledger: what it returns are envelopes, to be appended by whoever runs it.

The derived keys are for tests, demos and simulations only; real signers
generate theirs with ``ledger keys generate``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.format import ed25519
from ledger.format.aftercount import followup_body, order_body, recommend_body
from ledger.format.note import SIG_TYPE_COSIGNATURE_V1, SIG_TYPE_ED25519, NoteSigner
from ledger.format.regions import key_stream, recap_stream, sheet_stream
from ledger.format.schema import tally_form
from ledger.format.signing import (
    Chainer,
    attest_body,
    contest_body,
    correct_body,
    count_body,
    grant_body,
    recap_body,
    revoke_body,
)
from ledger.format.statement import FORMAT_VERSION, Envelope, key_id
from ledger.format.trust import TrustRoots

__all__ = ["Scenario"]

DEFAULT_TIME = 1_732_683_600  # 2024-11-27 05:00 UTC: 12:00 WIB on polling day


class Scenario:
    """Deterministic keys and signed statements for one election."""

    def __init__(
        self,
        election: str = "pilkada2024",
        *,
        seed: str = "pilkada-ledger test scenario",
        origin: str = "ledger.example/pilkada2024",
        time: int = DEFAULT_TIME,
        version: int = FORMAT_VERSION,
    ) -> None:
        """``version`` is the statement format signed; 1 builds version 1 ledgers (tests)."""
        self.election = election
        self.seed = seed
        self.origin = origin
        self.time = time
        self.chain = Chainer(election, version=version)
        self._keys: dict[str, Ed25519PrivateKey] = {}
        self.kpu = self.key("kpu-root")
        self.bawaslu = self.key("bawaslu-root")
        self.log_key = self._seed_key("log")
        self.log_signer = NoteSigner(self.log_key, origin, SIG_TYPE_ED25519)
        self.witness_key = self._seed_key("witness")
        self.witness_signer = NoteSigner(
            self.witness_key, "bawaslu.example/witness", SIG_TYPE_COSIGNATURE_V1
        )

    def _seed_key(self, label: str) -> Ed25519PrivateKey:
        digest = hashlib.sha256(f"{self.seed}\n{label}".encode()).digest()
        return Ed25519PrivateKey.from_private_bytes(digest)

    def key(self, label: str) -> Ed25519PrivateKey:
        """The key named ``label`` (derived from the seed; the same on every run)."""
        if label not in self._keys:
            self._keys[label] = self._seed_key(f"key:{label}")
        return self._keys[label]

    def trust(self) -> TrustRoots:
        return TrustRoots(
            election=self.election,
            kpu_root=ed25519.public_bytes(self.kpu),
            bawaslu_root=ed25519.public_bytes(self.bawaslu),
            log_vkey=self.log_signer.verifier.vkey,
            origin=self.origin,
        )

    def sign(
        self, key: Ed25519PrivateKey, stream: str, kind: str, body: Mapping[str, Any]
    ) -> Envelope:
        if kind in ("count", "correct"):  # the C.Hasil as the version's form has it
            body = {**body, "tally": tally_form(body["tally"], self.chain.version)}
        return self.chain.sign(key, stream, kind, body, time=self.time)

    # --- the election and its authorities --------------------------------------------

    def define_election(self, name: str) -> Envelope:
        return self.sign(self.kpu, "election", "election", {"name": name})

    def define_contest(
        self, office: str, region: str, name: str, pairs: list[str], kolom_kosong: int | None = None
    ) -> Envelope:
        body = contest_body(office, region, name, pairs, kolom_kosong)
        return self.sign(self.kpu, "election", "contest", body)

    def grant(
        self, granter: Ed25519PrivateKey, label: str, role: str, scope: str, **extra: Any
    ) -> tuple[Ed25519PrivateKey, Envelope]:
        """Grant the key named ``label`` a role; returns the key and the grant."""
        subject = self.key(label)
        public = ed25519.public_bytes(subject)
        body = grant_body(public, role, scope, label, **extra)
        return subject, self.sign(granter, key_stream(key_id(public)), "grant", body)

    def revoke(
        self, revoker: Ed25519PrivateKey, subject: Ed25519PrivateKey, reason: str
    ) -> Envelope:
        subject_id = key_id(ed25519.public_bytes(subject))
        return self.sign(revoker, key_stream(subject_id), "revoke", revoke_body(subject_id, reason))

    # --- sheets and recaps -------------------------------------------------------------

    def count(
        self, kpps: Ed25519PrivateKey, contest: str, tps: str, tally: Mapping[str, Any]
    ) -> Envelope:
        return self.sign(kpps, sheet_stream(contest, tps), "count", count_body(tally))

    def attest(
        self,
        key: Ed25519PrivateKey,
        contest: str,
        tps: str,
        event: bytes,
        verdict: str = "agree",
        reason: str | None = None,
    ) -> Envelope:
        body = attest_body(event, verdict, reason)
        return self.sign(key, sheet_stream(contest, tps), "attest", body)

    def correct(
        self,
        key: Ed25519PrivateKey,
        contest: str,
        tps: str,
        corrects: bytes,
        reason: str,
        tally: Mapping[str, Any],
        answers: list[bytes] | None = None,
    ) -> Envelope:
        """A correction; ``answers`` names the objections it answers (version 2)."""
        body = correct_body(corrects, reason, tally)
        if answers is not None:
            body["answers"] = answers
        return self.sign(key, sheet_stream(contest, tps), "correct", body)

    def recap(
        self,
        key: Ed25519PrivateKey,
        contest: str,
        region: str,
        inputs: list[tuple[str, bytes]],
        votes: Mapping[str, int],
        valid: int,
        invalid: int,
        voted: int,
        decisions: list[dict[str, Any]] | None = None,
    ) -> Envelope:
        body = recap_body(
            inputs, votes, valid, invalid, voted, decisions, version=self.chain.version
        )
        return self.sign(key, recap_stream(contest, region), "recap", body)

    # --- after the count (format.md 5.11-5.13) -------------------------------------------

    def order(
        self, key: Ed25519PrivateKey, stream: str, action: str, reason: str, **extra: Any
    ) -> Envelope:
        """An order of ``action`` in a sheet or recap stream; voting day is the scenario's
        day, the deadline (unless given) the tenth day after it."""
        voting_day = extra.pop("voting_day", self.time)
        deadline = extra.pop("deadline", voting_day + 10 * 86_400)
        basis = extra.pop("basis", "UU 1/2015 Pasal 112, PKPU 17/2024")
        body = order_body(action, basis, reason, voting_day, deadline, **extra)
        return self.sign(key, stream, "order", body)

    def recount_count(
        self,
        kpps: Ed25519PrivateKey,
        contest: str,
        tps: str,
        tally: Mapping[str, Any],
        order: bytes,
    ) -> Envelope:
        """The count that carries out ``order`` (a re-vote, delayed vote or recount)."""
        body = {**count_body(tally), "order": order}
        return self.sign(kpps, sheet_stream(contest, tps), "count", body)

    def attest_recap(
        self,
        key: Ed25519PrivateKey,
        contest: str,
        region: str,
        event: bytes,
        verdict: str = "agree",
        reason: str | None = None,
    ) -> Envelope:
        """A saksi's or Bawaslu's attestation at a recap plenary (version 2)."""
        body = attest_body(event, verdict, reason)
        return self.sign(key, recap_stream(contest, region), "attest", body)

    def recommend(
        self,
        key: Ed25519PrivateKey,
        stream: str,
        remedy: str,
        reason: str,
        event: bytes | None = None,
    ) -> Envelope:
        return self.sign(key, stream, "recommend", recommend_body(remedy, reason, event))

    def followup(
        self, key: Ed25519PrivateKey, stream: str, recommendation: bytes, verdict: str, reason: str
    ) -> Envelope:
        body = followup_body(recommendation, verdict, reason)
        return self.sign(key, stream, "followup", body)

    def head(self, stream: str) -> bytes:
        """The hash of the last statement this scenario signed into ``stream``."""
        return self.chain.heads[stream][1]
