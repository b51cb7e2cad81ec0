"""c2sp.org/tlog-tiles: paths, entry bundles, the tiles of a tree, roots and proofs from
tiles, checked against the spec's own examples and the slow RFC 9162 oracle."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import FormatError, LedgerError, RootMismatchError, UnknownEventError
from ledger.format import merkle
from ledger.log import tiles
from ledger.log.tiles import TileRef
from tests import merkle_reference as ref


class SpecTiles:
    """Tiles built literally from the spec's formula over the reference MTH:
    hash i of tile n at level l is MTH(D[(n*256+i)*256**l : (n*256+i+1)*256**l])."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.leaves = list(leaves)
        self.reads: list[tuple[int | None, int, int]] = []
        self.tampered: dict[tuple[int, int], bytes] = {}
        self._honest: dict[tuple[int, int, int], bytes] = {}

    def read_tile(self, level: int, index: int, width: int) -> bytes:
        self.reads.append((level, index, width))
        span = 256**level
        if tiles.tile_width(len(self.leaves), level, index) < width:
            raise UnknownEventError(f"no tile {tiles.tile_path(level, index, width)}")
        key = (level, index, width)
        if key not in self._honest:
            self._honest[key] = b"".join(
                ref.mth(self.leaves[(index * 256 + i) * span : (index * 256 + i + 1) * span])
                for i in range(width)
            )
        data = self._honest[key]
        return self.tampered.get((level, index), data)[: width * 32]

    def read_entries(self, index: int, width: int) -> bytes:
        self.reads.append((None, index, width))
        return tiles.encode_entry_bundle(self.leaves[index * 256 : index * 256 + width])


def leaves(n: int) -> list[bytes]:
    return [i.to_bytes(4, "big") for i in range(n)]


# --- paths ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "index", "width", "path"),
    [
        (0, 0, 256, "tile/0/000"),
        (0, 1234067, 256, "tile/0/x001/x234/067"),
        (0, 1234067, 7, "tile/0/x001/x234/067.p/7"),
        (3, 999, 256, "tile/3/999"),
        (1, 1000, 1, "tile/1/x001/000.p/1"),
        (63, 1_000_000, 255, "tile/63/x001/x000/000.p/255"),
        (None, 67, 256, "tile/entries/067"),
        (None, 1234067, 12, "tile/entries/x001/x234/067.p/12"),
    ],
)
def test_tile_paths_follow_the_spec(level: int | None, index: int, width: int, path: str) -> None:
    made = (
        tiles.entries_path(index, width) if level is None else tiles.tile_path(level, index, width)
    )
    assert made == path
    assert tiles.parse_tile_path(path) == (level, index, width)
    assert tiles.parse_tile_path("/" + path) == (level, index, width)
    assert TileRef(level, index, width).path() == path


@pytest.mark.parametrize(
    "path",
    [
        "",
        "tile",
        "tile/0",
        "tiles/0/000",
        "tile/00/000",
        "tile/64/000",
        "tile/-1/000",
        "tile/0/1",
        "tile/0/0001",
        "tile/0/x000/001",
        "tile/0/x001",
        "tile/0/001/002",
        "tile/0/x001/x002",
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/07",
        "tile/0/000.p/",
        "tile/0/000.p",
        "tile/entries/abc",
        "tile/entries/000.p/1/2",
        "tile/0/X001/000",
    ],
)
def test_a_non_canonical_tile_path_is_a_format_error(path: str) -> None:
    with pytest.raises(FormatError):
        tiles.parse_tile_path(path)


@given(
    st.one_of(st.none(), st.integers(0, 63)),
    st.integers(0, 10**15),
    st.integers(1, 256),
)
def test_every_tile_path_parses_back(level: int | None, index: int, width: int) -> None:
    path = tiles.TileRef(level, index, width).path()
    assert tiles.parse_tile_path(path) == (level, index, width)


def test_out_of_range_arguments_make_no_path() -> None:
    for call in (
        lambda: tiles.tile_path(64, 0),
        lambda: tiles.tile_path(0, -1),
        lambda: tiles.tile_path(0, 0, 0),
        lambda: tiles.entries_path(0, 257),
    ):
        with pytest.raises(ValueError):
            call()


# --- entry bundles -------------------------------------------------------------------


def test_an_entry_bundle_is_uint16_length_prefixed_entries() -> None:
    entries = [b"", b"a", b"x" * 300, b"y" * tiles.MAX_ENTRY_SIZE]
    data = tiles.encode_entry_bundle(entries)
    assert data[:5] == b"\x00\x00\x00\x01a"
    assert data[5:7] == (300).to_bytes(2, "big")
    assert len(data) == 2 * 4 + sum(map(len, entries))
    assert tiles.decode_entry_bundle(data) == entries


def test_an_entry_over_65535_bytes_does_not_fit_a_bundle() -> None:
    with pytest.raises(FormatError, match="65,535"):
        tiles.encode_entry_bundle([b"ok", b"z" * (tiles.MAX_ENTRY_SIZE + 1)])
    with pytest.raises(FormatError, match="at most 256"):
        tiles.encode_entry_bundle([b""] * 257)


@pytest.mark.parametrize("cut", [1, 2, 3, 5])
def test_a_cut_entry_bundle_is_a_format_error(cut: int) -> None:
    data = tiles.encode_entry_bundle([b"abc", b"defg"])
    with pytest.raises(FormatError, match="cut short"):
        tiles.decode_entry_bundle(data[:-cut])


# --- which tiles ---------------------------------------------------------------------


def test_the_tiles_of_a_tree_of_70000_are_the_specs_example() -> None:
    got = list(tiles.tiles_of(70_000))
    assert got[:273] == [TileRef(0, i, 256) for i in range(273)]
    assert got[273:] == [
        TileRef(0, 273, 112),
        TileRef(1, 0, 256),
        TileRef(1, 1, 17),
        TileRef(2, 0, 1),
    ]
    assert list(tiles.tiles_of(256)) == [TileRef(0, 0, 256), TileRef(1, 0, 1)]
    assert list(tiles.tiles_of(0)) == []


@given(st.integers(0, 300_000), st.integers(0, 300_000))
def test_the_tiles_since_an_earlier_tree_are_those_it_lacks(a: int, b: int) -> None:
    since, size = sorted((a, b))
    assert set(tiles.tiles_of(size, since)) == set(tiles.tiles_of(size)) - set(
        tiles.tiles_of(since)
    )


# --- roots and proofs from tiles -----------------------------------------------------


SIZES = [1, 2, 3, 255, 256, 257, 511, 512, 513, 1000, 65535, 65536, 65537, 70_000]


@pytest.fixture(scope="module")
def data() -> list[bytes]:
    return leaves(70_000)


@pytest.mark.parametrize("size", SIZES)
def test_the_root_from_tiles_is_the_rfc_root(data: list[bytes], size: int) -> None:
    reader = SpecTiles(data[:size])
    assert tiles.root(size, reader) == ref.mth(data[:size])
    # A root reads only partial tiles, one per level: never the full tiles below them.
    partial = {
        (t.level, t.index, t.width) for t in tiles.tiles_of(size) if t.width < tiles.TILE_WIDTH
    }
    assert set(reader.reads) <= partial
    assert len(reader.reads) == len(set(reader.reads))


@pytest.mark.parametrize("size", [s for s in SIZES if s <= 1000])
def test_proofs_from_tiles_are_the_rfc_proofs(data: list[bytes], size: int) -> None:
    reader = SpecTiles(data[:size])
    for index in sorted({0, size // 3, size - 1}):
        assert tiles.inclusion_proof(index, size, reader) == ref.path(index, data[:size])
    for old in sorted({1, size // 2 or 1, size - 1 or 1, size}):
        assert tiles.consistency_proof(old, size, reader) == ref.proof(old, data[:size])


def test_proofs_from_tiles_across_two_tile_levels(data: list[bytes]) -> None:
    # Checked by verification rather than the O(n) oracle at this size.
    size = 70_000
    reader = SpecTiles(data)
    root = tiles.root(size, reader)
    for index in (0, 65_535, 65_536, 69_999):
        proof = tiles.inclusion_proof(index, size, reader)
        merkle.verify_inclusion(merkle.leaf_hash(data[index]), index, size, proof, root)
    for old in (256, 65_536, 65_537, 69_888):
        proof = tiles.consistency_proof(old, size, reader)
        merkle.verify_consistency(old, size, proof, ref.mth(data[:old]), root)


# --- checking fetched tiles ----------------------------------------------------------


def test_tiles_that_hash_into_the_signed_root_verify(data: list[bytes]) -> None:
    size = 66_000
    reader = SpecTiles(data[:size])
    tiles.verify_tiles(size, ref.mth(data[:size]), reader, tiles.tiles_of(size))
    bundle = reader.read_entries(257, 208)
    tile = reader.read_tile(0, 257, 208)
    assert tiles.verify_entry_bundle(257, 208, bundle, tile) == data[257 * 256 : size]


@pytest.mark.parametrize("tile", [(0, 3), (0, 257), (1, 0), (1, 1), (2, 0)])
def test_a_forked_tile_is_refused(data: list[bytes], tile: tuple[int, int]) -> None:
    size = 66_000
    reader = SpecTiles(data[:size])
    honest = reader.read_tile(*tile, tiles.tile_width(size, *tile))
    at = 32 * min(1, len(honest) // 32 - 1)  # the second hash, or the only one
    reader.tampered[tile] = honest[:at] + hashlib.sha256(b"fork").digest() + honest[at + 32 :]
    with pytest.raises(RootMismatchError, match="forked or corrupt tile"):
        tiles.verify_tiles(size, ref.mth(data[:size]), reader, tiles.tiles_of(size))


def test_a_forked_entry_or_a_short_tile_is_refused(data: list[bytes]) -> None:
    reader = SpecTiles(data[:300])
    tile = reader.read_tile(0, 1, 44)
    forged = tiles.encode_entry_bundle([*data[256:299], b"forged"])
    with pytest.raises(RootMismatchError, match="entry 43"):
        tiles.verify_entry_bundle(1, 44, forged, tile)
    with pytest.raises(FormatError, match="43 entries"):
        tiles.verify_entry_bundle(1, 44, tiles.encode_entry_bundle(data[256:299]), tile)
    reader.tampered[(0, 1)] = tile[:-1]
    with pytest.raises(LedgerError, match="1,407 bytes"):
        tiles.root(300, reader)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 2000), st.data())
def test_any_small_tree_from_tiles_matches_the_oracle(size: int, draw: st.DataObject) -> None:
    d = leaves(size)
    reader = SpecTiles(d)
    index = draw.draw(st.integers(0, size - 1))
    old = draw.draw(st.integers(1, size))
    assert tiles.root(size, reader) == ref.mth(d)
    assert tiles.inclusion_proof(index, size, reader) == ref.path(index, d)
    assert tiles.consistency_proof(old, size, reader) == ref.proof(old, d)


@pytest.mark.parametrize("size", [1, 3, 255, 256, 257, 70_000])
def test_folded_tiles_give_every_node_the_direct_fold_gives(size: int) -> None:
    """The reader folds each tile's content once (merkle_tiles._tile_levels, cached
    by content); every node it answers is the perfect root of the node's hashes,
    in full and partial tiles, at every level, and the tree's root is right."""
    import random

    from ledger.format.merkle_tiles import (
        TILE_HEIGHT,
        TILE_WIDTH,
        TiledNodeReader,
        perfect_root,
        tile_appends,
        tile_hashes,
    )

    tree = merkle.CompactRange()
    stored: dict[tuple[int, int], bytes] = {}
    for i in range(size):
        appended = tree.append(merkle.leaf_hash(i.to_bytes(8, "big")))
        for tile, (_, data) in tile_appends(appended).items():
            stored[tile] = stored.get(tile, b"") + data

    class Tiles:
        def read_tile_hashes(self, ids: Sequence[tuple[int, int]]) -> list[bytes]:
            return [stored[t] for t in ids]

    reader = TiledNodeReader(Tiles())
    rng = random.Random(size)
    ids = [
        (level, rng.randrange(size >> level))
        for level in (rng.randrange(18) for _ in range(2000))
        if size >> level
    ]

    def direct(level: int, index: int) -> bytes:
        t, r = divmod(level, TILE_HEIGHT)
        first = index << r
        data = stored[(t, first // TILE_WIDTH)]
        lo = first % TILE_WIDTH
        return perfect_root(tile_hashes(data[lo * 32 : (lo + (1 << r)) * 32]))

    assert list(reader.read_nodes(ids)) == [direct(*node) for node in ids]
    assert list(reader.read_nodes(ids)) == [direct(*node) for node in ids]  # cached
    assert merkle.root(size, reader) == tree.root()


class _GrowingTiles:
    """Stored tiles of a tree that grows (as the ledger's tile table does), and the
    oracle beside it: every complete subtree kept node by node (MemoryNodeStore,
    itself checked against the vectors and the RFC reference in test_merkle)."""

    def __init__(self) -> None:
        from ledger.format.merkle_tiles import tile_appends

        self._appends = tile_appends
        self.tree = merkle.CompactRange()
        self.nodes = merkle.MemoryNodeStore()
        self.stored: dict[tuple[int, int], bytes] = {}

    def grow(self, size: int) -> None:
        hashes = [merkle.leaf_hash(d) for d in leaves(size)[self.tree.size :]]
        self.nodes.append_leaf_hashes(hashes)
        for h in hashes:
            for tile, (_, data) in self._appends(self.tree.append(h)).items():
                self.stored[tile] = self.stored.get(tile, b"") + data

    def read_tile_hashes(self, ids: Sequence[tuple[int, int]]) -> list[bytes]:
        return [self.stored[t] for t in ids]  # KeyError (a LookupError) if absent


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 1500),
    st.integers(0, 1500),
    st.lists(st.tuples(st.integers(0, 11), st.integers(0, 1600)), min_size=1, max_size=24),
    st.booleans(),
)
def test_any_node_from_growing_tiles_is_the_oracles_or_refused(
    size: int, more: int, ids: list[tuple[int, int]], cold: bool
) -> None:
    """TiledNodeReader with merkle_tiles._tile_levels (the fast fold, cached by tile
    content): every complete node, from full and partial tiles, cold or cached, and
    again after the tiles grew, is the oracle's hash; a node not yet complete is a
    LookupError."""
    from ledger.format.merkle_tiles import TiledNodeReader, _tile_levels

    if cold:
        _tile_levels.cache_clear()
    tiles_ = _GrowingTiles()
    reader = TiledNodeReader(tiles_)
    for n in (size, size + more):
        tiles_.grow(n)
        complete = [(lv, i) for lv, i in ids if (i + 1) << lv <= n]
        assert list(reader.read_nodes(complete)) == list(tiles_.nodes.read_nodes(complete))
        for node in ids:
            if node not in complete:
                with pytest.raises(LookupError):
                    reader.read_nodes([node])
        index = ids[0][1] % n
        assert merkle.inclusion_proof(index, n, reader) == merkle.inclusion_proof(
            index, n, tiles_.nodes
        )
        assert merkle.consistency_proof(index + 1, n, reader) == merkle.consistency_proof(
            index + 1, n, tiles_.nodes
        )
