"""The web view's figures of ``python -m bench``: server time of the public pages.

A region of the real 2024 data is simulated and built by the demo pipeline
(ledger.pilkada.demo.build: ingest, witnessed checkpoint, projection) on SQLite,
served by ``ledger serve`` as a child process, and its election, contest (at every
level of the drill-down) and TPS pages are fetched at random. The time is the
server's own (the ``Server-Timing`` header: reading the projection and rendering),
not the network's. The first render of each contest and level after the log grew
computes the sums the pages then share (ledger.web.cache): those are reported apart
(``web_cold_ms_max``), the p99s are of the renders after them. ``--web-region`` picks the region: a regency by default (Blora,
the demo), a province (``33``, Jawa Tengah) for a large one.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from ledger.pilkada.demo import build
from ledger.pilkada.simulate import Simulation
from projections import views

PASSPHRASE = "bench-not-secret"
SEED = 17
_TIMING = re.compile(r"render;dur=([0-9.]+)")


def _p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def _server_ms(client: httpx.Client, path: str) -> float:
    response = client.get(path)
    if response.status_code != 200:
        raise RuntimeError(f"GET {path}: HTTP {response.status_code}")
    match = _TIMING.search(response.headers.get("server-timing", ""))
    if match is None:
        raise RuntimeError(f"GET {path}: no Server-Timing header")
    return float(match.group(1))


def web(region: str, samples: int) -> dict[str, Any]:
    """Build ``region``, serve it, and time ``samples`` fetches of each page kind."""
    from ledger.store.home import LedgerHome
    from projections.recorder import Projections

    with tempfile.TemporaryDirectory(prefix="ledger-bench-web-") as tmp:
        directory = Path(tmp) / "ledger"
        started = time.perf_counter()
        result = build(Simulation(region, seed=SEED), directory, passphrase=PASSPHRASE.encode())
        build_seconds = time.perf_counter() - started
        ledger = LedgerHome(directory).open()
        try:
            store = Projections(ledger).store()
            contests = [c["id"] for c in views.contests(store)]
            villages = {c: [r["region"] for r in views.totals(store, c, "desa")] for c in contests}
            tps = [t["tps"] for t in store.scan("tps")]
        finally:
            ledger.close()
        rng = random.Random(SEED)

        def contest_path() -> str:
            contest = rng.choice(contests)
            village = rng.choice(villages[contest])
            parts = village.split(".")
            depth = rng.randint(len(contest.split("-", 1)[1].split(".")), 4)
            return f"/contest/{contest}/{'.'.join(parts[:depth])}"

        kinds = {
            "election": lambda: "/",
            "contest": contest_path,
            "tps": lambda: f"/tps/{rng.choice(tps)}",
        }
        figures: dict[str, list[float]] = {kind: [] for kind in kinds}
        port = _free_port()
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "ledger"),
                "serve",
                str(directory),
                "--listen",
                f"127.0.0.1:{port}",
            ],
            env=dict(os.environ, LEDGER_PASSPHRASE=PASSPHRASE),
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
                _wait(client)
                # The first render after the log grew computes the sums the pages share
                # (ledger.web.cache): timed apart, as cold, once per page kind and level.
                client.get("/healthz")
                cold = [_server_ms(client, "/")]
                for contest in contests:
                    village = villages[contest][0]
                    top = len(contest.split("-", 1)[1].split("."))
                    cold += [
                        _server_ms(client, f"/contest/{contest}/{'.'.join(village.split('.')[:n])}")
                        for n in range(top, 5)
                    ]
                for _ in range(samples):
                    for kind, path in kinds.items():
                        figures[kind].append(_server_ms(client, path()))
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    p99 = {kind: _p99(values) for kind, values in figures.items()}
    return {
        "web_region": region,
        "web_events": result.events,
        "web_tps": len(tps),
        "web_build_s": round(build_seconds, 1),
        "web_samples": samples,
        "web_cold_ms_max": round(max(cold), 2),
        **{f"web_{kind}_ms_p99": round(value, 2) for kind, value in p99.items()},
        "web_page_ms_p99": round(max(p99.values()), 2),
    }


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait(client: httpx.Client) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if client.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("ledger serve did not start")
