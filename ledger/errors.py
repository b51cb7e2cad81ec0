"""The ledger's one exception tree.

Every failure the ledger, the transparency log or the verifier can report is a
subclass of :class:`LedgerError`, with a one-line message naming the problem.
Errors from parsers and libraries (msgpack, cryptography, base64, sqlite3,
psycopg) are converted at the boundary with ``raise ... from e`` so that nothing
raw escapes to a caller or to the CLI.

The tree is deliberately shallow: callers catch :class:`LedgerError` to handle
any failure, or one leaf class to handle one kind.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base class of every error this project raises on purpose."""


# --- bytes and encodings -------------------------------------------------------------


class FormatError(LedgerError):
    """Bytes that do not parse as the documented format (docs/format.md)."""


class NonCanonicalError(FormatError):
    """Bytes that parse but are not the one canonical encoding of their value."""


class SchemaError(LedgerError):
    """A statement or body whose structure breaks the schema of its kind."""


# --- signatures and authority --------------------------------------------------------


class InvalidSignature(LedgerError):  # noqa: N818 - named like pyca's InvalidSignature
    """An Ed25519 signature that does not verify over the signed message."""


class UnknownSignerError(LedgerError):
    """A statement signed by a key that no grant chain makes known."""


class UnauthorizedError(LedgerError):
    """A known signer whose role may not make this kind of statement."""


class OutOfScopeError(LedgerError):
    """A signer acting outside the region, TPS, contest or pair it was granted."""


class RevokedKeyError(LedgerError):
    """A statement signed by a key after that key was revoked."""


# --- streams -------------------------------------------------------------------------


class ElectionMismatchError(LedgerError):
    """A statement for another election than the ledger's."""


class StaleHeadError(LedgerError):
    """A statement whose seq does not follow the stream's current head."""


class PrevMismatchError(LedgerError):
    """A statement whose prev is not the hash of the stream's head event."""


class UnknownEventError(LedgerError):
    """A reference to an event, stream or position the ledger does not hold."""


# --- transparency log ----------------------------------------------------------------


class ProofError(LedgerError):
    """A Merkle proof that is malformed or does not lead to the expected root."""


class InclusionProofError(ProofError):
    """An inclusion proof that does not prove the leaf is in the tree (RFC 9162 2.1.3.2)."""


class ConsistencyProofError(ProofError):
    """A consistency proof that does not prove one tree extends another (RFC 9162 2.1.4.2)."""


class RootMismatchError(ProofError):
    """A proof that verifies structurally but reaches a different root than claimed."""


class NoteError(LedgerError):
    """A C2SP signed note that is malformed, or whose signatures do not verify."""


class UnverifiedNoteError(NoteError):
    """A signed note with no valid signature from any of the trusted verifier keys."""


class CheckpointError(LedgerError):
    """A checkpoint that is malformed or belongs to another log (C2SP tlog-checkpoint)."""


class LogShrankError(CheckpointError):
    """A checkpoint whose tree is smaller than one already signed or witnessed."""


class InconsistentCheckpointError(CheckpointError):
    """A checkpoint whose tree does not extend one already signed or witnessed."""


class UnknownLogError(CheckpointError):
    """A checkpoint of a log (origin) that a witness does not follow."""


class WitnessConflictError(CheckpointError):
    """A tlog-witness request at odds with the witness's state (HTTP 409 Conflict).

    ``witness_size`` is the size of the latest checkpoint the witness cosigned when
    the request's old size is not that size (the client may resend from it), and
    ``None`` when the sizes agree but the roots differ (a fork: never resend).
    """

    def __init__(self, message: str, witness_size: int | None = None) -> None:
        super().__init__(message)
        self.witness_size = witness_size


class WitnessUnavailableError(LedgerError):
    """A witness that cannot be reached, or answers outside c2sp.org/tlog-witness."""


class UnwitnessedError(CheckpointError):
    """Events, or a checkpoint, that the trust policy's quorum of witnesses did not cosign."""


# --- keys and configuration ----------------------------------------------------------


class KeyFileError(LedgerError):
    """A key file that cannot be read, decrypted or parsed."""


class ConfigurationError(LedgerError):
    """A ledger directory, database setting or trust root that is missing or invalid."""


class ServiceError(LedgerError):
    """A ledger server that cannot be reached, or answers outside its documented API."""
