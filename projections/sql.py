"""The live projection's tables and their SQL, shared by every backend's recorder.

The SQLite recorder (projections.recorder) and the PostgreSQL one
(projections.postgres, imported only for PostgreSQL ledgers) both build on
:class:`ProjectionSQL`, so neither imports the other.
"""

from __future__ import annotations

from eventsourcing.persistence import Tracking

from ledger.store.persistence import SQLDialect
from projections.store import Entity, EventRow, pack, unpack

__all__ = ["NAME", "TABLE_NAMES", "ProjectionConflictError", "ProjectionSQL"]

NAME = "projections"
TABLE_NAMES = ("proj_state", "proj_events")


class ProjectionConflictError(Exception):
    """Another projector moved the tracking position while this one projected a page:
    the page is not written (it was projected from a state that is no longer current)."""


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


class ProjectionSQL(SQLDialect):
    """The projection's tables and queries, in any dialect (SQL of the store's recorders)."""

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
        *,
        projected_from: int | None,
    ) -> None:
        """Write a page's changes and its tracking position atomically, if the tracking
        position is still ``projected_from`` (the one the page was projected from; None:
        none yet); else raise :class:`ProjectionConflictError` and write nothing.

        Every projector of one projection (a follower process, a server's reads, a
        command) commits this way, so a page projected from a state another one has
        since changed (a page of its own, a reset) is never written over it.
        """
        table = f"{{s}}{self.tracking_table}"
        with self._tx(commit=True) as c:
            # A write first, so the check below and the writes after it hold the lock
            # that a concurrent commit needs: SQLite's write lock on the file, or
            # PostgreSQL's lock on the tracking row (the first page, with no row yet,
            # is kept single by proj_events' primary key instead).
            c.execute(
                self._sql(
                    f"UPDATE {table} SET notification_id=notification_id WHERE application_name=?"
                ),
                (NAME,),
            )
            c.execute(
                self._sql(f"SELECT notification_id FROM {table} WHERE application_name=?"),
                (NAME,),
            )
            row = c.fetchone()
            current = None if row is None else int(row["notification_id"])
            if current != projected_from:
                raise ProjectionConflictError(
                    f"the projection moved from {projected_from} to {current} meanwhile"
                )
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
