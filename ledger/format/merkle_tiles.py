"""Merkle tree hashes grouped in tiles: the storage model of the log (c2sp.org/tlog-tiles).

This module is pure: it does no I/O of its own. It is shared by the store (which
keeps one row per tile) and by the tlog-tiles reader and writer in
``ledger.log.tiles`` (which serve and fetch the same bytes).

Tiles
    Tile ``(level, index)`` is the concatenation of up to :data:`TILE_WIDTH`
    consecutive hashes of complete subtrees of height ``TILE_HEIGHT * level``: hash
    ``i`` is MTH(D[(index * 256 + i) * 256**level : (index * 256 + i + 1) * 256**level]).
    At level 0 these are leaf hashes. A full tile holds 256 hashes (8,192 bytes); the
    rightmost tile of each level holds fewer (a *partial* tile) and only grows: a
    hash once in a tile never changes.

Nodes from tiles
    Every complete subtree ``(level, index)`` of :mod:`ledger.format.merkle` is a
    perfect subtree inside one tile: with ``level = 8 t + r``, it is the root of the
    ``2**r`` hashes at positions ``[(index << r) mod 256, +2**r)`` of tile
    ``(t, (index << r) >> 8)``. :class:`TiledNodeReader` answers
    :meth:`~ledger.format.merkle.NodeReader.read_nodes` that way, so roots and
    proofs read one tile per node at most, fetched in one call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from hashlib import sha256
from typing import Protocol

from ledger.format.merkle import HASH_SIZE, NODE_PREFIX, NodeId, node_hash

__all__ = [
    "TILE_BYTES",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "TileHashReader",
    "TileId",
    "TiledNodeReader",
    "perfect_root",
    "tile_appends",
    "tile_hashes",
    "tile_width",
]

TILE_HEIGHT = 8
"""Tree levels a tile spans (c2sp.org/tlog-tiles fixes it at 8)."""

TILE_WIDTH = 1 << TILE_HEIGHT
"""Hashes in a full tile: 256."""

TILE_BYTES = TILE_WIDTH * HASH_SIZE
"""Bytes of a full tile: 8,192."""

TileId = tuple[int, int]
"""``(tile level, tile index)``; see the module docstring."""


def tile_width(size: int, level: int, index: int) -> int:
    """Hashes tile ``(level, index)`` holds in the tree of ``size`` leaves (0 if none).

    c2sp.org/tlog-tiles, "Partial Tiles": the rightmost tile of a level holds
    ``floor(size / 256**level) mod 256`` hashes. Preconditions: all arguments >= 0.
    """
    count = size >> (TILE_HEIGHT * level)
    return max(0, min(TILE_WIDTH, count - index * TILE_WIDTH))


def tile_hashes(data: bytes) -> list[bytes]:
    """Split tile bytes into hashes. Precondition: ``len(data)`` is a multiple of 32."""
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def perfect_root(hashes: Sequence[bytes]) -> bytes:
    """Root of a perfect subtree over ``hashes`` (a power of two of them, at least one).

    Used for a full tile's hash in the tile above (RFC 9162 2.1.1 with every split
    in the middle). ``ValueError`` if the count is not a power of two.
    """
    count = len(hashes)
    if count == 0 or count & (count - 1):
        raise ValueError(f"a perfect subtree has a power of two of hashes, not {count}")
    row = list(hashes)
    while len(row) > 1:
        row = [node_hash(row[i], row[i + 1]) for i in range(0, len(row), 2)]
    return row[0]


class TileHashReader(Protocol):
    """Batch access to stored tiles (each possibly partial)."""

    def read_tile_hashes(self, ids: Sequence[TileId]) -> Sequence[bytes]:
        """Return the stored bytes of tiles ``ids``, in order (a tile may hold fewer
        than 256 hashes). Raises :class:`LookupError` if a tile is not stored."""
        ...


class TiledNodeReader:
    """A :class:`~ledger.format.merkle.NodeReader` over a :class:`TileHashReader`."""

    __slots__ = ("_tiles",)

    def __init__(self, tiles: TileHashReader) -> None:
        self._tiles = tiles

    def read_nodes(self, ids: Sequence[NodeId]) -> Sequence[bytes]:
        """Each node's hash, folded from its tile; one read of the distinct tiles.

        ``LookupError`` if a tile is missing or does not yet hold the node's hashes.
        """
        if not ids:
            return []
        # Node (level, index), level = 8 t + r, is hash ``at`` = index mod 2**(8 - r)
        # of level r above tile (t, index >> (8 - r)) (see the module docstring).
        places: list[tuple[TileId, int, int]] = []
        for level, index in ids:
            t, r = divmod(level, TILE_HEIGHT)
            shift = TILE_HEIGHT - r
            places.append(((t, index >> shift), r, index & ((1 << shift) - 1)))
        wanted = list(dict.fromkeys([tile for tile, _, _ in places]))
        stored = self._tiles.read_tile_hashes(wanted)
        if len(stored) != len(wanted):
            raise LookupError(f"tile reader returned {len(stored)} tiles for {len(wanted)} ids")
        tiles = dict(zip(wanted, stored, strict=True))
        folded: dict[TileId, tuple[tuple[bytes, ...], ...]] = {}
        out: list[bytes] = []
        for (tile, r, at), node in zip(places, ids, strict=True):
            data = tiles[tile]
            if r == 0:  # a hash of the tile itself
                if (at + 1) * HASH_SIZE <= len(data):
                    out.append(data[at * HASH_SIZE : (at + 1) * HASH_SIZE])
                    continue
            else:
                if tile not in folded:
                    folded[tile] = _tile_levels(data)
                above = folded[tile]
                if r <= len(above) and at < len(above[r - 1]):
                    out.append(above[r - 1][at])
                    continue
            raise LookupError(
                f"Merkle node {node} is not stored: tile {tile} holds "
                f"{len(data) // HASH_SIZE} hashes"
            )
        return out


# Tiles folded, by content: the tiles near the top of a large tree are in every
# proof, and the same bytes always fold the same. About 26 KiB a full tile (its
# bytes and its 255 digests as objects); keyed by the bytes themselves (a growing
# tile is new bytes), so an entry is never stale.
_FOLDED_TILES = 1024


@lru_cache(maxsize=_FOLDED_TILES)
def _tile_levels(data: bytes) -> tuple[tuple[bytes, ...], ...]:
    """Every complete level above a tile's hashes, bottom up: item ``r - 1`` holds
    the roots of the tile's aligned runs of ``2**r`` hashes, as many as are
    complete (a full tile's item 7 is its root; a tile of one hash has none).

    The proofs' hot loop: a proof's random bottom tile is folded whole (255 hashes
    of a full tile), so each level is one comprehension over a local ``sha256``,
    the first hashing 64-byte slices of the tile and the rest pairs of digests.
    :func:`perfect_root` is the plain definition it is tested against.
    """
    sha, prefix = sha256, NODE_PREFIX
    pair = 2 * HASH_SIZE
    row = tuple(
        [
            sha(prefix + data[i : i + pair]).digest()
            for i in range(0, len(data) - len(data) % pair, pair)
        ]
    )
    levels = [row]
    while len(row) > 1:
        pairs = iter(row)  # zipped with itself: (0, 1), (2, 3)...; an odd last is left
        row = tuple([sha(prefix + a + b).digest() for a, b in zip(pairs, pairs, strict=False)])
        levels.append(row)
    # Tuples of bytes, which the collector stops tracking at its first pass over
    # them: a full cache adds nothing to its later passes.
    return tuple(levels) if row else ()


def tile_appends(nodes: Iterable[tuple[int, int, bytes]]) -> dict[TileId, tuple[int, bytes]]:
    """Group newly completed nodes into the tile bytes they add.

    ``nodes`` are ``(level, index, hash)`` as :meth:`~ledger.format.merkle.CompactRange.append`
    reports them; only levels that are multiples of :data:`TILE_HEIGHT` are tile
    hashes, the rest are folded again from tiles when read. Returns, per tile, the
    position of its first new hash and the new hashes' bytes. ``ValueError`` if the
    nodes of one tile are not consecutive (they always are, appended in order).
    """
    out: dict[TileId, tuple[int, bytearray]] = {}
    for level, index, value in nodes:
        t, r = divmod(level, TILE_HEIGHT)
        if r:
            continue
        tile = (t, index // TILE_WIDTH)
        position = index % TILE_WIDTH
        if tile not in out:
            out[tile] = (position, bytearray())
        start, data = out[tile]
        if start + len(data) // HASH_SIZE != position:
            raise ValueError(f"node ({level}, {index}) is not next in tile {tile}")
        data += value
    return {tile: (start, bytes(data)) for tile, (start, data) in out.items()}
