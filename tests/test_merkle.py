"""Tests of ledger.merkle against the published vectors and the RFC 9162 reference.

Vectors: ``shared/vectors/merkle.json`` next to the project root (override the
directory with LEDGER_VECTORS_DIR). Tests that need the file skip if it is absent.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import (
    ConsistencyProofError,
    InclusionProofError,
    ProofError,
    RootMismatchError,
)
from ledger.format.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    CompactRange,
    MemoryNodeStore,
    NodeId,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from ledger.format.merkle_tiles import TiledNodeReader, tile_appends

try:
    import merkle_reference as ref
except ImportError:  # tests/ imported as a package
    from tests import merkle_reference as ref


# --- vectors ------------------------------------------------------------------------


def _vectors_path() -> Path:
    override = os.environ.get("LEDGER_VECTORS_DIR")
    if override:
        return Path(override) / "merkle.json"
    return Path(__file__).resolve().parents[2] / "shared" / "vectors" / "merkle.json"


VECTORS_PATH = _vectors_path()
VECTORS: dict[str, Any] | None = (
    json.loads(VECTORS_PATH.read_text(encoding="utf-8")) if VECTORS_PATH.is_file() else None
)
SKIP_REASON = f"Merkle vectors not found at {VECTORS_PATH} (set LEDGER_VECTORS_DIR)"


@pytest.fixture(scope="module")
def vectors() -> dict[str, Any]:
    if VECTORS is None:
        pytest.skip(SKIP_REASON)
    return VECTORS


def _probe_params(kind: str) -> list[Any]:
    if VECTORS is None:
        return [pytest.param(None, marks=pytest.mark.skip(reason=SKIP_REASON))]
    probes = VECTORS["tdm_probes"][kind]
    assert probes, f"no {kind} probes in {VECTORS_PATH}"
    return [pytest.param(p, id=f"{p['file']}:{p['desc']}") for p in probes]


def _h(s: str) -> bytes:
    return bytes.fromhex(s)


def _hs(xs: Sequence[str]) -> list[bytes]:
    return [bytes.fromhex(x) for x in xs]


# --- readers ------------------------------------------------------------------------


class CountingReader:
    """A view of a store as the tree of ``size`` leaves, counting batch reads.

    Refuses (LookupError) any node that is not a complete subtree of that tree, so a
    larger backing store cannot hide a read of an ephemeral or future node.
    """

    def __init__(self, store: MemoryNodeStore, size: int) -> None:
        assert size <= store.size
        self.store = store
        self.size = size
        self.calls: list[int] = []

    def read_nodes(self, ids: Sequence[NodeId]) -> Sequence[bytes]:
        self.calls.append(len(ids))
        for level, index in ids:
            if level < 0 or index < 0 or (index + 1) << level > self.size:
                raise LookupError(f"({level}, {index}) is not complete in tree {self.size}")
        return self.store.read_nodes(ids)


def _data(i: int) -> bytes:
    return i.to_bytes(4, "big")


MAX_SMALL = 300
SMALL_DATA = [_data(i) for i in range(MAX_SMALL)]


@cache
def _store(n: int) -> MemoryNodeStore:
    store = MemoryNodeStore()
    store.append_leaf_hashes(leaf_hash(d) for d in (_data(i) for i in range(n)))
    return store


def _reader(n: int) -> CountingReader:
    return CountingReader(_store(MAX_SMALL), n)


@cache
def _ref_root(n: int) -> bytes:
    return ref.mth(SMALL_DATA[:n])


# --- hashing ------------------------------------------------------------------------


def test_known_answers(vectors: dict[str, Any]) -> None:
    answers = vectors["hashing"]["known_answers"]
    assert len(answers) >= 4
    seen = set()
    for case in answers:
        want = _h(case["want"])
        if "left_hex" in case:
            assert node_hash(_h(case["left_hex"]), _h(case["right_hex"])) == want
            seen.add("node")
        elif "leaf_hex" in case:
            assert leaf_hash(_h(case["leaf_hex"])) == want
            seen.add("leaf")
        else:
            assert want == EMPTY_ROOT
            assert ref.mth([]) == want
            seen.add("empty")
    assert seen == {"node", "leaf", "empty"}


def test_reference_tree(vectors: dict[str, Any]) -> None:
    tree = vectors["tdm_reference_tree"]
    leaves = _hs(tree["leaves_hex"])
    hashes = [leaf_hash(d) for d in leaves]
    assert hashes == _hs(tree["leaf_hashes"])
    store = MemoryNodeStore()
    store.append_leaf_hashes(hashes)
    roots = {int(k): _h(v) for k, v in tree["roots_by_size"].items()}
    assert sorted(roots) == list(range(len(leaves) + 1))
    rng = CompactRange()
    for size, want in roots.items():
        assert root(size, CountingReader(store, size)) == want
        assert ref.mth(leaves[:size]) == want
        assert CompactRange.from_reader(size, store).root() == want
    for size in range(len(leaves) + 1):
        assert rng.root() == roots[size]
        if size < len(leaves):
            rng.append(hashes[size])


def _reference_store(vectors: dict[str, Any]) -> MemoryNodeStore:
    store = MemoryNodeStore()
    store.append_leaf_hashes(_hs(vectors["tdm_reference_tree"]["leaf_hashes"]))
    return store


def test_inclusion_proof_table(vectors: dict[str, Any]) -> None:
    store = _reference_store(vectors)
    cases = vectors["tdm_inclusion_proofs"]["cases"]
    assert cases
    for c in cases:
        index, size, proof = c["leaf_index"], c["tree_size"], _hs(c["proof"])
        assert leaf_hash(_h(c["leaf_hex"])) == _h(c["leaf_hash"])
        assert inclusion_proof(index, size, CountingReader(store, size)) == proof
        assert root(size, store) == _h(c["root"])
        verify_inclusion(_h(c["leaf_hash"]), index, size, proof, _h(c["root"]))


def test_consistency_proof_table(vectors: dict[str, Any]) -> None:
    store = _reference_store(vectors)
    cases = vectors["tdm_consistency_proofs"]["cases"]
    assert cases
    for c in cases:
        size1, size2, proof = c["size1"], c["size2"], _hs(c["proof"])
        assert consistency_proof(size1, size2, CountingReader(store, size2)) == proof
        assert root(size1, store) == _h(c["root1"])
        assert root(size2, store) == _h(c["root2"])
        verify_consistency(size1, size2, proof, _h(c["root1"]), _h(c["root2"]))


def _tiled(leaf_hashes: Sequence[bytes]) -> TiledNodeReader:
    """The tree of ``leaf_hashes`` as the ledger stores it: hash tiles, folded again
    on every read by merkle_tiles (its fast fold, cached by tile content)."""
    tree = CompactRange()
    stored: dict[tuple[int, int], bytes] = {}
    for h in leaf_hashes:
        for tile, (_, data) in tile_appends(tree.append(h)).items():
            stored[tile] = stored.get(tile, b"") + data

    class Tiles:
        def read_tile_hashes(self, ids: Sequence[tuple[int, int]]) -> list[bytes]:
            return [stored[t] for t in ids]

    return TiledNodeReader(Tiles())


def test_proof_tables_from_stored_tiles(vectors: dict[str, Any]) -> None:
    """The proofs the ledger serves come from tiles: they are the published ones."""
    leaves = _hs(vectors["tdm_reference_tree"]["leaf_hashes"])
    for c in vectors["tdm_inclusion_proofs"]["cases"]:
        size = c["tree_size"]
        reader = _tiled(leaves[:size])
        assert inclusion_proof(c["leaf_index"], size, reader) == _hs(c["proof"])
        assert root(size, reader) == _h(c["root"])
    for c in vectors["tdm_consistency_proofs"]["cases"]:
        size1, size2 = c["size1"], c["size2"]
        reader = _tiled(leaves[:size2])
        assert consistency_proof(size1, size2, reader) == _hs(c["proof"])
        assert root(size1, reader) == _h(c["root1"])


@pytest.mark.parametrize("probe", _probe_params("inclusion"))
def test_inclusion_probe(probe: dict[str, Any]) -> None:
    args = (
        _h(probe["leaf_hash"]),
        probe["leaf_index"],
        probe["tree_size"],
        _hs(probe["proof"]),
        _h(probe["root"]),
    )
    if probe["want_err"]:
        with pytest.raises(ProofError) as info:
            verify_inclusion(*args)
        assert isinstance(info.value, InclusionProofError | RootMismatchError)
        assert str(info.value)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("probe", _probe_params("consistency"))
def test_consistency_probe(probe: dict[str, Any]) -> None:
    args = (
        probe["size1"],
        probe["size2"],
        _hs(probe["proof"]),
        _h(probe["root1"]),
        _h(probe["root2"]),
    )
    if probe["want_err"]:
        with pytest.raises(ProofError) as info:
            verify_consistency(*args)
        assert isinstance(info.value, ConsistencyProofError | RootMismatchError)
        assert str(info.value)
    else:
        verify_consistency(*args)


def test_probes_cover_both_verdicts(vectors: dict[str, Any]) -> None:
    for kind in ("inclusion", "consistency"):
        verdicts = {p["want_err"] for p in vectors["tdm_probes"][kind]}
        assert verdicts == {True, False}, kind


# --- against the reference ----------------------------------------------------------


sizes = st.integers(min_value=1, max_value=MAX_SMALL)


@st.composite
def size_and_index(draw: st.DrawFn) -> tuple[int, int]:
    n = draw(sizes)
    return n, draw(st.integers(min_value=0, max_value=n - 1))


@st.composite
def two_sizes(draw: st.DrawFn) -> tuple[int, int]:
    n = draw(sizes)
    return draw(st.integers(min_value=1, max_value=n)), n


def test_root_every_small_size() -> None:
    for n in range(MAX_SMALL + 1):
        assert root(n, _reader(n)) == _ref_root(n), n


@given(size_and_index())
def test_inclusion_matches_reference(case: tuple[int, int]) -> None:
    n, m = case
    reader = _reader(n)
    got = inclusion_proof(m, n, reader)
    assert got == ref.path(m, SMALL_DATA[:n])
    assert len(reader.calls) == (1 if n > 1 else 0)
    lh = leaf_hash(SMALL_DATA[m])
    verify_inclusion(lh, m, n, got, _ref_root(n))
    assert root_from_inclusion_proof(lh, m, n, got) == _ref_root(n)


@given(two_sizes())
def test_consistency_matches_reference(case: tuple[int, int]) -> None:
    m, n = case
    reader = _reader(n)
    got = consistency_proof(m, n, reader)
    assert got == ref.proof(m, SMALL_DATA[:n])
    assert len(reader.calls) == (1 if m < n else 0)
    verify_consistency(m, n, got, _ref_root(m), _ref_root(n))


def _flip(proof: list[bytes], i: int, bit: int) -> list[bytes]:
    out = list(proof)
    b = bytearray(out[i])
    b[bit // 8] ^= 1 << (bit % 8)
    out[i] = bytes(b)
    return out


def _tamperings(proof: list[bytes], data: st.DataObject) -> list[tuple[str, list[bytes]]]:
    extra = data.draw(st.binary(min_size=HASH_SIZE, max_size=HASH_SIZE), label="extra")
    out = [("appended", [*proof, extra]), ("prepended", [extra, *proof])]
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1), label="element")
        bit = data.draw(st.integers(0, HASH_SIZE * 8 - 1), label="bit")
        out += [
            ("flipped", _flip(proof, i, bit)),
            ("truncated", proof[:-1]),
            ("headless", proof[1:]),
            ("short hash", [*proof[:i], proof[i][:-1], *proof[i + 1 :]]),
        ]
    return out


@given(size_and_index(), st.data())
def test_tampered_inclusion_rejected(case: tuple[int, int], data: st.DataObject) -> None:
    n, m = case
    proof = inclusion_proof(m, n, _reader(n))
    lh = leaf_hash(SMALL_DATA[m])
    for what, bad in _tamperings(proof, data):
        with pytest.raises(ProofError):
            verify_inclusion(lh, m, n, bad, _ref_root(n))
            pytest.fail(f"{what} proof accepted")
    with pytest.raises(RootMismatchError):
        verify_inclusion(leaf_hash(b"not in the log"), m, n, proof, _ref_root(n))
    if n > 1:
        other = (m + 1) % n
        with pytest.raises(ProofError):
            verify_inclusion(lh, other, n, proof, _ref_root(n))


@given(two_sizes(), st.data())
def test_tampered_consistency_rejected(case: tuple[int, int], data: st.DataObject) -> None:
    m, n = case
    proof = consistency_proof(m, n, _reader(n))
    r1, r2 = _ref_root(m), _ref_root(n)
    for what, bad in _tamperings(proof, data):
        with pytest.raises(ProofError):
            verify_consistency(m, n, bad, r1, r2)
            pytest.fail(f"{what} proof accepted")
    wrong = _flip([r1], 0, data.draw(st.integers(0, 255), label="root bit"))[0]
    with pytest.raises(RootMismatchError):
        verify_consistency(m, n, proof, wrong, r2)
    with pytest.raises(RootMismatchError):
        verify_consistency(m, n, proof, r1, wrong if m == n else _flip([r2], 0, 7)[0])


def test_verifier_messages() -> None:
    lh = leaf_hash(b"x")
    with pytest.raises(InclusionProofError, match="out of range"):
        verify_inclusion(lh, 3, 3, [], lh)
    with pytest.raises(InclusionProofError, match="out of range"):
        verify_inclusion(lh, -1, 3, [], lh)
    with pytest.raises(InclusionProofError, match="expected 2 hashes, got 1"):
        verify_inclusion(lh, 0, 3, [lh], lh)
    with pytest.raises(InclusionProofError, match="leaf hash is 31 bytes, want 32"):
        verify_inclusion(lh[:31], 0, 1, [], lh)
    with pytest.raises(InclusionProofError, match=r"proof\[1\] is 33 bytes"):
        verify_inclusion(lh, 0, 3, [lh, lh + b"!"], lh)
    with pytest.raises(InclusionProofError, match="root is 0 bytes"):
        verify_inclusion(lh, 0, 1, [], b"")
    with pytest.raises(RootMismatchError, match=lh.hex()[:16]) as info:
        verify_inclusion(lh, 0, 1, [], EMPTY_ROOT)
    assert EMPTY_ROOT.hex()[:16] in str(info.value)
    with pytest.raises(ConsistencyProofError, match=r"size2 \(1\) < size1 \(2\)"):
        verify_consistency(2, 1, [], lh, lh)
    with pytest.raises(ConsistencyProofError, match="empty tree"):
        verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    with pytest.raises(ConsistencyProofError, match="sizes are equal"):
        verify_consistency(2, 2, [lh], lh, lh)
    with pytest.raises(ConsistencyProofError, match="empty proof"):
        verify_consistency(2, 3, [], lh, lh)
    with pytest.raises(ConsistencyProofError, match="root2 is 3 bytes"):
        verify_consistency(2, 3, [lh], lh, b"abc")
    with pytest.raises(ConsistencyProofError, match="expected 1 hashes, got 2"):
        verify_consistency(2, 3, [lh, lh], lh, lh)
    verify_consistency(5, 5, [], lh, lh)


def test_generator_preconditions() -> None:
    store = _store(4)
    with pytest.raises(ValueError, match="out of range"):
        inclusion_proof(4, 4, store)
    with pytest.raises(ValueError):
        inclusion_proof(-1, 4, store)
    with pytest.raises(ValueError, match="empty tree"):
        consistency_proof(0, 4, store)
    with pytest.raises(ValueError, match="size2"):
        consistency_proof(3, 2, store)
    with pytest.raises(ValueError):
        root(-1, store)
    assert consistency_proof(4, 4, store) == []
    with pytest.raises(LookupError):
        root(5, store)
    with pytest.raises(LookupError):
        inclusion_proof(0, 5, store)
    with pytest.raises(LookupError):
        store.read_nodes([(0, -1)])


# --- compact range ------------------------------------------------------------------


def _complete_ending_at(end: int) -> set[NodeId]:
    """Ids of the complete subtrees whose last leaf is ``end - 1``."""
    return {(lv, (end >> lv) - 1) for lv in range(end.bit_length()) if end % (1 << lv) == 0}


def test_compact_range_emits_exactly_the_complete_subtrees() -> None:
    rng = CompactRange()
    stored: dict[NodeId, bytes] = {}
    assert rng.root() == EMPTY_ROOT
    for i, d in enumerate(SMALL_DATA):
        emitted = rng.append(leaf_hash(d))
        assert emitted[0] == (0, i, leaf_hash(d))
        assert [lv for lv, _, _ in emitted] == list(range(len(emitted)))
        assert {(lv, ix) for lv, ix, _ in emitted} == _complete_ending_at(i + 1)
        for lv, ix, h in emitted:
            assert (lv, ix) not in stored
            assert h == ref.mth(SMALL_DATA[ix << lv : (ix + 1) << lv])
            stored[(lv, ix)] = h
        assert rng.size == i + 1
        assert rng.root() == _ref_root(i + 1)
    every = {(lv, ix) for lv in range(10) for ix in range(MAX_SMALL) if (ix + 1) << lv <= MAX_SMALL}
    assert set(stored) == every


@settings(max_examples=50)
@given(st.integers(0, MAX_SMALL - 1), st.integers(1, 40))
def test_compact_range_resumes_from_reader(start: int, more: int) -> None:
    reader = _reader(start)
    resumed = CompactRange.from_reader(start, reader)
    assert len(reader.calls) == (1 if start else 0)
    assert resumed.size == start
    assert resumed.root() == _ref_root(start)
    fresh = CompactRange()
    fresh.extend(leaf_hash(d) for d in SMALL_DATA[:start])
    assert fresh.size == start
    for i in range(start, min(start + more, MAX_SMALL)):
        lh = leaf_hash(SMALL_DATA[i])
        assert resumed.append(lh) == fresh.append(lh)
        assert resumed.root() == fresh.root() == _ref_root(i + 1)


def test_compact_range_rejects_bad_hash() -> None:
    rng = CompactRange()
    with pytest.raises(ValueError, match="31 bytes"):
        rng.append(b"\x00" * 31)
    with pytest.raises(ValueError):
        rng.extend([b"\x00" * 33])
    assert rng.size == 0


# --- O(log n) reads -----------------------------------------------------------------


LARGE_SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 255, 256, 257]
LARGE_SIZES += [511, 1000, 1023, 1024, 1025, 2047, 2048, 2049, 3000, 4095, 4096, 4097]


@pytest.mark.parametrize("n", LARGE_SIZES)
def test_one_batched_read_per_proof(n: int) -> None:
    store = _store(max(LARGE_SIZES))
    bound = 2 * math.log2(n) + 2

    def reader() -> CountingReader:
        return CountingReader(store, n)

    r = reader()
    tree_root = root(n, r)
    assert r.calls == [n.bit_count()]
    if n <= MAX_SMALL:
        assert tree_root == _ref_root(n)
    # Reproduce the root from the leaves the slow way, independently of the store.
    slow = CompactRange()
    slow.extend(leaf_hash(_data(i)) for i in range(n))
    assert slow.root() == tree_root

    indexes = {0, 1, n // 3, n // 2, n - 2, n - 1} & set(range(n))
    for m in sorted(indexes):
        r = reader()
        proof = inclusion_proof(m, n, r)
        assert len(r.calls) == (1 if n > 1 else 0)
        assert all(c <= bound for c in r.calls), (m, r.calls, bound)
        verify_inclusion(leaf_hash(_data(m)), m, n, proof, tree_root)

    for m in sorted({1, 2, n // 2, n - 1, n} & set(range(1, n + 1))):
        r = reader()
        proof = consistency_proof(m, n, r)
        assert len(r.calls) == (1 if m < n else 0)
        assert all(c <= bound for c in r.calls), (m, r.calls, bound)
        verify_consistency(m, n, proof, root(m, store), tree_root)

    r = reader()
    assert CompactRange.from_reader(n, r).root() == tree_root
    assert r.calls == [n.bit_count()]


def test_short_reader_is_refused() -> None:
    class ShortReader:
        def read_nodes(self, ids: Sequence[NodeId]) -> Sequence[bytes]:
            return _store(8).read_nodes(ids)[:-1]

    with pytest.raises(LookupError, match="returned 2 hashes for 3 ids"):
        inclusion_proof(0, 8, ShortReader())
