"""The HTTP figures of ``python -m bench``: single-envelope POSTs as field devices send them.

``ledger serve`` runs as a child process on a fresh PostgreSQL schema; 16 client
threads submit the envelopes one ``POST /v1/envelopes`` each, phase by phase and
wave by wave (ledger.pilkada.phases), so every statement finds what it depends on.
Beside it, the same envelopes are ingested in process (batches of 1000) into
another fresh schema: ``http_ratio`` is the HTTP rate over that in-process rate.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from ledger.format.statement import Envelope
from ledger.pilkada.phases import phases, shares
from ledger.pilkada.simulate import Simulation
from ledger.server.wire import ENVELOPE_TYPE
from ledger.store.application import Ledger
from ledger.store.home import LedgerHome

CLIENTS = 16
BATCH = 1000
PASSPHRASE = "bench-not-secret"
POSTGRES = os.environ.get("LEDGER_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def _schema() -> Iterator[str]:
    import psycopg

    name = f"bench_{random.getrandbits(48):012x}"
    with psycopg.connect(POSTGRES, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield f"{POSTGRES}?schema={name}"
    finally:
        with psycopg.connect(POSTGRES, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _inprocess(url: str, simulation: Simulation, raws: list[bytes]) -> float:
    ledger = Ledger.create(url, simulation.trust())
    try:
        started = time.perf_counter()
        for i in range(0, len(raws), BATCH):
            ledger.append_batch(raws[i : i + BATCH])
        return len(raws) / (time.perf_counter() - started)
    finally:
        ledger.close()


@contextmanager
def _server(directory: Path) -> Iterator[str]:
    port = _free_port()
    env = dict(os.environ, LEDGER_PASSPHRASE=PASSPHRASE)
    ledger = str(Path(sys.executable).parent / "ledger")
    process = subprocess.Popen(
        [ledger, "serve", str(directory), "--listen", f"127.0.0.1:{port}"],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def http(simulation: Simulation, raws: list[bytes]) -> dict[str, Any]:
    """Submit ``raws`` over HTTP with 16 clients; the rate, p99 latency and ratio."""
    envelopes = [Envelope.parse(raw) for raw in raws]
    with _schema() as url:
        inprocess_rate = _inprocess(url, simulation, raws)
    latencies: list[float] = []
    with _schema() as url, tempfile.TemporaryDirectory(prefix="ledger-bench-http-") as tmp:
        trust = simulation.trust()
        LedgerHome(Path(tmp) / "ledger").create(
            election=trust.election,
            origin=trust.origin,
            kpu_root=trust.kpu_root,
            bawaslu_root=trust.bawaslu_root,
            passphrase=PASSPHRASE.encode(),
            database=url,
            log_key=simulation.scenario.log_key,
        ).close()
        with _server(Path(tmp) / "ledger") as base:
            clients = [httpx.Client(base_url=base, timeout=60) for _ in range(CLIENTS)]

            def send(n: int, share: list[Envelope]) -> list[float]:
                took = []
                for e in share:
                    started = time.perf_counter()
                    response = clients[n].post(
                        "/v1/envelopes", content=e.raw, headers={"Content-Type": ENVELOPE_TYPE}
                    )
                    took.append(time.perf_counter() - started)
                    if response.status_code not in (200, 201):
                        raise RuntimeError(f"HTTP {response.status_code}: {response.text}")
                return took

            started = time.perf_counter()
            with ThreadPoolExecutor(CLIENTS) as pool:
                for _, waves in phases(envelopes):
                    for wave in waves:
                        for took in pool.map(send, range(CLIENTS), shares(wave, CLIENTS)):
                            latencies += took
            seconds = time.perf_counter() - started
            for client in clients:
                client.close()
    rate = len(raws) / seconds
    return {
        "http_events": len(raws),
        "http_submit_per_s": round(rate),
        "http_latency_ms_p50": round(statistics.median(latencies) * 1000, 2),
        "http_latency_ms_p99": round(statistics.quantiles(latencies, n=100)[98] * 1000, 2),
        "http_inprocess_per_s": round(inprocess_rate),
        "http_ratio": round(rate / inprocess_rate, 3),
    }
