"""Packed tables: records of bytes in one bytearray, found through an index of uint32s.

The verifier remembers, at national size, about 1.8 million streams, 0.9 million
keys and 2.4 million events that later statements may name. As Python objects (a
dict entry, a tuple and a bytes object per hash) that costs about 0.8 KiB a stream;
here a record is its fields packed side by side (read and written in place with
:mod:`struct`), and the index is an open-addressing array of uint32 with linear
probing, kept at most two thirds full.

Lookups are exact: a record is found only by comparing its whole key (a stream id,
an event hash, or for :class:`PublicKeyTable` the SHA-256 of the stored key), never
a truncated digest, so no collision can make two records one. Python's ``hash`` only
chooses where probing starts. Records are never removed. Only the standard library
is imported.
"""

from __future__ import annotations

import hashlib
import struct
from array import array
from collections.abc import Iterator, Sequence

__all__ = ["PackedTable", "PublicKeyTable", "pack_counts", "unpack_counts"]

_EMPTY = 0xFFFFFFFF  # a free slot: no record starts there (offsets stay below 4 GiB)
_FIRST_SLOTS = 8
_MAX_KEY = 0xFFFF  # a PackedTable key's length is stored as a uint16


class _Index:
    """Slots of uint32 (a record's position, or _EMPTY), a power of two of them."""

    __slots__ = ("slots", "used")

    def __init__(self, slots: int = _FIRST_SLOTS) -> None:
        self.slots = array("I", [_EMPTY]) * slots
        self.used = 0

    def needs_room(self) -> bool:
        return (self.used + 1) * 3 > len(self.slots) * 2

    def place(self, start: int, position: int) -> None:
        """Put ``position`` in the first free slot from ``start`` (a hash)."""
        slots = self.slots
        mask = len(slots) - 1
        i = start & mask
        while slots[i] != _EMPTY:
            i = (i + 1) & mask
        slots[i] = position
        self.used += 1

    def held(self) -> Iterator[int]:
        """Every position held, in slot order (no list: growing the biggest table
        would otherwise hold a Python int for each of its records at once)."""
        return (p for p in self.slots if p != _EMPTY)

    def positions(self) -> list[int]:
        """Every position held, in ascending order (records are appended, so this is
        the order they were added in)."""
        return sorted(p for p in self.slots if p != _EMPTY)


class PackedTable:
    """Records of a key (1 to 65,535 bytes) and a value of ``value_size`` bytes.

    A record is stored as ``key, len(key)`` (uint16, little-endian) ``, value`` in
    :attr:`records`; :meth:`find`
    and :meth:`add` return the offset of its value there, which stays valid (and
    is what other records use to refer to this one).
    """

    __slots__ = ("_index", "records", "value_size")

    def __init__(self, value_size: int) -> None:
        self.value_size = value_size
        self.records = bytearray()
        self._index = _Index()

    def __len__(self) -> int:
        return self._index.used

    def find(self, key: bytes) -> int:
        """The offset of ``key``'s value, or -1 if no record has that key."""
        records = self.records
        slots = self._index.slots
        mask = len(slots) - 1
        size = len(key)
        if not 0 < size <= _MAX_KEY:
            return -1
        low, high = size & 0xFF, size >> 8
        i = hash(key) & mask
        while True:
            at = slots[i]
            if at == _EMPTY:
                return -1
            if (
                records[at - 2] == low
                and records[at - 1] == high
                and records[at - 2 - size : at - 2] == key
            ):
                return at
            i = (i + 1) & mask

    def add(self, key: bytes, value: bytes) -> int:
        """Append a record (``key`` must not have one: see :meth:`find`); return the
        offset of its value."""
        if not 0 < len(key) <= _MAX_KEY:
            raise ValueError(f"a packed key is 1 to {_MAX_KEY:,} bytes, not {len(key)}")
        if len(value) != self.value_size:
            raise ValueError(f"a value here is {self.value_size} bytes, not {len(value)}")
        at = len(self.records) + len(key) + 2
        if at + self.value_size >= _EMPTY:
            raise MemoryError("a packed table holds at most 4 GiB")
        if self._index.needs_room():
            self._grow()
        self.records += key + len(key).to_bytes(2, "little") + value
        self._index.place(hash(key), at)
        return at

    def key_at(self, at: int) -> bytes:
        """The key of the record whose value is at offset ``at``."""
        size = self.records[at - 2] | self.records[at - 1] << 8
        return bytes(self.records[at - 2 - size : at - 2])

    def offsets(self) -> list[int]:
        """Every record's value offset, in the order the records were added."""
        return self._index.positions()

    def __iter__(self) -> Iterator[bytes]:
        return (self.key_at(at) for at in self.offsets())

    def _grow(self) -> None:
        index = _Index(2 * len(self._index.slots))
        for at in self._index.held():
            index.place(hash(self.key_at(at)), at)
        self._index = index

    @property
    def nbytes(self) -> int:
        """The bytes its arrays hold (as allocated, for measurements)."""
        return self.records.__sizeof__() + self._index.slots.__sizeof__()


class PublicKeyTable:
    """Records that start with a 32-byte public key, found by its key id (SHA-256).

    Each record is the key and ``value_size`` bytes more, at a fixed size, so a
    record is named by its number (:meth:`find`, :meth:`add`); the key id is not
    stored but recomputed from the key when probing (a record matches only if the
    SHA-256 of its key is the id asked for).
    """

    __slots__ = ("_index", "record_size", "records")

    KEY_SIZE = 32

    def __init__(self, value_size: int = 0) -> None:
        self.record_size = self.KEY_SIZE + value_size
        self.records = bytearray()
        self._index = _Index()

    def __len__(self) -> int:
        return self._index.used

    def find(self, key_id: bytes) -> int:
        """The number of the record whose key hashes to ``key_id``, or -1."""
        records = self.records
        size = self.record_size
        slots = self._index.slots
        mask = len(slots) - 1
        sha256 = hashlib.sha256
        i = hash(key_id) & mask
        while True:
            number = slots[i]
            if number == _EMPTY:
                return -1
            at = number * size
            if sha256(records[at : at + 32]).digest() == key_id:
                return number
            i = (i + 1) & mask

    def add(self, public_key: bytes, value: bytes = b"") -> int:
        """Append a record for ``public_key`` (it must not have one); return its number."""
        if len(public_key) != self.KEY_SIZE or len(value) != self.record_size - self.KEY_SIZE:
            raise ValueError("a record here is a 32-byte key and a value of the table's size")
        number = len(self.records) // self.record_size
        if number >= _EMPTY:
            raise MemoryError("a public key table holds fewer than 2**32 records")
        if self._index.needs_room():
            self._grow()
        self.records += public_key + value
        self._index.place(hash(hashlib.sha256(public_key).digest()), number)
        return number

    def public_key(self, number: int) -> bytes:
        at = number * self.record_size
        return bytes(self.records[at : at + self.KEY_SIZE])

    def value_at(self, number: int) -> int:
        """The offset of record ``number``'s value in :attr:`records`."""
        return number * self.record_size + self.KEY_SIZE

    def _grow(self) -> None:
        index = _Index(2 * len(self._index.slots))
        for number in self._index.held():
            index.place(hash(hashlib.sha256(self.public_key(number)).digest()), number)
        self._index = index

    @property
    def nbytes(self) -> int:
        return self.records.__sizeof__() + self._index.slots.__sizeof__()


# Counts packed at the narrowest of these widths that holds them all; a count beyond
# 64 bits (a sum of counts may be one) is kept as decimal text, so every value is exact.
_WIDTHS = (("B", 0xFF), ("H", 0xFFFF), ("I", 0xFFFF_FFFF), ("Q", 0xFFFF_FFFF_FFFF_FFFF))
_TEXT = len(_WIDTHS)
_HEAD = struct.Struct("<BH")  # width code, number of values (or of text bytes)


def pack_counts(values: Sequence[int]) -> bytes:
    """``values`` (non-negative integers, such as a sheet's totals) as bytes that
    :func:`unpack_counts` reads back exactly."""
    if values and min(values) >= 0 and len(values) <= 0xFFFF:
        top = max(values)
        for code, (fmt, limit) in enumerate(_WIDTHS):
            if top <= limit:
                return _HEAD.pack(code, len(values)) + struct.pack(f"<{len(values)}{fmt}", *values)
    text = ",".join(str(v) for v in values).encode()
    if len(text) > 0xFFFF:
        raise ValueError("too many counts to pack")
    return _HEAD.pack(_TEXT, len(text)) + text


def unpack_counts(data: bytes | bytearray, at: int = 0) -> tuple[tuple[int, ...], int]:
    """The values packed at ``at`` in ``data``, and the offset after them."""
    code, size = _HEAD.unpack_from(data, at)
    at += _HEAD.size
    if code == _TEXT:
        text = bytes(data[at : at + size]).decode()
        return tuple(int(v) for v in text.split(",")) if text else (), at + size
    fmt = _WIDTHS[code][0]
    values = struct.unpack_from(f"<{size}{fmt}", data, at)
    return values, at + size * struct.calcsize(fmt)
