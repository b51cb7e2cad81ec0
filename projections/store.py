"""Where projection state lives while the fold runs: the Store contract, and memory.

The fold (projections.fold) reads and writes *entities* (small maps keyed by
kind and key: a sheet, a recap, a signer, a contest, a TPS) and appends *event
rows* (the audit trail). :class:`MemoryStore` keeps them in dicts: for time
travel and the offline verifier. The database store (projections.recorder)
keeps them in tables beside the ledger's and commits them with the tracking
position. Both answer the same reads, so the views (projections.views) do not
know which one they read.

Entity kinds, their keys and index columns (contest, place):

=============  =====================  =========  ================
kind           key                    contest    place
=============  =====================  =========  ================
election       "election"             ""         ""
contest        contest id             id         contest region
signer         key id (hex)           ""         granted scope
tps            TPS id                 ""         TPS id
sheet          sheet stream id        contest    TPS id
recap          recap stream id        contest    recap region
objection      objection hash (hex)   contest    TPS id
violation      event hash (hex)       ""         ""
determination  contest id             contest    contest region
timing         event hash (hex)       contest    TPS id or region
=============  =====================  =========  ================
"""

from __future__ import annotations

from typing import Any, Protocol

import msgpack

from ledger.format.regions import covers

__all__ = ["Entity", "EventRow", "MemoryStore", "Store", "pack", "unpack"]

Entity = dict[str, Any]
EventRow = dict[str, Any]


def pack(value: Any) -> bytes:
    """How projection state is stored: msgpack, in the order the fold built it.

    Not the signed format (nothing here is signed); every store round-trips
    values through it, so live, rebuilt and replayed views are byte-identical.
    """
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


def unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False)


class Store(Protocol):
    """What the fold and the views need of projection state."""

    def get(self, kind: str, key: str) -> Entity | None: ...

    def put(
        self, kind: str, key: str, value: Entity, *, contest: str = "", place: str = ""
    ) -> None: ...

    def scan(self, kind: str, *, contest: str | None = None, within: str = "") -> list[Entity]:
        """Entities of ``kind`` (of ``contest``, and whose place lies ``within``), by key."""
        ...

    def add_event(self, row: EventRow) -> None: ...

    def events(
        self, *, stream: str | None = None, within: str | None = None, signer: str | None = None
    ) -> list[EventRow]:
        """Event rows in log order, filtered by stream, place, or signer key id (hex)."""
        ...

    @property
    def position(self) -> int:
        """How many leaves of the log the state reflects."""
        ...


class MemoryStore:
    """Projection state in memory: built by replaying the log from leaf 0."""

    def __init__(self) -> None:
        self._entities: dict[tuple[str, str], tuple[str, str, Entity]] = {}
        self._events: list[EventRow] = []
        self._position = 0

    def get(self, kind: str, key: str) -> Entity | None:
        found = self._entities.get((kind, key))
        return None if found is None else found[2]

    def put(
        self, kind: str, key: str, value: Entity, *, contest: str = "", place: str = ""
    ) -> None:
        self._entities[(kind, key)] = (contest, place, unpack(pack(value)))  # as the tables do

    def scan(self, kind: str, *, contest: str | None = None, within: str = "") -> list[Entity]:
        return [
            value
            for (k, _key), (c, place, value) in sorted(self._entities.items(), key=lambda i: i[0])
            if k == kind and (contest is None or c == contest) and covers(within, place)
        ]

    def add_event(self, row: EventRow) -> None:
        self._events.append(unpack(pack(row)))
        self._position = row["leaf"] + 1

    def events(
        self, *, stream: str | None = None, within: str | None = None, signer: str | None = None
    ) -> list[EventRow]:
        return [
            row
            for row in self._events
            if (stream is None or row["stream"] == stream)
            and (
                within is None
                or (row["place"] != "" and (not within or covers(within, row["place"])))
            )
            and (signer is None or row["signer"] == signer)
        ]

    @property
    def position(self) -> int:
        return self._position
