"""The persistence layer: where a ledger lives, and the tables beside eventsourcing's.

eventsourcing stores the streams (its events table and notification log). This
module adds, in the same database and through the same datastore, the tables
the ledger derives from them: its pinned trust roots (``ledger_meta``), the
transparency log's leaves and Merkle tree (as c2sp.org/tlog-tiles hash tiles,
one row per tile), and its signed checkpoints. They are
written by a :class:`LogRecorder`, a TrackingRecorder subclass for each backend,
so that the sequencer's writes and its tracking position commit atomically.
Their create statements run only in ledger.store.migrations (create and migrate),
never when a ledger is opened.

A database is named by a URL: ``sqlite:PATH`` (the embedded default) or
``postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?schema=SCHEMA]``.
POSTGRES_ENABLE_DB_FUNCTIONS is never set: without it eventsourcing takes an
exclusive table lock on insert, which makes notification order equal commit
order, which the sequencer relies on to never skip an event.
"""

from __future__ import annotations

import fcntl
import os
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse
from uuid import UUID

from eventsourcing.persistence import StoredEvent, Tracking
from eventsourcing.sqlite import SQLiteTrackingRecorder

from ledger.errors import ConfigurationError
from ledger.format.merkle import HASH_SIZE, NodeId, root
from ledger.format.merkle_tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    TiledNodeReader,
    TileId,
    tile_appends,
)

__all__ = [
    "LeaderLock",
    "LeafRow",
    "LogRecorder",
    "SQLDialect",
    "SQLiteDialect",
    "StorageConfig",
    "database_errors",
]

# Ids per query of LogRecorder.select_events_of: far below SQLite's and PostgreSQL's
# parameter limits, and a batch of 1000 envelopes asks for about 2000 streams.
_IDS_PER_QUERY = 4000
# Seconds a statement waits for a lock another connection holds before it fails (the
# CLI then reports the database's failure in one line).
SQLITE_LOCK_TIMEOUT_S = 30
POSTGRES_LOCK_TIMEOUT_S = 30


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """A parsed database URL, and the eventsourcing environment it means."""

    url: str
    backend: str  # "sqlite" or "postgres"
    sqlite_path: str = ""
    dbname: str = ""
    host: str = ""
    port: str = ""
    user: str = ""
    password: str = ""
    schema: str = ""

    @classmethod
    def parse(cls, url: str) -> StorageConfig:
        if url.startswith("sqlite:"):
            path = url.removeprefix("sqlite:").removeprefix("//")
            if not path or path == ":memory:":
                raise ConfigurationError(f"{url!r}: a SQLite ledger needs a file path")
            return cls(url=url, backend="sqlite", sqlite_path=os.path.abspath(path))
        if url.startswith(("postgresql://", "postgres://")):
            try:
                import psycopg  # noqa: F401 - only to say clearly what is missing
            except ImportError as e:
                raise ConfigurationError(
                    "a PostgreSQL ledger needs psycopg: pip install 'pilkada-ledger[postgres]'"
                ) from e
            parsed = urlparse(url)
            dbname = parsed.path.lstrip("/")
            if not dbname or not parsed.hostname:
                raise ConfigurationError(f"{url!r}: a PostgreSQL URL needs a host and a database")
            schema = parse_qs(parsed.query).get("schema", [""])[0]
            return cls(
                url=url,
                backend="postgres",
                dbname=dbname,
                host=parsed.hostname,
                port=str(parsed.port or 5432),
                user=unquote(parsed.username or "postgres"),
                password=unquote(parsed.password or ""),
                schema=schema,
            )
        raise ConfigurationError(
            f"{url!r} is not a database URL (sqlite:PATH or postgresql://USER@HOST/DB)"
        )

    def environment(self) -> dict[str, str]:
        """The eventsourcing environment for this database."""
        env = {
            "TRANSCODER_TOPIC": "ledger.store.transcoder:MsgpackTranscoder",
            # Off: opening runs no DDL; ledger.store.migrations makes the tables.
            "CREATE_TABLE": "n",
        }
        if self.backend == "sqlite":
            env |= {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": self.sqlite_path,
                "SQLITE_LOCK_TIMEOUT": str(SQLITE_LOCK_TIMEOUT_S),
                "TRACKING_RECORDER_TOPIC": "ledger.store.persistence:SQLiteLogRecorder",
            }
        else:
            env |= {
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "POSTGRES_DBNAME": self.dbname,
                "POSTGRES_HOST": self.host,
                "POSTGRES_PORT": self.port,
                "POSTGRES_USER": self.user,
                "POSTGRES_PASSWORD": self.password,
                "POSTGRES_LOCK_TIMEOUT": str(POSTGRES_LOCK_TIMEOUT_S),
                # Never on: DB functions skip the table lock that makes
                # notification order equal commit order (module docstring).
                "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
                "TRACKING_RECORDER_TOPIC": "ledger.store.postgres:PostgresLogRecorder",
            }
            if self.schema:
                env["POSTGRES_SCHEMA"] = self.schema
        return env


def database_errors() -> tuple[type[Exception], ...]:
    """The exception classes of the database layers: a store that is down or failing
    (psycopg's only where it is installed)."""
    import sqlite3

    from eventsourcing.persistence import PersistenceError

    found: tuple[type[Exception], ...] = (PersistenceError, sqlite3.Error)
    try:
        import psycopg
        import psycopg_pool
    except ImportError:  # a SQLite-only installation
        return found
    return (*found, psycopg.Error, psycopg_pool.PoolTimeout)


@dataclass(frozen=True, slots=True)
class LeafRow:
    """One leaf of the transparency log: a sequenced event."""

    leaf_index: int
    notification_id: int
    event_hash: bytes
    stream: str
    seq: int


class LeaderLock(ABC):
    """A lock at most one process of a ledger holds at a time, for as long as it lives.

    Taken without waiting (:meth:`try_acquire`), so every process can ask on a
    schedule and the one that holds it leads (the server's checkpointer). It is
    held until :meth:`release`, or until its holder dies: the operating system
    drops a file lock with its process, PostgreSQL a session lock with its
    connection. :meth:`held` says whether it is still held, checking what can
    be lost without the holder noticing (a database connection).
    """

    @abstractmethod
    def try_acquire(self) -> bool:
        """Take the lock if no other holder has it; whether this one holds it now."""

    @abstractmethod
    def held(self) -> bool:
        """Whether this holder still holds the lock (False after a lost connection)."""

    @abstractmethod
    def release(self) -> None:
        """Give the lock up (nothing if not held)."""


class FileLeaderLock(LeaderLock):
    """A :class:`LeaderLock` as an exclusive ``flock`` on a file (SQLite ledgers)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._handle: Any = None

    def try_acquire(self) -> bool:
        if self._handle is not None:
            return True
        handle = open(self.path, "a+b")  # noqa: SIM115 - kept open while the lock is held
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._handle = handle
        return True

    def held(self) -> bool:
        return self._handle is not None

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the file drops the lock
            self._handle = None


class LogRecorder(ABC):
    """The ledger's own tables, written atomically with the sequencer's tracking."""

    @abstractmethod
    @contextmanager
    def append_lock(self) -> Iterator[None]:
        """Serialise check-then-append across processes (see Ledger.append)."""

    @abstractmethod
    def leader_lock(self, name: str) -> LeaderLock:
        """A :class:`LeaderLock` named ``name`` for this ledger (not yet taken)."""

    @abstractmethod
    def has_tables(self) -> bool:
        """Whether the ledger's tables exist (a catalog query: it never fails for want of them)."""

    @abstractmethod
    def read_meta(self, name: str) -> bytes | None: ...

    @abstractmethod
    def select_events_of(self, table: str, ids: Sequence[UUID]) -> list[StoredEvent]:
        """Every stored event of the aggregates ``ids`` in eventsourcing's events
        ``table``, by aggregate and version: many aggregates in one round trip,
        where the library's recorder reads one per query."""

    @abstractmethod
    def write_meta(self, name: str, value: bytes, *, replace: bool = False) -> None:
        """Store ``value`` under ``name``; a name already stored fails unless ``replace``."""

    @abstractmethod
    def log_size(self) -> int: ...

    @abstractmethod
    def leaf_count(self) -> int:
        """How many leaf rows are stored (a full count: for integrity checks)."""

    @abstractmethod
    def record_leaves(
        self,
        application_name: str,
        leaves: Sequence[LeafRow],
        nodes: Sequence[tuple[int, int, bytes]],
        tracking_id: int,
    ) -> None:
        """Store leaves and their completed Merkle nodes, and the tracking position.

        ``nodes`` are as :meth:`~ledger.format.merkle.CompactRange.append` reports
        them; the ones at tile levels are appended to their tiles.
        """

    @abstractmethod
    def read_nodes(self, ids: Sequence[NodeId]) -> Sequence[bytes]:
        """Complete-subtree hashes (a merkle.NodeReader), folded from stored tiles."""

    @abstractmethod
    def read_tile_hashes(self, ids: Sequence[TileId]) -> Sequence[bytes]:
        """The stored bytes of hash tiles (a merkle_tiles.TileHashReader)."""

    @abstractmethod
    def legacy_nodes(self) -> bool:
        """Whether the database still holds the node-per-row table of earlier versions."""

    @abstractmethod
    def migrate_nodes_to_tiles(self) -> int:
        """Convert the node-per-row table into tiles and drop it; return the tiles
        written (0, and nothing done, when there is no such table)."""

    @abstractmethod
    def leaf_by_hash(self, event_hash: bytes) -> LeafRow | None: ...

    @abstractmethod
    def leaf_by_index(self, leaf_index: int) -> LeafRow | None: ...

    @abstractmethod
    def leaf_by_stream(self, stream: str, seq: int) -> LeafRow | None: ...

    @abstractmethod
    def leaves(self, start: int, stop: int) -> list[LeafRow]: ...

    @abstractmethod
    def leaves_after_notification(self, notification_id: int, limit: int) -> list[LeafRow]:
        """The first ``limit`` leaves whose notification id is above ``notification_id``."""

    @abstractmethod
    def store_checkpoint(self, size: int, note: bytes) -> None: ...

    @abstractmethod
    def checkpoints(self) -> list[tuple[int, bytes]]: ...

    @abstractmethod
    def checkpoints_from(self, size: int) -> list[tuple[int, bytes]]:
        """The stored checkpoints of ``size`` leaves or more, by size."""

    @abstractmethod
    def latest_checkpoint(self) -> tuple[int, bytes] | None:
        """The stored checkpoint of the largest size, or None."""

    @abstractmethod
    def max_tracking_id(self, application_name: str) -> int | None: ...

    @abstractmethod
    def drop_tables(self, tables: Sequence[str], application_name: str) -> bool:
        """Drop ``tables`` and forget the tracking position of ``application_name``:
        what a layer above kept in this database in an earlier version (the live
        projection, on SQLite). Whether any of the tables was there."""


_MIGRATE_PAGE = 256 * TILE_WIDTH  # nodes per query when converting nodes to tiles


def _lock_key(text: str) -> int:
    """A stable signed 63-bit key for pg_advisory_lock."""
    return zlib.crc32(text.encode()) & 0x7FFFFFFF


_TABLES = (
    "CREATE TABLE IF NOT EXISTS {s}ledger_meta (name TEXT PRIMARY KEY, value {blob} NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {s}ledger_leaves ("
    " leaf_index BIGINT PRIMARY KEY, notification_id BIGINT NOT NULL UNIQUE,"
    " event_hash {blob} NOT NULL UNIQUE, stream TEXT NOT NULL, seq BIGINT NOT NULL,"
    " UNIQUE (stream, seq))",
    # One row per tlog-tiles hash tile (ledger.format.merkle_tiles): up to 256
    # hashes, the rightmost tile of each level rewritten as it grows.
    "CREATE TABLE IF NOT EXISTS {s}ledger_tiles ("
    " level INTEGER NOT NULL, idx BIGINT NOT NULL, hashes {blob} NOT NULL,"
    " PRIMARY KEY (level, idx))",
    "CREATE TABLE IF NOT EXISTS {s}ledger_checkpoints (size BIGINT PRIMARY KEY, note {blob} NOT NULL)",
)


class SQLDialect:
    """SQL shared by both backends: only placeholders, the blob type and the schema
    prefix differ. Statements are written with ``?`` and ``{s}`` (schema prefix);
    ``TABLES`` with ``{blob}`` too. Mixed into TrackingRecorder subclasses, whose
    ``datastore`` gives the transactions, so a view's writes and its tracking
    position commit together."""

    TABLES: tuple[str, ...] = ()
    placeholder = "?"
    blob = "BLOB"
    prefix = ""
    bytewise = ""  # the collation that compares text byte by byte (SQLite's default)

    def _sql(self, text: str) -> str:
        return text.replace("{s}", self.prefix).replace("?", self.placeholder)

    def _tables(self) -> list[str]:
        return [t.replace("{blob}", self.blob).replace("{s}", self.prefix) for t in self.TABLES]

    @contextmanager
    def _tx(self, *, commit: bool) -> Iterator[Any]:
        with self.datastore.transaction(commit=commit) as cursor:  # type: ignore[attr-defined]
            yield cursor

    @contextmanager
    def _read_one(self) -> Iterator[Any]:
        """A cursor for a single SELECT: a read-only transaction (SQLite overrides)."""
        with self._tx(commit=False) as cursor:
            yield cursor

    def _has_table(self, c: Any, name: str) -> bool:
        """Whether table ``name`` exists (in the schema)."""
        raise NotImplementedError


class SQLiteDialect(SQLDialect):
    """Adds the dialect's tables to a SQLiteTrackingRecorder's."""

    def _has_table(self, c: Any, name: str) -> bool:
        c.execute("SELECT name FROM sqlite_master WHERE type='table' AND name=?", (name,))
        return c.fetchone() is not None

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *self._tables()]  # type: ignore[misc]


class _LogSQL(SQLDialect):
    """The log tables and their queries."""

    TABLES = _TABLES

    def read_meta(self, name: str) -> bytes | None:
        with self._tx(commit=False) as c:
            c.execute(self._sql("SELECT value FROM {s}ledger_meta WHERE name=?"), (name,))
            row = c.fetchone()
        return None if row is None else bytes(row["value"])

    def select_events_of(self, table: str, ids: Sequence[UUID]) -> list[StoredEvent]:
        events: list[StoredEvent] = []
        with self._tx(commit=False) as c:
            for start in range(0, len(ids), _IDS_PER_QUERY):
                chunk = ids[start : start + _IDS_PER_QUERY]
                marks = ", ".join("?" * len(chunk))
                c.execute(
                    self._sql(
                        "SELECT originator_id, originator_version, topic, state"
                        f" FROM {{s}}{self._quote(table)} WHERE originator_id IN ({marks})"
                        " ORDER BY originator_id, originator_version"
                    ),
                    [self._originator_param(i) for i in chunk],
                )
                events.extend(
                    StoredEvent(
                        originator_id=self._originator(row["originator_id"]),
                        originator_version=row["originator_version"],
                        topic=row["topic"],
                        state=bytes(row["state"]),
                    )
                    for row in c.fetchall()
                )
        return events

    def _quote(self, name: str) -> str:
        return name

    def _originator_param(self, originator_id: UUID) -> Any:
        # eventsourcing stores a UUID as its 32 hex digits in SQLite.
        return originator_id.hex

    def _originator(self, stored: Any) -> UUID:
        return stored if isinstance(stored, UUID) else UUID(stored)

    def write_meta(self, name: str, value: bytes, *, replace: bool = False) -> None:
        with self._tx(commit=True) as c:
            if replace:
                c.execute(self._sql("DELETE FROM {s}ledger_meta WHERE name=?"), (name,))
            c.execute(self._sql("INSERT INTO {s}ledger_meta VALUES (?, ?)"), (name, value))

    def log_size(self) -> int:
        with self._tx(commit=False) as c:
            return self._log_size(c)

    def _log_size(self, c: Any) -> int:
        # Leaf indexes are contiguous from 0: the largest + 1 is the size (an
        # index lookup, where COUNT(*) would scan the table).
        c.execute(self._sql("SELECT MAX(leaf_index) AS n FROM {s}ledger_leaves"))
        row = c.fetchone()
        return 0 if row["n"] is None else int(row["n"]) + 1

    def leaf_count(self) -> int:
        with self._tx(commit=False) as c:
            c.execute(self._sql("SELECT COUNT(*) AS n FROM {s}ledger_leaves"))
            row = c.fetchone()
        return int(row["n"])

    def record_leaves(
        self,
        application_name: str,
        leaves: Sequence[LeafRow],
        nodes: Sequence[tuple[int, int, bytes]],
        tracking_id: int,
    ) -> None:
        with self._tx(commit=True) as c:
            c.executemany(
                self._sql("INSERT INTO {s}ledger_leaves VALUES (?, ?, ?, ?, ?)"),
                [(r.leaf_index, r.notification_id, r.event_hash, r.stream, r.seq) for r in leaves],
            )
            self._append_tiles(c, tile_appends(nodes))
            self._insert_tracking(c, Tracking(application_name, tracking_id))  # type: ignore[attr-defined]

    def _append_tiles(self, c: Any, appends: dict[TileId, tuple[int, bytes]]) -> None:
        """Append hashes to their tiles: read the growing tiles, write them back longer."""
        if not appends:
            return
        stored = self._select_tiles(c, list(appends))
        rows = []
        for (level, index), (start, data) in appends.items():
            old = stored.get((level, index), b"")
            if len(old) != start * HASH_SIZE:
                raise ConfigurationError(
                    f"the stored Merkle tree is damaged: tile ({level}, {index}) holds "
                    f"{len(old) // HASH_SIZE} hashes where hash {start} comes next"
                )
            rows.append((level, index, old + data))
        c.executemany(
            self._sql(
                "INSERT INTO {s}ledger_tiles VALUES (?, ?, ?)"
                " ON CONFLICT (level, idx) DO UPDATE SET hashes=excluded.hashes"
            ),
            rows,
        )

    def _select_tiles(self, c: Any, ids: Sequence[TileId]) -> dict[TileId, bytes]:
        # One round trip for the handful of tiles a root, proof or append needs.
        where = " OR ".join(["(level=? AND idx=?)"] * len(ids))
        params = [v for tile in ids for v in tile]
        c.execute(
            self._sql(f"SELECT level, idx, hashes FROM {{s}}ledger_tiles WHERE {where}"), params
        )
        return {(row["level"], row["idx"]): bytes(row["hashes"]) for row in c.fetchall()}

    def read_tile_hashes(self, ids: Sequence[TileId]) -> Sequence[bytes]:
        if not ids:
            return []
        with self._read_one() as c:
            found = self._select_tiles(c, ids)
        try:
            return [found[tile] for tile in ids]
        except KeyError as e:
            raise LookupError(f"Merkle tile {e.args[0]} is not stored") from e

    def read_nodes(self, ids: Sequence[NodeId]) -> Sequence[bytes]:
        return TiledNodeReader(self).read_nodes(ids)

    def legacy_nodes(self) -> bool:
        with self._tx(commit=False) as c:
            return self._has_table(c, "ledger_nodes")

    def migrate_nodes_to_tiles(self) -> int:
        with self._tx(commit=True) as c:
            if not self._has_table(c, "ledger_nodes"):
                return 0
            c.execute(self._sql("SELECT COUNT(*) AS n FROM {s}ledger_tiles"))
            if c.fetchone()["n"]:
                raise ConfigurationError(
                    "the database holds both Merkle nodes and tiles: it was not migrated cleanly"
                )
            size = self._log_size(c)
            try:
                expected = root(size, _CursorNodes(self, c))
            except LookupError as e:
                raise ConfigurationError(f"the stored Merkle tree is damaged: {e}") from e
            # Only the nodes at tile levels are tile hashes: copy them, level by
            # level, a page of whole tiles at a time (flat memory at national size).
            written = 0
            level = 0
            while count := size >> (TILE_HEIGHT * level):
                for start in range(0, count, _MIGRATE_PAGE):
                    stop = min(count, start + _MIGRATE_PAGE)
                    c.execute(
                        self._sql(
                            "SELECT idx, hash FROM {s}ledger_nodes"
                            " WHERE level=? AND idx>=? AND idx<? ORDER BY idx"
                        ),
                        (TILE_HEIGHT * level, start, stop),
                    )
                    nodes = [
                        (TILE_HEIGHT * level, r["idx"], bytes(r["hash"])) for r in c.fetchall()
                    ]
                    if len(nodes) != stop - start:
                        raise ConfigurationError(
                            f"the stored Merkle tree is damaged: level {TILE_HEIGHT * level} lacks "
                            f"nodes in {start}..{stop - 1}"
                        )
                    appends = tile_appends(nodes)
                    c.executemany(
                        self._sql("INSERT INTO {s}ledger_tiles VALUES (?, ?, ?)"),
                        [(t, i, data) for (t, i), (_, data) in appends.items()],
                    )
                    written += len(appends)
                level += 1
            if root(size, TiledNodeReader(_CursorTiles(self, c))) != expected:
                raise ConfigurationError("migration failed: the tiles do not give the stored root")
            c.execute(self._sql("DROP TABLE {s}ledger_nodes"))
        return written

    def _leaf(self, where: str, params: Sequence[Any]) -> LeafRow | None:
        rows = self._leaves(where, params)
        return rows[0] if rows else None

    def _leaves(
        self,
        where: str,
        params: Sequence[Any],
        limit: int | None = None,
        order: str = "leaf_index",
    ) -> list[LeafRow]:
        tail = "" if limit is None else f" LIMIT {int(limit)}"
        with self._tx(commit=False) as c:
            c.execute(
                self._sql(
                    "SELECT leaf_index, notification_id, event_hash, stream, seq "
                    f"FROM {{s}}ledger_leaves WHERE {where} ORDER BY {order}{tail}"
                ),
                params,
            )
            rows = c.fetchall()
        return [
            LeafRow(
                row["leaf_index"],
                row["notification_id"],
                bytes(row["event_hash"]),
                row["stream"],
                row["seq"],
            )
            for row in rows
        ]

    def leaf_by_hash(self, event_hash: bytes) -> LeafRow | None:
        return self._leaf("event_hash=?", (event_hash,))

    def leaf_by_index(self, leaf_index: int) -> LeafRow | None:
        return self._leaf("leaf_index=?", (leaf_index,))

    def leaf_by_stream(self, stream: str, seq: int) -> LeafRow | None:
        return self._leaf("stream=? AND seq=?", (stream, seq))

    def leaves(self, start: int, stop: int) -> list[LeafRow]:
        return self._leaves("leaf_index>=? AND leaf_index<?", (start, stop))

    def leaves_after_notification(self, notification_id: int, limit: int) -> list[LeafRow]:
        # The sequencer numbers leaves in notification order, so this is leaf order
        # too; ordering by the filtered column makes it one index range of ``limit``
        # rows, where ORDER BY leaf_index walked every earlier leaf (every page of a
        # catch-up then cost the size of the log).
        return self._leaves("notification_id>?", (notification_id,), limit, "notification_id")

    def store_checkpoint(self, size: int, note: bytes) -> None:
        with self._tx(commit=True) as c:
            c.execute(self._sql("DELETE FROM {s}ledger_checkpoints WHERE size=?"), (size,))
            c.execute(self._sql("INSERT INTO {s}ledger_checkpoints VALUES (?, ?)"), (size, note))

    def checkpoints(self) -> list[tuple[int, bytes]]:
        with self._tx(commit=False) as c:
            c.execute(self._sql("SELECT size, note FROM {s}ledger_checkpoints ORDER BY size"))
            rows = c.fetchall()
        return [(int(r["size"]), bytes(r["note"])) for r in rows]

    def latest_checkpoint(self) -> tuple[int, bytes] | None:
        with self._tx(commit=False) as c:
            c.execute(
                self._sql("SELECT size, note FROM {s}ledger_checkpoints ORDER BY size DESC LIMIT 1")
            )
            row = c.fetchone()
        return None if row is None else (int(row["size"]), bytes(row["note"]))

    def drop_tables(self, tables: Sequence[str], application_name: str) -> bool:
        tracking = getattr(self, "tracking_table_name", "tracking")  # SQLite's is "tracking"
        with self._tx(commit=True) as c:
            found = [t for t in tables if self._has_table(c, t)]
            for table in found:
                c.execute(self._sql(f"DROP TABLE {{s}}{table}"))
            c.execute(
                self._sql(f"DELETE FROM {{s}}{tracking} WHERE application_name=?"),
                (application_name,),
            )
        return bool(found)

    def checkpoints_from(self, size: int) -> list[tuple[int, bytes]]:
        with self._tx(commit=False) as c:
            c.execute(
                self._sql(
                    "SELECT size, note FROM {s}ledger_checkpoints WHERE size>=? ORDER BY size"
                ),
                (size,),
            )
            rows = c.fetchall()
        return [(int(r["size"]), bytes(r["note"])) for r in rows]


class SQLiteLogRecorder(_LogSQL, SQLiteDialect, SQLiteTrackingRecorder, LogRecorder):
    """LogRecorder on the ledger's SQLite file."""

    def has_tables(self) -> bool:
        with self._tx(commit=False) as c:
            c.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='ledger_meta'")
            return c.fetchone() is not None

    def leader_lock(self, name: str) -> LeaderLock:
        return FileLeaderLock(f"{self.datastore.pool.db_name}.{name}.lock")

    @contextmanager
    def _read_one(self) -> Iterator[Any]:
        # A pooled connection is in autocommit, where one SELECT is a read transaction
        # of its own: no BEGIN and ROLLBACK around it (datastore.transaction's), which
        # were half of a proof's tile read (about 25 of 50 us at 5 million leaves).
        with self.datastore.get_connection(commit=False) as conn, conn.cursor() as cursor:
            yield cursor

    @contextmanager
    def append_lock(self) -> Iterator[None]:
        # SQLite serialises writers per transaction, but check-then-append spans
        # reads and a write, so a file lock beside the database serialises it
        # across processes too.
        path = str(self.datastore.pool.db_name) + ".lock"
        with open(path, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


class _CursorTiles:
    """A TileHashReader inside an open transaction."""

    def __init__(self, sql: _LogSQL, cursor: Any) -> None:
        self._store, self._cursor = sql, cursor

    def read_tile_hashes(self, ids: Sequence[TileId]) -> Sequence[bytes]:
        found = self._store._select_tiles(self._cursor, ids)
        try:
            return [found[tile] for tile in ids]
        except KeyError as e:
            raise LookupError(f"Merkle tile {e.args[0]} is not stored") from e


class _CursorNodes:
    """A NodeReader over the node-per-row table of earlier versions (for migration)."""

    def __init__(self, sql: _LogSQL, cursor: Any) -> None:
        self._store, self._cursor = sql, cursor

    def read_nodes(self, ids: Sequence[NodeId]) -> Sequence[bytes]:
        if not ids:
            return []
        where = " OR ".join(["(level=? AND idx=?)"] * len(ids))
        self._cursor.execute(
            self._store._sql(f"SELECT level, idx, hash FROM {{s}}ledger_nodes WHERE {where}"),
            [v for node in ids for v in node],
        )
        found = {(r["level"], r["idx"]): bytes(r["hash"]) for r in self._cursor.fetchall()}
        try:
            return [found[node] for node in ids]
        except KeyError as e:
            raise LookupError(f"Merkle node {e.args[0]} is not stored") from e
