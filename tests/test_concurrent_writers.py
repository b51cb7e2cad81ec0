"""Several `ledger submit` processes at once on PostgreSQL (issue 10, finding 4).

Opening a ledger must run no DDL: writers started together meet only the append
path's own errors. Each writer is a real process running the CLI's ``submit``;
they all import first, then wait at a barrier (a file the test creates) so that
their opens and appends overlap as closely as processes can.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from ledger.format.regions import sheet_stream
from ledger.store.application import Ledger
from tests.world import BUPATI, build_world, tally

# Seconds any one step may take before the test fails rather than hangs.
DEADLINE = 90.0
POLL = 0.005
# Rounds of writers, and independent writers per round (plus a racing pair).
ROUNDS = 3
WRITERS = 6

# A writer: import everything, say it is ready, wait for the go file, then submit.
_WRITER = f"""
import os, sys, time
from ledger.cli import main
ready, go = sys.argv[1], sys.argv[2]
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep({POLL!r})
sys.exit(main(["submit", "-L", os.path.dirname(ready), *sys.argv[3:]]))
"""


def _run_together(
    url: str, tmp_path: Path, envelopes: dict[str, bytes]
) -> dict[str, tuple[int, str]]:
    """Submit each envelope from its own process, all released at once."""
    env = dict(os.environ, LEDGER_DATABASE=url)
    go = tmp_path / "go"
    processes = {}
    for name, raw in envelopes.items():
        (tmp_path / f"{name}.env").write_bytes(raw)
        processes[name] = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WRITER,
                str(tmp_path / f"{name}.ready"),
                str(go),
                str(tmp_path / f"{name}.env"),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    try:
        deadline = time.monotonic() + DEADLINE
        while not all((tmp_path / f"{name}.ready").exists() for name in envelopes):
            assert time.monotonic() < deadline, "the writers did not start in time"
            assert all(p.poll() is None for p in processes.values()), "a writer died early"
            time.sleep(POLL)
        go.touch()
        outcomes = {}
        for name, process in processes.items():
            out, err = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
            outcomes[name] = (process.returncode, out + err)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    return outcomes


def test_writers_started_together_meet_only_the_append_paths_errors(
    postgres_url: str, tmp_path: Path
) -> None:
    world = build_world(postgres_url)
    s, k = world.scenario, world.keys
    rounds = []
    for r in range(ROUNDS):
        # Writers with independent statements, each on its own stream (a TPS of
        # its own, with its own KPPS key)...
        independent = {}
        for w in range(WRITERS):
            tps = f"33.16.09.2001/{100 + r * WRITERS + w:03d}"
            key, grant = s.grant(k["kab"], f"kpps-{tps}", "kpps", tps)
            world.append(grant)
            independent[f"writer{w}"] = s.count(key, BUPATI, tps, tally((100 + w, 50)))
        # ...and two racing for seq 1 of one stream.
        tps = f"33.16.09.2001/{900 + r:03d}"
        key, grant = s.grant(k["kab"], f"kpps-{tps}", "kpps", tps)
        world.append(grant)
        contested = sheet_stream(BUPATI, tps)
        first = s.count(key, BUPATI, tps, tally((10, 20)))
        s.chain.follow(contested, 0, bytes(32))
        second = s.count(key, BUPATI, tps, tally((20, 10)))
        rounds.append((independent, contested, first, second))
    size = world.ledger.log_store.log_size()
    world.ledger.close()

    for r, (independent, contested, first, second) in enumerate(rounds):
        directory = tmp_path / f"round{r}"
        directory.mkdir()
        outcomes = _run_together(
            postgres_url,
            directory,
            {name: e.raw for name, e in independent.items()}
            | {"race_a": first.raw, "race_b": second.raw},
        )
        for name, envelope in independent.items():
            code, output = outcomes[name]
            assert code == 0, (name, output)
            assert f"accepted: {envelope.statement.stream} seq 1" in output, (name, output)
        race = sorted(outcomes[name] for name in ("race_a", "race_b"))
        assert [code for code, _ in race] == [0, 1], race
        loser = race[1][1]
        assert loser.startswith("ledger: error: ") and loser.count("\n") == 1, race
        assert (
            f"stream {contested} is at seq 1, statement is for seq 1" in loser
            or "another statement was stored for one of these streams first" in loser
        ), race

    ledger = Ledger(postgres_url)
    try:
        assert ledger.log_store.log_size() == size + ROUNDS * (WRITERS + 1)
        for independent, contested, first, second in rounds:
            for envelope in independent.values():
                assert ledger.head(envelope.statement.stream) == (1, envelope.hash)
            assert ledger.head(contested)[1] in (first.hash, second.hash)
    finally:
        ledger.close()
