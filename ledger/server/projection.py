"""The live projection as a server process opens and follows it, beside other processes."""

from __future__ import annotations

from ledger.store.application import Ledger
from projections.recorder import Projections

__all__ = ["is_conflict", "open_projections"]


def open_projections(ledger: Ledger) -> Projections:
    """The live projection (its tables were made by `ledger create` / `ledger migrate`;
    opening runs no DDL, so server processes starting together do not race)."""
    return Projections(ledger)


def is_conflict(error: BaseException) -> bool:
    """Whether another process committed the same projection page first."""
    from eventsourcing.persistence import IntegrityError

    if isinstance(error, IntegrityError):
        return True
    try:
        import psycopg
    except ImportError:
        return False
    return isinstance(error, psycopg.IntegrityError)
