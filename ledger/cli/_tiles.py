"""The log as static tiles: publish (``tiles``), copy (``mirror``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ledger.cli._common import Commands
from ledger.format.jsoninput import read_limited
from ledger.format.note import Verifier
from ledger.format.trust import trust_from_json
from ledger.log.mirror import mirror
from ledger.log.publish import write_tile_tree
from ledger.log.tlog import TransparencyLog
from ledger.progress import Progress
from ledger.store.home import LedgerHome


def register(commands: Commands) -> None:
    p = commands.add_parser(
        "tiles",
        help="write the log as static c2sp.org/tlog-tiles files, up to its latest checkpoint",
    )
    p.add_argument("ledger", metavar="DIR", help="ledger directory")
    p.add_argument("out", metavar="OUT", help="directory to write (updated incrementally)")
    p.set_defaults(handler=cmd_tiles)

    p = commands.add_parser(
        "mirror", help="copy a tlog-tiles log (URL) into DIR, checking every new checkpoint"
    )
    p.add_argument("url", metavar="URL", help="the log's URL prefix (serving /checkpoint)")
    p.add_argument("directory", metavar="DIR", help="the mirror (updated incrementally)")
    p.add_argument("--trust", required=True, metavar="ROOTS", help="trust roots file (trust.json)")
    p.set_defaults(handler=cmd_mirror)


def cmd_tiles(args: argparse.Namespace) -> int:
    with LedgerHome(args.ledger).open() as ledger, Progress("writing tiles") as progress:
        result = write_tile_tree(TransparencyLog(ledger), Path(args.out), progress=progress.advance)
    print(
        f"tiles: {args.out} publishes the checkpoint of size {result.size:,} "
        f"(was {result.previous:,}); {result.files:,} files written"
    )
    return 0


def cmd_mirror(args: argparse.Namespace) -> int:
    trust = trust_from_json(read_limited(args.trust, "trust roots file"))
    log = Verifier.parse(trust.log_vkey)
    with Progress("mirroring") as progress:
        result = mirror(args.url, Path(args.directory), log, progress=progress.advance)
    print(
        f"mirror: {args.directory} holds the checkpoint of size {result.size:,} "
        f"(was {result.previous:,}); {result.fetched:,} files fetched and checked"
    )
    return 0
