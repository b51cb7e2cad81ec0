"""Signed statements and their envelopes: the bytes every party signs and checks.

A *statement* is a canonical msgpack map (docs/format.md, "Statement"); an
*envelope* is the canonical map ``{"signature": sig, "statement": statement
bytes}``; the SHA-256 of the envelope bytes is the event's hash and the next
statement's ``prev``. The signature is Ed25519 over ``context || statement
bytes``, the context string of the statement's format version
(``pilkada-ledger/v<N>/statement`` and NUL); NUL cannot occur in a C2SP signed
note, so a statement signature can never be replayed as a note signature, a
receipt, a statement of another version, or any other message of this project.

Versions (docs/format.md, section 9): version 1 is read and verified forever;
version 2 (what signers produce) differs in the recap body (compact inputs,
bounded decisions, :mod:`ledger.format.recap`), the election's schedule and the
determination (:mod:`ledger.format.schedule`, :mod:`ledger.format.outcome`), and in
that its envelopes are at
most :data:`MAX_ENTRY_SIZE` bytes, the size of a tlog-tiles entry. A ledger
accepts no new envelope of any version above that size (:func:`check_entry_size`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ledger.errors import EntryTooLargeError, FormatError
from ledger.format import canonical, ed25519

if TYPE_CHECKING:  # signing only (see ledger.format.ed25519)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = [
    "FORMAT_VERSION",
    "HASH_SIZE",
    "MAX_ENTRY_SIZE",
    "STATEMENT_CONTEXT",
    "STATEMENT_CONTEXT_V2",
    "VERSIONS",
    "ZERO_HASH",
    "Envelope",
    "Statement",
    "check_entry_size",
    "event_hash",
    "key_id",
    "parse_event_hash",
    "sign_statement",
    "statement_context",
]

# The version signers produce; every version in VERSIONS is read and verified.
FORMAT_VERSION = 2
VERSIONS = (1, 2)
HASH_SIZE = 32
ZERO_HASH = bytes(HASH_SIZE)
STATEMENT_CONTEXT = b"pilkada-ledger/v1/statement\x00"
STATEMENT_CONTEXT_V2 = b"pilkada-ledger/v2/statement\x00"
_CONTEXTS = {1: STATEMENT_CONTEXT, 2: STATEMENT_CONTEXT_V2}

_STATEMENT_FIELDS = frozenset(
    {"version", "election", "stream", "seq", "prev", "kind", "body", "signer", "time"}
)
_ENVELOPE_FIELDS = frozenset({"statement", "signature"})
# Version 1 envelopes are read up to 2^20 bytes (older ledgers hold them); no
# envelope of any version above a tlog-tiles entry's uint16 length is accepted.
MAX_ENVELOPE_SIZE = 1 << 20
MAX_ENTRY_SIZE = 0xFFFF


def statement_context(version: int) -> bytes:
    """The context string a statement of ``version`` is signed under (format.md 3)."""
    try:
        return _CONTEXTS[version]
    except KeyError:
        raise FormatError(f"statement format version {version} is not supported") from None


def key_id(public_key: bytes) -> bytes:
    """The ledger's id of a signer: SHA-256 of its raw 32-byte Ed25519 public key."""
    return hashlib.sha256(public_key).digest()


def event_hash(envelope_bytes: bytes) -> bytes:
    """SHA-256 of the envelope bytes: the event's identity and the next ``prev``."""
    return hashlib.sha256(envelope_bytes).digest()


def parse_event_hash(text: str) -> bytes:
    """An event hash written as 64 hex characters (a command's argument, a URL's
    parameter); FormatError for anything else."""
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != HASH_SIZE:
        raise FormatError(f"{text[:80]!r} is not an event hash (64 hex characters)")
    return raw


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
        if version not in VERSIONS:
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
        envelope = cls(
            raw=raw,
            statement_bytes=statement_bytes,
            signature=signature,
            statement=Statement.from_bytes(statement_bytes),
            hash=event_hash(raw),
        )
        if envelope.statement.version >= 2:
            check_entry_size(envelope)
        return envelope

    @classmethod
    def build(cls, statement_bytes: bytes, signature: bytes) -> Envelope:
        raw = canonical.encode({"statement": statement_bytes, "signature": signature})
        return cls.parse(raw)

    @property
    def signed_message(self) -> bytes:
        """The bytes the signature is over: the version's context, then the statement."""
        return _CONTEXTS[self.statement.version] + self.statement_bytes

    def verify_signature(self, public_key: bytes) -> None:
        """Raise InvalidSignature unless ``public_key`` signed this statement."""
        ed25519.verify(public_key, self.signature, self.signed_message)


def check_entry_size(envelope: Envelope) -> None:
    """Raise EntryTooLargeError if ``envelope`` cannot be a tlog-tiles entry (format.md 4.1).

    Every version 2 envelope, and every envelope a ledger accepts, passes this. A
    recap too large is split by its signer as format.md 5.8 says, and the message
    says how.
    """
    size = len(envelope.raw)
    if size <= MAX_ENTRY_SIZE:
        return
    hint = ""
    if envelope.statement.kind == "recap" and envelope.statement.version == 1:
        hint = "; sign the recap in version 2, whose inputs are compact (format.md 5.8.2)"
    elif envelope.statement.kind == "recap":
        hint = (
            "; split the recap: put its decisions in consecutive recaps of the same "
            "stream, each repeating the inputs and totals (format.md 5.8)"
        )
    raise EntryTooLargeError(
        f"envelope of {size:,} bytes ({envelope.statement.kind} in "
        f"{envelope.statement.stream}) exceeds the {MAX_ENTRY_SIZE:,}-byte tlog-tiles "
        f"entry{hint}"
    )


@lru_cache(maxsize=32768)
def _parse_envelope(raw: bytes) -> Envelope:
    return Envelope._parse(raw)


def sign_statement(statement: Statement, private_key: Ed25519PrivateKey) -> Envelope:
    """Sign ``statement`` with ``private_key`` and wrap it in an envelope."""
    statement_bytes = statement.to_bytes()
    signature = ed25519.sign(private_key, statement_context(statement.version) + statement_bytes)
    return Envelope.build(statement_bytes, signature)
