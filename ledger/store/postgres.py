"""The PostgreSQL half of the persistence layer, imported only for PostgreSQL ledgers.

It needs psycopg (``pip install 'pilkada-ledger[postgres]'``), which an
installation that only ever uses SQLite does without.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eventsourcing.postgres import PostgresTrackingRecorder
from psycopg.sql import SQL

from ledger.store.persistence import LogRecorder, SQLDialect, _lock_key, _LogSQL

__all__ = ["PostgresDialect", "PostgresLogRecorder"]


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
