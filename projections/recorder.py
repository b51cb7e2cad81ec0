"""The live projection: state in tables beside the ledger's, tracked by eventsourcing.

:class:`Projections` follows the log (sequenced events, in leaf order, read
from the notification log) from its tracking position, applies each page of
events with the fold to a :class:`BufferedStore` over the database, and commits
the page's changed entities, its audit-trail rows and the new tracking position
in one transaction (a TrackingRecorder view: ``ProjectionRecorder``). A crash
loses at most the page in flight, which the next run does again; deleting the
tables and catching up from zero rebuilds the identical state.

:func:`replay` is time travel: the same fold into a MemoryStore, up to a leaf
position, without touching the live tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, cast

from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder

from ledger.format.regions import covers
from ledger.store.application import Ledger
from ledger.store.migrations import create_tables
from ledger.store.persistence import SQLiteDialect
from projections.fold import Projector
from projections.sql import NAME, ProjectionSQL
from projections.store import Entity, EventRow, MemoryStore

__all__ = ["BufferedStore", "Projections", "projection_recorder_class", "replay"]

PAGE = 5000


class SQLiteProjectionRecorder(ProjectionSQL, SQLiteDialect, SQLiteTrackingRecorder):
    """The projection's tables in the ledger's SQLite file."""


ProjectionRecorder = ProjectionSQL  # SQLiteProjectionRecorder, or projections.postgres's


def projection_recorder_class(backend: str) -> type[Any]:
    """The projection's recorder for a backend ("sqlite" or "postgres").

    Its tables are made by :meth:`Projections.create` (which ``ledger create`` and
    ``ledger migrate`` run), never when a projection is opened.
    """
    if backend == "postgres":
        from projections.postgres import PostgresProjectionRecorder

        return PostgresProjectionRecorder
    return SQLiteProjectionRecorder


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
        self.ledger = ledger
        recorder = ledger.factory.tracking_recorder(
            projection_recorder_class(ledger.config.backend)
        )
        assert isinstance(recorder, ProjectionSQL)
        self.recorder: ProjectionRecorder = recorder

    @classmethod
    def create(cls, ledger: Ledger) -> Projections:
        """Make the projection's tables in the ledger's database (idempotent: also the
        projection's part of ``ledger migrate``), then open it."""
        projections = cls(ledger)
        create_tables(ledger, projections.recorder)
        return projections

    def store(self) -> BufferedStore:
        """A read view of the live state (as of the last committed page)."""
        return BufferedStore(self.recorder, self.recorder.position())

    def catch_up(self, *, page: int = PAGE, progress: Callable[[int], None] | None = None) -> int:
        """Apply every sequenced event not yet projected; return the position reached."""
        while True:
            tracked = cast(TrackingRecorder, self.recorder).max_tracking_id(NAME) or 0
            leaves = self.ledger.log_store.leaves_after_notification(tracked, page)
            if not leaves:
                return self.recorder.position()
            store = BufferedStore(self.recorder, self.recorder.position())
            projector = Projector(self.ledger.trust, store)
            for leaf, raw in zip(leaves, self.ledger.envelopes_of(leaves), strict=True):
                projector.apply(leaf.leaf_index, raw)
            store.put("meta", "position", {"leaves": store.position})
            self.recorder.commit(
                store.dirty, store.new_events, Tracking(NAME, leaves[-1].notification_id)
            )
            if progress is not None:
                progress(len(leaves))

    def rebuild(self, *, progress: Callable[[int], None] | None = None) -> int:
        """Forget the projection and apply the whole log again."""
        self.recorder.reset()
        return self.catch_up(progress=progress)


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
