"""Witness commands over the network: ``witness follow`` and ``witness serve``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from keys import KeyDir, passphrase_from
from ledger.cli._common import PASSPHRASE_ENV
from ledger.errors import ConfigurationError, FormatError
from ledger.format.note import SIG_TYPE_COSIGNATURE_V1, NoteSigner
from ledger.log.witness import WITNESS_KEY, Witness

STATE_DIR = "state"


def register(witness_commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``follow`` and ``serve`` to the ``witness`` command group."""
    a = witness_commands.add_parser(
        "follow", help="follow a log: accept its checkpoints signed by this key"
    )
    a.add_argument("directory", metavar="DIR", help="witness directory (from `witness init`)")
    a.add_argument("vkey", metavar="VKEY", help="the log's verifier key (type 0x01)")
    a.add_argument(
        "--origin",
        help="the log's checkpoint origin, if not the key's name (e.g. 'go.sum database tree')",
    )
    a.set_defaults(handler=cmd_witness_follow)
    a = witness_commands.add_parser(
        "serve", help="serve c2sp.org/tlog-witness over HTTP for the logs it follows"
    )
    a.add_argument("directory", metavar="DIR", help="witness directory (from `witness init`)")
    a.add_argument(
        "--listen",
        required=True,
        metavar="HOST:PORT",
        help="address to listen on (port 0: any free port, printed on start)",
    )
    a.set_defaults(handler=cmd_witness_serve)


def _listen_arg(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise FormatError(f"--listen {value!r} is not HOST:PORT")
    return host, int(port)


def witness_signer(directory: Path) -> NoteSigner:
    """The cosigning key of a witness directory (from `ledger witness init`), unlocked."""
    try:
        name = (directory / "name").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigurationError(
            f"{directory} is not a witness directory (run `ledger witness init`)"
        ) from e
    passphrase = passphrase_from(PASSPHRASE_ENV, "Passphrase for the witness key: ")
    key = KeyDir(directory).load(WITNESS_KEY, passphrase)
    return NoteSigner(key, name, SIG_TYPE_COSIGNATURE_V1)


def cmd_witness_follow(args: argparse.Namespace) -> int:
    from ledger.witness_service.config import follow

    origin = follow(args.directory, args.vkey, args.origin)
    print(f"following {origin!r}")
    return 0


def cmd_witness_serve(args: argparse.Namespace) -> int:
    from ledger.witness_service.app import serve
    from ledger.witness_service.config import read_followed

    host, port = _listen_arg(args.listen)
    directory = Path(args.directory)
    followed = read_followed(directory)
    if not followed:
        raise ConfigurationError(f"{directory} follows no log (run `ledger witness follow`)")
    witness = Witness(witness_signer(directory), directory / STATE_DIR, followed)

    def ready(url: str) -> None:
        print(f"witness {witness.verifier.name} listening on {url}", flush=True)

    serve(witness, host, port, clock=lambda: int(time.time()), ready=ready)
    return 0
