"""The views the pages read, computed once per projection position.

A page of a province-wide contest sums tens of thousands of sheets; the same sums
serve every page of that contest until the log grows. :class:`ViewCache` keeps,
for the projection's current position only, each contest's rows at each level,
its recap checks, its open objections per region, the findings, and the KPU's
determinations (projections.outcomes.results); a new position
drops them all. Every figure is still the projection's own (projections.views),
filtered here by region exactly as the views filter (``covers``). Thread-safe:
pages render on the server's worker threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from ledger.format.regions import VILLAGE, covers, tps_region
from projections import outcomes, views
from projections.fold import add_totals
from projections.store import Store

__all__ = ["CachedViews", "ViewCache"]

T = TypeVar("T")


class ViewCache:
    """Memoised views for the latest projection position (one per server process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._position = -1
        self._memo: dict[tuple[Any, ...], Any] = {}

    def bind(self, store: Store) -> CachedViews:
        with self._lock:
            if store.position != self._position:
                self._position = store.position
                self._memo = {}
            return CachedViews(store, self._memo, self._lock)


class CachedViews:
    """The views of one store, read through the cache."""

    def __init__(self, store: Store, memo: dict[tuple[Any, ...], Any], lock: threading.Lock):
        self.store = store
        self._memo = memo
        self._lock = lock

    def _get(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._memo:
                found: T = self._memo[key]
                return found
        value = compute()  # outside the lock: two threads may both compute it once
        with self._lock:
            self._memo[key] = value
        return value

    def totals(self, contest_id: str, level: str, within: str = "") -> list[dict[str, Any]]:
        """views.totals(store, contest, level, within), from the contest's whole table,
        for a ``level`` at or below the level of ``within`` (as the pages ask).

        One scan of the contest's sheets, at village level; the rows of the levels
        above are their villages' rows added up (every figure of a row is a sum).
        """
        villages: list[dict[str, Any]] = self._get(
            ("totals", contest_id, VILLAGE), lambda: views.totals(self.store, contest_id, VILLAGE)
        )
        rows = (
            villages
            if level == VILLAGE
            else self._get(("totals", contest_id, level), lambda: _roll_up(villages, level))
        )
        return [r for r in rows if not within or covers(within, r["region"])]

    def recap_checks(self, contest_id: str, within: str = "") -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self._get(
            ("recaps", contest_id), lambda: views.recap_checks(self.store, contest_id)
        )
        return [r for r in rows if not within or covers(within, r["region"])]

    def open_objections(self, contest_id: str, within: str) -> int:
        """Unanswered objections in the sheets of ``contest_id`` inside ``within``."""

        def count() -> dict[str, int]:
            by_region: dict[str, int] = {}
            for sheet in views.sheet_status(self.store, contest_id):
                if not sheet["open_objections"]:
                    continue
                parts = tps_region(sheet["tps"]).split(".")
                for n in range(1, len(parts) + 1):
                    region = ".".join(parts[:n])
                    by_region[region] = by_region.get(region, 0) + sheet["open_objections"]
                by_region[sheet["tps"]] = sheet["open_objections"]
            return by_region

        counts: dict[str, int] = self._get(("objections", contest_id), count)
        return counts.get(within, 0)

    def findings(self, within: str = "") -> list[dict[str, Any]]:
        if within:
            return views.findings(self.store, within=within)
        found: list[dict[str, Any]] = self._get(("findings",), lambda: views.findings(self.store))
        return found

    def determination(self, contest_id: str) -> dict[str, Any] | None:
        """The effective determination of ``contest_id`` as outcomes.results gives it
        (None before one): the results of every contest, computed once per position."""
        found: dict[str, Any] = self._get(
            ("determinations",),
            lambda: {r["contest"]: r["determination"] for r in outcomes.results(self.store)},
        )
        return found.get(contest_id)


def _roll_up(villages: list[dict[str, Any]], level: str) -> list[dict[str, Any]]:
    """The rows of ``level``: each region's villages' rows added up, by region code."""
    rows: dict[str, dict[str, Any]] = {}
    for village in villages:
        region = views.region_at(village["region"], level)
        row = rows.get(region)
        if row is None:
            row = rows[region] = {
                "region": region,
                "votes": {n: 0 for n in village["votes"]},
                "valid": 0,
                "invalid": 0,
                "voted": 0,
                "sheets_reported": 0,
                "sheets_expected": 0,
            }
        add_totals(row, village)
        row["sheets_reported"] += village["sheets_reported"]
        row["sheets_expected"] += village["sheets_expected"]
    return [rows[k] for k in sorted(rows)]
