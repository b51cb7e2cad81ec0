"""The logs a witness follows: ``logs.json`` in its directory (docs/format.md 8.15).

One UTF-8 JSON object::

    {"format": "ledger-witness-logs/v1",
     "logs": [{"origin": "<checkpoint origin line>", "keys": ["<vkey>", ...]}, ...]}

Each origin once, each with one or more Ed25519 note verifier keys (type 0x01);
a checkpoint of that origin is accepted when any one of them signed it. The
origin need not be a key's name (sum.golang.org signs ``go.sum database tree``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ledger.errors import ConfigurationError, LedgerError
from ledger.format.note import SIG_TYPE_ED25519, Verifier
from ledger.log.witness import check_origin, write_durably

__all__ = ["LOGS_FILE", "LOGS_FORMAT", "follow", "read_followed"]

LOGS_FILE = "logs.json"
LOGS_FORMAT = "ledger-witness-logs/v1"


def _log_key(vkey: str) -> Verifier:
    verifier = Verifier.parse(vkey)
    if verifier.sig_type != SIG_TYPE_ED25519:
        raise ConfigurationError(f"log key {verifier.name} is not an Ed25519 note key (type 0x01)")
    return verifier


def read_followed(directory: str | os.PathLike[str]) -> dict[str, tuple[Verifier, ...]]:
    """The origins a witness directory follows, each with its log keys; {} if none yet."""
    path = Path(directory) / LOGS_FILE
    try:
        record: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ConfigurationError(f"cannot read {path}: {e}") from e
    if not isinstance(record, dict) or record.get("format") != LOGS_FORMAT:
        raise ConfigurationError(f"{path} is not a {LOGS_FORMAT} file")
    entries = record.get("logs")
    if not isinstance(entries, list):
        raise ConfigurationError(f"{path}: logs must be a list")
    followed: dict[str, tuple[Verifier, ...]] = {}
    for entry in entries:
        try:
            origin, keys = entry["origin"], entry["keys"]
            if not isinstance(origin, str) or not isinstance(keys, list) or not keys:
                raise TypeError("origin must be a string and keys a non-empty list")
            check_origin(origin)
            verifiers = tuple(_log_key(str(k)) for k in keys)
        except (KeyError, TypeError, LedgerError) as e:
            raise ConfigurationError(f"{path}: bad log entry {entry!r}: {e}") from e
        if origin in followed:
            raise ConfigurationError(f"{path}: origin {origin!r} is listed twice")
        followed[origin] = verifiers
    return followed


def follow(directory: str | os.PathLike[str], vkey: str, origin: str | None = None) -> str:
    """Add log key ``vkey`` for ``origin`` (default: the key's name); return the origin.

    The file is replaced atomically and durably. Adding a key already listed
    for that origin changes nothing.
    """
    verifier = _log_key(vkey)
    origin = verifier.name if origin is None else origin
    check_origin(origin)
    followed = read_followed(directory)
    keys = followed.get(origin, ())
    if verifier not in keys:
        followed[origin] = (*keys, verifier)
    record = {
        "format": LOGS_FORMAT,
        "logs": [{"origin": o, "keys": [k.vkey for k in ks]} for o, ks in followed.items()],
    }
    text = json.dumps(record, ensure_ascii=False, indent=1) + "\n"
    try:
        write_durably(Path(directory), LOGS_FILE, text.encode("utf-8"))
    except OSError as e:
        raise ConfigurationError(f"cannot write {Path(directory) / LOGS_FILE}: {e}") from e
    return origin
