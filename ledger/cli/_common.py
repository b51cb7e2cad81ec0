"""What every command group shares: the ledger directory, keys, time, output."""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
import tomllib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from keys import load_private_key, load_public_key, passphrase_from, raw_public_key
from ledger.errors import FormatError, KeyFileError
from ledger.format.jsoninput import MAX_DOCUMENT_SIZE, load_json, read_limited
from ledger.format.note import NoteSigner
from ledger.store.application import Ledger
from ledger.store.home import LedgerHome

PASSPHRASE_ENV = "LEDGER_PASSPHRASE"
LOG_PASSPHRASE_ENV = "LEDGER_LOG_PASSPHRASE"
_PLAIN_WIDTH = 1 << 16  # off a terminal no table is cut to a width: lines are as long as cells

if TYPE_CHECKING:  # argparse's sub-command registry is generic only to type checkers
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Commands = argparse._SubParsersAction


def add_ledger_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-L",
        "--ledger",
        default=os.environ.get("LEDGER_DIR", "."),
        metavar="DIR",
        help="ledger directory (default: $LEDGER_DIR or the current directory)",
    )


def add_key_arg(
    parser: argparse.ArgumentParser, help_text: str = "signer's private key file"
) -> None:
    parser.add_argument(
        "-k",
        "--key",
        required=True,
        metavar="KEYFILE",
        help=f"{help_text} (passphrase from ${PASSPHRASE_ENV} or the terminal)",
    )


def add_json_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


@contextmanager
def open_ledger(args: argparse.Namespace) -> Iterator[Ledger]:
    ledger = LedgerHome(args.ledger).open()
    try:
        yield ledger
    finally:
        ledger.close()


def load_key(path: str) -> Ed25519PrivateKey:
    passphrase = passphrase_from(PASSPHRASE_ENV, f"Passphrase for {path}: ")
    return load_private_key(path, passphrase)


def log_signer(args: argparse.Namespace, ledger: Ledger) -> NoteSigner:
    env = LOG_PASSPHRASE_ENV if LOG_PASSPHRASE_ENV in os.environ else PASSPHRASE_ENV
    passphrase = passphrase_from(env, "Passphrase for the log key: ")
    return LedgerHome(args.ledger).log_signer(passphrase, ledger.trust)


def public_key_arg(value: str) -> bytes:
    """A public key given as a PEM file path, or as 64 hex characters."""
    if len(value) == 64 and all(c in "0123456789abcdef" for c in value.lower()):
        return bytes.fromhex(value)
    return raw_public_key(load_public_key(value))


def signer_time(args: argparse.Namespace) -> int:
    """The statement's time: --time if given, else now (the signer's own claim)."""
    given: int | None = getattr(args, "time", None)
    return int(time.time()) if given is None else given


def add_time_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--time", type=int, metavar="UNIX", help="signer's time to sign (default: now)"
    )


def read_document(path: str) -> dict[str, Any]:
    """A JSON or TOML file (by extension; '-' reads JSON from stdin)."""
    data = read_bytes(path)
    if not path.endswith(".toml"):
        value = load_json(data, path)
    else:
        try:
            value = tomllib.loads(data.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise FormatError(f"{path} is not UTF-8 (byte {e.start})") from e
        except RecursionError as e:  # tomllib is pure Python: nothing but the stack is hurt
            raise FormatError(f"{path} nests arrays or tables too deeply") from e
        except tomllib.TOMLDecodeError as e:
            raise FormatError(f"{path} is not valid TOML: {e}") from e
    if not isinstance(value, dict):
        raise FormatError(f"{path} must hold a table/object")
    return value


def read_bytes(path: str, limit: int = MAX_DOCUMENT_SIZE) -> bytes:
    """The file at ``path`` ('-': stdin), at most ``limit`` bytes (docs/format.md, 1.1)."""
    if path != "-":
        return read_limited(path, "file", limit)
    try:
        data: bytes = sys.stdin.buffer.read(limit + 1)
    except OSError as e:
        raise FormatError(f"cannot read stdin: {e.strerror}") from e
    if len(data) > limit:
        raise FormatError(f"stdin holds over the limit of {limit:,} bytes")
    return data


def write_bytes(path: str, data: bytes) -> None:
    try:
        if path == "-":
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        else:
            Path(path).write_bytes(data)
    except OSError as e:
        raise KeyFileError(f"cannot write {path}: {e.strerror}") from e


def print_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], *, right: Sequence[int] = ()
) -> None:
    """Print an aligned table on stdout; columns listed in ``right`` are right-aligned.

    On a terminal it is a rich table (ruled, bold header, fitted to the terminal);
    elsewhere plain text for pipes and files: columns two spaces apart, the header
    line first, no styling, no line cut or wrapped, no trailing spaces.
    """
    console = Console(highlight=False)
    plain = not console.is_terminal
    grid = Table(
        box=None if plain else box.SIMPLE_HEAD,
        header_style="" if plain else "bold",
        pad_edge=not plain,
        padding=(0, 1),
    )
    for i, header in enumerate(headers):
        grid.add_column(header, justify="right" if i in right else "left")
    for row in rows:
        grid.add_row(*(Text(str(cell)) for cell in row))  # cells are text, never rich markup
    if not plain:
        console.print(grid)
        return
    text = io.StringIO()
    Console(file=text, width=_PLAIN_WIDTH, color_system=None, highlight=False).print(grid)
    for line in text.getvalue().splitlines():
        print(line.rstrip())


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))
