"""Publishing a live ledger's log as a static tile tree (c2sp.org/tlog-tiles).

The tree's layout, its atomic file writes and reading it back are
ledger.log.static (which reads no ledger); this module writes one from the
log of a live ledger (``ledger tiles``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ledger.errors import (
    CheckpointError,
    InconsistentCheckpointError,
    LedgerError,
    LogShrankError,
    UnknownEventError,
)
from ledger.log import tiles
from ledger.log.proofs import open_checkpoint
from ledger.log.static import (
    CHECKPOINT_FILE,
    CHECKPOINTS_DIR,
    DirectoryTiles,
    read_file,
    write_file,
)
from ledger.log.tlog import TransparencyLog

__all__ = ["WriteResult", "write_tile_tree"]


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one run of :func:`write_tile_tree` did."""

    size: int  # the tree size of the checkpoint now published
    previous: int  # the size published before this run (0 for a new tree)
    files: int  # tiles, bundles and checkpoints written


def write_tile_tree(
    log: TransparencyLog, out: Path, *, progress: Callable[[int], None] | None = None
) -> WriteResult:
    """Bring the tile tree in ``out`` up to the log's latest checkpoint.

    Incremental: only the tiles and bundles that are new since the checkpoint
    ``out`` already publishes are written, and for every checkpoint issued since
    then its partial tiles, so every checkpoint's tree can be fetched (tlog-tiles,
    "Partial Tiles"). Refuses (writing nothing) when ``out`` publishes a checkpoint
    of another log, a larger one, or one the log's stored tree does not extend.
    ``progress`` is called with the number of files written as they are.
    """
    verifier = log.log_verifier
    stored = log.store.checkpoints()
    if not stored:
        raise UnknownEventError("the log has no checkpoint yet (run `ledger checkpoint issue`)")
    published = DirectoryTiles(out).checkpoint()
    previous = 0
    if published is not None:
        try:
            old = open_checkpoint(published, verifier)
        except LedgerError as e:
            raise CheckpointError(
                f"{out}/{CHECKPOINT_FILE} is not a checkpoint of this log: {e}"
            ) from e
        latest = open_checkpoint(stored[-1][1], verifier)
        if old.size > latest.size:
            raise LogShrankError(
                f"{out} publishes a checkpoint of size {old.size}; the log's latest is {latest.size}"
            )
        if old.size and log.root(old.size) != old.root_hash:
            raise InconsistentCheckpointError(
                f"{out} publishes a checkpoint of size {old.size} this log's tree does not extend"
            )
        previous = old.size
    files = 0

    def put(path: str, data: bytes) -> None:
        nonlocal files
        write_file(out / path, data)
        files += 1
        if progress is not None:
            progress(1)

    since = previous
    for size, note in stored:
        if size > since:
            for ref in tiles.tiles_of(size, since):
                assert ref.level is not None
                put(ref.path(), log.read_tile(ref.level, ref.index, ref.width))
                if ref.level == 0:
                    put(
                        tiles.entries_path(ref.index, ref.width),
                        log.read_entry_bundle(ref.index, ref.width),
                    )
            since = size
        # Checkpoints gain cosignatures after they are issued: keep each current.
        path = out / CHECKPOINTS_DIR / str(size)
        if read_file(path) != note:
            put(f"{CHECKPOINTS_DIR}/{size}", note)
    if published != stored[-1][1]:
        put(CHECKPOINT_FILE, stored[-1][1])
    return WriteResult(since, previous, files)
