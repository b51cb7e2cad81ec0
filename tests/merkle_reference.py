"""Slow reference Merkle tree (the oracle): RFC 9162 2.1 transcribed literally.

Deliberately recursive and independent of ledger.merkle (it shares no code with
it, not even the hash helpers), so the fast implementation is checked against the
RFC text rather than against itself. Cost is O(n) hashes per call.
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import sha256


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of RFC 9162 2.1.1, over the leaf *inputs* d."""
    n = len(d)
    if n == 0:
        return sha256(b"").digest()
    if n == 1:
        return sha256(b"\x00" + d[0]).digest()
    k = _k(n)
    return sha256(b"\x01" + mth(d[:k]) + mth(d[k:])).digest()


def path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 2.1.3.1, for 0 <= m < n."""
    n = len(d)
    assert 0 <= m < n
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of RFC 9162 2.1.4.1, for 0 < m <= n."""
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = _k(n)
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


def proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true) of RFC 9162 2.1.4.1, for 0 < m <= n."""
    assert 0 < m <= len(d)
    return subproof(m, d, True)
