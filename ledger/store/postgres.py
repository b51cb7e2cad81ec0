"""The PostgreSQL half of the persistence layer, imported only for PostgreSQL ledgers.

It needs psycopg (``pip install 'pilkada-ledger[postgres]'``), which an
installation that only ever uses SQLite does without.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from eventsourcing.postgres import PostgresTrackingRecorder
from psycopg.sql import SQL

from ledger.store.persistence import LeaderLock, LogRecorder, SQLDialect, _lock_key, _LogSQL

__all__ = ["PostgresDialect", "PostgresLeaderLock", "PostgresLogRecorder"]

#: Seconds to connect for the leader lock (a dead database must not hold a tick up).
LEADER_CONNECT_TIMEOUT_S = 5


class PostgresDialect(SQLDialect):
    """Adds the dialect's tables, in the datastore's schema, to a PostgresTrackingRecorder's."""

    placeholder = "%s"
    blob = "BYTEA"
    bytewise = ' COLLATE "C"'  # the database's default collation may follow a locale

    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)  # type: ignore[call-arg]
        self.prefix = f'"{datastore.schema}".' if datastore.schema else ""
        for statement in self._tables():
            self.sql_create_statements.append(SQL(statement))  # type: ignore[attr-defined]

    def _quote(self, name: str) -> str:
        return f'"{name}"'

    def _originator_param(self, originator_id: Any) -> Any:
        return originator_id  # a uuid column

    def _has_table(self, c: Any, name: str) -> bool:
        c.execute("SELECT to_regclass(%s) AS t", (f"{self.prefix}{name}",))
        return c.fetchone()["t"] is not None


class PostgresLogRecorder(_LogSQL, PostgresDialect, PostgresTrackingRecorder, LogRecorder):
    """LogRecorder on the ledger's PostgreSQL database (in its schema)."""

    def has_tables(self) -> bool:
        with self._tx(commit=False) as c:
            c.execute(
                "SELECT 1 FROM information_schema.tables"
                " WHERE table_schema=%s AND table_name='ledger_meta'",
                (self.datastore.schema,),
            )
            return c.fetchone() is not None

    def leader_lock(self, name: str) -> LeaderLock:
        kwargs: Any = self.datastore.pool.kwargs  # the pool's connection parameters (a dict)
        params = {k: v for k, v in kwargs.items() if k != "row_factory"}
        key = _lock_key(f"ledger-{name}:{self.datastore.schema}")
        return PostgresLeaderLock(params, key)

    @contextmanager
    def append_lock(self) -> Iterator[None]:
        # A session-level advisory lock, held on its own connection while the
        # append checks and stores, serialises appends across processes.
        key = _lock_key(f"ledger-append:{self.datastore.schema}")
        with self.datastore.get_connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


class PostgresLeaderLock(LeaderLock):
    """A :class:`LeaderLock` as a session advisory lock on a connection of its own.

    Its own connection, not one of the pool's: the lock lives as long as the
    session, and the pool's connections come and go (and are few). If the
    connection is lost, PostgreSQL drops the lock, and :meth:`held` says so.
    """

    def __init__(self, params: dict[str, Any], key: int) -> None:
        self._params = params
        self._key = key
        self._conn: psycopg.Connection[Any] | None = None

    def try_acquire(self) -> bool:
        if self._conn is not None:
            if self.held():
                return True
            self.release()
        try:
            conn = psycopg.connect(
                **self._params, autocommit=True, connect_timeout=LEADER_CONNECT_TIMEOUT_S
            )
        except psycopg.Error:
            return False
        try:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self._key,)).fetchone()
        except psycopg.Error:
            conn.close()
            return False
        if not row or not row[0]:
            conn.close()
            return False
        self._conn = conn
        return True

    def held(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def release(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(psycopg.Error):
                conn.close()  # ending the session drops the lock
