"""``python -m bench.ingest``: the append path alone, measured in ways a loaded machine
does not distort much.

The first ``--events`` statements of the national simulation are appended to a fresh
ledger in groups of ``--group`` envelopes (8 is what the server's group commit forms
under 16 clients; 1000 is the bench's bulk batch), on SQLite and, when it answers,
on PostgreSQL. For each it prints wall events/s, the main thread's CPU µs per event
(process time, which other processes' load changes little), and the database
statements executed per group (each one a round trip on PostgreSQL), counted by
cProfile in a second, profiled run. ``--profile N`` prints the top N functions of
that profile by own time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import tempfile
import time
from itertools import islice
from pathlib import Path
from typing import Any

from bench.http import _schema
from ledger.pilkada.simulate import Simulation
from ledger.store.application import Ledger

# The database driver entry points that each send one statement.
_EXECUTES = ("execute", "executemany")


def _append_all(url: str, simulation: Simulation, raws: list[bytes], group: int) -> Ledger:
    ledger = Ledger.create(url, simulation.trust())
    for i in range(0, len(raws), group):
        ledger.append_batch(raws[i : i + group])
    return ledger


def _measure(
    url_factory: Any, simulation: Simulation, raws: list[bytes], group: int, top: int
) -> dict[str, Any]:
    with url_factory() as url:
        wall, cpu = time.perf_counter(), time.process_time()
        _append_all(url, simulation, raws, group).close()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    profile = cProfile.Profile()
    with url_factory() as url:
        profile.enable()
        _append_all(url, simulation, raws, group).close()
        profile.disable()
    stats = pstats.Stats(profile)
    statements = sum(
        calls
        for (_, _, name), (calls, *_rest) in stats.stats.items()  # type: ignore[attr-defined]
        if name in _EXECUTES or name.endswith((".execute'>", ".executemany'>"))
    )
    result: dict[str, Any] = {
        "events_per_s": round(len(raws) / wall),
        "cpu_us_per_event": round(cpu / len(raws) * 1e6),
        "statements_per_group": round(statements / ((len(raws) + group - 1) // group), 1),
    }
    if top:
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(top)
        result["profile"] = out.getvalue()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--group", type=int, action="append")
    parser.add_argument("--profile", type=int, default=0)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    simulation = Simulation("", seed=2024)
    raws = [e.raw for e in islice(simulation.envelopes(), args.events)]
    workdir = Path(tempfile.mkdtemp(prefix="ledger-bench-ingest-"))
    counter = iter(range(1_000_000))

    from contextlib import contextmanager

    @contextmanager
    def sqlite() -> Any:
        yield f"sqlite:{workdir / f'ledger{next(counter)}.db'}"

    backends: dict[str, Any] = {"sqlite": sqlite}
    if not args.no_postgres:
        backends["postgres"] = _schema
    result: dict[str, Any] = {"events": len(raws), "load_average": os.getloadavg()}
    for name, factory in backends.items():
        for group in args.group or [8, 1000]:
            figures = _measure(factory, simulation, raws, group, args.profile)
            profile = figures.pop("profile", None)
            result[f"{name}_group_{group}"] = figures
            if profile:
                print(f"--- {name}, groups of {group}\n{profile}")
    result["load_average_after"] = os.getloadavg()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
