"""The log as c2sp.org/tlog-tiles: tile paths, entry bundles, and proofs from tiles.

Pure: no I/O; tiles come from a :class:`TileReader` (a live ledger, a directory, an
HTTP mirror). The spec, in short:

- ``tile/<L>/<N>[.p/<W>]`` is tile ``N`` of level ``L`` (0..63): up to 256 hashes
  of 32 bytes (``ledger.format.merkle_tiles``); ``tile/entries/<N>[.p/<W>]`` is the
  entry bundle of the same leaves as level-0 tile ``N``: each entry a big-endian
  uint16 length and the entry (here: the envelope bytes).
- ``<N>`` is zero-padded 3-digit path elements, all but the last prefixed ``x``
  (1234067 -> ``x001/x234/067``); ``.p/<W>`` (1..255) marks a partial tile of
  ``W`` hashes; full tiles have no suffix.
- The partial tile of level ``L`` in a tree of size ``s`` holds
  ``floor(s / 256**L) mod 256`` hashes; empty tiles do not exist.

Roots and proofs from tiles reuse :mod:`ledger.format.merkle` over
:class:`~ledger.format.merkle_tiles.TiledNodeReader`, so there is one
implementation of RFC 9162 planning in the project.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from ledger.errors import FormatError, RootMismatchError
from ledger.format import merkle
from ledger.format.merkle_tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    TiledNodeReader,
    TileId,
    perfect_root,
    tile_hashes,
    tile_width,
)

__all__ = [
    "MAX_ENTRY_SIZE",
    "MAX_LEVEL",
    "TILE_HASHES",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "TileReader",
    "TileRef",
    "consistency_proof",
    "decode_entry_bundle",
    "encode_entry_bundle",
    "entries_path",
    "inclusion_proof",
    "parse_tile_path",
    "root",
    "tile_path",
    "tile_width",
    "tiles_of",
    "verify_entry_bundle",
    "verify_tiles",
]

TILE_HASHES = TILE_WIDTH
"""Hashes in a full tile (256); the same number as entries in a full bundle."""

MAX_LEVEL = 63
"""Highest tile level a path may name (c2sp.org/tlog-tiles, "Merkle Tree")."""

MAX_ENTRY_SIZE = 0xFFFF
"""Largest entry an entry bundle can hold: its length is a big-endian uint16."""

_LENGTH = struct.Struct(">H")
_LEVEL = re.compile(r"0|[1-9][0-9]?")
_WIDTH = re.compile(r"[1-9][0-9]{0,2}")
_ELEMENT = re.compile(r"x?[0-9]{3}")


@dataclass(frozen=True, slots=True, order=True)
class TileRef:
    """One tile (``level`` >= 0) or entry bundle (``level`` None) of a tree."""

    level: int | None
    index: int
    width: int

    def path(self) -> str:
        if self.level is None:
            return entries_path(self.index, self.width)
        return tile_path(self.level, self.index, self.width)


class TileReader(Protocol):
    """Where tiles come from. Both raise a LedgerError (e.g. UnknownEventError, a
    404) for a tile or bundle the tree does not (yet) hold at that width."""

    def read_tile(self, level: int, index: int, width: int) -> bytes: ...

    def read_entries(self, index: int, width: int) -> bytes: ...


# --- paths ---------------------------------------------------------------------------


def _index_path(index: int) -> str:
    if index < 0:
        raise ValueError(f"tile index must be >= 0, got {index}")
    elements = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        elements.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(elements))


def _suffix(width: int) -> str:
    if not 1 <= width <= TILE_WIDTH:
        raise ValueError(f"tile width must be 1..{TILE_WIDTH}, got {width}")
    return "" if width == TILE_WIDTH else f".p/{width}"


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """``tile/<L>/<N>[.p/<W>]``; ``ValueError`` for a level, index or width out of range."""
    if not 0 <= level <= MAX_LEVEL:
        raise ValueError(f"tile level must be 0..{MAX_LEVEL}, got {level}")
    return f"tile/{level}/{_index_path(index)}{_suffix(width)}"


def entries_path(index: int, width: int = TILE_WIDTH) -> str:
    """``tile/entries/<N>[.p/<W>]``; ``ValueError`` for an index or width out of range."""
    return f"tile/entries/{_index_path(index)}{_suffix(width)}"


def parse_tile_path(path: str) -> tuple[int | None, int, int]:
    """``(level or None for entries, index, width)`` of a tile path; the inverse of
    :func:`tile_path` / :func:`entries_path`.

    Accepts the path with or without one leading ``/``. Only the canonical spelling
    parses (no extra leading zeros, no ``x000`` lead element, no ``.p/256``);
    anything else raises :class:`~ledger.errors.FormatError`.
    """
    parts = path.removeprefix("/").split("/")
    if len(parts) < 3 or parts[0] != "tile":
        raise FormatError(f"{path!r} is not a tile path (tile/<L>/<N>[.p/<W>])")
    level: int | None
    if parts[1] == "entries":
        level = None
    elif _LEVEL.fullmatch(parts[1]) and int(parts[1]) <= MAX_LEVEL:
        level = int(parts[1])
    else:
        raise FormatError(f"{path!r}: tile level must be 0..{MAX_LEVEL} without leading zeros")
    elements = parts[2:]
    width = TILE_WIDTH
    if len(elements) >= 2 and elements[-2].endswith(".p"):
        if not _WIDTH.fullmatch(elements[-1]) or int(elements[-1]) >= TILE_WIDTH:
            raise FormatError(f"{path!r}: a partial tile's width must be 1..{TILE_WIDTH - 1}")
        width = int(elements[-1])
        elements = [*elements[:-2], elements[-2].removesuffix(".p")]
    if not all(_ELEMENT.fullmatch(e) for e in elements) or any(
        e.startswith("x") != (i < len(elements) - 1) for i, e in enumerate(elements)
    ):
        raise FormatError(f"{path!r}: the tile index must be 3-digit elements like x001/x234/067")
    index = int("".join(e.removeprefix("x") for e in elements))
    if _index_path(index) != "/".join(elements):
        raise FormatError(f"{path!r}: the tile index has extra leading zero elements")
    return level, index, width


# --- entry bundles -------------------------------------------------------------------


def encode_entry_bundle(entries: Sequence[bytes]) -> bytes:
    """Each entry as a big-endian uint16 length and its bytes, concatenated.

    :class:`~ledger.errors.FormatError` if an entry exceeds :data:`MAX_ENTRY_SIZE`
    bytes or there are more than 256 entries.
    """
    if len(entries) > TILE_WIDTH:
        raise FormatError(f"an entry bundle holds at most {TILE_WIDTH} entries, not {len(entries)}")
    out = bytearray()
    for i, entry in enumerate(entries):
        if len(entry) > MAX_ENTRY_SIZE:
            raise FormatError(
                f"entry {i} is {len(entry):,} bytes; an entry bundle holds at most "
                f"{MAX_ENTRY_SIZE:,}"
            )
        out += _LENGTH.pack(len(entry))
        out += entry
    return bytes(out)


def decode_entry_bundle(data: bytes) -> list[bytes]:
    """The entries of a bundle; :class:`~ledger.errors.FormatError` if it is cut short."""
    entries: list[bytes] = []
    at = 0
    while at < len(data):
        if at + _LENGTH.size > len(data):
            raise FormatError(f"entry bundle cut short in the length of entry {len(entries)}")
        (length,) = _LENGTH.unpack_from(data, at)
        at += _LENGTH.size
        if at + length > len(data):
            raise FormatError(f"entry bundle cut short inside entry {len(entries)}")
        entries.append(data[at : at + length])
        at += length
    if len(entries) > TILE_WIDTH:
        raise FormatError(f"entry bundle holds {len(entries)} entries, more than {TILE_WIDTH}")
    return entries


# --- which tiles a tree has ----------------------------------------------------------


def tiles_of(size: int, since: int = 0) -> Iterator[TileRef]:
    """The hash tiles of the tree of ``size`` leaves that the tree of ``since`` lacks.

    With ``since = 0``: every tile of the tree, full and partial, level by level,
    left to right. With ``0 < since <= size``: only the tiles that are new or grew
    (the full tiles of tree ``since`` never change). Entry bundles are the level-0
    tiles' counterparts: ``TileRef(None, t.index, t.width)``.
    ``ValueError`` unless ``0 <= since <= size``.
    """
    if not 0 <= since <= size:
        raise ValueError(f"need 0 <= since <= size, got since={since}, size={size}")
    level = 0
    while size >> (TILE_HEIGHT * level):
        old = since >> (TILE_HEIGHT * level)
        new = size >> (TILE_HEIGHT * level)
        if new != old:
            for index in range(old // TILE_WIDTH, -(-new // TILE_WIDTH)):
                yield TileRef(level, index, tile_width(size, level, index))
        level += 1


# --- roots and proofs from tiles -----------------------------------------------------


class _SizedTiles:
    """TileHashReader over a TileReader, at the widths of one tree size."""

    __slots__ = ("_reader", "_size")

    def __init__(self, reader: TileReader, size: int) -> None:
        self._reader = reader
        self._size = size

    def read_tile_hashes(self, ids: Sequence[TileId]) -> Sequence[bytes]:
        out = []
        for level, index in ids:
            width = tile_width(self._size, level, index)
            if not width:
                raise LookupError(f"tile ({level}, {index}) is not in a tree of {self._size}")
            data = self._reader.read_tile(level, index, width)
            _check_tile_size(level, index, width, data)
            out.append(data)
        return out


def _check_tile_size(level: int, index: int, width: int, data: bytes) -> None:
    if len(data) != width * merkle.HASH_SIZE:
        raise FormatError(
            f"{tile_path(level, index, width)} is {len(data):,} bytes, "
            f"want {width * merkle.HASH_SIZE:,}"
        )


def _nodes(reader: TileReader, size: int) -> TiledNodeReader:
    return TiledNodeReader(_SizedTiles(reader, size))


def root(size: int, reader: TileReader) -> bytes:
    """MTH(D[0:size]) computed from the tiles of the tree of ``size`` (RFC 9162 2.1.1).

    Reads at most one tile per level (the partial ones and the full tiles the
    decomposition of ``size`` falls in).
    """
    return merkle.root(size, _nodes(reader, size))


def inclusion_proof(index: int, size: int, reader: TileReader) -> list[bytes]:
    """PATH(index, D[0:size]) (RFC 9162 2.1.3.1) from the tiles of tree ``size``."""
    return merkle.inclusion_proof(index, size, _nodes(reader, size))


def consistency_proof(size1: int, size2: int, reader: TileReader) -> list[bytes]:
    """PROOF(size1, D[0:size2]) (RFC 9162 2.1.4.1) from the tiles of tree ``size2``.

    Preconditions as :func:`ledger.format.merkle.consistency_proof`.
    """
    return merkle.consistency_proof(size1, size2, _nodes(reader, size2))


# --- checking fetched tiles ----------------------------------------------------------


def verify_tiles(size: int, root_hash: bytes, reader: TileReader, fresh: Iterable[TileRef]) -> None:
    """Check that the tiles ``fresh`` hash into the tree of ``size`` with ``root_hash``.

    Each fresh *full* tile must hash (as a perfect subtree) to its entry in the
    tile above; the tiles of the tree must then recompute ``root_hash``. Together
    this binds every hash of every fresh tile to the root: each full tile to its
    parent, and the top of every chain is a partial tile the root covers (the top
    level of a tree is always partial). Tiles not in ``fresh`` (kept from an earlier
    verified tree) are bound by a consistency proof, which is the caller's step.
    Raises :class:`~ledger.errors.RootMismatchError` naming the first tile that
    does not fit, :class:`~ledger.errors.FormatError` for a tile of the wrong size.
    """
    for ref in fresh:
        if ref.level is None:
            raise ValueError("verify_tiles takes hash tiles; see verify_entry_bundle")
        data = reader.read_tile(ref.level, ref.index, ref.width)
        _check_tile_size(ref.level, ref.index, ref.width, data)
        if ref.width != TILE_WIDTH:
            continue
        parent_level, parent_index = ref.level + 1, ref.index // TILE_WIDTH
        parent_width = tile_width(size, parent_level, parent_index)
        parent = reader.read_tile(parent_level, parent_index, parent_width)
        _check_tile_size(parent_level, parent_index, parent_width, parent)
        at = (ref.index % TILE_WIDTH) * merkle.HASH_SIZE
        if perfect_root(tile_hashes(data)) != parent[at : at + merkle.HASH_SIZE]:
            raise RootMismatchError(
                f"{ref.path()} does not hash to its entry in "
                f"{tile_path(parent_level, parent_index, parent_width)}: a forked or corrupt tile"
            )
    computed = root(size, reader)
    if computed != root_hash:
        raise RootMismatchError(
            f"the tiles of tree size {size} lead to root {computed.hex()[:16]}, "
            f"the checkpoint signs {root_hash.hex()[:16]}: a forked or corrupt tile"
        )


def verify_entry_bundle(index: int, width: int, bundle: bytes, tile: bytes) -> list[bytes]:
    """The entries of bundle ``index``, checked against level-0 tile bytes ``tile``.

    Precondition: ``tile`` is the verified level-0 tile of the same index and
    ``width``. Raises :class:`~ledger.errors.FormatError` for a malformed bundle or
    one with another number of entries, :class:`~ledger.errors.RootMismatchError`
    for an entry whose leaf hash is not the tile's.
    """
    entries = decode_entry_bundle(bundle)
    where = entries_path(index, width)
    if len(entries) != width:
        raise FormatError(f"{where} holds {len(entries)} entries, want {width}")
    for i, (entry, want) in enumerate(zip(entries, tile_hashes(tile), strict=True)):
        if merkle.leaf_hash(entry) != want:
            raise RootMismatchError(
                f"{where}: entry {i} (leaf {index * TILE_WIDTH + i}) does not hash to its "
                "leaf in the level-0 tile: a forked or corrupt entry"
            )
    return entries
