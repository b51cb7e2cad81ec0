"""The application layer: accept signed envelopes into the ledger, all or nothing.

:meth:`Ledger.append` runs these steps for each envelope, and stores nothing
unless every step passes (docs/format.md, "Acceptance"):

1. decode the envelope and statement, rejecting non-canonical bytes;
2. check the statement is for this ledger's election;
3. verify the Ed25519 signature, with the signer's public key found before the lock
   as a root, in a grant earlier in the batch, or in the ledger (a key id is the hash
   of its key, so any copy found is the key), on a second thread while steps 4-9 run:
   it is the costly step, and libsodium releases the GIL;
4. if this exact envelope is already in its stream, return its position (idempotent);
5. resolve the signer (a trust root, or a key granted by a chain to one) and verify
   the signature if step 3 could not;
6. check the body against the schema of its kind;
7. check the signer's role and scope allow this statement, and that it is not revoked;
8. check the chain: seq is the stream's next, prev is the head's hash;
9. check references: attested and corrected events are in the stream, recap heads exist;
10. store the event (one eventsourcing transaction), then sequence it into the log.

Steps 4-10 run under an append lock, so what is checked is what is stored on. In a
batch, the error reported is that of the first envelope that fails any step.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import EventSourcingError
from eventsourcing.persistence import IntegrityError, RecordConflictError

from ledger.errors import (
    ConfigurationError,
    ElectionMismatchError,
    InvalidSignature,
    LedgerError,
    PrevMismatchError,
    SchemaError,
    StaleHeadError,
    UnknownEventError,
    UnknownSignerError,
)
from ledger.format import ed25519
from ledger.format.aftercount import check_references, tag_of
from ledger.format.authority import (
    BAWASLU_ROOT,
    KPU_ROOT,
    Signer,
    authorize,
    root_signer,
    signer_from_grant,
)
from ledger.format.recap import recap_inputs
from ledger.format.regions import key_stream, stream_contest
from ledger.format.schema import Contest, check_body, contest_from_body
from ledger.format.statement import Envelope, Statement, check_entry_size, key_id
from ledger.format.trust import TrustRoots
from ledger.store.domain import Stream, stream_uuid
from ledger.store.migrations import TRUST_META, check_schema
from ledger.store.migrations import create as create_schema
from ledger.store.migrations import migrate as migrate_schema
from ledger.store.persistence import LeafRow, LogRecorder, StorageConfig
from ledger.store.sequencer import sequence_pending

__all__ = ["Accepted", "Ledger", "TrustRoots"]


@dataclass(frozen=True, slots=True)
class Accepted:
    """Where an accepted envelope stands: its hash, stream position and log position."""

    event_hash: bytes
    stream: str
    seq: int
    leaf_index: int
    duplicate: bool = False


class _Batch:
    """Aggregates and signers loaded (and changed) while checking one batch."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.streams: dict[str, Stream | None] = {}
        self.signers: dict[bytes, Signer] = {}
        self.events: list[Any] = []
        self.contests: dict[str, Contest] | None = None
        self.staged_contests: dict[str, Contest] = {}

    def stream(self, stream_id: str) -> Stream | None:
        if stream_id not in self.streams:
            self.streams[stream_id] = self.ledger._load(stream_id)
        return self.streams[stream_id]

    def contest(self, contest: str) -> Contest:
        if contest in self.staged_contests:
            return self.staged_contests[contest]
        if self.contests is None:
            self.contests = self.ledger.contests()
        found = self.contests.get(contest)
        if found is None:
            raise UnknownEventError(f"contest {contest} is not defined in this election")
        return found

    def root_ids(self) -> tuple[bytes, bytes]:
        trust = self.ledger.trust
        return key_id(trust.kpu_root), key_id(trust.bawaslu_root)

    def signer(self, signer_id: bytes) -> Signer:
        if signer_id in self.signers:
            return self.signers[signer_id]
        trust = self.ledger.trust
        if signer_id == key_id(trust.kpu_root):
            signer = root_signer(trust.kpu_root, KPU_ROOT)
        elif signer_id == key_id(trust.bawaslu_root):
            signer = root_signer(trust.bawaslu_root, BAWASLU_ROOT)
        else:
            stream = self.stream(key_stream(signer_id))
            if stream is None:
                raise UnknownSignerError(
                    f"key {signer_id.hex()[:16]} is not a trust root and was never granted"
                )
            grant = stream.envelopes[0].statement
            granter = self.signer(grant.signer)
            signer = signer_from_grant(grant, granter, revoked=len(stream.envelopes) > 1)
        self.signers[signer_id] = signer
        return signer

    def add(self, envelope: Envelope, *, signature_verified: bool) -> None:
        """Check ``envelope`` (steps 4-9) against the batch's state, and stage it.

        ``signature_verified`` says step 5 already ran before the lock, with a
        public key whose SHA-256 is the signer's key id (so with the signer's key).
        """
        statement = envelope.statement
        signer = self.signer(statement.signer)  # (5)
        if not signature_verified:
            envelope.verify_signature(signer.public_key)
        check_body(  # (6)
            statement.kind,
            statement.body,
            lambda: self.contest(stream_contest(statement.stream)),
            version=statement.version,
        )
        if statement.kind == "grant" and key_id(statement.body["key"]) in self.root_ids():
            raise SchemaError("a trust root cannot be granted a role: roots are pinned")
        subject = None
        if statement.kind == "revoke":
            subject = self.signer(statement.body["key"])
        authorize(statement, signer, contest=self.contest, subject=subject)  # (7)
        stream = self.stream(statement.stream)
        seq = 0 if stream is None else stream.version  # (8)
        if statement.seq != seq + 1:
            raise StaleHeadError(
                f"stream {statement.stream} is at seq {seq}, statement is for seq {statement.seq}"
            )
        if stream is not None and statement.prev != stream.head:
            raise PrevMismatchError(
                f"stream {statement.stream}: prev {statement.prev.hex()[:16]} is not the hash "
                f"of seq {seq} ({stream.head.hex()[:16]})"
            )
        self._check_references(statement, stream)  # (9)
        if stream is None:
            stream = Stream.start(envelope)
            self.streams[statement.stream] = stream
        else:
            stream.append(envelope)
        self.events.extend(stream.collect_events())
        if statement.kind == "contest":
            defined = contest_from_body(statement.body)
            self.staged_contests[defined.id] = defined
        if statement.kind in ("grant", "revoke"):
            self.signers.pop(
                key_id(statement.body["key"])
                if statement.kind == "grant"
                else statement.body["key"],
                None,
            )

    def _check_references(self, statement: Statement, stream: Stream | None) -> None:
        kind, body = statement.kind, statement.body

        def tag(stream_id: str, event: bytes) -> str | None:
            named = stream if stream_id == statement.stream else self.stream(stream_id)
            found = None if named is None else named.find(event)
            return None if found is None else tag_of(found.statement)

        check_references(statement, tag)  # the version 2 keys (format.md 5.5-5.13)
        if kind in ("attest", "correct") and statement.stream.startswith("sheet:"):
            target = body["event"] if kind == "attest" else body["corrects"]
            found = None if stream is None else stream.find(target)
            if found is None or found.statement.kind not in ("count", "correct"):
                raise UnknownEventError(
                    f"{kind} names event {target.hex()[:16]}, which is not a count or "
                    "correction in this stream"
                )
        elif kind == "recap":
            for input_stream, head in recap_inputs(statement):
                named = self.stream(input_stream)
                if named is None or named.find(head) is None:
                    raise UnknownEventError(
                        f"recap input {input_stream} has no event {head.hex()[:16]}"
                    )


class Ledger(Application[uuid.UUID]):
    """A ledger of one election, on SQLite or PostgreSQL (see StorageConfig).

    ``Ledger(url)`` opens an existing ledger and runs no DDL; :meth:`create` makes
    one and :meth:`migrate` brings an older one's schema up to date
    (ledger.store.migrations).
    """

    name = "ledger"

    def __init__(self, database_url: str) -> None:
        """Open the ledger at ``database_url``; refuse a missing ledger or an old schema."""
        config = StorageConfig.parse(database_url)
        if config.backend == "sqlite" and not os.path.exists(config.sqlite_path):
            # Checked first: connecting would leave an empty database file behind.
            raise ConfigurationError(f"{database_url} holds no ledger (run `ledger create`)")
        self._connect(config)
        try:
            check_schema(self)
        except BaseException:
            self.close()
            raise

    def _connect(self, config: StorageConfig) -> None:
        """Connect to the database (no DDL, no schema check)."""
        self.config = config
        database_url = config.url
        try:
            super().__init__(env=self.config.environment())
            recorder = self.factory.tracking_recorder()
        except (EventSourcingError, OSError) as e:
            raise ConfigurationError(f"cannot open the database {database_url}: {e}") from e
        if not isinstance(recorder, LogRecorder):
            raise ConfigurationError("the ledger's tracking recorder is not a LogRecorder")
        self.log_store: LogRecorder = recorder
        self._trust: TrustRoots | None = None
        self._contests: dict[str, Contest] = {}
        self._contests_seen = 0

    @classmethod
    def create(cls, database_url: str, trust: TrustRoots) -> Ledger:
        """Create a ledger pinned to ``trust``, with every table; refuse a database
        that already has one. Return it open."""
        ledger = cls._unchecked(database_url)
        try:
            create_schema(ledger, trust.to_bytes())
        except BaseException:
            ledger.close()
            raise
        return ledger

    @classmethod
    def migrate(cls, database_url: str) -> tuple[int, int]:
        """Bring a ledger's schema up to date (idempotent); return the versions before
        and after."""
        ledger = cls._unchecked(database_url)
        try:
            return migrate_schema(ledger)
        finally:
            ledger.close()

    @classmethod
    def _unchecked(cls, database_url: str) -> Ledger:
        """A connection for create and migrate: no schema check."""
        ledger = cls.__new__(cls)
        ledger._connect(StorageConfig.parse(database_url))
        return ledger

    @property
    def trust(self) -> TrustRoots:
        if self._trust is None:
            data = self.log_store.read_meta(TRUST_META)
            if data is None:
                raise ConfigurationError(f"{self.config.url} holds no ledger (run `ledger create`)")
            self._trust = TrustRoots.from_bytes(data)
        return self._trust

    # --- reading -----------------------------------------------------------------------

    def _load(self, stream_id: str) -> Stream | None:
        try:
            stream: Stream = self.repository.get(stream_uuid(self.trust.election, stream_id))
        except AggregateNotFoundError:
            return None
        assert isinstance(stream, Stream)
        return stream

    def stream(self, stream_id: str) -> list[Envelope]:
        """Every envelope of ``stream_id`` in seq order (empty if the stream is new)."""
        stream = self._load(stream_id)
        return [] if stream is None else list(stream.envelopes)

    def head(self, stream_id: str) -> tuple[int, bytes]:
        """The stream's current seq and head hash (0 and 32 zero bytes when new)."""
        stream = self._load(stream_id)
        if stream is None:
            return 0, bytes(32)
        return stream.version, stream.head

    def envelopes_of(self, leaves: Sequence[LeafRow]) -> list[bytes]:
        """The envelope bytes of consecutive leaves, read from the notification log."""
        if not leaves:
            return []
        notifications = self.recorder.select_notifications(
            start=leaves[0].notification_id, stop=leaves[-1].notification_id, limit=len(leaves)
        )
        if [n.id for n in notifications] != [leaf.notification_id for leaf in leaves]:
            raise UnknownEventError("the notification log does not match the log's leaves")
        return [self.mapper.to_domain_event(n).envelope for n in notifications]  # type: ignore[attr-defined]

    def log_entries(
        self, start: int = 0, stop: int | None = None, *, page: int = 2000
    ) -> Iterator[tuple[LeafRow, bytes]]:
        """Every sequenced event from leaf ``start`` up to ``stop``, in log order."""
        while stop is None or start < stop:
            end = start + page if stop is None else min(stop, start + page)
            leaves = self.log_store.leaves(start, end)
            if not leaves:
                return
            yield from zip(leaves, self.envelopes_of(leaves), strict=True)
            start = leaves[-1].leaf_index + 1

    # --- appending ---------------------------------------------------------------------

    def append(self, raw: bytes) -> Accepted:
        """Accept one envelope (steps 1-10 in the module docstring)."""
        return self.append_batch([raw])[0]

    def append_batch(self, raws: Sequence[bytes]) -> list[Accepted]:
        """Accept many envelopes in one transaction: all of them, or none.

        A failure names the envelope's index in the batch. Envelopes already in
        the ledger are returned as duplicates and not stored again.
        """
        envelopes = []
        for i, raw in enumerate(raws):
            with _at(i, len(raws)):
                envelope = Envelope.parse(raw)  # (1)
                check_entry_size(envelope)  # every accepted envelope fits a tile entry
                if envelope.statement.election != self.trust.election:  # (2)
                    raise ElectionMismatchError(
                        f"statement is for election {envelope.statement.election!r}, "
                        f"this ledger holds {self.trust.election!r}"
                    )
            envelopes.append(envelope)
        tasks = self._signature_tasks(envelopes)
        # (3) on a second thread (libsodium releases the GIL), while this one checks.
        signatures = _SIGNATURES.submit(ed25519.verify_many, tasks)
        with self.log_store.append_lock():
            batch = _Batch(self)
            duplicate: list[bool] = []
            position = 0
            try:
                for position, envelope in enumerate(envelopes):
                    with _at(position, len(raws)):
                        stream = batch.stream(envelope.statement.stream)
                        found = stream is not None and stream.find(envelope.hash) is not None  # (4)
                        duplicate.append(found)
                        if not found:
                            batch.add(envelope, signature_verified=tasks[position] is not None)
            except LedgerError:
                # A bad signature at or before the failing envelope is reported
                # first, as if step 3 had run in line.
                _raise_bad_signature(signatures.result(), position)
                raise
            _raise_bad_signature(signatures.result(), len(envelopes) - 1)
            if batch.events:
                try:
                    self.save(*batch.events)  # (10)
                except (IntegrityError, RecordConflictError) as e:
                    raise StaleHeadError(
                        "another statement was stored for one of these streams first; "
                        "fetch the head and sign again"
                    ) from e
            _, sequenced = sequence_pending(self.log_store, self.recorder, self.mapper)
        leaves = {leaf.event_hash: leaf.leaf_index for leaf in sequenced}
        return [self._accepted(e, d, leaves) for e, d in zip(envelopes, duplicate, strict=True)]

    def _signature_tasks(
        self, envelopes: Sequence[Envelope]
    ) -> list[tuple[bytes, bytes, bytes] | None]:
        """Step 3's work list, where the signer's key can be found before the lock.

        A key id is the SHA-256 of its public key, so any copy of the key found
        here (a root, a grant earlier in this batch, a grant in the ledger) is
        the signer's key; whether the signer may sign is decided under the lock.
        None where the key is not found here (step 5 then verifies in line).
        """
        trust = self.trust
        known = {
            key_id(trust.kpu_root): trust.kpu_root,
            key_id(trust.bawaslu_root): trust.bawaslu_root,
        }
        tasks: list[tuple[bytes, bytes, bytes] | None] = []
        for envelope in envelopes:
            statement = envelope.statement
            public = known.get(statement.signer)
            if public is None:
                stream = self._load(key_stream(statement.signer))
                if stream is not None:
                    public = stream.envelopes[0].statement.body.get("key")
                    if isinstance(public, bytes):
                        known[statement.signer] = public
            if isinstance(public, bytes) and key_id(public) == statement.signer:
                tasks.append((public, envelope.signature, envelope.signed_message))
            else:
                tasks.append(None)
            if statement.kind == "grant" and isinstance(statement.body.get("key"), bytes):
                known[key_id(statement.body["key"])] = statement.body["key"]
        return tasks

    def _accepted(self, envelope: Envelope, duplicate: bool, leaves: dict[bytes, int]) -> Accepted:
        leaf_index = leaves.get(envelope.hash)
        if leaf_index is None:  # sequenced by an earlier call (a duplicate)
            leaf = self.log_store.leaf_by_hash(envelope.hash)
            if leaf is None:  # pragma: no cover - sequencing ran under the same lock
                raise UnknownEventError(f"event {envelope.hash.hex()[:16]} was not sequenced")
            leaf_index = leaf.leaf_index
        return Accepted(
            event_hash=envelope.hash,
            stream=envelope.statement.stream,
            seq=envelope.statement.seq,
            leaf_index=leaf_index,
            duplicate=duplicate,
        )

    def sequence(self) -> int:
        """Give every stored, unsequenced event its leaf index; return the log size.

        Follows the notification log from the sequencer's tracking position, in
        notification order (= commit order, see ledger.store.persistence), so leaf
        indexes are contiguous even where notification ids have gaps.
        """
        return sequence_pending(self.log_store, self.recorder, self.mapper)[0]

    def contests(self) -> dict[str, Contest]:
        """The contests defined so far (kept up to date incrementally, not reparsed)."""
        stored = self.events.get(
            stream_uuid(self.trust.election, "election"), gt=self._contests_seen
        )
        for event in stored:
            envelope = Envelope.parse(event.envelope)  # type: ignore[attr-defined]
            if envelope.statement.kind == "contest":
                contest = contest_from_body(envelope.statement.body)
                self._contests[contest.id] = contest
            self._contests_seen = event.originator_version
        return dict(self._contests)


# One thread for signature checks, shared by every Ledger in the process.
_SIGNATURES = ThreadPoolExecutor(1, thread_name_prefix="ledger-signatures")


def _raise_bad_signature(verdicts: list[bool | None], upto: int) -> None:
    """Raise InvalidSignature for the first bad verdict at an index up to ``upto``."""
    for i, verdict in enumerate(verdicts[: upto + 1]):
        if verdict is False:
            with _at(i, len(verdicts)):
                raise InvalidSignature("Ed25519 signature does not verify")


@contextmanager
def _at(index: int, total: int) -> Iterator[None]:
    """Prefix a failure with the envelope's place in a batch of more than one."""
    try:
        yield
    except LedgerError as e:
        if total > 1:
            raise type(e)(f"envelope {index + 1} of {total}: {e}") from e
        raise
