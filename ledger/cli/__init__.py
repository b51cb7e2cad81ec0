"""The ``ledger`` command.

Each group of subcommands lives in its own module and registers itself on the
parser; this module owns the one thing they share: user errors (any
:class:`~ledger.errors.LedgerError`) are printed as one line on stderr, without
a traceback, and the command exits non-zero.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ledger.errors import LedgerError

__all__ = ["main"]

EXIT_FAILURE = 1


def build_parser() -> argparse.ArgumentParser:
    from ledger.cli import _core, _log

    parser = argparse.ArgumentParser(
        prog="ledger",
        description="Signed, hash-chained, transparency-logged tallies of Indonesian elections.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (_core, _log):
        module.register(commands)
    _register_optional(commands)
    return parser


def _register_optional(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Command groups that arrive with later layers (projections, verifier, demo)."""
    import importlib

    for name in ("_views", "_verify", "_demo", "_dossier", "_report"):
        try:
            module = importlib.import_module(f"ledger.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"ledger.cli.{name}":
                raise
            continue
        module.register(commands)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.handler(args)
    except LedgerError as e:
        print(f"ledger: error: {e}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("ledger: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_FAILURE
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
