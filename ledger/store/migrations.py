"""The ledger database's schema: made by ``ledger create``, changed by ``ledger migrate``.

Opening a ledger runs no DDL (eventsourcing's CREATE_TABLE is off). On
PostgreSQL, writers that all ran ``CREATE ... IF NOT EXISTS`` as they opened
raced on the system catalogs and failed with "tuple concurrently updated"
before they could append. Every table of a ledger database (eventsourcing's
events and tracking tables, the transparency log's) is made here instead, and a
layer above that keeps tables of its own (the live projection: in the same
PostgreSQL database, or its own SQLite file) makes them through
:func:`change_schema`, under the ledger's append lock (on PostgreSQL a session
advisory lock, on SQLite a file lock beside the database), so schema changes
never interleave with each other or with an append.

The schema's version is stored in ``ledger_meta`` under :data:`SCHEMA_META`
(ASCII decimal). A ledger opens only at :data:`SCHEMA_VERSION`: an older one is
refused with "run `ledger migrate`", a newer one with "upgrade". Version 0 is a
ledger made before versions were recorded, when every open created the tables.

Migrating from version ``v`` runs the steps in :data:`_STEPS` from ``v`` up (the
changes to existing tables that ``IF NOT EXISTS`` cannot say), then every create
statement (all idempotent: they add what is missing, tables and indexes alike),
then records :data:`SCHEMA_VERSION`. Every part is idempotent and the version is
written last, so a migration cut short is completed by running it again; at the
current version it runs the create statements alone, which remakes a table that
was dropped (a projection's, to rebuild it from zero).

To change the schema: change the create statements, add a step where an
existing table must change, and increase :data:`SCHEMA_VERSION`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from eventsourcing.domain import EventSourcingError

from ledger.errors import ConfigurationError
from ledger.store.persistence import LogRecorder, StorageConfig

__all__ = [
    "SCHEMA_META",
    "SCHEMA_VERSION",
    "TRUST_META",
    "LedgerDatabase",
    "change_schema",
    "check_schema",
    "create",
    "migrate",
]

SCHEMA_VERSION = 2
SCHEMA_META = "schema-version"
TRUST_META = "trust"

T = TypeVar("T")


class LedgerDatabase(Protocol):
    """What a schema change needs of a ledger: its database and its recorders.

    :class:`ledger.store.application.Ledger` is one; naming only this keeps the
    application, which calls these functions as it opens, out of this module's imports.
    """

    @property
    def config(self) -> StorageConfig: ...

    @property
    def log_store(self) -> LogRecorder: ...

    @property
    def recorder(self) -> Any: ...


def _nodes_to_tiles(ledger: LedgerDatabase) -> None:
    """1 -> 2: the Merkle tree moves from one row per node to one row per tile
    (format.md 8.13), checked against the stored root before the nodes are dropped."""
    store: Any = ledger.log_store  # a LogRecorder is also an eventsourcing recorder
    store.create_table()  # the tiles table, which the copy fills
    ledger.log_store.migrate_nodes_to_tiles()


# Version v -> v + 1: changes to existing tables, run before the create statements.
# (Version 0 -> 1 needs none: 0 had every table a create statement makes.)
_STEPS: dict[int, Callable[[LedgerDatabase], None]] = {1: _nodes_to_tiles}


def check_schema(ledger: LedgerDatabase) -> None:
    """Refuse, with what to run, a database that holds no ledger or another schema version."""
    store, url = ledger.log_store, ledger.config.url
    if not store.has_tables():
        raise ConfigurationError(f"{url} holds no ledger (run `ledger create`)")
    version = _version(ledger)
    if version == 0 and store.read_meta(TRUST_META) is None:
        raise ConfigurationError(f"{url} holds no ledger (run `ledger create`)")
    _refuse_newer(ledger, version)
    if version < SCHEMA_VERSION:
        raise ConfigurationError(
            f"{url} has schema version {version}, this program needs {SCHEMA_VERSION}: "
            "run `ledger migrate`"
        )


def create(ledger: LedgerDatabase, trust: bytes) -> None:
    """Make every table and pin ``trust``; refuse a database that already holds a ledger.

    Tables left by an earlier attempt, or by a ledger of version 0 that was
    opened but never created, are completed rather than refused.
    """
    store = ledger.log_store
    with _schema_change(ledger):
        version = _version(ledger) if store.has_tables() else None
        if version is not None and store.read_meta(TRUST_META) is not None:
            raise ConfigurationError(f"{ledger.config.url} already holds a ledger")
        if version is not None:
            _refuse_newer(ledger, version)
        _upgrade(ledger, version)
        store.write_meta(TRUST_META, trust)


def migrate(ledger: LedgerDatabase) -> tuple[int, int]:
    """Bring the schema to SCHEMA_VERSION; return the versions before and after."""
    store = ledger.log_store
    with _schema_change(ledger):
        if not store.has_tables() or store.read_meta(TRUST_META) is None:
            raise ConfigurationError(f"{ledger.config.url} holds no ledger (run `ledger create`)")
        version = _version(ledger)
        _refuse_newer(ledger, version)
        _upgrade(ledger, version)
    return version, SCHEMA_VERSION


def _upgrade(ledger: LedgerDatabase, version: int | None) -> None:
    """Run the steps from ``version`` (None: a new database, none), create, record."""
    for step in range(SCHEMA_VERSION if version is None else version, SCHEMA_VERSION):
        if step in _STEPS:
            _STEPS[step](ledger)
    for recorder in _recorders(ledger):
        recorder.create_table()
    if version != SCHEMA_VERSION:
        ledger.log_store.write_meta(SCHEMA_META, str(SCHEMA_VERSION).encode(), replace=True)


def change_schema(ledger: LedgerDatabase, change: Callable[[], T]) -> T:
    """Run a schema change of a layer above the store (the live projection makes its
    tables, wherever they live) under the append lock like every other, once the
    ledger is known to exist; return what ``change`` returns.

    The store does not know those layers (they import it); each changes its own
    tables through this function when ``ledger create`` or ``ledger migrate`` asks it to.
    """
    store = ledger.log_store
    with _schema_change(ledger):
        if not store.has_tables() or store.read_meta(TRUST_META) is None:
            raise ConfigurationError(f"{ledger.config.url} holds no ledger (run `ledger create`)")
        return change()


def _recorders(ledger: LedgerDatabase) -> list[Any]:
    """Every recorder of the store whose create statements make part of the database."""
    return [ledger.recorder, ledger.log_store]


def _version(ledger: LedgerDatabase) -> int:
    raw = ledger.log_store.read_meta(SCHEMA_META)
    if raw is None:
        return 0
    if not raw.isascii() or not raw.isdigit():
        raise ConfigurationError(
            f"{ledger.config.url}: stored schema version {raw!r} is not a number"
        )
    return int(raw)


def _refuse_newer(ledger: LedgerDatabase, version: int) -> None:
    if version > SCHEMA_VERSION:
        raise ConfigurationError(
            f"{ledger.config.url} has schema version {version}, newer than this program's "
            f"{SCHEMA_VERSION}: upgrade pilkada-ledger"
        )


@contextmanager
def _schema_change(ledger: LedgerDatabase) -> Iterator[None]:
    """Hold the append lock; report a database failure as one line."""
    try:
        with ledger.log_store.append_lock():
            yield
    except (EventSourcingError, OSError) as e:  # OSError: the SQLite lock file's directory
        raise ConfigurationError(f"cannot change the database {ledger.config.url}: {e}") from e
