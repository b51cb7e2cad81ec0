"""The export file: a whole ledger as one portable, streamable file.

Layout (docs/format.md, "Export file")::

    MAGIC                       b"PILKADA-LEDGER-EXPORT/1\\n" (24 bytes)
    record*                     uint32 big-endian length N, then N bytes of
                                canonical msgpack (one map per record)

Records, in this order: one ``header`` ({"type": "header", "trust": {...}});
then, in log order, ``event`` records ({"type": "event", "leaf": i, "envelope":
bin}) with each ``checkpoint`` record ({"type": "checkpoint", "note": bin})
placed right after the event that completes its tree size (size 0: right after
the header); then one ``end`` record ({"type": "end", "events": n,
"checkpoints": k}). A file without its end record was cut short.

The writer holds one record at a time and the reader yields one at a time, so
both run in flat memory at national size.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import IO, Any

from ledger.errors import FormatError
from ledger.format import canonical
from ledger.format.trust import TrustRoots

__all__ = ["MAGIC", "MAX_RECORD", "ExportWriter", "read_records", "trust_record"]

MAGIC = b"PILKADA-LEDGER-EXPORT/1\n"
MAX_RECORD = 1 << 22
_LENGTH = struct.Struct(">I")
RECORD_TYPES = ("header", "event", "checkpoint", "end")


class ExportWriter:
    """Writes records to a binary stream."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.events = 0
        self.checkpoints = 0
        out.write(MAGIC)

    def _record(self, value: dict[str, Any]) -> None:
        data = canonical.encode(value)
        self.out.write(_LENGTH.pack(len(data)))
        self.out.write(data)

    def header(self, trust: dict[str, Any]) -> None:
        self._record({"type": "header", "trust": trust})

    def event(self, leaf: int, envelope: bytes) -> None:
        self._record({"type": "event", "leaf": leaf, "envelope": envelope})
        self.events += 1

    def checkpoint(self, note: bytes) -> None:
        self._record({"type": "checkpoint", "note": note})
        self.checkpoints += 1

    def end(self) -> None:
        self._record({"type": "end", "events": self.events, "checkpoints": self.checkpoints})


def read_records(stream: IO[bytes]) -> Iterator[dict[str, Any]]:
    """Yield each record as a map; FormatError for a file that is not an export.

    Every record is canonical msgpack with a known ``type``; the reader does not
    judge order or content beyond that (the verifier does). An error names the
    byte offset and how many records were read before it, so a report built from
    the records already yielded never hides them.
    """
    if stream.read(len(MAGIC)) != MAGIC:
        raise FormatError("not a ledger export (bad magic; expected PILKADA-LEDGER-EXPORT/1)")
    offset = len(MAGIC)
    read = 0
    while True:
        where = f"byte {offset} (after {read} complete records)"
        prefix = stream.read(_LENGTH.size)
        if not prefix:
            return
        if len(prefix) < _LENGTH.size:
            raise FormatError(f"export cut short in a record length at {where}")
        (length,) = _LENGTH.unpack(prefix)
        if length > MAX_RECORD:
            raise FormatError(f"record at {where} claims {length} bytes (limit {MAX_RECORD})")
        data = stream.read(length)
        if len(data) < length:
            raise FormatError(f"export cut short inside the record at {where}")
        try:
            record = canonical.decode(data)
        except FormatError as e:
            raise FormatError(f"record at {where}: {e}") from e
        if not isinstance(record, dict) or record.get("type") not in RECORD_TYPES:
            raise FormatError(f"record at {where} is not a header, event, checkpoint or end record")
        offset += _LENGTH.size + length
        read += 1
        yield record


def trust_record(trust: TrustRoots) -> dict[str, Any]:
    """The header's ``trust`` map: the pinned roots, as the verifier compares them."""
    return {
        "election": trust.election,
        "origin": trust.origin,
        "kpu_root": trust.kpu_root,
        "bawaslu_root": trust.bawaslu_root,
        "log_vkey": trust.log_vkey,
    }
