"""A ledger's schema: made by create, changed by migrate, never touched by open.

Each test runs on both backends. An older ledger is made by taking a current one
back to what version 0 looked like: no recorded version (and, as a ledger that
never ran a projection, no projection tables).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from ledger import errors
from ledger.cli import main
from ledger.format.regions import sheet_stream
from ledger.pilkada.scenario import Scenario
from ledger.store.application import Ledger
from ledger.store.migrations import SCHEMA_META, SCHEMA_VERSION
from projections.recorder import Projections
from tests.world import BUPATI, TPS, build_world, tally

PROJECTION_TABLES = ("proj_state", "proj_events")


def _execute(url: str, *statements: str) -> None:
    """Run SQL (``{s}`` is the schema prefix) on a ledger's database, bypassing open's checks."""
    ledger = Ledger._unchecked(url)
    try:
        store: Any = ledger.log_store
        with store._tx(commit=True) as c:
            for statement in statements:
                c.execute(store._sql(statement))
    finally:
        ledger.close()


def _tables(url: str) -> set[str]:
    """The names of the tables in the ledger's database (its schema, on PostgreSQL)."""
    ledger = Ledger._unchecked(url)
    try:
        store: Any = ledger.log_store
        with store._tx(commit=False) as c:
            if ledger.config.backend == "sqlite":
                c.execute("SELECT name FROM sqlite_master WHERE type='table'")
            else:
                c.execute(
                    "SELECT table_name AS name FROM information_schema.tables"
                    " WHERE table_schema=%s",
                    (store.datastore.schema,),
                )
            return {row["name"] for row in c.fetchall()}
    finally:
        ledger.close()


def _make_version_0(url: str) -> None:
    _execute(
        url,
        f"DELETE FROM {{s}}ledger_meta WHERE name='{SCHEMA_META}'",
        *(f"DROP TABLE {{s}}{table}" for table in PROJECTION_TABLES),
    )


def test_opening_an_empty_database_refuses_and_makes_nothing(database_url: str) -> None:
    with pytest.raises(errors.ConfigurationError, match=r"holds no ledger \(run `ledger create`\)"):
        Ledger(database_url)
    if database_url.startswith("sqlite:"):
        assert not Path(database_url.removeprefix("sqlite:")).exists()
    else:
        assert _tables(database_url) == set()


def test_create_makes_every_table_and_records_the_version(database_url: str) -> None:
    world = build_world(database_url)
    world.ledger.close()
    tables = _tables(database_url)
    assert {"ledger_meta", "ledger_leaves", "ledger_tiles", "ledger_checkpoints"} <= tables
    assert set(PROJECTION_TABLES) <= tables
    # eventsourcing's (named stored_events and tracking on SQLite, ledger_* on PostgreSQL)
    assert any(t.endswith("events") and t != "proj_events" for t in tables), tables
    assert any(t.endswith("tracking") for t in tables), tables
    ledger = Ledger(database_url)
    try:
        assert ledger.log_store.read_meta(SCHEMA_META) == str(SCHEMA_VERSION).encode()
    finally:
        ledger.close()


def test_opening_runs_no_ddl(database_url: str) -> None:
    """A table gone stays gone through an open, a projection and an append; migrate
    at the current version makes it again."""
    world = build_world(database_url)
    world.ledger.close()
    _execute(database_url, "DROP TABLE {s}proj_events")
    ledger = Ledger(database_url)
    try:
        Projections(ledger)
        ledger.append(world.scenario.count(world.keys["kpps"], BUPATI, TPS, tally()).raw)
    finally:
        ledger.close()
    assert "proj_events" not in _tables(database_url)
    assert Ledger.migrate(database_url) == (SCHEMA_VERSION, SCHEMA_VERSION)
    ledger = Ledger(database_url)
    try:
        Projections.create(ledger)  # the projection's part of `ledger migrate`
    finally:
        ledger.close()
    assert "proj_events" in _tables(database_url)


def test_an_older_schema_is_refused_until_migrated(database_url: str) -> None:
    world = build_world(database_url)
    count = world.scenario.count(world.keys["kpps"], BUPATI, TPS, tally())
    world.append(count)
    size = world.ledger.log_store.log_size()
    world.ledger.close()
    _make_version_0(database_url)

    with pytest.raises(
        errors.ConfigurationError,
        match=rf"has schema version 0, this program needs {SCHEMA_VERSION}: run `ledger migrate`",
    ):
        Ledger(database_url)
    assert Ledger.migrate(database_url) == (0, SCHEMA_VERSION)
    assert Ledger.migrate(database_url) == (SCHEMA_VERSION, SCHEMA_VERSION)  # idempotent
    ledger = Ledger(database_url)
    try:
        assert ledger.head(sheet_stream(BUPATI, TPS)) == (1, count.hash)
        assert Projections.create(ledger).catch_up() == size
    finally:
        ledger.close()
    assert set(PROJECTION_TABLES) <= _tables(database_url)


def test_a_newer_schema_is_refused(database_url: str) -> None:
    build_world(database_url).ledger.close()
    newer = SCHEMA_VERSION + 1
    ledger = Ledger._unchecked(database_url)
    ledger.log_store.write_meta(SCHEMA_META, str(newer).encode(), replace=True)
    ledger.close()
    match = rf"has schema version {newer}, newer than this program's {SCHEMA_VERSION}: upgrade"
    with pytest.raises(errors.ConfigurationError, match=match):
        Ledger(database_url)
    with pytest.raises(errors.ConfigurationError, match=match):
        Ledger.migrate(database_url)


def test_migrate_refuses_a_database_without_a_ledger(database_url: str) -> None:
    if database_url.startswith("sqlite:"):
        Path(database_url.removeprefix("sqlite:")).touch()
    with pytest.raises(errors.ConfigurationError, match=r"holds no ledger \(run `ledger create`\)"):
        Ledger.migrate(database_url)


def test_creates_at_once_make_one_ledger(database_url: str) -> None:
    """Two creates of one database: the lock lets one make it, the other is refused."""
    scenario = Scenario()
    barrier = threading.Barrier(2)
    outcomes: list[Any] = [None, None]

    def run(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = Ledger.create(database_url, scenario.trust())
        except errors.LedgerError as e:
            outcomes[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    created = [o for o in outcomes if isinstance(o, Ledger)]
    refused = [o for o in outcomes if isinstance(o, errors.ConfigurationError)]
    for ledger in created:
        ledger.close()
    assert len(created) == 1 and len(refused) == 1, outcomes
    assert "already holds a ledger" in str(refused[0])


def test_the_migrate_command(
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`ledger migrate` upgrades, then says there is nothing to do; commands before it
    fail with one line that says to run it."""
    world = build_world(database_url)
    count = world.scenario.count(world.keys["kpps"], BUPATI, TPS, tally())
    world.ledger.close()
    _make_version_0(database_url)
    monkeypatch.setenv("LEDGER_DATABASE", database_url)
    envelope = tmp_path / "count.env"
    envelope.write_bytes(count.raw)
    directory = str(tmp_path)

    assert main(["submit", "-L", directory, str(envelope)]) == 1
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"ledger: error: {database_url} has schema version 0, this "
                          f"program needs {SCHEMA_VERSION}: run `ledger migrate`\n")  # fmt: skip
    assert main(["migrate", "-L", directory]) == 0
    assert capsys.readouterr() == (
        f"{directory}: migrated from schema version 0 to {SCHEMA_VERSION}\n",
        "",
    )
    assert main(["migrate", "-L", directory]) == 0
    assert capsys.readouterr() == (
        f"{directory}: schema version {SCHEMA_VERSION}, up to date\n",
        "",
    )
    assert main(["submit", "-L", directory, str(envelope)]) == 0
    assert capsys.readouterr().out.startswith(f"accepted: {sheet_stream(BUPATI, TPS)} seq 1\n")
