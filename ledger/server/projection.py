"""The live projection as a server process opens it, beside other processes."""

from __future__ import annotations

from ledger.store.application import Ledger
from projections.recorder import Projections

__all__ = ["open_projections"]


def open_projections(ledger: Ledger) -> Projections:
    """The live projection (its tables were made by `ledger create` / `ledger migrate`;
    opening runs no DDL, so server processes starting together do not race)."""
    return Projections(ledger)
