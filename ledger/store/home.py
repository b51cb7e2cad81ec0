"""A ledger directory: where the CLI finds a ledger's database, log key and trust roots.

Layout of ``DIR``:

* ``ledger.toml``: ``database = "sqlite:ledger.db"`` (a path relative to DIR, or a
  ``postgresql://`` URL) and ``election``;
* ``log.key`` / ``log.pub``: the log's Ed25519 key (passphrase-encrypted PKCS#8),
  which signs checkpoints and receipts;
* ``trust.json``: the trust roots pinned at creation, in the form verifiers take
  with ``--trust`` (docs/format.md, "Trust roots file"), embedding the trust
  policy (c2sp.org/tlog-policy) that needs every witness named at creation.
"""

from __future__ import annotations

import json
import os
import shutil
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from keys import KeyDir, generate, save_private_key, save_public_key
from ledger.errors import ConfigurationError, LedgerError
from ledger.format.note import (
    SIG_TYPE_COSIGNATURE_V1,
    SIG_TYPE_ED25519,
    NoteSigner,
    Verifier,
    is_valid_key_name,
)
from ledger.format.policy import policy_text
from ledger.format.trust import TrustRoots, trust_to_json
from ledger.store.application import Ledger

__all__ = ["LedgerHome"]

CONFIG = "ledger.toml"
TRUST = "trust.json"
LOG_KEY = "log"


class LedgerHome:
    """One ledger directory (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    @property
    def config(self) -> dict[str, Any]:
        try:
            return tomllib.loads((self.path / CONFIG).read_text())
        except FileNotFoundError as e:
            raise ConfigurationError(
                f"{self.path} is not a ledger directory (no {CONFIG}; run `ledger create`)"
            ) from e
        except (OSError, UnicodeDecodeError, RecursionError, tomllib.TOMLDecodeError) as e:
            raise ConfigurationError(f"{self.path / CONFIG}: {type(e).__name__}: {e}") from e

    @property
    def database_url(self) -> str:
        return self._resolve(
            os.environ.get("LEDGER_DATABASE") or str(self.config.get("database", ""))
        )

    def _resolve(self, url: str) -> str:
        """A SQLite path relative to the ledger directory, made absolute."""
        if url.startswith("sqlite:") and not os.path.isabs(url.removeprefix("sqlite:")):
            url = f"sqlite:{self.path / url.removeprefix('sqlite:')}"
        return url

    def create(
        self,
        *,
        election: str,
        origin: str,
        kpu_root: bytes,
        bawaslu_root: bytes,
        passphrase: bytes,
        database: str = "sqlite:ledger.db",
        log_key: Ed25519PrivateKey | None = None,
        witnesses: Sequence[str] = (),
    ) -> Ledger:
        """Create the directory, its log key and its ledger; refuse to reuse one.

        ``witnesses`` (cosignature vkeys) go into the trust policy trust.json
        embeds, which then needs all of them; without any, trust.json embeds no
        policy and verifiers must be given one (``--policy``).
        """
        if not is_valid_key_name(origin):
            raise ConfigurationError(f"origin {origin!r} is not a valid C2SP key name")
        if (self.path / CONFIG).exists():
            raise ConfigurationError(f"{self.path} already holds a ledger")
        for vkey in witnesses:
            if Verifier.parse(vkey).sig_type != SIG_TYPE_COSIGNATURE_V1:
                raise ConfigurationError(f"witness {vkey} is not a cosignature/v1 key")
        key = log_key or generate()
        signer = NoteSigner(key, origin, SIG_TYPE_ED25519)
        trust = TrustRoots(
            election=election,
            kpu_root=kpu_root,
            bawaslu_root=bawaslu_root,
            log_vkey=signer.verifier.vkey,
            origin=origin,
        )
        # The database first: if it cannot be created, no file is left behind
        # that would make a retry refuse ("already holds a ledger").
        made = not self.path.exists()
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            ledger = Ledger.create(self._resolve(database), trust)
        except LedgerError:
            if made:
                shutil.rmtree(self.path, ignore_errors=True)
            raise
        keydir = KeyDir(self.path)
        save_private_key(keydir.private_path(LOG_KEY), key, passphrase)
        save_public_key(keydir.public_path(LOG_KEY), key.public_key())
        policy = policy_text(trust.log_vkey, witnesses) if witnesses else None
        (self.path / TRUST).write_text(trust_to_json(trust, policy=policy))
        (self.path / CONFIG).write_text(
            f"database = {json.dumps(database)}\nelection = {json.dumps(election)}\n"
        )
        return ledger

    def open(self) -> Ledger:
        return Ledger(self.database_url)

    def log_signer(self, passphrase: bytes, trust: TrustRoots) -> NoteSigner:
        """The log's signer, checked against the pinned log verifier key."""
        key = KeyDir(self.path).load(LOG_KEY, passphrase)
        signer = NoteSigner(key, trust.origin, SIG_TYPE_ED25519)
        if signer.verifier.vkey != trust.log_vkey:
            raise ConfigurationError(f"{self.path}/log.key is not the key this ledger pinned")
        return signer
