"""What the verifier's replay remembers, in packed tables (issue 18: memory).

The replay (ledger.checks.verify.Replay) must remember, at national size, about
1.8 million stream heads, 0.9 million keys and 2.4 million events that later
statements may name. As Python objects (a dict entry, a tuple, a dataclass and a
bytes object per hash) that took about 1.6 GiB; here each is one fixed-layout record
in a :class:`~ledger.checks._packed.PackedTable` or
:class:`~ledger.checks._packed.PublicKeyTable`:

- :class:`StreamHeads`: per stream, its head (seq and event hash) and, for a sheet,
  its number among the sheets (whose effective totals :class:`SheetTotals` keeps);
  a key's stream (its grant, perhaps its revoke) is kept in the key's record;
- :class:`EventFacts`: per event a later statement may name, its stream and what
  it is: an event of a sheet (a recap may name it as the sheet's head), a count or
  correction (with its totals), an event of a recap stream, its after-count tag;
- :class:`SignerTable`: per key, its grant (role, scope, root, granter, contest,
  pair, label), standing and stream head, as the
  :class:`~ledger.format.authority.Signer` the authority rules take, rebuilt when
  asked for.

Every lookup compares whole values (a stream id, a 32-byte event hash, the SHA-256
of a stored key), never a truncated digest: no collision can make two records one.
"""

from __future__ import annotations

import hashlib
import struct
from array import array
from collections.abc import Iterator, Mapping, Sequence
from typing import NamedTuple

from ledger.checks._packed import PackedTable, PublicKeyTable, pack_counts, unpack_counts
from ledger.format.authority import Signer
from ledger.format.regions import key_stream

__all__ = ["EventFacts", "SheetTotals", "SignerTable", "StreamHeads"]

NONE = 0xFFFF_FFFF  # no record, sheet or tally: an offset or number no record has
ZERO_HASH = bytes(32)

_KEY_PREFIX = "key:"


def key_stream_id(stream: str) -> bytes | None:
    """The key id whose stream (ledger.format.regions.key_stream) ``stream`` is, else None."""
    if len(stream) != 68 or not stream.startswith(_KEY_PREFIX):
        return None
    try:
        raw = bytes.fromhex(stream[len(_KEY_PREFIX) :])
    except ValueError:
        return None
    return raw if key_stream(raw) == stream else None


class StreamHeads(Mapping[str, tuple[int, bytes]]):
    """Per stream: its head's seq and event hash, and for a sheet its number (or NONE).

    A mapping of stream id to ``(seq, head hash)``. A key's stream (half the
    streams: its grant, perhaps its revoke) is kept in the key's own record in
    ``signers``; every other stream has a record here, whose offset (:meth:`find`)
    other tables use to name it. A key stream has no offset (-1): no other table
    names one.
    """

    _VALUE = struct.Struct("<I32sI")  # seq, head hash, sheet number
    _HEAD = struct.Struct("<I32s")  # the value's first fields: seq, head hash
    _SHEET = struct.Struct("<I")  # its last: the sheet number, at _HEAD.size

    def __init__(self, signers: SignerTable) -> None:
        self._table = PackedTable(self._VALUE.size)
        self._signers = signers

    def find(self, stream: str) -> int:
        """The stream's record offset; -1 for a key stream, or a stream never seen."""
        return self._table.find(stream.encode("utf-8", "surrogatepass"))

    def locate(self, stream: str) -> tuple[int, int, bytes]:
        """The stream's offset (as :meth:`find`) and head: ``(at, seq, head hash)``,
        with seq 0 and the zero hash for a stream never seen."""
        key = key_stream_id(stream)
        if key is not None:
            seq, head = self._signers.stream_head(key) or (0, ZERO_HASH)
            return -1, seq, head
        at = self.find(stream)
        if at < 0:
            return -1, 0, ZERO_HASH
        seq, head, _ = self._VALUE.unpack_from(self._table.records, at)
        return at, seq, head

    def advance(self, stream: str, seq: int, head: bytes, at: int = -1) -> int:
        """Record ``head`` (an event hash) at ``seq`` as the stream's head; return the
        stream's offset (``at`` if already known, else looked up)."""
        if seq >= NONE:
            raise ValueError(f"seq {seq} is beyond what a replay holds")
        key = key_stream_id(stream)
        if key is not None:
            self._signers.set_stream_head(key, seq, head)
            return -1
        if at < 0:
            at = self.find(stream)
        if at < 0:
            encoded = stream.encode("utf-8", "surrogatepass")
            return self._table.add(encoded, self._VALUE.pack(seq, head, NONE))
        self._HEAD.pack_into(self._table.records, at, seq, head)
        return at

    def sheet_at(self, at: int) -> int:
        """The sheet number of the stream at ``at`` (NONE: not a sheet, or -1 given)."""
        if at < 0:
            return NONE
        number: int = self._SHEET.unpack_from(self._table.records, at + self._HEAD.size)[0]
        return number

    def set_sheet(self, at: int, number: int) -> None:
        self._SHEET.pack_into(self._table.records, at + self._HEAD.size, number)

    def stream_at(self, at: int) -> str:
        return self._table.key_at(at).decode("utf-8", "surrogatepass")

    def __getitem__(self, stream: str) -> tuple[int, bytes]:
        _, seq, head = self.locate(stream)
        if seq == 0:
            raise KeyError(stream)
        return seq, head

    def __iter__(self) -> Iterator[str]:
        """Every stream seen: the key streams last (each in the order recorded)."""
        for at in self._table.offsets():
            yield self.stream_at(at)
        for key in self._signers.streams():
            yield _KEY_PREFIX + key.hex()

    def __len__(self) -> int:
        return len(self._table) + self._signers.stream_count

    @property
    def nbytes(self) -> int:
        return self._table.nbytes


class SheetTotals:
    """Per sheet (numbered in the order they appear): its stream and the offset of its
    effective totals among the packed tallies (NONE until it has a count)."""

    def __init__(self) -> None:
        self.streams = array("I")
        self.effective = array("I")
        self.tallies = bytearray()  # pack_counts of every count and correction

    def __len__(self) -> int:
        return len(self.streams)

    def ensure(self, heads: StreamHeads, at: int) -> int:
        """The sheet number of the stream at ``at``, given one if it has none."""
        number = heads.sheet_at(at)
        if number == NONE:
            number = len(self.streams)
            self.streams.append(at)
            self.effective.append(NONE)
            heads.set_sheet(at, number)
        return number

    def add_tally(self, totals: Sequence[int]) -> int:
        """Pack ``totals``; return their offset."""
        at = len(self.tallies)
        if at >= NONE:
            raise MemoryError("the packed tallies hold at most 4 GiB")
        self.tallies += pack_counts(totals)
        return at

    def tally(self, at: int) -> tuple[int, ...]:
        return unpack_counts(self.tallies, at)[0]

    @property
    def nbytes(self) -> int:
        return self.streams.__sizeof__() + self.effective.__sizeof__() + self.tallies.__sizeof__()


# What an event is, for the statements that may name it (EventFacts flags).
SHEET_EVENT = 1  # an event of a sheet stream: a recap may name it as the sheet's head
TALLY = 2  # a count or correction of a sheet: attests and corrections may name it
RECAP_EVENT = 4  # an event of a recap stream (or a recap): a recap or determination may name it


class Fact(NamedTuple):
    stream: int  # the stream's offset in StreamHeads
    flags: int
    tag: str | None  # its after-count tag (ledger.format.aftercount.tag_of), if kept
    tally: int  # offset of its totals in SheetTotals.tallies, or NONE


class EventFacts:
    """Per event that later statements may name, by its 32-byte hash: its stream,
    flags (SHEET_EVENT, TALLY, RECAP_EVENT), tag and tally."""

    _VALUE = struct.Struct("<IBHI")  # stream offset, flags, tag code, tally offset

    def __init__(self) -> None:
        self._table = PackedTable(self._VALUE.size)
        self._tags: list[str] = [""]  # tag code -> tag; 0: none
        self._codes: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._table)

    def note(
        self,
        event: bytes,
        stream: int,
        flags: int = 0,
        tag: str | None = None,
        tally: int = NONE,
    ) -> None:
        """Record what ``event`` of the stream at offset ``stream`` is, adding to
        what is known of it already (ValueError if known as another stream's)."""
        code = 0 if tag is None else self._code(tag)
        at = self._table.find(event)
        if at < 0:
            self._table.add(event, self._VALUE.pack(stream, flags, code, tally))
            return
        old_stream, old_flags, old_code, old_tally = self._VALUE.unpack_from(
            self._table.records, at
        )
        if old_stream != stream:
            raise ValueError(f"event {event.hex()[:16]} is already an event of another stream")
        self._VALUE.pack_into(
            self._table.records,
            at,
            stream,
            old_flags | flags,
            code or old_code,
            old_tally if tally == NONE else tally,
        )

    def flags(self, stream: int, event: bytes) -> int:
        """The flags of ``event`` if it is an event of the stream at ``stream``, else 0."""
        if stream < 0:
            return 0
        at = self._table.find(event)
        if at < 0:
            return 0
        owner, flags = struct.unpack_from("<IB", self._table.records, at)
        return flags if owner == stream else 0

    def tag(self, stream: int, event: bytes) -> tuple[str | None, int]:
        """The tag and flags of ``event`` of the stream at ``stream`` (None and 0 if
        it is not one of that stream's)."""
        if stream < 0:
            return None, 0
        at = self._table.find(event)
        if at < 0:
            return None, 0
        owner, flags, code, _ = self._VALUE.unpack_from(self._table.records, at)
        if owner != stream:
            return None, 0
        return (self._tags[code] if code else None), flags

    def facts(self) -> Iterator[tuple[bytes, Fact]]:
        """Every event and what is known of it, in the order first recorded."""
        table = self._table
        for at in table.offsets():
            stream, flags, code, tally = self._VALUE.unpack_from(table.records, at)
            tag = self._tags[code] if code else None
            yield table.key_at(at), Fact(stream, flags, tag, tally)

    def _code(self, tag: str) -> int:
        code = self._codes.get(tag)
        if code is None:
            code = len(self._tags)
            if code > 0xFFFF:
                raise ValueError("more than 65,535 distinct after-count tags")
            self._tags.append(tag)
            self._codes[tag] = code
        return code

    @property
    def nbytes(self) -> int:
        return self._table.nbytes


class _Texts:
    """Strings appended to one bytearray (uint32 length, UTF-8), named by offset;
    those given as ``shared`` (roles, contests, pairs: few distinct values) once;
    scopes and labels, nearly one per key, are not looked up, only appended."""

    _LENGTH = struct.Struct("<I")

    def __init__(self) -> None:
        self.data = bytearray()
        self._shared: dict[str, int] = {}

    def add(self, text: str | None, *, shared: bool = False) -> int:
        if text is None:
            return NONE
        if shared:
            at = self._shared.get(text)
            if at is not None:
                return at
        at = len(self.data)
        if at >= NONE:
            raise MemoryError("the packed texts hold at most 4 GiB")
        encoded = text.encode("utf-8", "surrogatepass")
        self.data += self._LENGTH.pack(len(encoded)) + encoded
        if shared:
            self._shared[text] = at
        return at

    def get(self, at: int) -> str | None:
        if at == NONE:
            return None
        (size,) = self._LENGTH.unpack_from(self.data, at)
        start = at + self._LENGTH.size
        return self.data[start : start + size].decode("utf-8", "surrogatepass")


class SignerTable(Mapping[bytes, Signer]):
    """Every signer (the roots and each granted key) by key id, packed.

    A record is the public key and its grant: role, root and granter (record
    numbers), revoked, the offsets of its scope, contest, pair (as decimal text)
    and label; and the head of the key's stream (seq 0 before one is set: see
    StreamHeads). :meth:`get` rebuilds the Signer; the last ``CACHED`` built are
    kept, as a few signers (the roots, a region's officers) sign in runs.
    """

    # role, root, granter, revoked, scope, contest, pair, label; stream seq, head
    _VALUE = struct.Struct("<IIIBIIIII32s")
    _ROOT_AT = struct.calcsize("<I")  # where the root's number starts in a value
    _REVOKED_AT = struct.calcsize("<III")
    _STREAM_AT = struct.calcsize("<IIIBIIII")
    _STREAM = struct.Struct("<I32s")
    CACHED = 4096

    def __init__(self) -> None:
        self._table = PublicKeyTable(self._VALUE.size)
        self._texts = _Texts()
        self._cache: dict[bytes, Signer] = {}
        self.stream_count = 0  # records whose key stream has a head

    def add(self, signer: Signer) -> None:
        """Record ``signer`` (its key must not have a record; its root and granter must)."""
        table = self._table
        if table.find(signer.key_id) >= 0:
            raise ValueError(f"key {signer.key_id.hex()[:16]} is recorded already")
        if signer.pair is not None and type(signer.pair) is not int:
            raise ValueError(f"pair {signer.pair!r} of key {signer.key_id.hex()[:16]} is no number")
        root = table.find(signer.root)
        if root < 0 and signer.root != signer.key_id:  # only a root is its own root
            raise ValueError(f"the root of key {signer.key_id.hex()[:16]} is not recorded")
        granter = NONE if signer.granter is None else table.find(signer.granter)
        if granter < 0:
            raise ValueError(f"the granter of key {signer.key_id.hex()[:16]} is not recorded")
        texts = self._texts
        value = self._VALUE.pack(
            texts.add(signer.role, shared=True),
            root if root >= 0 else NONE,
            granter,
            signer.revoked,
            texts.add(signer.scope),
            texts.add(signer.contest, shared=True),
            texts.add(None if signer.pair is None else str(signer.pair), shared=True),
            texts.add(signer.label),
            0,
            ZERO_HASH,
        )
        number = table.add(signer.public_key, value)
        if root < 0:  # a root is its own root
            struct.pack_into("<I", table.records, table.value_at(number) + self._ROOT_AT, number)
        self._cache.pop(signer.key_id, None)

    def revoke(self, key_id: bytes) -> None:
        """Mark the key ``key_id`` (which must have a record) revoked."""
        number = self._table.find(key_id)
        if number < 0:
            raise KeyError(key_id)
        at = self._table.value_at(number) + self._REVOKED_AT
        struct.pack_into("<B", self._table.records, at, 1)
        self._cache.pop(key_id, None)

    def public_key(self, key_id: bytes) -> bytes | None:
        number = self._table.find(key_id)
        return None if number < 0 else self._table.public_key(number)

    def stream_head(self, key_id: bytes) -> tuple[int, bytes] | None:
        """The head ``(seq, hash)`` of the stream of key ``key_id``, if it has one."""
        number = self._table.find(key_id)
        if number < 0:
            return None
        seq, head = self._STREAM.unpack_from(
            self._table.records, self._table.value_at(number) + self._STREAM_AT
        )
        return (seq, head) if seq else None

    def set_stream_head(self, key_id: bytes, seq: int, head: bytes) -> None:
        """Set the head of the stream of key ``key_id`` (ValueError: no such key)."""
        number = self._table.find(key_id)
        if number < 0 or seq < 1:
            raise ValueError(f"stream key:{key_id.hex()} is not the stream of a known key")
        at = self._table.value_at(number) + self._STREAM_AT
        if not self._STREAM.unpack_from(self._table.records, at)[0]:
            self.stream_count += 1
        self._STREAM.pack_into(self._table.records, at, seq, head)

    def streams(self) -> Iterator[bytes]:
        """The key id of every key whose stream has a head, in the order recorded."""
        table = self._table
        for number in range(len(table)):
            if self._STREAM.unpack_from(table.records, table.value_at(number) + self._STREAM_AT)[0]:
                yield self._key_id(number)

    def get(self, key_id: bytes, default: Signer | None = None) -> Signer | None:  # type: ignore[override]
        signer = self._cache.get(key_id)
        if signer is not None:
            return signer
        number = self._table.find(key_id)
        if number < 0:
            return default
        signer = self._signer(number, key_id)
        if len(self._cache) >= self.CACHED:
            self._cache.clear()
        self._cache[key_id] = signer
        return signer

    def __getitem__(self, key_id: bytes) -> Signer:
        signer = self.get(key_id)
        if signer is None:
            raise KeyError(key_id)
        return signer

    def __contains__(self, key_id: object) -> bool:
        return isinstance(key_id, bytes) and self._table.find(key_id) >= 0

    def __iter__(self) -> Iterator[bytes]:
        return (self._key_id(n) for n in range(len(self._table)))

    def __len__(self) -> int:
        return len(self._table)

    def _key_id(self, number: int) -> bytes:
        return hashlib.sha256(self._table.public_key(number)).digest()

    def _signer(self, number: int, key_id: bytes) -> Signer:
        table, texts = self._table, self._texts
        role, root, granter, revoked, scope, contest, pair, label, _, _ = self._VALUE.unpack_from(
            table.records, table.value_at(number)
        )
        pair_text = texts.get(pair)
        return Signer(
            key_id=key_id,
            public_key=table.public_key(number),
            role=texts.get(role) or "",
            scope=texts.get(scope) or "",
            root=key_id if root == number else self._key_id(root),
            granter=None if granter == NONE else self._key_id(granter),
            contest=texts.get(contest),
            pair=None if pair_text is None else int(pair_text),
            revoked=bool(revoked),
            label=texts.get(label) or "",
        )

    @property
    def nbytes(self) -> int:
        return self._table.nbytes + self._texts.data.__sizeof__()
