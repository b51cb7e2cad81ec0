"""Grant and revoke statements, signed by a granter's key (the key side of authority).

Thin wrappers over :mod:`ledger.format.signing`: a key holder who grants or revokes
another key signs one statement into the subject key's own stream
(``key:<key id hex>``). The stream head comes from the ledger (``Ledger.head``),
or is 0 and 32 zero bytes for a key never granted.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from keys._files import key_id
from ledger.format.regions import key_stream
from ledger.format.signing import Chainer, grant_body, revoke_body
from ledger.format.statement import ZERO_HASH, Envelope

__all__ = ["grant", "revoke"]


def grant(
    granter: Ed25519PrivateKey,
    subject: bytes,
    role: str,
    scope: str,
    label: str,
    *,
    election: str,
    time: int,
    contest: str | None = None,
    pair: int | None = None,
    khusus: bool = False,
) -> Envelope:
    """The signed grant of ``subject`` (a raw 32-byte public key): seq 1 of its key stream."""
    body = grant_body(subject, role, scope, label, contest=contest, pair=pair, khusus=khusus)
    return Chainer(election).sign(granter, key_stream(key_id(subject)), "grant", body, time=time)


def revoke(
    revoker: Ed25519PrivateKey,
    subject: bytes,
    reason: str,
    *,
    election: str,
    time: int,
    head: tuple[int, bytes] = (1, ZERO_HASH),
) -> Envelope:
    """The signed revocation of ``subject``; ``head`` is its key stream's (seq, hash)."""
    subject_id = key_id(subject)
    chain = Chainer(election)
    chain.follow(key_stream(subject_id), *head)
    return chain.sign(
        revoker, key_stream(subject_id), "revoke", revoke_body(subject_id, reason), time=time
    )
