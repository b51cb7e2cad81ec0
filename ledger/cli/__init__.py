"""The ``ledger`` command.

Each group of subcommands lives in its own module and registers itself on the
parser; this module owns the one thing they share: user errors (any
:class:`~ledger.errors.LedgerError`) are printed as one line on stderr, without
a traceback, and the command exits non-zero. So are the database's own failures
(a SQLite file locked by another writer for longer than the lock timeout, a
PostgreSQL server gone): the command did not complete, and says why in one line.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Sequence

from eventsourcing.persistence import PersistenceError

from ledger.errors import LedgerError

__all__ = ["main"]

EXIT_FAILURE = 1


def build_parser() -> argparse.ArgumentParser:
    from ledger.cli import (
        _core,
        _demo,
        _dossier,
        _log,
        _monitor,
        _remote,
        _report,
        _results,
        _tiles,
        _verify,
        _views,
    )

    parser = argparse.ArgumentParser(
        prog="ledger",
        description="Signed, hash-chained, transparency-logged tallies of Indonesian elections.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (
        _demo,
        _core,
        _remote,
        _log,
        _views,
        _results,
        _verify,
        _dossier,
        _report,
        _tiles,
        _monitor,
    ):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.handler(args)
    except LedgerError as e:
        print(f"ledger: error: {e}", file=sys.stderr)
        return EXIT_FAILURE
    except _database_errors() as e:
        print(f"ledger: error: the database failed: {_one_line(e)}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("ledger: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_FAILURE
    return result


def _database_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a database driver (or eventsourcing, wrapping one) raises."""
    errors: tuple[type[BaseException], ...] = (PersistenceError, sqlite3.Error)
    try:
        import psycopg
    except ImportError:
        return errors
    return (*errors, psycopg.Error)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
