"""``ledger serve``: run the service with uvicorn, in one or several processes.

Each worker process opens the ledger itself (ledger.server.app); what they share
is handed down through the environment: the ledger directory, the log key's
passphrase (read once, here) and Prometheus's multiprocess directory. Beside them
runs one projection follower (projections.follow, what ``ledger project --follow``
runs), started before the workers and stopped after them, so the live projection
keeps up with the log off the request path. A SQLite
ledger is served by one process: SQLite serialises writers per file, and the
embedded default is not meant to carry several; PostgreSQL ledgers take several,
whose appends the database's advisory lock serialises.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from ledger.errors import ConfigurationError
from ledger.store.home import LedgerHome

__all__ = ["parse_listen", "serve"]


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (an IPv6 host in brackets) as (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigurationError(f"--listen {value!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def serve(
    directory: Path,
    listen: str,
    *,
    workers: int,
    passphrase: bytes,
    body_timeout_s: float | None = None,
    checkpoint_interval_s: float | None = None,
    announce: Callable[[str], None] | None = None,
    checkpoint_leaves: int | None = None,
    witness_timeout_s: float | None = None,
    witness_urls: Sequence[str] = (),
) -> None:
    """Serve the ledger in ``directory`` until interrupted (checks come first).

    ``announce`` is called with the URL of the public pages once the checks passed.
    ``witness_urls`` are ``NAME=URL`` values (``--witness-url``): the submission
    prefix of the trust policy's witness NAME, where the policy gives none.
    """
    host, port = parse_listen(listen)
    if workers < 1:
        raise ConfigurationError("--workers must be at least 1")
    from ledger.log.checkpointer import CheckpointSchedule
    from ledger.server.policy import parse_witness_urls, server_policy
    from ledger.server.projection import open_projections

    urls = parse_witness_urls(list(witness_urls))
    defaults = CheckpointSchedule()
    CheckpointSchedule(  # refuse a bad schedule here, once, not in every worker
        checkpoint_interval_s or defaults.interval_s,
        defaults.leaves if checkpoint_leaves is None else checkpoint_leaves,
        witness_timeout_s or defaults.timeout_s,
    )

    home = LedgerHome(directory)
    ledger = home.open()
    try:
        home.log_signer(passphrase, ledger.trust)  # a wrong passphrase fails here, once
        policy = server_policy(directory, ledger.trust.log_vkey)
        for name, _ in urls:
            if policy is None or name not in policy.witnesses:
                raise ConfigurationError(
                    f"--witness-url {name}: the trust policy of {directory} names no such witness"
                )
        backend = ledger.config.backend
        database_url = ledger.config.url
        # A projection that is not there (an old SQLite layout: `ledger migrate`)
        # is refused here, once, rather than in every worker.
        open_projections(ledger).close()
    finally:
        ledger.close()
    if backend == "sqlite" and workers > 1:
        raise ConfigurationError(
            "a SQLite ledger is served by one process: use --workers 1, or a PostgreSQL ledger for more"
        )
    os.environ["LEDGER_SERVER_DIR"] = str(directory.resolve())
    os.environ["LEDGER_LOG_PASSPHRASE"] = os.fsdecode(passphrase)
    if body_timeout_s is not None:
        os.environ["LEDGER_SERVER_BODY_TIMEOUT"] = str(body_timeout_s)
    if checkpoint_interval_s is not None:
        os.environ["LEDGER_SERVER_CHECKPOINT_INTERVAL"] = str(checkpoint_interval_s)
    if checkpoint_leaves is not None:
        os.environ["LEDGER_SERVER_CHECKPOINT_LEAVES"] = str(checkpoint_leaves)
    if witness_timeout_s is not None:
        os.environ["LEDGER_SERVER_WITNESS_TIMEOUT"] = str(witness_timeout_s)
    os.environ["LEDGER_SERVER_WITNESS_URLS"] = json.dumps(urls)
    # A dead PostgreSQL should answer 503 within seconds, not hang a request
    # (eventsourcing tries a lost connection up to 10 times, each this long).
    os.environ.setdefault("POSTGRES_CONNECT_TIMEOUT", "2")
    import uvicorn

    if announce is not None:
        announce(f"http://{f'[{host}]' if ':' in host else host}:{port}/")

    from projections import follow

    follower = follow.start(directory, database_url)
    # uvicorn answers SIGTERM with a graceful shutdown, then raises the signal again
    # (one process), so the process still ends as terminated: caught here as an
    # exception instead, the follower is stopped before the process ends that way.
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    terminated = False
    try:
        with tempfile.TemporaryDirectory(prefix="ledger-metrics-") as metrics_dir:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
            uvicorn.run(
                "ledger.server.app:app_from_environment",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                log_level=os.environ.get("LEDGER_SERVER_LOG_LEVEL", "warning"),
                access_log=False,
                timeout_graceful_shutdown=10,
            )
    except _Terminated:
        terminated = True
    finally:
        signal.signal(signal.SIGTERM, previous)
        follow.stop(follower)
    if terminated:
        signal.raise_signal(signal.SIGTERM)


class _Terminated(BaseException):  # like KeyboardInterrupt: no `except Exception` takes it
    """SIGTERM, as uvicorn passes it on once it has shut down."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise _Terminated
