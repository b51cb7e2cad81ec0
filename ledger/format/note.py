"""C2SP signed notes, checkpoints and Ed25519 cosignatures.

Implements, with Ed25519 from ``cryptography``:

* c2sp.org/signed-note: a note is a text (valid UTF-8, ends in a newline, no
  ASCII control character but newline), a blank line, and one or more signature
  lines ``"— <name> <base64(key ID || signature)>\\n"``. Key IDs are
  ``SHA-256(name || 0x0A || sig_type || public key)[:4]``; verifier keys are
  ``<name>+<8 hex key ID>+<base64(sig_type || public key)>``. Signature type
  0x01 signs the note text.
* c2sp.org/tlog-checkpoint: the note text ``origin\\nsize\\nbase64(root)\\n``
  followed by optional extension lines.
* c2sp.org/tlog-cosignature (Ed25519, ``cosignature/v1``, type 0x04): the
  signature is ``uint64_be(timestamp) || Ed25519 signature`` over
  ``"cosignature/v1\\ntime <timestamp>\\n" || checkpoint text``.

:func:`open_note` follows golang.org/x/mod/sumdb/note ``Open``: signatures by
unknown keys are ignored; a signature by a known key (name and key ID match)
that does not verify rejects the whole note; a note with no verified signature
raises :class:`~ledger.errors.UnverifiedNoteError`.

Parsing is stricter than Go in one respect: every base64 field must be the
canonical encoding of its bytes (no stray padding bits), so one note has exactly
one byte encoding and ``parse_note(data).to_bytes() == data``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from ledger.errors import (
    CheckpointError,
    FormatError,
    InvalidSignature,
    NoteError,
    UnverifiedNoteError,
)
from ledger.format import ed25519

__all__ = [
    "COSIGNATURE_V1_HEADER",
    "MAX_SIGNATURES",
    "SIG_TYPE_COSIGNATURE_V1",
    "SIG_TYPE_ED25519",
    "Checkpoint",
    "Note",
    "NoteSigner",
    "Signature",
    "Verifier",
    "add_signatures",
    "cosign",
    "cosignature_message",
    "cosignature_timestamp",
    "decode_base64",
    "is_valid_key_name",
    "key_id",
    "open_note",
    "parse_note",
    "sign_note",
]

SIG_TYPE_ED25519 = 0x01
SIG_TYPE_COSIGNATURE_V1 = 0x04
COSIGNATURE_V1_HEADER = b"cosignature/v1\n"

#: Go's sumdb/note Open rejects notes with more signature lines than this.
MAX_SIGNATURES = 100

_SIG_TYPES = (SIG_TYPE_ED25519, SIG_TYPE_COSIGNATURE_V1)
_KEY_ID_SIZE = 4
_ED25519_KEY_SIZE = 32
_ED25519_SIG_SIZE = 64
_TIMESTAMP_SIZE = 8
_COSIG_SIZE = _TIMESTAMP_SIZE + _ED25519_SIG_SIZE
_MAX_TIMESTAMP = 2**63 - 1
_MAX_TREE_SIZE = 2**64 - 1
_ROOT_HASH_SIZE = 32
_SIG_PREFIX = "\u2014 "  # em dash, space
_PRIVATE_PREFIX = "PRIVATE+KEY+"

# Unicode White_Space, which is what Go's unicode.IsSpace tests.
_WHITE_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")
_HEX8 = re.compile("[0-9a-f]{8}")
_DECIMAL = re.compile("0|[1-9][0-9]*")


# --- helpers ---------------------------------------------------------------------------


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str, what: str, error: type[Exception]) -> bytes:
    """Decode standard, padded, canonical base64 or raise ``error``."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as e:
        raise error(f"{what} is not valid base64") from e
    if _b64encode(data) != text:
        raise error(f"{what} is not canonical base64")
    return data


def decode_base64(text: str, what: str, error: type[Exception] = FormatError) -> bytes:
    """Decode standard, padded, canonical base64 (as every base64 field here) or raise ``error``.

    For the other C2SP text formats (tlog-witness, tlog-proof), so that they
    reject exactly what a note rejects.
    """
    return _b64decode(text, what, error)


def is_valid_key_name(name: str) -> bool:
    """Report whether ``name`` is a valid key name: non-empty, no spaces, no ``+``."""
    if not name or "+" in name or any(ch in _WHITE_SPACE for ch in name):
        return False
    if _CONTROL.search(name):
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_text(text: str, error: type[Exception]) -> None:
    """Raise ``error`` unless ``text`` is valid note text (UTF-8, no controls, ends ``\\n``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise error("note text is not valid UTF-8") from e
    if _CONTROL.search(text):
        raise error("note text contains an ASCII control character")
    if not text.endswith("\n"):
        raise error("note text does not end with a newline")


def key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """Return the 4-byte key ID ``SHA-256(name || 0x0A || sig_type || public_key)[:4]``."""
    if not 0 <= sig_type <= 0xFF:
        raise FormatError(f"signature type {sig_type} is not a byte")
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([sig_type]) + public_key)
    return digest.digest()[:_KEY_ID_SIZE]


def _check_timestamp(timestamp: int) -> None:
    if isinstance(timestamp, bool) or not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise NoteError(f"cosignature timestamp {timestamp} is outside 0..2^63-1")


def cosignature_message(checkpoint_text: str, timestamp: int) -> bytes:
    """Return the message a cosignature/v1 signs: header, time line, checkpoint text."""
    _check_timestamp(timestamp)
    try:
        body = checkpoint_text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise NoteError("checkpoint text is not valid UTF-8") from e
    return COSIGNATURE_V1_HEADER + f"time {timestamp}\n".encode("ascii") + body


# --- keys ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verifier:
    """A verifier key: name, 4-byte key ID, signature type (0x01 or 0x04), Ed25519 key."""

    name: str
    key_id: bytes
    sig_type: int
    public_key: bytes

    def __post_init__(self) -> None:
        if not is_valid_key_name(self.name):
            raise FormatError(f"invalid key name {self.name!r}")
        if self.sig_type not in _SIG_TYPES:
            raise FormatError(f"unsupported signature type 0x{self.sig_type:02x}")
        if len(self.public_key) != _ED25519_KEY_SIZE:
            raise FormatError(f"Ed25519 public key is {len(self.public_key)} bytes, not 32")
        if self.key_id != key_id(self.name, self.sig_type, self.public_key):
            raise FormatError(f"key ID does not match the key of {self.name!r}")
        self._public_key_object()

    def _public_key_object(self) -> Ed25519PublicKey:
        try:
            return Ed25519PublicKey.from_public_bytes(self.public_key)
        except ValueError as e:
            raise FormatError(f"invalid Ed25519 public key for {self.name!r}") from e

    @classmethod
    def from_public_key(cls, name: str, public_key: bytes, sig_type: int) -> Verifier:
        """Build a verifier, computing its key ID."""
        if not is_valid_key_name(name):
            raise FormatError(f"invalid key name {name!r}")
        return cls(name, key_id(name, sig_type, public_key), sig_type, public_key)

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        """Parse ``<name>+<8 lowercase hex key ID>+<base64(sig_type || public key)>``."""
        name, _, rest = vkey.partition("+")
        hex_id, _, b64 = rest.partition("+")
        if not is_valid_key_name(name):
            raise FormatError("verifier key has an invalid key name")
        if not _HEX8.fullmatch(hex_id):
            raise FormatError("verifier key ID is not 8 lowercase hex digits")
        raw = _b64decode(b64, "verifier key", FormatError)
        if not raw:
            raise FormatError("verifier key has no key material")
        return cls(name, bytes.fromhex(hex_id), raw[0], raw[1:])

    @property
    def vkey(self) -> str:
        """The verifier key string."""
        material = _b64encode(bytes([self.sig_type]) + self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{material}"

    def verify(self, message: bytes, signature: bytes) -> None:
        """Verify ``signature`` (the blob after the key ID) over ``message`` (the note text).

        For type 0x01 the signature is 64 Ed25519 bytes over ``message``. For type
        0x04 it is ``uint64_be(timestamp) || Ed25519 signature`` over the
        cosignature/v1 message built from the timestamp and ``message``, which must
        be a checkpoint. Raises :class:`~ledger.errors.InvalidSignature`.
        """
        if self.sig_type == SIG_TYPE_ED25519:
            if len(signature) != _ED25519_SIG_SIZE:
                raise InvalidSignature(f"signature by {self.name} is not 64 bytes")
            signed = message
            raw_sig = signature
        else:
            if len(signature) != _COSIG_SIZE:
                raise InvalidSignature(f"cosignature by {self.name} is not 72 bytes")
            (timestamp,) = struct.unpack(">Q", signature[:_TIMESTAMP_SIZE])
            try:
                text = message.decode("utf-8")
                Checkpoint.parse(text)
                signed = cosignature_message(text, timestamp)
            except (UnicodeDecodeError, CheckpointError, NoteError) as e:
                raise InvalidSignature(
                    f"cosignature by {self.name} is not over a checkpoint"
                ) from e
            raw_sig = signature[_TIMESTAMP_SIZE:]
        try:
            ed25519.verify(self.public_key, raw_sig, signed)
        except InvalidSignature as e:
            raise InvalidSignature(f"signature by {self.name} does not verify") from e


class NoteSigner:
    """An Ed25519 private key with a key name, signing notes (0x01) or cosignatures (0x04)."""

    def __init__(
        self, private_key: Ed25519PrivateKey, name: str, sig_type: int = SIG_TYPE_ED25519
    ) -> None:
        if not is_valid_key_name(name):
            raise NoteError(f"invalid key name {name!r}")
        if sig_type not in _SIG_TYPES:
            raise NoteError(f"unsupported signature type 0x{sig_type:02x}")
        self._private_key = private_key
        self.name = name
        self.sig_type = sig_type
        public = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = Verifier.from_public_key(name, public, sig_type)

    def __repr__(self) -> str:
        return f"NoteSigner({self.name}+{self.key_id.hex()}, sig_type=0x{self.sig_type:02x})"

    @property
    def key_id(self) -> bytes:
        """The signer's 4-byte key ID."""
        return self.verifier.key_id

    @classmethod
    def generate(cls, name: str, sig_type: int = SIG_TYPE_ED25519) -> NoteSigner:
        """Generate a fresh signer."""
        return cls(Ed25519PrivateKey.generate(), name, sig_type)

    @classmethod
    def from_seed(cls, seed: bytes, name: str, sig_type: int = SIG_TYPE_ED25519) -> NoteSigner:
        """Build a signer from a 32-byte Ed25519 seed."""
        try:
            key = Ed25519PrivateKey.from_private_bytes(seed)
        except ValueError as e:
            raise FormatError("Ed25519 seed is not 32 bytes") from e
        return cls(key, name, sig_type)

    @classmethod
    def parse_skey(cls, skey: str) -> NoteSigner:
        """Parse Go's ``PRIVATE+KEY+<name>+<hex key ID>+base64(sig_type || seed)``.

        Go writes sig_type 0x01; 0x04 is accepted for cosigner keys, whose key ID is
        then computed with type 0x04.
        """
        if not skey.startswith(_PRIVATE_PREFIX):
            raise FormatError("private key does not start with PRIVATE+KEY+")
        name, _, rest = skey[len(_PRIVATE_PREFIX) :].partition("+")
        hex_id, _, b64 = rest.partition("+")
        if not is_valid_key_name(name):
            raise FormatError("private key has an invalid key name")
        if not _HEX8.fullmatch(hex_id):
            raise FormatError("private key ID is not 8 lowercase hex digits")
        raw = _b64decode(b64, "private key", FormatError)
        if len(raw) != 1 + _ED25519_KEY_SIZE or raw[0] not in _SIG_TYPES:
            raise FormatError("private key is not a type byte and a 32-byte Ed25519 seed")
        signer = cls.from_seed(raw[1:], name, raw[0])
        if signer.key_id != bytes.fromhex(hex_id):
            raise FormatError(f"private key ID does not match the key of {name!r}")
        return signer

    @property
    def skey(self) -> str:
        """The private key string (secret)."""
        seed = self._private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        material = _b64encode(bytes([self.sig_type]) + seed)
        return f"{_PRIVATE_PREFIX}{self.name}+{self.key_id.hex()}+{material}"

    def signature(self, text: str, timestamp: int | None = None) -> Signature:
        """Sign note ``text``; a 0x04 signer cosigns at ``timestamp`` (default: now)."""
        _check_text(text, NoteError)
        if self.sig_type == SIG_TYPE_ED25519:
            if timestamp is not None:
                raise NoteError("a timestamp is only meaningful for a cosignature key")
            raw = self._private_key.sign(text.encode("utf-8"))
        else:
            Checkpoint.parse(text)
            when = int(time.time()) if timestamp is None else timestamp
            message = cosignature_message(text, when)
            raw = struct.pack(">Q", when) + self._private_key.sign(message)
        return Signature(self.name, self.key_id, self.key_id + raw)

    def sign_note(self, text: str, timestamp: int | None = None) -> bytes:
        """Return the signature line (``"— name base64\\n"``, UTF-8) for ``text``."""
        return self.signature(text, timestamp).to_line().encode("utf-8")


# --- notes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    """One signature line: key name, 4-byte key ID, and the decoded blob (key ID first)."""

    name: str
    key_id: bytes
    blob: bytes

    def __post_init__(self) -> None:
        if not is_valid_key_name(self.name):
            raise NoteError(f"invalid key name {self.name!r} in signature")
        if len(self.key_id) != _KEY_ID_SIZE:
            raise NoteError("signature key ID is not 4 bytes")
        if len(self.blob) < _KEY_ID_SIZE + 1:
            raise NoteError("signature is shorter than 5 bytes")
        if self.blob[:_KEY_ID_SIZE] != self.key_id:
            raise NoteError("signature blob does not start with its key ID")

    @property
    def signature(self) -> bytes:
        """The signature bytes after the key ID."""
        return self.blob[_KEY_ID_SIZE:]

    def to_line(self) -> str:
        """The signature line, with its final newline."""
        return f"{_SIG_PREFIX}{self.name} {_b64encode(self.blob)}\n"

    @classmethod
    def parse_line(cls, line: str) -> Signature:
        """Parse one signature line (with or without its final newline)."""
        line = line.removesuffix("\n")
        if not line.startswith(_SIG_PREFIX):
            raise NoteError("malformed note: signature line does not start with an em dash")
        name, sep, b64 = line[len(_SIG_PREFIX) :].partition(" ")
        if not sep or not b64:
            raise NoteError("malformed note: signature line has no signature")
        if not is_valid_key_name(name):
            raise NoteError("malformed note: invalid key name in signature line")
        blob = _b64decode(b64, "signature", NoteError)
        if len(blob) < _KEY_ID_SIZE + 1:
            raise NoteError("malformed note: signature is shorter than 5 bytes")
        return cls(name, blob[:_KEY_ID_SIZE], blob)


@dataclass(frozen=True)
class Note:
    """A note text and its signature lines, in order (verified or not)."""

    text: str
    signatures: tuple[Signature, ...]

    def __post_init__(self) -> None:
        _check_text(self.text, NoteError)
        if not self.signatures:
            raise NoteError("a note needs at least one signature")
        if len(self.signatures) > MAX_SIGNATURES:
            raise NoteError(f"a note has more than {MAX_SIGNATURES} signatures")

    def to_bytes(self) -> bytes:
        """The encoded signed note."""
        lines = "".join(sig.to_line() for sig in self.signatures)
        return (self.text + "\n" + lines).encode("utf-8")


def parse_note(data: bytes | str) -> Note:
    """Parse a signed note without verifying it. Raises :class:`~ledger.errors.NoteError`."""
    if isinstance(data, str):
        try:
            data = data.encode("utf-8")
        except UnicodeEncodeError as e:
            raise NoteError("malformed note: not valid UTF-8") from e
    try:
        msg = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise NoteError("malformed note: not valid UTF-8") from e
    if _CONTROL.search(msg):
        raise NoteError("malformed note: contains an ASCII control character")
    split = msg.rfind("\n\n")
    if split < 0:
        raise NoteError("malformed note: no blank line before the signatures")
    text, block = msg[: split + 1], msg[split + 2 :]
    if not block:
        raise NoteError("malformed note: no signature lines")
    if not block.endswith("\n"):
        raise NoteError("malformed note: signature block does not end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"malformed note: more than {MAX_SIGNATURES} signatures")
    return Note(text, tuple(Signature.parse_line(line) for line in lines))


def open_note(data: bytes | str, verifiers: Iterable[Verifier]) -> tuple[Note, list[Verifier]]:
    """Parse ``data`` and verify it against ``verifiers``.

    Returns the note and the verifiers (each once, in signature order) whose
    signatures verified. Signatures by unknown keys are ignored. Every signature
    by a known key (same name and key ID) is verified, duplicates included; any
    failure raises :class:`~ledger.errors.NoteError`. If no known key signed,
    raises :class:`~ledger.errors.UnverifiedNoteError`. Two different verifiers
    with the same name and key ID raise :class:`~ledger.errors.NoteError`.
    """
    known: dict[tuple[str, bytes], Verifier] = {}
    for verifier in verifiers:
        slot = (verifier.name, verifier.key_id)
        if known.setdefault(slot, verifier) != verifier:
            raise NoteError(f"ambiguous key {verifier.name}+{verifier.key_id.hex()}")
    note = parse_note(data)
    message = note.text.encode("utf-8")
    verified: list[Verifier] = []
    for sig in note.signatures:
        found = known.get((sig.name, sig.key_id))
        if found is None:
            continue
        try:
            found.verify(message, sig.signature)
        except InvalidSignature as e:
            raise NoteError(f"invalid signature for key {sig.name}+{sig.key_id.hex()}") from e
        if found not in verified:
            verified.append(found)
    if not verified:
        raise UnverifiedNoteError("note has no verifiable signatures")
    return note, verified


def _new_signatures(
    text: str, signers: Iterable[NoteSigner], timestamp: int | None
) -> list[Signature]:
    sigs: list[Signature] = []
    for signer in signers:
        if any((s.name, s.key_id) == (signer.name, signer.key_id) for s in sigs):
            raise NoteError(f"key {signer.name}+{signer.key_id.hex()} given twice")
        sigs.append(signer.signature(text, timestamp))
    return sigs


def sign_note(text: str, signers: Iterable[NoteSigner], timestamp: int | None = None) -> bytes:
    """Sign ``text`` with ``signers`` (0x04 signers cosign at ``timestamp``, default now)."""
    return Note(text, tuple(_new_signatures(text, signers, timestamp))).to_bytes()


def add_signatures(
    note_bytes: bytes | str, signers: Iterable[NoteSigner], timestamp: int | None = None
) -> bytes:
    """Append signatures to a signed note, like Go's ``note.Sign``.

    Existing signatures come first; one by the same key (name and key ID) as a new
    signer is dropped. Existing signatures are not verified: open the note first.
    """
    note = parse_note(note_bytes)
    new = _new_signatures(note.text, signers, timestamp)
    replaced = {(s.name, s.key_id) for s in new}
    kept = [s for s in note.signatures if (s.name, s.key_id) not in replaced]
    return Note(note.text, (*kept, *new)).to_bytes()


# --- checkpoints and cosignatures -----------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A C2SP tlog-checkpoint note text."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for label, line in (("origin", self.origin), *(("extension", x) for x in self.extensions)):
            if not line:
                raise CheckpointError(f"checkpoint {label} line is empty")
            if "\n" in line or _CONTROL.search(line):
                raise CheckpointError(f"checkpoint {label} line contains a control character")
            try:
                line.encode("utf-8")
            except UnicodeEncodeError as e:
                raise CheckpointError(f"checkpoint {label} line is not valid UTF-8") from e
        if isinstance(self.size, bool) or not 0 <= self.size <= _MAX_TREE_SIZE:
            raise CheckpointError(f"checkpoint size {self.size} is outside 0..2^64-1")
        if len(self.root_hash) != _ROOT_HASH_SIZE:
            raise CheckpointError(f"checkpoint root hash is {len(self.root_hash)} bytes, not 32")

    def to_text(self) -> str:
        """The checkpoint note text."""
        lines = [self.origin, str(self.size), _b64encode(self.root_hash), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse a checkpoint note text. Raises :class:`~ledger.errors.CheckpointError`."""
        if not text.endswith("\n"):
            raise CheckpointError("checkpoint text does not end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError("checkpoint text has fewer than three lines")
        origin, size_text, root_text, *extensions = lines
        if not _DECIMAL.fullmatch(size_text):
            raise CheckpointError("checkpoint size is not a decimal without leading zeros")
        root = _b64decode(root_text, "checkpoint root hash", CheckpointError)
        return cls(origin, int(size_text), root, tuple(extensions))


def cosign(checkpoint_text: str, timestamp: int, signer: NoteSigner) -> Signature:
    """Cosign ``checkpoint_text`` at ``timestamp`` with a 0x04 (cosignature/v1) signer."""
    if signer.sig_type != SIG_TYPE_COSIGNATURE_V1:
        raise NoteError(f"key {signer.name} is not a cosignature/v1 key")
    _check_timestamp(timestamp)
    return signer.signature(checkpoint_text, timestamp)


def cosignature_timestamp(signature: Signature) -> int:
    """The timestamp of a cosignature/v1 signature."""
    if len(signature.signature) != _COSIG_SIZE:
        raise NoteError(f"signature by {signature.name} is not a cosignature/v1")
    (timestamp,) = struct.unpack(">Q", signature.signature[:_TIMESTAMP_SIZE])
    _check_timestamp(timestamp)
    return int(timestamp)
