"""A ledger's schema: made by create, changed by migrate, never touched by open.

Each test runs on both backends. An older ledger is made by taking a current one
back to what version 0 looked like: no recorded version (and, as a ledger that
never ran a projection, no projection tables).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from ledger import errors
from ledger.cli import main
from ledger.format.regions import sheet_stream
from ledger.pilkada.scenario import Scenario
from ledger.store.application import Ledger
from ledger.store.migrations import SCHEMA_META, SCHEMA_VERSION
from ledger.store.persistence import StorageConfig
from projections.recorder import Projections, projection_path, replay
from projections.sql import NAME
from tests.projection_cases import dump, outputs
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


def _projection_file(url: str) -> Path | None:
    """The live projection's own SQLite file (None on PostgreSQL: the ledger's schema)."""
    if not url.startswith("sqlite:"):
        return None
    return Path(projection_path(StorageConfig.parse(url)))


def _projection_tables(url: str) -> set[str]:
    """The names of the tables where the live projection keeps its own."""
    path = _projection_file(url)
    if path is None:
        return _tables(url)
    if not path.exists():
        return set()
    with closing(sqlite3.connect(path)) as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _drop_projection_table(url: str, table: str) -> None:
    path = _projection_file(url)
    if path is None:
        _execute(url, f"DROP TABLE {{s}}{table}")
        return
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(f"DROP TABLE {table}")


def _make_version_0(url: str) -> None:
    """Version 0: no recorded version and, as a ledger that never ran a projection, no
    projection tables (on SQLite, no projection file)."""
    _execute(url, f"DELETE FROM {{s}}ledger_meta WHERE name='{SCHEMA_META}'")
    path = _projection_file(url)
    if path is None:
        _execute(url, *(f"DROP TABLE {{s}}{table}" for table in PROJECTION_TABLES))
    else:
        for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            name.unlink(missing_ok=True)


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
    assert set(PROJECTION_TABLES) <= _projection_tables(database_url)
    if database_url.startswith("sqlite:"):  # in a file of their own, not the ledger's
        assert not set(PROJECTION_TABLES) & tables
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
    _drop_projection_table(database_url, "proj_events")
    ledger = Ledger(database_url)
    try:
        Projections(ledger).close()
        ledger.append(world.scenario.count(world.keys["kpps"], BUPATI, TPS, tally()).raw)
    finally:
        ledger.close()
    assert "proj_events" not in _projection_tables(database_url)
    assert Ledger.migrate(database_url) == (SCHEMA_VERSION, SCHEMA_VERSION)
    ledger = Ledger(database_url)
    try:
        Projections.create(ledger).close()  # the projection's part of `ledger migrate`
    finally:
        ledger.close()
    assert "proj_events" in _projection_tables(database_url)


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
    assert set(PROJECTION_TABLES) <= _projection_tables(database_url)


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


def _move_projection_into_the_ledger_file(url: str) -> None:
    """Take a SQLite ledger back to the layout before the projection had a file of its
    own: its tables (as made, with their rows) and its tracking position in the
    ledger's file, and no projection file."""
    path = _projection_file(url)
    assert path is not None
    with closing(sqlite3.connect(url.removeprefix("sqlite:"))) as db, db:
        db.execute("ATTACH DATABASE ? AS p", (str(path),))
        made = db.execute(
            "SELECT sql FROM p.sqlite_master WHERE tbl_name IN (?, ?) AND sql IS NOT NULL"
            " ORDER BY type DESC",
            PROJECTION_TABLES,
        ).fetchall()
        for (statement,) in made:  # the tables first ("table" > "index"), then their indexes
            db.execute(statement)
        for table in PROJECTION_TABLES:
            db.execute(f"INSERT INTO main.{table} SELECT * FROM p.{table}")
        db.execute(
            "INSERT INTO main.tracking SELECT * FROM p.tracking WHERE application_name=?",
            (NAME,),
        )
    with closing(sqlite3.connect(url.removeprefix("sqlite:"))) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        name.unlink(missing_ok=True)


def _ledger_file_rows(url: str, query: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(url.removeprefix("sqlite:"))) as db:
        return db.execute(query).fetchall()


def test_migrate_moves_a_sqlite_projection_out_of_the_ledger_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ledger from before the projection had its own file: every view asks for
    `ledger migrate`, which makes the file, drops the old tables from the ledger's
    file, and says so; the projection then rebuilds the same state from the log."""
    url = f"sqlite:{tmp_path / 'ledger.db'}"
    world = build_world(url)
    projections = Projections(world.ledger)
    size = projections.catch_up()
    before = dump(outputs(projections.store(), []))
    projections.close()
    world.ledger.close()
    _move_projection_into_the_ledger_file(url)
    assert set(PROJECTION_TABLES) <= _tables(url)
    assert _ledger_file_rows(url, "SELECT COUNT(*) FROM proj_events") == [(size,)]
    path = _projection_file(url)
    monkeypatch.setenv("LEDGER_DATABASE", url)
    directory = str(tmp_path)

    capsys.readouterr()
    assert main(["findings", "-L", directory]) == 1
    assert capsys.readouterr() == (
        "",
        f"ledger: error: {url} has no projection file {path} (run `ledger migrate`)\n",
    )
    assert main(["migrate", "-L", directory]) == 0
    assert capsys.readouterr() == (
        f"{directory}: schema version {SCHEMA_VERSION}, up to date\n"
        f"{directory}: the projection moved out of the ledger's database into {path}; "
        "it is rebuilt from the log by the next `ledger project` (or `ledger serve`, "
        "or any view)\n",
        "",
    )
    assert not set(PROJECTION_TABLES) & _tables(url)
    assert _ledger_file_rows(
        url, f"SELECT * FROM tracking WHERE application_name='{NAME}'"
    ) == []  # fmt: skip
    assert set(PROJECTION_TABLES) <= _projection_tables(url)
    assert main(["project", "-L", directory]) == 0
    assert capsys.readouterr().out == f"projection at position {size}\n"
    ledger = Ledger(url)
    try:
        projections = Projections(ledger)
        assert dump(outputs(projections.store(), [])) == before
        assert dump(outputs(replay(ledger), []), sort_keys=True) == dump(
            json.loads(before), sort_keys=True
        )
        projections.close()
    finally:
        ledger.close()
    # Run again: nothing left to move.
    assert main(["migrate", "-L", directory]) == 0
    assert capsys.readouterr().out == f"{directory}: schema version {SCHEMA_VERSION}, up to date\n"
