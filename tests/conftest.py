"""Shared fixtures: a fresh database per test on each backend.

PostgreSQL tests use the server named by $LEDGER_TEST_POSTGRES (default
postgresql://postgres@127.0.0.1:5432/test), each test in its own schema, dropped
afterwards. Where no server answers they are skipped with the reason, unless
$LEDGER_REQUIRE_POSTGRES is set (CI sets it), in which case they fail.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PG_BASE = os.environ.get("LEDGER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
VECTORS_DIR = Path(
    os.environ.get("LEDGER_VECTORS_DIR", Path(__file__).resolve().parents[2] / "shared" / "vectors")
)


def _pg_connect():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(PG_BASE, autocommit=True, connect_timeout=3)


def _pg_available() -> str | None:
    """None when the server answers, else the reason it does not."""
    try:
        with _pg_connect():
            return None
    except Exception as e:  # any failure to connect means: no server configured here
        return f"no PostgreSQL server at {PG_BASE} ({type(e).__name__}: {e})".splitlines()[0]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:{tmp_path / 'ledger.db'}"


@contextmanager
def postgres_schema() -> Iterator[str]:
    """The URL of a fresh schema on the test server, dropped afterwards; the test is
    skipped (failed, under $LEDGER_REQUIRE_POSTGRES) where no server answers."""
    reason = _pg_available()
    if reason is not None:
        if os.environ.get("LEDGER_REQUIRE_POSTGRES"):
            pytest.fail(reason)
        pytest.skip(reason)
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with _pg_connect() as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_BASE}?schema={schema}"
    finally:
        with _pg_connect() as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_schema() as url:
        yield url


@pytest.fixture
def other_postgres_url(postgres_url: str) -> Iterator[str]:
    """A second, empty schema beside ``postgres_url`` (for a second ledger)."""
    base, _, schema = postgres_url.partition("?schema=")
    other = f"{schema}_b"
    with _pg_connect() as conn:
        conn.execute(f'CREATE SCHEMA "{other}"')
    try:
        yield f"{base}?schema={other}"
    finally:
        with _pg_connect() as conn:
            conn.execute(f'DROP SCHEMA "{other}" CASCADE')


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """A fresh, empty database on each backend in turn."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


# --- a real static file server ------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """``python -m http.server`` on 127.0.0.1 (a port the OS picks) over a fresh
    directory: the root to write trees into, and its URL."""
    root = tmp_path_factory.mktemp("served")
    server = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N (...) ..."
        match = re.search(r" port (\d+) ", line)
        if match is None:
            pytest.fail(f"the static file server did not start: {line!r}")
        yield root, f"http://127.0.0.1:{match[1]}"
    finally:
        server.terminate()
        server.wait(timeout=10)
