"""The log as a static file tree (c2sp.org/tlog-tiles), and a tree read back as an export.

A *tile tree* is a directory laid out as tlog-tiles serves a log: ``checkpoint``
(the latest signed checkpoint, with its cosignatures), ``tile/<L>/<N>[.p/<W>]``
and ``tile/entries/<N>[.p/<W>]``. Beside them, outside the spec, ``checkpoints/<size>``
keeps every checkpoint the tree has held, so that a verifier replays them all.
``ledger tiles`` writes one from a ledger (``ledger.log.publish``), ``ledger mirror``
copies one from a server (``ledger.log.mirror``), any web server serves one, and
``ledger verify`` reads one (:func:`export_stream`).

Every file is written to a temporary name and renamed into place, and the
``checkpoint`` file last: a reader that sees a checkpoint finds all its tiles.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ledger.errors import (
    CheckpointError,
    FormatError,
    LedgerError,
    UnknownEventError,
)
from ledger.format import merkle
from ledger.format.exportfile import ExportWriter, trust_record
from ledger.format.note import Checkpoint
from ledger.format.trust import TrustRoots
from ledger.log import tiles

__all__ = [
    "CHECKPOINTS_DIR",
    "CHECKPOINT_FILE",
    "DirectoryTiles",
    "export_stream",
    "read_file",
    "write_file",
]

CHECKPOINT_FILE = "checkpoint"
"""The latest checkpoint (tlog-tiles ``<prefix>/checkpoint``)."""

CHECKPOINTS_DIR = "checkpoints"
"""Every checkpoint the tree has held, by size (outside tlog-tiles)."""


def write_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (a temporary file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_file(path: Path) -> bytes | None:
    """The bytes of ``path``; None if it does not exist, FormatError if it cannot be read."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise FormatError(f"cannot read {path}: {e.strerror}") from e


class DirectoryTiles:
    """A :class:`~ledger.log.tiles.TileReader` over a tile tree on disk."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _read(self, path: str, what: str) -> bytes:
        data = read_file(self.root / path)
        if data is None:
            raise UnknownEventError(f"{self.root} has no {what} {path}")
        return data

    def read_tile(self, level: int, index: int, width: int) -> bytes:
        # tlog-tiles lets a log drop a partial tile once the full one exists:
        # then the partial tile is the full one's prefix.
        path = self.root / tiles.tile_path(level, index, width)
        if width < tiles.TILE_WIDTH and not path.exists():
            full = read_file(self.root / tiles.tile_path(level, index))
            if full is not None:
                return full[: width * merkle.HASH_SIZE]
        return self._read(tiles.tile_path(level, index, width), "tile")

    def read_entries(self, index: int, width: int) -> bytes:
        path = self.root / tiles.entries_path(index, width)
        if width < tiles.TILE_WIDTH and not path.exists():
            full = read_file(self.root / tiles.entries_path(index))
            if full is not None:
                return tiles.encode_entry_bundle(tiles.decode_entry_bundle(full)[:width])
        return self._read(tiles.entries_path(index, width), "entry bundle")

    def checkpoint(self) -> bytes | None:
        """The latest checkpoint, or None in an empty tree."""
        return read_file(self.root / CHECKPOINT_FILE)

    def checkpoints(self) -> list[tuple[int, bytes]]:
        """Every checkpoint kept in ``checkpoints/``, by size, with the latest one
        (the ``checkpoint`` file wins over a copy of its size)."""
        found: dict[int, bytes] = {}
        folder = self.root / CHECKPOINTS_DIR
        if folder.is_dir():
            for entry in folder.iterdir():
                if entry.name.isdigit() and (entry.name == "0" or entry.name[0] != "0"):
                    found[int(entry.name)] = entry.read_bytes()
        latest = self.checkpoint()
        if latest is not None:
            found[_size_of(latest)] = latest
        return sorted(found.items())


def _size_of(note: bytes) -> int:
    """The size a checkpoint note states (unverified: for ordering only)."""
    try:
        text = note.decode().split("\n\n", 1)[0] + "\n"
        return Checkpoint.parse(text).size
    except (UnicodeDecodeError, LedgerError) as e:
        raise CheckpointError(f"not a checkpoint note: {e}") from e


# --- reading a tree as an export ------------------------------------------------------


class _ChunkReader(io.RawIOBase):
    """A readable binary stream over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = chunk
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def export_stream(root: Path, trust: TrustRoots) -> IO[bytes]:
    """A tile tree as the export file (docs/format.md) the verifier reads.

    A tree carries no header: the trust roots given stand in for it (every
    checkpoint is still checked against the log key in them). Events are the
    entries of the bundles up to the latest checkpoint's size, each checkpoint of
    ``checkpoints/`` right after the event that completes its size. Nothing is
    trusted: the verifier recomputes every root from the entries. A missing or
    malformed bundle raises FormatError from the stream's read, which the
    verifier reports (and then the missing end record).
    """
    reader = DirectoryTiles(root)
    if reader.checkpoint() is None:
        raise FormatError(f"{root} is not a tile tree (it has no {CHECKPOINT_FILE} file)")
    checkpoints = reader.checkpoints()

    def chunks() -> Iterator[bytes]:
        buffer = io.BytesIO()
        writer = ExportWriter(buffer)

        def flush() -> bytes:
            data = buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            return data

        writer.header(trust_record(trust))
        pending = iter(checkpoints)
        current = next(pending, None)
        size = checkpoints[-1][0]
        leaf = 0
        while True:
            while current is not None and current[0] == leaf:
                writer.checkpoint(current[1])
                current = next(pending, None)
            yield flush()
            if leaf >= size:
                break
            index = leaf // tiles.TILE_WIDTH
            width = tiles.tile_width(size, 0, index)
            try:
                entries = tiles.decode_entry_bundle(reader.read_entries(index, width))
            except LedgerError as e:
                raise FormatError(f"the tile tree is cut short: {e}") from e
            if len(entries) != width:
                raise FormatError(
                    f"the tile tree is cut short: {tiles.entries_path(index, width)} "
                    f"holds {len(entries)} entries"
                )
            for entry in entries:
                writer.event(leaf, entry)
                leaf += 1
                while current is not None and current[0] == leaf:
                    writer.checkpoint(current[1])
                    current = next(pending, None)
            yield flush()
        writer.end()
        yield flush()

    return io.BufferedReader(_ChunkReader(chunks()))
