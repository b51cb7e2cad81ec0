"""Every query of the fold and the views reads what it returns: their plans, on both backends.

A simulated election is projected while a spy records every SELECT the
projection's and the log's recorders send; the views then run for one region,
contest, stream and signer. Each recorded query is explained on the populated
projection (``EXPLAIN QUERY PLAN`` on SQLite; ``EXPLAIN (FORMAT JSON)`` on
PostgreSQL with sequential scans disabled, so that the plan says which index can
serve the query rather than that the test's tables are small). Neither backend has
statistics here (the ledger never runs ANALYZE): the planners go by the indexes'
shapes, as on a freshly built ledger. (With statistics, PostgreSQL rightly reads
the one-row ``meta`` kind by kind alone, which this rule would not tell from a
whole-kind scan.)

A query passes when its table is read through an index range bounded by the
query's most selective column: its place range when it has one (a contest alone
is a whole province for a gubernur contest), else the stream, signer, key,
contest or notification id it names. A whole-kind or whole-table read fails;
only the list of contests is read whole, by design.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest

from ledger.format.regions import KABKOTA, KECAMATAN, PROVINCE, VILLAGE
from ledger.pilkada.simulate import Faults, Simulation
from ledger.store.application import Ledger
from projections import views
from projections.recorder import Projections

REGION = "11.71"  # Banda Aceh: 2,700 events, 9 kecamatan, a bupati and a gubernur contest
KECAMATAN_CODE = "11.71.01"
PAGE = 500  # several pages, so recaps read sheets committed by earlier pages

# Columns that bound a query, most selective first (place: a region's range).
SELECTIVE = ("place", "stream", "signer", "key", "contest", "notification_id")
TABLES = ("proj_state", "proj_events", "ledger_leaves")
WHOLE_KINDS = {"contest"}  # findings and the contest list need every contest
SAMPLES_PER_QUERY = 3

Query = tuple[str, tuple[Any, ...]]


class _Spy:
    """A cursor that records the SELECTs sent through it."""

    def __init__(self, cursor: Any, seen: dict[tuple[str, Any], list[Query]]) -> None:
        self._cursor = cursor
        self._seen = seen

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        # Ours pass (sql, params); eventsourcing's own (query=..., params={...}) pass by.
        if args and isinstance(args[0], str) and args[0].lstrip().upper().startswith("SELECT"):
            sql, params = args[0], tuple(args[1] if len(args) > 1 else ())
            samples = self._seen.setdefault((sql, params[:1]), [])
            if len(samples) < SAMPLES_PER_QUERY and (sql, params) not in samples:
                samples.append((sql, params))
        return self._cursor.execute(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def _spy_on(
    recorder: Any, seen: dict[tuple[str, Any], list[Query]], monkeypatch: pytest.MonkeyPatch
) -> None:
    real: Callable[..., AbstractContextManager[Any]] = recorder._tx

    @contextmanager
    def tx(*, commit: bool) -> Iterator[Any]:
        with real(commit=commit) as cursor:
            yield _Spy(cursor, seen)

    monkeypatch.setattr(recorder, "_tx", tx)


@pytest.fixture
def queries(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Projections, list[tuple[str, Query]]]]:
    simulation = Simulation(REGION, seed=3, faults=Faults.each(1))
    ledger = Ledger.create(database_url, simulation.trust())
    try:
        raws = [envelope.raw for envelope in simulation.envelopes()]
        for i in range(0, len(raws), 1000):
            ledger.append_batch(raws[i : i + 1000])
        projections = Projections.create(ledger)
        fold: dict[tuple[str, Any], list[Query]] = {}
        _spy_on(projections.recorder, fold, monkeypatch)
        _spy_on(ledger.log_store, fold, monkeypatch)
        projections.catch_up(page=PAGE)
        monkeypatch.undo()

        read: dict[tuple[str, Any], list[Query]] = {}
        _spy_on(projections.recorder, read, monkeypatch)
        store = projections.store()
        contest_ids = [c["id"] for c in views.contests(store)]
        assert len(contest_ids) == 2
        for contest_id in contest_ids:
            for level in (VILLAGE, KECAMATAN, KABKOTA, PROVINCE):
                views.totals(store, contest_id, level)
                views.totals(store, contest_id, level, within=KECAMATAN_CODE)
            views.sheet_status(store, contest_id)
            views.sheet_status(store, contest_id, within=KECAMATAN_CODE)
            views.recap_checks(store, contest_id, within=REGION)
        views.findings(store, within=KECAMATAN_CODE)
        sheet = store.scan("sheet", within=KECAMATAN_CODE)[0]
        views.trail(store, stream=sheet["stream"])
        views.trail(store, within=KECAMATAN_CODE)
        views.trail(store, signer=sheet["tallies"][0]["signer"])
        recorded = [("fold", q) for samples in fold.values() for q in samples]
        recorded += [("views", q) for samples in read.values() for q in samples]
        monkeypatch.undo()
        yield projections, recorded
    finally:
        ledger.close()


def _table_of(sql: str) -> str:
    found = re.search(r"FROM\s+(?:\"\w+\"\.)?(\w+)", sql)
    assert found, sql
    return found.group(1)


def _bounding_column(sql: str) -> str | None:
    """The query's most selective column (None when it names only a kind)."""
    where = sql.split(" WHERE ", 1)[1] if " WHERE " in sql else ""
    named = set(re.findall(r"\b(\w+)(?:\s+COLLATE \"C\")?\s*(?:=|>=|>)\s*(?:\?|%s)", where))
    return next((column for column in SELECTIVE if column in named), None)


def _bounds(condition: str, column: str) -> bool:
    """Whether an index condition (either planner's spelling) constrains ``column``."""
    return re.search(rf"\b{column}\)?(?:::\w+)?\s*(?:=|>=|>)", condition) is not None


def _sqlite_problems(rows: list[str], table: str, column: str) -> list[str]:
    problems, searched = [], False
    for detail in rows:
        if re.match(rf"SCAN {table}\b", detail):
            problems.append(f"reads the whole table: {detail}")
        elif found := re.match(rf"SEARCH {table} USING .*\((.*)\)$", detail):
            searched = True
            if not _bounds(found.group(1), column):
                problems.append(f"index not bounded by {column}: {detail}")
    return problems if problems or searched else [f"no index search of {table}: {rows}"]


def _pg_bounded(node: dict[str, Any], column: str) -> bool:
    kind = node["Node Type"]
    children = node.get("Plans", [])
    if kind == "BitmapAnd":
        return any(_pg_bounded(child, column) for child in children)
    if kind == "BitmapOr":
        return all(_pg_bounded(child, column) for child in children)
    return _bounds(str(node.get("Index Cond", "")), column)


def _pg_problems(plan: dict[str, Any], table: str, column: str) -> list[str]:
    problems, scans = [], []

    def walk(node: dict[str, Any]) -> None:
        if node.get("Relation Name") == table:
            scans.append(node)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan)
    for scan in scans:
        kind = scan["Node Type"]
        if kind in ("Index Scan", "Index Only Scan"):
            bounded = _pg_bounded(scan, column)
        elif kind == "Bitmap Heap Scan":
            bounded = all(_pg_bounded(child, column) for child in scan["Plans"])
        else:
            bounded = False
        if not bounded:
            problems.append(f"{kind} not bounded by {column}: {json.dumps(scan)}")
    return problems if problems or scans else [f"no read of {table}: {json.dumps(plan)}"]


def _explain(projections: Projections, sql: str, params: tuple[Any, ...]) -> Any:
    # The log's tables are the ledger's; the projection's may be in a file of their own.
    log_table = _table_of(sql).startswith("ledger_")
    recorder: Any = projections.ledger.log_store if log_table else projections.recorder
    with recorder._tx(commit=False) as c:
        if projections.ledger.config.backend == "postgres":
            c.execute("SET LOCAL enable_seqscan = off")
            c.execute("EXPLAIN (FORMAT JSON) " + sql, params)
            plan = next(iter(c.fetchone().values()))
            return (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
        c.execute("EXPLAIN QUERY PLAN " + sql, params)
        return [row["detail"] for row in c.fetchall()]


def test_every_query_of_the_fold_and_the_views_reads_an_index_range(
    queries: tuple[Projections, list[tuple[str, Query]]],
) -> None:
    projections, recorded = queries
    problems, checked = [], set()
    for source, (sql, params) in recorded:
        table = _table_of(sql)
        if table not in TABLES:
            continue
        column = _bounding_column(sql)
        if column is None:
            if table == "proj_state" and params[0] in WHOLE_KINDS and source == "views":
                continue
            problems.append(f"{source}: {sql} {params}: names no column to bound it")
            continue
        plan = _explain(projections, sql, params)
        found = (
            _pg_problems(plan, table, column)
            if isinstance(plan, dict)
            else _sqlite_problems(plan, table, column)
        )
        problems.extend(f"{source}: {sql} {params}: {p}" for p in found)
        checked.add((source, table, column))
    assert not problems, "\n".join(problems)
    # The queries this test is about were all seen: the recap inputs (sheets and
    # recaps of a contest within a region), the catch-up's pages, and the views'
    # reads by region, contest, stream and signer.
    assert {
        ("fold", "proj_state", "place"),
        ("fold", "proj_state", "key"),
        ("fold", "ledger_leaves", "notification_id"),
        ("views", "proj_state", "place"),
        ("views", "proj_state", "contest"),
        ("views", "proj_events", "place"),
        ("views", "proj_events", "stream"),
        ("views", "proj_events", "signer"),
    } <= checked


def test_a_whole_kind_scan_is_caught() -> None:
    """The checks themselves: the plans the old queries got fail them."""
    old_sqlite = ["SEARCH proj_state USING INDEX sqlite_autoindex_proj_state_1 (kind=?)"]
    assert _sqlite_problems(old_sqlite, "proj_state", "place")
    old_leaves = ["SCAN ledger_leaves USING INDEX sqlite_autoindex_ledger_leaves_1"]
    assert _sqlite_problems(old_leaves, "ledger_leaves", "notification_id")
    new_sqlite = [
        "SEARCH proj_state USING INDEX proj_state_contest_within"
        " (kind=? AND contest=? AND place>? AND place<?)"
    ]
    assert not _sqlite_problems(new_sqlite, "proj_state", "place")
    old_pg = {
        "Node Type": "Index Scan",
        "Relation Name": "proj_state",
        "Index Cond": "((kind = 'sheet'::text) AND (contest = 'bupati-11.01'::text))",
        "Filter": "((place)::text >= '11.01.05.'::text)",
    }
    assert _pg_problems(old_pg, "proj_state", "place")
    seq = {"Node Type": "Seq Scan", "Relation Name": "proj_events", "Filter": "(place = 'x')"}
    assert _pg_problems({"Node Type": "Sort", "Plans": [seq]}, "proj_events", "place")
    new_pg = dict(old_pg, **{"Index Cond": "((kind = 'sheet'::text) AND ((place)::text >= 'a'))"})
    assert not _pg_problems(new_pg, "proj_state", "place")
    assert _bounding_column("SELECT v FROM t WHERE kind=? AND contest=? AND place >= ?") == "place"
    assert _bounding_column("SELECT v FROM t WHERE kind=%s") is None
