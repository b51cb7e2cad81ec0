"""RFC 9162 Merkle tree hashing, proofs and verification over stored subtree hashes.

This module is pure: it does no I/O of its own. It follows the structure of
transparency-dev/merkle (``rfc6962``, ``proof`` and ``compact`` packages) and the
definitions of RFC 9162 section 2.1.

Storage model
    The ledger stores the hash of every *complete aligned subtree*, addressed as
    ``(level, index)``: ``(0, i)`` is the leaf hash of entry ``i`` and
    ``(level, index)`` is the Merkle Tree Hash of the leaves
    ``[index * 2**level, (index + 1) * 2**level)``. A node is stored once all of its
    leaves exist, and never changes afterwards. Nodes on the right edge of a tree
    whose size is not a power of two ("ephemeral" nodes) are never stored: they are
    folded right to left from the complete subtrees that partition them.

Reads
    :func:`root`, :func:`inclusion_proof` and :func:`consistency_proof` first compute
    the O(log n) node ids they need, fetch them with exactly one
    :meth:`NodeReader.read_nodes` call (none when no node is needed), then combine
    them. They never rehash leaves.

Verification
    :func:`root_from_inclusion_proof`, :func:`verify_inclusion` and
    :func:`verify_consistency` raise a :class:`~ledger.errors.ProofError` subclass on
    failure and return on success. Their verdicts on edge cases match
    transparency-dev/merkle (see ``shared/vectors/merkle.json``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from hashlib import sha256
from typing import Protocol

from ledger.errors import (
    ConsistencyProofError,
    InclusionProofError,
    ProofError,
    RootMismatchError,
)

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "LEAF_PREFIX",
    "NODE_PREFIX",
    "CompactRange",
    "MemoryNodeStore",
    "NodeId",
    "NodeReader",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
]

LEAF_PREFIX = b"\x00"
"""Domain-separation prefix of a leaf hash (RFC 9162 2.1.1)."""

NODE_PREFIX = b"\x01"
"""Domain-separation prefix of an interior node hash (RFC 9162 2.1.1)."""

HASH_SIZE = 32
"""Size in bytes of every hash in the tree (SHA-256)."""

EMPTY_ROOT = sha256(b"").digest()
"""MTH({}) = SHA-256() -- the root of the empty tree (RFC 9162 2.1.1)."""

NodeId = tuple[int, int]
"""``(level, index)`` of a complete aligned subtree; see the module docstring."""

# Spans of a fetched batch: proof element k is the right-to-left fold of
# fetched[lo:hi] for (lo, hi) = spans[k].
_Span = tuple[int, int]


# --- hashing (RFC 9162 2.1.1) -------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """Return ``SHA-256(0x00 || data)``, the hash of one leaf (RFC 9162 2.1.1)."""
    return sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return ``SHA-256(0x01 || left || right)``, an interior node (RFC 9162 2.1.1).

    The children are not length-checked: callers pass :data:`HASH_SIZE`-byte hashes.
    """
    return sha256(NODE_PREFIX + left + right).digest()


# --- storage ------------------------------------------------------------------------


class NodeReader(Protocol):
    """Batch access to stored complete-subtree hashes (see the module docstring)."""

    def read_nodes(self, ids: Sequence[NodeId]) -> Sequence[bytes]:
        """Return the hashes of the nodes ``ids``, in the same order.

        Preconditions: every id is ``(level, index)`` with ``level >= 0`` and
        ``index >= 0``. Raises :class:`LookupError` (for example ``KeyError``) if any
        node is not stored. Ids may repeat; each occurrence gets its hash.
        """
        ...


class MemoryNodeStore:
    """In-memory :class:`NodeReader`: one flat list of hashes per level.

    For tests and for the offline verifier. Leaves are added with
    :meth:`append_leaf_hashes`, which stores every newly completed subtree.
    """

    __slots__ = ("_levels", "_range")

    def __init__(self) -> None:
        self._levels: list[list[bytes]] = []
        self._range = CompactRange()

    @property
    def size(self) -> int:
        """Number of leaves stored."""
        return self._range.size

    def append_leaf_hashes(self, hashes: Iterable[bytes]) -> None:
        """Append leaf hashes (each :data:`HASH_SIZE` bytes) in order."""
        levels = self._levels
        for h in hashes:
            for level, index, value in self._range.append(h):
                if level == len(levels):
                    levels.append([])
                row = levels[level]
                assert index == len(row), "nodes complete in index order"
                row.append(value)

    def root(self) -> bytes:
        """MTH of all leaves stored so far (RFC 9162 2.1.1)."""
        return self._range.root()

    def read_nodes(self, ids: Sequence[NodeId]) -> Sequence[bytes]:
        """Return the stored hashes of ``ids`` in order; ``KeyError`` if one is absent."""
        levels = self._levels
        out: list[bytes] = []
        for level, index in ids:
            if 0 <= level < len(levels) and 0 <= index < len(levels[level]):
                out.append(levels[level][index])
            else:
                raise KeyError(f"node (level {level}, index {index}) is not stored")
        return out


# --- node-id planning ---------------------------------------------------------------


def _append_range(start: int, end: int, ids: list[NodeId]) -> None:
    """Append, left to right, the complete subtrees that partition leaves [start, end).

    Precondition: ``start`` is a multiple of the largest power of two <= ``end - start``
    (true for ``start == 0`` and for the start of any aligned node). At most
    ``popcount(end - start)`` ids are appended.
    """
    remaining = end - start
    while remaining:
        level = remaining.bit_length() - 1
        ids.append((level, start >> level))
        start += 1 << level
        remaining -= 1 << level


def _append_path(index: int, level: int, size: int, ids: list[NodeId], spans: list[_Span]) -> None:
    """Plan the audit path from node ``(level, index)`` to the root of a tree of ``size``.

    This is RFC 9162 2.1.3.1 PATH generalised to start at an aligned subtree (as in
    transparency-dev/merkle ``proof.nodes``), bottom-up. Preconditions:
    ``(index << level) < size`` and ``(level, index)`` is complete or is the node that
    holds the last leaf. Each proof element is one span of ``ids``: a single stored
    node, or, for the one ephemeral sibling on the right edge, the complete subtrees
    that partition it.
    """
    last = (size - 1) >> level  # index, at this level, of the node holding the last leaf
    inner = (index ^ last).bit_length()  # levels below where the two paths meet
    # Siblings strictly below the meeting point lie inside a complete subtree.
    for j in range(inner - 1):
        spans.append((len(ids), len(ids) + 1))
        ids.append((level + j, (index >> j) ^ 1))
    if inner:
        # The sibling just below the meeting point is on the right edge: it covers
        # leaves [start, size), complete only if size is a multiple of 2**top.
        top = level + inner - 1
        lo = len(ids)
        _append_range((last >> (inner - 1)) << top, size, ids)
        spans.append((lo, len(ids)))
    # Above the meeting point, the siblings are complete left subtrees.
    rest, at = index >> inner, level + inner
    while rest:
        if rest & 1:
            spans.append((len(ids), len(ids) + 1))
            ids.append((at, rest ^ 1))
        rest >>= 1
        at += 1


def _fold(hashes: Sequence[bytes], lo: int, hi: int) -> bytes:
    """Right-to-left fold of ``hashes[lo:hi]`` (non-empty) into one subtree hash."""
    h = hashes[hi - 1]
    for i in range(hi - 2, lo - 1, -1):
        h = node_hash(hashes[i], h)
    return h


def _fetch(reader: NodeReader, ids: Sequence[NodeId]) -> Sequence[bytes]:
    """One ``read_nodes`` call for ``ids`` (none if empty), checking the count."""
    if not ids:
        return ()
    hashes = reader.read_nodes(ids)
    if len(hashes) != len(ids):
        raise LookupError(f"node reader returned {len(hashes)} hashes for {len(ids)} ids")
    return hashes


def _combine(reader: NodeReader, ids: list[NodeId], spans: list[_Span]) -> list[bytes]:
    hashes = _fetch(reader, ids)
    return [_fold(hashes, lo, hi) for lo, hi in spans]


def _check_size(name: str, value: int) -> None:
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")


# --- proofs from storage ------------------------------------------------------------


def root(size: int, reader: NodeReader) -> bytes:
    """Return MTH(D[0:size]), the root of the tree of the first ``size`` leaves.

    RFC 9162 2.1.1. Precondition: ``size >= 0`` and ``reader`` stores every complete
    subtree of that tree (``ValueError`` / ``LookupError`` otherwise). Reads
    ``popcount(size)`` nodes in one call; the empty tree reads nothing.
    """
    _check_size("size", size)
    if size == 0:
        return EMPTY_ROOT
    ids: list[NodeId] = []
    _append_range(0, size, ids)
    hashes = _fetch(reader, ids)
    return _fold(hashes, 0, len(hashes))


def inclusion_proof(index: int, size: int, reader: NodeReader) -> list[bytes]:
    """Return PATH(index, D[0:size]), the inclusion proof of leaf ``index``.

    RFC 9162 2.1.3.1, hashes ordered from the leaf's sibling up to the root's child.
    Precondition: ``0 <= index < size`` (``ValueError`` otherwise) and ``reader``
    stores every complete subtree of the tree (``LookupError`` otherwise).
    Reads O(log size) nodes in one call.
    """
    _check_size("index", index)
    if index >= size:
        raise ValueError(f"leaf index {index} is out of range for tree size {size}")
    ids: list[NodeId] = []
    spans: list[_Span] = []
    _append_path(index, 0, size, ids, spans)
    return _combine(reader, ids, spans)


def consistency_proof(size1: int, size2: int, reader: NodeReader) -> list[bytes]:
    """Return PROOF(size1, D[0:size2]), proving tree ``size1`` is a prefix of ``size2``.

    RFC 9162 2.1.4.1 (SUBPROOF with b = true). Preconditions: ``0 < size1 <= size2``
    (``ValueError`` otherwise: a proof from the empty tree is meaningless and no
    verifier accepts one) and ``reader`` stores every complete subtree of tree
    ``size2`` (``LookupError`` otherwise). Equal sizes give ``[]``. Reads O(log size2)
    nodes in one call.
    """
    _check_size("size1", size1)
    if size2 < size1:
        raise ValueError(f"size2 ({size2}) < size1 ({size1})")
    if size1 == 0:
        raise ValueError("consistency proof from the empty tree is meaningless")
    if size1 == size2:
        return []
    # The largest complete subtree ending at leaf size1-1: its hash is proof[0] unless
    # it is the whole of tree size1; then the proof is its path in tree size2.
    level = (size1 & -size1).bit_length() - 1
    index = (size1 - 1) >> level
    ids: list[NodeId] = []
    spans: list[_Span] = []
    if index:
        spans.append((0, 1))
        ids.append((level, index))
    _append_path(index, level, size2, ids, spans)
    return _combine(reader, ids, spans)


# --- verification -------------------------------------------------------------------


def _hex(h: bytes) -> str:
    return h.hex()[:16] + ("..." if len(h) > 8 else "")


def _check_hash(err: type[ProofError], what: str, h: bytes) -> None:
    if len(h) != HASH_SIZE:
        raise err(f"{what} is {len(h)} bytes, want {HASH_SIZE}")


def _check_proof(err: type[ProofError], proof: Sequence[bytes], want: int) -> None:
    if len(proof) != want:
        raise err(f"wrong proof length: expected {want} hashes, got {len(proof)}")
    for i, h in enumerate(proof):
        _check_hash(err, f"proof[{i}]", h)


def _match(what: str, calculated: bytes, expected: bytes) -> None:
    if calculated != expected:
        raise RootMismatchError(
            f"{what}: proof leads to root {_hex(calculated)}, expected {_hex(expected)}"
        )


def _decomp(index: int, size: int) -> tuple[int, int]:
    """Split the length of PATH(index, D[size]) into (inner, border) parts.

    ``inner`` levels lie below where the paths to ``index`` and ``size - 1`` meet;
    ``border`` left siblings lie above. Precondition: ``0 <= index < size``.
    """
    inner = (index ^ (size - 1)).bit_length()
    return inner, (index >> inner).bit_count()


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, h in enumerate(proof):
        seed = node_hash(seed, h) if (index >> i) & 1 == 0 else node_hash(h, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, h in enumerate(proof):
        if (index >> i) & 1:
            seed = node_hash(h, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for h in proof:
        seed = node_hash(h, seed)
    return seed


def root_from_inclusion_proof(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes:
    """Return the root that ``proof`` leads to from ``leaf_hash`` at ``index``.

    RFC 9162 2.1.3.2, steps 1-5 (without the final comparison). Raises
    :class:`~ledger.errors.InclusionProofError` if ``index`` is not in
    ``[0, size)``, if ``leaf_hash`` or any proof hash is not :data:`HASH_SIZE` bytes,
    or if ``proof`` does not have the length PATH(index, D[size]) has.
    """
    if index < 0 or index >= size:
        raise InclusionProofError(f"leaf index {index} is out of range for tree size {size}")
    _check_hash(InclusionProofError, "leaf hash", leaf_hash)
    inner, border = _decomp(index, size)
    _check_proof(InclusionProofError, proof, inner + border)
    h = _chain_inner(leaf_hash, proof[:inner], index)
    return _chain_border_right(h, proof[inner:])


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``proof`` shows leaf ``index`` of tree ``size`` hashes to ``leaf_hash``.

    RFC 9162 2.1.3.2. Returns ``None`` on success. Raises
    :class:`~ledger.errors.InclusionProofError` for a malformed input (see
    :func:`root_from_inclusion_proof`; also a ``root`` that is not :data:`HASH_SIZE`
    bytes) and :class:`~ledger.errors.RootMismatchError` if the proof leads to
    another root.
    """
    calculated = root_from_inclusion_proof(leaf_hash, index, size, proof)
    _check_hash(InclusionProofError, "root", root)
    _match(f"inclusion of leaf {index} in tree size {size}", calculated, root)


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that ``proof`` shows tree ``size1`` (``root1``) is a prefix of ``size2``.

    RFC 9162 2.1.4.2, with transparency-dev/merkle's verdicts on edge cases. Returns
    ``None`` on success. Raises :class:`~ledger.errors.ConsistencyProofError` when

    - ``size2 < size1``, or a size is negative;
    - ``size1 == 0``: a proof from the empty tree is meaningless, so it is rejected
      whatever ``size2``, the roots and the proof are (even ``0 -> 0``);
    - ``size1 == size2`` and the proof is not empty;
    - a root or proof hash is not :data:`HASH_SIZE` bytes, the proof is empty or has
      the wrong length;

    and :class:`~ledger.errors.RootMismatchError` when the proof does not lead to
    ``root1`` or to ``root2``. For ``0 < size1 == size2`` the proof must be empty and
    the roots byte-identical; as upstream, their length is not checked there.
    """
    if size1 < 0:
        raise ConsistencyProofError(f"size1 must be >= 0, got {size1}")
    if size2 < size1:
        raise ConsistencyProofError(f"size2 ({size2}) < size1 ({size1})")
    if size1 == 0:
        raise ConsistencyProofError("consistency proof from the empty tree is meaningless")
    if size1 == size2:
        if proof:
            raise ConsistencyProofError(
                f"sizes are equal ({size1}) but the proof has {len(proof)} hashes, want 0"
            )
        _match(f"equal tree sizes {size1}", root2, root1)
        return
    _check_hash(ConsistencyProofError, "root1", root1)
    _check_hash(ConsistencyProofError, "root2", root2)
    if not proof:
        raise ConsistencyProofError(f"empty proof for sizes {size1} -> {size2}")

    inner, border = _decomp(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1
    inner -= shift  # shift < inner because size1 < size2
    # The proof starts with the hash of the subtree of size 2**shift ending at leaf
    # size1-1, unless that subtree is the whole tree size1: then it is root1.
    if size1 == 1 << shift:
        seed, start = root1, 0
    else:
        seed, start = proof[0], 1
    _check_proof(ConsistencyProofError, proof, start + inner + border)
    rest = proof[start:]
    mask = (size1 - 1) >> shift

    hash1 = _chain_inner_right(seed, rest[:inner], mask)
    hash1 = _chain_border_right(hash1, rest[inner:])
    _match(f"consistency {size1} -> {size2}, tree size1", hash1, root1)

    hash2 = _chain_inner(seed, rest[:inner], mask)
    hash2 = _chain_border_right(hash2, rest[inner:])
    _match(f"consistency {size1} -> {size2}, tree size2", hash2, root2)


# --- compact range ------------------------------------------------------------------


class CompactRange:
    """The right edge of a tree being appended to (transparency-dev compact.Range at 0).

    Holds one hash per set bit of :attr:`size`: the roots of the complete subtrees
    that partition ``[0, size)``, largest (leftmost) first -- O(log n) memory.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self) -> None:
        self._hashes: list[bytes] = []
        self._size = 0

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    @classmethod
    def from_reader(cls, size: int, reader: NodeReader) -> CompactRange:
        """Resume the range of a stored tree of ``size`` leaves.

        Precondition: ``size >= 0`` and ``reader`` stores the tree's complete subtrees
        (``ValueError`` / ``LookupError`` otherwise). Reads ``popcount(size)`` nodes
        in one call.
        """
        _check_size("size", size)
        ids: list[NodeId] = []
        _append_range(0, size, ids)
        hashes = _fetch(reader, ids)
        for i, h in enumerate(hashes):
            if len(h) != HASH_SIZE:
                raise ValueError(f"stored node {ids[i]} is {len(h)} bytes, want {HASH_SIZE}")
        rng = cls()
        rng._hashes = list(hashes)
        rng._size = size
        return rng

    @classmethod
    def from_hashes(cls, size: int, hashes: Sequence[bytes]) -> CompactRange:
        """The range of ``size`` leaves whose :attr:`hashes` are ``hashes`` (as saved).

        ``ValueError`` unless there is one hash of :data:`HASH_SIZE` bytes per set
        bit of ``size``.
        """
        _check_size("size", size)
        if len(hashes) != size.bit_count() or any(len(h) != HASH_SIZE for h in hashes):
            raise ValueError(f"a range of {size} leaves has {size.bit_count()} 32-byte hashes")
        rng = cls()
        rng._hashes = list(hashes)
        rng._size = size
        return rng

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The roots of the complete subtrees partitioning ``[0, size)``, leftmost first."""
        return tuple(self._hashes)

    def append(self, leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        """Append one leaf hash; return the nodes it completes as ``(level, index, hash)``.

        The first is the leaf itself ``(0, old_size, leaf_hash)``, then each newly
        complete ancestor, bottom-up: exactly what a store must add. Precondition:
        ``leaf_hash`` is :data:`HASH_SIZE` bytes (``ValueError`` otherwise).
        """
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"leaf hash is {len(leaf_hash)} bytes, want {HASH_SIZE}")
        hashes = self._hashes
        index = self._size
        level = 0
        h = leaf_hash
        out = [(0, index, h)]
        while index & 1:
            h = node_hash(hashes.pop(), h)
            index >>= 1
            level += 1
            out.append((level, index, h))
        hashes.append(h)
        self._size += 1
        return out

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append many leaf hashes without reporting nodes (for recomputing roots).

        Same precondition as :meth:`append`.
        """
        hashes = self._hashes
        size = self._size
        for leaf in leaf_hashes:
            if len(leaf) != HASH_SIZE:
                raise ValueError(f"leaf hash {size} is {len(leaf)} bytes, want {HASH_SIZE}")
            h = leaf
            index = size
            while index & 1:
                h = sha256(NODE_PREFIX + hashes.pop() + h).digest()
                index >>= 1
            hashes.append(h)
            size += 1
            self._size = size

    def root(self) -> bytes:
        """MTH of the leaves appended so far (RFC 9162 2.1.1); EMPTY_ROOT when empty."""
        hashes = self._hashes
        if not hashes:
            return EMPTY_ROOT
        return _fold(hashes, 0, len(hashes))
