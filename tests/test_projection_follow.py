"""The live projection in a process of its own (projections.follow).

Real processes on each backend: ``ledger project --follow`` projects what another
process appends, stops cleanly on SIGTERM or SIGINT, and, killed outright, is
resumed from its tracking position to the state a rebuild gives (and a replay).
On SQLite the projection's page transaction leaves the ledger's write lock free:
another process appends while one is open. Projectors racing for one page: the
one that commits second writes nothing. ``ledger serve`` runs a follower beside
its workers and stops it; the simulator's pipeline projects while it ingests.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.cli import main
from ledger.format.regions import sheet_stream
from ledger.pilkada.demo import build
from ledger.pilkada.simulate import Faults, Simulation
from ledger.store.application import Ledger
from ledger.store.home import LedgerHome
from ledger.store.persistence import StorageConfig
from projections.recorder import Projections, projection_path, replay
from tests.projection_cases import dump, outputs, table_rows
from tests.servers import LEDGER, PASSPHRASE, Server, make_home, server_env
from tests.world import BUPATI, TPS, build_world, home_world, tally

REGION = "11.71"  # Banda Aceh: 2,700 events
DEADLINE_S = 180.0  # a bound on waiting for another process (the machine may be loaded)


# --- helpers -----------------------------------------------------------------------------


def _database(database_url: str) -> str:
    """What ledger.toml names: the SQLite file in the directory, or the PostgreSQL URL."""
    return "sqlite:ledger.db" if database_url.startswith("sqlite:") else database_url


@pytest.fixture
def home(tmp_path: Path, database_url: str) -> Path:
    """A ledger directory for the Banda Aceh simulation, nothing appended yet."""
    return make_home(tmp_path / "home", Simulation(REGION).scenario, _database(database_url))


def _append_simulation(directory: Path, batch: int = 250) -> int:
    """Append the simulation from this process (not the follower's); the log's size."""
    ledger = LedgerHome(directory).open()
    try:
        raws = [e.raw for e in Simulation(REGION, seed=3, faults=Faults.each(1)).envelopes()]
        for start in range(0, len(raws), batch):
            ledger.append_batch(raws[start : start + batch])
        return ledger.log_store.log_size()
    finally:
        ledger.close()


def _env() -> dict[str, str]:
    env = server_env()
    env.pop("LEDGER_DATABASE", None)
    return env


def _follower(directory: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [LEDGER, "project", "--follow", "-L", str(directory), *args],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _position(directory: Path) -> int:
    ledger = LedgerHome(directory).open()
    try:
        projections = Projections(ledger)
        try:
            return projections.position()
        finally:
            projections.close()
    finally:
        ledger.close()


def _wait_until(what: str, done: Callable[[], bool], process: Any = None) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not done():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"exited {process.returncode} before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} after {DEADLINE_S} s")
        time.sleep(0.01)


def _same_as_a_rebuild_and_a_replay(directory: Path) -> None:
    """The projection's stored rows are a rebuild's, and its views a replay's."""
    ledger = LedgerHome(directory).open()
    projections = Projections(ledger)
    try:
        assert projections.position() == ledger.log_store.log_size()
        followed = table_rows(projections.recorder)
        live = dump(outputs(projections.store(), []), sort_keys=True)
        projections.rebuild()
        assert table_rows(projections.recorder) == followed
        assert dump(outputs(replay(ledger), []), sort_keys=True) == live
    finally:
        projections.close()
        ledger.close()


def followers_of(directory: Path) -> list[int]:
    """The live processes following ``directory`` (as `ledger serve` starts them)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"projections.follow" in argv and os.fsencode(str(directory)) in argv:
            found.append(int(entry.name))
    return found


# --- the follower process ----------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_follower_projects_what_another_process_appends_and_stops_on_a_signal(
    home: Path, signum: signal.Signals
) -> None:
    follower = _follower(home, "--page", "100")
    try:
        size = _append_simulation(home)  # meanwhile, the follower projects as it grows
        _wait_until("caught up", lambda: _position(home) == size, follower)
        follower.send_signal(signum)
        out, err = follower.communicate(timeout=DEADLINE_S)
    finally:
        follower.kill()
        follower.wait()
    assert (follower.returncode, out, err) == (0, f"projection at position {size}\n", "")
    _same_as_a_rebuild_and_a_replay(home)


def test_a_killed_follower_resumes_from_its_position_to_the_state_of_a_rebuild(
    home: Path,
) -> None:
    size = _append_simulation(home)
    follower = _follower(home, "--page", "40")
    try:
        _wait_until("part way", lambda: _position(home) > 0, follower)
        follower.send_signal(signal.SIGKILL)  # most likely in a page's transaction
        follower.wait(timeout=DEADLINE_S)
    finally:
        follower.kill()
        follower.wait()
    killed_at = _position(home)
    assert killed_at > 0
    follower = _follower(home, "--page", "40")
    try:
        _wait_until("caught up", lambda: _position(home) == size, follower)
        follower.send_signal(signal.SIGTERM)
        out, _ = follower.communicate(timeout=DEADLINE_S)
    finally:
        follower.kill()
        follower.wait()
    assert (follower.returncode, out) == (0, f"projection at position {size}\n")
    _same_as_a_rebuild_and_a_replay(home)


def test_the_follow_command_refuses_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LEDGER_DATABASE", raising=False)
    assert main(["project", "--follow", "-L", str(tmp_path)]) == 1
    assert capsys.readouterr().err == (
        f"ledger: error: {tmp_path} is not a ledger directory (no ledger.toml; "
        "run `ledger create`)\n"
    )
    assert main(["project", "--page", "0", "-L", str(tmp_path)]) == 1
    assert capsys.readouterr().err == "ledger: error: --page must be at least 1\n"


# --- the ledger's write lock (SQLite) -----------------------------------------------------


def test_a_projection_page_leaves_the_sqlite_ledger_free_to_append(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process appends while a page's transaction holds its writes: the
    projection's file is not the ledger's, so the append waits for nothing (with the
    projection in the ledger's file it waited for SQLite's lock, then failed)."""
    directory = tmp_path / "home"
    world = home_world(directory, f"sqlite:{directory / 'ledger.db'}", PASSPHRASE)
    envelope = tmp_path / "count.env"
    envelope.write_bytes(world.scenario.count(world.keys["kpps"], BUPATI, TPS, tally()).raw)
    size = world.ledger.log_store.log_size()
    projections = Projections(world.ledger)
    recorder: Any = projections.recorder
    original = recorder._insert_tracking
    appended: list[subprocess.CompletedProcess[str]] = []

    def append_meanwhile(cursor: Any, tracking: Any) -> None:
        original(cursor, tracking)  # the page is written, not committed
        appended.append(
            subprocess.run(
                [LEDGER, "submit", "-L", str(directory), str(envelope)],
                env=_env(),
                capture_output=True,
                text=True,
                timeout=DEADLINE_S,
                check=False,
            )
        )

    monkeypatch.setattr(recorder, "_insert_tracking", append_meanwhile)
    try:
        assert projections.project_page() == size
    finally:
        projections.close()
    [run] = appended
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"accepted: {sheet_stream(BUPATI, TPS)} seq 1\n")
    assert world.ledger.log_store.log_size() == size + 1
    world.ledger.close()


# --- projectors racing for one page -------------------------------------------------------


@pytest.fixture
def racing(database_url: str) -> Iterator[tuple[Ledger, Projections, Projections]]:
    world = build_world(database_url)
    first, second = Projections(world.ledger), Projections(world.ledger)
    try:
        yield world.ledger, first, second
    finally:
        first.close()
        second.close()
        world.ledger.close()


def test_a_page_another_projector_committed_first_is_not_written(
    racing: tuple[Ledger, Projections, Projections], monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger, first, second = racing
    commit = second.recorder.commit

    def first_commits_meanwhile(*args: Any, **kwargs: Any) -> None:
        assert first.project_page(3) == 3  # from the position the second one read too
        commit(*args, **kwargs)

    monkeypatch.setattr(second.recorder, "commit", first_commits_meanwhile)
    assert second.project_page(5) == 0
    monkeypatch.undo()
    assert second.position() == 3
    assert second.catch_up(page=4) == ledger.log_store.log_size()
    rows = table_rows(second.recorder)
    first.rebuild()
    assert table_rows(second.recorder) == rows


def test_a_page_projected_across_a_reset_is_not_written(
    racing: tuple[Ledger, Projections, Projections], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuild's reset while a follower projects a page: the page (projected from
    the state the reset forgot) is dropped, not written onto the empty projection."""
    ledger, first, second = racing
    assert second.project_page(5) == 5
    commit = second.recorder.commit

    def reset_meanwhile(*args: Any, **kwargs: Any) -> None:
        first.recorder.reset()
        commit(*args, **kwargs)

    monkeypatch.setattr(second.recorder, "commit", reset_meanwhile)
    assert second.project_page(5) == 0
    monkeypatch.undo()
    assert second.position() == 0 and table_rows(second.recorder)["proj_events"] == []
    assert second.catch_up(page=4) == ledger.log_store.log_size()
    rows = table_rows(second.recorder)
    first.rebuild()
    assert table_rows(second.recorder) == rows


# --- beside `ledger serve` -----------------------------------------------------------------


def test_serve_runs_a_follower_and_stops_it_with_itself(home: Path) -> None:
    """Appended while nobody reads, the log is projected all the same (by the
    follower); SIGTERM to the server alone stops the follower before it exits."""
    with Server(home) as server:
        assert server.process is not None
        _wait_until("following", lambda: len(followers_of(home)) == 1, server.process)
        size = _append_simulation(home)
        _wait_until("projected", lambda: _position(home) == size, server.process)
        os.kill(server.process.pid, signal.SIGTERM)  # the server, not its process group
        # It ends as terminated, as it did before it had a follower, and only once the
        # follower has ended.
        assert server.process.wait(timeout=DEADLINE_S) == -signal.SIGTERM, server.output()
        assert followers_of(home) == []
    _same_as_a_rebuild_and_a_replay(home)


def test_a_follower_stops_when_its_server_is_killed_outright(tmp_path: Path) -> None:
    directory = make_home(tmp_path / "home", Simulation(REGION).scenario)
    server = Server(directory).start().wait_ready()
    try:
        assert server.process is not None
        _wait_until("following", lambda: len(followers_of(directory)) == 1, server.process)
        os.kill(server.process.pid, signal.SIGKILL)  # its follower is not told
        server.process.wait(timeout=DEADLINE_S)
        _wait_until("gone", lambda: followers_of(directory) == [])
    finally:
        with contextlib.suppress(ProcessLookupError):  # nothing left in its group
            server.kill()


# --- the simulator's pipeline -------------------------------------------------------------


def test_the_pipeline_projects_while_it_ingests(tmp_path: Path, database_url: str) -> None:
    directory = tmp_path / "sim"
    simulation = Simulation("33.16.09", seed=3)
    result = build(
        simulation,
        directory,
        passphrase=b"test",
        now=1_733_000_000,
        database=_database(database_url),
    )
    assert result.report.ok, result.report.failures
    assert list(result.seconds) == [
        "ingest",
        "project",
        "checkpoint",
        "totals and findings",
        "export",
        "verify",
    ]
    assert 0 <= result.projected_at_ingest <= result.events
    assert followers_of(directory) == []
    if database_url.startswith("sqlite:"):
        assert Path(
            projection_path(StorageConfig.parse(LedgerHome(directory).database_url))
        ).exists()
    _same_as_a_rebuild_and_a_replay(directory)


def test_simulate_says_how_far_the_projection_followed(tmp_path: Path) -> None:
    run = subprocess.run(
        [LEDGER, "simulate", str(tmp_path / "sim"), "--region", "33.16.09", "--json"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=DEADLINE_S * 2,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert 0 <= out["projected_at_ingest"] <= out["events"]
    assert out["project_per_s"] >= 0 and "project" in out["seconds"]
