"""Independent RFC 9162 proof verifiers for the transparency-log tests.

Transcribed from RFC 9162 2.1.3.2 and 2.1.4.2 with hashlib only; they share no
code with ledger.merkle (nor with tests/merkle_reference.py, which builds trees
and proofs but does not verify them), so the log's proofs are checked against
the RFC text rather than against the code that produced them.
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import sha256


def leaf(data: bytes) -> bytes:
    return sha256(b"\x00" + data).digest()


def node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right).digest()


def root_from_inclusion(
    leaf_input: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes | None:
    """RFC 9162 2.1.3.2 steps 1-5: the root ``proof`` leads to, or None if malformed."""
    if not 0 <= index < size:
        return None
    fn, sn = index, size - 1
    r = leaf(leaf_input)
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def roots_from_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes
) -> tuple[bytes, bytes] | None:
    """RFC 9162 2.1.4.2 steps 1-7: (old root, new root) the proof leads to, or None."""
    if not 0 < size1 < size2 or not proof:
        return None
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # size1 is an exact power of two
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            fr = node(c, fr)
            sr = node(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return (fr, sr) if sn == 0 else None
