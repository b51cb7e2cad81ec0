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
from ledger.store.persistence import SQLDialect, SQLiteDialect
from projections.fold import Projector
from projections.store import Entity, EventRow, MemoryStore, pack, unpack

__all__ = ["BufferedStore", "Projections", "projection_recorder_class", "replay"]

NAME = "projections"
PAGE = 5000

_TABLES = (
    "CREATE TABLE IF NOT EXISTS {s}proj_state (kind TEXT NOT NULL, key TEXT NOT NULL,"
    " contest TEXT NOT NULL, place TEXT NOT NULL, value {blob} NOT NULL, PRIMARY KEY (kind, key))",
    # Every scan of the fold and the views is a range of one of these indexes, so it
    # reads the rows it returns and no others: by contest and place (a recap's
    # inputs, a contest's totals), by place alone (the TPS, the findings of a
    # region). Place is indexed bytewise ({c}) so _WITHIN's ranges can use it.
    "CREATE INDEX IF NOT EXISTS proj_state_contest_within ON {s}proj_state"
    " (kind, contest, place{c})",
    "CREATE INDEX IF NOT EXISTS proj_state_within ON {s}proj_state (kind, place{c})",
    "CREATE TABLE IF NOT EXISTS {s}proj_events (leaf_index BIGINT PRIMARY KEY, stream TEXT NOT NULL,"
    " signer TEXT NOT NULL, place TEXT NOT NULL, value {blob} NOT NULL)",
    "CREATE INDEX IF NOT EXISTS proj_events_stream ON {s}proj_events (stream)",
    "CREATE INDEX IF NOT EXISTS proj_events_signer ON {s}proj_events (signer)",
    "CREATE INDEX IF NOT EXISTS proj_events_within ON {s}proj_events (place{c})",
    # The indexes these replaced (schema version 1), dropped when `ledger migrate`
    # runs this list again: their place was not bytewise, so no range could use them.
    "DROP INDEX IF EXISTS {s}proj_state_contest",
    "DROP INDEX IF EXISTS {s}proj_events_place",
)

# A place lies within W when it is W, or starts with W + "." or W + "/". Those two
# characters are adjacent in ASCII ('.' 0x2E, '/' 0x2F, then '0' 0x30), so such
# places are the ones in [W, W + "0") that are W or at least W + ".": one index
# range, then a check of the rows in it (an OR of W and [W + ".", W + "0") is two
# ranges to SQLite and none to PostgreSQL's planner; LIKE, case-insensitive by
# default in SQLite, reads every row of the kind). ({c} is the dialect's bytewise
# collation, the indexes' too: PostgreSQL's default may follow a locale.)
_WITHIN = "place{c} >= ? AND place{c} < ? AND (place{c} = ? OR place{c} >= ?)"


def _within_params(within: str) -> tuple[str, str, str, str]:
    return (within, within + "0", within, within + ".")


class _ProjectionSQL(SQLDialect):
    TABLES = _TABLES
    tracking_table = "tracking"

    def _tables(self) -> list[str]:
        return [t.replace("{c}", self.bytewise) for t in super()._tables()]

    def read_entity(self, kind: str, key: str) -> Entity | None:
        with self._tx(commit=False) as c:
            c.execute(
                self._sql("SELECT value FROM {s}proj_state WHERE kind=? AND key=?"), (kind, key)
            )
            row = c.fetchone()
        return None if row is None else dict(unpack(bytes(row["value"])))

    def scan_entities(
        self, kind: str, contest: str | None, within: str
    ) -> list[tuple[str, Entity]]:
        """(key, entity) of ``kind`` (of ``contest``, placed ``within``), in no set order.

        Unordered on purpose: ``ORDER BY key`` made SQLite walk the primary key
        through the whole kind to spare a sort; the caller sorts what it gets.
        """
        where, params = "kind=?", [kind]
        if contest is not None:
            where += " AND contest=?"
            params.append(contest)
        if within:
            where += " AND " + _WITHIN.replace("{c}", self.bytewise)
            params.extend(_within_params(within))
        with self._tx(commit=False) as c:
            c.execute(
                self._sql(f"SELECT key, value FROM {{s}}proj_state WHERE {where}"),
                params,
            )
            rows = c.fetchall()
        return [(row["key"], dict(unpack(bytes(row["value"])))) for row in rows]

    def read_events(
        self, stream: str | None, within: str | None, signer: str | None
    ) -> list[EventRow]:
        where, params = "1=1", []
        if stream is not None:
            where += " AND stream=?"
            params.append(stream)
        if within:
            where += " AND " + _WITHIN.replace("{c}", self.bytewise)
            params.extend(_within_params(within))
        elif within is not None:
            where += " AND place <> ''"  # every placed event: most of the table
        if signer is not None:
            where += " AND signer=?"
            params.append(signer)
        with self._tx(commit=False) as c:
            c.execute(
                self._sql(f"SELECT value FROM {{s}}proj_events WHERE {where} ORDER BY leaf_index"),
                params,
            )
            rows = c.fetchall()
        return [dict(unpack(bytes(row["value"]))) for row in rows]

    def commit(
        self,
        entities: dict[tuple[str, str], tuple[str, str, Entity]],
        events: list[EventRow],
        tracking: Tracking,
    ) -> None:
        """Write a page's changes and its tracking position atomically."""
        with self._tx(commit=True) as c:
            c.executemany(
                self._sql(
                    "INSERT INTO {s}proj_state VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind, key) DO UPDATE"
                    " SET contest=excluded.contest, place=excluded.place, value=excluded.value"
                ),
                [
                    (k, key, contest, place, pack(value))
                    for (k, key), (contest, place, value) in sorted(entities.items())
                ],
            )
            c.executemany(
                self._sql("INSERT INTO {s}proj_events VALUES (?, ?, ?, ?, ?)"),
                [(r["leaf"], r["stream"], r["signer"], r["place"], pack(r)) for r in events],
            )
            self._insert_tracking(c, tracking)  # type: ignore[attr-defined]

    def reset(self) -> None:
        """Forget everything: the projection will rebuild from leaf 0."""
        with self._tx(commit=True) as c:
            c.execute(self._sql("DELETE FROM {s}proj_state"))
            c.execute(self._sql("DELETE FROM {s}proj_events"))
            c.execute(
                self._sql(f"DELETE FROM {{s}}{self.tracking_table} WHERE application_name=?"),
                (NAME,),
            )

    def position(self) -> int:
        entity = self.read_entity("meta", "position")
        return 0 if entity is None else int(entity["leaves"])


class SQLiteProjectionRecorder(_ProjectionSQL, SQLiteDialect, SQLiteTrackingRecorder):
    """The projection's tables in the ledger's SQLite file."""


ProjectionRecorder = _ProjectionSQL  # SQLiteProjectionRecorder, or projections.postgres's


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
        assert isinstance(recorder, _ProjectionSQL)
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
