"""The projection's tables on PostgreSQL (imported only for PostgreSQL ledgers)."""

from __future__ import annotations

from typing import Any

from eventsourcing.postgres import PostgresTrackingRecorder

from ledger.store.postgres import PostgresDialect
from projections.sql import ProjectionSQL

__all__ = ["PostgresProjectionRecorder"]


class PostgresProjectionRecorder(ProjectionSQL, PostgresDialect, PostgresTrackingRecorder):
    """The projection's tables in the ledger's PostgreSQL schema."""

    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.tracking_table = self.tracking_table_name
