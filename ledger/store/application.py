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
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
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
from ledger.format.outcome import determined_recap_stream
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
from ledger.store.sequencer import SequencerState, sequence_pending

__all__ = ["Accepted", "Ledger", "TrustRoots"]

# Stream aggregates the writer keeps between batches (see Ledger._refresh_warm): a
# bound on memory (an aggregate holds its envelopes, a few KiB); a miss costs only
# a place in the next batch's one prefetch query.
WARM_STREAMS = 10_000
# Public keys kept by key id for step 3 (about 200 bytes each).
WARM_KEYS = 100_000


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
        self.touched: set[str] = set()  # streams changed here: not warm if the batch fails

    def stream(self, stream_id: str) -> Stream | None:
        if stream_id not in self.streams:
            self.streams[stream_id] = self.ledger._load(stream_id)
        return self.streams[stream_id]

    def prefetch(self, stream_ids: Sequence[str]) -> None:
        """Make the streams of ``stream_ids`` ready for :meth:`Ledger._load`: warm
        ones from the writer's cache, the rest in one query."""
        prefetched = self.ledger._prefetched
        wanted = [s for s in dict.fromkeys(stream_ids) if s not in prefetched]
        missing = self.ledger._warm_streams(wanted, prefetched)
        if missing:
            prefetched.update(self.ledger._load_many(missing))

    def prefetch_envelopes(self, envelopes: Sequence[Envelope]) -> None:
        """Load, in one round, what checking ``envelopes`` reads: their streams, their
        signers' and revoked keys' streams, their recaps' input streams; then the
        granters of the signers found (a second round, only for cold ones)."""
        roots = self.root_ids()
        wanted: list[str] = []
        keys: list[str] = []
        for envelope in envelopes:
            statement = envelope.statement
            wanted.append(statement.stream)
            if statement.signer not in roots:
                keys.append(key_stream(statement.signer))
            if statement.kind == "revoke" and isinstance(statement.body.get("key"), bytes):
                keys.append(key_stream(statement.body["key"]))
            elif statement.kind == "recap":
                # Only a prefetch hint: a malformed body is named by step 6, in order.
                with suppress(Exception):
                    wanted.extend(stream for stream, _ in recap_inputs(statement))
        self.prefetch(wanted + keys)
        granters = []
        for stream_id in keys:
            stream = self.ledger._prefetched.get(stream_id)
            if stream is not None:
                granter = stream.envelopes[0].statement.signer
                if granter not in roots:
                    granters.append(key_stream(granter))
        self.prefetch(granters)

    def contest(self, contest: str) -> Contest:
        if contest in self.staged_contests:
            return self.staged_contests[contest]
        if self.contests is None:
            self.contests = self.ledger._contests_under_lock()
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
        self.touched.add(statement.stream)
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
        elif kind == "determination":
            top = determined_recap_stream(statement)
            named = self.stream(top)
            found = None if named is None else named.find(body["recap"])
            if found is None or found.statement.kind != "recap":
                raise UnknownEventError(
                    f"determination names {body['recap'].hex()[:16]}, not a recap of {top}"
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
        # The writer's warm aggregates, least recently used first, current as of
        # notification id ``_warm_as_of``: used only under the append lock, after
        # _refresh_warm has dropped what others wrote since. (eventsourcing's own
        # aggregate cache fast-forwards each aggregate with a query of its own: the
        # round trip per stream this avoids.)
        self._warm: OrderedDict[uuid.UUID, Stream] = OrderedDict()
        self._warm_as_of: int | None = None
        # Public keys by key id, found before the lock (step 3): a key id is the
        # hash of its key, so an entry can never go stale.
        self._public_keys: dict[bytes, bytes] = {}
        self._contests_as_of: int | None = None  # the _warm_as_of they were read at
        self._prefetched: dict[str, Stream | None] = {}  # for the batch under the lock
        self._prefetch_thread = 0
        self._sequencer: SequencerState | None = None  # as the last sequencing left it

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
        # Prefetched by the batch being checked, for its own thread only: another
        # thread reading this Ledger must not see a batch's uncommitted changes.
        if stream_id in self._prefetched and self._prefetch_thread == threading.get_ident():
            return self._prefetched[stream_id]
        try:
            stream: Stream = self.repository.get(stream_uuid(self.trust.election, stream_id))
        except AggregateNotFoundError:
            return None
        assert isinstance(stream, Stream)
        return stream

    def _load_many(self, stream_ids: Sequence[str]) -> dict[str, Stream | None]:
        """Rebuild the aggregates of ``stream_ids`` from one query (None: new stream)."""
        election = self.trust.election
        ids = {stream_uuid(election, stream_id): stream_id for stream_id in stream_ids}
        table = self.recorder.events_table_name  # type: ignore[attr-defined]
        events: dict[uuid.UUID, list[Any]] = {}
        for stored in self.log_store.select_events_of(table, list(ids)):
            events.setdefault(stored.originator_id, []).append(  # type: ignore[arg-type]
                self.mapper.to_domain_event(stored)
            )
        loaded: dict[str, Stream | None] = {}
        for aggregate_id, stream_id in ids.items():
            stream = None
            for event in events.get(aggregate_id, ()):
                stream = event.mutate(stream)
            loaded[stream_id] = stream
        return loaded

    def _warm_streams(self, stream_ids: list[str], into: dict[str, Stream | None]) -> list[str]:
        """Put the warm ones of ``stream_ids`` into ``into``; return the others."""
        election = self.trust.election
        cold = []
        for stream_id in stream_ids:
            aggregate_id = stream_uuid(election, stream_id)
            stream = self._warm.get(aggregate_id)
            if stream is None:
                cold.append(stream_id)
            else:
                self._warm.move_to_end(aggregate_id)
                into[stream_id] = stream
        return cold

    def _keep_warm(self, streams: dict[str, Stream | None], failed: set[str]) -> None:
        """After a batch: keep its loaded aggregates warm, except those it changed
        and did not store (``failed``), which no longer match the database."""
        election = self.trust.election
        for stream_id, stream in streams.items():
            aggregate_id = stream_uuid(election, stream_id)
            if stream is None or stream_id in failed:
                self._warm.pop(aggregate_id, None)
            else:
                self._warm[aggregate_id] = stream
                self._warm.move_to_end(aggregate_id)
        while len(self._warm) > WARM_STREAMS:
            self._warm.popitem(last=False)

    def _refresh_warm(self) -> int:
        """Under the append lock: drop the warm aggregates that another writer (or a
        failed batch) changed since they were current; return the notification id
        they are now current as of. One query when nothing else was written."""
        current = self.recorder.max_notification_id() or 0
        if current != self._warm_as_of:
            self._sequencer = None  # another writer stored (and maybe sequenced) since
        if self._warm_as_of is None or current < self._warm_as_of:
            self._warm.clear()
        elif current > self._warm_as_of:
            written = self.recorder.select_notifications(
                start=self._warm_as_of, limit=WARM_STREAMS, inclusive_of_start=False
            )
            if len(written) >= WARM_STREAMS:
                self._warm.clear()
            for notification in written:
                self._warm.pop(notification.originator_id, None)  # type: ignore[arg-type]
        self._warm_as_of = current
        return current

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
            self._refresh_warm()
            self._prefetch_thread = threading.get_ident()
            batch = _Batch(self)
            duplicate: list[bool] = []
            position = 0
            stored = False
            try:
                batch.prefetch_envelopes(envelopes)
                try:
                    for position, envelope in enumerate(envelopes):
                        with _at(position, len(raws)):
                            stream = batch.stream(envelope.statement.stream)
                            found = (
                                stream is not None and stream.find(envelope.hash) is not None
                            )  # (4)
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
                stored = True
                state, self._sequencer = self._sequencer, None  # None while in doubt
                _, sequenced, self._sequencer = sequence_pending(
                    self.log_store, self.recorder, self.mapper, state
                )
                if sequenced:
                    # Everything stored is sequenced under this lock: the last leaf's
                    # notification is the newest, and every change up to it is ours.
                    newest = sequenced[-1].notification_id
                    if self._contests_as_of == self._warm_as_of and not batch.staged_contests:
                        self._contests_as_of = newest  # this batch defined no contest
                    self._warm_as_of = newest
            finally:
                self._prefetched = {}
                self._keep_warm(batch.streams, set() if stored else batch.touched)
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
        if len(self._public_keys) > WARM_KEYS:
            self._public_keys.clear()  # bounded memory; found again in one query
        known = self._public_keys
        known[key_id(trust.kpu_root)] = trust.kpu_root
        known[key_id(trust.bawaslu_root)] = trust.bawaslu_root
        for envelope in envelopes:
            statement = envelope.statement
            granted = statement.body.get("key") if statement.kind == "grant" else None
            if isinstance(granted, bytes):
                known[key_id(granted)] = granted
        unknown = {e.statement.signer for e in envelopes} - known.keys()
        if unknown:  # one query for the key streams of every signer not seen yet
            loaded = self._load_many([key_stream(signer) for signer in unknown])
            for stream in loaded.values():
                public = None if stream is None else stream.envelopes[0].statement.body.get("key")
                if isinstance(public, bytes):
                    known[key_id(public)] = public
        tasks: list[tuple[bytes, bytes, bytes] | None] = []
        for envelope in envelopes:
            statement = envelope.statement
            public = known.get(statement.signer)
            if isinstance(public, bytes) and key_id(public) == statement.signer:
                tasks.append((public, envelope.signature, envelope.signed_message))
            else:
                tasks.append(None)
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
        self._sequencer = None  # read afresh: this call may follow another writer
        return sequence_pending(self.log_store, self.recorder, self.mapper)[0]

    def _contests_under_lock(self) -> dict[str, Contest]:
        """The contests, read again only when something was stored since (under the
        append lock, after _refresh_warm). The caller must not change the dict."""
        if self._contests_as_of is None or self._contests_as_of != self._warm_as_of:
            self.contests()
            self._contests_as_of = self._warm_as_of
        return self._contests

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
