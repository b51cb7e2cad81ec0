"""An independent checkpoint witness (c2sp.org/tlog-witness) and cosignature checks.

A witness (for example Bawaslu) holds a cosignature/v1 key (type 0x04) and, for
each log it witnesses, the log's origin and its verifier key (type 0x01). It
cosigns a checkpoint only if the log signed it and the tree extends every tree
it cosigned before for that origin, so that no two inconsistent checkpoints of
one log ever carry its cosignature (a split view needs the witness to lie).

:class:`Witness` is the stateful half (the CLI calls :meth:`Witness.cosign`; the
HTTP service of c2sp.org/tlog-witness calls :meth:`Witness.add_checkpoint`, which
also checks the client's ``old`` size); :func:`verify_cosigned` and :func:`open_cosigned` are
the pure half, used by anyone who checks that a checkpoint was witnessed.

State
    One file per origin in the witness's state directory, named
    ``<hex SHA-256 of the UTF-8 origin>.json`` (so no origin can name a path),
    holding one UTF-8 JSON object::

        {"format": "ledger-witness-state/v1",
         "origin": "<origin line>",
         "size": <tree size, integer>,
         "root": "<standard base64 of the 32-byte root hash>",
         "timestamp": <Unix time of the cosignature, integer>,
         "note": "<the cosigned note: checkpoint text, blank line, the log's
                  signature line(s) and this witness's cosignature line>"}

    Every field is checked on load, and the note's checkpoint must be exactly
    ``origin``/``size``/``root``: an unreadable or corrupt file raises
    :class:`~ledger.errors.ConfigurationError` and is never treated as "no
    state" (which would let the witness cosign any tree from size 0). A missing
    file means the witness never cosigned for that origin. Files are replaced
    atomically (temporary file, fsync, ``os.replace``, fsync of the directory)
    and a lock file ``lock`` in the directory (``fcntl.flock``, POSIX)
    serialises :meth:`Witness.cosign` across threads and processes.

    Limitation: a rollback -- a state file replaced by an older, valid one, or
    the whole directory restored from a backup -- cannot be detected by the
    witness on its own; it would then cosign a tree inconsistent with one it
    already cosigned. Detecting that needs outside help (for example comparing
    with cosigned checkpoints published elsewhere, or a monotonic counter kept
    off this disk). The state directory must already exist: a mistyped path is
    an error, not a fresh witness with empty state.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.errors import (
    CheckpointError,
    ConfigurationError,
    FormatError,
    InconsistentCheckpointError,
    LedgerError,
    LogShrankError,
    NoteError,
    ProofError,
    UnknownLogError,
    UnverifiedNoteError,
    WitnessConflictError,
)
from ledger.format.jsoninput import load_json
from ledger.format.merkle import EMPTY_ROOT, verify_consistency
from ledger.format.note import (
    SIG_TYPE_COSIGNATURE_V1,
    SIG_TYPE_ED25519,
    Checkpoint,
    Note,
    NoteSigner,
    Signature,
    Verifier,
    cosign,
    cosignature_timestamp,
    open_note,
    parse_note,
)

__all__ = [
    "STATE_FORMAT",
    "WITNESS_KEY",
    "CosignedCheckpoint",
    "Witness",
    "WitnessCosignature",
    "WitnessState",
    "check_origin",
    "open_cosigned",
    "state_file_name",
    "verify_cosigned",
    "write_durably",
]

#: Value of the ``format`` field of a state file.
STATE_FORMAT = "ledger-witness-state/v1"
#: The key file name (in KeyDir layout) of a witness directory (`ledger witness init`).
WITNESS_KEY = "witness"

_STATE_KEYS = frozenset({"format", "origin", "size", "root", "timestamp", "note"})
_LOCK_NAME = "lock"
_MAX_TIMESTAMP = 2**63 - 1


def _check_now(now: int) -> None:
    if isinstance(now, bool) or not isinstance(now, int) or not 0 <= now <= _MAX_TIMESTAMP:
        raise NoteError(f"cosignature timestamp {now!r} is outside 0..2^63-1")


def state_file_name(origin: str) -> str:
    """The state file name of ``origin``: hex SHA-256 of its UTF-8 bytes, then ``.json``."""
    return hashlib.sha256(origin.encode("utf-8")).hexdigest() + ".json"


def check_origin(origin: str) -> None:
    """Raise ConfigurationError unless ``origin`` can be a checkpoint's origin line."""
    try:
        Checkpoint(origin, 0, EMPTY_ROOT)
    except CheckpointError as e:
        raise ConfigurationError(f"invalid log origin {origin!r}: {e}") from e


# --- state -----------------------------------------------------------------------------


@dataclass(frozen=True)
class WitnessState:
    """The last checkpoint a witness cosigned for one origin (one state file)."""

    origin: str
    size: int
    root_hash: bytes
    timestamp: int
    note: bytes
    """The cosigned note: re-encoded checkpoint text, log signature(s), cosignature."""

    @property
    def checkpoint(self) -> Checkpoint:
        """The cosigned checkpoint (parsed from :attr:`note`)."""
        return Checkpoint.parse(parse_note(self.note).text)

    def to_json(self) -> bytes:
        """The state file contents (see the module docstring)."""
        record = {
            "format": STATE_FORMAT,
            "origin": self.origin,
            "size": self.size,
            "root": base64.b64encode(self.root_hash).decode("ascii"),
            "timestamp": self.timestamp,
            "note": self.note.decode("utf-8"),
        }
        return (json.dumps(record, ensure_ascii=False, indent=1) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes, origin: str) -> WitnessState:
        """Parse and check a state file for ``origin``; raise ConfigurationError if corrupt."""
        try:
            record: Any = load_json(data, "witness state file")
        except FormatError as e:
            raise ConfigurationError(f"witness state for {origin!r}: {e}") from e
        if not isinstance(record, dict) or set(record) != _STATE_KEYS:
            raise ConfigurationError(f"witness state for {origin!r} has the wrong fields")
        if record["format"] != STATE_FORMAT:
            raise ConfigurationError(f"witness state for {origin!r} has an unknown format")
        if record["origin"] != origin:
            raise ConfigurationError(f"witness state for {origin!r} names another origin")
        size, timestamp = record["size"], record["timestamp"]
        for name, value in (("size", size), ("timestamp", timestamp)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigurationError(f"witness state for {origin!r} has an invalid {name}")
        root_text, note_text = record["root"], record["note"]
        if not isinstance(root_text, str) or not isinstance(note_text, str):
            raise ConfigurationError(f"witness state for {origin!r} has a non-string field")
        try:
            root = base64.b64decode(root_text.encode("ascii"), validate=True)
            note = note_text.encode("utf-8")
            checkpoint = Checkpoint.parse(parse_note(note).text)
            state = cls(origin, size, root, timestamp, note)
        except (binascii.Error, UnicodeError, ValueError, LedgerError) as e:
            raise ConfigurationError(f"witness state for {origin!r} is corrupt: {e}") from e
        if (checkpoint.origin, checkpoint.size, checkpoint.root_hash) != (origin, size, root):
            raise ConfigurationError(
                f"witness state for {origin!r} does not match the checkpoint it holds"
            )
        return state


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(directory: Path, name: str, data: bytes) -> None:
    """Atomically replace ``directory/name`` with ``data``: temp, fsync, replace, fsync dir."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, directory / name)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


# --- the witness -----------------------------------------------------------------------


class Witness:
    """A C2SP tlog-witness: cosigns checkpoints that extend what it cosigned before.

    ``signer`` is the witness's cosignature/v1 key (type 0x04); ``state_dir`` an
    existing directory it alone writes (see the module docstring); ``logs`` maps
    each witnessed origin to the log's Ed25519 note verifier (type 0x01), or to
    several (any one of them may sign a checkpoint). The origin need not be the
    key's name: sum.golang.org signs the origin ``go.sum database tree``. Bad
    arguments raise :class:`~ledger.errors.ConfigurationError`.
    """

    def __init__(
        self,
        signer: NoteSigner,
        state_dir: str | os.PathLike[str],
        logs: Mapping[str, Verifier | Sequence[Verifier]],
    ) -> None:
        if signer.sig_type != SIG_TYPE_COSIGNATURE_V1:
            raise ConfigurationError(f"witness key {signer.name} is not a cosignature/v1 key")
        followed: dict[str, tuple[Verifier, ...]] = {}
        for origin, keys in logs.items():
            check_origin(origin)
            verifiers = (keys,) if isinstance(keys, Verifier) else tuple(keys)
            if not verifiers:
                raise ConfigurationError(f"log {origin!r} has no verifier key")
            for verifier in verifiers:
                if verifier.sig_type != SIG_TYPE_ED25519:
                    raise ConfigurationError(f"log key {verifier.name} is not an Ed25519 note key")
            followed[origin] = verifiers
        directory = Path(state_dir)
        if not directory.is_dir():
            raise ConfigurationError(f"witness state directory {directory} does not exist")
        self._signer = signer
        self._dir = directory
        self._logs = followed

    def __repr__(self) -> str:
        return f"Witness({self._signer!r}, {str(self._dir)!r}, {sorted(self._logs)!r})"

    @property
    def verifier(self) -> Verifier:
        """The witness's cosignature/v1 verifier key, to publish."""
        return self._signer.verifier

    @property
    def origins(self) -> frozenset[str]:
        """The origins of the logs this witness witnesses."""
        return frozenset(self._logs)

    def state(self, origin: str) -> WitnessState | None:
        """The last checkpoint cosigned for ``origin``, or ``None`` if never.

        Raises :class:`~ledger.errors.UnknownLogError` for an unknown origin and
        :class:`~ledger.errors.ConfigurationError` for an unreadable or corrupt file.
        """
        if origin not in self._logs:
            raise UnknownLogError(f"unknown log origin {origin!r}: this witness does not follow it")
        path = self._dir / state_file_name(origin)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise ConfigurationError(f"cannot read witness state {path}: {e}") from e
        return WitnessState.from_json(data, origin)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        path = self._dir / _LOCK_NAME
        try:
            handle = open(path, "a+b")  # noqa: SIM115 - closed in finally
        except OSError as e:
            raise ConfigurationError(f"cannot open witness lock {path}: {e}") from e
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
        finally:
            handle.close()  # releases the lock

    def cosign(
        self, signed_checkpoint: bytes, consistency_proof: Sequence[bytes], *, now: int
    ) -> bytes:
        """Cosign ``signed_checkpoint`` at Unix time ``now``; return the cosignature line.

        ``consistency_proof`` proves the checkpoint's tree extends the last tree this
        witness cosigned for its origin (empty when that is size 0 or the same size).

        Steps (labelled ``# (n)`` in the code):

        1. Parse the note and verify it with the log verifier of its origin: an
           unknown origin raises :class:`~ledger.errors.CheckpointError`; a missing
           log signature :class:`~ledger.errors.UnverifiedNoteError`; a bad one or a
           malformed note :class:`~ledger.errors.NoteError`.
        2. Parse the checkpoint from the verified text (CheckpointError if it is not
           one, or a size-0 checkpoint without the empty-tree root) and re-encode it.
        3. Load the last checkpoint cosigned for the origin (none: size 0, empty root).
        4. Refuse a smaller size (:class:`~ledger.errors.LogShrankError`).
        5. Same size: require an empty proof and the same root. Larger size from 0:
           require an empty proof. Larger size from ``m > 0``: verify the proof with
           :func:`ledger.format.merkle.verify_consistency`. Every refusal here raises
           :class:`~ledger.errors.InconsistentCheckpointError` (from the
           :class:`~ledger.errors.ProofError`, if any).
        6. Cosign the RE-ENCODED checkpoint text (``Checkpoint.to_text()`` of what
           was parsed and verified, never the received bytes) with
           :func:`ledger.format.note.cosign`, and durably persist the new state, holding the
           full cosigned note, BEFORE anything is returned.
        7. Return the cosignature line only (``"— <name> <base64>\\n"``, UTF-8), as a
           tlog-witness ``add-checkpoint`` response. The full note with the log's
           signature(s) and this cosignature is ``self.state(origin).note``.

        Nothing is written unless every check passes, and the state lock is held
        from (3) to (6).
        """
        return self._cosign(signed_checkpoint, None, consistency_proof, now)

    def add_checkpoint(
        self,
        old_size: int,
        consistency_proof: Sequence[bytes],
        signed_checkpoint: bytes,
        *,
        now: int,
    ) -> bytes:
        """Answer a c2sp.org/tlog-witness ``add-checkpoint`` request; return the cosignature line.

        ``old_size`` is the size the client believes this witness last cosigned for
        the checkpoint's origin, and ``consistency_proof`` proves the checkpoint's
        tree extends that one. As :meth:`cosign`, except that the refusals follow
        the spec ("add-checkpoint"), in its order, each with its own HTTP status:

        - 404 :class:`~ledger.errors.UnknownLogError`: the origin is not followed;
        - 403 :class:`~ledger.errors.UnverifiedNoteError`: no signature by a key
          trusted for the origin verifies, or one by such a key does not;
        - 400 :class:`~ledger.errors.NoteError` / :class:`~ledger.errors.CheckpointError`:
          a malformed note or checkpoint, or ``old_size`` above the checkpoint's size;
        - 409 :class:`~ledger.errors.WitnessConflictError` with ``witness_size``:
          ``old_size`` is not the size of the latest checkpoint cosigned for the
          origin (0 if none);
        - 422 :class:`~ledger.errors.InconsistentCheckpointError`: the proof does
          not prove ``old_size`` -> checkpoint size (it must be empty from 0 and
          between equal sizes);
        - 409 :class:`~ledger.errors.WitnessConflictError` without ``witness_size``:
          the same size as the latest cosigned checkpoint with another root.

        The check of ``old_size`` and the durable write of the new state happen
        under one lock, so no two requests can both pass the check of one state.
        """
        if isinstance(old_size, bool) or not isinstance(old_size, int) or old_size < 0:
            raise CheckpointError(f"old size {old_size!r} is not a tree size")
        return self._cosign(signed_checkpoint, old_size, consistency_proof, now)

    def _cosign(
        self,
        signed_checkpoint: bytes,
        claimed_old: int | None,
        consistency_proof: Sequence[bytes],
        now: int,
    ) -> bytes:
        """The steps of :meth:`cosign`; ``claimed_old`` is add-checkpoint's old size, if any."""
        _check_now(now)

        # (1) parse the note and verify it with the log keys of its origin
        unverified = parse_note(signed_checkpoint)
        origin = unverified.text.split("\n", 1)[0]
        log_verifiers = self._logs.get(origin)
        if log_verifiers is None:
            raise UnknownLogError(f"unknown log origin {origin!r}: this witness does not follow it")
        try:
            note, verified = open_note(signed_checkpoint, log_verifiers)
        except NoteError as e:
            if claimed_old is None or isinstance(e, UnverifiedNoteError):
                raise
            # tlog-witness answers 403 for a bad signature by a trusted key as well
            raise UnverifiedNoteError(f"checkpoint of {origin!r}: {e}") from e

        # (2) parse the checkpoint from the verified text, re-encode it
        checkpoint = Checkpoint.parse(note.text)
        text = checkpoint.to_text()
        if text != note.text:  # Checkpoint.parse is canonical; this is belt and braces
            raise CheckpointError("checkpoint text is not in its canonical encoding")
        if checkpoint.origin != origin:  # same line, re-checked after verification
            raise CheckpointError("checkpoint origin changed between parse and verify")
        if checkpoint.size == 0 and checkpoint.root_hash != EMPTY_ROOT:
            raise CheckpointError("checkpoint of size 0 does not have the empty-tree root")
        new_size, new_root = checkpoint.size, checkpoint.root_hash
        if claimed_old is not None and claimed_old > new_size:
            raise CheckpointError(f"old size {claimed_old} exceeds the checkpoint size {new_size}")

        with self._locked():
            # (3) load the last checkpoint cosigned for this origin
            old = self.state(origin)
            old_size, old_root = (0, EMPTY_ROOT) if old is None else (old.size, old.root_hash)

            # (4) never go back; a client must start from the size we hold
            if claimed_old is not None and claimed_old != old_size:
                raise WitnessConflictError(
                    f"old size {claimed_old} is not the size {old_size} this witness last "
                    f"cosigned for {origin!r}",
                    old_size,
                )
            if new_size < old_size:
                raise LogShrankError(
                    f"checkpoint size {new_size} is smaller than the last witnessed size {old_size}"
                )

            # (5) the new tree must extend the old one
            _check_extends(old_size, old_root, new_size, new_root, consistency_proof)
            if new_size == old_size and new_root != old_root:
                message = (
                    f"checkpoint of size {new_size} has a different root than the one "
                    f"already witnessed at that size"
                )
                if claimed_old is not None:
                    raise WitnessConflictError(message, None)
                raise InconsistentCheckpointError(message)

            # (6) cosign the re-encoded text; persist durably before returning
            cosignature = cosign(text, now, self._signer)
            keys = {(v.name, v.key_id) for v in verified}
            log_sigs = tuple(s for s in note.signatures if (s.name, s.key_id) in keys)
            cosigned = Note(text, (*log_sigs, cosignature)).to_bytes()
            record = WitnessState(origin, new_size, new_root, now, cosigned)
            try:
                write_durably(self._dir, state_file_name(origin), record.to_json())
            except OSError as e:
                raise ConfigurationError(f"cannot write witness state for {origin!r}: {e}") from e

        # (7) return the cosignature line
        return cosignature.to_line().encode("utf-8")


def _check_extends(
    old_size: int, old_root: bytes, new_size: int, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise InconsistentCheckpointError unless ``proof`` proves old -> new (RFC 9162 2.1.4).

    The proof must be empty between equal sizes and from size 0; the roots of
    equal sizes are compared by the caller, whose refusal depends on the protocol.
    """
    if new_size == old_size:
        if proof:
            raise InconsistentCheckpointError(
                f"consistency proof for equal sizes {old_size} -> {new_size} must "
                f"be empty, got {len(proof)} hashes"
            )
    elif old_size == 0:
        if proof:
            raise InconsistentCheckpointError(
                f"consistency proof from size 0 to {new_size} must be empty, got "
                f"{len(proof)} hashes"
            )
    else:
        try:
            verify_consistency(old_size, new_size, list(proof), old_root, new_root)
        except ProofError as e:
            raise InconsistentCheckpointError(
                f"checkpoint size {new_size} is not proven consistent with the last "
                f"witnessed size {old_size}: {e}"
            ) from e


# --- verifying cosigned checkpoints ----------------------------------------------------


@dataclass(frozen=True)
class WitnessCosignature:
    """A verified cosignature: the witness key and its cosignature timestamp."""

    verifier: Verifier
    timestamp: int


@dataclass(frozen=True)
class CosignedCheckpoint:
    """A checkpoint verified by :func:`open_cosigned`, with its witness cosignatures."""

    checkpoint: Checkpoint
    note: Note
    cosignatures: tuple[WitnessCosignature, ...]
    """One per distinct witness key that cosigned, in signature order."""


def _first_signature(note: Note, verifier: Verifier) -> Signature:
    for sig in note.signatures:
        if (sig.name, sig.key_id) == (verifier.name, verifier.key_id):
            return sig
    raise AssertionError("a verified key has a signature")  # pragma: no cover


def open_cosigned(
    note_bytes: bytes | str,
    log_verifier: Verifier,
    witness_verifiers: Iterable[Verifier],
    *,
    quorum: int = 1,
) -> CosignedCheckpoint:
    """Verify a checkpoint signed by the log and cosigned by at least ``quorum`` witnesses.

    Pure. Signatures by other keys are ignored; any signature by a given key that
    does not verify rejects the note (:class:`~ledger.errors.NoteError`, as Go's
    ``note.Open``). Witnesses count once per distinct public key. Raises
    :class:`~ledger.errors.UnverifiedNoteError` if the log did not sign or fewer
    than ``quorum`` witnesses cosigned, :class:`~ledger.errors.NoteError` for a
    malformed note, :class:`~ledger.errors.CheckpointError` if the text is not a
    checkpoint, and :class:`~ledger.errors.ConfigurationError` for key types other
    than 0x01 (log) / 0x04 (witnesses), ``quorum < 1``, or a quorum larger than the
    number of distinct witness keys. A timestamp of a cosignature is the witness's
    claim of when it checked the checkpoint; callers decide how fresh is enough.
    """
    witnesses = list(witness_verifiers)
    if log_verifier.sig_type != SIG_TYPE_ED25519:
        raise ConfigurationError(f"log key {log_verifier.name} is not an Ed25519 note key")
    for w in witnesses:
        if w.sig_type != SIG_TYPE_COSIGNATURE_V1:
            raise ConfigurationError(f"witness key {w.name} is not a cosignature/v1 key")
    distinct = {w.public_key for w in witnesses}
    if isinstance(quorum, bool) or quorum < 1:
        raise ConfigurationError(f"witness quorum must be at least 1, got {quorum!r}")
    if quorum > len(distinct):
        raise ConfigurationError(
            f"witness quorum {quorum} exceeds the {len(distinct)} distinct witness keys"
        )

    note, verified = open_note(note_bytes, [log_verifier, *witnesses])
    if log_verifier not in verified:
        raise UnverifiedNoteError(f"note is not signed by the log key {log_verifier.name}")
    checkpoint = Checkpoint.parse(note.text)

    cosignatures: list[WitnessCosignature] = []
    seen: set[bytes] = set()
    for v in verified:
        if v.sig_type != SIG_TYPE_COSIGNATURE_V1 or v.public_key in seen:
            continue
        seen.add(v.public_key)
        timestamp = cosignature_timestamp(_first_signature(note, v))
        cosignatures.append(WitnessCosignature(v, timestamp))
    if len(cosignatures) < quorum:
        raise UnverifiedNoteError(
            f"checkpoint has {len(cosignatures)} valid witness cosignatures, need {quorum}"
        )
    return CosignedCheckpoint(checkpoint, note, tuple(cosignatures))


def verify_cosigned(
    note_bytes: bytes | str,
    log_verifier: Verifier,
    witness_verifiers: Iterable[Verifier],
    *,
    quorum: int = 1,
) -> Checkpoint:
    """Return the checkpoint of a log-signed note with ``quorum`` witness cosignatures.

    As :func:`open_cosigned` (which also returns the cosignature timestamps).
    """
    return open_cosigned(note_bytes, log_verifier, witness_verifiers, quorum=quorum).checkpoint
