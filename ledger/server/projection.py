"""The live projection as a server process opens and follows it, beside other processes."""

from __future__ import annotations

import time

from ledger.store.application import Ledger
from projections.recorder import Projections

__all__ = ["is_conflict", "open_projections"]


def open_projections(ledger: Ledger) -> Projections:
    """The live projection, its tables created if need be (other processes may be
    creating them at the same moment: PostgreSQL's catalog lets only one win)."""
    for attempt in range(3):
        try:
            return Projections(ledger)
        except Exception as e:
            if not is_conflict(e) or attempt == 2:
                raise
            time.sleep(0.2)
    raise AssertionError("unreachable")  # pragma: no cover


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
