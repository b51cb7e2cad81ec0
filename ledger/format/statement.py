"""Signed statements and their envelopes: the bytes every party signs and checks.

A *statement* is a canonical msgpack map (docs/format.md, "Statement"); an
*envelope* is the canonical map ``{"signature": sig, "statement": statement
bytes}``; the SHA-256 of the envelope bytes is the event's hash and the next
statement's ``prev``. The signature is Ed25519 over ``STATEMENT_CONTEXT ||
statement bytes``; the context string ends in NUL, which no C2SP signed note can
contain, so a statement signature can never be replayed as a note signature,
a receipt, or any other message of this project.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.errors import FormatError
from ledger.format import canonical, ed25519

__all__ = [
    "FORMAT_VERSION",
    "HASH_SIZE",
    "STATEMENT_CONTEXT",
    "ZERO_HASH",
    "Envelope",
    "Statement",
    "event_hash",
    "key_id",
    "sign_statement",
]

FORMAT_VERSION = 1
HASH_SIZE = 32
ZERO_HASH = bytes(HASH_SIZE)
STATEMENT_CONTEXT = b"pilkada-ledger/v1/statement\x00"

_STATEMENT_FIELDS = frozenset(
    {"version", "election", "stream", "seq", "prev", "kind", "body", "signer", "time"}
)
_ENVELOPE_FIELDS = frozenset({"statement", "signature"})
MAX_ENVELOPE_SIZE = 1 << 20


def key_id(public_key: bytes) -> bytes:
    """The ledger's id of a signer: SHA-256 of its raw 32-byte Ed25519 public key."""
    return hashlib.sha256(public_key).digest()


def event_hash(envelope_bytes: bytes) -> bytes:
    """SHA-256 of the envelope bytes: the event's identity and the next ``prev``."""
    return hashlib.sha256(envelope_bytes).digest()


def _field(value: dict[str, Any], name: str, kind: type, what: str) -> Any:
    item = value[name]
    if kind is int and isinstance(item, bool):
        raise FormatError(f"statement field {name!r} must be {what}")
    if not isinstance(item, kind):
        raise FormatError(f"statement field {name!r} must be {what}")
    return item


@dataclass(frozen=True, slots=True)
class Statement:
    """What a signer asserts: one event of one stream of one election."""

    election: str
    stream: str
    seq: int
    prev: bytes
    kind: str
    body: dict[str, Any]
    signer: bytes
    time: int
    version: int = FORMAT_VERSION

    def to_bytes(self) -> bytes:
        return canonical.encode(
            {
                "version": self.version,
                "election": self.election,
                "stream": self.stream,
                "seq": self.seq,
                "prev": self.prev,
                "kind": self.kind,
                "body": self.body,
                "signer": self.signer,
                "time": self.time,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Statement:
        """Parse canonical statement bytes; raise FormatError/NonCanonicalError."""
        value = canonical.decode(data)
        if not isinstance(value, dict):
            raise FormatError("statement is not a map")
        missing = _STATEMENT_FIELDS - value.keys()
        extra = value.keys() - _STATEMENT_FIELDS
        if missing:
            raise FormatError(f"statement lacks field(s) {', '.join(sorted(missing))}")
        if extra:
            raise FormatError(f"statement has unknown field(s) {', '.join(sorted(extra))}")
        version = _field(value, "version", int, "an integer")
        if version != FORMAT_VERSION:
            raise FormatError(f"statement format version {version} is not supported")
        seq = _field(value, "seq", int, "an integer")
        if seq < 1:
            raise FormatError(f"statement seq must be >= 1, got {seq}")
        prev = _field(value, "prev", bytes, "32 bytes")
        signer = _field(value, "signer", bytes, "32 bytes")
        if len(prev) != HASH_SIZE or len(signer) != HASH_SIZE:
            raise FormatError("statement fields 'prev' and 'signer' must be 32 bytes")
        if seq == 1 and prev != ZERO_HASH:
            raise FormatError("statement with seq 1 must have prev of 32 zero bytes")
        time = _field(value, "time", int, "an integer")
        if time < 0:
            raise FormatError("statement time must not be negative")
        for name in ("election", "stream", "kind"):
            if not _field(value, name, str, "a string"):
                raise FormatError(f"statement field {name!r} must not be empty")
        return cls(
            election=value["election"],
            stream=value["stream"],
            seq=seq,
            prev=prev,
            kind=value["kind"],
            body=_field(value, "body", dict, "a map"),
            signer=signer,
            time=time,
            version=version,
        )


@dataclass(frozen=True, slots=True)
class Envelope:
    """A signed statement as stored and transmitted, with its parsed parts."""

    raw: bytes
    statement_bytes: bytes
    signature: bytes
    statement: Statement
    hash: bytes

    @classmethod
    def parse(cls, raw: bytes) -> Envelope:
        """Parse envelope bytes (canonical check included); does NOT verify the signature.

        Memoised on the exact bytes: an envelope is parsed on acceptance, again
        when its aggregate is rebuilt, by the sequencer and by the projections,
        and the answer cannot differ. Treat ``statement.body`` as read-only.
        """
        return _parse_envelope(raw)

    @classmethod
    def _parse(cls, raw: bytes) -> Envelope:
        if len(raw) > MAX_ENVELOPE_SIZE:
            raise FormatError(f"envelope of {len(raw)} bytes exceeds {MAX_ENVELOPE_SIZE}")
        value = canonical.decode(raw)
        if not isinstance(value, dict) or value.keys() != _ENVELOPE_FIELDS:
            raise FormatError("envelope must be a map of exactly 'signature' and 'statement'")
        statement_bytes = value["statement"]
        signature = value["signature"]
        if not isinstance(statement_bytes, bytes) or not isinstance(signature, bytes):
            raise FormatError("envelope 'statement' and 'signature' must be bin")
        if len(signature) != ed25519.SIGNATURE_SIZE:
            raise FormatError(f"envelope signature must be 64 bytes, got {len(signature)}")
        return cls(
            raw=raw,
            statement_bytes=statement_bytes,
            signature=signature,
            statement=Statement.from_bytes(statement_bytes),
            hash=event_hash(raw),
        )

    @classmethod
    def build(cls, statement_bytes: bytes, signature: bytes) -> Envelope:
        raw = canonical.encode({"statement": statement_bytes, "signature": signature})
        return cls.parse(raw)

    def verify_signature(self, public_key: bytes) -> None:
        """Raise InvalidSignature unless ``public_key`` signed this statement."""
        ed25519.verify(public_key, self.signature, STATEMENT_CONTEXT + self.statement_bytes)


@lru_cache(maxsize=32768)
def _parse_envelope(raw: bytes) -> Envelope:
    return Envelope._parse(raw)


def sign_statement(statement: Statement, private_key: Ed25519PrivateKey) -> Envelope:
    """Sign ``statement`` with ``private_key`` and wrap it in an envelope."""
    statement_bytes = statement.to_bytes()
    signature = ed25519.sign(private_key, STATEMENT_CONTEXT + statement_bytes)
    return Envelope.build(statement_bytes, signature)
