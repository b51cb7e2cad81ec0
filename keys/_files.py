"""Ed25519 signing keys: ids, key files, passphrases and key directories.

Every statement in the ledger is signed with an Ed25519 key and names its signer
by :func:`key_id`, the SHA-256 of the raw 32-byte public key. This module is the
only place that touches key material on disk, so that the rules below hold
everywhere:

* private keys are stored only passphrase-encrypted (PKCS#8 PEM), mode 0600;
* key files are never overwritten: losing an officer's signing key is worse than
  a failed command, so an existing file is an error, not something to replace;
* files appear atomically (temp file in the same directory, fsync, then a
  no-clobber link), so a crash leaves either the old state or a complete file;
* passphrases come from the environment or a terminal, never from argv, where
  they would be visible in ``ps`` and shell history;
* every failure from ``cryptography`` or the OS becomes a :class:`KeyFileError`
  (or :class:`ConfigurationError`) naming the file.
"""

from __future__ import annotations

import getpass
import os
import re
import sys
import tempfile
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from ledger.errors import ConfigurationError, KeyFileError
from ledger.format.statement import key_id as statement_key_id

RAW_PUBLIC_KEY_SIZE = 32
"""Length of a raw Ed25519 public key (RFC 8032 5.1.5)."""

MAX_KEY_FILE_SIZE = 1 << 16
"""Largest key file read (64 KiB; an encrypted Ed25519 PEM is under 400 bytes)."""

PRIVATE_KEY_MODE = 0o600
PUBLIC_KEY_MODE = 0o644

_NAME = re.compile(r"[A-Za-z0-9._-]+")


# --- keys and ids --------------------------------------------------------------------


def generate() -> Ed25519PrivateKey:
    """Return a fresh Ed25519 private key from the OS random source."""
    return Ed25519PrivateKey.generate()


def raw_public_key(key: Ed25519PublicKey | Ed25519PrivateKey) -> bytes:
    """Return the raw 32-byte public key: the form that is hashed into ids and put on the wire.

    A private key is accepted too, so callers holding a signer need not derive
    the public half first.
    """
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _check_raw_size(raw: bytes) -> None:
    if len(raw) != RAW_PUBLIC_KEY_SIZE:
        raise KeyFileError(
            f"raw Ed25519 public key must be {RAW_PUBLIC_KEY_SIZE} bytes, got {len(raw)}"
        )


def public_key_from_raw(raw: bytes) -> Ed25519PublicKey:
    """Parse a raw 32-byte public key, as found in statements and grants."""
    _check_raw_size(raw)
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, UnsupportedAlgorithm) as e:
        raise KeyFileError(f"invalid raw Ed25519 public key: {e}") from e


def key_id(public_key: Ed25519PublicKey | bytes) -> bytes:
    """Return the 32-byte signer id: SHA-256 of the raw 32-byte public key.

    Hashing the raw key (not a PEM or DER encoding) makes the id independent of
    how the key happens to be stored, so every implementation derives the same id.
    """
    if isinstance(public_key, bytes):
        _check_raw_size(public_key)
        raw = public_key
    else:
        raw = raw_public_key(public_key)
    return statement_key_id(raw)


def key_id_hex(public_key: Ed25519PublicKey | bytes) -> str:
    """Return :func:`key_id` as lowercase hex, the form shown to people and in file names."""
    return key_id(public_key).hex()


# --- files ---------------------------------------------------------------------------


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` holding ``data`` atomically, failing if it already exists.

    The temp file is created in the destination directory (so the final step is
    a same-filesystem rename-like operation), gets its mode before any data is
    written, and is fsynced. It is published with ``os.link``, which, unlike
    ``os.replace``, fails if the destination exists: two concurrent writers
    cannot silently destroy each other's key. The directory is fsynced so the
    new name survives a crash.
    """
    directory = path.parent
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as e:
        raise KeyFileError(f"cannot write key file {path}: {e.strerror or e}") from e
    tmp = Path(tmp_name)
    try:
        try:
            with os.fdopen(fd, "wb") as f:
                os.fchmod(f.fileno(), mode)
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.link(tmp, path)
        except FileExistsError as e:
            raise KeyFileError(f"key file {path} already exists") from e
        except OSError as e:
            raise KeyFileError(f"cannot write key file {path}: {e.strerror or e}") from e
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    """Flush a directory entry to disk; best effort where directories cannot be opened."""
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_KEY_FILE_SIZE + 1)
    except FileNotFoundError as e:
        raise KeyFileError(f"key file {path} does not exist") from e
    except OSError as e:
        raise KeyFileError(f"cannot read key file {path}: {e.strerror or e}") from e
    if len(data) > MAX_KEY_FILE_SIZE:
        raise KeyFileError(f"key file {path} is over the limit of {MAX_KEY_FILE_SIZE:,} bytes")
    return data


def _check_passphrase(passphrase: bytes) -> None:
    if not isinstance(passphrase, bytes):
        raise KeyFileError("passphrase must be bytes")
    if not passphrase:
        raise KeyFileError("empty passphrase: private keys are only stored encrypted")


def save_private_key(
    path: str | os.PathLike[str], key: Ed25519PrivateKey, passphrase: bytes
) -> None:
    """Write ``key`` to a new file as passphrase-encrypted PKCS#8 PEM, mode 0600.

    ``BestAvailableEncryption`` currently means PBKDF2-HMAC-SHA256 (2048 rounds)
    and AES-256-CBC: the file is only as safe as the passphrase is long.
    """
    _check_passphrase(passphrase)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    _write_new(Path(path), pem, PRIVATE_KEY_MODE)


def load_private_key(path: str | os.PathLike[str], passphrase: bytes) -> Ed25519PrivateKey:
    """Read and decrypt a private key file written by :func:`save_private_key`.

    Unencrypted key files are refused: accepting them would let a key that was
    copied around in the clear pass silently.
    """
    path = Path(path)
    _check_passphrase(passphrase)
    data = _read(path)
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError as e:  # password given for an unencrypted key
        raise KeyFileError(f"key file {path} is not passphrase-encrypted") from e
    except (ValueError, UnsupportedAlgorithm) as e:
        raise KeyFileError(
            f"cannot decrypt key file {path}: wrong passphrase or corrupt file"
        ) from e
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"key file {path} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def save_public_key(path: str | os.PathLike[str], key: Ed25519PublicKey) -> None:
    """Write ``key`` to a new file as SubjectPublicKeyInfo PEM (what openssl reads), mode 0644."""
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_new(Path(path), pem, PUBLIC_KEY_MODE)


def load_public_key(path: str | os.PathLike[str]) -> Ed25519PublicKey:
    """Read a SubjectPublicKeyInfo PEM file holding an Ed25519 public key."""
    path = Path(path)
    data = _read(path)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as e:
        raise KeyFileError(f"cannot parse public key file {path}: {e}") from e
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"key file {path} holds a {type(key).__name__}, not an Ed25519 key")
    return key


# --- passphrases ---------------------------------------------------------------------


def passphrase_from(env_var: str | None, prompt: str, *, confirm: bool = False) -> bytes:
    """Return a passphrase from ``$env_var`` if set, else from the terminal.

    There is deliberately no way to pass the passphrase itself: command-line
    arguments leak through ``ps`` and shell history. The environment serves
    unattended runs; a terminal serves people. With ``confirm`` (creating a
    key) the passphrase is asked twice, because a typo would lock the key away.
    """
    if env_var is not None and env_var in os.environ:
        value = os.fsencode(os.environ[env_var])
        if not value:
            raise KeyFileError(f"no passphrase: ${env_var} is set but empty")
        return value
    if not sys.stdin.isatty():
        hint = f"set ${env_var} or " if env_var is not None else ""
        raise KeyFileError(f"no passphrase: {hint}run on a terminal")
    try:
        first = getpass.getpass(prompt)
        if confirm and getpass.getpass("Repeat " + prompt.lstrip()) != first:
            raise KeyFileError("passphrases do not match")
    except EOFError as e:
        raise KeyFileError("no passphrase: end of input at the prompt") from e
    value = first.encode("utf-8")
    if not value:
        raise KeyFileError("no passphrase: empty passphrase entered")
    return value


# --- key directories -----------------------------------------------------------------


class KeyDir:
    """A directory of named keys: ``<name>.key`` (encrypted) next to ``<name>.pub``.

    Names are restricted to ``[A-Za-z0-9._-]+`` and may not start with a dot, so
    a name can never climb out of the directory, hide its files, or collide
    with the dot-prefixed temp files used while writing.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    @staticmethod
    def _check_name(name: str) -> None:
        if not _NAME.fullmatch(name) or name.startswith("."):
            raise KeyFileError(
                f"invalid key name {name!r}: use letters, digits, '.', '_' and '-', "
                "not starting with '.'"
            )

    def private_path(self, name: str) -> Path:
        """Return the path of ``name``'s encrypted private key file."""
        self._check_name(name)
        return self.path / f"{name}.key"

    def public_path(self, name: str) -> Path:
        """Return the path of ``name``'s public key file."""
        self._check_name(name)
        return self.path / f"{name}.pub"

    def create(self, name: str, passphrase: bytes) -> Ed25519PrivateKey:
        """Generate a key called ``name`` and write both of its files.

        Both paths are checked before anything is written, and the private key
        file is removed again if the public one cannot be written, so a failure
        leaves the directory as it was.
        """
        key_path, pub_path = self.private_path(name), self.public_path(name)
        _check_passphrase(passphrase)
        for p in (key_path, pub_path):
            if p.exists():
                raise KeyFileError(f"key file {p} already exists")
        if self.path.exists() and not self.path.is_dir():
            raise ConfigurationError(f"key directory {self.path} is not a directory")
        try:
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigurationError(
                f"cannot create key directory {self.path}: {e.strerror or e}"
            ) from e
        key = generate()
        save_private_key(key_path, key, passphrase)
        try:
            save_public_key(pub_path, key.public_key())
        except BaseException:
            key_path.unlink(missing_ok=True)
            raise
        return key

    def load(self, name: str, passphrase: bytes) -> Ed25519PrivateKey:
        """Decrypt ``name``'s private key, checking it against ``<name>.pub`` if present.

        The check catches a ``.pub`` that was swapped or copied from another key,
        which would otherwise make others trust the wrong signer id.
        """
        key = load_private_key(self.private_path(name), passphrase)
        pub_path = self.public_path(name)
        if pub_path.exists():
            pub = load_public_key(pub_path)
            if raw_public_key(pub) != raw_public_key(key):
                raise KeyFileError(
                    f"public key file {pub_path} does not match private key file "
                    f"{self.private_path(name)}"
                )
        return key

    def public(self, name: str) -> Ed25519PublicKey:
        """Read ``name``'s public key; needs no passphrase."""
        return load_public_key(self.public_path(name))

    def names(self) -> list[str]:
        """Return the sorted names that have a ``.key`` or ``.pub`` file here."""
        try:
            entries = list(self.path.iterdir())
        except FileNotFoundError as e:
            raise ConfigurationError(f"key directory {self.path} does not exist") from e
        except OSError as e:
            raise ConfigurationError(
                f"cannot list key directory {self.path}: {e.strerror or e}"
            ) from e
        found = {
            p.stem
            for p in entries
            if p.suffix in (".key", ".pub")
            and _NAME.fullmatch(p.stem)
            and not p.stem.startswith(".")
        }
        return sorted(found)
