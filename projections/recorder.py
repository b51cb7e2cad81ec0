"""The live projection: state in tables of its own, tracked by eventsourcing.

Where the tables live: on PostgreSQL, in the ledger's database (its schema); on
SQLite, in a database file of their own beside the ledger's
(:func:`projection_path`: ``ledger.db`` -> ``ledger.projection.db``). A SQLite
file has one writer at a time, and appends need the ledger's: a projection that
wrote there would hold up ingest for as long as each page took to commit. In its
own file it reads the ledger's leaves and envelopes (SQLite's WAL mode lets a
reader run beside the writer) and writes only its own.

:class:`Projections` follows the log (sequenced events, in leaf order, read
from the notification log) from its tracking position, applies each page of
events with the fold to a :class:`BufferedStore` over its tables, and commits
the page's changed entities, its audit-trail rows and the new tracking position
in one transaction (a TrackingRecorder view: ``ProjectionRecorder``). A crash
loses at most the page in flight, which the next run does again; deleting the
tables and catching up from zero rebuilds the identical state.

Several projectors may follow one projection at once (``ledger project --follow``,
which ``ledger serve`` runs beside its workers; the server's reads; a command):
a page is committed only if the tracking position is still the one it was
projected from (``ProjectionSQL.commit``), so a page another projector committed
first is dropped, and the next one is read from where that one left it.

:func:`replay` is time travel: the same fold into a MemoryStore, up to a leaf
position, without touching the live tables.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any, cast

from eventsourcing.persistence import IntegrityError, Tracking, TrackingRecorder
from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder

from ledger.errors import ConfigurationError
from ledger.format.regions import covers
from ledger.store.application import Ledger
from ledger.store.migrations import change_schema
from ledger.store.persistence import SQLiteDialect, StorageConfig
from projections.fold import Projector
from projections.sql import NAME, TABLE_NAMES, ProjectionConflictError, ProjectionSQL
from projections.store import Entity, EventRow, MemoryStore

__all__ = ["BufferedStore", "Projections", "projection_path", "replay"]

PAGE = 5000
# Seconds a projector waits for another's write to its SQLite file (the ledger's too).
SQLITE_LOCK_TIMEOUT_S = 30


class SQLiteProjectionRecorder(ProjectionSQL, SQLiteDialect, SQLiteTrackingRecorder):
    """The projection's tables in their own SQLite file."""


ProjectionRecorder = ProjectionSQL  # SQLiteProjectionRecorder, or projections.postgres's


def projection_path(config: StorageConfig) -> str:
    """The SQLite file of a SQLite ledger's projection: beside the ledger's, named
    after it (``ledger.db`` -> ``ledger.projection.db``), so a projection is always
    paired with the one ledger file whose notification ids its position counts."""
    return config.sqlite_path.removesuffix(".db") + ".projection.db"


def _is_integrity_error(error: BaseException) -> bool:
    """Whether a failed commit found a row of its page already stored."""
    if isinstance(error, IntegrityError):
        return True
    try:
        import psycopg
    except ImportError:
        return False
    return isinstance(error, psycopg.IntegrityError)


class BufferedStore:
    """A Store over the projection tables that buffers one page of changes."""

    def __init__(self, recorder: ProjectionRecorder, position: int) -> None:
        self.recorder = recorder
        self._cache: dict[tuple[str, str], Entity | None] = {}
        self.dirty: dict[tuple[str, str], tuple[str, str, Entity]] = {}
        self.new_events: list[EventRow] = []
        self._position = position

    def get(self, kind: str, key: str) -> Entity | None:
        if (kind, key) not in self._cache:
            self._cache[(kind, key)] = self.recorder.read_entity(kind, key)
        return self._cache[(kind, key)]

    def put(
        self, kind: str, key: str, value: Entity, *, contest: str = "", place: str = ""
    ) -> None:
        self._cache[(kind, key)] = value
        self.dirty[(kind, key)] = (contest, place, value)

    def scan(self, kind: str, *, contest: str | None = None, within: str = "") -> list[Entity]:
        found = dict(self.recorder.scan_entities(kind, contest, within))
        for (k, key), (c, place, value) in self.dirty.items():
            if k == kind and (contest is None or c == contest) and covers(within, place):
                found[key] = value
        return [found[key] for key in sorted(found)]

    def add_event(self, row: EventRow) -> None:
        self.new_events.append(row)
        self._position = row["leaf"] + 1

    def events(
        self, *, stream: str | None = None, within: str | None = None, signer: str | None = None
    ) -> list[EventRow]:
        return self.recorder.read_events(stream, within, signer)

    @property
    def position(self) -> int:
        return self._position


class Projections:
    """The live projection of one ledger (see the module docstring)."""

    def __init__(self, ledger: Ledger) -> None:
        """Open the live projection of ``ledger``: its tables were made by :meth:`create`
        (``ledger create`` and ``ledger migrate``); opening makes nothing."""
        if ledger.config.backend == "sqlite":
            path = projection_path(ledger.config)
            if not os.path.exists(path):  # checked first: connecting would make the file
                raise ConfigurationError(
                    f"{ledger.config.url} has no projection file {path} (run `ledger migrate`)"
                )
        self._open(ledger)

    def _open(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._datastore: SQLiteDatastore | None = None
        recorder: Any
        if ledger.config.backend == "postgres":
            from projections.postgres import PostgresProjectionRecorder

            recorder = ledger.factory.tracking_recorder(PostgresProjectionRecorder)
        else:
            self._datastore = SQLiteDatastore(
                projection_path(ledger.config), lock_timeout=SQLITE_LOCK_TIMEOUT_S
            )
            recorder = SQLiteProjectionRecorder(self._datastore)
        assert isinstance(recorder, ProjectionSQL)
        self.recorder: ProjectionRecorder = recorder
        #: Whether :meth:`create` found the tables of an earlier version in the ledger's
        #: own SQLite file and dropped them (the projection is rebuilt in its own file).
        self.moved = False

    @classmethod
    def create(cls, ledger: Ledger) -> Projections:
        """Make the projection's tables (idempotent: also the projection's part of
        ``ledger migrate``), then open it.

        On SQLite they are made in the projection's own file; the projection tables
        that versions before it kept in the ledger's file are dropped there, and the
        projection starts again from leaf 0 in its file (it is derived: the next
        catch-up rebuilds the same state from the log).
        """
        projections = cls.__new__(cls)
        projections._open(ledger)
        projections.moved = change_schema(ledger, projections._make_tables)
        return projections

    def _make_tables(self) -> bool:
        cast(Any, self.recorder).create_table()  # every recorder class of eventsourcing has one
        if self._datastore is None:
            return False
        return self.ledger.log_store.drop_tables(TABLE_NAMES, NAME)

    def close(self) -> None:
        """Close the projection's own database file (SQLite; PostgreSQL's is the ledger's)."""
        if self._datastore is not None:
            self._datastore.close()

    def store(self) -> BufferedStore:
        """A read view of the live state (as of the last committed page)."""
        return BufferedStore(self.recorder, self.recorder.position())

    def position(self) -> int:
        """How many leaves are projected (as of the last committed page)."""
        return self.recorder.position()

    def catch_up(self, *, page: int = PAGE, progress: Callable[[int], None] | None = None) -> int:
        """Apply every sequenced event not yet projected; return the position reached."""
        while (done := self.project_page(page)) is not None:
            if done and progress is not None:
                progress(done)
        return self.recorder.position()

    def project_page(self, page: int = PAGE) -> int | None:
        """Project the next page of up to ``page`` leaves and commit it: how many leaves
        this projector committed (0: another committed that page first, and the next
        call goes on from where it left the projection), or None when every sequenced
        leaf is projected."""
        tracked = self._tracked()
        leaves = self.ledger.log_store.leaves_after_notification(tracked or 0, page)
        if not leaves:
            return None
        store = BufferedStore(self.recorder, self.recorder.position())
        projector = Projector(self.ledger.trust, store)
        for leaf, raw in zip(leaves, self.ledger.envelopes_of(leaves), strict=True):
            projector.apply(leaf.leaf_index, raw)
        store.put("meta", "position", {"leaves": store.position})
        try:
            self.recorder.commit(
                store.dirty,
                store.new_events,
                Tracking(NAME, leaves[-1].notification_id),
                projected_from=tracked,
            )
        except ProjectionConflictError:
            return 0
        except Exception as e:
            # A row of the page already stored: another projector's first page, if
            # the position moved meanwhile; if it did not, the tables are damaged.
            if _is_integrity_error(e) and self._tracked() != tracked:
                return 0
            raise
        return len(leaves)

    def _tracked(self) -> int | None:
        return cast(TrackingRecorder, self.recorder).max_tracking_id(NAME)

    def rebuild(self, *, page: int = PAGE, progress: Callable[[int], None] | None = None) -> int:
        """Forget the projection and apply the whole log again."""
        self.recorder.reset()
        return self.catch_up(page=page, progress=progress)


def replay(
    ledger: Ledger, upto: int | None = None, *, progress: Callable[[int], None] | None = None
) -> MemoryStore:
    """The projection state as it stood after the first ``upto`` leaves (default: all)."""
    store = MemoryStore()
    projector = Projector(ledger.trust, store)
    for leaf, raw in _entries(ledger, upto, progress):
        projector.apply(leaf, raw)
    return store


def _entries(
    ledger: Ledger, upto: int | None, progress: Callable[[int], None] | None
) -> Iterator[tuple[int, bytes]]:
    for leaf, raw in ledger.log_entries(0, upto):
        if progress is not None:
            progress(1)
        yield leaf.leaf_index, raw
