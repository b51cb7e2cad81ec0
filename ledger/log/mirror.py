"""``ledger mirror``: copy a tlog-tiles log into a local tile tree, checking before keeping.

One run (:func:`mirror`):

1. fetch ``<url>/checkpoint`` and open it with the log key (signature, origin);
2. compare it with the checkpoint the mirror holds: a smaller tree is refused
   (:class:`~ledger.errors.LogShrankError`), an equal size must carry the same root;
3. fetch, into a staging directory, the tiles and entry bundles the new tree has
   and the mirrored one lacks (``ledger.log.tiles.tiles_of``);
4. check every fetched tile hashes into the new checkpoint's root
   (:func:`~ledger.log.tiles.verify_tiles`), that the new tree extends the mirrored
   one (a consistency proof built from the tiles, RFC 9162 2.1.4.2), and every
   entry against its level-0 tile;
5. only then move the staged files into the mirror, and the checkpoint last.

A refusal leaves the mirror as it was. The mirror is itself a tile tree
(``ledger.log.static``): a web server can serve it and ``ledger verify`` reads it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from ledger.errors import (
    ConfigurationError,
    InconsistentCheckpointError,
    LedgerError,
    LogShrankError,
    ProofError,
    RootMismatchError,
    UnknownEventError,
)
from ledger.format import merkle
from ledger.format.note import Checkpoint, Verifier
from ledger.log import tiles
from ledger.log.proofs import open_checkpoint
from ledger.log.static import CHECKPOINT_FILE, CHECKPOINTS_DIR, DirectoryTiles, write_file

__all__ = ["FETCH_TIMEOUT", "MirrorResult", "mirror"]

FETCH_TIMEOUT = 30.0
"""Seconds to wait for any one response."""

STAGING = ".staging"
"""Where a run keeps what it fetched until it is checked (inside the mirror)."""


@dataclass(frozen=True, slots=True)
class MirrorResult:
    """What one run of :func:`mirror` did."""

    size: int  # tree size now mirrored
    previous: int  # tree size mirrored before
    fetched: int  # tiles and bundles fetched


class _Remote:
    """GETs below one URL prefix; 404 is None, any other failure a LedgerError."""

    def __init__(self, url: str, client: httpx.Client) -> None:
        self.url = url.rstrip("/") + "/"
        self.client = client

    def get(self, path: str) -> bytes | None:
        try:
            response = self.client.get(self.url + path)
        except httpx.HTTPError as e:
            raise ConfigurationError(f"cannot fetch {self.url}{path}: {e}") from e
        if response.status_code == httpx.codes.NOT_FOUND:
            return None
        if response.status_code != httpx.codes.OK:
            raise ConfigurationError(
                f"{self.url}{path} answered {response.status_code} {response.reason_phrase}"
            )
        return response.content

    def fetch(self, path: str, what: str) -> bytes:
        data = self.get(path)
        if data is None:
            raise UnknownEventError(f"{self.url} has no {what} {path} (404)")
        return data


class _Overlay:
    """A TileReader over the staged files first, then the mirror's."""

    def __init__(self, staged: DirectoryTiles, kept: DirectoryTiles) -> None:
        self.staged, self.kept = staged, kept

    def read_tile(self, level: int, index: int, width: int) -> bytes:
        try:
            return self.staged.read_tile(level, index, width)
        except UnknownEventError:
            return self.kept.read_tile(level, index, width)

    def read_entries(self, index: int, width: int) -> bytes:
        try:
            return self.staged.read_entries(index, width)
        except UnknownEventError:
            return self.kept.read_entries(index, width)


def mirror(
    url: str,
    directory: Path,
    log: Verifier,
    *,
    client: httpx.Client | None = None,
    progress: Callable[[int], None] | None = None,
) -> MirrorResult:
    """Bring the mirror in ``directory`` up to the checkpoint ``url`` serves (module
    docstring). Raises a LedgerError, keeping nothing new, when the log's checkpoint
    or tiles do not check out; ``progress`` is called per file fetched."""
    own = client is None
    http = client or httpx.Client(timeout=FETCH_TIMEOUT, follow_redirects=True)
    try:
        return _mirror(_Remote(url, http), directory, log, progress)
    finally:
        if own:
            http.close()


def _mirror(
    remote: _Remote, directory: Path, log: Verifier, progress: Callable[[int], None] | None
) -> MirrorResult:
    note = remote.fetch(CHECKPOINT_FILE, "checkpoint")
    new = _open(note, log, f"{remote.url}{CHECKPOINT_FILE}")
    kept = DirectoryTiles(directory)
    held = kept.checkpoint()
    old = (
        _open(held, log, f"{directory}/{CHECKPOINT_FILE}")
        if held is not None
        else Checkpoint(log.name, 0, merkle.EMPTY_ROOT)
    )
    if new.size < old.size:
        raise LogShrankError(
            f"{remote.url} serves a checkpoint of size {new.size}, smaller than the "
            f"{old.size} already mirrored: refused"
        )
    if new.size == old.size:
        if new.root_hash != old.root_hash:
            raise InconsistentCheckpointError(
                f"{remote.url} serves a checkpoint of size {new.size} with another root than "
                "the one mirrored: a split view, refused"
            )
        if note != held:  # the same tree, perhaps with new cosignatures
            _keep_checkpoints(directory, new.size, note)
        return MirrorResult(new.size, old.size, 0)

    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING, dir=directory))
    try:
        staged = DirectoryTiles(staging)
        reader = _Overlay(staged, kept)
        fresh = list(tiles.tiles_of(new.size, old.size))
        for ref in fresh:
            write_file(staging / ref.path(), remote.fetch(ref.path(), "tile"))
            if progress is not None:
                progress(1)
        tiles.verify_tiles(new.size, new.root_hash, reader, fresh)
        if old.size:
            proof = tiles.consistency_proof(old.size, new.size, reader)
            try:
                merkle.verify_consistency(old.size, new.size, proof, old.root_hash, new.root_hash)
            except ProofError as e:
                raise InconsistentCheckpointError(
                    f"the checkpoint of size {new.size} at {remote.url} does not extend the "
                    f"mirrored one of size {old.size}: refused ({e})"
                ) from e
        for ref in fresh:
            if ref.level != 0:
                continue
            path = tiles.entries_path(ref.index, ref.width)
            bundle = remote.fetch(path, "entry bundle")
            tiles.verify_entry_bundle(
                ref.index, ref.width, bundle, reader.read_tile(0, ref.index, ref.width)
            )
            write_file(staging / path, bundle)
            if progress is not None:
                progress(1)
        # Checked: keep it. Files first, the checkpoint last (ledger.log.static).
        for ref in fresh:
            paths = [ref.path()]
            if ref.level == 0:
                paths.append(tiles.entries_path(ref.index, ref.width))
            for path in paths:
                (directory / path).parent.mkdir(parents=True, exist_ok=True)
                os.replace(staging / path, directory / path)
        _keep_checkpoints(directory, new.size, note)
    except RootMismatchError as e:
        raise RootMismatchError(f"{remote.url}: {e}: refused") from e
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    bundles = sum(1 for ref in fresh if ref.level == 0)
    return MirrorResult(new.size, old.size, len(fresh) + bundles)


def _open(note: bytes, log: Verifier, where: str) -> Checkpoint:
    try:
        return open_checkpoint(note, log)
    except LedgerError as e:
        raise type(e)(f"{where}: {e}") from e


def _keep_checkpoints(directory: Path, size: int, note: bytes) -> None:
    write_file(directory / CHECKPOINTS_DIR / str(size), note)
    write_file(directory / CHECKPOINT_FILE, note)
